//! Sensor ingest nodes: one per sensor kind (LiDAR, radar, camera, ultrasonic, IMU with wheel
//! twist). Each subscribes to its contract topics, validates and normalises every message
//! ([`validate`]: frames, layout, units, plausibility), drops messages beyond `max_rate_hz`
//! (a flood) and counts every drop by reason, tracks the arrival rate against
//! `expected_rate_hz`, republishes under `output_prefix` (`/ingest` by default, so
//! `/sensors/imu` becomes `/ingest/sensors/imu`) and reports on `/diagnostics` every
//! `diagnostics_period_s`.
//!
//! It depends on the message types and the node harness, never on a transport's own types or
//! on the fusion library.

pub mod speed;
pub mod validate;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use edgefuse_msgs::autoware_vehicle_msgs::VelocityReport;
use edgefuse_msgs::builtin_interfaces::Time;
use edgefuse_msgs::diagnostic_msgs::{DiagnosticArray, DiagnosticStatus, KeyValue};
use edgefuse_msgs::geometry_msgs::{TwistStamped, TwistWithCovarianceStamped};
use edgefuse_msgs::nav_msgs::Odometry;
use edgefuse_msgs::radar_msgs::RadarScan;
use edgefuse_msgs::sensor_msgs::{CameraInfo, Imu, PointCloud2, Range};
use edgefuse_msgs::std_msgs::Header;
use edgefuse_msgs::vision_msgs::Detection2DArray;
use edgefuse_msgs::RosMessage;
use edgefuse_ros::dds::DdsTransport;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::{Delivery, LogLevel, Node, NodeArgs, Publisher, Qos, SubId, Transport};

use speed::SpeedType;
use validate::{Limits, Reject};

/// The sensor kinds, one ingest node each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorKind {
    /// `/sensors/lidar/points`.
    Lidar,
    /// `/sensors/radar/front/scan`.
    Radar,
    /// `/sensors/camera/front/detections` and `camera_info`.
    Camera,
    /// `/sensors/ultrasonic/<position>/range`.
    Ultrasonic,
    /// `/sensors/imu` and `/vehicle/twist`.
    Imu,
}

impl SensorKind {
    /// The node's default name.
    pub fn default_name(self) -> &'static str {
        match self {
            SensorKind::Lidar => "lidar_ingest",
            SensorKind::Radar => "radar_ingest",
            SensorKind::Camera => "camera_ingest",
            SensorKind::Ultrasonic => "ultrasonic_ingest",
            SensorKind::Imu => "imu_ingest",
        }
    }

    /// Nominal rate of the kind's main topic, Hz (the topic contract).
    fn nominal_rate_hz(self) -> f64 {
        match self {
            SensorKind::Lidar => 10.0,
            SensorKind::Radar | SensorKind::Ultrasonic => 20.0,
            SensorKind::Camera => 30.0,
            SensorKind::Imu => 100.0,
        }
    }
}

/// The ultrasonic positions subscribed when `ultrasonic_positions` is not given.
pub const DEFAULT_ULTRASONIC_POSITIONS: [&str; 12] = [
    "front_left_corner",
    "front_left",
    "front_center_left",
    "front_center_right",
    "front_right",
    "front_right_corner",
    "rear_left_corner",
    "rear_left",
    "rear_center_left",
    "rear_center_right",
    "rear_right",
    "rear_right_corner",
];

/// The `ultrasonic_positions` parameter (a string array), or the sample vehicle's 12.
pub fn ultrasonic_positions(args: &NodeArgs) -> anyhow::Result<Vec<String>> {
    Ok(args
        .strings_opt("ultrasonic_positions")?
        .unwrap_or_else(|| DEFAULT_ULTRASONIC_POSITIONS.map(String::from).to_vec()))
}

/// An ingest node's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestParams {
    /// Expected rate of each input topic, Hz (under half of it is a warning).
    pub expected_rate_hz: f64,
    /// Messages beyond this rate per topic are dropped and counted, Hz.
    pub max_rate_hz: f64,
    /// Plausibility limits.
    pub limits: Limits,
    /// Prefix of the output topics.
    pub output_prefix: String,
    /// Ultrasonic positions to subscribe.
    pub ultrasonic_positions: Vec<String>,
    /// Period of `/diagnostics`, s.
    pub diagnostics_period_s: f64,
    /// The type the vehicle's speed comes in on `/vehicle/twist` (remap that to the vehicle's
    /// topic), by its ROS type name [`geometry_msgs/msg/TwistWithCovarianceStamped`]; the
    /// IMU ingest node republishes it as the contract's twist.
    pub vehicle_speed_type: SpeedType,
}

impl IngestParams {
    /// From the node's parameters, with the contract's defaults.
    pub fn from_args(kind: SensorKind, args: &NodeArgs) -> anyhow::Result<Self> {
        let nominal = kind.nominal_rate_hz();
        let d = Limits::default();
        let positions = ultrasonic_positions(args)?;
        let p = Self {
            expected_rate_hz: args.f64_or("expected_rate_hz", nominal)?,
            max_rate_hz: args.f64_or("max_rate_hz", 2.0 * nominal)?,
            limits: Limits {
                min_range_m: args.f64_or("min_range_m", d.min_range_m)?,
                max_range_m: args.f64_or("max_range_m", d.max_range_m)?,
                max_abs_accel_mps2: args.f64_or("max_abs_accel_mps2", d.max_abs_accel_mps2)?,
                max_abs_gyro_radps: args.f64_or("max_abs_gyro_radps", d.max_abs_gyro_radps)?,
            },
            output_prefix: args.string_or("output_prefix", "/ingest")?,
            ultrasonic_positions: positions,
            diagnostics_period_s: args.f64_or("diagnostics_period_s", 1.0)?,
            vehicle_speed_type: {
                let name = args.string_or(
                    "vehicle_speed_type",
                    SpeedType::TwistWithCovarianceStamped.type_name(),
                )?;
                SpeedType::of_type_name(&name).ok_or_else(|| {
                    let known: Vec<&str> = SpeedType::ALL.iter().map(|t| t.type_name()).collect();
                    anyhow::anyhow!(
                        "parameter vehicle_speed_type: '{name}' is not one of {known:?}"
                    )
                })?
            },
        };
        anyhow::ensure!(
            p.expected_rate_hz > 0.0 && p.max_rate_hz >= p.expected_rate_hz,
            "parameters: need 0 < expected_rate_hz <= max_rate_hz, got {} and {}",
            p.expected_rate_hz,
            p.max_rate_hz
        );
        anyhow::ensure!(
            p.diagnostics_period_s > 0.0,
            "parameter diagnostics_period_s must be positive"
        );
        Ok(p)
    }
}

/// What happened on one input topic.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicStats {
    /// Messages that arrived (decoded or not).
    pub received: u64,
    /// Messages republished.
    pub forwarded: u64,
    /// Messages dropped for arriving above `max_rate_hz`.
    pub flood_dropped: u64,
    /// Messages refused, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Elements (points, returns, boxes) dropped from forwarded messages.
    pub elements_dropped: u64,
    /// Arrival rate, Hz (exponential average over about a second).
    pub rate_hz: f64,
    last_arrival: Option<Instant>,
    last_forward: Option<Instant>,
}

impl TopicStats {
    fn arrive(&mut self, now: Instant, max_rate_hz: f64) -> bool {
        self.received += 1;
        if let Some(last) = self.last_arrival {
            let dt = now.duration_since(last).as_secs_f64().max(1e-6);
            let alpha = (dt / 1.0).min(1.0);
            self.rate_hz += alpha * (1.0 / dt - self.rate_hz);
        }
        self.last_arrival = Some(now);
        // Flood gate: at most one message per 1/max_rate (90% of it, for jitter).
        let min_gap = 0.9 / max_rate_hz;
        if let Some(last) = self.last_forward {
            if now.duration_since(last).as_secs_f64() < min_gap {
                self.flood_dropped += 1;
                return false;
            }
        }
        true
    }

    fn reject(&mut self, r: Reject) {
        *self.rejected.entry(r.0).or_insert(0) += 1;
    }

    fn forwarded(&mut self, now: Instant, dropped_elements: usize) {
        self.forwarded += 1;
        self.elements_dropped += dropped_elements as u64;
        self.last_forward = Some(now);
    }
}

enum Route {
    Cloud(SubId<PointCloud2>, Publisher<PointCloud2>),
    Radar(SubId<RadarScan>, Publisher<RadarScan>),
    Detections(SubId<Detection2DArray>, Publisher<Detection2DArray>),
    Info(SubId<CameraInfo>, Publisher<CameraInfo>),
    Range(SubId<Range>, Publisher<Range>),
    Imu(SubId<Imu>, Publisher<Imu>),
    /// The vehicle's speed, in the type it comes in, republished as the contract's twist.
    Speed(SpeedSub, Publisher<TwistWithCovarianceStamped>),
}

/// The subscription of the vehicle's speed, by [`SpeedType`].
#[derive(Clone, Copy)]
enum SpeedSub {
    Contract(SubId<TwistWithCovarianceStamped>),
    Odometry(SubId<Odometry>),
    TwistStamped(SubId<TwistStamped>),
    VelocityReport(SubId<VelocityReport>),
}

impl SpeedSub {
    fn is(self, d: &Delivery) -> bool {
        match self {
            SpeedSub::Contract(s) => s.is(d),
            SpeedSub::Odometry(s) => s.is(d),
            SpeedSub::TwistStamped(s) => s.is(d),
            SpeedSub::VelocityReport(s) => s.is(d),
        }
    }

    /// The delivery decoded and converted to the contract's twist (`None`: malformed,
    /// counted by the node).
    fn decode(self, node: &mut Node, d: &Delivery) -> Option<TwistWithCovarianceStamped> {
        match self {
            SpeedSub::Contract(s) => node.decode(s, d),
            SpeedSub::Odometry(s) => node.decode(s, d).map(|m| speed::from_odometry(&m)),
            SpeedSub::TwistStamped(s) => node.decode(s, d).map(|m| speed::from_twist_stamped(&m)),
            SpeedSub::VelocityReport(s) => {
                node.decode(s, d).map(|m| speed::from_velocity_report(&m))
            }
        }
    }
}

/// Builds one input's subscription and republisher.
type MakeRoute = dyn Fn(&mut Node, &str, &str, Qos) -> anyhow::Result<(String, Route)>;

struct Input {
    topic: String,
    route: Route,
    stats: TopicStats,
}

/// Subscribes to `topic` as `M` and advertises its output as `O`: the contract topic under
/// `prefix` (also when the input is remapped to a driver's topic). Returns the resolved input.
fn route<M: RosMessage, O: RosMessage>(
    node: &mut Node,
    prefix: &str,
    topic: &str,
    qos: Qos,
) -> anyhow::Result<(String, SubId<M>, Publisher<O>)> {
    let sub = node
        .subscribe::<M>(topic, qos)
        .with_context(|| format!("subscribing to {topic}"))?;
    let resolved = node.args().resolve_topic(topic);
    let out = format!("{prefix}{topic}");
    let publisher = node
        .advertise::<O>(&out, qos)
        .with_context(|| format!("advertising {out}"))?;
    Ok((resolved, sub, publisher))
}

/// [`route`] for the vehicle's speed subscribed as `M`, republished as the contract's twist.
fn speed_route<M: RosMessage>(
    node: &mut Node,
    prefix: &str,
    topic: &str,
    qos: Qos,
    sub: fn(SubId<M>) -> SpeedSub,
) -> anyhow::Result<(String, Route)> {
    let (resolved, s, out) = route(node, prefix, topic, qos)?;
    Ok((resolved, Route::Speed(sub(s), out)))
}

/// What a run did, per input topic.
pub type RunStats = BTreeMap<String, TopicStats>;

/// Runs the node until `shutdown`; returns the per-topic statistics.
pub fn run(
    kind: SensorKind,
    args: NodeArgs,
    transport: Arc<dyn Transport>,
    shutdown: &Shutdown,
) -> anyhow::Result<RunStats> {
    let params = IngestParams::from_args(kind, &args)?;
    let mut node = Node::new(args, transport).context("starting the node")?;
    let prefix = params.output_prefix.trim_end_matches('/').to_string();
    let mut inputs: Vec<Input> = Vec::new();
    let mut add =
        |node: &mut Node, topic: &str, qos: Qos, make: &MakeRoute| -> anyhow::Result<()> {
            let (resolved, route) = make(node, &prefix, topic, qos)?;
            inputs.push(Input {
                topic: resolved,
                route,
                stats: TopicStats::default(),
            });
            Ok(())
        };
    let q = Qos::SENSOR;
    match kind {
        SensorKind::Lidar => add(&mut node, "/sensors/lidar/points", q, &|n, p, t, q| {
            route(n, p, t, q).map(|(r, s, o)| (r, Route::Cloud(s, o)))
        })?,
        SensorKind::Radar => add(&mut node, "/sensors/radar/front/scan", q, &|n, p, t, q| {
            route(n, p, t, q).map(|(r, s, o)| (r, Route::Radar(s, o)))
        })?,
        SensorKind::Camera => {
            add(
                &mut node,
                "/sensors/camera/front/detections",
                q,
                &|n, p, t, q| route(n, p, t, q).map(|(r, s, o)| (r, Route::Detections(s, o))),
            )?;
            add(
                &mut node,
                "/sensors/camera/front/camera_info",
                q,
                &|n, p, t, q| route(n, p, t, q).map(|(r, s, o)| (r, Route::Info(s, o))),
            )?;
        }
        SensorKind::Ultrasonic => {
            for pos in params.ultrasonic_positions.clone() {
                let topic = format!("/sensors/ultrasonic/{pos}/range");
                add(&mut node, &topic, q, &|n, p, t, q| {
                    route(n, p, t, q).map(|(r, s, o)| (r, Route::Range(s, o)))
                })?;
            }
        }
        SensorKind::Imu => {
            add(&mut node, "/sensors/imu", q, &|n, p, t, q| {
                route(n, p, t, q).map(|(r, s, o)| (r, Route::Imu(s, o)))
            })?;
            let speed_type = params.vehicle_speed_type;
            add(
                &mut node,
                "/vehicle/twist",
                q,
                &move |n, p, t, q| match speed_type {
                    SpeedType::TwistWithCovarianceStamped => {
                        speed_route(n, p, t, q, SpeedSub::Contract)
                    }
                    SpeedType::Odometry => speed_route(n, p, t, q, SpeedSub::Odometry),
                    SpeedType::TwistStamped => speed_route(n, p, t, q, SpeedSub::TwistStamped),
                    SpeedType::VelocityReport => speed_route(n, p, t, q, SpeedSub::VelocityReport),
                },
            )?;
        }
    }
    let diagnostics = node
        .advertise::<DiagnosticArray>("/diagnostics", Qos::RELIABLE)
        .context("advertising /diagnostics")?;
    node.log(
        LogLevel::Info,
        &format!(
            "{} ingesting {} topic(s) over {}, output prefix {prefix}",
            kind.default_name(),
            inputs.len(),
            node.transport_kind()
        ),
    );
    let mut image_size: Option<(u32, u32)> = None;
    let period = Duration::from_secs_f64(params.diagnostics_period_s);
    let mut next_report = Instant::now() + period;
    while !shutdown.requested() {
        if let Some(d) = node.recv(Duration::from_millis(50))? {
            handle(&mut node, &mut inputs, &params, &mut image_size, &d);
        }
        let now = Instant::now();
        if now >= next_report {
            next_report = now + period;
            let report = diagnostics_of(&node, &inputs, &params, now);
            if let Err(e) = diagnostics.publish(&report) {
                node.log(LogLevel::Warn, &format!("publishing /diagnostics: {e}"));
            }
        }
    }
    node.log(LogLevel::Info, "shutting down");
    Ok(inputs.into_iter().map(|i| (i.topic, i.stats)).collect())
}

fn handle(
    node: &mut Node,
    inputs: &mut [Input],
    params: &IngestParams,
    image_size: &mut Option<(u32, u32)>,
    d: &Delivery,
) {
    let Some(input) = inputs.iter_mut().find(|i| match &i.route {
        Route::Cloud(s, _) => s.is(d),
        Route::Radar(s, _) => s.is(d),
        Route::Detections(s, _) => s.is(d),
        Route::Info(s, _) => s.is(d),
        Route::Range(s, _) => s.is(d),
        Route::Imu(s, _) => s.is(d),
        Route::Speed(s, _) => s.is(d),
    }) else {
        return;
    };
    let now = d.received;
    if !input.stats.arrive(now, params.max_rate_hz) {
        return;
    }
    let limits = &params.limits;
    let stats = &mut input.stats;
    // Each arm: decode (malformed is counted by the node), validate, forward.
    let outcome: Option<Result<usize, String>> = match &input.route {
        Route::Cloud(s, out) => {
            node.decode(*s, d)
                .map(|m| match validate::clean_cloud(&m, limits) {
                    Ok((c, n)) => forward(out, &c).map(|()| n.non_finite + n.out_of_range),
                    Err(r) => Err(reject(stats, r)),
                })
        }
        Route::Radar(s, out) => {
            node.decode(*s, d)
                .map(|m| match validate::clean_radar(&m, limits) {
                    Ok((c, n)) => forward(out, &c).map(|()| n),
                    Err(r) => Err(reject(stats, r)),
                })
        }
        Route::Detections(s, out) => {
            node.decode(*s, d)
                .map(|m| match validate::clean_detections(&m, *image_size) {
                    Ok((c, n)) => forward(out, &c).map(|()| n),
                    Err(r) => Err(reject(stats, r)),
                })
        }
        Route::Info(s, out) => node
            .decode(*s, d)
            .map(|m| match validate::check_camera_info(&m) {
                Ok(()) => {
                    *image_size = Some((m.width, m.height));
                    forward(out, &m).map(|()| 0)
                }
                Err(r) => Err(reject(stats, r)),
            }),
        Route::Range(s, out) => node.decode(*s, d).map(|m| match validate::check_range(&m) {
            Ok(()) => forward(out, &m).map(|()| 0),
            Err(r) => Err(reject(stats, r)),
        }),
        Route::Imu(s, out) => node
            .decode(*s, d)
            .map(|m| match validate::check_imu(&m, limits) {
                Ok(()) => forward(out, &m).map(|()| 0),
                Err(r) => Err(reject(stats, r)),
            }),
        Route::Speed(s, out) => s.decode(node, d).map(|m| match validate::check_twist(&m) {
            Ok(()) => forward(out, &m).map(|()| 0),
            Err(r) => Err(reject(stats, r)),
        }),
    };
    match outcome {
        None => {
            // Malformed: counted by the node.
        }
        Some(Ok(dropped)) => input.stats.forwarded(now, dropped),
        Some(Err(reason)) if reason.is_empty() => {}
        Some(Err(reason)) => node.log(LogLevel::Warn, &format!("{}: {reason}", input.topic)),
    }
}

/// Counts a rejection; returns an empty reason (already counted, not logged each time).
fn reject(stats: &mut TopicStats, r: Reject) -> String {
    stats.reject(r);
    String::new()
}

fn forward<M: RosMessage>(out: &Publisher<M>, msg: &M) -> Result<(), String> {
    out.publish(msg).map_err(|e| e.to_string())
}

fn diagnostics_of(
    node: &Node,
    inputs: &[Input],
    params: &IngestParams,
    now: Instant,
) -> DiagnosticArray {
    let stamp_ns = node.now_ns();
    let kv = |k: &str, v: String| KeyValue {
        key: k.to_string(),
        value: v,
    };
    let status = inputs
        .iter()
        .map(|i| {
            let s = &i.stats;
            let silent_s = s
                .last_arrival
                .map_or(f64::INFINITY, |t| now.duration_since(t).as_secs_f64());
            let malformed = node.counters().get(&i.topic).map_or(0, |c| c.malformed);
            let (level, message) = if silent_s > 1.0 {
                (
                    DiagnosticStatus::STALE,
                    format!("no message for {silent_s:.1} s"),
                )
            } else if s.rate_hz < 0.5 * params.expected_rate_hz {
                (
                    DiagnosticStatus::WARN,
                    format!(
                        "rate {:.1} Hz, expected {:.1} Hz",
                        s.rate_hz, params.expected_rate_hz
                    ),
                )
            } else {
                (DiagnosticStatus::OK, "ok".to_string())
            };
            let mut values = vec![
                kv("rate_hz", format!("{:.2}", s.rate_hz)),
                kv(
                    "expected_rate_hz",
                    format!("{:.2}", params.expected_rate_hz),
                ),
                kv("received", s.received.to_string()),
                kv("forwarded", s.forwarded.to_string()),
                kv("flood_dropped", s.flood_dropped.to_string()),
                kv("malformed", malformed.to_string()),
                kv("elements_dropped", s.elements_dropped.to_string()),
            ];
            for (reason, n) in &s.rejected {
                values.push(kv(&format!("rejected: {reason}"), n.to_string()));
            }
            DiagnosticStatus {
                level,
                name: format!("{}: {}", node.args().full_name(), i.topic),
                message,
                hardware_id: i.topic.clone(),
                values,
            }
        })
        .collect();
    DiagnosticArray {
        header: Header {
            stamp: Time::from_nanos(stamp_ns),
            frame_id: String::new(),
        },
        status,
    }
}

/// `main` of the ingest binaries: standard ROS 2 arguments, DDS on `ROS_DOMAIN_ID`, stops on
/// SIGINT/SIGTERM.
pub fn main_for(kind: SensorKind) -> anyhow::Result<()> {
    let args = NodeArgs::parse(kind.default_name(), std::env::args().skip(1))
        .context("reading the ROS arguments")?;
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    let transport = DdsTransport::for_node(&args).context("joining DDS")?;
    let stats = run(kind, args, Arc::new(transport), &shutdown)?;
    for (topic, s) in stats {
        eprintln!(
            "{topic}: received {} forwarded {} flood-dropped {} rejected {:?}",
            s.received, s.forwarded, s.flood_dropped, s.rejected
        );
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn params(ros_args: &[&str]) -> anyhow::Result<IngestParams> {
        let args = NodeArgs::parse(
            "imu_ingest",
            std::iter::once("--ros-args").chain(ros_args.iter().copied()),
        )?;
        IngestParams::from_args(SensorKind::Imu, &args)
    }

    #[test]
    fn the_vehicle_speed_type_is_a_ros_type_name_of_the_four_read() {
        assert_eq!(
            params(&[]).unwrap().vehicle_speed_type,
            SpeedType::TwistWithCovarianceStamped
        );
        let p = params(&[
            "-p",
            "vehicle_speed_type:=autoware_vehicle_msgs/msg/VelocityReport",
        ]);
        assert_eq!(p.unwrap().vehicle_speed_type, SpeedType::VelocityReport);
        let e = params(&["-p", "vehicle_speed_type:=nav_msgs/Odometry"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("vehicle_speed_type") && e.contains("'nav_msgs/Odometry'"),
            "{e}"
        );
        assert!(e.contains("nav_msgs/msg/Odometry"), "{e}");
    }
}
