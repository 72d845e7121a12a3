//! Kinematic state, the two motion models, the IMM that mixes them, and the EKF update.
//!
//! State `x = [px, py, vx, vy, omega, psi]` in `odom`: position (m), velocity (m/s), turn rate
//! (rad/s) and box heading (rad). Both models share it:
//! - constant velocity (CV): `p' = p + v dt`, `v' = v`, `omega' = 0`, `psi' = psi`;
//! - constant turn (CT): the velocity vector rotates at `omega`,
//!   `p' = p + [sin(w dt)/w, -(1-cos(w dt))/w; (1-cos(w dt))/w, sin(w dt)/w] v`,
//!   `v' = R(w dt) v`, `omega' = omega`, `psi' = psi + omega dt`.

use crate::geometry::wrap_angle_rad;
use nalgebra::{DMatrix, DVector, Dyn, Matrix6, OMatrix, Vector6, U6};

use super::config::ProcessNoise;

/// Index of the turn rate in the state.
pub(crate) const I_OMEGA: usize = 4;
/// Index of the box heading in the state.
pub(crate) const I_PSI: usize = 5;

/// A measurement Jacobian: `m` rows, one column per state component.
pub(crate) type HMat = OMatrix<f64, Dyn, U6>;

/// A Gaussian over the kinematic state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Gaussian {
    pub x: Vector6<f64>,
    pub p: Matrix6<f64>,
}

/// `a - b` with the heading component wrapped.
fn state_diff(a: &Vector6<f64>, b: &Vector6<f64>) -> Vector6<f64> {
    let mut d = a - b;
    d[I_PSI] = wrap_angle_rad(d[I_PSI]);
    d
}

/// Constant-velocity transition and its Jacobian over `dt_s`.
pub(crate) fn predict_cv(x: &Vector6<f64>, dt_s: f64) -> (Vector6<f64>, Matrix6<f64>) {
    let mut f = Matrix6::identity();
    f[(0, 2)] = dt_s;
    f[(1, 3)] = dt_s;
    f[(I_OMEGA, I_OMEGA)] = 0.0;
    (f * x, f)
}

/// Constant-turn transition and its Jacobian over `dt_s` (Taylor limits for `|omega dt| < 1e-4`).
pub(crate) fn predict_ct(x: &Vector6<f64>, dt_s: f64) -> (Vector6<f64>, Matrix6<f64>) {
    let (vx, vy, w) = (x[2], x[3], x[I_OMEGA]);
    let t = dt_s;
    let wt = w * t;
    let (s, c) = wt.sin_cos();
    // a = sin(wt)/w, b = (1 - cos(wt))/w and their derivatives in w.
    let (a, b, da, db) = if wt.abs() < 1e-4 {
        (
            t - w * w * t * t * t / 6.0,
            w * t * t / 2.0,
            -w * t * t * t / 3.0,
            t * t / 2.0,
        )
    } else {
        (
            s / w,
            (1.0 - c) / w,
            (t * c * w - s) / (w * w),
            (t * s * w - (1.0 - c)) / (w * w),
        )
    };
    let mut xn = *x;
    xn[0] = x[0] + a * vx - b * vy;
    xn[1] = x[1] + b * vx + a * vy;
    xn[2] = c * vx - s * vy;
    xn[3] = s * vx + c * vy;
    xn[I_PSI] = wrap_angle_rad(x[I_PSI] + wt);
    let mut f = Matrix6::identity();
    f[(0, 2)] = a;
    f[(0, 3)] = -b;
    f[(1, 2)] = b;
    f[(1, 3)] = a;
    f[(2, 2)] = c;
    f[(2, 3)] = -s;
    f[(3, 2)] = s;
    f[(3, 3)] = c;
    f[(0, I_OMEGA)] = da * vx - db * vy;
    f[(1, I_OMEGA)] = db * vx + da * vy;
    f[(2, I_OMEGA)] = -t * s * vx - t * c * vy;
    f[(3, I_OMEGA)] = t * c * vx - t * s * vy;
    f[(I_PSI, I_OMEGA)] = t;
    (xn, f)
}

/// Discrete process noise: white acceleration on (vx, vy) with variance `q_a = accel_std^2`
/// (`Q_pp = q_a dt^4/4`, `Q_pv = q_a dt^3/2`, `Q_vv = q_a dt^2`); for CT a white turn
/// acceleration on omega and psi (`Q_ww = q_w dt`, `Q_psi_w = q_w dt^2/2`,
/// `Q_psipsi = q_w dt^3/3`); for CV omega is held near zero (`Q_ww = (0.02 rad/s)^2`).
/// Both add a small heading random walk `(0.05 rad)^2/s` so the box heading can settle.
pub(crate) fn process_noise(noise: &ProcessNoise, dt_s: f64, turn: bool) -> Matrix6<f64> {
    let qa = noise.accel_std_mps2 * noise.accel_std_mps2;
    let t = dt_s;
    let mut q = Matrix6::zeros();
    for (ip, iv) in [(0, 2), (1, 3)] {
        q[(ip, ip)] = qa * t.powi(4) / 4.0;
        q[(ip, iv)] = qa * t.powi(3) / 2.0;
        q[(iv, ip)] = qa * t.powi(3) / 2.0;
        q[(iv, iv)] = qa * t * t;
    }
    if turn {
        let qw = noise.turn_accel_std_radps2 * noise.turn_accel_std_radps2;
        q[(I_OMEGA, I_OMEGA)] = qw * t;
        q[(I_PSI, I_OMEGA)] = qw * t * t / 2.0;
        q[(I_OMEGA, I_PSI)] = qw * t * t / 2.0;
        q[(I_PSI, I_PSI)] = qw * t.powi(3) / 3.0;
    } else {
        q[(I_OMEGA, I_OMEGA)] = 0.02 * 0.02;
    }
    q[(I_PSI, I_PSI)] += 0.05 * 0.05 * t;
    q
}

/// How a residual component is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResidualKind {
    /// `z - h`.
    Linear,
    /// `wrap(z - h)` to `(-pi, pi]`.
    Angle,
    /// `z - h` modulo pi, to `[-pi/2, pi/2)` (box heading without front/back).
    HalfAngle,
}

/// A measurement linearized at one state: `z ~ N(h(x) + H (x' - x), R)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Linearized {
    /// The measurement.
    pub z: DVector<f64>,
    /// The predicted measurement `h(x)`.
    pub hx: DVector<f64>,
    /// The Jacobian `dh/dx`.
    pub h: HMat,
    /// The measurement noise covariance.
    pub r: DMatrix<f64>,
    /// How each residual component is formed.
    pub kinds: Vec<ResidualKind>,
}

impl Linearized {
    /// The first `rows` components only (a LiDAR box's position without its heading).
    pub fn leading(&self, rows: usize) -> Linearized {
        let rows = rows.min(self.z.len());
        Linearized {
            z: self.z.rows(0, rows).into_owned(),
            hx: self.hx.rows(0, rows).into_owned(),
            h: self.h.rows(0, rows).into_owned(),
            r: self.r.view((0, 0), (rows, rows)).into_owned(),
            kinds: self.kinds[..rows].to_vec(),
        }
    }

    /// The innovation `nu = z - h(x)`, angles wrapped.
    pub fn residual(&self) -> DVector<f64> {
        let mut nu = &self.z - &self.hx;
        for (i, k) in self.kinds.iter().enumerate() {
            match k {
                ResidualKind::Linear => {}
                ResidualKind::Angle => nu[i] = wrap_angle_rad(nu[i]),
                ResidualKind::HalfAngle => {
                    nu[i] = crate::geometry::wrap_half_turn_rad(nu[i]);
                }
            }
        }
        nu
    }
}

/// The innovation statistics of one linearized measurement against one Gaussian.
#[derive(Debug, Clone)]
pub(crate) struct Innovation {
    /// Squared Mahalanobis distance `nu^T S^-1 nu`.
    pub d2: f64,
    /// `ln det S`.
    pub ln_det_s: f64,
    /// Kalman gain `P H^T S^-1`.
    pub gain: OMatrix<f64, U6, Dyn>,
    /// The innovation.
    pub nu: DVector<f64>,
}

/// Innovation covariance `S = H P H^T + R`, its Cholesky factor and the gain. `None` when `S`
/// is not positive definite or anything is not finite.
pub(crate) fn innovate(g: &Gaussian, lin: &Linearized) -> Option<Innovation> {
    let hp = &lin.h * g.p;
    let mut s = &hp * lin.h.transpose() + &lin.r;
    s = (&s + s.transpose()) * 0.5;
    if s.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let chol = s.cholesky()?;
    let nu = lin.residual();
    let d2 = nu.dot(&chol.solve(&nu));
    let ln_det_s = 2.0
        * chol
            .l_dirty()
            .diagonal()
            .iter()
            .map(|d| d.ln())
            .sum::<f64>();
    // S^-1 H P, transposed, is P H^T S^-1 because P and S are symmetric.
    let gain = chol.solve(&hp).transpose();
    if !(d2.is_finite() && ln_det_s.is_finite()) || gain.iter().any(|v| !v.is_finite()) {
        return None;
    }
    Some(Innovation {
        d2,
        ln_det_s,
        gain,
        nu,
    })
}

/// EKF update with the Joseph form `P' = (I - K H) P (I - K H)^T + K R K^T`. Returns the
/// posterior and the measurement log-likelihood `-(d^2 + ln det S + m ln 2 pi) / 2`.
pub(crate) fn ekf_update(g: &Gaussian, lin: &Linearized) -> Option<(Gaussian, f64)> {
    let inn = innovate(g, lin)?;
    let mut x = g.x + &inn.gain * &inn.nu;
    x[I_PSI] = wrap_angle_rad(x[I_PSI]);
    let ikh = Matrix6::identity() - &inn.gain * &lin.h;
    let p = ikh * g.p * ikh.transpose() + &inn.gain * &lin.r * inn.gain.transpose();
    let p = (p + p.transpose()) * 0.5;
    if x.iter().chain(p.iter()).any(|v| !v.is_finite()) {
        return None;
    }
    let m = lin.z.len() as f64;
    let ll = -0.5 * (inn.d2 + inn.ln_det_s + m * (std::f64::consts::TAU).ln());
    Some((Gaussian { x, p }, ll))
}

/// Interacting multiple model filter over CV (mode 0) and CT (mode 1).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Imm {
    /// Per-mode posteriors.
    pub modes: [Gaussian; 2],
    /// Mode probabilities.
    pub mu: [f64; 2],
}

impl Imm {
    /// A filter starting from one Gaussian in both modes.
    pub fn new(g: Gaussian) -> Self {
        Self {
            modes: [g.clone(), g],
            mu: [0.8, 0.2],
        }
    }

    /// The mixture's mean position `sum mu_j (px, py)_j`, m, without forming the rest of it
    /// (for culling; [`Imm::combined`] is the estimate).
    pub fn mean_position(&self) -> [f64; 2] {
        let mut p = [0.0; 2];
        for (g, w) in self.modes.iter().zip(self.mu) {
            p[0] += w * g.x[0];
            p[1] += w * g.x[1];
        }
        p
    }

    /// The moment-matched mixture `x = sum mu_j x_j`, `P = sum mu_j (P_j + d_j d_j^T)`.
    pub fn combined(&self) -> Gaussian {
        mix(&self.modes, &self.mu)
    }

    /// The mean of [`Self::combined`] alone (no covariance): the same vector.
    pub fn combined_mean(&self) -> Vector6<f64> {
        mix_mean(&self.modes, &self.mu)
    }

    /// IMM prediction over `dt_s`: mixing with the mode-switch probability
    /// `p = 1 - exp(-dt / sojourn)` (capped at 0.5), then each model's EKF prediction.
    pub fn predict(&mut self, dt_s: f64, noise: &ProcessNoise, sojourn_s: f64) {
        if dt_s <= 0.0 {
            return;
        }
        let p_switch = (1.0 - (-dt_s / sojourn_s).exp()).min(0.5);
        let pi = [[1.0 - p_switch, p_switch], [p_switch, 1.0 - p_switch]];
        let c = [
            pi[0][0] * self.mu[0] + pi[1][0] * self.mu[1],
            pi[0][1] * self.mu[0] + pi[1][1] * self.mu[1],
        ];
        let mixed: [Gaussian; 2] = std::array::from_fn(|j| {
            let w = if c[j] > 1e-300 {
                [pi[0][j] * self.mu[0] / c[j], pi[1][j] * self.mu[1] / c[j]]
            } else {
                [0.5, 0.5]
            };
            mix(&self.modes, &w)
        });
        for (j, g) in mixed.into_iter().enumerate() {
            let (x, f) = if j == 0 {
                predict_cv(&g.x, dt_s)
            } else {
                predict_ct(&g.x, dt_s)
            };
            let q = process_noise(noise, dt_s, j == 1);
            let p = f * g.p * f.transpose() + q;
            let mut x = x;
            x[I_PSI] = wrap_angle_rad(x[I_PSI]);
            self.modes[j] = Gaussian {
                x,
                p: (p + p.transpose()) * 0.5,
            };
        }
        self.mu = normalize(c);
    }

    /// Updates every mode with the measurement linearized at that mode's state by `lin_at`,
    /// then the mode probabilities `mu_j ∝ L_j mu_j`. All-or-nothing: `None` leaves the filter
    /// unchanged. Returns the mixture log-likelihood `ln sum mu_j L_j` and the measurement
    /// dimension.
    pub fn update(
        &mut self,
        lin_at: &dyn Fn(&Vector6<f64>) -> Option<Linearized>,
    ) -> Option<(f64, usize)> {
        let mut post = Vec::with_capacity(2);
        let mut lls = [0.0; 2];
        let mut dim = 0;
        for (j, g) in self.modes.iter().enumerate() {
            let lin = lin_at(&g.x)?;
            dim = lin.z.len();
            let (gp, ll) = ekf_update(g, &lin)?;
            post.push(gp);
            lls[j] = ll;
        }
        let mx = lls[0].max(lls[1]);
        let w = [
            self.mu[0] * (lls[0] - mx).exp(),
            self.mu[1] * (lls[1] - mx).exp(),
        ];
        let total = w[0] + w[1];
        if !(total.is_finite() && total > 0.0) {
            return None;
        }
        let mut it = post.into_iter();
        if let (Some(a), Some(b)) = (it.next(), it.next()) {
            self.modes = [a, b];
        }
        // Keep both modes alive so a manoeuvre can be picked up again.
        self.mu = normalize([(w[0] / total).max(1e-4), (w[1] / total).max(1e-4)]);
        Some((mx + total.ln(), dim))
    }
}

fn normalize(p: [f64; 2]) -> [f64; 2] {
    let s = p[0] + p[1];
    if s.is_finite() && s > 0.0 {
        [p[0] / s, p[1] / s]
    } else {
        [0.5, 0.5]
    }
}

/// The mean of [`mix`]: the weighted mean of the modes' means, headings averaged as
/// differences from the first mode's.
fn mix_mean(modes: &[Gaussian; 2], w: &[f64; 2]) -> Vector6<f64> {
    let reference = modes[0].x;
    let mut x = reference;
    let mut dx = Vector6::zeros();
    for (g, wi) in modes.iter().zip(w) {
        dx += state_diff(&g.x, &reference) * *wi;
    }
    x += dx;
    x[I_PSI] = wrap_angle_rad(x[I_PSI]);
    x
}

/// Moment matching of weighted Gaussians (heading averaged around the first mode's).
fn mix(modes: &[Gaussian; 2], w: &[f64; 2]) -> Gaussian {
    let x = mix_mean(modes, w);
    let mut p = Matrix6::zeros();
    for (g, wi) in modes.iter().zip(w) {
        let d = state_diff(&g.x, &x);
        p += (g.p + d * d.transpose()) * *wi;
    }
    Gaussian { x, p }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_jacobian(
        f: impl Fn(&Vector6<f64>) -> Vector6<f64>,
        x: &Vector6<f64>,
    ) -> Matrix6<f64> {
        let mut j = Matrix6::zeros();
        for k in 0..6 {
            let h = 1e-6;
            let mut xp = *x;
            let mut xm = *x;
            xp[k] += h;
            xm[k] -= h;
            let d = state_diff(&f(&xp), &f(&xm)) / (2.0 * h);
            j.set_column(k, &d);
        }
        j
    }

    #[test]
    fn ct_jacobian_matches_numeric() {
        for w in [0.0, 1e-6, 0.3, -0.7] {
            let x = Vector6::new(1.0, 2.0, 8.0, -3.0, w, 0.4);
            let (_, f) = predict_ct(&x, 0.1);
            let fnum = numeric_jacobian(|x| predict_ct(x, 0.1).0, &x);
            assert!((f - fnum).abs().max() < 1e-5, "w={w}\n{f}\n{fnum}");
        }
    }

    #[test]
    fn ct_with_zero_turn_is_cv() {
        let x = Vector6::new(1.0, 2.0, 8.0, -3.0, 0.0, 0.4);
        let (a, _) = predict_ct(&x, 0.5);
        let (b, _) = predict_cv(&x, 0.5);
        assert!((a - b).abs().max() < 1e-12);
    }

    #[test]
    fn ct_quarter_turn() {
        // 10 m/s, quarter circle of radius 10 m in pi/2 s.
        let x = Vector6::new(0.0, 0.0, 10.0, 0.0, 1.0, 0.0);
        let (xn, _) = predict_ct(&x, std::f64::consts::FRAC_PI_2);
        assert!((xn[0] - 10.0).abs() < 1e-9 && (xn[1] - 10.0).abs() < 1e-9);
        assert!(xn[2].abs() < 1e-9 && (xn[3] - 10.0).abs() < 1e-9);
    }

    #[test]
    fn update_rejects_non_pd() {
        let g = Gaussian {
            x: Vector6::zeros(),
            p: Matrix6::identity(),
        };
        let mut h = HMat::zeros(1);
        h[(0, 0)] = 1.0;
        let lin = Linearized {
            z: DVector::from_element(1, 1.0),
            hx: DVector::zeros(1),
            h,
            r: DMatrix::from_element(1, 1, -5.0),
            kinds: vec![ResidualKind::Linear],
        };
        assert!(ekf_update(&g, &lin).is_none());
        let mut imm = Imm::new(g);
        let before = imm.clone();
        assert!(imm.update(&|_| Some(lin.clone())).is_none());
        assert_eq!(imm, before);
    }
}
