//! rosbag2 recordings: a bag directory (`metadata.yaml`, version 9, plus `.mcap` files; `.db3`
//! sqlite3 storage is read too) or a bare `.mcap` file, with CDR payloads and `ros2msg` schemas, as `ros2 bag record` and the
//! Python `rosbags` library write them.
//!
//! Reading streams messages in log-time order across topics, one chunk at a time (never the
//! whole bag in memory), from a start time, for a set of topics. A bad message or channel is
//! counted and skipped; a bag whose files or metadata are wrong is refused with the path and
//! the reason. This crate does file I/O only: it must not depend on a transport or the fusion
//! library.

mod error;
mod metadata;
mod qos;
mod reader;
mod sqlite;
mod writer;

pub use error::BagError;
pub use metadata::{BagMetadata, FileInfo, TopicInfo};
pub use qos::Qos;
pub use reader::{BagReader, Messages, RawMessage, ReadOptions, SkipReason, TopicSummary};
pub use writer::{BagSummary, BagWriteOptions, BagWriter, Compression};
