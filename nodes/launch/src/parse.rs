//! Reads launch XML and evaluates it, in document order, into a [`LaunchPlan`].
//!
//! Each file is first checked whole against the tags and attributes of the launch and
//! launch_ros XML frontends (an unknown one is an error naming file, line and tag), then its
//! actions run in order against a launch context, as `ros2 launch` runs them: launch
//! configurations (`<arg>`, `<let>`, include arguments, the command line), the environment
//! (`<set_env>`, `<unset_env>`, `<append_env>`), the ROS namespace (`<push-ros-namespace>`), and
//! `<group>` scopes that save and restore all three.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use crate::error::LaunchError;
use crate::plan::{
    is_executable, CmdArg, DeclaredArg, LaunchPlan, NodeInfo, Output, ProcessSpec, Program,
};
use crate::subst::{eval_python_subset, parse_template, split_cmdline, Part};

/// The default of launch's `sigterm_timeout` and `sigkill_timeout` launch configurations.
pub const DEFAULT_SIGNAL_TIMEOUT_S: f64 = 5.0;

/// Nesting limit for `<include>`, against include cycles.
const MAX_INCLUDE_DEPTH: usize = 32;

/// What the evaluation may look at in the outside world.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// The launcher's environment (the base that `<set_env>` changes and processes inherit).
    pub env: BTreeMap<String, String>,
    /// Directory of the running `edgefuse` executable (second place to look for `pkg/exec`).
    pub exe_dir: Option<PathBuf>,
    /// Working directory, for relative paths (as launch resolves them).
    pub cwd: PathBuf,
}

impl ResolveOptions {
    /// The running process's environment, executable directory and working directory.
    pub fn from_process() -> ResolveOptions {
        ResolveOptions {
            env: std::env::vars().collect(),
            exe_dir: std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf)),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        }
    }
}

/// Splits command-line launch arguments `name:=value`.
pub fn parse_cli_args(args: &[String]) -> Result<Vec<(String, String)>, LaunchError> {
    args.iter()
        .map(|a| match a.split_once(":=") {
            Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
            _ => Err(LaunchError::BadArgument(a.clone())),
        })
        .collect()
}

/// Reads `file` and evaluates it with the command-line launch arguments `cli_args`.
pub fn resolve_file(
    file: &Path,
    cli_args: &[(String, String)],
    opts: &ResolveOptions,
) -> Result<LaunchPlan, LaunchError> {
    let file = absolute(&opts.cwd, file);
    let mut ev = Evaluator {
        opts,
        configs: cli_args.iter().cloned().collect(),
        env: BTreeMap::new(),
        files: Vec::new(),
        declared: Vec::new(),
        processes: Vec::new(),
        labels: HashMap::new(),
    };
    ev.run_file(&file)?;
    let mut warnings = Vec::new();
    for (name, _) in cli_args {
        if !ev.declared.iter().any(|d| &d.name == name) {
            warnings.push(format!(
                "launch argument '{name}' is not declared by any evaluated <arg>"
            ));
        }
    }
    Ok(LaunchPlan {
        file,
        arguments: ev.declared,
        processes: ev.processes,
        warnings,
    })
}

/// `p` made absolute against `cwd` with `.` and `..` removed lexically, as Python's
/// `os.path.abspath` (which launch uses) does.
fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    use std::path::Component;
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The schema: tags and attributes of the launch and launch_ros XML frontends.

const CONDITION: &[&str] = &["if", "unless"];
const ACTIONS: &[&str] = &[
    "arg",
    "let",
    "set_env",
    "unset_env",
    "append_env",
    "group",
    "push-ros-namespace",
    "push_ros_namespace",
    "include",
    "node",
    "executable",
];
/// Valid in ROS 2 launch XML but not implemented here: a clear error instead of a silent skip.
const UNSUPPORTED_ACTIONS: &[&str] = &[
    "timer",
    "log",
    "shutdown",
    "reset",
    "reset_env",
    "node_container",
    "load_composable_node",
    "set_parameter",
    "set_parameters_from_file",
    "set_remap",
    "set_use_sim_time",
    "set_ros_log_dir",
    "ros_timer",
];
const PROCESS_ATTRS: &[&str] = &[
    "name",
    "cwd",
    "output",
    "respawn",
    "respawn_delay",
    "respawn_max_retries",
    "on_exit",
    "shell",
    "sigterm_timeout",
    "sigkill_timeout",
    "emulate_tty",
];
const UNSUPPORTED_ATTRS: &[&str] = &["launch-prefix", "node-name", "cached_output", "log_cmd"];

/// Attributes and child tags of `tag` as a child of `parent`.
fn schema(parent: &str, tag: &str) -> Option<(Vec<&'static str>, &'static [&'static str])> {
    let with_cond = |attrs: &[&'static str]| -> Vec<&'static str> {
        attrs.iter().chain(CONDITION).copied().collect()
    };
    let in_actions = parent == "launch" || parent == "group";
    Some(match (parent, tag) {
        (_, "arg") if in_actions => (
            with_cond(&["name", "default", "description"]),
            &["choice"] as &[&str],
        ),
        ("arg", "choice") => (vec!["value"], &[]),
        (_, "let") if in_actions => (with_cond(&["name", "value"]), &[]),
        (_, "set_env") if in_actions => (with_cond(&["name", "value"]), &[]),
        (_, "unset_env") if in_actions => (with_cond(&["name"]), &[]),
        (_, "append_env") if in_actions => {
            (with_cond(&["name", "value", "prepend", "separator"]), &[])
        }
        (_, "group") if in_actions => (with_cond(&["scoped", "forwarding"]), GROUP_CHILDREN),
        ("group", "keep") => (vec!["name", "value"], &[]),
        (_, "push-ros-namespace" | "push_ros_namespace") if in_actions => {
            (with_cond(&["namespace"]), &[])
        }
        (_, "include") if in_actions => (with_cond(&["file"]), &["arg"]),
        ("include", "arg") => (vec!["name", "value"], &[]),
        (_, "node") if in_actions => {
            let mut a = with_cond(PROCESS_ATTRS);
            a.extend(["pkg", "exec", "namespace", "args", "ros_args", "exec_name"]);
            (a, &["param", "remap", "env"])
        }
        (_, "executable") if in_actions => {
            let mut a = with_cond(PROCESS_ATTRS);
            a.push("cmd");
            (a, &["env"])
        }
        ("node" | "param", "param") => (
            vec!["name", "value", "type", "from", "allow_substs"],
            &["param"],
        ),
        ("node", "remap") => (vec!["from", "to"], &[]),
        ("node" | "executable", "env") => (vec!["name", "value"], &[]),
        _ => return None,
    })
}

const GROUP_CHILDREN: &[&str] = &[
    "arg",
    "let",
    "set_env",
    "unset_env",
    "append_env",
    "group",
    "push-ros-namespace",
    "push_ros_namespace",
    "include",
    "node",
    "executable",
    "keep",
];

// ---------------------------------------------------------------------------------------------

struct FileCtx {
    path: PathBuf,
    text: String,
}

struct Evaluator<'a> {
    opts: &'a ResolveOptions,
    /// Launch configurations (`ros_namespace` among them, as in launch_ros).
    configs: BTreeMap<String, String>,
    /// Changes to the launcher's environment: `None` unsets.
    env: BTreeMap<String, Option<String>>,
    files: Vec<FileCtx>,
    declared: Vec<DeclaredArg>,
    processes: Vec<ProcessSpec>,
    labels: HashMap<String, usize>,
}

type Node<'a, 'i> = roxmltree::Node<'a, 'i>;

impl Evaluator<'_> {
    fn file(&self) -> Result<&FileCtx, LaunchError> {
        self.files.last().ok_or_else(|| LaunchError::Read {
            path: PathBuf::new(),
            source: std::io::Error::other("no current launch file"),
        })
    }

    fn line_of(&self, node: Node) -> u32 {
        node.document().text_pos_at(node.range().start).row
    }

    fn invalid(&self, node: Node, message: impl Into<String>) -> LaunchError {
        let path = self
            .files
            .last()
            .map(|f| f.path.clone())
            .unwrap_or_default();
        LaunchError::Invalid {
            path,
            line: self.line_of(node),
            tag: node.tag_name().name().to_string(),
            message: message.into(),
        }
    }

    fn origin(&self, node: Node) -> String {
        let path = self
            .files
            .last()
            .map(|f| f.path.display().to_string())
            .unwrap_or_default();
        format!("{path}:{}", self.line_of(node))
    }

    fn run_file(&mut self, path: &Path) -> Result<(), LaunchError> {
        if self.files.len() >= MAX_INCLUDE_DEPTH {
            return Err(LaunchError::Read {
                path: path.to_path_buf(),
                source: std::io::Error::other(format!(
                    "includes nested deeper than {MAX_INCLUDE_DEPTH} (an include cycle?)"
                )),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| LaunchError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.files.push(FileCtx {
            path: path.to_path_buf(),
            text,
        });
        let result = self.run_current_file();
        self.files.pop();
        result
    }

    fn run_current_file(&mut self) -> Result<(), LaunchError> {
        let file = self.file()?;
        let path = file.path.clone();
        // roxmltree borrows the text; clone it so `self` stays free to mutate.
        let text = file.text.clone();
        let doc = roxmltree::Document::parse(&text).map_err(|source| LaunchError::Xml {
            path: path.clone(),
            source,
        })?;
        let root = doc.root_element();
        if root.tag_name().name() != "launch" || root.tag_name().namespace().is_some() {
            return Err(self.invalid(root, "the root element of a launch file must be <launch>"));
        }
        if let Some(a) = root.attributes().next() {
            return Err(self.invalid(
                root,
                format!("unknown attribute '{}' (allowed: none)", a.name()),
            ));
        }
        self.check_children(root)?;
        self.run_actions(root)
    }

    /// Checks tags, attributes and substitution syntax of everything below `node`.
    fn check_children(&self, node: Node) -> Result<(), LaunchError> {
        let parent = node.tag_name().name();
        for child in node.children() {
            if child.is_text() {
                if child.text().is_some_and(|t| !t.trim().is_empty()) {
                    return Err(self.invalid(node, "unexpected text content"));
                }
                continue;
            }
            if !child.is_element() {
                continue;
            }
            let tag = child.tag_name().name();
            let Some((attrs, _)) = schema(parent, tag) else {
                let msg = if UNSUPPORTED_ACTIONS.contains(&tag)
                    && (parent == "launch" || parent == "group")
                {
                    format!("<{tag}> is ROS 2 launch XML that edgefuse launch does not implement")
                } else {
                    let allowed = schema_children(parent);
                    format!(
                        "unknown tag <{tag}> inside <{parent}> (allowed: {})",
                        if allowed.is_empty() {
                            "none".to_string()
                        } else {
                            allowed.join(", ")
                        }
                    )
                };
                return Err(self.invalid(child, msg));
            };
            for a in child.attributes() {
                let name = a.name();
                if a.namespace().is_some() || !attrs.contains(&name) {
                    let msg = if UNSUPPORTED_ATTRS.contains(&name) {
                        format!(
                            "attribute '{name}' is ROS 2 launch XML that edgefuse launch does not implement"
                        )
                    } else {
                        format!("unknown attribute '{name}' (allowed: {})", attrs.join(", "))
                    };
                    return Err(self.invalid(child, msg));
                }
                let skip_syntax = tag == "arg" && (name == "name" || name == "description");
                if !skip_syntax {
                    parse_template(a.value()).map_err(|e| self.invalid(child, e))?;
                }
            }
            self.check_children(child)?;
        }
        Ok(())
    }

    fn attr(&self, node: Node, name: &str) -> Option<String> {
        node.attribute(name).map(str::to_string)
    }

    fn required_attr(&self, node: Node, name: &str) -> Result<String, LaunchError> {
        self.attr(node, name)
            .ok_or_else(|| self.invalid(node, format!("attribute '{name}' is required")))
    }

    /// Evaluates an attribute value with substitutions.
    fn subst(&self, node: Node, value: &str) -> Result<String, LaunchError> {
        let parts = parse_template(value).map_err(|e| self.invalid(node, e))?;
        self.eval_parts(node, &parts)
    }

    fn subst_attr(&self, node: Node, name: &str) -> Result<Option<String>, LaunchError> {
        match node.attribute(name) {
            Some(v) => self.subst(node, v).map(Some),
            None => Ok(None),
        }
    }

    fn eval_parts(&self, node: Node, parts: &[Part]) -> Result<String, LaunchError> {
        let mut out = String::new();
        for p in parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Subst { .. } => out.push_str(&self.eval_subst(node, p)?),
            }
        }
        Ok(out)
    }

    fn env_var(&self, name: &str) -> Option<String> {
        match self.env.get(name) {
            Some(v) => v.clone(),
            None => self.opts.env.get(name).cloned(),
        }
    }

    fn ament_prefixes(&self) -> Vec<PathBuf> {
        self.env_var("AMENT_PREFIX_PATH")
            .map(|v| {
                v.split(':')
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The install prefix of a ROS package, from the ament index.
    fn package_prefix(&self, node: Node, pkg: &str) -> Result<PathBuf, LaunchError> {
        let prefixes = self.ament_prefixes();
        prefixes
            .iter()
            .find(|p| {
                p.join("share/ament_index/resource_index/packages")
                    .join(pkg)
                    .is_file()
            })
            .cloned()
            .ok_or_else(|| {
                self.invalid(
                    node,
                    format!(
                        "package '{pkg}' not found in the ament index (AMENT_PREFIX_PATH={})",
                        self.env_var("AMENT_PREFIX_PATH").unwrap_or_default()
                    ),
                )
            })
    }

    fn eval_subst(&self, node: Node, part: &Part) -> Result<String, LaunchError> {
        let Part::Subst { name, args } = part else {
            return Ok(String::new());
        };
        let vals = args
            .iter()
            .map(|a| self.eval_parts(node, a))
            .collect::<Result<Vec<_>, _>>()?;
        let arity = |min: usize, max: usize| -> Result<(), LaunchError> {
            if vals.len() < min || vals.len() > max {
                let want = if min == max {
                    format!("{min}")
                } else {
                    format!("{min} to {max}")
                };
                Err(self.invalid(
                    node,
                    format!("$({name}) takes {want} arguments, got {}", vals.len()),
                ))
            } else {
                Ok(())
            }
        };
        let as_bool = |v: &str| -> Result<bool, LaunchError> {
            parse_bool_loose(v)
                .ok_or_else(|| self.invalid(node, format!("$({name}): '{v}' is not a boolean")))
        };
        match name.as_str() {
            "var" => {
                arity(1, 2)?;
                match (self.configs.get(&vals[0]), vals.get(1)) {
                    (Some(v), _) => Ok(v.clone()),
                    (None, Some(default)) => Ok(default.clone()),
                    (None, None) => Err(self.invalid(
                        node,
                        format!("launch configuration '{}' is not set", vals[0]),
                    )),
                }
            }
            "env" => {
                arity(1, 2)?;
                match (self.env_var(&vals[0]), vals.get(1)) {
                    (Some(v), _) => Ok(v),
                    (None, Some(default)) => Ok(default.clone()),
                    (None, None) => Err(self.invalid(
                        node,
                        format!("environment variable '{}' is not set", vals[0]),
                    )),
                }
            }
            "dirname" => {
                arity(0, 0)?;
                let f = self.file()?;
                Ok(f.path
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default())
            }
            "filename" => {
                arity(0, 0)?;
                let f = self.file()?;
                Ok(f.path
                    .file_name()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default())
            }
            "find-pkg-prefix" => {
                arity(1, 1)?;
                Ok(self.package_prefix(node, &vals[0])?.display().to_string())
            }
            "find-pkg-share" => {
                arity(1, 1)?;
                let prefix = self.package_prefix(node, &vals[0])?;
                Ok(prefix.join("share").join(&vals[0]).display().to_string())
            }
            "exec-in-pkg" => {
                arity(2, 2)?;
                match self.find_in_package(&vals[1], &vals[0]) {
                    Program::Found(p) => Ok(p.display().to_string()),
                    Program::NotFound { wanted, .. } => {
                        Err(self.invalid(node, format!("executable {wanted} not found")))
                    }
                }
            }
            "find-exec" => {
                arity(1, 1)?;
                match self.find_command(&vals[0]) {
                    Program::Found(p) => Ok(p.display().to_string()),
                    Program::NotFound { wanted, .. } => {
                        Err(self.invalid(node, format!("executable '{wanted}' not found on PATH")))
                    }
                }
            }
            "eval" => {
                arity(1, 1)?;
                eval_python_subset(&vals[0]).map_err(|e| self.invalid(node, e))
            }
            "not" => {
                arity(1, 1)?;
                Ok((!as_bool(&vals[0])?).to_string())
            }
            "and" => {
                arity(2, 2)?;
                Ok((as_bool(&vals[0])? && as_bool(&vals[1])?).to_string())
            }
            "or" => {
                arity(2, 2)?;
                Ok((as_bool(&vals[0])? || as_bool(&vals[1])?).to_string())
            }
            "equals" | "not-equals" => {
                arity(2, 2)?;
                let (l, r) = (&vals[0], &vals[1]);
                let eq = match (parse_bool_strict(l), parse_bool_strict(r)) {
                    (Some(a), Some(b)) => a == b,
                    _ => match (l.parse::<f64>(), r.parse::<f64>()) {
                        (Ok(a), Ok(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()),
                        _ => l == r,
                    },
                };
                Ok((if name == "equals" { eq } else { !eq }).to_string())
            }
            other => Err(self.invalid(
                node,
                format!("substitution $({other} ...) is not implemented by edgefuse launch"),
            )),
        }
    }

    /// `if` / `unless`: true when the action should run.
    fn condition(&self, node: Node) -> Result<bool, LaunchError> {
        let if_ = node.attribute("if");
        let unless = node.attribute("unless");
        let (expr, negate) = match (if_, unless) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(node, "'if' and 'unless' cannot be used together"))
            }
            (Some(e), None) => (e, false),
            (None, Some(e)) => (e, true),
            (None, None) => return Ok(true),
        };
        let value = self.subst(node, expr)?;
        let v = match value.trim().to_lowercase().as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => {
                return Err(self.invalid(
                    node,
                    format!(
                        "condition '{expr}' evaluated to '{value}'; expected true, false, 1 or 0"
                    ),
                ))
            }
        };
        Ok(v != negate)
    }

    fn run_actions(&mut self, parent: Node) -> Result<(), LaunchError> {
        for child in parent.children().filter(|c| c.is_element()) {
            let tag = child.tag_name().name();
            if tag == "keep" {
                continue;
            }
            if !self.condition(child)? {
                continue;
            }
            match tag {
                "arg" => self.run_arg(child)?,
                "let" => {
                    let name = self.subst(child, &self.required_attr(child, "name")?)?;
                    let value = self.subst(child, &self.required_attr(child, "value")?)?;
                    self.configs.insert(name, value);
                }
                "set_env" => {
                    let name = self.subst(child, &self.required_attr(child, "name")?)?;
                    let value = self.subst(child, &self.required_attr(child, "value")?)?;
                    self.env.insert(name, Some(value));
                }
                "unset_env" => {
                    let name = self.subst(child, &self.required_attr(child, "name")?)?;
                    self.env.insert(name, None);
                }
                "append_env" => {
                    let name = self.subst(child, &self.required_attr(child, "name")?)?;
                    let value = self.subst(child, &self.required_attr(child, "value")?)?;
                    let prepend = match self.subst_attr(child, "prepend")? {
                        Some(p) => self.bool_value(child, "prepend", &p)?,
                        None => false,
                    };
                    let sep = self
                        .subst_attr(child, "separator")?
                        .unwrap_or_else(|| ":".into());
                    let new = match self.env_var(&name) {
                        Some(old) if !old.is_empty() => {
                            if prepend {
                                format!("{value}{sep}{old}")
                            } else {
                                format!("{old}{sep}{value}")
                            }
                        }
                        _ => value,
                    };
                    self.env.insert(name, Some(new));
                }
                "group" => self.run_group(child)?,
                "push-ros-namespace" | "push_ros_namespace" => {
                    let pushed = self.subst(child, &self.required_attr(child, "namespace")?)?;
                    let prev = self.configs.get("ros_namespace").cloned();
                    let ns = make_absolute(prefix_namespace(prev.as_deref(), Some(&pushed)));
                    if let Some(ns) = ns {
                        validate_namespace(&ns).map_err(|e| self.invalid(child, e))?;
                        self.configs.insert("ros_namespace".into(), ns);
                    }
                }
                "include" => self.run_include(child)?,
                "node" => self.run_node(child)?,
                "executable" => self.run_executable(child)?,
                other => {
                    return Err(self.invalid(child, format!("unknown tag <{other}>")));
                }
            }
        }
        Ok(())
    }

    fn run_arg(&mut self, node: Node) -> Result<(), LaunchError> {
        let name = self.required_attr(node, "name")?;
        let default = self.attr(node, "default");
        let description = self.attr(node, "description").unwrap_or_default();
        if !self.configs.contains_key(&name) {
            match &default {
                Some(d) => {
                    let v = self.subst(node, d)?;
                    self.configs.insert(name.clone(), v);
                }
                None => {
                    return Err(LaunchError::MissingArgument {
                        name,
                        description,
                        path: self.file()?.path.clone(),
                        line: self.line_of(node),
                    })
                }
            }
        }
        let value = self.configs.get(&name).cloned().unwrap_or_default();
        let choices: Vec<String> = node
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "choice")
            .map(|c| self.required_attr(c, "value"))
            .collect::<Result<_, _>>()?;
        if !choices.is_empty() && !choices.contains(&value) {
            return Err(self.invalid(
                node,
                format!(
                    "argument '{name}' has value '{value}', valid options are: {}",
                    choices.join(", ")
                ),
            ));
        }
        if !self.declared.iter().any(|d| d.name == name) {
            self.declared.push(DeclaredArg {
                name,
                value,
                default,
                description,
            });
        }
        Ok(())
    }

    fn run_group(&mut self, node: Node) -> Result<(), LaunchError> {
        let scoped = match self.attr(node, "scoped") {
            Some(v) => self.bool_value(node, "scoped", &v)?,
            None => true,
        };
        let forwarding = match self.attr(node, "forwarding") {
            Some(v) => self.bool_value(node, "forwarding", &v)?,
            None => true,
        };
        let mut keeps = Vec::new();
        for k in node
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "keep")
        {
            let name = self.subst(k, &self.required_attr(k, "name")?)?;
            let value = self.subst(k, &self.required_attr(k, "value")?)?;
            keeps.push((name, value));
        }
        if !scoped {
            self.configs.extend(keeps);
            return self.run_actions(node);
        }
        let saved_configs = self.configs.clone();
        let saved_env = self.env.clone();
        if !forwarding {
            self.configs.clear();
            self.env.clear();
        }
        self.configs.extend(keeps);
        let result = self.run_actions(node);
        self.configs = saved_configs;
        self.env = saved_env;
        result
    }

    fn run_include(&mut self, node: Node) -> Result<(), LaunchError> {
        let file = self.subst(node, &self.required_attr(node, "file")?)?;
        let path = absolute(&self.opts.cwd, Path::new(&file));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.ends_with(".xml") {
            return Err(self.invalid(
                node,
                format!(
                    "cannot include {}: edgefuse launch reads XML launch files only (*.launch.xml)",
                    path.display()
                ),
            ));
        }
        let mut sets = Vec::new();
        for a in node
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "arg")
        {
            let name = self.subst(a, &self.required_attr(a, "name")?)?;
            let value = self.subst(a, &self.required_attr(a, "value")?)?;
            sets.push((name, value));
        }
        // As launch's IncludeLaunchDescription: the arguments become launch configurations of
        // the current scope (wrap the include in a <group> to scope them).
        self.configs.extend(sets);
        self.run_file(&path)
    }

    fn bool_value(&self, node: Node, attr: &str, v: &str) -> Result<bool, LaunchError> {
        let v = self.subst(node, v)?;
        parse_bool_loose(&v).ok_or_else(|| {
            self.invalid(
                node,
                format!("attribute '{attr}' must be a boolean, got '{v}'"),
            )
        })
    }

    fn float_attr(&self, node: Node, attr: &str) -> Result<Option<f64>, LaunchError> {
        let Some(v) = self.subst_attr(node, attr)? else {
            return Ok(None);
        };
        match v.trim().parse::<f64>() {
            Ok(x) if x >= 0.0 && x.is_finite() => Ok(Some(x)),
            _ => Err(self.invalid(
                node,
                format!("attribute '{attr}' must be a non-negative number, got '{v}'"),
            )),
        }
    }

    fn config_timeout(&self, node: Node, name: &str) -> Result<f64, LaunchError> {
        match self.configs.get(name) {
            None => Ok(DEFAULT_SIGNAL_TIMEOUT_S),
            Some(v) => match v.trim().parse::<f64>() {
                Ok(x) if x >= 0.0 && x.is_finite() => Ok(x),
                _ => Err(self.invalid(
                    node,
                    format!(
                        "launch configuration '{name}' must be a non-negative number, got '{v}'"
                    ),
                )),
            },
        }
    }

    /// `pkg`/`exec`: `$AMENT_PREFIX_PATH/*/lib/<pkg>/<exec>` (a colcon install), then the
    /// directory of the running executable (cargo's target directory), then `PATH`.
    fn find_in_package(&self, pkg: &str, exec: &str) -> Program {
        let mut searched: Vec<PathBuf> = self
            .ament_prefixes()
            .iter()
            .map(|p| p.join("lib").join(pkg).join(exec))
            .collect();
        if let Some(dir) = &self.opts.exe_dir {
            searched.push(dir.join(exec));
        }
        searched.extend(self.path_dirs().iter().map(|d| d.join(exec)));
        match searched.iter().find(|p| is_executable(p)) {
            Some(p) => Program::Found(p.clone()),
            None => Program::NotFound {
                wanted: format!("{pkg}/{exec}"),
                searched,
            },
        }
    }

    fn path_dirs(&self) -> Vec<PathBuf> {
        self.env_var("PATH")
            .map(|v| {
                v.split(':')
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A command as a shell finds it: a path if it contains '/', else on `PATH`.
    fn find_command(&self, cmd: &str) -> Program {
        if cmd.contains('/') {
            let p = absolute(&self.opts.cwd, Path::new(cmd));
            return if is_executable(&p) {
                Program::Found(p)
            } else {
                Program::NotFound {
                    wanted: cmd.to_string(),
                    searched: vec![p],
                }
            };
        }
        let searched: Vec<PathBuf> = self.path_dirs().iter().map(|d| d.join(cmd)).collect();
        match searched.iter().find(|p| is_executable(p)) {
            Some(p) => Program::Found(p.clone()),
            None => Program::NotFound {
                wanted: cmd.to_string(),
                searched,
            },
        }
    }

    fn unique_label(&mut self, base: &str) -> String {
        let n = self.labels.entry(base.to_string()).or_insert(0);
        *n += 1;
        if *n == 1 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        }
    }

    /// Attributes every process has (`<node>` and `<executable>`).
    fn process_common(&self, node: Node, label: String) -> Result<ProcessSpec, LaunchError> {
        let output = match self.subst_attr(node, "output")? {
            None => Output::from_alias("log"),
            Some(o) => Output::from_alias(o.trim()),
        }
        .ok_or_else(|| {
            self.invalid(
                node,
                "attribute 'output' must be one of screen, log, both, own_log, full",
            )
        })?;
        let respawn = match self.attr(node, "respawn") {
            Some(v) => self.bool_value(node, "respawn", &v)?,
            None => false,
        };
        let respawn_max_retries = match self.subst_attr(node, "respawn_max_retries")? {
            None => -1,
            Some(v) => v.trim().parse::<i64>().map_err(|_| {
                self.invalid(
                    node,
                    format!("attribute 'respawn_max_retries' must be an integer, got '{v}'"),
                )
            })?,
        };
        let on_exit_shutdown = match self.subst_attr(node, "on_exit")? {
            None => false,
            Some(v) if v == "shutdown" => true,
            Some(v) => {
                return Err(self.invalid(
                    node,
                    format!("attribute 'on_exit' must be 'shutdown' (the only value launch XML supports), got '{v}'"),
                ))
            }
        };
        if let Some(v) = self.attr(node, "emulate_tty") {
            // Accepted for compatibility; processes always write to pipes here.
            self.bool_value(node, "emulate_tty", &v)?;
        }
        let sigterm_timeout_s = match self.float_attr(node, "sigterm_timeout")? {
            Some(v) => v,
            None => self.config_timeout(node, "sigterm_timeout")?,
        };
        let sigkill_timeout_s = match self.float_attr(node, "sigkill_timeout")? {
            Some(v) => v,
            None => self.config_timeout(node, "sigkill_timeout")?,
        };
        let cwd = self
            .subst_attr(node, "cwd")?
            .map(|c| absolute(&self.opts.cwd, Path::new(&c)));
        let mut env = self.env.clone();
        for e in node
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "env")
        {
            let name = self.subst(e, &self.required_attr(e, "name")?)?;
            let value = self.subst(e, &self.required_attr(e, "value")?)?;
            env.insert(name, Some(value));
        }
        Ok(ProcessSpec {
            label,
            node: None,
            program: Program::NotFound {
                wanted: String::new(),
                searched: Vec::new(),
            },
            args: Vec::new(),
            inline_params: Vec::new(),
            env: env.into_iter().collect(),
            cwd,
            output,
            respawn,
            respawn_delay_s: self.float_attr(node, "respawn_delay")?.unwrap_or(0.0),
            respawn_max_retries,
            on_exit_shutdown,
            sigterm_timeout_s,
            sigkill_timeout_s,
            origin: self.origin(node),
        })
    }

    fn shell_flag(&self, node: Node) -> Result<bool, LaunchError> {
        match self.attr(node, "shell") {
            Some(v) => self.bool_value(node, "shell", &v),
            None => Ok(false),
        }
    }

    fn cmdline_attr(&self, node: Node, attr: &str) -> Result<Vec<String>, LaunchError> {
        let Some(v) = node.attribute(attr) else {
            return Ok(Vec::new());
        };
        let parts = parse_template(v).map_err(|e| self.invalid(node, e))?;
        let mut err = None;
        let out = split_cmdline(&parts, |p| {
            self.eval_subst(node, p).map_err(|e| {
                let s = e.to_string();
                err = Some(e);
                s
            })
        });
        match (out, err) {
            (_, Some(e)) => Err(e),
            (Ok(v), None) => Ok(v),
            (Err(m), None) => Err(self.invalid(node, m)),
        }
    }

    fn run_executable(&mut self, node: Node) -> Result<(), LaunchError> {
        let cmd = self.cmdline_attr(node, "cmd")?;
        if node.attribute("cmd").is_none() {
            return Err(self.invalid(node, "attribute 'cmd' is required"));
        }
        let Some(first) = cmd.first() else {
            return Err(self.invalid(node, "attribute 'cmd' is empty"));
        };
        let base = match self.subst_attr(node, "name")? {
            Some(n) if !n.is_empty() => n,
            _ => Path::new(first)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| first.clone()),
        };
        let label = self.unique_label(&base);
        let mut spec = self.process_common(node, label)?;
        if self.shell_flag(node)? {
            spec.program = Program::Found(PathBuf::from("/bin/sh"));
            spec.args = vec![CmdArg::Text("-c".into()), CmdArg::Text(cmd.join(" "))];
        } else {
            spec.program = self.find_command(first);
            spec.args = cmd[1..].iter().cloned().map(CmdArg::Text).collect();
        }
        self.processes.push(spec);
        Ok(())
    }

    fn run_node(&mut self, node: Node) -> Result<(), LaunchError> {
        let exec = self.subst(node, &self.required_attr(node, "exec")?)?;
        let package = self.subst_attr(node, "pkg")?;
        let name = self.subst_attr(node, "name")?;
        if let Some(n) = &name {
            validate_node_name(n).map_err(|e| self.invalid(node, e))?;
        }
        let node_ns = self.subst_attr(node, "namespace")?;
        let base_ns = self.configs.get("ros_namespace").cloned();
        let namespace = make_absolute(prefix_namespace(base_ns.as_deref(), node_ns.as_deref()));
        if let Some(ns) = &namespace {
            validate_namespace(ns).map_err(|e| self.invalid(node, e))?;
        }
        let args = self.cmdline_attr(node, "args")?;
        let ros_args = self.cmdline_attr(node, "ros_args")?;
        let exec_name = self.subst_attr(node, "exec_name")?;
        let base = name.clone().or(exec_name).unwrap_or_else(|| exec.clone());
        let label = self.unique_label(&base);
        let mut spec = self.process_common(node, label)?;
        let info = NodeInfo {
            package: package.clone(),
            executable: exec.clone(),
            name: name.clone(),
            namespace: namespace.clone(),
        };

        // launch_ros's command line: EXEC ARGS [--ros-args ROS_ARGS] --ros-args
        // [-r __node:=NAME] [-r __ns:=NS] [--params-file FILE]... [-r FROM:=TO]...
        let mut cmd: Vec<CmdArg> = args.into_iter().map(CmdArg::Text).collect();
        if !ros_args.is_empty() {
            cmd.push(CmdArg::Text("--ros-args".into()));
            cmd.extend(ros_args.into_iter().map(CmdArg::Text));
        }
        cmd.push(CmdArg::Text("--ros-args".into()));
        if let Some(n) = &name {
            cmd.push(CmdArg::Text("-r".into()));
            cmd.push(CmdArg::Text(format!("__node:={n}")));
        }
        if let Some(ns) = &namespace {
            cmd.push(CmdArg::Text("-r".into()));
            cmd.push(CmdArg::Text(format!("__ns:={ns}")));
        }
        let params_key = info
            .fully_qualified_name()
            .unwrap_or_else(|| "/**".to_string());
        let mut inline: Option<Mapping> = None;
        let mut inline_docs = Vec::new();
        let flush = |inline: &mut Option<Mapping>,
                     cmd: &mut Vec<CmdArg>,
                     docs: &mut Vec<String>|
         -> Result<(), String> {
            if let Some(params) = inline.take() {
                let mut inner = Mapping::new();
                inner.insert(Value::from("ros__parameters"), Value::Mapping(params));
                let mut doc = Mapping::new();
                doc.insert(Value::from(params_key.as_str()), Value::Mapping(inner));
                let text = serde_yaml_ng::to_string(&Value::Mapping(doc))
                    .map_err(|e| format!("writing parameters as YAML: {e}"))?;
                cmd.push(CmdArg::Text("--params-file".into()));
                cmd.push(CmdArg::InlineParams(docs.len()));
                docs.push(text);
            }
            Ok(())
        };
        for p in node
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "param")
        {
            if let Some(from) = p.attribute("from") {
                if p.attribute("name").is_some() {
                    return Err(self.invalid(p, "'name' and 'from' are mutually exclusive"));
                }
                if let Some(a) = p.attribute("allow_substs") {
                    if self.bool_value(p, "allow_substs", a)? {
                        return Err(self.invalid(
                            p,
                            "allow_substs=\"true\" is not implemented by edgefuse launch",
                        ));
                    }
                }
                flush(&mut inline, &mut cmd, &mut inline_docs).map_err(|e| self.invalid(p, e))?;
                let file = self.subst(p, from)?;
                let path = absolute(&self.opts.cwd, Path::new(&file));
                if !path.is_file() {
                    return Err(self.invalid(
                        p,
                        format!("parameter file {} does not exist", path.display()),
                    ));
                }
                cmd.push(CmdArg::Text("--params-file".into()));
                cmd.push(CmdArg::Text(path.display().to_string()));
            } else {
                let (k, v) = self.inline_param(p)?;
                inline.get_or_insert_with(Mapping::new).insert(k, v);
            }
        }
        flush(&mut inline, &mut cmd, &mut inline_docs).map_err(|e| self.invalid(node, e))?;
        for r in node
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "remap")
        {
            let from = self.subst(r, &self.required_attr(r, "from")?)?;
            let to = self.subst(r, &self.required_attr(r, "to")?)?;
            cmd.push(CmdArg::Text("-r".into()));
            cmd.push(CmdArg::Text(format!("{from}:={to}")));
        }

        let program = match &package {
            Some(pkg) => self.find_in_package(pkg, &exec),
            None => self.find_command(&exec),
        };
        if self.shell_flag(node)? {
            let mut words = vec![match &program {
                Program::Found(p) => p.display().to_string(),
                Program::NotFound { .. } => exec.clone(),
            }];
            words.extend(spec.args_with_cmd(&cmd));
            spec.program = Program::Found(PathBuf::from("/bin/sh"));
            spec.args = vec![CmdArg::Text("-c".into()), CmdArg::Text(words.join(" "))];
            if !inline_docs.is_empty() {
                return Err(self.invalid(
                    node,
                    "inline <param> with shell=\"true\" is not implemented by edgefuse launch",
                ));
            }
        } else {
            spec.program = program;
            spec.args = cmd;
        }
        spec.node = Some(info);
        spec.inline_params = inline_docs;
        self.processes.push(spec);
        Ok(())
    }

    /// One `<param name=...>` (value or nested params) as a YAML key and value, typed the way
    /// launch_ros types it: the substituted text read as YAML (bool, int, float, string, or a
    /// list of one of those), or `type="str"` etc. to force a type.
    fn inline_param(&self, p: Node) -> Result<(Value, Value), LaunchError> {
        let name = self.subst(p, &self.required_attr(p, "name")?)?;
        let nested: Vec<Node> = p
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "param")
            .collect();
        let value = p.attribute("value");
        if p.attribute("from").is_some() || p.attribute("allow_substs").is_some() {
            return Err(self.invalid(p, "nested parameters cannot use 'from' or 'allow_substs'"));
        }
        match (value, nested.is_empty()) {
            (Some(_), false) => Err(self.invalid(
                p,
                "nested parameters and the 'value' attribute are mutually exclusive",
            )),
            (None, true) => Err(self.invalid(p, "a 'value' attribute or nested <param> is needed")),
            (None, false) => {
                if p.attribute("type").is_some() {
                    return Err(self.invalid(
                        p,
                        "nested parameters and the 'type' attribute are mutually exclusive",
                    ));
                }
                let mut map = Mapping::new();
                for n in nested {
                    let (k, v) = self.inline_param(n)?;
                    map.insert(k, v);
                }
                Ok((Value::from(name), Value::Mapping(map)))
            }
            (Some(raw), true) => {
                let text = self.subst(p, raw)?;
                let ty = self.attr(p, "type");
                let v = typed_param_value(&text, ty.as_deref())
                    .map_err(|e| self.invalid(p, format!("parameter '{name}': {e}")))?;
                Ok((Value::from(name), v))
            }
        }
    }
}

impl ProcessSpec {
    fn args_with_cmd(&self, cmd: &[CmdArg]) -> Vec<String> {
        cmd.iter()
            .map(|a| match a {
                CmdArg::Text(t) => t.clone(),
                CmdArg::InlineParams(i) => crate::plan::inline_placeholder(*i),
            })
            .collect()
    }
}

fn schema_children(parent: &str) -> Vec<&'static str> {
    match parent {
        "launch" => ACTIONS.to_vec(),
        "group" => GROUP_CHILDREN.to_vec(),
        "arg" => vec!["choice"],
        "include" => vec!["arg"],
        "node" => vec!["param", "remap", "env"],
        "param" => vec!["param"],
        "executable" => vec!["env"],
        _ => Vec::new(),
    }
}

/// A parameter value from its text: YAML typing, or an explicit `type`.
fn typed_param_value(text: &str, ty: Option<&str>) -> Result<Value, String> {
    let scalar_ok = |v: &Value| matches!(v, Value::Bool(_) | Value::Number(_) | Value::String(_));
    match ty {
        Some("str") => return Ok(Value::String(text.to_string())),
        Some("bool") => {
            return parse_bool_loose(text)
                .map(Value::Bool)
                .ok_or_else(|| format!("'{text}' is not a bool"))
        }
        Some("int") => {
            return text
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("'{text}' is not an int"))
        }
        Some("float") => {
            return text
                .trim()
                .parse::<f64>()
                .map(Value::from)
                .map_err(|_| format!("'{text}' is not a float"))
        }
        Some(other) => {
            return Err(format!(
                "type '{other}' is not implemented by edgefuse launch (str, bool, int, float)"
            ))
        }
        None => {}
    }
    if text.is_empty() {
        return Ok(Value::String(String::new()));
    }
    let v: Value = match serde_yaml_ng::from_str(text) {
        Ok(v) => v,
        Err(_) => return Ok(Value::String(text.to_string())),
    };
    match &v {
        v if scalar_ok(v) => Ok(v.clone()),
        Value::Sequence(items) => {
            let uniform = items.first().is_some_and(|first| {
                scalar_ok(first)
                    && items
                        .iter()
                        .all(|i| std::mem::discriminant(i) == std::mem::discriminant(first))
            });
            if uniform {
                Ok(v.clone())
            } else {
                Err(
                    "a list must be non-empty with items of one type (bool, int, float or str)"
                        .into(),
                )
            }
        }
        _ => Err(format!(
            "'{text}' is not a bool, int, float, string or list; use type=\"str\" for a string"
        )),
    }
}

/// Launch's bool coercion (YAML 1.1 words, case-insensitive).
fn parse_bool_loose(v: &str) -> Option<bool> {
    match v.trim().to_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_bool_strict(v: &str) -> Option<bool> {
    match v.to_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// launch_ros's `prefix_namespace`: `ns` under `base` unless `ns` is absolute; trailing '/'
/// removed except for the root.
pub fn prefix_namespace(base: Option<&str>, ns: Option<&str>) -> Option<String> {
    let combined = match (base, ns) {
        (None, None) => return None,
        (Some(b), None) => b.to_string(),
        (b, Some(n)) => match b {
            Some(b) if !b.is_empty() && !n.starts_with('/') => {
                let b = if b == "/" { "" } else { b };
                format!("{b}/{n}")
            }
            _ => n.to_string(),
        },
    };
    if combined == "/" {
        Some(combined)
    } else {
        Some(combined.trim_end_matches('/').to_string())
    }
}

/// launch_ros's `make_namespace_absolute`.
pub fn make_absolute(ns: Option<String>) -> Option<String> {
    ns.map(|n| {
        if n.starts_with('/') {
            n
        } else {
            format!("/{n}")
        }
    })
}

fn validate_namespace(ns: &str) -> Result<(), String> {
    let ok = ns == "/"
        || (ns.starts_with('/')
            && !ns.ends_with('/')
            && ns[1..].split('/').all(|tok| {
                !tok.is_empty()
                    && !tok.starts_with(|c: char| c.is_ascii_digit())
                    && tok.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            }));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid ROS namespace '{ns}'"))
    }
}

fn validate_node_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid node name '{name}' (letters, digits and '_', not starting with a digit)"
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn namespaces_combine_like_launch_ros() {
        assert_eq!(
            prefix_namespace(Some("my_ns"), Some("original_ns")).as_deref(),
            Some("my_ns/original_ns")
        );
        assert_eq!(
            prefix_namespace(Some("/my_ns"), Some("/original_ns")).as_deref(),
            Some("/original_ns")
        );
        assert_eq!(prefix_namespace(None, Some("")).as_deref(), Some(""));
        assert_eq!(make_absolute(Some(String::new())).as_deref(), Some("/"));
        assert_eq!(
            prefix_namespace(Some("/"), Some("car")).as_deref(),
            Some("/car")
        );
        assert_eq!(prefix_namespace(Some("/a"), None).as_deref(), Some("/a"));
    }

    #[test]
    fn param_values_are_typed_as_yaml() {
        assert_eq!(typed_param_value("50", None).unwrap(), Value::from(50));
        assert_eq!(
            typed_param_value("false", None).unwrap(),
            Value::Bool(false)
        );
        assert_eq!(typed_param_value("0.15", None).unwrap(), Value::from(0.15));
        assert_eq!(typed_param_value("abc", None).unwrap(), Value::from("abc"));
        assert_eq!(
            typed_param_value("50", Some("str")).unwrap(),
            Value::from("50")
        );
        assert!(typed_param_value("[1, a]", None).is_err());
        assert!(typed_param_value("[1, 2]", None).is_ok());
    }
}
