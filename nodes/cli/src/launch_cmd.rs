//! `edgefuse launch FILE [name:=value ...] [--print]`: runs a ROS 2 launch XML file without a
//! ROS installation (see the `edgefuse-launch` crate for what is supported and how shutdown
//! works), or prints the processes it would start.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use edgefuse_launch::{
    parse_cli_args, resolve_file, LaunchPlan, ResolveOptions, ShutdownReason, Supervisor,
    SupervisorOptions,
};

/// Arguments of `edgefuse launch`.
#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// Launch file (ROS 2 launch XML, e.g. launch/pipeline.launch.xml).
    pub file: PathBuf,
    /// Launch arguments as name:=value (e.g. use_sim_time:=true bag:=bags/parking).
    #[arg(value_name = "NAME:=VALUE")]
    pub launch_args: Vec<String>,
    /// Print the resolved processes (program, arguments, environment changes, parameters)
    /// and exit without starting anything.
    #[arg(long)]
    pub print: bool,
    /// Draw the live topics in rerun (the launch files' `viz` node; same as `viz:=true` with
    /// `rerun_spawn`, `rerun_connect`, `rerun_save`).
    #[command(flatten)]
    pub viz: crate::viz_cmd::VizArgs,
}

/// Evaluates the launch file with its arguments.
pub fn plan(args: &LaunchArgs) -> Result<LaunchPlan> {
    let mut launch_args = args.launch_args.clone();
    launch_args.extend(args.viz.launch_args());
    let cli_args = parse_cli_args(&launch_args)?;
    resolve_file(&args.file, &cli_args, &ResolveOptions::from_process())
        .with_context(|| format!("evaluating {}", args.file.display()))
}

/// Runs `edgefuse launch`.
pub fn run(args: LaunchArgs) -> Result<()> {
    let plan = plan(&args)?;
    if args.print {
        print!("{}", plan.render());
        return Ok(());
    }
    for w in &plan.warnings {
        eprintln!("[WARNING] [launch]: {w}");
    }
    let report = Supervisor::new(plan, SupervisorOptions::default())
        .run()
        .with_context(|| format!("running {}", args.file.display()))?;
    eprintln!("[INFO] [launch]: launch ended: {}", report.reason);
    for p in &report.processes {
        let exits: Vec<String> = p.exits.iter().map(ToString::to_string).collect();
        eprintln!(
            "[INFO] [launch]: {}: started {} time(s), {} restart(s), exits: {}{}",
            p.label,
            p.starts,
            p.restarts,
            if exits.is_empty() {
                "none".to_string()
            } else {
                exits.join(", ")
            },
            if p.signals_sent.is_empty() {
                String::new()
            } else {
                format!(", signals sent: {}", p.signals_sent.join(" "))
            }
        );
    }
    if let ShutdownReason::SpawnFailed(label, e) = &report.reason {
        bail!("{label} could not be started: {e}");
    }
    Ok(())
}
