//! edgefuse-fusion: the pure sensor-fusion library of edgefuse.
//!
//! It must not depend on ROS types, a transport, files or the wall clock: every function takes
//! time as an argument. Stages are plain structs ([`types`] holds their inputs and outputs); the
//! node crates adapt ROS messages to them.

pub mod budget;
pub mod ego;
pub mod geometry;
pub mod health;
pub mod lidar;
pub mod pipeline;
pub mod sync;
pub mod tracker;
pub mod types;
