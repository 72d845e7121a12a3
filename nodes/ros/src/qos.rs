//! QoS presets of the topic contract.

use rustdds::policy::{Durability, History, Reliability};
use rustdds::{Duration, QosPolicies, QosPolicyBuilder};

/// How a topic is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qos {
    /// Sensor streams: best effort, keep last `depth`, volatile (`rclcpp::SensorDataQoS`).
    SensorData {
        /// History depth.
        depth: i32,
    },
    /// Outputs and commands: reliable, keep last `depth`, volatile (the ROS 2 default).
    Reliable {
        /// History depth.
        depth: i32,
    },
    /// `/tf_static` and other latched topics: reliable, transient local, keep last `depth`.
    Latched {
        /// History depth.
        depth: i32,
    },
}

impl Qos {
    /// The sensor preset with ROS 2's default depth of 5.
    pub const SENSOR: Qos = Qos::SensorData { depth: 5 };
    /// The reliable preset with ROS 2's default depth of 10.
    pub const RELIABLE: Qos = Qos::Reliable { depth: 10 };
    /// The latched preset (depth 1, like `tf2_ros::StaticTransformBroadcaster`).
    pub const LATCHED: Qos = Qos::Latched { depth: 1 };

    /// The DDS policies.
    pub fn policies(self) -> QosPolicies {
        let blocking = Duration::from_millis(100);
        let (reliability, durability, depth) = match self {
            Qos::SensorData { depth } => (Reliability::BestEffort, Durability::Volatile, depth),
            Qos::Reliable { depth } => (
                Reliability::Reliable {
                    max_blocking_time: blocking,
                },
                Durability::Volatile,
                depth,
            ),
            Qos::Latched { depth } => (
                Reliability::Reliable {
                    max_blocking_time: blocking,
                },
                Durability::TransientLocal,
                depth,
            ),
        };
        QosPolicyBuilder::new()
            .reliability(reliability)
            .durability(durability)
            .history(History::KeepLast {
                depth: depth.max(1),
            })
            .build()
    }
}
