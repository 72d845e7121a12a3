//! The `edgefuse` command line through `edgefuse_cli::run`, as `main` calls it: `generate`,
//! `info`, and the errors bad input gets (the text `main` prints after `error:`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use edgefuse_bag::{BagReader, ReadOptions};
use serde_json::Value;

/// Runs the CLI; (success, error text as `main` prints it).
fn edgefuse(args: &[&str]) -> (bool, String) {
    let cli = edgefuse_cli::Cli::try_parse_from(std::iter::once("edgefuse").chain(args.iter().copied())).unwrap();
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
            "generate", "--scenario", "parking", "--duration", "1.5", "--seed", seed, "--out", out.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        std::fs::read(out.join("drive_0.mcap")).unwrap()
    };
    let a = run("a", "7");
    let b = run("b", "7");
    let c = run("c", "8");
    assert!(a.len() > 100_000);
    let first_diff = a.iter().zip(&b).position(|(x, y)| x != y);
    assert!(a.len() == b.len() && first_diff.is_none(), "same seed must give the same bytes (first difference at {first_diff:?})");
    assert!(a != c, "another seed must give other noise");
}

#[test]
fn info_matches_the_reader_and_the_python_count() {
    let bag = edgefuse_system_tests::sample_bag("urban_intersection").unwrap();
    let info = edgefuse_cli::info::BagInfo::read(&bag).unwrap();
    let v: Value = info.to_json();
    let reader = BagReader::open(&bag).unwrap();
    let total = reader.messages(&ReadOptions::default()).count() as u64;
    assert_eq!(v["message_count"].as_u64().unwrap(), total);
    let imu = v["topics"].as_array().unwrap().iter().find(|t| t["name"] == "/sensors/imu").unwrap();
    assert_eq!(imu["type"], "sensor_msgs/msg/Imu");
    let rate = imu["rate_hz"].as_f64().unwrap();
    assert!((rate - 100.0).abs() < 2.0, "IMU rate {rate}");
    let text = info.to_text();
    assert!(text.contains("/sensors/lidar/points") && text.contains("Duration:"), "{text}");
}

#[test]
fn bad_input_gets_a_named_error_and_a_failure_exit() {
    let (ok, err) = edgefuse(&["generate", "--scenario", "moon_landing", "--out", "/tmp/never"]);
    assert!(!ok);
    assert!(err.contains("moon_landing") && err.contains("highway_cut_in"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "name: x\nseed: 1\nduration_s: -3\n").unwrap();
    let (ok, err) = edgefuse(&["generate", "--scenario-file", bad.to_str().unwrap(), "--out", dir.path().join("o").to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("bad.yaml"), "{err}");

    let (ok, err) = edgefuse(&["info", dir.path().join("nothing_here").to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("nothing_here"), "{err}");

    let existing = dir.path().join("exists");
    std::fs::create_dir(&existing).unwrap();
    std::fs::write(existing.join("keep.txt"), "x").unwrap();
    let (ok, err) = edgefuse(&["generate", "--scenario", "parking", "--duration", "0.5", "--out", existing.to_str().unwrap()]);
    assert!(!ok && err.contains("--force"), "{err}");
    assert!(existing.join("keep.txt").exists(), "nothing may be lost");
}
