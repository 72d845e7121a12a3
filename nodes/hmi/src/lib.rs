//! edgefuse_hmi: the HMI node, a thin ROS 2 adapter over `edgefuse-dialogue` and the
//! layer-streamed LLM engine. It subscribes to `/perception/objects`,
//! `/localization/odometry`, `/diagnostics` (the fusion node's health findings), the validated
//! ultrasonic ranges with `/tf_static` (each parking sensor's side comes from its mounting) and
//! `/hmi/request`, and publishes `/hmi/response`, `/hmi/alert` and `/maintenance/report`.
//!
//! Responses and alerts are `std_msgs/String` holding one JSON object: the text to say, its
//! source (`Llm`, `LlmBestOfN`, `Template`, `Refused`, `RateLimited`) and its evidence (topic,
//! stamp and values). The engine holds no weights while idle: a request, a hazard or a health
//! finding of severity error or an ultrasonic range under `near_range_m` (the validated
//! `/ingest/sensors/ultrasonic/*/range`) wakes it, and it sleeps again after `idle_sleep_s`. Requests
//! beyond `max_requests_per_s` (with a burst of `request_burst`) are answered "busy" and
//! counted. It must hold no fusion or dialogue logic of its own.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use edgefuse_dialogue::facts::{FactSheet, HealthFact, UltrasonicFact, WorldObject};
use edgefuse_dialogue::intent::HazardDebounce;
use edgefuse_dialogue::{Responder, ResponderOptions};
use edgefuse_fusion::types::ObjectClass;
use edgefuse_msgs::diagnostic_msgs::{DiagnosticArray, KeyValue};
use edgefuse_msgs::edgefuse_msgs::{MaintenanceFinding, MaintenanceReport, TrackedObjectArray};
use edgefuse_msgs::nav_msgs::Odometry;
use edgefuse_msgs::sensor_msgs::Range;
use edgefuse_msgs::std_msgs::{Header, String as RosString};
use edgefuse_msgs::tf2_msgs::TFMessage;
use edgefuse_ros::dds::DdsTransport;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::tf::StaticTf;
use edgefuse_ros::{LogLevel, Node, NodeArgs, Qos, Transport};
use serde_json::json;

/// The node's parameters (ROS 2 params file or `-p name:=value`).
#[derive(Debug, Clone)]
pub struct HmiParams {
    /// The GGUF model (default: the cached default model).
    pub model: PathBuf,
    /// Layer-cache budget of the streamed engine, MB; 0 loads the weights resident.
    pub memory_budget_mb: f64,
    /// Sampled candidates tried when the greedy answer fails the checker.
    pub candidates: usize,
    /// Compute threads of the engine.
    pub threads: usize,
    /// Niceness of the engine's threads.
    pub nice: i32,
    /// Seconds without a request or alert after which the weights are released.
    pub idle_sleep_s: f64,
    /// Sustained request rate accepted, per second.
    pub max_requests_per_s: f64,
    /// Requests accepted in a burst.
    pub request_burst: f64,
    /// Seconds before the same object may raise another alert.
    pub realert_s: f64,
    /// Prefix of the ultrasonic input topics (`/ingest`: the validated ones).
    pub input_prefix: String,
    /// Ultrasonic positions (`/sensors/ultrasonic/<position>/range`).
    pub ultrasonic_positions: Vec<String>,
    /// An ultrasonic range below this raises an alert, m.
    pub near_range_m: f64,
}

impl HmiParams {
    /// From the node's parameters.
    pub fn from_args(args: &NodeArgs) -> Result<Self> {
        let default_model = std::env::var_os("EDGEFUSE_MODELS")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/edgefuse/models"))
            })
            .unwrap_or_default()
            .join(edgefuse_llm::DEFAULT_MODEL.file_name);
        let model = args.string_or("model", &default_model.to_string_lossy())?;
        Ok(Self {
            model: PathBuf::from(model),
            memory_budget_mb: args.f64_or("memory_budget_mb", 32.0)?,
            candidates: args.i64_or("candidates", 3)?.max(0) as usize,
            threads: args.i64_or("threads", 2)?.max(1) as usize,
            nice: args.i64_or("nice", 10)? as i32,
            idle_sleep_s: args.f64_or("idle_sleep_s", 10.0)?,
            max_requests_per_s: args.f64_or("max_requests_per_s", 1.0)?,
            request_burst: args.f64_or("request_burst", 3.0)?,
            realert_s: args.f64_or("realert_s", 5.0)?,
            input_prefix: args.string_or("input_prefix", "/ingest")?,
            ultrasonic_positions: edgefuse_ingest::ultrasonic_positions(args)?,
            near_range_m: args.f64_or("near_range_m", 0.5)?,
        })
    }
}

/// What the node did, for tests and the exit line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HmiStats {
    /// Requests received.
    pub requests: u64,
    /// Requests answered (by the model, a template or a refusal).
    pub answered: u64,
    /// Requests answered "busy" by the rate limit.
    pub rate_limited: u64,
    /// Requests refused (empty, too long, not text).
    pub refused: u64,
    /// Alerts published.
    pub alerts: u64,
    /// Maintenance reports published.
    pub reports: u64,
    /// Messages that did not decode (counted, skipped).
    pub malformed: u64,
    /// Times the engine mapped its weights.
    pub wakes: u64,
    /// Times it released them.
    pub sleeps: u64,
    /// Times the engine could not load or generate (the template answered).
    pub engine_errors: u64,
}

/// A token bucket.
struct RateLimit {
    tokens: f64,
    burst: f64,
    per_s: f64,
    last: Instant,
}

impl RateLimit {
    fn allow(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + dt * self.per_s).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn class_from_code(code: u8) -> ObjectClass {
    match code {
        1 => ObjectClass::Car,
        2 => ObjectClass::Truck,
        3 => ObjectClass::Pedestrian,
        4 => ObjectClass::Cyclist,
        _ => ObjectClass::Unknown,
    }
}

fn stamp_ns(h: &Header) -> i64 {
    h.stamp.sec as i64 * 1_000_000_000 + h.stamp.nanosec as i64
}

/// Health findings from the fusion node's `/diagnostics` (statuses named `...: finding X`).
fn findings_from(diag: &DiagnosticArray) -> Vec<HealthFact> {
    diag.status
        .iter()
        .filter(|s| s.name.contains(": finding "))
        .map(|s| {
            let (kind, severity) = match s.message.split_once(" (") {
                Some((k, rest)) => (k.to_string(), rest.trim_end_matches(')').to_string()),
                None => (s.message.clone(), "warn".to_string()),
            };
            let value = |k: &str| -> Option<f64> {
                s.values
                    .iter()
                    .find(|v| v.key == k)
                    .and_then(|v| v.value.parse().ok())
            };
            HealthFact {
                component: s.hardware_id.clone(),
                kind,
                severity,
                evidence: s
                    .values
                    .iter()
                    .filter(|v| v.key != "trend_per_s" && v.key != "time_to_threshold_s")
                    .filter_map(|v| v.value.parse().ok().map(|x| (v.key.clone(), x)))
                    .collect(),
                trend_per_s: value("trend_per_s").unwrap_or(0.0),
                time_to_threshold_s: value("time_to_threshold_s").unwrap_or(f64::INFINITY),
            }
        })
        .collect()
}

fn report_msg(stamp: Header, health: &[HealthFact], text: &str) -> MaintenanceReport {
    MaintenanceReport {
        header: stamp,
        findings: health
            .iter()
            .map(|h| MaintenanceFinding {
                component: h.component.clone(),
                kind: h.kind.clone(),
                severity: match h.severity.as_str() {
                    "info" => MaintenanceFinding::SEVERITY_INFO,
                    "warn" => MaintenanceFinding::SEVERITY_WARN,
                    _ => MaintenanceFinding::SEVERITY_ERROR,
                },
                evidence: h
                    .evidence
                    .iter()
                    .map(|(k, v)| KeyValue {
                        key: k.clone(),
                        value: format!("{v}"),
                    })
                    .collect(),
                trend_per_s: h.trend_per_s,
                time_to_threshold_s: h.time_to_threshold_s,
                recommended_action: edgefuse_dialogue::report::action_for(&h.kind, &h.component),
            })
            .collect(),
        text: text.to_string(),
    }
}

/// Wake the engine for what tends to follow an alert; a model that cannot load is logged
/// and counted, and the node goes on.
fn wake(responder: &mut Responder, stats: &mut HmiStats, node: &Node) {
    if responder.is_awake() {
        return;
    }
    match responder.wake() {
        Ok(_) => stats.wakes += 1,
        Err(e) => {
            stats.engine_errors += 1;
            node.log(LogLevel::Error, &format!("cannot wake the LLM: {e}"));
        }
    }
}

/// Runs the node until `shutdown`.
pub fn run(args: NodeArgs, transport: Arc<dyn Transport>, shutdown: &Shutdown) -> Result<HmiStats> {
    let params = HmiParams::from_args(&args)?;
    let mut node = Node::new(args, transport).context("starting the node")?;
    let objects_sub = node.subscribe::<TrackedObjectArray>("/perception/objects", Qos::RELIABLE)?;
    let odom_sub = node.subscribe::<Odometry>("/localization/odometry", Qos::RELIABLE)?;
    let diag_sub = node.subscribe::<DiagnosticArray>("/diagnostics", Qos::RELIABLE)?;
    let request_sub = node.subscribe::<RosString>("/hmi/request", Qos::RELIABLE)?;
    let prefix = params.input_prefix.trim_end_matches('/').to_string();
    let mut ranges = Vec::new();
    for pos in &params.ultrasonic_positions {
        let topic = format!("{prefix}/sensors/ultrasonic/{pos}/range");
        ranges.push((
            node.subscribe::<Range>(&topic, Qos::SENSOR)?,
            pos.clone(),
            topic,
        ));
    }
    let tf_sub = node.subscribe::<TFMessage>("/tf_static", Qos::Latched { depth: 100 })?;
    let mut tf = StaticTf::default();
    // Recent readings per sensor (the fact sheet takes the newest not after its own time).
    let mut readings: BTreeMap<String, VecDeque<UltrasonicFact>> = BTreeMap::new();
    let mut unmounted: BTreeSet<String> = BTreeSet::new();
    let mut near_alerted: BTreeMap<String, Instant> = BTreeMap::new();
    let response_pub = node.advertise::<RosString>("/hmi/response", Qos::RELIABLE)?;
    let alert_pub = node.advertise::<RosString>("/hmi/alert", Qos::RELIABLE)?;
    let report_pub = node.advertise::<MaintenanceReport>("/maintenance/report", Qos::RELIABLE)?;
    let residency = if params.memory_budget_mb > 0.0 {
        edgefuse_llm::Residency::Streamed {
            budget_bytes: (params.memory_budget_mb * 1e6) as usize,
        }
    } else {
        edgefuse_llm::Residency::Resident
    };
    let mut responder = Responder::new(ResponderOptions {
        model: params.model.clone(),
        engine: edgefuse_llm::EngineOptions {
            residency,
            threads: params.threads,
            nice: params.nice,
        },
        candidates: params.candidates,
        max_new_tokens: 48,
    });
    node.log(
        LogLevel::Info,
        &format!(
            "HMI up, model {}, idle without weights",
            params.model.display()
        ),
    );
    let mut stats = HmiStats::default();
    let mut limit = RateLimit {
        tokens: params.request_burst,
        burst: params.request_burst,
        per_s: params.max_requests_per_s,
        last: Instant::now(),
    };
    let mut ego: Option<(i64, (f64, f64, f64), f64)> = None;
    let mut objects: Option<(i64, Vec<WorldObject>)> = None;
    let mut health: Vec<HealthFact> = Vec::new();
    let mut reported: BTreeSet<(String, String)> = BTreeSet::new();
    let mut alerted: BTreeMap<u64, i64> = BTreeMap::new();
    let mut debounce = HazardDebounce::default();
    let mut last_warning: Option<(String, FactSheet)> = None;
    let mut last_activity = Instant::now();
    let sheet = |ego: &Option<(i64, (f64, f64, f64), f64)>,
                 objects: &Option<(i64, Vec<WorldObject>)>,
                 health: &[HealthFact],
                 readings: &BTreeMap<String, VecDeque<UltrasonicFact>>|
     -> Option<FactSheet> {
        let (ego_stamp, pose, speed) = ego.as_ref()?;
        let (stamp, objs) = objects
            .as_ref()
            .map(|(s, o)| (*s, o.as_slice()))
            .unwrap_or((*ego_stamp, &[]));
        let mut f = FactSheet::from_objects(stamp, *pose, *speed, objs, &[]);
        f.health = health.to_vec();
        Some(f.with_ultrasonic(readings.values().flatten().cloned()))
    };
    while !shutdown.requested() {
        if responder.is_awake()
            && last_activity.elapsed() > Duration::from_secs_f64(params.idle_sleep_s)
        {
            responder.sleep();
            stats.sleeps += 1;
        }
        let Some(d) = node.recv(Duration::from_millis(50))? else {
            continue;
        };
        if let Some((sub, pos, topic)) = ranges.iter().find(|(s, _, _)| s.is(&d)) {
            let Some(r) = node.decode(*sub, &d) else {
                stats.malformed += 1;
                continue;
            };
            // The reading as a fact, its side from the sensor's mounting on /tf_static.
            let mut mounted_side = None;
            match tf.lookup("base_link", &r.header.frame_id) {
                Ok(base_from_sensor) => {
                    let axis = base_from_sensor.rotation * nalgebra::Vector3::x();
                    if let Some(fact) = UltrasonicFact::new(
                        pos,
                        stamp_ns(&r.header),
                        f64::from(r.range),
                        f64::from(r.min_range),
                        f64::from(r.max_range),
                        axis.y.atan2(axis.x),
                    ) {
                        mounted_side = Some(fact.side);
                        let q = readings.entry(pos.clone()).or_default();
                        q.push_back(fact);
                        // Keep a second: the fact sheet's time trails the newest reading.
                        while q
                            .front()
                            .zip(q.back())
                            .is_some_and(|(a, b)| b.stamp_ns - a.stamp_ns > 1_000_000_000)
                        {
                            q.pop_front();
                        }
                    }
                }
                Err(e) => {
                    if unmounted.insert(pos.clone()) {
                        node.log(
                            LogLevel::Warn,
                            &format!("ultrasonic {pos}: not in the fact sheet until its mounting is known: {e}"),
                        );
                    }
                }
            }
            let (range_m, min_range_m) = (f64::from(r.range), f64::from(r.min_range));
            // Nearer than the sensor can measure (REP 117: -inf, or under min_range): the most
            // urgent echo, said as a bound since its distance is not known.
            let too_close =
                range_m == f64::NEG_INFINITY || range_m.is_finite() && range_m < min_range_m;
            let near = too_close || range_m.is_finite() && range_m < params.near_range_m;
            let recent = near_alerted
                .get(pos)
                .is_some_and(|t| t.elapsed() < Duration::from_secs_f64(params.realert_s));
            if near && !recent {
                near_alerted.insert(pos.clone(), Instant::now());
                let said = if too_close {
                    format!("less than {min_range_m:.1} m")
                } else {
                    format!("{range_m:.1} m")
                };
                // The side as the mounting gives it (as the fact sheet and the checker have
                // it), never from the sensor's name; the name stays one token.
                let reason = match mounted_side {
                    Some(side) => format!(
                        "an obstacle was {said} away {} (parking sensor {pos})",
                        side.as_str()
                    ),
                    None => format!("an obstacle was {said} from parking sensor {pos}"),
                };
                let evidence = json!({
                    "topic": node.args().resolve_topic(topic),
                    "stamp_s": stamp_ns(&r.header) as f64 * 1e-9,
                    "range_m": range_m,
                    "min_range_m": min_range_m,
                    "under_min_range": too_close,
                });
                alert_pub.publish(&RosString {
                    data: json!({"text": format!("Warning: {reason}."), "source": "Template", "evidence": evidence}).to_string(),
                })?;
                stats.alerts += 1;
                if let Some(facts) = sheet(&ego, &objects, &health, &readings) {
                    last_warning = Some((reason, facts));
                }
                wake(&mut responder, &mut stats, &node);
                last_activity = Instant::now();
            }
        } else if tf_sub.is(&d) {
            match node.decode(tf_sub, &d) {
                Some(msg) => {
                    if let Err(e) = tf.add(&msg) {
                        node.log(LogLevel::Warn, &format!("/tf_static: {e}"));
                    }
                }
                None => stats.malformed += 1,
            }
        } else if odom_sub.is(&d) {
            match node.decode(odom_sub, &d) {
                Some(o) => {
                    ego = Some((
                        stamp_ns(&o.header),
                        (
                            o.pose.pose.position.x,
                            o.pose.pose.position.y,
                            o.pose.pose.orientation.yaw_rad(),
                        ),
                        o.twist.twist.linear.x,
                    ));
                }
                None => stats.malformed += 1,
            }
        } else if objects_sub.is(&d) {
            let Some(msg) = node.decode(objects_sub, &d) else {
                stats.malformed += 1;
                continue;
            };
            let stamp = stamp_ns(&msg.header);
            objects = Some((
                stamp,
                msg.objects
                    .iter()
                    .map(|o| WorldObject {
                        id: o.id,
                        class: class_from_code(o.classification),
                        x_m: o.pose.pose.position.x,
                        y_m: o.pose.pose.position.y,
                        vx_mps: o.twist.twist.linear.x,
                        vy_mps: o.twist.twist.linear.y,
                        existence: f64::from(o.existence_probability),
                        position_cov: [
                            o.pose.covariance[0],
                            o.pose.covariance[1],
                            o.pose.covariance[7],
                        ],
                        velocity_cov: [
                            o.twist.covariance[0],
                            o.twist.covariance[1],
                            o.twist.covariance[7],
                        ],
                    })
                    .collect(),
            ));
            let Some(facts) = sheet(&ego, &objects, &health, &readings) else {
                continue;
            };
            for h in debounce.update(&facts) {
                let recent = alerted
                    .get(&h.object_id)
                    .is_some_and(|t| stamp - t < (params.realert_s * 1e9) as i64);
                if recent {
                    continue;
                }
                alerted.insert(h.object_id, stamp);
                let o = facts.objects.iter().find(|o| o.id == h.object_id);
                let evidence = json!({
                    "topic": node.args().resolve_topic("/perception/objects"),
                    "stamp_s": stamp as f64 * 1e-9,
                    "object_id": h.object_id,
                    "distance_m": o.map(|o| o.distance_m),
                    "closing_mps": o.map(|o| o.closing_mps),
                    "ttc_s": o.and_then(|o| o.ttc_s),
                });
                let text = format!("Warning: {}.", h.reason);
                alert_pub.publish(&RosString {
                    data: json!({"text": text, "source": "Template", "evidence": evidence})
                        .to_string(),
                })?;
                stats.alerts += 1;
                last_warning = Some((h.reason.clone(), facts.clone()));
                // A hazard wakes the engine for the question that tends to follow.
                wake(&mut responder, &mut stats, &node);
                last_activity = Instant::now();
            }
        } else if diag_sub.is(&d) {
            let Some(msg) = node.decode(diag_sub, &d) else {
                stats.malformed += 1;
                continue;
            };
            let found = findings_from(&msg);
            if found.is_empty() {
                continue;
            }
            health = found;
            let new_errors: Vec<&HealthFact> = health
                .iter()
                .filter(|h| {
                    h.severity == "error"
                        && !reported.contains(&(h.component.clone(), h.kind.clone()))
                })
                .collect();
            if !new_errors.is_empty() {
                for h in &new_errors {
                    reported.insert((h.component.clone(), h.kind.clone()));
                    let evidence = json!({
                        "topic": node.args().resolve_topic("/diagnostics"),
                        "stamp_s": stamp_ns(&msg.header) as f64 * 1e-9,
                        "component": h.component,
                        "values": h.evidence.iter().map(|(k, v)| json!({k: v})).collect::<Vec<_>>(),
                    });
                    let text = format!(
                        "Sensor alert: {} has a {}.",
                        h.component,
                        h.kind.replace('_', " ")
                    );
                    alert_pub.publish(&RosString {
                        data: json!({"text": text, "source": "Template", "evidence": evidence})
                            .to_string(),
                    })?;
                    stats.alerts += 1;
                }
                // The summary: each finding phrased by the model and checked against the
                // findings, its template sentence where it fails or no model is usable.
                let sentences: Vec<String> = health
                    .iter()
                    .map(|h| edgefuse_dialogue::report::finding_sentence(&h.component, &h.kind))
                    .collect();
                wake(&mut responder, &mut stats, &node);
                let mut facts =
                    FactSheet::from_objects(stamp_ns(&msg.header), (0.0, 0.0, 0.0), 0.0, &[], &[]);
                facts.health = health.clone();
                let (text, source) = if responder.is_awake() {
                    match responder.phrase_each(&sentences, &facts) {
                        Ok(phrased) => phrased,
                        Err(e) => {
                            stats.engine_errors += 1;
                            node.log(
                                LogLevel::Error,
                                &format!("the LLM failed, the report is the template: {e}"),
                            );
                            (sentences.join(" "), "Template".to_string())
                        }
                    }
                } else {
                    (sentences.join(" "), "Template".to_string())
                };
                let mut report = report_msg(msg.header.clone(), &health, &text);
                report.text = format!("{text}\n\n_Summary: {source}._");
                report_pub.publish(&report)?;
                stats.reports += 1;
                last_activity = Instant::now();
            }
        } else if request_sub.is(&d) {
            stats.requests += 1;
            let Some(msg) = node.decode(request_sub, &d) else {
                stats.malformed += 1;
                continue;
            };
            // By arrival time: a flood queued while an answer was being generated is a flood.
            if !limit.allow(d.received) {
                stats.rate_limited += 1;
                response_pub.publish(&RosString { data: json!({"text": "I am still answering; please ask again in a moment.", "source": "RateLimited", "request": msg.data}).to_string() })?;
                continue;
            }
            let Some(facts) = sheet(&ego, &objects, &health, &readings) else {
                response_pub.publish(&RosString { data: json!({"text": "I have no picture of the road yet.", "source": "Template", "request": msg.data}).to_string() })?;
                stats.answered += 1;
                continue;
            };
            let was_awake = responder.is_awake();
            let (facts, warning) = match (
                &last_warning,
                edgefuse_dialogue::intent::classify(&msg.data),
            ) {
                (Some((reason, then)), edgefuse_dialogue::Intent::WhyWarned) => {
                    (then.clone(), Some(reason.clone()))
                }
                _ => (facts, None),
            };
            // Without a working model (missing or refused file) the driver still gets the
            // deterministic answer; the error is logged and counted, the node goes on.
            let answer = match responder.answer(
                msg.data.as_bytes(),
                &facts,
                warning.as_deref(),
                &mut |_| {},
            ) {
                Ok(a) => a,
                Err(e) => {
                    stats.engine_errors += 1;
                    node.log(
                        LogLevel::Error,
                        &format!("the LLM failed, answering from the template: {e}"),
                    );
                    edgefuse_dialogue::dialogue::template_only(
                        msg.data.as_bytes(),
                        &facts,
                        warning.as_deref(),
                    )
                }
            };
            if !was_awake && responder.is_awake() {
                stats.wakes += 1;
            }
            if answer.source == edgefuse_dialogue::AnswerSource::Refused {
                stats.refused += 1;
            }
            stats.answered += 1;
            last_activity = Instant::now();
            let evidence = json!({
                "topics": [node.args().resolve_topic("/perception/objects"), node.args().resolve_topic("/localization/odometry")],
                "stamp_s": facts.stamp_ns as f64 * 1e-9,
                "objects": facts.objects.iter().take(5).map(|o| json!({"id": o.id, "distance_m": o.distance_m, "side": o.side.as_str()})).collect::<Vec<_>>(),
                "ultrasonic": facts.ultrasonic.iter().map(|u| json!({
                    "topic": node.args().resolve_topic(&format!("{prefix}/sensors/ultrasonic/{}/range", u.sensor)),
                    "stamp_s": u.stamp_ns as f64 * 1e-9,
                    "side": u.side.as_str(),
                    "range_m": u.range_m(),
                    "suspect": u.suspect,
                })).collect::<Vec<_>>(),
            });
            response_pub.publish(&RosString { data: json!({"text": answer.text, "source": answer.source, "request": msg.data, "evidence": evidence}).to_string() })?;
        }
    }
    Ok(stats)
}

/// `main` of the `hmi_node` binary: standard ROS 2 arguments, DDS on `ROS_DOMAIN_ID`.
pub fn main() -> Result<()> {
    let args =
        NodeArgs::parse("hmi", std::env::args().skip(1)).context("reading the ROS arguments")?;
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    let transport = DdsTransport::for_node(&args).context("joining DDS")?;
    let stats = run(args, Arc::new(transport), &shutdown)?;
    eprintln!("hmi: {stats:?}");
    Ok(())
}
