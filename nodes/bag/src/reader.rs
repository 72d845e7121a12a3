//! Reading rosbag2 bags: streaming, in log-time order across topics and files, with topic and
//! time filters.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use edgefuse_msgs::schema::{self, SchemaMatch};
use edgefuse_msgs::RosMessage;
use mcap::sans_io::indexed_reader::{
    IndexedReadEvent, IndexedReader, IndexedReaderOptions, ReadOrder,
};
use mcap::sans_io::linear_reader::{LinearReadEvent, LinearReader, LinearReaderOptions};
use mcap::sans_io::summary_reader::{SummaryReadEvent, SummaryReader, SummaryReaderOptions};

use crate::metadata::BagMetadata;
use crate::{BagError, Qos};

/// Largest record (or decompressed chunk) accepted: a corrupt length field must give an
/// error, not an allocation of whatever it claims.
const RECORD_LIMIT_BYTES: usize = 1 << 30;

/// Why a message was skipped instead of returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Its channel has no schema, so its type is unknown.
    NoSchema,
    /// Its channel's message encoding is not `cdr`, or its schema encoding not `ros2msg`/`ros2idl`.
    NotCdr,
    /// Its channel's schema text defines the type with other fields than edgefuse's.
    SchemaMismatch,
    /// It refers to a channel that was never declared.
    UnknownChannel,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SkipReason::NoSchema => "channel has no schema",
            SkipReason::NotCdr => "not CDR / ros2msg encoded",
            SkipReason::SchemaMismatch => "schema differs from edgefuse's definition",
            SkipReason::UnknownChannel => "unknown channel id",
        })
    }
}

/// One topic of an opened bag, from the storage files (not just `metadata.yaml`).
#[derive(Debug, Clone, PartialEq)]
pub struct TopicSummary {
    /// Topic name.
    pub name: String,
    /// ROS type `pkg/msg/Name` (from the channel's schema), empty when it has none.
    pub type_name: String,
    /// Messages on the topic.
    pub message_count: u64,
    /// Offered QoS, when recorded.
    pub qos: Option<Qos>,
    /// The schema text stored with the channel.
    pub schema_text: String,
    /// Why its messages cannot be read, if they cannot.
    pub unreadable: Option<SkipReason>,
    /// Details: how the schema differs, or that an older layout is converted on read.
    pub note: Option<String>,
}

/// A message as stored: topic, type, times and CDR bytes.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// Topic it was recorded on.
    pub topic: Arc<str>,
    /// ROS type of the channel.
    pub type_name: Arc<str>,
    /// Receive (log) time, ns since epoch.
    pub log_time_ns: u64,
    /// Publish time, ns since epoch.
    pub publish_time_ns: u64,
    /// CDR payload with encapsulation header, in edgefuse's layout of the type.
    pub data: Vec<u8>,
}

impl RawMessage {
    /// Decodes the payload as `M`, refusing a channel of another type.
    pub fn decode<M: RosMessage>(&self) -> Result<M, BagError> {
        if &*self.type_name != M::TYPE_NAME {
            return Err(BagError::Decode {
                topic: self.topic.to_string(),
                log_time_ns: self.log_time_ns,
                reason: format!(
                    "channel type is {}, expected {}",
                    self.type_name,
                    M::TYPE_NAME
                ),
            });
        }
        M::decode(&self.data).map_err(|e| BagError::Decode {
            topic: self.topic.to_string(),
            log_time_ns: self.log_time_ns,
            reason: e.to_string(),
        })
    }
}

/// Which messages to read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Only these topics (all when `None`).
    pub topics: Option<Vec<String>>,
    /// Start at this log time, ns (seek).
    pub start_ns: Option<u64>,
    /// Stop before this log time, ns.
    pub end_ns: Option<u64>,
}

impl ReadOptions {
    /// Whether `topic` is among the topics read (every topic when none are named).
    pub fn selects(&self, topic: &str) -> bool {
        self.topics
            .as_ref()
            .is_none_or(|t| t.iter().any(|x| x == topic))
    }
}

/// A stored layout that is converted to edgefuse's on read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upgrade {
    /// Humble `sensor_msgs/Range` (no `variance`): append `variance = 0`.
    RangeAddVariance,
}

#[derive(Clone)]
pub(crate) struct ChannelInfo {
    pub(crate) topic: Arc<str>,
    pub(crate) type_name: Arc<str>,
    pub(crate) unreadable: Option<SkipReason>,
    pub(crate) upgrade: Option<Upgrade>,
    pub(crate) note: Option<String>,
}

impl ChannelInfo {
    /// A channel of `type_name`, checked against the schema text the file stores (`None` when
    /// the storage keeps no definitions).
    pub(crate) fn new(
        topic: &str,
        type_name: &str,
        encoding_ok: bool,
        schema: Option<&str>,
    ) -> Self {
        let mut info = Self {
            topic: topic.into(),
            type_name: type_name.into(),
            unreadable: (!encoding_ok).then_some(SkipReason::NotCdr),
            upgrade: None,
            note: None,
        };
        if let (true, Some(text)) = (encoding_ok, schema) {
            match schema::compare(type_name, text) {
                SchemaMatch::Same | SchemaMatch::UnknownType => {}
                SchemaMatch::RangeWithoutVariance => {
                    info.upgrade = Some(Upgrade::RangeAddVariance);
                    info.note = Some("Humble layout (no variance): read with variance = 0".into());
                }
                SchemaMatch::Different(why) => {
                    info.unreadable = Some(SkipReason::SchemaMismatch);
                    info.note = Some(why);
                }
            }
        }
        info
    }

    pub(crate) fn summary(
        &self,
        count: u64,
        qos: Option<Qos>,
        schema_text: String,
    ) -> TopicSummary {
        TopicSummary {
            name: self.topic.to_string(),
            type_name: self.type_name.to_string(),
            message_count: count,
            qos,
            schema_text,
            unreadable: self.unreadable,
            note: self.note.clone(),
        }
    }
}

fn mcap_channel_info(channel: &mcap::Channel<'_>) -> ChannelInfo {
    match &channel.schema {
        None => ChannelInfo {
            topic: channel.topic.as_str().into(),
            type_name: "".into(),
            unreadable: Some(SkipReason::NoSchema),
            upgrade: None,
            note: None,
        },
        Some(s) => {
            let encoding_ok = channel.message_encoding == "cdr"
                && (s.encoding == "ros2msg" || s.encoding == "ros2idl");
            // ros2idl text is not compared (a different grammar); ros2msg is.
            let text =
                (s.encoding == "ros2msg").then(|| String::from_utf8_lossy(&s.data).into_owned());
            ChannelInfo::new(&channel.topic, &s.name, encoding_ok, text.as_deref())
        }
    }
}

fn mcap_qos(channel: &mcap::Channel<'_>) -> Option<Qos> {
    channel
        .metadata
        .get("offered_qos_profiles")
        .and_then(|t| Qos::from_profiles(&serde_yaml_ng::Value::String(t.clone())))
}

fn schema_text_of(channel: &mcap::Channel<'_>) -> String {
    channel
        .schema
        .as_ref()
        .map(|s| String::from_utf8_lossy(&s.data).into_owned())
        .unwrap_or_default()
}

struct StorageFile {
    path: PathBuf,
    size_bytes: u64,
    kind: StorageKind,
}

enum StorageKind {
    /// MCAP with a usable summary and chunk index.
    Indexed(Arc<mcap::Summary>),
    /// MCAP read front to back, with the reason it cannot be read through its index.
    Linear(String),
    /// rosbag2 sqlite3 storage.
    Sqlite,
}

/// An opened bag: a rosbag2 directory or a bare `.mcap` (or `.db3`) file.
pub struct BagReader {
    path: PathBuf,
    metadata: Option<BagMetadata>,
    files: Vec<StorageFile>,
    topics: Vec<TopicSummary>,
    time_range_ns: Option<(u64, u64)>,
}

fn read_summary(path: &Path, size: u64) -> Result<Option<mcap::Summary>, BagError> {
    let mut file = File::open(path).map_err(|e| BagError::io(path, e))?;
    let mut reader = SummaryReader::new_with_options(
        SummaryReaderOptions::default()
            .with_file_size(size)
            .with_record_length_limit(RECORD_LIMIT_BYTES),
    );
    while let Some(event) = reader.next_event() {
        match event.map_err(|e| BagError::mcap(path, e))? {
            SummaryReadEvent::ReadRequest(need) => {
                let n = file
                    .read(reader.insert(need))
                    .map_err(|e| BagError::io(path, e))?;
                reader.notify_read(n);
            }
            SummaryReadEvent::SeekRequest(to) => {
                let pos = file.seek(to).map_err(|e| BagError::io(path, e))?;
                reader.notify_seeked(pos);
            }
        }
    }
    Ok(reader.finish())
}

/// Streams every record of an MCAP file front to back (for files without a usable summary).
struct LinearCursor {
    path: PathBuf,
    file: File,
    reader: LinearReader,
    channels: HashMap<u16, ChannelInfo>,
    qos: HashMap<u16, Option<Qos>>,
    schemas: HashMap<u16, Arc<mcap::Schema<'static>>>,
    schema_texts: HashMap<u16, String>,
}

enum LinearItem {
    Message {
        channel_id: u16,
        log_time: u64,
        publish_time: u64,
        data: Vec<u8>,
    },
    ChannelSeen(u16),
}

impl LinearCursor {
    fn open(path: &Path) -> Result<Self, BagError> {
        let file = File::open(path).map_err(|e| BagError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            reader: LinearReader::new_with_options(
                LinearReaderOptions::default().with_record_length_limit(RECORD_LIMIT_BYTES),
            ),
            channels: HashMap::new(),
            qos: HashMap::new(),
            schemas: HashMap::new(),
            schema_texts: HashMap::new(),
        })
    }

    fn next_item(&mut self) -> Option<Result<LinearItem, BagError>> {
        loop {
            let event = match self.reader.next_event()? {
                Ok(ev) => ev,
                Err(e) => return Some(Err(BagError::mcap(&self.path, e))),
            };
            match event {
                LinearReadEvent::ReadRequest(need) => {
                    let buf = self.reader.insert(need);
                    match self.file.read(buf) {
                        Ok(n) => self.reader.notify_read(n),
                        Err(e) => return Some(Err(BagError::io(&self.path, e))),
                    }
                }
                LinearReadEvent::Record { data, opcode } => {
                    let record = match mcap::parse_record(opcode, data) {
                        Ok(r) => r,
                        Err(e) => return Some(Err(BagError::mcap(&self.path, e))),
                    };
                    match record {
                        mcap::records::Record::Schema { header, data } => {
                            self.schemas.insert(
                                header.id,
                                Arc::new(mcap::Schema {
                                    id: header.id,
                                    name: header.name,
                                    encoding: header.encoding,
                                    data: std::borrow::Cow::Owned(data.into_owned()),
                                }),
                            );
                        }
                        mcap::records::Record::Channel(ch) => {
                            let channel = mcap::Channel {
                                id: ch.id,
                                topic: ch.topic,
                                schema: self.schemas.get(&ch.schema_id).cloned(),
                                message_encoding: ch.message_encoding,
                                metadata: ch.metadata,
                            };
                            self.channels.insert(ch.id, mcap_channel_info(&channel));
                            self.qos.insert(ch.id, mcap_qos(&channel));
                            self.schema_texts.insert(ch.id, schema_text_of(&channel));
                            return Some(Ok(LinearItem::ChannelSeen(ch.id)));
                        }
                        mcap::records::Record::Message { header, data } => {
                            return Some(Ok(LinearItem::Message {
                                channel_id: header.channel_id,
                                log_time: header.log_time,
                                publish_time: header.publish_time,
                                data: data.into_owned(),
                            }));
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

fn widen(range: &mut Option<(u64, u64)>, a: u64, b: u64) {
    *range = Some(range.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
}

/// Adds a topic's count to the per-topic summaries (one entry per topic name).
fn add_topic(topics: &mut BTreeMap<String, TopicSummary>, t: TopicSummary) {
    match topics.get_mut(&t.name) {
        Some(e) => e.message_count += t.message_count,
        None => {
            topics.insert(t.name.clone(), t);
        }
    }
}

impl BagReader {
    /// Opens a bag directory (with `metadata.yaml`) or a bare `.mcap` / `.db3` file and checks
    /// that the metadata matches the files.
    pub fn open(path: &Path) -> Result<Self, BagError> {
        let (metadata, file_paths) = if path.is_dir() {
            let (meta, files) = Self::read_metadata(path)?;
            (Some(meta), files)
        } else if path.is_file() {
            (None, vec![path.to_path_buf()])
        } else {
            return Err(BagError::NotABag {
                path: path.to_path_buf(),
                reason: "no such file or directory".into(),
            });
        };

        let mut files = Vec::new();
        let mut topics: BTreeMap<String, TopicSummary> = BTreeMap::new();
        let mut time_range: Option<(u64, u64)> = None;
        for p in file_paths {
            let size_bytes = std::fs::metadata(&p)
                .map_err(|e| BagError::io(&p, e))?
                .len();
            if p.extension().is_some_and(|e| e == "db3") {
                let (found, range) = crate::sqlite::topics(&p)?;
                for (_, _, t) in found {
                    add_topic(&mut topics, t);
                }
                if let Some((a, b)) = range {
                    widen(&mut time_range, a, b);
                }
                files.push(StorageFile {
                    path: p,
                    size_bytes,
                    kind: StorageKind::Sqlite,
                });
                continue;
            }
            let kind = match read_summary(&p, size_bytes) {
                Ok(Some(s)) => match &s.stats {
                    None => StorageKind::Linear("no statistics record".into()),
                    Some(st) if st.message_count > 0 && s.chunk_indexes.is_empty() => {
                        StorageKind::Linear("no chunk index (unchunked file)".into())
                    }
                    Some(_) => StorageKind::Indexed(Arc::new(s)),
                },
                Ok(None) => StorageKind::Linear("no summary section".into()),
                Err(e) => StorageKind::Linear(e.to_string()),
            };
            match &kind {
                StorageKind::Indexed(s) => {
                    let mut ids: Vec<_> = s.channels.keys().copied().collect();
                    ids.sort_unstable();
                    let stats = s.stats.as_ref();
                    for id in ids {
                        let ch = &s.channels[&id];
                        let n = stats
                            .and_then(|st| st.channel_message_counts.get(&id))
                            .copied()
                            .unwrap_or(0);
                        add_topic(
                            &mut topics,
                            mcap_channel_info(ch).summary(n, mcap_qos(ch), schema_text_of(ch)),
                        );
                    }
                    if let Some(st) = stats.filter(|st| st.message_count > 0) {
                        widen(&mut time_range, st.message_start_time, st.message_end_time);
                    }
                }
                StorageKind::Linear(_) => {
                    // Count by scanning; an error (e.g. a truncated tail) ends the scan here and
                    // is reported when the messages are read.
                    let mut cursor = LinearCursor::open(&p)?;
                    let mut per_channel: BTreeMap<u16, u64> = BTreeMap::new();
                    while let Some(Ok(item)) = cursor.next_item() {
                        match item {
                            LinearItem::Message {
                                channel_id,
                                log_time,
                                ..
                            } => {
                                *per_channel.entry(channel_id).or_default() += 1;
                                widen(&mut time_range, log_time, log_time);
                            }
                            LinearItem::ChannelSeen(id) => {
                                per_channel.entry(id).or_default();
                            }
                        }
                    }
                    for (id, n) in per_channel {
                        if let Some(info) = cursor.channels.get(&id) {
                            let qos = cursor.qos.get(&id).copied().flatten();
                            let text = cursor.schema_texts.get(&id).cloned().unwrap_or_default();
                            add_topic(&mut topics, info.summary(n, qos, text));
                        }
                    }
                }
                StorageKind::Sqlite => {}
            }
            files.push(StorageFile {
                path: p,
                size_bytes,
                kind,
            });
        }
        let topics: Vec<TopicSummary> = topics.into_values().collect();
        if let Some(meta) = &metadata {
            let indexed = files
                .iter()
                .all(|f| !matches!(f.kind, StorageKind::Linear(_)));
            Self::check_metadata(path, meta, &topics, indexed)?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            metadata,
            files,
            topics,
            time_range_ns: time_range,
        })
    }

    /// Parses `metadata.yaml` and resolves its storage files.
    fn read_metadata(dir: &Path) -> Result<(BagMetadata, Vec<PathBuf>), BagError> {
        let meta_path = dir.join("metadata.yaml");
        if !meta_path.is_file() {
            return Err(BagError::NotABag {
                path: dir.to_path_buf(),
                reason: "directory has no metadata.yaml (run `ros2 bag reindex`, or pass the .mcap file)".into(),
            });
        }
        let text = std::fs::read_to_string(&meta_path).map_err(|e| BagError::io(&meta_path, e))?;
        let meta = BagMetadata::parse(&text, &meta_path)?;
        if meta.storage_identifier != "mcap" && meta.storage_identifier != "sqlite3" {
            return Err(BagError::UnsupportedStorage {
                path: dir.to_path_buf(),
                storage: meta.storage_identifier.clone(),
            });
        }
        let mode = meta.compression_mode.to_ascii_lowercase();
        if !(mode.is_empty() || mode == "none") {
            return Err(BagError::Metadata {
                path: meta_path,
                reason: format!(
                    "compression_mode '{}' ({}) is not supported: decompress the bag first \
                     (`ros2 bag convert`); MCAP chunk compression needs no such mode",
                    meta.compression_mode, meta.compression_format
                ),
            });
        }
        let mut files = Vec::new();
        for rel in &meta.relative_file_paths {
            let name = Path::new(rel)
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| rel.into());
            let p = dir.join(name);
            if !p.is_file() {
                return Err(BagError::MetadataMismatch {
                    path: dir.to_path_buf(),
                    reason: format!("relative_file_paths lists '{rel}', which does not exist"),
                });
            }
            files.push(p);
        }
        if files.is_empty() {
            return Err(BagError::MetadataMismatch {
                path: dir.to_path_buf(),
                reason: "relative_file_paths is empty".into(),
            });
        }
        Ok((meta, files))
    }

    /// Refuses a `metadata.yaml` whose topics, types or counts disagree with the files.
    fn check_metadata(
        path: &Path,
        meta: &BagMetadata,
        topics: &[TopicSummary],
        indexed: bool,
    ) -> Result<(), BagError> {
        let mismatch = |reason: String| BagError::MetadataMismatch {
            path: path.to_path_buf(),
            reason,
        };
        for t in &meta.topics {
            let Some(actual) = topics.iter().find(|x| x.name == t.name) else {
                if t.message_count > 0 && indexed {
                    return Err(mismatch(format!(
                        "topic '{}' is listed with {} messages but no file has it",
                        t.name, t.message_count
                    )));
                }
                continue;
            };
            if !actual.type_name.is_empty() && actual.type_name != t.type_name {
                return Err(mismatch(format!(
                    "topic '{}' has type '{}' in metadata.yaml but '{}' in the storage file",
                    t.name, t.type_name, actual.type_name
                )));
            }
            if indexed && actual.message_count != t.message_count {
                return Err(mismatch(format!(
                    "topic '{}' has message_count {} in metadata.yaml but {} in the storage files",
                    t.name, t.message_count, actual.message_count
                )));
            }
        }
        if indexed {
            if let Some(extra) = topics
                .iter()
                .find(|x| x.message_count > 0 && !meta.topics.iter().any(|t| t.name == x.name))
            {
                return Err(mismatch(format!(
                    "topic '{}' has {} messages in the storage files but is not in metadata.yaml",
                    extra.name, extra.message_count
                )));
            }
            let total: u64 = topics.iter().map(|t| t.message_count).sum();
            if total != meta.message_count {
                return Err(mismatch(format!(
                    "message_count is {} in metadata.yaml but the storage files hold {total}",
                    meta.message_count
                )));
            }
        }
        Ok(())
    }

    /// The path the bag was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `metadata.yaml`, for bag directories.
    pub fn metadata(&self) -> Option<&BagMetadata> {
        self.metadata.as_ref()
    }

    /// Topics found in the storage files, sorted by name.
    pub fn topics(&self) -> &[TopicSummary] {
        &self.topics
    }

    /// First and last log time, ns.
    pub fn time_range_ns(&self) -> Option<(u64, u64)> {
        self.time_range_ns
    }

    /// The storage files, each with the reason it is read front to back instead of through
    /// its index, if it is.
    pub fn files(&self) -> Vec<(&Path, Option<&str>)> {
        self.files
            .iter()
            .map(|f| match &f.kind {
                StorageKind::Linear(why) => (f.path.as_path(), Some(why.as_str())),
                _ => (f.path.as_path(), None),
            })
            .collect()
    }

    /// Total size of the storage files in bytes.
    pub fn storage_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size_bytes).sum()
    }

    /// Streams the selected messages in log-time order, merged across the storage files
    /// (a file read without an index contributes in its file order).
    pub fn messages(&self, opts: &ReadOptions) -> Messages<'_> {
        Messages {
            bag: self,
            opts: opts.clone(),
            slots: Vec::new(),
            started: false,
            skipped: BTreeMap::new(),
            errors: Vec::new(),
        }
    }
}

struct IndexedCursor {
    path: PathBuf,
    file: File,
    size_bytes: u64,
    reader: IndexedReader,
    buf: Vec<u8>,
    channels: HashMap<u16, ChannelInfo>,
}

enum Cursor {
    Indexed(Box<IndexedCursor>),
    Linear(Box<LinearCursor>),
    Sqlite(Box<crate::sqlite::SqliteCursor>),
}

/// One storage file being read, with its next message.
struct Slot {
    cursor: Option<Cursor>,
    head: Option<RawMessage>,
}

type Skipped = BTreeMap<(String, SkipReason), u64>;

/// Iterator over a bag's messages in log-time order. Messages of unreadable channels are
/// skipped and counted ([`Messages::skipped`]); an I/O or format error in a file (e.g. a
/// truncated file) is yielded once as `Err` and ends that file only; the others go on.
pub struct Messages<'a> {
    bag: &'a BagReader,
    opts: ReadOptions,
    slots: Vec<Slot>,
    started: bool,
    skipped: Skipped,
    errors: Vec<BagError>,
}

fn wanted(opts: &ReadOptions, topic: &str, log_time: u64) -> bool {
    opts.selects(topic)
        && opts.start_ns.is_none_or(|s| log_time >= s)
        && opts.end_ns.is_none_or(|e| log_time < e)
}

/// Returns the message, or `None` after counting why it is skipped.
fn accept(
    opts: &ReadOptions,
    skipped: &mut Skipped,
    channel_id: i64,
    info: Option<&ChannelInfo>,
    log_time: u64,
    publish_time: u64,
    data: &[u8],
) -> Option<RawMessage> {
    let Some(info) = info else {
        *skipped
            .entry((
                format!("<channel {channel_id}>"),
                SkipReason::UnknownChannel,
            ))
            .or_default() += 1;
        return None;
    };
    if !wanted(opts, &info.topic, log_time) {
        return None;
    }
    if let Some(reason) = info.unreadable {
        *skipped.entry((info.topic.to_string(), reason)).or_default() += 1;
        return None;
    }
    let mut data = data.to_vec();
    if info.upgrade == Some(Upgrade::RangeAddVariance) {
        data.extend_from_slice(&0f32.to_le_bytes());
    }
    Some(RawMessage {
        topic: info.topic.clone(),
        type_name: info.type_name.clone(),
        log_time_ns: log_time,
        publish_time_ns: publish_time,
        data,
    })
}

fn open_cursor(f: &StorageFile, opts: &ReadOptions) -> Result<Cursor, BagError> {
    match &f.kind {
        StorageKind::Sqlite => Ok(Cursor::Sqlite(Box::new(crate::sqlite::SqliteCursor::open(
            &f.path,
            opts.start_ns,
            opts.end_ns,
        )?))),
        StorageKind::Linear(_) => Ok(Cursor::Linear(Box::new(LinearCursor::open(&f.path)?))),
        StorageKind::Indexed(summary) => {
            let mut o = IndexedReaderOptions::new()
                .with_order(ReadOrder::LogTime)
                .with_record_length_limit(RECORD_LIMIT_BYTES);
            if let Some(t) = &opts.topics {
                o = o.include_topics(t.clone());
            }
            if let Some(s) = opts.start_ns {
                o = o.log_time_on_or_after(s);
            }
            if let Some(e) = opts.end_ns {
                o = o.log_time_before(e);
            }
            let reader = IndexedReader::new_with_options(summary, o)
                .map_err(|e| BagError::mcap(&f.path, e))?;
            let file = File::open(&f.path).map_err(|e| BagError::io(&f.path, e))?;
            let channels = summary
                .channels
                .iter()
                .map(|(id, ch)| (*id, mcap_channel_info(ch)))
                .collect();
            Ok(Cursor::Indexed(Box::new(IndexedCursor {
                path: f.path.clone(),
                file,
                size_bytes: f.size_bytes,
                reader,
                buf: Vec::new(),
                channels,
            })))
        }
    }
}

/// The next accepted message of one file, `None` when it is exhausted.
fn pull(
    cursor: &mut Cursor,
    opts: &ReadOptions,
    skipped: &mut Skipped,
) -> Option<Result<RawMessage, BagError>> {
    match cursor {
        Cursor::Indexed(ic) => loop {
            let IndexedCursor {
                path,
                file,
                size_bytes,
                reader,
                buf,
                channels,
            } = &mut **ic;
            match reader.next_event()? {
                Err(e) => return Some(Err(BagError::mcap(&*path, e))),
                Ok(IndexedReadEvent::ReadChunkRequest { offset, length }) => {
                    if offset.saturating_add(length as u64) > *size_bytes {
                        return Some(Err(BagError::NotABag {
                            path: path.clone(),
                            reason: format!("chunk at byte {offset} of {length} bytes runs past the end of the file"),
                        }));
                    }
                    buf.resize(length, 0);
                    let res = file
                        .seek(SeekFrom::Start(offset))
                        .and_then(|_| file.read_exact(buf))
                        .map_err(|e| BagError::io(&*path, e))
                        .and_then(|_| {
                            reader
                                .insert_chunk_record_data(offset, buf)
                                .map_err(|e| BagError::mcap(&*path, e))
                        });
                    if let Err(e) = res {
                        return Some(Err(e));
                    }
                }
                Ok(IndexedReadEvent::Message { header, data }) => {
                    let info = channels.get(&header.channel_id);
                    let id = i64::from(header.channel_id);
                    if let Some(m) = accept(
                        opts,
                        skipped,
                        id,
                        info,
                        header.log_time,
                        header.publish_time,
                        data,
                    ) {
                        return Some(Ok(m));
                    }
                }
            }
        },
        Cursor::Linear(lc) => loop {
            match lc.next_item()? {
                Err(e) => return Some(Err(e)),
                Ok(LinearItem::ChannelSeen(_)) => {}
                Ok(LinearItem::Message {
                    channel_id,
                    log_time,
                    publish_time,
                    data,
                }) => {
                    let info = lc.channels.get(&channel_id);
                    if let Some(m) = accept(
                        opts,
                        skipped,
                        i64::from(channel_id),
                        info,
                        log_time,
                        publish_time,
                        &data,
                    ) {
                        return Some(Ok(m));
                    }
                }
            }
        },
        Cursor::Sqlite(sc) => loop {
            match sc.next_row()? {
                Err(e) => return Some(Err(e)),
                Ok((topic_id, ts, data)) => {
                    let info = sc.channels.get(&topic_id);
                    if let Some(m) = accept(opts, skipped, topic_id, info, ts, ts, &data) {
                        return Some(Ok(m));
                    }
                }
            }
        },
    }
}

impl Messages<'_> {
    /// Skipped messages per (topic, reason).
    pub fn skipped(&self) -> &BTreeMap<(String, SkipReason), u64> {
        &self.skipped
    }
}

impl Iterator for Messages<'_> {
    type Item = Result<RawMessage, BagError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.started {
            self.started = true;
            for f in &self.bag.files {
                match open_cursor(f, &self.opts) {
                    Ok(c) => self.slots.push(Slot {
                        cursor: Some(c),
                        head: None,
                    }),
                    Err(e) => self.errors.push(e),
                }
            }
        }
        for slot in &mut self.slots {
            if slot.head.is_some() {
                continue;
            }
            let Some(cursor) = slot.cursor.as_mut() else {
                continue;
            };
            match pull(cursor, &self.opts, &mut self.skipped) {
                Some(Ok(m)) => slot.head = Some(m),
                Some(Err(e)) => {
                    self.errors.push(e);
                    slot.cursor = None;
                }
                None => slot.cursor = None,
            }
        }
        if !self.errors.is_empty() {
            return Some(Err(self.errors.remove(0)));
        }
        let next = self
            .slots
            .iter_mut()
            .filter(|s| s.head.is_some())
            .min_by_key(|s| s.head.as_ref().map_or(u64::MAX, |m| m.log_time_ns))?;
        next.head.take().map(Ok)
    }
}
