//! Our rosbag2 bags against the Python readers (`rosbags`, `mcap` + `mcap-ros2-support`), and
//! bags written by `rosbags` read by ours.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use edgefuse_bag::{BagReader, BagWriteOptions, BagWriter, Compression, Qos, ReadOptions};
use edgefuse_msgs::{
    edgefuse_msgs::*, geometry_msgs::*, radar_msgs::*, sensor_msgs::*, std_msgs::Header,
    tf2_msgs::*, vision_msgs::*,
};
use edgefuse_system_tests::{assert_same_json, decode_as, run_python};
use serde_json::Value;
use sha2::{Digest, Sha256};

const T0: i64 = 1_700_000_000_000_000_000;

/// A bag with several contract types on their topics, interleaved in time.
fn write_contract_bag(
    dir: &Path,
    compression: Compression,
) -> BTreeMap<String, Vec<(u64, String)>> {
    let mut w = BagWriter::create(
        dir,
        BagWriteOptions {
            compression,
            chunk_size_bytes: 64 * 1024,
            ..Default::default()
        },
    )
    .unwrap();
    w.add_topic("/tf_static", "tf2_msgs/msg/TFMessage", Qos::Latched)
        .unwrap();
    w.add_topic(
        "/sensors/lidar/points",
        "sensor_msgs/msg/PointCloud2",
        Qos::SensorData,
    )
    .unwrap();
    w.add_topic(
        "/sensors/radar/front/scan",
        "radar_msgs/msg/RadarScan",
        Qos::SensorData,
    )
    .unwrap();
    w.add_topic(
        "/sensors/camera/front/detections",
        "vision_msgs/msg/Detection2DArray",
        Qos::SensorData,
    )
    .unwrap();
    w.add_topic(
        "/sensors/ultrasonic/rear_center/range",
        "sensor_msgs/msg/Range",
        Qos::SensorData,
    )
    .unwrap();
    w.add_topic(
        "/ground_truth/objects",
        "edgefuse_msgs/msg/TrackedObjectArray",
        Qos::Reliable,
    )
    .unwrap();
    w.set_custom_data("edgefuse.test", "contract bag");
    let mut expect: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    let mut put = |w: &mut BagWriter, topic: &str, t: i64, bytes: Vec<u8>| {
        w.write_raw(topic, t, &bytes).unwrap();
        expect
            .entry(topic.into())
            .or_default()
            .push((t as u64, hex(&Sha256::digest(&bytes))));
    };
    let tf = TFMessage {
        transforms: vec![TransformStamped {
            header: Header::new(T0, "base_link"),
            child_frame_id: "lidar_top".into(),
            transform: Transform {
                translation: Vector3 {
                    x: 1.2,
                    y: 0.0,
                    z: 1.9,
                },
                rotation: Quaternion::default(),
            },
        }],
    };
    put(
        &mut w,
        "/tf_static",
        T0,
        edgefuse_msgs::RosMessage::encode(&tf).unwrap(),
    );
    for i in 0..40i64 {
        let t = T0 + i * 25_000_000;
        let n = 500 + 37 * i as usize;
        let cloud = PointCloud2 {
            header: Header::new(t, "lidar_top"),
            height: 1,
            width: n as u32,
            fields: vec![PointField {
                name: "x".into(),
                offset: 0,
                datatype: PointField::FLOAT32,
                count: 1,
            }],
            point_step: 4,
            row_step: 4 * n as u32,
            data: (0..4 * n).map(|k| (k * 7 + i as usize) as u8).collect(),
            is_dense: true,
            ..Default::default()
        };
        if i % 4 == 0 {
            put(
                &mut w,
                "/sensors/lidar/points",
                t,
                edgefuse_msgs::RosMessage::encode(&cloud).unwrap(),
            );
        }
        let scan = RadarScan {
            header: Header::new(t, "radar_front"),
            returns: (0..(i % 5))
                .map(|k| RadarReturn {
                    range: 10.0 + k as f32,
                    azimuth: 0.1 * k as f32,
                    elevation: 0.0,
                    doppler_velocity: -1.5,
                    amplitude: 7.0,
                })
                .collect(),
        };
        if i % 2 == 0 {
            put(
                &mut w,
                "/sensors/radar/front/scan",
                t + 1,
                edgefuse_msgs::RosMessage::encode(&scan).unwrap(),
            );
        }
        let det = Detection2DArray {
            header: Header::new(t, "camera_front_optical"),
            detections: vec![Detection2D {
                header: Header::new(t, "camera_front_optical"),
                results: vec![ObjectHypothesisWithPose {
                    hypothesis: ObjectHypothesis {
                        class_id: "car".into(),
                        score: 0.5 + 0.01 * i as f64,
                    },
                    ..Default::default()
                }],
                bbox: BoundingBox2D {
                    size_x: 30.0,
                    size_y: 20.0 + i as f64,
                    ..Default::default()
                },
                id: format!("{i}"),
            }],
        };
        put(
            &mut w,
            "/sensors/camera/front/detections",
            t + 2,
            edgefuse_msgs::RosMessage::encode(&det).unwrap(),
        );
        let range = Range {
            header: Header::new(t, "ultrasonic_rear_center"),
            range: 0.2 + 0.1 * i as f32,
            max_range: 5.5,
            min_range: 0.2,
            field_of_view: 1.0,
            ..Default::default()
        };
        if i % 2 == 1 {
            put(
                &mut w,
                "/sensors/ultrasonic/rear_center/range",
                t + 3,
                edgefuse_msgs::RosMessage::encode(&range).unwrap(),
            );
        }
        if i % 4 == 0 {
            let gt = TrackedObjectArray {
                header: Header::new(t, "odom"),
                objects: vec![TrackedObject {
                    id: i as u64,
                    classification: TrackedObject::CLASS_TRUCK,
                    existence_probability: 1.0,
                    ..Default::default()
                }],
            };
            put(
                &mut w,
                "/ground_truth/objects",
                t + 4,
                edgefuse_msgs::RosMessage::encode(&gt).unwrap(),
            );
        }
    }
    w.finish().unwrap();
    expect
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn ours_by_topic(bag: &Path) -> BTreeMap<String, Vec<(u64, String)>> {
    let reader = BagReader::open(bag).unwrap();
    let mut got: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    let mut last = 0;
    for m in reader.messages(&ReadOptions::default()) {
        let m = m.unwrap();
        assert!(m.log_time_ns >= last, "messages out of time order");
        last = m.log_time_ns;
        got.entry(m.topic.to_string())
            .or_default()
            .push((m.log_time_ns, hex(&Sha256::digest(&m.data))));
    }
    got
}

fn check_python_reads(bag: &Path, expect: &BTreeMap<String, Vec<(u64, String)>>) {
    let out = run_python("bag_oracle.py", &["read", bag.to_str().unwrap()]).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    let topics = v["topics"].as_object().unwrap();
    assert_eq!(
        topics.len(),
        expect.len(),
        "topic sets differ: {:?}",
        topics.keys().collect::<Vec<_>>()
    );
    for (topic, msgs) in expect {
        let py = &topics[topic];
        assert_eq!(
            py["count"].as_u64().unwrap() as usize,
            msgs.len(),
            "{topic}: rosbags count"
        );
        assert_eq!(
            v["mcap_counts"][topic].as_u64().unwrap() as usize,
            msgs.len(),
            "{topic}: mcap count"
        );
        let times: Vec<u64> = py["log_times"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        let shas: Vec<&str> = py["sha256"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        for (i, (t, sha)) in msgs.iter().enumerate() {
            assert_eq!(times[i], *t, "{topic}[{i}] log time");
            assert_eq!(
                shas[i], sha,
                "{topic}[{i}]: rosbags decodes to other values than we wrote"
            );
        }
    }
    assert!(v["compared_values"].as_u64().unwrap() > 0);
}

#[test]
fn our_bag_reads_the_same_in_rosbags_and_mcap_python() {
    for compression in [Compression::Zstd, Compression::None] {
        let dir = tempfile::tempdir().unwrap();
        let bag = dir.path().join("contract");
        let expect = write_contract_bag(&bag, compression);
        assert_eq!(ours_by_topic(&bag), expect, "our reader");
        check_python_reads(&bag, &expect);
        // The bare .mcap too.
        check_python_reads(&bag.join("contract_0.mcap"), &expect);
        assert_eq!(ours_by_topic(&bag.join("contract_0.mcap")), expect);
    }
}

#[test]
fn topic_filter_and_seek() {
    let dir = tempfile::tempdir().unwrap();
    let bag = dir.path().join("contract");
    let expect = write_contract_bag(&bag, Compression::Zstd);
    let reader = BagReader::open(&bag).unwrap();
    let start = T0 as u64 + 500_000_000;
    let opts = ReadOptions {
        topics: Some(vec![
            "/sensors/radar/front/scan".into(),
            "/tf_static".into(),
        ]),
        start_ns: Some(start),
        end_ns: None,
    };
    let got: Vec<_> = reader.messages(&opts).map(|m| m.unwrap()).collect();
    let want: usize = expect["/sensors/radar/front/scan"]
        .iter()
        .filter(|(t, _)| *t >= start)
        .count();
    assert_eq!(got.len(), want);
    assert!(got
        .iter()
        .all(|m| &*m.topic == "/sensors/radar/front/scan" && m.log_time_ns >= start));
    let scan: RadarScan = got[0].decode().unwrap();
    assert_eq!(scan.header.frame_id, "radar_front");
    // Decoding as the wrong type names the topic and both types.
    let err = got[0].decode::<Imu>().unwrap_err().to_string();
    assert!(
        err.contains("/sensors/radar/front/scan") && err.contains("sensor_msgs/msg/Imu"),
        "{err}"
    );
}

#[test]
fn metadata_yaml_has_the_rosbag2_v9_fields_and_qos() {
    let dir = tempfile::tempdir().unwrap();
    let bag = dir.path().join("contract");
    write_contract_bag(&bag, Compression::Zstd);
    let reader = BagReader::open(&bag).unwrap();
    let meta = reader.metadata().unwrap();
    assert_eq!(meta.version, 9);
    assert_eq!(meta.storage_identifier, "mcap");
    assert_eq!(
        meta.relative_file_paths,
        vec!["contract_0.mcap".to_string()]
    );
    assert_eq!(
        meta.custom_data.get("edgefuse.test").map(String::as_str),
        Some("contract bag")
    );
    let tf = meta.topics.iter().find(|t| t.name == "/tf_static").unwrap();
    assert_eq!(tf.qos, Some(Qos::Latched));
    assert_eq!(tf.serialization_format, "cdr");
}

fn check_rosbags_written(storage: &str) {
    let dir = tempfile::tempdir().unwrap();
    let bag = dir.path().join(format!("from_rosbags_{storage}"));
    let out = run_python(
        "bag_oracle.py",
        &["write", bag.to_str().unwrap(), storage, "5"],
    )
    .unwrap();
    let values: Vec<Value> = serde_json::from_str(&out).unwrap();
    let reader = BagReader::open(&bag).unwrap();
    assert_eq!(reader.metadata().unwrap().storage_identifier, storage);
    let got: Vec<_> = reader
        .messages(&ReadOptions::default())
        .map(|m| m.unwrap())
        .collect();
    assert_eq!(got.len(), values.len());
    for (m, v) in got.iter().zip(&values) {
        assert_eq!(&*m.topic, v["topic"].as_str().unwrap());
        assert_eq!(m.log_time_ns, v["log_time"].as_u64().unwrap());
        let (value, again) = decode_as(&m.type_name, &m.data).unwrap();
        assert_same_json(&v["value"], &value, &m.topic);
        assert_eq!(
            again, m.data,
            "{}: our re-encoding differs from rosbags' bytes",
            m.topic
        );
    }
}

#[test]
fn rosbags_mcap_bag_reads_in_ours() {
    check_rosbags_written("mcap");
}

#[test]
fn rosbags_sqlite3_bag_reads_in_ours() {
    check_rosbags_written("sqlite3");
    // Seek and topic filter on sqlite3 storage too.
    let dir = tempfile::tempdir().unwrap();
    let bag = dir.path().join("sq");
    run_python(
        "bag_oracle.py",
        &["write", bag.to_str().unwrap(), "sqlite3", "700"],
    )
    .unwrap();
    let reader = BagReader::open(&bag).unwrap();
    let all: Vec<_> = reader
        .messages(&ReadOptions::default())
        .map(|m| m.unwrap())
        .collect();
    assert_eq!(all.len(), 700 * 9);
    assert!(all.windows(2).all(|w| w[0].log_time_ns <= w[1].log_time_ns));
    let start = all[3000].log_time_ns;
    let opts = ReadOptions {
        topics: Some(vec!["/sensors/imu".into()]),
        start_ns: Some(start),
        end_ns: None,
    };
    let some: Vec<_> = reader.messages(&opts).map(|m| m.unwrap()).collect();
    let want = all
        .iter()
        .filter(|m| &*m.topic == "/sensors/imu" && m.log_time_ns >= start)
        .count();
    assert_eq!(some.len(), want);
}

#[test]
fn simulated_sample_bags_read_the_same_in_rosbags_and_mcap_python() {
    for (name, _) in edgefuse_sim::BUILTIN_SCENARIOS {
        let bag = edgefuse_system_tests::sample_bag(name).unwrap();
        let expect = ours_by_topic(&bag);
        assert!(expect.len() >= 20, "{name}: only {} topics", expect.len());
        check_python_reads(&bag, &expect);
    }
}

#[test]
fn humble_range_bag_from_rosbags_is_read_by_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let bag = dir.path().join("humble");
    let out = run_python(
        "bag_oracle.py",
        &["write_humble", bag.to_str().unwrap(), "20"],
    )
    .unwrap();
    let values: Vec<Value> = serde_json::from_str(&out).unwrap();
    let reader = BagReader::open(&bag).unwrap();
    let range_topic = reader
        .topics()
        .iter()
        .find(|t| t.type_name == "sensor_msgs/msg/Range")
        .unwrap();
    assert!(range_topic.unreadable.is_none());
    assert!(
        range_topic.note.as_deref().unwrap_or("").contains("Humble"),
        "{:?}",
        range_topic.note
    );
    let got: Vec<_> = reader
        .messages(&ReadOptions::default())
        .map(|m| m.unwrap())
        .collect();
    assert_eq!(got.len(), values.len());
    for (m, v) in got.iter().zip(&values) {
        assert_eq!(m.log_time_ns, v["log_time"].as_u64().unwrap());
        let (mut value, _) = decode_as(&m.type_name, &m.data).unwrap();
        if &*m.type_name == "sensor_msgs/msg/Range" {
            assert_eq!(value["variance"], serde_json::json!(0.0));
            value.as_object_mut().unwrap().remove("variance");
        }
        assert_same_json(&v["value"], &value, &m.topic);
    }
}

#[test]
fn unchunked_mcap_is_read_front_to_back() {
    use edgefuse_msgs::RosMessage;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flat.mcap");
    let f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    let mut w = mcap::WriteOptions::new()
        .profile("ros2")
        .use_chunks(false)
        .create(f)
        .unwrap();
    let schema = edgefuse_msgs::schema::schema_text(Imu::TYPE_NAME).unwrap();
    let sid = w
        .add_schema(Imu::TYPE_NAME, "ros2msg", schema.as_bytes())
        .unwrap();
    let ch = w
        .add_channel(sid, "/sensors/imu", "cdr", &BTreeMap::new())
        .unwrap();
    for i in 0..100u32 {
        let t = T0 as u64 + u64::from(i) * 10_000_000;
        let msg = Imu {
            header: Header::new(t as i64, "imu_link"),
            ..Default::default()
        };
        w.write_to_known_channel(
            &mcap::records::MessageHeader {
                channel_id: ch,
                sequence: i,
                log_time: t,
                publish_time: t,
            },
            &msg.encode().unwrap(),
        )
        .unwrap();
    }
    w.finish().unwrap();
    drop(w);
    let reader = BagReader::open(&file).unwrap();
    assert!(
        reader.files()[0].1.unwrap().contains("unchunked"),
        "{:?}",
        reader.files()
    );
    assert_eq!(reader.topics()[0].message_count, 100);
    let msgs: Vec<_> = reader
        .messages(&ReadOptions::default())
        .map(|m| m.unwrap())
        .collect();
    assert_eq!(msgs.len(), 100);
    let imu: Imu = msgs[42].decode().unwrap();
    assert_eq!(imu.header.stamp.as_nanos(), T0 + 42 * 10_000_000);
}

#[test]
fn split_bag_is_merged_in_time_order_and_a_broken_file_ends_only_itself() {
    use edgefuse_bag::{BagMetadata, FileInfo, TopicInfo};
    let dir = tempfile::tempdir().unwrap();
    let bag = dir.path().join("split");
    std::fs::create_dir(&bag).unwrap();
    // Two files whose time ranges interleave (like two recorders' splits).
    let mut totals = 0u64;
    for (k, name) in ["split_0.mcap", "split_1.mcap"].iter().enumerate() {
        let mut w = BagWriter::create_mcap(
            &bag.join(name),
            BagWriteOptions {
                chunk_size_bytes: 4096,
                ..Default::default()
            },
        )
        .unwrap();
        w.add_topic("/sensors/imu", "sensor_msgs/msg/Imu", Qos::SensorData)
            .unwrap();
        for i in 0..500i64 {
            let t = T0 + (2 * i + k as i64) * 1_000_000;
            w.write(
                "/sensors/imu",
                t,
                &Imu {
                    header: Header::new(t, "imu_link"),
                    ..Default::default()
                },
            )
            .unwrap();
            totals += 1;
        }
        w.finish().unwrap();
    }
    let meta = BagMetadata {
        version: 9,
        storage_identifier: "mcap".into(),
        starting_time_ns: T0,
        duration_ns: 999_000_000,
        message_count: totals,
        topics: vec![TopicInfo {
            name: "/sensors/imu".into(),
            type_name: "sensor_msgs/msg/Imu".into(),
            serialization_format: "cdr".into(),
            qos: Some(Qos::SensorData),
            message_count: totals,
        }],
        relative_file_paths: vec!["split_0.mcap".into(), "split_1.mcap".into()],
        files: vec![
            FileInfo {
                path: "split_0.mcap".into(),
                starting_time_ns: T0,
                duration_ns: 998_000_000,
                message_count: 500,
            },
            FileInfo {
                path: "split_1.mcap".into(),
                starting_time_ns: T0 + 1_000_000,
                duration_ns: 998_000_000,
                message_count: 500,
            },
        ],
        custom_data: Default::default(),
        compression_format: String::new(),
        compression_mode: String::new(),
        ros_distro: "kilted".into(),
    };
    std::fs::write(bag.join("metadata.yaml"), meta.to_yaml().unwrap()).unwrap();
    let reader = BagReader::open(&bag).unwrap();
    let times: Vec<u64> = reader
        .messages(&ReadOptions::default())
        .map(|m| m.unwrap().log_time_ns)
        .collect();
    assert_eq!(times.len(), 1000);
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "not merged in time order"
    );
    // python agrees on the split bag
    let out = run_python("bag_oracle.py", &["read", bag.to_str().unwrap()]).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["topics"]["/sensors/imu"]["count"].as_u64().unwrap(), 1000);

    // Cut the second file: every message of the first still arrives, plus one error naming the cut file.
    let second = bag.join("split_1.mcap");
    let len = std::fs::metadata(&second).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&second)
        .unwrap()
        .set_len(len / 3)
        .unwrap();
    let reader = BagReader::open(&bag).unwrap();
    let (mut ok, mut errors) = (Vec::new(), Vec::new());
    for m in reader.messages(&ReadOptions::default()) {
        match m {
            Ok(m) => ok.push(m.log_time_ns),
            Err(e) => errors.push(e.to_string()),
        }
    }
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("split_1.mcap"), "{}", errors[0]);
    let from_first = ok
        .iter()
        .filter(|t| ((**t - T0 as u64) / 1_000_000).is_multiple_of(2))
        .count();
    assert_eq!(from_first, 500);
}
