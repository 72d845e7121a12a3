//! Real ROS 2 peers: rclpy (ROS 2 Kilted wheels from PyPI, Fast DDS) against our nodes over
//! DDS, inside a private loopback-only network namespace.
//!
//! - rclpy publishes `sensor_msgs/Imu` and `PointCloud2`; our IMU and LiDAR ingest nodes
//!   receive, validate and republish them; the values that come out equal what rclpy sent.
//! - Our node publishes `nav_msgs/Odometry` and `diagnostic_msgs/DiagnosticArray`; an rclpy
//!   subscriber receives them with equal values.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgefuse_ingest::SensorKind;
use edgefuse_msgs::diagnostic_msgs::{DiagnosticArray, DiagnosticStatus, KeyValue};
use edgefuse_msgs::nav_msgs::Odometry;
use edgefuse_msgs::sensor_msgs::{Imu, PointCloud2};
use edgefuse_ros::dds::DdsTransport;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::{Node, NodeArgs, Qos};
use edgefuse_system_tests::netns;
use serde_json::Value;

fn rclpy(mode: &str, seconds: f64) -> std::process::Child {
    let py = netns::ros_python().unwrap();
    Command::new(py)
        .arg(edgefuse_system_tests::repo_root().join("tests/python/rclpy_peer.py"))
        .args([mode, &seconds.to_string()])
        .env("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
        .env("FASTDDS_BUILTIN_TRANSPORTS", "UDPv4")
        .env("ROS_DOMAIN_ID", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn lines(child: std::process::Child) -> Vec<Value> {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "rclpy peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn node(name: &str) -> Node {
    let args = NodeArgs::parse(name, Vec::<String>::new()).unwrap();
    Node::new(args, Arc::new(DdsTransport::new(0, "/", name).unwrap())).unwrap()
}

fn f32_at(data: &[u8], i: usize) -> f32 {
    f32::from_le_bytes(data[i..i + 4].try_into().unwrap())
}

#[test]
fn rclpy_sensors_reach_our_ingest_nodes() {
    if !netns::isolated("rclpy_sensors_reach_our_ingest_nodes") {
        return;
    }
    let stop = Shutdown::manual();
    let mut workers = Vec::new();
    for kind in [SensorKind::Imu, SensorKind::Lidar] {
        let stop = stop.clone();
        workers.push(std::thread::spawn(move || {
            let args = NodeArgs::parse(kind.default_name(), Vec::<String>::new()).unwrap();
            let t = DdsTransport::new(0, "/", kind.default_name()).unwrap();
            edgefuse_ingest::run(kind, args, Arc::new(t), &stop).unwrap()
        }));
    }
    let mut out = node("interop_probe");
    let imu_sub = out
        .subscribe::<Imu>("/ingest/sensors/imu", Qos::SENSOR)
        .unwrap();
    let cloud_sub = out
        .subscribe::<PointCloud2>("/ingest/sensors/lidar/points", Qos::SENSOR)
        .unwrap();
    let peer = rclpy("publish", 6.0);
    let mut imus: Vec<Imu> = Vec::new();
    let mut clouds: Vec<PointCloud2> = Vec::new();
    let end = Instant::now() + Duration::from_secs(12);
    while Instant::now() < end {
        if let Some(d) = out.recv(Duration::from_millis(100)).unwrap() {
            if let Some(m) = out.decode(imu_sub, &d) {
                imus.push(m);
            } else if let Some(c) = out.decode(cloud_sub, &d) {
                clouds.push(c);
            }
        }
    }
    stop.request();
    let stats: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let sent = lines(peer);
    eprintln!("ingest stats: {stats:?}");
    assert!(imus.len() >= 20, "IMU samples forwarded: {}", imus.len());
    assert!(clouds.len() >= 4, "clouds forwarded: {}", clouds.len());
    for m in &imus {
        let s = sent
            .iter()
            .find(|v| v["kind"] == "imu" && v["sec"] == m.header.stamp.sec)
            .expect("every forwarded IMU sample was sent by rclpy");
        assert_eq!(m.header.frame_id, "imu_link");
        assert_eq!(m.header.stamp.nanosec, 500);
        assert_eq!(m.angular_velocity.z, s["wz"].as_f64().unwrap());
        assert_eq!(m.linear_acceleration.x, s["ax"].as_f64().unwrap());
        assert_eq!(m.linear_acceleration.z, s["az"].as_f64().unwrap());
    }
    for c in &clouds {
        let s = sent
            .iter()
            .find(|v| v["kind"] == "cloud" && v["sec"] == c.header.stamp.sec)
            .expect("every forwarded cloud was sent by rclpy");
        assert_eq!(c.width, 1000);
        assert_eq!(c.point_step, 16);
        let first: Vec<f32> = (0..4).map(|k| f32_at(&c.data, 4 * k)).collect();
        let last: Vec<f32> = (0..4).map(|k| f32_at(&c.data, 999 * 16 + 4 * k)).collect();
        let want = |key: &str| -> Vec<f32> {
            s[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        };
        assert_eq!(first, want("first"));
        assert_eq!(last, want("last"));
    }
}

#[test]
fn rclpy_receives_our_odometry_and_diagnostics() {
    if !netns::isolated("rclpy_receives_our_odometry_and_diagnostics") {
        return;
    }
    let ours = node("interop_outputs");
    let odom_pub = ours
        .advertise::<Odometry>("/localization/odometry", Qos::RELIABLE)
        .unwrap();
    let diag_pub = ours
        .advertise::<DiagnosticArray>("/diagnostics", Qos::RELIABLE)
        .unwrap();
    let peer = rclpy("subscribe", 6.0);
    let end = Instant::now() + Duration::from_secs(5);
    let mut i = 0;
    while Instant::now() < end {
        let mut o = Odometry::default();
        o.header.stamp.sec = 2000 + i;
        o.header.stamp.nanosec = 123;
        o.header.frame_id = "odom".into();
        o.child_frame_id = "base_link".into();
        o.pose.pose.position.x = 10.5 + f64::from(i);
        o.pose.pose.position.y = -3.25;
        o.pose.pose.orientation.z = 0.6;
        o.pose.pose.orientation.w = 0.8;
        o.twist.twist.linear.x = 13.9;
        odom_pub.publish(&o).unwrap();
        let mut d = DiagnosticArray::default();
        d.header.stamp.sec = 2000 + i;
        d.status.push(DiagnosticStatus {
            level: DiagnosticStatus::WARN,
            name: "fusion: lidar".into(),
            message: "rate 4.0 Hz, expected 10.0 Hz".into(),
            hardware_id: "/sensors/lidar/points".into(),
            values: vec![KeyValue {
                key: "rate_hz".into(),
                value: "4.00".into(),
            }],
        });
        diag_pub.publish(&d).unwrap();
        i += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = lines(peer);
    let odoms: Vec<&Value> = got.iter().filter(|v| v["kind"] == "odometry").collect();
    let diags: Vec<&Value> = got.iter().filter(|v| v["kind"] == "diagnostics").collect();
    assert!(
        odoms.len() >= 10,
        "rclpy got {} odometry messages",
        odoms.len()
    );
    assert!(
        diags.len() >= 10,
        "rclpy got {} diagnostic arrays",
        diags.len()
    );
    for o in odoms {
        let k = o["sec"].as_i64().unwrap() - 2000;
        assert_eq!(o["nanosec"], 123);
        assert_eq!(o["frame_id"], "odom");
        assert_eq!(o["child_frame_id"], "base_link");
        assert_eq!(o["x"].as_f64().unwrap(), 10.5 + k as f64);
        assert_eq!(o["y"].as_f64().unwrap(), -3.25);
        assert_eq!(o["vx"].as_f64().unwrap(), 13.9);
        assert_eq!(o["qz"].as_f64().unwrap(), 0.6);
        assert_eq!(o["qw"].as_f64().unwrap(), 0.8);
    }
    for d in diags {
        let s = &d["status"][0];
        assert_eq!(s["level"], 1);
        assert_eq!(s["name"], "fusion: lidar");
        assert_eq!(s["message"], "rate 4.0 Hz, expected 10.0 Hz");
        assert_eq!(s["hardware_id"], "/sensors/lidar/points");
        assert_eq!(s["values"]["rate_hz"], "4.00");
    }
}
