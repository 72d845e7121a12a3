//! Rust types for every message of the edgefuse topic contract, field by field as the ROS 2
//! (Jazzy/Kilted) definitions, with CDR encode/decode and the `ros2msg` schema text that
//! rosbag2 stores in MCAP files.
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
