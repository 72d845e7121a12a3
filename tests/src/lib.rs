//! Helpers shared by the system tests and benches: the Python peers' interpreter, the sample
//! bags, and running Python oracle scripts. Test-only code; no library depends on it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python interpreter of the test venv that `scripts/test` creates
/// (`$EDGEFUSE_VENV`, default `$HOME/.cache/edgefuse/venv`).
pub fn python() -> Result<PathBuf> {
    let venv = match std::env::var_os("EDGEFUSE_VENV") {
        Some(v) => PathBuf::from(v),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".cache/edgefuse/venv"),
    };
    let py = venv.join("bin/python");
    if !py.is_file() {
        bail!("{} does not exist: run ./scripts/test, which creates the test venv", py.display());
    }
    Ok(py)
}

/// Runs `tests/python/<script>` with `args` in the test venv and returns its stdout; fails
/// with its stderr when it exits non-zero.
pub fn run_python(script: &str, args: &[&str]) -> Result<String> {
    let path = repo_root().join("tests/python").join(script);
    let out = Command::new(python()?)
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

