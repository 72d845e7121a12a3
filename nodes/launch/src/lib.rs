//! `edgefuse-launch`: ROS 2 launch XML without a ROS installation. It reads the launch files
//! that `ros2 launch` reads (`<launch>`, `<arg>`, `<let>`, `<group>`, `<include>`, `<node>`,
//! `<executable>`, `<param>`, `<remap>`, the environment actions and the substitutions), turns
//! them into a list of processes with the command lines launch_ros would give them
//! (`--ros-args -r __node:=NAME -r __ns:=/NS --params-file FILE -r FROM:=TO`), and supervises
//! those processes: output prefixing, respawn, and ordered shutdown with SIGINT, SIGTERM and
//! SIGKILL escalation.
//!
//! It must not depend on ROS, DDS or any other edgefuse crate: it starts processes and nothing
//! else, so that the same launch files run here and under `ros2 launch`. Errors are
//! [`LaunchError`] (thiserror); the `edgefuse launch` command adds context.
//!
//! ```no_run
//! use edgefuse_launch::{resolve_file, ResolveOptions, Supervisor, SupervisorOptions};
//! let plan = resolve_file(
//!     std::path::Path::new("launch/pipeline.launch.xml"),
//!     &[("use_sim_time".into(), "true".into())],
//!     &ResolveOptions::from_process(),
//! )?;
//! print!("{}", plan.render());
//! let report = Supervisor::new(plan, SupervisorOptions::default()).run()?;
//! println!("{}", report.reason);
//! # Ok::<(), edgefuse_launch::LaunchError>(())
//! ```

mod error;
mod parse;
mod plan;
mod subst;
mod supervisor;

pub use error::LaunchError;
pub use parse::{
    make_absolute, parse_cli_args, prefix_namespace, resolve_file, ResolveOptions,
    DEFAULT_SIGNAL_TIMEOUT_S,
};
pub use plan::{
    inline_placeholder, CmdArg, DeclaredArg, LaunchPlan, NodeInfo, Output, ProcessSpec, Program,
    Sink,
};
pub use subst::{eval_python_subset, parse_template, split_cmdline, Part};
pub use supervisor::{
    default_log_dir, ExitKind, LaunchReport, ProcessReport, ShutdownReason, StopHandle, Supervisor,
    SupervisorOptions,
};
