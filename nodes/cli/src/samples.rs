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

/// The YAML text of a built-in scenario.
pub fn builtin_yaml(name: &str) -> Result<&'static str> {
    edgefuse_sim::BUILTIN_SCENARIOS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, y)| *y)
        .with_context(|| {
            let known: Vec<_> = edgefuse_sim::BUILTIN_SCENARIOS.iter().map(|(n, _)| *n).collect();
            format!("unknown scenario '{name}' (known: {})", known.join(", "))
        })
}

fn is_current(bag: &Path, want_hash: &str) -> bool {
    let Ok(reader) = edgefuse_bag::BagReader::open(bag) else { return false };
    let Some(meta) = reader.metadata() else { return false };
    meta.custom_data.get(HASH_KEY).map(String::as_str) == Some(want_hash)
        && meta.custom_data.get(GENERATOR_KEY).map(String::as_str) == Some(edgefuse_sim::GENERATOR)
}

/// Returns `bags_dir/<name>`, generating it first when it is missing or stale. Safe to call
/// from several processes at once (a lock file serialises generation).
pub fn ensure_sample_bag(bags_dir: &Path, name: &str) -> Result<PathBuf> {
    let yaml = builtin_yaml(name)?;
    let want = edgefuse_sim::definition_hash(yaml);
    let bag = bags_dir.join(name);
    if is_current(&bag, &want) {
        return Ok(bag);
    }
    std::fs::create_dir_all(bags_dir).with_context(|| format!("creating {}", bags_dir.display()))?;
    let lock_path = bags_dir.join(format!(".{name}.lock"));
    let lock = File::create(&lock_path).with_context(|| format!("creating {}", lock_path.display()))?;
    lock.lock().with_context(|| format!("locking {}", lock_path.display()))?;
    if is_current(&bag, &want) {
        return Ok(bag);
    }
    let tmp = bags_dir.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    eprintln!("generating sample bag {} ...", bag.display());
    let def = edgefuse_sim::builtin_scenario(name)?;
    edgefuse_sim::generate(&def, &edgefuse_sim::GenerateOptions::default(), &tmp)
        .with_context(|| format!("generating scenario '{name}' into {}", tmp.display()))?;
    // The bag's file is named after its directory: rename it to match the final name.
    let tmp_name = tmp.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let from = tmp.join(format!("{tmp_name}_0.mcap"));
    let to = tmp.join(format!("{name}_0.mcap"));
    std::fs::rename(&from, &to).with_context(|| format!("renaming {}", from.display()))?;
    let meta_path = tmp.join("metadata.yaml");
    let meta = std::fs::read_to_string(&meta_path).with_context(|| format!("reading {}", meta_path.display()))?;
    std::fs::write(&meta_path, meta.replace(&format!("{tmp_name}_0.mcap"), &format!("{name}_0.mcap")))
        .with_context(|| format!("writing {}", meta_path.display()))?;
    if bag.exists() {
        std::fs::remove_dir_all(&bag).with_context(|| format!("removing stale {}", bag.display()))?;
    }
    std::fs::rename(&tmp, &bag).with_context(|| format!("moving {} to {}", tmp.display(), bag.display()))?;
    Ok(bag)
}
