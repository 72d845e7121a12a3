//! rerun recordings read back by the rerun Python SDK of the same version: `edgefuse replay
//! --fast --deterministic --rerun-save` on a sample drive writes an `.rrd` whose entities hold
//! one row per message the bag has (counted by the Python `rosbags` reader) and one per
//! pipeline cycle, on the `sensor_time` timeline, with a blueprint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use clap::Parser;
use edgefuse_fusion::lidar::LabelledCloud;
use edgefuse_fusion::pipeline::{CycleOutput, Pipeline, PipelineConfig};
use edgefuse_fusion_node::runner::{run_bag, run_bag_observed, RunObserver, Timing};
use edgefuse_system_tests::{rerun_python, run_python, run_python_with, sample_bag};
use edgefuse_viz::{BACKGROUND_STRIDE, GROUND_STRIDE};
use serde_json::Value;

fn edgefuse(args: &[&str]) -> Result<(), String> {
    let cli =
        edgefuse_cli::Cli::try_parse_from(std::iter::once("edgefuse").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
    edgefuse_cli::run(cli).map_err(|e| format!("{e:#}"))
}

/// `edgefuse replay BAG --fast --deterministic --rerun-save RRD` (the deterministic clock: the
/// clouds are compared with a deterministic run's, and a stalled cycle on a busy machine must
/// not coarsen the voxel grid).
fn replay_to_rrd(bag: &std::path::Path, rrd: &std::path::Path) -> Result<(), String> {
    edgefuse(&[
        "replay",
        bag.to_str().unwrap(),
        "--fast",
        "--deterministic",
        "--rerun-save",
        rrd.to_str().unwrap(),
    ])
}

/// What the rerun Python SDK reads from the recording at `rrd` (`tests/python/rrd_check.py`).
fn read_rrd(rrd: &std::path::Path) -> Value {
    let out = run_python_with(
        &rerun_python().unwrap(),
        "rrd_check.py",
        &[rrd.to_str().unwrap()],
    )
    .unwrap();
    serde_json::from_str(&out).unwrap()
}

fn rows(entities: &Value, path: &str) -> u64 {
    entities[path]["rows"]
        .as_u64()
        .unwrap_or_else(|| panic!("no entity {path} in the recording"))
}

#[test]
fn replay_to_rrd_holds_every_message_and_cycle() {
    let bag = sample_bag("parking").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rrd = dir.path().join("parking.rrd");
    replay_to_rrd(&bag, &rrd).unwrap();

    // The oracle: what the rerun SDK reads from the file.
    let got: Value = read_rrd(&rrd);
    assert_eq!(got["recordings"], 1, "{got}");
    assert!(got["blueprints"].as_u64().unwrap() >= 1, "no blueprint");
    let e = &got["entities"];

    // What the bag holds, counted by rosbags.
    let bag_info: Value = serde_json::from_str(
        &run_python("bag_oracle.py", &["read", bag.to_str().unwrap()]).unwrap(),
    )
    .unwrap();
    let count = |topic: &str| bag_info["topics"][topic]["count"].as_u64().unwrap_or(0);
    // What the pipeline did (same bag, same code path as the replay, without drawing).
    let report = run_bag(&bag, PipelineConfig::default(), Timing::Deterministic).unwrap();
    let skipped = |topic: &str| -> u64 {
        report
            .feed_skipped
            .iter()
            .filter(|((t, _), _)| t == topic)
            .map(|(_, n)| *n)
            .sum()
    };

    let radar = count("/sensors/radar/front/scan");
    assert!(radar > 0);
    assert_eq!(
        rows(e, "/world/ego/radar_front/returns"),
        radar - skipped("/sensors/radar/front/scan")
    );
    assert_eq!(
        rows(e, "/world/ego/radar_front/doppler"),
        radar - skipped("/sensors/radar/front/scan")
    );
    let det = "/sensors/camera/front/detections";
    assert_eq!(
        rows(e, "/world/ego/camera_front/detections"),
        count(det) - skipped(det)
    );
    assert_eq!(
        rows(e, "/world/ground_truth"),
        count("/ground_truth/objects")
    );
    let mut ultrasonic = 0;
    for (topic, _) in bag_info["topics"].as_object().unwrap() {
        let Some(pos) = topic
            .strip_prefix("/sensors/ultrasonic/")
            .and_then(|t| t.strip_suffix("/range"))
        else {
            continue;
        };
        ultrasonic += 1;
        assert_eq!(
            rows(e, &format!("/world/ego/ultrasonic/{pos}/cone")),
            count(topic) - skipped(topic),
            "{topic}"
        );
        assert_eq!(
            e[format!("/world/ego/ultrasonic/{pos}")]["static_rows"],
            1,
            "{pos} mount"
        );
    }
    assert!(ultrasonic >= 4, "{ultrasonic} ultrasonic sensors");

    // One row per cycle.
    let cycles = report.frames.len() as u64;
    let with_ego = report
        .frames
        .iter()
        .filter(|f| f.cycle.ego.is_some())
        .count() as u64;
    assert!(cycles > 100, "{cycles}");
    assert_eq!(rows(e, "/world/tracks"), cycles);
    assert_eq!(rows(e, "/world/tracks/velocity"), cycles);
    assert_eq!(rows(e, "/timing/cycle_ms"), cycles);
    assert_eq!(rows(e, "/timing/deadline_ms"), cycles);
    assert_eq!(rows(e, "/world/ego"), with_ego);
    assert_eq!(rows(e, "/world/ego_trail"), with_ego);
    // LiDAR cycles with a started EKF carry the labelled cloud.
    /// Cycles with a cloud, and the points each entity must hold: every `GROUND_STRIDE`-th
    /// ground point, the voxels of kept clusters, every `BACKGROUND_STRIDE`-th other voxel.
    #[derive(Default)]
    struct Clouds {
        cycles: u64,
        ground: u64,
        clustered: u64,
        unclustered: u64,
    }
    impl RunObserver for Clouds {
        fn cycle(&mut self, _: &CycleOutput, cloud: Option<LabelledCloud>, _: &Pipeline) {
            let Some(c) = cloud else { return };
            let clustered = c.voxel_cluster.iter().filter(|k| k.is_some()).count();
            self.cycles += 1;
            self.ground += c.ground_m.len().div_ceil(GROUND_STRIDE) as u64;
            self.clustered += clustered as u64;
            self.unclustered += (c.voxels_m.len() - clustered).div_ceil(BACKGROUND_STRIDE) as u64;
        }
    }
    let mut config = PipelineConfig::default();
    config.lidar.keep_cloud = true;
    let mut clouds = Clouds::default();
    let kept = run_bag_observed(&bag, config, Timing::Deterministic, &mut clouds).unwrap();
    // The clouds go to the observer, not into the report.
    assert!(kept.frames.iter().all(|f| f.cycle.lidar_cloud.is_none()));
    let lidar_cycles = clouds.cycles;
    assert!(
        lidar_cycles * 10 >= count("/sensors/lidar/points") * 9,
        "{lidar_cycles}"
    );
    let points = |path: &str| e[path]["positions"].as_u64().unwrap();
    for (path, expected) in [
        ("/world/ego/lidar_ground", clouds.ground),
        ("/world/ego/lidar_clusters", clouds.clustered),
        ("/world/ego/lidar_unclustered", clouds.unclustered),
    ] {
        assert_eq!(rows(e, path), lidar_cycles, "{path}");
        assert_eq!(points(path), expected, "{path}");
    }
    assert!(
        clouds.clustered > 1000 * lidar_cycles,
        "{}",
        clouds.clustered
    );

    // Static scene: sensor mounts, the camera's pinhole, class colours.
    for path in [
        "/world/ego/lidar",
        "/world/ego/radar_front",
        "/world/ego/camera_front",
    ] {
        assert!(
            e[path]["static_rows"].as_u64().unwrap() >= 1,
            "{path}: {}",
            e[path]
        );
    }
    let cam_columns = e["/world/ego/camera_front"]["columns"].to_string();
    assert!(
        cam_columns.contains("Pinhole:image_from_camera"),
        "{cam_columns}"
    );
    assert!(
        cam_columns.contains("Transform3D:translation"),
        "{cam_columns}"
    );
    // Everything temporal is on the sensor-time timeline.
    let mut temporal = BTreeMap::new();
    for (path, v) in e.as_object().unwrap() {
        if v["rows"].as_u64().unwrap() > 0 {
            let on = v["timelines"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == "sensor_time");
            temporal.insert(path.clone(), on);
        }
    }
    assert!(temporal.values().all(|on| *on), "{temporal:?}");
    assert!(temporal.len() > 20, "{temporal:?}");
}

#[test]
fn rerun_save_into_a_missing_directory_is_refused_with_the_path() {
    let bag = sample_bag("parking").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rrd = dir.path().join("no/such/dir/x.rrd");
    let err = replay_to_rrd(&bag, &rrd).unwrap_err();
    assert!(err.contains(rrd.to_str().unwrap()), "{err}");
    assert!(err.contains("does not exist"), "{err}");
}

/// `edgefuse viz`'s node on live DDS topics (a sample drive played at its pace for 4 s, in a
/// loopback-only network namespace): the file holds a row per message the node drew, and the
/// node drew nearly every message the player published.
#[test]
fn live_topics_are_drawn_by_the_viz_node() {
    use std::sync::Arc;
    use std::time::Duration;

    use edgefuse_bag::{BagReader, ReadOptions};
    use edgefuse_ros::dds::DdsTransport;
    use edgefuse_ros::shutdown::Shutdown;
    use edgefuse_ros::NodeArgs;
    use edgefuse_system_tests::netns;
    use edgefuse_viz::Target;

    if !netns::isolated("live_topics_are_drawn_by_the_viz_node") {
        return;
    }
    let bag = sample_bag("parking").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rrd = dir.path().join("live.rrd");
    let stop = Shutdown::manual();
    let viz = {
        let (stop, target) = (
            stop.clone(),
            Target {
                save: Some(rrd.clone()),
                ..Target::default()
            },
        );
        std::thread::spawn(move || {
            let args = NodeArgs::parse("rerun_viz", Vec::<String>::new()).unwrap();
            let t = Arc::new(DdsTransport::new(0, "/", "rerun_viz").unwrap());
            edgefuse_cli::viz_cmd::live(args, t, &target, &stop).unwrap()
        })
    };
    // The fusion node on the raw contract topics, publishing its labelled sweeps.
    let fusion = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let args = NodeArgs::parse(
                "fusion_node",
                [
                    "--ros-args",
                    "-p",
                    "input_prefix:=",
                    "-p",
                    "publish_labelled_cloud:=true",
                ],
            )
            .unwrap();
            let t = Arc::new(DdsTransport::new(0, "/", "fusion_node").unwrap());
            edgefuse_fusion_node::live::run(args, t, &stop).unwrap()
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    let (first, _) = BagReader::open(&bag).unwrap().time_range_ns().unwrap();
    let options = ReadOptions {
        end_ns: Some(first + 4_000_000_000),
        ..ReadOptions::default()
    };
    let args = NodeArgs::parse("player", Vec::<String>::new()).unwrap();
    let t = Arc::new(DdsTransport::new(0, "/", "player").unwrap());
    let played =
        edgefuse_fusion_node::player::play(&bag, 1.0, &options, args, t, &Shutdown::manual())
            .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    stop.request();
    let stats = viz.join().unwrap();
    let fused = fusion.join().unwrap();
    eprintln!(
        "published {:?}\ndrawn {:?}\nskipped {:?}\nfusion cycles {}",
        played.published, stats.drawn, stats.skipped, fused.cycles
    );

    let got: Value = read_rrd(&rrd);
    let e = &got["entities"];
    let drawn = |topic: &str| stats.drawn.get(topic).copied().unwrap_or(0);
    let published = |topic: &str| played.published.get(topic).copied().unwrap_or(0);
    // LiDAR: the raw sweeps until the fusion node's labelled ones arrive, then those.
    let (lidar, labelled) = ("/sensors/lidar/points", "/perception/lidar/labelled_points");
    assert_eq!(rows(e, "/world/ego/lidar/points"), drawn(lidar));
    for entity in [
        "/world/ego/lidar_ground",
        "/world/ego/lidar_clusters",
        "/world/ego/lidar_unclustered",
    ] {
        assert_eq!(rows(e, entity), drawn(labelled), "{entity}");
    }
    assert!(
        drawn(labelled) * 10 >= published(lidar) * 7 && drawn(lidar) < published(lidar) / 2,
        "{lidar}: {} published, {} drawn raw, {} labelled",
        published(lidar),
        drawn(lidar),
        drawn(labelled)
    );
    for (topic, entity) in [
        (
            "/sensors/radar/front/scan",
            "/world/ego/radar_front/returns",
        ),
        (
            "/sensors/camera/front/detections",
            "/world/ego/camera_front/detections",
        ),
        ("/ground_truth/objects", "/world/ground_truth"),
    ] {
        assert!(published(topic) > 0, "{topic} not played");
        assert_eq!(rows(e, entity), drawn(topic), "{topic} -> {entity}");
        // Best-effort sensor topics on loopback: nearly all arrive (the first ones may come
        // before /tf_static, and are skipped and counted).
        assert!(
            drawn(topic) * 10 >= published(topic) * 8,
            "{topic}: drew {} of {}",
            drawn(topic),
            published(topic)
        );
    }
    assert!(got["blueprints"].as_u64().unwrap() >= 1);
}

/// `--rerun-connect`: a fast replay streams over gRPC on loopback to a running rerun server
/// (the rerun CLI of the same version, saving what it receives to a file); what arrived holds
/// the same entities with the same number of rows as `--rerun-save` writes for the same bag.
#[test]
fn rerun_connect_streams_the_recording_to_a_running_viewer() {
    use std::net::TcpStream;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use edgefuse_system_tests::netns;

    if !netns::isolated("rerun_connect_streams_the_recording_to_a_running_viewer") {
        return;
    }
    let bag = sample_bag("parking").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let received = dir.path().join("received.rrd");
    let rerun = rerun_python().unwrap().with_file_name("rerun");
    let port = "9877";
    let mut server = Command::new(&rerun)
        .args(["--port", port, "--bind", "127.0.0.1", "--save"])
        .arg(&received)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} did not listen on 127.0.0.1:{port}",
            rerun.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("rerun+http://127.0.0.1:{port}/proxy");
    edgefuse(&[
        "replay",
        bag.to_str().unwrap(),
        "--fast",
        "--deterministic",
        "--rerun-connect",
        &url,
    ])
    .unwrap();
    // Ctrl-C: the server finishes the file and exits.
    let pid = server.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        if stopping.elapsed() > Duration::from_secs(30) {
            server.kill().unwrap();
            panic!("the rerun server did not stop on SIGINT within 30 s (is SIGINT ignored?)");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("rerun server: {status}");

    let saved = dir.path().join("saved.rrd");
    replay_to_rrd(&bag, &saved).unwrap();
    let table = |v: &Value| -> BTreeMap<String, (u64, u64)> {
        v["entities"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(path, _)| path.as_str() != "/__properties")
            .map(|(path, e)| {
                (
                    path.clone(),
                    (
                        e["rows"].as_u64().unwrap(),
                        e["static_rows"].as_u64().unwrap(),
                    ),
                )
            })
            .collect()
    };
    let (got, want) = (read_rrd(&received), read_rrd(&saved));
    assert_eq!(got["recordings"], 1, "{got}");
    assert!(got["blueprints"].as_u64().unwrap() >= 1, "no blueprint");
    let (got, want) = (table(&got), table(&want));
    assert!(want.len() > 50, "{want:?}");
    assert_eq!(got, want);
}

/// A bag with camera images (the sample drives have none): the first 3 s of the parking drive
/// plus a `bgr8` image every 100 ms, replayed with `--rerun-save`: one image row per image.
#[test]
fn camera_images_in_a_bag_are_drawn() {
    use edgefuse_bag::{BagReader, BagWriteOptions, BagWriter, Qos, ReadOptions};
    use edgefuse_msgs::builtin_interfaces::Time;
    use edgefuse_msgs::sensor_msgs::Image;
    use edgefuse_msgs::std_msgs::Header;

    let src = sample_bag("parking").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bag = dir.path().join("with_images");
    let reader = BagReader::open(&src).unwrap();
    let (first, _) = reader.time_range_ns().unwrap();
    let end = first + 3_000_000_000;
    let mut w = BagWriter::create(&bag, BagWriteOptions::default()).unwrap();
    for t in reader.topics() {
        w.add_topic(&t.name, &t.type_name, t.qos.unwrap_or(Qos::Reliable))
            .unwrap();
    }
    let image_topic = "/sensors/camera/front/image_raw";
    w.add_topic(image_topic, "sensor_msgs/msg/Image", Qos::SensorData)
        .unwrap();
    let options = ReadOptions {
        end_ns: Some(end),
        ..ReadOptions::default()
    };
    let mut next_image = first;
    let mut images = 0u64;
    for m in reader.messages(&options) {
        let m = m.unwrap();
        while next_image <= m.log_time_ns {
            let (width, height) = (64u32, 48u32);
            let img = Image {
                header: Header {
                    stamp: Time::from_nanos(next_image as i64),
                    frame_id: "camera_front_optical".into(),
                },
                height,
                width,
                encoding: "bgr8".into(),
                is_bigendian: 0,
                step: width * 3,
                data: (0..width * height * 3).map(|i| (i % 251) as u8).collect(),
            };
            w.write(image_topic, next_image as i64, &img).unwrap();
            images += 1;
            next_image += 100_000_000;
        }
        w.write_raw(&m.topic, m.log_time_ns as i64, &m.data)
            .unwrap();
    }
    w.finish().unwrap();
    drop(reader);
    assert!(images >= 29, "{images}");

    let rrd = dir.path().join("images.rrd");
    replay_to_rrd(&bag, &rrd).unwrap();
    let got = read_rrd(&rrd);
    let e = &got["entities"];
    assert_eq!(rows(e, "/world/ego/camera_front/image"), images);
    let columns = e["/world/ego/camera_front/image"]["columns"].to_string();
    assert!(columns.contains("Image:buffer"), "{columns}");
}
