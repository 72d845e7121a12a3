//! The offline feed: a recorded bag as a time-ordered stream of fusion inputs (with the
//! recording's log time as arrival time), plus the ground truth of simulated drives. Messages
//! that cannot be used are counted per topic and reason and skipped, never fatal.

use std::collections::BTreeMap;

use edgefuse_bag::{BagReader, Messages, ReadOptions};
use edgefuse_fusion::types::{CameraModel, Input, Transform3, WheelTwist};
use edgefuse_msgs::autoware_vehicle_msgs::VelocityReport;
use edgefuse_msgs::edgefuse_msgs::TrackedObjectArray;
use edgefuse_msgs::nav_msgs::Odometry;
use edgefuse_msgs::{geometry_msgs, radar_msgs, sensor_msgs, tf2_msgs, vision_msgs, RosMessage};

use crate::convert;
use crate::tf::StaticTf;
use crate::topics::ContractTopic;

/// A payload and the topic it came on, as the converter sees it.
struct Raw<'a> {
    topic: &'a str,
    data: &'a [u8],
}

/// One item of the feed.
#[derive(Debug, Clone)]
pub enum FeedItem {
    /// A sensor input and the time it arrived (the bag's log time), ns.
    Input {
        /// Arrival time, ns.
        arrival_ns: i64,
        /// The input.
        input: Input,
    },
    /// Ground-truth objects (simulated drives).
    TruthObjects(TrackedObjectArray),
    /// Ground-truth ego pose (simulated drives).
    TruthEgo(Box<Odometry>),
    /// A camera image (not a fusion input: the detector's boxes are; kept for display).
    CameraImage(Box<sensor_msgs::Image>),
}

/// Contract messages (CDR payloads) to fusion inputs, keeping the state that takes: the static
/// transforms, the camera model, the ultrasonic indices. Used by the bag feed and by the live
/// fusion node alike. Messages that cannot be used are counted per topic and reason.
#[derive(Debug, Clone, Default)]
pub struct Converter {
    tf: StaticTf,
    camera: Option<CameraModel>,
    ultrasonic: BTreeMap<String, u8>,
    /// Messages skipped, per (topic, reason).
    pub skipped: BTreeMap<(String, String), u64>,
    /// Points dropped from clouds for non-finite coordinates.
    pub non_finite_points: u64,
    /// Decode camera images into [`FeedItem::CameraImage`] (for display); off by default, when
    /// they are passed over without being decoded.
    pub keep_images: bool,
}

/// What of a bag a feed reads, and under which topic names.
#[derive(Debug, Clone, Default)]
pub struct FeedOptions {
    /// The topics (by their names in the bag) and the time range to read.
    pub read: ReadOptions,
    /// A bag topic read as a contract topic (as `ros2 bag play --remap` does), e.g.
    /// `/ouster/points` as `/sensors/lidar/points`.
    pub remap: BTreeMap<String, String>,
}

impl FeedOptions {
    /// The contract name a bag topic is read as.
    pub fn contract_name<'n>(&'n self, bag_topic: &'n str) -> &'n str {
        remapped(&self.remap, bag_topic)
    }
}

/// The name `remap` gives a bag topic (its own when none).
fn remapped<'n>(remap: &'n BTreeMap<String, String>, bag_topic: &'n str) -> &'n str {
    remap.get(bag_topic).map_or(bag_topic, String::as_str)
}

/// The ultrasonic positions of a bag's contract topics, sorted: a sensor's index in this list
/// is its `SensorId::Ultrasonic` index (see [`BagFeed::with_ultrasonic`]).
pub fn ultrasonic_positions(reader: &BagReader) -> Vec<String> {
    ultrasonic_positions_with(reader, &FeedOptions::default())
}

/// [`ultrasonic_positions`] of the bag's topics that `options` selects, as it names them.
pub fn ultrasonic_positions_with(reader: &BagReader, options: &FeedOptions) -> Vec<String> {
    // Sorted and unique: the contract topics are, and a position is their only difference.
    contract_topics_with(reader, options)
        .into_iter()
        .filter_map(|t| match t {
            ContractTopic::Ultrasonic(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// The contract topics a feed with `options` reads from the bag (its selected topics as
/// `options` names them).
pub fn contract_topics_with(reader: &BagReader, options: &FeedOptions) -> Vec<ContractTopic> {
    let mut topics: Vec<ContractTopic> = reader
        .topics()
        .iter()
        .filter(|t| options.read.selects(&t.name))
        .filter_map(|t| ContractTopic::parse(options.contract_name(&t.name)))
        .collect();
    topics.sort();
    topics.dedup();
    topics
}

/// The type names of Autoware's `VelocityReport` (the current package, and the
/// `autoware_auto` one before it: the same fields).
const VELOCITY_REPORT_TYPES: [&str; 2] = [
    <VelocityReport as RosMessage>::TYPE_NAME,
    "autoware_auto_vehicle_msgs/msg/VelocityReport",
];

/// How a bag topic read as a contract topic is converted, from the type it was recorded with.
#[derive(Debug, Clone, PartialEq)]
enum Recorded {
    /// The contract's type (or no type recorded).
    AsContract,
    /// The vehicle's speed recorded as `nav_msgs/Odometry`.
    VehicleOdometry,
    /// The vehicle's speed recorded as Autoware's `VelocityReport`.
    VehicleVelocityReport,
    /// The vehicle's speed recorded as `geometry_msgs/TwistStamped`.
    VehicleTwistStamped,
    /// Another type: its messages are skipped and counted, never decoded as the contract's.
    Other(String),
}

/// A bag read as fusion inputs.
pub struct BagFeed<'a> {
    remap: BTreeMap<String, String>,
    /// Per bag topic read as a contract topic, how its recorded type is read.
    recorded: BTreeMap<String, Recorded>,
    messages: Messages<'a>,
    converter: Converter,
    /// The storage error that ended a file early, if any.
    pub storage_errors: Vec<String>,
}

impl<'a> BagFeed<'a> {
    /// Reads `reader` from the start; ultrasonic positions get indices in the order given
    /// (others, met later, get the next free index).
    pub fn with_ultrasonic(reader: &'a BagReader, positions: &[String]) -> Self {
        Self::with_options(reader, positions, &FeedOptions::default())
    }

    /// [`BagFeed::with_ultrasonic`], reading what `options` selects, under its topic names.
    pub fn with_options(
        reader: &'a BagReader,
        positions: &[String],
        options: &FeedOptions,
    ) -> Self {
        let mut converter = Converter::with_ultrasonic(positions);
        let mut storage_errors = Vec::new();
        // Started later than the bag: the static transforms recorded before the start still
        // hold (latched), so they are read first.
        if let Some(start_ns) = options.read.start_ns {
            let tf_topics: Vec<String> = reader
                .topics()
                .iter()
                .filter(|t| {
                    ContractTopic::parse(remapped(&options.remap, &t.name))
                        == Some(ContractTopic::TfStatic)
                        && (t.type_name.is_empty()
                            || t.type_name == ContractTopic::TfStatic.type_name())
                        && options.read.selects(&t.name)
                })
                .map(|t| t.name.clone())
                .collect();
            if !tf_topics.is_empty() {
                let before = ReadOptions {
                    topics: Some(tf_topics),
                    start_ns: None,
                    end_ns: Some(start_ns),
                };
                for m in reader.messages(&before) {
                    match m {
                        Ok(m) => {
                            let arrival_ns = i64::try_from(m.log_time_ns).unwrap_or(i64::MAX);
                            let _ = converter.convert(
                                ContractTopic::TfStatic,
                                &m.topic,
                                &m.data,
                                arrival_ns,
                            );
                        }
                        Err(e) => storage_errors.push(e.to_string()),
                    }
                }
            }
        }
        let recorded = reader
            .topics()
            .iter()
            .filter_map(|t| {
                let topic = ContractTopic::parse(remapped(&options.remap, &t.name))?;
                let how = if t.type_name.is_empty() || t.type_name == topic.type_name() {
                    Recorded::AsContract
                } else if topic == ContractTopic::VehicleTwist
                    && t.type_name == <Odometry as RosMessage>::TYPE_NAME
                {
                    Recorded::VehicleOdometry
                } else if topic == ContractTopic::VehicleTwist
                    && VELOCITY_REPORT_TYPES.contains(&t.type_name.as_str())
                {
                    Recorded::VehicleVelocityReport
                } else if topic == ContractTopic::VehicleTwist
                    && t.type_name == <geometry_msgs::TwistStamped as RosMessage>::TYPE_NAME
                {
                    Recorded::VehicleTwistStamped
                } else {
                    Recorded::Other(t.type_name.clone())
                };
                Some((t.name.clone(), how))
            })
            .collect();
        Self {
            remap: options.remap.clone(),
            recorded,
            messages: reader.messages(&options.read),
            converter,
            storage_errors,
        }
    }

    /// The ultrasonic positions seen so far, by sensor index.
    pub fn ultrasonic_names(&self) -> BTreeMap<u8, String> {
        self.converter.ultrasonic_names()
    }

    /// Messages skipped, per (topic, reason).
    pub fn skipped(&self) -> &BTreeMap<(String, String), u64> {
        &self.converter.skipped
    }

    /// Points dropped from clouds for non-finite coordinates.
    pub fn non_finite_points(&self) -> u64 {
        self.converter.non_finite_points
    }

    /// Decode camera images into [`FeedItem::CameraImage`] (off by default).
    pub fn keep_images(&mut self, keep: bool) {
        self.converter.keep_images = keep;
    }
}

impl Converter {
    /// Ultrasonic positions get indices in the order given (others, met later, get the next
    /// free index).
    pub fn with_ultrasonic(positions: &[String]) -> Self {
        Self {
            tf: StaticTf::default(),
            camera: None,
            ultrasonic: positions
                .iter()
                .enumerate()
                .map(|(i, p)| (p.clone(), u8::try_from(i).unwrap_or(u8::MAX)))
                .collect(),
            skipped: BTreeMap::new(),
            non_finite_points: 0,
            keep_images: false,
        }
    }

    /// The ultrasonic positions seen so far, by sensor index.
    pub fn ultrasonic_names(&self) -> BTreeMap<u8, String> {
        self.ultrasonic
            .iter()
            .map(|(k, v)| (*v, k.clone()))
            .collect()
    }

    fn skip(&mut self, topic: &str, reason: impl Into<String>) {
        *self
            .skipped
            .entry((topic.to_string(), reason.into()))
            .or_default() += 1;
    }

    fn mount(&mut self, topic: &str, frame: &str) -> Option<Transform3> {
        match self.tf.lookup("base_link", frame) {
            Ok(t) => Some(t),
            Err(_) => {
                self.skip(
                    topic,
                    format!("no /tf_static transform base_link <- '{frame}'"),
                );
                None
            }
        }
    }

    fn decode<M: RosMessage>(&mut self, m: &Raw<'_>) -> Option<M> {
        match M::decode(m.data) {
            Ok(v) => Some(v),
            Err(e) => {
                self.skip(m.topic, e.to_string());
                None
            }
        }
    }

    /// Converts one message of type `M` received on `topic_name` as the vehicle's speed and
    /// yaw rate with `to_wheel` (a vehicle that publishes them in another type than the
    /// contract's, its topic read as `/vehicle/twist`).
    pub fn convert_vehicle_speed<M: RosMessage>(
        &mut self,
        topic_name: &str,
        payload: &[u8],
        arrival_ns: i64,
        to_wheel: impl Fn(&M) -> WheelTwist,
    ) -> Option<FeedItem> {
        let m = &Raw {
            topic: topic_name,
            data: payload,
        };
        let msg: M = self.decode(m)?;
        Some(FeedItem::Input {
            arrival_ns,
            input: Input::Wheel(to_wheel(&msg)),
        })
    }

    /// Converts one message of `topic` (its name as received: `topic_name`) that arrived at
    /// `arrival_ns`; `None` when it is not a fusion input (state updates, other topics) or
    /// cannot be used (counted in `skipped`).
    pub fn convert(
        &mut self,
        topic: ContractTopic,
        topic_name: &str,
        payload: &[u8],
        arrival_ns: i64,
    ) -> Option<FeedItem> {
        let m = &Raw {
            topic: topic_name,
            data: payload,
        };
        let input = match topic {
            ContractTopic::TfStatic => {
                let msg: tf2_msgs::TFMessage = self.decode(m)?;
                if let Err(e) = self.tf.add(&msg) {
                    self.skip(m.topic, e.to_string());
                }
                return None;
            }
            ContractTopic::CameraInfo => {
                let info: sensor_msgs::CameraInfo = self.decode(m)?;
                let mount = self.mount(m.topic, &info.header.frame_id)?;
                match convert::camera_model(&info, mount) {
                    Ok(model) => self.camera = Some(model),
                    Err(e) => self.skip(m.topic, e.to_string()),
                }
                return None;
            }
            ContractTopic::GroundTruthObjects => return self.decode(m).map(FeedItem::TruthObjects),
            ContractTopic::GroundTruthEgo => {
                return self.decode(m).map(|o| FeedItem::TruthEgo(Box::new(o)))
            }
            ContractTopic::LidarPoints => {
                let cloud: sensor_msgs::PointCloud2 = self.decode(m)?;
                let mount = self.mount(m.topic, &cloud.header.frame_id)?;
                match convert::lidar_scan(&cloud, mount) {
                    Ok((scan, skips)) => {
                        self.non_finite_points += skips.non_finite;
                        Input::Lidar(scan)
                    }
                    Err(e) => {
                        self.skip(m.topic, e.to_string());
                        return None;
                    }
                }
            }
            ContractTopic::RadarFront => {
                let scan: radar_msgs::RadarScan = self.decode(m)?;
                let mount = self.mount(m.topic, &scan.header.frame_id)?;
                Input::Radar(convert::radar_scan(&scan, mount))
            }
            ContractTopic::CameraDetections => {
                let det: vision_msgs::Detection2DArray = self.decode(m)?;
                let Some(model) = self.camera else {
                    self.skip(m.topic, "no camera_info received yet");
                    return None;
                };
                Input::Camera(convert::camera_frame(&det, model))
            }
            ContractTopic::Ultrasonic(position) => {
                let range: sensor_msgs::Range = self.decode(m)?;
                let mount = self.mount(m.topic, &range.header.frame_id)?;
                let next = u8::try_from(self.ultrasonic.len()).unwrap_or(u8::MAX);
                let index = *self.ultrasonic.entry(position).or_insert(next);
                Input::Ultrasonic(convert::ultrasonic(&range, index, mount))
            }
            ContractTopic::Imu => {
                let imu: sensor_msgs::Imu = self.decode(m)?;
                let mount = self.mount(m.topic, &imu.header.frame_id)?;
                Input::Imu(convert::imu(&imu, mount))
            }
            ContractTopic::VehicleTwist => {
                let tw: geometry_msgs::TwistWithCovarianceStamped = self.decode(m)?;
                Input::Wheel(convert::wheel_twist(&tw))
            }
            ContractTopic::CameraImage if self.keep_images => {
                return self.decode(m).map(|i| FeedItem::CameraImage(Box::new(i)))
            }
            ContractTopic::CameraImage => return None,
            ContractTopic::Odometry | ContractTopic::Objects | ContractTopic::Diagnostics => {
                return None
            }
        };
        Some(FeedItem::Input { arrival_ns, input })
    }
}

impl Iterator for BagFeed<'_> {
    type Item = FeedItem;

    fn next(&mut self) -> Option<FeedItem> {
        loop {
            let m = match self.messages.next()? {
                Ok(m) => m,
                Err(e) => {
                    self.storage_errors.push(e.to_string());
                    continue;
                }
            };
            let name = remapped(&self.remap, &m.topic);
            let Some(topic) = ContractTopic::parse(name) else {
                continue;
            };
            let arrival_ns = i64::try_from(m.log_time_ns).unwrap_or(i64::MAX);
            let item = match self.recorded.get(&*m.topic) {
                Some(Recorded::VehicleOdometry) => self.converter.convert_vehicle_speed(
                    &m.topic,
                    &m.data,
                    arrival_ns,
                    convert::wheel_twist_from_odometry,
                ),
                Some(Recorded::VehicleVelocityReport) => self.converter.convert_vehicle_speed(
                    &m.topic,
                    &m.data,
                    arrival_ns,
                    convert::wheel_twist_from_velocity_report,
                ),
                Some(Recorded::VehicleTwistStamped) => self.converter.convert_vehicle_speed(
                    &m.topic,
                    &m.data,
                    arrival_ns,
                    convert::wheel_twist_from_twist_stamped,
                ),
                Some(Recorded::Other(type_name)) => {
                    let reason = format!(
                        "recorded as {type_name}, not {} (the type of {name})",
                        topic.type_name()
                    );
                    self.converter.skip(&m.topic, reason);
                    None
                }
                Some(Recorded::AsContract) | None => {
                    self.converter.convert(topic, &m.topic, &m.data, arrival_ns)
                }
            };
            if let Some(item) = item {
                return Some(item);
            }
        }
    }
}
