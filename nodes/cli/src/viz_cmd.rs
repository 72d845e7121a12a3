//! rerun visualisation for the CLI: the `--rerun`, `--rerun-connect` and `--rerun-save` flags
//! of `replay --fast`, `demo` and `launch`, the observer that draws an in-process run, and
//! `edgefuse viz`, the node that draws live topics.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use edgefuse_fusion::health::SensorStats;
use edgefuse_fusion::lidar::LabelledCloud;
use edgefuse_fusion::pipeline::{CycleOutput, Pipeline};
use edgefuse_fusion::types::{EgoState, Input, LidarScan};
use edgefuse_fusion_node::convert;
use edgefuse_fusion_node::live::LABELLED_POINTS;
use edgefuse_fusion_node::offline::{Converter, FeedItem};
use edgefuse_fusion_node::runner::RunObserver;
use edgefuse_fusion_node::topics::ContractTopic;
use edgefuse_msgs::diagnostic_msgs::DiagnosticArray;
use edgefuse_msgs::edgefuse_msgs::{MaintenanceReport, TrackedObject, TrackedObjectArray};
use edgefuse_msgs::nav_msgs::Odometry;
use edgefuse_msgs::sensor_msgs;
use edgefuse_msgs::std_msgs::String as RosString;
use edgefuse_msgs::RosMessage;
use edgefuse_ros::dds::DdsTransport;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::{LogLevel, Node, NodeArgs, Qos, Transport};
use edgefuse_viz::{HmiText, ObjectBox, Target, Viz};

/// The rerun flags shared by the commands that can draw.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct VizArgs {
    /// Stream to a rerun viewer spawned on this machine (`rerun` on PATH:
    /// `pip install rerun-sdk==0.36.3`), over loopback.
    #[arg(long)]
    pub rerun: bool,
    /// Stream to a running rerun viewer at this URL instead of spawning one
    /// (e.g. rerun+http://127.0.0.1:9876/proxy).
    #[arg(long, value_name = "URL", conflicts_with = "rerun")]
    pub rerun_connect: Option<String>,
    /// Write the recording to this .rrd file (open it with `rerun FILE.rrd`).
    #[arg(long, value_name = "FILE.rrd")]
    pub rerun_save: Option<PathBuf>,
}

impl VizArgs {
    /// Where the recording goes.
    pub fn target(&self) -> Target {
        Target {
            spawn: self.rerun,
            connect: self.rerun_connect.clone(),
            save: self.rerun_save.clone(),
        }
    }

    /// Refuses a `--rerun-save` path whose directory does not exist, before any work.
    pub fn check(&self) -> Result<()> {
        if let Some(path) = &self.rerun_save {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                anyhow::ensure!(
                    dir.is_dir(),
                    "--rerun-save {}: directory {} does not exist",
                    path.display(),
                    dir.display()
                );
            }
        }
        Ok(())
    }

    /// True when any flag was given.
    pub fn enabled(&self) -> bool {
        !self.target().is_empty()
    }

    /// Opens the recording, or `None` without flags.
    pub fn open(&self, application: &'static str) -> Result<Option<VizObserver>> {
        self.open_part(application, None)
    }

    /// Opens one of several recordings of a run (one per drive: their sensor times overlap):
    /// its own recording in the viewer, and `FILE-<part>.rrd` beside `--rerun-save FILE.rrd`.
    pub fn open_part(
        &self,
        application: &'static str,
        part: Option<&str>,
    ) -> Result<Option<VizObserver>> {
        if !self.enabled() {
            return Ok(None);
        }
        let mut target = self.target();
        if let (Some(part), Some(path)) = (part, &target.save) {
            target.save = Some(part_path(path, part));
        }
        VizObserver::open(application, target, DEADLINE_MS).map(Some)
    }

    /// The same flags as `edgefuse launch` arguments of the launch files (`viz:=true` ...).
    pub fn launch_args(&self) -> Vec<String> {
        if !self.enabled() {
            return Vec::new();
        }
        let mut out = vec!["viz:=true".to_string()];
        if self.rerun {
            out.push("rerun_spawn:=true".into());
        }
        if let Some(url) = &self.rerun_connect {
            out.push(format!("rerun_connect:={url}"));
        }
        if let Some(path) = &self.rerun_save {
            // The viz process runs in the launch file's working directory: make it absolute.
            let abs = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            out.push(format!("rerun_save:={}", abs.display()));
        }
        out
    }
}

/// `dir/name.rrd` with `part` to `dir/name-part.rrd`.
pub fn part_path(path: &std::path::Path, part: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}-{part}.rrd"))
}

/// The cycle deadline drawn beside the stage latencies, ms.
pub const DEADLINE_MS: f64 = 50.0;

/// One thing to draw, handed from the pipeline's thread to the drawing thread.
enum Draw {
    UltrasonicNames(BTreeMap<u8, String>),
    /// A sensor input (a LiDAR sweep is sent without its points: only its mounting is drawn
    /// from it; the cycle carries the labelled cloud).
    Input(Input),
    Image(Box<sensor_msgs::Image>),
    Truth(i64, Vec<TrackedObject>),
    Cycle(Box<CycleOutput>, Vec<SensorStats>, u64),
    Hmi(HmiText, i64, String),
    Report(i64, String),
}

/// The drawing thread: draws every item until the pipeline's side hangs up, then flushes.
fn draw_items(mut viz: Viz, rx: std::sync::mpsc::Receiver<Draw>) -> Drawn {
    let mut d = Drawn::default();
    for item in rx {
        match item {
            Draw::UltrasonicNames(n) => viz.set_ultrasonic_names(&n),
            Draw::Input(i) => d.note(viz.input(&i)),
            Draw::Image(img) => {
                if let Err(reason) = viz.image(img.header.stamp.as_nanos(), &img) {
                    *d.images_refused.entry(reason).or_insert(0) += 1;
                }
            }
            Draw::Truth(stamp, objects) => d.note(viz.truth(stamp, &objects)),
            Draw::Cycle(c, stats, misses) => d.note(viz.cycle(&c, &stats, misses)),
            Draw::Hmi(kind, stamp, text) => d.note(viz.hmi_text(kind, stamp, &text)),
            Draw::Report(stamp, md) => d.note(viz.report(stamp, &md)),
        }
    }
    d.note(viz.flush());
    d
}

/// What the drawing thread ends with.
#[derive(Default)]
struct Drawn {
    errors: u64,
    first_error: Option<String>,
    images_refused: BTreeMap<String, u64>,
}

impl Drawn {
    fn note<E: std::fmt::Display>(&mut self, r: Result<(), E>) {
        if let Err(e) = r {
            self.errors += 1;
            if self.first_error.is_none() {
                self.first_error = Some(e.to_string());
            }
        }
    }
}

/// How many items may wait for the drawing thread before the pipeline waits for it.
const DRAW_QUEUE: usize = 256;

/// The drawing thread's niceness (Linux). Drawing, rerun's batching and the file writer get what
/// the pipeline leaves of the cores: they take about a third of a core beside a fast replay,
/// and at equal priority they preempted the pipeline's thread on a 2-core machine.
pub const DRAW_NICE: i32 = 10;

/// Draws an in-process run on its own thread, so that the pipeline's thread only copies what
/// it hands over (the run is not slowed by the drawing while a core is free; the queue is
/// bounded, so a slower drawing thread holds the run back rather than piling up memory).
/// The recording is opened on that thread at [`DRAW_NICE`], so rerun's own threads (batching,
/// file writing, gRPC) inherit the lower priority. Logging errors are counted (the run goes
/// on) and reported by [`VizObserver::finish`].
pub struct VizObserver {
    tx: Option<std::sync::mpsc::SyncSender<Draw>>,
    worker: std::thread::JoinHandle<Drawn>,
}

impl VizObserver {
    /// Opens a recording named `application` to `target` on the drawing thread; fails as
    /// [`Viz::new`] does.
    pub fn open(application: &'static str, target: Target, deadline_ms: f64) -> Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Draw>(DRAW_QUEUE);
        let (opened_tx, opened_rx) = std::sync::mpsc::channel();
        let worker = std::thread::Builder::new()
            .name("rerun_draw".into())
            .spawn(move || {
                edgefuse_llm::engine::set_thread_nice(DRAW_NICE);
                match Viz::new(application, &target, deadline_ms) {
                    Ok(viz) => {
                        let _ = opened_tx.send(Ok(()));
                        draw_items(viz, rx)
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        Drawn::default()
                    }
                }
            })
            .context("starting the rerun drawing thread")?;
        opened_rx
            .recv()
            .context("the rerun drawing thread ended before opening the recording")?
            .context("opening the rerun recording")?;
        Ok(Self {
            tx: Some(tx),
            worker,
        })
    }

    fn send(&mut self, item: Draw) {
        if let Some(tx) = &self.tx {
            if tx.send(item).is_err() {
                // The drawing thread ended (it panicked): finish() reports it.
                self.tx = None;
            }
        }
    }

    /// A line of HMI text at `stamp_ns`.
    pub fn hmi_text(&mut self, kind: HmiText, stamp_ns: i64, text: &str) {
        self.send(Draw::Hmi(kind, stamp_ns, text.to_string()));
    }

    /// The maintenance report (Markdown) at `stamp_ns`.
    pub fn report(&mut self, stamp_ns: i64, markdown: &str) {
        self.send(Draw::Report(stamp_ns, markdown.to_string()));
    }

    /// Waits for the drawing thread to draw everything and flush the sinks; fails if anything
    /// could not be logged.
    pub fn finish(mut self) -> Result<()> {
        drop(self.tx.take());
        let d = self
            .worker
            .join()
            .map_err(|_| anyhow::anyhow!("rerun: the drawing thread panicked"))?;
        for (reason, n) in &d.images_refused {
            eprintln!("rerun: {n} camera image(s) not drawn: {reason}");
        }
        if let Some(e) = d.first_error {
            anyhow::bail!(
                "rerun: {} item(s) could not be logged; the first: {e}",
                d.errors
            );
        }
        Ok(())
    }
}

impl RunObserver for VizObserver {
    fn ultrasonic_names(&mut self, names: &BTreeMap<u8, String>) {
        self.send(Draw::UltrasonicNames(names.clone()));
    }

    fn input(&mut self, input: &Input) {
        let item = match input {
            Input::Lidar(scan) => Input::Lidar(LidarScan {
                stamp_ns: scan.stamp_ns,
                points: Vec::new(),
                base_from_sensor: scan.base_from_sensor,
            }),
            Input::Imu(_) | Input::Wheel(_) => return,
            other => other.clone(),
        };
        self.send(Draw::Input(item));
    }

    fn wants_images(&self) -> bool {
        true
    }

    fn image(&mut self, image: &sensor_msgs::Image) {
        self.send(Draw::Image(Box::new(image.clone())));
    }

    fn truth_objects(&mut self, stamp_ns: i64, objects: &[TrackedObject]) {
        self.send(Draw::Truth(stamp_ns, objects.to_vec()));
    }

    fn cycle(&mut self, cycle: &CycleOutput, cloud: Option<LabelledCloud>, pipeline: &Pipeline) {
        let mut cycle = cycle.clone();
        cycle.lidar_cloud = cloud;
        self.send(Draw::Cycle(
            Box::new(cycle),
            pipeline.health().sensor_stats(),
            pipeline.budget().deadline_misses,
        ));
    }
}

/// `edgefuse viz` arguments.
#[derive(Debug, clap::Args)]
pub struct LiveVizArgs {
    /// Where to draw (flags override the node's `rerun_spawn`, `rerun_connect`, `rerun_save`
    /// parameters).
    #[command(flatten)]
    pub viz: VizArgs,
    /// Standard ROS 2 arguments (`--ros-args ...`), as `ros2 launch` passes them.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub ros_args: Vec<String>,
}

/// What a live visualisation saw.
#[derive(Debug, Clone, Default)]
pub struct LiveVizStats {
    /// Messages drawn, per topic.
    pub drawn: BTreeMap<String, u64>,
    /// Messages that could not be used, per topic (malformed, unknown frame).
    pub skipped: BTreeMap<String, u64>,
}

/// The topics the live node draws, beside the contract's sensor topics.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LiveTopic {
    Contract(ContractTopic),
    HmiRequest,
    HmiResponse,
    HmiAlert,
    Report,
    /// The fusion node's labelled sweeps (`publish_labelled_cloud:=true`).
    LabelledPoints,
}

/// Runs `edgefuse viz`.
pub fn run_live(a: LiveVizArgs) -> Result<()> {
    let args = NodeArgs::parse("rerun_viz", a.ros_args.clone()).context("reading ROS arguments")?;
    let mut target = a.viz.target();
    if target.is_empty() {
        let save = args.string_or("rerun_save", "")?;
        let connect = args.string_or("rerun_connect", "")?;
        target = Target {
            spawn: args.bool_or("rerun_spawn", false)?,
            connect: (!connect.is_empty()).then_some(connect),
            save: (!save.is_empty()).then(|| PathBuf::from(save)),
        };
    }
    anyhow::ensure!(
        !target.is_empty(),
        "edgefuse viz: nothing to draw to: give --rerun, --rerun-connect URL or --rerun-save FILE \
         (or the rerun_spawn / rerun_connect / rerun_save parameters)"
    );
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    let transport = DdsTransport::for_node(&args).context("joining DDS")?;
    let stats = live(args, Arc::new(transport), &target, &shutdown)?;
    println!(
        "drew {} messages: {:?}; skipped {:?}",
        stats.drawn.values().sum::<u64>(),
        stats.drawn,
        stats.skipped
    );
    Ok(())
}

/// Draws live topics from `transport` into `target` until `shutdown`.
pub fn live(
    args: NodeArgs,
    transport: Arc<dyn Transport>,
    target: &Target,
    shutdown: &Shutdown,
) -> Result<LiveVizStats> {
    let positions = edgefuse_ingest::ultrasonic_positions(&args)?;
    let mut node = Node::new(args, transport).context("starting the rerun_viz node")?;
    let mut viz = Viz::new("edgefuse", target, DEADLINE_MS).context("opening rerun")?;
    let mut contract: Vec<ContractTopic> = vec![
        ContractTopic::TfStatic,
        ContractTopic::CameraInfo,
        ContractTopic::LidarPoints,
        ContractTopic::RadarFront,
        ContractTopic::CameraDetections,
        ContractTopic::CameraImage,
        ContractTopic::Odometry,
        ContractTopic::Objects,
        ContractTopic::Diagnostics,
        ContractTopic::GroundTruthObjects,
    ];
    contract.extend(positions.iter().cloned().map(ContractTopic::Ultrasonic));
    let mut subs: BTreeMap<usize, (LiveTopic, String)> = BTreeMap::new();
    for t in contract {
        let name = t.name();
        let qos = if t == ContractTopic::TfStatic {
            Qos::Latched { depth: 100 }
        } else {
            Qos::SensorData { depth: 100 }
        };
        let id = node
            .subscribe_raw(&name, t.type_name(), qos)
            .with_context(|| format!("subscribing to {name}"))?;
        subs.insert(id, (LiveTopic::Contract(t), name));
    }
    let id = node
        .subscribe_raw(
            LABELLED_POINTS,
            sensor_msgs::PointCloud2::TYPE_NAME,
            Qos::SensorData { depth: 10 },
        )
        .with_context(|| format!("subscribing to {LABELLED_POINTS}"))?;
    subs.insert(id, (LiveTopic::LabelledPoints, LABELLED_POINTS.to_string()));
    for (kind, name, ty) in [
        (LiveTopic::HmiRequest, "/hmi/request", RosString::TYPE_NAME),
        (
            LiveTopic::HmiResponse,
            "/hmi/response",
            RosString::TYPE_NAME,
        ),
        (LiveTopic::HmiAlert, "/hmi/alert", RosString::TYPE_NAME),
        (
            LiveTopic::Report,
            "/maintenance/report",
            MaintenanceReport::TYPE_NAME,
        ),
    ] {
        let id = node
            .subscribe_raw(name, ty, Qos::Reliable { depth: 100 })
            .with_context(|| format!("subscribing to {name}"))?;
        subs.insert(id, (kind, name.to_string()));
    }
    let mut converter = Converter::with_ultrasonic(&positions);
    viz.set_ultrasonic_names(&converter.ultrasonic_names());
    let mut stats = LiveVizStats::default();
    let mut last_error_log: Option<std::time::Instant> = None;
    let mut labels_seen = false;
    while !shutdown.requested() {
        let Some(d) = node.recv(Duration::from_millis(50))? else {
            continue;
        };
        let Some((kind, name)) = subs.get(&d.sub_id).cloned() else {
            continue;
        };
        let now_ns = node.now_ns();
        let r = draw(
            &mut viz,
            &mut converter,
            &mut labels_seen,
            kind,
            &name,
            &d.payload,
            now_ns,
        );
        match r {
            Ok(true) => *stats.drawn.entry(name).or_insert(0) += 1,
            Ok(false) => {}
            Err(e) => {
                *stats.skipped.entry(name.clone()).or_insert(0) += 1;
                // At most one warning every 5 s (a broken stream would flood /rosout).
                if last_error_log.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                    last_error_log = Some(std::time::Instant::now());
                    node.log(LogLevel::Warn, &format!("{name}: {e}"));
                }
            }
        }
    }
    for ((topic, reason), n) in &converter.skipped {
        *stats
            .skipped
            .entry(format!("{topic}: {reason}"))
            .or_insert(0) += n;
    }
    viz.flush().context("flushing the rerun recording")?;
    Ok(stats)
}

fn decode<M: RosMessage>(name: &str, payload: &[u8]) -> Result<M> {
    M::decode(payload).with_context(|| format!("decoding {name}"))
}

/// Draws one live message; `Ok(false)` when it only updated state (transforms, intrinsics) or
/// was not drawn: raw LiDAR sweeps once the fusion node's labelled sweeps arrive
/// (`labels_seen`), as these show the same sweep labelled.
fn draw(
    viz: &mut Viz,
    converter: &mut Converter,
    labels_seen: &mut bool,
    kind: LiveTopic,
    name: &str,
    payload: &[u8],
    now_ns: i64,
) -> Result<bool> {
    let text = |payload: &[u8]| -> Result<String> {
        let s: RosString = decode(name, payload)?;
        // HMI responses and alerts are JSON with a `text` field; requests are plain text.
        Ok(serde_json::from_str::<serde_json::Value>(&s.data)
            .ok()
            .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(String::from))
            .unwrap_or(s.data))
    };
    match kind {
        LiveTopic::HmiRequest => viz.hmi_text(HmiText::Request, now_ns, &text(payload)?)?,
        LiveTopic::HmiResponse => viz.hmi_text(HmiText::Response, now_ns, &text(payload)?)?,
        LiveTopic::HmiAlert => viz.hmi_text(HmiText::Alert, now_ns, &text(payload)?)?,
        LiveTopic::Report => {
            let r: MaintenanceReport = decode(name, payload)?;
            viz.report(r.header.stamp.as_nanos(), &r.text)?;
        }
        LiveTopic::LabelledPoints => {
            let msg: sensor_msgs::PointCloud2 = decode(name, payload)?;
            let cloud = convert::labelled_cloud(&msg).with_context(|| name.to_string())?;
            viz.lidar_labelled(msg.header.stamp.as_nanos(), &cloud)?;
            *labels_seen = true;
        }
        LiveTopic::Contract(topic) => match topic {
            ContractTopic::Odometry => {
                let o: Odometry = decode(name, payload)?;
                let p = &o.pose.pose;
                let ego = EgoState {
                    stamp_ns: o.header.stamp.as_nanos(),
                    x_m: p.position.x,
                    y_m: p.position.y,
                    yaw_rad: p.orientation.yaw_rad(),
                    ..EgoState::default()
                };
                viz.ego(&ego)?;
            }
            ContractTopic::Objects => {
                let a: TrackedObjectArray = decode(name, payload)?;
                let boxes: Vec<ObjectBox> = a.objects.iter().map(ObjectBox::from_msg).collect();
                viz.tracks(a.header.stamp.as_nanos(), &boxes)?;
            }
            ContractTopic::Diagnostics => {
                let a: DiagnosticArray = decode(name, payload)?;
                let stamp = a.header.stamp.as_nanos();
                for s in &a.status {
                    for kv in &s.values {
                        if let Ok(v) = kv.value.trim().parse::<f64>() {
                            if v.is_finite() {
                                viz.indicator(stamp, &s.name, &kv.key, v)?;
                            }
                        }
                    }
                }
            }
            ContractTopic::CameraImage => {
                let img: sensor_msgs::Image = decode(name, payload)?;
                viz.image(img.header.stamp.as_nanos(), &img)
                    .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            }
            _ => match converter.convert(topic, name, payload, now_ns) {
                Some(FeedItem::Input { input, .. }) => {
                    if let Input::Lidar(scan) = &input {
                        if *labels_seen {
                            return Ok(false);
                        }
                        let pts: Vec<[f32; 3]> =
                            scan.points.iter().map(|p| [p.x_m, p.y_m, p.z_m]).collect();
                        viz.lidar_raw(scan.stamp_ns, &scan.base_from_sensor, &pts)?;
                    } else {
                        viz.set_ultrasonic_names(&converter.ultrasonic_names());
                        viz.input(&input)?;
                    }
                }
                Some(FeedItem::TruthObjects(a)) => {
                    viz.truth(a.header.stamp.as_nanos(), &a.objects)?;
                }
                Some(FeedItem::TruthEgo(_) | FeedItem::CameraImage(_)) => {}
                None => return Ok(false),
            },
        },
    }
    Ok(true)
}
