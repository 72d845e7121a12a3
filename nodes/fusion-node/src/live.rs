//! The live fusion node: contract topics in (as the ingest nodes republish them, under
//! `input_prefix`), the fusion pipeline, `/localization/odometry`, `/perception/objects` and
//! `/diagnostics` out (and, when asked, each sweep's labelled points). A sensor that goes
//! silent is named on `/diagnostics` within `missing_after_s` (the cycle goes on without it,
//! degraded); a payload that cannot be used is counted per topic and reason and skipped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use edgefuse_fusion::pipeline::{CycleOutput, Pipeline, PipelineConfig, PipelineError};
use edgefuse_fusion::tracker::RejectReason;
use edgefuse_fusion::types::{Input, SensorId};
use edgefuse_msgs::builtin_interfaces::Time;
use edgefuse_msgs::diagnostic_msgs::{DiagnosticArray, DiagnosticStatus, KeyValue};
use edgefuse_msgs::edgefuse_msgs::TrackedObjectArray;
use edgefuse_msgs::nav_msgs::Odometry;
use edgefuse_msgs::std_msgs::Header;
use edgefuse_msgs::{geometry_msgs, radar_msgs, sensor_msgs, tf2_msgs, vision_msgs};
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::{LogLevel, Node, NodeArgs, Qos, Transport};

use crate::convert;
use crate::offline::{Converter, FeedItem};
use crate::runner::MonotonicClock;
use crate::topics::ContractTopic;

/// The sweeps' points labelled ground / cluster ([`convert::labelled_cloud_msg`]), published
/// with `publish_labelled_cloud:=true`.
pub const LABELLED_POINTS: &str = "/perception/lidar/labelled_points";

/// The fusion node's parameters (ROS 2 params; defaults in brackets).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveParams {
    /// Cycle deadline, ms [50].
    pub deadline_ms: f64,
    /// Voxel grid, m [0.15].
    pub voxel_size_m: f64,
    /// Clustering distance, m [0.5].
    pub cluster_tolerance_m: f64,
    /// A cycle waits this long for a late sensor, ms [150].
    pub sensor_timeout_ms: f64,
    /// `/diagnostics` period, s [1.0].
    pub diagnostics_period_s: f64,
    /// A sensor silent this long is reported missing, s [0.5].
    pub missing_after_s: f64,
    /// Prefix of the input topics [`/ingest`; empty for the raw contract topics].
    pub input_prefix: String,
    /// Ultrasonic positions.
    pub ultrasonic_positions: Vec<String>,
    /// Publish each sweep's points labelled ground / cluster on
    /// `/perception/lidar/labelled_points` (for rerun or RViz) [false; `viz:=true` in the
    /// launch files sets it].
    pub publish_labelled_cloud: bool,
    /// Threads of the LiDAR stages (deskew, ground, clustering; the output is the same for
    /// any count) [2].
    pub lidar_threads: usize,
    /// `SCHED_FIFO` priority of the fusion thread (and the LiDAR stages' threads), 1 to 99;
    /// 0 keeps normal scheduling [0; 40 in `launch/params/pipeline.yaml`]. Refused (a
    /// warning, normal scheduling) without `CAP_SYS_NICE` or an `rtprio` limit.
    pub realtime_priority: i32,
    /// Nominal rates of sensors that run at other rates than the topic contract's, Hz
    /// (`lidar_rate_hz`, `radar_rate_hz`, `camera_rate_hz`, `ultrasonic_rate_hz`,
    /// `imu_rate_hz`, `wheel_rate_hz`; the contract's when not given): the synchroniser
    /// expects them, and the health monitor judges rate drops and dropouts against them.
    pub sensor_rates_hz: Vec<(SensorId, f64)>,
    /// The sensors the vehicle has, by [`SENSOR_KINDS`] name [all six]: the LiDAR, the IMU
    /// and the wheel speed are required; a radar, camera or ultrasonic sensor left out is
    /// not subscribed, not waited for and not reported late, absent or missing.
    pub sensors: Vec<SensorId>,
}

/// The kinds of sensor by their names in the parameters (`sensors`, `<name>_rate_hz`) and
/// on the command line, with the sensor each stands for (`ultrasonic`: every ultrasonic
/// sensor).
pub const SENSOR_KINDS: [(&str, SensorId); 6] = [
    ("lidar", SensorId::Lidar),
    ("radar", SensorId::RadarFront),
    ("camera", SensorId::CameraFront),
    ("ultrasonic", SensorId::Ultrasonic(0)),
    ("imu", SensorId::Imu),
    ("wheel", SensorId::Wheel),
];

/// A sensor's kind name in [`SENSOR_KINDS`].
pub fn sensor_kind_name(sensor: SensorId) -> &'static str {
    match sensor {
        SensorId::Lidar => "lidar",
        SensorId::RadarFront => "radar",
        SensorId::CameraFront => "camera",
        SensorId::Ultrasonic(_) => "ultrasonic",
        SensorId::Imu => "imu",
        SensorId::Wheel => "wheel",
    }
}

/// The `sensors` parameter (a string array of [`SENSOR_KINDS`] names), or all six.
fn sensors_param(args: &NodeArgs) -> anyhow::Result<Vec<SensorId>> {
    let Some(names) = args.strings_opt("sensors")? else {
        return Ok(SENSOR_KINDS.iter().map(|(_, s)| *s).collect());
    };
    let kinds: Vec<&str> = SENSOR_KINDS.iter().map(|(n, _)| *n).collect();
    let mut sensors = Vec::new();
    for name in &names {
        let sensor = SENSOR_KINDS
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                anyhow::anyhow!("parameter sensors: '{name}' is not one of {kinds:?}")
            })?;
        if !sensors.contains(&sensor) {
            sensors.push(sensor);
        }
    }
    for required in [SensorId::Lidar, SensorId::Imu, SensorId::Wheel] {
        anyhow::ensure!(
            sensors.contains(&required),
            "parameter sensors: {} is required (the LiDAR triggers the cycles, the ego filter needs the IMU and the wheel speed), got {names:?}",
            sensor_kind_name(required)
        );
    }
    Ok(sensors)
}

impl LiveParams {
    /// From the node's parameters.
    pub fn from_args(args: &NodeArgs) -> anyhow::Result<Self> {
        let positions = edgefuse_ingest::ultrasonic_positions(args)?;
        let mut sensor_rates_hz = Vec::new();
        for (kind, sensor) in SENSOR_KINDS {
            let name = format!("{kind}_rate_hz");
            if let Some(v) = args.f64_opt(&name)? {
                anyhow::ensure!(
                    v.is_finite() && v > 0.0,
                    "parameter {name} must be positive, got {v}"
                );
                sensor_rates_hz.push((sensor, v));
            }
        }
        let p = Self {
            deadline_ms: args.f64_or("deadline_ms", 50.0)?,
            voxel_size_m: args.f64_or("voxel_size_m", 0.15)?,
            cluster_tolerance_m: args.f64_or("cluster_tolerance_m", 0.5)?,
            sensor_timeout_ms: args.f64_or("sensor_timeout_ms", 150.0)?,
            diagnostics_period_s: args.f64_or("diagnostics_period_s", 1.0)?,
            missing_after_s: args.f64_or("missing_after_s", 0.5)?,
            input_prefix: args.string_or("input_prefix", "/ingest")?,
            ultrasonic_positions: positions,
            publish_labelled_cloud: args.bool_or("publish_labelled_cloud", false)?,
            lidar_threads: match args.i64_or("lidar_threads", 2)? {
                n @ 1..=64 => n as usize,
                n => anyhow::bail!("parameter lidar_threads must be 1 to 64, got {n}"),
            },
            realtime_priority: match args.i64_or("realtime_priority", 0)? {
                n @ 0..=99 => n as i32,
                n => anyhow::bail!("parameter realtime_priority must be 0 to 99, got {n}"),
            },
            sensor_rates_hz,
            sensors: sensors_param(args)?,
        };
        for (name, v) in [
            ("deadline_ms", p.deadline_ms),
            ("voxel_size_m", p.voxel_size_m),
            ("cluster_tolerance_m", p.cluster_tolerance_m),
            ("sensor_timeout_ms", p.sensor_timeout_ms),
            ("diagnostics_period_s", p.diagnostics_period_s),
            ("missing_after_s", p.missing_after_s),
        ] {
            anyhow::ensure!(
                v.is_finite() && v > 0.0,
                "parameter {name} must be positive, got {v}"
            );
        }
        Ok(p)
    }

    /// The pipeline configuration these parameters give.
    pub fn pipeline_config(&self) -> Result<PipelineConfig, PipelineError> {
        let mut c = PipelineConfig::default();
        for (sensor, rate_hz) in &self.sensor_rates_hz {
            c.set_nominal_rate_hz(*sensor, *rate_hz)?;
        }
        c.budget.deadline_ns = (self.deadline_ms * 1e6) as i64;
        c.lidar.voxel_size_m = self.voxel_size_m as f32;
        c.lidar.cluster.cluster_tolerance_m = self.cluster_tolerance_m as f32;
        c.sync.timeout_ns = (self.sensor_timeout_ms * 1e6) as i64;
        c.lidar.keep_cloud = self.publish_labelled_cloud;
        c.lidar.threads = self.lidar_threads;
        c.ultrasonic_names = self
            .ultrasonic_positions
            .iter()
            .enumerate()
            .map(|(i, p)| (u8::try_from(i).unwrap_or(u8::MAX), p.clone()))
            .collect();
        for (_, sensor) in SENSOR_KINDS {
            if !self.sensors.contains(&sensor) {
                c.remove_sensor(sensor)?;
            }
        }
        Ok(c)
    }

    /// The contract topics the node subscribes to (under `input_prefix`): those of the
    /// sensors it has, and the camera's intrinsics with the camera.
    pub fn input_topics(&self) -> Vec<ContractTopic> {
        let has = |s: SensorId| self.sensors.contains(&s);
        let mut inputs = vec![ContractTopic::LidarPoints];
        if has(SensorId::RadarFront) {
            inputs.push(ContractTopic::RadarFront);
        }
        if has(SensorId::CameraFront) {
            inputs.extend([ContractTopic::CameraDetections, ContractTopic::CameraInfo]);
        }
        inputs.extend([ContractTopic::Imu, ContractTopic::VehicleTwist]);
        if has(SensorId::Ultrasonic(0)) {
            inputs.extend(
                self.ultrasonic_positions
                    .iter()
                    .map(|p| ContractTopic::Ultrasonic(p.clone())),
            );
        }
        inputs
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct LiveReport {
    /// Cycles published.
    pub cycles: u64,
    /// Deadline misses.
    pub deadline_misses: u64,
    /// Per cycle: its computing time, ns.
    pub cycle_ns: Vec<i64>,
    /// Per cycle: from the newest measurement in the cycle (the latest item stamp, and the
    /// LiDAR sweep's last point, stamp + its largest `t`) to the publication of
    /// `/perception/objects`, ns (on [`Node::latency_clock_ns`]'s axis).
    pub latency_ns: Vec<i64>,
    /// Per LiDAR sweep: from its last point to its arrival at the fusion node (the sensor's
    /// own delivery latency, the DDS hop and the ingest node), ns, same axis.
    pub lidar_arrival_ns: Vec<i64>,
    /// Inputs skipped by the converter, per (topic, reason).
    pub skipped: BTreeMap<(String, String), u64>,
}

fn sensor_of(topic: &ContractTopic, positions: &[String]) -> Option<SensorId> {
    Some(match topic {
        ContractTopic::LidarPoints => SensorId::Lidar,
        ContractTopic::RadarFront => SensorId::RadarFront,
        ContractTopic::CameraDetections => SensorId::CameraFront,
        ContractTopic::Imu => SensorId::Imu,
        ContractTopic::VehicleTwist => SensorId::Wheel,
        ContractTopic::Ultrasonic(p) => {
            SensorId::Ultrasonic(u8::try_from(positions.iter().position(|q| q == p)?).ok()?)
        }
        _ => return None,
    })
}

/// A reason's name in `/diagnostics`.
fn reject_name(r: RejectReason) -> &'static str {
    match r {
        RejectReason::NonFinite => "non_finite",
        RejectReason::ZeroSize => "zero_size",
        RejectReason::NonPositiveDefinite => "non_positive_definite",
        RejectReason::BehindSensor => "behind_sensor",
        RejectReason::OutsideImage => "outside_image",
        RejectReason::OutOfRange => "out_of_range",
        RejectReason::OutOfSequence => "out_of_sequence",
        RejectReason::InvalidEgo => "invalid_ego",
        RejectReason::InvalidSensorModel => "invalid_sensor_model",
    }
}

/// Runs the fusion node until `shutdown`.
pub fn run(
    args: NodeArgs,
    transport: Arc<dyn Transport>,
    shutdown: &Shutdown,
) -> anyhow::Result<LiveReport> {
    let params = LiveParams::from_args(&args)?;
    let mut node = Node::new(args, transport).context("starting the node")?;
    let mut pipeline = Pipeline::new(
        params
            .pipeline_config()
            .context("the fusion node's parameters")?,
    )
    .context("building the fusion pipeline")?;
    let ultrasonic_positions: &[String] = if params.sensors.contains(&SensorId::Ultrasonic(0)) {
        &params.ultrasonic_positions
    } else {
        &[]
    };
    let mut converter = Converter::with_ultrasonic(ultrasonic_positions);
    let prefix = params.input_prefix.trim_end_matches('/').to_string();
    // Subscriptions by delivery id.
    let mut topics: BTreeMap<usize, (ContractTopic, String)> = BTreeMap::new();
    for t in params.input_topics() {
        let name = format!("{prefix}{}", t.name());
        let q = Qos::SENSOR;
        let id = match &t {
            ContractTopic::LidarPoints => {
                node.subscribe::<sensor_msgs::PointCloud2>(&name, q)?.id()
            }
            ContractTopic::RadarFront => node.subscribe::<radar_msgs::RadarScan>(&name, q)?.id(),
            ContractTopic::CameraDetections => node
                .subscribe::<vision_msgs::Detection2DArray>(&name, q)?
                .id(),
            ContractTopic::CameraInfo => node.subscribe::<sensor_msgs::CameraInfo>(&name, q)?.id(),
            ContractTopic::Imu => node.subscribe::<sensor_msgs::Imu>(&name, q)?.id(),
            ContractTopic::VehicleTwist => node
                .subscribe::<geometry_msgs::TwistWithCovarianceStamped>(&name, q)?
                .id(),
            _ => node.subscribe::<sensor_msgs::Range>(&name, q)?.id(),
        };
        topics.insert(id, (t, node.args().resolve_topic(&name)));
    }
    let tf_id = node
        .subscribe::<tf2_msgs::TFMessage>("/tf_static", Qos::Latched { depth: 100 })?
        .id();
    topics.insert(tf_id, (ContractTopic::TfStatic, "/tf_static".to_string()));
    let odom_pub = node.advertise::<Odometry>("/localization/odometry", Qos::RELIABLE)?;
    let objects_pub = node.advertise::<TrackedObjectArray>("/perception/objects", Qos::RELIABLE)?;
    let diag_pub = node.advertise::<DiagnosticArray>("/diagnostics", Qos::RELIABLE)?;
    let labelled_pub = if params.publish_labelled_cloud {
        Some(node.advertise::<sensor_msgs::PointCloud2>(LABELLED_POINTS, Qos::SENSOR)?)
    } else {
        None
    };
    node.log(
        LogLevel::Info,
        &format!(
            "fusion node on {} ({} inputs under '{prefix}'), deadline {} ms",
            node.transport_kind(),
            topics.len(),
            params.deadline_ms
        ),
    );
    if params.realtime_priority > 0 {
        match edgefuse_ros::rt::realtime_thread(params.realtime_priority) {
            Ok(()) => node.log(
                LogLevel::Info,
                &format!(
                    "fusion thread scheduled SCHED_FIFO at priority {}",
                    params.realtime_priority
                ),
            ),
            Err(e) => node.log(
                LogLevel::Warn,
                &format!(
                    "real-time priority {} refused ({e}): normal scheduling",
                    params.realtime_priority
                ),
            ),
        }
    }
    let mut clock = MonotonicClock::default();
    let mut report = LiveReport::default();
    let mut last_seen: BTreeMap<SensorId, Instant> = BTreeMap::new();
    let mut missing: Vec<SensorId> = Vec::new();
    let mut last_cycle: Option<CycleOutput> = None;
    // Per LiDAR stamp, the time of the sweep's last point.
    let mut sweep_end_ns: BTreeMap<i64, i64> = BTreeMap::new();
    let period = Duration::from_secs_f64(params.diagnostics_period_s);
    let mut next_diag = Instant::now() + period;
    let started = Instant::now();
    while !shutdown.requested() {
        if let Some(d) = node.recv(Duration::from_millis(20))? {
            if let Some((topic, name)) = topics.get(&d.sub_id) {
                if let Some(sensor) = sensor_of(topic, &params.ultrasonic_positions) {
                    last_seen.insert(sensor, d.received);
                }
                let arrival_ns = node.now_ns();
                if let Some(FeedItem::Input { arrival_ns, input }) =
                    converter.convert(topic.clone(), name, &d.payload, arrival_ns)
                {
                    if let Input::Lidar(scan) = &input {
                        // The sweep's newest measurement is its last point, not its stamp.
                        let last_s = scan.points.iter().map(|p| p.t_s).fold(0.0f32, f32::max);
                        let end_ns = scan.stamp_ns + (f64::from(last_s) * 1e9) as i64;
                        sweep_end_ns.insert(scan.stamp_ns, end_ns);
                        report
                            .lidar_arrival_ns
                            .push(node.latency_clock_ns() - end_ns);
                        while sweep_end_ns.len() > 64 {
                            sweep_end_ns.pop_first();
                        }
                    }
                    pipeline.push(arrival_ns, input);
                }
            }
        }
        for mut cycle in pipeline.poll(node.now_ns(), &mut clock) {
            report.cycles += 1;
            report.cycle_ns.push(cycle.timing.total_ns);
            report.deadline_misses += u64::from(cycle.timing.missed);
            if let Some(ego) = &cycle.ego {
                if let Err(e) = odom_pub.publish(&convert::odometry(ego)) {
                    node.log(LogLevel::Warn, &format!("publishing odometry: {e}"));
                }
            }
            let objects = convert::tracked_objects(cycle.stamp_ns, &cycle.tracks);
            if let Err(e) = objects_pub.publish(&objects) {
                node.log(LogLevel::Warn, &format!("publishing objects: {e}"));
            }
            let newest_ns = sweep_end_ns
                .get(&cycle.stamp_ns)
                .map_or(cycle.newest_input_ns, |end| {
                    (*end).max(cycle.newest_input_ns)
                });
            report.latency_ns.push(node.latency_clock_ns() - newest_ns);
            // After the objects: the labelled cloud is for looking at, not on the deadline.
            if let (Some(publisher), Some(cloud)) = (&labelled_pub, cycle.lidar_cloud.take()) {
                let msg = convert::labelled_cloud_msg(cycle.stamp_ns, &cloud);
                if let Err(e) = publisher.publish(&msg) {
                    node.log(
                        LogLevel::Warn,
                        &format!("publishing {LABELLED_POINTS}: {e}"),
                    );
                }
            }
            last_cycle = Some(cycle);
        }
        // Missing sensors: silent for `missing_after_s` (after a start-up grace period).
        let now = Instant::now();
        let silent_limit = Duration::from_secs_f64(params.missing_after_s);
        let mut now_missing: Vec<SensorId> = last_seen
            .iter()
            .filter(|(_, t)| now.duration_since(**t) > silent_limit)
            .map(|(s, _)| *s)
            .collect();
        now_missing.sort();
        let changed = now_missing != missing && now.duration_since(started) > silent_limit;
        if changed {
            for s in now_missing.iter().filter(|s| !missing.contains(s)) {
                node.log(
                    LogLevel::Warn,
                    &format!(
                        "{} is missing: fusion goes on without it",
                        pipeline.health().component(*s)
                    ),
                );
            }
            missing = now_missing;
        }
        if now >= next_diag || changed {
            next_diag = now + period;
            let diag = diagnostics(
                &node,
                &pipeline,
                last_cycle.as_ref(),
                report.deadline_misses,
                &missing,
                &last_seen,
                now,
            );
            if let Err(e) = diag_pub.publish(&diag) {
                node.log(LogLevel::Warn, &format!("publishing diagnostics: {e}"));
            }
        }
    }
    report.skipped = converter.skipped.clone();
    node.log(LogLevel::Info, "shutting down");
    Ok(report)
}

fn diagnostics(
    node: &Node,
    pipeline: &Pipeline,
    cycle: Option<&CycleOutput>,
    deadline_misses: u64,
    missing: &[SensorId],
    last_seen: &BTreeMap<SensorId, Instant>,
    now: Instant,
) -> DiagnosticArray {
    let kv = |k: &str, v: String| KeyValue {
        key: k.to_string(),
        value: v,
    };
    let name = node.args().full_name();
    let mut status = Vec::new();
    for s in pipeline.health().sensor_stats() {
        let is_missing = missing.contains(&s.sensor);
        let silent = last_seen
            .get(&s.sensor)
            .map_or(f64::INFINITY, |t| now.duration_since(*t).as_secs_f64());
        let (level, message) = if is_missing {
            (
                DiagnosticStatus::ERROR,
                format!("{} missing: no message for {silent:.1} s", s.component),
            )
        } else {
            (DiagnosticStatus::OK, "ok".to_string())
        };
        let mut values = vec![
            kv("rate_hz", format!("{:.2}", s.rate_hz)),
            kv("nominal_rate_hz", format!("{:.2}", s.nominal_rate_hz)),
            kv("messages", s.messages.to_string()),
            kv("mean_latency_s", format!("{:.4}", s.mean_latency_s)),
            kv("dropouts", s.dropouts.to_string()),
        ];
        for (reason, n) in &s.skipped {
            values.push(kv(&format!("skipped: {}", reason.as_str()), n.to_string()));
        }
        // Measurements that came after their cycle and were put back in it.
        if let Some(n) = pipeline.retrodicted.get(&s.sensor) {
            values.push(kv("retrodicted", n.to_string()));
        }
        // The radar's mounting as the tracker uses it, when the health monitor's misalignment
        // estimate corrects it.
        if let (SensorId::RadarFront, Some(deg)) = (s.sensor, pipeline.radar_yaw_correction_deg()) {
            values.push(kv("mount_yaw_correction_deg", format!("{deg:.3}")));
        }
        status.push(DiagnosticStatus {
            level,
            name: format!("{name}: {}", s.component),
            message,
            hardware_id: s.component.clone(),
            values,
        });
    }
    if let Some(c) = cycle {
        for f in &c.findings {
            let level = match f.severity.as_str() {
                "info" => DiagnosticStatus::OK,
                "warn" => DiagnosticStatus::WARN,
                _ => DiagnosticStatus::ERROR,
            };
            let mut values: Vec<KeyValue> = f
                .evidence
                .iter()
                .map(|(k, v)| kv(k, format!("{v:.4}")))
                .collect();
            values.push(kv("trend_per_s", format!("{:.6}", f.trend_per_s)));
            values.push(kv(
                "time_to_threshold_s",
                format!("{:.1}", f.time_to_threshold_s),
            ));
            status.push(DiagnosticStatus {
                level,
                name: format!("{name}: finding {}", f.component),
                message: format!("{} ({})", f.kind.as_str(), f.severity.as_str()),
                hardware_id: f.component.clone(),
                values,
            });
        }
        let mut values: Vec<KeyValue> = c
            .timing
            .stage_ns
            .iter()
            .map(|(stage, ns)| {
                kv(
                    &format!("{}_ms", stage.as_str()),
                    format!("{:.3}", *ns as f64 / 1e6),
                )
            })
            .collect();
        values.push(kv(
            "cycle_ms",
            format!("{:.3}", c.timing.total_ns as f64 / 1e6),
        ));
        values.push(kv("deadline_misses", deadline_misses.to_string()));
        values.push(kv("tracks", c.tracks.len().to_string()));
        let components = |sensors: &[SensorId]| {
            sensors
                .iter()
                .map(|s| pipeline.health().component(*s))
                .collect::<Vec<_>>()
                .join(",")
        };
        values.push(kv("late", components(&c.late)));
        values.push(kv("absent", components(&c.absent)));
        let degraded = !c.late.is_empty() || !c.absent.is_empty() || !missing.is_empty();
        status.push(DiagnosticStatus {
            level: if degraded {
                DiagnosticStatus::WARN
            } else {
                DiagnosticStatus::OK
            },
            name: format!("{name}: cycle"),
            message: if degraded {
                "degraded: running without a late, absent or missing sensor".into()
            } else {
                "ok".into()
            },
            hardware_id: "fusion".into(),
            values,
        });
    }
    // Inputs the filters refused, per reason: the tracker's and the ego EKF's.
    if let Some(tracker) = pipeline.tracker() {
        let c = tracker.counters();
        let mut values: Vec<KeyValue> = RejectReason::ALL
            .iter()
            .map(|r| {
                kv(
                    &format!("rejected: {}", reject_name(*r)),
                    c.rejected(*r).to_string(),
                )
            })
            .collect();
        values.push(kv("births", c.births.to_string()));
        values.push(kv("confirmations", c.confirmations.to_string()));
        values.push(kv("gated_out", c.gated_out.to_string()));
        values.push(kv("end_face_turns", c.end_face_turns.to_string()));
        values.push(kv("heading_resets", c.heading_resets.to_string()));
        values.push(kv("reidentified", c.reidentified.to_string()));
        status.push(DiagnosticStatus {
            level: DiagnosticStatus::OK,
            name: format!("{name}: tracker"),
            message: format!("{} inputs refused", c.rejected_total()),
            hardware_id: "tracker".into(),
            values,
        });
    }
    let e = pipeline.ego().counters();
    let ego_values = [
        ("imu_non_finite", e.imu_non_finite),
        ("imu_spikes", e.imu_spikes),
        ("imu_accel_held", e.imu_accel_held),
        ("imu_duplicates", e.imu_duplicates),
        ("imu_too_old", e.imu_too_old),
        ("wheel_non_finite", e.wheel_non_finite),
        ("wheel_bad_variance", e.wheel_bad_variance),
        ("wheel_duplicates", e.wheel_duplicates),
        ("wheel_too_old", e.wheel_too_old),
        ("speed_gated", e.speed_gated),
        ("yaw_rate_gated", e.yaw_rate_gated),
        ("numerical_skips", e.numerical_skips),
    ];
    status.push(DiagnosticStatus {
        level: DiagnosticStatus::OK,
        name: format!("{name}: ego"),
        message: format!(
            "{} IMU and {} wheel samples used",
            e.imu_accepted, e.wheel_accepted
        ),
        hardware_id: "ego_ekf".into(),
        values: ego_values
            .iter()
            .map(|(k, v)| kv(k, v.to_string()))
            .collect(),
    });
    DiagnosticArray {
        header: Header {
            stamp: Time::from_nanos(node.now_ns()),
            frame_id: String::new(),
        },
        status,
    }
}

/// `main` of the `fusion_node` binary: standard ROS 2 arguments, DDS on `ROS_DOMAIN_ID`.
pub fn main_dds() -> anyhow::Result<()> {
    use edgefuse_ros::dds::DdsTransport;
    edgefuse_ros::rt::keep_heap_memory();
    let args = NodeArgs::parse("fusion_node", std::env::args().skip(1))
        .context("reading ROS arguments")?;
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    let transport = DdsTransport::for_node(&args).context("joining DDS")?;
    let report = run(args, Arc::new(transport), &shutdown)?;
    eprintln!("SUMMARY {}", report.summary_json());
    Ok(())
}

/// The `q` quantile (0 to 1, nearest rank) of durations in ns, in ms; NaN when there are none.
pub fn quantile_ms(ns: &[i64], q: f64) -> f64 {
    if ns.is_empty() {
        return f64::NAN;
    }
    let mut v = ns.to_vec();
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * q).round() as usize] as f64 / 1e6
}

impl LiveReport {
    /// One JSON line: cycles, misses, cycle time, latency and LiDAR arrival percentiles (ms),
    /// skips.
    pub fn summary_json(&self) -> String {
        let skipped: u64 = self.skipped.values().sum();
        format!(
            "{{\"cycles\":{},\"deadline_misses\":{},\"cycle_p50_ms\":{:.3},\"cycle_p99_ms\":{:.3},\"latency_p50_ms\":{:.3},\"latency_p99_ms\":{:.3},\"latency_max_ms\":{:.3},\"lidar_arrival_p50_ms\":{:.3},\"lidar_arrival_p99_ms\":{:.3},\"skipped\":{}}}",
            self.cycles,
            self.deadline_misses,
            quantile_ms(&self.cycle_ns, 0.5),
            quantile_ms(&self.cycle_ns, 0.99),
            quantile_ms(&self.latency_ns, 0.5),
            quantile_ms(&self.latency_ns, 0.99),
            quantile_ms(&self.latency_ns, 1.0),
            quantile_ms(&self.lidar_arrival_ns, 0.5),
            quantile_ms(&self.lidar_arrival_ns, 0.99),
            skipped
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn params(ros_args: &[&str]) -> anyhow::Result<LiveParams> {
        let args = NodeArgs::parse(
            "fusion_node",
            std::iter::once("--ros-args")
                .chain(ros_args.iter().copied())
                .map(str::to_string)
                .collect::<Vec<_>>(),
        )?;
        LiveParams::from_args(&args)
    }

    #[test]
    fn sensor_rate_parameters_set_the_synchroniser_and_refuse_bad_values() {
        let p = params(&["-p", "radar_rate_hz:=13.3", "-p", "ultrasonic_rate_hz:=10"]).unwrap();
        assert_eq!(
            p.sensor_rates_hz,
            vec![
                (SensorId::RadarFront, 13.3),
                (SensorId::Ultrasonic(0), 10.0)
            ]
        );
        let c = p.pipeline_config().unwrap();
        assert_eq!(
            c.sync.sensors[&SensorId::RadarFront].period_ns,
            (1e9 / 13.3_f64).round() as i64
        );
        assert_eq!(c.sync.ultrasonic_timing.period_ns, 100_000_000);
        // Not given: the contract's.
        let d = params(&[]).unwrap().pipeline_config().unwrap();
        assert_eq!(d.sync.sensors, PipelineConfig::default().sync.sensors);
        assert_eq!(
            d.sync.ultrasonic_timing,
            PipelineConfig::default().sync.ultrasonic_timing
        );
        let e = params(&["-p", "camera_rate_hz:=-5.0"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("camera_rate_hz") && e.contains("-5"), "{e}");
    }

    #[test]
    fn the_sensors_parameter_leaves_out_a_vehicles_missing_sensors() {
        // All six by default: every contract input subscribed.
        let all = params(&[]).unwrap();
        assert_eq!(all.sensors.len(), 6);
        let inputs = all.input_topics();
        assert!(inputs.contains(&ContractTopic::RadarFront), "{inputs:?}");
        assert_eq!(inputs.len(), 6 + all.ultrasonic_positions.len());
        // A car with a LiDAR, a camera and no radar or parking sensors.
        let p = params(&["-p", "sensors:=[lidar, imu, wheel, camera]"]).unwrap();
        assert_eq!(
            p.input_topics(),
            vec![
                ContractTopic::LidarPoints,
                ContractTopic::CameraDetections,
                ContractTopic::CameraInfo,
                ContractTopic::Imu,
                ContractTopic::VehicleTwist,
            ]
        );
        let c = p.pipeline_config().unwrap();
        assert!(!c.has_sensor(SensorId::RadarFront) && !c.has_sensor(SensorId::Ultrasonic(3)));
        assert!(c.has_sensor(SensorId::CameraFront));
        // Built: the synchroniser neither has the radar nor any ultrasonic stream, and the
        // camera takes the cycles while the LiDAR is silent.
        let pipeline = Pipeline::new(c).unwrap();
        let sync = pipeline.sync().config();
        let streams: Vec<SensorId> = sync.sensors.keys().copied().collect();
        assert_eq!(streams, vec![SensorId::Lidar, SensorId::CameraFront]);
        assert_eq!(sync.fallback_reference, Some(SensorId::CameraFront));
        // Unknown names and a missing required sensor are refused, naming the parameter.
        let e = params(&["-p", "sensors:=[lidar, imu, wheel, sonar]"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("sensors") && e.contains("sonar"), "{e}");
        let e = params(&["-p", "sensors:=[lidar, radar, imu]"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sensors") && e.contains("wheel is required"),
            "{e}"
        );
        let e = params(&["-p", "sensors:=lidar"]).unwrap_err().to_string();
        assert!(e.contains("string array"), "{e}");
    }
}
