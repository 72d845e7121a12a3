//! Runs a [`LaunchPlan`]'s processes and stops them in order.
//!
//! What it does, following `ros2 launch` (launch's `ExecuteLocal`) unless noted:
//! - Processes start in plan order. Each gets the launcher's environment plus the plan's
//!   changes, stdin from `/dev/null`, and its own process group (a deviation: so that a
//!   terminal's Ctrl-C reaches only the launcher, which then stops the processes in order).
//! - The launch ends when every process has exited and no restart is pending, when a process
//!   with `on_exit="shutdown"` exits, or when the launcher gets SIGINT or SIGTERM. A process
//!   that exits otherwise (any code) just stays down, as in `ros2 launch`.
//! - `respawn="true"`: a process that exits while the launch is not shutting down is started
//!   again after `respawn_delay` seconds (whatever its exit code), at most
//!   `respawn_max_retries` times if that is not negative; restarts are counted.
//! - Shutdown: processes are stopped one at a time in reverse start order (a respawned process
//!   counts as started when it last started). Each gets SIGINT; if it is still running after
//!   its `sigterm_timeout` (default 5 s) it gets SIGTERM, and after `sigkill_timeout` more
//!   (default 5 s) SIGKILL to its process group. The next process is signalled once the previous
//!   one has exited (launch signals all at once; stopping in order is this launcher's
//!   addition, so a recorder started first stops last). A second SIGINT/SIGTERM during
//!   shutdown sends SIGKILL to everything still running.
//! - Output: `[label] line` on the launcher's stdout/stderr for `screen`, lines in
//!   `<log dir>/launch.log` for `log`, own files for `own_log`, as launch's `output` aliases.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::error::LaunchError;
use crate::plan::{LaunchPlan, ProcessSpec, Program, Sink};

const POLL: Duration = Duration::from_millis(20);

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
}

impl ExitKind {
    fn from_status(status: ExitStatus) -> ExitKind {
        match (status.code(), status.signal()) {
            (Some(c), _) => ExitKind::Code(c),
            (None, Some(s)) => ExitKind::Signal(s),
            (None, None) => ExitKind::Code(-1),
        }
    }
}

impl std::fmt::Display for ExitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitKind::Code(c) => write!(f, "exit code {c}"),
            ExitKind::Signal(s) => match Signal::try_from(*s) {
                Ok(sig) => write!(f, "killed by {}", sig.as_str()),
                Err(_) => write!(f, "killed by signal {s}"),
            },
        }
    }
}

/// Why the launch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShutdownReason {
    /// Every process exited and none was due to restart.
    AllExited,
    /// The launcher received this signal (`SIGINT`, `SIGTERM`).
    Signal(String),
    /// This process (label) has `on_exit="shutdown"` and exited.
    ProcessExited(String),
    /// [`StopHandle::stop`] was called.
    Requested,
    /// This process (label) could not be started; the message says why.
    SpawnFailed(String, String),
}

impl std::fmt::Display for ShutdownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShutdownReason::AllExited => write!(f, "all processes exited"),
            ShutdownReason::Signal(s) => write!(f, "the launcher received {s}"),
            ShutdownReason::ProcessExited(l) => {
                write!(f, "{l} exited and has on_exit=\"shutdown\"")
            }
            ShutdownReason::Requested => write!(f, "stop requested"),
            ShutdownReason::SpawnFailed(l, e) => write!(f, "{l} could not be started: {e}"),
        }
    }
}

/// What happened to one process.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessReport {
    /// Its label.
    pub label: String,
    /// How many times it was started.
    pub starts: u32,
    /// Restarts by respawn (`starts - 1` when it started at all).
    pub restarts: u32,
    /// Every exit, in order.
    pub exits: Vec<ExitKind>,
    /// Signals the launcher sent it during shutdown, in order (`SIGINT`, `SIGTERM`, `SIGKILL`).
    pub signals_sent: Vec<&'static str>,
}

/// The outcome of [`Supervisor::run`].
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchReport {
    /// Why it ended.
    pub reason: ShutdownReason,
    /// Per process, in plan order.
    pub processes: Vec<ProcessReport>,
    /// Labels in the order the shutdown signalled them (reverse start order).
    pub stop_order: Vec<String>,
    /// The log directory, if any process logged to files.
    pub log_dir: Option<PathBuf>,
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct SupervisorOptions {
    /// Catch SIGINT and SIGTERM sent to this process and shut down on them.
    pub handle_signals: bool,
    /// Where `launch.log` and own log files go (created only if a process logs to files).
    pub log_dir: PathBuf,
    /// Print the launcher's own `[INFO] [launch]: ...` lines on stderr.
    pub verbose: bool,
}

impl Default for SupervisorOptions {
    fn default() -> Self {
        SupervisorOptions {
            handle_signals: true,
            log_dir: default_log_dir(),
            verbose: true,
        }
    }
}

/// `$ROS_LOG_DIR`, else `$ROS_HOME/log`, else `~/.ros/log`, then a directory for this run.
pub fn default_log_dir() -> PathBuf {
    let base = if let Some(d) = std::env::var_os("ROS_LOG_DIR") {
        PathBuf::from(d)
    } else if let Some(h) = std::env::var_os("ROS_HOME") {
        PathBuf::from(h).join("log")
    } else {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(".ros/log")
    };
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    base.join(format!("edgefuse-launch-{secs}-{}", std::process::id()))
}

enum Control {
    Signal(i32),
    Stop,
}

/// Asks a running [`Supervisor`] to shut down (as SIGINT would); clonable, usable from any
/// thread.
#[derive(Debug, Clone)]
pub struct StopHandle(Sender<Control>);

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Control::Signal(s) => write!(f, "Signal({s})"),
            Control::Stop => write!(f, "Stop"),
        }
    }
}

impl StopHandle {
    /// Requests the ordered shutdown.
    pub fn stop(&self) {
        let _ = self.0.send(Control::Stop);
    }
}

struct Slot {
    spec: ProcessSpec,
    args: Vec<String>,
    program: PathBuf,
    child: Option<Child>,
    start_seq: u64,
    starts: u32,
    respawn_at: Option<Instant>,
    exits: Vec<ExitKind>,
    signals_sent: Vec<&'static str>,
}

/// Writers shared by the output threads.
struct Logs {
    dir: PathBuf,
    launch_log: Option<Arc<Mutex<File>>>,
}

/// Runs the processes of a plan.
pub struct Supervisor {
    plan: LaunchPlan,
    opts: SupervisorOptions,
    tx: Sender<Control>,
    rx: Receiver<Control>,
}

impl Supervisor {
    /// A supervisor for `plan`; nothing starts before [`Supervisor::run`].
    pub fn new(plan: LaunchPlan, opts: SupervisorOptions) -> Supervisor {
        let (tx, rx) = mpsc::channel();
        Supervisor { plan, opts, tx, rx }
    }

    /// A handle that stops the launch from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.tx.clone())
    }

    /// Starts every process and supervises them until the launch ends (see the module docs);
    /// returns what happened. Fails before starting anything if a program is missing.
    pub fn run(self) -> Result<LaunchReport, LaunchError> {
        let missing = self.plan.missing_programs();
        if !missing.is_empty() {
            return Err(LaunchError::NotFound { missing });
        }
        let params_dir = if self
            .plan
            .processes
            .iter()
            .any(|p| !p.inline_params.is_empty())
        {
            Some(
                tempfile::Builder::new()
                    .prefix("launch_params_")
                    .tempdir()
                    .map_err(|source| LaunchError::Write {
                        path: std::env::temp_dir(),
                        source,
                    })?,
            )
        } else {
            None
        };
        let mut slots = Vec::new();
        for spec in &self.plan.processes {
            let mut paths = Vec::new();
            for (k, yaml) in spec.inline_params.iter().enumerate() {
                if let Some(dir) = &params_dir {
                    let path = dir.path().join(format!("{}_{}.yaml", spec.label, k + 1));
                    std::fs::write(&path, yaml).map_err(|source| LaunchError::Write {
                        path: path.clone(),
                        source,
                    })?;
                    paths.push(path.display().to_string());
                }
            }
            let Program::Found(program) = &spec.program else {
                return Err(LaunchError::NotFound {
                    missing: vec![spec.label.clone()],
                });
            };
            slots.push(Slot {
                args: spec.args_with(|k| paths.get(k).cloned().unwrap_or_default()),
                program: program.clone(),
                spec: spec.clone(),
                child: None,
                start_seq: 0,
                starts: 0,
                respawn_at: None,
                exits: Vec::new(),
                signals_sent: Vec::new(),
            });
        }
        let needs_logs = slots.iter().any(|s| {
            let o = s.spec.output;
            o.stdout.launch_log || o.stdout.own_log || o.stderr.launch_log || o.stderr.own_log
        });
        let mut logs = Logs {
            dir: self.opts.log_dir.clone(),
            launch_log: None,
        };
        if needs_logs {
            std::fs::create_dir_all(&logs.dir).map_err(|source| LaunchError::Write {
                path: logs.dir.clone(),
                source,
            })?;
            let path = logs.dir.join("launch.log");
            let f = open_append(&path)?;
            logs.launch_log = Some(Arc::new(Mutex::new(f)));
            self.info(&format!(
                "All log files can be found below {}",
                logs.dir.display()
            ));
        }

        let signals = if self.opts.handle_signals {
            let mut signals = signal_hook::iterator::Signals::new([
                signal_hook::consts::SIGINT,
                signal_hook::consts::SIGTERM,
            ])
            .map_err(LaunchError::Signals)?;
            let handle = signals.handle();
            let tx = self.tx.clone();
            let thread = std::thread::spawn(move || {
                for sig in signals.forever() {
                    if tx.send(Control::Signal(sig)).is_err() {
                        break;
                    }
                }
            });
            Some((handle, thread))
        } else {
            None
        };

        let mut run = Run {
            slots,
            logs,
            seq: 0,
            verbose: self.opts.verbose,
            stop_order: Vec::new(),
            force: false,
        };
        let reason = run.supervise(&self.rx);
        run.shutdown(&self.rx);

        if let Some((handle, thread)) = signals {
            handle.close();
            let _ = thread.join();
        }
        drop(params_dir);
        let log_dir = needs_logs.then(|| run.logs.dir.clone());
        Ok(LaunchReport {
            reason,
            processes: run
                .slots
                .iter()
                .map(|s| ProcessReport {
                    label: s.spec.label.clone(),
                    starts: s.starts,
                    restarts: s.starts.saturating_sub(1),
                    exits: s.exits.clone(),
                    signals_sent: s.signals_sent.clone(),
                })
                .collect(),
            stop_order: run.stop_order,
            log_dir,
        })
    }

    fn info(&self, msg: &str) {
        if self.opts.verbose {
            eprintln!("[INFO] [launch]: {msg}");
        }
    }
}

fn open_append(path: &Path) -> Result<File, LaunchError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| LaunchError::Write {
            path: path.to_path_buf(),
            source,
        })
}

struct Run {
    slots: Vec<Slot>,
    logs: Logs,
    seq: u64,
    verbose: bool,
    stop_order: Vec<String>,
    /// A second signal arrived during shutdown: kill without grace.
    force: bool,
}

impl Run {
    fn log(&self, level: &str, who: &str, msg: &str) {
        if self.verbose {
            eprintln!("[{level}] [{who}]: {msg}");
        }
        if let Some(f) = &self.logs.launch_log {
            if let Ok(mut f) = f.lock() {
                let _ = writeln!(f, "[{level}] [{who}]: {msg}");
            }
        }
    }

    /// Starts everything, then reaps, respawns and waits for a reason to stop.
    fn supervise(&mut self, rx: &Receiver<Control>) -> ShutdownReason {
        for i in 0..self.slots.len() {
            if let Err(e) = self.spawn(i) {
                return ShutdownReason::SpawnFailed(
                    self.slots[i].spec.label.clone(),
                    e.to_string(),
                );
            }
            match rx.try_recv() {
                Ok(c) => return self.control_reason(c),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => {}
            }
        }
        loop {
            match rx.recv_timeout(POLL) {
                Ok(c) => return self.control_reason(c),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
            let now = Instant::now();
            for i in 0..self.slots.len() {
                let Some(status) = self.try_reap(i) else {
                    continue;
                };
                let slot = &self.slots[i];
                if slot.spec.on_exit_shutdown {
                    let label = slot.spec.label.clone();
                    self.log(
                        "INFO",
                        "launch",
                        &format!(
                            "{label} exited ({status}) and has on_exit=\"shutdown\": shutting down"
                        ),
                    );
                    return ShutdownReason::ProcessExited(label);
                }
                let restarts = slot.starts.saturating_sub(1);
                let allowed = slot.spec.respawn_max_retries < 0
                    || i64::from(restarts) < slot.spec.respawn_max_retries;
                if slot.spec.respawn && allowed {
                    let delay = Duration::from_secs_f64(slot.spec.respawn_delay_s);
                    self.slots[i].respawn_at = Some(now + delay);
                }
            }
            for i in 0..self.slots.len() {
                if self.slots[i]
                    .respawn_at
                    .is_some_and(|t| t <= Instant::now())
                {
                    self.slots[i].respawn_at = None;
                    if let Err(e) = self.spawn(i) {
                        return ShutdownReason::SpawnFailed(
                            self.slots[i].spec.label.clone(),
                            e.to_string(),
                        );
                    }
                }
            }
            let active = self
                .slots
                .iter()
                .any(|s| s.child.is_some() || s.respawn_at.is_some());
            if !active {
                return ShutdownReason::AllExited;
            }
        }
    }

    fn control_reason(&self, c: Control) -> ShutdownReason {
        match c {
            Control::Stop => {
                self.log("INFO", "launch", "stop requested: shutting down");
                ShutdownReason::Requested
            }
            Control::Signal(s) => {
                let name = Signal::try_from(s)
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|_| format!("signal {s}"));
                self.log(
                    "WARNING",
                    "launch",
                    &format!("received {name}: shutting down"),
                );
                ShutdownReason::Signal(name)
            }
        }
    }

    fn spawn(&mut self, i: usize) -> Result<(), LaunchError> {
        let slot = &self.slots[i];
        let mut cmd = Command::new(&slot.program);
        cmd.args(&slot.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        for (k, v) in &slot.spec.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(cwd) = &slot.spec.cwd {
            cmd.current_dir(cwd);
        }
        // The shutdown signals reach each process with their default action, whatever this
        // launcher inherited: a shell that starts a job in the background without job control
        // ignores SIGINT, and an ignored signal stays ignored across exec.
        // SAFETY: between fork and exec only sigaction(2), which is async-signal-safe.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(|| {
                use nix::sys::signal::{signal, SigHandler, Signal};
                for s in [
                    Signal::SIGINT,
                    Signal::SIGTERM,
                    Signal::SIGQUIT,
                    Signal::SIGHUP,
                ] {
                    signal(s, SigHandler::SigDfl).map_err(std::io::Error::from)?;
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|source| LaunchError::Spawn {
            name: slot.spec.label.clone(),
            program: slot.program.display().to_string(),
            source,
        })?;
        let label = slot.spec.label.clone();
        let output = slot.spec.output;
        if let Some(out) = child.stdout.take() {
            self.pump(out, &label, "stdout", output.stdout, false)?;
        }
        if let Some(err) = child.stderr.take() {
            self.pump(err, &label, "stderr", output.stderr, true)?;
        }
        let pid = child.id();
        self.seq += 1;
        let slot = &mut self.slots[i];
        slot.child = Some(child);
        slot.start_seq = self.seq;
        slot.starts += 1;
        let what = if slot.starts > 1 {
            format!(
                "process restarted (respawn {}) with pid [{pid}]",
                slot.starts - 1
            )
        } else {
            format!("process started with pid [{pid}]")
        };
        self.log("INFO", &label, &what);
        Ok(())
    }

    /// A thread that copies one output stream of a process line by line to its sinks.
    fn pump<R: Read + Send + 'static>(
        &self,
        stream: R,
        label: &str,
        source: &str,
        sink: Sink,
        is_stderr: bool,
    ) -> Result<(), LaunchError> {
        let launch_log = if sink.launch_log {
            self.logs.launch_log.clone()
        } else {
            None
        };
        let mut own: Vec<File> = Vec::new();
        if sink.own_log {
            own.push(open_append(
                &self.logs.dir.join(format!("{label}-{source}.log")),
            )?);
            own.push(open_append(&self.logs.dir.join(format!("{label}.log")))?);
        }
        let label = label.to_string();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&buf);
                let line = text.trim_end_matches(['\n', '\r']);
                if sink.screen {
                    if is_stderr {
                        let _ = writeln!(std::io::stderr().lock(), "[{label}] {line}");
                    } else {
                        let _ = writeln!(std::io::stdout().lock(), "[{label}] {line}");
                    }
                }
                if let Some(f) = &launch_log {
                    if let Ok(mut f) = f.lock() {
                        let _ = writeln!(f, "[{label}] {line}");
                    }
                }
                for f in &mut own {
                    let _ = writeln!(f, "{line}");
                }
            }
        });
        Ok(())
    }

    /// Reaps slot `i` if its process has exited; returns how.
    fn try_reap(&mut self, i: usize) -> Option<ExitKind> {
        let slot = &mut self.slots[i];
        let child = slot.child.as_mut()?;
        let status = match child.try_wait() {
            Ok(Some(status)) => status,
            Ok(None) => return None,
            Err(e) => {
                let label = slot.spec.label.clone();
                slot.child = None;
                self.log(
                    "ERROR",
                    &label,
                    &format!("waiting for the process failed: {e}"),
                );
                return Some(ExitKind::Code(-1));
            }
        };
        let pid = child.id();
        let kind = ExitKind::from_status(status);
        slot.child = None;
        slot.exits.push(kind);
        let label = slot.spec.label.clone();
        let cmdline = std::iter::once(slot.program.display().to_string())
            .chain(slot.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        if kind == ExitKind::Code(0) {
            self.log(
                "INFO",
                &label,
                &format!("process has finished cleanly [pid {pid}]"),
            );
        } else {
            self.log(
                "ERROR",
                &label,
                &format!("process has died [pid {pid}, {kind}, cmd '{cmdline}']"),
            );
        }
        Some(kind)
    }

    fn send(&mut self, i: usize, sig: Signal) {
        let slot = &mut self.slots[i];
        let Some(child) = &slot.child else {
            return;
        };
        let Ok(raw) = i32::try_from(child.id()) else {
            return;
        };
        let pid = Pid::from_raw(raw);
        // The child is unreaped here, so its pid (and group id) cannot have been reused.
        let result = if sig == Signal::SIGKILL {
            killpg(pid, sig).or_else(|_| kill(pid, sig))
        } else {
            kill(pid, sig)
        };
        slot.signals_sent.push(sig.as_str());
        if let Err(e) = result {
            let label = slot.spec.label.clone();
            self.log(
                "WARNING",
                &label,
                &format!("sending {} failed: {e}", sig.as_str()),
            );
        }
    }

    /// Polls until slot `i` exits or `timeout` passes; a control message during the wait
    /// turns on forced shutdown. True when it exited.
    fn wait_exit(&mut self, i: usize, timeout: Duration, rx: &Receiver<Control>) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.try_reap(i).is_some() || self.slots[i].child.is_none() {
                return true;
            }
            if self.force || Instant::now() >= deadline {
                return false;
            }
            match rx.recv_timeout(POLL.min(deadline.saturating_duration_since(Instant::now()))) {
                Ok(_) => {
                    self.log(
                        "WARNING",
                        "launch",
                        "second interrupt during shutdown: killing the remaining processes",
                    );
                    self.force = true;
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
        }
    }

    /// Stops every running process, newest start first; cancels pending restarts.
    fn shutdown(&mut self, rx: &Receiver<Control>) {
        for s in &mut self.slots {
            s.respawn_at = None;
        }
        let mut order: Vec<usize> = (0..self.slots.len()).collect();
        order.sort_by(|a, b| self.slots[*b].start_seq.cmp(&self.slots[*a].start_seq));
        for i in order {
            if self.try_reap(i).is_some() || self.slots[i].child.is_none() {
                continue;
            }
            self.stop_order.push(self.slots[i].spec.label.clone());
            let label = self.slots[i].spec.label.clone();
            let term = Duration::from_secs_f64(self.slots[i].spec.sigterm_timeout_s);
            let killt = Duration::from_secs_f64(self.slots[i].spec.sigkill_timeout_s);
            if !self.force {
                self.send(i, Signal::SIGINT);
                if self.wait_exit(i, term, rx) {
                    continue;
                }
                if !self.force {
                    self.log(
                        "ERROR",
                        &label,
                        &format!(
                            "process failed to terminate '{}' seconds after receiving 'SIGINT', escalating to 'SIGTERM'",
                            term.as_secs_f64()
                        ),
                    );
                    self.send(i, Signal::SIGTERM);
                    if self.wait_exit(i, killt, rx) {
                        continue;
                    }
                    if !self.force {
                        self.log(
                            "ERROR",
                            &label,
                            &format!(
                                "process failed to terminate '{}' seconds after receiving 'SIGTERM', escalating to 'SIGKILL'",
                                killt.as_secs_f64()
                            ),
                        );
                    }
                }
            }
            self.send(i, Signal::SIGKILL);
            if let Some(mut child) = self.slots[i].child.take() {
                if let Ok(status) = child.wait() {
                    let kind = ExitKind::from_status(status);
                    self.slots[i].exits.push(kind);
                    self.log(
                        "ERROR",
                        &label,
                        &format!("process has died [pid {}, {kind}]", child.id()),
                    );
                }
            }
        }
    }
}
