//! Planar ego-motion EKF fusing the IMU (gyro z, accelerometer x) and wheel odometry (speed,
//! yaw rate) into the pose of `base_link` in `odom` with its speed, yaw rate, acceleration and
//! gyro bias. The IMU is the process input: each sample is rotated into `base_link` with its
//! `base_from_imu`, the gyro z drives the heading and the in-plane accelerometer x (gravity lies
//! along base z on a level base, so it is dropped with y and z) drives the speed. The state is
//! `[x, y, yaw, v, b_g, d_g, b_a]`: position (m), heading (rad), forward speed (m/s), gyro z bias
//! (rad/s), its drift rate (rad/s^2, for the warm-up drift of MEMS gyros), and accelerometer x
//! bias (m/s^2, also absorbing a slow pitch leak of gravity). Wheel speed observes `v`, wheel yaw
//! rate observes `gyro_z - b_g`, which makes the gyro bias observable. Each scalar update is
//! chi-square gated and rejections are counted per kind. Delay compensation: every event (IMU
//! sample or wheel twist) is kept with the filter snapshot after it for a short window; an event
//! stamped in the past (up to `max_delay_ns`) is inserted at its stamp and the later events are
//! replayed, so the result is the same, bit for bit, as if it had arrived in order. Non-finite
//! inputs, IMU spikes, duplicates and too-old events are rejected and counted; the state never
//! becomes NaN. Pure: no ROS, no I/O, no wall clock; stamps are arguments.

use nalgebra::{SMatrix, SVector, Vector3};

use crate::geometry::wrap_angle_rad;
use crate::types::{EgoState, ImuSample, StampNs, Transform3, WheelTwist};

const N: usize = 7;
const IX: usize = 0;
const IY: usize = 1;
const IYAW: usize = 2;
const IV: usize = 3;
const IBG: usize = 4;
const IDG: usize = 5;
const IBA: usize = 6;

type Vec7 = SVector<f64, N>;
type Mat7 = SMatrix<f64, N, N>;

const NS_PER_S: f64 = 1e9;

/// Errors of the ego-motion EKF.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EgoError {
    /// A configuration value is out of its valid range.
    #[error("invalid ego config: {field} = {value}")]
    InvalidConfig {
        /// The config field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
}

/// Configuration of [`EgoEkf`]. Noise standard deviations are per sample unless the name says
/// "density" (`.../sqrt(s)`).
#[derive(Debug, Clone, PartialEq)]
pub struct EgoConfig {
    /// Gyro white noise per sample, rad/s (per axis).
    pub gyro_noise_radps: f64,
    /// Accelerometer white noise per sample, m/s^2 (per axis).
    pub accel_noise_mps2: f64,
    /// Nominal IMU sample period, ns: converts the per-sample noises into densities
    /// (`sigma^2 * period`).
    pub imu_period_ns: i64,
    /// Random walk of the gyro bias, rad/s/sqrt(s).
    pub gyro_bias_walk: f64,
    /// Random walk of the gyro bias drift rate, rad/s^2/sqrt(s).
    pub gyro_drift_walk: f64,
    /// Random walk of the accelerometer bias, m/s^2/sqrt(s).
    pub accel_bias_walk: f64,
    /// Unmodelled speed change (slip, scale), m/s/sqrt(s).
    pub speed_walk: f64,
    /// Unmodelled heading change, rad/sqrt(s).
    pub yaw_walk: f64,
    /// Unmodelled position change, m/sqrt(s).
    pub position_walk: f64,
    /// Initial standard deviation of the speed, m/s.
    pub init_speed_std_mps: f64,
    /// Initial standard deviation of the gyro bias, rad/s.
    pub init_gyro_bias_std_radps: f64,
    /// Initial standard deviation of the gyro drift rate, rad/s^2.
    pub init_gyro_drift_std_radps2: f64,
    /// Initial standard deviation of the accelerometer bias, m/s^2.
    pub init_accel_bias_std_mps2: f64,
    /// Wheel speed variance used when the message's is not finite and positive, (m/s)^2.
    pub default_speed_var: f64,
    /// Wheel yaw-rate variance used when the message's is not finite and positive, (rad/s)^2.
    pub default_yaw_rate_var: f64,
    /// Chi-square gate for each scalar innovation (1 degree of freedom; 6.635 = 99 %).
    pub gate_chi2: f64,
    /// Oldest accepted event relative to the newest one, ns.
    pub max_delay_ns: i64,
    /// How long events and snapshots are kept for [`EgoEkf::state_at`], ns (>= `max_delay_ns`).
    pub history_ns: i64,
    /// How far past the newest event [`EgoEkf::state_at`] extrapolates, ns.
    pub max_extrapolation_ns: i64,
    /// Longest single propagation step, ns (longer gaps are split).
    pub max_step_ns: i64,
    /// Largest plausible angular-rate norm, rad/s (above: spike or saturation).
    pub max_gyro_radps: f64,
    /// Largest plausible specific-force norm, m/s^2.
    pub max_accel_mps2: f64,
    /// Largest plausible change of the base gyro z from the previous accepted sample, rad/s.
    pub max_gyro_jump_radps: f64,
    /// Largest plausible change of the base accelerometer x from the previous sample, m/s^2.
    pub max_accel_jump_mps2: f64,
    /// After this many consecutive jump rejections the next jumping sample is accepted as a new
    /// level without waiting for confirmation.
    pub max_consecutive_spikes: u32,
}

impl Default for EgoConfig {
    /// A MEMS IMU at 100 Hz (gyro 0.005 rad/s, accel 0.05 m/s^2 per sample) and a 200 ms
    /// delay window.
    fn default() -> Self {
        Self {
            gyro_noise_radps: 0.005,
            accel_noise_mps2: 0.05,
            imu_period_ns: 10_000_000,
            gyro_bias_walk: 1e-4,
            gyro_drift_walk: 2e-4,
            accel_bias_walk: 1e-3,
            speed_walk: 0.05,
            yaw_walk: 1e-4,
            position_walk: 1e-3,
            init_speed_std_mps: 10.0,
            init_gyro_bias_std_radps: 0.02,
            init_gyro_drift_std_radps2: 0.005,
            init_accel_bias_std_mps2: 0.2,
            default_speed_var: 0.1 * 0.1,
            default_yaw_rate_var: 0.02 * 0.02,
            gate_chi2: 6.635,
            max_delay_ns: 200_000_000,
            history_ns: 500_000_000,
            max_extrapolation_ns: 200_000_000,
            max_step_ns: 20_000_000,
            max_gyro_radps: 5.0,
            max_accel_mps2: 60.0,
            max_gyro_jump_radps: 0.5,
            max_accel_jump_mps2: 20.0,
            max_consecutive_spikes: 5,
        }
    }
}

/// Why an input was not taken into the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EgoReject {
    /// A value (or the mounting) is NaN or infinite.
    NonFinite,
    /// An IMU sample above the plausible range or jumping from the previous one.
    Spike,
    /// The same stamp is already in the history for this input kind.
    Duplicate,
    /// Stamped more than `max_delay_ns` before the newest event, or before the history.
    TooOld,
    /// A wheel twist before the first IMU sample (the filter starts on the IMU).
    BeforeInit,
}

impl EgoReject {
    /// A stable name for counters and diagnostics.
    pub fn as_str(self) -> &'static str {
        match self {
            EgoReject::NonFinite => "non_finite",
            EgoReject::Spike => "spike",
            EgoReject::Duplicate => "duplicate",
            EgoReject::TooOld => "too_old",
            EgoReject::BeforeInit => "before_init",
        }
    }
}

/// Counters of inputs and of measurement rejections, per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EgoCounters {
    /// IMU samples taken.
    pub imu_accepted: u64,
    /// IMU samples with a NaN or infinite value or mounting.
    pub imu_non_finite: u64,
    /// IMU spikes (implausible gyro norm, or an isolated jump).
    pub imu_spikes: u64,
    /// IMU samples whose accelerometer norm was implausible: the gyro was taken and the
    /// accelerometer x held from the previous sample.
    pub imu_accel_held: u64,
    /// IMU duplicate stamps.
    pub imu_duplicates: u64,
    /// IMU samples too old for the history.
    pub imu_too_old: u64,
    /// Wheel twists taken.
    pub wheel_accepted: u64,
    /// Wheel speed or yaw-rate values that were NaN or infinite (each skipped).
    pub wheel_non_finite: u64,
    /// Wheel variances replaced by the default (not finite or not positive).
    pub wheel_bad_variance: u64,
    /// Wheel duplicate stamps.
    pub wheel_duplicates: u64,
    /// Wheel twists too old for the history.
    pub wheel_too_old: u64,
    /// Wheel twists before the filter started.
    pub wheel_before_init: u64,
    /// Wheel speed updates applied.
    pub speed_applied: u64,
    /// Wheel speed updates rejected by the chi-square gate.
    pub speed_gated: u64,
    /// Wheel yaw-rate updates applied.
    pub yaw_rate_applied: u64,
    /// Wheel yaw-rate updates rejected by the chi-square gate.
    pub yaw_rate_gated: u64,
    /// Updates skipped because the innovation variance or the result was not finite/positive.
    pub numerical_skips: u64,
    /// Events inserted in the past (delay compensation), each followed by a replay.
    pub replays: u64,
}

/// The IMU input held between samples, in `base_link`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ImuInput {
    /// Gyro z, rad/s (bias not removed).
    gyro_z_radps: f64,
    /// In-plane accelerometer x, lever-arm corrected, m/s^2 (bias not removed).
    accel_x_mps2: f64,
}

/// One scalar wheel measurement and its variance.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scalar {
    value: f64,
    var: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Event {
    Imu(ImuInput),
    Wheel {
        speed: Option<Scalar>,
        yaw_rate: Option<Scalar>,
    },
}

impl Event {
    /// Order of events with equal stamps: the IMU input first.
    fn rank(&self) -> u8 {
        match self {
            Event::Imu(_) => 0,
            Event::Wheel { .. } => 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum UpdateOutcome {
    #[default]
    Absent,
    Applied,
    Gated,
    Numerical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct WheelOutcome {
    speed: UpdateOutcome,
    yaw_rate: UpdateOutcome,
}

/// The filter at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Snapshot {
    stamp_ns: StampNs,
    x: Vec7,
    p: Mat7,
    input: ImuInput,
}

/// An IMU sample that jumped from the previous accepted one, held until the next sample tells
/// a step of the true motion (taken at its stamp) from an isolated spike (rejected).
#[derive(Debug, Clone, Copy, PartialEq)]
struct HeldJump {
    stamp_ns: StampNs,
    input: ImuInput,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    stamp_ns: StampNs,
    event: Event,
    outcome: WheelOutcome,
    after: Snapshot,
}

/// The planar ego-motion EKF with delay compensation. See the module docs for the model.
#[derive(Debug, Clone)]
pub struct EgoEkf {
    config: EgoConfig,
    /// Events in `(stamp, rank)` order, each with the filter after it.
    history: Vec<Entry>,
    counters: EgoCounters,
    consecutive_spikes: u32,
    held_jump: Option<HeldJump>,
}

impl EgoEkf {
    /// A filter, after checking the config (positive noises, periods and gate;
    /// `history_ns >= max_delay_ns`).
    pub fn new(config: EgoConfig) -> Result<Self, EgoError> {
        let positive = [
            ("gyro_noise_radps", config.gyro_noise_radps),
            ("accel_noise_mps2", config.accel_noise_mps2),
            ("imu_period_ns", config.imu_period_ns as f64),
            ("init_speed_std_mps", config.init_speed_std_mps),
            ("default_speed_var", config.default_speed_var),
            ("default_yaw_rate_var", config.default_yaw_rate_var),
            ("gate_chi2", config.gate_chi2),
            ("max_step_ns", config.max_step_ns as f64),
            ("max_gyro_radps", config.max_gyro_radps),
            ("max_accel_mps2", config.max_accel_mps2),
            ("max_gyro_jump_radps", config.max_gyro_jump_radps),
            ("max_accel_jump_mps2", config.max_accel_jump_mps2),
        ];
        let non_negative = [
            ("gyro_bias_walk", config.gyro_bias_walk),
            ("gyro_drift_walk", config.gyro_drift_walk),
            ("accel_bias_walk", config.accel_bias_walk),
            ("speed_walk", config.speed_walk),
            ("yaw_walk", config.yaw_walk),
            ("position_walk", config.position_walk),
            ("init_gyro_bias_std_radps", config.init_gyro_bias_std_radps),
            (
                "init_gyro_drift_std_radps2",
                config.init_gyro_drift_std_radps2,
            ),
            ("init_accel_bias_std_mps2", config.init_accel_bias_std_mps2),
            ("max_delay_ns", config.max_delay_ns as f64),
            ("max_extrapolation_ns", config.max_extrapolation_ns as f64),
        ];
        for (field, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(EgoError::InvalidConfig { field, value });
            }
        }
        for (field, value) in non_negative {
            if !(value.is_finite() && value >= 0.0) {
                return Err(EgoError::InvalidConfig { field, value });
            }
        }
        if config.history_ns < config.max_delay_ns {
            return Err(EgoError::InvalidConfig {
                field: "history_ns",
                value: config.history_ns as f64,
            });
        }
        Ok(Self {
            config,
            history: Vec::new(),
            counters: EgoCounters::default(),
            consecutive_spikes: 0,
            held_jump: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EgoConfig {
        &self.config
    }

    /// The counters.
    pub fn counters(&self) -> EgoCounters {
        self.counters
    }

    /// True once the first IMU sample started the filter.
    pub fn is_initialized(&self) -> bool {
        !self.history.is_empty()
    }

    /// Takes one IMU sample. It is rotated into `base_link`: `w_b = R w_imu`, `f_b = R f_imu`
    /// with `R` the rotation of `base_from_imu`; the input is `gyro_z = w_b.z` (rad/s) and the
    /// in-plane `accel_x = f_b.x + w_z^2 r_x` (m/s^2; the centripetal term of the lever arm `r`
    /// of the IMU is removed; the tangential term `w_dot r_y` is neglected). Rejected (and
    /// counted): non-finite values or mounting; `|w| > max_gyro_radps`; a duplicate stamp; a
    /// stamp older than the delay window. An accelerometer with `|f| > max_accel_mps2`
    /// (saturated or struck) does not cost the gyro reading: the sample is taken with the
    /// accelerometer x of the previous sample (counted in `imu_accel_held`; rejected as a spike
    /// if there is none).
    ///
    /// A sample that jumps from the previous accepted one by more than `max_gyro_jump_radps` or
    /// `max_accel_jump_mps2` is held (and `Ok` returned) until the next sample decides: a
    /// genuine step of the motion (a straight entering an arc steps the yaw rate) persists, so
    /// if the next sample agrees with the held one within the same limits the held sample is
    /// taken at its stamp (delay compensation replays the events after it); otherwise it was an
    /// isolated spike and is rejected and counted in `imu_spikes`. After
    /// `max_consecutive_spikes` spikes in a row a jumping sample is taken at once as a new
    /// level. The first accepted sample starts the filter at the origin of `odom`.
    pub fn push_imu(&mut self, sample: &ImuSample) -> Result<(), EgoReject> {
        let iso = &sample.base_from_imu;
        let finite = sample.gyro_radps.iter().all(|v| v.is_finite())
            && sample.accel_mps2.iter().all(|v| v.is_finite())
            && crate::types::is_finite_transform(iso);
        if !finite {
            self.counters.imu_non_finite += 1;
            return Err(EgoReject::NonFinite);
        }
        let accel_plausible = sample.accel_mps2.norm() <= self.config.max_accel_mps2;
        if sample.gyro_radps.norm() > self.config.max_gyro_radps
            || (!accel_plausible && self.history.is_empty())
        {
            self.counters.imu_spikes += 1;
            return Err(EgoReject::Spike);
        }
        let w_b: Vector3<f64> = iso.rotation * sample.gyro_radps;
        let f_b: Vector3<f64> = iso.rotation * sample.accel_mps2;
        let r = iso.translation.vector;
        let mut input = ImuInput {
            gyro_z_radps: w_b.z,
            accel_x_mps2: f_b.x + w_b.z * w_b.z * r.x,
        };
        let stamp_ns = sample.stamp_ns;
        if self.history.is_empty() {
            self.start(stamp_ns, input);
            self.counters.imu_accepted += 1;
            return Ok(());
        }
        let event = Event::Imu(input);
        let held_duplicate = self.held_jump.is_some_and(|h| h.stamp_ns == stamp_ns);
        let mut pos = match self.locate(stamp_ns, &event) {
            Ok(_) if held_duplicate => Err(EgoReject::Duplicate),
            other => other,
        }
        .inspect_err(|reject| match reject {
            EgoReject::Duplicate => self.counters.imu_duplicates += 1,
            _ => self.counters.imu_too_old += 1,
        })?;
        // The next sample after a held jump decides it (an implausible accelerometer says
        // nothing about the held one's: only the gyro is compared then).
        if let Some(held) = self.held_jump.filter(|h| h.stamp_ns < stamp_ns) {
            self.held_jump = None;
            let probe = ImuInput {
                accel_x_mps2: if accel_plausible {
                    input.accel_x_mps2
                } else {
                    held.input.accel_x_mps2
                },
                ..input
            };
            if self.jumps(&held.input, &probe) {
                self.consecutive_spikes += 1;
                self.counters.imu_spikes += 1;
            } else {
                let held_event = Event::Imu(held.input);
                match self.locate(held.stamp_ns, &held_event) {
                    Ok(held_pos) => {
                        self.consecutive_spikes = 0;
                        self.insert(held_pos, held.stamp_ns, held_event);
                        self.counters.imu_accepted += 1;
                    }
                    Err(_) => self.counters.imu_too_old += 1,
                }
                pos = match self.locate(stamp_ns, &event) {
                    Ok(pos) => pos,
                    Err(reject) => {
                        self.counters.imu_too_old += 1;
                        return Err(reject);
                    }
                };
            }
        }
        // Jump check against the previous accepted IMU sample in stamp order.
        let previous = self.history[..pos]
            .iter()
            .rev()
            .find_map(|e| match e.event {
                Event::Imu(u) => Some(u),
                Event::Wheel { .. } => None,
            });
        if !accel_plausible {
            // Saturated or struck accelerometer (e.g. the tangential impulse `w_dot r` of an
            // abrupt yaw-rate change at the lever arm): keep the gyro, hold the accelerometer.
            let Some(prev) = previous else {
                self.counters.imu_spikes += 1;
                return Err(EgoReject::Spike);
            };
            self.counters.imu_accel_held += 1;
            input.accel_x_mps2 = prev.accel_x_mps2;
        }
        let event = Event::Imu(input);
        if previous.is_some_and(|prev| self.jumps(&prev, &input))
            && self.consecutive_spikes < self.config.max_consecutive_spikes
        {
            if self.held_jump.is_some() {
                // Older than a held jump (out of order): no next sample to wait for.
                self.consecutive_spikes += 1;
                self.counters.imu_spikes += 1;
                return Err(EgoReject::Spike);
            }
            self.held_jump = Some(HeldJump { stamp_ns, input });
            return Ok(());
        }
        self.consecutive_spikes = 0;
        self.insert(pos, stamp_ns, event);
        self.counters.imu_accepted += 1;
        Ok(())
    }

    /// True if two IMU inputs differ by more than the jump limits.
    fn jumps(&self, a: &ImuInput, b: &ImuInput) -> bool {
        (a.gyro_z_radps - b.gyro_z_radps).abs() > self.config.max_gyro_jump_radps
            || (a.accel_x_mps2 - b.accel_x_mps2).abs() > self.config.max_accel_jump_mps2
    }

    /// Takes one wheel twist: speed observes `v` (`h = v`), yaw rate observes
    /// `h = gyro_z - b_g` (the held IMU input; its variance adds the gyro noise). A non-finite
    /// value skips that scalar; a variance that is not finite and positive is replaced by the
    /// default. Each scalar is gated: `y^2 / S > gate_chi2` rejects it. A twist stamped before
    /// the newest event is applied at its stamp and the later events replayed.
    pub fn push_wheel(&mut self, twist: &WheelTwist) -> Result<(), EgoReject> {
        if self.history.is_empty() {
            self.counters.wheel_before_init += 1;
            return Err(EgoReject::BeforeInit);
        }
        let mut scalar = |value: f64, var: f64, default_var: f64| {
            if !value.is_finite() {
                self.counters.wheel_non_finite += 1;
                return None;
            }
            let var = if var.is_finite() && var > 0.0 {
                var
            } else {
                self.counters.wheel_bad_variance += 1;
                default_var
            };
            Some(Scalar { value, var })
        };
        let speed = scalar(
            twist.speed_mps,
            twist.speed_var,
            self.config.default_speed_var,
        );
        let yaw_rate = scalar(
            twist.yaw_rate_radps,
            twist.yaw_rate_var,
            self.config.default_yaw_rate_var,
        );
        if speed.is_none() && yaw_rate.is_none() {
            return Err(EgoReject::NonFinite);
        }
        let event = Event::Wheel { speed, yaw_rate };
        let pos = match self.locate(twist.stamp_ns, &event) {
            Ok(pos) => pos,
            Err(reject) => {
                match reject {
                    EgoReject::Duplicate => self.counters.wheel_duplicates += 1,
                    _ => self.counters.wheel_too_old += 1,
                }
                return Err(reject);
            }
        };
        self.insert(pos, twist.stamp_ns, event);
        self.counters.wheel_accepted += 1;
        Ok(())
    }

    /// The estimate after the newest event.
    pub fn latest(&self) -> Option<EgoState> {
        self.history.last().map(|e| self.to_state(&e.after))
    }

    /// The estimate at `stamp_ns`: the filter snapshot of the last event at or before the
    /// stamp, propagated to it with the IMU input held then (the same model as the filter, so
    /// this interpolates between events); past the newest event it extrapolates up to
    /// `max_extrapolation_ns`. `None` before the kept history or beyond the extrapolation limit.
    pub fn state_at(&self, stamp_ns: StampNs) -> Option<EgoState> {
        let snap = self.propagate(self.snapshot_before(stamp_ns)?, stamp_ns);
        Some(self.to_state(&snap))
    }

    /// The snapshot [`Self::state_at`] propagates from: the last event's at or before
    /// `stamp_ns`, if the stamp is within the kept history and the extrapolation limit.
    fn snapshot_before(&self, stamp_ns: StampNs) -> Option<&Snapshot> {
        let first = self.history.first()?;
        if stamp_ns < first.stamp_ns {
            return None;
        }
        let newest = self.history.last()?.stamp_ns;
        if stamp_ns > newest.saturating_add(self.config.max_extrapolation_ns) {
            return None;
        }
        let idx = self.history.partition_point(|e| e.stamp_ns <= stamp_ns);
        self.history.get(idx.checked_sub(1)?).map(|e| &e.after)
    }

    /// `state_at(stamp_ns)`'s pose as `odom_from_base`, without propagating the covariance
    /// (deskew asks for a pose per 0.1 ms of a sweep). The same pose as
    /// `state_at(stamp_ns).map(|s| s.odom_from_base())` while the propagated covariance stays
    /// finite, which it does short of overflow (a step with a non-finite covariance leaves
    /// `state_at`'s state where it was; this mean goes on).
    pub fn odom_from_base_at(&self, stamp_ns: StampNs) -> Option<Transform3> {
        let s = self.snapshot_before(stamp_ns)?;
        let (mut x, mut at) = (s.x, s.stamp_ns);
        while at < stamp_ns {
            let next = stamp_ns.min(at.saturating_add(self.config.max_step_ns));
            let xn = mean_step(&x, &s.input, (next - at) as f64 / NS_PER_S).xn;
            if xn.iter().all(|v| v.is_finite()) {
                x = xn;
            }
            at = next;
        }
        let state = EgoState {
            x_m: x[IX],
            y_m: x[IY],
            yaw_rad: x[IYAW],
            ..EgoState::default()
        };
        Some(state.odom_from_base())
    }

    /// Oldest stamp [`Self::state_at`] answers for.
    pub fn oldest_stamp_ns(&self) -> Option<StampNs> {
        self.history.first().map(|e| e.stamp_ns)
    }

    fn start(&mut self, stamp_ns: StampNs, input: ImuInput) {
        let c = &self.config;
        let mut p = Mat7::zeros();
        p[(IX, IX)] = 1e-6;
        p[(IY, IY)] = 1e-6;
        p[(IYAW, IYAW)] = 1e-6;
        p[(IV, IV)] = c.init_speed_std_mps.powi(2);
        p[(IBG, IBG)] = c.init_gyro_bias_std_radps.powi(2).max(1e-12);
        p[(IDG, IDG)] = c.init_gyro_drift_std_radps2.powi(2).max(1e-12);
        p[(IBA, IBA)] = c.init_accel_bias_std_mps2.powi(2).max(1e-12);
        let after = Snapshot {
            stamp_ns,
            x: Vec7::zeros(),
            p,
            input,
        };
        self.history.push(Entry {
            stamp_ns,
            event: Event::Imu(input),
            outcome: WheelOutcome::default(),
            after,
        });
    }

    /// Where an event goes in the history, or why it cannot.
    fn locate(&self, stamp_ns: StampNs, event: &Event) -> Result<usize, EgoReject> {
        let newest = self.history.last().map_or(stamp_ns, |e| e.stamp_ns);
        if stamp_ns < newest.saturating_sub(self.config.max_delay_ns) {
            return Err(EgoReject::TooOld);
        }
        let key = (stamp_ns, event.rank());
        let pos = self
            .history
            .partition_point(|e| (e.stamp_ns, e.event.rank()) < key);
        if self
            .history
            .get(pos)
            .is_some_and(|e| (e.stamp_ns, e.event.rank()) == key)
        {
            return Err(EgoReject::Duplicate);
        }
        if pos == 0 {
            return Err(EgoReject::TooOld);
        }
        Ok(pos)
    }

    /// Inserts an event at `pos` (>= 1), applies it to the snapshot before it and replays the
    /// events after it; then drops history older than `history_ns`.
    fn insert(&mut self, pos: usize, stamp_ns: StampNs, event: Event) {
        if pos < self.history.len() {
            self.counters.replays += 1;
        }
        self.history.insert(
            pos,
            Entry {
                stamp_ns,
                event,
                outcome: WheelOutcome::default(),
                after: self.history[pos - 1].after,
            },
        );
        for i in pos..self.history.len() {
            let before = self.history[i - 1].after;
            let entry = self.history[i];
            let (after, outcome) = self.apply(&before, entry.stamp_ns, &entry.event);
            self.tally(entry.outcome, false);
            self.tally(outcome, true);
            self.history[i].after = after;
            self.history[i].outcome = outcome;
        }
        let newest = self.history.last().map_or(stamp_ns, |e| e.stamp_ns);
        let horizon = newest.saturating_sub(self.config.history_ns);
        let keep_from = self
            .history
            .partition_point(|e| e.stamp_ns <= horizon)
            .saturating_sub(1);
        if keep_from > 0 {
            self.history.drain(..keep_from);
        }
    }

    fn tally(&mut self, outcome: WheelOutcome, add: bool) {
        let c = &mut self.counters;
        let bump = |n: &mut u64| *n = if add { *n + 1 } else { n.saturating_sub(1) };
        match outcome.speed {
            UpdateOutcome::Applied => bump(&mut c.speed_applied),
            UpdateOutcome::Gated => bump(&mut c.speed_gated),
            UpdateOutcome::Numerical => bump(&mut c.numerical_skips),
            UpdateOutcome::Absent => {}
        }
        match outcome.yaw_rate {
            UpdateOutcome::Applied => bump(&mut c.yaw_rate_applied),
            UpdateOutcome::Gated => bump(&mut c.yaw_rate_gated),
            UpdateOutcome::Numerical => bump(&mut c.numerical_skips),
            UpdateOutcome::Absent => {}
        }
    }

    /// One event on a snapshot: propagate to its stamp, then set the input (IMU) or update
    /// (wheel).
    fn apply(
        &self,
        before: &Snapshot,
        stamp_ns: StampNs,
        event: &Event,
    ) -> (Snapshot, WheelOutcome) {
        let mut snap = self.propagate(before, stamp_ns);
        let mut outcome = WheelOutcome::default();
        match event {
            Event::Imu(input) => snap.input = *input,
            Event::Wheel { speed, yaw_rate } => {
                if let Some(m) = speed {
                    let mut h = Vec7::zeros();
                    h[IV] = 1.0;
                    let innovation = m.value - snap.x[IV];
                    outcome.speed =
                        scalar_update(&mut snap, &h, innovation, m.var, self.config.gate_chi2);
                }
                if let Some(m) = yaw_rate {
                    let mut h = Vec7::zeros();
                    h[IBG] = -1.0;
                    let predicted = snap.input.gyro_z_radps - snap.x[IBG];
                    let var = m.var + self.config.gyro_noise_radps.powi(2);
                    outcome.yaw_rate = scalar_update(
                        &mut snap,
                        &h,
                        m.value - predicted,
                        var,
                        self.config.gate_chi2,
                    );
                }
            }
        }
        (snap, outcome)
    }

    /// Propagates a snapshot to `stamp_ns` (no-op if not later) in steps of at most
    /// `max_step_ns` with its held input.
    fn propagate(&self, snap: &Snapshot, stamp_ns: StampNs) -> Snapshot {
        let mut s = *snap;
        while s.stamp_ns < stamp_ns {
            let next = stamp_ns.min(s.stamp_ns.saturating_add(self.config.max_step_ns));
            let dt_s = (next - s.stamp_ns) as f64 / NS_PER_S;
            self.step(&mut s, dt_s);
            s.stamp_ns = next;
        }
        s
    }

    /// One prediction step of `dt` seconds with input `(w_m, a_m)`:
    /// `w = w_m - b_g`, `a = a_m - b_a`, `d = (v + a dt/2) dt`, `th = yaw + w dt/2`;
    /// `x += d cos th`, `y += d sin th`, `yaw += w dt`, `v += a dt`, `b_g += d_g dt`.
    /// `P = F P F^T + G diag(Ng, Na) G^T / dt + diag(q) dt` with `Ng = sigma_g^2 T`,
    /// `Na = sigma_a^2 T` the noise densities of the inputs (`T` the IMU period).
    fn step(&self, s: &mut Snapshot, dt: f64) {
        if dt <= 0.0 {
            return;
        }
        let c = &self.config;
        let MeanStep { xn, d, sn, cs } = mean_step(&s.x, &s.input, dt);

        let mut f = Mat7::identity();
        f[(IX, IYAW)] = -d * sn;
        f[(IX, IV)] = dt * cs;
        f[(IX, IBG)] = 0.5 * d * sn * dt;
        f[(IX, IBA)] = -0.5 * dt * dt * cs;
        f[(IY, IYAW)] = d * cs;
        f[(IY, IV)] = dt * sn;
        f[(IY, IBG)] = -0.5 * d * cs * dt;
        f[(IY, IBA)] = -0.5 * dt * dt * sn;
        f[(IYAW, IBG)] = -dt;
        f[(IV, IBA)] = -dt;
        f[(IBG, IDG)] = dt;

        let mut g = SMatrix::<f64, N, 2>::zeros();
        g[(IX, 0)] = -0.5 * d * sn * dt;
        g[(IY, 0)] = 0.5 * d * cs * dt;
        g[(IYAW, 0)] = dt;
        g[(IX, 1)] = 0.5 * dt * dt * cs;
        g[(IY, 1)] = 0.5 * dt * dt * sn;
        g[(IV, 1)] = dt;
        let period_s = c.imu_period_ns as f64 / NS_PER_S;
        let ng = c.gyro_noise_radps.powi(2) * period_s / dt;
        let na = c.accel_noise_mps2.powi(2) * period_s / dt;
        let qu = nalgebra::Matrix2::new(ng, 0.0, 0.0, na);

        let mut p = f * s.p * f.transpose() + g * qu * g.transpose();
        p[(IX, IX)] += c.position_walk.powi(2) * dt;
        p[(IY, IY)] += c.position_walk.powi(2) * dt;
        p[(IYAW, IYAW)] += c.yaw_walk.powi(2) * dt;
        p[(IV, IV)] += c.speed_walk.powi(2) * dt;
        p[(IBG, IBG)] += c.gyro_bias_walk.powi(2) * dt;
        p[(IDG, IDG)] += c.gyro_drift_walk.powi(2) * dt;
        p[(IBA, IBA)] += c.accel_bias_walk.powi(2) * dt;
        let p = 0.5 * (p + p.transpose());
        if xn.iter().all(|v| v.is_finite()) && p.iter().all(|v| v.is_finite()) {
            s.x = xn;
            s.p = p;
        }
    }

    fn to_state(&self, s: &Snapshot) -> EgoState {
        let g_var = self.config.gyro_noise_radps.powi(2);
        EgoState {
            stamp_ns: s.stamp_ns,
            x_m: s.x[IX],
            y_m: s.x[IY],
            yaw_rad: s.x[IYAW],
            speed_mps: s.x[IV],
            yaw_rate_radps: s.input.gyro_z_radps - s.x[IBG],
            accel_mps2: s.input.accel_x_mps2 - s.x[IBA],
            gyro_bias_radps: s.x[IBG],
            variances: [
                s.p[(IX, IX)],
                s.p[(IY, IY)],
                s.p[(IYAW, IYAW)],
                s.p[(IV, IV)],
                s.p[(IBG, IBG)] + g_var,
                s.p[(IBG, IBG)],
            ],
        }
    }
}

/// The mean of one prediction step (see [`EgoEkf::step`]) and the terms its Jacobians reuse.
struct MeanStep {
    /// The state after the step.
    xn: Vec7,
    /// Distance travelled in the step, m.
    d: f64,
    /// Sine and cosine of the mid-step heading.
    sn: f64,
    cs: f64,
}

fn mean_step(x: &Vec7, input: &ImuInput, dt: f64) -> MeanStep {
    let w = input.gyro_z_radps - x[IBG];
    let a = input.accel_x_mps2 - x[IBA];
    let d = (x[IV] + 0.5 * a * dt) * dt;
    let th = x[IYAW] + 0.5 * w * dt;
    let (sn, cs) = th.sin_cos();
    let mut xn = *x;
    xn[IX] += d * cs;
    xn[IY] += d * sn;
    xn[IYAW] = wrap_angle_rad(x[IYAW] + w * dt);
    xn[IV] += a * dt;
    xn[IBG] += x[IDG] * dt;
    MeanStep { xn, d, sn, cs }
}

/// One gated scalar update with Jacobian row `h`, innovation `y` and variance `r`:
/// `S = h P h^T + r`; rejected if `y^2 / S > gate`; else `K = P h^T / S`, `x += K y`,
/// `P = (I - K h) P (I - K h)^T + K r K^T` (Joseph form). Skipped if anything is not finite.
fn scalar_update(s: &mut Snapshot, h: &Vec7, y: f64, r: f64, gate: f64) -> UpdateOutcome {
    let ph = s.p * h;
    let innovation_var = h.dot(&ph) + r;
    if !(innovation_var.is_finite() && innovation_var > 0.0 && y.is_finite()) {
        return UpdateOutcome::Numerical;
    }
    if y * y / innovation_var > gate {
        return UpdateOutcome::Gated;
    }
    let k = ph / innovation_var;
    let mut x = s.x + k * y;
    x[IYAW] = wrap_angle_rad(x[IYAW]);
    let ikh = Mat7::identity() - k * h.transpose();
    let p = ikh * s.p * ikh.transpose() + k * k.transpose() * r;
    let p = 0.5 * (p + p.transpose());
    if !(x.iter().all(|v| v.is_finite()) && p.iter().all(|v| v.is_finite())) {
        return UpdateOutcome::Numerical;
    }
    s.x = x;
    s.p = p;
    UpdateOutcome::Applied
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Isometry3, Translation3, UnitQuaternion};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    const MS: i64 = 1_000_000;
    const G: f64 = 9.80665;

    fn ekf() -> EgoEkf {
        EgoEkf::new(EgoConfig::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Ground truth of the simulated drive on a 1 ms grid.
    #[derive(Debug, Clone, Copy)]
    struct TruthPoint {
        x_m: f64,
        y_m: f64,
        yaw_rad: f64,
        speed_mps: f64,
        yaw_rate_radps: f64,
        distance_m: f64,
    }

    /// The simulated drive: truth, the IMU at 100 Hz and the wheel odometry at 50 Hz.
    struct Sim {
        truth: Vec<TruthPoint>,
        imu: Vec<ImuSample>,
        wheel: Vec<WheelTwist>,
        /// True gyro bias expressed in base z at each IMU sample, rad/s.
        bias_base: Vec<f64>,
    }

    /// Smooth 0 -> 1 ramp over `[t0, t1]`.
    fn ramp(t: f64, t0: f64, t1: f64) -> f64 {
        let u = ((t - t0) / (t1 - t0)).clamp(0.0, 1.0);
        u * u * (3.0 - 2.0 * u)
    }

    /// Commanded (acceleration m/s^2, yaw rate rad/s) of the 20 s drive: 8 m/s start,
    /// accelerate 0.5 m/s^2 straight for 4 s, turn at 0.25 rad/s (5-11 s, smooth 1 s ramps),
    /// straight again, braking 0.3 m/s^2 from 13 to 16 s.
    fn profile(t: f64) -> (f64, f64) {
        let accel = if t < 4.0 {
            0.5
        } else if (13.0..16.0).contains(&t) {
            -0.3
        } else {
            0.0
        };
        let yaw_rate = 0.25 * (ramp(t, 4.0, 5.0) - ramp(t, 11.0, 12.0));
        (accel, yaw_rate)
    }

    /// IMU mounted upside down (roll pi), yawed 0.03 rad, 1.2 m ahead, 0.3 m left, 0.5 m up.
    fn base_from_imu() -> Isometry3<f64> {
        Isometry3::from_parts(
            Translation3::new(1.2, 0.3, 0.5),
            UnitQuaternion::from_euler_angles(std::f64::consts::PI, 0.0, 0.03),
        )
    }

    /// Simulates 20 s with a gyro bias (IMU z) `0.01 + 0.002 t` rad/s, gyro noise 0.005 rad/s,
    /// accel noise 0.05 m/s^2, wheel speed noise 0.05 m/s and yaw-rate noise 0.01 rad/s.
    fn simulate(seed: u64) -> Sim {
        simulate_with(seed, profile)
    }

    /// Like [`simulate`] with another commanded `(acceleration, yaw rate)` profile.
    fn simulate_with(seed: u64, profile: fn(f64) -> (f64, f64)) -> Sim {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let gyro_n = Normal::new(0.0, 0.005).unwrap_or_else(|e| panic!("{e}"));
        let accel_n = Normal::new(0.0, 0.05).unwrap_or_else(|e| panic!("{e}"));
        let speed_n = Normal::new(0.0, 0.05).unwrap_or_else(|e| panic!("{e}"));
        let yaw_n = Normal::new(0.0, 0.01).unwrap_or_else(|e| panic!("{e}"));
        let dt = 0.001;
        let mut truth = Vec::with_capacity(20_001);
        let mut p = TruthPoint {
            x_m: 0.0,
            y_m: 0.0,
            yaw_rad: 0.0,
            speed_mps: 8.0,
            yaw_rate_radps: 0.0,
            distance_m: 0.0,
        };
        for k in 0..=20_000 {
            let t = k as f64 * dt;
            p.yaw_rate_radps = profile(t).1;
            truth.push(p);
            // Midpoint integration at 1 kHz.
            let (a0, _) = profile(t);
            let (_, wm) = profile(t + 0.5 * dt);
            let d = (p.speed_mps + 0.5 * a0 * dt) * dt;
            let th = p.yaw_rad + 0.5 * wm * dt;
            p.x_m += d * th.cos();
            p.y_m += d * th.sin();
            p.yaw_rad += wm * dt;
            p.speed_mps += a0 * dt;
            p.distance_m += d;
        }
        let mount = base_from_imu();
        let r = mount.translation.vector;
        let imu_from_base = mount.rotation.inverse();
        let mut imu = vec![];
        let mut bias_base = vec![];
        let mut wheel = vec![];
        for k in 0..=2_000_i64 {
            let t = k as f64 * 0.01;
            let tp = truth[(k * 10) as usize];
            let (a, w) = profile(t);
            let w_dot = (profile(t + 1e-4).1 - profile(t - 1e-4).1) / 2e-4;
            let v = tp.speed_mps;
            let f_base = Vector3::new(
                a - w * w * r.x - w_dot * r.y,
                v * w - w * w * r.y + w_dot * r.x,
                G,
            );
            let bias = Vector3::new(0.0, 0.0, 0.01 + 0.002 * t);
            bias_base.push((mount.rotation * bias).z);
            let noise_g = Vector3::new(
                gyro_n.sample(&mut rng),
                gyro_n.sample(&mut rng),
                gyro_n.sample(&mut rng),
            );
            let noise_a = Vector3::new(
                accel_n.sample(&mut rng),
                accel_n.sample(&mut rng),
                accel_n.sample(&mut rng),
            );
            imu.push(ImuSample {
                stamp_ns: k * 10 * MS,
                gyro_radps: imu_from_base * Vector3::new(0.0, 0.0, w) + bias + noise_g,
                accel_mps2: imu_from_base * f_base + noise_a,
                base_from_imu: mount,
            });
            if k % 2 == 0 {
                wheel.push(WheelTwist {
                    stamp_ns: k * 10 * MS,
                    speed_mps: v + speed_n.sample(&mut rng),
                    yaw_rate_radps: w + yaw_n.sample(&mut rng),
                    speed_var: 0.05 * 0.05,
                    yaw_rate_var: 0.01 * 0.01,
                });
            }
        }
        Sim {
            truth,
            imu,
            wheel,
            bias_base,
        }
    }

    fn truth_at(sim: &Sim, stamp_ns: i64) -> TruthPoint {
        sim.truth[(stamp_ns / MS) as usize]
    }

    #[derive(Debug, Default)]
    struct Metrics {
        max_heading_err_deg: f64,
        final_pos_err_m: f64,
        distance_m: f64,
        max_drift_ratio: f64,
        bias_rms_radps: f64,
        final_bias_err_radps: f64,
    }

    /// Feeds the sim: each IMU sample, then the wheel twists whose arrival (stamp + delay) has
    /// come; scores `state_at(imu stamp)` against the truth after each IMU sample.
    fn run(sim: &Sim, f: &mut EgoEkf, wheel_delay_ns: i64) -> Metrics {
        let mut m = Metrics::default();
        let mut next_wheel = 0;
        let mut bias_sq = 0.0;
        let mut bias_n: f64 = 0.0;
        for (k, s) in sim.imu.iter().enumerate() {
            let _ = f.push_imu(s);
            while next_wheel < sim.wheel.len()
                && sim.wheel[next_wheel].stamp_ns + wheel_delay_ns <= s.stamp_ns
            {
                let _ = f.push_wheel(&sim.wheel[next_wheel]);
                next_wheel += 1;
            }
            let Some(est) = f.state_at(s.stamp_ns) else {
                continue;
            };
            let tp = truth_at(sim, s.stamp_ns);
            assert!(
                est.x_m.is_finite()
                    && est.yaw_rad.is_finite()
                    && est.variances.iter().all(|v| v.is_finite())
            );
            let yaw_err = wrap_angle_rad(est.yaw_rad - tp.yaw_rad).abs().to_degrees();
            m.max_heading_err_deg = m.max_heading_err_deg.max(yaw_err);
            let pos_err = (est.x_m - tp.x_m).hypot(est.y_m - tp.y_m);
            if tp.distance_m > 40.0 {
                m.max_drift_ratio = m.max_drift_ratio.max(pos_err / tp.distance_m);
            }
            m.final_pos_err_m = pos_err;
            m.distance_m = tp.distance_m;
            let bias_err = est.gyro_bias_radps - sim.bias_base[k];
            if s.stamp_ns >= 3_000 * MS {
                bias_sq += bias_err * bias_err;
                bias_n += 1.0;
            }
            m.final_bias_err_radps = bias_err;
        }
        for w in &sim.wheel[next_wheel..] {
            let _ = f.push_wheel(w);
        }
        m.bias_rms_radps = (bias_sq / bias_n.max(1.0)).sqrt();
        m
    }

    fn assert_within_spec(m: &Metrics) {
        assert!(m.max_heading_err_deg <= 1.0, "{m:?}");
        assert!(m.max_drift_ratio <= 0.01, "{m:?}");
        assert!(m.final_pos_err_m <= 0.01 * m.distance_m, "{m:?}");
        assert!(m.bias_rms_radps <= 0.002, "{m:?}");
        assert!(m.final_bias_err_radps.abs() <= 0.003, "{m:?}");
    }

    #[test]
    fn config_is_validated() {
        let bad = EgoConfig {
            gyro_noise_radps: 0.0,
            ..EgoConfig::default()
        };
        assert!(matches!(
            EgoEkf::new(bad),
            Err(EgoError::InvalidConfig {
                field: "gyro_noise_radps",
                ..
            })
        ));
        let bad = EgoConfig {
            history_ns: 100 * MS,
            max_delay_ns: 200 * MS,
            ..EgoConfig::default()
        };
        assert!(EgoEkf::new(bad).is_err());
        let bad = EgoConfig {
            gate_chi2: f64::NAN,
            ..EgoConfig::default()
        };
        assert!(EgoEkf::new(bad).is_err());
    }

    #[test]
    fn turn_and_straight_with_growing_gyro_bias_meets_accuracy() {
        for seed in [1, 2, 3, 4, 5] {
            let sim = simulate(seed);
            let mut f = ekf();
            let m = run(&sim, &mut f, 0);
            let c = f.counters();
            println!(
                "seed {seed}: max heading err {:.3} deg, final pos err {:.3} m over {:.1} m ({:.3} %), \
                 max drift {:.3} %, bias rms {:.5} rad/s, final bias err {:.5} rad/s, gated speed {} yaw {}",
                m.max_heading_err_deg,
                m.final_pos_err_m,
                m.distance_m,
                100.0 * m.final_pos_err_m / m.distance_m,
                100.0 * m.max_drift_ratio,
                m.bias_rms_radps,
                m.final_bias_err_radps,
                c.speed_gated,
                c.yaw_rate_gated
            );
            assert_within_spec(&m);
            assert_eq!(c.imu_accepted, 2_001);
            assert_eq!(c.wheel_accepted, 1_001);
            assert_eq!(c.replays, 0);
            // A 99 % gate drops about 1 % of clean measurements.
            assert!(c.speed_gated + c.yaw_rate_gated <= 40, "{c:?}");
        }
    }

    /// A straight entering a circular arc (a curvature step, as at an urban corner): the yaw
    /// rate jumps from 0 to 0.625 rad/s (5 m/s on an 8 m radius) between two IMU samples,
    /// holds for a 90 degree turn and drops back to 0. The steps are above
    /// `max_gyro_jump_radps`, yet genuine: the next sample confirms each, so they are taken at
    /// their stamps and never counted as spikes. The sample at each step also carries the
    /// lever-arm impulse `w_dot x r` of the step spread over one sample period (about
    /// 75 m/s^2, as a finite-difference simulator produces it): above `max_accel_mps2`, yet its
    /// gyro is good and is kept. The heading stays within 1 degree.
    #[test]
    fn step_into_constant_rate_turn_is_not_a_spike() {
        fn corner(t: f64) -> (f64, f64) {
            let (t_in, rate) = (5.005, 0.625);
            let t_out = t_in + std::f64::consts::FRAC_PI_2 / rate;
            let accel = if t < 2.0 { -1.5 } else { 0.0 };
            let yaw_rate = if (t_in..t_out).contains(&t) {
                rate
            } else {
                0.0
            };
            (accel, yaw_rate)
        }
        for seed in [1, 2, 3] {
            let mut sim = simulate_with(seed, corner);
            let mount = base_from_imu();
            let r = mount.translation.vector;
            for (k, step_radps) in [(501, 0.625), (752, -0.625)] {
                let w_dot = step_radps / 0.01;
                let impulse = Vector3::new(-w_dot * r.y, w_dot * r.x, 0.0);
                sim.imu[k].accel_mps2 += mount.rotation.inverse() * impulse;
            }
            // A single-sample spike during the turn is still rejected.
            sim.imu[650].gyro_radps.z += 2.0;
            let mut f = ekf();
            let m = run(&sim, &mut f, 30 * MS);
            let c = f.counters();
            println!("corner seed {seed}: {m:?}\n{c:?}");
            assert!(m.max_heading_err_deg <= 1.0, "{m:?}");
            assert!(m.max_drift_ratio <= 0.01, "{m:?}");
            assert_eq!(c.imu_spikes, 1, "{c:?}");
            assert_eq!(c.imu_accel_held, 2, "{c:?}");
            assert_eq!(c.imu_accepted, 2_000, "{c:?}");
        }
    }

    #[test]
    fn gyro_bias_is_not_tracked_without_wheel_yaw_rate() {
        // Control experiment: the wheel yaw rate is what makes the bias observable.
        let mut sim = simulate(7);
        for w in &mut sim.wheel {
            w.yaw_rate_radps = f64::NAN;
        }
        let mut f = ekf();
        let m = run(&sim, &mut f, 0);
        println!("without wheel yaw rate: {m:?}");
        assert!(m.max_heading_err_deg > 5.0, "{m:?}");
        assert_eq!(f.counters().wheel_non_finite, 1_001);
    }

    #[test]
    fn delayed_wheel_is_applied_at_its_stamp_bit_identically() {
        let sim = simulate(11);
        let mut in_order = ekf();
        let m0 = run(&sim, &mut in_order, 0);
        let mut delayed = ekf();
        let m1 = run(&sim, &mut delayed, 80 * MS);
        println!("in order: {m0:?}\ndelayed 80 ms: {m1:?}");
        assert_within_spec(&m1);
        assert!(
            delayed.counters().replays >= 990,
            "{:?}",
            delayed.counters()
        );
        assert_eq!(delayed.counters().wheel_too_old, 0);
        // Same events, same order: the same filter, bit for bit.
        assert_eq!(in_order.latest(), delayed.latest());
        for back_ms in [0, 35, 100, 250] {
            let t = 20_000 * MS - back_ms * MS;
            assert_eq!(in_order.state_at(t), delayed.state_at(t), "at {t}");
        }
        let (a, b) = (in_order.counters(), delayed.counters());
        assert_eq!(
            (
                a.speed_applied,
                a.speed_gated,
                a.yaw_rate_applied,
                a.yaw_rate_gated
            ),
            (
                b.speed_applied,
                b.speed_gated,
                b.yaw_rate_applied,
                b.yaw_rate_gated
            )
        );
    }

    #[test]
    fn measurement_older_than_delay_window_is_rejected_and_counted() {
        let sim = simulate(12);
        let mut f = ekf();
        let _ = run(&sim, &mut f, 300 * MS);
        let c = f.counters();
        // Twists arrive 300 ms late (> 200 ms): rejected, never applied as new. Only the 11
        // delivered after the IMU stream ended (stamps >= 19.8 s) are still inside the window.
        assert_eq!(c.wheel_too_old, 1_001 - 11);
        assert_eq!(c.wheel_accepted, 11);
        assert!(c.speed_applied + c.yaw_rate_applied <= 22);
        assert_eq!(f.push_wheel(&sim.wheel[0]), Err(EgoReject::TooOld));
    }

    #[test]
    fn bad_inputs_are_rejected_counted_and_filter_stays_finite() {
        let mut sim = simulate(21);
        sim.imu[150].gyro_radps.x = f64::NAN;
        sim.imu[350].accel_mps2.y = f64::INFINITY;
        sim.imu[900].base_from_imu.translation.vector.x = f64::NAN;
        sim.imu[500].gyro_radps.z += 3.0; // spike during the turn
        sim.imu[700].accel_mps2.x += 30.0; // accelerometer spike
        sim.imu[1100].gyro_radps.z = 40.0; // saturation
        sim.wheel[100].speed_mps = f64::NAN;
        sim.wheel[200].yaw_rate_radps = f64::NEG_INFINITY;
        sim.wheel[300].speed_mps += 5.0; // outliers
        sim.wheel[400].yaw_rate_radps += 0.8;
        sim.wheel[500].speed_var = -1.0;
        sim.wheel[500].yaw_rate_var = f64::NAN;
        let mut f = ekf();
        let m = run(&sim, &mut f, 0);
        let c = f.counters();
        println!("with faults: {m:?}\n{c:?}");
        assert_eq!(c.imu_non_finite, 3);
        assert_eq!(c.imu_spikes, 3);
        assert_eq!(c.imu_accepted, 2_001 - 6);
        assert_eq!(c.wheel_non_finite, 2);
        assert_eq!(c.wheel_bad_variance, 2);
        assert!(c.speed_gated >= 1 && c.yaw_rate_gated >= 1, "{c:?}");
        assert_within_spec(&m);
        // Direct checks of the outcomes.
        let mut f = ekf();
        let mut s = sim.imu[0];
        assert_eq!(f.push_wheel(&sim.wheel[0]), Err(EgoReject::BeforeInit));
        assert_eq!(f.push_imu(&s), Ok(()));
        s.stamp_ns += 10 * MS;
        s.accel_mps2.z = f64::NAN;
        assert_eq!(f.push_imu(&s), Err(EgoReject::NonFinite));
        let nan_twist = WheelTwist {
            speed_mps: f64::NAN,
            yaw_rate_radps: f64::INFINITY,
            ..sim.wheel[1]
        };
        assert_eq!(f.push_wheel(&nan_twist), Err(EgoReject::NonFinite));
        assert!(f
            .latest()
            .is_some_and(|e| e.x_m.is_finite() && e.speed_mps.is_finite()));
    }

    #[test]
    fn duplicates_are_rejected_and_counted() {
        let sim = simulate(3);
        let mut f = ekf();
        for s in &sim.imu[..10] {
            assert_eq!(f.push_imu(s), Ok(()));
        }
        assert_eq!(f.push_wheel(&sim.wheel[2]), Ok(()));
        assert_eq!(f.push_imu(&sim.imu[5]), Err(EgoReject::Duplicate));
        assert_eq!(f.push_wheel(&sim.wheel[2]), Err(EgoReject::Duplicate));
        let c = f.counters();
        assert_eq!((c.imu_duplicates, c.wheel_duplicates), (1, 1));
    }

    #[test]
    fn state_at_interpolates_and_extrapolates_within_limits() {
        let sim = simulate(5);
        let mut f = ekf();
        let _ = run(&sim, &mut f, 0);
        let newest = 20_000 * MS;
        assert_eq!(f.state_at(newest), f.latest());
        let oldest = f.oldest_stamp_ns().unwrap_or(i64::MAX);
        assert!(oldest <= newest - 500 * MS);
        assert!(f.state_at(oldest - 1).is_none());
        assert!(f.state_at(newest + 201 * MS).is_none());
        // Between IMU samples (deskew times) and slightly ahead (extrapolation).
        for t in [
            newest - 400 * MS + 3 * MS,
            newest - 55 * MS + 7 * MS,
            newest - MS,
        ] {
            let est = f.state_at(t).unwrap_or_else(|| panic!("state at {t}"));
            let tp = truth_at(&sim, t);
            assert_eq!(est.stamp_ns, t);
            assert!(
                (est.x_m - tp.x_m).hypot(est.y_m - tp.y_m) < 1.5,
                "{est:?} {tp:?}"
            );
            assert!(wrap_angle_rad(est.yaw_rad - tp.yaw_rad).abs() < 1f64.to_radians());
            assert!((est.speed_mps - tp.speed_mps).abs() < 0.1);
        }
        let now = f.latest().unwrap_or_default();
        let ahead = f.state_at(newest + 100 * MS).unwrap_or_default();
        let travelled = (ahead.x_m - now.x_m).hypot(ahead.y_m - now.y_m);
        assert!(
            (travelled - now.speed_mps * 0.1).abs() < 0.01,
            "{travelled} vs {}",
            now.speed_mps * 0.1
        );
        assert!(ahead.variances[0] >= now.variances[0]);
        // The mean-only pose is state_at's, over the history and the extrapolation.
        for t in (oldest - MS..=newest + 201 * MS).step_by(997_003) {
            assert_eq!(
                f.odom_from_base_at(t),
                f.state_at(t).map(|s| s.odom_from_base()),
                "at {t}"
            );
        }
        // Interpolation is continuous: 1 ns apart gives (nearly) the same pose.
        let (a, b) = (
            f.state_at(newest - 30 * MS - 1),
            f.state_at(newest - 30 * MS),
        );
        let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
        assert!((a.x_m - b.x_m).abs() < 1e-3 && (a.yaw_rad - b.yaw_rad).abs() < 1e-4);
    }

    #[test]
    fn long_imu_gap_and_stationary_start_stay_finite() {
        let mut f = ekf();
        let mount = base_from_imu();
        let imu_from_base = mount.rotation.inverse();
        let at_rest = |stamp_ns| ImuSample {
            stamp_ns,
            gyro_radps: Vector3::zeros(),
            accel_mps2: imu_from_base * Vector3::new(0.0, 0.0, G),
            base_from_imu: mount,
        };
        assert_eq!(f.push_imu(&at_rest(0)), Ok(()));
        assert_eq!(f.push_imu(&at_rest(10 * MS)), Ok(()));
        assert_eq!(f.push_imu(&at_rest(30_000 * MS)), Ok(()));
        let twist = WheelTwist {
            stamp_ns: 30_000 * MS,
            speed_mps: 0.0,
            yaw_rate_radps: 0.0,
            speed_var: 0.0,
            yaw_rate_var: 0.0,
        };
        assert_eq!(f.push_wheel(&twist), Ok(()));
        let e = f.latest().unwrap_or_default();
        assert!(
            e.x_m.is_finite() && e.variances.iter().all(|v| v.is_finite() && *v >= 0.0),
            "{e:?}"
        );
        assert!(e.speed_mps.abs() < 0.1, "{e:?}");
    }

    #[test]
    fn deterministic_twice() {
        let sim = simulate(9);
        let (mut a, mut b) = (ekf(), ekf());
        let _ = run(&sim, &mut a, 40 * MS);
        let _ = run(&sim, &mut b, 40 * MS);
        assert_eq!(a.latest(), b.latest());
        assert_eq!(a.counters(), b.counters());
    }
}
