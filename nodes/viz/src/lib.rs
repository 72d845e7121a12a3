//! edgefuse-viz: the pipeline drawn in rerun. It turns the fusion library's inputs and cycle
//! outputs, and the contract messages of live topics, into rerun entities (LiDAR points coloured
//! by ground and cluster, radar returns with doppler arrows, ultrasonic cones, the camera with
//! its detections and the tracks projected in, 3D track and ground-truth boxes, the ego pose and
//! trail, stage latencies against the deadline, sensor health, HMI text and the maintenance
//! report), on the `sensor_time` timeline, with a default blueprint. It writes to a spawned or
//! connected viewer or to an `.rrd` file. It depends on the fusion library's types, the contract
//! messages and the rerun SDK; it must not depend on a transport (DDS) or on bag reading: its
//! callers feed it.

pub mod paths;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use edgefuse_fusion::budget::Stage;
use edgefuse_fusion::health::{Finding, SensorStats};
use edgefuse_fusion::lidar::LabelledCloud;
use edgefuse_fusion::pipeline::CycleOutput;
use edgefuse_fusion::types::{
    Box3, CameraFrame, CameraModel, EgoState, Input, ObjectClass, RadarScan, StampNs, Track,
    Transform3, UltrasonicRange,
};
use edgefuse_msgs::edgefuse_msgs::TrackedObject;
use edgefuse_msgs::sensor_msgs;
use nalgebra::{Point3, UnitQuaternion, Vector3};
use rerun::{RecordingStream, RecordingStreamBuilder};

/// The timeline every entity is logged on: the sensor stamps (ROS time).
pub const TIMELINE: &str = "sensor_time";

/// Why visualisation failed.
#[derive(Debug, thiserror::Error)]
pub enum VizError {
    /// The recording stream could not be created (spawn, connect or file).
    #[error("rerun {target}: {source}")]
    Stream {
        /// The target: `spawn`, the URL, or the file path.
        target: String,
        /// The cause.
        #[source]
        source: rerun::RecordingStreamError,
    },
    /// A file sink could not be created.
    #[error("rerun file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
    /// The viewer could not be spawned.
    #[error(
        "spawning the rerun viewer (is `rerun` on PATH? `pip install rerun-sdk==0.36.3`): {0}"
    )]
    Spawn(String),
    /// Logging failed (serialisation).
    #[error("rerun log {entity}: {source}")]
    Log {
        /// The entity path.
        entity: String,
        /// The cause.
        #[source]
        source: rerun::RecordingStreamError,
    },
    /// Flushing to the sinks failed (a file could not be written, a viewer went away).
    #[error("rerun flush: {0}")]
    Flush(String),
}

/// Where the recording goes. Several may be set at once (a viewer and a file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// Spawn a native viewer (`rerun` on `PATH`) and stream to it on loopback.
    pub spawn: bool,
    /// Stream to a running viewer at this URL (`rerun+http://127.0.0.1:9876/proxy`).
    pub connect: Option<String>,
    /// Write an `.rrd` file.
    pub save: Option<PathBuf>,
}

impl Target {
    /// True when nothing is to be logged.
    pub fn is_empty(&self) -> bool {
        !self.spawn && self.connect.is_none() && self.save.is_none()
    }
}

/// The viewer's default address on loopback.
pub fn default_url() -> String {
    format!(
        "rerun+http://127.0.0.1:{}/proxy",
        rerun::DEFAULT_SERVER_PORT
    )
}

/// Which HMI text stream a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HmiText {
    /// A driver request (`/hmi/request`).
    Request,
    /// A response (`/hmi/response`).
    Response,
    /// An alert (`/hmi/alert`).
    Alert,
}

impl HmiText {
    fn path(self) -> &'static str {
        match self {
            HmiText::Request => paths::HMI_REQUEST,
            HmiText::Response => paths::HMI_RESPONSE,
            HmiText::Alert => paths::HMI_ALERT,
        }
    }
}

/// An object box in `odom` as drawn: from a track, a ground-truth object or a live
/// `TrackedObject`.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectBox {
    /// Track or ground-truth id.
    pub id: u64,
    /// Class.
    pub class: ObjectClass,
    /// Box centre, m.
    pub center_m: [f64; 3],
    /// Heading, rad.
    pub yaw_rad: f64,
    /// Length, width, height, m.
    pub size_m: [f64; 3],
    /// Velocity over ground, m/s.
    pub velocity_mps: [f64; 2],
}

impl ObjectBox {
    /// A confirmed track.
    pub fn from_track(t: &Track) -> Self {
        Self {
            id: t.id,
            class: t.class,
            center_m: [t.shape.x_m, t.shape.y_m, t.shape.z_m],
            yaw_rad: t.shape.yaw_rad,
            size_m: [t.shape.length_m, t.shape.width_m, t.shape.height_m],
            velocity_mps: [t.vx_mps, t.vy_mps],
        }
    }

    /// A `TrackedObject` message (tracks on `/perception/objects`, ground truth).
    pub fn from_msg(o: &TrackedObject) -> Self {
        let p = &o.pose.pose;
        let class = ObjectClass::ALL
            .get(usize::from(o.classification))
            .copied()
            .unwrap_or_default();
        Self {
            id: o.id,
            class,
            center_m: [p.position.x, p.position.y, p.position.z],
            yaw_rad: p.orientation.yaw_rad(),
            size_m: [o.size.x, o.size.y, o.size.z],
            velocity_mps: [o.twist.twist.linear.x, o.twist.twist.linear.y],
        }
    }
}

/// A rerun recording of the pipeline.
pub struct Viz {
    rec: RecordingStream,
    /// Ego positions in `odom`, one per metre travelled, the newest last (bounded).
    trail_m: Vec<[f32; 3]>,
    /// Sensor mounts already logged (static transforms), by entity path.
    mounts: BTreeSet<String>,
    /// The newest camera model and ego pose (for projecting tracks into the camera).
    camera: Option<CameraModel>,
    odom_from_base: Option<Transform3>,
    ultrasonic_names: BTreeMap<u8, String>,
    deadline_ms: f64,
    /// The dropout count last drawn per component.
    dropouts: BTreeMap<String, u64>,
}

/// Trail points kept (one per metre).
const TRAIL_POINTS: usize = 500;
/// Every how many ground points one is drawn: ground is most of a sweep and uniform, and all
/// of it would triple the recording's size and cost (the clusters are drawn in full).
pub const GROUND_STRIDE: usize = 4;
/// Every how many non-ground voxels outside the kept clusters (noise, clusters dropped for
/// their size) one is drawn, grey: background, thinned like the ground. (On the sample drives
/// they are few: nearly every voxel is in a kept cluster, walls included.)
pub const BACKGROUND_STRIDE: usize = 4;

impl Viz {
    /// A recording named `application` to `target`, with the static scene (axes, class
    /// colours, series styles) and the default blueprint logged. `deadline_ms` is drawn beside
    /// the stage latencies.
    pub fn new(
        application: &'static str,
        target: &Target,
        deadline_ms: f64,
    ) -> Result<Self, VizError> {
        let builder = RecordingStreamBuilder::new(application).batcher_config(batching(target)?);
        let rec = open(builder, target)?;
        let viz = Self {
            rec,
            trail_m: Vec::new(),
            mounts: BTreeSet::new(),
            camera: None,
            odom_from_base: None,
            ultrasonic_names: BTreeMap::new(),
            deadline_ms,
            dropouts: BTreeMap::new(),
        };
        viz.static_scene()?;
        paths::blueprint()
            .send(
                &viz.rec,
                rerun::blueprint::BlueprintActivation {
                    make_active: true,
                    make_default: true,
                },
            )
            .map_err(|e| log_err(paths::BLUEPRINT, e))?;
        Ok(viz)
    }

    /// Names of the ultrasonic sensors by index (entity names; the index otherwise).
    pub fn set_ultrasonic_names(&mut self, names: &BTreeMap<u8, String>) {
        self.ultrasonic_names = names.clone();
    }

    fn static_scene(&self) -> Result<(), VizError> {
        self.log_static(paths::WORLD, &rerun::ViewCoordinates::RIGHT_HAND_Z_UP())?;
        let classes = ObjectClass::ALL
            .iter()
            .map(|c| (u16::from(c.code()), class_name(*c), class_color(*c)));
        let context = rerun::AnnotationContext::new(classes);
        self.log_static(paths::WORLD, &context)?;
        self.log_static(paths::CAMERA, &context)?;
        let style = |name: &str, rgb: [u8; 3]| {
            rerun::SeriesLines::new()
                .with_names([name])
                .with_colors([rerun::Color::from_rgb(rgb[0], rgb[1], rgb[2])])
        };
        self.log_static(paths::DEADLINE, &style("deadline", [230, 40, 40]))?;
        self.log_static(paths::CYCLE_TOTAL, &style("cycle total", [240, 240, 240]))?;
        self.log_static(
            paths::DEADLINE_MISSES,
            &style("deadline misses", [230, 140, 40]),
        )?;
        for stage in Stage::ALL {
            let path = paths::stage(stage);
            self.log_static(
                &path,
                &rerun::SeriesLines::new().with_names([stage.as_str()]),
            )?;
        }
        Ok(())
    }

    fn set_time(&self, stamp_ns: StampNs) {
        self.rec.set_timestamp_nanos_since_epoch(TIMELINE, stamp_ns);
    }

    fn log(&self, path: &str, what: &impl rerun::AsComponents) -> Result<(), VizError> {
        self.rec.log(path, what).map_err(|e| log_err(path, e))
    }

    fn log_static(&self, path: &str, what: &impl rerun::AsComponents) -> Result<(), VizError> {
        self.rec
            .log_static(path, what)
            .map_err(|e| log_err(path, e))
    }

    /// A sensor's mounting `base_from_sensor` under the ego frame, logged once per sensor.
    fn mount(&mut self, path: &str, base_from_sensor: &Transform3) -> Result<(), VizError> {
        if self.mounts.contains(path) {
            return Ok(());
        }
        self.log_static(path, &transform(base_from_sensor))?;
        self.mounts.insert(path.to_string());
        Ok(())
    }

    /// One sensor input at its stamp (IMU and wheel inputs draw nothing; the ego pose comes
    /// with each cycle).
    pub fn input(&mut self, input: &Input) -> Result<(), VizError> {
        match input {
            Input::Radar(r) => self.radar(r),
            Input::Ultrasonic(u) => self.ultrasonic(u),
            Input::Camera(c) => self.camera(c),
            Input::Lidar(scan) => self.mount(paths::LIDAR, &scan.base_from_sensor),
            Input::Imu(_) | Input::Wheel(_) => Ok(()),
        }
    }

    /// A LiDAR scan's raw points in the sensor frame, coloured by height (live topics, where
    /// the stages' labels are not published).
    pub fn lidar_raw(
        &mut self,
        stamp_ns: StampNs,
        base_from_sensor: &Transform3,
        points_m: &[[f32; 3]],
    ) -> Result<(), VizError> {
        self.mount(paths::LIDAR, base_from_sensor)?;
        self.set_time(stamp_ns);
        let colors = points_m.iter().map(|p| height_color(p[2]));
        self.log(
            paths::LIDAR_RAW,
            &rerun::Points3D::new(points_m.iter().copied())
                .with_colors(colors)
                .with_radii([rerun::Radius::new_ui_points(1.5)]),
        )
    }

    fn radar(&mut self, r: &RadarScan) -> Result<(), VizError> {
        self.mount(paths::RADAR, &r.base_from_sensor)?;
        self.set_time(r.stamp_ns);
        let mut positions = Vec::with_capacity(r.detections.len());
        let mut arrows = Vec::with_capacity(r.detections.len());
        let mut colors = Vec::with_capacity(r.detections.len());
        for d in &r.detections {
            let (se, ce) = d.elevation_rad.sin_cos();
            let (sa, ca) = d.azimuth_rad.sin_cos();
            let unit = [ce * ca, ce * sa, se];
            positions.push(unit.map(|u| (u * d.range_m) as f32));
            // The doppler (radial) velocity as an arrow along the line of sight: one second
            // of motion; red closing, blue opening.
            arrows.push(unit.map(|u| (u * d.doppler_mps) as f32));
            colors.push(if d.doppler_mps < 0.0 {
                rerun::Color::from_rgb(240, 70, 60)
            } else {
                rerun::Color::from_rgb(70, 140, 250)
            });
        }
        let labels = r
            .detections
            .iter()
            .map(|d| format!("{:+.1} m/s", d.doppler_mps));
        self.log(
            paths::RADAR_RETURNS,
            &rerun::Points3D::new(positions.iter().copied())
                .with_colors(colors.iter().copied())
                .with_radii([rerun::Radius::new_ui_points(5.0)])
                .with_labels(labels)
                .with_show_labels(false),
        )?;
        self.log(
            paths::RADAR_DOPPLER,
            &rerun::Arrows3D::from_vectors(arrows)
                .with_origins(positions)
                .with_colors(colors),
        )
    }

    fn ultrasonic(&mut self, u: &UltrasonicRange) -> Result<(), VizError> {
        let name = self
            .ultrasonic_names
            .get(&u.sensor)
            .cloned()
            .unwrap_or_else(|| u.sensor.to_string());
        let base = paths::ultrasonic(&name);
        self.mount(&base, &u.base_from_sensor)?;
        self.set_time(u.stamp_ns);
        // The cone's outline in the sensor frame (x along the axis): its two edges and the arc
        // at the measured range, in the horizontal plane.
        let range_m = u.range_m.clamp(0.0, u.max_range_m.max(0.0));
        let half = u.field_of_view_rad / 2.0;
        let arc: Vec<[f32; 3]> = (0..=12)
            .map(|i| {
                let a = -half + u.field_of_view_rad * f64::from(i) / 12.0;
                [(range_m * a.cos()) as f32, (range_m * a.sin()) as f32, 0.0]
            })
            .collect();
        let mut outline = vec![[0.0f32; 3]];
        outline.extend(arc.iter().copied());
        outline.push([0.0; 3]);
        let near = u.range_m < 0.5;
        let color = if near {
            rerun::Color::from_rgb(240, 60, 60)
        } else {
            rerun::Color::from_rgb(120, 220, 120)
        };
        self.log(
            &paths::ultrasonic_cone(&name),
            &rerun::LineStrips3D::new([outline])
                .with_colors([color])
                .with_labels([format!("{name} {:.2} m", u.range_m)])
                .with_show_labels(near),
        )
    }

    fn camera(&mut self, c: &CameraFrame) -> Result<(), VizError> {
        let model = c.model;
        if self.camera != Some(model) {
            self.log_static(paths::CAMERA, &transform(&model.base_from_optical))?;
            self.log_static(
                paths::CAMERA,
                &rerun::Pinhole::from_focal_length_and_resolution(
                    [model.fx_px as f32, model.fy_px as f32],
                    [model.width_px as f32, model.height_px as f32],
                )
                .with_principal_point([model.cx_px as f32, model.cy_px as f32])
                .with_camera_xyz(rerun::components::ViewCoordinates::RDF)
                .with_image_plane_distance(2.0),
            )?;
            self.camera = Some(model);
        }
        self.set_time(c.stamp_ns);
        let centers = c
            .detections
            .iter()
            .map(|d| [d.center_u_px as f32, d.center_v_px as f32]);
        let sizes = c
            .detections
            .iter()
            .map(|d| [d.width_px as f32, d.height_px as f32]);
        let labels = c
            .detections
            .iter()
            .map(|d| format!("{} {:.2}", class_name(d.class), d.score));
        let classes = c.detections.iter().map(|d| u16::from(d.class.code()));
        self.log(
            paths::CAMERA_DETECTIONS,
            &rerun::Boxes2D::from_centers_and_sizes(centers, sizes)
                .with_labels(labels)
                .with_class_ids(classes),
        )
    }

    /// A camera image (`sensor_msgs/Image`: `rgb8`, `bgr8`, `rgba8`, `bgra8`, `mono8`); other
    /// encodings and images whose size does not match their data are refused with the reason.
    pub fn image(&mut self, stamp_ns: StampNs, img: &sensor_msgs::Image) -> Result<(), String> {
        let (channels, bytes) = image_bytes(img)?;
        let (w, h) = (img.width, img.height);
        let image = match channels {
            1 => rerun::Image::from_l8(bytes, [w, h]),
            3 => rerun::Image::from_rgb24(bytes, [w, h]),
            _ => rerun::Image::from_rgba32(bytes, [w, h]),
        };
        self.set_time(stamp_ns);
        self.log(paths::CAMERA_IMAGE, &image)
            .map_err(|e| e.to_string())
    }

    /// One fusion cycle: the ego pose and trail, the labelled cloud and LiDAR boxes, the
    /// confirmed tracks (3D and projected into the camera), the stage latencies, health.
    pub fn cycle(
        &mut self,
        cycle: &CycleOutput,
        health: &[SensorStats],
        deadline_misses: u64,
    ) -> Result<(), VizError> {
        self.set_time(cycle.stamp_ns);
        if let Some(ego) = &cycle.ego {
            self.ego(ego)?;
        }
        if let Some(cloud) = &cycle.lidar_cloud {
            self.lidar_labelled(cycle.stamp_ns, cloud)?;
        }
        self.lidar_boxes(&cycle.lidar_boxes)?;
        let boxes: Vec<ObjectBox> = cycle.tracks.iter().map(ObjectBox::from_track).collect();
        self.tracks(cycle.stamp_ns, &boxes)?;
        self.timing(cycle, deadline_misses)?;
        self.health(cycle.stamp_ns, health, &cycle.findings)
    }

    /// The ego pose at its stamp (also used for live odometry).
    pub fn ego(&mut self, ego: &EgoState) -> Result<(), VizError> {
        let odom_from_base = ego.odom_from_base();
        self.set_time(ego.stamp_ns);
        self.log(paths::EGO, &transform(&odom_from_base))?;
        self.odom_from_base = Some(odom_from_base);
        let p = [ego.x_m as f32, ego.y_m as f32, 0.0];
        let moved = self.trail_m.last().is_none_or(|q| {
            let (dx, dy) = (p[0] - q[0], p[1] - q[1]);
            dx * dx + dy * dy >= 1.0
        });
        if moved {
            self.trail_m.push(p);
            if self.trail_m.len() > TRAIL_POINTS {
                self.trail_m.remove(0);
            }
        }
        self.log(
            paths::EGO_TRAIL,
            &rerun::LineStrips3D::new([self.trail_m.iter().copied()])
                .with_colors([rerun::Color::from_rgb(250, 200, 40)]),
        )
    }

    /// A sweep's labelled cloud in `base_link` at `stamp_ns` (the cycle's, or from
    /// `/perception/lidar/labelled_points`): ground points brown (one in [`GROUND_STRIDE`]),
    /// the voxels of each kept cluster in its colour, the other voxels grey (one in
    /// [`BACKGROUND_STRIDE`]).
    pub fn lidar_labelled(
        &mut self,
        stamp_ns: StampNs,
        cloud: &LabelledCloud,
    ) -> Result<(), VizError> {
        self.set_time(stamp_ns);
        self.log(
            paths::LIDAR_GROUND,
            &rerun::Points3D::new(cloud.ground_m.iter().step_by(GROUND_STRIDE).copied())
                .with_colors([rerun::Color::from_rgb(120, 100, 80)])
                .with_radii([rerun::Radius::new_ui_points(1.0)]),
        )?;
        // One colour per cluster; the voxels in no kept cluster go to their own entity.
        let n = cloud
            .voxel_cluster
            .iter()
            .flatten()
            .max()
            .map_or(0, |k| *k as usize + 1);
        let palette: Vec<rerun::Color> = (0..n as u32).map(cluster_color).collect();
        let (mut clustered, mut colors, mut other) = (Vec::new(), Vec::new(), Vec::new());
        for (p, c) in cloud.voxels_m.iter().zip(&cloud.voxel_cluster) {
            match c.and_then(|k| palette.get(k as usize)) {
                Some(color) => {
                    clustered.push(*p);
                    colors.push(*color);
                }
                None => other.push(*p),
            }
        }
        self.log(
            paths::LIDAR_CLUSTERS,
            &rerun::Points3D::new(clustered)
                .with_colors(colors)
                .with_radii([rerun::Radius::new_ui_points(2.5)]),
        )?;
        self.log(
            paths::LIDAR_UNCLUSTERED,
            &rerun::Points3D::new(other.into_iter().step_by(BACKGROUND_STRIDE))
                .with_colors([rerun::Color::from_rgb(170, 170, 170)])
                .with_radii([rerun::Radius::new_ui_points(1.5)]),
        )
    }

    fn lidar_boxes(&mut self, boxes: &[Box3]) -> Result<(), VizError> {
        self.log(
            paths::LIDAR_BOXES,
            &boxes3d(boxes.iter().map(|b| {
                (
                    [b.x_m, b.y_m, b.z_m],
                    b.yaw_rad,
                    [b.length_m, b.width_m, b.height_m],
                )
            }))
            .with_colors([rerun::Color::from_rgb(200, 200, 200)]),
        )
    }

    /// Tracked objects in `odom` (3D boxes with id, class and velocity arrow), and projected
    /// into the camera when one is known.
    pub fn tracks(&mut self, stamp_ns: StampNs, boxes: &[ObjectBox]) -> Result<(), VizError> {
        self.set_time(stamp_ns);
        self.log(
            paths::TRACKS,
            &boxes3d(boxes.iter().map(|b| (b.center_m, b.yaw_rad, b.size_m)))
                .with_labels(
                    boxes
                        .iter()
                        .map(|b| format!("#{} {}", b.id, class_name(b.class))),
                )
                .with_class_ids(boxes.iter().map(|b| u16::from(b.class.code()))),
        )?;
        self.log(
            paths::TRACK_VELOCITY,
            &rerun::Arrows3D::from_vectors(
                boxes
                    .iter()
                    .map(|b| [b.velocity_mps[0] as f32, b.velocity_mps[1] as f32, 0.0]),
            )
            .with_origins(boxes.iter().map(|b| b.center_m.map(|v| v as f32)))
            .with_class_ids(boxes.iter().map(|b| u16::from(b.class.code()))),
        )?;
        if let (Some(model), Some(odom_from_base)) = (self.camera, self.odom_from_base) {
            let optical_from_odom = (odom_from_base * model.base_from_optical).inverse();
            let mut centers = Vec::new();
            let mut sizes = Vec::new();
            let mut labels = Vec::new();
            let mut classes = Vec::new();
            for b in boxes {
                if let Some((c, s)) = project_box(&model, &optical_from_odom, b) {
                    centers.push(c);
                    sizes.push(s);
                    labels.push(format!("#{}", b.id));
                    classes.push(u16::from(b.class.code()));
                }
            }
            self.log(
                paths::CAMERA_TRACKS,
                &rerun::Boxes2D::from_centers_and_sizes(centers, sizes)
                    .with_labels(labels)
                    .with_class_ids(classes),
            )?;
        }
        Ok(())
    }

    /// Ground-truth objects (simulated drives), a separate entity from the tracks.
    pub fn truth(&mut self, stamp_ns: StampNs, objects: &[TrackedObject]) -> Result<(), VizError> {
        self.set_time(stamp_ns);
        let boxes: Vec<ObjectBox> = objects.iter().map(ObjectBox::from_msg).collect();
        self.log(
            paths::GROUND_TRUTH,
            &boxes3d(boxes.iter().map(|b| (b.center_m, b.yaw_rad, b.size_m)))
                .with_labels(boxes.iter().map(|b| format!("gt {}", b.id)))
                .with_colors([rerun::Color::from_rgb(90, 250, 120)])
                .with_show_labels(false),
        )
    }

    fn timing(&mut self, cycle: &CycleOutput, deadline_misses: u64) -> Result<(), VizError> {
        for (stage, ns) in &cycle.timing.stage_ns {
            self.log(
                &paths::stage(*stage),
                &rerun::Scalars::single(*ns as f64 * 1e-6),
            )?;
        }
        self.log(
            paths::CYCLE_TOTAL,
            &rerun::Scalars::single(cycle.timing.total_ns as f64 * 1e-6),
        )?;
        self.log(paths::DEADLINE, &rerun::Scalars::single(self.deadline_ms))?;
        self.log(
            paths::DEADLINE_MISSES,
            &rerun::Scalars::single(deadline_misses as f64),
        )
    }

    fn health(
        &mut self,
        stamp_ns: StampNs,
        stats: &[SensorStats],
        findings: &[Finding],
    ) -> Result<(), VizError> {
        self.set_time(stamp_ns);
        for s in stats {
            if s.rate_hz.is_finite() {
                self.scalar(&paths::health(&s.component, "rate_hz"), s.rate_hz)?;
            }
            if s.mean_latency_s.is_finite() {
                self.scalar(
                    &paths::health(&s.component, "latency_ms"),
                    s.mean_latency_s * 1e3,
                )?;
            }
            // A count that rarely moves: a point when it does (and the first time).
            if self.dropouts.get(&s.component) != Some(&s.dropouts) {
                self.scalar(&paths::health(&s.component, "dropouts"), s.dropouts as f64)?;
                self.dropouts.insert(s.component.clone(), s.dropouts);
            }
        }
        for f in findings {
            if let Some((key, value)) = f.evidence.first() {
                let path = paths::health(&f.component, &format!("{}/{key}", f.kind.as_str()));
                self.scalar(&path, *value)?;
            }
        }
        Ok(())
    }

    /// One value on a time series at the current time.
    pub fn scalar(&mut self, path: &str, value: f64) -> Result<(), VizError> {
        self.log(path, &rerun::Scalars::single(value))
    }

    /// A numeric indicator at `stamp_ns` (live `/diagnostics` values), under `health/`.
    pub fn indicator(
        &mut self,
        stamp_ns: StampNs,
        component: &str,
        key: &str,
        value: f64,
    ) -> Result<(), VizError> {
        self.set_time(stamp_ns);
        self.scalar(&paths::health(component, key), value)
    }

    /// A line of HMI text at `stamp_ns`.
    pub fn hmi_text(
        &mut self,
        kind: HmiText,
        stamp_ns: StampNs,
        text: &str,
    ) -> Result<(), VizError> {
        self.set_time(stamp_ns);
        let level = match kind {
            HmiText::Alert => rerun::TextLogLevel::WARN,
            HmiText::Request | HmiText::Response => rerun::TextLogLevel::INFO,
        };
        self.log(kind.path(), &rerun::TextLog::new(text).with_level(level))
    }

    /// The maintenance report as Markdown at `stamp_ns`.
    pub fn report(&mut self, stamp_ns: StampNs, markdown: &str) -> Result<(), VizError> {
        self.set_time(stamp_ns);
        self.log(
            paths::MAINTENANCE_REPORT,
            &rerun::TextDocument::from_markdown(markdown),
        )
    }

    /// Waits until everything logged so far reached the sinks (the file is complete).
    pub fn flush(&self) -> Result<(), VizError> {
        self.rec
            .flush_blocking()
            .map_err(|e| VizError::Flush(e.to_string()))
    }
}

impl Drop for Viz {
    fn drop(&mut self) {
        // Best effort: a file sink finishes its footer on flush.
        let _ = self.rec.flush_blocking();
    }
}

/// A `sensor_msgs/Image`'s pixels as tightly packed RGB(A) or L bytes, with their channel count:
/// `bgr8`/`bgra8` swapped to RGB order, row padding (`step`) dropped. Other encodings, and data
/// shorter than `step * height`, are refused with the reason.
pub fn image_bytes(img: &sensor_msgs::Image) -> Result<(usize, Vec<u8>), String> {
    let (w, h, step) = (img.width, img.height, img.step as usize);
    let channels = match img.encoding.as_str() {
        "rgb8" | "bgr8" => 3,
        "rgba8" | "bgra8" => 4,
        "mono8" | "8UC1" => 1,
        other => return Err(format!("image encoding '{other}' not drawn")),
    };
    let row = w as usize * channels;
    if step < row || img.data.len() < step * h as usize {
        return Err(format!(
            "image {w}x{h} {} step {step}: {} bytes of data",
            img.encoding,
            img.data.len()
        ));
    }
    let swap = matches!(img.encoding.as_str(), "bgr8" | "bgra8");
    let mut bytes = Vec::with_capacity(row * h as usize);
    for line in img.data.chunks(step).take(h as usize) {
        let line = &line[..row];
        if swap {
            for px in line.chunks_exact(channels) {
                bytes.extend([px[2], px[1], px[0]]);
                bytes.extend(px.get(3));
            }
        } else {
            bytes.extend_from_slice(line);
        }
    }
    Ok((channels, bytes))
}

/// rerun's batching for `target`: its defaults (every 8 ms to a viewer, 200 ms to a file
/// alone) with chunks cut at 256 KiB or 25 ms instead of 2 MiB or 200 ms: a labelled sweep is
/// about 300 KiB, and a fast replay logs 20 s of drive a second, so smaller chunks are encoded
/// and written as the run goes instead of piling up for the final flush (measured by the
/// `rerun_overhead` bench). `RERUN_FLUSH_*` environment variables still override.
fn batching(target: &Target) -> Result<rerun::log::ChunkBatcherConfig, VizError> {
    use rerun::log::ChunkBatcherConfig;
    let base = if target.spawn || target.connect.is_some() {
        ChunkBatcherConfig::LOW_LATENCY
    } else {
        ChunkBatcherConfig::DEFAULT
    };
    ChunkBatcherConfig {
        flush_num_bytes: 256 * 1024,
        flush_tick: base.flush_tick.min(std::time::Duration::from_millis(25)),
        ..base
    }
    .apply_env()
    .map_err(|e| VizError::Flush(format!("RERUN_FLUSH_* environment: {e}")))
}

fn open(builder: RecordingStreamBuilder, target: &Target) -> Result<RecordingStream, VizError> {
    let live_url = if target.spawn {
        // The viewer listens on loopback only (its default is every interface).
        let opts = rerun::SpawnOptions {
            extra_args: vec!["--bind".into(), "127.0.0.1".into()],
            ..rerun::SpawnOptions::default()
        };
        rerun::spawn(&opts).map_err(|e| VizError::Spawn(e.to_string()))?;
        Some(opts.connect_addr().to_string()).map(|addr| format!("rerun+http://{addr}/proxy"))
    } else {
        target.connect.clone()
    };
    let stream_err = |t: String| move |source| VizError::Stream { target: t, source };
    match (live_url, &target.save) {
        (None, None) => Ok(RecordingStream::disabled()),
        (Some(url), None) => builder
            .connect_grpc_opts(url.clone())
            .map_err(stream_err(url)),
        (None, Some(path)) => {
            prepare_file(path)?;
            builder
                .save(path)
                .map_err(stream_err(path.display().to_string()))
        }
        (Some(url), Some(path)) => {
            prepare_file(path)?;
            let file = rerun::sink::FileSink::new(path).map_err(|e| VizError::File {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let grpc = rerun::sink::GrpcSink::new(
                url.parse::<rerun::external::re_uri::ProxyUri>()
                    .map_err(|e| VizError::Spawn(format!("{url}: {e}")))?,
            );
            builder
                .set_sinks((file, grpc))
                .map_err(stream_err(format!("{url} + {}", path.display())))
        }
    }
}

/// Refuses a path whose directory is missing, with the path in the error.
fn prepare_file(path: &Path) -> Result<(), VizError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => Err(VizError::File {
            path: path.to_path_buf(),
            reason: format!("directory {} does not exist", dir.display()),
        }),
        _ => Ok(()),
    }
}

fn log_err(entity: &str, source: rerun::RecordingStreamError) -> VizError {
    VizError::Log {
        entity: entity.to_string(),
        source,
    }
}

fn transform(t: &Transform3) -> rerun::Transform3D {
    let v = t.translation.vector;
    let q = t.rotation.quaternion();
    rerun::Transform3D::from_translation_rotation(
        [v.x as f32, v.y as f32, v.z as f32],
        rerun::Quaternion::from_xyzw([q.i as f32, q.j as f32, q.k as f32, q.w as f32]),
    )
}

fn yaw_quaternion(yaw_rad: f64) -> rerun::Quaternion {
    let (s, c) = (yaw_rad / 2.0).sin_cos();
    rerun::Quaternion::from_xyzw([0.0, 0.0, s as f32, c as f32])
}

/// Boxes from (centre, yaw, length/width/height).
fn boxes3d(boxes: impl Iterator<Item = ([f64; 3], f64, [f64; 3])>) -> rerun::Boxes3D {
    let (mut centers, mut half, mut rot) = (Vec::new(), Vec::new(), Vec::new());
    for (c, yaw, size) in boxes {
        centers.push(c.map(|v| v as f32));
        half.push(size.map(|v| (v / 2.0) as f32));
        rot.push(yaw_quaternion(yaw));
    }
    rerun::Boxes3D::from_centers_and_half_sizes(centers, half).with_quaternions(rot)
}

/// The image rectangle (centre, size) of a box projected through the camera, when all its
/// corners are in front of the camera and the rectangle overlaps the image.
fn project_box(
    model: &CameraModel,
    optical_from_odom: &Transform3,
    b: &ObjectBox,
) -> Option<([f32; 2], [f32; 2])> {
    let rot = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), b.yaw_rad);
    let (mut u0, mut v0, mut u1, mut v1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for sx in [-0.5, 0.5] {
        for sy in [-0.5, 0.5] {
            for sz in [-0.5, 0.5] {
                let local = Vector3::new(sx * b.size_m[0], sy * b.size_m[1], sz * b.size_m[2]);
                let p = Point3::from(Vector3::from(b.center_m) + rot * local);
                let q = optical_from_odom * p;
                if q.z < 0.5 {
                    return None;
                }
                let u = model.fx_px * q.x / q.z + model.cx_px;
                let v = model.fy_px * q.y / q.z + model.cy_px;
                (u0, v0, u1, v1) = (u0.min(u), v0.min(v), u1.max(u), v1.max(v));
            }
        }
    }
    let (w, h) = (f64::from(model.width_px), f64::from(model.height_px));
    if u1 < 0.0 || v1 < 0.0 || u0 > w || v0 > h {
        return None;
    }
    let (u0, v0, u1, v1) = (u0.max(0.0), v0.max(0.0), u1.min(w), v1.min(h));
    Some((
        [((u0 + u1) / 2.0) as f32, ((v0 + v1) / 2.0) as f32],
        [(u1 - u0) as f32, (v1 - v0) as f32],
    ))
}

/// The class's name as in the messages' `CLASS_*` constants.
pub fn class_name(c: ObjectClass) -> &'static str {
    match c {
        ObjectClass::Unknown => "unknown",
        ObjectClass::Car => "car",
        ObjectClass::Truck => "truck",
        ObjectClass::Pedestrian => "pedestrian",
        ObjectClass::Cyclist => "cyclist",
    }
}

fn class_color(c: ObjectClass) -> rerun::Rgba32 {
    match c {
        ObjectClass::Unknown => rerun::Rgba32::from_rgb(200, 200, 200),
        ObjectClass::Car => rerun::Rgba32::from_rgb(60, 160, 255),
        ObjectClass::Truck => rerun::Rgba32::from_rgb(160, 90, 255),
        ObjectClass::Pedestrian => rerun::Rgba32::from_rgb(255, 90, 60),
        ObjectClass::Cyclist => rerun::Rgba32::from_rgb(255, 200, 40),
    }
}

/// A distinct colour per cluster index (golden-angle hues).
fn cluster_color(k: u32) -> rerun::Color {
    let hue = (f64::from(k) * 137.508).rem_euclid(360.0);
    let (r, g, b) = hsv(hue, 0.75, 0.95);
    rerun::Color::from_rgb(r, g, b)
}

/// Height in the sensor frame to a colour ramp (blue low, red high).
fn height_color(z_m: f32) -> rerun::Color {
    let t = f64::from((z_m + 2.0) / 4.0).clamp(0.0, 1.0);
    let (r, g, b) = hsv(240.0 * (1.0 - t), 0.8, 0.95);
    rerun::Color::from_rgb(r, g, b)
}

fn hsv(h_deg: f64, s: f64, v: f64) -> (u8, u8, u8) {
    let c = v * s;
    let x = c * (1.0 - ((h_deg / 60.0).rem_euclid(2.0) - 1.0).abs());
    let m = v - c;
    let (r, g, b) = match (h_deg / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let to = |f: f64| ((f + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    (to(r), to(g), to(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgefuse_fusion::types::Transform3;
    use nalgebra::{Translation3, UnitQuaternion};

    fn model() -> CameraModel {
        // Optical frame: z forward (base x), x right (base -y), y down (base -z).
        let r = nalgebra::Rotation3::from_matrix_unchecked(nalgebra::Matrix3::new(
            0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, -1.0, 0.0,
        ));
        CameraModel {
            fx_px: 1000.0,
            fy_px: 1000.0,
            cx_px: 960.0,
            cy_px: 540.0,
            width_px: 1920,
            height_px: 1080,
            base_from_optical: Transform3::from_parts(
                Translation3::new(0.0, 0.0, 1.5),
                UnitQuaternion::from_rotation_matrix(&r),
            ),
        }
    }

    #[test]
    fn a_box_ahead_projects_around_the_principal_point_and_one_behind_does_not() {
        let m = model();
        let optical_from_odom = m.base_from_optical.inverse();
        let ahead = ObjectBox {
            id: 1,
            class: ObjectClass::Car,
            center_m: [20.0, 0.0, 1.5],
            yaw_rad: 0.0,
            size_m: [4.0, 2.0, 1.5],
            velocity_mps: [0.0, 0.0],
        };
        let (c, s) = project_box(&m, &optical_from_odom, &ahead).unwrap();
        // Width: the near face (18 m) spans 2 m: 1000 * 2 / 18 = 111 px.
        assert!(
            (c[0] - 960.0).abs() < 1.0 && (c[1] - 540.0).abs() < 1.0,
            "{c:?}"
        );
        assert!((s[0] - 1000.0 * 2.0 / 18.0).abs() < 0.5, "{s:?}");
        // Left of the ego (base +y) is left in the image (smaller u).
        let left = ObjectBox {
            center_m: [20.0, 5.0, 1.5],
            ..ahead.clone()
        };
        let (cl, _) = project_box(&m, &optical_from_odom, &left).unwrap();
        assert!(cl[0] < 960.0 - 150.0, "{cl:?}");
        let behind = ObjectBox {
            center_m: [-20.0, 0.0, 1.5],
            ..ahead
        };
        assert!(project_box(&m, &optical_from_odom, &behind).is_none());
    }

    #[test]
    fn images_are_repacked_to_rgb_and_bad_ones_refused() {
        let img = |encoding: &str, w: u32, h: u32, step: u32, data: Vec<u8>| sensor_msgs::Image {
            encoding: encoding.into(),
            width: w,
            height: h,
            step,
            data,
            ..sensor_msgs::Image::default()
        };
        // 2x2 bgr8 with one byte of row padding.
        let bgr = img(
            "bgr8",
            2,
            2,
            7,
            vec![1, 2, 3, 4, 5, 6, 0, 7, 8, 9, 10, 11, 12, 0],
        );
        assert_eq!(
            image_bytes(&bgr).unwrap(),
            (3, vec![3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10])
        );
        let bgra = img("bgra8", 1, 1, 4, vec![1, 2, 3, 4]);
        assert_eq!(image_bytes(&bgra).unwrap(), (4, vec![3, 2, 1, 4]));
        let mono = img("mono8", 3, 1, 3, vec![7, 8, 9]);
        assert_eq!(image_bytes(&mono).unwrap(), (1, vec![7, 8, 9]));
        let e = image_bytes(&img("yuv422", 2, 2, 4, vec![0; 8])).unwrap_err();
        assert!(e.contains("yuv422"), "{e}");
        let e = image_bytes(&img("rgb8", 2, 2, 6, vec![0; 11])).unwrap_err();
        assert!(e.contains("11 bytes"), "{e}");
        let e = image_bytes(&img("rgb8", 2, 1, 5, vec![0; 6])).unwrap_err();
        assert!(e.contains("step 5"), "{e}");
    }

    #[test]
    fn colours_are_distinct_for_neighbouring_clusters() {
        let a = cluster_color(0);
        let b = cluster_color(1);
        assert_ne!(a, b);
        assert_eq!(hsv(0.0, 1.0, 1.0), (255, 0, 0));
        assert_eq!(hsv(120.0, 1.0, 1.0), (0, 255, 0));
    }
}
