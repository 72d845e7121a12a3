//! The offline runner: a bag through the fusion pipeline in one process, as fast as it goes,
//! with ground truth collected beside the estimates for scoring.

use std::collections::BTreeMap;
use std::path::Path;

use edgefuse_bag::{BagError, BagReader};
use edgefuse_fusion::budget::{Clock, CycleTiming, SteppingClock};
use edgefuse_fusion::geometry::Pose2;
use edgefuse_fusion::lidar::LabelledCloud;
use edgefuse_fusion::pipeline::{CycleOutput, Pipeline, PipelineConfig, PipelineError};
use edgefuse_fusion::types::{Input, SensorId, UltrasonicRange};
use edgefuse_msgs::edgefuse_msgs::TrackedObject;
use edgefuse_msgs::sensor_msgs;

use crate::offline::{
    contract_topics_with, ultrasonic_positions_with, BagFeed, FeedItem, FeedOptions,
};
use crate::topics::ContractTopic;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The bag cannot be opened.
    #[error(transparent)]
    Bag(#[from] BagError),
    /// The pipeline configuration is invalid.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// The wall clock for stage timing (a node's choice; the library only sees [`Clock`]).
#[derive(Debug)]
pub struct MonotonicClock(std::time::Instant);

impl Default for MonotonicClock {
    fn default() -> Self {
        Self(std::time::Instant::now())
    }
}

impl Clock for MonotonicClock {
    fn now_ns(&mut self) -> i64 {
        i64::try_from(self.0.elapsed().as_nanos()).unwrap_or(i64::MAX)
    }
}

/// One cycle's estimates with the matching ground truth.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The cycle output.
    pub cycle: CycleOutput,
    /// Ground-truth objects at the cycle stamp, if recorded.
    pub truth: Option<Vec<TrackedObject>>,
    /// Ground-truth ego pose nearest the cycle stamp (within 10 ms), if recorded.
    pub ego_truth: Option<Pose2>,
}

/// Everything a run produced.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// One entry per cycle.
    pub frames: Vec<Frame>,
    /// Messages the feed skipped, per (topic, reason).
    pub feed_skipped: BTreeMap<(String, String), u64>,
    /// Inputs the pipeline rejected, per (sensor, reason), as text.
    pub pipeline_skipped: BTreeMap<String, u64>,
    /// Measurements that arrived after their cycle and were retrodicted, per sensor, as text.
    pub pipeline_retrodicted: BTreeMap<String, u64>,
    /// Storage errors (e.g. a truncated file) met while reading.
    pub storage_errors: Vec<String>,
    /// Cycles that overran the deadline.
    pub deadline_misses: u64,
    /// Ultrasonic positions by sensor index.
    pub ultrasonic_names: BTreeMap<u8, String>,
    /// Every ultrasonic reading fed to the pipeline, in feed order (for the HMI's fact sheet).
    pub ultrasonic: Vec<UltrasonicRange>,
    /// The radar, camera and ultrasonic sensors the run went without: the feed reads no topic
    /// of theirs, so the pipeline neither waits for them nor lists them in its cycles.
    pub sensors_without_topic: Vec<SensorId>,
}

impl RunReport {
    /// Stage timings of every cycle.
    pub fn timings(&self) -> Vec<&CycleTiming> {
        self.frames.iter().map(|f| &f.cycle.timing).collect()
    }
}

/// Sees a run as it goes (visualisation): every input, image and cycle, in bag order. The
/// default methods do nothing.
pub trait RunObserver {
    /// The ultrasonic sensors' names by index, before the first input.
    fn ultrasonic_names(&mut self, _names: &BTreeMap<u8, String>) {}
    /// A sensor input, when it is pushed into the pipeline.
    fn input(&mut self, _input: &Input) {}
    /// Whether [`RunObserver::image`] is wanted (images are decoded only then).
    fn wants_images(&self) -> bool {
        false
    }
    /// A camera image (not a fusion input).
    fn image(&mut self, _image: &sensor_msgs::Image) {}
    /// Ground-truth objects of a simulated drive.
    fn truth_objects(&mut self, _stamp_ns: i64, _objects: &[TrackedObject]) {}
    /// A cycle's output, with the pipeline as it stands after it (health, budget). The
    /// labelled cloud (when the LiDAR config keeps it) is handed over here and not kept in the
    /// run's report.
    fn cycle(&mut self, _cycle: &CycleOutput, _cloud: Option<LabelledCloud>, _pipeline: &Pipeline) {
    }
}

/// Observes nothing.
#[derive(Debug, Default)]
pub struct NoObserver;

impl RunObserver for NoObserver {}

/// Which clock times the stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// The monotonic wall clock: real latencies, budget decisions depend on the machine.
    Wall,
    /// A clock stepping 1 ms per reading: reproducible runs (same input, same output).
    Deterministic,
}

/// The clock a run times its stages with (see [`Timing`]).
enum RunClock {
    Wall(MonotonicClock),
    Stepping(SteppingClock),
}

impl Clock for RunClock {
    fn now_ns(&mut self) -> i64 {
        match self {
            RunClock::Wall(c) => c.now_ns(),
            RunClock::Stepping(c) => c.now_ns(),
        }
    }
}

/// Polls `pipeline` at `now_ns`: each new cycle goes to `observer` (with its labelled cloud,
/// taken out) and then into `cycles`.
fn poll(
    pipeline: &mut Pipeline,
    now_ns: i64,
    clock: &mut impl Clock,
    observer: &mut dyn RunObserver,
    cycles: &mut Vec<CycleOutput>,
) {
    for mut c in pipeline.poll(now_ns, clock) {
        let cloud = c.lidar_cloud.take();
        observer.cycle(&c, cloud, pipeline);
        cycles.push(c);
    }
}

/// Runs the bag at `path` through a pipeline built from `config` (its ultrasonic sensor count
/// is set from the bag's topics).
pub fn run_bag(path: &Path, config: PipelineConfig, timing: Timing) -> Result<RunReport, RunError> {
    run_bag_observed(path, config, timing, &mut NoObserver)
}

/// [`run_bag`], with `observer` seeing every input and cycle as the run goes.
pub fn run_bag_observed(
    path: &Path,
    config: PipelineConfig,
    timing: Timing,
    observer: &mut dyn RunObserver,
) -> Result<RunReport, RunError> {
    run_bag_with(path, &FeedOptions::default(), config, timing, observer)
}

/// [`run_bag_observed`] on what `options` selects of the bag, under its topic names.
pub fn run_bag_with(
    path: &Path,
    options: &FeedOptions,
    mut config: PipelineConfig,
    timing: Timing,
    observer: &mut dyn RunObserver,
) -> Result<RunReport, RunError> {
    let reader = BagReader::open(path)?;
    let ultrasonic = ultrasonic_positions_with(&reader, options);
    config.ultrasonic_names = ultrasonic
        .iter()
        .enumerate()
        .map(|(i, p)| (u8::try_from(i).unwrap_or(u8::MAX), p.clone()))
        .collect();
    observer.ultrasonic_names(&config.ultrasonic_names);
    // A bag without a radar, camera or ultrasonic topic (or with it left out): a system
    // without that sensor.
    let topics = contract_topics_with(&reader, options);
    let mut sensors_without_topic = Vec::new();
    for (sensor, topic) in [
        (SensorId::RadarFront, ContractTopic::RadarFront),
        (SensorId::CameraFront, ContractTopic::CameraDetections),
    ] {
        if !topics.contains(&topic) {
            config.remove_sensor(sensor)?;
            sensors_without_topic.push(sensor);
        }
    }
    if ultrasonic.is_empty() {
        config.remove_sensor(SensorId::Ultrasonic(0))?;
        sensors_without_topic.push(SensorId::Ultrasonic(0));
    }
    let mut pipeline = Pipeline::new(config)?;
    let mut feed = BagFeed::with_options(&reader, &ultrasonic, options);
    feed.keep_images(observer.wants_images());
    let mut clock = match timing {
        Timing::Wall => RunClock::Wall(MonotonicClock::default()),
        Timing::Deterministic => RunClock::Stepping(SteppingClock {
            now_ns: 0,
            step_ns: 1_000_000,
        }),
    };
    let mut cycles = Vec::new();
    let mut truth_objects: BTreeMap<i64, Vec<TrackedObject>> = BTreeMap::new();
    let mut truth_ego: BTreeMap<i64, Pose2> = BTreeMap::new();
    let mut last_arrival = i64::MIN;
    let mut ultrasonic_readings = Vec::new();
    for item in feed.by_ref() {
        match item {
            FeedItem::Input { arrival_ns, input } => {
                observer.input(&input);
                if let Input::Ultrasonic(u) = &input {
                    ultrasonic_readings.push(*u);
                }
                pipeline.push(arrival_ns, input);
                last_arrival = last_arrival.max(arrival_ns);
                poll(&mut pipeline, arrival_ns, &mut clock, observer, &mut cycles);
            }
            FeedItem::TruthObjects(a) => {
                observer.truth_objects(a.header.stamp.as_nanos(), &a.objects);
                truth_objects.insert(a.header.stamp.as_nanos(), a.objects);
            }
            FeedItem::CameraImage(image) => observer.image(&image),
            FeedItem::TruthEgo(o) => {
                let p = &o.pose.pose;
                truth_ego.insert(
                    o.header.stamp.as_nanos(),
                    Pose2 {
                        x_m: p.position.x,
                        y_m: p.position.y,
                        yaw_rad: p.orientation.yaw_rad(),
                    },
                );
            }
        }
    }
    // Flush: let the last cycles time out.
    let end = last_arrival.saturating_add(1_000_000_000);
    poll(&mut pipeline, end, &mut clock, observer, &mut cycles);
    let nearest_ego = |t: i64| {
        let before = truth_ego.range(..=t).next_back();
        let after = truth_ego.range(t..).next();
        [before, after]
            .into_iter()
            .flatten()
            .min_by_key(|(s, _)| (**s - t).abs())
            .filter(|(s, _)| (**s - t).abs() <= 10_000_000)
            .map(|(_, p)| *p)
    };
    let frames = cycles
        .into_iter()
        .map(|cycle| Frame {
            truth: truth_objects.get(&cycle.stamp_ns).cloned(),
            ego_truth: nearest_ego(cycle.stamp_ns),
            cycle,
        })
        .collect();
    Ok(RunReport {
        frames,
        feed_skipped: feed.skipped().clone(),
        pipeline_skipped: pipeline
            .skipped
            .iter()
            .map(|((s, r), n)| (format!("{s:?}: {r}"), *n))
            .collect(),
        pipeline_retrodicted: pipeline
            .retrodicted
            .iter()
            .map(|(s, n)| (format!("{s:?}"), *n))
            .collect(),
        storage_errors: feed.storage_errors.clone(),
        deadline_misses: pipeline.budget().deadline_misses,
        ultrasonic_names: feed.ultrasonic_names(),
        ultrasonic: ultrasonic_readings,
        sensors_without_topic,
    })
}
