use std::path::PathBuf;

/// Everything the engine can refuse, each naming its input and what was wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a usable GGUF file: {reason}")]
    Gguf { path: PathBuf, reason: String },
    #[error(
        "{path}: sha256 {actual} does not match the manifest's {expected}; the file is refused"
    )]
    Integrity {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "{path}: size {actual} bytes does not match the manifest's {expected}; the file is refused"
    )]
    Size {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error("{path}: manifest: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("{path}: unsupported model: {reason}")]
    Unsupported { path: PathBuf, reason: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    Template(String),
    #[error("memory budget {budget_bytes} bytes is below the {needed_bytes} bytes the largest two streamed units need")]
    BudgetTooSmall {
        budget_bytes: usize,
        needed_bytes: usize,
    },
    #[error("context: {tokens} tokens exceed the context of {context} tokens")]
    ContextOverflow { tokens: usize, context: usize },
    #[error("the layer loader stopped: {0}")]
    Loader(String),
    #[error("bad request: {0}")]
    Request(String),
}

pub type Result<T> = std::result::Result<T, LlmError>;

impl LlmError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LlmError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn gguf(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        LlmError::Gguf {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
