//! edgefuse-sim: the deterministic scenario simulator. It reads a scenario definition (YAML:
//! road world, traffic with routes and events, ego route, sensor set with mounting, injected
//! faults), simulates the traffic on a fine time grid, runs the sensor models of the topic
//! contract (LiDAR, radar, camera detections, ultrasonic ring, IMU, wheel odometry, ground
//! truth) and writes a rosbag2 recording through `edgefuse-bag`, plus a `faults.json` sidecar.
//!
//! It must not depend on a transport (DDS, zenoh) or on the wall clock: simulated time starts at
//! the fixed epoch [`EPOCH_NS`], and the same definition and seed give a byte-identical bag.
//! Randomness comes from ChaCha8, one stream per sensor derived from the seed and the sensor's
//! name ([`sensors::sensor_rng`]), so adding a sensor does not perturb the others.
//!
//! Conventions: `odom` is world-fixed and the ground is the plane `z = 0`; `base_link` is the
//! rear-axle centre on the ground (x forward, y left, z up). Messages are logged at their
//! header stamp plus the sensor's configured latency (a LiDAR sweep is published after it
//! ends). Ultrasonic ranges follow REP 117: `+inf` when nothing is in range, `-inf` when an
//! object is closer than `min_range`.

pub mod math;
pub mod scenario;
pub mod sensors;
pub mod world;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::{Path, PathBuf};

use edgefuse_bag::{BagError, BagWriteOptions, BagWriter, Qos};
use edgefuse_msgs::edgefuse_msgs::TrackedObjectArray;
use edgefuse_msgs::geometry_msgs::{
    Transform, TransformStamped, TwistWithCovarianceStamped, Vector3,
};
use edgefuse_msgs::nav_msgs::Odometry;
use edgefuse_msgs::radar_msgs::RadarScan;
use edgefuse_msgs::sensor_msgs::{CameraInfo, Imu, PointCloud2, Range};
use edgefuse_msgs::std_msgs::Header;
use edgefuse_msgs::tf2_msgs::TFMessage;
use edgefuse_msgs::vision_msgs::Detection2DArray;
use edgefuse_msgs::RosMessage;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use scenario::{ActorClass, FaultDef, ScenarioDef};

use sensors::{BlockedSector, Camera, ImuModel, Lidar, Radar, Ultrasonic, WheelOdom};
use world::World;

/// Simulated time zero: 2023-11-14T22:13:20Z, in nanoseconds since the Unix epoch.
pub const EPOCH_NS: i64 = 1_700_000_000_000_000_000;

/// Identifies the simulator's output: bump the revision whenever a change to the models changes
/// the bytes generated for a definition, so that cached sample bags are regenerated.
pub const GENERATOR: &str = concat!("edgefuse-sim ", env!("CARGO_PKG_VERSION"), " rev 3");

/// The built-in scenarios: `(name, definition text)`.
pub const BUILTIN_SCENARIOS: &[(&str, &str)] = &[
    (
        "highway_cut_in",
        include_str!("../../../bags/scenarios/highway_cut_in.yaml"),
    ),
    (
        "urban_intersection",
        include_str!("../../../bags/scenarios/urban_intersection.yaml"),
    ),
    (
        "parking",
        include_str!("../../../bags/scenarios/parking.yaml"),
    ),
    (
        "sensor_degradation",
        include_str!("../../../bags/scenarios/sensor_degradation.yaml"),
    ),
];

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// No built-in scenario of that name.
    #[error("unknown scenario `{name}`; known scenarios: {}", known.join(", "))]
    UnknownScenario {
        /// The requested name.
        name: String,
        /// The built-in names.
        known: Vec<String>,
    },
    /// The YAML does not match the schema (syntax, missing or unknown field, wrong type).
    #[error("{input}: invalid scenario definition: {detail}")]
    Yaml {
        /// Where the text came from (file path or `builtin:NAME`).
        input: String,
        /// The parser's message, with the field path and line.
        detail: String,
    },
    /// A field has a value out of range or a dangling reference.
    #[error("{input}: field `{field}`: {reason}")]
    InvalidField {
        /// Where the text came from.
        input: String,
        /// Field path, e.g. `actors[2].speed.target_mps`.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The duration (from the definition or the override) is not positive.
    #[error("{input}: duration_s must be positive, got {duration_s}")]
    NonPositiveDuration {
        /// Where the value came from.
        input: String,
        /// The value.
        duration_s: f64,
    },
    /// The output directory exists and is not empty.
    #[error("output directory {} exists and is not empty; remove it first", path.display())]
    OutputNotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// File system error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Writing the bag failed.
    #[error("writing the bag: {0}")]
    Bag(#[from] BagError),
    /// Encoding the faults list failed.
    #[error("encoding faults.json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Overrides of a definition's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerateOptions {
    /// Simulated duration in seconds instead of the definition's `duration_s`; checked like
    /// it (positive, at most [`scenario::MAX_DURATION_S`], within the agent-seconds budget).
    pub duration_s: Option<f64>,
    /// Seed instead of the definition's `seed`.
    pub seed: Option<u64>,
}

/// One injected fault as written to `faults.json` and custom data `edgefuse.faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InjectedFault {
    /// Component: `lidar`, `radar_front`, `imu`, `ultrasonic/<position>`.
    pub component: String,
    /// Kind: `blocked_sector`, `yaw_misalignment`, `gyro_bias`, `stuck_value`.
    pub kind: String,
    /// Onset time, seconds after the bag start.
    pub onset_s: f64,
    /// Onset stamp, nanoseconds since the Unix epoch.
    pub onset_ns: i64,
    /// Parameters with units in the keys (sorted).
    pub parameters: BTreeMap<String, f64>,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateReport {
    /// Messages written in total.
    pub messages: u64,
    /// Messages per topic, in registration order.
    pub per_topic: Vec<(String, u64)>,
    /// Simulated seconds.
    pub simulated_s: f64,
    /// Fewest points in a LiDAR sweep.
    pub lidar_points_min: usize,
    /// Most points in a LiDAR sweep.
    pub lidar_points_max: usize,
    /// The injected faults.
    pub faults: Vec<InjectedFault>,
}

/// sha256 (lower-case hex) of a definition's text.
pub fn definition_hash(yaml: &str) -> String {
    Sha256::digest(yaml.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses and validates a definition; `input` names its origin in error messages.
pub fn parse_scenario(yaml: &str, input: &str) -> Result<ScenarioDef, SimError> {
    let mut def: ScenarioDef = serde_yaml_ng::from_str(yaml).map_err(|e| SimError::Yaml {
        input: input.to_string(),
        detail: e.to_string(),
    })?;
    def.validate(input)?;
    def.sha256 = definition_hash(yaml);
    Ok(def)
}

/// A built-in scenario by name.
pub fn builtin_scenario(name: &str) -> Result<ScenarioDef, SimError> {
    match BUILTIN_SCENARIOS.iter().find(|(n, _)| *n == name) {
        Some((n, text)) => parse_scenario(text, &format!("builtin:{n}")),
        None => Err(SimError::UnknownScenario {
            name: name.to_string(),
            known: BUILTIN_SCENARIOS
                .iter()
                .map(|(n, _)| (*n).to_string())
                .collect(),
        }),
    }
}

/// `EPOCH_NS + round(offset_s · 1e9)` with checked arithmetic; `None` when the offset is not
/// finite or the sum leaves `i64` nanoseconds.
pub fn epoch_offset_ns(offset_s: f64) -> Option<i64> {
    let ns = (offset_s * 1e9).round();
    // i64::MAX ≈ 9.22e18; stay clear of the saturating `as` conversion.
    if !(ns.is_finite() && ns.abs() < 9.0e18) {
        return None;
    }
    EPOCH_NS.checked_add(ns as i64)
}

/// The faults of a definition, built in one pass over `def.faults`: the hooks the sensor models
/// take and the list written to `faults.json`, so the two cannot disagree.
#[derive(Debug, Clone, Default)]
struct FaultPlan {
    blocked: Option<BlockedSector>,
    /// `(onset_s, angle_rad)`.
    misalignment: Option<(f64, f64)>,
    /// `(onset_s, axis, growth rad/s per s)`.
    growing: Option<(f64, scenario::Axis, f64)>,
    /// Component → `(onset_s, value_m)`.
    stuck: BTreeMap<String, (f64, f64)>,
    injected: Vec<InjectedFault>,
}

impl FaultPlan {
    /// Builds the plan; a second fault of a kind on a component (which validation rejects
    /// first) or an onset outside the nanosecond range is an [`SimError::InvalidField`].
    fn new(def: &ScenarioDef, input: &str) -> Result<FaultPlan, SimError> {
        let mut plan = FaultPlan::default();
        for (i, f) in def.faults.iter().enumerate() {
            let kind = f.kind_name();
            let err = |field: String, reason: String| SimError::InvalidField {
                input: input.to_string(),
                field,
                reason,
            };
            let dup = || {
                err(
                    format!("faults[{i}]"),
                    format!("a second `{kind}` fault on `{}`", f.component()),
                )
            };
            let mut p = BTreeMap::new();
            let replaced = match f {
                FaultDef::BlockedSector {
                    onset_s,
                    full_s,
                    azimuth_min_deg,
                    azimuth_max_deg,
                    max_dropout,
                    ..
                } => {
                    p.insert("azimuth_min_deg".into(), *azimuth_min_deg);
                    p.insert("azimuth_max_deg".into(), *azimuth_max_deg);
                    p.insert("full_s".into(), *full_s);
                    p.insert("max_dropout".into(), *max_dropout);
                    p.insert(
                        "dropout_rate_per_s".into(),
                        max_dropout / (full_s - onset_s),
                    );
                    plan.blocked
                        .replace(BlockedSector {
                            az_min_rad: azimuth_min_deg.to_radians(),
                            az_max_rad: azimuth_max_deg.to_radians(),
                            onset_s: *onset_s,
                            full_s: *full_s,
                            max_dropout: *max_dropout,
                        })
                        .is_some()
                }
                FaultDef::YawMisalignment {
                    onset_s, angle_deg, ..
                } => {
                    p.insert("angle_deg".into(), *angle_deg);
                    p.insert("reported_azimuth_offset_deg".into(), -angle_deg);
                    plan.misalignment
                        .replace((*onset_s, angle_deg.to_radians()))
                        .is_some()
                }
                FaultDef::GyroBias {
                    onset_s,
                    axis,
                    growth_radps_per_s,
                    ..
                } => {
                    let key = match axis {
                        scenario::Axis::X => "growth_x_radps_per_s",
                        scenario::Axis::Y => "growth_y_radps_per_s",
                        scenario::Axis::Z => "growth_z_radps_per_s",
                    };
                    p.insert(key.into(), *growth_radps_per_s);
                    plan.growing
                        .replace((*onset_s, *axis, *growth_radps_per_s))
                        .is_some()
                }
                FaultDef::StuckValue {
                    component,
                    onset_s,
                    value_m,
                } => {
                    p.insert("value_m".into(), *value_m);
                    plan.stuck
                        .insert(component.clone(), (*onset_s, *value_m))
                        .is_some()
                }
            };
            if replaced {
                return Err(dup());
            }
            let onset_s = f.onset_s();
            let onset_ns = epoch_offset_ns(onset_s).ok_or_else(|| {
                err(
                    format!("faults[{i}].onset_s"),
                    format!("{onset_s} s is outside the nanosecond time range"),
                )
            })?;
            plan.injected.push(InjectedFault {
                component: f.component().to_string(),
                kind: kind.to_string(),
                onset_s,
                onset_ns,
                parameters: p,
            });
        }
        Ok(plan)
    }
}

/// The faults of a definition in their output form (as written to `faults.json`).
pub fn injected_faults(def: &ScenarioDef) -> Result<Vec<InjectedFault>, SimError> {
    Ok(FaultPlan::new(def, &format!("scenario {}", def.name))?.injected)
}

/// The topics of the contract this simulator writes (besides `/tf_static`).
pub const TOPIC_LIDAR: &str = "/sensors/lidar/points";
/// Front radar topic.
pub const TOPIC_RADAR: &str = "/sensors/radar/front/scan";
/// Camera detections topic.
pub const TOPIC_CAMERA_DETECTIONS: &str = "/sensors/camera/front/detections";
/// Camera info topic.
pub const TOPIC_CAMERA_INFO: &str = "/sensors/camera/front/camera_info";
/// IMU topic.
pub const TOPIC_IMU: &str = "/sensors/imu";
/// Wheel odometry topic.
pub const TOPIC_TWIST: &str = "/vehicle/twist";
/// Ground-truth objects topic.
pub const TOPIC_GT_OBJECTS: &str = "/ground_truth/objects";
/// Ground-truth ego topic.
pub const TOPIC_GT_EGO: &str = "/ground_truth/ego";
/// Static transforms topic.
pub const TOPIC_TF_STATIC: &str = "/tf_static";

/// Topic of ultrasonic sensor `name`.
pub fn ultrasonic_topic(name: &str) -> String {
    format!("/sensors/ultrasonic/{name}/range")
}

/// What happens at one point of the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Job {
    GroundTruthEgo,
    Imu,
    Twist,
    Ultrasonic(usize),
    Radar,
    Camera,
    GroundTruthObjects,
    Lidar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Slot {
    log_ns: i64,
    job: Job,
    stamp_ns: i64,
}

/// One periodic job of the timeline: stamps `EPOCH + phase + round(k · period)` for all `k`
/// with sensor time in `[0, duration)`, each logged `latency` later. Yields its slots lazily,
/// so the timeline never holds more than one pending slot per stream.
#[derive(Debug, Clone)]
struct Stream {
    job: Job,
    phase_ns: i64,
    period_ns: f64,
    dur_ns: i64,
    latency_ns: i64,
    k: i64,
}

impl Stream {
    fn new(job: Job, rate_hz: f64, phase_ms: f64, latency_ms: f64, duration_s: f64) -> Stream {
        Stream {
            job,
            phase_ns: ms_ns(phase_ms),
            period_ns: 1e9 / rate_hz,
            dur_ns: (duration_s * 1e9).round() as i64,
            latency_ns: ms_ns(latency_ms),
            k: 0,
        }
    }

    /// The next slot, or `None` past the end (or if a sum would overflow, which validated
    /// durations, phases and latencies exclude).
    fn next_slot(&mut self) -> Option<Slot> {
        let off = self
            .phase_ns
            .checked_add((self.k as f64 * self.period_ns).round() as i64)?;
        if off >= self.dur_ns {
            return None;
        }
        self.k += 1;
        let stamp_ns = EPOCH_NS.checked_add(off)?;
        Some(Slot {
            log_ns: stamp_ns.checked_add(self.latency_ns)?,
            job: self.job,
            stamp_ns,
        })
    }
}

/// LiDAR points returned from each actor, per sweep (keyed by the sweep's stamp, which is also
/// the stamp of the ground truth published with it), by actor id: the exact sweeps of
/// [`generate`] (same geometry, seed and faults), whose clouds are discarded. An object with no
/// point in a sweep was invisible to the LiDAR (fully occluded, out of range, between beams or
/// behind a blocked sector); evaluations in the manner of nuScenes (boxes without points) may
/// leave such objects out.
pub fn lidar_points_per_actor(
    def: &ScenarioDef,
) -> Result<BTreeMap<i64, BTreeMap<u64, u32>>, SimError> {
    let input = format!("scenario {}", def.name);
    def.validate(&input)?;
    let plan = FaultPlan::new(def, &input)?;
    let s = &def.sensors;
    let lidar_period_s = 1.0 / s.lidar.rate_hz;
    let world = World::simulate(def, def.duration_s + lidar_period_s + 1.0);
    let mut lidar = Lidar::new(&s.lidar, plan.blocked, def.seed);
    let mut stream = Stream::new(Job::Lidar, s.lidar.rate_hz, 0.0, 0.0, def.duration_s);
    let mut out = BTreeMap::new();
    while let Some(slot) = stream.next_slot() {
        let sweep = lidar.sweep(&world, secs(slot.stamp_ns), slot.stamp_ns);
        let counts = world
            .actors
            .iter()
            .zip(&sweep.actor_points)
            .map(|(a, n)| (a.id, *n))
            .collect();
        out.insert(slot.stamp_ns, counts);
    }
    Ok(out)
}

/// Merges streams into one timeline ordered by `(log time, job, stamp)`.
struct Timeline {
    streams: Vec<Stream>,
    heap: BinaryHeap<Reverse<(Slot, usize)>>,
}

impl Timeline {
    fn new(mut streams: Vec<Stream>) -> Timeline {
        let mut heap = BinaryHeap::new();
        for (i, s) in streams.iter_mut().enumerate() {
            if let Some(slot) = s.next_slot() {
                heap.push(Reverse((slot, i)));
            }
        }
        Timeline { streams, heap }
    }
}

impl Iterator for Timeline {
    type Item = Slot;
    fn next(&mut self) -> Option<Slot> {
        let Reverse((slot, i)) = self.heap.pop()?;
        if let Some(next) = self.streams.get_mut(i).and_then(Stream::next_slot) {
            self.heap.push(Reverse((next, i)));
        }
        Some(slot)
    }
}

fn secs(stamp_ns: i64) -> f64 {
    (stamp_ns - EPOCH_NS) as f64 * 1e-9
}

fn ms_ns(ms: f64) -> i64 {
    (ms * 1e6).round() as i64
}

fn tf_static(def: &ScenarioDef) -> TFMessage {
    let s = &def.sensors;
    let mut mounts = vec![
        &s.lidar.mount,
        &s.radar_front.mount,
        &s.camera_front.mount,
        &s.imu.mount,
    ];
    mounts.extend(s.ultrasonic.positions.iter().map(|p| &p.mount));
    let transforms = mounts
        .into_iter()
        .map(|m| {
            let base_from_sensor = sensors::base_from_mount(m);
            TransformStamped {
                header: Header::new(EPOCH_NS, "base_link"),
                child_frame_id: m.frame.clone(),
                transform: Transform {
                    translation: Vector3 {
                        x: base_from_sensor.trans.x,
                        y: base_from_sensor.trans.y,
                        z: base_from_sensor.trans.z,
                    },
                    rotation: base_from_sensor.rot.to_quaternion(),
                },
            }
        })
        .collect();
    TFMessage { transforms }
}

/// Simulates `def` (with `opts` overrides) and writes the rosbag2 directory `out_dir`
/// (which must not exist or be empty) plus `out_dir/faults.json`.
pub fn generate(
    def: &ScenarioDef,
    opts: &GenerateOptions,
    out_dir: &Path,
) -> Result<GenerateReport, SimError> {
    let input = format!("scenario {}", def.name);
    def.validate(&input)?;
    let duration_s = match opts.duration_s {
        Some(d) => {
            scenario::check_duration(
                "GenerateOptions::duration_s",
                "duration_s",
                d,
                def.actors.len(),
            )?;
            d
        }
        None => def.duration_s,
    };
    let seed = opts.seed.unwrap_or(def.seed);
    if out_dir.exists() {
        let mut entries = std::fs::read_dir(out_dir).map_err(|e| SimError::Io {
            path: out_dir.to_path_buf(),
            source: e,
        })?;
        if entries.next().is_some() {
            return Err(SimError::OutputNotEmpty {
                path: out_dir.to_path_buf(),
            });
        }
    }
    let plan = FaultPlan::new(def, &input)?;
    let faults_json = serde_json::to_string_pretty(&plan.injected)?;

    let s = &def.sensors;
    let lidar_period_s = 1.0 / s.lidar.rate_hz;
    let world = World::simulate(def, duration_s + lidar_period_s + 1.0);

    // Sensor models with their fault hooks.
    let mut lidar = Lidar::new(&s.lidar, plan.blocked, seed);
    let mut radar = Radar::new(&s.radar_front, plan.misalignment, seed);
    let mut camera = Camera::new(&s.camera_front, seed);
    let mut imu = ImuModel::new(&s.imu, plan.growing, seed);
    let mut twist = WheelOdom::new(&s.wheel_odometry, seed);
    let mut ultra: Vec<Ultrasonic> = (0..s.ultrasonic.positions.len())
        .filter_map(|i| {
            let name = &s.ultrasonic.positions[i].name;
            Ultrasonic::new(
                &s.ultrasonic,
                i,
                plan.stuck.get(&format!("ultrasonic/{name}")).copied(),
                seed,
            )
        })
        .collect();

    // Timeline: a LiDAR sweep is published after it ends (plus latency).
    let mut streams = vec![
        Stream::new(
            Job::Lidar,
            s.lidar.rate_hz,
            0.0,
            lidar_period_s * 1e3 + s.lidar.latency_ms,
            duration_s,
        ),
        Stream::new(
            Job::GroundTruthObjects,
            s.lidar.rate_hz,
            0.0,
            0.0,
            duration_s,
        ),
        Stream::new(
            Job::Radar,
            s.radar_front.rate_hz,
            s.radar_front.phase_ms,
            s.radar_front.latency_ms,
            duration_s,
        ),
        Stream::new(
            Job::Camera,
            s.camera_front.rate_hz,
            s.camera_front.phase_ms,
            s.camera_front.latency_ms,
            duration_s,
        ),
        Stream::new(Job::Imu, s.imu.rate_hz, s.imu.phase_ms, 0.0, duration_s),
        Stream::new(Job::GroundTruthEgo, 100.0, 0.0, 0.0, duration_s),
        Stream::new(
            Job::Twist,
            s.wheel_odometry.rate_hz,
            s.wheel_odometry.phase_ms,
            0.0,
            duration_s,
        ),
    ];
    for i in 0..ultra.len() {
        streams.push(Stream::new(
            Job::Ultrasonic(i),
            s.ultrasonic.rate_hz,
            s.ultrasonic.phase_ms,
            0.0,
            duration_s,
        ));
    }

    let mut writer = BagWriter::create(out_dir, BagWriteOptions::default())?;
    writer.add_topic(TOPIC_TF_STATIC, TFMessage::TYPE_NAME, Qos::Latched)?;
    writer.add_topic(TOPIC_LIDAR, PointCloud2::TYPE_NAME, Qos::SensorData)?;
    writer.add_topic(TOPIC_RADAR, RadarScan::TYPE_NAME, Qos::SensorData)?;
    writer.add_topic(
        TOPIC_CAMERA_DETECTIONS,
        Detection2DArray::TYPE_NAME,
        Qos::SensorData,
    )?;
    writer.add_topic(TOPIC_CAMERA_INFO, CameraInfo::TYPE_NAME, Qos::SensorData)?;
    let ultra_topics: Vec<String> = ultra.iter().map(|u| ultrasonic_topic(&u.name)).collect();
    for t in &ultra_topics {
        writer.add_topic(t, Range::TYPE_NAME, Qos::SensorData)?;
    }
    writer.add_topic(TOPIC_IMU, Imu::TYPE_NAME, Qos::SensorData)?;
    writer.add_topic(
        TOPIC_TWIST,
        TwistWithCovarianceStamped::TYPE_NAME,
        Qos::SensorData,
    )?;
    writer.add_topic(
        TOPIC_GT_OBJECTS,
        TrackedObjectArray::TYPE_NAME,
        Qos::Reliable,
    )?;
    writer.add_topic(TOPIC_GT_EGO, Odometry::TYPE_NAME, Qos::Reliable)?;

    writer.write(TOPIC_TF_STATIC, EPOCH_NS, &tf_static(def))?;

    let mut pts_min = usize::MAX;
    let mut pts_max = 0usize;
    let mut us_boxes: Option<(i64, Vec<world::Obb>)> = None;
    for slot in Timeline::new(streams) {
        let t = secs(slot.stamp_ns);
        match slot.job {
            Job::Lidar => {
                let sweep = lidar.sweep(&world, t, slot.stamp_ns);
                pts_min = pts_min.min(sweep.points);
                pts_max = pts_max.max(sweep.points);
                writer.write(TOPIC_LIDAR, slot.log_ns, &sweep.cloud)?;
            }
            Job::GroundTruthObjects => writer.write(
                TOPIC_GT_OBJECTS,
                slot.log_ns,
                &sensors::ground_truth_objects(&world, t, slot.stamp_ns),
            )?,
            Job::Radar => writer.write(
                TOPIC_RADAR,
                slot.log_ns,
                &radar.scan(&world, t, slot.stamp_ns),
            )?,
            Job::Camera => {
                let dets = camera.detect(&world, t, slot.stamp_ns);
                writer.write(TOPIC_CAMERA_DETECTIONS, slot.log_ns, &dets)?;
                writer.write(TOPIC_CAMERA_INFO, slot.log_ns, &camera.info(slot.stamp_ns))?;
            }
            Job::Imu => writer.write(
                TOPIC_IMU,
                slot.log_ns,
                &imu.sample(&world, t, slot.stamp_ns),
            )?,
            Job::Twist => writer.write(
                TOPIC_TWIST,
                slot.log_ns,
                &twist.sample(&world, t, slot.stamp_ns),
            )?,
            Job::GroundTruthEgo => writer.write(
                TOPIC_GT_EGO,
                slot.log_ns,
                &sensors::ground_truth_ego(&world, t, slot.stamp_ns),
            )?,
            Job::Ultrasonic(i) => {
                if us_boxes.as_ref().is_none_or(|(st, _)| *st != slot.stamp_ns) {
                    us_boxes = Some((slot.stamp_ns, sensors::all_boxes(&world, t)));
                }
                let boxes = us_boxes.as_ref().map_or(&[][..], |(_, b)| b.as_slice());
                if let (Some(u), Some(topic)) = (ultra.get_mut(i), ultra_topics.get(i)) {
                    let msg = u.read(&world, t, slot.stamp_ns, boxes);
                    writer.write(topic, slot.log_ns, &msg)?;
                }
            }
        }
    }

    writer.set_custom_data("edgefuse.generator", GENERATOR);
    writer.set_custom_data("edgefuse.scenario", &def.name);
    writer.set_custom_data("edgefuse.seed", &seed.to_string());
    writer.set_custom_data("edgefuse.scenario_sha256", &def.sha256);
    writer.set_custom_data("edgefuse.duration_s", &format!("{duration_s}"));
    writer.set_custom_data("edgefuse.faults", &serde_json::to_string(&plan.injected)?);
    let summary = writer.finish()?;
    let faults_path = out_dir.join("faults.json");
    std::fs::write(&faults_path, faults_json + "\n").map_err(|e| SimError::Io {
        path: faults_path,
        source: e,
    })?;

    Ok(GenerateReport {
        messages: summary.message_count,
        per_topic: summary
            .topics
            .into_iter()
            .map(|(topic, _, count)| (topic, count))
            .collect(),
        simulated_s: duration_s,
        lidar_points_min: if pts_min == usize::MAX { 0 } else { pts_min },
        lidar_points_max: pts_max,
        faults: plan.injected,
    })
}

#[cfg(test)]
mod tests;
