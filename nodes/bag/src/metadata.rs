//! `metadata.yaml` of a rosbag2 bag (`rosbag2_bagfile_information`), versions 4 to 9.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

use crate::{BagError, Qos};

/// One topic of a bag.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// ROS type, `pkg/msg/Name`.
    pub type_name: String,
    /// `cdr` for every bag this reader handles.
    pub serialization_format: String,
    /// Offered QoS, when recorded.
    pub qos: Option<Qos>,
    /// Messages on the topic.
    pub message_count: u64,
}

/// One storage file of a bag.
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    /// Path relative to the bag directory.
    pub path: String,
    /// First message time, ns since epoch.
    pub starting_time_ns: i64,
    /// Last minus first message time, ns.
    pub duration_ns: i64,
    /// Messages in the file.
    pub message_count: u64,
}

/// The parsed `metadata.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct BagMetadata {
    /// Format version (9 for what we write).
    pub version: u32,
    /// Storage plugin, `mcap` or `sqlite3`.
    pub storage_identifier: String,
    /// First message time, ns since epoch.
    pub starting_time_ns: i64,
    /// Last minus first message time, ns.
    pub duration_ns: i64,
    /// Messages in the bag.
    pub message_count: u64,
    /// Topics with their counts.
    pub topics: Vec<TopicInfo>,
    /// Storage files relative to the bag directory.
    pub relative_file_paths: Vec<String>,
    /// Per-file details (version 5 and later).
    pub files: Vec<FileInfo>,
    /// Free key/value data (version 6 and later).
    pub custom_data: BTreeMap<String, String>,
    /// `compression_format` (empty: none).
    pub compression_format: String,
    /// `compression_mode` (empty: none).
    pub compression_mode: String,
    /// Distribution that wrote the bag.
    pub ros_distro: String,
}

#[derive(Serialize, Deserialize)]
struct Nanos {
    nanoseconds: i64,
}

#[derive(Serialize, Deserialize)]
struct SinceEpoch {
    nanoseconds_since_epoch: i64,
}

#[derive(Serialize)]
struct TopicMetadataOut<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    type_name: &'a str,
    serialization_format: &'a str,
    offered_qos_profiles: Value,
    type_description_hash: &'a str,
}

#[derive(Serialize)]
struct TopicWithCountOut<'a> {
    topic_metadata: TopicMetadataOut<'a>,
    message_count: u64,
}

#[derive(Serialize)]
struct FileOut<'a> {
    path: &'a str,
    starting_time: SinceEpoch,
    duration: Nanos,
    message_count: u64,
}

#[derive(Serialize)]
struct InfoOut<'a> {
    version: u32,
    storage_identifier: &'a str,
    duration: Nanos,
    starting_time: SinceEpoch,
    message_count: u64,
    topics_with_message_count: Vec<TopicWithCountOut<'a>>,
    compression_format: &'a str,
    compression_mode: &'a str,
    relative_file_paths: &'a [String],
    files: Vec<FileOut<'a>>,
    custom_data: &'a BTreeMap<String, String>,
    ros_distro: &'a str,
}

#[derive(Serialize)]
struct DocOut<'a> {
    rosbag2_bagfile_information: InfoOut<'a>,
}

fn qos_value(qos: Option<Qos>) -> Value {
    let text = qos.map(Qos::channel_yaml).unwrap_or_else(|| "[]".into());
    serde_yaml_ng::from_str(&text).unwrap_or(Value::Sequence(Vec::new()))
}

impl BagMetadata {
    /// The YAML document rosbag2 writes as `metadata.yaml`.
    pub fn to_yaml(&self) -> Result<String, serde_yaml_ng::Error> {
        serde_yaml_ng::to_string(&DocOut {
            rosbag2_bagfile_information: self.info_out(),
        })
    }

    /// The `rosbag2_bagfile_information` mapping alone, as rosbag2 stores it inside MCAP files
    /// (metadata record `rosbag2`, key `serialized_metadata`).
    pub fn info_yaml(&self) -> Result<String, serde_yaml_ng::Error> {
        serde_yaml_ng::to_string(&self.info_out())
    }

    fn info_out(&self) -> InfoOut<'_> {
        InfoOut {
            version: self.version,
            storage_identifier: &self.storage_identifier,
            duration: Nanos {
                nanoseconds: self.duration_ns,
            },
            starting_time: SinceEpoch {
                nanoseconds_since_epoch: self.starting_time_ns,
            },
            message_count: self.message_count,
            topics_with_message_count: self
                .topics
                .iter()
                .map(|t| TopicWithCountOut {
                    topic_metadata: TopicMetadataOut {
                        name: &t.name,
                        type_name: &t.type_name,
                        serialization_format: &t.serialization_format,
                        offered_qos_profiles: qos_value(t.qos),
                        type_description_hash: "",
                    },
                    message_count: t.message_count,
                })
                .collect(),
            compression_format: &self.compression_format,
            compression_mode: &self.compression_mode,
            relative_file_paths: &self.relative_file_paths,
            files: self
                .files
                .iter()
                .map(|f| FileOut {
                    path: &f.path,
                    starting_time: SinceEpoch {
                        nanoseconds_since_epoch: f.starting_time_ns,
                    },
                    duration: Nanos {
                        nanoseconds: f.duration_ns,
                    },
                    message_count: f.message_count,
                })
                .collect(),
            custom_data: &self.custom_data,
            ros_distro: &self.ros_distro,
        }
    }

    /// Parses `metadata.yaml` text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, BagError> {
        let bad = |reason: String| BagError::Metadata {
            path: path.to_path_buf(),
            reason,
        };
        let doc: Value =
            serde_yaml_ng::from_str(text).map_err(|e| bad(format!("not valid YAML: {e}")))?;
        let info = doc
            .get("rosbag2_bagfile_information")
            .ok_or_else(|| bad("missing 'rosbag2_bagfile_information'".into()))?;
        let int = |v: &Value, field: &str| -> Result<i64, BagError> {
            v.as_i64()
                .or_else(|| v.as_u64().and_then(|u| i64::try_from(u).ok()))
                .ok_or_else(|| bad(format!("field '{field}' is not an integer")))
        };
        let count = |v: &Value, field: &str| -> Result<u64, BagError> {
            v.as_u64()
                .ok_or_else(|| bad(format!("field '{field}' is not a non-negative integer")))
        };
        let field = |v: &Value, name: &str| -> Result<Value, BagError> {
            v.get(name)
                .cloned()
                .ok_or_else(|| bad(format!("missing field '{name}'")))
        };
        let string = |v: &Value, name: &str| -> Result<String, BagError> {
            field(v, name)?
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(format!("field '{name}' is not a string")))
        };
        let version = int(&field(info, "version")?, "version")?;
        if !(1..=9).contains(&version) {
            return Err(bad(format!(
                "unsupported version {version} (supported: up to 9)"
            )));
        }
        let duration_ns = int(
            &field(&field(info, "duration")?, "nanoseconds")?,
            "duration.nanoseconds",
        )?;
        let starting_time_ns = int(
            &field(&field(info, "starting_time")?, "nanoseconds_since_epoch")?,
            "starting_time.nanoseconds_since_epoch",
        )?;
        let message_count = count(&field(info, "message_count")?, "message_count")?;
        let mut topics = Vec::new();
        let twc = field(info, "topics_with_message_count")?;
        let twc = match &twc {
            Value::Sequence(list) => list.clone(),
            Value::Null => Vec::new(),
            _ => return Err(bad("field 'topics_with_message_count' is not a list".into())),
        };
        for (i, entry) in twc.iter().enumerate() {
            let tm = entry.get("topic_metadata").ok_or_else(|| {
                bad(format!(
                    "topics_with_message_count[{i}]: missing topic_metadata"
                ))
            })?;
            topics.push(TopicInfo {
                name: string(tm, "name")?,
                type_name: string(tm, "type")?,
                serialization_format: string(tm, "serialization_format")?,
                qos: tm.get("offered_qos_profiles").and_then(Qos::from_profiles),
                message_count: count(
                    &field(entry, "message_count")?,
                    "topics_with_message_count[].message_count",
                )?,
            });
        }
        let relative_file_paths: Vec<String> = field(info, "relative_file_paths")?
            .as_sequence()
            .ok_or_else(|| bad("field 'relative_file_paths' is not a list".into()))?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("relative_file_paths holds a non-string".into()))?;
        let mut files = Vec::new();
        if let Some(list) = info.get("files").and_then(Value::as_sequence) {
            for f in list {
                files.push(FileInfo {
                    path: string(f, "path")?,
                    starting_time_ns: int(
                        &field(&field(f, "starting_time")?, "nanoseconds_since_epoch")?,
                        "files[].starting_time",
                    )?,
                    duration_ns: int(
                        &field(&field(f, "duration")?, "nanoseconds")?,
                        "files[].duration",
                    )?,
                    message_count: count(&field(f, "message_count")?, "files[].message_count")?,
                });
            }
        }
        let mut custom_data = BTreeMap::new();
        match info.get("custom_data") {
            None | Some(Value::Null) => {}
            Some(Value::Mapping(map)) => {
                for (k, v) in map {
                    let scalar = |v: &Value| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        Value::Bool(b) => Some(b.to_string()),
                        _ => None,
                    };
                    let (Some(k), Some(v)) = (scalar(k), scalar(v)) else {
                        return Err(bad("custom_data holds a value that is not a string".into()));
                    };
                    custom_data.insert(k, v);
                }
            }
            Some(_) => return Err(bad("field 'custom_data' is not a mapping".into())),
        }
        let opt_str = |name: &str| {
            info.get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Ok(Self {
            version: version as u32,
            storage_identifier: string(info, "storage_identifier")?,
            starting_time_ns,
            duration_ns,
            message_count,
            topics,
            relative_file_paths,
            files,
            custom_data,
            compression_format: opt_str("compression_format"),
            compression_mode: opt_str("compression_mode"),
            ros_distro: opt_str("ros_distro"),
        })
    }
}
