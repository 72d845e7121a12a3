//! The inputs and outputs of the fusion stages: plain data, SI units in the names, stamps as
//! nanoseconds in the sensor clock, transforms named `parent_from_child`. The node adapters
//! fill these from ROS messages; nothing here knows about ROS.

use nalgebra::{Isometry3, Vector3};

/// Nanoseconds since the epoch (or since sim start) in the sensor's clock.
pub type StampNs = i64;

/// A rigid transform `parent_from_child`: maps child-frame coordinates into the parent frame.
pub type Transform3 = Isometry3<f64>;

/// Whether every component of a transform is finite (a mounting read from a bad message
/// must be refused before it poisons an estimate).
pub fn is_finite_transform(t: &Transform3) -> bool {
    t.translation.vector.iter().all(|v| v.is_finite())
        && t.rotation.coords.iter().all(|v| v.is_finite())
}

/// Which sensor a measurement comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SensorId {
    /// The roof LiDAR.
    Lidar,
    /// The front radar.
    RadarFront,
    /// The front camera's detector.
    CameraFront,
    /// One ultrasonic sensor, by its index in the vehicle's sensor list.
    Ultrasonic(u8),
    /// The IMU.
    Imu,
    /// Wheel odometry.
    Wheel,
}

/// Object classes, as in `edgefuse_msgs/TrackedObject` (`CLASS_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum ObjectClass {
    /// Not known.
    #[default]
    Unknown,
    /// Passenger car or van.
    Car,
    /// Truck or bus.
    Truck,
    /// Pedestrian.
    Pedestrian,
    /// Cyclist.
    Cyclist,
}

impl ObjectClass {
    /// All classes, in `CLASS_*` order.
    pub const ALL: [ObjectClass; 5] = [
        ObjectClass::Unknown,
        ObjectClass::Car,
        ObjectClass::Truck,
        ObjectClass::Pedestrian,
        ObjectClass::Cyclist,
    ];

    /// The `CLASS_*` code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// One LiDAR point in the sensor frame.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LidarPoint {
    /// x in the sensor frame, m.
    pub x_m: f32,
    /// y in the sensor frame, m.
    pub y_m: f32,
    /// z in the sensor frame, m.
    pub z_m: f32,
    /// Return intensity.
    pub intensity: f32,
    /// Seconds after the scan stamp at which the point was measured (0 when unknown).
    pub t_s: f32,
}

/// One LiDAR sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct LidarScan {
    /// Sweep start.
    pub stamp_ns: StampNs,
    /// Points in the sensor frame.
    pub points: Vec<LidarPoint>,
    /// Mounting, `base_link` from the sensor frame.
    pub base_from_sensor: Transform3,
}

/// One radar detection in the sensor's polar frame.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RadarDetection {
    /// Range, m.
    pub range_m: f64,
    /// Azimuth, rad, counter-clockwise from the sensor's +x.
    pub azimuth_rad: f64,
    /// Elevation, rad.
    pub elevation_rad: f64,
    /// Radial velocity relative to the sensor, m/s, positive moving away.
    pub doppler_mps: f64,
    /// Return strength, dB.
    pub amplitude_db: f64,
}

/// One radar scan.
#[derive(Debug, Clone, PartialEq)]
pub struct RadarScan {
    /// Measurement time.
    pub stamp_ns: StampNs,
    /// Detections.
    pub detections: Vec<RadarDetection>,
    /// Mounting, `base_link` from the sensor frame.
    pub base_from_sensor: Transform3,
}

/// A pinhole camera: intrinsics and mounting of its optical frame (z forward, x right, y down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraModel {
    /// Focal length in x, px.
    pub fx_px: f64,
    /// Focal length in y, px.
    pub fy_px: f64,
    /// Principal point x, px.
    pub cx_px: f64,
    /// Principal point y, px.
    pub cy_px: f64,
    /// Image width, px.
    pub width_px: u32,
    /// Image height, px.
    pub height_px: u32,
    /// Mounting, `base_link` from the optical frame.
    pub base_from_optical: Transform3,
}

/// One 2D detection from the camera's detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection2D {
    /// Box centre u (column), px.
    pub center_u_px: f64,
    /// Box centre v (row), px.
    pub center_v_px: f64,
    /// Box width, px.
    pub width_px: f64,
    /// Box height, px.
    pub height_px: f64,
    /// Detected class.
    pub class: ObjectClass,
    /// Detector confidence in [0, 1].
    pub score: f64,
}

/// The detections of one camera frame.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraFrame {
    /// Exposure time.
    pub stamp_ns: StampNs,
    /// Detections.
    pub detections: Vec<Detection2D>,
    /// The camera.
    pub model: CameraModel,
}

/// One ultrasonic reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UltrasonicRange {
    /// Measurement time.
    pub stamp_ns: StampNs,
    /// Sensor index (see [`SensorId::Ultrasonic`]).
    pub sensor: u8,
    /// Distance to the nearest echo, m; `+inf` when nothing is in range (REP 117).
    pub range_m: f64,
    /// Minimum measurable range, m.
    pub min_range_m: f64,
    /// Maximum measurable range, m.
    pub max_range_m: f64,
    /// Full cone angle, rad.
    pub field_of_view_rad: f64,
    /// Mounting, `base_link` from the sensor frame (sensor looks along its +x).
    pub base_from_sensor: Transform3,
}

/// One IMU sample in the IMU frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImuSample {
    /// Measurement time.
    pub stamp_ns: StampNs,
    /// Angular rate, rad/s.
    pub gyro_radps: Vector3<f64>,
    /// Specific force (includes +g on z at rest), m/s^2.
    pub accel_mps2: Vector3<f64>,
    /// Mounting, `base_link` from the IMU frame.
    pub base_from_imu: Transform3,
}

/// One wheel-odometry sample in `base_link`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WheelTwist {
    /// Measurement time.
    pub stamp_ns: StampNs,
    /// Forward speed, m/s.
    pub speed_mps: f64,
    /// Yaw rate, rad/s.
    pub yaw_rate_radps: f64,
    /// Speed variance, (m/s)^2.
    pub speed_var: f64,
    /// Yaw-rate variance, (rad/s)^2.
    pub yaw_rate_var: f64,
}

/// The estimated ego state, `odom_from_base` in the plane plus its rates.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EgoState {
    /// Time of the estimate.
    pub stamp_ns: StampNs,
    /// Position x in `odom`, m.
    pub x_m: f64,
    /// Position y in `odom`, m.
    pub y_m: f64,
    /// Heading in `odom`, rad.
    pub yaw_rad: f64,
    /// Forward speed, m/s.
    pub speed_mps: f64,
    /// Yaw rate, rad/s (gyro minus its bias).
    pub yaw_rate_radps: f64,
    /// Forward acceleration, m/s^2.
    pub accel_mps2: f64,
    /// Estimated gyro z bias, rad/s.
    pub gyro_bias_radps: f64,
    /// Variances of (x, y, yaw, speed, yaw rate, gyro bias).
    pub variances: [f64; 6],
}

impl EgoState {
    /// `odom_from_base` as a 3D transform (planar: z = 0, roll = pitch = 0).
    pub fn odom_from_base(&self) -> Transform3 {
        Isometry3::new(
            Vector3::new(self.x_m, self.y_m, 0.0),
            Vector3::new(0.0, 0.0, self.yaw_rad),
        )
    }
}

/// An oriented 3D box on the ground plane (yaw only).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Box3 {
    /// Centre x, m.
    pub x_m: f64,
    /// Centre y, m.
    pub y_m: f64,
    /// Centre z, m.
    pub z_m: f64,
    /// Heading of the length axis, rad.
    pub yaw_rad: f64,
    /// Extent along the heading, m.
    pub length_m: f64,
    /// Extent across the heading, m.
    pub width_m: f64,
    /// Height, m.
    pub height_m: f64,
}

/// The two halves of a cluster that straddles the LiDAR sweep's seam, each with the time it
/// was seen relative to the sweep's reference time, s. One half is seen at the start of the
/// sweep and the other up to one period later: a moving object has moved on in between, so
/// the whole cluster's box is a smear (a van's face at 5 m/s turns 25 degrees and thickens
/// by half a metre) that only the object's velocity can undo.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SeamParts {
    /// The half seen first, `base_link`.
    pub early: Box3,
    /// When `early` was seen, s.
    pub early_offset_s: f64,
    /// The half seen last, `base_link`.
    pub late: Box3,
    /// When `late` was seen, s.
    pub late_offset_s: f64,
}

/// Life-cycle state of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackStatus {
    /// Not yet confirmed: not published.
    Tentative,
    /// Confirmed: published.
    Confirmed,
    /// About to be removed (coasting too long or existence too low).
    Deleted,
}

/// A tracked object in `odom`.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Unique id for the track's life.
    pub id: u64,
    /// Fused class.
    pub class: ObjectClass,
    /// Existence probability in [0, 1].
    pub existence: f64,
    /// Life-cycle state.
    pub status: TrackStatus,
    /// Box in `odom`.
    pub shape: Box3,
    /// Velocity x in `odom`, m/s.
    pub vx_mps: f64,
    /// Velocity y in `odom`, m/s.
    pub vy_mps: f64,
    /// Yaw rate, rad/s.
    pub yaw_rate_radps: f64,
    /// Covariance of (x, y, vx, vy), row-major 4x4.
    pub covariance: [f64; 16],
    /// Time of the last update.
    pub stamp_ns: StampNs,
}

/// One sensor input of the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A LiDAR sweep.
    Lidar(LidarScan),
    /// A radar scan.
    Radar(RadarScan),
    /// Camera detections.
    Camera(CameraFrame),
    /// An ultrasonic reading.
    Ultrasonic(UltrasonicRange),
    /// An IMU sample.
    Imu(ImuSample),
    /// Wheel odometry.
    Wheel(WheelTwist),
}

impl Input {
    /// The sensor it comes from.
    pub fn sensor(&self) -> SensorId {
        match self {
            Input::Lidar(_) => SensorId::Lidar,
            Input::Radar(_) => SensorId::RadarFront,
            Input::Camera(_) => SensorId::CameraFront,
            Input::Ultrasonic(u) => SensorId::Ultrasonic(u.sensor),
            Input::Imu(_) => SensorId::Imu,
            Input::Wheel(_) => SensorId::Wheel,
        }
    }

    /// Its measurement stamp.
    pub fn stamp_ns(&self) -> StampNs {
        match self {
            Input::Lidar(s) => s.stamp_ns,
            Input::Radar(s) => s.stamp_ns,
            Input::Camera(s) => s.stamp_ns,
            Input::Ultrasonic(s) => s.stamp_ns,
            Input::Imu(s) => s.stamp_ns,
            Input::Wheel(s) => s.stamp_ns,
        }
    }
}
