//! The scenario definition (YAML): world geometry, actors with routes and events, the ego
//! route, the sensor set with its mounting, and injected faults.

use serde::{Deserialize, Serialize};

use crate::SimError;

/// A parsed, validated scenario definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioDef {
    /// Scenario name, stored in the bag's custom data.
    pub name: String,
    /// Human description.
    #[serde(default)]
    pub description: String,
    /// Default RNG seed (overridable in [`crate::GenerateOptions`]).
    pub seed: u64,
    /// Default simulated duration in seconds (overridable).
    pub duration_s: f64,
    /// Static world: ground, kerbs, barriers, buildings, parked cars.
    #[serde(default)]
    pub world: WorldDef,
    /// The ego vehicle.
    pub ego: EgoDef,
    /// Traffic participants.
    #[serde(default)]
    pub actors: Vec<ActorDef>,
    /// Sensor set with mounting (published on `/tf_static`).
    pub sensors: SensorSetDef,
    /// Injected sensor faults (empty for clean scenarios).
    #[serde(default)]
    pub faults: Vec<FaultDef>,
    /// sha256 (hex) of the definition text; filled in by [`crate::parse_scenario`].
    #[serde(skip)]
    pub sha256: String,
}

/// Static world description.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldDef {
    /// Free-text description of the road layout (lanes, junctions).
    #[serde(default)]
    pub road: String,
    /// Static objects: segments (walls, barriers, kerbs) or single boxes.
    #[serde(default, rename = "static")]
    pub static_objects: Vec<StaticDef>,
}

/// What a static object is (sets LiDAR reflectivity and radar RCS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaticKind {
    /// Road-side barrier (guard rail / concrete).
    Barrier,
    /// Kerb stone, low.
    Kerb,
    /// Building facade or wall.
    Building,
    /// Generic wall.
    Wall,
    /// Parked car.
    ParkedCar,
    /// Pole or pillar.
    Pole,
}

/// A static object: either a segment `from`→`to` with `height_m`/`thickness_m`, or a box
/// with `center`, `size_m` (length, width, height) and `yaw_deg`. Boxes stand on the ground.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticDef {
    /// Kind.
    pub kind: StaticKind,
    /// Segment start `[x, y]` in `odom`, metres.
    #[serde(default)]
    pub from: Option<[f64; 2]>,
    /// Segment end `[x, y]` in `odom`, metres.
    #[serde(default)]
    pub to: Option<[f64; 2]>,
    /// Segment height, metres.
    #[serde(default)]
    pub height_m: Option<f64>,
    /// Segment thickness, metres.
    #[serde(default)]
    pub thickness_m: Option<f64>,
    /// Box centre `[x, y]` in `odom`, metres.
    #[serde(default)]
    pub center: Option<[f64; 2]>,
    /// Box size `[length, width, height]`, metres.
    #[serde(default)]
    pub size_m: Option<[f64; 3]>,
    /// Box yaw, degrees.
    #[serde(default)]
    pub yaw_deg: f64,
}

/// Object class of an actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorClass {
    /// Passenger car.
    Car,
    /// Truck.
    Truck,
    /// Pedestrian.
    Pedestrian,
    /// Cyclist.
    Cyclist,
}

impl ActorClass {
    /// `edgefuse_msgs/TrackedObject` class constant.
    pub fn tracked_class(self) -> u8 {
        use edgefuse_msgs::edgefuse_msgs::TrackedObject as T;
        match self {
            ActorClass::Car => T::CLASS_CAR,
            ActorClass::Truck => T::CLASS_TRUCK,
            ActorClass::Pedestrian => T::CLASS_PEDESTRIAN,
            ActorClass::Cyclist => T::CLASS_CYCLIST,
        }
    }
    /// Camera detector class id string.
    pub fn class_id(self) -> &'static str {
        match self {
            ActorClass::Car => "car",
            ActorClass::Truck => "truck",
            ActorClass::Pedestrian => "pedestrian",
            ActorClass::Cyclist => "cyclist",
        }
    }
    /// Vulnerable road user (pedestrian, cyclist).
    pub fn is_vru(self) -> bool {
        matches!(self, ActorClass::Pedestrian | ActorClass::Cyclist)
    }
}

/// A path in `odom`: a start pose and a chain of straights and arcs, parameterised by arc length.
/// Beyond its end the path continues straight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathDef {
    /// Start `[x, y]`, metres.
    pub start: [f64; 2],
    /// Start heading, degrees counter-clockwise from +x.
    pub heading_deg: f64,
    /// Segments in order.
    #[serde(default)]
    pub segments: Vec<SegmentDef>,
}

/// One path segment: `{straight_m: L}` or `{arc: {radius_m: R, angle_deg: A}}` (A > 0 turns left).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SegmentDef {
    /// A straight.
    Straight {
        /// Length, metres.
        straight_m: f64,
    },
    /// A circular arc.
    Arc {
        /// The arc.
        arc: ArcDef,
    },
}

/// A circular arc segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArcDef {
    /// Radius, metres.
    pub radius_m: f64,
    /// Turn angle, degrees (positive = left).
    pub angle_deg: f64,
}

/// Longitudinal behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeedDef {
    /// Speed at t = 0, m/s.
    pub initial_mps: f64,
    /// Desired speed, m/s.
    pub target_mps: f64,
    /// Maximum acceleration, m/s².
    #[serde(default = "default_accel")]
    pub max_accel_mps2: f64,
    /// Comfortable deceleration (IDM `b`), m/s².
    #[serde(default = "default_decel")]
    pub comfort_decel_mps2: f64,
    /// Desired time headway (IDM `T`), s.
    #[serde(default = "default_headway")]
    pub time_headway_s: f64,
    /// Standstill gap (IDM `s0`), m.
    #[serde(default = "default_gap")]
    pub min_gap_m: f64,
    /// Follow leaders (same-direction vehicles, and VRUs in the corridor) with IDM.
    #[serde(default = "default_true")]
    pub follow: bool,
    /// Stop line: come to rest at this arc length of the path (a virtual standing leader), m.
    #[serde(default)]
    pub stop_at_m: Option<f64>,
}

fn default_accel() -> f64 {
    1.5
}
fn default_decel() -> f64 {
    3.0
}
fn default_headway() -> f64 {
    1.4
}
fn default_gap() -> f64 {
    2.5
}
fn default_true() -> bool {
    true
}

/// A timed behaviour event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventDef {
    /// Change the desired speed at `at_s`.
    SetSpeed {
        /// Time, s.
        at_s: f64,
        /// New desired speed, m/s.
        target_mps: f64,
    },
    /// Brake at `decel_mps2` from `at_s` until the speed is `to_mps`, which becomes the target.
    Brake {
        /// Time, s.
        at_s: f64,
        /// Deceleration, m/s² (positive).
        decel_mps2: f64,
        /// Final speed, m/s.
        to_mps: f64,
    },
    /// Smooth (quintic) lateral shift by `offset_m` (positive = left) over `duration_s`.
    LaneChange {
        /// Start time, s.
        at_s: f64,
        /// Lateral shift, m.
        offset_m: f64,
        /// Manoeuvre duration, s.
        duration_s: f64,
    },
}

impl EventDef {
    /// Event time, s.
    pub fn at_s(&self) -> f64 {
        match self {
            EventDef::SetSpeed { at_s, .. }
            | EventDef::Brake { at_s, .. }
            | EventDef::LaneChange { at_s, .. } => *at_s,
        }
    }
}

/// A traffic participant. Its path is the ground track of its box centre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorDef {
    /// Ground-truth id (unique, > 0).
    pub id: u64,
    /// Class.
    pub class: ActorClass,
    /// Box `[length, width, height]`, metres.
    pub size_m: [f64; 3],
    /// Route.
    pub path: PathDef,
    /// Longitudinal behaviour.
    pub speed: SpeedDef,
    /// Timed events.
    #[serde(default)]
    pub events: Vec<EventDef>,
}

/// The ego vehicle. Its path is the ground track of the rear-axle centre (`base_link`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgoDef {
    /// Body box `[length, width, height]`, metres (used for gaps, not seen by its own sensors).
    pub size_m: [f64; 3],
    /// Distance from the rear axle forward to the box centre, metres.
    pub rear_axle_to_center_m: f64,
    /// Route.
    pub path: PathDef,
    /// Longitudinal behaviour.
    pub speed: SpeedDef,
    /// Timed events.
    #[serde(default)]
    pub events: Vec<EventDef>,
}

/// Mounting of a sensor: `base_link` → `frame`, translation and fixed-axis roll-pitch-yaw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountDef {
    /// Child frame id.
    pub frame: String,
    /// Translation in `base_link`, metres.
    pub xyz_m: [f64; 3],
    /// Roll, pitch, yaw, degrees.
    #[serde(default)]
    pub rpy_deg: [f64; 3],
}

/// The sensor set; topics are fixed by the topic contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorSetDef {
    /// `/sensors/lidar/points`.
    pub lidar: LidarDef,
    /// `/sensors/radar/front/scan`.
    pub radar_front: RadarDef,
    /// `/sensors/camera/front/*`.
    pub camera_front: CameraDef,
    /// `/sensors/ultrasonic/<position>/range`.
    pub ultrasonic: UltrasonicDef,
    /// `/sensors/imu`.
    pub imu: ImuDef,
    /// `/vehicle/twist`.
    pub wheel_odometry: WheelOdomDef,
}

/// Spinning LiDAR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LidarDef {
    /// Mounting.
    pub mount: MountDef,
    /// Revolutions per second.
    pub rate_hz: f64,
    /// Number of beams (rows).
    pub beams: usize,
    /// Columns per revolution.
    pub columns: usize,
    /// Lowest and highest beam elevation, degrees.
    pub vertical_fov_deg: [f64; 2],
    /// Minimum range, metres.
    pub min_range_m: f64,
    /// Maximum range, metres.
    pub max_range_m: f64,
    /// Range noise standard deviation, metres.
    pub range_noise_m: f64,
    /// Random dropout probability per return.
    pub dropout: f64,
    /// Publication latency after the sweep end, ms.
    #[serde(default)]
    pub latency_ms: f64,
}

/// Front radar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadarDef {
    /// Mounting.
    pub mount: MountDef,
    /// Scan rate, Hz.
    pub rate_hz: f64,
    /// Time of the first scan, ms.
    #[serde(default)]
    pub phase_ms: f64,
    /// Half field of view in azimuth, degrees.
    pub half_fov_deg: f64,
    /// Minimum range, metres.
    pub min_range_m: f64,
    /// Maximum range, metres.
    pub max_range_m: f64,
    /// Range noise, metres (1σ).
    pub range_noise_m: f64,
    /// Azimuth noise, degrees (1σ).
    pub azimuth_noise_deg: f64,
    /// Doppler noise, m/s (1σ).
    pub doppler_noise_mps: f64,
    /// Detection probability of a visible target.
    pub detection_probability: f64,
    /// Mean number of clutter returns per scan.
    pub clutter_per_scan: f64,
    /// Probability that a detected target also produces a multipath ghost.
    pub ghost_probability: f64,
    /// Publication latency, ms.
    #[serde(default)]
    pub latency_ms: f64,
}

/// Front camera detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraDef {
    /// Mounting of the optical frame (z forward, x right, y down).
    pub mount: MountDef,
    /// Frame rate, Hz.
    pub rate_hz: f64,
    /// Time of the first frame, ms.
    #[serde(default)]
    pub phase_ms: f64,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Focal lengths `[fx, fy]`, pixels.
    pub focal_px: [f64; 2],
    /// Maximum detection distance, metres.
    pub max_range_m: f64,
    /// Box corner noise, pixels (1σ).
    pub box_noise_px: f64,
    /// Miss probability of a fully visible object.
    pub miss_probability: f64,
    /// Probability of reporting a confusable class instead of the true one.
    pub class_confusion: f64,
    /// Mean number of false positives per frame.
    pub false_positives_per_frame: f64,
    /// Publication latency (inference), ms.
    #[serde(default)]
    pub latency_ms: f64,
}

/// Ultrasonic ring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UltrasonicDef {
    /// Rate of every sensor, Hz.
    pub rate_hz: f64,
    /// Time of the first reading, ms.
    #[serde(default)]
    pub phase_ms: f64,
    /// Cone opening angle, degrees.
    pub field_of_view_deg: f64,
    /// Minimum range, metres.
    pub min_range_m: f64,
    /// Maximum range, metres.
    pub max_range_m: f64,
    /// Range noise, metres (1σ).
    pub range_noise_m: f64,
    /// Sensors: name (topic `/sensors/ultrasonic/<name>/range`) and mounting.
    pub positions: Vec<UltrasonicPosDef>,
}

/// One ultrasonic sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UltrasonicPosDef {
    /// Position name, e.g. `rear_center`.
    pub name: String,
    /// Mounting.
    pub mount: MountDef,
}

/// IMU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImuDef {
    /// Mounting.
    pub mount: MountDef,
    /// Rate, Hz.
    pub rate_hz: f64,
    /// Time of the first sample, ms.
    #[serde(default)]
    pub phase_ms: f64,
    /// Gyro white noise per sample, rad/s (1σ).
    pub gyro_noise_radps: f64,
    /// Accelerometer white noise per sample, m/s² (1σ).
    pub accel_noise_mps2: f64,
    /// Constant gyro bias magnitude bound, rad/s (drawn uniformly per axis from the seed).
    pub gyro_bias_radps: f64,
    /// Constant accelerometer bias bound, m/s².
    pub accel_bias_mps2: f64,
    /// Gyro bias random walk, rad/s/√s.
    pub gyro_bias_walk_radps_per_sqrt_s: f64,
    /// Accelerometer bias random walk, m/s²/√s.
    pub accel_bias_walk_mps2_per_sqrt_s: f64,
}

/// Wheel odometry on `/vehicle/twist` (in `base_link`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WheelOdomDef {
    /// Rate, Hz.
    pub rate_hz: f64,
    /// Time of the first sample, ms.
    #[serde(default)]
    pub phase_ms: f64,
    /// Speed noise, m/s (1σ).
    pub speed_noise_mps: f64,
    /// Yaw-rate noise, rad/s (1σ).
    pub yaw_rate_noise_radps: f64,
}

/// An injected fault. `component` names the sensor: `lidar`, `radar_front`, `imu`,
/// `ultrasonic/<position>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultDef {
    /// LiDAR returns in an azimuth sector (sensor frame, counter-clockwise from +x) drop
    /// with a probability ramping linearly from 0 at `onset_s` to `max_dropout` at `full_s`.
    BlockedSector {
        /// Component (`lidar`).
        component: String,
        /// Ramp start, s.
        onset_s: f64,
        /// Ramp end, s.
        full_s: f64,
        /// Sector start azimuth, degrees.
        azimuth_min_deg: f64,
        /// Sector end azimuth, degrees.
        azimuth_max_deg: f64,
        /// Final dropout probability.
        max_dropout: f64,
    },
    /// The radar is physically yawed by `angle_deg` about its z axis relative to its nominal
    /// (`/tf_static`) mounting, so reported azimuths are the true ones minus `angle_deg`.
    YawMisalignment {
        /// Component (`radar_front`).
        component: String,
        /// From this time on, s.
        onset_s: f64,
        /// Physical yaw error, degrees.
        angle_deg: f64,
    },
    /// Gyro bias on `axis` growing linearly at `growth_radps_per_s` after `onset_s`.
    GyroBias {
        /// Component (`imu`).
        component: String,
        /// Growth start, s.
        onset_s: f64,
        /// Axis of the IMU frame: `x`, `y` or `z`.
        axis: Axis,
        /// Bias growth, rad/s per s.
        growth_radps_per_s: f64,
    },
    /// The sensor reports `value_m` from `onset_s` on, whatever is in front of it.
    StuckValue {
        /// Component (`ultrasonic/<position>`).
        component: String,
        /// From this time on, s.
        onset_s: f64,
        /// Reported range, metres.
        value_m: f64,
    },
}

/// A sensor axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    /// x.
    X,
    /// y.
    Y,
    /// z.
    Z,
}

impl FaultDef {
    /// The component string.
    pub fn component(&self) -> &str {
        match self {
            FaultDef::BlockedSector { component, .. }
            | FaultDef::YawMisalignment { component, .. }
            | FaultDef::GyroBias { component, .. }
            | FaultDef::StuckValue { component, .. } => component,
        }
    }
    /// The kind as written in YAML and `faults.json`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            FaultDef::BlockedSector { .. } => "blocked_sector",
            FaultDef::YawMisalignment { .. } => "yaw_misalignment",
            FaultDef::GyroBias { .. } => "gyro_bias",
            FaultDef::StuckValue { .. } => "stuck_value",
        }
    }
    /// Onset time, s.
    pub fn onset_s(&self) -> f64 {
        match self {
            FaultDef::BlockedSector { onset_s, .. }
            | FaultDef::YawMisalignment { onset_s, .. }
            | FaultDef::GyroBias { onset_s, .. }
            | FaultDef::StuckValue { onset_s, .. } => *onset_s,
        }
    }
}

/// Longest simulated duration accepted (definition and override), s.
pub const MAX_DURATION_S: f64 = 3600.0;
/// Budget of simulated agent-seconds, `(actors + 1) · duration_s`: the traffic is integrated on
/// a 5 ms grid and kept in memory, so this bounds its size (about 200 MB).
pub const MAX_AGENT_SECONDS: f64 = 40_000.0;
/// Largest coordinate magnitude in `odom`, m.
pub const MAX_COORD_M: f64 = 100_000.0;
/// Largest mean number of radar clutter returns per scan (the Poisson draw is linear in it).
pub const MAX_CLUTTER_PER_SCAN: f64 = 1000.0;
/// Largest mean number of camera false positives per frame.
pub const MAX_FALSE_POSITIVES_PER_FRAME: f64 = 100.0;
/// Most LiDAR rays per second (`beams · columns · rate_hz`).
pub const MAX_LIDAR_RAYS_PER_S: f64 = 10_000_000.0;

const MAX_SPEED_MPS: f64 = 100.0;
const MAX_ACCEL_MPS2: f64 = 20.0;
const MAX_AGENT_SIZE_M: f64 = 100.0;
const MAX_STATIC_SIZE_M: f64 = 1000.0;
const MAX_SEGMENT_M: f64 = 10_000.0;
const MAX_MOUNT_OFFSET_M: f64 = 100.0;
const MAX_ANGLE_DEG: f64 = 360.0;
const MAX_LATENCY_MS: f64 = 10_000.0;
const MAX_SENSOR_RANGE_M: f64 = 1000.0;

/// Checks a simulated duration: positive ([`SimError::NonPositiveDuration`] otherwise), at most
/// [`MAX_DURATION_S`] and within [`MAX_AGENT_SECONDS`] for `actors` traffic participants
/// ([`SimError::InvalidField`] on `field` otherwise). `input` names where the value came from.
pub fn check_duration(
    input: &str,
    field: &str,
    duration_s: f64,
    actors: usize,
) -> Result<(), SimError> {
    if !(duration_s.is_finite() && duration_s > 0.0) {
        return Err(SimError::NonPositiveDuration {
            input: input.to_string(),
            duration_s,
        });
    }
    let c = Check { input };
    if duration_s > MAX_DURATION_S {
        return Err(c.err(
            field,
            format!("{duration_s} s is longer than the limit of {MAX_DURATION_S} s"),
        ));
    }
    let agent_s = (actors as f64 + 1.0) * duration_s;
    if agent_s > MAX_AGENT_SECONDS {
        return Err(c.err(
            field,
            format!(
                "{} agents x {duration_s} s = {agent_s} agent-seconds exceeds the limit of \
                 {MAX_AGENT_SECONDS}",
                actors + 1
            ),
        ));
    }
    Ok(())
}

struct Check<'a> {
    input: &'a str,
}

impl Check<'_> {
    fn err(&self, field: impl Into<String>, reason: impl Into<String>) -> SimError {
        SimError::InvalidField {
            input: self.input.to_string(),
            field: field.into(),
            reason: reason.into(),
        }
    }
    /// `lo <= v <= hi`, finite.
    fn range(&self, field: &str, v: f64, lo: f64, hi: f64) -> Result<(), SimError> {
        if v.is_finite() && (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(self.err(field, format!("must be a number in [{lo}, {hi}], got {v}")))
        }
    }
    /// `0 < v <= hi`.
    fn positive(&self, field: &str, v: f64, hi: f64) -> Result<(), SimError> {
        if v.is_finite() && v > 0.0 && v <= hi {
            Ok(())
        } else {
            Err(self.err(field, format!("must be a number in (0, {hi}], got {v}")))
        }
    }
    /// `0 <= v <= hi`.
    fn non_negative(&self, field: &str, v: f64, hi: f64) -> Result<(), SimError> {
        self.range(field, v, 0.0, hi)
    }
    fn probability(&self, field: &str, v: f64) -> Result<(), SimError> {
        if (0.0..=1.0).contains(&v) {
            Ok(())
        } else {
            Err(self.err(field, format!("must be a probability in [0, 1], got {v}")))
        }
    }
    fn size(&self, field: &str, s: [f64; 3], hi: f64) -> Result<(), SimError> {
        for (i, v) in s.iter().enumerate() {
            self.positive(&format!("{field}[{i}]"), *v, hi)?;
        }
        Ok(())
    }
    fn xy(&self, field: &str, p: [f64; 2]) -> Result<(), SimError> {
        for (i, v) in p.iter().enumerate() {
            self.range(&format!("{field}[{i}]"), *v, -MAX_COORD_M, MAX_COORD_M)?;
        }
        Ok(())
    }
    fn path(&self, field: &str, p: &PathDef) -> Result<(), SimError> {
        self.xy(&format!("{field}.start"), p.start)?;
        self.range(
            &format!("{field}.heading_deg"),
            p.heading_deg,
            -MAX_ANGLE_DEG,
            MAX_ANGLE_DEG,
        )?;
        for (i, seg) in p.segments.iter().enumerate() {
            match seg {
                SegmentDef::Straight { straight_m } => self.positive(
                    &format!("{field}.segments[{i}].straight_m"),
                    *straight_m,
                    MAX_SEGMENT_M,
                )?,
                SegmentDef::Arc { arc } => {
                    self.positive(
                        &format!("{field}.segments[{i}].arc.radius_m"),
                        arc.radius_m,
                        MAX_SEGMENT_M,
                    )?;
                    let f = format!("{field}.segments[{i}].arc.angle_deg");
                    self.range(&f, arc.angle_deg, -MAX_ANGLE_DEG, MAX_ANGLE_DEG)?;
                    if arc.angle_deg == 0.0 {
                        return Err(self.err(f, "must be non-zero"));
                    }
                }
            }
        }
        Ok(())
    }
    fn speed(&self, field: &str, s: &SpeedDef) -> Result<(), SimError> {
        let f = |name: &str| format!("{field}.{name}");
        self.non_negative(&f("initial_mps"), s.initial_mps, MAX_SPEED_MPS)?;
        self.non_negative(&f("target_mps"), s.target_mps, MAX_SPEED_MPS)?;
        self.positive(&f("max_accel_mps2"), s.max_accel_mps2, MAX_ACCEL_MPS2)?;
        self.positive(
            &f("comfort_decel_mps2"),
            s.comfort_decel_mps2,
            MAX_ACCEL_MPS2,
        )?;
        self.positive(&f("time_headway_s"), s.time_headway_s, 60.0)?;
        if let Some(stop) = s.stop_at_m {
            self.non_negative(&f("stop_at_m"), stop, 10.0 * MAX_COORD_M)?;
        }
        self.non_negative(&f("min_gap_m"), s.min_gap_m, 100.0)
    }
    fn events(&self, field: &str, evs: &[EventDef]) -> Result<(), SimError> {
        for (i, e) in evs.iter().enumerate() {
            let f = format!("{field}[{i}]");
            self.non_negative(&format!("{f}.at_s"), e.at_s(), MAX_DURATION_S)?;
            match e {
                EventDef::SetSpeed { target_mps, .. } => {
                    self.non_negative(&format!("{f}.target_mps"), *target_mps, MAX_SPEED_MPS)?
                }
                EventDef::Brake {
                    decel_mps2, to_mps, ..
                } => {
                    self.positive(&format!("{f}.decel_mps2"), *decel_mps2, MAX_ACCEL_MPS2)?;
                    self.non_negative(&format!("{f}.to_mps"), *to_mps, MAX_SPEED_MPS)?;
                }
                EventDef::LaneChange {
                    offset_m,
                    duration_s,
                    ..
                } => {
                    self.positive(&format!("{f}.duration_s"), *duration_s, MAX_DURATION_S)?;
                    self.range(&format!("{f}.offset_m"), *offset_m, -100.0, 100.0)?;
                }
            }
        }
        Ok(())
    }
    fn rate(&self, field: &str, hz: f64, max_hz: f64) -> Result<(), SimError> {
        self.positive(field, hz, max_hz)
    }
    /// Time of the first sample within the first period: `0 <= phase_ms < 1000 / rate_hz`.
    fn phase(&self, field: &str, phase_ms: f64, rate_hz: f64) -> Result<(), SimError> {
        let period_ms = 1e3 / rate_hz;
        if phase_ms.is_finite() && phase_ms >= 0.0 && phase_ms < period_ms {
            Ok(())
        } else {
            Err(self.err(
                field,
                format!("must be in [0, {period_ms}) ms (one period), got {phase_ms}"),
            ))
        }
    }
    fn latency(&self, field: &str, ms: f64) -> Result<(), SimError> {
        self.non_negative(field, ms, MAX_LATENCY_MS)
    }
    /// `0 <= min < max <= hi`.
    fn ranges(&self, field: &str, min_m: f64, max_m: f64, hi: f64) -> Result<(), SimError> {
        self.positive(&format!("{field}.max_range_m"), max_m, hi)?;
        if !(min_m.is_finite() && min_m >= 0.0 && min_m < max_m) {
            return Err(self.err(
                format!("{field}.min_range_m"),
                format!("must be in [0, max_range_m = {max_m}), got {min_m}"),
            ));
        }
        Ok(())
    }
    fn frame(&self, field: &str, frame: &str) -> Result<(), SimError> {
        if frame.is_empty() || frame.contains(char::is_whitespace) || frame.starts_with('/') {
            return Err(self.err(
                field,
                format!("frame id `{frame}` must be non-empty, without spaces or leading '/'"),
            ));
        }
        Ok(())
    }
}

impl ScenarioDef {
    /// Checks value ranges and cross references; errors name `input` and the field.
    pub fn validate(&self, input: &str) -> Result<(), SimError> {
        let c = Check { input };
        if self.name.trim().is_empty() {
            return Err(c.err("name", "must not be empty"));
        }
        if self.actors.len() > 1000 {
            return Err(c.err("actors", "at most 1000 actors"));
        }
        check_duration(input, "duration_s", self.duration_s, self.actors.len())?;
        for (i, s) in self.world.static_objects.iter().enumerate() {
            let f = format!("world.static[{i}]");
            match (s.from, s.to, s.center, s.size_m) {
                (Some(a), Some(b), None, None) => {
                    c.xy(&format!("{f}.from"), a)?;
                    c.xy(&format!("{f}.to"), b)?;
                    let len = (a[0] - b[0]).hypot(a[1] - b[1]);
                    if !(len > 0.0 && len <= MAX_SEGMENT_M) {
                        return Err(c.err(
                            format!("{f}.to"),
                            format!("segment length must be in (0, {MAX_SEGMENT_M}] m, got {len}"),
                        ));
                    }
                    c.positive(
                        &format!("{f}.height_m"),
                        s.height_m.unwrap_or(f64::NAN),
                        MAX_STATIC_SIZE_M,
                    )?;
                    c.positive(
                        &format!("{f}.thickness_m"),
                        s.thickness_m.unwrap_or(f64::NAN),
                        MAX_STATIC_SIZE_M,
                    )?;
                }
                (None, None, Some(centre), Some(size)) => {
                    c.xy(&format!("{f}.center"), centre)?;
                    c.size(&format!("{f}.size_m"), size, MAX_STATIC_SIZE_M)?;
                }
                _ => return Err(c.err(
                    f,
                    "needs either `from` + `to` (+ height_m, thickness_m) or `center` + `size_m`",
                )),
            }
            c.range(
                &format!("{f}.yaw_deg"),
                s.yaw_deg,
                -MAX_ANGLE_DEG,
                MAX_ANGLE_DEG,
            )?;
        }
        c.size("ego.size_m", self.ego.size_m, MAX_AGENT_SIZE_M)?;
        c.range(
            "ego.rear_axle_to_center_m",
            self.ego.rear_axle_to_center_m,
            -MAX_AGENT_SIZE_M,
            MAX_AGENT_SIZE_M,
        )?;
        c.path("ego.path", &self.ego.path)?;
        c.speed("ego.speed", &self.ego.speed)?;
        c.events("ego.events", &self.ego.events)?;
        let mut ids: Vec<u64> = Vec::new();
        for (i, a) in self.actors.iter().enumerate() {
            let f = format!("actors[{i}]");
            if a.id == 0 || ids.contains(&a.id) {
                return Err(c.err(
                    format!("{f}.id"),
                    format!("id {} must be > 0 and unique", a.id),
                ));
            }
            ids.push(a.id);
            c.size(&format!("{f}.size_m"), a.size_m, MAX_AGENT_SIZE_M)?;
            c.path(&format!("{f}.path"), &a.path)?;
            c.speed(&format!("{f}.speed"), &a.speed)?;
            c.events(&format!("{f}.events"), &a.events)?;
        }
        let s = &self.sensors;
        let mut frames: Vec<String> = Vec::new();
        let mut mount = |f: &str, m: &MountDef| -> Result<(), SimError> {
            c.frame(&format!("{f}.frame"), &m.frame)?;
            if m.frame == "base_link" || m.frame == "odom" || frames.contains(&m.frame) {
                return Err(c.err(
                    format!("{f}.frame"),
                    format!("frame `{}` is reserved or used twice", m.frame),
                ));
            }
            for (i, v) in m.xyz_m.iter().enumerate() {
                c.range(
                    &format!("{f}.xyz_m[{i}]"),
                    *v,
                    -MAX_MOUNT_OFFSET_M,
                    MAX_MOUNT_OFFSET_M,
                )?;
            }
            for (i, v) in m.rpy_deg.iter().enumerate() {
                c.range(
                    &format!("{f}.rpy_deg[{i}]"),
                    *v,
                    -MAX_ANGLE_DEG,
                    MAX_ANGLE_DEG,
                )?;
            }
            frames.push(m.frame.clone());
            Ok(())
        };
        mount("sensors.lidar.mount", &s.lidar.mount)?;
        mount("sensors.radar_front.mount", &s.radar_front.mount)?;
        mount("sensors.camera_front.mount", &s.camera_front.mount)?;
        mount("sensors.imu.mount", &s.imu.mount)?;
        for (i, p) in s.ultrasonic.positions.iter().enumerate() {
            mount(
                &format!("sensors.ultrasonic.positions[{i}].mount"),
                &p.mount,
            )?;
        }
        let l = &s.lidar;
        c.rate("sensors.lidar.rate_hz", l.rate_hz, 100.0)?;
        if !(4..=256).contains(&l.beams) {
            return Err(c.err(
                "sensors.lidar.beams",
                format!("must be in 4..=256, got {}", l.beams),
            ));
        }
        if !(64..=8192).contains(&l.columns) {
            return Err(c.err(
                "sensors.lidar.columns",
                format!("must be in 64..=8192, got {}", l.columns),
            ));
        }
        let rays = l.beams as f64 * l.columns as f64 * l.rate_hz;
        if rays > MAX_LIDAR_RAYS_PER_S {
            return Err(c.err(
                "sensors.lidar.rate_hz",
                format!("beams x columns x rate_hz = {rays} rays/s exceeds {MAX_LIDAR_RAYS_PER_S}"),
            ));
        }
        if !(l.vertical_fov_deg[0] < l.vertical_fov_deg[1]
            && l.vertical_fov_deg[0] > -90.0
            && l.vertical_fov_deg[1] < 90.0)
        {
            return Err(c.err(
                "sensors.lidar.vertical_fov_deg",
                "needs -90 < low < high < 90",
            ));
        }
        c.ranges(
            "sensors.lidar",
            l.min_range_m,
            l.max_range_m,
            MAX_SENSOR_RANGE_M,
        )?;
        c.non_negative("sensors.lidar.range_noise_m", l.range_noise_m, 10.0)?;
        c.probability("sensors.lidar.dropout", l.dropout)?;
        c.latency("sensors.lidar.latency_ms", l.latency_ms)?;
        let r = &s.radar_front;
        c.rate("sensors.radar_front.rate_hz", r.rate_hz, 100.0)?;
        c.phase("sensors.radar_front.phase_ms", r.phase_ms, r.rate_hz)?;
        c.positive("sensors.radar_front.half_fov_deg", r.half_fov_deg, 180.0)?;
        c.ranges(
            "sensors.radar_front",
            r.min_range_m,
            r.max_range_m,
            MAX_SENSOR_RANGE_M,
        )?;
        c.non_negative("sensors.radar_front.range_noise_m", r.range_noise_m, 100.0)?;
        c.non_negative(
            "sensors.radar_front.azimuth_noise_deg",
            r.azimuth_noise_deg,
            90.0,
        )?;
        c.non_negative(
            "sensors.radar_front.doppler_noise_mps",
            r.doppler_noise_mps,
            100.0,
        )?;
        c.probability(
            "sensors.radar_front.detection_probability",
            r.detection_probability,
        )?;
        c.non_negative(
            "sensors.radar_front.clutter_per_scan",
            r.clutter_per_scan,
            MAX_CLUTTER_PER_SCAN,
        )?;
        c.probability("sensors.radar_front.ghost_probability", r.ghost_probability)?;
        c.latency("sensors.radar_front.latency_ms", r.latency_ms)?;
        let cam = &s.camera_front;
        c.rate("sensors.camera_front.rate_hz", cam.rate_hz, 240.0)?;
        c.phase("sensors.camera_front.phase_ms", cam.phase_ms, cam.rate_hz)?;
        if !(1..=16384).contains(&cam.width) {
            return Err(c.err("sensors.camera_front.width", "must be in 1..=16384"));
        }
        if !(1..=16384).contains(&cam.height) {
            return Err(c.err("sensors.camera_front.height", "must be in 1..=16384"));
        }
        c.positive("sensors.camera_front.focal_px[0]", cam.focal_px[0], 1e6)?;
        c.positive("sensors.camera_front.focal_px[1]", cam.focal_px[1], 1e6)?;
        c.positive(
            "sensors.camera_front.max_range_m",
            cam.max_range_m,
            MAX_SENSOR_RANGE_M,
        )?;
        c.non_negative("sensors.camera_front.box_noise_px", cam.box_noise_px, 100.0)?;
        c.probability(
            "sensors.camera_front.miss_probability",
            cam.miss_probability,
        )?;
        c.probability("sensors.camera_front.class_confusion", cam.class_confusion)?;
        c.non_negative(
            "sensors.camera_front.false_positives_per_frame",
            cam.false_positives_per_frame,
            MAX_FALSE_POSITIVES_PER_FRAME,
        )?;
        c.latency("sensors.camera_front.latency_ms", cam.latency_ms)?;
        let u = &s.ultrasonic;
        c.rate("sensors.ultrasonic.rate_hz", u.rate_hz, 100.0)?;
        c.phase("sensors.ultrasonic.phase_ms", u.phase_ms, u.rate_hz)?;
        c.positive(
            "sensors.ultrasonic.field_of_view_deg",
            u.field_of_view_deg,
            179.0,
        )?;
        c.ranges("sensors.ultrasonic", u.min_range_m, u.max_range_m, 50.0)?;
        c.non_negative("sensors.ultrasonic.range_noise_m", u.range_noise_m, 10.0)?;
        if u.positions.len() > 12 {
            return Err(c.err("sensors.ultrasonic.positions", "at most 12 positions"));
        }
        for (i, p) in u.positions.iter().enumerate() {
            let ok = !p.name.is_empty()
                && p.name
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
            if !ok || u.positions[..i].iter().any(|q| q.name == p.name) {
                return Err(c.err(
                    format!("sensors.ultrasonic.positions[{i}].name"),
                    format!("`{}` must be unique and [a-z0-9_]+", p.name),
                ));
            }
        }
        let imu = &s.imu;
        c.rate("sensors.imu.rate_hz", imu.rate_hz, 2000.0)?;
        c.phase("sensors.imu.phase_ms", imu.phase_ms, imu.rate_hz)?;
        c.non_negative("sensors.imu.gyro_noise_radps", imu.gyro_noise_radps, 10.0)?;
        c.non_negative("sensors.imu.accel_noise_mps2", imu.accel_noise_mps2, 100.0)?;
        c.non_negative("sensors.imu.gyro_bias_radps", imu.gyro_bias_radps, 10.0)?;
        c.non_negative("sensors.imu.accel_bias_mps2", imu.accel_bias_mps2, 100.0)?;
        c.non_negative(
            "sensors.imu.gyro_bias_walk_radps_per_sqrt_s",
            imu.gyro_bias_walk_radps_per_sqrt_s,
            10.0,
        )?;
        c.non_negative(
            "sensors.imu.accel_bias_walk_mps2_per_sqrt_s",
            imu.accel_bias_walk_mps2_per_sqrt_s,
            100.0,
        )?;
        let w = &s.wheel_odometry;
        c.rate("sensors.wheel_odometry.rate_hz", w.rate_hz, 1000.0)?;
        c.phase("sensors.wheel_odometry.phase_ms", w.phase_ms, w.rate_hz)?;
        c.non_negative(
            "sensors.wheel_odometry.speed_noise_mps",
            w.speed_noise_mps,
            100.0,
        )?;
        c.non_negative(
            "sensors.wheel_odometry.yaw_rate_noise_radps",
            w.yaw_rate_noise_radps,
            10.0,
        )?;
        self.validate_faults(&c)
    }

    fn validate_faults(&self, c: &Check<'_>) -> Result<(), SimError> {
        let u = &self.sensors.ultrasonic;
        for (i, fdef) in self.faults.iter().enumerate() {
            let f = format!("faults[{i}]");
            let comp = fdef.component();
            let kind = fdef.kind_name();
            if let Some(j) = self.faults[..i]
                .iter()
                .position(|g| g.kind_name() == kind && g.component() == comp)
            {
                return Err(c.err(
                    f,
                    format!(
                        "a second `{kind}` fault on `{comp}` (the first is faults[{j}]); \
                         at most one fault of a kind per component"
                    ),
                ));
            }
            c.non_negative(&format!("{f}.onset_s"), fdef.onset_s(), MAX_DURATION_S)?;
            let (ok, expected) = match fdef {
                FaultDef::BlockedSector {
                    onset_s,
                    full_s,
                    azimuth_min_deg,
                    azimuth_max_deg,
                    max_dropout,
                    ..
                } => {
                    c.non_negative(&format!("{f}.full_s"), *full_s, MAX_DURATION_S)?;
                    if full_s - onset_s < 1e-3 {
                        return Err(c.err(
                            format!("{f}.full_s"),
                            format!(
                                "must be at least 1 ms after onset_s = {onset_s}, got {full_s}"
                            ),
                        ));
                    }
                    let min_f = format!("{f}.azimuth_min_deg");
                    let max_f = format!("{f}.azimuth_max_deg");
                    c.range(&min_f, *azimuth_min_deg, -MAX_ANGLE_DEG, MAX_ANGLE_DEG)?;
                    c.range(&max_f, *azimuth_max_deg, -MAX_ANGLE_DEG, MAX_ANGLE_DEG)?;
                    let span = azimuth_max_deg - azimuth_min_deg;
                    if !(span > 0.0 && span <= 360.0) {
                        return Err(c.err(
                            max_f,
                            format!(
                                "the sector runs counter-clockwise from azimuth_min_deg to \
                                 azimuth_max_deg: need 0 < max - min <= 360, got {span}"
                            ),
                        ));
                    }
                    c.probability(&format!("{f}.max_dropout"), *max_dropout)?;
                    (comp == "lidar", "lidar")
                }
                FaultDef::YawMisalignment { angle_deg, .. } => {
                    c.range(&format!("{f}.angle_deg"), *angle_deg, -90.0, 90.0)?;
                    (comp == "radar_front", "radar_front")
                }
                FaultDef::GyroBias {
                    growth_radps_per_s, ..
                } => {
                    c.range(
                        &format!("{f}.growth_radps_per_s"),
                        *growth_radps_per_s,
                        -1.0,
                        1.0,
                    )?;
                    (comp == "imu", "imu")
                }
                FaultDef::StuckValue { value_m, .. } => {
                    c.range(
                        &format!("{f}.value_m"),
                        *value_m,
                        u.min_range_m,
                        u.max_range_m,
                    )?;
                    let ok = comp
                        .strip_prefix("ultrasonic/")
                        .is_some_and(|name| u.positions.iter().any(|p| p.name == name));
                    (ok, "ultrasonic/<one of sensors.ultrasonic.positions>")
                }
            };
            if !ok {
                return Err(c.err(
                    format!("{f}.component"),
                    format!("`{comp}` is not valid here, expected {expected}"),
                ));
            }
        }
        Ok(())
    }
}
