use std::path::PathBuf;

/// Everything that can go wrong reading or writing a bag; each variant names the file, topic or
/// field and what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum BagError {
    /// An operating-system I/O error on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The MCAP library refused the file.
    #[error("{path}: invalid MCAP: {source}")]
    Mcap {
        /// The file.
        path: PathBuf,
        /// The MCAP error.
        source: mcap::McapError,
    },
    /// SQLite refused a `sqlite3` storage file.
    #[error("{path}: sqlite3 storage: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// `metadata.yaml` cannot be parsed or lacks a field.
    #[error("{path}: {reason}")]
    Metadata {
        /// The metadata file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `metadata.yaml` disagrees with the storage files.
    #[error("{path}: metadata.yaml does not match its files: {reason}")]
    MetadataMismatch {
        /// The bag directory.
        path: PathBuf,
        /// The disagreement.
        reason: String,
    },
    /// The path is neither a bag directory nor an `.mcap` file.
    #[error("{path}: not a rosbag2 bag ({reason})")]
    NotABag {
        /// The path given.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The bag's storage format is not one this reader handles.
    #[error("{path}: unsupported storage '{storage}' (this reader handles mcap and sqlite3)")]
    UnsupportedStorage {
        /// The bag.
        path: PathBuf,
        /// `storage_identifier` from metadata.yaml.
        storage: String,
    },
    /// A message was written to a topic that was never added.
    #[error("topic '{topic}' was not added to the bag before writing")]
    UnknownTopic {
        /// The topic.
        topic: String,
    },
    /// A topic was added twice with different types.
    #[error("topic '{topic}' already has type '{existing}', cannot add it as '{requested}'")]
    TopicTypeConflict {
        /// The topic.
        topic: String,
        /// Type already registered.
        existing: String,
        /// Type requested now.
        requested: String,
    },
    /// A message could not be encoded, or a schema could not be built.
    #[error("topic '{topic}': {reason}")]
    Encode {
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// A message's payload does not decode as the requested type.
    #[error("topic '{topic}' at {log_time_ns} ns: {reason}")]
    Decode {
        /// The topic.
        topic: String,
        /// The message's log time.
        log_time_ns: u64,
        /// Why.
        reason: String,
    },
}

impl BagError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn mcap(path: impl Into<PathBuf>, source: mcap::McapError) -> Self {
        Self::Mcap {
            path: path.into(),
            source,
        }
    }
}
