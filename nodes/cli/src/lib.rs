//! The `edgefuse` command line as a library: argument types ([`Cli`]) and [`run`], which the
//! binary and the system tests both call. It is a thin adapter over the libraries (bag I/O,
//! simulator) and must not hold algorithms of its own; errors are `anyhow` with context here,
//! typed in the libraries below.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

pub mod chat;
pub mod hmi_cmd;
pub mod info;
pub mod launch_cmd;
pub mod llm_cmd;
pub mod record;
pub mod replay;
pub mod samples;
pub mod viz_cmd;

/// edgefuse: automotive sensor fusion on ROS 2 — generate, inspect and replay drives.
#[derive(Debug, Parser)]
#[command(name = "edgefuse", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate a scenario and record it as a rosbag2 bag (MCAP) with ground truth.
    Generate {
        /// Built-in scenario name (see `edgefuse generate --list`).
        #[arg(long, required_unless_present_any = ["scenario_file", "list"])]
        scenario: Option<String>,
        /// A scenario definition YAML file instead of a built-in one.
        #[arg(long, conflicts_with = "scenario")]
        scenario_file: Option<PathBuf>,
        /// Simulated seconds (default: the definition's).
        #[arg(long)]
        duration: Option<f64>,
        /// Random seed (default: the definition's).
        #[arg(long)]
        seed: Option<u64>,
        /// Output bag directory.
        #[arg(long, required_unless_present = "list")]
        out: Option<PathBuf>,
        /// Replace the output directory if it exists.
        #[arg(long)]
        force: bool,
        /// List the built-in scenarios and exit.
        #[arg(long)]
        list: bool,
    },
    /// Show a bag's topics, types, counts, rates and duration, like `ros2 bag info`.
    Info {
        /// Bag directory (with metadata.yaml) or .mcap file.
        bag: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Also decode every message with its type, counting (and skipping) bad ones.
        #[arg(long)]
        verify: bool,
    },
    /// Generate (or reuse) the sample bags and show what they hold.
    Demo {
        /// Directory holding `scenarios/` and the generated bags (default: the repository's `bags/`).
        #[arg(long)]
        bags_dir: Option<PathBuf>,
        /// Draw the drives in rerun.
        #[command(flatten)]
        viz: viz_cmd::VizArgs,
    },
    /// Run a ROS 2 launch XML file without ROS installed, like `ros2 launch`.
    Launch(launch_cmd::LaunchArgs),
    /// Replay a bag on its topics over DDS with /clock, or through the pipeline in-process
    /// (`--fast`).
    Replay(replay::ReplayArgs),
    /// Record live topics (over DDS) into a rosbag2 bag, like `ros2 bag record`.
    Record(record::RecordArgs),
    /// Manage LLM models: fetch the default, write or check manifests.
    #[command(subcommand)]
    Model(llm_cmd::ModelCommand),
    /// Generate text with the layer-streamed LLM engine.
    Llm(llm_cmd::LlmArgs),
    /// Ask the HMI a question about a recorded drive at a given time.
    Ask(hmi_cmd::AskArgs),
    /// Print the predictive-maintenance report of a recorded drive.
    Report(hmi_cmd::ReportArgs),
    /// Talk to a running HMI node over its topics (questions from stdin).
    Chat(chat::ChatArgs),
    /// Draw live topics (sensors, tracks, odometry, diagnostics, HMI) in rerun.
    Viz(viz_cmd::LiveVizArgs),
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Generate {
            scenario,
            scenario_file,
            duration,
            seed,
            out,
            force,
            list,
        } => {
            if list {
                for (name, _) in edgefuse_sim::BUILTIN_SCENARIOS {
                    println!("{name}");
                }
                return Ok(());
            }
            let out = out.context("--out is required")?;
            let def = match (&scenario, &scenario_file) {
                (Some(name), _) => edgefuse_sim::builtin_scenario(name)?,
                (None, Some(path)) => {
                    let yaml = std::fs::read_to_string(path)
                        .with_context(|| format!("reading scenario file {}", path.display()))?;
                    edgefuse_sim::parse_scenario(&yaml, &path.display().to_string())?
                }
                (None, None) => bail!("give --scenario NAME or --scenario-file PATH"),
            };
            if out.exists() {
                if !force {
                    bail!("{} exists; pass --force to replace it", out.display());
                }
                // Only ever delete a bag directory (or an empty one), never arbitrary data.
                let empty = std::fs::read_dir(&out)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false);
                if !empty && !out.join("metadata.yaml").is_file() {
                    bail!(
                        "{} is not a bag directory (no metadata.yaml); refusing to replace it",
                        out.display()
                    );
                }
                std::fs::remove_dir_all(&out)
                    .with_context(|| format!("removing {}", out.display()))?;
            }
            let opts = edgefuse_sim::GenerateOptions {
                duration_s: duration,
                seed,
            };
            let started = std::time::Instant::now();
            let report = edgefuse_sim::generate(&def, &opts, &out)
                .with_context(|| format!("generating into {}", out.display()))?;
            let wall_s = started.elapsed().as_secs_f64();
            println!(
                "wrote {} ({} messages, {:.1} simulated s in {:.2} wall s = {:.1}x real time)",
                out.display(),
                report.messages,
                report.simulated_s,
                wall_s,
                report.simulated_s / wall_s.max(1e-9)
            );
            Ok(())
        }
        Command::Info { bag, json, verify } => {
            let info = info::BagInfo::read_verified(&bag, verify)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info.to_json())?);
            } else {
                print!("{}", info.to_text());
            }
            Ok(())
        }
        Command::Demo { bags_dir, viz } => {
            edgefuse_ros::rt::keep_heap_memory();
            let dir = bags_dir.unwrap_or_else(samples::default_bags_dir);
            demo(&dir, &viz)
        }
        Command::Launch(args) => launch_cmd::run(args),
        Command::Replay(args) => {
            edgefuse_ros::rt::keep_heap_memory();
            replay::run(args)
        }
        Command::Record(args) => record::run(args),
        Command::Model(cmd) => llm_cmd::run_model(cmd),
        Command::Llm(args) => llm_cmd::run_llm(args),
        Command::Ask(args) => hmi_cmd::run_ask(args),
        Command::Report(args) => hmi_cmd::run_report(args),
        Command::Chat(args) => chat::run(args),
        Command::Viz(args) => viz_cmd::run_live(args),
    }
}

fn demo(bags_dir: &Path, viz: &viz_cmd::VizArgs) -> Result<()> {
    viz.check()?;
    println!("edgefuse demo: sample drives in {}\n", bags_dir.display());
    // One recording per drive (their sensor times overlap).
    let mut observers: std::collections::BTreeMap<String, viz_cmd::VizObserver> =
        std::collections::BTreeMap::new();
    for (name, _) in edgefuse_sim::BUILTIN_SCENARIOS {
        let path = samples::ensure_sample_bag(bags_dir, name)?;
        let info = info::BagInfo::read(&path)?;
        println!("== {name} ==");
        print!("{}", info.to_text());
        let faults_path = path.join("faults.json");
        let text = std::fs::read_to_string(&faults_path)
            .with_context(|| format!("reading {}", faults_path.display()))?;
        let faults: Vec<serde_json::Value> = serde_json::from_str(&text)
            .with_context(|| format!("parsing {}", faults_path.display()))?;
        println!(
            "Injected faults:   {}",
            if faults.is_empty() { "none" } else { "" }
        );
        for f in &faults {
            let params = f["parameters"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            println!(
                "  {:28} {:18} from {:>5} s  ({params})",
                f["component"].as_str().unwrap_or("?"),
                f["kind"].as_str().unwrap_or("?"),
                f["onset_s"]
            );
        }
        if let Some(o) = viz.open_part("edgefuse_demo", Some(name))? {
            observers.insert(name.to_string(), o);
        }
        fusion_summary(&path, observers.get_mut(*name))?;
        println!();
    }
    hmi_demo(bags_dir, &mut observers)?;
    for (name, o) in observers {
        o.finish()?;
        if let Some(path) = &viz.rerun_save {
            println!(
                "rerun recording of {name} written to {}",
                viz_cmd::part_path(path, &name).display()
            );
        }
    }
    Ok(())
}

/// A few driver questions and the degradation drive's maintenance report, through the HMI
/// with the default model streamed in a 32 MB layer cache.
fn hmi_demo(
    bags_dir: &Path,
    viz: &mut std::collections::BTreeMap<String, viz_cmd::VizObserver>,
) -> Result<()> {
    let args = hmi_cmd::HmiEngineArgs {
        model: None,
        mode: llm_cmd::Mode::Streamed,
        memory_budget: 32.0,
        candidates: 3,
        threads: 2,
        nice: 10,
    };
    let mut responder = hmi_cmd::responder(&args)?;
    println!("== Driver questions (HMI, SmolLM2-135M streamed in 32 MB; facts checked) ==");
    for (drive, at_s, question) in [
        ("highway_cut_in", 6.0, "How far is the car in front of me?"),
        ("highway_cut_in", 10.0, "Is anything on my left?"),
        ("urban_intersection", 15.0, "Why did you warn me?"),
        ("sensor_degradation", 12.0, "How are my sensors?"),
    ] {
        let report = hmi_cmd::fuse(&samples::ensure_sample_bag(bags_dir, drive)?)?;
        let (answer, _, first_s, total_s) =
            hmi_cmd::ask(&mut responder, &report, at_s, question, &mut |_| {})?;
        println!("[{drive} at {at_s} s] {question}\n  -> {} ({:?}; first token {:.0} ms, answer {:.0} ms)", answer.text, answer.source, first_s * 1e3, total_s * 1e3);
        if let Some(o) = viz.get_mut(drive) {
            // The question's time: `at_s` after the first cycle, as `ask` reads it.
            let first_ns = report.frames.first().map_or(0, |f| f.cycle.stamp_ns);
            let stamp_ns = first_ns + (at_s * 1e9) as i64;
            o.hmi_text(edgefuse_viz::HmiText::Request, stamp_ns, question);
            o.hmi_text(
                edgefuse_viz::HmiText::Response,
                stamp_ns,
                &format!("{} ({:?})", answer.text, answer.source),
            );
        }
    }
    let path = samples::ensure_sample_bag(bags_dir, "sensor_degradation")?;
    let report = hmi_cmd::fuse(&path)?;
    let (m, summary, source) =
        hmi_cmd::maintenance(&report, "sensor_degradation", Some(&mut responder))?;
    println!();
    let markdown = m.to_markdown(&summary, &source);
    print!("{markdown}");
    if let Some(o) = viz.get_mut("sensor_degradation") {
        let stamp_ns = report.frames.last().map_or(0, |f| f.cycle.stamp_ns);
        o.report(stamp_ns, &markdown);
    }
    Ok(())
}

/// Runs the fusion pipeline in-process over a bag and prints what it found.
fn fusion_summary(bag: &Path, viz: Option<&mut viz_cmd::VizObserver>) -> Result<()> {
    use edgefuse_fusion_node::runner::{run_bag_observed, NoObserver, RunObserver, Timing};
    let mut config = edgefuse_fusion::pipeline::PipelineConfig::default();
    config.lidar.keep_cloud = viz.is_some();
    let observer: &mut dyn RunObserver = match viz {
        Some(v) => v,
        None => &mut NoObserver,
    };
    let report = run_bag_observed(bag, config, Timing::Wall, observer)
        .with_context(|| format!("running the fusion pipeline on {}", bag.display()))?;
    let mut totals: Vec<i64> = report
        .frames
        .iter()
        .map(|f| f.cycle.timing.total_ns)
        .collect();
    totals.sort_unstable();
    let pct = |p: f64| {
        totals
            .get(((totals.len().saturating_sub(1)) as f64 * p).round() as usize)
            .map_or(0.0, |v| *v as f64 / 1e6)
    };
    let tracks: usize = report.frames.last().map_or(0, |f| f.cycle.tracks.len());
    println!(
        "Fusion:            {} cycles, cycle time p50 {:.1} ms p99 {:.1} ms, {} deadline misses, {} confirmed tracks at the end",
        report.frames.len(),
        pct(0.5),
        pct(0.99),
        report.deadline_misses,
        tracks
    );
    let frames = edgefuse_fusion_node::score::frames(&report, 40.0);
    if frames.iter().any(|f| !f.truth.is_empty()) {
        let s = edgefuse_fusion_node::score::score(&frames, 2.0);
        println!(
            "Tracking (40 m):   MOTA {:.3}, position RMSE {:.2} m, velocity RMSE {:.2} m/s, {} ID switches, {} misses, {} false positives of {} truth-frames",
            s.mota, s.pos_rmse_m, s.vel_rmse_mps, s.switches, s.misses, s.false_positives, s.objects
        );
        println!(
            "Ego:               {:.2} m error after {:.0} m ({:.2}%), max heading error {:.2} deg",
            s.ego_final_error_m,
            s.ego_distance_m,
            100.0 * s.ego_final_error_m / s.ego_distance_m.max(1e-9),
            s.ego_max_heading_error_deg
        );
    }
    let findings = report
        .frames
        .last()
        .map(|f| f.cycle.findings.clone())
        .unwrap_or_default();
    println!(
        "Health findings:   {}",
        if findings.is_empty() { "none" } else { "" }
    );
    for f in findings {
        let evidence = f
            .evidence
            .iter()
            .map(|(k, v)| format!("{k}={v:.3}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "  {:28} {:18} {:?}  ({evidence})",
            f.component,
            f.kind.as_str(),
            f.severity
        );
    }
    Ok(())
}
