//! Small fixed-size geometry: 3-vectors, rotations and rigid transforms (`odom_from_base` style).

use edgefuse_msgs::geometry_msgs;

/// A 3-vector in metres (or m/s, rad/s, depending on use).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct V3 {
    /// x component.
    pub x: f64,
    /// y component.
    pub y: f64,
    /// z component.
    pub z: f64,
}

impl V3 {
    /// A vector from components.
    pub const fn new(x: f64, y: f64, z: f64) -> Self {
        Self { x, y, z }
    }
    /// Dot product.
    pub fn dot(self, o: V3) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }
    /// Cross product `self × o`.
    pub fn cross(self, o: V3) -> V3 {
        V3::new(
            self.y * o.z - self.z * o.y,
            self.z * o.x - self.x * o.z,
            self.x * o.y - self.y * o.x,
        )
    }
    /// Euclidean norm.
    pub fn norm(self) -> f64 {
        self.dot(self).sqrt()
    }
    /// Unit vector (or zero when the norm is zero).
    pub fn normalized(self) -> V3 {
        let n = self.norm();
        if n > 0.0 {
            self * (1.0 / n)
        } else {
            self
        }
    }
}

impl std::ops::Add for V3 {
    type Output = V3;
    fn add(self, o: V3) -> V3 {
        V3::new(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}
impl std::ops::Sub for V3 {
    type Output = V3;
    fn sub(self, o: V3) -> V3 {
        V3::new(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}
impl std::ops::Mul<f64> for V3 {
    type Output = V3;
    fn mul(self, k: f64) -> V3 {
        V3::new(self.x * k, self.y * k, self.z * k)
    }
}
impl std::ops::Neg for V3 {
    type Output = V3;
    fn neg(self) -> V3 {
        V3::new(-self.x, -self.y, -self.z)
    }
}

/// A rotation matrix, row-major: `v_parent = R * v_child`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rot(pub [[f64; 3]; 3]);

impl Rot {
    /// The identity.
    pub const IDENTITY: Rot = Rot([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);

    /// `R = Rz(yaw) Ry(pitch) Rx(roll)` (ROS fixed-axis roll-pitch-yaw), angles in radians.
    pub fn from_rpy(roll_rad: f64, pitch_rad: f64, yaw_rad: f64) -> Rot {
        let (sr, cr) = roll_rad.sin_cos();
        let (sp, cp) = pitch_rad.sin_cos();
        let (sy, cy) = yaw_rad.sin_cos();
        Rot([
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ])
    }

    /// Rotation of `yaw_rad` about +z.
    pub fn from_yaw(yaw_rad: f64) -> Rot {
        Rot::from_rpy(0.0, 0.0, yaw_rad)
    }

    /// `R * v`.
    pub fn apply(&self, v: V3) -> V3 {
        let m = &self.0;
        V3::new(
            m[0][0] * v.x + m[0][1] * v.y + m[0][2] * v.z,
            m[1][0] * v.x + m[1][1] * v.y + m[1][2] * v.z,
            m[2][0] * v.x + m[2][1] * v.y + m[2][2] * v.z,
        )
    }

    /// `Rᵀ * v` (the inverse rotation).
    pub fn apply_inv(&self, v: V3) -> V3 {
        let m = &self.0;
        V3::new(
            m[0][0] * v.x + m[1][0] * v.y + m[2][0] * v.z,
            m[0][1] * v.x + m[1][1] * v.y + m[2][1] * v.z,
            m[0][2] * v.x + m[1][2] * v.y + m[2][2] * v.z,
        )
    }

    /// `self * o`.
    pub fn mul(&self, o: &Rot) -> Rot {
        let mut r = [[0.0; 3]; 3];
        for (i, row) in r.iter_mut().enumerate() {
            for (j, cell) in row.iter_mut().enumerate() {
                *cell = (0..3).map(|k| self.0[i][k] * o.0[k][j]).sum();
            }
        }
        Rot(r)
    }

    /// Transpose (inverse).
    pub fn transpose(&self) -> Rot {
        let m = &self.0;
        Rot([
            [m[0][0], m[1][0], m[2][0]],
            [m[0][1], m[1][1], m[2][1]],
            [m[0][2], m[1][2], m[2][2]],
        ])
    }

    /// Unit quaternion of this rotation (Shepperd's method).
    pub fn to_quaternion(&self) -> geometry_msgs::Quaternion {
        let m = &self.0;
        let tr = m[0][0] + m[1][1] + m[2][2];
        let (x, y, z, w);
        if tr > 0.0 {
            let s = (tr + 1.0).sqrt() * 2.0;
            w = 0.25 * s;
            x = (m[2][1] - m[1][2]) / s;
            y = (m[0][2] - m[2][0]) / s;
            z = (m[1][0] - m[0][1]) / s;
        } else if m[0][0] > m[1][1] && m[0][0] > m[2][2] {
            let s = (1.0 + m[0][0] - m[1][1] - m[2][2]).sqrt() * 2.0;
            w = (m[2][1] - m[1][2]) / s;
            x = 0.25 * s;
            y = (m[0][1] + m[1][0]) / s;
            z = (m[0][2] + m[2][0]) / s;
        } else if m[1][1] > m[2][2] {
            let s = (1.0 + m[1][1] - m[0][0] - m[2][2]).sqrt() * 2.0;
            w = (m[0][2] - m[2][0]) / s;
            x = (m[0][1] + m[1][0]) / s;
            y = 0.25 * s;
            z = (m[1][2] + m[2][1]) / s;
        } else {
            let s = (1.0 + m[2][2] - m[0][0] - m[1][1]).sqrt() * 2.0;
            w = (m[1][0] - m[0][1]) / s;
            x = (m[0][2] + m[2][0]) / s;
            y = (m[1][2] + m[2][1]) / s;
            z = 0.25 * s;
        }
        geometry_msgs::Quaternion { x, y, z, w }
    }
}

/// A rigid transform `parent_from_child`: `p_parent = rot * p_child + trans`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Iso {
    /// Rotation part.
    pub rot: Rot,
    /// Translation part, metres.
    pub trans: V3,
}

impl Iso {
    /// A planar pose: position `(x, y, z)` and yaw about +z.
    pub fn planar(x_m: f64, y_m: f64, z_m: f64, yaw_rad: f64) -> Iso {
        Iso {
            rot: Rot::from_yaw(yaw_rad),
            trans: V3::new(x_m, y_m, z_m),
        }
    }
    /// Maps a point from the child frame into the parent frame.
    pub fn point(&self, p: V3) -> V3 {
        self.rot.apply(p) + self.trans
    }
    /// Maps a direction from the child frame into the parent frame.
    pub fn dir(&self, d: V3) -> V3 {
        self.rot.apply(d)
    }
    /// Maps a point from the parent frame into the child frame.
    pub fn inv_point(&self, p: V3) -> V3 {
        self.rot.apply_inv(p - self.trans)
    }
    /// `self ∘ o` (`a_from_c = a_from_b ∘ b_from_c`).
    pub fn compose(&self, o: &Iso) -> Iso {
        Iso {
            rot: self.rot.mul(&o.rot),
            trans: self.rot.apply(o.trans) + self.trans,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quaternion_matches_msgs_rpy() {
        let (r, p, y) = (0.3, -0.2, 1.1);
        let q = Rot::from_rpy(r, p, y).to_quaternion();
        let e = geometry_msgs::Quaternion::from_rpy(r, p, y);
        let same = (q.x - e.x).abs() + (q.y - e.y).abs() + (q.z - e.z).abs() + (q.w - e.w).abs();
        let flipped = (q.x + e.x).abs() + (q.y + e.y).abs() + (q.z + e.z).abs() + (q.w + e.w).abs();
        assert!(same.min(flipped) < 1e-12, "{q:?} vs {e:?}");
    }

    #[test]
    fn compose_and_inverse() {
        let a = Iso {
            rot: Rot::from_rpy(0.1, 0.2, 0.3),
            trans: V3::new(1.0, 2.0, 3.0),
        };
        let p = V3::new(0.5, -0.7, 2.0);
        let back = a.inv_point(a.point(p));
        assert!((back - p).norm() < 1e-12);
    }
}
