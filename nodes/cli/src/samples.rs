//! The sample bags: generated deterministically from the built-in scenario definitions into
//! `bags/<scenario>/` on first use, and regenerated when a definition (or the generator)
//! changes.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// `custom_data` key holding the sha256 of the scenario definition a bag was made from.
pub const HASH_KEY: &str = "edgefuse.scenario_sha256";
/// `custom_data` key holding the generator version ([`edgefuse_sim::GENERATOR`]).
pub const GENERATOR_KEY: &str = "edgefuse.generator";

/// The repository's `bags/` directory: `./bags` when it holds `scenarios/`, else the one this
/// binary was built from.
pub fn default_bags_dir() -> PathBuf {
    let local = PathBuf::from("bags");
    if local.join("scenarios").is_dir() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bags")
}

fn is_current(bag: &Path, want_hash: &str) -> bool {
    let Ok(reader) = edgefuse_bag::BagReader::open(bag) else {
        return false;
    };
    let Some(meta) = reader.metadata() else {
        return false;
    };
    meta.custom_data.get(HASH_KEY).map(String::as_str) == Some(want_hash)
        && meta.custom_data.get(GENERATOR_KEY).map(String::as_str) == Some(edgefuse_sim::GENERATOR)
}

/// Returns `bags_dir/<name>`, generating it first when it is missing or stale. Safe to call
/// from several processes at once (a lock file serialises generation).
pub fn ensure_sample_bag(bags_dir: &Path, name: &str) -> Result<PathBuf> {
    let def = edgefuse_sim::builtin_scenario(name)?;
    let want = def.sha256.clone();
    let bag = bags_dir.join(name);
    if is_current(&bag, &want) {
        return Ok(bag);
    }
    std::fs::create_dir_all(bags_dir)
        .with_context(|| format!("creating {}", bags_dir.display()))?;
    let lock_path = bags_dir.join(format!(".{name}.lock"));
    let lock =
        File::create(&lock_path).with_context(|| format!("creating {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    if is_current(&bag, &want) {
        return Ok(bag);
    }
    // Generate under the final directory name (the name is recorded inside the bag) in a
    // private parent, then move it into place.
    let tmp_parent = bags_dir.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp_parent.exists() {
        std::fs::remove_dir_all(&tmp_parent)
            .with_context(|| format!("removing {}", tmp_parent.display()))?;
    }
    let tmp = tmp_parent.join(name);
    eprintln!("generating sample bag {} ...", bag.display());
    edgefuse_sim::generate(&def, &edgefuse_sim::GenerateOptions::default(), &tmp)
        .with_context(|| format!("generating scenario '{name}' into {}", tmp.display()))?;
    if bag.exists() {
        std::fs::remove_dir_all(&bag)
            .with_context(|| format!("removing stale {}", bag.display()))?;
    }
    std::fs::rename(&tmp, &bag)
        .with_context(|| format!("moving {} to {}", tmp.display(), bag.display()))?;
    std::fs::remove_dir(&tmp_parent)
        .with_context(|| format!("removing {}", tmp_parent.display()))?;
    Ok(bag)
}
