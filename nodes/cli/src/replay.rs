//! `edgefuse replay`: a bag onto its topics over DDS at a rate, with `/clock` (sim time), or
//! through the pipeline in-process as fast as it goes (`--fast`, no network; `--deterministic`
//! for the same output on every run).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use edgefuse_bag::{BagReader, ReadOptions};
use edgefuse_fusion::pipeline::PipelineConfig;
use edgefuse_fusion::types::SensorId;
use edgefuse_fusion_node::live::{quantile_ms, sensor_kind_name, SENSOR_KINDS};
use edgefuse_fusion_node::offline::FeedOptions;
use edgefuse_fusion_node::runner::{run_bag_with, NoObserver, RunObserver, Timing};
use edgefuse_ros::dds::DdsTransport;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::{NodeArgs, Transport};

/// `edgefuse replay` arguments.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Bag directory (with metadata.yaml) or .mcap file.
    pub bag: PathBuf,
    /// Playback rate: 1.0 is the recording's pace.
    #[arg(long, default_value_t = 1.0, conflicts_with = "fast")]
    pub rate: f64,
    /// Run the pipeline in this process as fast as it goes (no network) and print the
    /// summary. Its stages are timed by the wall clock, as live: on a busy machine a stalled
    /// cycle can make the deadline budget degrade the next ones (`--deterministic` avoids it).
    #[arg(long)]
    pub fast: bool,
    /// With `--fast`: time the stages with a clock that steps 1 ms per reading instead of the
    /// wall clock, so the deadline budget never degrades a cycle because the machine was busy
    /// and two runs give the same output. The cycle times printed are then that clock's, not
    /// latencies.
    #[arg(long, requires = "fast")]
    pub deterministic: bool,
    /// With `--fast`: threads of the LiDAR stages (the output is the same for any count).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub lidar_threads: u16,
    /// Only these topics (all by default), by their names in the bag.
    #[arg(long, num_args = 1..)]
    pub topics: Vec<String>,
    /// Read a bag topic as another, `FROM:=TO` (as `ros2 bag play --remap`): e.g.
    /// `/ouster/points:=/sensors/lidar/points` for a bag recorded with another driver's names.
    #[arg(long, num_args = 1.., value_parser = parse_remap)]
    pub remap: Vec<(String, String)>,
    /// With `--fast`: a sensor's nominal rate when it runs at another than the topic
    /// contract's, `NAME=HZ` with NAME one of lidar, radar, camera, ultrasonic, imu, wheel
    /// (as the fusion node's `NAME_rate_hz` parameters): the synchroniser expects it, and the
    /// health monitor judges rate drops and dropouts against it.
    #[arg(long, num_args = 1.., requires = "fast", value_parser = parse_sensor_rate)]
    pub sensor_rate: Vec<(SensorId, f64)>,
    /// Start this many seconds into the bag.
    #[arg(long, default_value_t = 0.0)]
    pub start: f64,
    /// Stop after this many seconds of the bag.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Also record the pipeline's outputs (odometry, objects, diagnostics) into this bag
    /// directory: from the network while playing, or straight from the pipeline with --fast.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Draw in rerun: with --fast, the pipeline's stages as they run; while playing over DDS,
    /// the live topics (a viz node in this process).
    #[command(flatten)]
    pub viz: crate::viz_cmd::VizArgs,
    /// Standard ROS 2 arguments (`--ros-args ...`), as `ros2 launch` passes them.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub ros_args: Vec<String>,
}

/// A `--remap` argument `FROM:=TO` (two topic names).
fn parse_remap(arg: &str) -> Result<(String, String), String> {
    match arg.split_once(":=") {
        Some((from, to)) if from.starts_with('/') && to.starts_with('/') && !to.contains(":=") => {
            Ok((from.to_string(), to.to_string()))
        }
        _ => Err(format!(
            "'{arg}' is not FROM:=TO with two topic names starting with '/'"
        )),
    }
}

/// A `--sensor-rate` argument `NAME=HZ`.
fn parse_sensor_rate(arg: &str) -> Result<(SensorId, f64), String> {
    let names: Vec<&str> = SENSOR_KINDS.iter().map(|(name, _)| *name).collect();
    let bad = || format!("'{arg}' is not NAME=HZ with NAME one of {names:?} and HZ above 0");
    let (name, hz) = arg.split_once('=').ok_or_else(bad)?;
    let sensor = SENSOR_KINDS
        .iter()
        .find(|(kind, _)| *kind == name)
        .map(|(_, sensor)| *sensor)
        .ok_or_else(bad)?;
    match hz.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok((sensor, v)),
        _ => Err(bad()),
    }
}

/// The pipeline's outputs, recorded by `--record`.
const OUTPUT_TOPICS: [&str; 3] = [
    "/localization/odometry",
    "/perception/objects",
    "/diagnostics",
];

/// Writes a fast run's odometry and objects into a bag at `out` (cycle stamps as log times).
fn write_outputs(out: &Path, report: &edgefuse_fusion_node::runner::RunReport) -> Result<u64> {
    use edgefuse_fusion_node::convert;
    let mut w = edgefuse_bag::BagWriter::create(out, edgefuse_bag::BagWriteOptions::default())
        .with_context(|| format!("creating {}", out.display()))?;
    let (odom, objects) = ("/localization/odometry", "/perception/objects");
    w.add_topic(odom, "nav_msgs/msg/Odometry", edgefuse_bag::Qos::Reliable)?;
    w.add_topic(
        objects,
        "edgefuse_msgs/msg/TrackedObjectArray",
        edgefuse_bag::Qos::Reliable,
    )?;
    let mut n = 0;
    for f in &report.frames {
        let c = &f.cycle;
        if let Some(ego) = &c.ego {
            w.write(odom, c.stamp_ns, &convert::odometry(ego))?;
            n += 1;
        }
        w.write(
            objects,
            c.stamp_ns,
            &convert::tracked_objects(c.stamp_ns, &c.tracks),
        )?;
        n += 1;
    }
    w.finish()
        .with_context(|| format!("finishing {}", out.display()))?;
    Ok(n)
}

/// Runs `edgefuse replay`.
pub fn run(a: ReplayArgs) -> Result<()> {
    let span = |s: f64| (s * 1e9) as u64;
    let reader = BagReader::open(&a.bag).with_context(|| format!("opening {}", a.bag.display()))?;
    let (first, _) = reader.time_range_ns().unwrap_or((0, 0));
    let options = ReadOptions {
        topics: (!a.topics.is_empty()).then(|| a.topics.clone()),
        start_ns: (a.start > 0.0).then(|| first + span(a.start)),
        end_ns: a.duration.map(|d| first + span(a.start + d)),
    };
    // A topic remapped twice is ambiguous; two bag topics read as one (a remap onto a topic
    // the bag has, or two onto one) would interleave two streams as one sensor's: refused.
    for (k, (from, to)) in a.remap.iter().enumerate() {
        if let Some((_, other)) = a.remap[..k].iter().find(|(f, _)| f == from) {
            anyhow::bail!("--remap: {from} is remapped twice, to {other} and to {to}");
        }
    }
    let mut read_as: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    for t in reader.topics() {
        if !options.selects(&t.name) {
            continue;
        }
        let name = a
            .remap
            .iter()
            .find(|(from, _)| *from == t.name)
            .map_or(t.name.as_str(), |(_, to)| to.as_str());
        if let Some(other) = read_as.insert(name, &t.name) {
            anyhow::bail!(
                "{}: the bag topics {other} and {} would both be {name} (see --remap, --topics)",
                a.bag.display(),
                t.name
            );
        }
    }
    drop(reader);
    if a.fast {
        let t = Instant::now();
        let mut config = PipelineConfig::default();
        let mut viz = a.viz.open("edgefuse_replay")?;
        config.lidar.keep_cloud = viz.is_some();
        config.lidar.threads = usize::from(a.lidar_threads);
        for (sensor, rate_hz) in &a.sensor_rate {
            config.set_nominal_rate_hz(*sensor, *rate_hz)?;
        }
        let observer: &mut dyn RunObserver = match viz.as_mut() {
            Some(v) => v,
            None => &mut NoObserver,
        };
        let timing = if a.deterministic {
            Timing::Deterministic
        } else {
            Timing::Wall
        };
        let feed = FeedOptions {
            read: options.clone(),
            remap: a.remap.iter().cloned().collect(),
        };
        let report = run_bag_with(&a.bag, &feed, config, timing, observer)
            .with_context(|| format!("replaying {}", a.bag.display()))?;
        if let Some(v) = viz {
            v.finish()?;
            if let Some(path) = &a.viz.rerun_save {
                println!("rerun recording written to {}", path.display());
            }
        }
        let total: Vec<i64> = report
            .frames
            .iter()
            .map(|f| f.cycle.timing.total_ns)
            .collect();
        println!(
            "replayed {} in-process in {:.1} s",
            a.bag.display(),
            t.elapsed().as_secs_f64()
        );
        println!(
            "cycles {}  cycle p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  deadline misses {}{}",
            total.len(),
            quantile_ms(&total, 0.5),
            quantile_ms(&total, 0.99),
            quantile_ms(&total, 1.0),
            report.deadline_misses,
            if a.deterministic {
                "  (stepping clock, not latencies)"
            } else {
                ""
            }
        );
        if !report.sensors_without_topic.is_empty() {
            let names: Vec<&str> = report
                .sensors_without_topic
                .iter()
                .map(|s| sensor_kind_name(*s))
                .collect();
            println!(
                "no topic for {}: fused without them (not waited for, not listed as late or absent)",
                names.join(", ")
            );
        }
        let skipped: u64 = report.feed_skipped.values().sum();
        println!("messages skipped {skipped} {:?}", report.feed_skipped);
        if let Some(out) = &a.record {
            let n = write_outputs(out, &report)?;
            println!("recorded {n} output messages to {}", out.display());
        }
        return Ok(());
    }
    let mut args =
        NodeArgs::parse("player", a.ros_args.clone()).context("reading ROS arguments")?;
    // --remap before any `--ros-args -r` (the first match wins).
    args.remaps.splice(0..0, a.remap.iter().cloned());
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    let transport = DdsTransport::for_node(&args).context("joining DDS")?;
    let transport: Arc<dyn Transport> = Arc::new(transport);
    // --record: a recorder node in this process, on the same participant.
    let recorder = match &a.record {
        None => None,
        Some(out) => {
            let topics = OUTPUT_TOPICS
                .iter()
                .map(|t| crate::record::topic_and_type(t))
                .collect::<Result<Vec<_>>>()?;
            let (out, t, stop) = (out.clone(), Arc::clone(&transport), Shutdown::manual());
            let rec_args = NodeArgs::parse("replay_recorder", Vec::<String>::new())?;
            let handle = {
                let stop = stop.clone();
                std::thread::spawn(move || crate::record::record(&out, &topics, rec_args, t, &stop))
            };
            Some((handle, stop))
        }
    };
    // --rerun while playing: a viz node in this process draws the live topics.
    let viz_node = if a.viz.enabled() {
        let (t, stop, target) = (Arc::clone(&transport), Shutdown::manual(), a.viz.target());
        let viz_args = NodeArgs::parse("replay_viz", Vec::<String>::new())?;
        let handle = {
            let stop = stop.clone();
            std::thread::spawn(move || crate::viz_cmd::live(viz_args, t, &target, &stop))
        };
        Some((handle, stop))
    } else {
        None
    };
    let stats = edgefuse_fusion_node::player::play(
        &a.bag,
        a.rate,
        &options,
        args,
        Arc::clone(&transport),
        &shutdown,
    );
    if let Some((handle, stop)) = recorder {
        // Let the last cycles arrive.
        std::thread::sleep(Duration::from_millis(500));
        stop.request();
        match handle.join() {
            Ok(r) => {
                let (rec, _) = r?;
                let n: u64 = rec.written.values().sum();
                println!("recorded {n} output messages: {:?}", rec.written);
            }
            Err(_) => anyhow::bail!("the recorder thread panicked"),
        }
    }
    if let Some((handle, stop)) = viz_node {
        std::thread::sleep(Duration::from_millis(500));
        stop.request();
        match handle.join() {
            Ok(r) => {
                let v = r?;
                println!(
                    "rerun: drew {} messages, skipped {:?}",
                    v.drawn.values().sum::<u64>(),
                    v.skipped
                );
            }
            Err(_) => anyhow::bail!("the rerun viz thread panicked"),
        }
    }
    let stats = stats?;
    let n: u64 = stats.published.values().sum();
    println!(
        "published {n} messages on {} topics: {:.1} s of bag in {:.1} s (rate {})",
        stats.published.len(),
        stats.bag_s,
        stats.wall_s,
        a.rate
    );
    println!(
        "player lateness behind the bag's timeline: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        stats.late_ms(0.5),
        stats.late_ms(0.99),
        stats.late_ms(1.0)
    );
    if !stats.failed.is_empty() {
        println!("failed publications: {:?}", stats.failed);
    }
    Ok(())
}
