//! Helpers shared by the system tests and benches: the Python peers' interpreter, the sample
//! bags, running Python oracle scripts, and comparing decoded values. Test-only code; no
//! library depends on it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use edgefuse_msgs::{visit_type, RosMessage, TypeVisitor};
use serde_json::Value;

pub mod dbscan;
pub mod netns;

/// The repository root: from the `CARGO_MANIFEST_DIR` cargo sets when it runs a test, else
/// the one this crate was built in (a target directory shared by two clones may hold a test
/// binary built in the other one).
pub fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("..")
}

/// The Python interpreter of the test venv that `scripts/test` creates
/// (`$EDGEFUSE_VENV`, default `$HOME/.cache/edgefuse/venv`).
pub fn python() -> Result<PathBuf> {
    venv_python("EDGEFUSE_VENV", "venv")
}

/// The Python interpreter of the rerun venv that `scripts/test` creates (the rerun SDK of the
/// Rust crate's version; `$EDGEFUSE_RERUN_VENV`, default `$HOME/.cache/edgefuse/rerun-venv`).
pub fn rerun_python() -> Result<PathBuf> {
    venv_python("EDGEFUSE_RERUN_VENV", "rerun-venv")
}

fn venv_python(var: &str, default_dir: &str) -> Result<PathBuf> {
    let venv = match std::env::var_os(var) {
        Some(v) => PathBuf::from(v),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?)
            .join(".cache/edgefuse")
            .join(default_dir),
    };
    let py = venv.join("bin/python");
    if !py.is_file() {
        bail!(
            "{} does not exist: run ./scripts/test, which creates the test venv",
            py.display()
        );
    }
    Ok(py)
}

/// Runs `tests/python/<script>` with `args` in the test venv and returns its stdout; fails
/// with its stderr when it exits non-zero.
pub fn run_python(script: &str, args: &[&str]) -> Result<String> {
    run_python_with(&python()?, script, args)
}

/// Runs `tests/python/<script>` with `args` under the interpreter `python` and returns its
/// stdout; fails with its stderr when it exits non-zero.
pub fn run_python_with(python: &Path, script: &str, args: &[&str]) -> Result<String> {
    let path = repo_root().join("tests/python").join(script);
    let out = Command::new(python)
        .arg(&path)
        .args(args)
        .output()
        .with_context(|| format!("running {}", path.display()))?;
    if !out.status.success() {
        bail!(
            "{} {:?} failed ({}):\n{}\n{}",
            script,
            args,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `tests/python/<script>` in the test venv with `input` on its stdin and returns its
/// stdout; fails with its stderr when it exits non-zero.
pub fn run_python_stdin(script: &str, input: &str) -> Result<String> {
    use std::io::Write;
    let path = repo_root().join("tests/python").join(script);
    let mut child = Command::new(python()?)
        .arg(&path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", path.display()))?;
    child
        .stdin
        .take()
        .context("stdin of the Python process")?
        .write_all(input.as_bytes())
        .with_context(|| format!("writing to {}", path.display()))?;
    let out = child
        .wait_with_output()
        .with_context(|| format!("waiting for {}", path.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}):\n{}",
            script,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The sample bag of `scenario`, generated on first use into the repository's `bags/`.
pub fn sample_bag(scenario: &str) -> Result<PathBuf> {
    edgefuse_cli::samples::ensure_sample_bag(&repo_root().join("bags"), scenario)
}

/// Decodes CDR `bytes` as the contract type named `type_name`, returning its JSON view and
/// its re-encoding.
pub fn decode_as(type_name: &str, bytes: &[u8]) -> Result<(Value, Vec<u8>)> {
    struct Json<'a>(&'a [u8]);
    impl TypeVisitor for Json<'_> {
        type Out = Result<(Value, Vec<u8>)>;
        fn visit<M: RosMessage>(self) -> Self::Out {
            let m = M::decode(self.0)?;
            Ok((serde_json::to_value(&m)?, m.encode()?))
        }
    }
    visit_type(type_name, Json(bytes)).with_context(|| format!("no Rust type for {type_name}"))?
}

/// Asserts two JSON views of a message are equal (numbers compared as f64 when either is a
/// float, booleans equal to 0/1); panics naming the first differing field path.
pub fn assert_same_json(a: &Value, b: &Value, path: &str) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut kx: Vec<_> = x.keys().collect();
            let mut ky: Vec<_> = y.keys().collect();
            kx.sort();
            ky.sort();
            assert_eq!(kx, ky, "{path}: field names differ");
            for k in x.keys() {
                assert_same_json(&x[k], &y[k], &format!("{path}.{k}"));
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}: lengths differ");
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                assert_same_json(p, q, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(p), Value::Number(q)) => {
            if p.is_f64() || q.is_f64() {
                assert_eq!(p.as_f64(), q.as_f64(), "{path}");
            } else {
                assert_eq!(p, q, "{path}");
            }
        }
        (Value::Bool(p), Value::Number(q)) | (Value::Number(q), Value::Bool(p)) => {
            assert_eq!(u64::from(*p), q.as_u64().unwrap_or(u64::MAX), "{path}")
        }
        _ => assert_eq!(a, b, "{path}"),
    }
}

/// The run's frames as JSON lines for `score_tracking.py`, with our `odom` aligned to the
/// simulator's by the first frame's ego poses (our `odom` starts where the drive starts; the
/// simulator's is its world frame). Only ground truth and tracks within `roi_m` of the ego are
/// scored.
pub fn frames_jsonl(report: &edgefuse_fusion_node::runner::RunReport, roi_m: f64) -> String {
    scored_frames_jsonl(&edgefuse_fusion_node::score::frames(report, roi_m))
}

/// Scored frames (see [`frames_jsonl`]) as JSON lines for `score_tracking.py`.
pub fn scored_frames_jsonl(frames: &[edgefuse_fusion_node::score::ScoredFrame]) -> String {
    use edgefuse_fusion_node::score::Obj;
    use serde_json::json;
    let obj = |o: &Obj| json!({"id": o.id, "x": o.x_m, "y": o.y_m, "vx": o.vx_mps, "vy": o.vy_mps});
    let mut out = String::new();
    for f in frames {
        let line = json!({
            "stamp_ns": f.stamp_ns,
            "truth": f.truth.iter().map(obj).collect::<Vec<_>>(),
            "tracks": f.tracks.iter().map(obj).collect::<Vec<_>>(),
            "ego": {"x": f.ego.x_m, "y": f.ego.y_m, "yaw": f.ego.yaw_rad},
            "ego_truth": {"x": f.ego_truth.x_m, "y": f.ego_truth.y_m, "yaw": f.ego_truth.yaw_rad},
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// LiDAR points returned from each ground-truth object of a built-in drive, per sweep stamp and
/// object id, from the simulator's own sweeps (see `edgefuse_sim::lidar_points_per_actor`).
pub fn lidar_points(
    scenario: &str,
) -> Result<std::collections::BTreeMap<i64, std::collections::BTreeMap<u64, u32>>> {
    let def = edgefuse_sim::builtin_scenario(scenario)?;
    Ok(edgefuse_sim::lidar_points_per_actor(&def)?)
}
