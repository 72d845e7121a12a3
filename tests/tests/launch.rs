//! `edgefuse launch`: the repository's launch files resolved as `--print` shows them (names,
//! namespaces, parameter files, arguments, conditions), argument errors, and a real launcher
//! process stopped with SIGINT (this test binary re-runs itself as the launcher, calling
//! `edgefuse_cli::run` as `main` does).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use edgefuse_cli::launch_cmd::{plan, LaunchArgs};

fn launch_dir() -> PathBuf {
    edgefuse_system_tests::repo_root()
        .canonicalize()
        .unwrap()
        .join("launch")
}

/// What `edgefuse launch FILE ARGS --print` prints.
fn print(file: &str, args: &[&str]) -> anyhow::Result<String> {
    let p = plan(&LaunchArgs {
        file: launch_dir().join(file),
        launch_args: args.iter().map(|s| s.to_string()).collect(),
        print: true,
        viz: Default::default(),
    })?;
    Ok(p.render())
}

/// The block of one process in the `--print` text.
fn block<'a>(text: &'a str, label: &str) -> &'a str {
    let start = text
        .find(&format!("] {label}  ("))
        .unwrap_or_else(|| panic!("no process {label} in\n{text}"));
    let rest = &text[start..];
    let end = rest[1..].find("\n[").map_or(rest.len(), |e| e + 2);
    &rest[..end]
}

fn edgefuse(args: &[&str]) -> Result<(), String> {
    let cli =
        edgefuse_cli::Cli::try_parse_from(std::iter::once("edgefuse").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
    edgefuse_cli::run(cli).map_err(|e| format!("{e:#}"))
}

const PIPELINE: [&str; 6] = [
    "lidar_ingest",
    "radar_ingest",
    "camera_ingest",
    "ultrasonic_ingest",
    "imu_ingest",
    "fusion_node",
];

#[test]
fn pipeline_resolves_to_six_nodes_with_ros_arguments() {
    let params = launch_dir().join("params/pipeline.yaml");
    let params = params.display();
    let text = print("pipeline.launch.xml", &[]).unwrap();
    assert!(text.contains("processes: 6\n"), "{text}");
    assert!(text.contains("  use_sim_time:=false\n"), "{text}");
    for name in PIPELINE {
        let b = block(&text, name);
        let pkg = if name == "fusion_node" {
            "edgefuse_fusion_node"
        } else {
            "edgefuse_ingest"
        };
        assert!(
            b.contains(&format!(
                "node: /{name}  package: {pkg}  executable: {name}"
            )),
            "{b}"
        );
        assert!(
            b.contains(&format!(
                "args: --ros-args -r __node:={name} -r __ns:=/ --params-file {params} --params-file '<inline-params-1>'\n"
            )),
            "{b}"
        );
        assert!(
            b.contains(&format!(
                "      /{name}:\n        ros__parameters:\n          use_sim_time: false\n"
            )),
            "{b}"
        );
        assert!(b.contains("output: screen  respawn: no"), "{b}");
    }
    let text = print(
        "pipeline.launch.xml",
        &["namespace:=car1", "use_sim_time:=true"],
    )
    .unwrap();
    let b = block(&text, "imu_ingest");
    assert!(b.contains("node: /car1/imu_ingest"), "{b}");
    assert!(b.contains("-r __node:=imu_ingest -r __ns:=/car1 "), "{b}");
    assert!(b.contains("      /car1/imu_ingest:\n"), "{b}");
    assert!(b.contains("use_sim_time: true"), "{b}");
}

#[test]
fn replay_needs_a_bag_and_records_only_when_asked() {
    let err = print("replay.launch.xml", &[]).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("required launch argument 'bag' was not provided")
            && msg.contains("replay.launch.xml:"),
        "{msg}"
    );
    let text = print("replay.launch.xml", &["bag:=/data/drive"]).unwrap();
    assert!(text.contains("processes: 7\n"), "{text}");
    assert!(!text.contains("] recorder"), "{text}");
    let player = block(&text, "player");
    assert!(
        player.contains("args: replay /data/drive --rate 1.0 --ros-args -r __node:=player\n"),
        "{player}"
    );
    assert!(
        player.contains("package: edgefuse  executable: edgefuse"),
        "{player}"
    );
    assert!(player.contains("on_exit: shutdown"), "{player}");
    for name in PIPELINE {
        assert!(
            block(&text, name).contains("use_sim_time: true"),
            "{name} must use sim time when replaying"
        );
    }
    let text = print(
        "replay.launch.xml",
        &["bag:=/data/drive", "rate:=2.5", "record:=/tmp/out bag"],
    )
    .unwrap();
    assert!(text.contains("processes: 8\n"), "{text}");
    // Recorder first, player last: the ordered shutdown stops the player first.
    assert!(text.contains("[1] recorder  ("), "{text}");
    assert!(text.contains("[8] player  ("), "{text}");
    let rec = block(&text, "recorder");
    assert!(
        rec.contains("args: record '/tmp/out bag' --topics /localization/odometry /perception/objects /diagnostics --ros-args -r __node:=recorder\n"),
        "{rec}"
    );
    assert!(block(&text, "player").contains("--rate 2.5 "));
}

#[test]
fn composed_is_one_container_process() {
    let text = print("composed.launch.xml", &["use_sim_time:=true"]).unwrap();
    assert!(text.contains("processes: 1\n"), "{text}");
    let b = block(&text, "pipeline_container");
    assert!(
        b.contains("package: edgefuse_fusion_node  executable: pipeline_container"),
        "{b}"
    );
    assert!(b.contains("--params-file "), "{b}");
    assert!(b.contains("use_sim_time: true"), "{b}");
    assert!(b.contains("hmi: false"), "{b}");
    // hmi:=true composes the HMI node in the same container process.
    let text = print("composed.launch.xml", &["hmi:=true"]).unwrap();
    assert!(text.contains("processes: 1\n"), "{text}");
    assert!(
        block(&text, "pipeline_container").contains("hmi: true"),
        "{text}"
    );
    assert!(
        !block(&text, "pipeline_container").contains("bag: "),
        "{text}"
    );
}

#[test]
fn composed_replay_composes_the_player_unless_asked_not_to() {
    // The player in the container: one process, which plays the bag and ends the launch.
    let text = print("replay.launch.xml", &["bag:=/data/drive", "composed:=true"]).unwrap();
    assert!(text.contains("processes: 1\n"), "{text}");
    let b = block(&text, "pipeline_container");
    assert!(b.contains("bag: /data/drive"), "{b}");
    assert!(b.contains("rate: 1.0"), "{b}");
    assert!(b.contains("on_exit: shutdown"), "{b}");
    // compose_player:=false: the pipeline composed, the player its own process over DDS.
    let text = print(
        "replay.launch.xml",
        &[
            "bag:=/data/drive",
            "composed:=true",
            "compose_player:=false",
        ],
    )
    .unwrap();
    assert!(text.contains("processes: 2\n"), "{text}");
    assert!(
        !block(&text, "pipeline_container").contains("bag: "),
        "{text}"
    );
    assert!(
        block(&text, "player").contains("args: replay /data/drive --rate 1.0 "),
        "{text}"
    );
}

#[test]
fn rerun_flags_add_the_viz_node_with_its_parameters() {
    let text = print("replay.launch.xml", &["bag:=bags/parking"]).unwrap();
    assert!(!text.contains("rerun_viz"), "{text}");
    let p = plan(&LaunchArgs {
        file: launch_dir().join("replay.launch.xml"),
        launch_args: vec!["bag:=bags/parking".into()],
        print: true,
        viz: edgefuse_cli::viz_cmd::VizArgs {
            rerun_save: Some("/tmp/drive.rrd".into()),
            ..Default::default()
        },
    })
    .unwrap();
    let text = p.render();
    let b = block(&text, "rerun_viz");
    assert!(b.contains(" viz"), "{b}");
    assert!(b.contains("rerun_save: /tmp/drive.rrd"), "{b}");
    assert!(b.contains("rerun_spawn: false"), "{b}");
    assert!(b.contains("use_sim_time: true"), "{b}");
    // Composed too.
    let text = print("composed.launch.xml", &["viz:=true", "rerun_spawn:=true"]).unwrap();
    assert!(
        block(&text, "rerun_viz").contains("rerun_spawn: true"),
        "{text}"
    );
}

#[test]
fn launch_errors_name_file_line_and_argument() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.launch.xml");
    std::fs::write(&f, "<launch>\n  <node pkg=\"a\" exec=\"b\">\n    <remap form=\"a\" to=\"b\"/>\n  </node>\n</launch>\n").unwrap();
    let msg = edgefuse(&["launch", f.to_str().unwrap(), "--print"]).unwrap_err();
    assert!(
        msg.contains("bad.launch.xml:3: <remap>: unknown attribute 'form'"),
        "{msg}"
    );
    let msg = edgefuse(&["launch", f.to_str().unwrap(), "nonsense"]).unwrap_err();
    assert!(msg.contains("name:=value, got 'nonsense'"), "{msg}");
}

/// The launcher when this binary is re-run by `launcher_stops_in_order_on_sigint`.
#[test]
#[ignore = "run as a child process by launcher_stops_in_order_on_sigint"]
fn launcher_child() {
    let Ok(args) = std::env::var("EDGEFUSE_TEST_LAUNCH") else {
        return;
    };
    let args: Vec<&str> = args.split('\n').collect();
    edgefuse(&args).unwrap();
}

fn wait_lines(file: &Path, n: usize) {
    let start = Instant::now();
    while std::fs::read_to_string(file)
        .map(|t| t.lines().count())
        .unwrap_or(0)
        < n
    {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn launcher_stops_in_order_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let order = d.join("order.txt");
    let ready = d.join("ready.txt");
    let proc_xml = |name: &str| {
        format!(
            "  <executable name=\"{name}\" output=\"screen\" cmd=\"sh -c 'trap &quot;echo {name} >> {o}; kill $! 2>/dev/null; exit 0&quot; INT; echo hello from {name}; sleep 30 &amp; echo {name} >> {r}; wait'\"/>\n",
            o = order.display(),
            r = ready.display()
        )
    };
    let file = d.join("two.launch.xml");
    std::fs::write(
        &file,
        format!(
            "<launch>\n  <arg name=\"unused\" default=\"x\"/>\n{}{}</launch>\n",
            proc_xml("alpha"),
            proc_xml("beta")
        ),
    )
    .unwrap();
    let args = format!("launch\n{}\nunused:=y", file.display());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "launcher_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("EDGEFUSE_TEST_LAUNCH", args)
        .env("ROS_LOG_DIR", d.join("log"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_lines(&ready, 2);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("the launcher did not stop");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("[alpha] hello from alpha\n"), "{stdout}");
    assert!(stdout.contains("[beta] hello from beta\n"), "{stdout}");
    assert!(stderr.contains("received SIGINT"), "{stderr}");
    assert!(
        stderr.contains(
            "alpha: started 1 time(s), 0 restart(s), exits: exit code 0, signals sent: SIGINT"
        ),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&order).unwrap(), "beta\nalpha\n");
}
