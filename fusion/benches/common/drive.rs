//! A synthetic drive for the full-cycle benches (`cycle.rs`, `scaling.rs`): every sensor of the
//! simulated vehicle at its nominal rate and latency, fed through [`Pipeline`] as a node would
//! feed it (each input pushed at its arrival time, then the pipeline polled).
//!
//! The world: slow urban traffic. The ego drives straight along `odom` x at 5 m/s; `objects`
//! road users (cars, vans, cyclists, runners, axis-aligned) move with it on a lattice of
//! 6.2 m x 3.0 m cells within 55 m of the LiDAR, each lane wobbling back and forth (0.5 m, 20 s
//! period) so that every object moves in `odom` and relative to the ego and the lanes never
//! touch (5 m/s keeps the small ones below the tracker's 7 m/s limit for small objects); beyond
//! them a row of poles (static in `odom`, so they sweep past) and two building walls. The
//! sensors mirror the simulator's scenario definitions (`bags/scenarios/*.yaml`): LiDAR at
//! (1.30, 0, 1.95) m, 10 Hz, each point at its firing time (azimuth from -180 degrees), published
//! 5 ms after the sweep ends; front radar at (3.70, 0, 0.50) m, 20 Hz, +-60 degrees; front
//! camera (1280 x 720, f = 900 px, centred principal point) at (1.90, 0, 1.35) m, 30 Hz; twelve
//! ultrasonic sensors at 20 Hz; IMU at 100 Hz; wheel odometry at 50 Hz.
//!
//! The LiDAR point budget `points` is split 30% objects (evenly over the objects, on the faces
//! that face the sensor), 15% walls, 6% poles, 1% clutter and the rest ground (uniform in range
//! from 3 m to 70 m, so denser near the car, like a spinning LiDAR). Points carry their
//! firing time and are generated where the world was at that time, so the pipeline's deskew
//! has real work to undo.
//!
//! The budget's degradation is switched off (`degrade_above = inf`): the benches measure the
//! full-quality cycle; stage times are taken with the monotonic clock.

#![allow(dead_code)]

use std::f64::consts::PI;
use std::time::{Duration, Instant};

use edgefuse_fusion::budget::{BudgetConfig, Clock};
use edgefuse_fusion::pipeline::{CycleOutput, Pipeline, PipelineConfig};
use edgefuse_fusion::types::{
    CameraFrame, CameraModel, Detection2D, ImuSample, Input, LidarPoint, LidarScan, ObjectClass,
    RadarDetection, RadarScan, StampNs, Transform3, UltrasonicRange, WheelTwist,
};
use nalgebra::{Isometry3, Matrix3, Rotation3, Translation3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One millisecond, ns.
pub const MS: i64 = 1_000_000;
/// LiDAR sweep period, ns.
pub const LIDAR_PERIOD_NS: i64 = 100 * MS;
/// Ego speed along `odom` x, m/s.
pub const EGO_SPEED_MPS: f64 = 5.0;
/// Amplitude of each lane's longitudinal wobble around its place relative to the ego, m.
const WOBBLE_M: f64 = 0.5;
/// Angular frequency of the wobble, rad/s (20 s period).
const WOBBLE_RADPS: f64 = 2.0 * PI / 20.0;
/// Lattice cell (x, y), m, and the radius around the LiDAR the cells lie in.
const CELL_M: [f64; 2] = [6.2, 3.0];
const LATTICE_RADIUS_M: f64 = 55.0;
const LIDAR_MOUNT_M: [f64; 3] = [1.30, 0.0, 1.95];
const RADAR_MOUNT_M: [f64; 3] = [3.70, 0.0, 0.50];
const CAMERA_MOUNT_M: [f64; 3] = [1.90, 0.0, 1.35];
const IMU_MOUNT_M: [f64; 3] = [1.40, 0.0, 0.40];
/// Ultrasonic positions: name, (x, y) m at z = 0.5 m, yaw in degrees.
const ULTRASONIC: [(&str, f64, f64, f64); 12] = [
    ("front_left_corner", 3.55, 0.85, 70.0),
    ("front_left", 3.75, 0.55, 20.0),
    ("front_center_left", 3.80, 0.20, 5.0),
    ("front_center_right", 3.80, -0.20, -5.0),
    ("front_right", 3.75, -0.55, -20.0),
    ("front_right_corner", 3.55, -0.85, -70.0),
    ("rear_left_corner", -0.85, 0.85, 110.0),
    ("rear_left", -1.00, 0.55, 160.0),
    ("rear_center_left", -1.05, 0.20, 175.0),
    ("rear_center_right", -1.05, -0.20, -175.0),
    ("rear_right", -1.00, -0.55, -160.0),
    ("rear_right_corner", -0.85, -0.85, -110.0),
];

/// The monotonic wall clock for stage timing.
pub struct WallClock(Instant);

impl Default for WallClock {
    fn default() -> Self {
        Self(Instant::now())
    }
}

impl Clock for WallClock {
    fn now_ns(&mut self) -> i64 {
        i64::try_from(self.0.elapsed().as_nanos()).unwrap_or(i64::MAX)
    }
}

/// One road user, axis-aligned (it drives along x), placed relative to the ego.
#[derive(Debug, Clone, Copy)]
pub struct Object {
    /// Mean centre in `base_link`, m.
    pub x0_m: f64,
    /// Centre y in `base_link`, m.
    pub y0_m: f64,
    /// Length (x), width (y), height, m.
    pub size_m: [f64; 3],
    /// Class.
    pub class: ObjectClass,
    /// Phase of its lane's wobble, rad.
    pub phase_rad: f64,
}

impl Object {
    /// Centre (x, y) in `base_link` at time `s` (seconds since the drive started).
    pub fn centre(&self, s: f64) -> [f64; 2] {
        [
            self.x0_m + WOBBLE_M * (WOBBLE_RADPS * s + self.phase_rad).sin(),
            self.y0_m,
        ]
    }

    /// Velocity along x relative to the ego at time `s`, m/s.
    fn relative_vx(&self, s: f64) -> f64 {
        WOBBLE_M * WOBBLE_RADPS * (WOBBLE_RADPS * s + self.phase_rad).cos()
    }

    /// The point of its footprint nearest to (px, py), at time `s`.
    fn nearest(&self, s: f64, px: f64, py: f64) -> [f64; 2] {
        let [cx, cy] = self.centre(s);
        let (hl, hw) = (0.5 * self.size_m[0], 0.5 * self.size_m[1]);
        [px.clamp(cx - hl, cx + hl), py.clamp(cy - hw, cy + hw)]
    }
}

/// The synthetic world and its sensors.
pub struct World {
    /// The road users.
    pub objects: Vec<Object>,
    /// LiDAR points per sweep.
    pub points: usize,
    /// |y| of the pole rows and of the walls, m.
    pole_y_m: f64,
    wall_y_m: f64,
    seed: u64,
}

fn mount(xyz: [f64; 3], yaw_rad: f64) -> Transform3 {
    Isometry3::new(
        Vector3::new(xyz[0], xyz[1], xyz[2]),
        Vector3::new(0.0, 0.0, yaw_rad),
    )
}

/// Seconds of a stamp.
fn secs(stamp_ns: StampNs) -> f64 {
    stamp_ns as f64 * 1e-9
}

impl World {
    /// A world with `objects` road users and `points` LiDAR points per sweep.
    pub fn new(points: usize, objects: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut cells = Vec::new();
        let mut max_y: f64 = 0.0;
        for j in -20i32..=20 {
            let y = CELL_M[1] * f64::from(j);
            let stagger = if j % 2 == 0 { 0.0 } else { 0.5 * CELL_M[0] };
            for i in -12i32..=12 {
                let x = LIDAR_MOUNT_M[0] + CELL_M[0] * f64::from(i) + stagger;
                if (x - LIDAR_MOUNT_M[0]).hypot(y) > LATTICE_RADIUS_M {
                    continue;
                }
                // Keep the ego's own place in its lane free.
                if j == 0 && (x - LIDAR_MOUNT_M[0]).abs() < 9.0 {
                    continue;
                }
                max_y = max_y.max(y.abs());
                cells.push((x, y, j));
            }
        }
        assert!(
            cells.len() >= objects,
            "{objects} objects but only {} lattice cells",
            cells.len()
        );
        // A seeded shuffle: the objects spread over the whole disc whatever their number.
        for i in (1..cells.len()).rev() {
            let k = rng.random_range(0..=i);
            cells.swap(i, k);
        }
        let objects = cells[..objects]
            .iter()
            .enumerate()
            .map(|(k, &(x, y, lane))| {
                let (size_m, class) = match k % 10 {
                    0 | 5 => ([0.6, 0.6, 1.8], ObjectClass::Pedestrian),
                    3 => ([1.8, 0.6, 1.7], ObjectClass::Cyclist),
                    7 => ([5.2, 2.0, 2.0], ObjectClass::Car),
                    _ => ([4.5, 1.9, 1.5], ObjectClass::Car),
                };
                Object {
                    x0_m: x,
                    y0_m: y,
                    size_m,
                    class,
                    phase_rad: 0.9 * f64::from(lane),
                }
            })
            .collect();
        Self {
            objects,
            points,
            pole_y_m: max_y + 3.5,
            wall_y_m: max_y + 6.5,
            seed,
        }
    }

    fn rng(&self, stamp_ns: StampNs, stream: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ (stamp_ns as u64).rotate_left(17));
        rng.set_stream(stream);
        rng
    }

    /// The LiDAR sweep starting at `stamp_ns`.
    pub fn lidar(&self, stamp_ns: StampNs) -> LidarScan {
        let mut rng = self.rng(stamp_ns, 1);
        let s0 = secs(stamp_ns);
        let period_s = secs(LIDAR_PERIOD_NS);
        let n = self.points;
        let mut pts: Vec<LidarPoint> = Vec::with_capacity(n);
        // Firing time of a point at base_link (x, y): the sweep runs counter-clockwise from
        // -180 degrees in the sensor frame.
        let fire = |x: f64, y: f64| (y.atan2(x - LIDAR_MOUNT_M[0]) + PI) / (2.0 * PI) * period_s;
        let push = |pts: &mut Vec<LidarPoint>, x: f64, y: f64, z: f64, t: f64| {
            pts.push(LidarPoint {
                x_m: (x - LIDAR_MOUNT_M[0]) as f32,
                y_m: (y - LIDAR_MOUNT_M[1]) as f32,
                z_m: (z - LIDAR_MOUNT_M[2]) as f32,
                intensity: 10.0,
                t_s: t as f32,
            })
        };
        // Road users: the faces that face the sensor, where the object is at the firing time.
        let per_object = (n * 30 / 100 / self.objects.len().max(1)).max(20);
        for o in &self.objects {
            let [l, w, h] = o.size_m;
            let [cx, cy] = o.centre(s0);
            let dx = cx - LIDAR_MOUNT_M[0];
            let end = (dx.abs() > 0.5 * l).then(|| -dx.signum() * 0.5 * l);
            let side = (cy.abs() > 0.5 * w).then(|| -cy.signum() * 0.5 * w);
            let end_share = match (end, side) {
                (Some(_), Some(_)) => w / (w + l),
                (Some(_), None) => 1.0,
                _ => 0.0,
            };
            for _ in 0..per_object {
                let (u, v) = match (end, side) {
                    (Some(u), _) if rng.random_bool(end_share) => {
                        (u, rng.random_range(-0.5 * w..0.5 * w))
                    }
                    (_, Some(v)) => (rng.random_range(-0.5 * l..0.5 * l), v),
                    _ => (rng.random_range(-0.5 * l..0.5 * l), 0.0),
                };
                let z = rng.random_range(0.3..h);
                let t = fire(cx + u, cy + v);
                let [cx_t, cy_t] = o.centre(s0 + t);
                push(&mut pts, cx_t + u, cy_t + v, z, t);
            }
        }
        // Building walls along the road (invariant along x).
        for k in 0..n * 15 / 100 {
            let y = if k % 2 == 0 {
                self.wall_y_m
            } else {
                -self.wall_y_m
            } + rng.random_range(-0.05..0.05);
            let x = rng.random_range(-70.0..70.0);
            push(&mut pts, x, y, rng.random_range(0.3..6.0), fire(x, y));
        }
        // Poles every 10 m along x in odom, both sides: they sweep past at the ego's speed.
        let ego_x = EGO_SPEED_MPS * s0;
        let first = ((ego_x - 60.0) / 10.0).ceil() as i64;
        let poles: Vec<(f64, f64)> = (first..first + 12)
            .flat_map(|k| {
                [
                    (10.0 * k as f64, self.pole_y_m),
                    (10.0 * k as f64, -self.pole_y_m),
                ]
            })
            .collect();
        let per_pole = n * 6 / 100 / poles.len();
        for &(xw, yw) in &poles {
            for _ in 0..per_pole {
                // The half of the 0.3 m trunk that faces the sensor.
                let toward = (-yw).atan2(LIDAR_MOUNT_M[0] + ego_x - xw);
                let a = toward + rng.random_range(-0.5 * PI..0.5 * PI);
                let (px, py) = (xw + 0.15 * a.cos(), yw + 0.15 * a.sin());
                let t = fire(px - ego_x, py);
                let x = px - EGO_SPEED_MPS * (s0 + t);
                push(&mut pts, x, py, rng.random_range(0.3..5.0), t);
            }
        }
        // Clutter (spray, birds, noise).
        for _ in 0..n / 100 {
            let (x, y) = (rng.random_range(-70.0..70.0), rng.random_range(-60.0..60.0));
            push(&mut pts, x, y, rng.random_range(0.3..4.0), fire(x, y));
        }
        // Ground: uniform in range (denser near the car), 2 cm of noise.
        while pts.len() < n {
            let r = rng.random_range(3.0..70.0);
            let a = rng.random_range(-PI..PI);
            let (x, y) = (LIDAR_MOUNT_M[0] + r * a.cos(), r * a.sin());
            push(&mut pts, x, y, rng.random_range(-0.02..0.02), fire(x, y));
        }
        pts.truncate(n);
        // In firing order, as the sensor sends them.
        pts.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
        LidarScan {
            stamp_ns,
            points: pts,
            base_from_sensor: mount(LIDAR_MOUNT_M, 0.0),
        }
    }

    /// The front radar scan at `stamp_ns`: one return per road user in view (92% detection),
    /// on its nearest face, and eight static clutter returns.
    pub fn radar(&self, stamp_ns: StampNs) -> RadarScan {
        let mut rng = self.rng(stamp_ns, 2);
        let s = secs(stamp_ns);
        let [rx, ry, rz] = RADAR_MOUNT_M;
        let mut detections = Vec::new();
        for o in &self.objects {
            let [px, py] = o.nearest(s, rx, ry);
            let (dx, dy) = (px - rx, py - ry);
            let range = dx.hypot(dy);
            let az = dy.atan2(dx);
            if az.abs() > 60f64.to_radians() || !(0.5..=160.0).contains(&range) {
                continue;
            }
            if !rng.random_bool(0.92) {
                continue;
            }
            let vx = o.relative_vx(s);
            detections.push(RadarDetection {
                range_m: range + rng.random_range(-0.1..0.1),
                azimuth_rad: az + rng.random_range(-0.005..0.005),
                elevation_rad: (0.5 * o.size_m[2] - rz).atan2(range),
                doppler_mps: vx * az.cos() + rng.random_range(-0.1..0.1),
                amplitude_db: if o.class == ObjectClass::Car {
                    20.0
                } else {
                    8.0
                },
            });
        }
        for _ in 0..8 {
            let az: f64 = rng.random_range(-1.0..1.0);
            detections.push(RadarDetection {
                range_m: rng.random_range(5.0..100.0),
                azimuth_rad: az,
                elevation_rad: 0.0,
                doppler_mps: -EGO_SPEED_MPS * az.cos(),
                amplitude_db: 3.0,
            });
        }
        RadarScan {
            stamp_ns,
            detections,
            base_from_sensor: mount(RADAR_MOUNT_M, 0.0),
        }
    }

    /// The front camera model (optical frame: z forward, x right, y down).
    pub fn camera_model() -> CameraModel {
        let r = Rotation3::from_matrix_unchecked(Matrix3::new(
            0.0, 0.0, 1.0, //
            -1.0, 0.0, 0.0, //
            0.0, -1.0, 0.0,
        ));
        CameraModel {
            fx_px: 900.0,
            fy_px: 900.0,
            cx_px: 640.0,
            cy_px: 360.0,
            width_px: 1280,
            height_px: 720,
            base_from_optical: Isometry3::from_parts(
                Translation3::new(CAMERA_MOUNT_M[0], CAMERA_MOUNT_M[1], CAMERA_MOUNT_M[2]),
                UnitQuaternion::from_rotation_matrix(&r),
            ),
        }
    }

    /// The camera detector's boxes at `stamp_ns`: the projection of every road user wholly in
    /// front of the camera within 80 m, clipped to the image.
    pub fn camera(&self, stamp_ns: StampNs) -> CameraFrame {
        let s = secs(stamp_ns);
        let model = Self::camera_model();
        let mut detections = Vec::new();
        for o in &self.objects {
            let [cx, cy] = o.centre(s);
            let [l, w, h] = o.size_m;
            if (cx - CAMERA_MOUNT_M[0]).hypot(cy) > 80.0 {
                continue;
            }
            let (mut u0, mut v0, mut u1, mut v1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
            let mut in_front = true;
            for (sx, sy, z) in [
                (-1.0, -1.0, 0.0),
                (-1.0, 1.0, 0.0),
                (1.0, -1.0, 0.0),
                (1.0, 1.0, 0.0),
                (-1.0, -1.0, h),
                (-1.0, 1.0, h),
                (1.0, -1.0, h),
                (1.0, 1.0, h),
            ] {
                let (xb, yb) = (cx + 0.5 * sx * l, cy + 0.5 * sy * w);
                // base_link -> optical.
                let (xo, yo, zo) = (-yb, -(z - CAMERA_MOUNT_M[2]), xb - CAMERA_MOUNT_M[0]);
                if zo < 0.5 {
                    in_front = false;
                    break;
                }
                let (u, v) = (
                    model.fx_px * xo / zo + model.cx_px,
                    model.fy_px * yo / zo + model.cy_px,
                );
                (u0, v0, u1, v1) = (u0.min(u), v0.min(v), u1.max(u), v1.max(v));
            }
            if !in_front {
                continue;
            }
            let (u0, u1) = (u0.max(0.0), u1.min(f64::from(model.width_px)));
            let (v0, v1) = (v0.max(0.0), v1.min(f64::from(model.height_px)));
            if u1 - u0 < 2.0 || v1 - v0 < 2.0 {
                continue;
            }
            detections.push(Detection2D {
                center_u_px: 0.5 * (u0 + u1),
                center_v_px: 0.5 * (v0 + v1),
                width_px: u1 - u0,
                height_px: v1 - v0,
                class: o.class,
                score: 0.9,
            });
        }
        CameraFrame {
            stamp_ns,
            detections,
            model,
        }
    }

    /// Ultrasonic sensor `i` at `stamp_ns`: the nearest road user in its 60 degree cone within
    /// 5.5 m, else `+inf`.
    pub fn ultrasonic(&self, i: u8, stamp_ns: StampNs) -> UltrasonicRange {
        let s = secs(stamp_ns);
        let (_, x, y, yaw_deg) = ULTRASONIC[usize::from(i)];
        let yaw = yaw_deg.to_radians();
        let mut range = f64::INFINITY;
        for o in &self.objects {
            let [px, py] = o.nearest(s, x, y);
            let d = (px - x).hypot(py - y);
            let bearing = ((py - y).atan2(px - x) - yaw + PI).rem_euclid(2.0 * PI) - PI;
            if (0.2..=5.5).contains(&d) && bearing.abs() <= 30f64.to_radians() {
                range = range.min(d);
            }
        }
        UltrasonicRange {
            stamp_ns,
            sensor: i,
            range_m: range,
            min_range_m: 0.2,
            max_range_m: 5.5,
            field_of_view_rad: 60f64.to_radians(),
            base_from_sensor: mount([x, y, 0.5], yaw),
        }
    }

    /// The IMU at `stamp_ns`: constant speed, straight: gravity only.
    pub fn imu(stamp_ns: StampNs) -> ImuSample {
        ImuSample {
            stamp_ns,
            gyro_radps: Vector3::zeros(),
            accel_mps2: Vector3::new(0.0, 0.0, 9.81),
            base_from_imu: mount(IMU_MOUNT_M, 0.0),
        }
    }

    /// Wheel odometry at `stamp_ns`.
    pub fn wheel(stamp_ns: StampNs) -> WheelTwist {
        WheelTwist {
            stamp_ns,
            speed_mps: EGO_SPEED_MPS,
            yaw_rate_radps: 0.0,
            speed_var: 0.03 * 0.03,
            yaw_rate_var: 0.004 * 0.004,
        }
    }
}

/// Which input a stream produces.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    Lidar,
    Radar,
    Camera,
    Ultrasonic(u8),
    Imu,
    Wheel,
}

/// A periodic stream: stamps `phase + i * period` (i >= 0), each arriving `latency` later.
#[derive(Debug, Clone, Copy)]
struct Stream {
    source: Source,
    phase_ns: i64,
    period_ns: i64,
    latency_ns: i64,
}

fn streams() -> Vec<Stream> {
    let s = |source, phase_ms: i64, period_ns: i64, latency_ms: i64| Stream {
        source,
        phase_ns: phase_ms * MS,
        period_ns,
        latency_ns: latency_ms * MS,
    };
    let mut v = vec![
        // A sweep is published 5 ms after it ends.
        s(Source::Lidar, 0, LIDAR_PERIOD_NS, 105),
        s(Source::Radar, 3, 50 * MS, 8),
        s(Source::Camera, 7, 33_333_333, 25),
        s(Source::Imu, 1, 10 * MS, 0),
        s(Source::Wheel, 2, 20 * MS, 0),
    ];
    for i in 0..ULTRASONIC.len() as u8 {
        v.push(s(Source::Ultrasonic(i), 11, 50 * MS, 0));
    }
    v
}

/// The inputs arriving in one LiDAR period, in arrival order (the sweep last).
pub struct Window {
    /// (arrival, input).
    pub inputs: Vec<(StampNs, Input)>,
}

/// The world driven through a pipeline, one LiDAR period at a time.
pub struct Drive {
    /// The world.
    pub world: World,
    /// The pipeline under test.
    pub pipeline: Pipeline,
    clock: WallClock,
    streams: Vec<Stream>,
    next_window: i64,
}

/// What one window cost.
#[derive(Debug, Clone)]
pub struct WindowRun {
    /// Wall time of every push and poll of the window.
    pub wall: Duration,
    /// The cycles it produced.
    pub cycles: Vec<CycleOutput>,
}

impl Drive {
    /// A drive through a world of `objects` road users and `points` points per sweep, with the
    /// default pipeline (budget degradation off).
    pub fn new(points: usize, objects: usize, seed: u64) -> Self {
        let config = PipelineConfig {
            budget: BudgetConfig {
                degrade_above: f64::INFINITY,
                ..BudgetConfig::default()
            },
            ultrasonic_names: ULTRASONIC
                .iter()
                .enumerate()
                .map(|(i, u)| (i as u8, u.0.to_string()))
                .collect(),
            ..PipelineConfig::default()
        };
        Self {
            world: World::new(points, objects, seed),
            pipeline: Pipeline::new(config).unwrap(),
            clock: WallClock::default(),
            streams: streams(),
            next_window: 0,
        }
    }

    /// Generates the next window's inputs: those arriving in `(a - 100 ms, a]`, where `a` is
    /// the arrival of the window's LiDAR sweep.
    pub fn prepare(&mut self) -> Window {
        let k = self.next_window;
        self.next_window += 1;
        let hi = k * LIDAR_PERIOD_NS + 105 * MS;
        let lo = if k == 0 {
            i64::MIN
        } else {
            hi - LIDAR_PERIOD_NS
        };
        let mut inputs: Vec<(StampNs, bool, Input)> = Vec::new();
        for st in &self.streams {
            let first = if lo == i64::MIN {
                0
            } else {
                ((lo - st.latency_ns - st.phase_ns).div_euclid(st.period_ns)).max(0)
            };
            let mut i = first;
            loop {
                let stamp = st.phase_ns + i * st.period_ns;
                let arrival = stamp + st.latency_ns;
                i += 1;
                if arrival > hi {
                    break;
                }
                if arrival <= lo {
                    continue;
                }
                let input = match st.source {
                    Source::Lidar => Input::Lidar(self.world.lidar(stamp)),
                    Source::Radar => Input::Radar(self.world.radar(stamp)),
                    Source::Camera => Input::Camera(self.world.camera(stamp)),
                    Source::Ultrasonic(u) => Input::Ultrasonic(self.world.ultrasonic(u, stamp)),
                    Source::Imu => Input::Imu(World::imu(stamp)),
                    Source::Wheel => Input::Wheel(World::wheel(stamp)),
                };
                inputs.push((arrival, st.source == Source::Lidar, input));
            }
        }
        inputs.sort_by_key(|(a, lidar, input)| (*a, *lidar, input.stamp_ns()));
        Window {
            inputs: inputs.into_iter().map(|(a, _, i)| (a, i)).collect(),
        }
    }

    /// Pushes each input of `window` at its arrival and polls the pipeline, timed.
    pub fn run(&mut self, window: Window) -> WindowRun {
        let mut cycles = Vec::new();
        let start = Instant::now();
        for (arrival, input) in window.inputs {
            self.pipeline.push(arrival, input);
            cycles.extend(self.pipeline.poll(arrival, &mut self.clock));
        }
        let wall = start.elapsed();
        WindowRun { wall, cycles }
    }

    /// Runs `windows` windows; returns the last cycle.
    pub fn warm_up(&mut self, windows: usize) -> Option<CycleOutput> {
        let mut last = None;
        for _ in 0..windows {
            let w = self.prepare();
            if let Some(c) = self.run(w).cycles.pop() {
                last = Some(c);
            }
        }
        last
    }
}

impl Drive {
    /// The objects without a confirmed track within `radius_m` of their centre in `cycle`
    /// (positions compared in the pipeline's `odom` through its ego estimate).
    pub fn untracked(&self, cycle: &CycleOutput, radius_m: f64) -> Vec<Object> {
        let Some(ego) = cycle.ego else {
            return self.world.objects.clone();
        };
        let s = secs(cycle.stamp_ns);
        let odom_from_base = ego.odom_from_base();
        self.world
            .objects
            .iter()
            .filter(|o| {
                let [x, y] = o.centre(s);
                let p = odom_from_base * nalgebra::Point3::new(x, y, 0.0);
                !cycle
                    .tracks
                    .iter()
                    .any(|t| (t.shape.x_m - p.x).hypot(t.shape.y_m - p.y) <= radius_m)
            })
            .copied()
            .collect()
    }
}

/// The `p`-quantile (nearest rank) of `v`, sorted in place.
pub fn quantile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = (p * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// glibc's allocator as the fusion processes set it (`edgefuse_ros::rt::keep_heap_memory`):
/// no mapping of large blocks, no trimming, so per-cycle buffers do not fault in every cycle.
const GLIBC_TUNABLES: &str = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647";

/// Re-runs this bench under the fusion processes' allocator settings, unless it already runs
/// under glibc tunables, and exits with its status. This crate cannot call `mallopt` (no
/// unsafe code, no ROS dependency), so the settings go in as `GLIBC_TUNABLES`; if the re-run
/// cannot start, the bench measures as it is and says so.
pub fn rerun_with_process_allocator_settings() {
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        return;
    }
    let status = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("GLIBC_TUNABLES", GLIBC_TUNABLES)
            .status()
    });
    match status {
        Ok(s) => std::process::exit(s.code().unwrap_or(1)),
        Err(e) => eprintln!("running under {GLIBC_TUNABLES} failed ({e}); measuring as is"),
    }
}
