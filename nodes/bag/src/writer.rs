//! Writing rosbag2 bags.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use edgefuse_msgs::RosMessage;

use crate::metadata::{BagMetadata, FileInfo, TopicInfo};
use crate::{BagError, Qos};

/// Chunk compression of the MCAP file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Uncompressed chunks.
    None,
    /// zstd-compressed chunks.
    #[default]
    Zstd,
}

/// How to write a bag.
#[derive(Debug, Clone)]
pub struct BagWriteOptions {
    /// Chunk compression.
    pub compression: Compression,
    /// Target uncompressed chunk size in bytes.
    pub chunk_size_bytes: u64,
    /// zstd level (1 fastest ... 19; 0 means zstd's default, 3).
    pub zstd_level: u32,
}

impl Default for BagWriteOptions {
    fn default() -> Self {
        Self {
            compression: Compression::Zstd,
            chunk_size_bytes: 1 << 20,
            zstd_level: 1,
        }
    }
}

struct Topic {
    name: String,
    type_name: String,
    qos: Qos,
    channel_id: u16,
    count: u64,
    sequence: u32,
}

/// What a finished bag holds.
#[derive(Debug, Clone)]
pub struct BagSummary {
    /// The `.mcap` file written.
    pub mcap_path: PathBuf,
    /// Messages written.
    pub message_count: u64,
    /// Bytes of the `.mcap` file.
    pub file_bytes: u64,
    /// First and last log time, ns.
    pub time_range_ns: Option<(i64, i64)>,
    /// (topic, type, count), in the order the topics were added.
    pub topics: Vec<(String, String, u64)>,
}

/// Writes a rosbag2 bag directory (`metadata.yaml` + `<name>_0.mcap`) or a bare `.mcap`.
pub struct BagWriter {
    mcap: mcap::Writer<BufWriter<File>>,
    mcap_path: PathBuf,
    bag_dir: Option<PathBuf>,
    topics: Vec<Topic>,
    schemas: BTreeMap<String, u16>,
    custom_data: BTreeMap<String, String>,
    first_ns: Option<i64>,
    last_ns: i64,
}

impl BagWriter {
    /// Creates the bag directory `dir` (it must not exist, or be empty) with one MCAP file.
    pub fn create(dir: &Path, opts: BagWriteOptions) -> Result<Self, BagError> {
        if dir.exists() {
            let mut entries = std::fs::read_dir(dir).map_err(|e| BagError::io(dir, e))?;
            if entries.next().is_some() {
                return Err(BagError::NotABag {
                    path: dir.to_path_buf(),
                    reason: "output directory exists and is not empty".into(),
                });
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| BagError::io(dir, e))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bag".into());
        let mcap_path = dir.join(format!("{name}_0.mcap"));
        let mut w = Self::create_mcap(&mcap_path, opts)?;
        w.bag_dir = Some(dir.to_path_buf());
        Ok(w)
    }

    /// Creates a bare `.mcap` file (no `metadata.yaml`); rosbag2's metadata goes into the
    /// file's `rosbag2` metadata record as rosbag2 itself does.
    pub fn create_mcap(path: &Path, opts: BagWriteOptions) -> Result<Self, BagError> {
        let file = File::create(path).map_err(|e| BagError::io(path, e))?;
        let compression = match opts.compression {
            Compression::None => None,
            Compression::Zstd => Some(mcap::Compression::Zstd),
        };
        let mcap = mcap::WriteOptions::new()
            .profile("ros2")
            .library(concat!("edgefuse-bag ", env!("CARGO_PKG_VERSION")))
            .compression(compression)
            .chunk_size(Some(opts.chunk_size_bytes))
            .compression_level(opts.zstd_level)
            .calculate_summary_section_crc(false)
            .create(BufWriter::with_capacity(1 << 20, file))
            .map_err(|e| BagError::mcap(path, e))?;
        Ok(Self {
            mcap,
            mcap_path: path.to_path_buf(),
            bag_dir: None,
            topics: Vec::new(),
            schemas: BTreeMap::new(),
            custom_data: BTreeMap::new(),
            first_ns: None,
            last_ns: 0,
        })
    }

    /// Adds a topic of `type_name` (`pkg/msg/Name`), with its `ros2msg` schema and QoS.
    /// Adding the same topic again with the same type is a no-op.
    pub fn add_topic(&mut self, topic: &str, type_name: &str, qos: Qos) -> Result<(), BagError> {
        if let Some(t) = self.topics.iter().find(|t| t.name == topic) {
            if t.type_name == type_name {
                return Ok(());
            }
            return Err(BagError::TopicTypeConflict {
                topic: topic.into(),
                existing: t.type_name.clone(),
                requested: type_name.into(),
            });
        }
        let schema =
            edgefuse_msgs::schema::schema_text(type_name).map_err(|e| BagError::Encode {
                topic: topic.into(),
                reason: e.to_string(),
            })?;
        self.add_topic_with_schema(topic, type_name, &schema, qos)
    }

    /// Adds a topic whose schema text is given (for types this crate does not know, e.g. when
    /// copying a foreign bag).
    pub fn add_topic_with_schema(
        &mut self,
        topic: &str,
        type_name: &str,
        schema_text: &str,
        qos: Qos,
    ) -> Result<(), BagError> {
        let schema_id = match self.schemas.get(type_name) {
            Some(id) => *id,
            None => {
                let id = self
                    .mcap
                    .add_schema(type_name, "ros2msg", schema_text.as_bytes())
                    .map_err(|e| BagError::mcap(&self.mcap_path, e))?;
                self.schemas.insert(type_name.to_string(), id);
                id
            }
        };
        let mut meta = BTreeMap::new();
        meta.insert("offered_qos_profiles".to_string(), qos.channel_yaml());
        meta.insert("topic_type_hash".to_string(), String::new());
        let channel_id = self
            .mcap
            .add_channel(schema_id, topic, "cdr", &meta)
            .map_err(|e| BagError::mcap(&self.mcap_path, e))?;
        self.topics.push(Topic {
            name: topic.into(),
            type_name: type_name.into(),
            qos,
            channel_id,
            count: 0,
            sequence: 0,
        });
        Ok(())
    }

    /// Encodes `msg` and writes it on `topic` at `log_time_ns`.
    pub fn write<M: RosMessage>(
        &mut self,
        topic: &str,
        log_time_ns: i64,
        msg: &M,
    ) -> Result<(), BagError> {
        let data = msg.encode().map_err(|e| BagError::Encode {
            topic: topic.into(),
            reason: e.to_string(),
        })?;
        self.write_raw(topic, log_time_ns, &data)
    }

    /// Writes already-encoded CDR bytes (with encapsulation header) on `topic`.
    pub fn write_raw(&mut self, topic: &str, log_time_ns: i64, cdr: &[u8]) -> Result<(), BagError> {
        let t = self
            .topics
            .iter_mut()
            .find(|t| t.name == topic)
            .ok_or_else(|| BagError::UnknownTopic {
                topic: topic.into(),
            })?;
        let time = u64::try_from(log_time_ns).map_err(|_| BagError::Encode {
            topic: topic.into(),
            reason: format!("negative log time {log_time_ns} ns"),
        })?;
        let header = mcap::records::MessageHeader {
            channel_id: t.channel_id,
            sequence: t.sequence,
            log_time: time,
            publish_time: time,
        };
        t.sequence = t.sequence.wrapping_add(1);
        t.count += 1;
        self.mcap
            .write_to_known_channel(&header, cdr)
            .map_err(|e| BagError::mcap(&self.mcap_path, e))?;
        self.first_ns = Some(self.first_ns.map_or(log_time_ns, |f| f.min(log_time_ns)));
        self.last_ns = self.last_ns.max(log_time_ns);
        Ok(())
    }

    /// Sets a `custom_data` entry of `metadata.yaml`.
    pub fn set_custom_data(&mut self, key: &str, value: &str) {
        self.custom_data.insert(key.into(), value.into());
    }

    fn metadata(&self) -> BagMetadata {
        let count: u64 = self.topics.iter().map(|t| t.count).sum();
        let start = self.first_ns.unwrap_or(0);
        let duration = self.first_ns.map_or(0, |f| self.last_ns - f);
        let file_name = self
            .mcap_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        BagMetadata {
            version: 9,
            storage_identifier: "mcap".into(),
            starting_time_ns: start,
            duration_ns: duration,
            message_count: count,
            topics: self
                .topics
                .iter()
                .map(|t| TopicInfo {
                    name: t.name.clone(),
                    type_name: t.type_name.clone(),
                    serialization_format: "cdr".into(),
                    qos: Some(t.qos),
                    message_count: t.count,
                })
                .collect(),
            relative_file_paths: vec![file_name.clone()],
            files: vec![FileInfo {
                path: file_name,
                starting_time_ns: start,
                duration_ns: duration,
                message_count: count,
            }],
            custom_data: self.custom_data.clone(),
            // Chunk compression is internal to MCAP; rosbag2 leaves these empty then.
            compression_format: String::new(),
            compression_mode: String::new(),
            ros_distro: "kilted".into(),
        }
    }

    /// Writes the summary and `metadata.yaml`, and closes the files.
    pub fn finish(mut self) -> Result<BagSummary, BagError> {
        let meta = self.metadata();
        let yaml = meta.to_yaml().map_err(|e| BagError::Metadata {
            path: self.mcap_path.clone(),
            reason: format!("cannot serialise metadata: {e}"),
        })?;
        // rosbag2 stores the metadata inside the MCAP too (record name "rosbag2").
        let inner = meta.info_yaml().map_err(|e| BagError::Metadata {
            path: self.mcap_path.clone(),
            reason: format!("cannot serialise metadata: {e}"),
        })?;
        let mut record = BTreeMap::new();
        record.insert("serialized_metadata".to_string(), inner);
        self.mcap
            .write_metadata(&mcap::records::Metadata {
                name: "rosbag2".into(),
                metadata: record,
            })
            .map_err(|e| BagError::mcap(&self.mcap_path, e))?;
        self.mcap
            .finish()
            .map_err(|e| BagError::mcap(&self.mcap_path, e))?;
        let mcap_path = self.mcap_path.clone();
        self.mcap
            .into_inner()
            .into_inner()
            .map_err(|e| BagError::io(&mcap_path, e.into_error()))?;
        canonicalize_summary(&mcap_path)?;
        if let Some(dir) = &self.bag_dir {
            let path = dir.join("metadata.yaml");
            std::fs::write(&path, yaml).map_err(|e| BagError::io(&path, e))?;
        }
        let file_bytes = std::fs::metadata(&self.mcap_path)
            .map_err(|e| BagError::io(&self.mcap_path, e))?
            .len();
        Ok(BagSummary {
            mcap_path: self.mcap_path.clone(),
            message_count: meta.message_count,
            file_bytes,
            time_range_ns: self.first_ns.map(|f| (f, self.last_ns)),
            topics: self
                .topics
                .iter()
                .map(|t| (t.name.clone(), t.type_name.clone(), t.count))
                .collect(),
        })
    }
}

const OP_SCHEMA: u8 = 0x03;
const OP_CHANNEL: u8 = 0x04;
const OP_FOOTER: u8 = 0x02;

/// Rewrites the schema and channel records of a finished MCAP's summary section in id order.
///
/// The `mcap` writer emits them from a `HashMap`, so two identical recordings would differ in
/// those bytes; sorting each contiguous run in place keeps every offset and length valid
/// (the summary CRC is not computed, which the format allows).
fn canonicalize_summary(path: &Path) -> Result<(), BagError> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let io = |e| BagError::io(path, e);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    // Footer record (1 + 8 + 20 bytes) then the 8-byte magic.
    let footer_at = len.checked_sub(8 + 29).ok_or_else(|| BagError::NotABag {
        path: path.to_path_buf(),
        reason: "file too short for an MCAP footer".into(),
    })?;
    let mut footer = [0u8; 29];
    f.seek(SeekFrom::Start(footer_at)).map_err(io)?;
    f.read_exact(&mut footer).map_err(io)?;
    let bad = |what: &str| BagError::NotABag {
        path: path.to_path_buf(),
        reason: what.into(),
    };
    if footer[0] != OP_FOOTER {
        return Err(bad("MCAP footer record not where expected"));
    }
    let le64 = |b: &[u8]| {
        b.iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
    };
    let summary_start = le64(&footer[9..17]);
    let summary_offset_start = le64(&footer[17..25]);
    let summary_end = if summary_offset_start > 0 {
        summary_offset_start
    } else {
        footer_at
    };
    if summary_start == 0 || summary_start > summary_end {
        return Ok(()); // no summary section: nothing to order
    }
    let size =
        usize::try_from(summary_end - summary_start).map_err(|_| bad("summary too large"))?;
    let mut buf = vec![0u8; size];
    f.seek(SeekFrom::Start(summary_start)).map_err(io)?;
    f.read_exact(&mut buf).map_err(io)?;
    // Split into records: (start, end, opcode, id for schema/channel records).
    let mut records = Vec::new();
    let mut pos = 0usize;
    while pos + 9 <= buf.len() {
        let op = buf[pos];
        let body_len =
            usize::try_from(le64(&buf[pos + 1..pos + 9])).map_err(|_| bad("record too large"))?;
        let end = pos + 9 + body_len;
        if end > buf.len() {
            return Err(bad("summary record runs past the summary section"));
        }
        let id = if (op == OP_SCHEMA || op == OP_CHANNEL) && body_len >= 2 {
            u16::from(buf[pos + 9]) | (u16::from(buf[pos + 10]) << 8)
        } else {
            0
        };
        records.push((pos, end, op, id));
        pos = end;
    }
    let mut out = Vec::with_capacity(buf.len());
    let mut i = 0;
    while i < records.len() {
        let op = records[i].2;
        let mut j = i;
        while j < records.len() && records[j].2 == op {
            j += 1;
        }
        let mut run: Vec<_> = records[i..j].to_vec();
        if op == OP_SCHEMA || op == OP_CHANNEL {
            run.sort_by_key(|r| r.3);
        }
        for (s, e, _, _) in run {
            out.extend_from_slice(&buf[s..e]);
        }
        i = j;
    }
    out.extend_from_slice(&buf[pos..]);
    if out != buf {
        f.seek(SeekFrom::Start(summary_start)).map_err(io)?;
        f.write_all(&out).map_err(io)?;
    }
    Ok(())
}
