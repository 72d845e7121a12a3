//! The whole pipeline in one process, like a ROS 2 component container (see
//! `edgefuse_fusion_node::container`): the five ingest nodes, the fusion node and, with
//! `-p hmi:=true`, the HMI node, and with `-p bag:=PATH` the bag player, on one DDS
//! participant.

use std::sync::Arc;

use anyhow::Context;
use edgefuse_ros::dds::DdsTransport;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::NodeArgs;

fn main() -> anyhow::Result<()> {
    edgefuse_ros::rt::keep_heap_memory();
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let container =
        NodeArgs::parse("pipeline_container", raw.clone()).context("reading the ROS arguments")?;
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    let dds = DdsTransport::for_node(&container).context("joining DDS")?;
    let report = edgefuse_fusion_node::container::run(raw, Arc::new(dds), &shutdown)?;
    if let Some(hmi) = &report.hmi {
        eprintln!("hmi: {hmi:?}");
    }
    if let Some(player) = &report.player {
        let n: u64 = player.published.values().sum();
        eprintln!(
            "player: {n} messages, {:.1} s of bag in {:.1} s; lateness behind the bag's timeline p50 {:.2} ms, p99 {:.2} ms",
            player.bag_s,
            player.wall_s,
            player.late_ms(0.5),
            player.late_ms(0.99)
        );
    }
    eprintln!("SUMMARY {}", report.fusion.summary_json());
    Ok(())
}
