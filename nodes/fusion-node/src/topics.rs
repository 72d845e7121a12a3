//! The topic contract as a typed enum: a topic name is parsed once into a [`ContractTopic`],
//! and everything downstream dispatches on the enum, never on the string.

/// A topic of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContractTopic {
    /// `/sensors/lidar/points`
    LidarPoints,
    /// `/sensors/radar/front/scan`
    RadarFront,
    /// `/sensors/camera/front/detections`
    CameraDetections,
    /// `/sensors/camera/front/camera_info`
    CameraInfo,
    /// `/sensors/camera/front/image_raw`
    CameraImage,
    /// `/sensors/ultrasonic/<position>/range`
    Ultrasonic(String),
    /// `/sensors/imu`
    Imu,
    /// `/vehicle/twist`
    VehicleTwist,
    /// `/tf_static`
    TfStatic,
    /// `/localization/odometry`
    Odometry,
    /// `/perception/objects`
    Objects,
    /// `/diagnostics`
    Diagnostics,
    /// `/ground_truth/objects`
    GroundTruthObjects,
    /// `/ground_truth/ego`
    GroundTruthEgo,
}

impl ContractTopic {
    /// Parses a topic name of the contract; `None` for any other topic.
    pub fn parse(topic: &str) -> Option<Self> {
        Some(match topic {
            "/sensors/lidar/points" => Self::LidarPoints,
            "/sensors/radar/front/scan" => Self::RadarFront,
            "/sensors/camera/front/detections" => Self::CameraDetections,
            "/sensors/camera/front/camera_info" => Self::CameraInfo,
            "/sensors/camera/front/image_raw" => Self::CameraImage,
            "/sensors/imu" => Self::Imu,
            "/vehicle/twist" => Self::VehicleTwist,
            "/tf_static" => Self::TfStatic,
            "/localization/odometry" => Self::Odometry,
            "/perception/objects" => Self::Objects,
            "/diagnostics" => Self::Diagnostics,
            "/ground_truth/objects" => Self::GroundTruthObjects,
            "/ground_truth/ego" => Self::GroundTruthEgo,
            other => {
                let position = other
                    .strip_prefix("/sensors/ultrasonic/")?
                    .strip_suffix("/range")?;
                if position.is_empty() || position.contains('/') {
                    return None;
                }
                Self::Ultrasonic(position.to_string())
            }
        })
    }

    /// The ROS type the contract gives the topic.
    pub fn type_name(&self) -> &'static str {
        use ::edgefuse_msgs::{
            diagnostic_msgs, edgefuse_msgs as own, geometry_msgs, nav_msgs, radar_msgs,
            sensor_msgs, tf2_msgs, vision_msgs, RosMessage,
        };
        match self {
            Self::LidarPoints => sensor_msgs::PointCloud2::TYPE_NAME,
            Self::RadarFront => radar_msgs::RadarScan::TYPE_NAME,
            Self::CameraDetections => vision_msgs::Detection2DArray::TYPE_NAME,
            Self::CameraInfo => sensor_msgs::CameraInfo::TYPE_NAME,
            Self::CameraImage => sensor_msgs::Image::TYPE_NAME,
            Self::Ultrasonic(_) => sensor_msgs::Range::TYPE_NAME,
            Self::Imu => sensor_msgs::Imu::TYPE_NAME,
            Self::VehicleTwist => geometry_msgs::TwistWithCovarianceStamped::TYPE_NAME,
            Self::TfStatic => tf2_msgs::TFMessage::TYPE_NAME,
            Self::Odometry | Self::GroundTruthEgo => nav_msgs::Odometry::TYPE_NAME,
            Self::Objects | Self::GroundTruthObjects => own::TrackedObjectArray::TYPE_NAME,
            Self::Diagnostics => diagnostic_msgs::DiagnosticArray::TYPE_NAME,
        }
    }

    /// The topic name.
    pub fn name(&self) -> String {
        match self {
            Self::LidarPoints => "/sensors/lidar/points".into(),
            Self::RadarFront => "/sensors/radar/front/scan".into(),
            Self::CameraDetections => "/sensors/camera/front/detections".into(),
            Self::CameraInfo => "/sensors/camera/front/camera_info".into(),
            Self::CameraImage => "/sensors/camera/front/image_raw".into(),
            Self::Ultrasonic(p) => format!("/sensors/ultrasonic/{p}/range"),
            Self::Imu => "/sensors/imu".into(),
            Self::VehicleTwist => "/vehicle/twist".into(),
            Self::TfStatic => "/tf_static".into(),
            Self::Odometry => "/localization/odometry".into(),
            Self::Objects => "/perception/objects".into(),
            Self::Diagnostics => "/diagnostics".into(),
            Self::GroundTruthObjects => "/ground_truth/objects".into(),
            Self::GroundTruthEgo => "/ground_truth/ego".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_rejects_others() {
        for t in [
            ContractTopic::LidarPoints,
            ContractTopic::Ultrasonic("rear_center_left".into()),
            ContractTopic::GroundTruthEgo,
        ] {
            assert_eq!(ContractTopic::parse(&t.name()), Some(t));
        }
        assert_eq!(ContractTopic::parse("/sensors/ultrasonic//range"), None);
        assert_eq!(ContractTopic::parse("/sensors/ultrasonic/a/b/range"), None);
        assert_eq!(ContractTopic::parse("/chatter"), None);
    }
}
