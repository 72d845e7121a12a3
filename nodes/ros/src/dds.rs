//! DDS transport: ROS 2 over RustDDS, the way `rmw_fastrtps`/`rmw_cyclonedds` peers expect it
//! (`rt/` topic names, `pkg::msg::dds_::Type_` type names, CDR little endian).
//!
//! ros2-client gives the participant, the node (graph and `/rosout`) and the topic objects;
//! readers and writers are RustDDS's own with adapters that pass our CDR bytes through
//! unchanged, so a 120k-point cloud is copied once per hop and decoded by our codec. One
//! thread polls every reader (mio) and forwards payloads to the subscribers' channels.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use ros2_client::dds::rustdds;
use ros2_client::dds::{Context, ContextOptions, Node, RosoutRaw};
use ros2_client::{MessageTypeName, Name, NodeName, NodeOptions, QosProfile};
use rustdds::mio1::{Events, Interest, Poll, Token, Waker};
use rustdds::no_key::SimpleDataReader;
use rustdds::no_key::{DataWriter, Decode, DefaultDecoder, DeserializerAdapter, SerializerAdapter};
use rustdds::RepresentationIdentifier;

use crate::qos::Qos;
use crate::transport::{
    check_payload, Delivery, LogLevel, RawPublisher, Transport, TransportError,
};

/// A CDR payload with its 4-byte encapsulation header.
#[derive(Debug, Clone)]
pub struct RawCdr(pub Vec<u8>);

/// Passes CDR bytes through RustDDS unchanged (both directions).
#[derive(Debug, Clone, Copy)]
pub struct RawAdapter;

/// Why a raw payload was refused by the adapter.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RawError(&'static str);

impl DeserializerAdapter<RawCdr> for RawAdapter {
    type Error = RawError;
    type Decoded = RawCdr;

    fn supported_encodings() -> &'static [RepresentationIdentifier] {
        &[
            RepresentationIdentifier::CDR_LE,
            RepresentationIdentifier::CDR_BE,
        ]
    }

    fn transform_decoded(decoded: RawCdr) -> RawCdr {
        decoded
    }
}

/// The decoder of [`RawAdapter`]: puts the encapsulation header back in front.
#[derive(Debug, Clone, Copy)]
pub struct RawDecoder;

impl<'de> Decode<'de, RawCdr> for RawDecoder {
    type Error = RawError;

    fn decode_bytes(
        self,
        input_bytes: &'de [u8],
        encoding: RepresentationIdentifier,
    ) -> Result<RawCdr, RawError> {
        let mut v = Vec::with_capacity(input_bytes.len() + 4);
        v.extend_from_slice(&encoding.to_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(input_bytes);
        Ok(RawCdr(v))
    }
}

impl DefaultDecoder<RawCdr> for RawAdapter {
    type Decoder = RawDecoder;
    const DECODER: RawDecoder = RawDecoder;
}

impl SerializerAdapter<RawCdr> for RawAdapter {
    type Error = RawError;

    fn output_encoding() -> RepresentationIdentifier {
        RepresentationIdentifier::CDR_LE
    }

    fn to_bytes(value: &RawCdr) -> Result<rustdds::bytes::Bytes, RawError> {
        match value.0.get(..2) {
            Some([0x00, 0x01]) => Ok(rustdds::bytes::Bytes::copy_from_slice(&value.0[4..])),
            Some(_) => Err(RawError("only little-endian CDR payloads are published")),
            None => Err(RawError("payload shorter than the CDR header")),
        }
    }
}

type Reader = SimpleDataReader<RawCdr, RawAdapter>;

/// A subscription waiting for the poll thread to register it.
struct PendingReader {
    reader: Reader,
    sub_id: usize,
    sink: Sender<Delivery>,
}

struct Shared {
    pending: Mutex<Vec<PendingReader>>,
    stop: AtomicBool,
    waker: Waker,
}

/// ROS 2 over DDS for one node.
pub struct DdsTransport {
    /// Keeps the DDS participant alive as long as the transport (dropped after the poller).
    _context: Context,
    node: Mutex<Node>,
    publisher: rustdds::Publisher,
    subscriber: rustdds::Subscriber,
    shared: Arc<Shared>,
    poller: Option<JoinHandle<()>>,
    domain_id: u16,
}

const WAKE: Token = Token(usize::MAX);

fn middleware(operation: &'static str, topic: &str, e: impl std::fmt::Display) -> TransportError {
    TransportError::Middleware {
        operation,
        topic: topic.to_string(),
        reason: e.to_string(),
    }
}

/// Splits `/a/b/c` into namespace `/a/b` and base `c`.
fn split_topic(topic: &str) -> (&str, &str) {
    match topic.rfind('/') {
        Some(0) => ("/", &topic[1..]),
        Some(i) => (&topic[..i], &topic[i + 1..]),
        None => ("/", topic),
    }
}

/// `pkg/msg/Type` into the ros2-client type name.
fn message_type(topic: &str, type_name: &str) -> Result<MessageTypeName, TransportError> {
    let mut parts = type_name.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(pkg), Some("msg"), Some(ty), None) if !pkg.is_empty() && !ty.is_empty() => {
            Ok(MessageTypeName::new(pkg, ty))
        }
        _ => Err(TransportError::Name {
            topic: topic.to_string(),
            type_name: type_name.to_string(),
            reason: "a message type is pkg/msg/Type".into(),
        }),
    }
}

impl DdsTransport {
    /// Joins DDS domain `domain_id` as node `namespace`/`name`.
    pub fn new(domain_id: u16, namespace: &str, name: &str) -> Result<Self, TransportError> {
        let context = Context::with_options(ContextOptions::new().domain_id(domain_id))
            .map_err(|e| middleware("create DDS participant", name, e))?;
        let node_name =
            NodeName::new(namespace, name).map_err(|e| middleware("name node", name, e))?;
        let node = context
            .new_node(node_name, NodeOptions::new().enable_rosout(true))
            .map_err(|e| middleware("create node", name, e))?;
        let participant = context.domain_participant();
        let qos = Qos::RELIABLE.policies();
        let publisher = participant
            .create_publisher(&qos)
            .map_err(|e| middleware("create DDS publisher", name, e))?;
        let subscriber = participant
            .create_subscriber(&qos)
            .map_err(|e| middleware("create DDS subscriber", name, e))?;
        let poll = Poll::new().map_err(|e| middleware("create poller", name, e))?;
        let waker =
            Waker::new(poll.registry(), WAKE).map_err(|e| middleware("create poller", name, e))?;
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            waker,
        });
        let poller = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("dds-{name}"))
                .spawn(move || poll_loop(poll, &shared))
                .map_err(|e| middleware("start poller", name, e))?
        };
        Ok(Self {
            _context: context,
            node: Mutex::new(node),
            publisher,
            subscriber,
            shared,
            poller: Some(poller),
            domain_id,
        })
    }

    /// A transport for the node `args` names, on the domain `ROS_DOMAIN_ID` gives.
    pub fn for_node(args: &crate::NodeArgs) -> Result<Self, TransportError> {
        Self::new(Self::domain_from_env()?, &args.namespace, &args.node_name)
    }

    /// Domain id from `ROS_DOMAIN_ID` (0 when unset), as rmw does.
    pub fn domain_from_env() -> Result<u16, TransportError> {
        match std::env::var("ROS_DOMAIN_ID") {
            Err(_) => Ok(0),
            Ok(v) if v.trim().is_empty() => Ok(0),
            Ok(v) => v
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|d| *d <= 232)
                .ok_or_else(|| TransportError::Middleware {
                    operation: "read ROS_DOMAIN_ID",
                    topic: v.clone(),
                    reason: "not a domain id from 0 to 232".into(),
                }),
        }
    }

    /// The DDS domain.
    pub fn domain_id(&self) -> u16 {
        self.domain_id
    }

    fn topic(
        &self,
        topic: &str,
        type_name: &str,
        qos: Qos,
    ) -> Result<rustdds::Topic, TransportError> {
        let (ns, base) = split_topic(topic);
        let name = Name::new(ns, base).map_err(|e| TransportError::Name {
            topic: topic.to_string(),
            type_name: type_name.to_string(),
            reason: e.to_string(),
        })?;
        let ty = message_type(topic, type_name)?;
        let profile = QosProfile::from(&qos.policies());
        self.node
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .create_topic(&name, ty, &profile)
            .map_err(|e| middleware("create topic", topic, e))
    }
}

impl Drop for DdsTransport {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = self.shared.waker.wake();
        if let Some(h) = self.poller.take() {
            let _ = h.join();
        }
    }
}

struct DdsPublisher {
    writer: Mutex<DataWriter<RawCdr, RawAdapter>>,
    topic: String,
}

impl RawPublisher for DdsPublisher {
    fn publish(&self, payload: Vec<u8>) -> Result<(), TransportError> {
        check_payload(&self.topic, &payload)?;
        self.writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write(RawCdr(payload), None)
            .map_err(|e| middleware("publish", &self.topic, e))
    }
}

impl Transport for DdsTransport {
    fn advertise(
        &self,
        topic: &str,
        type_name: &str,
        qos: Qos,
    ) -> Result<Box<dyn RawPublisher>, TransportError> {
        let t = self.topic(topic, type_name, qos)?;
        let writer = self
            .publisher
            .create_datawriter_no_key::<RawCdr, RawAdapter>(&t, Some(qos.policies()))
            .map_err(|e| middleware("create writer", topic, e))?;
        Ok(Box::new(DdsPublisher {
            writer: Mutex::new(writer),
            topic: topic.to_string(),
        }))
    }

    fn subscribe(
        &self,
        topic: &str,
        type_name: &str,
        qos: Qos,
        sub_id: usize,
        sink: Sender<Delivery>,
    ) -> Result<(), TransportError> {
        let t = self.topic(topic, type_name, qos)?;
        let reader = self
            .subscriber
            .create_simple_datareader_no_key::<RawCdr, RawAdapter>(&t, Some(qos.policies()))
            .map_err(|e| middleware("create reader", topic, e))?;
        self.shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(PendingReader {
                reader,
                sub_id,
                sink,
            });
        self.shared
            .waker
            .wake()
            .map_err(|e| middleware("wake poller", topic, e))
    }

    fn log(&self, node: &str, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Debug => ros2_client::log::LogLevel::Debug,
            LogLevel::Info => ros2_client::log::LogLevel::Info,
            LogLevel::Warn => ros2_client::log::LogLevel::Warn,
            LogLevel::Error => ros2_client::log::LogLevel::Error,
        };
        let node_handle = self.node.lock().unwrap_or_else(PoisonError::into_inner);
        node_handle.rosout_raw(
            ros2_client::builtin_interfaces::Time::now(),
            level,
            node,
            message,
            file!(),
            "log",
            line!(),
        );
    }

    fn kind(&self) -> &'static str {
        "dds"
    }
}

/// Registers new readers, drains readable ones, stops on request.
fn poll_loop(mut poll: Poll, shared: &Shared) {
    let mut readers: BTreeMap<usize, PendingReader> = BTreeMap::new();
    let mut events = Events::with_capacity(64);
    let mut next_token = 0usize;
    while !shared.stop.load(Ordering::Relaxed) {
        if poll.poll(&mut events, None).is_err() {
            // EINTR (a signal): poll again; the stop flag decides.
            continue;
        }
        let mut ready: Vec<usize> = Vec::new();
        for ev in events.iter() {
            if ev.token() == WAKE {
                let new: Vec<PendingReader> = std::mem::take(
                    &mut *shared
                        .pending
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner),
                );
                for mut p in new {
                    let token = next_token;
                    next_token += 1;
                    if poll
                        .registry()
                        .register(&mut p.reader, Token(token), Interest::READABLE)
                        .is_ok()
                    {
                        readers.insert(token, p);
                        // Samples that arrived before registration.
                        ready.push(token);
                    }
                }
            } else {
                ready.push(ev.token().0);
            }
        }
        for token in ready {
            let Some(r) = readers.get(&token) else {
                continue;
            };
            r.reader.drain_read_notifications();
            // Edge-triggered: take everything there is.
            while let Ok(Some(change)) = r.reader.try_take_one() {
                let RawCdr(bytes) = change.into_value();
                let _ = r.sink.send(Delivery {
                    sub_id: r.sub_id,
                    payload: Arc::new(bytes),
                    received: Instant::now(),
                });
            }
        }
    }
}
