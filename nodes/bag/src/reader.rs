//! Reading rosbag2 bags: streaming, in log-time order, with topic and time filters.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use edgefuse_msgs::RosMessage;
use mcap::sans_io::indexed_reader::{IndexedReadEvent, IndexedReader, IndexedReaderOptions, ReadOrder};
use mcap::sans_io::linear_reader::{LinearReadEvent, LinearReader};
use mcap::sans_io::summary_reader::{SummaryReadEvent, SummaryReader};

use crate::metadata::BagMetadata;
use crate::{BagError, Qos};

/// Why a message was skipped instead of returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Its channel has no schema, so its type is unknown.
    NoSchema,
    /// Its channel's message encoding is not `cdr`, or its schema encoding not `ros2msg`/`ros2idl`.
    NotCdr,
    /// It refers to a channel that was never declared.
    UnknownChannel,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SkipReason::NoSchema => "channel has no schema",
            SkipReason::NotCdr => "not CDR / ros2msg encoded",
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
    /// CDR payload with encapsulation header.
    pub data: Vec<u8>,
}

impl RawMessage {
    /// Decodes the payload as `M`, refusing a channel of another type.
    pub fn decode<M: RosMessage>(&self) -> Result<M, BagError> {
        if &*self.type_name != M::TYPE_NAME {
            return Err(BagError::Decode {
                topic: self.topic.to_string(),
                log_time_ns: self.log_time_ns,
                reason: format!("channel type is {}, expected {}", self.type_name, M::TYPE_NAME),
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

#[derive(Clone)]
pub(crate) struct ChannelInfo {
    pub(crate) topic: Arc<str>,
    pub(crate) type_name: Arc<str>,
    pub(crate) unreadable: Option<SkipReason>,
}

struct McapFile {
    path: PathBuf,
    /// rosbag2 `sqlite3` storage rather than MCAP.
    sqlite: bool,
    summary: Option<Arc<mcap::Summary>>,
    /// Why the summary could not be used (the file is then read linearly).
    summary_problem: Option<String>,
}

/// An opened bag: a rosbag2 directory or a bare `.mcap` file.
pub struct BagReader {
    path: PathBuf,
    metadata: Option<BagMetadata>,
    files: Vec<McapFile>,
    topics: Vec<TopicSummary>,
    time_range_ns: Option<(u64, u64)>,
}

fn channel_info(channel: &mcap::Channel<'_>) -> ChannelInfo {
    let (type_name, unreadable) = match &channel.schema {
        None => (String::new(), Some(SkipReason::NoSchema)),
        Some(schema) => {
            let ok = channel.message_encoding == "cdr"
                && (schema.encoding == "ros2msg" || schema.encoding == "ros2idl");
            (schema.name.clone(), if ok { None } else { Some(SkipReason::NotCdr) })
        }
    };
    ChannelInfo { topic: channel.topic.as_str().into(), type_name: type_name.into(), unreadable }
}

fn read_summary(path: &Path) -> Result<Option<mcap::Summary>, BagError> {
    let mut file = File::open(path).map_err(|e| BagError::io(path, e))?;
    let size = file.metadata().map_err(|e| BagError::io(path, e))?.len();
    let mut reader = SummaryReader::new_with_options(
        mcap::sans_io::summary_reader::SummaryReaderOptions::default().with_file_size(size),
    );
    while let Some(event) = reader.next_event() {
        match event.map_err(|e| BagError::mcap(path, e))? {
            SummaryReadEvent::ReadRequest(need) => {
                let n = file.read(reader.insert(need)).map_err(|e| BagError::io(path, e))?;
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
    schemas: HashMap<u16, Arc<mcap::Schema<'static>>>,
}

enum LinearItem {
    Message { channel_id: u16, log_time: u64, publish_time: u64, data: Vec<u8> },
    ChannelSeen(u16),
}

impl LinearCursor {
    fn open(path: &Path) -> Result<Self, BagError> {
        let file = File::open(path).map_err(|e| BagError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            reader: LinearReader::new(),
            channels: HashMap::new(),
            schemas: HashMap::new(),
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
                            let schema = self.schemas.get(&ch.schema_id).cloned();
                            let channel = mcap::Channel {
                                id: ch.id,
                                topic: ch.topic,
                                schema,
                                message_encoding: ch.message_encoding,
                                metadata: ch.metadata,
                            };
                            self.channels.insert(ch.id, channel_info(&channel));
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

impl BagReader {
    /// Opens a bag directory (with `metadata.yaml`) or a bare `.mcap` file and checks that
    /// the metadata matches the files.
    pub fn open(path: &Path) -> Result<Self, BagError> {
        let meta_path = path.join("metadata.yaml");
        let (metadata, file_paths) = if path.is_dir() {
            if !meta_path.is_file() {
                return Err(BagError::NotABag {
                    path: path.to_path_buf(),
                    reason: "directory has no metadata.yaml (run `ros2 bag reindex`, or pass the .mcap file)".into(),
                });
            }
            let text = std::fs::read_to_string(&meta_path).map_err(|e| BagError::io(&meta_path, e))?;
            let meta = BagMetadata::parse(&text, &meta_path)?;
            if meta.storage_identifier != "mcap" && meta.storage_identifier != "sqlite3" {
                return Err(BagError::UnsupportedStorage {
                    path: path.to_path_buf(),
                    storage: meta.storage_identifier.clone(),
                });
            }
            if meta.compression_mode.eq_ignore_ascii_case("file") {
                return Err(BagError::Metadata {
                    path: meta_path,
                    reason: format!(
                        "compression_mode 'file' ({}) is not supported; decompress the files first",
                        meta.compression_format
                    ),
                });
            }
            let mut files = Vec::new();
            for rel in &meta.relative_file_paths {
                let name = Path::new(rel).file_name().map(PathBuf::from).unwrap_or_else(|| rel.into());
                let p = path.join(name);
                if !p.is_file() {
                    return Err(BagError::MetadataMismatch {
                        path: path.to_path_buf(),
                        reason: format!("relative_file_paths lists '{rel}', which does not exist"),
                    });
                }
                files.push(p);
            }
            if files.is_empty() {
                return Err(BagError::MetadataMismatch {
                    path: path.to_path_buf(),
                    reason: "relative_file_paths is empty".into(),
                });
            }
            (Some(meta), files)
        } else if path.is_file() {
            (None, vec![path.to_path_buf()])
        } else {
            return Err(BagError::NotABag { path: path.to_path_buf(), reason: "no such file or directory".into() });
        };

        let mut files = Vec::new();
        let mut counts: BTreeMap<String, TopicSummary> = BTreeMap::new();
        let mut time_range: Option<(u64, u64)> = None;
        for p in file_paths {
            if p.extension().is_some_and(|e| e == "db3") {
                let (found, range) = crate::sqlite::topics(&p)?;
                for (_, _, t) in found {
                    match counts.get_mut(&t.name) {
                        Some(e) => e.message_count += t.message_count,
                        None => {
                            counts.insert(t.name.clone(), t);
                        }
                    }
                }
                if let Some((a, b)) = range {
                    time_range = Some(time_range.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
                }
                files.push(McapFile { path: p, sqlite: true, summary: None, summary_problem: None });
                continue;
            }
            let (summary, problem) = match read_summary(&p) {
                Ok(Some(s)) if s.stats.is_some() => (Some(Arc::new(s)), None),
                Ok(Some(_)) => (None, Some("no statistics record".to_string())),
                Ok(None) => (None, Some("no summary section".to_string())),
                Err(e) => (None, Some(e.to_string())),
            };
            let mut add = |ch: &mcap::Channel<'_>, n: u64| {
                let info = channel_info(ch);
                let entry = counts.entry(ch.topic.clone()).or_insert_with(|| TopicSummary {
                    name: ch.topic.clone(),
                    type_name: info.type_name.to_string(),
                    message_count: 0,
                    qos: ch
                        .metadata
                        .get("offered_qos_profiles")
                        .and_then(|t| Qos::from_profiles(&serde_yaml_ng::Value::String(t.clone()))),
                    schema_text: ch
                        .schema
                        .as_ref()
                        .map(|s| String::from_utf8_lossy(&s.data).into_owned())
                        .unwrap_or_default(),
                    unreadable: info.unreadable,
                });
                entry.message_count += n;
            };
            match &summary {
                Some(s) => {
                    let stats = s.stats.as_ref();
                    let mut ids: Vec<_> = s.channels.keys().copied().collect();
                    ids.sort_unstable();
                    for id in ids {
                        let n = stats.and_then(|st| st.channel_message_counts.get(&id)).copied().unwrap_or(0);
                        add(&s.channels[&id], n);
                    }
                    if let Some(st) = stats.filter(|st| st.message_count > 0) {
                        let (a, b) = (st.message_start_time, st.message_end_time);
                        time_range = Some(time_range.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
                    }
                }
                None => {
                    // Count by scanning; a truncated tail ends the scan (reported when read).
                    let mut cursor = LinearCursor::open(&p)?;
                    let mut per_channel: BTreeMap<u16, u64> = BTreeMap::new();
                    while let Some(Ok(item)) = cursor.next_item() {
                        match item {
                            LinearItem::Message { channel_id, log_time, .. } => {
                                *per_channel.entry(channel_id).or_default() += 1;
                                time_range = Some(time_range.map_or((log_time, log_time), |(x, y)| {
                                    (x.min(log_time), y.max(log_time))
                                }));
                            }
                            LinearItem::ChannelSeen(id) => {
                                per_channel.entry(id).or_default();
                            }
                        }
                    }
                    for (id, n) in per_channel {
                        if let Some(info) = cursor.channels.get(&id) {
                            let entry = counts.entry(info.topic.to_string()).or_insert_with(|| TopicSummary {
                                name: info.topic.to_string(),
                                type_name: info.type_name.to_string(),
                                message_count: 0,
                                qos: None,
                                schema_text: String::new(),
                                unreadable: info.unreadable,
                            });
                            entry.message_count += n;
                        }
                    }
                }
            }
            files.push(McapFile { path: p, sqlite: false, summary, summary_problem: problem });
        }
        let topics: Vec<TopicSummary> = counts.into_values().collect();

        if let Some(meta) = &metadata {
            let indexed = files.iter().all(|f| f.summary.is_some() || f.sqlite);
            for t in &meta.topics {
                let Some(actual) = topics.iter().find(|x| x.name == t.name) else {
                    if t.message_count > 0 && indexed {
                        return Err(BagError::MetadataMismatch {
                            path: path.to_path_buf(),
                            reason: format!("topic '{}' is listed with {} messages but no file has it", t.name, t.message_count),
                        });
                    }
                    continue;
                };
                if !actual.type_name.is_empty() && actual.type_name != t.type_name {
                    return Err(BagError::MetadataMismatch {
                        path: path.to_path_buf(),
                        reason: format!(
                            "topic '{}' has type '{}' in metadata.yaml but '{}' in the storage file",
                            t.name, t.type_name, actual.type_name
                        ),
                    });
                }
                if indexed && actual.message_count != t.message_count {
                    return Err(BagError::MetadataMismatch {
                        path: path.to_path_buf(),
                        reason: format!(
                            "topic '{}' has message_count {} in metadata.yaml but {} in the storage files",
                            t.name, t.message_count, actual.message_count
                        ),
                    });
                }
            }
        }
        Ok(Self { path: path.to_path_buf(), metadata, files, topics, time_range_ns: time_range })
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

    /// The storage files, each with the reason it has no usable index (then it is read
    /// front to back, in file order).
    pub fn files(&self) -> Vec<(&Path, Option<&str>)> {
        self.files.iter().map(|f| (f.path.as_path(), f.summary_problem.as_deref())).collect()
    }

    /// Total size of the storage files in bytes.
    pub fn storage_bytes(&self) -> u64 {
        self.files.iter().filter_map(|f| std::fs::metadata(&f.path).ok()).map(|m| m.len()).sum()
    }

    /// Streams the selected messages in log-time order (per file; files in bag order).
    pub fn messages(&self, opts: &ReadOptions) -> Messages<'_> {
        Messages {
            bag: self,
            opts: opts.clone(),
            file_index: 0,
            cursor: None,
            skipped: BTreeMap::new(),
            failed: false,
        }
    }
}

struct IndexedCursor {
    path: PathBuf,
    file: File,
    reader: IndexedReader,
    buf: Vec<u8>,
    channels: HashMap<u16, ChannelInfo>,
}

enum Cursor {
    Indexed(Box<IndexedCursor>),
    Linear(Box<LinearCursor>),
    Sqlite(Box<crate::sqlite::SqliteCursor>),
}

/// Iterator over a bag's messages. Messages of unreadable channels are skipped and counted
/// ([`Messages::skipped`]); an I/O or format error (e.g. a truncated file) is yielded once as
/// `Err`, after every message before it.
pub struct Messages<'a> {
    bag: &'a BagReader,
    opts: ReadOptions,
    file_index: usize,
    cursor: Option<Cursor>,
    skipped: BTreeMap<(String, SkipReason), u64>,
    failed: bool,
}

impl Messages<'_> {
    /// Skipped messages per (topic, reason).
    pub fn skipped(&self) -> &BTreeMap<(String, SkipReason), u64> {
        &self.skipped
    }

    fn open_cursor(&self, f: &McapFile) -> Result<Cursor, BagError> {
        if f.sqlite {
            let c = crate::sqlite::SqliteCursor::open(&f.path, self.opts.start_ns, self.opts.end_ns)?;
            return Ok(Cursor::Sqlite(Box::new(c)));
        }
        match &f.summary {
            Some(summary) => {
                let mut o = IndexedReaderOptions::new().with_order(ReadOrder::LogTime);
                if let Some(t) = &self.opts.topics {
                    o = o.include_topics(t.clone());
                }
                if let Some(s) = self.opts.start_ns {
                    o = o.log_time_on_or_after(s);
                }
                if let Some(e) = self.opts.end_ns {
                    o = o.log_time_before(e);
                }
                let reader = IndexedReader::new_with_options(summary, o)
                    .map_err(|e| BagError::mcap(&f.path, e))?;
                let file = File::open(&f.path).map_err(|e| BagError::io(&f.path, e))?;
                let channels = summary.channels.iter().map(|(id, ch)| (*id, channel_info(ch))).collect();
                Ok(Cursor::Indexed(Box::new(IndexedCursor {
                    path: f.path.clone(),
                    file,
                    reader,
                    buf: Vec::new(),
                    channels,
                })))
            }
            None => Ok(Cursor::Linear(Box::new(LinearCursor::open(&f.path)?))),
        }
    }

    fn wanted(&self, topic: &str, log_time: u64) -> bool {
        self.opts.topics.as_ref().is_none_or(|t| t.iter().any(|x| x == topic))
            && self.opts.start_ns.is_none_or(|s| log_time >= s)
            && self.opts.end_ns.is_none_or(|e| log_time < e)
    }

    /// Returns the message or records why it is skipped.
    fn accept(
        &mut self,
        info: Option<&ChannelInfo>,
        log_time: u64,
        publish_time: u64,
        data: &[u8],
    ) -> Option<RawMessage> {
        let Some(info) = info else {
            *self.skipped.entry((String::new(), SkipReason::UnknownChannel)).or_default() += 1;
            return None;
        };
        if !self.wanted(&info.topic, log_time) {
            return None;
        }
        if let Some(reason) = info.unreadable {
            *self.skipped.entry((info.topic.to_string(), reason)).or_default() += 1;
            return None;
        }
        Some(RawMessage {
            topic: info.topic.clone(),
            type_name: info.type_name.clone(),
            log_time_ns: log_time,
            publish_time_ns: publish_time,
            data: data.to_vec(),
        })
    }
}

impl Iterator for Messages<'_> {
    type Item = Result<RawMessage, BagError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if self.cursor.is_none() {
                let f = self.bag.files.get(self.file_index)?;
                self.file_index += 1;
                match self.open_cursor(f) {
                    Ok(c) => self.cursor = Some(c),
                    Err(e) => {
                        self.failed = true;
                        return Some(Err(e));
                    }
                }
            }
            let mut cursor = self.cursor.take()?;
            let result = match &mut cursor {
                Cursor::Indexed(ic) => loop {
                    let IndexedCursor { path, file, reader, buf, channels } = &mut **ic;
                    match reader.next_event() {
                        None => break None,
                        Some(Err(e)) => break Some(Err(BagError::mcap(&*path, e))),
                        Some(Ok(IndexedReadEvent::ReadChunkRequest { offset, length })) => {
                            buf.resize(length, 0);
                            let res = file
                                .seek(SeekFrom::Start(offset))
                                .and_then(|_| file.read_exact(buf))
                                .map_err(|e| BagError::io(&*path, e))
                                .and_then(|_| {
                                    reader.insert_chunk_record_data(offset, buf).map_err(|e| BagError::mcap(&*path, e))
                                });
                            if let Err(e) = res {
                                break Some(Err(e));
                            }
                        }
                        Some(Ok(IndexedReadEvent::Message { header, data })) => {
                            let info = channels.get(&header.channel_id).cloned();
                            if let Some(m) = self.accept(info.as_ref(), header.log_time, header.publish_time, data) {
                                break Some(Ok(m));
                            }
                        }
                    }
                },
                Cursor::Linear(lc) => loop {
                    match lc.next_item() {
                        None => break None,
                        Some(Err(e)) => break Some(Err(e)),
                        Some(Ok(LinearItem::ChannelSeen(_))) => {}
                        Some(Ok(LinearItem::Message { channel_id, log_time, publish_time, data })) => {
                            let info = lc.channels.get(&channel_id).cloned();
                            if let Some(m) = self.accept(info.as_ref(), log_time, publish_time, &data) {
                                break Some(Ok(m));
                            }
                        }
                    }
                },
                Cursor::Sqlite(sc) => loop {
                    match sc.next_row() {
                        None => break None,
                        Some(Err(e)) => break Some(Err(e)),
                        Some(Ok((topic_id, ts, data))) => {
                            let info = sc.channels.get(&topic_id).cloned();
                            if let Some(m) = self.accept(info.as_ref(), ts, ts, &data) {
                                break Some(Ok(m));
                            }
                        }
                    }
                },
            };
            match result {
                None => continue, // file exhausted: next file
                Some(Err(e)) => {
                    self.failed = true;
                    return Some(Err(e));
                }
                Some(Ok(m)) => {
                    self.cursor = Some(cursor);
                    return Some(Ok(m));
                }
            }
        }
    }
}
