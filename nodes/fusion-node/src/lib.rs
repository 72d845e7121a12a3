//! The fusion node's adapter layer: it recognises the contract's topics ([`topics`]), turns
//! their ROS messages into the fusion library's plain types ([`convert`], with mountings from
//! `/tf_static` in [`tf`]), and turns the library's outputs back into messages.
//!
//! It holds no algorithm: every estimate comes from `edgefuse-fusion`. It must not depend on a
//! transport; the DDS node of a later issue wraps it.

pub mod convert;
pub mod offline;
pub mod runner;
pub mod tf;
pub mod topics;
