//! Rust types for every message of the edgefuse topic contract, field by field as the ROS 2
//! (Jazzy/Kilted) definitions, with CDR encode/decode and the `ros2msg` schema text that
//! rosbag2 stores in MCAP files; also `TwistStamped` and Autoware's `VelocityReport`, read as a
//! vehicle's speed from bags recorded with them.
//!
//! This crate is data only: it must not depend on a transport (DDS, zenoh), on files, or on
//! the fusion library. Field names are the ROS names, so that serde views (JSON) of a message
//! match what `rosbags` or `rclpy` show.

pub mod cdr;
pub mod schema;

mod types;
pub use types::*;

pub use cdr::CdrError;
pub use schema::SchemaError;

/// A ROS 2 message type with its wire encoding.
pub trait RosMessage: serde::Serialize + serde::de::DeserializeOwned + Sized {
    /// Full ROS type name, e.g. `sensor_msgs/msg/Imu`.
    const TYPE_NAME: &'static str;

    /// CDR bytes with the encapsulation header, as sent by DDS and stored in bags.
    fn encode(&self) -> Result<Vec<u8>, CdrError> {
        cdr::encode(Self::TYPE_NAME, self)
    }

    /// Decodes CDR bytes with the encapsulation header.
    fn decode(payload: &[u8]) -> Result<Self, CdrError> {
        cdr::decode(Self::TYPE_NAME, payload)
    }

    /// The `ros2msg` schema text of this type with its dependencies.
    fn schema_text() -> Result<String, SchemaError> {
        schema::schema_text(Self::TYPE_NAME)
    }
}

/// Something done with a message type chosen at run time by name (see [`visit_type`]).
pub trait TypeVisitor {
    /// What the visit returns.
    type Out;
    /// Called with the Rust type of the named message.
    fn visit<M: RosMessage>(self) -> Self::Out;
}

/// Calls `visitor` with the Rust type whose ROS name is `type_name`; `None` for a type this
/// crate does not have.
pub fn visit_type<V: TypeVisitor>(type_name: &str, visitor: V) -> Option<V::Out> {
    use types::*;
    Some(match type_name {
        "builtin_interfaces/msg/Time" => visitor.visit::<builtin_interfaces::Time>(),
        "std_msgs/msg/Header" => visitor.visit::<std_msgs::Header>(),
        "std_msgs/msg/String" => visitor.visit::<std_msgs::String>(),
        "rosgraph_msgs/msg/Clock" => visitor.visit::<rosgraph_msgs::Clock>(),
        "geometry_msgs/msg/TwistStamped" => visitor.visit::<geometry_msgs::TwistStamped>(),
        "geometry_msgs/msg/TwistWithCovarianceStamped" => {
            visitor.visit::<geometry_msgs::TwistWithCovarianceStamped>()
        }
        "geometry_msgs/msg/TransformStamped" => visitor.visit::<geometry_msgs::TransformStamped>(),
        "tf2_msgs/msg/TFMessage" => visitor.visit::<tf2_msgs::TFMessage>(),
        "sensor_msgs/msg/PointCloud2" => visitor.visit::<sensor_msgs::PointCloud2>(),
        "sensor_msgs/msg/CameraInfo" => visitor.visit::<sensor_msgs::CameraInfo>(),
        "sensor_msgs/msg/Image" => visitor.visit::<sensor_msgs::Image>(),
        "sensor_msgs/msg/Range" => visitor.visit::<sensor_msgs::Range>(),
        "sensor_msgs/msg/Imu" => visitor.visit::<sensor_msgs::Imu>(),
        "radar_msgs/msg/RadarScan" => visitor.visit::<radar_msgs::RadarScan>(),
        "vision_msgs/msg/Detection2DArray" => visitor.visit::<vision_msgs::Detection2DArray>(),
        "nav_msgs/msg/Odometry" => visitor.visit::<nav_msgs::Odometry>(),
        "autoware_vehicle_msgs/msg/VelocityReport" => {
            visitor.visit::<autoware_vehicle_msgs::VelocityReport>()
        }
        "diagnostic_msgs/msg/DiagnosticArray" => {
            visitor.visit::<diagnostic_msgs::DiagnosticArray>()
        }
        "edgefuse_msgs/msg/TrackedObjectArray" => {
            visitor.visit::<edgefuse_msgs::TrackedObjectArray>()
        }
        "edgefuse_msgs/msg/MaintenanceReport" => {
            visitor.visit::<edgefuse_msgs::MaintenanceReport>()
        }
        _ => return None,
    })
}
