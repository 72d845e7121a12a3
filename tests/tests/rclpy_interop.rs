//! Real ROS 2 peers: rclpy (ROS 2 Kilted wheels from PyPI, Fast DDS) against our nodes over
//! DDS, inside a private loopback-only network namespace.
//!
//! - rclpy publishes `sensor_msgs/Imu`, `PointCloud2` (some big-endian with FLOAT64 `x y z`)
//!   and the vehicle's speed as `nav_msgs/Odometry` on `/odom`; our IMU and LiDAR ingest nodes
//!   (the IMU one with `vehicle_speed_type:=nav_msgs/msg/Odometry` and
//!   `-r /vehicle/twist:=/odom`) receive, validate and republish them on the contract topics;
//!   the values that come out equal what rclpy sent.
//! - Our node publishes `nav_msgs/Odometry` and `diagnostic_msgs/DiagnosticArray`; an rclpy
//!   subscriber receives them with equal values.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgefuse_ingest::SensorKind;
use edgefuse_msgs::diagnostic_msgs::{DiagnosticArray, DiagnosticStatus, KeyValue};
use edgefuse_msgs::geometry_msgs::TwistWithCovarianceStamped;
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
            let ros_args: &[&str] = match kind {
                SensorKind::Imu => &[
                    "--ros-args",
                    "-p",
                    "vehicle_speed_type:=nav_msgs/msg/Odometry",
                    "-r",
                    "/vehicle/twist:=/odom",
                ],
                _ => &[],
            };
            let args = NodeArgs::parse(kind.default_name(), ros_args.iter().copied()).unwrap();
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
    let twist_sub = out
        .subscribe::<TwistWithCovarianceStamped>("/ingest/vehicle/twist", Qos::SENSOR)
        .unwrap();
    let peer = rclpy("publish", 6.0);
    let mut imus: Vec<Imu> = Vec::new();
    let mut clouds: Vec<PointCloud2> = Vec::new();
    let mut twists: Vec<TwistWithCovarianceStamped> = Vec::new();
    let end = Instant::now() + Duration::from_secs(12);
    while Instant::now() < end {
        if let Some(d) = out.recv(Duration::from_millis(100)).unwrap() {
            if let Some(m) = out.decode(imu_sub, &d) {
                imus.push(m);
            } else if let Some(c) = out.decode(cloud_sub, &d) {
                clouds.push(c);
            } else if let Some(t) = out.decode(twist_sub, &d) {
                twists.push(t);
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
    // The vehicle's speed, sent as Odometry, forwarded as the contract's twist in the
    // odometry's child frame with its variances.
    assert!(twists.len() >= 20, "speeds forwarded: {}", twists.len());
    for t in &twists {
        let s = sent
            .iter()
            .find(|v| v["kind"] == "odometry_sent" && v["sec"] == t.header.stamp.sec)
            .expect("every forwarded speed was sent by rclpy");
        assert_eq!(t.header.frame_id, "base_link");
        assert_eq!(t.header.stamp.nanosec, 250);
        assert_eq!(t.twist.twist.linear.x, s["vx"].as_f64().unwrap());
        assert_eq!(t.twist.twist.angular.z, s["wz"].as_f64().unwrap());
        assert_eq!(
            (t.twist.covariance[0], t.twist.covariance[35]),
            (0.0025, 0.0001)
        );
    }
    // Big-endian clouds of FLOAT64 coordinates: forwarded little-endian, every field's value
    // as sent.
    let (wide, clouds): (Vec<&PointCloud2>, Vec<&PointCloud2>) =
        clouds.iter().partition(|c| c.point_step == 32);
    assert!(
        wide.len() >= 4,
        "big-endian clouds forwarded: {}",
        wide.len()
    );
    for c in &wide {
        let s = sent
            .iter()
            .find(|v| v["kind"] == "cloud_be64" && v["sec"] == c.header.stamp.sec)
            .expect("every forwarded big-endian cloud was sent by rclpy");
        assert!(!c.is_bigendian);
        assert_eq!(c.width, 500);
        let f64_at = |i: usize| f64::from_le_bytes(c.data[i..i + 8].try_into().unwrap());
        let point = |k: usize| {
            let o = 32 * k;
            [
                f64_at(o),
                f64_at(o + 8),
                f64_at(o + 16),
                f64::from(f32_at(&c.data, o + 24)),
                f64::from(u16::from_le_bytes(
                    c.data[o + 28..o + 30].try_into().unwrap(),
                )),
            ]
        };
        let want = |key: &str| -> Vec<f64> {
            s[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        assert_eq!(point(0).to_vec(), want("first"));
        assert_eq!(point(499).to_vec(), want("last"));
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
