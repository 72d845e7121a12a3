//! The node harness: everything a ROS 2 node of ours needs that is not its own logic.
//!
//! - [`args`]: the standard ROS 2 command line (`--ros-args -r __node:=NAME -r __ns:=/NS
//!   -r FROM:=TO -p NAME:=VALUE --params-file FILE`) and ROS 2 parameter files, so a node starts
//!   the same under `ros2 launch`, `edgefuse launch` or by hand;
//! - [`qos`]: the QoS presets of the topic contract;
//! - [`transport`]: a [`transport::Transport`] moves CDR payloads between nodes. Nodes only see
//!   this trait and the typed [`node::Node`] on top of it: [`dds::DdsTransport`] speaks DDS
//!   through ros2-client and RustDDS, [`inproc::InProcess`] connects nodes composed in one
//!   process; a zenoh transport can be added without touching a node;
//! - [`node::Node`]: typed publishers and subscriptions, malformed messages counted and skipped,
//!   sim time from `/clock`, `/rosout` logging;
//! - [`shutdown`]: SIGINT and SIGTERM turn into a flag the node loop checks;
//! - [`tf`]: the static transform tree from `/tf_static`;
//! - [`rt`]: the allocator settings of the fusion processes (no per-cycle page faults).
//!
//! It must not depend on the fusion library or any node's logic: nodes depend on it.

pub mod args;
pub mod dds;
pub mod inproc;
pub mod node;
pub mod qos;
pub mod rt;
pub mod shutdown;
pub mod tf;
pub mod transport;

pub use args::{NodeArgs, ParamValue};
pub use node::{Node, Publisher, SubId};
pub use qos::Qos;
pub use transport::{Delivery, LogLevel, Transport, TransportError};
