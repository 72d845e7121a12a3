//! The HMI node over the in-process transport (the same `Transport` seam as DDS): a closing
//! car raises an alert with its evidence, a request is answered with checked facts, a flood of
//! requests is rate limited and counted, a finding of severity error raises an alert and a
//! maintenance report, and the engine releases its weights when idle.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use edgefuse_msgs::builtin_interfaces::Time;
use edgefuse_msgs::diagnostic_msgs::{DiagnosticArray, DiagnosticStatus, KeyValue};
use edgefuse_msgs::edgefuse_msgs::{MaintenanceReport, TrackedObject, TrackedObjectArray};
use edgefuse_msgs::geometry_msgs::{
    Point, Pose, PoseWithCovariance, Quaternion, Twist, TwistWithCovariance, Vector3,
};
use edgefuse_msgs::nav_msgs::Odometry;
use edgefuse_msgs::sensor_msgs::Range;
use edgefuse_msgs::std_msgs::{Header, String as RosString};
use edgefuse_ros::inproc::InProcess;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::{Node, NodeArgs, Qos, SubId, Transport};

fn header(t_s: f64, frame: &str) -> Header {
    Header {
        stamp: Time {
            sec: t_s.floor() as i32,
            nanosec: (t_s.fract() * 1e9) as u32,
        },
        frame_id: frame.into(),
    }
}

/// The HMI node on its own thread over a fresh in-process bus, with `-p` parameters `params`.
fn start_hmi(
    params: &[String],
) -> (
    Arc<dyn Transport>,
    Shutdown,
    std::thread::JoinHandle<edgefuse_hmi::HmiStats>,
) {
    let bus: Arc<dyn Transport> = Arc::new(InProcess::new(false));
    let shutdown = Shutdown::manual();
    let mut argv = vec!["--ros-args".to_string()];
    for p in params {
        argv.push("-p".into());
        argv.push(p.clone());
    }
    let args = NodeArgs::parse("hmi", argv).unwrap();
    let node_thread = {
        let (bus, shutdown) = (bus.clone(), shutdown.clone());
        std::thread::spawn(move || edgefuse_hmi::run(args, bus, &shutdown).unwrap())
    };
    (bus, shutdown, node_thread)
}

/// The next JSON message on `sub` within `timeout`.
fn next_json(
    peer: &mut Node,
    sub: SubId<RosString>,
    timeout: Duration,
) -> Option<serde_json::Value> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(d) = peer.recv(Duration::from_millis(50)).unwrap() {
            if sub.is(&d) {
                return serde_json::from_str(&peer.decode(sub, &d).unwrap().data).ok();
            }
        }
    }
    None
}

#[test]
fn the_hmi_node_alerts_answers_limits_and_reports() {
    let model = edgefuse_cli::llm_cmd::fetch_default_model().unwrap();
    let (bus, shutdown, node_thread) = start_hmi(&[
        format!("model:={}", model.display()),
        "idle_sleep_s:=1.0".to_string(),
    ]);
    let mut peer = Node::new(NodeArgs::parse("peer", Vec::<String>::new()).unwrap(), bus).unwrap();
    let odom = peer
        .advertise::<Odometry>("/localization/odometry", Qos::RELIABLE)
        .unwrap();
    let objects = peer
        .advertise::<TrackedObjectArray>("/perception/objects", Qos::RELIABLE)
        .unwrap();
    let diag = peer
        .advertise::<DiagnosticArray>("/diagnostics", Qos::RELIABLE)
        .unwrap();
    let request = peer
        .advertise::<RosString>("/hmi/request", Qos::RELIABLE)
        .unwrap();
    let responses = peer
        .subscribe::<RosString>("/hmi/response", Qos::RELIABLE)
        .unwrap();
    let alerts = peer
        .subscribe::<RosString>("/hmi/alert", Qos::RELIABLE)
        .unwrap();
    let reports = peer
        .subscribe::<MaintenanceReport>("/maintenance/report", Qos::RELIABLE)
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    // Ego at 15 m/s heading +x; a car 20 m ahead at 5 m/s: closing at 10 m/s, 2 s to collision,
    // for 0.5 s of cycles (a hazard alerts once it has lasted 0.25 s).
    let mut o = Odometry {
        header: header(100.0, "odom"),
        ..Default::default()
    };
    o.pose.pose.orientation = Quaternion::from_yaw(0.0);
    o.twist.twist.linear.x = 15.0;
    let car = TrackedObject {
        id: 7,
        classification: 1,
        existence_probability: 0.99,
        pose: PoseWithCovariance {
            pose: Pose {
                position: Point {
                    x: 20.0,
                    y: 0.2,
                    z: 0.8,
                },
                orientation: Quaternion::from_yaw(0.0),
            },
            covariance: [0.0; 36],
        },
        size: Vector3 {
            x: 4.5,
            y: 1.8,
            z: 1.5,
        },
        twist: TwistWithCovariance {
            twist: Twist {
                linear: Vector3 {
                    x: 5.0,
                    y: 0.0,
                    z: 0.0,
                },
                angular: Vector3::default(),
            },
            covariance: [0.0; 36],
        },
    };
    for k in 0..6 {
        let t_s = 100.0 + 0.1 * f64::from(k);
        o.header = header(t_s, "odom");
        odom.publish(&o).unwrap();
        objects
            .publish(&TrackedObjectArray {
                header: header(t_s, "odom"),
                objects: vec![car.clone()],
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut got_alerts = Vec::new();
    let mut got_responses = Vec::new();
    let mut got_reports = Vec::new();
    let pump = |peer: &mut Node,
                until: &dyn Fn(usize, usize, usize) -> bool,
                a: &mut Vec<serde_json::Value>,
                r: &mut Vec<serde_json::Value>,
                m: &mut Vec<MaintenanceReport>| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline && !until(a.len(), r.len(), m.len()) {
            if let Some(d) = peer.recv(Duration::from_millis(50)).unwrap() {
                if alerts.is(&d) {
                    a.push(serde_json::from_str(&peer.decode(alerts, &d).unwrap().data).unwrap());
                } else if responses.is(&d) {
                    r.push(
                        serde_json::from_str(&peer.decode(responses, &d).unwrap().data).unwrap(),
                    );
                } else if reports.is(&d) {
                    m.push(peer.decode(reports, &d).unwrap());
                }
            }
        }
    };
    pump(
        &mut peer,
        &|a, _, _| a >= 1,
        &mut got_alerts,
        &mut got_responses,
        &mut got_reports,
    );
    let alert = &got_alerts[0];
    assert!(
        alert["text"].as_str().unwrap().contains("car ahead"),
        "{alert}"
    );
    assert_eq!(alert["evidence"]["topic"], "/perception/objects");
    assert_eq!(alert["evidence"]["object_id"], 7);
    assert!(
        (alert["evidence"]["ttc_s"].as_f64().unwrap() - 2.0).abs() < 0.1,
        "{alert}"
    );

    request
        .publish(&RosString {
            data: "How far is the car in front of me?".into(),
        })
        .unwrap();
    pump(
        &mut peer,
        &|_, r, _| r >= 1,
        &mut got_alerts,
        &mut got_responses,
        &mut got_reports,
    );
    let answer = &got_responses[0];
    let text = answer["text"].as_str().unwrap();
    assert!(text.contains("20"), "{answer}");
    assert_ne!(answer["source"], "Refused");
    request
        .publish(&RosString {
            data: "Why did you warn me?".into(),
        })
        .unwrap();
    pump(
        &mut peer,
        &|_, r, _| r >= 2,
        &mut got_alerts,
        &mut got_responses,
        &mut got_reports,
    );
    assert!(
        got_responses[1]["text"].as_str().unwrap().contains("20"),
        "{}",
        got_responses[1]
    );

    // A flood: ten requests at once; the burst of three (minus what was used) is answered, the
    // rest are told to wait and counted.
    for _ in 0..10 {
        request
            .publish(&RosString {
                data: "What is ahead?".into(),
            })
            .unwrap();
    }
    pump(
        &mut peer,
        &|_, r, _| r >= 12,
        &mut got_alerts,
        &mut got_responses,
        &mut got_reports,
    );
    let limited = got_responses
        .iter()
        .filter(|r| r["source"] == "RateLimited")
        .count();
    assert!(limited >= 7, "{limited} of 10 rate limited");

    // A LiDAR finding of severity error: an alert naming it with its evidence, and a report.
    diag.publish(&DiagnosticArray {
        header: header(101.0, ""),
        status: vec![DiagnosticStatus {
            level: DiagnosticStatus::ERROR,
            name: "fusion: finding lidar".into(),
            message: "blocked_sector (error)".into(),
            hardware_id: "lidar".into(),
            values: vec![
                KeyValue {
                    key: "blocked_fraction".into(),
                    value: "1.0".into(),
                },
                KeyValue {
                    key: "time_to_threshold_s".into(),
                    value: "0.0".into(),
                },
            ],
        }],
    })
    .unwrap();
    pump(
        &mut peer,
        &|a, _, m| a >= 2 && m >= 1,
        &mut got_alerts,
        &mut got_responses,
        &mut got_reports,
    );
    assert!(
        got_alerts[1]["text"].as_str().unwrap().contains("lidar"),
        "{}",
        got_alerts[1]
    );
    assert_eq!(got_alerts[1]["evidence"]["topic"], "/diagnostics");
    let report = &got_reports[0];
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].component, "lidar");
    assert!(
        report.findings[0].recommended_action.contains("clean"),
        "{report:?}"
    );
    // Its summary names the finding (phrased by the model or its template) and says which.
    assert!(
        report.text.contains("lidar") && report.text.contains("_Summary: "),
        "{report:?}"
    );

    // Idle for longer than idle_sleep_s: the weights go.
    std::thread::sleep(Duration::from_millis(1500));
    shutdown.request();
    let stats = node_thread.join().unwrap();
    eprintln!("{stats:?}");
    assert!(stats.rate_limited >= 7);
    assert!(stats.sleeps >= 1, "{stats:?}");
    assert_eq!(stats.malformed, 0);
}

#[test]
fn without_a_usable_model_the_node_answers_from_the_template_and_goes_on() {
    let (bus, shutdown, node_thread) = start_hmi(&["model:=/nonexistent/model.gguf".to_string()]);
    let mut peer = Node::new(NodeArgs::parse("peer", Vec::<String>::new()).unwrap(), bus).unwrap();
    let odom = peer
        .advertise::<Odometry>("/localization/odometry", Qos::RELIABLE)
        .unwrap();
    let request = peer
        .advertise::<RosString>("/hmi/request", Qos::RELIABLE)
        .unwrap();
    let responses = peer
        .subscribe::<RosString>("/hmi/response", Qos::RELIABLE)
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut o = Odometry {
        header: header(5.0, "odom"),
        ..Default::default()
    };
    o.twist.twist.linear.x = 10.0;
    odom.publish(&o).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    request
        .publish(&RosString {
            data: "How fast am I going?".into(),
        })
        .unwrap();
    let answer = next_json(&mut peer, responses, Duration::from_secs(20));
    let answer = answer.expect("an answer");
    assert_eq!(answer["source"], "Template", "{answer}");
    assert!(
        answer["text"].as_str().unwrap().contains("36 km/h"),
        "{answer}"
    );
    // An ultrasonic range under 0.5 m raises an alert (alerts need no model).
    let alerts = peer
        .subscribe::<RosString>("/hmi/alert", Qos::RELIABLE)
        .unwrap();
    let range = peer
        .advertise::<Range>("/ingest/sensors/ultrasonic/front_left/range", Qos::SENSOR)
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    range
        .publish(&Range {
            header: header(6.0, "us_front_left"),
            radiation_type: 0,
            field_of_view: 0.5,
            min_range: 0.15,
            max_range: 5.5,
            range: 0.3,
            variance: 0.0,
        })
        .unwrap();
    let alert = next_json(&mut peer, alerts, Duration::from_secs(10));
    let alert = alert.expect("an ultrasonic alert");
    assert!(
        alert["text"]
            .as_str()
            .unwrap()
            .contains("0.3 m from parking sensor front_left"),
        "{alert}"
    );
    assert_eq!(
        alert["evidence"]["topic"],
        "/ingest/sensors/ultrasonic/front_left/range"
    );
    shutdown.request();
    let stats = node_thread.join().unwrap();
    assert!(stats.engine_errors >= 1, "{stats:?}");
}

#[test]
fn edgefuse_chat_asks_the_running_node_and_prints_its_answers() {
    let model = edgefuse_cli::llm_cmd::fetch_default_model().unwrap();
    let (bus, shutdown, node_thread) = start_hmi(&[format!("model:={}", model.display())]);
    let peer = Node::new(
        NodeArgs::parse("peer", Vec::<String>::new()).unwrap(),
        bus.clone(),
    )
    .unwrap();
    let odom = peer
        .advertise::<Odometry>("/localization/odometry", Qos::RELIABLE)
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut o = Odometry {
        header: header(5.0, "odom"),
        ..Default::default()
    };
    o.twist.twist.linear.x = 10.0;
    odom.publish(&o).unwrap();
    let input = std::io::Cursor::new("How fast am I going?\n\nIs anything on my left?\n");
    let mut out = Vec::new();
    let stats = edgefuse_cli::chat::chat(
        input,
        &mut out,
        NodeArgs::parse("chat", Vec::<String>::new()).unwrap(),
        bus,
        &Shutdown::manual(),
        Duration::from_secs(30),
    )
    .unwrap();
    shutdown.request();
    node_thread.join().unwrap();
    let text = String::from_utf8(out).unwrap();
    eprintln!("{text}");
    assert_eq!(
        (stats.asked, stats.answered, stats.unanswered),
        (2, 2, 0),
        "{text}"
    );
    assert!(text.contains("36 km/h"), "{text}");
}

#[test]
fn the_hmi_node_answers_with_the_parking_sensor_ranges_by_the_side_tf_gives() {
    use edgefuse_msgs::geometry_msgs::{Transform, TransformStamped};
    use edgefuse_msgs::tf2_msgs::TFMessage;
    // Without a model: the deterministic answer, so the figures can be compared exactly.
    let (bus, shutdown, node_thread) = start_hmi(&["model:=/nonexistent/model.gguf".to_string()]);
    let mut peer = Node::new(NodeArgs::parse("peer", Vec::<String>::new()).unwrap(), bus).unwrap();
    let tf = peer
        .advertise::<TFMessage>("/tf_static", Qos::Latched { depth: 100 })
        .unwrap();
    let odom = peer
        .advertise::<Odometry>("/localization/odometry", Qos::RELIABLE)
        .unwrap();
    let request = peer
        .advertise::<RosString>("/hmi/request", Qos::RELIABLE)
        .unwrap();
    let responses = peer
        .subscribe::<RosString>("/hmi/response", Qos::RELIABLE)
        .unwrap();
    let alerts = peer
        .subscribe::<RosString>("/hmi/alert", Qos::RELIABLE)
        .unwrap();
    let rear = peer
        .advertise::<Range>(
            "/ingest/sensors/ultrasonic/rear_center_left/range",
            Qos::SENSOR,
        )
        .unwrap();
    let front = peer
        .advertise::<Range>("/ingest/sensors/ultrasonic/front_left/range", Qos::SENSOR)
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Mountings: the rear sensor looks backwards (yaw 175 deg), the front one forwards (20 deg);
    // the names of the frames say nothing of where the sensors are.
    let mount = |frame: &str, x: f64, yaw_deg: f64| TransformStamped {
        header: header(0.0, "base_link"),
        child_frame_id: frame.into(),
        transform: Transform {
            translation: Vector3 { x, y: 0.2, z: 0.5 },
            rotation: Quaternion::from_yaw(yaw_deg.to_radians()),
        },
    };
    tf.publish(&TFMessage {
        transforms: vec![mount("sonar_a", -1.05, 175.0), mount("sonar_b", 3.75, 20.0)],
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let range = |t_s: f64, frame: &str, range: f32| Range {
        header: header(t_s, frame),
        radiation_type: 0,
        field_of_view: 1.05,
        min_range: 0.2,
        max_range: 5.5,
        range,
        variance: 0.0,
    };
    // An older rear reading, the newest before the world state's time, and one front reading
    // with nothing in range.
    rear.publish(&range(9.80, "sonar_a", 1.6)).unwrap();
    rear.publish(&range(9.95, "sonar_a", 0.8)).unwrap();
    front
        .publish(&range(9.95, "sonar_b", f32::INFINITY))
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut o = Odometry {
        header: header(10.0, "odom"),
        ..Default::default()
    };
    o.twist.twist.linear.x = 0.5;
    odom.publish(&o).unwrap();
    std::thread::sleep(Duration::from_millis(100));

    let ask = |peer: &mut Node, q: &str| {
        request.publish(&RosString { data: q.into() }).unwrap();
        next_json(peer, responses, Duration::from_secs(20)).expect("an answer")
    };
    let behind = ask(&mut peer, "How close am I to the obstacle behind me?");
    let text = behind["text"].as_str().unwrap();
    assert!(
        text.contains("behind") && text.contains("0.8 m") && !text.contains("1.6"),
        "{behind}"
    );
    let evidence = behind["evidence"]["ultrasonic"].as_array().unwrap();
    assert!(
        evidence.iter().any(
            |e| e["topic"] == "/ingest/sensors/ultrasonic/rear_center_left/range"
                && e["side"] == "behind"
                && (e["range_m"].as_f64().unwrap() - 0.8).abs() < 1e-6
        ),
        "{behind}"
    );
    let all = ask(&mut peer, "What do the parking sensors say?");
    let text = all["text"].as_str().unwrap();
    assert!(
        text.contains("ahead detect nothing in range") && text.contains("behind read 0.8 m"),
        "{all}"
    );
    // A near range raises an alert whose side is the mounting's (sonar_b looks ahead), the
    // sensor's name kept as one token so that its words are not read as a side.
    front.publish(&range(10.1, "sonar_b", 0.3)).unwrap();
    let alert = next_json(&mut peer, alerts, Duration::from_secs(10)).expect("an alert");
    assert!(
        alert["text"]
            .as_str()
            .unwrap()
            .contains("0.3 m away ahead (parking sensor front_left)"),
        "{alert}"
    );
    // An echo nearer than the rear sensor can measure (-inf) is alerted too, as a bound.
    rear.publish(&range(10.2, "sonar_a", f32::NEG_INFINITY))
        .unwrap();
    let alert = next_json(&mut peer, alerts, Duration::from_secs(10)).expect("an alert");
    assert!(
        alert["text"]
            .as_str()
            .unwrap()
            .contains("less than 0.2 m away behind (parking sensor rear_center_left)"),
        "{alert}"
    );
    assert_eq!(alert["evidence"]["under_min_range"], true, "{alert}");
    shutdown.request();
    let stats = node_thread.join().unwrap();
    assert_eq!(stats.malformed, 0, "{stats:?}");
}
