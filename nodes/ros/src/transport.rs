//! The transport seam: CDR payloads (with their 4-byte encapsulation header, as in bags) in and
//! out by topic name. Nodes never see a transport's own types.

use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Instant;

use crate::qos::Qos;

/// Why a transport operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A topic or type name is not a valid ROS 2 name.
    #[error("topic {topic} ({type_name}): {reason}")]
    Name {
        /// The topic.
        topic: String,
        /// The ROS type name.
        type_name: String,
        /// What is wrong.
        reason: String,
    },
    /// The middleware refused an operation.
    #[error("{operation} on {topic}: {reason}")]
    Middleware {
        /// What was attempted.
        operation: &'static str,
        /// The topic, or the node for node-level operations.
        topic: String,
        /// The middleware's error.
        reason: String,
    },
    /// A payload is too short to carry the encapsulation header.
    #[error("payload for {topic} has {len} bytes, less than the 4-byte CDR header")]
    ShortPayload {
        /// The topic.
        topic: String,
        /// Its length.
        len: usize,
    },
    /// The transport was shut down.
    #[error("transport is shut down")]
    Closed,
}

/// A payload that arrived on a subscription.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The subscription it arrived on (the id given to [`Transport::subscribe`]).
    pub sub_id: usize,
    /// CDR bytes with the encapsulation header.
    pub payload: Arc<Vec<u8>>,
    /// When the transport handed it over (monotonic).
    pub received: Instant,
}

/// `/rosout` severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warn.
    Warn,
    /// Error.
    Error,
}

/// Refuses a payload too short to hold the CDR encapsulation header (every transport does).
pub fn check_payload(topic: &str, payload: &[u8]) -> Result<(), TransportError> {
    if payload.len() < 4 {
        return Err(TransportError::ShortPayload {
            topic: topic.to_string(),
            len: payload.len(),
        });
    }
    Ok(())
}

/// A publisher of raw CDR payloads on one topic.
pub trait RawPublisher: Send + Sync {
    /// Publishes one payload (with its encapsulation header).
    fn publish(&self, payload: Vec<u8>) -> Result<(), TransportError>;
}

/// Moves payloads between nodes.
pub trait Transport: Send + Sync {
    /// A publisher on `topic` (absolute) of ROS type `type_name` (`pkg/msg/Type`).
    fn advertise(
        &self,
        topic: &str,
        type_name: &str,
        qos: Qos,
    ) -> Result<Box<dyn RawPublisher>, TransportError>;

    /// Delivers every payload on `topic` to `sink`, tagged with `sub_id`.
    fn subscribe(
        &self,
        topic: &str,
        type_name: &str,
        qos: Qos,
        sub_id: usize,
        sink: Sender<Delivery>,
    ) -> Result<(), TransportError>;

    /// Writes a log line to `/rosout` (when the transport has it) for node `node`.
    fn log(&self, node: &str, level: LogLevel, message: &str);

    /// A short name for reports (`dds`, `inproc`).
    fn kind(&self) -> &'static str;
}
