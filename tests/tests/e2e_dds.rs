//! End to end over DDS, every node its own DDS participant (as separate processes would be),
//! inside a private loopback-only network namespace: the player replays a sample drive with
//! `/clock` at the recording's pace, the five ingest nodes validate and republish, the fusion
//! node publishes odometry, objects and diagnostics.
//! - Mid-replay the LiDAR ingest node is stopped: fusion goes on without it (the radar triggers
//!   degraded cycles, listing the LiDAR as absent: odometry and objects keep coming), and
//!   `/diagnostics` names the missing LiDAR within 1 s; started again, the LiDAR is reported OK again and leads the cycles.
//! - Throughout, a babbling IMU driver repeats every IMU message 10 times (10x the nominal
//!   rate): the IMU ingest node drops and counts the excess, and no cycle misses its deadline.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use edgefuse_bag::{BagReader, ReadOptions};
use edgefuse_ingest::SensorKind;
use edgefuse_msgs::diagnostic_msgs::{DiagnosticArray, DiagnosticStatus};
use edgefuse_msgs::edgefuse_msgs::TrackedObjectArray;
use edgefuse_msgs::nav_msgs::Odometry;
use edgefuse_msgs::sensor_msgs::Imu;
use edgefuse_ros::dds::DdsTransport;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::{Node, NodeArgs, Qos};
use edgefuse_system_tests::netns;

fn dds(name: &str) -> Arc<DdsTransport> {
    Arc::new(DdsTransport::new(0, "/", name).unwrap())
}

#[test]
fn replay_over_dds_with_a_node_killed_mid_drive() {
    if !netns::isolated("replay_over_dds_with_a_node_killed_mid_drive") {
        return;
    }
    let bag = edgefuse_system_tests::sample_bag("highway_cut_in").unwrap();
    let stop_all = Shutdown::manual();
    let stop_lidar = Shutdown::manual();
    let mut ingest = Vec::new();
    for kind in [
        SensorKind::Lidar,
        SensorKind::Radar,
        SensorKind::Camera,
        SensorKind::Ultrasonic,
        SensorKind::Imu,
    ] {
        let stop = if kind == SensorKind::Lidar {
            stop_lidar.clone()
        } else {
            stop_all.clone()
        };
        ingest.push(std::thread::spawn(move || {
            let args = NodeArgs::parse(kind.default_name(), Vec::<String>::new()).unwrap();
            edgefuse_ingest::run(kind, args, dds(kind.default_name()), &stop).unwrap()
        }));
    }
    let fusion = {
        let stop = stop_all.clone();
        std::thread::spawn(move || {
            let args =
                NodeArgs::parse("fusion_node", ["--ros-args", "-p", "use_sim_time:=true"]).unwrap();
            edgefuse_fusion_node::live::run(args, dds("fusion_node"), &stop).unwrap()
        })
    };
    let mut probe = Node::new(
        NodeArgs::parse("probe", Vec::<String>::new()).unwrap(),
        dds("probe"),
    )
    .unwrap();
    let odom_sub = probe
        .subscribe::<Odometry>("/localization/odometry", Qos::RELIABLE)
        .unwrap();
    let obj_sub = probe
        .subscribe::<TrackedObjectArray>("/perception/objects", Qos::RELIABLE)
        .unwrap();
    let diag_sub = probe
        .subscribe::<DiagnosticArray>("/diagnostics", Qos::RELIABLE)
        .unwrap();
    // The babbling IMU: every IMU message again 9 times, at once.
    let flooder = {
        let stop = stop_all.clone();
        std::thread::spawn(move || {
            let mut n = Node::new(
                NodeArgs::parse("imu_babbler", Vec::<String>::new()).unwrap(),
                dds("imu_babbler"),
            )
            .unwrap();
            let sub = n.subscribe::<Imu>("/sensors/imu", Qos::SENSOR).unwrap();
            let publ = n.advertise::<Imu>("/sensors/imu", Qos::SENSOR).unwrap();
            let mut seen = std::collections::BTreeSet::new();
            while !stop.requested() {
                if let Some(d) = n.recv(Duration::from_millis(50)).unwrap() {
                    // Only the player's messages (stamps not seen yet) are repeated.
                    if let Some(m) = n.decode(sub, &d) {
                        if seen.insert(m.header.stamp) {
                            for _ in 0..9 {
                                publ.publish(&m).unwrap();
                            }
                        }
                    }
                }
            }
        })
    };
    // The player: 13 s of the drive at its own pace.
    let player = {
        let stop = stop_all.clone();
        let bag = bag.clone();
        std::thread::spawn(move || {
            let reader = BagReader::open(&bag).unwrap();
            let (first, _) = reader.time_range_ns().unwrap();
            let opts = ReadOptions {
                end_ns: Some(first + 13_000_000_000),
                ..ReadOptions::default()
            };
            let args = NodeArgs::parse("player", Vec::<String>::new()).unwrap();
            edgefuse_fusion_node::player::play(&bag, 1.0, &opts, args, dds("player"), &stop)
                .unwrap()
        })
    };
    let start = Instant::now();
    let (mut odom, mut objects, mut odom_after_kill, mut objects_after_kill) = (0, 0, 0, 0);
    let mut killed_at: Option<Instant> = None;
    let mut absent_lidar_reports = 0;
    let mut lidar_missing_after: Option<Duration> = None;
    let mut restarted_at: Option<Instant> = None;
    let mut tracker_reasons = 0;
    let mut lidar_ok_after_restart: Option<Duration> = None;
    let mut restarted = None;
    while start.elapsed() < Duration::from_secs(16) {
        if killed_at.is_none() && start.elapsed() > Duration::from_secs(4) {
            stop_lidar.request();
            killed_at = Some(Instant::now());
        }
        if restarted_at.is_none() && start.elapsed() > Duration::from_secs(8) {
            let stop = stop_all.clone();
            restarted = Some(std::thread::spawn(move || {
                let kind = SensorKind::Lidar;
                let args = NodeArgs::parse(kind.default_name(), Vec::<String>::new()).unwrap();
                edgefuse_ingest::run(kind, args, dds("lidar_ingest_again"), &stop).unwrap()
            }));
            restarted_at = Some(Instant::now());
        }
        let Some(d) = probe.recv(Duration::from_millis(50)).unwrap() else {
            continue;
        };
        if probe.decode(odom_sub, &d).is_some() {
            odom += 1;
            if killed_at.is_some() {
                odom_after_kill += 1;
            }
        } else if probe.decode(obj_sub, &d).is_some() {
            objects += 1;
            if killed_at.is_some() && restarted_at.is_none() {
                objects_after_kill += 1;
            }
        } else if let Some(diag) = probe.decode(diag_sub, &d) {
            // Refused inputs are exposed per reason (tracker) and per counter (ego EKF).
            if let Some(t) = diag.status.iter().find(|s| s.hardware_id == "tracker") {
                let keys: Vec<&str> = t.values.iter().map(|v| v.key.as_str()).collect();
                tracker_reasons = tracker_reasons
                    .max(keys.iter().filter(|k| k.starts_with("rejected: ")).count());
            }
            // The cycles the radar leads list the LiDAR as absent (not waited for).
            let cycle_without_lidar = diag.status.iter().any(|s| {
                s.hardware_id == "fusion"
                    && s.level == DiagnosticStatus::WARN
                    && s.values
                        .iter()
                        .any(|v| v.key == "absent" && v.value.split(',').any(|c| c == "lidar"))
            });
            if killed_at.is_some() && restarted_at.is_none() && cycle_without_lidar {
                absent_lidar_reports += 1;
            }
            let names_lidar = diag.status.iter().any(|s| {
                s.level == DiagnosticStatus::ERROR
                    && s.hardware_id == "lidar"
                    && s.message.contains("missing")
            });
            if let (Some(k), true, None) = (killed_at, names_lidar, lidar_missing_after) {
                lidar_missing_after = Some(k.elapsed());
            }
            let lidar_ok = diag
                .status
                .iter()
                .any(|s| s.level == DiagnosticStatus::OK && s.hardware_id == "lidar");
            if let (Some(r), true, None) = (restarted_at, lidar_ok, lidar_ok_after_restart) {
                lidar_ok_after_restart = Some(r.elapsed());
            }
        }
    }
    stop_all.request();
    let played = player.join().unwrap();
    let report = fusion.join().unwrap();
    flooder.join().unwrap();
    let mut stats: Vec<_> = ingest.into_iter().map(|h| h.join().unwrap()).collect();
    stats.push(restarted.expect("radar restarted").join().unwrap());
    eprintln!(
        "played {:?}\nfusion: {} cycles, {} misses, skipped {:?}\nodometry {odom} ({odom_after_kill} after the kill), objects {objects}, lidar missing after {lidar_missing_after:?}, OK again {lidar_ok_after_restart:?} after the restart",
        played.published, report.cycles, report.deadline_misses, report.skipped
    );
    eprintln!("ingest: {stats:?}");
    assert!(report.cycles >= 20, "fusion cycles: {}", report.cycles);
    assert!(objects >= 20, "object arrays received: {objects}");
    assert!(odom >= 20, "odometry received: {odom}");
    assert!(
        odom_after_kill >= 10,
        "odometry after the kill: {odom_after_kill}"
    );
    // About 4 s without the LiDAR: radar-led cycles at 20 Hz.
    assert!(
        objects_after_kill >= 40,
        "object arrays while the LiDAR was down: {objects_after_kill}"
    );
    assert!(
        absent_lidar_reports >= 2,
        "cycle reports listing the LiDAR absent: {absent_lidar_reports}"
    );
    let after = lidar_missing_after.expect("/diagnostics named the missing LiDAR");
    assert!(after <= Duration::from_secs(1), "named after {after:?}");
    let back = lidar_ok_after_restart.expect("/diagnostics reports the restarted LiDAR OK");
    assert!(back <= Duration::from_secs(3), "LiDAR OK after {back:?}");
    // The flood: dropped and counted by the IMU ingest node; the deadline held.
    let imu = stats
        .iter()
        .find_map(|s| s.get("/sensors/imu"))
        .expect("IMU ingest stats");
    assert!(
        imu.flood_dropped >= 5 * imu.forwarded,
        "IMU: forwarded {}, flood-dropped {}",
        imu.forwarded,
        imu.flood_dropped
    );
    assert!(imu.forwarded >= 800, "IMU forwarded {}", imu.forwarded);
    assert_eq!(report.deadline_misses, 0);
    assert_eq!(
        tracker_reasons, 9,
        "tracker rejection reasons on /diagnostics"
    );
}
