//! rosbag2 `sqlite3` storage (the default before Iron): read-only, streamed in pages ordered
//! by (timestamp, id), so a bag is never loaded whole.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::reader::{ChannelInfo, TopicSummary};
use crate::{BagError, Qos};

const PAGE: i64 = 512;

fn err(path: &Path, source: rusqlite::Error) -> BagError {
    BagError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn open(path: &Path) -> Result<Connection, BagError> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| err(path, e))
}

/// A topic of a sqlite3 file: its row id, how messages on it are returned, its summary.
pub(crate) type TopicRow = (i64, ChannelInfo, TopicSummary);

/// First and last message timestamps, ns.
pub(crate) type TimeRange = Option<(u64, u64)>;

/// The file's topics (by row id) with counts, and its first/last timestamps.
pub(crate) fn topics(path: &Path) -> Result<(Vec<TopicRow>, TimeRange), BagError> {
    let conn = open(path)?;
    let mut counts: HashMap<i64, u64> = HashMap::new();
    {
        let mut st = conn
            .prepare("SELECT topic_id, COUNT(*) FROM messages GROUP BY topic_id")
            .map_err(|e| err(path, e))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| err(path, e))?;
        for row in rows {
            let (id, n) = row.map_err(|e| err(path, e))?;
            counts.insert(id, n.max(0) as u64);
        }
    }
    // rosbag2 from Iron on (and rosbags) keep each type's definition; older bags do not.
    let mut definitions: HashMap<String, String> = HashMap::new();
    let has_definitions: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'message_definitions'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(|e| err(path, e))?
        > 0;
    if has_definitions {
        let mut st = conn
            .prepare(
                "SELECT topic_type, encoding, encoded_message_definition FROM message_definitions",
            )
            .map_err(|e| err(path, e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| err(path, e))?;
        for row in rows {
            let (ty, encoding, text) = row.map_err(|e| err(path, e))?;
            if encoding == "ros2msg" && !text.is_empty() {
                definitions.insert(ty, text);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut st = conn
            .prepare("SELECT id, name, type, serialization_format, offered_qos_profiles FROM topics ORDER BY id")
            .map_err(|e| err(path, e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .map_err(|e| err(path, e))?;
        for row in rows {
            let (id, name, type_name, format, qos) = row.map_err(|e| err(path, e))?;
            let schema = definitions.get(&type_name).map(String::as_str);
            let info = ChannelInfo::new(&name, &type_name, format == "cdr", schema);
            let qos = qos.and_then(|q| Qos::from_profiles(&serde_yaml_ng::Value::String(q)));
            let summary = info.summary(
                counts.get(&id).copied().unwrap_or(0),
                qos,
                schema.unwrap_or("").to_string(),
            );
            out.push((id, info, summary));
        }
    }
    let range: Option<(i64, i64)> = conn
        .query_row(
            "SELECT MIN(timestamp), MAX(timestamp) FROM messages",
            [],
            |r| {
                Ok(
                    match (r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?) {
                        (Some(a), Some(b)) => Some((a, b)),
                        _ => None,
                    },
                )
            },
        )
        .map_err(|e| err(path, e))?;
    Ok((out, range.map(|(a, b)| (a.max(0) as u64, b.max(0) as u64))))
}

/// One message row: topic row id, timestamp, CDR bytes.
pub(crate) type Row = (i64, u64, Vec<u8>);

pub(crate) struct SqliteCursor {
    path: PathBuf,
    conn: Connection,
    pub(crate) channels: HashMap<i64, ChannelInfo>,
    last: (i64, i64),
    start_ns: i64,
    end_ns: i64,
    buf: VecDeque<Row>,
    done: bool,
}

impl SqliteCursor {
    pub(crate) fn open(
        path: &Path,
        start_ns: Option<u64>,
        end_ns: Option<u64>,
    ) -> Result<Self, BagError> {
        let (topics, _) = topics(path)?;
        let start_ns = start_ns.map_or(i64::MIN, |s| i64::try_from(s).unwrap_or(i64::MAX));
        Ok(Self {
            path: path.to_path_buf(),
            conn: open(path)?,
            channels: topics.into_iter().map(|(id, info, _)| (id, info)).collect(),
            last: (start_ns, i64::MIN),
            start_ns,
            end_ns: end_ns.map_or(i64::MAX, |e| i64::try_from(e).unwrap_or(i64::MAX)),
            buf: VecDeque::new(),
            done: false,
        })
    }

    fn fill(&mut self) -> Result<(), BagError> {
        let path = &self.path;
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, topic_id, timestamp, data FROM messages \
                 WHERE (timestamp > ?1 OR (timestamp = ?1 AND id > ?2)) AND timestamp >= ?3 AND timestamp < ?4 \
                 ORDER BY timestamp, id LIMIT ?5",
            )
            .map_err(|e| err(path, e))?;
        let rows = st
            .query_map(
                rusqlite::params![self.last.0, self.last.1, self.start_ns, self.end_ns, PAGE],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                    ))
                },
            )
            .map_err(|e| err(path, e))?;
        let mut n = 0;
        for row in rows {
            let (id, topic_id, ts, data) = row.map_err(|e| err(path, e))?;
            self.last = (ts, id);
            self.buf.push_back((topic_id, ts.max(0) as u64, data));
            n += 1;
        }
        if n < PAGE {
            self.done = true;
        }
        Ok(())
    }

    pub(crate) fn next_row(&mut self) -> Option<Result<Row, BagError>> {
        if self.buf.is_empty() && !self.done {
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.buf.pop_front().map(Ok)
    }
}
