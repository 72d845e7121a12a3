//! In-process transport: nodes composed in one process (like a ROS 2 component container with
//! intra-process communication) exchange payloads through channels, without serialisation to
//! a socket. Latched topics keep their last `depth` payloads for late subscribers; sensor-data
//! topics deliver to subscribers present at publication, like DDS volatile readers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::qos::Qos;
use crate::transport::{
    check_payload, Delivery, LogLevel, RawPublisher, Transport, TransportError,
};

#[derive(Default)]
struct TopicState {
    type_name: String,
    subscribers: Vec<(usize, Sender<Delivery>)>,
    /// Kept for late subscribers of latched topics.
    latched: VecDeque<Arc<Vec<u8>>>,
    latched_depth: usize,
}

#[derive(Default)]
struct Bus {
    topics: BTreeMap<String, TopicState>,
}

/// The in-process bus; clone it into every composed node.
#[derive(Clone, Default)]
pub struct InProcess {
    bus: Arc<Mutex<Bus>>,
    log_to_stderr: bool,
}

impl InProcess {
    /// A new bus; log lines go to stderr when `log_to_stderr`.
    pub fn new(log_to_stderr: bool) -> Self {
        Self {
            bus: Arc::default(),
            log_to_stderr,
        }
    }

    fn with_topic<R>(
        &self,
        topic: &str,
        type_name: &str,
        f: impl FnOnce(&mut TopicState) -> R,
    ) -> Result<R, TransportError> {
        let mut bus = self.bus.lock().unwrap_or_else(PoisonError::into_inner);
        let state = bus.topics.entry(topic.to_string()).or_default();
        if state.type_name.is_empty() {
            state.type_name = type_name.to_string();
        } else if state.type_name != type_name {
            return Err(TransportError::Name {
                topic: topic.to_string(),
                type_name: type_name.to_string(),
                reason: format!("the topic already carries {}", state.type_name),
            });
        }
        Ok(f(state))
    }
}

struct InProcPublisher {
    bus: InProcess,
    topic: String,
    type_name: String,
    latched_depth: usize,
}

impl RawPublisher for InProcPublisher {
    fn publish(&self, payload: Vec<u8>) -> Result<(), TransportError> {
        check_payload(&self.topic, &payload)?;
        let payload = Arc::new(payload);
        let now = Instant::now();
        self.bus.with_topic(&self.topic, &self.type_name, |t| {
            if self.latched_depth > 0 {
                t.latched_depth = t.latched_depth.max(self.latched_depth);
                t.latched.push_back(Arc::clone(&payload));
                while t.latched.len() > t.latched_depth {
                    t.latched.pop_front();
                }
            }
            // A subscriber whose receiver is gone is dropped.
            t.subscribers.retain(|(id, tx)| {
                tx.send(Delivery {
                    sub_id: *id,
                    payload: Arc::clone(&payload),
                    received: now,
                })
                .is_ok()
            });
        })
    }
}

impl Transport for InProcess {
    fn advertise(
        &self,
        topic: &str,
        type_name: &str,
        qos: Qos,
    ) -> Result<Box<dyn RawPublisher>, TransportError> {
        self.with_topic(topic, type_name, |_| ())?;
        let latched_depth = match qos {
            Qos::Latched { depth } => depth.max(1) as usize,
            _ => 0,
        };
        Ok(Box::new(InProcPublisher {
            bus: self.clone(),
            topic: topic.to_string(),
            type_name: type_name.to_string(),
            latched_depth,
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
        self.with_topic(topic, type_name, |t| {
            if matches!(qos, Qos::Latched { .. }) {
                for p in &t.latched {
                    let _ = sink.send(Delivery {
                        sub_id,
                        payload: Arc::clone(p),
                        received: Instant::now(),
                    });
                }
            }
            t.subscribers.push((sub_id, sink));
        })
    }

    fn log(&self, node: &str, level: LogLevel, message: &str) {
        if self.log_to_stderr {
            eprintln!("[{level:?}] [{node}]: {message}");
        }
    }

    fn kind(&self) -> &'static str {
        "inproc"
    }
}

/// A component container's transport: topics under `local_prefix` stay in the process
/// ([`InProcess`]), every other topic goes to `remote` (DDS). Ingest nodes and the fusion node
/// composed this way read sensors from and publish results to the network, and hand the
/// validated sensor messages to each other in memory.
///
/// Topics made shared ([`Routed::with_shared`]) are published both ways (in-process to the
/// container's own subscribers, over `remote` to everyone else, like ROS 2 intra-process
/// communication), and the container's subscribers read them in-process only, so that none
/// gets a message twice: a node composed beside the fusion node reads its outputs in memory.
pub struct Routed {
    local_prefix: String,
    shared: Vec<String>,
    local: InProcess,
    remote: Arc<dyn Transport>,
}

impl Routed {
    /// Routes topics starting with `local_prefix/` in-process.
    pub fn new(local_prefix: &str, remote: Arc<dyn Transport>) -> Self {
        Self {
            local_prefix: format!("{}/", local_prefix.trim_end_matches('/')),
            shared: Vec::new(),
            local: InProcess::new(false),
            remote,
        }
    }

    /// Also publishes `topics` (absolute names) in-process, and subscribes to them only there.
    pub fn with_shared(mut self, topics: &[&str]) -> Self {
        self.shared.extend(topics.iter().map(|t| t.to_string()));
        self
    }

    fn is_local(&self, topic: &str) -> bool {
        topic.starts_with(&self.local_prefix)
    }

    fn is_shared(&self, topic: &str) -> bool {
        self.shared.iter().any(|t| t == topic)
    }
}

/// Publishes to the container and to the network.
struct TeePublisher {
    local: Box<dyn RawPublisher>,
    remote: Box<dyn RawPublisher>,
}

impl RawPublisher for TeePublisher {
    fn publish(&self, payload: Vec<u8>) -> Result<(), TransportError> {
        self.local.publish(payload.clone())?;
        self.remote.publish(payload)
    }
}

impl Transport for Routed {
    fn advertise(
        &self,
        topic: &str,
        type_name: &str,
        qos: Qos,
    ) -> Result<Box<dyn RawPublisher>, TransportError> {
        if self.is_local(topic) {
            self.local.advertise(topic, type_name, qos)
        } else if self.is_shared(topic) {
            Ok(Box::new(TeePublisher {
                local: self.local.advertise(topic, type_name, qos)?,
                remote: self.remote.advertise(topic, type_name, qos)?,
            }))
        } else {
            self.remote.advertise(topic, type_name, qos)
        }
    }

    fn subscribe(
        &self,
        topic: &str,
        type_name: &str,
        qos: Qos,
        sub_id: usize,
        sink: Sender<Delivery>,
    ) -> Result<(), TransportError> {
        if self.is_local(topic) || self.is_shared(topic) {
            self.local.subscribe(topic, type_name, qos, sub_id, sink)
        } else {
            self.remote.subscribe(topic, type_name, qos, sub_id, sink)
        }
    }

    fn log(&self, node: &str, level: LogLevel, message: &str) {
        self.remote.log(node, level, message);
    }

    fn kind(&self) -> &'static str {
        "container (inproc + dds)"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn latched_topics_reach_late_subscribers_and_types_must_agree() {
        let bus = InProcess::new(false);
        let p = bus
            .advertise("/tf_static", "tf2_msgs/msg/TFMessage", Qos::LATCHED)
            .unwrap();
        p.publish(vec![0, 1, 0, 0, 9]).unwrap();
        let (tx, rx) = channel();
        bus.subscribe("/tf_static", "tf2_msgs/msg/TFMessage", Qos::LATCHED, 3, tx)
            .unwrap();
        let d = rx.try_recv().unwrap();
        assert_eq!(
            (d.sub_id, d.payload.as_slice()),
            (3, &[0u8, 1, 0, 0, 9][..])
        );
        assert!(bus
            .advertise("/tf_static", "std_msgs/msg/String", Qos::RELIABLE)
            .is_err());
        assert!(p.publish(vec![1]).is_err());
    }

    #[test]
    fn shared_topics_reach_the_container_once_and_the_network() {
        let network = Arc::new(InProcess::new(false));
        let routed = Routed::new("/ingest", network.clone()).with_shared(&["/objects"]);
        let (tx_in, rx_in) = channel();
        let (tx_net, rx_net) = channel();
        routed
            .subscribe("/objects", "std_msgs/msg/String", Qos::RELIABLE, 1, tx_in)
            .unwrap();
        network
            .subscribe("/objects", "std_msgs/msg/String", Qos::RELIABLE, 2, tx_net)
            .unwrap();
        let p = routed
            .advertise("/objects", "std_msgs/msg/String", Qos::RELIABLE)
            .unwrap();
        p.publish(vec![0, 1, 0, 0, 7]).unwrap();
        assert_eq!(
            rx_in.try_recv().unwrap().payload.as_slice(),
            &[0, 1, 0, 0, 7]
        );
        assert!(
            rx_in.try_recv().is_err(),
            "delivered twice in the container"
        );
        assert_eq!(
            rx_net.try_recv().unwrap().payload.as_slice(),
            &[0, 1, 0, 0, 7]
        );
        // A topic that is not shared goes to the network only.
        let (tx, rx) = channel();
        routed
            .subscribe("/other", "std_msgs/msg/String", Qos::RELIABLE, 3, tx)
            .unwrap();
        let q = network
            .advertise("/other", "std_msgs/msg/String", Qos::RELIABLE)
            .unwrap();
        q.publish(vec![0, 1, 0, 0, 8]).unwrap();
        assert_eq!(rx.try_recv().unwrap().payload.as_slice(), &[0, 1, 0, 0, 8]);
    }
}
