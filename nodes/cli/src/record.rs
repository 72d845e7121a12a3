//! `edgefuse record OUT --topics T ...`: live topics (over DDS) into a rosbag2 bag (metadata.yaml
//! + MCAP, zstd chunks), like `ros2 bag record`, until SIGINT/SIGTERM.
//!
//! A topic's type comes from the topic contract, or from `TOPIC@pkg/msg/Type` for any other
//! topic of a type we know. Each message is stored with its arrival time on the node's clock
//! (`/clock` under `use_sim_time`), byte for byte as it arrived.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use edgefuse_bag::{BagSummary, BagWriteOptions, BagWriter};
use edgefuse_fusion_node::topics::ContractTopic;
use edgefuse_ros::dds::DdsTransport;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::{Node, NodeArgs, Qos, Transport};

/// `edgefuse record` arguments.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Output bag directory (must not exist or be empty).
    pub out: PathBuf,
    /// Topics to record: contract topics, or `TOPIC@pkg/msg/Type`.
    #[arg(long, num_args = 1.., required = true)]
    pub topics: Vec<String>,
    /// Standard ROS 2 arguments (`--ros-args ...`), as `ros2 launch` passes them.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub ros_args: Vec<String>,
}

/// `TOPIC` or `TOPIC@TYPE` to (topic, type).
pub fn topic_and_type(spec: &str) -> Result<(String, String)> {
    if let Some((topic, ty)) = spec.split_once('@') {
        if edgefuse_msgs::schema::schema_text(ty).is_err() {
            bail!("--topics {spec}: {ty} is not a message type edgefuse knows");
        }
        return Ok((topic.to_string(), ty.to_string()));
    }
    match ContractTopic::parse(spec) {
        Some(t) => Ok((spec.to_string(), t.type_name().to_string())),
        None => bail!(
            "--topics {spec}: not a topic of the contract, so its type is unknown \
             (write it as {spec}@pkg/msg/Type)"
        ),
    }
}

/// What a recording holds.
#[derive(Debug, Clone, Default)]
pub struct RecordStats {
    /// Messages written, per topic.
    pub written: BTreeMap<String, u64>,
}

/// Records `topics` (topic, type) from `transport` into the bag directory `out` until
/// `shutdown`.
pub fn record(
    out: &Path,
    topics: &[(String, String)],
    args: NodeArgs,
    transport: Arc<dyn Transport>,
    shutdown: &Shutdown,
) -> Result<(RecordStats, BagSummary)> {
    let mut node = Node::new(args, transport).context("starting the recorder node")?;
    let mut writer = BagWriter::create(out, BagWriteOptions::default())
        .with_context(|| format!("creating {}", out.display()))?;
    let mut by_id: BTreeMap<usize, String> = BTreeMap::new();
    for (topic, ty) in topics {
        let latched = topic == "/tf_static";
        // A best-effort reader matches reliable and best-effort writers alike.
        let (qos, bag_qos) = if latched {
            (Qos::Latched { depth: 100 }, edgefuse_bag::Qos::Latched)
        } else {
            (Qos::SensorData { depth: 100 }, edgefuse_bag::Qos::Reliable)
        };
        let id = node
            .subscribe_raw(topic, ty, qos)
            .with_context(|| format!("subscribing to {topic}"))?;
        let resolved = node.topic_of(id).unwrap_or(topic).to_string();
        writer
            .add_topic(&resolved, ty, bag_qos)
            .with_context(|| format!("adding {resolved} ({ty}) to the bag"))?;
        by_id.insert(id, resolved);
    }
    let mut stats = RecordStats::default();
    while !shutdown.requested() {
        let Some(d) = node.recv(Duration::from_millis(50))? else {
            continue;
        };
        let Some(topic) = by_id.get(&d.sub_id) else {
            continue;
        };
        writer
            .write_raw(topic, node.now_ns(), &d.payload)
            .with_context(|| format!("writing {topic} to {}", out.display()))?;
        *stats.written.entry(topic.clone()).or_insert(0) += 1;
    }
    let summary = writer
        .finish()
        .with_context(|| format!("finishing {}", out.display()))?;
    Ok((stats, summary))
}

/// Runs `edgefuse record`.
pub fn run(a: RecordArgs) -> Result<()> {
    let topics = a
        .topics
        .iter()
        .map(|t| topic_and_type(t))
        .collect::<Result<Vec<_>>>()?;
    let args = NodeArgs::parse("recorder", a.ros_args.clone()).context("reading ROS arguments")?;
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    let transport = DdsTransport::for_node(&args).context("joining DDS")?;
    let (stats, _) = record(&a.out, &topics, args, Arc::new(transport), &shutdown)?;
    let n: u64 = stats.written.values().sum();
    println!(
        "recorded {n} messages to {}: {:?}",
        a.out.display(),
        stats.written
    );
    Ok(())
}
