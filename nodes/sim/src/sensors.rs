//! Sensor models: LiDAR ray casting with per-column motion, radar, camera detector,
//! ultrasonic ring, IMU, wheel odometry and ground truth. Each model owns its RNG stream.

use edgefuse_msgs::edgefuse_msgs::{TrackedObject, TrackedObjectArray};
use edgefuse_msgs::geometry_msgs::{
    Point, Pose, PoseWithCovariance, Quaternion, Twist, TwistWithCovariance,
    TwistWithCovarianceStamped, Vector3,
};
use edgefuse_msgs::nav_msgs::Odometry;
use edgefuse_msgs::radar_msgs::{RadarReturn, RadarScan};
use edgefuse_msgs::sensor_msgs::{
    CameraInfo, Imu, PointCloud2, PointField, Range, RegionOfInterest,
};
use edgefuse_msgs::std_msgs::Header;
use edgefuse_msgs::vision_msgs::{
    BoundingBox2D, Detection2D, Detection2DArray, ObjectHypothesis, ObjectHypothesisWithPose,
    Point2D, Pose2D,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Poisson, StandardNormal};
use sha2::{Digest, Sha256};

use edgefuse_fusion::geometry::wrap_angle_rad;

use crate::math::{Iso, Rot, V3};
use crate::scenario::{
    ActorClass, Axis, CameraDef, ImuDef, LidarDef, MountDef, RadarDef, UltrasonicDef, WheelOdomDef,
};
use crate::world::{cast, Material, Obb, World};

/// Standard gravity, m/s².
pub const GRAVITY_MPS2: f64 = 9.80665;

/// The RNG of one sensor: ChaCha8 seeded with the scenario seed, on a stream derived from the
/// sensor's name, so that adding or removing a sensor does not perturb the others.
pub fn sensor_rng(seed: u64, name: &str) -> ChaCha8Rng {
    let digest = Sha256::digest(name.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::from_le_bytes(b));
    rng
}

fn gauss(rng: &mut ChaCha8Rng, sigma: f64) -> f64 {
    let z: f64 = StandardNormal.sample(rng);
    z * sigma
}

fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> usize {
    if mean <= 0.0 {
        return 0;
    }
    match Poisson::new(mean) {
        Ok(p) => {
            let n: f64 = p.sample(rng);
            n as usize
        }
        Err(_) => 0,
    }
}

/// `base_from_sensor` of a mounting.
pub fn base_from_mount(m: &MountDef) -> Iso {
    Iso {
        rot: Rot::from_rpy(
            m.rpy_deg[0].to_radians(),
            m.rpy_deg[1].to_radians(),
            m.rpy_deg[2].to_radians(),
        ),
        trans: V3::new(m.xyz_m[0], m.xyz_m[1], m.xyz_m[2]),
    }
}

/// All boxes (statics first, then actors) at `t_s`.
pub fn all_boxes(world: &World, t_s: f64) -> Vec<Obb> {
    let mut v = world.statics.clone();
    v.extend(world.actor_boxes(t_s));
    v
}

/// A progressive blocked sector of the LiDAR.
#[derive(Debug, Clone, Copy)]
pub struct BlockedSector {
    /// Sector start azimuth (sensor frame), rad.
    pub az_min_rad: f64,
    /// Sector end azimuth, rad.
    pub az_max_rad: f64,
    /// Ramp start, s.
    pub onset_s: f64,
    /// Ramp end, s.
    pub full_s: f64,
    /// Final dropout probability.
    pub max_dropout: f64,
}

impl BlockedSector {
    /// Dropout probability at `t_s`.
    pub fn dropout(&self, t_s: f64) -> f64 {
        (self.max_dropout * (t_s - self.onset_s) / (self.full_s - self.onset_s))
            .clamp(0.0, self.max_dropout)
    }
    /// Whether azimuth `az_rad` is in the sector, which runs counter-clockwise from
    /// `az_min_rad` to `az_max_rad`: `(az − min) mod 2π ≤ span` with
    /// `span = (max − min) mod 2π`, or always when `max − min ≥ 2π` (full circle). A sector
    /// with `max < min` wraps through ±π the same way.
    pub fn contains(&self, az_rad: f64) -> bool {
        use std::f64::consts::TAU;
        let d = self.az_max_rad - self.az_min_rad;
        if d >= TAU {
            return true;
        }
        (az_rad - self.az_min_rad).rem_euclid(TAU) <= d.rem_euclid(TAU)
    }
}

/// Spinning LiDAR model.
pub struct Lidar {
    def: LidarDef,
    base_from_sensor: Iso,
    beams: Vec<(f64, f64)>,
    columns: Vec<(f64, f64, f64)>,
    blocked: Option<BlockedSector>,
    rng: ChaCha8Rng,
}

/// A LiDAR sweep with its statistics.
pub struct LidarSweep {
    /// The cloud.
    pub cloud: PointCloud2,
    /// Number of points.
    pub points: usize,
    /// Points returned from each actor (indexed like `World::actors`): an actor with none was
    /// invisible to the LiDAR in this sweep (occluded, out of range or between beams).
    pub actor_points: Vec<u32>,
}

impl Lidar {
    /// A LiDAR from its definition.
    pub fn new(def: &LidarDef, blocked: Option<BlockedSector>, seed: u64) -> Lidar {
        let nb = def.beams;
        let (lo, hi) = (
            def.vertical_fov_deg[0].to_radians(),
            def.vertical_fov_deg[1].to_radians(),
        );
        let beams = (0..nb)
            .map(|k| {
                let e = lo + (hi - lo) * k as f64 / (nb - 1).max(1) as f64;
                (e.cos(), e.sin())
            })
            .collect();
        let nc = def.columns;
        let columns = (0..nc)
            .map(|j| {
                let az = -std::f64::consts::PI + std::f64::consts::TAU * j as f64 / nc as f64;
                (az, az.cos(), az.sin())
            })
            .collect();
        Lidar {
            def: def.clone(),
            base_from_sensor: base_from_mount(&def.mount),
            beams,
            columns,
            blocked,
            rng: sensor_rng(seed, "lidar"),
        }
    }

    /// Sweep period, s.
    pub fn period_s(&self) -> f64 {
        1.0 / self.def.rate_hz
    }

    /// One sweep starting at `t0_s` (header stamp `stamp_ns`). Columns fire counter-clockwise
    /// from the rear (azimuth −180°), column `j` at `t0 + j/columns · period`, each with the
    /// ego and actor poses of its own time, so the cloud carries real motion distortion.
    /// Points are in the sensor frame at their firing time; field `t` is seconds after `t0`.
    pub fn sweep(&mut self, world: &World, t0_s: f64, stamp_ns: i64) -> LidarSweep {
        let period = self.period_s();
        let t_mid = t0_s + 0.5 * period;
        let odom_from_sensor_mid = world.odom_from_base(t_mid).compose(&self.base_from_sensor);
        let ego_speed = world.ego.kin(t_mid).speed_mps;
        let ego_turn = world.ego.yaw_rate(t_mid).abs() * period;
        let max_r = self.def.max_range_m;
        // Culling: angular interval of each box around the sweep's mid pose.
        struct Cand {
            index: usize,
            az_rad: f64,
            half_rad: f64,
        }
        let mut cands: Vec<Cand> = Vec::new();
        let mid_boxes = all_boxes(world, t_mid);
        for (index, b) in mid_boxes.iter().enumerate() {
            let motion = if b.actor == usize::MAX {
                ego_speed * period
            } else {
                (world.actors[b.actor].agent.kin(t_mid).speed_mps + ego_speed) * period
            };
            let c =
                odom_from_sensor_mid.inv_point(V3::new(b.cx, b.cy, 0.5 * (b.z_min_m + b.z_max_m)));
            let d = c.x.hypot(c.y);
            let r = b.radius_m + motion + 0.3;
            if d - r > max_r {
                continue;
            }
            let half = if d <= r + 0.5 {
                std::f64::consts::PI
            } else {
                (r / d).asin() + ego_turn + 3f64.to_radians()
            };
            cands.push(Cand {
                index,
                az_rad: c.y.atan2(c.x),
                half_rad: half,
            });
        }
        let n_cols = self.columns.len();
        let mut data: Vec<u8> = Vec::with_capacity(n_cols * self.beams.len() * 20);
        let mut points = 0usize;
        let mut actor_points = vec![0u32; world.actors.len()];
        let mut col_boxes: Vec<Obb> = Vec::with_capacity(32);
        let noise = Normal::new(0.0, self.def.range_noise_m.max(0.0)).ok();
        for j in 0..n_cols {
            let (az, ca, sa) = self.columns[j];
            let dt = period * j as f64 / n_cols as f64;
            let t = t0_s + dt;
            col_boxes.clear();
            for c in &cands {
                if wrap_angle_rad(az - c.az_rad).abs() <= c.half_rad {
                    let b = mid_boxes[c.index];
                    if b.actor == usize::MAX {
                        col_boxes.push(b);
                    } else {
                        col_boxes.push(world.actors[b.actor].obb(t, b.actor));
                    }
                }
            }
            let odom_from_sensor = world.odom_from_base(t).compose(&self.base_from_sensor);
            let o = odom_from_sensor.trans;
            let blocked_p = match &self.blocked {
                Some(bs) if bs.contains(az) => bs.dropout(t),
                _ => 0.0,
            };
            for &(ce, se) in &self.beams {
                let d_s = V3::new(ce * ca, ce * sa, se);
                let d_o = odom_from_sensor.dir(d_s);
                let Some((range, idx)) = cast(o, d_o, &col_boxes, true, max_r) else {
                    continue;
                };
                if range < self.def.min_range_m {
                    continue;
                }
                if self.def.dropout > 0.0 && self.rng.random::<f64>() < self.def.dropout {
                    continue;
                }
                if blocked_p > 0.0 && self.rng.random::<f64>() < blocked_p {
                    continue;
                }
                let r = range + noise.map_or(0.0, |n| n.sample(&mut self.rng));
                let refl = if idx == usize::MAX {
                    0.12
                } else {
                    col_boxes[idx].material.reflectivity()
                };
                let intensity = (255.0 * refl * (1.0 - 0.5 * range / max_r)
                    + gauss(&mut self.rng, 2.0))
                .clamp(0.0, 255.0);
                let p = d_s * r;
                for v in [
                    p.x as f32,
                    p.y as f32,
                    p.z as f32,
                    intensity as f32,
                    dt as f32,
                ] {
                    data.extend_from_slice(&v.to_le_bytes());
                }
                points += 1;
                if let Some(n) = col_boxes
                    .get(idx)
                    .and_then(|b| actor_points.get_mut(b.actor))
                {
                    *n += 1;
                }
            }
        }
        let field = |name: &str, offset: u32| PointField {
            name: name.into(),
            offset,
            datatype: PointField::FLOAT32,
            count: 1,
        };
        let cloud = PointCloud2 {
            header: Header::new(stamp_ns, &self.def.mount.frame),
            height: 1,
            width: points as u32,
            fields: vec![
                field("x", 0),
                field("y", 4),
                field("z", 8),
                field("intensity", 12),
                field("t", 16),
            ],
            is_bigendian: false,
            point_step: 20,
            row_step: (points * 20) as u32,
            data,
            is_dense: true,
        };
        LidarSweep {
            cloud,
            points,
            actor_points,
        }
    }
}

/// Front radar model.
pub struct Radar {
    def: RadarDef,
    base_from_sensor: Iso,
    /// `(onset_s, angle_rad)` of a yaw misalignment.
    misalignment: Option<(f64, f64)>,
    rng: ChaCha8Rng,
}

impl Radar {
    /// A radar from its definition.
    pub fn new(def: &RadarDef, misalignment: Option<(f64, f64)>, seed: u64) -> Radar {
        Radar {
            def: def.clone(),
            base_from_sensor: base_from_mount(&def.mount),
            misalignment,
            rng: sensor_rng(seed, "radar_front"),
        }
    }

    /// The physical `odom_from_sensor` at `t_s` (nominal mounting, rotated by an active misalignment).
    pub fn odom_from_sensor(&self, world: &World, t_s: f64) -> Iso {
        let mut m = world.odom_from_base(t_s).compose(&self.base_from_sensor);
        if let Some((onset, angle)) = self.misalignment {
            if t_s >= onset {
                m = m.compose(&Iso {
                    rot: Rot::from_yaw(angle),
                    trans: V3::default(),
                });
            }
        }
        m
    }

    /// Velocity of the sensor origin in `odom`, m/s.
    pub fn sensor_velocity(&self, world: &World, t_s: f64) -> V3 {
        let ob = world.odom_from_base(t_s);
        let lever = ob.dir(self.base_from_sensor.trans);
        world.ego.velocity(t_s) + V3::new(0.0, 0.0, world.ego.yaw_rate(t_s)).cross(lever)
    }

    /// One scan at `t_s`: target returns (visible actors' near surfaces), clutter from the
    /// static world (doppler from ego motion only) and multipath ghosts (range and doppler doubled).
    pub fn scan(&mut self, world: &World, t_s: f64, stamp_ns: i64) -> RadarScan {
        let sensor = self.odom_from_sensor(world, t_s);
        let o = sensor.trans;
        let v_s = self.sensor_velocity(world, t_s);
        let boxes = all_boxes(world, t_s);
        let n_static = world.statics.len();
        let half_fov = self.def.half_fov_deg.to_radians();
        let mut returns: Vec<RadarReturn> = Vec::new();
        let def = self.def.clone();
        for (ai, actor) in world.actors.iter().enumerate() {
            let b = boxes[n_static + ai];
            let c = sensor.inv_point(V3::new(b.cx, b.cy, 0.5 * b.z_max_m));
            let r_c = c.norm();
            let az_c = c.y.atan2(c.x);
            if r_c > def.max_range_m || r_c < def.min_range_m || az_c.abs() > half_fov + 0.1 {
                continue;
            }
            let (pd_scale, n_max) = match actor.class {
                ActorClass::Car => (1.0, 4),
                ActorClass::Truck => (1.0, 6),
                ActorClass::Pedestrian => (0.8, 1),
                ActorClass::Cyclist => (0.9, 2),
            };
            if self.rng.random::<f64>() > def.detection_probability * pd_scale {
                continue;
            }
            let n = 1
                + ((n_max as f64) * (30.0 / r_c).clamp(0.25, 1.0) * self.rng.random::<f64>())
                    as usize;
            let n = n.min(n_max);
            let v_c = actor.agent.center_velocity(t_s);
            let w = actor.agent.yaw_rate(t_s);
            let mut got = 0;
            for _ in 0..(2 * n) {
                if got == n {
                    break;
                }
                let u = self.rng.random_range(-1.0..1.0);
                let v = self.rng.random_range(-1.0..1.0);
                let h = self.rng.random_range(-0.5..0.3);
                let target = b.local_point(u, v, h);
                let d = target - o;
                let Some((t_hit, idx)) = cast(o, d, &boxes, false, 2.0) else {
                    continue;
                };
                if idx != n_static + ai {
                    continue; // occluded by something else
                }
                let hit = o + d * t_hit;
                let p = sensor.inv_point(hit);
                let range = p.norm();
                let az = p.y.atan2(p.x);
                if az.abs() > half_fov || range < def.min_range_m || range > def.max_range_m {
                    continue;
                }
                let el = p.z.atan2(p.x.hypot(p.y));
                let v_hit = v_c + V3::new(0.0, 0.0, w).cross(hit - V3::new(b.cx, b.cy, hit.z));
                let dir = (hit - o).normalized();
                let doppler = (v_hit - v_s).dot(dir);
                let amp = Material::Actor(actor.class).rcs_dbsm() + 80.0 - 40.0 * range.log10();
                let ret = RadarReturn {
                    range: (range + gauss(&mut self.rng, def.range_noise_m)) as f32,
                    azimuth: (az + gauss(&mut self.rng, def.azimuth_noise_deg.to_radians())) as f32,
                    elevation: (el + gauss(&mut self.rng, 1f64.to_radians())) as f32,
                    doppler_velocity: (doppler + gauss(&mut self.rng, def.doppler_noise_mps))
                        as f32,
                    amplitude: (amp + gauss(&mut self.rng, 2.0)) as f32,
                };
                returns.push(ret);
                got += 1;
                if self.rng.random::<f64>() < def.ghost_probability && 2.0 * range < def.max_range_m
                {
                    returns.push(RadarReturn {
                        range: (2.0 * range + gauss(&mut self.rng, def.range_noise_m)) as f32,
                        azimuth: (az + gauss(&mut self.rng, 0.5f64.to_radians())) as f32,
                        elevation: (el + gauss(&mut self.rng, 1f64.to_radians())) as f32,
                        doppler_velocity: (2.0 * doppler
                            + gauss(&mut self.rng, def.doppler_noise_mps))
                            as f32,
                        amplitude: (amp - 12.0 - 40.0 * 2f64.log10() + gauss(&mut self.rng, 2.0))
                            as f32,
                    });
                }
            }
        }
        // Clutter: static world (and road surface) returns.
        let n_clutter = poisson(&mut self.rng, def.clutter_per_scan);
        let statics = &boxes[..n_static];
        for _ in 0..n_clutter {
            let az = self.rng.random_range(-half_fov..half_fov);
            let el = self.rng.random_range(-4f64.to_radians()..1f64.to_radians());
            let d_s = V3::new(el.cos() * az.cos(), el.cos() * az.sin(), el.sin());
            let d = sensor.dir(d_s);
            let Some((range, idx)) = cast(o, d, statics, true, def.max_range_m) else {
                continue;
            };
            if range < def.min_range_m {
                continue;
            }
            let rcs = if idx == usize::MAX {
                -15.0
            } else {
                statics[idx].material.rcs_dbsm()
            };
            let doppler = (-v_s).dot(d);
            returns.push(RadarReturn {
                range: (range + gauss(&mut self.rng, def.range_noise_m)) as f32,
                azimuth: (az + gauss(&mut self.rng, def.azimuth_noise_deg.to_radians())) as f32,
                elevation: (el + gauss(&mut self.rng, 1f64.to_radians())) as f32,
                doppler_velocity: (doppler + gauss(&mut self.rng, def.doppler_noise_mps)) as f32,
                amplitude: (rcs + 80.0 - 40.0 * range.log10() + gauss(&mut self.rng, 3.0)) as f32,
            });
        }
        returns.sort_by(|a, b| {
            a.range
                .total_cmp(&b.range)
                .then(a.azimuth.total_cmp(&b.azimuth))
        });
        RadarScan {
            header: Header::new(stamp_ns, &def.mount.frame),
            returns,
        }
    }
}

/// Front camera detector model (pinhole, optical frame z forward, x right, y down).
pub struct Camera {
    def: CameraDef,
    base_from_sensor: Iso,
    rng: ChaCha8Rng,
}

/// Pixel box of a projected object: `(u_min, v_min, u_max, v_max)`.
pub type PixelBox = (f64, f64, f64, f64);

/// Near clipping plane of the camera model (optical z), m.
pub const NEAR_PLANE_M: f64 = 0.3;
/// Smallest reported box side after clamping to the image, pixels.
const MIN_BOX_PX: f64 = 4.0;
/// Fewest of the 27 visibility samples that must fall inside the image.
const MIN_SAMPLES_IN_IMAGE: u32 = 2;

impl Camera {
    /// A camera from its definition.
    pub fn new(def: &CameraDef, seed: u64) -> Camera {
        Camera {
            def: def.clone(),
            base_from_sensor: base_from_mount(&def.mount),
            rng: sensor_rng(seed, "camera_front"),
        }
    }

    /// Principal point `(cx, cy)`, pixels (image centre).
    pub fn principal_point(&self) -> (f64, f64) {
        (
            0.5 * f64::from(self.def.width),
            0.5 * f64::from(self.def.height),
        )
    }

    /// `odom_from_camera` at `t_s`.
    pub fn odom_from_camera(&self, world: &World, t_s: f64) -> Iso {
        world.odom_from_base(t_s).compose(&self.base_from_sensor)
    }

    /// Pinhole projection `u = fx x/z + cx`, `v = fy y/z + cy` of a point in the optical frame.
    pub fn project(&self, p: V3) -> (f64, f64) {
        let (cx, cy) = self.principal_point();
        (
            self.def.focal_px[0] * p.x / p.z + cx,
            self.def.focal_px[1] * p.y / p.z + cy,
        )
    }

    /// Camera info at a stamp.
    pub fn info(&self, stamp_ns: i64) -> CameraInfo {
        let (cx, cy) = self.principal_point();
        let (fx, fy) = (self.def.focal_px[0], self.def.focal_px[1]);
        CameraInfo {
            header: Header::new(stamp_ns, &self.def.mount.frame),
            height: self.def.height,
            width: self.def.width,
            distortion_model: "plumb_bob".into(),
            d: vec![0.0; 5],
            k: [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
            r: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            p: [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
            binning_x: 0,
            binning_y: 0,
            roi: RegionOfInterest::default(),
        }
    }

    /// Pixel bounding box of box `b` clipped against the near plane `z = NEAR_PLANE_M` of the
    /// optical frame (`cam` = `odom_from_camera`), unclamped. The clipped solid is convex with
    /// vertices at the corners in front of the plane and at the edge crossings of the plane,
    /// so its projected bounding box is the one of those points. `None` when nothing of the
    /// box is in front of the plane.
    pub fn clipped_box(&self, cam: &Iso, b: &Obb) -> Option<PixelBox> {
        let pts = b.corners().map(|c| cam.inv_point(c));
        let mut acc: Option<PixelBox> = None;
        let mut add = |p: V3| {
            let (u, v) = self.project(p);
            acc = Some(match acc {
                None => (u, v, u, v),
                Some((u0, v0, u1, v1)) => (u0.min(u), v0.min(v), u1.max(u), v1.max(v)),
            });
        };
        for (i, p) in pts.iter().enumerate() {
            if p.z >= NEAR_PLANE_M {
                add(*p);
            }
            // Edges join corners whose indices differ in one bit (see `Obb::corners`).
            for bit in [1usize, 2, 4] {
                let j = i | bit;
                if j == i {
                    continue;
                }
                let q = pts[j];
                if (p.z < NEAR_PLANE_M) != (q.z < NEAR_PLANE_M) {
                    let s = (NEAR_PLANE_M - p.z) / (q.z - p.z);
                    let mut x = *p + (q - *p) * s;
                    x.z = NEAR_PLANE_M;
                    add(x);
                }
            }
        }
        acc
    }

    /// The pixel box (clipped against the near plane, clamped to the image), the visible
    /// fraction and the in-image fraction of box `index` of `boxes`, if it is in view.
    /// Visibility: rays to 27 interior sample points; a sample in front of the camera and
    /// inside the image is visible when no other box is hit first. In-image fraction: samples
    /// inside the image over samples in front of the camera (truncation by the image border).
    pub fn visible_box(
        &self,
        cam: &Iso,
        boxes: &[Obb],
        index: usize,
    ) -> Option<(PixelBox, f64, f64)> {
        let b = &boxes[index];
        let c = cam.inv_point(V3::new(b.cx, b.cy, 0.5 * b.z_max_m));
        if c.norm() > self.def.max_range_m {
            return None;
        }
        let (w, h) = (f64::from(self.def.width), f64::from(self.def.height));
        let (u0, v0, u1, v1) = self.clipped_box(cam, b)?;
        let (cu0, cv0, cu1, cv1) = (u0.max(0.0), v0.max(0.0), u1.min(w), v1.min(h));
        if cu1 - cu0 < MIN_BOX_PX || cv1 - cv0 < MIN_BOX_PX {
            return None;
        }
        let o = cam.trans;
        let mut visible = 0u32;
        let mut in_image = 0u32;
        let mut in_front = 0u32;
        for u in [-0.6, 0.0, 0.6] {
            for v in [-0.6, 0.0, 0.6] {
                for z in [-0.6, 0.0, 0.6] {
                    let target = b.local_point(u, v, z);
                    let pc = cam.inv_point(target);
                    if pc.z < NEAR_PLANE_M {
                        continue;
                    }
                    in_front += 1;
                    let (pu, pv) = self.project(pc);
                    if pu < 0.0 || pu > w || pv < 0.0 || pv > h {
                        continue;
                    }
                    in_image += 1;
                    let d = target - o;
                    if let Some((_, idx)) = cast(o, d, boxes, false, 1.0) {
                        if idx == index {
                            visible += 1;
                        }
                    } else {
                        visible += 1;
                    }
                }
            }
        }
        if in_image < MIN_SAMPLES_IN_IMAGE {
            return None;
        }
        Some((
            (cu0, cv0, cu1, cv1),
            f64::from(visible) / f64::from(in_image),
            f64::from(in_image) / f64::from(in_front),
        ))
    }

    /// Detections at `t_s`: projected boxes of visible actors (clipped at the near plane and
    /// the image border, so close and truncated objects are reported) with noise, misses and
    /// class confusion, plus false positives. `id` is empty: a detector has no track identity
    /// (ground truth is on its own topic). The score falls with the occluded and truncated
    /// fractions.
    pub fn detect(&mut self, world: &World, t_s: f64, stamp_ns: i64) -> Detection2DArray {
        let cam = self.odom_from_camera(world, t_s);
        let boxes = all_boxes(world, t_s);
        let n_static = world.statics.len();
        let hdr = Header::new(stamp_ns, &self.def.mount.frame);
        let (w, h) = (f64::from(self.def.width), f64::from(self.def.height));
        let def = self.def.clone();
        let mut dets = Vec::new();
        for (ai, actor) in world.actors.iter().enumerate() {
            let Some(((u0, v0, u1, v1), vis, in_image)) =
                self.visible_box(&cam, &boxes, n_static + ai)
            else {
                continue;
            };
            if vis < 0.3 {
                continue; // mostly occluded
            }
            let small = if v1 - v0 < 15.0 { 0.3 } else { 0.0 };
            let p_miss = def.miss_probability + 0.3 * (1.0 - vis) + 0.3 * (1.0 - in_image) + small;
            if self.rng.random::<f64>() < p_miss {
                continue;
            }
            let mut class = actor.class;
            let mut score = 0.55 + 0.4 * vis - 0.2 * (1.0 - in_image) + gauss(&mut self.rng, 0.03);
            if self.rng.random::<f64>() < def.class_confusion {
                class = match class {
                    ActorClass::Car => ActorClass::Truck,
                    ActorClass::Truck => ActorClass::Car,
                    ActorClass::Pedestrian => ActorClass::Cyclist,
                    ActorClass::Cyclist => ActorClass::Pedestrian,
                };
                score -= 0.2;
            }
            let s = def.box_noise_px;
            let nu0 = (u0 + gauss(&mut self.rng, s)).clamp(0.0, w);
            let nu1 = (u1 + gauss(&mut self.rng, s)).clamp(0.0, w);
            let nv0 = (v0 + gauss(&mut self.rng, s)).clamp(0.0, h);
            let nv1 = (v1 + gauss(&mut self.rng, s)).clamp(0.0, h);
            let (nu0, nu1) = (nu0.min(nu1), nu0.max(nu1));
            let (nv0, nv1) = (nv0.min(nv1), nv0.max(nv1));
            dets.push(detection(
                &hdr,
                (nu0, nv0, nu1, nv1),
                class.class_id(),
                score.clamp(0.05, 0.99),
            ));
        }
        for _ in 0..poisson(&mut self.rng, def.false_positives_per_frame) {
            let bw = self.rng.random_range(20.0..120.0);
            let bh = self.rng.random_range(20.0..120.0);
            let u = self.rng.random_range(0.0..(w - bw).max(1.0));
            let v = self.rng.random_range(0.3 * h..(h - bh).max(0.3 * h + 1.0));
            let class = [
                ActorClass::Car,
                ActorClass::Truck,
                ActorClass::Pedestrian,
                ActorClass::Cyclist,
            ][self.rng.random_range(0..4usize)];
            let score = self.rng.random_range(0.3..0.55);
            dets.push(detection(
                &hdr,
                (u, v, u + bw, v + bh),
                class.class_id(),
                score,
            ));
        }
        Detection2DArray {
            header: hdr,
            detections: dets,
        }
    }
}

/// A detection without track identity (`id` empty).
fn detection(hdr: &Header, b: PixelBox, class_id: &str, score: f64) -> Detection2D {
    Detection2D {
        header: hdr.clone(),
        results: vec![ObjectHypothesisWithPose {
            hypothesis: ObjectHypothesis {
                class_id: class_id.into(),
                score,
            },
            pose: PoseWithCovariance::default(),
        }],
        bbox: BoundingBox2D {
            center: Pose2D {
                position: Point2D {
                    x: 0.5 * (b.0 + b.2),
                    y: 0.5 * (b.1 + b.3),
                },
                theta: 0.0,
            },
            size_x: b.2 - b.0,
            size_y: b.3 - b.1,
        },
        id: String::new(),
    }
}

/// One ultrasonic sensor.
pub struct Ultrasonic {
    /// Position name.
    pub name: String,
    frame: String,
    base_from_sensor: Iso,
    def: UltrasonicDef,
    /// `(onset_s, value_m)` of a stuck-value fault.
    stuck: Option<(f64, f64)>,
    rays: Vec<V3>,
    rng: ChaCha8Rng,
}

impl Ultrasonic {
    /// Sensor `index` of the ring.
    pub fn new(
        def: &UltrasonicDef,
        index: usize,
        stuck: Option<(f64, f64)>,
        seed: u64,
    ) -> Option<Ultrasonic> {
        let pos = def.positions.get(index)?;
        let half = 0.5 * def.field_of_view_deg.to_radians();
        let mut rays = Vec::new();
        for i in 0..9 {
            let az = -half + 2.0 * half * f64::from(i) / 8.0;
            for j in 0..5 {
                let el = (-0.5 * half) + half * f64::from(j) / 4.0;
                if az.hypot(el) <= half * 1.05 {
                    rays.push(V3::new(el.cos() * az.cos(), el.cos() * az.sin(), el.sin()));
                }
            }
        }
        Some(Ultrasonic {
            name: pos.name.clone(),
            frame: pos.mount.frame.clone(),
            base_from_sensor: base_from_mount(&pos.mount),
            def: def.clone(),
            stuck,
            rays,
            rng: sensor_rng(seed, &format!("ultrasonic/{}", pos.name)),
        })
    }

    /// True nearest obstacle distance in the cone (rays over boxes, no ground), m.
    pub fn nearest(&self, world: &World, t_s: f64, boxes: &[Obb]) -> Option<f64> {
        let s = world.odom_from_base(t_s).compose(&self.base_from_sensor);
        let o = s.trans;
        let reach = self.def.max_range_m + 0.5;
        let near: Vec<Obb> = boxes
            .iter()
            .filter(|b| (b.cx - o.x).hypot(b.cy - o.y) <= reach + b.radius_m)
            .copied()
            .collect();
        if near.is_empty() {
            return None;
        }
        self.rays
            .iter()
            .filter_map(|r| cast(o, s.dir(*r), &near, false, self.def.max_range_m).map(|h| h.0))
            .min_by(f64::total_cmp)
    }

    /// A reading at `t_s`: nearest obstacle in the cone with noise; `+inf` when nothing is in
    /// range and `-inf` when closer than `min_range` (REP 117); the stuck value when faulty.
    pub fn read(&mut self, world: &World, t_s: f64, stamp_ns: i64, boxes: &[Obb]) -> Range {
        let sigma = self.def.range_noise_m;
        let mut range = match self.nearest(world, t_s, boxes) {
            Some(d) => {
                let r = d + gauss(&mut self.rng, sigma);
                if r < self.def.min_range_m {
                    f64::NEG_INFINITY
                } else if r > self.def.max_range_m {
                    f64::INFINITY
                } else {
                    r
                }
            }
            None => f64::INFINITY,
        };
        if let Some((onset, value)) = self.stuck {
            if t_s >= onset {
                range = value;
            }
        }
        Range {
            header: Header::new(stamp_ns, &self.frame),
            radiation_type: Range::ULTRASOUND,
            field_of_view: self.def.field_of_view_deg.to_radians() as f32,
            min_range: self.def.min_range_m as f32,
            max_range: self.def.max_range_m as f32,
            range: range as f32,
            variance: (sigma * sigma) as f32,
        }
    }
}

/// IMU model: specific force and angular rate of the ego trajectory at the IMU's mounting,
/// with white noise, a constant bias, a bias random walk and an optional growing gyro bias.
pub struct ImuModel {
    def: ImuDef,
    base_from_imu: Iso,
    gyro_bias: V3,
    accel_bias: V3,
    last_t_s: Option<f64>,
    /// `(onset_s, axis, growth rad/s per s)`.
    growing: Option<(f64, Axis, f64)>,
    rng: ChaCha8Rng,
}

impl ImuModel {
    /// An IMU from its definition.
    pub fn new(def: &ImuDef, growing: Option<(f64, Axis, f64)>, seed: u64) -> ImuModel {
        let mut rng = sensor_rng(seed, "imu");
        let g = def.gyro_bias_radps;
        let a = def.accel_bias_mps2;
        let mut uni = |m: f64| {
            if m > 0.0 {
                rng.random_range(-m..m)
            } else {
                0.0
            }
        };
        let gyro_bias = V3::new(uni(g), uni(g), uni(g));
        let accel_bias = V3::new(uni(a), uni(a), uni(a));
        ImuModel {
            def: def.clone(),
            base_from_imu: base_from_mount(&def.mount),
            gyro_bias,
            accel_bias,
            last_t_s: None,
            growing,
            rng,
        }
    }

    /// True `(angular velocity, specific force)` in the IMU frame at `t_s`:
    /// `ω = R_base_imuᵀ (0, 0, ψ̇)`, `f = R_odom_imuᵀ (p̈_imu + g e_z)` with `p̈` by central differences.
    pub fn truth(world: &World, base_from_imu: &Iso, t_s: f64) -> (V3, V3) {
        let h = 0.01;
        let p = |t: f64| world.odom_from_base(t).point(base_from_imu.trans);
        let acc = (p(t_s + h) - p(t_s) * 2.0 + p(t_s - h)) * (1.0 / (h * h));
        let odom_from_imu = world.odom_from_base(t_s).compose(base_from_imu);
        let f = odom_from_imu
            .rot
            .apply_inv(acc + V3::new(0.0, 0.0, GRAVITY_MPS2));
        let w = base_from_imu
            .rot
            .apply_inv(V3::new(0.0, 0.0, world.ego.yaw_rate(t_s)));
        (w, f)
    }

    /// One sample at `t_s`.
    pub fn sample(&mut self, world: &World, t_s: f64, stamp_ns: i64) -> Imu {
        let dt = self.last_t_s.map_or(0.0, |l| (t_s - l).max(0.0));
        self.last_t_s = Some(t_s);
        let sq = dt.sqrt();
        let gw = self.def.gyro_bias_walk_radps_per_sqrt_s * sq;
        let aw = self.def.accel_bias_walk_mps2_per_sqrt_s * sq;
        let rng = &mut self.rng;
        self.gyro_bias = self.gyro_bias + V3::new(gauss(rng, gw), gauss(rng, gw), gauss(rng, gw));
        self.accel_bias = self.accel_bias + V3::new(gauss(rng, aw), gauss(rng, aw), gauss(rng, aw));
        let (w, f) = Self::truth(world, &self.base_from_imu, t_s);
        let mut extra = V3::default();
        if let Some((onset, axis, rate)) = self.growing {
            let b = rate * (t_s - onset).max(0.0);
            match axis {
                Axis::X => extra.x = b,
                Axis::Y => extra.y = b,
                Axis::Z => extra.z = b,
            }
        }
        let gn = self.def.gyro_noise_radps;
        let an = self.def.accel_noise_mps2;
        let w =
            w + self.gyro_bias + extra + V3::new(gauss(rng, gn), gauss(rng, gn), gauss(rng, gn));
        let f = f + self.accel_bias + V3::new(gauss(rng, an), gauss(rng, an), gauss(rng, an));
        let mut ocov = [0.0; 9];
        ocov[0] = -1.0;
        let diag = |s: f64| [s * s, 0.0, 0.0, 0.0, s * s, 0.0, 0.0, 0.0, s * s];
        Imu {
            header: Header::new(stamp_ns, &self.def.mount.frame),
            orientation: Quaternion {
                x: 0.0,
                y: 0.0,
                z: 0.0,
                w: 1.0,
            },
            orientation_covariance: ocov,
            angular_velocity: Vector3 {
                x: w.x,
                y: w.y,
                z: w.z,
            },
            angular_velocity_covariance: diag(gn),
            linear_acceleration: Vector3 {
                x: f.x,
                y: f.y,
                z: f.z,
            },
            linear_acceleration_covariance: diag(an),
        }
    }
}

/// Wheel odometry model: forward speed and yaw rate in `base_link` with noise.
pub struct WheelOdom {
    def: WheelOdomDef,
    rng: ChaCha8Rng,
}

impl WheelOdom {
    /// From the definition.
    pub fn new(def: &WheelOdomDef, seed: u64) -> WheelOdom {
        WheelOdom {
            def: def.clone(),
            rng: sensor_rng(seed, "wheel_odometry"),
        }
    }

    /// One sample at `t_s`.
    pub fn sample(&mut self, world: &World, t_s: f64, stamp_ns: i64) -> TwistWithCovarianceStamped {
        let ob = world.odom_from_base(t_s);
        let v = ob.rot.apply_inv(world.ego.velocity(t_s));
        let speed = if v.x.abs() < 1e-3 {
            0.0
        } else {
            v.x + gauss(&mut self.rng, self.def.speed_noise_mps)
        };
        let yaw_rate =
            world.ego.yaw_rate(t_s) + gauss(&mut self.rng, self.def.yaw_rate_noise_radps);
        let mut cov = [0.0; 36];
        cov[0] = self.def.speed_noise_mps.powi(2);
        cov[7] = 1e-4;
        cov[14] = 1e-4;
        cov[21] = 1e-4;
        cov[28] = 1e-4;
        cov[35] = self.def.yaw_rate_noise_radps.powi(2);
        TwistWithCovarianceStamped {
            header: Header::new(stamp_ns, "base_link"),
            twist: TwistWithCovariance {
                twist: Twist {
                    linear: Vector3 {
                        x: speed,
                        y: 0.0,
                        z: 0.0,
                    },
                    angular: Vector3 {
                        x: 0.0,
                        y: 0.0,
                        z: yaw_rate,
                    },
                },
                covariance: cov,
            },
        }
    }
}

/// Ground truth of all actors at `t_s`, in `odom`.
pub fn ground_truth_objects(world: &World, t_s: f64, stamp_ns: i64) -> TrackedObjectArray {
    let objects = world
        .actors
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let b = a.obb(t_s, i);
            let (_, _, yaw) = a.agent.center(t_s);
            let v = a.agent.center_velocity(t_s);
            TrackedObject {
                id: a.id,
                classification: a.class.tracked_class(),
                existence_probability: 1.0,
                pose: PoseWithCovariance {
                    pose: Pose {
                        position: Point {
                            x: b.cx,
                            y: b.cy,
                            z: 0.5 * b.z_max_m,
                        },
                        orientation: Quaternion::from_yaw(yaw),
                    },
                    covariance: [0.0; 36],
                },
                size: Vector3 {
                    x: a.agent.size_m[0],
                    y: a.agent.size_m[1],
                    z: a.agent.size_m[2],
                },
                twist: TwistWithCovariance {
                    twist: Twist {
                        linear: Vector3 {
                            x: v.x,
                            y: v.y,
                            z: 0.0,
                        },
                        angular: Vector3 {
                            x: 0.0,
                            y: 0.0,
                            z: a.agent.yaw_rate(t_s),
                        },
                    },
                    covariance: [0.0; 36],
                },
            }
        })
        .collect();
    TrackedObjectArray {
        header: Header::new(stamp_ns, "odom"),
        objects,
    }
}

/// Ground truth of the ego at `t_s`: pose of `base_link` in `odom`, twist in `base_link`.
pub fn ground_truth_ego(world: &World, t_s: f64, stamp_ns: i64) -> Odometry {
    let k = world.ego.kin(t_s);
    let v = k.pose.rot.apply_inv(world.ego.velocity(t_s));
    Odometry {
        header: Header::new(stamp_ns, "odom"),
        child_frame_id: "base_link".into(),
        pose: PoseWithCovariance {
            pose: Pose {
                position: Point {
                    x: k.pose.trans.x,
                    y: k.pose.trans.y,
                    z: 0.0,
                },
                orientation: Quaternion::from_yaw(k.yaw_rad),
            },
            covariance: [0.0; 36],
        },
        twist: TwistWithCovariance {
            twist: Twist {
                linear: Vector3 {
                    x: v.x,
                    y: v.y,
                    z: 0.0,
                },
                angular: Vector3 {
                    x: 0.0,
                    y: 0.0,
                    z: world.ego.yaw_rate(t_s),
                },
            },
            covariance: [0.0; 36],
        },
    }
}
