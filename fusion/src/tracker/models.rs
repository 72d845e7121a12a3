//! Measurement models `z = h(x) + noise` with their Jacobians `H = dh/dx`, for the state
//! `x = [px, py, vx, vy, omega, psi]` in `odom` (see module `imm`).

use crate::geometry::wrap_angle_rad;
use crate::types::{Box3, CameraModel, Detection2D, EgoState, RadarDetection, Transform3};
use nalgebra::{DMatrix, DVector, Isometry3, Point3, Vector6};

use super::config::{CameraConfig, LidarConfig, RadarConfig};
use super::imm::{HMat, Linearized, ResidualKind, I_PSI};

/// The parts of a track's shape the models need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Shape {
    pub length_m: f64,
    pub width_m: f64,
    pub height_m: f64,
    /// Box centre height in `odom`, m.
    pub z_m: f64,
    /// Whether the size has been observed often enough to be trusted (visible-corner logic).
    pub size_known: bool,
    /// Standard deviation of the length and the width, m (how far a centre placed behind a
    /// visible face can be off).
    pub extent_std_m: [f64; 2],
}

/// A planar pose `odom_from_X`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Planar {
    pub x_m: f64,
    pub y_m: f64,
    pub yaw_rad: f64,
}

impl Planar {
    /// The planar part (x, y, yaw about z) of a 3D transform.
    pub fn from_iso(iso: &Transform3) -> Self {
        let r = iso.rotation.to_rotation_matrix();
        let m = r.matrix();
        Self {
            x_m: iso.translation.vector.x,
            y_m: iso.translation.vector.y,
            yaw_rad: m[(1, 0)].atan2(m[(0, 0)]),
        }
    }
}

/// Velocity of a point rigidly attached to the ego body, in `odom`:
/// `v = speed [cos yaw, sin yaw] + yaw_rate × (R(yaw) lever)`, m/s.
pub(crate) fn ego_point_velocity(ego: &EgoState, lever_base_m: [f64; 2]) -> [f64; 2] {
    let (s, c) = ego.yaw_rad.sin_cos();
    let lx = c * lever_base_m[0] - s * lever_base_m[1];
    let ly = s * lever_base_m[0] + c * lever_base_m[1];
    [
        ego.speed_mps * c - ego.yaw_rate_radps * ly,
        ego.speed_mps * s + ego.yaw_rate_radps * lx,
    ]
}

// ------------------------------------------------------------------------------------------
// LiDAR
// ------------------------------------------------------------------------------------------

/// A LiDAR box turned into a measurement for one track: heading disambiguated, centre
/// corrected for a partially visible box, noise shaped by the box size.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LidarMeas {
    /// `[x_base, y_base, yaw_base]` or `[x_base, y_base]` for near-square boxes.
    pub z: DVector<f64>,
    pub r: DMatrix<f64>,
    /// Length and width after the length/width swap, m.
    pub length_m: f64,
    pub width_m: f64,
    /// Whether a dimension was shorter than the track's (partial view).
    pub truncated: bool,
    /// Per box axis (length, width): whether the centre was moved behind the visible face.
    pub corrected: [bool; 2],
    /// Time of the measurement relative to the tracker's time (the box's mean point time
    /// minus the sweep reference time), s.
    pub dt_s: f64,
}

/// Builds the measurement of box `b` (in `base_link`) for a track whose heading in `odom` is
/// `track_psi_rad` and whose shape is `shape`.
///
/// - Heading: the box heading is known only modulo pi, and an L-shape fit may swap length and
///   width; of `(yaw, L, W)` and `(yaw + pi/2, W, L)` the one closer (mod pi) to the track's
///   heading is used. Boxes with `|L - W| < square_tolerance` carry no heading.
/// - Visible corner: when the track's size is established and the box is shorter along an
///   axis, the sensor saw only the near side, so the centre is moved away from the viewpoint
///   by half the deficit along that axis and the noise grows by that amount.
/// - Noise: per box axis `sigma^2 = pos_std^2 + (k extent)^2 (+ (deficit/2)^2)`, rotated into
///   `base_link`.
pub(crate) fn lidar_measurement(
    cfg: &LidarConfig,
    ego: &Planar,
    b: &Box3,
    shape: &Shape,
    track_psi_rad: f64,
) -> LidarMeas {
    let psi_base = wrap_angle_rad(track_psi_rad - ego.yaw_rad);
    let half_dist = |a: f64| crate::geometry::wrap_half_turn_rad(a - psi_base).abs();
    let (mut yaw, mut len, mut wid) = (b.yaw_rad, b.length_m, b.width_m);
    let alt = b.yaw_rad + std::f64::consts::FRAC_PI_2;
    if half_dist(alt) < half_dist(yaw) {
        (yaw, len, wid) = (alt, b.width_m, b.length_m);
    }
    let (s, c) = yaw.sin_cos();
    let axis_a = [c, s];
    let axis_b = [-s, c];
    let mut centre = [b.x_m, b.y_m];
    let mut extra = [0.0, 0.0];
    let mut truncated = false;
    let mut corrected = [false; 2];
    if shape.size_known {
        let to_view = [
            cfg.viewpoint_base_m[0] - b.x_m,
            cfg.viewpoint_base_m[1] - b.y_m,
        ];
        // A box is short by up to one beam spacing at each end without being a partial view.
        let range_m = to_view[0].hypot(to_view[1]);
        let tolerance_m = 0.2 + 2.0 * range_m * cfg.beam_spacing_rad;
        for (k, (axis, (trk, meas))) in [
            (axis_a, (shape.length_m, len)),
            (axis_b, (shape.width_m, wid)),
        ]
        .into_iter()
        .enumerate()
        {
            let deficit = trk - meas;
            if deficit > tolerance_m {
                truncated = true;
                corrected[k] = true;
                let toward = to_view[0] * axis[0] + to_view[1] * axis[1];
                let sign = if toward >= 0.0 { -1.0 } else { 1.0 };
                centre[0] += sign * 0.5 * deficit * axis[0];
                centre[1] += sign * 0.5 * deficit * axis[1];
                extra[k] = (0.5 * shape.extent_std_m[k]).powi(2);
            }
        }
    }
    let var_a = cfg.pos_std_m.powi(2) + (cfg.pos_std_per_extent * len).powi(2) + extra[0];
    let var_b = cfg.pos_std_m.powi(2) + (cfg.pos_std_per_extent * wid).powi(2) + extra[1];
    let rot = nalgebra::Matrix2::new(c, -s, s, c);
    let rpos = rot * nalgebra::Matrix2::new(var_a, 0.0, 0.0, var_b) * rot.transpose();
    let with_yaw = (len - wid).abs() >= cfg.square_tolerance_m;
    let m = if with_yaw { 3 } else { 2 };
    let mut z = DVector::zeros(m);
    let mut r = DMatrix::zeros(m, m);
    z[0] = centre[0];
    z[1] = centre[1];
    r.view_mut((0, 0), (2, 2)).copy_from(&rpos);
    if with_yaw {
        z[2] = wrap_angle_rad(yaw);
        r[(2, 2)] = cfg.yaw_std_rad.powi(2);
    }
    LidarMeas {
        z,
        r,
        length_m: len,
        width_m: wid,
        truncated,
        corrected,
        dt_s: 0.0,
    }
}

/// LiDAR model in `base_link` (the ego pose of the sweep's reference time): the box was seen
/// `dt` after the tracker's time, so
/// `h(x) = [R(yaw_e)^T (p + v dt - t_e); psi - yaw_e]`,
/// `H = [R^T R^T dt 0 0; 0 0 0 0 0 1]` (the heading row only for 3-D measurements).
pub(crate) fn lidar_lin(meas: &LidarMeas, ego: &Planar, x: &Vector6<f64>) -> Linearized {
    let m = meas.z.len();
    let (s, c) = ego.yaw_rad.sin_cos();
    let dt = meas.dt_s;
    let (dx, dy) = (x[0] + x[2] * dt - ego.x_m, x[1] + x[3] * dt - ego.y_m);
    let mut hx = DVector::zeros(m);
    let mut h = HMat::zeros(m);
    hx[0] = c * dx + s * dy;
    hx[1] = -s * dx + c * dy;
    h[(0, 0)] = c;
    h[(0, 1)] = s;
    h[(1, 0)] = -s;
    h[(1, 1)] = c;
    h[(0, 2)] = c * dt;
    h[(0, 3)] = s * dt;
    h[(1, 2)] = -s * dt;
    h[(1, 3)] = c * dt;
    let mut kinds = vec![ResidualKind::Linear, ResidualKind::Linear];
    if m == 3 {
        hx[2] = wrap_angle_rad(x[I_PSI] - ego.yaw_rad);
        h[(2, I_PSI)] = 1.0;
        kinds.push(ResidualKind::HalfAngle);
    }
    Linearized {
        z: meas.z.clone(),
        hx,
        h,
        r: meas.r.clone(),
        kinds,
    }
}

// ------------------------------------------------------------------------------------------
// Radar
// ------------------------------------------------------------------------------------------

/// Radar geometry of one scan: the sensor pose and velocity in `odom`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RadarCtx {
    pub sensor: Planar,
    /// Sensor velocity in `odom`, m/s.
    pub v_sensor_mps: [f64; 2],
}

impl RadarCtx {
    pub fn new(ego: &EgoState, base_from_sensor: &Transform3) -> Self {
        let odom_from_sensor = ego.odom_from_base() * base_from_sensor;
        let lever = base_from_sensor.translation.vector;
        Self {
            sensor: Planar::from_iso(&odom_from_sensor),
            v_sensor_mps: ego_point_velocity(ego, [lever.x, lever.y]),
        }
    }
}

/// Ground-plane radar measurement `[r cos(el), az, doppler / cos(el)]` and its noise; range and
/// azimuth noise grow with the track's extent (the reflection point wanders over the body).
pub(crate) fn radar_measurement(
    cfg: &RadarConfig,
    det: &RadarDetection,
    extent_m: f64,
) -> (DVector<f64>, DMatrix<f64>) {
    let ce = det.elevation_rad.cos().max(0.5);
    let range = det.range_m * ce;
    let spread = cfg.reflection_spread_per_extent * extent_m;
    let z = DVector::from_vec(vec![
        range,
        wrap_angle_rad(det.azimuth_rad),
        det.doppler_mps / ce,
    ]);
    let r = DMatrix::from_diagonal(&DVector::from_vec(vec![
        cfg.range_std_m.powi(2) + spread.powi(2),
        cfg.azimuth_std_rad.powi(2) + (spread / range.max(1.0)).powi(2),
        cfg.doppler_std_mps.powi(2),
    ]));
    (z, r)
}

/// Half the extent of a box (length, width, heading psi) along the line of sight at
/// `bearing_rad`: how far the near surface is in front of the centre, m.
pub(crate) fn near_surface_offset_m(shape: &Shape, psi: f64, bearing_rad: f64) -> f64 {
    let phi = bearing_rad - psi;
    0.5 * (shape.length_m * phi.cos().abs() + shape.width_m * phi.sin().abs())
}

/// Radar model with `d = p - s`, `rho = |d|`, `u = d / rho`, `w = v - v_s`:
/// `h = [rho, atan2(d_y, d_x) - yaw_s, u·w]` (range rate positive moving away, relative to the
/// moving sensor), `H_rho = [u^T, 0]`, `H_az = [(-d_y, d_x)/rho^2, 0]`,
/// `H_rr = [(w - u (u·w))^T / rho, u^T, 0, 0]`. `None` closer than 0.1 m.
/// With `shape`, the return is from the near surface of the track's box: the predicted range is
/// the centre's minus [`near_surface_offset_m`] (held constant in `H`).
pub(crate) fn radar_lin_near(
    ctx: &RadarCtx,
    z: &DVector<f64>,
    r: &DMatrix<f64>,
    x: &Vector6<f64>,
    shape: Option<&Shape>,
) -> Option<Linearized> {
    let dx = x[0] - ctx.sensor.x_m;
    let dy = x[1] - ctx.sensor.y_m;
    let rho = dx.hypot(dy);
    if rho.is_nan() || rho <= 0.1 {
        return None;
    }
    let (ux, uy) = (dx / rho, dy / rho);
    let (wx, wy) = (x[2] - ctx.v_sensor_mps[0], x[3] - ctx.v_sensor_mps[1]);
    let rr = ux * wx + uy * wy;
    let near = shape.map_or(0.0, |sh| {
        near_surface_offset_m(sh, x[I_PSI], dy.atan2(dx)).min(0.5 * rho)
    });
    let hx = DVector::from_vec(vec![
        rho - near,
        wrap_angle_rad(dy.atan2(dx) - ctx.sensor.yaw_rad),
        rr,
    ]);
    let mut h = HMat::zeros(3);
    h[(0, 0)] = ux;
    h[(0, 1)] = uy;
    h[(1, 0)] = -dy / (rho * rho);
    h[(1, 1)] = dx / (rho * rho);
    h[(2, 0)] = (wx - ux * rr) / rho;
    h[(2, 1)] = (wy - uy * rr) / rho;
    h[(2, 2)] = ux;
    h[(2, 3)] = uy;
    Some(Linearized {
        z: z.clone(),
        hx,
        h,
        r: r.clone(),
        kinds: vec![
            ResidualKind::Linear,
            ResidualKind::Angle,
            ResidualKind::Linear,
        ],
    })
}

/// Inverse radar model: the return's position in `odom` and the absolute radial velocity along
/// the line of sight (`doppler + u·v_s`), for track birth.
pub(crate) fn radar_inverse(ctx: &RadarCtx, z: &DVector<f64>) -> ([f64; 2], [f64; 2], f64) {
    let bearing = ctx.sensor.yaw_rad + z[1];
    let (s, c) = bearing.sin_cos();
    let pos = [ctx.sensor.x_m + z[0] * c, ctx.sensor.y_m + z[0] * s];
    let radial = z[2] + c * ctx.v_sensor_mps[0] + s * ctx.v_sensor_mps[1];
    (pos, [c, s], radial)
}

// ------------------------------------------------------------------------------------------
// Camera
// ------------------------------------------------------------------------------------------

/// Camera geometry of one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CameraCtx {
    /// `optical_from_odom = (odom_from_base * base_from_optical)^-1`.
    pub optical_from_odom: Isometry3<f64>,
    pub model: CameraModel,
}

impl CameraCtx {
    pub fn new(ego: &EgoState, model: &CameraModel) -> Self {
        Self {
            optical_from_odom: (ego.odom_from_base() * model.base_from_optical).inverse(),
            model: *model,
        }
    }

    /// Pinhole projection `u = fx q_x / q_z + cx`, `v = fy q_y / q_z + cy` of an `odom` point
    /// with `q = optical_from_odom p`, and `d(u, v)/d(p_x, p_y)`. `None` closer than 0.5 m in
    /// depth.
    pub fn project(&self, p: [f64; 3]) -> Option<([f64; 2], [[f64; 2]; 2], f64)> {
        let q = self.optical_from_odom * Point3::new(p[0], p[1], p[2]);
        if q.z.is_nan() || q.z <= 0.5 {
            return None;
        }
        let rm = self.optical_from_odom.rotation.to_rotation_matrix();
        let rot = rm.matrix();
        let m = &self.model;
        let uv = [m.fx_px * q.x / q.z + m.cx_px, m.fy_px * q.y / q.z + m.cy_px];
        let mut jac = [[0.0; 2]; 2];
        for (j, col) in [0usize, 1].into_iter().enumerate() {
            let dqz = rot[(2, col)];
            jac[0][j] = m.fx_px * (rot[(0, col)] / q.z - q.x * dqz / (q.z * q.z));
            jac[1][j] = m.fy_px * (rot[(1, col)] / q.z - q.y * dqz / (q.z * q.z));
        }
        Some((uv, jac, q.z))
    }
}

/// Whether the detection's bottom edge is inside the image (then the ground-contact row is
/// used as a second measurement component).
pub(crate) fn camera_uses_bottom(model: &CameraModel, det: &Detection2D) -> bool {
    det.center_v_px + 0.5 * det.height_px < f64::from(model.height_px) - 2.0
}

/// Camera model: `z = [u_centre]` or `[u_centre, v_bottom]`; `h` projects the track's box
/// centre `(px, py, z)` and its bottom centre `(px, py, z - h/2)` (see [`CameraCtx::project`]).
/// Noise: `u_std^2 + (k w_px)^2`, `v_std^2 + (k h_px)^2`.
pub(crate) fn camera_lin(
    ctx: &CameraCtx,
    cfg: &CameraConfig,
    det: &Detection2D,
    shape: &Shape,
    x: &Vector6<f64>,
) -> Option<Linearized> {
    let use_bottom = camera_uses_bottom(&ctx.model, det);
    let m = if use_bottom { 2 } else { 1 };
    let (uv_c, jac_c, _) = ctx.project([x[0], x[1], shape.z_m])?;
    let mut z = DVector::zeros(m);
    let mut hx = DVector::zeros(m);
    let mut h = HMat::zeros(m);
    let mut r = DMatrix::zeros(m, m);
    z[0] = det.center_u_px;
    hx[0] = uv_c[0];
    h[(0, 0)] = jac_c[0][0];
    h[(0, 1)] = jac_c[0][1];
    r[(0, 0)] = cfg.u_std_px.powi(2) + (cfg.std_per_box_px * det.width_px).powi(2);
    if use_bottom {
        let (uv_b, jac_b, _) = ctx.project([x[0], x[1], shape.z_m - 0.5 * shape.height_m])?;
        z[1] = det.center_v_px + 0.5 * det.height_px;
        hx[1] = uv_b[1];
        h[(1, 0)] = jac_b[1][0];
        h[(1, 1)] = jac_b[1][1];
        r[(1, 1)] = cfg.v_bottom_std_px.powi(2) + (cfg.std_per_box_px * det.height_px).powi(2);
    }
    Some(Linearized {
        z,
        hx,
        h,
        r,
        kinds: vec![ResidualKind::Linear; m],
    })
}

// ------------------------------------------------------------------------------------------
// Ultrasonic
// ------------------------------------------------------------------------------------------

/// Ultrasonic geometry of one reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct UltraCtx {
    pub sensor: Planar,
    pub half_fov_rad: f64,
    pub max_range_m: f64,
}

/// The point of the track's box (centre `(px, py)`, heading psi, length, width) nearest to
/// the sensor and its distance; `None` when the sensor is inside the box.
fn nearest_on_box(ctx: &UltraCtx, shape: &Shape, x: &Vector6<f64>) -> Option<([f64; 2], f64)> {
    let (s, c) = x[I_PSI].sin_cos();
    let (dx, dy) = (ctx.sensor.x_m - x[0], ctx.sensor.y_m - x[1]);
    let (bx, by) = (c * dx + s * dy, -s * dx + c * dy);
    let (hl, hw) = (0.5 * shape.length_m, 0.5 * shape.width_m);
    let (nx, ny) = (bx.clamp(-hl, hl), by.clamp(-hw, hw));
    let n = [x[0] + c * nx - s * ny, x[1] + s * nx + c * ny];
    let dist = (n[0] - ctx.sensor.x_m).hypot(n[1] - ctx.sensor.y_m);
    (dist > 1e-3).then_some((n, dist))
}

/// The predicted echo range if the track's nearest box point lies inside the cone and range.
pub(crate) fn ultrasonic_predicted_range(
    ctx: &UltraCtx,
    shape: &Shape,
    x: &Vector6<f64>,
) -> Option<f64> {
    let (n, dist) = nearest_on_box(ctx, shape, x)?;
    let bearing =
        wrap_angle_rad((n[1] - ctx.sensor.y_m).atan2(n[0] - ctx.sensor.x_m) - ctx.sensor.yaw_rad);
    (bearing.abs() <= ctx.half_fov_rad && dist <= ctx.max_range_m).then_some(dist)
}

/// Ultrasonic model: `h(x) = |n(x) - s|` with `n` the box point nearest to the sensor;
/// `H = [(n - s)^T / |n - s|, 0, 0, 0, 0]` (moving the box moves `n` along the clamped axes
/// only, which are exactly the components of `n - s`).
pub(crate) fn ultrasonic_lin(
    ctx: &UltraCtx,
    range_m: f64,
    std_m: f64,
    shape: &Shape,
    x: &Vector6<f64>,
) -> Option<Linearized> {
    let (n, dist) = nearest_on_box(ctx, shape, x)?;
    let mut h = HMat::zeros(1);
    h[(0, 0)] = (n[0] - ctx.sensor.x_m) / dist;
    h[(0, 1)] = (n[1] - ctx.sensor.y_m) / dist;
    Some(Linearized {
        z: DVector::from_element(1, range_m),
        hx: DVector::from_element(1, dist),
        h,
        r: DMatrix::from_element(1, 1, std_m * std_m),
        kinds: vec![ResidualKind::Linear],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Rotation3, Translation3, UnitQuaternion, Vector3};

    fn numeric_h(
        f: impl Fn(&Vector6<f64>) -> DVector<f64>,
        x: &Vector6<f64>,
        m: usize,
    ) -> DMatrix<f64> {
        let mut j = DMatrix::zeros(m, 6);
        for k in 0..6 {
            let e = 1e-6;
            let mut xp = *x;
            let mut xm = *x;
            xp[k] += e;
            xm[k] -= e;
            let d = (f(&xp) - f(&xm)) / (2.0 * e);
            j.set_column(k, &d);
        }
        j
    }

    fn assert_close(a: &HMat, b: &DMatrix<f64>, tol: f64) {
        for i in 0..a.nrows() {
            for j in 0..6 {
                assert!(
                    (a[(i, j)] - b[(i, j)]).abs() < tol,
                    "({i},{j}) {} vs {}",
                    a[(i, j)],
                    b[(i, j)]
                );
            }
        }
    }

    fn ego() -> EgoState {
        EgoState {
            x_m: 10.0,
            y_m: -3.0,
            yaw_rad: 0.4,
            speed_mps: 7.0,
            yaw_rate_radps: 0.1,
            ..Default::default()
        }
    }

    pub(crate) fn front_camera() -> CameraModel {
        let rot = Rotation3::from_matrix_unchecked(nalgebra::Matrix3::new(
            0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, -1.0, 0.0,
        ));
        CameraModel {
            fx_px: 1000.0,
            fy_px: 1000.0,
            cx_px: 640.0,
            cy_px: 360.0,
            width_px: 1280,
            height_px: 720,
            base_from_optical: Isometry3::from_parts(
                Translation3::new(1.5, 0.0, 1.4),
                UnitQuaternion::from_rotation_matrix(&rot),
            ),
        }
    }

    #[test]
    fn radar_jacobian_matches_numeric() {
        let mount = Isometry3::new(Vector3::new(3.7, 0.3, 0.5), Vector3::new(0.0, 0.0, 0.1));
        let ctx = RadarCtx::new(&ego(), &mount);
        let z = DVector::from_vec(vec![1.0, 0.0, 0.0]);
        let r = DMatrix::identity(3, 3);
        let x = Vector6::new(40.0, 12.0, 5.0, -2.0, 0.1, 0.3);
        let Some(lin) = radar_lin_near(&ctx, &z, &r, &x, None) else {
            panic!("lin")
        };
        let num = numeric_h(
            |x| {
                radar_lin_near(&ctx, &z, &r, x, None)
                    .map(|l| l.hx)
                    .unwrap_or_default()
            },
            &x,
            3,
        );
        assert_close(&lin.h, &num, 1e-5);
    }

    #[test]
    fn radar_doppler_of_static_object_is_minus_ego_speed() {
        // Ego moving straight along +x at 10 m/s, object straight ahead and static.
        let e = EgoState {
            speed_mps: 10.0,
            ..Default::default()
        };
        let ctx = RadarCtx::new(&e, &Isometry3::identity());
        let x = Vector6::new(30.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        let z = DVector::zeros(3);
        let Some(lin) = radar_lin_near(&ctx, &z, &DMatrix::identity(3, 3), &x, None) else {
            panic!("lin")
        };
        assert!((lin.hx[2] + 10.0).abs() < 1e-12);
    }

    #[test]
    fn camera_and_lidar_jacobians_match_numeric() {
        let e = ego();
        let ctx = CameraCtx::new(&e, &front_camera());
        let shape = Shape {
            length_m: 4.5,
            width_m: 1.8,
            height_m: 1.5,
            z_m: 0.75,
            size_known: true,
            extent_std_m: [0.1, 0.1],
        };
        let det = Detection2D {
            center_u_px: 600.0,
            center_v_px: 400.0,
            width_px: 50.0,
            height_px: 30.0,
            class: crate::types::ObjectClass::Car,
            score: 0.9,
        };
        let (s, c) = e.yaw_rad.sin_cos();
        let x = Vector6::new(
            e.x_m + 25.0 * c + 2.0 * s,
            e.y_m + 25.0 * s - 2.0 * c,
            3.0,
            1.0,
            0.0,
            0.2,
        );
        let cfg = CameraConfig::default();
        let Some(lin) = camera_lin(&ctx, &cfg, &det, &shape, &x) else {
            panic!("behind")
        };
        assert_eq!(lin.z.len(), 2);
        let num = numeric_h(
            |x| {
                camera_lin(&ctx, &cfg, &det, &shape, x)
                    .map(|l| l.hx)
                    .unwrap_or_default()
            },
            &x,
            2,
        );
        assert_close(&lin.h, &num, 1e-4);
        // The point straight ahead projects to the principal point column.
        let ahead = Vector6::new(
            e.x_m + 1.5 * c + 20.0 * c,
            e.y_m + 1.5 * s + 20.0 * s,
            0.0,
            0.0,
            0.0,
            0.0,
        );
        let Some(l2) = camera_lin(&ctx, &cfg, &det, &Shape { z_m: 1.4, ..shape }, &ahead) else {
            panic!("behind")
        };
        assert!((l2.hx[0] - 640.0).abs() < 1e-6);

        let pe = Planar {
            x_m: e.x_m,
            y_m: e.y_m,
            yaw_rad: e.yaw_rad,
        };
        let b = Box3 {
            x_m: 20.0,
            y_m: 3.0,
            z_m: 0.8,
            yaw_rad: 0.1,
            length_m: 4.4,
            width_m: 1.8,
            height_m: 1.5,
        };
        let meas = lidar_measurement(&LidarConfig::default(), &pe, &b, &shape, 0.5);
        let lin = lidar_lin(&meas, &pe, &x);
        let num = numeric_h(|x| lidar_lin(&meas, &pe, x).hx, &x, 3);
        assert_close(&lin.h, &num, 1e-6);
    }

    #[test]
    fn lidar_swaps_length_and_width_and_corrects_visible_corner() {
        let pe = Planar {
            x_m: 0.0,
            y_m: 0.0,
            yaw_rad: 0.0,
        };
        let shape = Shape {
            length_m: 4.5,
            width_m: 1.8,
            height_m: 1.5,
            z_m: 0.75,
            size_known: true,
            extent_std_m: [0.1, 0.1],
        };
        // An L-shape fit that reports the box turned by 90 degrees.
        let b = Box3 {
            x_m: 20.0,
            y_m: 0.0,
            z_m: 0.8,
            yaw_rad: std::f64::consts::FRAC_PI_2,
            length_m: 1.8,
            width_m: 4.5,
            height_m: 1.5,
        };
        let m = lidar_measurement(&LidarConfig::default(), &pe, &b, &shape, 0.0);
        assert!((m.length_m - 4.5).abs() < 1e-12 && (m.width_m - 1.8).abs() < 1e-12);
        assert!(wrap_angle_rad(m.z[2]).sin().abs() < 1e-9);
        // Only the rear 2.5 m are seen: the centre moves 1 m away from the sensor.
        let seen = Box3 {
            x_m: 19.0,
            yaw_rad: 0.0,
            length_m: 2.5,
            width_m: 1.8,
            ..b
        };
        let m = lidar_measurement(&LidarConfig::default(), &pe, &seen, &shape, 0.0);
        assert!(m.truncated && (m.z[0] - 20.0).abs() < 1e-9, "{}", m.z);
    }

    #[test]
    fn ultrasonic_jacobian_and_cone() {
        let ctx = UltraCtx {
            sensor: Planar {
                x_m: 0.0,
                y_m: 0.0,
                yaw_rad: 0.0,
            },
            half_fov_rad: 0.5,
            max_range_m: 5.0,
        };
        let shape = Shape {
            length_m: 4.0,
            width_m: 2.0,
            height_m: 1.5,
            z_m: 0.75,
            size_known: true,
            extent_std_m: [0.1, 0.1],
        };
        let x = Vector6::new(3.5, 0.4, 0.0, 0.0, 0.0, 0.3);
        let Some(r) = ultrasonic_predicted_range(&ctx, &shape, &x) else {
            panic!("not in cone")
        };
        assert!(r > 0.5 && r < 3.5);
        let Some(lin) = ultrasonic_lin(&ctx, 1.0, 0.1, &shape, &x) else {
            panic!("inside")
        };
        let num = numeric_h(
            |x| {
                ultrasonic_lin(&ctx, 1.0, 0.1, &shape, x)
                    .map(|l| l.hx)
                    .unwrap_or_default()
            },
            &x,
            1,
        );
        for j in 0..2 {
            assert!((lin.h[(0, j)] - num[(0, j)]).abs() < 1e-5);
        }
        let behind = Vector6::new(-4.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        assert!(ultrasonic_predicted_range(&ctx, &shape, &behind).is_none());
    }
}
