//! The whole pipeline in one process, like a ROS 2 component container: the five ingest nodes
//! and the fusion node share one DDS participant for the sensor topics and the outputs, and
//! pass the validated sensor messages (`/ingest/...`) to each other in memory.
//!
//! Arguments are the standard ROS 2 ones; parameters apply to every composed node, a params
//! file may address each by name (`lidar_ingest`, ..., `fusion_node`).

use std::sync::Arc;

use anyhow::Context;
use edgefuse_ingest::SensorKind;
use edgefuse_ros::dds::DdsTransport;
use edgefuse_ros::inproc::Routed;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::{NodeArgs, Transport};

fn main() -> anyhow::Result<()> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let container =
        NodeArgs::parse("pipeline_container", raw.clone()).context("reading the ROS arguments")?;
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    let dds = DdsTransport::for_node(&container).context("joining DDS")?;
    let transport: Arc<dyn Transport> = Arc::new(Routed::new("/ingest", Arc::new(dds)));
    let mut workers = Vec::new();
    for kind in [
        SensorKind::Lidar,
        SensorKind::Radar,
        SensorKind::Camera,
        SensorKind::Ultrasonic,
        SensorKind::Imu,
    ] {
        let args = NodeArgs::parse(kind.default_name(), raw.clone())?;
        let (t, stop) = (Arc::clone(&transport), shutdown.clone());
        workers.push(
            std::thread::Builder::new()
                .name(kind.default_name().into())
                .spawn(move || edgefuse_ingest::run(kind, args, t, &stop).map(|_| ()))
                .context("starting an ingest node")?,
        );
    }
    let args = NodeArgs::parse("fusion_node", raw)?;
    let report = edgefuse_fusion_node::live::run(args, transport, &shutdown);
    shutdown.request();
    for w in workers {
        match w.join() {
            Ok(r) => r?,
            Err(_) => anyhow::bail!("an ingest node panicked"),
        }
    }
    let report = report?;
    eprintln!("SUMMARY {}", report.summary_json());
    Ok(())
}
