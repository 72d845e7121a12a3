//! The resolved launch: every process with its program, arguments, environment and policies.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A launch file evaluated with its arguments: what would be started, in start order.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchPlan {
    /// The launch file given (absolute).
    pub file: PathBuf,
    /// Launch arguments declared by the evaluated files, first declaration first, with the
    /// value each one has.
    pub arguments: Vec<DeclaredArg>,
    /// The processes in start order.
    pub processes: Vec<ProcessSpec>,
    /// Things worth telling the user that are not errors (e.g. an argument no file declares).
    pub warnings: Vec<String>,
}

/// One `<arg>`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredArg {
    /// Its name.
    pub name: String,
    /// The value it had when declared (given or default).
    pub value: String,
    /// The default, unevaluated text, if any.
    pub default: Option<String>,
    /// Its description attribute.
    pub description: String,
}

/// What a ROS node is, for `<node>` processes.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    /// `pkg`.
    pub package: Option<String>,
    /// `exec`.
    pub executable: String,
    /// `name`, if given.
    pub name: Option<String>,
    /// The absolute namespace (pushed namespaces plus `namespace`), if any was given.
    pub namespace: Option<String>,
}

impl NodeInfo {
    /// The fully qualified node name when both name and namespace are known, as launch_ros
    /// computes it (`/ns/name`, `/name` in the root namespace).
    pub fn fully_qualified_name(&self) -> Option<String> {
        let name = self.name.as_ref()?;
        let ns = self.namespace.as_ref()?;
        Some(if ns == "/" {
            format!("/{name}")
        } else {
            format!("{ns}/{name}")
        })
    }
}

/// The program of a process: found on disk, or not (which `--print` shows and running
/// refuses).
#[derive(Debug, Clone, PartialEq)]
pub enum Program {
    /// The executable file.
    Found(PathBuf),
    /// Nothing executable was found.
    NotFound {
        /// What was looked for (`pkg/exec` or a command name).
        wanted: String,
        /// Every path tried, in order.
        searched: Vec<PathBuf>,
    },
}

/// One command-line argument.
#[derive(Debug, Clone, PartialEq)]
pub enum CmdArg {
    /// A literal argument.
    Text(String),
    /// The path of the inline parameter file with this index in
    /// [`ProcessSpec::inline_params`], written when the launch starts.
    InlineParams(usize),
}

/// Where one output stream of a process goes, after launch's `output` aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sink {
    /// To the launcher's terminal, each line prefixed `[name] `.
    pub screen: bool,
    /// To the launch log file `launch.log` in the log directory.
    pub launch_log: bool,
    /// To the process's own files `<name>-stdout.log` / `<name>-stderr.log` / `<name>.log`.
    pub own_log: bool,
}

/// The `output` attribute, as launch maps its aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// The alias as written (`screen`, `log`, `both`, `own_log`, `full`).
    pub alias: &'static str,
    /// Where stdout goes.
    pub stdout: Sink,
    /// Where stderr goes.
    pub stderr: Sink,
}

impl Output {
    /// Launch's aliases: `screen` (both streams to the screen), `log` (both to the launch log,
    /// stderr also to the screen; the default), `both` (screen and launch log), `own_log`
    /// (own files), `full` (all of them).
    pub fn from_alias(alias: &str) -> Option<Output> {
        let s = |screen, launch_log, own_log| Sink {
            screen,
            launch_log,
            own_log,
        };
        let (alias, stdout, stderr) = match alias {
            "screen" => ("screen", s(true, false, false), s(true, false, false)),
            "log" => ("log", s(false, true, false), s(true, true, false)),
            "both" => ("both", s(true, true, false), s(true, true, false)),
            "own_log" => ("own_log", s(false, false, true), s(false, false, true)),
            "full" => ("full", s(true, true, true), s(true, true, true)),
            _ => return None,
        };
        Some(Output {
            alias,
            stdout,
            stderr,
        })
    }
}

/// One process to run.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSpec {
    /// Unique label: the node name, else `exec_name`/`name`, else the executable's file name;
    /// `-2`, `-3` appended to repeats. Output lines are prefixed `[label] `.
    pub label: String,
    /// Set for `<node>`.
    pub node: Option<NodeInfo>,
    /// The program.
    pub program: Program,
    /// Its arguments (without the program itself).
    pub args: Vec<CmdArg>,
    /// Inline parameters, each a complete ROS 2 params YAML document.
    pub inline_params: Vec<String>,
    /// Environment changes relative to the launcher's environment, sorted by name:
    /// `Some(value)` sets, `None` unsets.
    pub env: Vec<(String, Option<String>)>,
    /// Working directory, if set.
    pub cwd: Option<PathBuf>,
    /// Where output goes.
    pub output: Output,
    /// Restart when it exits (while the launch is not shutting down).
    pub respawn: bool,
    /// Seconds to wait before a restart.
    pub respawn_delay_s: f64,
    /// Restarts allowed; negative means no limit.
    pub respawn_max_retries: i64,
    /// `on_exit="shutdown"`: the launch shuts down when this process exits.
    pub on_exit_shutdown: bool,
    /// Seconds between SIGINT and SIGTERM when stopping it.
    pub sigterm_timeout_s: f64,
    /// Seconds between SIGTERM and SIGKILL when stopping it.
    pub sigkill_timeout_s: f64,
    /// Where it was declared (`file:line`).
    pub origin: String,
}

impl ProcessSpec {
    /// The arguments as strings, with inline parameter files named by `inline_path`.
    pub fn args_with<F: Fn(usize) -> String>(&self, inline_path: F) -> Vec<String> {
        self.args
            .iter()
            .map(|a| match a {
                CmdArg::Text(t) => t.clone(),
                CmdArg::InlineParams(i) => inline_path(*i),
            })
            .collect()
    }
}

/// The placeholder `--print` shows for inline parameter file `i`.
pub fn inline_placeholder(i: usize) -> String {
    format!("<inline-params-{}>", i + 1)
}

fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if plain {
        return s.to_string();
    }
    match shlex::try_quote(s) {
        Ok(q) => q.into_owned(),
        Err(_) => format!("{s:?}"),
    }
}

impl LaunchPlan {
    /// Human-readable process list for `edgefuse launch --print`: per process its label, node
    /// name, program (or where it was looked for), the full argument list shell-quoted,
    /// environment changes, policies and the inline parameter files' content.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "launch file: {}", self.file.display());
        if !self.arguments.is_empty() {
            let _ = writeln!(out, "arguments:");
            for a in &self.arguments {
                let _ = writeln!(out, "  {}:={}", a.name, quote(&a.value));
            }
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        let _ = writeln!(out, "processes: {}", self.processes.len());
        for (i, p) in self.processes.iter().enumerate() {
            let _ = writeln!(out, "[{}] {}  ({})", i + 1, p.label, p.origin);
            if let Some(node) = &p.node {
                let fq = node
                    .fully_qualified_name()
                    .or_else(|| node.name.clone())
                    .unwrap_or_else(|| "(name from the executable)".into());
                let pkg = node.package.as_deref().unwrap_or("-");
                let _ = writeln!(
                    out,
                    "    node: {fq}  package: {pkg}  executable: {}",
                    node.executable
                );
            }
            match &p.program {
                Program::Found(path) => {
                    let _ = writeln!(out, "    program: {}", path.display());
                }
                Program::NotFound { wanted, searched } => {
                    let _ = writeln!(out, "    program: NOT FOUND {wanted}");
                    let list: Vec<String> =
                        searched.iter().map(|s| s.display().to_string()).collect();
                    let _ = writeln!(out, "    searched: {}", list.join(" "));
                }
            }
            let args = p.args_with(inline_placeholder);
            let quoted: Vec<String> = args.iter().map(|a| quote(a)).collect();
            let _ = writeln!(out, "    args: {}", quoted.join(" "));
            for (k, v) in &p.env {
                match v {
                    Some(v) => {
                        let _ = writeln!(out, "    env: {k}={}", quote(v));
                    }
                    None => {
                        let _ = writeln!(out, "    env: unset {k}");
                    }
                }
            }
            if let Some(cwd) = &p.cwd {
                let _ = writeln!(out, "    cwd: {}", cwd.display());
            }
            let respawn = if p.respawn {
                let max = if p.respawn_max_retries < 0 {
                    String::new()
                } else {
                    format!(", at most {} times", p.respawn_max_retries)
                };
                format!("yes (after {} s{max})", p.respawn_delay_s)
            } else {
                "no".into()
            };
            let _ = writeln!(
                out,
                "    output: {}  respawn: {respawn}  on_exit: {}  sigterm_timeout: {} s  sigkill_timeout: {} s",
                p.output.alias,
                if p.on_exit_shutdown { "shutdown" } else { "-" },
                p.sigterm_timeout_s,
                p.sigkill_timeout_s
            );
            for (j, yaml) in p.inline_params.iter().enumerate() {
                let _ = writeln!(out, "    {}:", inline_placeholder(j));
                for line in yaml.lines() {
                    let _ = writeln!(out, "      {line}");
                }
            }
        }
        out
    }

    /// One line per process whose program was not found.
    pub fn missing_programs(&self) -> Vec<String> {
        self.processes
            .iter()
            .filter_map(|p| match &p.program {
                Program::Found(_) => None,
                Program::NotFound { wanted, searched } => {
                    let list: Vec<String> =
                        searched.iter().map(|s| s.display().to_string()).collect();
                    Some(format!(
                        "{} ({}): executable {wanted} not found (searched {})",
                        p.label,
                        p.origin,
                        list.join(", ")
                    ))
                }
            })
            .collect()
    }
}

/// True when `path` is a regular file with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
