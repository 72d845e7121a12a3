//! edgefuse-fusion: the pure sensor-fusion library of edgefuse.
//!
//! It must not depend on ROS types, a transport, files or the wall clock: every function takes
//! time as an argument. This first part holds the planar geometry shared by the simulator and
//! the fusion stages.

pub mod geometry;
