//! `edgefuse info`: what a bag holds, like `ros2 bag info`.

use std::path::Path;

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use edgefuse_bag::{BagReader, ReadOptions};
use edgefuse_msgs::{visit_type, RosMessage, TypeVisitor};

/// Result of decoding every message of one topic (`edgefuse info --verify`).
#[derive(Debug, Clone, Default)]
pub struct TopicCheck {
    /// Messages that decoded as their type.
    pub ok: u64,
    /// Messages that did not, skipped.
    pub bad: u64,
    /// Messages of a channel that cannot be read (no schema, not CDR) or of a type edgefuse
    /// has no Rust type for, skipped.
    pub skipped: u64,
    /// The first decode error, naming topic, time and field.
    pub first_error: Option<String>,
}

struct Decodes<'a>(&'a [u8]);

impl TypeVisitor for Decodes<'_> {
    type Out = std::result::Result<(), edgefuse_msgs::CdrError>;
    fn visit<M: RosMessage>(self) -> Self::Out {
        M::decode(self.0).map(|_| ())
    }
}

/// Decodes every message of `reader` with its Rust type; bad messages are counted and skipped.
/// An error reading the storage itself (e.g. a truncated file) ends the pass and is returned
/// with the counts so far.
pub fn verify(reader: &BagReader) -> (BTreeMap<String, TopicCheck>, Option<String>) {
    let mut checks: BTreeMap<String, TopicCheck> = BTreeMap::new();
    let mut it = reader.messages(&ReadOptions::default());
    let mut fatal = None;
    for m in it.by_ref() {
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                fatal = Some(e.to_string());
                break;
            }
        };
        let c = checks.entry(m.topic.to_string()).or_default();
        match visit_type(&m.type_name, Decodes(&m.data)) {
            None => c.skipped += 1,
            Some(Ok(())) => c.ok += 1,
            Some(Err(e)) => {
                c.bad += 1;
                if c.first_error.is_none() {
                    c.first_error = Some(format!("{} at {} ns: {e}", m.topic, m.log_time_ns));
                }
            }
        }
    }
    for ((topic, _reason), n) in it.skipped() {
        checks.entry(topic.clone()).or_default().skipped += n;
    }
    (checks, fatal)
}

/// One topic line.
#[derive(Debug, Clone)]
pub struct TopicLine {
    /// Topic name.
    pub name: String,
    /// ROS type.
    pub type_name: String,
    /// Messages.
    pub count: u64,
    /// Mean rate over the whole bag's duration (not the topic's own span), Hz.
    pub rate_hz: f64,
    /// QoS name, if recorded.
    pub qos: String,
}

/// Summary of a bag.
#[derive(Debug, Clone)]
pub struct BagInfo {
    /// Path given.
    pub path: String,
    /// Storage files.
    pub files: Vec<String>,
    /// Bytes of storage files.
    pub size_bytes: u64,
    /// Storage plugin.
    pub storage: String,
    /// Distro that wrote it.
    pub ros_distro: String,
    /// First and last log time, ns.
    pub start_ns: u64,
    /// Last log time, ns.
    pub end_ns: u64,
    /// Messages.
    pub message_count: u64,
    /// Topics.
    pub topics: Vec<TopicLine>,
    /// metadata.yaml `custom_data`.
    pub custom_data: Vec<(String, String)>,
    /// Files read without an index, with the reason.
    pub unindexed: Vec<String>,
    /// Per-topic decode results, when asked for.
    pub verified: Option<BTreeMap<String, TopicCheck>>,
    /// The storage error that ended verification early, if any.
    pub verify_error: Option<String>,
}

impl BagInfo {
    /// Opens and summarises `path`; with `verify`, also decodes every message.
    pub fn read_verified(path: &Path, verify_all: bool) -> Result<Self> {
        let mut info = Self::read(path)?;
        if verify_all {
            let reader =
                BagReader::open(path).with_context(|| format!("opening bag {}", path.display()))?;
            let (checks, fatal) = verify(&reader);
            info.verified = Some(checks);
            info.verify_error = fatal;
        }
        Ok(info)
    }

    /// Opens and summarises `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let reader =
            BagReader::open(path).with_context(|| format!("opening bag {}", path.display()))?;
        let (start_ns, end_ns) = reader.time_range_ns().unwrap_or((0, 0));
        let duration_s = (end_ns.saturating_sub(start_ns)) as f64 * 1e-9;
        let topics = reader
            .topics()
            .iter()
            .map(|t| TopicLine {
                name: t.name.clone(),
                type_name: t.type_name.clone(),
                count: t.message_count,
                rate_hz: if duration_s > 0.0 {
                    t.message_count as f64 / duration_s
                } else {
                    0.0
                },
                qos: t.qos.map(|q| format!("{q:?}")).unwrap_or_default(),
            })
            .collect::<Vec<_>>();
        let meta = reader.metadata();
        Ok(Self {
            path: path.display().to_string(),
            files: reader
                .files()
                .iter()
                .map(|(p, _)| p.display().to_string())
                .collect(),
            size_bytes: reader.storage_bytes(),
            storage: meta.map_or("mcap".into(), |m| m.storage_identifier.clone()),
            ros_distro: meta.map_or(String::new(), |m| m.ros_distro.clone()),
            start_ns,
            end_ns,
            message_count: topics.iter().map(|t| t.count).sum(),
            topics,
            custom_data: meta
                .map(|m| {
                    m.custom_data
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            unindexed: reader
                .files()
                .iter()
                .filter_map(|(p, why)| why.map(|w| format!("{}: {w}", p.display())))
                .collect(),
            verified: None,
            verify_error: None,
        })
    }

    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.end_ns.saturating_sub(self.start_ns) as f64 * 1e-9
    }

    /// Human-readable text in the layout of `ros2 bag info`.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let secs = |ns: u64| format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000);
        s += &format!("Files:             {}\n", self.files.join(", "));
        s += &format!(
            "Bag size:          {:.1} MiB\n",
            self.size_bytes as f64 / (1024.0 * 1024.0)
        );
        s += &format!("Storage id:        {}\n", self.storage);
        if !self.ros_distro.is_empty() {
            s += &format!("ROS Distro:        {}\n", self.ros_distro);
        }
        s += &format!("Duration:          {:.3}s\n", self.duration_s());
        s += &format!("Start:             {} s\n", secs(self.start_ns));
        s += &format!("End:               {} s\n", secs(self.end_ns));
        s += &format!("Messages:          {}\n", self.message_count);
        s += "Topic information:\n";
        let w = self.topics.iter().map(|t| t.name.len()).max().unwrap_or(0);
        let tw = self
            .topics
            .iter()
            .map(|t| t.type_name.len())
            .max()
            .unwrap_or(0);
        for t in &self.topics {
            s += &format!(
                "  {:w$}  {:tw$}  {:>7} msgs  {:>7.2} Hz  {}\n",
                t.name, t.type_name, t.count, t.rate_hz, t.qos
            );
        }
        s += "  (rates: messages / bag duration)\n";
        for u in &self.unindexed {
            s += &format!("Note: read without index: {u}\n");
        }
        if let Some(checks) = &self.verified {
            let bad: u64 = checks.values().map(|c| c.bad).sum();
            let skipped: u64 = checks.values().map(|c| c.skipped).sum();
            let ok: u64 = checks.values().map(|c| c.ok).sum();
            s += &format!("Verified:          {ok} decoded, {bad} bad (skipped), {skipped} unreadable (skipped)\n");
            for (topic, c) in checks.iter().filter(|(_, c)| c.bad > 0 || c.skipped > 0) {
                s += &format!(
                    "  {topic}: {} ok, {} bad, {} unreadable",
                    c.ok, c.bad, c.skipped
                );
                if let Some(e) = &c.first_error {
                    s += &format!("; first: {e}");
                }
                s.push('\n');
            }
            if let Some(e) = &self.verify_error {
                s += &format!("  stopped early: {e}\n");
            }
        }
        s
    }

    /// The same as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "path": self.path,
            "files": self.files,
            "size_bytes": self.size_bytes,
            "storage": self.storage,
            "ros_distro": self.ros_distro,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "duration_s": self.duration_s(),
            "message_count": self.message_count,
            "topics": self.topics.iter().map(|t| serde_json::json!({
                "name": t.name, "type": t.type_name, "count": t.count, "rate_hz": t.rate_hz, "qos": t.qos,
            })).collect::<Vec<_>>(),
            "custom_data": self.custom_data.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "unindexed": self.unindexed,
            "verified": self.verified.as_ref().map(|v| v.iter().map(|(t, c)| (t.clone(), serde_json::json!({
                "ok": c.ok, "bad": c.bad, "skipped": c.skipped, "first_error": c.first_error,
            }))).collect::<serde_json::Map<_, _>>()),
            "verify_error": self.verify_error,
        })
    }
}
