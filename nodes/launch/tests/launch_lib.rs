//! The launch XML evaluator and the supervisor on real files and real processes (`sh`,
//! `sleep`): launch_ros command lines, scoping, errors with file and line, ordered shutdown
//! with escalation, respawn counting, environment and inline parameter files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use edgefuse_launch::{
    parse_cli_args, resolve_file, CmdArg, ExitKind, LaunchError, LaunchPlan, Program,
    ResolveOptions, ShutdownReason, Supervisor, SupervisorOptions,
};

fn opts(dir: &Path) -> ResolveOptions {
    let mut o = ResolveOptions::from_process();
    o.cwd = dir.to_path_buf();
    o
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn resolve(dir: &Path, file: &Path, args: &[&str]) -> Result<LaunchPlan, LaunchError> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    resolve_file(file, &parse_cli_args(&args)?, &opts(dir))
}

fn args_text(plan: &LaunchPlan, label: &str) -> Vec<String> {
    let p = plan
        .processes
        .iter()
        .find(|p| p.label == label)
        .unwrap_or_else(|| panic!("no process {label}"));
    p.args_with(edgefuse_launch::inline_placeholder)
}

fn run_opts(dir: &Path) -> SupervisorOptions {
    SupervisorOptions {
        handle_signals: false,
        log_dir: dir.join("log"),
        verbose: true,
    }
}

/// Waits (generously) until `file` has `n` lines.
fn wait_lines(file: &Path, n: usize) {
    let start = Instant::now();
    loop {
        let count = std::fs::read_to_string(file)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if count >= n {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} never got {n} lines",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn node_command_lines_follow_launch_ros() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "p.yaml", "/**:\n  ros__parameters:\n    a: 1\n");
    write(
        d,
        "inner.launch.xml",
        r#"<launch>
  <arg name="who"/>
  <arg name="rate" default="10"/>
  <node pkg="p" exec="x" name="$(var who)" namespace="sub" args="--flag $(var rate)">
    <param from="$(dirname)/p.yaml"/>
    <param name="rate_hz" value="$(var rate)"/>
    <param name="label" value="front"/>
    <param name="limits"><param name="max_m" value="2.5"/></param>
    <param name="on" value="true"/>
    <param name="id" value="7" type="str"/>
    <remap from="in" to="/sensors/in"/>
    <env name="NODE_ONLY" value="yes"/>
  </node>
</launch>"#,
    );
    let top = write(
        d,
        "top.launch.xml",
        r#"<launch>
  <arg name="enable" default="true"/>
  <set_env name="EF_TOP" value="1"/>
  <group>
    <push-ros-namespace namespace="car"/>
    <set_env name="EF_GROUP" value="g"/>
    <let name="rate" value="20"/>
    <include file="$(dirname)/inner.launch.xml">
      <arg name="who" value="lidar"/>
    </include>
  </group>
  <executable cmd="echo after $(var rate 'unset here')" name="after" if="$(var enable)"/>
  <executable cmd="echo never" unless="$(var enable)"/>
  <executable cmd="echo evald" if="$(eval '&quot;$(var enable)&quot; == &quot;true&quot;')"/>
</launch>"#,
    );
    let plan = resolve(d, &top, &[]).unwrap();
    let labels: Vec<&str> = plan.processes.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["lidar", "after", "echo"]);
    let lidar = &plan.processes[0];
    let node = lidar.node.as_ref().unwrap();
    assert_eq!(node.namespace.as_deref(), Some("/car/sub"));
    assert_eq!(
        node.fully_qualified_name().as_deref(),
        Some("/car/sub/lidar")
    );
    let params = d.join("p.yaml").display().to_string();
    assert_eq!(
        args_text(&plan, "lidar"),
        [
            "--flag",
            "20",
            "--ros-args",
            "-r",
            "__node:=lidar",
            "-r",
            "__ns:=/car/sub",
            "--params-file",
            params.as_str(),
            "--params-file",
            "<inline-params-1>",
            "-r",
            "in:=/sensors/in",
        ]
    );
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&lidar.inline_params[0]).unwrap();
    let p = &yaml["/car/sub/lidar"]["ros__parameters"];
    assert_eq!(p["rate_hz"].as_i64(), Some(20));
    assert_eq!(p["label"].as_str(), Some("front"));
    assert_eq!(p["limits"]["max_m"].as_f64(), Some(2.5));
    assert_eq!(p["on"].as_bool(), Some(true));
    assert_eq!(p["id"].as_str(), Some("7"));
    // Environment: set_env from outside and inside the group, node <env>.
    let env: Vec<(&str, Option<&str>)> = lidar
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_deref()))
        .collect();
    assert_eq!(
        env,
        [
            ("EF_GROUP", Some("g")),
            ("EF_TOP", Some("1")),
            ("NODE_ONLY", Some("yes"))
        ]
    );
    // The group scoped `rate`, the namespace and EF_GROUP; the include's `who` was set inside
    // the group too.
    let after = &plan.processes[1];
    assert_eq!(args_text(&plan, "after"), ["after", "unset here"]);
    assert_eq!(after.env, [("EF_TOP".to_string(), Some("1".to_string()))]);
    assert!(matches!(&after.program, Program::Found(p) if p.ends_with("echo")));
    // Node without a name and namespace: the inline params key is /**.
    assert_eq!(plan.arguments.len(), 3);
    assert!(plan.warnings.is_empty());
}

#[test]
fn missing_required_argument_is_named_and_command_line_values_apply() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = write(
        d,
        "a.launch.xml",
        "<launch>\n  <arg name=\"x\" default=\"1\"/>\n  <arg name=\"bag\" description=\"the bag\"/>\n  <executable cmd=\"echo $(var bag) $(var x)\"/>\n</launch>\n",
    );
    let err = resolve(d, &f, &[]).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, LaunchError::MissingArgument { ref name, line: 3, .. } if name == "bag"),
        "{msg}"
    );
    assert!(
        msg.contains("'bag'") && msg.contains("a.launch.xml:3"),
        "{msg}"
    );
    let plan = resolve(d, &f, &["bag:=/data/b", "x:=2", "extra:=1"]).unwrap();
    assert_eq!(args_text(&plan, "echo"), ["/data/b", "2"]);
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    assert!(matches!(
        parse_cli_args(&["novalue".to_string()]),
        Err(LaunchError::BadArgument(_))
    ));
}

#[test]
fn unknown_tags_and_attributes_are_errors_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = [
        ("<launch>\n\n  <nodee pkg=\"a\" exec=\"b\"/>\n</launch>", 3, "unknown tag <nodee>"),
        (
            "<launch>\n  <node pkg=\"a\" exec=\"b\" colour=\"red\"/>\n</launch>",
            2,
            "unknown attribute 'colour'",
        ),
        (
            "<launch>\n  <node pkg=\"a\" exec=\"b\">\n    <parm name=\"x\" value=\"1\"/>\n  </node>\n</launch>",
            3,
            "unknown tag <parm> inside <node>",
        ),
        ("<launch>\n  <timer period=\"1\"/>\n</launch>", 2, "does not implement"),
        (
            "<launch>\n  <executable cmd=\"$(command ls)\"/>\n</launch>",
            2,
            "$(command ...) is not implemented",
        ),
        (
            "<launch>\n  <executable cmd=\"x\" if=\"maybe\"/>\n</launch>",
            2,
            "expected true, false, 1 or 0",
        ),
    ];
    for (i, (text, line, what)) in cases.iter().enumerate() {
        let f = write(d, &format!("bad{i}.launch.xml"), text);
        let msg = resolve(d, &f, &[]).unwrap_err().to_string();
        let want = format!("bad{i}.launch.xml:{line}:");
        assert!(msg.contains(&want) && msg.contains(what), "{msg}");
    }
    // Errors in a branch that does not run still count (the file is checked whole first).
    let f = write(
        d,
        "branch.launch.xml",
        "<launch>\n  <group if=\"false\">\n    <bogus/>\n  </group>\n</launch>",
    );
    let msg = resolve(d, &f, &[]).unwrap_err().to_string();
    assert!(msg.contains("branch.launch.xml:3: <bogus>"), "{msg}");
}

#[test]
fn shutdown_is_sigint_in_reverse_start_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let order = d.join("order.txt");
    let ready = d.join("ready.txt");
    let proc_xml = |name: &str| {
        format!(
            "  <executable name=\"{name}\" output=\"screen\" cmd=\"sh -c 'trap &quot;echo {name} >> {o}; kill $! 2>/dev/null; exit 0&quot; INT; sleep 30 &amp; echo {name} >> {r}; wait'\"/>\n",
            o = order.display(),
            r = ready.display()
        )
    };
    let text = format!(
        "<launch>\n{}{}{}</launch>\n",
        proc_xml("first"),
        proc_xml("second"),
        proc_xml("third")
    );
    let f = write(d, "order.launch.xml", &text);
    let plan = resolve(d, &f, &[]).unwrap();
    let sup = Supervisor::new(plan, run_opts(d));
    let stop = sup.stop_handle();
    let ready2 = ready.clone();
    let stopper = std::thread::spawn(move || {
        wait_lines(&ready2, 3);
        stop.stop();
    });
    let report = sup.run().unwrap();
    stopper.join().unwrap();
    assert_eq!(report.reason, ShutdownReason::Requested);
    assert_eq!(report.stop_order, ["third", "second", "first"]);
    let written = std::fs::read_to_string(&order).unwrap();
    assert_eq!(written, "third\nsecond\nfirst\n");
    for p in &report.processes {
        assert_eq!(p.exits, [ExitKind::Code(0)], "{}", p.label);
        assert_eq!(p.signals_sent, ["SIGINT"], "{}", p.label);
    }
}

#[test]
fn escalates_to_sigterm_and_sigkill_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ready = d.join("ready.txt");
    let text = format!(
        r#"<launch>
  <let name="sigterm_timeout" value="0.5"/>
  <executable name="deaf" sigkill_timeout="0.5" cmd="sh -c 'trap &quot;&quot; INT TERM; echo deaf >> {r}; while :; do sleep 0.1; done'"/>
  <executable name="sigint_deaf" cmd="sh -c 'trap &quot;&quot; INT; echo sigint_deaf >> {r}; while :; do sleep 0.1; done'"/>
  <executable name="polite" cmd="sleep 30"/>
</launch>"#,
        r = ready.display()
    );
    let f = write(d, "deaf.launch.xml", &text);
    let plan = resolve(d, &f, &[]).unwrap();
    assert_eq!(plan.processes[0].sigterm_timeout_s, 0.5);
    let sup = Supervisor::new(plan, run_opts(d));
    let stop = sup.stop_handle();
    let ready2 = ready.clone();
    let stopper = std::thread::spawn(move || {
        wait_lines(&ready2, 2);
        stop.stop();
    });
    let started = Instant::now();
    let report = sup.run().unwrap();
    stopper.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(report.stop_order, ["polite", "sigint_deaf", "deaf"]);
    let by = |l: &str| report.processes.iter().find(|p| p.label == l).unwrap();
    assert_eq!(by("polite").signals_sent, ["SIGINT"]);
    assert_eq!(by("polite").exits, [ExitKind::Signal(2)]);
    assert_eq!(by("sigint_deaf").signals_sent, ["SIGINT", "SIGTERM"]);
    assert_eq!(by("sigint_deaf").exits, [ExitKind::Signal(15)]);
    assert_eq!(by("deaf").signals_sent, ["SIGINT", "SIGTERM", "SIGKILL"]);
    assert_eq!(by("deaf").exits, [ExitKind::Signal(9)]);
}

#[test]
fn respawn_restarts_and_counts_and_exits_alone_do_not_stop_the_launch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let runs = d.join("runs.txt");
    let text = format!(
        r#"<launch>
  <executable name="flaky" respawn="true" respawn_delay="0.1" respawn_max_retries="3"
              cmd="sh -c 'echo run >> {r}; exit 3'"/>
  <executable name="short" cmd="true"/>
</launch>"#,
        r = runs.display()
    );
    let f = write(d, "respawn.launch.xml", &text);
    let report = Supervisor::new(resolve(d, &f, &[]).unwrap(), run_opts(d))
        .run()
        .unwrap();
    assert_eq!(report.reason, ShutdownReason::AllExited);
    let flaky = &report.processes[0];
    assert_eq!((flaky.starts, flaky.restarts), (4, 3));
    assert_eq!(flaky.exits, vec![ExitKind::Code(3); 4]);
    assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 4);
    assert_eq!(report.processes[1].exits, [ExitKind::Code(0)]);
    assert!(report.stop_order.is_empty());
}

#[test]
fn on_exit_shutdown_stops_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = write(
        d,
        "req.launch.xml",
        r#"<launch>
  <executable name="server" cmd="sleep 30" respawn="true"/>
  <executable name="client" cmd="sh -c 'sleep 0.3; exit 4'" on_exit="shutdown"/>
</launch>"#,
    );
    let report = Supervisor::new(resolve(d, &f, &[]).unwrap(), run_opts(d))
        .run()
        .unwrap();
    assert_eq!(
        report.reason,
        ShutdownReason::ProcessExited("client".into())
    );
    assert_eq!(report.processes[1].exits, [ExitKind::Code(4)]);
    assert_eq!(report.processes[0].exits, [ExitKind::Signal(2)]);
    assert_eq!(
        report.processes[0].restarts, 0,
        "no respawn during shutdown"
    );
}

#[test]
fn processes_get_environment_changes_and_inline_parameter_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out.txt");
    // A node whose program is `sh`: its arguments are `-c SCRIPT` then launch_ros's
    // `--ros-args ...`, which the script sees as $0 $1 ...; it copies the params files.
    let script = format!(
        "echo env $EF_A $EF_B ${{EF_GONE:-unset}} >> {o}; prev=; for a in \"$0\" \"$@\"; do if [ \"$prev\" = --params-file ]; then cat \"$a\" >> {o}; fi; prev=$a; done",
        o = out.display()
    );
    let text = format!(
        r#"<launch>
  <set_env name="EF_A" value="a"/>
  <set_env name="EF_GONE" value="x"/>
  <unset_env name="EF_GONE"/>
  <node exec="sh" name="probe" namespace="/t" args="-c '{}'" output="log">
    <param name="use_sim_time" value="true"/>
    <param name="deadline_ms" value="50"/>
    <env name="EF_B" value="b"/>
  </node>
</launch>"#,
        script.replace('"', "&quot;")
    );
    let f = write(d, "env.launch.xml", &text);
    let plan = resolve(d, &f, &[]).unwrap();
    assert!(plan.processes[0]
        .args
        .iter()
        .any(|a| matches!(a, CmdArg::InlineParams(0))));
    let report = Supervisor::new(plan, run_opts(d)).run().unwrap();
    assert_eq!(report.processes[0].exits, [ExitKind::Code(0)]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("env a b unset\n"), "{text}");
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text["env a b unset\n".len()..]).unwrap();
    let p = &yaml["/t/probe"]["ros__parameters"];
    assert_eq!(p["use_sim_time"].as_bool(), Some(true));
    assert_eq!(p["deadline_ms"].as_i64(), Some(50));
    // output="log": the launch log holds the process's lines.
    assert!(report.log_dir.unwrap().join("launch.log").is_file());
}

#[test]
fn missing_programs_refuse_to_run_but_still_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = write(
        d,
        "missing.launch.xml",
        r#"<launch><node pkg="no_such_pkg" exec="no_such_exec" name="n"/></launch>"#,
    );
    let plan = resolve(d, &f, &[]).unwrap();
    assert!(plan.render().contains("NOT FOUND no_such_pkg/no_such_exec"));
    let err = Supervisor::new(plan, run_opts(d)).run().unwrap_err();
    assert!(
        err.to_string().contains("no_such_pkg/no_such_exec"),
        "{err}"
    );
}

#[test]
fn the_repository_params_file_has_a_section_per_pipeline_node() {
    // Cargo's run-time CARGO_MANIFEST_DIR first: a target directory shared by two clones may
    // hold a test binary built in the other one.
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf(),
            PathBuf::from,
        )
        .join("../..");
    let text = std::fs::read_to_string(root.join("launch/params/pipeline.yaml")).unwrap();
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    for node in [
        "lidar_ingest",
        "radar_ingest",
        "camera_ingest",
        "ultrasonic_ingest",
        "imu_ingest",
        "fusion_node",
    ] {
        let p = &yaml[format!("/**/{node}").as_str()]["ros__parameters"];
        assert!(p.is_mapping(), "{node}");
        if node != "fusion_node" {
            let expected = p["expected_rate_hz"].as_f64().unwrap();
            assert!(p["max_rate_hz"].as_f64().unwrap() > expected, "{node}");
        }
        if ["lidar_ingest", "radar_ingest", "ultrasonic_ingest"].contains(&node) {
            assert!(p["min_range_m"].as_f64().unwrap() < p["max_range_m"].as_f64().unwrap());
        }
    }
    let imu = &yaml["/**/imu_ingest"]["ros__parameters"];
    assert!(imu["max_abs_accel_mps2"].as_f64().is_some());
    assert!(imu["max_abs_gyro_radps"].as_f64().is_some());
    let f = &yaml["/**/fusion_node"]["ros__parameters"];
    assert_eq!(f["deadline_ms"].as_i64(), Some(50));
    assert_eq!(f["voxel_size_m"].as_f64(), Some(0.15));
    assert_eq!(f["cluster_tolerance_m"].as_f64(), Some(0.5));
    assert_eq!(f["sensor_timeout_ms"].as_i64(), Some(150));
    assert_eq!(f["diagnostics_period_s"].as_f64(), Some(1.0));
}
