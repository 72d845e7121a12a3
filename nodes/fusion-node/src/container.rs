//! The whole pipeline in one process, like a ROS 2 component container: the five ingest nodes,
//! the fusion node and (with the parameter `hmi:=true`) the HMI node share one transport. The
//! validated sensor messages (`/ingest/...`) pass between them in memory; the fusion node's
//! outputs (`/localization/odometry`, `/perception/objects`, `/diagnostics`) go to the network
//! and, in memory, to the HMI node composed beside it; everything else (sensor inputs,
//! `/tf_static`, `/hmi/request`, the HMI's outputs) goes over `remote`.
//!
//! Arguments are the standard ROS 2 ones; parameters apply to every composed node, a params
//! file may address each by name (`lidar_ingest`, ..., `fusion_node`, `hmi`).

use std::sync::Arc;

use anyhow::{Context, Result};
use edgefuse_ingest::SensorKind;
use edgefuse_ros::inproc::Routed;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::{NodeArgs, Transport};

use crate::live::LiveReport;
use crate::topics::ContractTopic;

/// What the composed nodes did.
#[derive(Debug)]
pub struct ContainerReport {
    /// The fusion node's report.
    pub fusion: LiveReport,
    /// The HMI node's counters, when it was composed.
    pub hmi: Option<edgefuse_hmi::HmiStats>,
}

/// Runs the composed nodes over `remote` until `shutdown`; `raw` is the container's command
/// line (standard ROS 2 arguments).
pub fn run(
    raw: Vec<String>,
    remote: Arc<dyn Transport>,
    shutdown: &Shutdown,
) -> Result<ContainerReport> {
    let container =
        NodeArgs::parse("pipeline_container", raw.clone()).context("reading the ROS arguments")?;
    let with_hmi = container
        .bool_or("hmi", false)
        .context("reading the container's hmi parameter")?;
    // The fusion node's outputs: in memory for the HMI, and over DDS for everyone else.
    let shared: Vec<String> = [
        ContractTopic::Odometry,
        ContractTopic::Objects,
        ContractTopic::Diagnostics,
    ]
    .iter()
    .map(|t| container.resolve_topic(&t.name()))
    .collect();
    let shared: Vec<&str> = shared.iter().map(String::as_str).collect();
    let transport: Arc<dyn Transport> =
        Arc::new(Routed::new("/ingest", remote).with_shared(&shared));
    let mut workers = Vec::new();
    for kind in [
        SensorKind::Lidar,
        SensorKind::Radar,
        SensorKind::Camera,
        SensorKind::Ultrasonic,
        SensorKind::Imu,
    ] {
        let args = NodeArgs::parse(kind.default_name(), raw.clone())
            .with_context(|| format!("reading the ROS arguments of {}", kind.default_name()))?;
        let (t, stop) = (Arc::clone(&transport), shutdown.clone());
        workers.push(
            std::thread::Builder::new()
                .name(kind.default_name().into())
                .spawn(move || edgefuse_ingest::run(kind, args, t, &stop).map(|_| ()))
                .context("starting an ingest node")?,
        );
    }
    let hmi = if with_hmi {
        let args =
            NodeArgs::parse("hmi", raw.clone()).context("reading the HMI's ROS arguments")?;
        let (t, stop) = (Arc::clone(&transport), shutdown.clone());
        Some(
            std::thread::Builder::new()
                .name("hmi".into())
                .spawn(move || edgefuse_hmi::run(args, t, &stop))
                .context("starting the HMI node")?,
        )
    } else {
        None
    };
    let args =
        NodeArgs::parse("fusion_node", raw).context("reading the fusion node's ROS arguments")?;
    let report = crate::live::run(args, transport, shutdown);
    shutdown.request();
    for w in workers {
        match w.join() {
            Ok(r) => r.context("an ingest node")?,
            Err(_) => anyhow::bail!("an ingest node panicked"),
        }
    }
    let hmi = match hmi.map(|h| h.join()) {
        None => None,
        Some(Ok(stats)) => Some(stats.context("the HMI node")?),
        Some(Err(_)) => anyhow::bail!("the HMI node panicked"),
    };
    Ok(ContainerReport {
        fusion: report.context("the fusion node")?,
        hmi,
    })
}
