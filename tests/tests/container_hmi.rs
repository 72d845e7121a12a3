//! The HMI node composed in the one-process container (`pipeline_container` with `hmi:=true`),
//! over DDS inside a private loopback-only network namespace: a player replays the parking drive
//! with `/clock`, a probe (its own DDS participant) publishes driver requests, and the HMI
//! composed beside the fusion node answers them from the fusion node's outputs, which it reads
//! in memory (the container shares them; its subscriptions to them are in-process only).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use edgefuse_bag::{BagReader, ReadOptions};
use edgefuse_msgs::std_msgs::String as RosString;
use edgefuse_ros::dds::DdsTransport;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::{Node, NodeArgs, Qos};
use edgefuse_system_tests::netns;

fn dds(name: &str) -> Arc<DdsTransport> {
    Arc::new(DdsTransport::new(0, "/", name).unwrap())
}

#[test]
fn a_request_to_the_hmi_in_the_container_gets_an_answer_from_the_fused_world() {
    if !netns::isolated("a_request_to_the_hmi_in_the_container_gets_an_answer_from_the_fused_world")
    {
        return;
    }
    let bag = edgefuse_system_tests::sample_bag("parking").unwrap();
    let model = edgefuse_cli::llm_cmd::fetch_default_model().unwrap();
    let stop = Shutdown::manual();
    let container = {
        let stop = stop.clone();
        let raw: Vec<String> = [
            "--ros-args",
            "-p",
            "use_sim_time:=true",
            "-p",
            "hmi:=true",
            "-p",
            &format!("model:={}", model.display()),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        std::thread::spawn(move || {
            edgefuse_fusion_node::container::run(raw, dds("pipeline_container"), &stop).unwrap()
        })
    };
    let mut probe = Node::new(
        NodeArgs::parse("probe", Vec::<String>::new()).unwrap(),
        dds("probe"),
    )
    .unwrap();
    let request = probe
        .advertise::<RosString>("/hmi/request", Qos::RELIABLE)
        .unwrap();
    let responses = probe
        .subscribe::<RosString>("/hmi/response", Qos::RELIABLE)
        .unwrap();
    let reader = BagReader::open(&bag).unwrap();
    let (first_ns, _) = reader.time_range_ns().unwrap();
    let player = {
        let stop = stop.clone();
        let bag = bag.clone();
        std::thread::spawn(move || {
            let opts = ReadOptions {
                end_ns: Some(first_ns + 8_000_000_000),
                ..ReadOptions::default()
            };
            let args = NodeArgs::parse("player", Vec::<String>::new()).unwrap();
            edgefuse_fusion_node::player::play(&bag, 1.0, &opts, args, dds("player"), &stop)
                .unwrap()
        })
    };
    // Ask once the drive has been playing for a while.
    std::thread::sleep(Duration::from_secs(6));
    let questions = ["What do the parking sensors say?", "How fast am I going?"];
    for q in questions {
        request.publish(&RosString { data: q.into() }).unwrap();
    }
    let mut answers = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while answers.len() < questions.len() && Instant::now() < deadline {
        if let Some(d) = probe.recv(Duration::from_millis(50)).unwrap() {
            if let Some(m) = probe.decode(responses, &d) {
                answers.push(serde_json::from_str::<serde_json::Value>(&m.data).unwrap());
            }
        }
    }
    stop.request();
    player.join().unwrap();
    let report = container.join().unwrap();
    eprintln!("answers {answers:#?}\nhmi {:?}", report.hmi);
    assert_eq!(answers.len(), 2, "{answers:?}");
    for a in &answers {
        // Facts from the fusion node in the same process: a cycle stamp inside the drive.
        let stamp_s = a["evidence"]["stamp_s"]
            .as_f64()
            .expect("evidence with a stamp");
        let t_s = stamp_s - first_ns as f64 * 1e-9;
        assert!((1.0..8.0).contains(&t_s), "{t_s} s into the drive: {a}");
        assert!(
            matches!(
                a["source"].as_str(),
                Some("Llm" | "LlmBestOfN" | "Template")
            ),
            "{a}"
        );
    }
    // The parking sensors (validated in the container, mounted by the player's /tf_static).
    let sensors = &answers[0];
    assert_eq!(sensors["request"], questions[0]);
    let used = sensors["evidence"]["ultrasonic"].as_array().unwrap();
    assert!(
        used.iter().any(|u| u["topic"]
            .as_str()
            .unwrap()
            .starts_with("/ingest/sensors/ultrasonic/")
            && u["range_m"].is_number()),
        "{sensors}"
    );
    assert!(
        sensors["text"].as_str().unwrap().contains(" m"),
        "{sensors}"
    );
    // A speed (the checker held it to the fused ego speed).
    let speed = edgefuse_dialogue::checker::claims(answers[1]["text"].as_str().unwrap());
    assert!(
        speed
            .iter()
            .any(|c| matches!(c, edgefuse_dialogue::checker::Claim::Speed { .. })),
        "{}",
        answers[1]
    );
    let hmi = report.hmi.expect("the HMI node was composed");
    assert_eq!((hmi.requests, hmi.answered), (2, 2), "{hmi:?}");
    assert!(
        report.fusion.cycles >= 40,
        "{} cycles",
        report.fusion.cycles
    );
}
