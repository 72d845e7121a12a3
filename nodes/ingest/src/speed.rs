//! The vehicle's speed in the message types vehicles publish it in, as the topic contract's
//! `geometry_msgs/TwistWithCovarianceStamped` in `base_link`. Pure: no transport.

use edgefuse_msgs::autoware_vehicle_msgs::VelocityReport;
use edgefuse_msgs::geometry_msgs::{TwistStamped, TwistWithCovariance, TwistWithCovarianceStamped};
use edgefuse_msgs::nav_msgs::Odometry;
use edgefuse_msgs::std_msgs::Header;
use edgefuse_msgs::RosMessage;

/// A message type the vehicle's speed comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeedType {
    /// `geometry_msgs/msg/TwistWithCovarianceStamped` in `base_link` (the topic contract).
    TwistWithCovarianceStamped,
    /// `nav_msgs/msg/Odometry`: its twist, in its child frame (`base_link`, as REP 105 has it).
    Odometry,
    /// `geometry_msgs/msg/TwistStamped` in `base_link` (no variances).
    TwistStamped,
    /// Autoware's `autoware_vehicle_msgs/msg/VelocityReport` (longitudinal and lateral speed,
    /// heading rate; no variances).
    VelocityReport,
}

impl SpeedType {
    /// Every type, as the `vehicle_speed_type` parameter names it (the ROS type name).
    pub const ALL: [SpeedType; 4] = [
        SpeedType::TwistWithCovarianceStamped,
        SpeedType::Odometry,
        SpeedType::TwistStamped,
        SpeedType::VelocityReport,
    ];

    /// The ROS type name, `package/msg/Name`.
    pub fn type_name(self) -> &'static str {
        match self {
            SpeedType::TwistWithCovarianceStamped => TwistWithCovarianceStamped::TYPE_NAME,
            SpeedType::Odometry => Odometry::TYPE_NAME,
            SpeedType::TwistStamped => TwistStamped::TYPE_NAME,
            SpeedType::VelocityReport => VelocityReport::TYPE_NAME,
        }
    }

    /// The type of a ROS type name (`package/msg/Name`), `None` for any other.
    pub fn of_type_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.type_name() == name)
    }
}

/// The twist of a `nav_msgs/Odometry` with its variances, stamped in its child frame.
pub fn from_odometry(msg: &Odometry) -> TwistWithCovarianceStamped {
    TwistWithCovarianceStamped {
        header: in_frame(&msg.header, &msg.child_frame_id),
        twist: msg.twist,
    }
}

/// A `geometry_msgs/TwistStamped` with zero (unknown) variances.
pub fn from_twist_stamped(msg: &TwistStamped) -> TwistWithCovarianceStamped {
    TwistWithCovarianceStamped {
        header: msg.header.clone(),
        twist: TwistWithCovariance {
            twist: msg.twist,
            ..TwistWithCovariance::default()
        },
    }
}

/// An Autoware `VelocityReport` as a twist in its frame: `linear.x` the longitudinal speed,
/// `linear.y` the lateral, `angular.z` the heading rate; zero (unknown) variances.
pub fn from_velocity_report(msg: &VelocityReport) -> TwistWithCovarianceStamped {
    let mut twist = TwistWithCovariance::default();
    twist.twist.linear.x = f64::from(msg.longitudinal_velocity);
    twist.twist.linear.y = f64::from(msg.lateral_velocity);
    twist.twist.angular.z = f64::from(msg.heading_rate);
    TwistWithCovarianceStamped {
        header: msg.header.clone(),
        twist,
    }
}

/// `header` with `frame_id` replaced by `frame` when that is given.
fn in_frame(header: &Header, frame: &str) -> Header {
    Header {
        stamp: header.stamp,
        frame_id: if frame.is_empty() {
            header.frame_id.clone()
        } else {
            frame.to_string()
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_named_by_its_ros_type_name() {
        for t in SpeedType::ALL {
            assert_eq!(SpeedType::of_type_name(t.type_name()), Some(t));
        }
        assert_eq!(
            SpeedType::of_type_name("nav_msgs/msg/Odometry"),
            Some(SpeedType::Odometry)
        );
        assert_eq!(SpeedType::of_type_name("nav_msgs/Odometry"), None);
    }

    #[test]
    fn odometry_keeps_its_twist_and_variances_in_the_child_frame() {
        let mut o = Odometry::default();
        o.header.frame_id = "odom".into();
        o.header.stamp.sec = 12;
        o.child_frame_id = "base_link".into();
        o.twist.twist.linear.x = 7.5;
        o.twist.twist.angular.z = -0.2;
        o.twist.covariance[0] = 0.01;
        o.twist.covariance[35] = 0.002;
        let t = from_odometry(&o);
        assert_eq!(t.header.frame_id, "base_link");
        assert_eq!(t.header.stamp.sec, 12);
        assert_eq!(t.twist, o.twist);
        let r = VelocityReport {
            header: o.header.clone(),
            longitudinal_velocity: 3.25,
            lateral_velocity: 0.5,
            heading_rate: 0.125,
        };
        let t = from_velocity_report(&r);
        let l = t.twist.twist.linear;
        assert_eq!((l.x, l.y, t.twist.twist.angular.z), (3.25, 0.5, 0.125));
        assert_eq!(t.twist.covariance, [0.0; 36]);
    }
}
