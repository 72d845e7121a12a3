//! The bag player as a node: publishes a rosbag2 bag on its topics at a rate, with `/clock`
//! (sim time), through any transport: over DDS as `edgefuse replay`, or composed in the
//! pipeline container (`bag:=...`), as rosbag2's `Player` is loaded into a component
//! container, so that the sensor messages reach the ingest nodes in memory.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use edgefuse_bag::{BagReader, ReadOptions};
use edgefuse_msgs::builtin_interfaces::Time;
use edgefuse_msgs::rosgraph_msgs::Clock;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::transport::RawPublisher;
use edgefuse_ros::{LogLevel, Node, NodeArgs, Qos, Transport};

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
    /// Per message: how long after its due time it was handed to DDS, ns (the player's own
    /// lateness, part of any end-to-end latency measured downstream).
    pub late_ns: Vec<i64>,
}

impl PlayStats {
    /// The `q` quantile of the lateness, ms.
    pub fn late_ms(&self, q: f64) -> f64 {
        crate::live::quantile_ms(&self.late_ns, q)
    }
}

/// Messages the player's reader thread decodes ahead of their due time, as rosbag2's player
/// keeps a read-ahead queue: chunk decompression then never delays a publication.
pub const READ_AHEAD_MESSAGES: usize = 512;

/// The QoS a bag topic is replayed with (from its recorded profile).
pub fn to_qos(q: Option<edgefuse_bag::Qos>, topic: &str) -> Qos {
    match q {
        Some(edgefuse_bag::Qos::Latched) => Qos::Latched { depth: 100 },
        Some(edgefuse_bag::Qos::SensorData) => Qos::SENSOR,
        Some(edgefuse_bag::Qos::Reliable) => Qos::RELIABLE,
        None if topic == "/tf_static" => Qos::Latched { depth: 100 },
        None => Qos::RELIABLE,
    }
}

/// Publishes `data` on `topic` when it has a publisher, counting it as published or failed.
fn publish_counted(
    publishers: &BTreeMap<String, Box<dyn RawPublisher>>,
    topic: &str,
    data: Vec<u8>,
    stats: &mut PlayStats,
) {
    if let Some(p) = publishers.get(topic) {
        let counts = match p.publish(data) {
            Ok(()) => &mut stats.published,
            Err(_) => &mut stats.failed,
        };
        *counts.entry(topic.to_string()).or_insert(0) += 1;
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
        if t.unreadable.is_some() || !options.selects(&t.name) {
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
    // Started later than the bag: what the latched topics (the static transforms) recorded
    // before the start still holds, as a subscriber joining then would receive it; it goes
    // out first.
    if let Some(start_ns) = options.start_ns {
        let latched: Vec<String> = reader
            .topics()
            .iter()
            .filter(|t| {
                publishers.contains_key(&t.name)
                    && matches!(to_qos(t.qos, &t.name), Qos::Latched { .. })
            })
            .map(|t| t.name.clone())
            .collect();
        if !latched.is_empty() {
            let before = ReadOptions {
                topics: Some(latched),
                start_ns: None,
                end_ns: Some(start_ns),
            };
            for m in reader.messages(&before) {
                match m {
                    Ok(m) => publish_counted(&publishers, &m.topic, m.data, &mut stats),
                    Err(e) => node.log(LogLevel::Error, &format!("{}: {e}", bag.display())),
                }
            }
        }
    }
    let start_wall = Instant::now();
    let mut first_ns: Option<u64> = None;
    let mut last_progress = Instant::now();
    let mut last_clock_ns = 0u64;
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(READ_AHEAD_MESSAGES);
        std::thread::Builder::new()
            .name("bag-read-ahead".into())
            .spawn_scoped(scope, move || {
                for m in reader.messages(options) {
                    if tx.send(m).is_err() {
                        break; // the player stopped
                    }
                }
            })
            .context("starting the bag reader thread")?;
        for m in rx {
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
            stats.late_ns.push(
                i64::try_from(start_wall.elapsed().saturating_sub(due).as_nanos())
                    .unwrap_or(i64::MAX),
            );
            if m.log_time_ns > last_clock_ns {
                last_clock_ns = m.log_time_ns;
                let c = Clock {
                    clock: Time::from_nanos(i64::try_from(m.log_time_ns).unwrap_or(i64::MAX)),
                };
                let _ = clock.publish(&c);
            }
            publish_counted(&publishers, &m.topic, m.data, &mut stats);
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
        // Dropping the receiver here stops the reader thread at its next message.
        Ok(())
    })?;
    eprintln!();
    stats.wall_s = start_wall.elapsed().as_secs_f64();
    Ok(stats)
}
