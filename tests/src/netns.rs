//! Network isolation for tests that speak DDS: DDS discovery multicasts, and on these machines
//! it must never leave the host. A DDS test calls [`isolated`] first: inside a private network
//! namespace that has only loopback it returns `true` and the test runs; elsewhere it re-runs
//! that one test inside such a namespace (`unshare --net`, loopback up, multicast routed to
//! it), asserts that it passed, and returns `false`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

/// Whether this process's network namespace has no interface but `lo`.
pub fn loopback_only() -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/net/dev") else {
        return false;
    };
    let names: Vec<&str> = text
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    !names.is_empty() && names.iter().all(|n| *n == "lo")
}

/// The command prefix that runs a program in a fresh loopback-only namespace (DESIGN.md).
pub fn netns_command(program: &std::path::Path) -> Command {
    let mut c = Command::new("unshare");
    c.args([
        "--net",
        "bash",
        "-c",
        "ip link set lo up && ip link set lo multicast on && \
         ip route add 224.0.0.0/4 dev lo && exec \"$@\"",
        "netns",
    ])
    .arg(program);
    c
}

/// See the module doc. `test_name` is the test function's path inside its test binary.
pub fn isolated(test_name: &str) -> bool {
    if loopback_only() {
        return true;
    }
    let exe: PathBuf = std::env::current_exe().expect("test binary path");
    let out = netns_command(&exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads", "1"])
        .output()
        .context("running unshare --net (needs root or CAP_SYS_ADMIN)")
        .expect("start the isolated run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("--- isolated run of {test_name} ---\n{stdout}\n{stderr}");
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test_name} failed inside the private network namespace ({})",
        out.status
    );
    false
}

/// The Python of the ROS 2 venv (rclpy, Fast DDS) that `scripts/test` creates
/// (`$EDGEFUSE_ROS_VENV`, default `$HOME/.cache/edgefuse/ros-venv`).
pub fn ros_python() -> Result<PathBuf> {
    let venv = match std::env::var_os("EDGEFUSE_ROS_VENV") {
        Some(v) => PathBuf::from(v),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?)
            .join(".cache/edgefuse/ros-venv"),
    };
    let py = venv.join("bin/python");
    anyhow::ensure!(
        py.is_file(),
        "{} does not exist: run ./scripts/test, which creates the ROS 2 venv",
        py.display()
    );
    Ok(py)
}
