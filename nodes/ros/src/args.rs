//! The standard ROS 2 command line and parameter files.
//!
//! Everything between `--ros-args` and `--` (or the end) is ROS's, as in rcl:
//! `-r`/`--remap [NODE:]FROM:=TO` (with `__node`/`__name` and `__ns`), `-p`/`--param
//! [NODE:]NAME:=VALUE` (the value is YAML, like rcl), `--params-file FILE`, `--log-level
//! [NAME:=]LEVEL`, `-e`/`--enclave`, and the rosout/stdout switches. Anything else there is an
//! error naming the argument; arguments outside the ROS section are the node's own.
//!
//! Parameter files are the ROS 2 format: a top-level key naming the node (`name`, `/ns/name`,
//! `/**` or `/**/name`), then `ros__parameters`, then nested maps flattened with `.`.
//! Later sources win: files in order, then `-p`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

/// Why the arguments or a parameter file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// An argument in the ROS section is unknown or incomplete.
    #[error("ROS argument `{arg}`: {reason}")]
    Argument {
        /// The argument.
        arg: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A parameter file cannot be read.
    #[error("parameter file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A parameter file is not a ROS 2 parameter file.
    #[error("parameter file {path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A parameter has the wrong type.
    #[error("parameter `{name}`: expected {expected}, got {got}")]
    Type {
        /// The parameter.
        name: String,
        /// The type the node needs.
        expected: &'static str,
        /// What was given.
        got: String,
    },
}

/// A parameter value, as ROS 2 types them.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// `bool`.
    Bool(bool),
    /// `int64`.
    Int(i64),
    /// `double`.
    Double(f64),
    /// `string`.
    String(String),
    /// Arrays (of one scalar type in ROS 2; kept as given).
    Array(Vec<ParamValue>),
}

impl ParamValue {
    fn from_yaml(v: &Value) -> Option<Self> {
        Some(match v {
            Value::Bool(b) => ParamValue::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => ParamValue::Int(i),
                None => ParamValue::Double(n.as_f64()?),
            },
            Value::String(s) => ParamValue::String(s.clone()),
            Value::Sequence(items) => {
                ParamValue::Array(items.iter().map(Self::from_yaml).collect::<Option<_>>()?)
            }
            _ => return None,
        })
    }

    /// Parses a command-line value as rcl does: as YAML, a plain string otherwise.
    pub fn parse(text: &str) -> Self {
        serde_yaml_ng::from_str::<Value>(text)
            .ok()
            .and_then(|v| Self::from_yaml(&v))
            .unwrap_or_else(|| ParamValue::String(text.to_string()))
    }
}

/// A node's ROS arguments, parameters and own arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeArgs {
    /// Node name (`__node` remap, else the default the binary gives).
    pub node_name: String,
    /// Namespace, absolute, `/` for none.
    pub namespace: String,
    /// Topic remaps `from -> to`, in order.
    pub remaps: Vec<(String, String)>,
    /// Parameters after files and `-p`.
    pub params: BTreeMap<String, ParamValue>,
    /// `--log-level` for this node, if given.
    pub log_level: Option<String>,
    /// Whether `/rosout` logging is on (default on, as in rcl).
    pub rosout: bool,
    /// The node's own arguments (outside `--ros-args ... --`), program name excluded.
    pub rest: Vec<String>,
}

/// Splits `[NODE:]LHS:=RHS`; the node prefix is returned when present.
fn split_rule(rule: &str) -> Option<(Option<&str>, &str, &str)> {
    let (lhs, rhs) = rule.split_once(":=")?;
    // A node prefix is `name:` before the lhs; `:` cannot occur in ROS names otherwise.
    let (node, lhs) = match lhs.split_once(':') {
        Some((node, lhs)) => (Some(node), lhs),
        None => (None, lhs),
    };
    (!lhs.is_empty()).then_some((node, lhs, rhs))
}

impl NodeArgs {
    /// Parses a node's arguments (without the program name). `default_name` is the node name
    /// when no `__node` remap is given.
    pub fn parse<I, S>(default_name: &str, args: I) -> Result<Self, ArgsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out = NodeArgs {
            node_name: default_name.to_string(),
            namespace: "/".to_string(),
            remaps: Vec::new(),
            params: BTreeMap::new(),
            log_level: None,
            rosout: true,
            rest: Vec::new(),
        };
        let mut files: Vec<PathBuf> = Vec::new();
        let mut inline: Vec<(Option<String>, String, ParamValue)> = Vec::new();
        let mut remaps: Vec<(Option<String>, String, String)> = Vec::new();
        let args: Vec<String> = args.into_iter().map(Into::into).collect();
        let mut in_ros = false;
        let mut i = 0;
        let value = |i: usize, arg: &str| -> Result<String, ArgsError> {
            args.get(i + 1).cloned().ok_or(ArgsError::Argument {
                arg: arg.to_string(),
                reason: "needs a value",
            })
        };
        while i < args.len() {
            let arg = args[i].as_str();
            if !in_ros {
                if arg == "--ros-args" {
                    in_ros = true;
                } else {
                    out.rest.push(arg.to_string());
                }
                i += 1;
                continue;
            }
            match arg {
                "--" => in_ros = false,
                "--ros-args" => {}
                "-r" | "--remap" => {
                    let rule = value(i, arg)?;
                    let (node, from, to) = split_rule(&rule).ok_or(ArgsError::Argument {
                        arg: rule.clone(),
                        reason: "a remap rule is [NODE:]FROM:=TO",
                    })?;
                    remaps.push((node.map(str::to_string), from.to_string(), to.to_string()));
                    i += 1;
                }
                "-p" | "--param" => {
                    let rule = value(i, arg)?;
                    let (node, name, v) = split_rule(&rule).ok_or(ArgsError::Argument {
                        arg: rule.clone(),
                        reason: "a parameter is [NODE:]NAME:=VALUE",
                    })?;
                    inline.push((
                        node.map(str::to_string),
                        name.to_string(),
                        ParamValue::parse(v),
                    ));
                    i += 1;
                }
                "--params-file" => {
                    files.push(PathBuf::from(value(i, arg)?));
                    i += 1;
                }
                "--log-level" => {
                    let level = value(i, arg)?;
                    out.log_level = Some(match level.split_once(":=") {
                        Some((_, l)) => l.to_string(),
                        None => level,
                    });
                    i += 1;
                }
                "-e" | "--enclave" => {
                    value(i, arg)?;
                    i += 1;
                }
                "--disable-rosout-logs" => out.rosout = false,
                "--enable-rosout-logs"
                | "--enable-stdout-logs"
                | "--disable-stdout-logs"
                | "--enable-external-lib-logs"
                | "--disable-external-lib-logs" => {}
                _ => {
                    return Err(ArgsError::Argument {
                        arg: arg.to_string(),
                        reason: "unknown ROS argument",
                    })
                }
            }
            i += 1;
        }
        // Name and namespace first: they decide which node-prefixed rules apply.
        for (node, from, to) in &remaps {
            if node.as_deref().is_some_and(|n| n != default_name) {
                continue;
            }
            match from.as_str() {
                "__node" | "__name" => out.node_name = to.clone(),
                "__ns" => out.namespace = normalize_namespace(to),
                _ => {}
            }
        }
        for (node, from, to) in remaps {
            if node.is_some_and(|n| n != out.node_name) || from.starts_with("__") {
                continue;
            }
            let from = out.resolve_name(&from);
            let to = out.resolve_name(&to);
            out.remaps.push((from, to));
        }
        for path in &files {
            out.load_params_file(path)?;
        }
        for (node, name, v) in inline {
            if node.is_none_or(|n| n == out.node_name) {
                out.params.insert(name, v);
            }
        }
        Ok(out)
    }

    /// `/ns/name`.
    pub fn full_name(&self) -> String {
        if self.namespace == "/" {
            format!("/{}", self.node_name)
        } else {
            format!("{}/{}", self.namespace, self.node_name)
        }
    }

    /// A name made absolute: `~/x` is private to the node, `x` is in the namespace.
    pub fn resolve_name(&self, name: &str) -> String {
        if name.starts_with('/') {
            name.to_string()
        } else if let Some(private) = name.strip_prefix("~/") {
            format!("{}/{private}", self.full_name())
        } else if self.namespace == "/" {
            format!("/{name}")
        } else {
            format!("{}/{name}", self.namespace)
        }
    }

    /// The topic a node's name resolves to after namespace and remaps (first match wins, as
    /// in rcl).
    pub fn resolve_topic(&self, name: &str) -> String {
        let abs = self.resolve_name(name);
        self.remaps
            .iter()
            .find(|(from, _)| *from == abs)
            .map_or(abs, |(_, to)| to.clone())
    }

    fn load_params_file(&mut self, path: &Path) -> Result<(), ArgsError> {
        let text = std::fs::read_to_string(path).map_err(|source| ArgsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let format = |reason: String| ArgsError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let doc: Value = serde_yaml_ng::from_str(&text).map_err(|e| format(e.to_string()))?;
        let Value::Mapping(top) = doc else {
            return Err(format("the top level is not a map of node names".into()));
        };
        let full = self.full_name();
        let wild = format!("/**/{}", self.node_name);
        for (key, body) in &top {
            let Some(key) = key.as_str() else {
                return Err(format("a node key is not a string".into()));
            };
            let applies = key == "/**"
                || key == self.node_name
                || key == full
                || key == full.trim_start_matches('/')
                || key == wild;
            if !applies {
                continue;
            }
            let params = body
                .get("ros__parameters")
                .ok_or_else(|| format(format!("`{key}` has no `ros__parameters`")))?;
            let mut flat = BTreeMap::new();
            flatten(params, "", &mut flat).map_err(|name| {
                format(format!("parameter `{name}` is not a scalar or an array"))
            })?;
            self.params.extend(flat);
        }
        Ok(())
    }

    /// A `double` parameter (an integer is accepted), or `default`.
    pub fn f64_or(&self, name: &str, default: f64) -> Result<f64, ArgsError> {
        Ok(self.f64_opt(name)?.unwrap_or(default))
    }

    /// A `double` parameter (an integer is accepted), `None` when not given.
    pub fn f64_opt(&self, name: &str) -> Result<Option<f64>, ArgsError> {
        match self.params.get(name) {
            None => Ok(None),
            Some(ParamValue::Double(v)) => Ok(Some(*v)),
            Some(ParamValue::Int(v)) => Ok(Some(*v as f64)),
            Some(other) => Err(type_error(name, "double", other)),
        }
    }

    /// An `int` parameter, or `default`.
    pub fn i64_or(&self, name: &str, default: i64) -> Result<i64, ArgsError> {
        match self.params.get(name) {
            None => Ok(default),
            Some(ParamValue::Int(v)) => Ok(*v),
            Some(other) => Err(type_error(name, "integer", other)),
        }
    }

    /// A `bool` parameter, or `default`.
    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, ArgsError> {
        match self.params.get(name) {
            None => Ok(default),
            Some(ParamValue::Bool(v)) => Ok(*v),
            Some(other) => Err(type_error(name, "bool", other)),
        }
    }

    /// A `string` parameter, or `default`.
    pub fn string_or(&self, name: &str, default: &str) -> Result<String, ArgsError> {
        match self.params.get(name) {
            None => Ok(default.to_string()),
            Some(ParamValue::String(v)) => Ok(v.clone()),
            Some(other) => Err(type_error(name, "string", other)),
        }
    }

    /// A `string[]` parameter, `None` when not given.
    pub fn strings_opt(&self, name: &str) -> Result<Option<Vec<String>>, ArgsError> {
        match self.params.get(name) {
            None => Ok(None),
            Some(ParamValue::Array(items)) => items
                .iter()
                .map(|v| match v {
                    ParamValue::String(s) => Ok(s.clone()),
                    other => Err(type_error(name, "string array", other)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(type_error(name, "string array", other)),
        }
    }
}

fn type_error(name: &str, expected: &'static str, got: &ParamValue) -> ArgsError {
    ArgsError::Type {
        name: name.to_string(),
        expected,
        got: format!("{got:?}"),
    }
}

fn normalize_namespace(ns: &str) -> String {
    let trimmed = ns.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

/// Flattens nested maps with `.`; returns the offending name on a non-parameter value.
fn flatten(v: &Value, prefix: &str, out: &mut BTreeMap<String, ParamValue>) -> Result<(), String> {
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                let k = k
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| serde_yaml_ng::to_string(k).ok())
                    .unwrap_or_default();
                let k = k.trim();
                let name = if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(v, &name, out)?;
            }
            Ok(())
        }
        other => {
            let value = ParamValue::from_yaml(other).ok_or_else(|| prefix.to_string())?;
            out.insert(prefix.to_string(), value);
            Ok(())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn standard_ros_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yaml");
        std::fs::write(
            &file,
            "/**:\n  ros__parameters:\n    use_sim_time: true\n    rate_hz: 10\n\
             lidar:\n  ros__parameters:\n    limits:\n      max_range_m: 120.0\n    rate_hz: 20\n\
             other:\n  ros__parameters:\n    rate_hz: 99\n",
        )
        .unwrap();
        let a = NodeArgs::parse(
            "lidar_ingest",
            [
                "--fast",
                "--ros-args",
                "-r",
                "__node:=lidar",
                "-r",
                "__ns:=/sensing",
                "-r",
                "points:=/sensors/lidar/points",
                "-r",
                "other:__ns:=/nope",
                "--params-file",
                file.to_str().unwrap(),
                "-p",
                "name:=front",
                "-p",
                "lidar:gain:=1.5",
                "--",
                "x",
            ],
        )
        .unwrap();
        assert_eq!(a.node_name, "lidar");
        assert_eq!(a.namespace, "/sensing");
        assert_eq!(a.full_name(), "/sensing/lidar");
        assert_eq!(a.rest, vec!["--fast", "x"]);
        assert_eq!(a.resolve_topic("points"), "/sensors/lidar/points");
        assert_eq!(a.resolve_topic("other"), "/sensing/other");
        assert_eq!(a.resolve_topic("~/out"), "/sensing/lidar/out");
        assert!(a.bool_or("use_sim_time", false).unwrap());
        assert_eq!(a.f64_or("limits.max_range_m", 0.0).unwrap(), 120.0);
        assert_eq!(a.i64_or("rate_hz", 0).unwrap(), 20);
        assert_eq!(a.string_or("name", "").unwrap(), "front");
        assert_eq!(a.f64_or("gain", 0.0).unwrap(), 1.5);
        assert!(a.bool_or("rate_hz", false).is_err());
    }

    #[test]
    fn bad_arguments_and_files_are_named() {
        let e = NodeArgs::parse("n", ["--ros-args", "--bogus"]).unwrap_err();
        assert!(e.to_string().contains("--bogus"), "{e}");
        let e = NodeArgs::parse("n", ["--ros-args", "-r", "nonsense"]).unwrap_err();
        assert!(e.to_string().contains("nonsense"), "{e}");
        let e = NodeArgs::parse("n", ["--ros-args", "-p"]).unwrap_err();
        assert!(e.to_string().contains("needs a value"), "{e}");
        let e = NodeArgs::parse("n", ["--ros-args", "--params-file", "/no/such.yaml"]).unwrap_err();
        assert!(e.to_string().contains("/no/such.yaml"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.yaml");
        std::fs::write(&file, "n:\n  parameters: {}\n").unwrap();
        let e = NodeArgs::parse("n", ["--ros-args", "--params-file", file.to_str().unwrap()])
            .unwrap_err();
        assert!(e.to_string().contains("ros__parameters"), "{e}");
    }

    #[test]
    fn string_arrays_are_read_and_other_types_named() {
        let a = NodeArgs::parse(
            "n",
            [
                "--ros-args",
                "-p",
                "a:=[front, rear]",
                "-p",
                "b:=[1, 2]",
                "-p",
                "c:=x",
            ],
        )
        .unwrap();
        assert_eq!(
            a.strings_opt("a").unwrap(),
            Some(vec!["front".to_string(), "rear".to_string()])
        );
        assert_eq!(a.strings_opt("none").unwrap(), None);
        for name in ["b", "c"] {
            let e = a.strings_opt(name).unwrap_err().to_string();
            assert!(
                e.contains(&format!("`{name}`")) && e.contains("string array"),
                "{e}"
            );
        }
    }
}
