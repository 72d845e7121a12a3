//! DDS between our own nodes, inside a private loopback-only network namespace: typed values
//! and a 120k-point cloud arrive unchanged, and a malformed payload is counted and skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use edgefuse_msgs::sensor_msgs::{Imu, PointCloud2, PointField};
use edgefuse_msgs::RosMessage;
use edgefuse_ros::dds::DdsTransport;
use edgefuse_ros::{Node, NodeArgs, Qos};

fn node(name: &str) -> Node {
    let args = NodeArgs::parse(name, Vec::<String>::new()).unwrap();
    let t = DdsTransport::new(0, "/", name).unwrap();
    Node::new(args, Arc::new(t)).unwrap()
}

fn cloud(n: usize) -> PointCloud2 {
    let mut c = PointCloud2 {
        height: 1,
        width: n as u32,
        point_step: 16,
        row_step: 16 * n as u32,
        is_dense: true,
        ..PointCloud2::default()
    };
    for (i, name) in ["x", "y", "z", "intensity"].iter().enumerate() {
        c.fields.push(PointField {
            name: (*name).into(),
            offset: 4 * i as u32,
            datatype: 7,
            count: 1,
        });
    }
    c.header.frame_id = "lidar_top".into();
    c.data = (0..n * 16).map(|i| (i * 7 % 251) as u8).collect();
    c
}

#[test]
fn typed_values_big_clouds_and_malformed_payloads_over_dds() {
    if !edgefuse_system_tests::netns::isolated(
        "typed_values_big_clouds_and_malformed_payloads_over_dds",
    ) {
        return;
    }
    let mut rx = node("dds_test_rx");
    let tx = node("dds_test_tx");
    let q = Qos::Reliable { depth: 50 };
    let imu_sub = rx.subscribe::<Imu>("/sensors/imu", q).unwrap();
    let cloud_sub = rx
        .subscribe::<PointCloud2>("/sensors/lidar/points", q)
        .unwrap();
    let imu_pub = tx.advertise::<Imu>("/sensors/imu", q).unwrap();
    let cloud_pub = tx
        .advertise::<PointCloud2>("/sensors/lidar/points", q)
        .unwrap();
    let mut imu = Imu::default();
    imu.header.frame_id = "imu".into();
    imu.angular_velocity.z = 0.25;
    imu.linear_acceleration.z = 9.81;
    let big = cloud(120_000);
    // Discovery takes a moment: publish until the first sample arrives.
    let start = Instant::now();
    let mut got_imu: Vec<Imu> = Vec::new();
    let mut got_cloud: Option<PointCloud2> = None;
    let mut garbage_sent = false;
    while start.elapsed() < Duration::from_secs(20) && (got_imu.len() < 3 || got_cloud.is_none()) {
        imu.header.stamp.nanosec += 1;
        imu_pub.publish(&imu).unwrap();
        if !got_imu.is_empty() && !garbage_sent {
            // A payload that is not an Imu: counted as malformed, never a panic.
            imu_pub.publish_raw(vec![0, 1, 0, 0, 1, 2, 3]).unwrap();
            garbage_sent = true;
        }
        if !got_imu.is_empty() && got_cloud.is_none() {
            cloud_pub.publish(&big).unwrap();
        }
        let until = Instant::now() + Duration::from_millis(100);
        while let Some(d) = rx
            .recv(until.saturating_duration_since(Instant::now()))
            .unwrap()
        {
            if let Some(m) = rx.decode(imu_sub, &d) {
                got_imu.push(m);
            } else if let Some(c) = rx.decode(cloud_sub, &d) {
                got_cloud = Some(c);
            }
        }
    }
    assert!(got_imu.len() >= 3, "imu samples: {}", got_imu.len());
    let last = got_imu.last().unwrap();
    assert_eq!(last.angular_velocity.z, 0.25);
    assert_eq!(last.header.frame_id, "imu");
    let c = got_cloud.expect("the 120k-point cloud arrived");
    assert_eq!(c.encode().unwrap(), big.encode().unwrap());
    let counters = rx.counters().get("/sensors/imu").cloned().unwrap();
    assert_eq!(counters.malformed, 1, "{counters:?}");
}
