//! The whole pipeline in one process, like a ROS 2 component container: the five ingest nodes,
//! the fusion node and (with the parameter `hmi:=true`) the HMI node share one transport. The
//! validated sensor messages (`/ingest/...`) pass between them in memory; the fusion node's
//! outputs (`/localization/odometry`, `/perception/objects`, `/diagnostics`) go to the network
//! and, in memory, to the HMI node composed beside it; everything else (sensor inputs,
//! `/tf_static`, `/hmi/request`, the HMI's outputs) goes over `remote`.
//!
//! With the parameter `bag:=PATH` (and `rate`) the container hosts the bag player too, as
//! rosbag2's `Player` component is composed: the bag's topics and `/clock` then reach the
//! composed nodes in memory (and the network), and the end of the bag ends the container.
//!
//! Arguments are the standard ROS 2 ones. As in a ROS 2 component container, a `__node` remap
//! names the container only: each composed node keeps its own name (`lidar_ingest`, ...,
//! `fusion_node`, `hmi`), by which a params file addresses it; the container's own parameters
//! (its section, `-p`) apply to every composed node that does not set them itself.

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
    /// The player's, when it was composed (`bag:=...`).
    pub player: Option<crate::player::PlayStats>,
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
    let mut shared: Vec<String> = [
        ContractTopic::Odometry,
        ContractTopic::Objects,
        ContractTopic::Diagnostics,
    ]
    .iter()
    .map(|t| container.resolve_topic(&t.name()))
    .collect();
    // With `bag:=PATH` the container also hosts the bag player (as rosbag2's Player component
    // is loaded into a container): the bag's topics and `/clock` reach the composed nodes in
    // memory, and the network too.
    let bag = container
        .string_or("bag", "")
        .context("reading the container's bag parameter")?;
    let rate = container
        .f64_or("rate", 1.0)
        .context("reading the container's rate parameter")?;
    if !bag.is_empty() {
        let reader = edgefuse_bag::BagReader::open(std::path::Path::new(&bag))
            .with_context(|| format!("opening the bag {bag}"))?;
        shared.extend(reader.topics().iter().map(|t| t.name.clone()));
        shared.push("/clock".to_string());
    }
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
        let args = component_args(kind.default_name(), &raw, &container)
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
            component_args("hmi", &raw, &container).context("reading the HMI's ROS arguments")?;
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
    let args = component_args("fusion_node", &raw, &container)
        .context("reading the fusion node's ROS arguments")?;
    let player = if bag.is_empty() {
        None
    } else {
        let args = component_args("player", &raw, &container)
            .context("reading the player's ROS arguments")?;
        let (t, stop) = (Arc::clone(&transport), shutdown.clone());
        let path = std::path::PathBuf::from(&bag);
        Some(
            std::thread::Builder::new()
                .name("player".into())
                .spawn(move || {
                    let stats = crate::player::play(
                        &path,
                        rate,
                        &edgefuse_bag::ReadOptions::default(),
                        args,
                        t,
                        &stop,
                    );
                    // The end of the bag ends the container (on_exit="shutdown" in launch).
                    stop.request();
                    stats
                })
                .context("starting the player")?,
        )
    };
    let report = crate::live::run(args, transport, shutdown);
    shutdown.request();
    for w in workers {
        match w.join() {
            Ok(r) => r.context("an ingest node")?,
            Err(_) => anyhow::bail!("an ingest node panicked"),
        }
    }
    let player = match player.map(|h| h.join()) {
        None => None,
        Some(Ok(stats)) => Some(stats.context("the player")?),
        Some(Err(_)) => anyhow::bail!("the player panicked"),
    };
    let hmi = match hmi.map(|h| h.join()) {
        None => None,
        Some(Ok(stats)) => Some(stats.context("the HMI node")?),
        Some(Err(_)) => anyhow::bail!("the HMI node panicked"),
    };
    Ok(ContainerReport {
        fusion: report.context("the fusion node")?,
        hmi,
        player,
    })
}

/// A composed node's arguments from the container's command line: without the un-prefixed
/// `__node`/`__name` remaps (they name the container), so that the node keeps `name` and its
/// section of a params file; then the container's own parameters for those it does not set.
fn component_args(name: &str, raw: &[String], container: &NodeArgs) -> Result<NodeArgs> {
    let mut own = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let names_container = matches!(raw[i].as_str(), "-r" | "--remap")
            && raw
                .get(i + 1)
                .is_some_and(|r| r.starts_with("__node:=") || r.starts_with("__name:="));
        if names_container {
            i += 2;
            continue;
        }
        own.push(raw[i].clone());
        i += 1;
    }
    let mut args = NodeArgs::parse(name, own)?;
    for (key, value) in &container.params {
        args.params
            .entry(key.clone())
            .or_insert_with(|| value.clone());
    }
    Ok(args)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn composed_nodes_keep_their_names_and_sections_and_inherit_the_containers_params() {
        let dir = std::env::temp_dir().join(format!("edgefuse-container-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("params.yaml");
        std::fs::write(
            &file,
            "/**/fusion_node:\n  ros__parameters:\n    lidar_threads: 3\n    deadline_ms: 40\n\
             /**/lidar_ingest:\n  ros__parameters:\n    max_rate_hz: 12.0\n\
             /**/pipeline_container:\n  ros__parameters:\n    use_sim_time: true\n    deadline_ms: 45\n",
        )
        .unwrap();
        let raw: Vec<String> = [
            "--ros-args",
            "-r",
            "__node:=pipeline_container",
            "-r",
            "__ns:=/car",
            "--params-file",
            file.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let container = NodeArgs::parse("pipeline_container", raw.clone()).unwrap();
        assert_eq!(container.node_name, "pipeline_container");
        let fusion = component_args("fusion_node", &raw, &container).unwrap();
        assert_eq!(fusion.node_name, "fusion_node");
        assert_eq!(fusion.namespace, "/car");
        assert_eq!(fusion.i64_or("lidar_threads", 2).unwrap(), 3);
        // The node's own section wins over the container's.
        assert_eq!(fusion.f64_or("deadline_ms", 50.0).unwrap(), 40.0);
        assert!(fusion.bool_or("use_sim_time", false).unwrap());
        let lidar = component_args("lidar_ingest", &raw, &container).unwrap();
        assert_eq!(lidar.node_name, "lidar_ingest");
        assert_eq!(lidar.f64_or("max_rate_hz", 20.0).unwrap(), 12.0);
        assert_eq!(lidar.f64_or("deadline_ms", 50.0).unwrap(), 45.0);
        assert!(lidar.bool_or("use_sim_time", false).unwrap());
        assert_eq!(lidar.i64_or("lidar_threads", 2).unwrap(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
