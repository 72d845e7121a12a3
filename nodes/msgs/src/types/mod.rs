//! The message structs, one module per ROS package.

use serde::{Deserialize, Serialize};
use serde_big_array::BigArray;

use crate::RosMessage;

macro_rules! ros_message {
    ($($ty:ty => $name:literal),* $(,)?) => {
        $(impl RosMessage for $ty { const TYPE_NAME: &'static str = $name; })*
    };
}

/// `builtin_interfaces`
pub mod builtin_interfaces {
    use super::*;

    /// `builtin_interfaces/msg/Time`: seconds and nanoseconds since the epoch (or sim start).
    #[derive(
        Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
    )]
    pub struct Time {
        /// Whole seconds.
        pub sec: i32,
        /// Nanoseconds within the second, `0..1e9`.
        pub nanosec: u32,
    }

    impl Time {
        /// The time `stamp_ns` nanoseconds after the epoch (clamped to the `i32` seconds range).
        pub fn from_nanos(stamp_ns: i64) -> Self {
            let sec = stamp_ns.div_euclid(1_000_000_000);
            let nanosec = stamp_ns.rem_euclid(1_000_000_000) as u32;
            Self {
                sec: sec.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
                nanosec,
            }
        }

        /// Nanoseconds since the epoch.
        pub fn as_nanos(&self) -> i64 {
            i64::from(self.sec) * 1_000_000_000 + i64::from(self.nanosec)
        }
    }

    /// `builtin_interfaces/msg/Duration`.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Duration {
        /// Whole seconds.
        pub sec: i32,
        /// Nanoseconds within the second.
        pub nanosec: u32,
    }
}

/// `std_msgs`
pub mod std_msgs {
    use super::*;

    /// `std_msgs/msg/Header`: stamp in the sensor clock and the data's frame.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct Header {
        /// Acquisition time.
        pub stamp: builtin_interfaces::Time,
        /// Frame the data is expressed in.
        pub frame_id: std::string::String,
    }

    impl Header {
        /// A header stamped `stamp_ns` in `frame_id`.
        pub fn new(stamp_ns: i64, frame_id: &str) -> Self {
            Self {
                stamp: builtin_interfaces::Time::from_nanos(stamp_ns),
                frame_id: frame_id.to_owned(),
            }
        }
    }

    /// `std_msgs/msg/String`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct String {
        /// The text.
        pub data: std::string::String,
    }
}

/// `rosgraph_msgs`
pub mod rosgraph_msgs {
    use super::*;

    /// `rosgraph_msgs/msg/Clock`: the simulated time on `/clock`.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
    pub struct Clock {
        /// Current sim time.
        pub clock: builtin_interfaces::Time,
    }
}

/// `geometry_msgs`
pub mod geometry_msgs {
    use super::*;

    /// `geometry_msgs/msg/Vector3`.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct Vector3 {
        pub x: f64,
        pub y: f64,
        pub z: f64,
    }

    /// `geometry_msgs/msg/Point`.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct Point {
        pub x: f64,
        pub y: f64,
        pub z: f64,
    }

    /// `geometry_msgs/msg/Quaternion` (Hamilton, `w` last).
    #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct Quaternion {
        pub x: f64,
        pub y: f64,
        pub z: f64,
        pub w: f64,
    }

    impl Default for Quaternion {
        fn default() -> Self {
            Self {
                x: 0.0,
                y: 0.0,
                z: 0.0,
                w: 1.0,
            }
        }
    }

    impl Quaternion {
        /// Rotation of `yaw_rad` about +z.
        pub fn from_yaw(yaw_rad: f64) -> Self {
            let (s, c) = (0.5 * yaw_rad).sin_cos();
            Self {
                x: 0.0,
                y: 0.0,
                z: s,
                w: c,
            }
        }

        /// Rotation from roll, pitch, yaw (intrinsic z-y'-x'', i.e. `R = Rz(yaw) Ry(pitch) Rx(roll)`).
        pub fn from_rpy(roll_rad: f64, pitch_rad: f64, yaw_rad: f64) -> Self {
            let (sr, cr) = (0.5 * roll_rad).sin_cos();
            let (sp, cp) = (0.5 * pitch_rad).sin_cos();
            let (sy, cy) = (0.5 * yaw_rad).sin_cos();
            Self {
                w: cr * cp * cy + sr * sp * sy,
                x: sr * cp * cy - cr * sp * sy,
                y: cr * sp * cy + sr * cp * sy,
                z: cr * cp * sy - sr * sp * cy,
            }
        }

        /// Yaw (rotation about +z) of this quaternion, in radians.
        pub fn yaw_rad(&self) -> f64 {
            (2.0 * (self.w * self.z + self.x * self.y))
                .atan2(1.0 - 2.0 * (self.y * self.y + self.z * self.z))
        }
    }

    /// `geometry_msgs/msg/Pose`.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct Pose {
        pub position: Point,
        pub orientation: Quaternion,
    }

    /// `geometry_msgs/msg/PoseWithCovariance`: row-major 6x6 covariance over x y z roll pitch yaw.
    #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct PoseWithCovariance {
        pub pose: Pose,
        #[serde(with = "BigArray")]
        pub covariance: [f64; 36],
    }

    impl Default for PoseWithCovariance {
        fn default() -> Self {
            Self {
                pose: Pose::default(),
                covariance: [0.0; 36],
            }
        }
    }

    /// `geometry_msgs/msg/Twist`.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct Twist {
        pub linear: Vector3,
        pub angular: Vector3,
    }

    /// `geometry_msgs/msg/TwistWithCovariance`.
    #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct TwistWithCovariance {
        pub twist: Twist,
        #[serde(with = "BigArray")]
        pub covariance: [f64; 36],
    }

    impl Default for TwistWithCovariance {
        fn default() -> Self {
            Self {
                twist: Twist::default(),
                covariance: [0.0; 36],
            }
        }
    }

    /// `geometry_msgs/msg/TwistStamped`: a vehicle's speed as some recordings have it (read
    /// from bags).
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct TwistStamped {
        pub header: std_msgs::Header,
        pub twist: Twist,
    }

    /// `geometry_msgs/msg/TwistWithCovarianceStamped`: wheel odometry on `/vehicle/twist`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct TwistWithCovarianceStamped {
        pub header: std_msgs::Header,
        pub twist: TwistWithCovariance,
    }

    /// `geometry_msgs/msg/Transform`.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct Transform {
        pub translation: Vector3,
        pub rotation: Quaternion,
    }

    /// `geometry_msgs/msg/TransformStamped`: `header.frame_id` from `child_frame_id`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct TransformStamped {
        pub header: std_msgs::Header,
        pub child_frame_id: String,
        pub transform: Transform,
    }
}

/// `tf2_msgs`
pub mod tf2_msgs {
    use super::*;

    /// `tf2_msgs/msg/TFMessage`, on `/tf_static`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct TFMessage {
        pub transforms: Vec<geometry_msgs::TransformStamped>,
    }
}

/// `sensor_msgs`
pub mod sensor_msgs {
    use super::*;

    /// `sensor_msgs/msg/PointField`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct PointField {
        pub name: String,
        pub offset: u32,
        pub datatype: u8,
        pub count: u32,
    }

    #[allow(missing_docs)]
    impl PointField {
        pub const INT8: u8 = 1;
        pub const UINT8: u8 = 2;
        pub const INT16: u8 = 3;
        pub const UINT16: u8 = 4;
        pub const INT32: u8 = 5;
        pub const UINT32: u8 = 6;
        pub const FLOAT32: u8 = 7;
        pub const FLOAT64: u8 = 8;

        /// The size in bytes of one element of a datatype, 0 for an unknown one.
        pub fn size_of(datatype: u8) -> usize {
            match datatype {
                Self::INT8 | Self::UINT8 => 1,
                Self::INT16 | Self::UINT16 => 2,
                Self::INT32 | Self::UINT32 | Self::FLOAT32 => 4,
                Self::FLOAT64 => 8,
                _ => 0,
            }
        }
    }

    /// `sensor_msgs/msg/PointCloud2`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct PointCloud2 {
        pub header: std_msgs::Header,
        pub height: u32,
        pub width: u32,
        pub fields: Vec<PointField>,
        pub is_bigendian: bool,
        pub point_step: u32,
        pub row_step: u32,
        pub data: Vec<u8>,
        pub is_dense: bool,
    }

    /// The fields of a PointCloud2 before `data`, decoded by serde; `data` is then copied in
    /// one block instead of byte by byte.
    #[derive(Deserialize)]
    struct PointCloud2Head {
        header: std_msgs::Header,
        height: u32,
        width: u32,
        fields: Vec<PointField>,
        is_bigendian: bool,
        point_step: u32,
        row_step: u32,
    }

    /// The fields of a PointCloud2 before `data`, borrowed for encoding.
    #[derive(Serialize)]
    struct PointCloud2HeadRef<'a> {
        header: &'a std_msgs::Header,
        height: u32,
        width: u32,
        fields: &'a [PointField],
        is_bigendian: bool,
        point_step: u32,
        row_step: u32,
    }

    impl RosMessage for PointCloud2 {
        const TYPE_NAME: &'static str = "sensor_msgs/msg/PointCloud2";

        fn encode(&self) -> Result<Vec<u8>, crate::CdrError> {
            let head = PointCloud2HeadRef {
                header: &self.header,
                height: self.height,
                width: self.width,
                fields: &self.fields,
                is_bigendian: self.is_bigendian,
                point_step: self.point_step,
                row_step: self.row_step,
            };
            let mut out = crate::cdr::encode_with_byte_seq(Self::TYPE_NAME, &head, &self.data)?;
            out.push(u8::from(self.is_dense));
            Ok(out)
        }

        fn decode(payload: &[u8]) -> Result<Self, crate::CdrError> {
            use crate::cdr;
            let name = Self::TYPE_NAME;
            let (h, body, used) = cdr::decode_prefix::<PointCloud2Head>(name, payload)?;
            let (data, pos) = cdr::read_byte_seq(name, "data", payload, used)?;
            let (is_dense, pos) = cdr::read_bool(name, "is_dense", payload, pos)?;
            cdr::check_trailing(name, body, pos)?;
            Ok(Self {
                header: h.header,
                height: h.height,
                width: h.width,
                fields: h.fields,
                is_bigendian: h.is_bigendian,
                point_step: h.point_step,
                row_step: h.row_step,
                data,
                is_dense,
            })
        }
    }

    /// The fields of an Image before `data`.
    #[derive(Deserialize)]
    struct ImageHead {
        header: std_msgs::Header,
        height: u32,
        width: u32,
        encoding: String,
        is_bigendian: u8,
        step: u32,
    }

    /// The fields of an Image before `data`, borrowed for encoding.
    #[derive(Serialize)]
    struct ImageHeadRef<'a> {
        header: &'a std_msgs::Header,
        height: u32,
        width: u32,
        encoding: &'a str,
        is_bigendian: u8,
        step: u32,
    }

    impl RosMessage for Image {
        const TYPE_NAME: &'static str = "sensor_msgs/msg/Image";

        fn encode(&self) -> Result<Vec<u8>, crate::CdrError> {
            let head = ImageHeadRef {
                header: &self.header,
                height: self.height,
                width: self.width,
                encoding: &self.encoding,
                is_bigendian: self.is_bigendian,
                step: self.step,
            };
            crate::cdr::encode_with_byte_seq(Self::TYPE_NAME, &head, &self.data)
        }

        fn decode(payload: &[u8]) -> Result<Self, crate::CdrError> {
            use crate::cdr;
            let name = Self::TYPE_NAME;
            let (h, body, used) = cdr::decode_prefix::<ImageHead>(name, payload)?;
            let (data, pos) = cdr::read_byte_seq(name, "data", payload, used)?;
            cdr::check_trailing(name, body, pos)?;
            Ok(Self {
                header: h.header,
                height: h.height,
                width: h.width,
                encoding: h.encoding,
                is_bigendian: h.is_bigendian,
                step: h.step,
                data,
            })
        }
    }

    /// `sensor_msgs/msg/RegionOfInterest`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct RegionOfInterest {
        pub x_offset: u32,
        pub y_offset: u32,
        pub height: u32,
        pub width: u32,
        pub do_rectify: bool,
    }

    /// `sensor_msgs/msg/CameraInfo`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct CameraInfo {
        pub header: std_msgs::Header,
        pub height: u32,
        pub width: u32,
        pub distortion_model: String,
        pub d: Vec<f64>,
        pub k: [f64; 9],
        pub r: [f64; 9],
        pub p: [f64; 12],
        pub binning_x: u32,
        pub binning_y: u32,
        pub roi: RegionOfInterest,
    }

    /// `sensor_msgs/msg/Image`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct Image {
        pub header: std_msgs::Header,
        pub height: u32,
        pub width: u32,
        pub encoding: String,
        pub is_bigendian: u8,
        pub step: u32,
        pub data: Vec<u8>,
    }

    /// `sensor_msgs/msg/Range` (Jazzy and later, with `variance`). Bags recorded with Humble's
    /// definition (no `variance`) are recognised by their schema and read with `variance = 0`
    /// by `edgefuse-bag`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct Range {
        pub header: std_msgs::Header,
        pub radiation_type: u8,
        pub field_of_view: f32,
        pub min_range: f32,
        pub max_range: f32,
        pub range: f32,
        pub variance: f32,
    }

    #[allow(missing_docs)]
    impl Range {
        pub const ULTRASOUND: u8 = 0;
        pub const INFRARED: u8 = 1;
    }

    /// `sensor_msgs/msg/Imu`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct Imu {
        pub header: std_msgs::Header,
        pub orientation: geometry_msgs::Quaternion,
        pub orientation_covariance: [f64; 9],
        pub angular_velocity: geometry_msgs::Vector3,
        pub angular_velocity_covariance: [f64; 9],
        pub linear_acceleration: geometry_msgs::Vector3,
        pub linear_acceleration_covariance: [f64; 9],
    }
}

/// `radar_msgs`
pub mod radar_msgs {
    use super::*;

    /// `radar_msgs/msg/RadarReturn`: one detection in the radar's polar frame.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
    pub struct RadarReturn {
        /// Range in metres.
        pub range: f32,
        /// Azimuth in radians, counter-clockwise from the sensor's +x.
        pub azimuth: f32,
        /// Elevation in radians.
        pub elevation: f32,
        /// Radial velocity in m/s, positive moving away.
        pub doppler_velocity: f32,
        /// Return strength (dB).
        pub amplitude: f32,
    }

    /// `radar_msgs/msg/RadarScan`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct RadarScan {
        pub header: std_msgs::Header,
        pub returns: Vec<RadarReturn>,
    }
}

/// `vision_msgs` (4.x, as in Humble and later).
pub mod vision_msgs {
    use super::*;

    /// `vision_msgs/msg/Point2D`.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct Point2D {
        pub x: f64,
        pub y: f64,
    }

    /// `vision_msgs/msg/Pose2D`.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct Pose2D {
        pub position: Point2D,
        pub theta: f64,
    }

    /// `vision_msgs/msg/BoundingBox2D`: centre and size in pixels.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct BoundingBox2D {
        pub center: Pose2D,
        pub size_x: f64,
        pub size_y: f64,
    }

    /// `vision_msgs/msg/ObjectHypothesis`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct ObjectHypothesis {
        pub class_id: String,
        pub score: f64,
    }

    /// `vision_msgs/msg/ObjectHypothesisWithPose`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct ObjectHypothesisWithPose {
        pub hypothesis: ObjectHypothesis,
        pub pose: geometry_msgs::PoseWithCovariance,
    }

    /// `vision_msgs/msg/Detection2D`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct Detection2D {
        pub header: std_msgs::Header,
        pub results: Vec<ObjectHypothesisWithPose>,
        pub bbox: BoundingBox2D,
        pub id: String,
    }

    /// `vision_msgs/msg/Detection2DArray`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct Detection2DArray {
        pub header: std_msgs::Header,
        pub detections: Vec<Detection2D>,
    }
}

/// `nav_msgs`
pub mod nav_msgs {
    use super::*;

    /// `nav_msgs/msg/Odometry`: pose in `header.frame_id`, twist in `child_frame_id`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct Odometry {
        pub header: std_msgs::Header,
        pub child_frame_id: String,
        pub pose: geometry_msgs::PoseWithCovariance,
        pub twist: geometry_msgs::TwistWithCovariance,
    }
}

/// `autoware_vehicle_msgs` (read only: the vehicle speed in bags recorded with Autoware).
pub mod autoware_vehicle_msgs {
    use super::*;

    /// `autoware_vehicle_msgs/msg/VelocityReport`: the vehicle's speed and yaw rate in
    /// `base_link`, as Autoware's vehicle interface reports them.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct VelocityReport {
        pub header: std_msgs::Header,
        pub longitudinal_velocity: f32,
        pub lateral_velocity: f32,
        pub heading_rate: f32,
    }
}

/// `diagnostic_msgs`
pub mod diagnostic_msgs {
    use super::*;

    /// `diagnostic_msgs/msg/KeyValue`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct KeyValue {
        pub key: String,
        pub value: String,
    }

    /// `diagnostic_msgs/msg/DiagnosticStatus`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct DiagnosticStatus {
        pub level: u8,
        pub name: String,
        pub message: String,
        pub hardware_id: String,
        pub values: Vec<KeyValue>,
    }

    #[allow(missing_docs)]
    impl DiagnosticStatus {
        pub const OK: u8 = 0;
        pub const WARN: u8 = 1;
        pub const ERROR: u8 = 2;
        pub const STALE: u8 = 3;
    }

    /// `diagnostic_msgs/msg/DiagnosticArray`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct DiagnosticArray {
        pub header: std_msgs::Header,
        pub status: Vec<DiagnosticStatus>,
    }
}

/// `edgefuse_msgs`, mirroring `nodes/edgefuse_msgs/msg/*.msg` field by field.
pub mod edgefuse_msgs {
    use super::*;

    /// `edgefuse_msgs/msg/TrackedObject`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct TrackedObject {
        /// Track id, unique for the life of the track.
        pub id: u64,
        /// One of the `CLASS_*` constants.
        pub classification: u8,
        /// Probability that the object exists.
        pub existence_probability: f32,
        /// Box centre and orientation with covariance.
        pub pose: geometry_msgs::PoseWithCovariance,
        /// Length, width, height in metres.
        pub size: geometry_msgs::Vector3,
        /// Velocity with covariance.
        pub twist: geometry_msgs::TwistWithCovariance,
    }

    #[allow(missing_docs)]
    impl TrackedObject {
        pub const CLASS_UNKNOWN: u8 = 0;
        pub const CLASS_CAR: u8 = 1;
        pub const CLASS_TRUCK: u8 = 2;
        pub const CLASS_PEDESTRIAN: u8 = 3;
        pub const CLASS_CYCLIST: u8 = 4;
    }

    /// `edgefuse_msgs/msg/TrackedObjectArray`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct TrackedObjectArray {
        pub header: std_msgs::Header,
        pub objects: Vec<TrackedObject>,
    }

    /// `edgefuse_msgs/msg/MaintenanceFinding`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct MaintenanceFinding {
        pub component: String,
        pub kind: String,
        pub severity: u8,
        pub evidence: Vec<diagnostic_msgs::KeyValue>,
        pub trend_per_s: f64,
        pub time_to_threshold_s: f64,
        pub recommended_action: String,
    }

    #[allow(missing_docs)]
    impl MaintenanceFinding {
        pub const SEVERITY_INFO: u8 = 0;
        pub const SEVERITY_WARN: u8 = 1;
        pub const SEVERITY_ERROR: u8 = 2;
    }

    /// `edgefuse_msgs/msg/MaintenanceReport`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[allow(missing_docs)]
    pub struct MaintenanceReport {
        pub header: std_msgs::Header,
        pub findings: Vec<MaintenanceFinding>,
        pub text: String,
    }
}

ros_message! {
    builtin_interfaces::Time => "builtin_interfaces/msg/Time",
    std_msgs::Header => "std_msgs/msg/Header",
    std_msgs::String => "std_msgs/msg/String",
    rosgraph_msgs::Clock => "rosgraph_msgs/msg/Clock",
    geometry_msgs::TwistStamped => "geometry_msgs/msg/TwistStamped",
    geometry_msgs::TwistWithCovarianceStamped => "geometry_msgs/msg/TwistWithCovarianceStamped",
    geometry_msgs::TransformStamped => "geometry_msgs/msg/TransformStamped",
    tf2_msgs::TFMessage => "tf2_msgs/msg/TFMessage",
    sensor_msgs::CameraInfo => "sensor_msgs/msg/CameraInfo",
    sensor_msgs::Range => "sensor_msgs/msg/Range",
    sensor_msgs::Imu => "sensor_msgs/msg/Imu",
    radar_msgs::RadarScan => "radar_msgs/msg/RadarScan",
    vision_msgs::Detection2DArray => "vision_msgs/msg/Detection2DArray",
    nav_msgs::Odometry => "nav_msgs/msg/Odometry",
    autoware_vehicle_msgs::VelocityReport => "autoware_vehicle_msgs/msg/VelocityReport",
    diagnostic_msgs::DiagnosticArray => "diagnostic_msgs/msg/DiagnosticArray",
    edgefuse_msgs::TrackedObjectArray => "edgefuse_msgs/msg/TrackedObjectArray",
    edgefuse_msgs::MaintenanceReport => "edgefuse_msgs/msg/MaintenanceReport",
}
