//! A bag written by the Python `rosbags` library with the contract's topics is replayed over
//! DDS by `edgefuse replay`'s player and recorded by `edgefuse record`'s recorder, inside a
//! private loopback-only network namespace: every payload comes back byte for byte, in order
//! (plus RTPS's alignment to 4 bytes), and `rosbags` reads the recorded bag with the same
//! counts. Started halfway, the player still sends the static transforms recorded before.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use edgefuse_bag::{BagReader, ReadOptions};
use edgefuse_ros::dds::DdsTransport;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::NodeArgs;
use edgefuse_system_tests::{netns, run_python};
use serde_json::Value;

fn payloads(bag: &std::path::Path) -> BTreeMap<String, Vec<Vec<u8>>> {
    let reader = BagReader::open(bag).unwrap();
    let mut out: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for m in reader.messages(&ReadOptions::default()) {
        let m = m.unwrap();
        out.entry(m.topic.to_string())
            .or_default()
            .push(m.data.to_vec());
    }
    out
}

/// `edgefuse record`'s recorder of `topics` into `out` on its own thread, until `stop`.
fn spawn_recorder(
    out: &std::path::Path,
    topics: &[(String, String)],
    stop: &Shutdown,
) -> std::thread::JoinHandle<(edgefuse_cli::record::RecordStats, edgefuse_bag::BagSummary)> {
    let (out, topics, stop) = (out.to_path_buf(), topics.to_vec(), stop.clone());
    std::thread::spawn(move || {
        let args = NodeArgs::parse("recorder", Vec::<String>::new()).unwrap();
        let t = Arc::new(DdsTransport::new(0, "/", "recorder").unwrap());
        edgefuse_cli::record::record(&out, &topics, args, t, &stop).unwrap()
    })
}

#[test]
fn a_rosbags_bag_replays_unchanged_and_records_back() {
    if !netns::isolated("a_rosbags_bag_replays_unchanged_and_records_back") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("from_rosbags");
    run_python(
        "bag_oracle.py",
        &["write", src.to_str().unwrap(), "mcap", "15"],
    )
    .unwrap();
    let want = payloads(&src);
    let reader = BagReader::open(&src).unwrap();
    let topics: Vec<(String, String)> = reader
        .topics()
        .iter()
        .map(|t| (t.name.clone(), t.type_name.clone()))
        .collect();
    drop(reader);
    assert!(topics.len() >= 8, "{topics:?}");

    let out = dir.path().join("recorded");
    let stop = Shutdown::manual();
    let recorder = spawn_recorder(&out, &topics, &stop);
    std::thread::sleep(Duration::from_secs(1));
    let args = NodeArgs::parse("player", Vec::<String>::new()).unwrap();
    let t = Arc::new(DdsTransport::new(0, "/", "player").unwrap());
    // At a fifth of the recorded pace: 5 ms between messages.
    let played = edgefuse_fusion_node::player::play(
        &src,
        0.2,
        &ReadOptions::default(),
        args,
        t,
        &Shutdown::manual(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    stop.request();
    let (stats, _) = recorder.join().unwrap();
    eprintln!(
        "played {:?}\nrecorded {:?}",
        played.published, stats.written
    );

    let got = payloads(&out);
    for (topic, msgs) in &want {
        assert_eq!(
            got.get(topic).map(Vec::len),
            Some(msgs.len()),
            "{topic}: recorded count"
        );
        // RTPS carries a serialized payload in 4-byte units: the payload that comes back is
        // the original, then up to 3 zero bytes of alignment (every CDR reader ignores them).
        for (i, (g, w)) in got[topic].iter().zip(msgs).enumerate() {
            let pad = &g[w.len().min(g.len())..];
            assert!(
                g.starts_with(w) && pad.len() < 4 && pad.iter().all(|b| *b == 0),
                "{topic} #{i}: {} bytes came back for {}",
                g.len(),
                w.len()
            );
        }
    }
    let v: Value = serde_json::from_str(
        &run_python("bag_oracle.py", &["read", out.to_str().unwrap()]).unwrap(),
    )
    .unwrap();
    for (topic, msgs) in &want {
        assert_eq!(
            v["topics"][topic.as_str()]["count"].as_u64(),
            Some(msgs.len() as u64),
            "rosbags count of {topic}"
        );
    }

    // Started halfway: the static transforms recorded before still go out first (as a
    // subscriber joining then would get them), then the messages from halfway on.
    let reader = BagReader::open(&src).unwrap();
    let (first_ns, last_ns) = reader.time_range_ns().unwrap();
    let half_ns = first_ns + (last_ns - first_ns) / 2;
    let from_half: BTreeMap<String, usize> = reader
        .messages(&ReadOptions {
            start_ns: Some(half_ns),
            ..ReadOptions::default()
        })
        .fold(BTreeMap::new(), |mut n, m| {
            *n.entry(m.unwrap().topic.to_string()).or_default() += 1;
            n
        });
    drop(reader);
    assert!(
        from_half.get("/tf_static") < want.get("/tf_static").map(Vec::len).as_ref(),
        "{from_half:?}"
    );
    let out_late = dir.path().join("recorded_late");
    let stop = Shutdown::manual();
    let recorder = spawn_recorder(&out_late, &topics, &stop);
    std::thread::sleep(Duration::from_secs(1));
    let args = NodeArgs::parse("player", Vec::<String>::new()).unwrap();
    let t = Arc::new(DdsTransport::new(0, "/", "player").unwrap());
    edgefuse_fusion_node::player::play(
        &src,
        0.2,
        &ReadOptions {
            start_ns: Some(half_ns),
            ..ReadOptions::default()
        },
        args,
        t,
        &Shutdown::manual(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    stop.request();
    recorder.join().unwrap();
    let got = payloads(&out_late);
    assert_eq!(
        got.get("/tf_static").map(Vec::len),
        want.get("/tf_static").map(Vec::len),
        "the static transforms of a late start"
    );
    for (topic, n) in from_half.iter().filter(|(t, _)| *t != "/tf_static") {
        assert_eq!(
            got.get(topic).map(Vec::len),
            Some(*n),
            "{topic} from halfway"
        );
    }
}
