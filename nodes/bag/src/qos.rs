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
        // rosbag2 (Jazzy, Kilted) writes an infinite duration as this sentinel.
        let inf = "{sec: 9223372036, nsec: 854775807}";
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
        // Version 9 spells policies as names; earlier versions as rmw enum integers
        // (reliability 1 = reliable, 2 = best effort; durability 1 = transient local, 2 = volatile).
        let policy = |key: &str, names: [&str; 2]| -> Option<usize> {
            match first.get(key)? {
                Value::String(s) => names.iter().position(|n| n == s),
                Value::Number(n) => match n.as_u64()? {
                    1 => Some(0),
                    2 => Some(1),
                    _ => None,
                },
                _ => None,
            }
        };
        let reliable = policy("reliability", ["reliable", "best_effort"])? == 0;
        let transient = policy("durability", ["transient_local", "volatile"]) == Some(0);
        Some(match (reliable, transient) {
            (true, true) => Qos::Latched,
            (true, false) => Qos::Reliable,
            // Best effort never delivers latched data reliably; it is sensor-style data.
            (false, _) => Qos::SensorData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_8_integer_policies_parse() {
        let v8 = serde_yaml_ng::Value::String(
            "- history: 3\n  depth: 0\n  reliability: 1\n  durability: 1\n".into(),
        );
        assert_eq!(Qos::from_profiles(&v8), Some(Qos::Latched));
        let v8 = serde_yaml_ng::Value::String(
            "- history: 1\n  depth: 5\n  reliability: 2\n  durability: 2\n".into(),
        );
        assert_eq!(Qos::from_profiles(&v8), Some(Qos::SensorData));
    }

    #[test]
    fn channel_yaml_round_trips() {
        for qos in [Qos::SensorData, Qos::Reliable, Qos::Latched] {
            let text = serde_yaml_ng::Value::String(qos.channel_yaml());
            assert_eq!(Qos::from_profiles(&text), Some(qos));
        }
    }
}
