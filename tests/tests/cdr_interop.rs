//! Our CDR bytes against the Python `rosbags` serializer, both ways, for every message type of
//! the topic contract: rosbags must decode our bytes to our values and re-encode them to the
//! same bytes; rosbags' own random messages must decode to its values and re-encode to its
//! bytes on our side.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use edgefuse_msgs::{
    builtin_interfaces::Time, diagnostic_msgs::*, edgefuse_msgs::*, geometry_msgs::*, nav_msgs::*,
    radar_msgs::*, rosgraph_msgs::Clock, sensor_msgs::*, std_msgs, std_msgs::Header, tf2_msgs::*,
    vision_msgs::*, RosMessage,
};
use serde_json::{json, Value};

fn hdr(stamp_ns: i64, frame: &str) -> Header {
    Header::new(stamp_ns, frame)
}

fn cov(seed: f64) -> [f64; 36] {
    std::array::from_fn(|i| seed * (i as f64 + 1.0) - 3.5)
}

fn entry<M: RosMessage>(msg: &M) -> Value {
    let bytes = msg.encode().expect("encode");
    let back = M::decode(&bytes).expect("decode own bytes");
    assert_eq!(
        serde_json::to_value(&back).unwrap(),
        serde_json::to_value(msg).unwrap()
    );
    json!({
        "type": M::TYPE_NAME,
        "schema": M::schema_text().expect("schema"),
        "hex": bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "value": serde_json::to_value(msg).unwrap(),
    })
}

fn ours() -> Vec<Value> {
    let pose = Pose {
        position: Point {
            x: 1.5,
            y: -2.25,
            z: 0.125,
        },
        orientation: Quaternion::from_yaw(0.3),
    };
    let twist = Twist {
        linear: Vector3 {
            x: 12.5,
            y: -0.5,
            z: 0.0,
        },
        angular: Vector3 {
            x: 0.0,
            y: 0.01,
            z: -0.2,
        },
    };
    let obj = |id: u64, c: u8| TrackedObject {
        id,
        classification: c,
        existence_probability: 0.875,
        pose: PoseWithCovariance {
            pose,
            covariance: cov(0.5 + id as f64),
        },
        size: Vector3 {
            x: 4.5,
            y: 1.8,
            z: 1.5,
        },
        twist: TwistWithCovariance {
            twist,
            covariance: cov(0.1),
        },
    };
    let points: Vec<u8> = (0..7 * 20).map(|i| (i * 37 % 251) as u8).collect();
    vec![
        entry(&Time {
            sec: 1_700_000_123,
            nanosec: 999_999_999,
        }),
        entry(&hdr(1_700_000_000_123_456_789, "odom")),
        entry(&std_msgs::String {
            data: "how far is the car in front?".into(),
        }),
        entry(&std_msgs::String {
            data: String::new(),
        }),
        entry(&Clock {
            clock: Time { sec: 5, nanosec: 7 },
        }),
        entry(&TwistWithCovarianceStamped {
            header: hdr(1_700_000_000_020_000_000, "base_link"),
            twist: TwistWithCovariance {
                twist,
                covariance: cov(0.01),
            },
        }),
        entry(&TransformStamped {
            header: hdr(1, "base_link"),
            child_frame_id: "lidar_top".into(),
            transform: Transform {
                translation: Vector3 {
                    x: 1.2,
                    y: 0.0,
                    z: 1.9,
                },
                rotation: Quaternion::from_rpy(0.01, -0.02, 0.03),
            },
        }),
        entry(&TFMessage {
            transforms: vec![
                TransformStamped {
                    header: hdr(2, "base_link"),
                    child_frame_id: "radar_front".into(),
                    ..Default::default()
                },
                TransformStamped {
                    header: hdr(3, "base_link"),
                    child_frame_id: "imu".into(),
                    ..Default::default()
                },
            ],
        }),
        entry(&PointCloud2 {
            header: hdr(1_700_000_000_100_000_000, "lidar_top"),
            height: 1,
            width: 7,
            fields: ["x", "y", "z", "intensity", "t"]
                .iter()
                .enumerate()
                .map(|(i, n)| PointField {
                    name: (*n).into(),
                    offset: 4 * i as u32,
                    datatype: PointField::FLOAT32,
                    count: 1,
                })
                .collect(),
            is_bigendian: false,
            point_step: 20,
            row_step: 140,
            data: points,
            is_dense: true,
        }),
        entry(&CameraInfo {
            header: hdr(4, "camera_front_optical"),
            height: 720,
            width: 1280,
            distortion_model: "plumb_bob".into(),
            d: vec![-0.1, 0.01, 0.0, 0.0, 0.0],
            k: [900.0, 0.0, 640.0, 0.0, 900.0, 360.0, 0.0, 0.0, 1.0],
            r: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            p: [
                900.0, 0.0, 640.0, 0.0, 0.0, 900.0, 360.0, 0.0, 0.0, 0.0, 1.0, 0.0,
            ],
            binning_x: 0,
            binning_y: 0,
            roi: RegionOfInterest {
                x_offset: 1,
                y_offset: 2,
                height: 3,
                width: 4,
                do_rectify: true,
            },
        }),
        entry(&Image {
            header: hdr(5, "camera_front_optical"),
            height: 2,
            width: 3,
            encoding: "rgb8".into(),
            is_bigendian: 0,
            step: 9,
            data: (0..18).collect(),
        }),
        entry(&Range {
            header: hdr(6, "ultrasonic_rear_center"),
            radiation_type: Range::ULTRASOUND,
            field_of_view: 0.9,
            min_range: 0.2,
            max_range: 5.5,
            range: 1.337,
            variance: 0.0004,
        }),
        entry(&Imu {
            header: hdr(7, "imu_link"),
            orientation: Quaternion::default(),
            orientation_covariance: [-1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            angular_velocity: Vector3 {
                x: 0.001,
                y: -0.002,
                z: 0.25,
            },
            angular_velocity_covariance: [1e-6; 9],
            linear_acceleration: Vector3 {
                x: 0.5,
                y: 0.1,
                z: 9.81,
            },
            linear_acceleration_covariance: [1e-3; 9],
        }),
        entry(&RadarScan {
            header: hdr(8, "radar_front"),
            returns: vec![
                RadarReturn {
                    range: 35.5,
                    azimuth: 0.05,
                    elevation: 0.0,
                    doppler_velocity: -3.25,
                    amplitude: 12.0,
                },
                RadarReturn {
                    range: 80.0,
                    azimuth: -0.4,
                    elevation: 0.02,
                    doppler_velocity: 1.5,
                    amplitude: -3.0,
                },
            ],
        }),
        entry(&Detection2DArray {
            header: hdr(9, "camera_front_optical"),
            detections: vec![Detection2D {
                header: hdr(9, "camera_front_optical"),
                results: vec![ObjectHypothesisWithPose {
                    hypothesis: ObjectHypothesis {
                        class_id: "pedestrian".into(),
                        score: 0.93,
                    },
                    pose: PoseWithCovariance {
                        pose,
                        covariance: cov(2.0),
                    },
                }],
                bbox: BoundingBox2D {
                    center: Pose2D {
                        position: Point2D {
                            x: 640.5,
                            y: 300.25,
                        },
                        theta: 0.0,
                    },
                    size_x: 40.0,
                    size_y: 110.0,
                },
                id: "7".into(),
            }],
        }),
        entry(&Odometry {
            header: hdr(10, "odom"),
            child_frame_id: "base_link".into(),
            pose: PoseWithCovariance {
                pose,
                covariance: cov(0.3),
            },
            twist: TwistWithCovariance {
                twist,
                covariance: cov(0.2),
            },
        }),
        entry(&TwistStamped {
            header: hdr(10, "base_link"),
            twist,
        }),
        // Read from bags recorded with Autoware (its float32 fields after the header's
        // string: the alignment rosbags must agree on).
        entry(&edgefuse_msgs::autoware_vehicle_msgs::VelocityReport {
            header: hdr(10, "base_link"),
            longitudinal_velocity: 8.25,
            lateral_velocity: -0.125,
            heading_rate: 0.0625,
        }),
        entry(&DiagnosticArray {
            header: hdr(11, ""),
            status: vec![DiagnosticStatus {
                level: DiagnosticStatus::WARN,
                name: "edgefuse/lidar".into(),
                message: "sector 30..60 deg blocked".into(),
                hardware_id: "lidar_top".into(),
                values: vec![KeyValue {
                    key: "points".into(),
                    value: "48213".into(),
                }],
            }],
        }),
        entry(&TrackedObjectArray {
            header: hdr(12, "odom"),
            objects: vec![
                obj(1, TrackedObject::CLASS_CAR),
                obj(u64::MAX - 3, TrackedObject::CLASS_CYCLIST),
            ],
        }),
        entry(&MaintenanceReport {
            header: hdr(13, "base_link"),
            findings: vec![MaintenanceFinding {
                component: "radar_front".into(),
                kind: "yaw_misalignment".into(),
                severity: MaintenanceFinding::SEVERITY_WARN,
                evidence: vec![KeyValue {
                    key: "yaw_offset_deg".into(),
                    value: "2.04".into(),
                }],
                trend_per_s: 0.0,
                time_to_threshold_s: 1234.5,
                recommended_action: "recalibrate the front radar".into(),
            }],
            text: "## Radar\nmisaligned".into(),
        }),
    ]
}

/// The bytes of a hex string.
fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn cdr_bytes_match_rosbags_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let ours_path = dir.path().join("ours.json");
    let theirs_path = dir.path().join("theirs.json");
    let ours = ours();
    std::fs::write(&ours_path, serde_json::to_string(&ours).unwrap()).unwrap();
    let out = edgefuse_system_tests::run_python(
        "cdr_oracle.py",
        &[ours_path.to_str().unwrap(), theirs_path.to_str().unwrap()],
    )
    .unwrap();
    eprintln!("{out}");
    let theirs: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&theirs_path).unwrap()).unwrap();
    assert_eq!(theirs.len(), 3 * ours.len());
    for t in &theirs {
        let type_name = t["type"].as_str().unwrap();
        let bytes = from_hex(t["hex"].as_str().unwrap());
        let (value, again) = edgefuse_system_tests::decode_as(type_name, &bytes).unwrap();
        edgefuse_system_tests::assert_same_json(&t["value"], &value, type_name);
        assert_eq!(
            again, bytes,
            "{type_name}: our re-encoding of rosbags' bytes differs"
        );
    }
}

#[test]
fn infinity_round_trips_and_a_cut_range_is_refused() {
    let r = MaintenanceReport {
        findings: vec![MaintenanceFinding {
            time_to_threshold_s: f64::INFINITY,
            ..Default::default()
        }],
        ..Default::default()
    };
    let back = MaintenanceReport::decode(&r.encode().unwrap()).unwrap();
    assert!(back.findings[0].time_to_threshold_s.is_infinite());

    // A payload cut before Range's trailing `variance` is an error (bags recorded with Humble's
    // definition are recognised by their schema in edgefuse-bag, see bag_interop.rs).
    let full = Range {
        range: 2.5,
        max_range: 5.5,
        variance: 0.25,
        ..Default::default()
    };
    let bytes = full.encode().unwrap();
    assert!(Range::decode(&bytes[..bytes.len() - 4]).is_err());
}

#[test]
fn garbage_cdr_is_an_error_naming_the_type() {
    for bad in [
        &[][..],
        &[0, 1][..],
        &[0x00, 0x03, 0, 0, 1, 2, 3][..],
        &[0, 1, 0, 0, 0xff, 0xff, 0xff, 0x7f][..],
    ] {
        let err = Imu::decode(bad).unwrap_err().to_string();
        assert!(
            err.contains("CDR") || err.contains("sensor_msgs/msg/Imu") || err.contains("header"),
            "{err}"
        );
    }
    let err = PointCloud2::decode(&[0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff])
        .unwrap_err();
    assert!(
        err.to_string().contains("sensor_msgs/msg/PointCloud2"),
        "{err}"
    );
    // A cloud cut inside its data names the field.
    let cloud = PointCloud2 {
        width: 100,
        point_step: 4,
        row_step: 400,
        data: vec![7; 400],
        ..Default::default()
    };
    let bytes = cloud.encode().unwrap();
    assert_eq!(PointCloud2::decode(&bytes).unwrap(), cloud);
    let err = PointCloud2::decode(&bytes[..bytes.len() - 50])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sensor_msgs/msg/PointCloud2") && err.contains("'data'"),
        "{err}"
    );
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0; 16]);
    let err = PointCloud2::decode(&longer).unwrap_err().to_string();
    assert!(err.contains("trailing"), "{err}");
}

/// LiDAR clouds in the point layouts of the common ROS 2 drivers (the contract's, ouster-ros',
/// velodyne_pointcloud's, Autoware nebula's, Hesai's little- and big-endian, FLOAT64 `x y z`
/// big-endian, and one without a time field), built with numpy and serialised by rosbags:
/// every point reads as numpy says, its time after the stamp from the field and unit its
/// driver uses; and the LiDAR ingest node forwards each, little-endian, as the same points.
#[test]
fn driver_point_layouts_read_as_numpy_builds_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clouds.json");
    let out =
        edgefuse_system_tests::run_python("cloud_oracle.py", &[path.to_str().unwrap()]).unwrap();
    eprintln!("{out}");
    let clouds: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let layouts: Vec<&str> = clouds
        .iter()
        .map(|c| c["layout"].as_str().unwrap())
        .collect();
    assert_eq!(layouts.len(), 8, "{layouts:?}");
    for c in &clouds {
        let layout = c["layout"].as_str().unwrap();
        let msg = PointCloud2::decode(&from_hex(c["hex"].as_str().unwrap())).unwrap();
        let (scan, skips) = edgefuse_fusion_node::convert::lidar_scan(
            &msg,
            edgefuse_fusion::types::Transform3::identity(),
        )
        .unwrap_or_else(|e| panic!("{layout}: {e}"));
        assert_eq!(skips.non_finite, 0, "{layout}");
        let want = c["points"].as_array().unwrap();
        assert_eq!(scan.points.len(), want.len(), "{layout}");
        for (i, (p, w)) in scan.points.iter().zip(want).enumerate() {
            let w: Vec<f64> = w
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let got = [p.x_m, p.y_m, p.z_m, p.intensity];
            for k in 0..4 {
                assert_eq!(got[k], w[k] as f32, "{layout} point {i} value {k}");
            }
            assert!(
                (f64::from(p.t_s) - w[4]).abs() < 1e-6,
                "{layout} point {i}: t {} against {}",
                p.t_s,
                w[4]
            );
        }
        let span_s = scan.points.last().unwrap().t_s - scan.points[0].t_s;
        if layout != "no_time" {
            assert!(span_s > 0.09, "{layout}: points over {span_s} s");
        }
        // Through the LiDAR ingest node's check: every point kept, forwarded little-endian
        // (a big-endian cloud's fields reordered), read as the same points.
        let limits = edgefuse_ingest::validate::Limits {
            min_range_m: 0.0,
            ..Default::default()
        };
        let (cleaned, counts) = edgefuse_ingest::validate::clean_cloud(&msg, &limits)
            .unwrap_or_else(|e| panic!("{layout}: {e}"));
        assert_eq!(counts.kept, want.len(), "{layout}");
        assert!(!cleaned.is_bigendian);
        let (forwarded, _) = edgefuse_fusion_node::convert::lidar_scan(
            &cleaned,
            edgefuse_fusion::types::Transform3::identity(),
        )
        .unwrap();
        assert_eq!(forwarded.points, scan.points, "{layout}");
        if !msg.is_bigendian {
            assert_eq!(cleaned.data, msg.data, "{layout}");
        }
    }
}
