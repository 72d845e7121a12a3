//! Publish-to-receive latency of a 120k-point PointCloud2 on loopback, side by side in one
//! run: ours (edgefuse-ros over RustDDS, two participants in one process, our CDR codec on both
//! ends) and rclpy (Fast DDS, two nodes in one process). Reliable QoS, 10 Hz, 100 clouds each;
//! latency = receive time - header stamp (both the system clock). Runs inside a private
//! loopback-only network namespace. Prints JSON.
//!
//!   cargo bench -p edgefuse-system-tests --bench transport_latency

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use edgefuse_msgs::builtin_interfaces::Time;
use edgefuse_msgs::sensor_msgs::{PointCloud2, PointField};
use edgefuse_ros::dds::DdsTransport;
use edgefuse_ros::{Node, NodeArgs, Qos};
use edgefuse_system_tests::netns;
use serde_json::json;

const POINTS: usize = 120_000;
const COUNT: usize = 100;
const RATE_HZ: f64 = 10.0;

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn pct(v: &[i64], p: f64) -> f64 {
    v[((v.len() as f64 - 1.0) * p).round() as usize] as f64 / 1e6
}

fn ours() -> serde_json::Value {
    let node = |name: &str| {
        Node::new(
            NodeArgs::parse(name, Vec::<String>::new()).unwrap(),
            Arc::new(DdsTransport::new(0, "/", name).unwrap()),
        )
        .unwrap()
    };
    let mut rx = node("latency_sub");
    let tx = node("latency_pub");
    let q = Qos::Reliable { depth: 10 };
    let sub = rx.subscribe::<PointCloud2>("/bench/points", q).unwrap();
    let publ = tx.advertise::<PointCloud2>("/bench/points", q).unwrap();
    let mut cloud = PointCloud2 {
        height: 1,
        width: POINTS as u32,
        point_step: 16,
        row_step: 16 * POINTS as u32,
        data: (0..16 * POINTS).map(|i| (i % 256) as u8).collect(),
        ..PointCloud2::default()
    };
    for (i, n) in ["x", "y", "z", "intensity"].iter().enumerate() {
        cloud.fields.push(PointField {
            name: (*n).into(),
            offset: 4 * i as u32,
            datatype: 7,
            count: 1,
        });
    }
    cloud.header.frame_id = "lidar_top".into();
    let receiver = std::thread::spawn(move || {
        let mut lat = Vec::new();
        let end = Instant::now() + Duration::from_secs(30);
        while lat.len() < COUNT && Instant::now() < end {
            if let Some(d) = rx.recv(Duration::from_millis(100)).unwrap() {
                if let Some(c) = rx.decode(sub, &d) {
                    lat.push(now_ns() - c.header.stamp.as_nanos());
                }
            }
        }
        lat
    });
    // Discovery, then the same pace as the rclpy side.
    std::thread::sleep(Duration::from_secs(2));
    for _ in 0..COUNT {
        cloud.header.stamp = Time::from_nanos(now_ns());
        publ.publish(&cloud).unwrap();
        std::thread::sleep(Duration::from_secs_f64(1.0 / RATE_HZ));
    }
    let mut lat = receiver.join().unwrap();
    lat.sort_unstable();
    json!({"received": lat.len(), "p50_ms": pct(&lat, 0.5), "p99_ms": pct(&lat, 0.99),
           "max_ms": pct(&lat, 1.0)})
}

fn main() {
    if !netns::loopback_only() {
        let exe = std::env::current_exe().unwrap();
        let out = netns::netns_command(&exe).output().unwrap();
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success());
        return;
    }
    let ours = ours();
    let py = netns::ros_python().unwrap();
    let out = std::process::Command::new(py)
        .arg(edgefuse_system_tests::repo_root().join("tests/python/rclpy_latency.py"))
        .args([POINTS.to_string(), COUNT.to_string(), RATE_HZ.to_string()])
        .env("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
        .env("FASTDDS_BUILTIN_TRANSPORTS", "UDPv4")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rclpy: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let result = json!({
        "points": POINTS, "bytes": 16 * POINTS, "count": COUNT, "rate_hz": RATE_HZ,
        "edgefuse_ros2_client_rustdds": ours,
        "rclpy_fastdds": rclpy,
    });
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
}
