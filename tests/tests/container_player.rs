//! The bag player composed in the one-process container (`pipeline_container` with
//! `bag:=PATH`, as rosbag2's Player component is loaded into a container), over DDS inside a
//! private loopback-only network namespace: the container plays the whole parking drive to the
//! composed ingest and fusion nodes in memory, publishes the fusion outputs to the network,
//! and ends by itself at the end of the bag.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use edgefuse_bag::{BagReader, ReadOptions};
use edgefuse_msgs::edgefuse_msgs::TrackedObjectArray;
use edgefuse_ros::dds::DdsTransport;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::{Node, NodeArgs, Qos};
use edgefuse_system_tests::netns;

fn dds(name: &str) -> Arc<DdsTransport> {
    Arc::new(DdsTransport::new(0, "/", name).unwrap())
}

#[test]
fn the_container_plays_a_bag_to_its_nodes_in_memory_and_stops_at_its_end() {
    if !netns::isolated("the_container_plays_a_bag_to_its_nodes_in_memory_and_stops_at_its_end") {
        return;
    }
    let bag = edgefuse_system_tests::sample_bag("parking").unwrap();
    // Every message of the bag, counted by its reader (the player must publish them all).
    let reader = BagReader::open(&bag).unwrap();
    let in_bag = reader
        .messages(&ReadOptions::default())
        .filter(|m| m.is_ok())
        .count() as u64;
    let lidar_sweeps = reader
        .topics()
        .iter()
        .find(|t| t.name == "/sensors/lidar/points")
        .map(|t| t.message_count)
        .unwrap();
    // An outside subscriber (its own DDS participant) to the container's outputs.
    let mut probe = Node::new(
        NodeArgs::parse("probe", Vec::<String>::new()).unwrap(),
        dds("probe"),
    )
    .unwrap();
    let objects = probe
        .subscribe::<TrackedObjectArray>("/perception/objects", Qos::RELIABLE)
        .unwrap();
    let container = {
        let raw: Vec<String> = [
            "--ros-args",
            "-r",
            "__node:=pipeline_container",
            "-p",
            "use_sim_time:=true",
            "-p",
            &format!("bag:={}", bag.display()),
            "-p",
            "rate:=2.0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        std::thread::spawn(move || {
            // No one asks it to stop: the end of the bag does.
            edgefuse_fusion_node::container::run(
                raw,
                dds("pipeline_container"),
                &Shutdown::manual(),
            )
            .unwrap()
        })
    };
    let mut received = 0u64;
    while !container.is_finished() {
        if let Some(d) = probe.recv(Duration::from_millis(50)).unwrap() {
            received += u64::from(probe.decode(objects, &d).is_some());
        }
    }
    let report = container.join().unwrap();
    let player = report.player.expect("the player was composed");
    let published: u64 = player.published.values().sum();
    eprintln!(
        "published {published} of {in_bag}, {} cycles, {received} object arrays received, latency max {:.1} ms",
        report.fusion.cycles,
        report.fusion.latency_ns.iter().max().copied().unwrap_or(0) as f64 / 1e6
    );
    assert_eq!(published, in_bag, "{:?}", player.failed);
    assert!(player.failed.is_empty(), "{:?}", player.failed);
    // A cycle per LiDAR sweep (the first ones wait for the ego filter), each published.
    assert!(
        report.fusion.cycles + 5 >= lidar_sweeps && report.fusion.cycles <= lidar_sweeps,
        "{} cycles for {lidar_sweeps} sweeps",
        report.fusion.cycles
    );
    assert!(received + 10 >= report.fusion.cycles, "{received} received");
    // In memory: the sweeps reached the fusion node without a DDS hop, and were tracked.
    assert_eq!(report.fusion.lidar_arrival_ns.len() as u64, lidar_sweeps);
    assert_eq!(report.fusion.deadline_misses, 0);
}
