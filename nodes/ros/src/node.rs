//! A node: its arguments, a transport, typed publishers and subscriptions, and its clock.
//!
//! Every subscription delivers into one channel; the node's loop takes deliveries in arrival
//! order and decodes them by the subscription's type. A payload that does not decode is
//! counted per topic, logged once per topic to `/rosout`, and skipped.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edgefuse_msgs::rosgraph_msgs::Clock;
use edgefuse_msgs::RosMessage;

use crate::args::NodeArgs;
use crate::qos::Qos;
use crate::transport::{Delivery, LogLevel, RawPublisher, Transport, TransportError};

/// A typed publisher.
pub struct Publisher<M: RosMessage> {
    raw: Box<dyn RawPublisher>,
    topic: String,
    _m: PhantomData<fn(M)>,
}

impl<M: RosMessage> Publisher<M> {
    /// Encodes and publishes `msg`.
    pub fn publish(&self, msg: &M) -> Result<(), TransportError> {
        let bytes = msg.encode().map_err(|e| TransportError::Middleware {
            operation: "encode",
            topic: self.topic.clone(),
            reason: e.to_string(),
        })?;
        self.raw.publish(bytes)
    }

    /// Publishes bytes that are already CDR of `M` (a bag's payloads).
    pub fn publish_raw(&self, payload: Vec<u8>) -> Result<(), TransportError> {
        self.raw.publish(payload)
    }

    /// The resolved topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

/// A subscription's handle: which deliveries are its own, and their type.
#[derive(Debug)]
pub struct SubId<M> {
    id: usize,
    _m: PhantomData<fn() -> M>,
}

impl<M> Clone for SubId<M> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M> Copy for SubId<M> {}

impl<M: RosMessage> SubId<M> {
    /// The id deliveries of this subscription carry ([`Delivery::sub_id`]).
    pub fn id(&self) -> usize {
        self.id
    }

    /// Whether `d` arrived on this subscription.
    pub fn is(&self, d: &Delivery) -> bool {
        d.sub_id == self.id
    }
}

#[derive(Debug, Clone)]
struct SubInfo {
    topic: String,
}

/// Per-topic counters of what arrived and what was refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicCounters {
    /// Payloads that arrived.
    pub received: u64,
    /// Payloads that did not decode (skipped).
    pub malformed: u64,
}

/// A node of ours.
pub struct Node {
    args: NodeArgs,
    transport: Arc<dyn Transport>,
    tx: Sender<Delivery>,
    rx: Receiver<Delivery>,
    subs: Vec<SubInfo>,
    counters: BTreeMap<String, TopicCounters>,
    clock_sub: Option<SubId<Clock>>,
    sim_time_ns: Option<i64>,
    /// When the last `/clock` arrived.
    sim_time_at: Option<std::time::Instant>,
}

impl Node {
    /// A node on `transport` with `args`. With `use_sim_time` it follows `/clock`.
    pub fn new(args: NodeArgs, transport: Arc<dyn Transport>) -> Result<Self, TransportError> {
        let (tx, rx) = channel();
        let use_sim_time = args.bool_or("use_sim_time", false).unwrap_or(false);
        let mut node = Self {
            args,
            transport,
            tx,
            rx,
            subs: Vec::new(),
            counters: BTreeMap::new(),
            clock_sub: None,
            sim_time_ns: None,
            sim_time_at: None,
        };
        if use_sim_time {
            node.clock_sub = Some(node.subscribe::<Clock>("/clock", Qos::Reliable { depth: 1 })?);
        }
        Ok(node)
    }

    /// The node's arguments and parameters.
    pub fn args(&self) -> &NodeArgs {
        &self.args
    }

    /// The transport's kind (`dds`, `inproc`).
    pub fn transport_kind(&self) -> &'static str {
        self.transport.kind()
    }

    /// Subscribes to `topic` (resolved through namespace and remaps).
    pub fn subscribe<M: RosMessage>(
        &mut self,
        topic: &str,
        qos: Qos,
    ) -> Result<SubId<M>, TransportError> {
        let resolved = self.args.resolve_topic(topic);
        let id = self.subs.len();
        self.transport
            .subscribe(&resolved, M::TYPE_NAME, qos, id, self.tx.clone())?;
        self.subs.push(SubInfo { topic: resolved });
        Ok(SubId {
            id,
            _m: PhantomData,
        })
    }

    /// Subscribes to `topic` carrying `type_name` without decoding (a recorder's); returns the
    /// id its deliveries carry.
    pub fn subscribe_raw(
        &mut self,
        topic: &str,
        type_name: &str,
        qos: Qos,
    ) -> Result<usize, TransportError> {
        let resolved = self.args.resolve_topic(topic);
        let id = self.subs.len();
        self.transport
            .subscribe(&resolved, type_name, qos, id, self.tx.clone())?;
        self.subs.push(SubInfo { topic: resolved });
        Ok(id)
    }

    /// The resolved topic of a subscription id.
    pub fn topic_of(&self, sub_id: usize) -> Option<&str> {
        self.subs.get(sub_id).map(|s| s.topic.as_str())
    }

    /// A publisher on `topic` (resolved through namespace and remaps).
    pub fn advertise<M: RosMessage>(
        &self,
        topic: &str,
        qos: Qos,
    ) -> Result<Publisher<M>, TransportError> {
        let resolved = self.args.resolve_topic(topic);
        let raw = self.transport.advertise(&resolved, M::TYPE_NAME, qos)?;
        Ok(Publisher {
            raw,
            topic: resolved,
            _m: PhantomData,
        })
    }

    /// A publisher of payloads that are already CDR of `type_name` (a player's), on `topic`
    /// resolved through namespace and remaps.
    pub fn advertise_raw(
        &self,
        topic: &str,
        type_name: &str,
        qos: Qos,
    ) -> Result<Box<dyn RawPublisher>, TransportError> {
        let resolved = self.args.resolve_topic(topic);
        self.transport.advertise(&resolved, type_name, qos)
    }

    /// The next delivery within `timeout`; `/clock` is consumed here. `Ok(None)` on timeout.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<Delivery>, TransportError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let d = match self.rx.recv_timeout(left) {
                Ok(d) => d,
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => return Err(TransportError::Closed),
            };
            if let Some(topic) = self.subs.get(d.sub_id).map(|s| s.topic.clone()) {
                self.counters.entry(topic).or_default().received += 1;
            }
            if let Some(clock) = self.clock_sub {
                if clock.is(&d) {
                    if let Some(c) = self.decode(clock, &d) {
                        self.sim_time_ns = Some(c.clock.as_nanos());
                        self.sim_time_at = Some(d.received);
                    }
                    continue;
                }
            }
            return Ok(Some(d));
        }
    }

    /// Decodes `d` as `M` when it belongs to `sub`; a malformed payload is counted, logged
    /// (first per topic) and skipped.
    pub fn decode<M: RosMessage>(&mut self, sub: SubId<M>, d: &Delivery) -> Option<M> {
        if !sub.is(d) {
            return None;
        }
        match M::decode(&d.payload) {
            Ok(m) => Some(m),
            Err(e) => {
                let topic = self
                    .subs
                    .get(d.sub_id)
                    .map_or_else(String::new, |s| s.topic.clone());
                let c = self.counters.entry(topic.clone()).or_default();
                c.malformed += 1;
                if c.malformed == 1 {
                    let msg = format!("malformed {} on {topic} skipped: {e}", M::TYPE_NAME);
                    self.log(LogLevel::Warn, &msg);
                }
                None
            }
        }
    }

    /// Per-topic counters.
    pub fn counters(&self) -> &BTreeMap<String, TopicCounters> {
        &self.counters
    }

    /// Logs to `/rosout` and stderr.
    pub fn log(&self, level: LogLevel, message: &str) {
        eprintln!("[{level:?}] [{}]: {message}", self.args.full_name());
        if self.args.rosout {
            self.transport.log(&self.args.full_name(), level, message);
        }
    }

    /// The node's time, ns: `/clock` under sim time (0 before the first), else the system
    /// clock.
    pub fn now_ns(&self) -> i64 {
        if self.clock_sub.is_some() {
            return self.sim_time_ns.unwrap_or(0);
        }
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    /// The present instant on the sensors' time axis, ns, for latency measurement: the system
    /// clock, or under sim time the last `/clock` plus the wall time since it arrived (a
    /// player at the recording's pace).
    pub fn latency_clock_ns(&self) -> i64 {
        match (self.clock_sub, self.sim_time_ns, self.sim_time_at) {
            (Some(_), Some(sim), Some(at)) => {
                sim.saturating_add(i64::try_from(at.elapsed().as_nanos()).unwrap_or(i64::MAX))
            }
            (Some(_), _, _) => 0,
            (None, _, _) => self.now_ns(),
        }
    }

    /// Whether the node follows `/clock`.
    pub fn uses_sim_time(&self) -> bool {
        self.clock_sub.is_some()
    }
}
