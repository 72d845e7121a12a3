//! The fusion node's adapter layer: it recognises the contract's topics ([`topics`]), turns
//! their ROS messages into the fusion library's plain types ([`convert`], with mountings from
//! `/tf_static` in [`tf`]), and turns the library's outputs back into messages.
//!
//! It holds no algorithm: every estimate comes from `edgefuse-fusion`. The live node ([`live`])
//! sees only the harness's `Transport` trait: the `fusion_node` binary runs it over DDS, the
//! `pipeline_container` binary composes it with the ingest nodes (and the HMI node) in one
//! process ([`container`]).

pub mod container;
pub mod convert;
pub mod live;
pub mod offline;
pub mod player;
pub mod runner;
pub mod score;
/// `/tf_static` (in the node harness, shared with the HMI node).
pub use edgefuse_ros::tf;
pub mod topics;
