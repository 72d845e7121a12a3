//! Bag and simulator throughput, printed as JSON (run: `cargo bench -p edgefuse-system-tests
//! --bench bag_io`). Side by side in one run on the same sample bag:
//! - read: ours (stream + typed CDR decode of every message) vs the Python `rosbags` reader
//!   (stream + deserialise every message);
//! - write: ours (zstd chunks, and uncompressed) vs `rosbags` (uncompressed MCAP, its only MCAP
//!   mode), the same CDR payloads;
//! - simulator: simulated seconds per wall second for each built-in scenario.
//!
//! Each figure is the median of `REPEATS` runs.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::Instant;

use edgefuse_bag::{
    BagReader, BagWriteOptions, BagWriter, Compression, Qos, RawMessage, ReadOptions,
};
use edgefuse_msgs::{visit_type, RosMessage, TypeVisitor};
use serde_json::{json, Value};

const REPEATS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Decode<'a>(&'a [u8]);
impl TypeVisitor for Decode<'_> {
    type Out = bool;
    fn visit<M: RosMessage>(self) -> bool {
        M::decode(self.0).is_ok()
    }
}

fn read_ours(bag: &Path) -> (f64, u64, u64) {
    let start = Instant::now();
    let reader = BagReader::open(bag).unwrap();
    let (mut n, mut bytes) = (0u64, 0u64);
    for m in reader.messages(&ReadOptions::default()) {
        let m = m.unwrap();
        assert!(
            visit_type(&m.type_name, Decode(&m.data)).unwrap_or(false),
            "{}",
            m.topic
        );
        n += 1;
        bytes += m.data.len() as u64;
    }
    (start.elapsed().as_secs_f64(), n, bytes)
}

fn write_ours(
    msgs: &[RawMessage],
    topics: &[(String, String, Option<Qos>)],
    out: &Path,
    compression: Compression,
) -> f64 {
    let start = Instant::now();
    let mut w = BagWriter::create(
        out,
        BagWriteOptions {
            compression,
            ..Default::default()
        },
    )
    .unwrap();
    for (t, ty, q) in topics {
        w.add_topic(t, ty, q.unwrap_or(Qos::Reliable)).unwrap();
    }
    for m in msgs {
        w.write_raw(&m.topic, m.log_time_ns as i64, &m.data)
            .unwrap();
    }
    w.finish().unwrap();
    start.elapsed().as_secs_f64()
}

fn main() {
    let scenario =
        std::env::var("EDGEFUSE_BENCH_SCENARIO").unwrap_or_else(|_| "urban_intersection".into());
    let bag = edgefuse_system_tests::sample_bag(&scenario).unwrap();
    let reader = BagReader::open(&bag).unwrap();
    let storage_bytes = reader.storage_bytes();
    let topics: Vec<_> = reader
        .topics()
        .iter()
        .map(|t| (t.name.clone(), t.type_name.clone(), t.qos))
        .collect();
    let msgs: Vec<RawMessage> = reader
        .messages(&ReadOptions::default())
        .map(|m| m.unwrap())
        .collect();
    let payload: u64 = msgs.iter().map(|m| m.data.len() as u64).sum();
    let n = msgs.len() as u64;
    let mb = payload as f64 / 1e6;

    let ours_read = median((0..REPEATS).map(|_| read_ours(&bag).0).collect());
    let py_read = median(
        (0..REPEATS)
            .map(|_| {
                let out = edgefuse_system_tests::run_python(
                    "bag_oracle.py",
                    &["time", bag.to_str().unwrap()],
                )
                .unwrap();
                let v: Value = serde_json::from_str(&out).unwrap();
                assert_eq!(v["messages"].as_u64().unwrap(), n);
                v["seconds"].as_f64().unwrap()
            })
            .collect(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let ours_write = median(
        (0..REPEATS)
            .map(|i| {
                write_ours(
                    &msgs,
                    &topics,
                    &tmp.path().join(format!("w{i}")),
                    Compression::Zstd,
                )
            })
            .collect(),
    );
    let ours_write_raw = median(
        (0..REPEATS)
            .map(|i| {
                write_ours(
                    &msgs,
                    &topics,
                    &tmp.path().join(format!("r{i}")),
                    Compression::None,
                )
            })
            .collect(),
    );
    let py_write = median(
        (0..REPEATS)
            .map(|i| {
                let out_dir = tmp.path().join(format!("py{i}"));
                let out = edgefuse_system_tests::run_python(
                    "bag_oracle.py",
                    &[
                        "time_write",
                        bag.to_str().unwrap(),
                        out_dir.to_str().unwrap(),
                    ],
                )
                .unwrap();
                serde_json::from_str::<Value>(&out).unwrap()["seconds"]
                    .as_f64()
                    .unwrap()
            })
            .collect(),
    );

    let mut sim = Vec::new();
    for (name, _) in edgefuse_sim::BUILTIN_SCENARIOS {
        let def = edgefuse_sim::builtin_scenario(name).unwrap();
        let dir = tmp.path().join(format!("sim_{name}"));
        let start = Instant::now();
        let report =
            edgefuse_sim::generate(&def, &edgefuse_sim::GenerateOptions::default(), &dir).unwrap();
        let wall = start.elapsed().as_secs_f64();
        let size: u64 = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        sim.push(json!({
            "scenario": name,
            "simulated_s": report.simulated_s,
            "wall_s": wall,
            "sim_s_per_wall_s": report.simulated_s / wall,
            "messages": report.messages,
            "lidar_points_min": report.lidar_points_min,
            "lidar_points_max": report.lidar_points_max,
            "bag_bytes": size,
        }));
    }

    let rate = |secs: f64| json!({"seconds": secs, "MB_per_s": mb / secs, "messages_per_s": n as f64 / secs});
    let out = json!({
        "bag": bag.display().to_string(),
        "messages": n,
        "payload_MB": mb,
        "storage_MB": storage_bytes as f64 / 1e6,
        "repeats": REPEATS,
        "read": {"ours": rate(ours_read), "rosbags": rate(py_read), "speedup": py_read / ours_read},
        "write": {
            "ours_zstd": rate(ours_write),
            "ours_uncompressed": rate(ours_write_raw),
            "rosbags_uncompressed": rate(py_write),
            "speedup_uncompressed": py_write / ours_write_raw,
        },
        "simulator": sim,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
