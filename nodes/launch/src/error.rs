//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong reading a launch file or running its processes.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// A launch file (or a file it names) could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not well-formed XML.
    #[error("{}: not well-formed XML: {source}", path.display())]
    Xml {
        /// The file.
        path: PathBuf,
        /// The parser's error, with its position.
        source: roxmltree::Error,
    },
    /// A tag, attribute or value the launch frontend does not accept (or edgefuse launch does
    /// not implement), with where it is.
    #[error("{}:{line}: <{tag}>: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the tag.
        line: u32,
        /// The tag name.
        tag: String,
        /// What is wrong.
        message: String,
    },
    /// An `<arg>` without a default that no one gave a value.
    #[error(
        "required launch argument '{name}' was not provided (declared at {}:{line}{}); pass it as {name}:=VALUE",
        path.display(),
        if description.is_empty() { String::new() } else { format!(": {description}") }
    )]
    MissingArgument {
        /// The argument name.
        name: String,
        /// Its description attribute (may be empty).
        description: String,
        /// The file declaring it.
        path: PathBuf,
        /// 1-based line of the `<arg>`.
        line: u32,
    },
    /// A command-line launch argument not of the form `name:=value`.
    #[error("launch arguments are given as name:=value, got '{0}'")]
    BadArgument(String),
    /// Executables that could not be found before anything was started.
    #[error("cannot start: {}", missing.join("; "))]
    NotFound {
        /// One line per missing executable, naming where it was looked for.
        missing: Vec<String>,
    },
    /// Spawning a process failed.
    #[error("starting {name} ({program}): {source}")]
    Spawn {
        /// Process label.
        name: String,
        /// The program path.
        program: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing a parameter file or a log file failed.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Installing the SIGINT/SIGTERM handlers failed.
    #[error("installing signal handlers: {0}")]
    Signals(std::io::Error),
    /// Waiting for a child failed.
    #[error("waiting for {name}: {source}")]
    Wait {
        /// Process label.
        name: String,
        /// The cause.
        source: std::io::Error,
    },
}
