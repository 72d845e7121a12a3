/// The QoS a topic is offered with, as recorded in `offered_qos_profiles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qos {
    /// Sensor data: best effort, keep last 5, volatile (`rclcpp::SensorDataQoS`).
    SensorData,
    /// Reliable, keep last 10, volatile (the ROS 2 default).
    Reliable,
    /// Reliable, keep last 1, transient local: latched topics such as `/tf_static`.
    Latched,
}

impl Qos {
    /// (history depth, reliability, durability) in rosbag2's spelling.
    fn parts(self) -> (u32, &'static str, &'static str) {
        match self {
            Qos::SensorData => (5, "best_effort", "volatile"),
            Qos::Reliable => (10, "reliable", "volatile"),
            Qos::Latched => (1, "reliable", "transient_local"),
        }
    }

    /// The profile as a rosbag2 version-9 YAML mapping (one list item, two-space indent,
    /// without the leading `- `), with the infinite-duration sentinels rosbag2 writes.
    pub fn yaml_lines(self) -> Vec<String> {
        let (depth, reliability, durability) = self.parts();
        let inf = "{sec: 2147483647, nsec: 4294967295}";
        vec![
            "history: keep_last".to_string(),
            format!("depth: {depth}"),
            format!("reliability: {reliability}"),
            format!("durability: {durability}"),
            format!("deadline: {inf}"),
            format!("lifespan: {inf}"),
            "liveliness: automatic".to_string(),
            format!("liveliness_lease_duration: {inf}"),
            "avoid_ros_namespace_conventions: false".to_string(),
        ]
    }

    /// The `offered_qos_profiles` string stored in an MCAP channel's metadata.
    pub fn channel_yaml(self) -> String {
        let mut out = String::new();
        for (i, line) in self.yaml_lines().iter().enumerate() {
            out.push_str(if i == 0 { "- " } else { "  " });
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// The QoS of an `offered_qos_profiles` value: a list of profile mappings (version 9) or
    /// that list as YAML text (version 8 and MCAP channel metadata). `None` when no profile
    /// states a reliability.
    pub fn from_profiles(value: &serde_yaml_ng::Value) -> Option<Self> {
        use serde_yaml_ng::Value;
        let parsed;
        let list = match value {
            Value::String(text) => {
                parsed = serde_yaml_ng::from_str::<Value>(text).ok()?;
                parsed.as_sequence()?
            }
            Value::Sequence(list) => list,
            _ => return None,
        };
        let first = list.first()?;
        let reliability = first.get("reliability")?.as_str()?;
        let durability = first.get("durability").and_then(Value::as_str).unwrap_or("volatile");
        match (reliability, durability) {
            (_, "transient_local") => Some(Qos::Latched),
            ("best_effort", _) => Some(Qos::SensorData),
            ("reliable", _) => Some(Qos::Reliable),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_yaml_round_trips() {
        for qos in [Qos::SensorData, Qos::Reliable, Qos::Latched] {
            let text = serde_yaml_ng::Value::String(qos.channel_yaml());
            assert_eq!(Qos::from_profiles(&text), Some(qos));
        }
    }
}
