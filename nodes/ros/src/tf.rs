//! Static transforms from `/tf_static`: `base_link` from any sensor frame, by chaining parents.
//! Used by the fusion node (sensor mountings) and the HMI node (which side a parking sensor
//! looks to).

use std::collections::BTreeMap;

use edgefuse_msgs::geometry_msgs::Transform;
use edgefuse_msgs::tf2_msgs::TFMessage;
use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion};

/// A rigid transform, `target_from_source`.
pub type Transform3 = Isometry3<f64>;

/// Why a transform is not available.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TfError {
    /// No chain of static transforms leads from the frame to the target.
    #[error("no static transform from '{frame}' to '{target}' (known frames: {known})")]
    Unknown {
        /// The frame asked for.
        frame: String,
        /// The target frame.
        target: String,
        /// Frames that have a parent.
        known: String,
    },
    /// A transform has a non-finite value or a zero quaternion.
    #[error("transform '{parent}' -> '{child}' is invalid: {reason}")]
    Invalid {
        /// Parent frame.
        parent: String,
        /// Child frame.
        child: String,
        /// What is wrong.
        reason: String,
    },
}

/// Converts a ROS transform (`parent_from_child`) into an isometry.
pub fn isometry(t: &Transform) -> Option<Transform3> {
    let q = Quaternion::new(t.rotation.w, t.rotation.x, t.rotation.y, t.rotation.z);
    let v = [
        t.translation.x,
        t.translation.y,
        t.translation.z,
        q.w,
        q.i,
        q.j,
        q.k,
    ];
    if v.iter().any(|x| !x.is_finite()) || q.norm() < 1e-9 {
        return None;
    }
    Some(Transform3::from_parts(
        Translation3::new(t.translation.x, t.translation.y, t.translation.z),
        UnitQuaternion::from_quaternion(q),
    ))
}

/// The static transform tree.
#[derive(Debug, Clone, Default)]
pub struct StaticTf {
    parent_of: BTreeMap<String, (String, Transform3)>,
}

impl StaticTf {
    /// Adds every transform of a `/tf_static` message (later ones replace earlier ones).
    pub fn add(&mut self, msg: &TFMessage) -> Result<(), TfError> {
        for ts in &msg.transforms {
            let parent = ts.header.frame_id.trim_start_matches('/').to_string();
            let child = ts.child_frame_id.trim_start_matches('/').to_string();
            let iso = isometry(&ts.transform).ok_or_else(|| TfError::Invalid {
                parent: parent.clone(),
                child: child.clone(),
                reason: "non-finite value or zero quaternion".into(),
            })?;
            self.parent_of.insert(child, (parent, iso));
        }
        Ok(())
    }

    /// `target_from_frame` by chaining static transforms up from `frame`.
    pub fn lookup(&self, target: &str, frame: &str) -> Result<Transform3, TfError> {
        let mut acc = Transform3::identity();
        let mut current = frame.trim_start_matches('/').to_string();
        for _ in 0..64 {
            if current == target {
                return Ok(acc);
            }
            let Some((parent, parent_from_current)) = self.parent_of.get(&current) else {
                break;
            };
            acc = parent_from_current * acc;
            current = parent.clone();
        }
        Err(TfError::Unknown {
            frame: frame.into(),
            target: target.into(),
            known: self
                .parent_of
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}
