//! The `edgefuse` command line through `edgefuse_cli::run`, as `main` calls it: `generate`,
//! `info`, and the errors bad input gets (the text `main` prints after `error:`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use edgefuse_bag::{BagReader, ReadOptions};
use edgefuse_fusion::pipeline::PipelineConfig;
use edgefuse_fusion_node::offline::FeedOptions;
use edgefuse_fusion_node::runner::{run_bag_with, NoObserver, RunReport, Timing};
use edgefuse_fusion_node::score::frames;
use edgefuse_msgs::geometry_msgs::TwistWithCovarianceStamped;
use edgefuse_msgs::nav_msgs::Odometry;
use edgefuse_msgs::RosMessage;
use serde_json::Value;

/// Runs the CLI; (success, error text as `main` prints it).
fn edgefuse(args: &[&str]) -> (bool, String) {
    let cli =
        edgefuse_cli::Cli::try_parse_from(std::iter::once("edgefuse").chain(args.iter().copied()))
            .unwrap();
    match edgefuse_cli::run(cli) {
        Ok(()) => (true, String::new()),
        Err(e) => (false, format!("{e:#}")),
    }
}

#[test]
fn generate_is_byte_identical_for_a_seed_and_differs_for_another() {
    let dir = tempfile::tempdir().unwrap();
    // Same directory name in different parents: the file name (and rosbag2's metadata inside
    // the file) follow the directory name.
    let run = |parent: &str, seed: &str| {
        let out = dir.path().join(parent).join("drive");
        let (ok, err) = edgefuse(&[
            "generate",
            "--scenario",
            "parking",
            "--duration",
            "1.5",
            "--seed",
            seed,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        std::fs::read(out.join("drive_0.mcap")).unwrap()
    };
    let a = run("a", "7");
    let b = run("b", "7");
    let c = run("c", "8");
    assert!(a.len() > 100_000);
    let first_diff = a.iter().zip(&b).position(|(x, y)| x != y);
    assert!(
        a.len() == b.len() && first_diff.is_none(),
        "same seed must give the same bytes (first difference at {first_diff:?})"
    );
    assert!(a != c, "another seed must give other noise");
}

#[test]
fn info_matches_the_reader() {
    let bag = edgefuse_system_tests::sample_bag("urban_intersection").unwrap();
    let info = edgefuse_cli::info::BagInfo::read(&bag).unwrap();
    let v: Value = info.to_json();
    let reader = BagReader::open(&bag).unwrap();
    let total = reader.messages(&ReadOptions::default()).count() as u64;
    assert_eq!(v["message_count"].as_u64().unwrap(), total);
    let imu = v["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "/sensors/imu")
        .unwrap();
    assert_eq!(imu["type"], "sensor_msgs/msg/Imu");
    let rate = imu["rate_hz"].as_f64().unwrap();
    assert!((rate - 100.0).abs() < 2.0, "IMU rate {rate}");
    let text = info.to_text();
    assert!(
        text.contains("/sensors/lidar/points") && text.contains("Duration:"),
        "{text}"
    );
}

#[test]
fn bad_input_gets_a_named_error_and_a_failure_exit() {
    let (ok, err) = edgefuse(&[
        "generate",
        "--scenario",
        "moon_landing",
        "--out",
        "/tmp/never",
    ]);
    assert!(!ok);
    assert!(
        err.contains("moon_landing") && err.contains("highway_cut_in"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "name: x\nseed: 1\nduration_s: -3\n").unwrap();
    let (ok, err) = edgefuse(&[
        "generate",
        "--scenario-file",
        bad.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("bad.yaml"), "{err}");

    let (ok, err) = edgefuse(&["info", dir.path().join("nothing_here").to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("nothing_here"), "{err}");

    let existing = dir.path().join("exists");
    std::fs::create_dir(&existing).unwrap();
    std::fs::write(existing.join("keep.txt"), "x").unwrap();
    let (ok, err) = edgefuse(&[
        "generate",
        "--scenario",
        "parking",
        "--duration",
        "0.5",
        "--out",
        existing.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("--force"), "{err}");
    let (ok, err) = edgefuse(&[
        "generate",
        "--scenario",
        "parking",
        "--duration",
        "0.5",
        "--force",
        "--out",
        existing.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("not a bag directory"), "{err}");
    assert!(existing.join("keep.txt").exists(), "nothing may be lost");
}

#[test]
fn info_verify_counts_and_skips_bad_messages_and_reports_a_cut_file() {
    use edgefuse_bag::{BagWriteOptions, BagWriter, Qos};
    use edgefuse_msgs::{sensor_msgs::Imu, std_msgs::Header, RosMessage};
    let dir = tempfile::tempdir().unwrap();
    let bag = dir.path().join("v");
    let mut w = BagWriter::create(
        &bag,
        BagWriteOptions {
            chunk_size_bytes: 2048,
            ..Default::default()
        },
    )
    .unwrap();
    w.add_topic("/sensors/imu", Imu::TYPE_NAME, Qos::SensorData)
        .unwrap();
    w.add_topic("/hmi/request", "std_msgs/msg/String", Qos::Reliable)
        .unwrap();
    let t0 = 1_700_000_000_000_000_000i64;
    for i in 0..300 {
        let t = t0 + i * 10_000_000;
        if i == 17 {
            w.write_raw("/sensors/imu", t, &[0, 1, 0, 0, 1, 2, 3])
                .unwrap();
        } else {
            w.write(
                "/sensors/imu",
                t,
                &Imu {
                    header: Header::new(t, "imu_link"),
                    ..Default::default()
                },
            )
            .unwrap();
        }
    }
    w.write_raw("/hmi/request", t0 + 5, &[0, 1, 0, 0, 200, 0, 0, 0, b'x'])
        .unwrap();
    w.finish().unwrap();

    let info = edgefuse_cli::info::BagInfo::read_verified(&bag, true).unwrap();
    let v = info.verified.as_ref().unwrap();
    assert_eq!((v["/sensors/imu"].ok, v["/sensors/imu"].bad), (299, 1));
    assert_eq!((v["/hmi/request"].ok, v["/hmi/request"].bad), (0, 1));
    let first = v["/sensors/imu"].first_error.as_ref().unwrap();
    assert!(
        first.contains("/sensors/imu") && first.contains(&format!("{}", t0 + 17 * 10_000_000)),
        "{first}"
    );
    assert!(info.verify_error.is_none());
    assert!(info.to_text().contains("2 bad"), "{}", info.to_text());

    // Cut the file: verification reports what it decoded and where it stopped.
    let file = bag.join("v_0.mcap");
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let info = edgefuse_cli::info::BagInfo::read_verified(&file, true).unwrap();
    let v = info.verified.as_ref().unwrap();
    assert!(v["/sensors/imu"].ok > 50 && v["/sensors/imu"].ok < 299);
    assert!(info.verify_error.as_ref().unwrap().contains("v_0.mcap"));
}

#[test]
fn a_sample_bag_is_reused_when_current_and_regenerated_when_its_definition_changes() {
    let dir = tempfile::tempdir().unwrap();
    let bag = edgefuse_cli::samples::ensure_sample_bag(dir.path(), "parking").unwrap();
    let meta_path = bag.join("metadata.yaml");
    let mcap = bag.join("parking_0.mcap");
    let first = std::fs::read(&mcap).unwrap();
    let modified = std::fs::metadata(&mcap).unwrap().modified().unwrap();
    // Current: reused as is.
    edgefuse_cli::samples::ensure_sample_bag(dir.path(), "parking").unwrap();
    assert_eq!(
        std::fs::metadata(&mcap).unwrap().modified().unwrap(),
        modified
    );
    // A bag made from another definition (its recorded hash differs): regenerated.
    let def = edgefuse_sim::builtin_scenario("parking").unwrap();
    let meta = std::fs::read_to_string(&meta_path).unwrap();
    assert!(meta.contains(&def.sha256));
    std::fs::write(&meta_path, meta.replace(&def.sha256, "0000")).unwrap();
    edgefuse_cli::samples::ensure_sample_bag(dir.path(), "parking").unwrap();
    assert!(std::fs::read_to_string(&meta_path)
        .unwrap()
        .contains(&def.sha256));
    // ... and the regenerated bag is byte-identical to the first one.
    assert!(std::fs::read(&mcap).unwrap() == first);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The outputs `replay BAG --fast --deterministic --record OUT` (and `extra` arguments)
/// records: (topic, log time, payload) in order.
fn fast_replay_outputs(
    bag: &std::path::Path,
    extra: &[&str],
    out: &std::path::Path,
) -> Vec<(String, u64, Vec<u8>)> {
    let mut args = vec![
        "replay",
        bag.to_str().unwrap(),
        "--fast",
        "--deterministic",
        "--record",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (ok, err) = edgefuse(&args);
    assert!(ok, "{err}");
    BagReader::open(out)
        .unwrap()
        .messages(&ReadOptions::default())
        .map(|m| {
            let m = m.unwrap();
            (m.topic.to_string(), m.log_time_ns, m.data)
        })
        .collect()
}

/// `replay --fast --deterministic` (two LiDAR threads, the stepping clock): two runs record the
/// same outputs, byte for byte. Without `--fast` the flag is refused. (A run on the wall clock
/// records the same on an idle machine; it differs only when a stall makes the deadline budget
/// coarsen a cycle, which `rerun_rrd.rs` had met.)
#[test]
fn replay_fast_deterministic_records_the_same_outputs_twice() {
    let bag = edgefuse_system_tests::sample_bag("highway_cut_in").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outputs = |name: &str| fast_replay_outputs(&bag, &[], &dir.path().join(name));
    let (a, b) = (outputs("a"), outputs("b"));
    assert!(a.len() > 300, "{} messages", a.len());
    assert!(a.iter().any(|m| m.0 == "/perception/objects"));
    assert!(a == b, "two deterministic replays differ");
    let refused = edgefuse_cli::Cli::try_parse_from([
        "edgefuse",
        "replay",
        bag.to_str().unwrap(),
        "--deterministic",
    ]);
    let err = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("--fast"), "{err}");
}

/// A bag recorded under another driver's topic name replays with `--remap` exactly as the
/// original does (and differently without it: its LiDAR is not read); `--sensor-rate` takes a
/// sensor's own rate (bad ones refused); `--fast` honours `--start`, keeping the static
/// transforms recorded before it.
#[test]
fn replay_fast_remaps_topics_and_starts_late_with_the_static_transforms() {
    use edgefuse_bag::{BagWriteOptions, BagWriter, Qos};
    let bag = edgefuse_system_tests::sample_bag("highway_cut_in").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("renamed");
    let reader = BagReader::open(&bag).unwrap();
    let name = |t: &str| {
        if t == "/sensors/lidar/points" {
            "/ouster/points".to_string()
        } else {
            t.to_string()
        }
    };
    let mut w = BagWriter::create(&renamed, BagWriteOptions::default()).unwrap();
    for t in reader.topics() {
        w.add_topic(&name(&t.name), &t.type_name, t.qos.unwrap_or(Qos::Reliable))
            .unwrap();
    }
    for m in reader.messages(&ReadOptions::default()) {
        let m = m.unwrap();
        w.write_raw(&name(&m.topic), m.log_time_ns as i64, &m.data)
            .unwrap();
    }
    w.finish().unwrap();
    let outputs = |bag: &std::path::Path, extra: &[&str], out: &str| {
        fast_replay_outputs(bag, extra, &dir.path().join(out))
    };
    let original = outputs(&bag, &[], "original");
    let remapped = outputs(
        &renamed,
        &["--remap", "/ouster/points:=/sensors/lidar/points"],
        "remapped",
    );
    let unmapped = outputs(&renamed, &[], "unmapped");
    assert!(original.len() > 300, "{} messages", original.len());
    assert!(remapped == original, "the remapped bag replays differently");
    assert!(unmapped != original, "the LiDAR made no difference");
    // A sensor's own rate is taken; an unknown sensor or a rate that is not positive is
    // refused, naming the sensors.
    let rated = outputs(&bag, &["--sensor-rate", "radar=20", "imu=100"], "rated");
    assert!(
        rated == original,
        "the contract's own rates changed the output"
    );
    for bad in ["sonar=3", "radar=0", "radar", "radar=fast"] {
        let refused = edgefuse_cli::Cli::try_parse_from([
            "edgefuse",
            "replay",
            bag.to_str().unwrap(),
            "--fast",
            "--sensor-rate",
            bad,
        ]);
        let err = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.contains(bad) && err.contains("ultrasonic"),
            "{bad}: {err}"
        );
    }
    let refused = edgefuse_cli::Cli::try_parse_from([
        "edgefuse",
        "replay",
        renamed.to_str().unwrap(),
        "--fast",
        "--remap",
        "/ouster/points=/sensors/lidar/points",
    ]);
    let err = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("/ouster/points=/sensors/lidar/points") && err.contains("FROM:=TO"),
        "{err}"
    );
    // Two bag topics read as one are refused, naming both (with `--topics` leaving one out,
    // the remap is taken).
    let (ok, err) = edgefuse(&[
        "replay",
        bag.to_str().unwrap(),
        "--fast",
        "--remap",
        "/sensors/imu:=/sensors/lidar/points",
    ]);
    assert!(!ok);
    assert!(
        err.contains("/sensors/imu and /sensors/lidar/points")
            || err.contains("/sensors/lidar/points and /sensors/imu"),
        "{err}"
    );
    assert!(err.contains("would both be /sensors/lidar/points"), "{err}");
    // With `--topics` leaving the bag's own LiDAR out, the same remap is taken: the IMU read
    // as the LiDAR, every message of it refused for its type.
    let imu_as_lidar = outputs(
        &bag,
        &[
            "--remap",
            "/sensors/imu:=/sensors/lidar/points",
            "--topics",
            "/sensors/imu",
            "/vehicle/twist",
            "/tf_static",
        ],
        "imu_as_lidar",
    );
    assert!(
        !imu_as_lidar.iter().any(|m| m.0 == "/perception/objects"),
        "no LiDAR, no cycle"
    );
    let (ok, err) = edgefuse(&[
        "replay",
        bag.to_str().unwrap(),
        "--fast",
        "--remap",
        "/odom:=/vehicle/twist",
        "/odom:=/sensors/imu",
    ]);
    assert!(!ok);
    assert!(err.contains("/odom is remapped twice"), "{err}");

    // From 5 s in: the first cycle is there, and the ego and the tracks run (the sensors'
    // mountings come from /tf_static, recorded at the start).
    let (first_ns, _) = reader.time_range_ns().unwrap();
    let late = outputs(&bag, &["--start", "5"], "late");
    let odometry = late
        .iter()
        .filter(|m| m.0 == "/localization/odometry")
        .count();
    assert!(odometry > 50, "{odometry} odometry messages from 5 s in");
    assert!(late
        .iter()
        .all(|m| m.1 >= first_ns + 5_000_000_000 - 100_000_000));
    assert_eq!(
        late.iter().map(|m| m.1).max(),
        original.iter().map(|m| m.1).max()
    );
}

/// `bag` rewritten into `out` with its `/vehicle/twist` on `topic` as `type_name` messages
/// that `write` makes of each twist (at its log time).
fn with_twist_as(
    bag: &std::path::Path,
    out: &std::path::Path,
    topic: &str,
    type_name: &str,
    write: &dyn Fn(&mut edgefuse_bag::BagWriter, i64, &TwistWithCovarianceStamped),
) {
    use edgefuse_bag::{BagWriteOptions, BagWriter, Qos};
    use edgefuse_msgs::RosMessage;
    let reader = BagReader::open(bag).unwrap();
    let mut w = BagWriter::create(out, BagWriteOptions::default()).unwrap();
    for t in reader.topics() {
        if t.name == "/vehicle/twist" {
            w.add_topic(topic, type_name, Qos::Reliable).unwrap();
        } else {
            w.add_topic(&t.name, &t.type_name, t.qos.unwrap_or(Qos::Reliable))
                .unwrap();
        }
    }
    for m in reader.messages(&ReadOptions::default()) {
        let m = m.unwrap();
        if &*m.topic == "/vehicle/twist" {
            let tw = TwistWithCovarianceStamped::decode(&m.data).unwrap();
            write(&mut w, m.log_time_ns as i64, &tw);
        } else {
            w.write_raw(&m.topic, m.log_time_ns as i64, &m.data)
                .unwrap();
        }
    }
    w.finish().unwrap();
}

/// The offline run of `path` with the bag topics `remap` gives, on the stepping clock.
fn run_remapped(path: &std::path::Path, remap: &[(&str, &str)]) -> RunReport {
    let options = FeedOptions {
        remap: remap
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        ..FeedOptions::default()
    };
    run_bag_with(
        path,
        &options,
        PipelineConfig::default(),
        Timing::Deterministic,
        &mut NoObserver,
    )
    .unwrap()
}

/// A vehicle that publishes its speed as `nav_msgs/Odometry` (on `/odom`): read through
/// `--remap /odom:=/vehicle/twist`, the run is the one of the contract's twist messages; a
/// topic remapped onto one of another type is skipped and counted, not decoded as it.
#[test]
fn vehicle_speed_recorded_as_odometry_is_read_and_a_wrong_type_is_refused() {
    let bag = edgefuse_system_tests::sample_bag("urban_intersection").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let with_odom = dir.path().join("odom");
    with_twist_as(
        &bag,
        &with_odom,
        "/odom",
        Odometry::TYPE_NAME,
        &|w, t, tw| {
            let odom = Odometry {
                header: tw.header.clone(),
                child_frame_id: "base_link".into(),
                twist: tw.twist,
                ..Odometry::default()
            };
            w.write("/odom", t, &odom).unwrap();
        },
    );
    let cycles = |r: &RunReport| {
        format!(
            "{:?}",
            r.frames.iter().map(|f| &f.cycle).collect::<Vec<_>>()
        )
    };
    let original = run_remapped(&bag, &[]);
    let odom = run_remapped(&with_odom, &[("/odom", "/vehicle/twist")]);
    assert!(original.frames.len() > 190);
    assert!(
        cycles(&odom) == cycles(&original),
        "read from Odometry, the run differs"
    );
    // The IMU remapped onto the vehicle twist: every message refused with its type.
    let wrong = run_remapped(&bag, &[("/sensors/imu", "/vehicle/twist")]);
    let refused: u64 = wrong
        .feed_skipped
        .iter()
        .filter(|((topic, reason), _)| {
            topic == "/sensors/imu" && reason.contains("recorded as sensor_msgs/msg/Imu")
        })
        .map(|(_, n)| n)
        .sum();
    assert_eq!(refused, 2000, "{:?}", wrong.feed_skipped);
}

/// A vehicle that reports its speed as Autoware does (`autoware_vehicle_msgs/VelocityReport`
/// on `/vehicle/status/velocity_status`) or as a `geometry_msgs/TwistStamped`: remapped onto
/// `/vehicle/twist`, the ego filter runs on it as on the contract's twist; without it, on the
/// IMU alone, it cannot follow the motion.
#[test]
fn vehicle_speed_recorded_as_velocity_report_or_twist_stamped_is_read() {
    use edgefuse_msgs::autoware_vehicle_msgs::VelocityReport;
    use edgefuse_msgs::geometry_msgs::TwistStamped;
    let bag = edgefuse_system_tests::sample_bag("urban_intersection").unwrap();
    let dir = tempfile::tempdir().unwrap();
    const REPORT: &str = "/vehicle/status/velocity_status";
    let autoware = dir.path().join("autoware");
    with_twist_as(
        &bag,
        &autoware,
        REPORT,
        VelocityReport::TYPE_NAME,
        &|w, t, tw| {
            let report = VelocityReport {
                header: tw.header.clone(),
                longitudinal_velocity: tw.twist.twist.linear.x as f32,
                lateral_velocity: tw.twist.twist.linear.y as f32,
                heading_rate: tw.twist.twist.angular.z as f32,
            };
            w.write(REPORT, t, &report).unwrap();
        },
    );
    let stamped = dir.path().join("stamped");
    with_twist_as(
        &bag,
        &stamped,
        "/vel",
        TwistStamped::TYPE_NAME,
        &|w, t, tw| {
            let msg = TwistStamped {
                header: tw.header.clone(),
                twist: tw.twist.twist,
            };
            w.write("/vel", t, &msg).unwrap();
        },
    );
    // The ego's largest distance from the simulator's over the drive, m.
    let ego_error_m = |r: &RunReport| {
        frames(r, 40.0)
            .iter()
            .map(|f| (f.ego.x_m - f.ego_truth.x_m).hypot(f.ego.y_m - f.ego_truth.y_m))
            .fold(0.0, f64::max)
    };
    let original = ego_error_m(&run_remapped(&bag, &[]));
    let reported = ego_error_m(&run_remapped(&autoware, &[(REPORT, "/vehicle/twist")]));
    let twist_stamped = ego_error_m(&run_remapped(&stamped, &[("/vel", "/vehicle/twist")]));
    let imu_only = ego_error_m(&run_remapped(&autoware, &[]));
    eprintln!(
        "ego error: twist {original:.3} m, VelocityReport {reported:.3} m, TwistStamped \
         {twist_stamped:.3} m, IMU only {imu_only:.3} m"
    );
    for e in [reported, twist_stamped] {
        assert!(e < 1.5 * original + 0.05, "{e} against {original}");
        assert!(imu_only > 3.0 * e, "{imu_only} against {e}");
    }
}

/// A bag without radar, camera or ultrasonic topics (here: the drive with only its LiDAR,
/// IMU, twist and static transforms read, as `replay --fast --topics` does) runs as a system
/// without those sensors: no cycle waits for them or lists them as late or absent, and the
/// report names them. The whole bag: none named.
#[test]
fn a_bag_without_radar_camera_or_ultrasonic_topics_runs_without_those_sensors() {
    use edgefuse_fusion::types::SensorId;
    let bag = edgefuse_system_tests::sample_bag("highway_cut_in").unwrap();
    let run = |topics: Option<&[&str]>| {
        let mut options = FeedOptions::default();
        options.read.topics = topics.map(|t| t.iter().map(|s| s.to_string()).collect());
        run_bag_with(
            &bag,
            &options,
            PipelineConfig::default(),
            Timing::Deterministic,
            &mut NoObserver,
        )
        .unwrap()
    };
    let some = run(Some(&[
        "/sensors/lidar/points",
        "/sensors/imu",
        "/vehicle/twist",
        "/tf_static",
    ]));
    assert_eq!(
        some.sensors_without_topic,
        vec![
            SensorId::RadarFront,
            SensorId::CameraFront,
            SensorId::Ultrasonic(0)
        ]
    );
    assert!(some.frames.len() > 190, "{}", some.frames.len());
    for f in &some.frames {
        assert!(
            f.cycle.late.is_empty() && f.cycle.absent.is_empty(),
            "{}: late {:?}, absent {:?}",
            f.cycle.stamp_ns,
            f.cycle.late,
            f.cycle.absent
        );
    }
    assert!(some.frames.iter().any(|f| !f.cycle.tracks.is_empty()));
    let all = run(None);
    assert!(all.sensors_without_topic.is_empty());
    assert!(!all.ultrasonic_names.is_empty());
}
