//! `edgefuse replay`: a bag onto its topics over DDS at a rate, with `/clock` (sim time), or
//! through the pipeline in-process as fast as it goes (`--fast`, deterministic, no network).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use edgefuse_bag::{BagReader, ReadOptions};
use edgefuse_fusion::pipeline::PipelineConfig;
use edgefuse_fusion_node::runner::{run_bag_observed, NoObserver, RunObserver, Timing};
use edgefuse_msgs::builtin_interfaces::Time;
use edgefuse_msgs::rosgraph_msgs::Clock;
use edgefuse_ros::dds::DdsTransport;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::transport::RawPublisher;
use edgefuse_ros::{LogLevel, Node, NodeArgs, Qos, Transport};

/// `edgefuse replay` arguments.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Bag directory (with metadata.yaml) or .mcap file.
    pub bag: PathBuf,
    /// Playback rate: 1.0 is the recording's pace.
    #[arg(long, default_value_t = 1.0, conflicts_with = "fast")]
    pub rate: f64,
    /// Run the pipeline in this process as fast as it goes (deterministic, no network) and
    /// print the summary.
    #[arg(long)]
    pub fast: bool,
    /// Only these topics (all by default).
    #[arg(long, num_args = 1..)]
    pub topics: Vec<String>,
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

/// What a playback did.
#[derive(Debug, Clone, Default)]
pub struct PlayStats {
    /// Messages published, per topic.
    pub published: BTreeMap<String, u64>,
    /// Publications that failed, per topic.
    pub failed: BTreeMap<String, u64>,
    /// Bag seconds played.
    pub bag_s: f64,
    /// Wall seconds taken.
    pub wall_s: f64,
}

fn to_qos(q: Option<edgefuse_bag::Qos>, topic: &str) -> Qos {
    match q {
        Some(edgefuse_bag::Qos::Latched) => Qos::Latched { depth: 100 },
        Some(edgefuse_bag::Qos::SensorData) => Qos::SENSOR,
        Some(edgefuse_bag::Qos::Reliable) => Qos::RELIABLE,
        None if topic == "/tf_static" => Qos::Latched { depth: 100 },
        None => Qos::RELIABLE,
    }
}

/// Publishes `bag` on its topics at `rate` (with `/clock`) through `transport`, until the end
/// of the bag (or `duration_s`) or `shutdown`.
pub fn play(
    bag: &Path,
    rate: f64,
    options: &ReadOptions,
    args: NodeArgs,
    transport: Arc<dyn Transport>,
    shutdown: &Shutdown,
) -> Result<PlayStats> {
    anyhow::ensure!(
        rate.is_finite() && rate > 0.0,
        "--rate must be positive, got {rate}"
    );
    let reader = BagReader::open(bag).with_context(|| format!("opening {}", bag.display()))?;
    let node = Node::new(args, transport).context("starting the player node")?;
    let mut publishers: BTreeMap<String, Box<dyn RawPublisher>> = BTreeMap::new();
    for t in reader.topics() {
        if t.unreadable.is_some()
            || options
                .topics
                .as_ref()
                .is_some_and(|want| !want.contains(&t.name))
        {
            continue;
        }
        let p = node
            .advertise_raw(&t.name, &t.type_name, to_qos(t.qos, &t.name))
            .with_context(|| format!("advertising {} ({})", t.name, t.type_name))?;
        publishers.insert(t.name.clone(), p);
    }
    let clock = node.advertise::<Clock>("/clock", Qos::Reliable { depth: 1 })?;
    // Give DDS discovery a moment so the first messages are not lost.
    std::thread::sleep(Duration::from_millis(500));
    let mut stats = PlayStats::default();
    let start_wall = Instant::now();
    let mut first_ns: Option<u64> = None;
    let mut last_progress = Instant::now();
    let mut last_clock_ns = 0u64;
    for m in reader.messages(options) {
        if shutdown.requested() {
            break;
        }
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                node.log(LogLevel::Error, &format!("{}: {e}", bag.display()));
                continue;
            }
        };
        let t0 = *first_ns.get_or_insert(m.log_time_ns);
        let bag_s = (m.log_time_ns.saturating_sub(t0)) as f64 * 1e-9;
        let due = Duration::from_secs_f64(bag_s / rate);
        if let Some(wait) = due.checked_sub(start_wall.elapsed()) {
            std::thread::sleep(wait);
        }
        if m.log_time_ns > last_clock_ns {
            last_clock_ns = m.log_time_ns;
            let c = Clock {
                clock: Time::from_nanos(i64::try_from(m.log_time_ns).unwrap_or(i64::MAX)),
            };
            let _ = clock.publish(&c);
        }
        if let Some(p) = publishers.get(m.topic.as_ref()) {
            let key = m.topic.to_string();
            match p.publish(m.data.to_vec()) {
                Ok(()) => *stats.published.entry(key).or_insert(0) += 1,
                Err(_) => *stats.failed.entry(key).or_insert(0) += 1,
            }
        }
        stats.bag_s = bag_s;
        if last_progress.elapsed() > Duration::from_secs(1) {
            last_progress = Instant::now();
            eprint!(
                "\rreplay {:.1} s of bag, {:.1} s wall",
                bag_s,
                start_wall.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!();
    stats.wall_s = start_wall.elapsed().as_secs_f64();
    Ok(stats)
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

fn pct(v: &mut [i64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p).round() as usize] as f64 / 1e6
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
    drop(reader);
    if a.fast {
        let t = Instant::now();
        let mut config = PipelineConfig::default();
        let mut viz = a.viz.open("edgefuse_replay")?;
        config.lidar.keep_cloud = viz.is_some();
        let observer: &mut dyn RunObserver = match viz.as_mut() {
            Some(v) => v,
            None => &mut NoObserver,
        };
        let report = run_bag_observed(&a.bag, config, Timing::Wall, observer)
            .with_context(|| format!("replaying {}", a.bag.display()))?;
        if let Some(v) = viz {
            v.finish()?;
            if let Some(path) = &a.viz.rerun_save {
                println!("rerun recording written to {}", path.display());
            }
        }
        let mut total: Vec<i64> = report
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
            "cycles {}  cycle p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  deadline misses {}",
            total.len(),
            pct(&mut total.clone(), 0.5),
            pct(&mut total.clone(), 0.99),
            pct(&mut total, 1.0),
            report.deadline_misses
        );
        let skipped: u64 = report.feed_skipped.values().sum();
        println!("messages skipped {skipped} {:?}", report.feed_skipped);
        if let Some(out) = &a.record {
            let n = write_outputs(out, &report)?;
            println!("recorded {n} output messages to {}", out.display());
        }
        return Ok(());
    }
    let args = NodeArgs::parse("player", a.ros_args.clone()).context("reading ROS arguments")?;
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
    let stats = play(
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
    if !stats.failed.is_empty() {
        println!("failed publications: {:?}", stats.failed);
    }
    Ok(())
}
