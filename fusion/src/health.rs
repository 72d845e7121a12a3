//! Sensor health monitor: the data behind predictive maintenance. It watches every sensor's
//! arrival rate, latency and dropouts, counts the inputs other stages skipped (per reason), and
//! tracks quality trends: LiDAR returns per azimuth sector (blocked sectors), radar amplitude and
//! the radar yaw misalignment measured against LiDAR objects, camera detection confidence,
//! ultrasonic stuck values, IMU gyro bias and vibration RMS. Each [`Finding`] carries a severity,
//! evidence values with units, a least-squares trend and the estimated time until the monitored
//! quantity crosses its error threshold. The monitor is pure: no ROS, no I/O, no wall clock.
//! Every input carries its stamp (nanoseconds, the sensor clock, one clock for all sensors as in
//! the bags) and [`HealthMonitor::findings`] takes the current time as an argument, so the same
//! input always gives the same findings. A message that arrives late (after newer ones) is
//! taken where its stamp belongs, so late messages give the statistics of in-time ones within
//! the windows (a radar amplitude or camera confidence baseline already measured is revised by
//! a late sample of its period).

use std::collections::{BTreeMap, VecDeque};

use crate::geometry::wrap_angle_rad;
use crate::types::{
    Detection2D, ImuSample, LidarPoint, RadarDetection, SensorId, StampNs, UltrasonicRange,
};

const NS_PER_S: f64 = 1e9;

fn s_to_ns(s: f64) -> i64 {
    (s * NS_PER_S).round() as i64
}

fn ns_to_s(ns: i64) -> f64 {
    ns as f64 / NS_PER_S
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Worth logging: a trend projected to cross a threshold, nothing wrong yet.
    Info,
    /// Past the warning threshold: schedule maintenance.
    Warn,
    /// Past the error threshold: the sensor's data should not be trusted.
    Error,
}

impl Severity {
    /// Lower-case name (`info`, `warn`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Error => "error",
        }
    }
}

/// What a finding is about. The order of the variants is the order of findings within one
/// component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// Messages arrive well below the nominal rate.
    RateDrop,
    /// Gaps between stamps longer than a few periods, or the sensor went silent.
    Dropout,
    /// Arrival minus stamp above the sensor's latency budget.
    Latency,
    /// Arrival before the stamp: the sensor clock runs ahead.
    ClockOffset,
    /// A LiDAR azimuth sector returns far fewer points than its baseline and its neighbours.
    BlockedSector,
    /// The LiDAR returns far fewer points overall than its baseline.
    PointCountDrop,
    /// Radar mean amplitude far below its baseline.
    AmplitudeDrop,
    /// Radar azimuths are offset against LiDAR objects: the radar is yawed on its mount.
    YawMisalignment,
    /// Camera detection confidence far below its baseline.
    ConfidenceDrop,
    /// An ultrasonic sensor repeats the same finite value while the ego moves.
    StuckValue,
    /// The gyro z bias estimate exceeds (or is projected to exceed) its threshold.
    GyroBias,
    /// The accelerometer's high-passed RMS exceeds its threshold.
    Vibration,
}

impl FindingKind {
    /// Every kind.
    pub const ALL: [FindingKind; 12] = [
        FindingKind::RateDrop,
        FindingKind::Dropout,
        FindingKind::Latency,
        FindingKind::ClockOffset,
        FindingKind::BlockedSector,
        FindingKind::PointCountDrop,
        FindingKind::AmplitudeDrop,
        FindingKind::YawMisalignment,
        FindingKind::ConfidenceDrop,
        FindingKind::StuckValue,
        FindingKind::GyroBias,
        FindingKind::Vibration,
    ];

    /// The kind [`FindingKind::as_str`] names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The snake-case name used in reports and `faults.json` (`blocked_sector`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::RateDrop => "rate_drop",
            FindingKind::Dropout => "dropout",
            FindingKind::Latency => "latency",
            FindingKind::ClockOffset => "clock_offset",
            FindingKind::BlockedSector => "blocked_sector",
            FindingKind::PointCountDrop => "point_count_drop",
            FindingKind::AmplitudeDrop => "amplitude_drop",
            FindingKind::YawMisalignment => "yaw_misalignment",
            FindingKind::ConfidenceDrop => "confidence_drop",
            FindingKind::StuckValue => "stuck_value",
            FindingKind::GyroBias => "gyro_bias",
            FindingKind::Vibration => "vibration",
        }
    }
}

/// Why an input (a message, a point, a detection, a measurement) was skipped. Other stages feed
/// their rejections through [`HealthMonitor::record_skipped`]; the monitor counts its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// NaN or infinite value where a finite one is required.
    NonFinite,
    /// Outside the sensor's measurable range (for ultrasonic: `+inf`/`-inf` per REP 117, which
    /// is a valid "nothing in range" / "too close" reading, counted but not an error).
    OutOfRange,
    /// A LiDAR point at the sensor origin (no return).
    NoReturn,
    /// A box with zero or negative size.
    ZeroSize,
    /// A singular or non-positive-definite covariance.
    BadCovariance,
    /// A radar return behind the sensor.
    BehindSensor,
    /// A camera box outside the image.
    OutsideImage,
    /// An implausible jump (IMU spike).
    Spike,
    /// A stamp older than can still be placed: for a message's arrival, older than its
    /// sensor's rate window; for other stages, older than the last one they took.
    OutOfSequence,
    /// The same stamp twice.
    DuplicateStamp,
    /// Arrived after the time-sync timeout.
    Late,
    /// Rejected by a chi-square gate.
    GateRejected,
    /// A detector confidence outside [0, 1].
    InvalidScore,
}

impl SkipReason {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::NonFinite => "non_finite",
            SkipReason::OutOfRange => "out_of_range",
            SkipReason::NoReturn => "no_return",
            SkipReason::ZeroSize => "zero_size",
            SkipReason::BadCovariance => "bad_covariance",
            SkipReason::BehindSensor => "behind_sensor",
            SkipReason::OutsideImage => "outside_image",
            SkipReason::Spike => "spike",
            SkipReason::OutOfSequence => "out_of_sequence",
            SkipReason::DuplicateStamp => "duplicate_stamp",
            SkipReason::Late => "late",
            SkipReason::GateRejected => "gate_rejected",
            SkipReason::InvalidScore => "invalid_score",
        }
    }
}

/// One health finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// `lidar`, `radar_front`, `camera_front`, `imu`, `wheel`, `ultrasonic/<name or index>`.
    pub component: String,
    /// What was found.
    pub kind: FindingKind,
    /// How bad.
    pub severity: Severity,
    /// Evidence, key with its unit (`offset_deg`, `bias_radps`). The first entry is the
    /// monitored quantity that `trend_per_s` and `time_to_threshold_s` refer to.
    pub evidence: Vec<(String, f64)>,
    /// Least-squares slope of the monitored quantity over the trend window, its unit per second.
    pub trend_per_s: f64,
    /// Seconds until the trend crosses the error threshold: 0 when already crossed, infinity
    /// when the trend does not approach it.
    pub time_to_threshold_s: f64,
    /// When this component/kind was first found active (continuously since), ns.
    pub first_seen_ns: StampNs,
    /// The evaluation time, ns.
    pub stamp_ns: StampNs,
}

/// Counters and current figures of one sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorStats {
    /// The sensor.
    pub sensor: SensorId,
    /// Its component name.
    pub component: String,
    /// Messages recorded through [`HealthMonitor::record_arrival`].
    pub messages: u64,
    /// Arrival rate over the rate window, Hz (NaN before two messages).
    pub rate_hz: f64,
    /// Nominal rate, Hz.
    pub nominal_rate_hz: f64,
    /// Mean latency (arrival − stamp) over the latency window, s (NaN before a message).
    pub mean_latency_s: f64,
    /// Gaps longer than `dropout_factor` periods, since start (a gap that a late message
    /// filled counts as the parts of it still that long).
    pub dropouts: u64,
    /// The longest of those gaps, s.
    pub longest_gap_s: f64,
    /// Skipped inputs per reason, since start.
    pub skipped: BTreeMap<SkipReason, u64>,
}

/// Thresholds and windows. Defaults are tuned on the simulated drives (`bags/scenarios/`):
/// the four injected faults of `sensor_degradation` are found, the clean drives give nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    /// Evaluate all detectors at least this often as stamps advance (so `first_seen_ns` is
    /// accurate even when findings are read rarely), s. Default 0.5.
    pub eval_period_s: f64,
    /// Window of least-squares trends, s. Default 10.
    pub trend_window_s: f64,
    /// Baseline period measured from a signal's first sample (LiDAR sector counts, radar
    /// amplitude, camera confidence), s. Default 1.5 (the LiDAR fault starts at 2 s).
    pub baseline_s: f64,

    /// Window for the arrival rate, s. Default 2.
    pub rate_window_s: f64,
    /// Warn when the rate falls below this fraction of nominal. Default 0.8.
    pub rate_warn_fraction: f64,
    /// Error when the rate falls below this fraction of nominal. Default 0.5.
    pub rate_error_fraction: f64,
    /// A gap between consecutive stamps longer than this many periods is a dropout. Default 3.
    pub dropout_factor: f64,
    /// Window over which dropouts are counted, s. Default 10.
    pub dropout_window_s: f64,
    /// Warn when at least this many dropouts fall in the window. Default 3.
    pub dropout_warn_count: usize,
    /// Error when a gap in the window (or the current silence) is at least this long, s.
    /// Default 1.
    pub dropout_error_gap_s: f64,
    /// The sensor is silent when nothing was stamped for max(this many periods,
    /// `silence_min_s`). Default 5.
    pub silence_periods: f64,
    /// Minimum silence, s. Default 0.5.
    pub silence_min_s: f64,
    /// Window for mean latency, s. Default 2.
    pub latency_window_s: f64,
    /// Latency budget in addition to one nominal period (a LiDAR sweep is stamped at its start
    /// and published at its end), s. Default 0.05. Warn above, Error above twice the budget.
    pub latency_margin_s: f64,
    /// Clock offset when the mean latency is below minus this, s. Default 0.05.
    pub clock_offset_tolerance_s: f64,

    /// Number of LiDAR azimuth sectors over 360 deg (sector `i` covers `[i, i+1) * 360/n` deg,
    /// azimuth counter-clockwise from the sensor's +x in [0, 360)). Default 36.
    pub lidar_sectors: usize,
    /// Sectors whose baseline has fewer returns per scan are not judged. Default 20.
    pub lidar_min_sector_points: f64,
    /// Sector ratios are averaged over this many seconds of scans. Default 1.
    pub lidar_smooth_s: f64,
    /// A sector is a candidate when its smoothed count / baseline is below this. Default 0.5.
    pub lidar_blocked_ratio: f64,
    /// A sector is blind for the tracker ([`HealthMonitor::lidar_blind_sectors`]) when its
    /// recent count / baseline is below this: well before a sector is reported blocked, the
    /// LiDAR loses the small and far objects in it. Default 0.7.
    pub lidar_blind_ratio: f64,
    /// A candidate run is blocked when its ratio is below this times the ratio of its
    /// neighbours. Default 0.6.
    pub lidar_neighbour_ratio: f64,
    /// Neighbour sectors taken on each side of a run. Default 3.
    pub lidar_neighbour_sectors: usize,
    /// Error when the blocked fraction (1 − ratio) reaches this. Default 0.8.
    pub lidar_error_fraction: f64,
    /// Warn when the whole scan's count / baseline falls below this. Default 0.5.
    pub lidar_total_warn_ratio: f64,
    /// Error when it falls below this. Default 0.25.
    pub lidar_total_error_ratio: f64,

    /// Window of the radar amplitude mean, s. Default 5.
    pub amplitude_window_s: f64,
    /// Warn when the windowed mean of the per-scan median amplitude falls this far below the
    /// baseline, dB. Default 12.
    pub amplitude_warn_drop_db: f64,
    /// Error drop, dB. Default 20.
    pub amplitude_error_drop_db: f64,

    /// Window of radar/LiDAR azimuth pairs, s. Default 30.
    pub calib_window_s: f64,
    /// Minimum pairs in the window before judging. Default 40.
    pub calib_min_samples: usize,
    /// Warn when |robust mean offset| exceeds this, deg. Default 1.
    pub calib_warn_deg: f64,
    /// Error threshold, deg. Default 3.
    pub calib_error_deg: f64,
    /// The fusion corrects the radar's mounting by the estimate only when the residuals' MAD
    /// is at most this, deg. Default 1.
    pub calib_correct_max_mad_deg: f64,

    /// Window of the camera confidence mean, s. Default 5.
    pub confidence_window_s: f64,
    /// Warn when the windowed mean confidence falls this far below the baseline. Default 0.25.
    pub confidence_warn_drop: f64,
    /// Error drop. Default 0.4.
    pub confidence_error_drop: f64,
    /// Judge only when at least this fraction of frames in the window had detections (an
    /// empty road gives only the odd false positive). Default 0.5.
    pub confidence_min_frame_fraction: f64,

    /// Two ultrasonic readings are "the same" within this, m. Default 0.001.
    pub stuck_tolerance_m: f64,
    /// The ego moves when its speed exceeds this, m/s. Default 0.5.
    pub stuck_min_speed_mps: f64,
    /// An ego speed older than this is unknown (treated as standing), s. Default 0.5.
    pub speed_max_age_s: f64,
    /// Warn when the value stayed the same for this long while moving, s. Default 3.
    pub stuck_warn_s: f64,
    /// Error when it stayed for this long while moving, s. Default 10.
    pub stuck_error_s: f64,

    /// Warn when |gyro z bias| exceeds this, rad/s. Default 0.01.
    pub gyro_bias_warn_radps: f64,
    /// Error threshold, rad/s. Default 0.02.
    pub gyro_bias_error_radps: f64,
    /// The current bias is the mean over this, s. Default 1.
    pub gyro_bias_smooth_s: f64,
    /// Window of the gyro bias trend, s; shorter than `trend_window_s` so that a bias that
    /// starts to grow is extrapolated from its growth, not from the flat part before. Default 5.
    pub gyro_bias_trend_window_s: f64,
    /// Info ("projected") when |bias| is above half the warn threshold and the trend reaches
    /// the warn threshold within this, s. Default 10.
    pub gyro_bias_horizon_s: f64,
    /// High-pass cutoff of the accelerometer before the vibration RMS, Hz. Default 5.
    pub vibration_cutoff_hz: f64,
    /// One RMS value per block of this length, s. Default 1.
    pub vibration_block_s: f64,
    /// Warn when the last `vibration_persist_blocks` RMS values all exceed this, m/s^2.
    /// Default 1.
    pub vibration_warn_mps2: f64,
    /// Error threshold, m/s^2. Default 2.
    pub vibration_error_mps2: f64,
    /// Consecutive blocks above threshold needed. Default 3.
    pub vibration_persist_blocks: usize,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            eval_period_s: 0.5,
            trend_window_s: 10.0,
            baseline_s: 1.5,
            rate_window_s: 2.0,
            rate_warn_fraction: 0.8,
            rate_error_fraction: 0.5,
            dropout_factor: 3.0,
            dropout_window_s: 10.0,
            dropout_warn_count: 3,
            dropout_error_gap_s: 1.0,
            silence_periods: 5.0,
            silence_min_s: 0.5,
            latency_window_s: 2.0,
            latency_margin_s: 0.05,
            clock_offset_tolerance_s: 0.05,
            lidar_sectors: 36,
            lidar_min_sector_points: 20.0,
            lidar_smooth_s: 1.0,
            lidar_blocked_ratio: 0.5,
            lidar_blind_ratio: 0.7,
            lidar_neighbour_ratio: 0.6,
            lidar_neighbour_sectors: 3,
            lidar_error_fraction: 0.8,
            lidar_total_warn_ratio: 0.5,
            lidar_total_error_ratio: 0.25,
            amplitude_window_s: 5.0,
            amplitude_warn_drop_db: 12.0,
            amplitude_error_drop_db: 20.0,
            calib_window_s: 30.0,
            calib_min_samples: 40,
            calib_warn_deg: 1.0,
            calib_error_deg: 3.0,
            calib_correct_max_mad_deg: 1.0,
            confidence_window_s: 5.0,
            confidence_warn_drop: 0.25,
            confidence_error_drop: 0.4,
            confidence_min_frame_fraction: 0.5,
            stuck_tolerance_m: 0.001,
            stuck_min_speed_mps: 0.5,
            speed_max_age_s: 0.5,
            stuck_warn_s: 3.0,
            stuck_error_s: 10.0,
            gyro_bias_warn_radps: 0.01,
            gyro_bias_error_radps: 0.02,
            gyro_bias_smooth_s: 1.0,
            gyro_bias_trend_window_s: 5.0,
            gyro_bias_horizon_s: 10.0,
            vibration_cutoff_hz: 5.0,
            vibration_block_s: 1.0,
            vibration_warn_mps2: 1.0,
            vibration_error_mps2: 2.0,
            vibration_persist_blocks: 3,
        }
    }
}

/// The nominal rate of a sensor on the topic contract (`DESIGN.md`), Hz: LiDAR 10, radar 20,
/// camera 30, ultrasonic 20, IMU 100, wheel 50.
pub fn default_nominal_rate_hz(sensor: SensorId) -> f64 {
    match sensor {
        SensorId::Lidar => 10.0,
        SensorId::RadarFront => 20.0,
        SensorId::CameraFront => 30.0,
        SensorId::Ultrasonic(_) => 20.0,
        SensorId::Imu => 100.0,
        SensorId::Wheel => 50.0,
    }
}

/// Gates of [`match_radar_to_lidar`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationGates {
    /// |radar range − object centre range| at most this, m (radar hits the near surface, up to
    /// half a truck's length in front of the centre). Default 5.
    pub range_gate_m: f64,
    /// |radar azimuth − object azimuth| at most this, rad. Default 6 deg.
    pub azimuth_gate_rad: f64,
    /// Objects closer than this are not used (their angular extent is too wide), m. Default 8.
    pub min_range_m: f64,
    /// A detection is ambiguous (dropped) when the second-best object's normalized cost is
    /// below this times the best one's. Default 2.
    pub ambiguity_ratio: f64,
}

impl Default for CalibrationGates {
    fn default() -> Self {
        Self {
            range_gate_m: 5.0,
            azimuth_gate_rad: 6f64.to_radians(),
            min_range_m: 8.0,
            ambiguity_ratio: 2.0,
        }
    }
}

/// One radar detection matched to a LiDAR object, both azimuths in the radar frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AzimuthPair {
    /// Index of the detection in the input slice.
    pub detection: usize,
    /// Index of the object in the input slice.
    pub object: usize,
    /// Reported radar azimuth, rad.
    pub radar_azimuth_rad: f64,
    /// Azimuth of the LiDAR object centre seen from the radar (through the nominal extrinsics),
    /// rad.
    pub lidar_azimuth_rad: f64,
}

/// Matches radar detections (sensor polar frame) to LiDAR object centres already transformed
/// into the radar frame (`radar_from_base * base_from_lidar * object`, x/y in m). Each detection
/// takes the object with the least normalized cost `(dr / range_gate)^2 + (daz / az_gate)^2`
/// inside both gates, where `dr = r_det − hypot(x, y)` and `daz = wrap(az_det − atan2(y, x))`;
/// ambiguous detections (a second object almost as close) and non-finite values are dropped.
/// Several detections may match one object. Feed the result to
/// [`HealthMonitor::record_radar_lidar_pairs`].
pub fn match_radar_to_lidar(
    detections: &[RadarDetection],
    objects_xy_in_radar_m: &[[f64; 2]],
    gates: &CalibrationGates,
) -> Vec<AzimuthPair> {
    let objects: Vec<(usize, f64, f64)> = objects_xy_in_radar_m
        .iter()
        .enumerate()
        .filter(|(_, p)| p[0].is_finite() && p[1].is_finite())
        .map(|(i, p)| (i, p[0].hypot(p[1]), p[1].atan2(p[0])))
        .filter(|(_, r, _)| *r >= gates.min_range_m)
        .collect();
    let mut pairs = Vec::new();
    for (di, d) in detections.iter().enumerate() {
        if !(d.range_m.is_finite() && d.azimuth_rad.is_finite()) {
            continue;
        }
        let mut best: Option<(f64, usize, f64)> = None;
        let mut second = f64::INFINITY;
        for &(oi, r, az) in &objects {
            let dr = d.range_m - r;
            let daz = wrap_angle_rad(d.azimuth_rad - az);
            if dr.abs() > gates.range_gate_m || daz.abs() > gates.azimuth_gate_rad {
                continue;
            }
            let cost = (dr / gates.range_gate_m).powi(2) + (daz / gates.azimuth_gate_rad).powi(2);
            match best {
                Some((c, _, _)) if cost >= c => second = second.min(cost),
                Some((c, _, _)) => {
                    second = c;
                    best = Some((cost, oi, az));
                }
                None => best = Some((cost, oi, az)),
            }
        }
        if let Some((c, oi, az)) = best {
            if second < gates.ambiguity_ratio * c.max(1e-6) {
                continue;
            }
            pairs.push(AzimuthPair {
                detection: di,
                object: oi,
                radar_azimuth_rad: d.azimuth_rad,
                lidar_azimuth_rad: az,
            });
        }
    }
    pairs
}

/// A time series over a sliding window, with least-squares trend.
#[derive(Debug, Clone)]
struct Series {
    window_ns: i64,
    pts: VecDeque<(i64, f64)>,
}

impl Series {
    fn new(window_s: f64) -> Self {
        Self {
            window_ns: s_to_ns(window_s),
            pts: VecDeque::new(),
        }
    }

    /// Adds a sample where its stamp belongs (a late one among the earlier ones, after those
    /// of the same stamp); the window follows the newest stamp, so a sample older than the
    /// window is not kept.
    fn push(&mut self, t_ns: i64, v: f64) {
        if !v.is_finite() {
            return;
        }
        let newest_ns = self.pts.back().map_or(t_ns, |&(last, _)| last.max(t_ns));
        let oldest_ns = newest_ns - self.window_ns;
        if t_ns < oldest_ns {
            return;
        }
        let at = self.pts.partition_point(|&(t, _)| t <= t_ns);
        self.pts.insert(at, (t_ns, v));
        while self.pts.front().is_some_and(|&(t0, _)| t0 < oldest_ns) {
            self.pts.pop_front();
        }
    }

    fn len(&self) -> usize {
        self.pts.len()
    }

    fn span_s(&self) -> f64 {
        match (self.pts.front(), self.pts.back()) {
            (Some(a), Some(b)) => ns_to_s(b.0 - a.0),
            _ => 0.0,
        }
    }

    fn last_t(&self) -> Option<i64> {
        self.pts.back().map(|p| p.0)
    }

    /// Mean of the values stamped at or after `since_ns`.
    fn mean_since(&self, since_ns: i64) -> Option<f64> {
        let (mut s, mut n) = (0.0, 0usize);
        for &(t, v) in self.pts.iter().rev() {
            if t < since_ns {
                break;
            }
            s += v;
            n += 1;
        }
        (n > 0).then(|| s / n as f64)
    }

    fn mean(&self) -> Option<f64> {
        self.mean_since(i64::MIN)
    }

    /// Mean of the values stamped in `[lo_ns, hi_ns]`.
    fn mean_within(&self, lo_ns: i64, hi_ns: i64) -> Option<f64> {
        let (s, n) = self
            .pts
            .iter()
            .filter(|(t, _)| (lo_ns..=hi_ns).contains(t))
            .fold((0.0, 0usize), |(s, n), &(_, v)| (s + v, n + 1));
        (n > 0).then(|| s / n as f64)
    }

    /// Least-squares slope `sum((t - tm)(v - vm)) / sum((t - tm)^2)`, value unit per second;
    /// 0 with fewer than 3 points or no time span.
    fn slope_per_s(&self) -> f64 {
        slope_per_s(self.pts.iter().copied())
    }
}

/// Least-squares slope of `(t_ns, v)` samples, unit per second (0 when undetermined).
fn slope_per_s(pts: impl Iterator<Item = (i64, f64)> + Clone) -> f64 {
    let mut n = 0usize;
    let mut t0 = None;
    let (mut st, mut sv) = (0.0, 0.0);
    for (t, v) in pts.clone() {
        let t0 = *t0.get_or_insert(t);
        st += ns_to_s(t - t0);
        sv += v;
        n += 1;
    }
    let Some(t0) = t0 else { return 0.0 };
    if n < 3 {
        return 0.0;
    }
    let (tm, vm) = (st / n as f64, sv / n as f64);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, v) in pts {
        let dt = ns_to_s(t - t0) - tm;
        sxy += dt * (v - vm);
        sxx += dt * dt;
    }
    if sxx <= 1e-12 {
        0.0
    } else {
        sxy / sxx
    }
}

/// Which side of the error threshold is bad.
#[derive(Debug, Clone, Copy)]
enum Bad {
    /// Values at or above the threshold.
    Above(f64),
    /// Values at or below the threshold.
    Below(f64),
    /// |value| at or above the threshold.
    AbsAbove(f64),
}

/// Seconds until `current` moving at `slope_per_s` reaches the bad side: 0 when already there,
/// infinity when not approaching.
fn time_to_threshold_s(current: f64, slope_per_s: f64, bad: Bad) -> f64 {
    const EPS: f64 = 1e-12;
    match bad {
        Bad::Above(thr) => {
            if current >= thr {
                0.0
            } else if slope_per_s > EPS {
                (thr - current) / slope_per_s
            } else {
                f64::INFINITY
            }
        }
        Bad::Below(thr) => {
            if current <= thr {
                0.0
            } else if slope_per_s < -EPS {
                (thr - current) / slope_per_s
            } else {
                f64::INFINITY
            }
        }
        Bad::AbsAbove(thr) => {
            let s = if current < 0.0 { -1.0 } else { 1.0 };
            time_to_threshold_s(current.abs(), s * slope_per_s, Bad::Above(thr))
        }
    }
}

/// Arrival bookkeeping of one sensor.
#[derive(Debug, Clone)]
struct SensorState {
    nominal_rate_hz: f64,
    name: Option<String>,
    messages: u64,
    last_stamp: Option<i64>,
    stamps: VecDeque<i64>,
    latency: Series,
    rate_hist: Series,
    /// Dropout gaps in the dropout window, `(start, end)` stamps, in the order of their ends.
    gaps: VecDeque<(i64, i64)>,
    dropouts: u64,
    longest_retired_gap_s: f64,
    skipped: BTreeMap<SkipReason, u64>,
}

impl SensorState {
    fn new(sensor: SensorId, cfg: &HealthConfig) -> Self {
        Self {
            nominal_rate_hz: default_nominal_rate_hz(sensor),
            name: None,
            messages: 0,
            last_stamp: None,
            stamps: VecDeque::new(),
            latency: Series::new(cfg.latency_window_s),
            rate_hist: Series::new(cfg.trend_window_s),
            gaps: VecDeque::new(),
            dropouts: 0,
            longest_retired_gap_s: 0.0,
            skipped: BTreeMap::new(),
        }
    }

    fn period_s(&self) -> f64 {
        1.0 / self.nominal_rate_hz
    }

    /// The longest dropout gap since start, s (those in the window and those that left it).
    fn longest_gap_s(&self) -> f64 {
        self.gaps
            .iter()
            .map(|&(start, end)| ns_to_s(end - start))
            .fold(self.longest_retired_gap_s, f64::max)
    }

    /// Places a late stamp (not newer than the last, within the rate window, not one already
    /// there) among the stamps of the window; a dropout gap it falls in is split into the parts still longer
    /// than `dropout_s`.
    fn place_late(&mut self, stamp_ns: i64, dropout_s: f64) {
        let at = self.stamps.partition_point(|&t| t < stamp_ns);
        self.stamps.insert(at, stamp_ns);
        if let Some(g) = self
            .gaps
            .iter()
            .position(|&(start, end)| start < stamp_ns && stamp_ns < end)
        {
            let (start, end) = self.gaps[g];
            self.gaps.remove(g);
            self.dropouts = self.dropouts.saturating_sub(1);
            for part in [(start, stamp_ns), (stamp_ns, end)] {
                if ns_to_s(part.1 - part.0) > dropout_s {
                    self.dropouts += 1;
                    let at = self.gaps.partition_point(|&(_, e)| e < part.1);
                    self.gaps.insert(at, part);
                }
            }
        }
    }

    /// Arrival rate over the stamps in the window, `(n - 1) / span`, Hz.
    fn rate_hz(&self) -> Option<f64> {
        let (a, b) = (self.stamps.front()?, self.stamps.back()?);
        let span = ns_to_s(b - a);
        (self.stamps.len() >= 2 && span > 0.0).then(|| (self.stamps.len() - 1) as f64 / span)
    }
}

/// LiDAR sector statistics.
#[derive(Debug, Clone, Default)]
struct LidarState {
    first_ns: Option<i64>,
    baseline_sum: Vec<f64>,
    baseline_scans: usize,
    /// Per-sector baseline returns per scan, once the baseline period is over.
    baseline: Option<Vec<f64>>,
    /// Per scan: stamp, per-sector count / baseline (NaN for sectors not judged), total ratio.
    history: VecDeque<(i64, Vec<f64>, f64)>,
}

/// Baseline-relative monitor of a scalar (radar amplitude, camera confidence).
#[derive(Debug, Clone)]
struct BaselineSignal {
    first_ns: Option<i64>,
    baseline: Series,
    baseline_done: Option<f64>,
    recent: Series,
}

impl BaselineSignal {
    fn new(baseline_s: f64, window_s: f64, trend_window_s: f64) -> Self {
        Self {
            first_ns: None,
            baseline: Series::new(baseline_s * 4.0 + 1.0),
            baseline_done: None,
            recent: Series::new(window_s.max(trend_window_s)),
        }
    }

    /// Takes a sample stamped `t_ns`: into the recent window, and into the baseline when it
    /// lies in the baseline period (`baseline_s` from the earliest stamp seen while the period
    /// is open) and is at most `max_late_s` older than the newest sample. So a late sample of
    /// the period revises a baseline already measured, and a late first sample moves the
    /// period's start back, as in time; one later than that (a clock jump back) does not.
    fn push(&mut self, t_ns: i64, v: f64, baseline_s: f64, max_late_s: f64) {
        let newest_ns = self.recent.last_t().map_or(t_ns, |n| n.max(t_ns));
        let in_time = newest_ns - t_ns <= s_to_ns(max_late_s);
        let first = match self.first_ns {
            Some(f) if self.baseline_done.is_none() && in_time => f.min(t_ns),
            Some(f) => f,
            None => t_ns,
        };
        self.first_ns = Some(first);
        let end_ns = first.saturating_add(s_to_ns(baseline_s));
        if (first..=end_ns).contains(&t_ns) {
            if in_time {
                self.baseline.push(t_ns, v);
                if self.baseline_done.is_some() {
                    self.baseline_done = self.baseline.mean_within(first, end_ns);
                }
            }
        } else if t_ns > end_ns && self.baseline_done.is_none() {
            self.baseline_done = self.baseline.mean_within(first, end_ns);
        }
        self.recent.push(t_ns, v);
    }
}

/// Stuck-value run of one ultrasonic sensor (no run while `readings` is 0: the last reading
/// had no value).
#[derive(Debug, Clone, Default)]
struct StuckState {
    value_m: f64,
    last_ns: Option<i64>,
    run_start_ns: i64,
    moving_s: f64,
    readings: u64,
}

/// IMU vibration state: first-order high-pass per axis and the block accumulator.
#[derive(Debug, Clone, Default)]
struct VibrationState {
    last: Option<(i64, [f64; 3], [f64; 3])>,
    block_start_ns: Option<i64>,
    sum_sq: f64,
    n: usize,
}

/// The sensor health monitor. Feed it per message and per cycle (every input with its stamp),
/// read [`HealthMonitor::findings`] and [`HealthMonitor::sensor_stats`].
#[derive(Debug, Clone)]
pub struct HealthMonitor {
    cfg: HealthConfig,
    sensors: BTreeMap<SensorId, SensorState>,
    /// Nominal rates set for sensors, Hz (others: [`default_nominal_rate_hz`]).
    nominal_rates_hz: BTreeMap<SensorId, f64>,
    lidar: LidarState,
    radar_amplitude: BaselineSignal,
    calib: VecDeque<(i64, f64)>,
    camera_conf: BaselineSignal,
    camera_frames: Series,
    speed: Option<(i64, f64)>,
    stuck: BTreeMap<u8, StuckState>,
    gyro_bias: Series,
    vibration: VecDeque<(i64, f64)>,
    vib_state: VibrationState,
    first_seen: BTreeMap<(String, FindingKind), i64>,
    latest_ns: Option<i64>,
    next_eval_ns: Option<i64>,
}

impl Default for HealthMonitor {
    fn default() -> Self {
        Self::new(HealthConfig::default())
    }
}

/// A finding before its first-seen time is known.
struct Draft {
    component: String,
    kind: FindingKind,
    severity: Severity,
    evidence: Vec<(String, f64)>,
    trend_per_s: f64,
    time_to_threshold_s: f64,
}

fn ev(key: &str, v: f64) -> (String, f64) {
    (key.to_string(), v)
}

impl HealthMonitor {
    /// A monitor with the given thresholds.
    pub fn new(cfg: HealthConfig) -> Self {
        let radar_amplitude =
            BaselineSignal::new(cfg.baseline_s, cfg.amplitude_window_s, cfg.trend_window_s);
        let camera_conf =
            BaselineSignal::new(cfg.baseline_s, cfg.confidence_window_s, cfg.trend_window_s);
        let camera_frames = Series::new(cfg.confidence_window_s);
        let gyro_bias = Series::new(cfg.gyro_bias_trend_window_s);
        Self {
            cfg,
            sensors: BTreeMap::new(),
            nominal_rates_hz: BTreeMap::new(),
            lidar: LidarState::default(),
            radar_amplitude,
            calib: VecDeque::new(),
            camera_conf,
            camera_frames,
            speed: None,
            stuck: BTreeMap::new(),
            gyro_bias,
            vibration: VecDeque::new(),
            vib_state: VibrationState::default(),
            first_seen: BTreeMap::new(),
            latest_ns: None,
            next_eval_ns: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HealthConfig {
        &self.cfg
    }

    fn sensor(&mut self, sensor: SensorId) -> &mut SensorState {
        let cfg = &self.cfg;
        let nominal = self.nominal_rates_hz.get(&sensor).copied();
        self.sensors.entry(sensor).or_insert_with(|| {
            let mut st = SensorState::new(sensor, cfg);
            if let Some(rate_hz) = nominal {
                st.nominal_rate_hz = rate_hz;
            }
            st
        })
    }

    /// Sets a sensor's nominal rate, Hz (defaults: [`default_nominal_rate_hz`]); it applies
    /// from the sensor's first message (a sensor that never sends one is not listed).
    /// Non-finite or non-positive rates are ignored.
    pub fn set_nominal_rate(&mut self, sensor: SensorId, rate_hz: f64) {
        if rate_hz.is_finite() && rate_hz > 0.0 {
            self.nominal_rates_hz.insert(sensor, rate_hz);
            if let Some(st) = self.sensors.get_mut(&sensor) {
                st.nominal_rate_hz = rate_hz;
            }
        }
    }

    /// Names a sensor for its component string; used for ultrasonic positions, e.g.
    /// `set_sensor_name(SensorId::Ultrasonic(8), "rear_center_left")` gives the component
    /// `ultrasonic/rear_center_left` (without a name: `ultrasonic/8`).
    pub fn set_sensor_name(&mut self, sensor: SensorId, name: &str) {
        self.sensor(sensor).name = Some(name.to_string());
    }

    /// The component string of a sensor in findings.
    pub fn component(&self, sensor: SensorId) -> String {
        match sensor {
            SensorId::Lidar => "lidar".to_string(),
            SensorId::RadarFront => "radar_front".to_string(),
            SensorId::CameraFront => "camera_front".to_string(),
            SensorId::Imu => "imu".to_string(),
            SensorId::Wheel => "wheel".to_string(),
            SensorId::Ultrasonic(i) => {
                match self.sensors.get(&sensor).and_then(|s| s.name.as_deref()) {
                    Some(name) => format!("ultrasonic/{name}"),
                    None => format!("ultrasonic/{i}"),
                }
            }
        }
    }

    /// Advances the internal clock to `t_ns` and evaluates the detectors when an evaluation
    /// period has passed (so `first_seen_ns` follows the data, not the reader).
    fn tick(&mut self, t_ns: i64) {
        let latest = self.latest_ns.map_or(t_ns, |l| l.max(t_ns));
        self.latest_ns = Some(latest);
        match self.next_eval_ns {
            None => self.next_eval_ns = Some(latest + s_to_ns(self.cfg.eval_period_s)),
            Some(next) if latest >= next => {
                self.evaluate_and_track(latest);
                self.next_eval_ns = Some(latest + s_to_ns(self.cfg.eval_period_s));
            }
            Some(_) => {}
        }
    }

    /// Counts `count` inputs of `sensor` skipped for `reason` (fed by any stage).
    pub fn record_skipped(&mut self, sensor: SensorId, reason: SkipReason, count: u64) {
        if count > 0 {
            *self.sensor(sensor).skipped.entry(reason).or_insert(0) += count;
        }
    }

    /// One message of `sensor` stamped `stamp_ns` arrived at `arrival_ns` (the time the node
    /// received it; in a bag, the log time). Feeds rate, latency and dropouts. A message that
    /// arrives after a newer one of its sensor (late) is placed among the stamps of the rate
    /// window where it belongs: it counts in the rate and its latency in the mean, and it
    /// splits the gap it falls in, so a gap counted as a dropout that it fills is no longer one.
    /// A stamp already seen is counted as [`SkipReason::DuplicateStamp`] (its latency not
    /// taken), one older than the rate window as [`SkipReason::OutOfSequence`]; neither enters
    /// the rate.
    pub fn record_arrival(&mut self, sensor: SensorId, stamp_ns: StampNs, arrival_ns: StampNs) {
        let rate_window_ns = s_to_ns(self.cfg.rate_window_s);
        let dropout_window_ns = s_to_ns(self.cfg.dropout_window_s);
        let dropout_factor = self.cfg.dropout_factor;
        let st = self.sensor(sensor);
        st.messages += 1;
        // A stamp already seen: a second copy, counted, neither in the rate nor the latency.
        // (Only a stamp not newer than the last can be one: the common in-order case skips the
        // search.)
        if st.last_stamp.is_some_and(|last| stamp_ns <= last)
            && st.stamps.binary_search(&stamp_ns).is_ok()
        {
            *st.skipped.entry(SkipReason::DuplicateStamp).or_insert(0) += 1;
            return;
        }
        st.latency.push(stamp_ns, ns_to_s(arrival_ns - stamp_ns));
        let dropout_s = dropout_factor * st.period_s();
        match st.last_stamp {
            Some(last) if stamp_ns <= last => {
                if stamp_ns < last - rate_window_ns {
                    *st.skipped.entry(SkipReason::OutOfSequence).or_insert(0) += 1;
                } else {
                    st.place_late(stamp_ns, dropout_s);
                }
                return;
            }
            Some(last) => {
                let gap_s = ns_to_s(stamp_ns - last);
                if gap_s > dropout_s {
                    st.dropouts += 1;
                    st.gaps.push_back((last, stamp_ns));
                }
            }
            None => {}
        }
        st.last_stamp = Some(stamp_ns);
        st.stamps.push_back(stamp_ns);
        while st
            .stamps
            .front()
            .is_some_and(|&t| t < stamp_ns - rate_window_ns)
        {
            st.stamps.pop_front();
        }
        while let Some(&(start, end)) = st.gaps.front() {
            if end >= stamp_ns - dropout_window_ns {
                break;
            }
            st.longest_retired_gap_s = st.longest_retired_gap_s.max(ns_to_s(end - start));
            st.gaps.pop_front();
        }
        self.tick(stamp_ns);
    }

    /// The ego's forward speed at `stamp_ns`, m/s (wheel odometry or the EKF); used to tell a
    /// stuck ultrasonic sensor from a parked car. Non-finite values are ignored.
    pub fn record_ego_speed(&mut self, stamp_ns: StampNs, speed_mps: f64) {
        if !speed_mps.is_finite() {
            self.record_skipped(SensorId::Wheel, SkipReason::NonFinite, 1);
            return;
        }
        self.speed = Some((stamp_ns, speed_mps));
        self.tick(stamp_ns);
    }

    /// One LiDAR sweep stamped `stamp_ns`, points in the sensor frame. Counts the returns per
    /// azimuth sector (`atan2(y, x)`); non-finite points are skipped and counted
    /// ([`SkipReason::NonFinite`]), points at the origin too ([`SkipReason::NoReturn`]).
    pub fn record_lidar_scan(&mut self, stamp_ns: StampNs, points: &[LidarPoint]) {
        let n = self.cfg.lidar_sectors.max(1);
        let width = 360.0 / n as f32;
        let sectors_per_rad = n as f32 / std::f32::consts::TAU;
        let mut counts = vec![0u32; n];
        let (mut bad, mut none) = (0u64, 0u64);
        // In batches: the fast sector estimates first, in a branch-free (vectorised) loop.
        const BATCH: usize = 256;
        let mut approx = [0.0f32; BATCH];
        for chunk in points.chunks(BATCH) {
            for (p, a) in chunk.iter().zip(&mut approx) {
                *a = lidar_sector_estimate(p.x_m, p.y_m, sectors_per_rad);
            }
            for (p, &a) in chunk.iter().zip(&approx) {
                if !(p.x_m.is_finite() && p.y_m.is_finite() && p.z_m.is_finite()) {
                    bad += 1;
                    continue;
                }
                if p.x_m == 0.0 && p.y_m == 0.0 && p.z_m == 0.0 {
                    none += 1;
                    continue;
                }
                counts[lidar_sector_from(p.x_m, p.y_m, n, width, f64::from(a))] += 1;
            }
        }
        self.record_skipped(SensorId::Lidar, SkipReason::NonFinite, bad);
        self.record_skipped(SensorId::Lidar, SkipReason::NoReturn, none);
        self.record_lidar_sector_counts(stamp_ns, &counts);
    }

    /// The LiDAR azimuth sectors (sensor frame, `[lo, hi)` in rad within `[0, 2 pi)`) whose
    /// returns over the last `scans` scans averaged under `lidar_blind_ratio` of their
    /// baseline: where the LiDAR does not see well now (a window being blocked; also a sector
    /// the scene emptied, where there is little in range to see). Sectors with too few baseline
    /// returns to judge are not in it; empty until the baseline is known.
    pub fn lidar_blind_sectors(&self, scans: usize) -> Vec<(f64, f64)> {
        let n = self.cfg.lidar_sectors.max(1);
        let width_rad = std::f64::consts::TAU / n as f64;
        let recent: Vec<&Vec<f64>> = self
            .lidar
            .history
            .iter()
            .rev()
            .take(scans.max(1))
            .map(|(_, ratios, _)| ratios)
            .collect();
        (0..n)
            .filter(|&i| {
                let (sum, k) = recent
                    .iter()
                    .filter_map(|r| r.get(i).copied().filter(|v| v.is_finite()))
                    .fold((0.0, 0usize), |(s, k), v| (s + v, k + 1));
                k > 0 && sum / (k as f64) < self.cfg.lidar_blind_ratio
            })
            .map(|i| (i as f64 * width_rad, (i + 1) as f64 * width_rad))
            .collect()
    }

    /// Per-sector return counts of one sweep (sector `i` covers `[i, i+1) * 360/n` deg), for a
    /// caller that already binned the cloud. `counts.len()` must equal `lidar_sectors`;
    /// otherwise the scan is counted as skipped ([`SkipReason::OutOfRange`]).
    pub fn record_lidar_sector_counts(&mut self, stamp_ns: StampNs, counts: &[u32]) {
        let n = self.cfg.lidar_sectors;
        if counts.len() != n || n == 0 {
            self.record_skipped(SensorId::Lidar, SkipReason::OutOfRange, 1);
            return;
        }
        let trend_ns = s_to_ns(self.cfg.trend_window_s);
        let baseline_ns = s_to_ns(self.cfg.baseline_s);
        let min_pts = self.cfg.lidar_min_sector_points;
        let lidar = &mut self.lidar;
        if let Some(&(last, _, _)) = lidar.history.back() {
            if stamp_ns <= last {
                self.record_skipped(SensorId::Lidar, SkipReason::OutOfSequence, 1);
                return;
            }
        }
        let first = *lidar.first_ns.get_or_insert(stamp_ns);
        match &lidar.baseline {
            None if stamp_ns - first <= baseline_ns || lidar.baseline_scans < 3 => {
                if lidar.baseline_sum.len() != n {
                    lidar.baseline_sum = vec![0.0; n];
                }
                for (s, &c) in lidar.baseline_sum.iter_mut().zip(counts) {
                    *s += f64::from(c);
                }
                lidar.baseline_scans += 1;
            }
            None => {
                let k = lidar.baseline_scans as f64;
                lidar.baseline = Some(lidar.baseline_sum.iter().map(|s| s / k).collect());
            }
            Some(_) => {}
        }
        if let Some(base) = &lidar.baseline {
            let ratios: Vec<f64> = base
                .iter()
                .zip(counts)
                .map(|(&b, &c)| {
                    if b >= min_pts {
                        f64::from(c) / b
                    } else {
                        f64::NAN
                    }
                })
                .collect();
            let total_base: f64 = base.iter().sum();
            let total: f64 = counts.iter().map(|&c| f64::from(c)).sum();
            let total_ratio = if total_base > 0.0 {
                total / total_base
            } else {
                f64::NAN
            };
            lidar.history.push_back((stamp_ns, ratios, total_ratio));
            while lidar
                .history
                .front()
                .is_some_and(|h| h.0 < stamp_ns - trend_ns)
            {
                lidar.history.pop_front();
            }
        }
        self.tick(stamp_ns);
    }

    /// One radar scan: the per-scan median amplitude feeds the amplitude trend. Detections with
    /// a non-finite field are skipped and counted.
    pub fn record_radar_scan(&mut self, stamp_ns: StampNs, detections: &[RadarDetection]) {
        let mut amps: Vec<f64> = Vec::with_capacity(detections.len());
        let mut bad = 0u64;
        for d in detections {
            let fields = [
                d.range_m,
                d.azimuth_rad,
                d.elevation_rad,
                d.doppler_mps,
                d.amplitude_db,
            ];
            if fields.iter().all(|v| v.is_finite()) {
                amps.push(d.amplitude_db);
            } else {
                bad += 1;
            }
        }
        self.record_skipped(SensorId::RadarFront, SkipReason::NonFinite, bad);
        if let Some(m) = median(&mut amps) {
            self.radar_amplitude
                .push(stamp_ns, m, self.cfg.baseline_s, self.cfg.rate_window_s);
        }
        self.tick(stamp_ns);
    }

    /// Radar/LiDAR azimuth pairs (from [`match_radar_to_lidar`]) measured at `stamp_ns`. The
    /// residual `wrap(radar − lidar)` feeds the yaw-misalignment estimate. Non-finite pairs are
    /// skipped and counted.
    pub fn record_radar_lidar_pairs(&mut self, stamp_ns: StampNs, pairs: &[AzimuthPair]) {
        let window_ns = s_to_ns(self.cfg.calib_window_s);
        let mut bad = 0u64;
        // Those of a late scan go where their stamp belongs.
        let mut at = self.calib.partition_point(|c| c.0 <= stamp_ns);
        for p in pairs {
            let r = wrap_angle_rad(p.radar_azimuth_rad - p.lidar_azimuth_rad);
            if r.is_finite() {
                self.calib.insert(at, (stamp_ns, r));
                at += 1;
            } else {
                bad += 1;
            }
        }
        let newest_ns = self.calib.back().map_or(stamp_ns, |c| c.0.max(stamp_ns));
        while self
            .calib
            .front()
            .is_some_and(|c| c.0 < newest_ns - window_ns)
        {
            self.calib.pop_front();
        }
        self.record_skipped(SensorId::RadarFront, SkipReason::NonFinite, bad);
        self.tick(stamp_ns);
    }

    /// One camera frame's detections: the mean confidence feeds the confidence trend. Scores
    /// that are non-finite or outside [0, 1] are skipped and counted.
    pub fn record_camera_detections(&mut self, stamp_ns: StampNs, detections: &[Detection2D]) {
        let (mut s, mut n, mut bad, mut invalid) = (0.0, 0usize, 0u64, 0u64);
        for d in detections {
            if !d.score.is_finite() {
                bad += 1;
            } else if !(0.0..=1.0).contains(&d.score) {
                invalid += 1;
            } else {
                s += d.score;
                n += 1;
            }
        }
        self.record_skipped(SensorId::CameraFront, SkipReason::NonFinite, bad);
        self.record_skipped(SensorId::CameraFront, SkipReason::InvalidScore, invalid);
        self.camera_frames
            .push(stamp_ns, if n > 0 { 1.0 } else { 0.0 });
        if n > 0 {
            self.camera_conf.push(
                stamp_ns,
                s / n as f64,
                self.cfg.baseline_s,
                self.cfg.rate_window_s,
            );
        }
        self.tick(stamp_ns);
    }

    /// One ultrasonic reading. `±inf` (REP 117: nothing in range / too close) is counted as
    /// [`SkipReason::OutOfRange`] and NaN as [`SkipReason::NonFinite`]; both end a stuck run.
    /// A finite value within `stuck_tolerance_m` of the run's value extends the run, counting
    /// the time only while the ego moves faster than `stuck_min_speed_mps`. A late reading
    /// (older than the sensor's last) within the run and of another value, or none, breaks
    /// it: the run then counts from its newest reading (the readings between are not kept).
    /// A reading of the last one's stamp is counted as [`SkipReason::DuplicateStamp`].
    pub fn record_ultrasonic(&mut self, reading: &UltrasonicRange) {
        let sensor = SensorId::Ultrasonic(reading.sensor);
        let (t, range_m) = (reading.stamp_ns, reading.range_m);
        if self
            .stuck
            .get(&reading.sensor)
            .is_some_and(|st| st.last_ns == Some(t))
        {
            self.record_skipped(sensor, SkipReason::DuplicateStamp, 1);
            return;
        }
        if range_m.is_nan() {
            self.record_skipped(sensor, SkipReason::NonFinite, 1);
        } else if range_m.is_infinite() {
            self.record_skipped(sensor, SkipReason::OutOfRange, 1);
        }
        let moving = match self.speed {
            Some((ts, v)) => {
                ns_to_s((t - ts).abs()) <= self.cfg.speed_max_age_s
                    && v.abs() > self.cfg.stuck_min_speed_mps
            }
            None => false,
        };
        let tol = self.cfg.stuck_tolerance_m;
        let st = self.stuck.entry(reading.sensor).or_default();
        let in_run = range_m.is_finite() && st.readings > 0 && (range_m - st.value_m).abs() <= tol;
        match st.last_ns {
            Some(last) if t < last => {
                if st.readings > 0 && t > st.run_start_ns {
                    if in_run {
                        st.readings += 1;
                    } else {
                        st.run_start_ns = last;
                        st.moving_s = 0.0;
                        st.readings = 1;
                    }
                }
            }
            Some(last) if in_run => {
                if moving {
                    st.moving_s += ns_to_s(t - last);
                }
                st.readings += 1;
                st.last_ns = Some(t);
            }
            _ => {
                // A new run, or (no value) none until the next finite reading.
                let finite = range_m.is_finite();
                *st = StuckState {
                    value_m: range_m,
                    last_ns: Some(t),
                    run_start_ns: t,
                    moving_s: 0.0,
                    readings: u64::from(finite),
                };
            }
        }
        self.tick(t);
    }

    /// The EKF's gyro z bias estimate at `stamp_ns`, rad/s (feed once per cycle).
    pub fn record_gyro_bias(&mut self, stamp_ns: StampNs, bias_radps: f64) {
        if !bias_radps.is_finite() {
            self.record_skipped(SensorId::Imu, SkipReason::NonFinite, 1);
            return;
        }
        self.gyro_bias.push(stamp_ns, bias_radps);
        self.tick(stamp_ns);
    }

    /// One IMU sample: the accelerometer, high-passed per axis (first order,
    /// `y_k = a (y_{k-1} + x_k − x_{k-1})`, `a = tau / (tau + dt)`, `tau = 1 / (2 pi f_c)`),
    /// gives one RMS `sqrt(mean |y|^2)` per block. Non-finite samples are skipped and counted;
    /// a gap longer than 0.1 s restarts the filter.
    pub fn record_imu(&mut self, sample: &ImuSample) {
        let t = sample.stamp_ns;
        let a = [
            sample.accel_mps2.x,
            sample.accel_mps2.y,
            sample.accel_mps2.z,
        ];
        let g = [
            sample.gyro_radps.x,
            sample.gyro_radps.y,
            sample.gyro_radps.z,
        ];
        if !a.iter().chain(g.iter()).all(|v| v.is_finite()) {
            self.record_skipped(SensorId::Imu, SkipReason::NonFinite, 1);
            return;
        }
        let tau = 1.0 / (std::f64::consts::TAU * self.cfg.vibration_cutoff_hz);
        let block_ns = s_to_ns(self.cfg.vibration_block_s);
        let keep_ns = s_to_ns(self.cfg.trend_window_s);
        let vs = &mut self.vib_state;
        match vs.last {
            Some((tl, _, _)) if t <= tl => {
                self.record_skipped(SensorId::Imu, SkipReason::OutOfSequence, 1);
                return;
            }
            Some((tl, xl, yl)) if ns_to_s(t - tl) <= 0.1 => {
                let dt = ns_to_s(t - tl);
                let k = tau / (tau + dt);
                let mut y = [0.0; 3];
                for i in 0..3 {
                    y[i] = k * (yl[i] + a[i] - xl[i]);
                }
                vs.sum_sq += y.iter().map(|v| v * v).sum::<f64>();
                vs.n += 1;
                vs.last = Some((t, a, y));
            }
            _ => {
                vs.last = Some((t, a, [0.0; 3]));
                vs.block_start_ns = Some(t);
                vs.sum_sq = 0.0;
                vs.n = 0;
            }
        }
        let start = *vs.block_start_ns.get_or_insert(t);
        if t - start >= block_ns {
            if vs.n > 0 {
                self.vibration
                    .push_back((t, (vs.sum_sq / vs.n as f64).sqrt()));
                while self.vibration.front().is_some_and(|v| v.0 < t - keep_ns) {
                    self.vibration.pop_front();
                }
            }
            vs.block_start_ns = Some(t);
            vs.sum_sq = 0.0;
            vs.n = 0;
        }
        self.tick(t);
    }

    /// Counters and figures of every sensor seen, in `SensorId` order.
    pub fn sensor_stats(&self) -> Vec<SensorStats> {
        self.sensors
            .iter()
            .map(|(&id, s)| SensorStats {
                sensor: id,
                component: self.component(id),
                messages: s.messages,
                rate_hz: s.rate_hz().unwrap_or(f64::NAN),
                nominal_rate_hz: s.nominal_rate_hz,
                mean_latency_s: s.latency.mean().unwrap_or(f64::NAN),
                dropouts: s.dropouts,
                longest_gap_s: s.longest_gap_s(),
                skipped: s.skipped.clone(),
            })
            .collect()
    }

    /// Skipped inputs of one sensor for one reason, since start.
    pub fn skipped(&self, sensor: SensorId, reason: SkipReason) -> u64 {
        self.sensors
            .get(&sensor)
            .and_then(|s| s.skipped.get(&reason))
            .copied()
            .unwrap_or(0)
    }

    /// The active findings at `now_ns` (same clock as the stamps), ordered by component, then
    /// kind, then evidence as generated (deterministic). Also updates `first_seen_ns`: a
    /// component/kind keeps its first-seen time while it stays active.
    pub fn findings(&mut self, now_ns: StampNs) -> Vec<Finding> {
        let drafts = self.evaluate_and_track(now_ns);
        let mut out: Vec<Finding> = drafts
            .into_iter()
            .map(|d| {
                let first_seen_ns = self
                    .first_seen
                    .get(&(d.component.clone(), d.kind))
                    .copied()
                    .unwrap_or(now_ns);
                Finding {
                    component: d.component,
                    kind: d.kind,
                    severity: d.severity,
                    evidence: d.evidence,
                    trend_per_s: d.trend_per_s,
                    time_to_threshold_s: d.time_to_threshold_s,
                    first_seen_ns,
                    stamp_ns: now_ns,
                }
            })
            .collect();
        // Stable sort keeps the generation order within one component/kind.
        out.sort_by(|a, b| a.component.cmp(&b.component).then(a.kind.cmp(&b.kind)));
        out
    }

    fn evaluate_and_track(&mut self, now_ns: i64) -> Vec<Draft> {
        let drafts = self.evaluate(now_ns);
        let mut seen = BTreeMap::new();
        for d in &drafts {
            let key = (d.component.clone(), d.kind);
            let t = self
                .first_seen
                .get(&key)
                .copied()
                .unwrap_or(now_ns)
                .min(now_ns);
            seen.insert(key, t);
        }
        self.first_seen = seen;
        drafts
    }

    fn evaluate(&mut self, now_ns: i64) -> Vec<Draft> {
        let mut out = Vec::new();
        self.eval_sensors(now_ns, &mut out);
        self.eval_lidar(&mut out);
        self.eval_radar(&mut out);
        self.eval_camera(&mut out);
        self.eval_ultrasonic(&mut out);
        self.eval_imu(&mut out);
        out
    }

    fn eval_sensors(&mut self, now_ns: i64, out: &mut Vec<Draft>) {
        let cfg = self.cfg.clone();
        let ids: Vec<SensorId> = self.sensors.keys().copied().collect();
        for id in ids {
            let component = self.component(id);
            let Some(st) = self.sensors.get_mut(&id) else {
                continue;
            };
            let Some(last) = st.last_stamp else { continue };
            let period = st.period_s();
            let nominal = st.nominal_rate_hz;
            // Silence and dropouts.
            let silence_s = ns_to_s(now_ns - last);
            let silent = silence_s > (cfg.silence_periods * period).max(cfg.silence_min_s);
            let gaps_in_window: Vec<f64> = st
                .gaps
                .iter()
                .filter(|&&(_, end)| end >= now_ns - s_to_ns(cfg.dropout_window_s))
                .map(|&(start, end)| ns_to_s(end - start))
                .collect();
            let max_gap = gaps_in_window.iter().copied().fold(0.0, f64::max);
            if silent
                || gaps_in_window.len() >= cfg.dropout_warn_count
                || max_gap >= cfg.dropout_error_gap_s
            {
                let worst = if silent {
                    max_gap.max(silence_s)
                } else {
                    max_gap
                };
                let severity = if worst >= cfg.dropout_error_gap_s {
                    Severity::Error
                } else {
                    Severity::Warn
                };
                out.push(Draft {
                    component: component.clone(),
                    kind: FindingKind::Dropout,
                    severity,
                    evidence: vec![
                        ev("longest_gap_s", worst),
                        ev("silence_s", silence_s.max(0.0)),
                        ev("dropouts_in_window", gaps_in_window.len() as f64),
                        ev("dropouts_total", st.dropouts as f64),
                        ev("period_s", period),
                    ],
                    trend_per_s: gaps_in_window.len() as f64 / cfg.dropout_window_s,
                    time_to_threshold_s: time_to_threshold_s(
                        worst,
                        0.0,
                        Bad::Above(cfg.dropout_error_gap_s),
                    ),
                });
            }
            // Rate.
            if let Some(rate) = st.rate_hz() {
                let span = st
                    .stamps
                    .back()
                    .zip(st.stamps.front())
                    .map_or(0.0, |(b, a)| ns_to_s(b - a));
                if span >= 0.5 * cfg.rate_window_s {
                    st.rate_hist.push(last, rate);
                    if !silent && rate < cfg.rate_warn_fraction * nominal {
                        let err = cfg.rate_error_fraction * nominal;
                        let slope = st.rate_hist.slope_per_s();
                        out.push(Draft {
                            component: component.clone(),
                            kind: FindingKind::RateDrop,
                            severity: if rate <= err {
                                Severity::Error
                            } else {
                                Severity::Warn
                            },
                            evidence: vec![ev("rate_hz", rate), ev("nominal_rate_hz", nominal)],
                            trend_per_s: slope,
                            time_to_threshold_s: time_to_threshold_s(rate, slope, Bad::Below(err)),
                        });
                    }
                }
            }
            // Latency.
            if let Some(lat) = st.latency.mean() {
                let budget = period + cfg.latency_margin_s;
                let slope = st.latency.slope_per_s();
                if lat > budget {
                    out.push(Draft {
                        component: component.clone(),
                        kind: FindingKind::Latency,
                        severity: if lat > 2.0 * budget {
                            Severity::Error
                        } else {
                            Severity::Warn
                        },
                        evidence: vec![ev("mean_latency_s", lat), ev("budget_s", budget)],
                        trend_per_s: slope,
                        time_to_threshold_s: time_to_threshold_s(
                            lat,
                            slope,
                            Bad::Above(2.0 * budget),
                        ),
                    });
                } else if lat < -cfg.clock_offset_tolerance_s {
                    out.push(Draft {
                        component: component.clone(),
                        kind: FindingKind::ClockOffset,
                        severity: Severity::Warn,
                        evidence: vec![
                            ev("mean_latency_s", lat),
                            ev("tolerance_s", cfg.clock_offset_tolerance_s),
                        ],
                        trend_per_s: slope,
                        time_to_threshold_s: f64::INFINITY,
                    });
                }
            }
        }
    }

    fn eval_lidar(&self, out: &mut Vec<Draft>) {
        let cfg = &self.cfg;
        let n = cfg.lidar_sectors;
        let Some(base) = &self.lidar.baseline else {
            return;
        };
        let Some(&(last_t, _, _)) = self.lidar.history.back() else {
            return;
        };
        let since = last_t - s_to_ns(cfg.lidar_smooth_s);
        let recent: Vec<&(i64, Vec<f64>, f64)> =
            self.lidar.history.iter().filter(|h| h.0 > since).collect();
        if recent.is_empty() || n == 0 {
            return;
        }
        let smoothed: Vec<f64> = (0..n)
            .map(|i| recent.iter().map(|h| h.1[i]).sum::<f64>() / recent.len() as f64)
            .collect();
        let valid: Vec<bool> = smoothed.iter().map(|r| r.is_finite()).collect();
        let cand: Vec<bool> = smoothed
            .iter()
            .map(|&r| r.is_finite() && r < cfg.lidar_blocked_ratio)
            .collect();
        let n_valid = valid.iter().filter(|&&v| v).count();
        let n_cand = cand.iter().filter(|&&c| c).count();
        let width = 360.0 / n as f64;
        if n_cand > 0 && n_cand < n_valid {
            // Start the circular walk at a non-candidate so no run wraps past the start.
            let start = (0..n).find(|&i| !cand[i]).unwrap_or(0);
            let mut runs: Vec<(usize, usize)> = Vec::new(); // (first, len), indices mod n
            let mut k = 0;
            while k < n {
                let i = (start + k) % n;
                if cand[i] {
                    let mut len = 0;
                    while len < n && cand[(i + len) % n] {
                        len += 1;
                    }
                    runs.push((i, len));
                    k += len;
                } else {
                    k += 1;
                }
            }
            runs.sort_unstable();
            for (first, len) in runs {
                let idx: Vec<usize> = (0..len).map(|j| (first + j) % n).collect();
                let mut neigh = Vec::new();
                for j in 1..=cfg.lidar_neighbour_sectors {
                    for i in [(first + n * 2 - j) % n, (first + len - 1 + j) % n] {
                        if valid[i] && !cand[i] && !neigh.contains(&i) {
                            neigh.push(i);
                        }
                    }
                }
                if neigh.is_empty() {
                    continue;
                }
                let run_ratio = idx.iter().map(|&i| smoothed[i]).sum::<f64>() / len as f64;
                let neigh_ratio =
                    neigh.iter().map(|&i| smoothed[i]).sum::<f64>() / neigh.len() as f64;
                if run_ratio >= cfg.lidar_neighbour_ratio * neigh_ratio {
                    continue;
                }
                let blocked = 1.0 - run_ratio;
                let series = self.lidar.history.iter().filter_map(|h| {
                    let m = idx.iter().map(|&i| h.1[i]).sum::<f64>() / len as f64;
                    m.is_finite().then_some((h.0, 1.0 - m))
                });
                let slope = slope_per_s(series);
                let mut az_min = first as f64 * width;
                if az_min > 180.0 {
                    az_min -= 360.0;
                }
                let base_pts: f64 = idx.iter().map(|&i| base[i]).sum();
                out.push(Draft {
                    component: "lidar".to_string(),
                    kind: FindingKind::BlockedSector,
                    severity: if blocked >= cfg.lidar_error_fraction {
                        Severity::Error
                    } else {
                        Severity::Warn
                    },
                    evidence: vec![
                        ev("blocked_fraction", blocked),
                        ev("azimuth_min_deg", az_min),
                        ev("azimuth_max_deg", az_min + len as f64 * width),
                        ev("baseline_points_per_scan", base_pts),
                        ev("points_per_scan", base_pts * run_ratio),
                        ev("neighbour_ratio", neigh_ratio),
                    ],
                    trend_per_s: slope,
                    time_to_threshold_s: time_to_threshold_s(
                        blocked,
                        slope,
                        Bad::Above(cfg.lidar_error_fraction),
                    ),
                });
            }
        }
        // Whole-scan count.
        let total = recent.iter().map(|h| h.2).sum::<f64>() / recent.len() as f64;
        if total.is_finite() && total < cfg.lidar_total_warn_ratio {
            let series = self.lidar.history.iter().map(|h| (h.0, h.2));
            let slope = slope_per_s(series);
            out.push(Draft {
                component: "lidar".to_string(),
                kind: FindingKind::PointCountDrop,
                severity: if total < cfg.lidar_total_error_ratio {
                    Severity::Error
                } else {
                    Severity::Warn
                },
                evidence: vec![
                    ev("count_ratio", total),
                    ev("baseline_points_per_scan", base.iter().sum()),
                ],
                trend_per_s: slope,
                time_to_threshold_s: time_to_threshold_s(
                    total,
                    slope,
                    Bad::Below(cfg.lidar_total_error_ratio),
                ),
            });
        }
    }

    fn eval_radar(&self, out: &mut Vec<Draft>) {
        let cfg = &self.cfg;
        // Amplitude.
        let amp = &self.radar_amplitude;
        if let (Some(base), Some(last)) = (amp.baseline_done, amp.recent.last_t()) {
            let since = last - s_to_ns(cfg.amplitude_window_s);
            if let Some(mean) = amp.recent.mean_since(since) {
                let drop = base - mean;
                if amp.recent.span_s() >= 0.5 * cfg.amplitude_window_s
                    && drop > cfg.amplitude_warn_drop_db
                {
                    let slope = amp.recent.slope_per_s();
                    out.push(Draft {
                        component: "radar_front".to_string(),
                        kind: FindingKind::AmplitudeDrop,
                        severity: if drop > cfg.amplitude_error_drop_db {
                            Severity::Error
                        } else {
                            Severity::Warn
                        },
                        evidence: vec![ev("mean_amplitude_db", mean), ev("baseline_db", base)],
                        trend_per_s: slope,
                        time_to_threshold_s: time_to_threshold_s(
                            mean,
                            slope,
                            Bad::Below(base - cfg.amplitude_error_drop_db),
                        ),
                    });
                }
            }
        }
        // Yaw misalignment.
        if let Some(est) = self.radar_yaw_estimate() {
            let (offset_deg, mad_deg, inl) = (est.offset_deg, est.mad_deg, &est.inliers);
            if offset_deg.abs() > cfg.calib_warn_deg {
                let slope = slope_per_s(inl.iter().map(|c| (c.0, c.1.to_degrees())));
                out.push(Draft {
                    component: "radar_front".to_string(),
                    kind: FindingKind::YawMisalignment,
                    severity: if offset_deg.abs() > cfg.calib_error_deg {
                        Severity::Error
                    } else {
                        Severity::Warn
                    },
                    evidence: vec![
                        ev("azimuth_offset_deg", offset_deg),
                        ev("mad_deg", mad_deg),
                        ev("samples", inl.len() as f64),
                        ev("threshold_deg", cfg.calib_warn_deg),
                    ],
                    trend_per_s: slope,
                    time_to_threshold_s: time_to_threshold_s(
                        offset_deg,
                        slope,
                        Bad::AbsAbove(cfg.calib_error_deg),
                    ),
                });
            }
        }
    }

    /// The radar yaw misalignment estimated from the radar/LiDAR azimuth pairs in the window:
    /// the median residual `wrap(radar − lidar)`, then the mean of the residuals within
    /// 3 · 1.4826 · MAD of it. `None` before `calib_min_samples` inliers. Negative: the radar
    /// reports azimuths too small (it is yawed counter-clockwise on its mount).
    pub fn radar_yaw_offset_deg(&self) -> Option<(f64, usize)> {
        self.radar_yaw_estimate()
            .map(|e| (e.offset_deg, e.inliers.len()))
    }

    /// The radar yaw misalignment to correct its mounting by, deg: the estimate of
    /// [`HealthMonitor::radar_yaw_offset_deg`] when it is beyond `calib_warn_deg` and
    /// consistent (the residuals' MAD at most `calib_correct_max_mad_deg`: a scattered
    /// estimate comes from ambiguous radar/LiDAR pairs, as among parked cars).
    pub fn radar_yaw_correction_deg(&self) -> Option<f64> {
        let est = self.radar_yaw_estimate()?;
        (est.offset_deg.abs() > self.cfg.calib_warn_deg
            && est.mad_deg <= self.cfg.calib_correct_max_mad_deg)
            .then_some(est.offset_deg)
    }

    fn radar_yaw_estimate(&self) -> Option<YawEstimate> {
        let min = self.cfg.calib_min_samples.max(3);
        if self.calib.len() < min {
            return None;
        }
        let mut r: Vec<f64> = self.calib.iter().map(|c| c.1).collect();
        let med = median(&mut r)?;
        let mut dev: Vec<f64> = r.iter().map(|v| (v - med).abs()).collect();
        let mad = median(&mut dev).unwrap_or(0.0).max(0.05f64.to_radians());
        let inliers: Vec<(i64, f64)> = self
            .calib
            .iter()
            .copied()
            .filter(|c| (c.1 - med).abs() <= 3.0 * 1.4826 * mad)
            .collect();
        if inliers.len() < min {
            return None;
        }
        let offset_deg =
            (inliers.iter().map(|c| c.1).sum::<f64>() / inliers.len() as f64).to_degrees();
        Some(YawEstimate {
            offset_deg,
            mad_deg: mad.to_degrees(),
            inliers,
        })
    }

    fn eval_camera(&self, out: &mut Vec<Draft>) {
        let cfg = &self.cfg;
        let conf = &self.camera_conf;
        let (Some(base), Some(last)) = (conf.baseline_done, conf.recent.last_t()) else {
            return;
        };
        let since = last - s_to_ns(cfg.confidence_window_s);
        let Some(mean) = conf.recent.mean_since(since) else {
            return;
        };
        let frac = self.camera_frames.mean().unwrap_or(0.0);
        let drop = base - mean;
        if self.camera_frames.span_s() >= 0.5 * cfg.confidence_window_s
            && frac >= cfg.confidence_min_frame_fraction
            && drop > cfg.confidence_warn_drop
        {
            let slope = conf.recent.slope_per_s();
            out.push(Draft {
                component: "camera_front".to_string(),
                kind: FindingKind::ConfidenceDrop,
                severity: if drop > cfg.confidence_error_drop {
                    Severity::Error
                } else {
                    Severity::Warn
                },
                evidence: vec![
                    ev("mean_confidence", mean),
                    ev("baseline_confidence", base),
                    ev("frames_with_detections_fraction", frac),
                ],
                trend_per_s: slope,
                time_to_threshold_s: time_to_threshold_s(
                    mean,
                    slope,
                    Bad::Below(base - cfg.confidence_error_drop),
                ),
            });
        }
    }

    fn eval_ultrasonic(&self, out: &mut Vec<Draft>) {
        let cfg = &self.cfg;
        for (&i, st) in &self.stuck {
            if st.moving_s < cfg.stuck_warn_s {
                continue;
            }
            let duration = st.last_ns.map_or(0.0, |l| ns_to_s(l - st.run_start_ns));
            out.push(Draft {
                component: self.component(SensorId::Ultrasonic(i)),
                kind: FindingKind::StuckValue,
                severity: if st.moving_s >= cfg.stuck_error_s {
                    Severity::Error
                } else {
                    Severity::Warn
                },
                evidence: vec![
                    ev("stuck_while_moving_s", st.moving_s),
                    ev("value_m", st.value_m),
                    ev("stuck_s", duration),
                    ev("readings", st.readings as f64),
                ],
                // The monitored quantity grows one second per second of driving.
                trend_per_s: 1.0,
                time_to_threshold_s: time_to_threshold_s(
                    st.moving_s,
                    1.0,
                    Bad::Above(cfg.stuck_error_s),
                ),
            });
        }
    }

    fn eval_imu(&self, out: &mut Vec<Draft>) {
        let cfg = &self.cfg;
        if let Some(last) = self.gyro_bias.last_t() {
            let since = last - s_to_ns(cfg.gyro_bias_smooth_s);
            if let Some(bias) = self.gyro_bias.mean_since(since) {
                let slope = self.gyro_bias.slope_per_s();
                let ttt =
                    time_to_threshold_s(bias, slope, Bad::AbsAbove(cfg.gyro_bias_error_radps));
                let to_warn =
                    time_to_threshold_s(bias, slope, Bad::AbsAbove(cfg.gyro_bias_warn_radps));
                let severity = if bias.abs() >= cfg.gyro_bias_error_radps {
                    Some(Severity::Error)
                } else if bias.abs() >= cfg.gyro_bias_warn_radps {
                    Some(Severity::Warn)
                } else if bias.abs() >= 0.5 * cfg.gyro_bias_warn_radps
                    && self.gyro_bias.span_s() >= 0.6 * cfg.gyro_bias_trend_window_s
                    && to_warn <= cfg.gyro_bias_horizon_s
                {
                    Some(Severity::Info)
                } else {
                    None
                };
                if let Some(severity) = severity {
                    out.push(Draft {
                        component: "imu".to_string(),
                        kind: FindingKind::GyroBias,
                        severity,
                        evidence: vec![
                            ev("bias_z_radps", bias),
                            ev("warn_threshold_radps", cfg.gyro_bias_warn_radps),
                            ev("error_threshold_radps", cfg.gyro_bias_error_radps),
                            ev("samples", self.gyro_bias.len() as f64),
                        ],
                        trend_per_s: slope,
                        time_to_threshold_s: ttt,
                    });
                }
            }
        }
        let k = cfg.vibration_persist_blocks.max(1);
        if self.vibration.len() >= k {
            let lastk: Vec<f64> = self.vibration.iter().rev().take(k).map(|v| v.1).collect();
            let min = lastk.iter().copied().fold(f64::INFINITY, f64::min);
            if min > cfg.vibration_warn_mps2 {
                let slope = slope_per_s(self.vibration.iter().copied());
                let rms = lastk[0];
                out.push(Draft {
                    component: "imu".to_string(),
                    kind: FindingKind::Vibration,
                    severity: if min > cfg.vibration_error_mps2 {
                        Severity::Error
                    } else {
                        Severity::Warn
                    },
                    evidence: vec![
                        ev("accel_rms_mps2", rms),
                        ev("cutoff_hz", cfg.vibration_cutoff_hz),
                    ],
                    trend_per_s: slope,
                    time_to_threshold_s: time_to_threshold_s(
                        rms,
                        slope,
                        Bad::Above(cfg.vibration_error_mps2),
                    ),
                });
            }
        }
    }
}

/// The robust radar yaw offset and the residuals it was computed from.
struct YawEstimate {
    offset_deg: f64,
    mad_deg: f64,
    inliers: Vec<(i64, f64)>,
}

/// Median of finite values (reorders in place: a selection, not a full sort); `None` when
/// empty. The two middle values of an even count are the order statistics a sort would give.
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let (m, odd) = (v.len() / 2, v.len() % 2 == 1);
    let (left, mid, _) = v.select_nth_unstable_by(m, f64::total_cmp);
    let mid = *mid;
    Some(if odd {
        mid
    } else {
        let below = left.iter().copied().max_by(f64::total_cmp).unwrap_or(mid);
        0.5 * (below + mid)
    })
}

/// The azimuth sector of a LiDAR return `(x, y)` in the sensor frame among `n` sectors of
/// `width_deg`: `floor(rem_euclid(deg(atan2(y, x)), 360) / width_deg)` evaluated in `f32`, the
/// last sector taking 360 itself. A fast `f32` approximation picks the sector; azimuths within
/// a thousandth of a sector of an edge are recomputed with the exact `f32` formula, so the
/// result is the exact formula's.
#[cfg(test)]
fn lidar_sector(x: f32, y: f32, n: usize, width_deg: f32, sectors_per_rad: f32) -> usize {
    lidar_sector_from(
        x,
        y,
        n,
        width_deg,
        f64::from(lidar_sector_estimate(x, y, sectors_per_rad)),
    )
}

/// The fast estimate of [`lidar_sector`] before its edge check: the azimuth in `[0, 2pi)` times
/// `sectors_per_rad` (NaN for the origin), in `f32` (within 3e-4 of a sector for up to 1024
/// sectors, far inside the edge margin). Branch-free.
/// (Kept in `f32` here: converting each to `f64` in the same loop took 1.5 times as long.)
#[inline]
fn lidar_sector_estimate(x: f32, y: f32, sectors_per_rad: f32) -> f32 {
    let a = crate::lidar::atan2_approx_f32(y, x);
    let a = if a < 0.0 {
        a + std::f32::consts::TAU
    } else {
        a
    };
    a * sectors_per_rad
}

/// [`lidar_sector`] from its estimate `estimate = lidar_sector_estimate(x, y, ..)`.
#[inline]
fn lidar_sector_from(x: f32, y: f32, n: usize, width_deg: f32, estimate: f64) -> usize {
    let exact = || {
        let az = y.atan2(x).to_degrees().rem_euclid(360.0);
        ((az / width_deg) as usize).min(n - 1)
    };
    if (x == 0.0 && y == 0.0) || n > 1024 {
        return exact();
    }
    match crate::lidar::bin_away_from_edge(estimate) {
        Some(i) => i.min(n - 1),
        None => exact(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ObjectClass, Transform3};
    use nalgebra::Vector3;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    fn ns(t_s: f64) -> i64 {
        s_to_ns(t_s)
    }

    const US_NAMES: [&str; 12] = [
        "front_left_corner",
        "front_left",
        "front_center_left",
        "front_center_right",
        "front_right",
        "front_right_corner",
        "rear_left_corner",
        "rear_left",
        "rear_center_left",
        "rear_center_right",
        "rear_right",
        "rear_right_corner",
    ];

    /// What the synthetic drive injects.
    #[derive(Clone)]
    struct Opts {
        lidar_block: bool,
        lidar_scene_change: bool,
        radar_yaw_deg: f64,
        gyro_growth: bool,
        stuck: bool,
        speed_mps: f64,
        bad_inputs: bool,
        radar_gap: Option<(f64, f64)>,
        camera_rate_hz: f64,
        vibration: bool,
        seed: u64,
    }

    impl Default for Opts {
        fn default() -> Self {
            Self {
                lidar_block: false,
                lidar_scene_change: true,
                radar_yaw_deg: 0.0,
                gyro_growth: false,
                stuck: false,
                speed_mps: 15.0,
                bad_inputs: false,
                radar_gap: None,
                camera_rate_hz: 30.0,
                vibration: false,
                seed: 7,
            }
        }
    }

    fn faults() -> Opts {
        Opts {
            lidar_block: true,
            radar_yaw_deg: 2.0,
            gyro_growth: true,
            stuck: true,
            ..Opts::default()
        }
    }

    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Ev {
        Lidar,
        Radar,
        Camera,
        Us(u8),
        Imu,
        Speed,
    }

    fn lidar_scan(rng: &mut ChaCha8Rng, t: f64, o: &Opts) -> Vec<LidarPoint> {
        let mut pts = Vec::with_capacity(16 * 1024);
        for c in 0..1024 {
            let az = (c as f64 + 0.5) / 1024.0 * std::f64::consts::TAU;
            let az_deg = az.to_degrees();
            let building = (30.0..150.0).contains(&az_deg) || (210.0..330.0).contains(&az_deg);
            let left_gone = o.lidar_scene_change && t >= 8.0 && az_deg < 180.0;
            let occluded = o.lidar_scene_change
                && (12.0..13.0).contains(&t)
                && (80.0..100.0).contains(&az_deg);
            let block = if o.lidar_block && (20.0..65.0).contains(&az_deg) {
                ((t - 2.0) / 16.0).clamp(0.0, 1.0)
            } else {
                0.0
            };
            for b in 0..16 {
                let ground = b < 10;
                if !ground && (!building || left_gone) {
                    continue;
                }
                if occluded && b % 5 < 2 {
                    continue;
                }
                if rng.random::<f64>() < 0.02 || rng.random::<f64>() < block {
                    continue;
                }
                let r = if ground { 5.0 + 3.0 * b as f64 } else { 20.0 };
                pts.push(LidarPoint {
                    x_m: (r * az.cos()) as f32,
                    y_m: (r * az.sin()) as f32,
                    z_m: if ground { -1.9 } else { 1.0 + b as f32 * 0.3 },
                    intensity: 10.0,
                    t_s: (c as f32) / 1024.0 * 0.1,
                });
            }
        }
        pts
    }

    /// Objects (centre x, y in the radar frame, length, width) at time t.
    fn radar_objects(t: f64) -> Vec<[f64; 4]> {
        let mut v = vec![[
            30.0 + 6.0 * (t / 3.0).sin(),
            0.3 * (t / 2.0).sin(),
            4.6,
            1.85,
        ]];
        for k in 0..3 {
            let x = 110.0 - ((t * 28.0 + 40.0 * k as f64) % 110.0);
            v.push([x, 3.5, 4.5, 1.8]);
        }
        v
    }

    fn radar_scan(rng: &mut ChaCha8Rng, t: f64, yaw_deg: f64) -> Vec<RadarDetection> {
        let az_noise = Normal::new(0.0, 0.3f64.to_radians()).unwrap();
        let amp_noise = Normal::new(0.0, 2.0).unwrap();
        let mut dets = Vec::new();
        for o in radar_objects(t) {
            let r_c = o[0].hypot(o[1]);
            if r_c < 1.0 || o[1].atan2(o[0]).abs() > 1.0 || rng.random::<f64>() > 0.92 {
                continue;
            }
            let n = rng.random_range(1..=4);
            for _ in 0..n {
                let x = o[0] - 0.5 * o[2];
                let y = o[1] + rng.random_range(-0.5..0.5) * o[3];
                let r = x.hypot(y);
                dets.push(RadarDetection {
                    range_m: r,
                    azimuth_rad: y.atan2(x) - yaw_deg.to_radians() + az_noise.sample(rng),
                    elevation_rad: 0.0,
                    doppler_mps: -3.0,
                    amplitude_db: 10.0 + 80.0 - 40.0 * r.log10() + amp_noise.sample(rng),
                });
            }
        }
        for _ in 0..8 {
            let r: f64 = rng.random_range(8.0..80.0);
            dets.push(RadarDetection {
                range_m: r,
                azimuth_rad: rng.random_range(-1.0..1.0),
                elevation_rad: 0.0,
                doppler_mps: -15.0,
                amplitude_db: 0.0 + 80.0 - 40.0 * r.log10() + amp_noise.sample(rng),
            });
        }
        dets
    }

    fn detection(score: f64) -> Detection2D {
        Detection2D {
            center_u_px: 640.0,
            center_v_px: 360.0,
            width_px: 80.0,
            height_px: 60.0,
            class: ObjectClass::Car,
            score,
        }
    }

    /// Runs a 20 s synthetic drive (or up to the last checkpoint) and returns the findings at
    /// each checkpoint (seconds).
    fn drive(o: &Opts, checkpoints: &[f64]) -> (HealthMonitor, Vec<(f64, Vec<Finding>)>) {
        let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
        let mut m = HealthMonitor::default();
        for (i, n) in US_NAMES.iter().enumerate() {
            m.set_sensor_name(SensorId::Ultrasonic(i as u8), n);
        }
        let end = checkpoints.iter().copied().fold(0.0, f64::max);
        let mut evs: Vec<(i64, Ev)> = Vec::new();
        let mut add = |rate: f64, phase_s: f64, e: Ev| {
            let mut k = 0;
            loop {
                let t = phase_s + k as f64 / rate;
                if t > end {
                    break;
                }
                evs.push((ns(t), e));
                k += 1;
            }
        };
        add(10.0, 0.0, Ev::Lidar);
        add(20.0, 0.003, Ev::Radar);
        add(o.camera_rate_hz, 0.007, Ev::Camera);
        for i in 0..12 {
            add(20.0, 0.011 + 0.001 * i as f64, Ev::Us(i));
        }
        add(100.0, 0.001, Ev::Imu);
        add(50.0, 0.002, Ev::Speed);
        evs.sort();
        let mut out = Vec::new();
        let mut cp = 0;
        let noise = Normal::new(0.0, 1.0).unwrap();
        let mut bias_walk = 0.001;
        let mut last_bad = -1.0;
        let tf = Transform3::identity();
        for (t_ns, e) in evs {
            while cp < checkpoints.len() && ns(checkpoints[cp]) < t_ns {
                out.push((checkpoints[cp], m.findings(ns(checkpoints[cp]))));
                cp += 1;
            }
            let t = ns_to_s(t_ns);
            if o.bad_inputs && t - last_bad >= 1.0 {
                last_bad = t;
                let nan = f32::NAN;
                m.record_lidar_scan(
                    t_ns,
                    &[LidarPoint {
                        x_m: nan,
                        ..LidarPoint::default()
                    }],
                );
                let bad = RadarDetection {
                    range_m: f64::INFINITY,
                    ..RadarDetection::default()
                };
                m.record_radar_scan(t_ns, &[bad]);
                m.record_radar_lidar_pairs(
                    t_ns,
                    &[AzimuthPair {
                        detection: 0,
                        object: 0,
                        radar_azimuth_rad: f64::NAN,
                        lidar_azimuth_rad: 0.1,
                    }],
                );
                m.record_gyro_bias(t_ns, f64::NAN);
                m.record_ego_speed(t_ns, f64::INFINITY);
                m.record_imu(&ImuSample {
                    stamp_ns: t_ns,
                    gyro_radps: Vector3::new(0.0, f64::NAN, 0.0),
                    accel_mps2: Vector3::new(f64::INFINITY, 0.0, 9.81),
                    base_from_imu: tf,
                });
            }
            match e {
                Ev::Lidar => {
                    let pts = lidar_scan(&mut rng, t, o);
                    m.record_arrival(SensorId::Lidar, t_ns, t_ns + ns(0.105));
                    m.record_lidar_scan(t_ns, &pts);
                }
                Ev::Radar => {
                    if o.radar_gap.is_some_and(|(a, b)| (a..b).contains(&t)) {
                        continue;
                    }
                    let mut dets = radar_scan(&mut rng, t, o.radar_yaw_deg);
                    if o.bad_inputs {
                        dets.push(RadarDetection {
                            azimuth_rad: f64::NAN,
                            ..dets[0]
                        });
                    }
                    m.record_arrival(SensorId::RadarFront, t_ns, t_ns + ns(0.008));
                    m.record_radar_scan(t_ns, &dets);
                    let objs: Vec<[f64; 2]> = radar_objects(t)
                        .iter()
                        .map(|o| {
                            [
                                o[0] + 0.1 * noise.sample(&mut rng),
                                o[1] + 0.1 * noise.sample(&mut rng),
                            ]
                        })
                        .collect();
                    let pairs = match_radar_to_lidar(&dets, &objs, &CalibrationGates::default());
                    m.record_radar_lidar_pairs(t_ns, &pairs);
                }
                Ev::Camera => {
                    let mut dets = Vec::new();
                    for _ in 0..rng.random_range(2..5) {
                        let vis: f64 = rng.random_range(0.3..1.0);
                        dets.push(detection(
                            (0.55 + 0.4 * vis + 0.03 * noise.sample(&mut rng)).clamp(0.05, 0.99),
                        ));
                    }
                    if rng.random::<f64>() < 0.08 {
                        dets.push(detection(rng.random_range(0.3..0.55)));
                    }
                    if o.bad_inputs {
                        dets.push(detection(f64::NAN));
                        dets.push(detection(1.5));
                    }
                    m.record_arrival(SensorId::CameraFront, t_ns, t_ns + ns(0.025));
                    m.record_camera_detections(t_ns, &dets);
                }
                Ev::Us(i) => {
                    let range_m = if i == 8 && o.stuck && t >= 6.0 {
                        0.87
                    } else if i == 1 && o.speed_mps == 0.0 {
                        0.80 // parked: a wall in front, a quantizing sensor repeats the value
                    } else if i == 2 {
                        3.0 + 0.01 * noise.sample(&mut rng) // a car ahead at a steady gap
                    } else if o.bad_inputs && i == 5 {
                        f64::NAN
                    } else {
                        f64::INFINITY
                    };
                    m.record_arrival(SensorId::Ultrasonic(i), t_ns, t_ns + ns(0.002));
                    m.record_ultrasonic(&UltrasonicRange {
                        stamp_ns: t_ns,
                        sensor: i,
                        range_m,
                        min_range_m: 0.2,
                        max_range_m: 5.5,
                        field_of_view_rad: 1.05,
                        base_from_sensor: tf,
                    });
                }
                Ev::Imu => {
                    let ax = if (7.0..9.4).contains(&t) {
                        -2.5
                    } else if (12.0..16.0).contains(&t) {
                        1.5
                    } else {
                        0.0
                    };
                    let vib = if o.vibration {
                        2.0 * (std::f64::consts::TAU * 30.0 * t).sin()
                    } else {
                        0.0
                    };
                    let n3 = |rng: &mut ChaCha8Rng| 0.03 * noise.sample(rng);
                    let accel =
                        Vector3::new(ax + n3(&mut rng), n3(&mut rng), 9.81 + vib + n3(&mut rng));
                    let growth = if o.gyro_growth {
                        0.002 * (t - 4.0).max(0.0)
                    } else {
                        0.0
                    };
                    bias_walk += 0.0001 * 0.1 * noise.sample(&mut rng);
                    let gyro = Vector3::new(
                        0.0,
                        0.0,
                        bias_walk + growth + 0.002 * noise.sample(&mut rng),
                    );
                    m.record_arrival(SensorId::Imu, t_ns, t_ns + ns(0.001));
                    m.record_imu(&ImuSample {
                        stamp_ns: t_ns,
                        gyro_radps: gyro,
                        accel_mps2: accel,
                        base_from_imu: tf,
                    });
                    // The EKF's estimate: converges from 0 over the first second, small noise.
                    let est =
                        (bias_walk + growth) * (t / 1.0).min(1.0) + 0.0003 * noise.sample(&mut rng);
                    m.record_gyro_bias(t_ns, est);
                }
                Ev::Speed => {
                    m.record_arrival(SensorId::Wheel, t_ns, t_ns + ns(0.001));
                    m.record_ego_speed(t_ns, o.speed_mps + 0.03 * noise.sample(&mut rng));
                }
            }
        }
        while cp < checkpoints.len() {
            out.push((checkpoints[cp], m.findings(ns(checkpoints[cp]))));
            cp += 1;
        }
        (m, out)
    }

    fn find<'a>(f: &'a [Finding], component: &str, kind: FindingKind) -> &'a Finding {
        f.iter()
            .find(|x| x.component == component && x.kind == kind)
            .unwrap_or_else(|| panic!("no {component} {} in {f:#?}", kind.as_str()))
    }

    fn evidence(f: &Finding, key: &str) -> f64 {
        f.evidence
            .iter()
            .find(|e| e.0 == key)
            .map(|e| e.1)
            .unwrap_or_else(|| panic!("no {key}"))
    }

    fn keys(f: &[Finding]) -> Vec<(String, &'static str)> {
        f.iter()
            .map(|x| (x.component.clone(), x.kind.as_str()))
            .collect()
    }

    /// The tracker's blind sectors: those whose returns over the last scans average under
    /// `lidar_blind_ratio` of their baseline (one at 0.6, one at 0.8: only the first), none
    /// before the baseline is known, and sectors too sparse to judge are never blind.
    #[test]
    fn blind_sectors_are_the_thinned_ones() {
        let mut m = HealthMonitor::new(HealthConfig::default());
        let n = m.cfg.lidar_sectors;
        let mut counts = vec![100u32; n];
        counts[20] = 5; // under lidar_min_sector_points: not judged
        for k in 0..20 {
            m.record_lidar_sector_counts(ns(0.1 * f64::from(k)), &counts);
            if k < 10 {
                assert!(m.lidar_blind_sectors(5).is_empty());
            }
        }
        assert!(m.lidar_blind_sectors(5).is_empty());
        counts[3] = 60;
        counts[10] = 80;
        counts[20] = 0;
        for k in 20..25 {
            m.record_lidar_sector_counts(ns(0.1 * f64::from(k)), &counts);
        }
        let width = std::f64::consts::TAU / n as f64;
        assert_eq!(m.lidar_blind_sectors(5), vec![(3.0 * width, 4.0 * width)]);
        // Averaged over the last five scans: one thinned scan among them is not enough.
        counts[3] = 100;
        for k in 25..29 {
            m.record_lidar_sector_counts(ns(0.1 * f64::from(k)), &counts);
        }
        assert!(m.lidar_blind_sectors(5).is_empty());
    }

    #[test]
    fn the_four_injected_faults_are_found_and_nothing_else() {
        let (_, res) = drive(&faults(), &[10.0, 11.0, 16.0, 20.0]);
        let end = &res[3].1;
        let mut k = keys(end);
        k.dedup();
        assert_eq!(
            k,
            vec![
                ("imu".to_string(), "gyro_bias"),
                ("lidar".to_string(), "blocked_sector"),
                ("radar_front".to_string(), "yaw_misalignment"),
                ("ultrasonic/rear_center_left".to_string(), "stuck_value"),
            ],
            "{end:#?}"
        );
        // LiDAR: the blocked run covers 20..65 deg, fully blocked, trend ~ 1/16 per s.
        let l = find(end, "lidar", FindingKind::BlockedSector);
        assert_eq!(
            end.iter()
                .filter(|f| f.kind == FindingKind::BlockedSector)
                .count(),
            1
        );
        let (lo, hi) = (
            evidence(l, "azimuth_min_deg"),
            evidence(l, "azimuth_max_deg"),
        );
        assert!(
            (10.0..=30.0).contains(&lo) && (50.0..=80.0).contains(&hi),
            "{l:#?}"
        );
        assert_eq!(l.severity, Severity::Error);
        // Saturated since 18 s: the trend flattens but stays positive.
        assert!(l.trend_per_s > 0.02, "{l:#?}");
        assert_eq!(l.time_to_threshold_s, 0.0);
        let l16 = find(&res[2].1, "lidar", FindingKind::BlockedSector);
        assert!((l16.trend_per_s - 0.0625).abs() < 0.02, "{l16:#?}");
        assert!(
            l.first_seen_ns >= ns(8.0) && l.first_seen_ns <= ns(11.0),
            "{l:#?}"
        );
        // At 11 s it is a warning heading for the error threshold within a few seconds.
        let l11 = find(&res[1].1, "lidar", FindingKind::BlockedSector);
        assert_eq!(l11.severity, Severity::Warn);
        assert!((l11.trend_per_s - 0.0625).abs() < 0.03, "{l11:#?}");
        assert!((1.0..8.0).contains(&l11.time_to_threshold_s), "{l11:#?}");
        // Radar: 2 deg yaw -> reported azimuths 2 deg low.
        let r = find(end, "radar_front", FindingKind::YawMisalignment);
        let off = evidence(r, "azimuth_offset_deg");
        assert!((off + 2.0).abs() < 0.4, "{r:#?}");
        assert_eq!(r.severity, Severity::Warn);
        assert!(r.first_seen_ns <= ns(2.0), "{r:#?}");
        // Gyro: 0.002 rad/s per s from 4 s: a warning at 10 s, ~4 s before the error threshold.
        let g10 = find(&res[0].1, "imu", FindingKind::GyroBias);
        assert_eq!(g10.severity, Severity::Warn);
        assert!((g10.trend_per_s - 0.002).abs() < 0.0005, "{g10:#?}");
        assert!((2.0..6.0).contains(&g10.time_to_threshold_s), "{g10:#?}");
        assert!(
            g10.first_seen_ns < ns(8.0),
            "projected before crossing: {g10:#?}"
        );
        let g = find(end, "imu", FindingKind::GyroBias);
        assert_eq!(g.severity, Severity::Error);
        assert_eq!(g.time_to_threshold_s, 0.0);
        assert!((g.trend_per_s - 0.002).abs() < 0.0005, "{g:#?}");
        // Ultrasonic: stuck at 0.87 m from 6 s, found 3 s of driving later.
        let u = find(end, "ultrasonic/rear_center_left", FindingKind::StuckValue);
        assert!((evidence(u, "value_m") - 0.87).abs() < 1e-9);
        assert_eq!(u.severity, Severity::Error);
        assert!((u.first_seen_ns - ns(9.0)).abs() <= ns(0.6), "{u:#?}");
        for f in end {
            assert_eq!(f.stamp_ns, ns(20.0));
            assert!(f.trend_per_s.is_finite() && !f.time_to_threshold_s.is_nan());
        }
    }

    #[test]
    fn a_consistent_radar_yaw_estimate_is_offered_as_a_correction() {
        let cps: Vec<f64> = (1..=20).map(f64::from).collect();
        // Yawed 2 deg: the correction is the estimate (the fusion turns the mount back by it).
        let (m, _) = drive(
            &Opts {
                radar_yaw_deg: 2.0,
                ..Opts::default()
            },
            &cps,
        );
        let (off, _) = m.radar_yaw_offset_deg().unwrap();
        assert_eq!(m.radar_yaw_correction_deg(), Some(off));
        // Mounted right: nothing to correct.
        let (m, _) = drive(&Opts::default(), &cps);
        assert_eq!(m.radar_yaw_correction_deg(), None);
        // The same 2 deg with scattered residuals (MAD over the limit): not trusted.
        let (mut m, _) = drive(
            &Opts {
                radar_yaw_deg: 2.0,
                ..Opts::default()
            },
            &cps,
        );
        m.cfg.calib_correct_max_mad_deg = 0.0;
        assert_eq!(m.radar_yaw_correction_deg(), None);
    }

    #[test]
    fn clean_drive_gives_no_finding() {
        let cps: Vec<f64> = (1..=20).map(f64::from).collect();
        for seed in [1, 2, 3] {
            let (m, res) = drive(
                &Opts {
                    seed,
                    ..Opts::default()
                },
                &cps,
            );
            for (t, f) in &res {
                assert!(f.is_empty(), "seed {seed} at {t} s: {f:#?}");
            }
            let (off, n) = m.radar_yaw_offset_deg().unwrap();
            assert!(off.abs() < 0.3 && n > 500, "{off} {n}");
            for s in m.sensor_stats() {
                assert!(
                    s.skipped.is_empty() || s.skipped.keys().all(|r| *r == SkipReason::OutOfRange),
                    "{s:#?}"
                );
                assert!(
                    (s.rate_hz - s.nominal_rate_hz).abs() < 0.05 * s.nominal_rate_hz,
                    "{s:#?}"
                );
                assert_eq!(s.dropouts, 0);
            }
        }
    }

    #[test]
    fn parked_with_a_constant_obstacle_gives_no_finding() {
        let o = Opts {
            speed_mps: 0.0,
            stuck: true,
            ..Opts::default()
        };
        let (_, res) = drive(&o, &[5.0, 10.0, 20.0]);
        for (t, f) in &res {
            assert!(f.is_empty(), "at {t} s: {f:#?}");
        }
    }

    #[test]
    fn non_finite_inputs_are_skipped_and_counted() {
        let o = Opts {
            bad_inputs: true,
            ..Opts::default()
        };
        let (m, res) = drive(&o, &[10.0, 20.0]);
        for (t, f) in &res {
            assert!(f.is_empty(), "at {t} s: {f:#?}");
        }
        for s in [
            SensorId::Lidar,
            SensorId::RadarFront,
            SensorId::CameraFront,
            SensorId::Imu,
            SensorId::Wheel,
        ] {
            assert!(m.skipped(s, SkipReason::NonFinite) > 0, "{s:?}");
        }
        assert!(m.skipped(SensorId::Ultrasonic(5), SkipReason::NonFinite) >= 390);
        assert!(m.skipped(SensorId::CameraFront, SkipReason::InvalidScore) >= 590);
        assert!(m.skipped(SensorId::Ultrasonic(0), SkipReason::OutOfRange) >= 390);
        for s in m.sensor_stats() {
            assert!(
                s.rate_hz.is_finite() && s.mean_latency_s.is_finite(),
                "{s:#?}"
            );
        }
    }

    #[test]
    fn rate_drop_and_dropout_are_found() {
        let o = Opts {
            radar_gap: Some((10.0, 12.0)),
            camera_rate_hz: 20.0,
            ..Opts::default()
        };
        let (m, res) = drive(&o, &[11.5, 20.0]);
        let f = &res[0].1;
        let d = find(f, "radar_front", FindingKind::Dropout);
        assert_eq!(d.severity, Severity::Error);
        assert!(evidence(d, "silence_s") > 1.4);
        let r = find(f, "camera_front", FindingKind::RateDrop);
        assert_eq!(r.severity, Severity::Warn);
        assert!((evidence(r, "rate_hz") - 20.0).abs() < 0.5);
        assert_eq!(r.time_to_threshold_s, f64::INFINITY);
        assert_eq!(keys(f).len(), 2, "{f:#?}");
        // After the gap the radar is back; the 2 s gap stays in the dropout window as an error.
        let d = find(&res[1].1, "radar_front", FindingKind::Dropout);
        assert!((evidence(d, "longest_gap_s") - 2.0).abs() < 0.1, "{d:#?}");
        let radar = m
            .sensor_stats()
            .into_iter()
            .find(|s| s.sensor == SensorId::RadarFront);
        assert_eq!(radar.map(|s| s.dropouts), Some(1));
    }

    #[test]
    fn vibration_is_found() {
        let (_, res) = drive(
            &Opts {
                vibration: true,
                ..Opts::default()
            },
            &[6.0],
        );
        let v = find(&res[0].1, "imu", FindingKind::Vibration);
        assert!(evidence(v, "accel_rms_mps2") > 1.0, "{v:#?}");
        assert_eq!(keys(&res[0].1).len(), 1);
    }

    /// One message of the late-arrival drive, fed as it arrives.
    #[derive(Clone)]
    enum Payload {
        Radar(Vec<RadarDetection>, Vec<AzimuthPair>),
        Camera(Vec<Detection2D>),
        Ultrasonic(UltrasonicRange),
        Speed(f64),
    }

    #[derive(Clone)]
    struct Msg {
        sensor: SensorId,
        stamp_ns: i64,
        arrival_ns: i64,
        payload: Payload,
    }

    /// 20 s of radar (20 Hz, yawed 2 deg, its amplitude fading 2 dB/s from 8 s), camera
    /// (30 Hz, its confidence falling from 8 s), a stuck ultrasonic sensor (20 Hz) and the
    /// ego's speed (50 Hz), each message arriving its sensor's latency after its stamp.
    fn fault_messages() -> Vec<Msg> {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let noise = Normal::new(0.0, 1.0).unwrap();
        let mut msgs = Vec::new();
        for k in 0..400 {
            let t = 0.003 + k as f64 / 20.0;
            let mut dets = radar_scan(&mut rng, t, 2.0);
            for d in &mut dets {
                d.amplitude_db -= 2.0 * (t - 8.0).max(0.0);
            }
            let objs: Vec<[f64; 2]> = radar_objects(t)
                .iter()
                .map(|o| [o[0] + 0.1 * noise.sample(&mut rng), o[1]])
                .collect();
            let pairs = match_radar_to_lidar(&dets, &objs, &CalibrationGates::default());
            msgs.push(Msg {
                sensor: SensorId::RadarFront,
                stamp_ns: ns(t),
                arrival_ns: ns(t + 0.008),
                payload: Payload::Radar(dets, pairs),
            });
        }
        for k in 0..600 {
            let t = 0.007 + k as f64 / 30.0;
            let score = 0.85 - 0.04 * (t - 8.0).max(0.0);
            let dets = (0..3)
                .map(|_| detection((score + 0.03 * noise.sample(&mut rng)).clamp(0.05, 0.99)))
                .collect();
            msgs.push(Msg {
                sensor: SensorId::CameraFront,
                stamp_ns: ns(t),
                arrival_ns: ns(t + 0.025),
                payload: Payload::Camera(dets),
            });
        }
        for k in 0..400 {
            let t = 0.011 + k as f64 / 20.0;
            msgs.push(Msg {
                sensor: SensorId::Ultrasonic(8),
                stamp_ns: ns(t),
                arrival_ns: ns(t + 0.002),
                payload: Payload::Ultrasonic(UltrasonicRange {
                    stamp_ns: ns(t),
                    sensor: 8,
                    range_m: 0.87,
                    min_range_m: 0.2,
                    max_range_m: 5.5,
                    field_of_view_rad: 1.05,
                    base_from_sensor: Transform3::identity(),
                }),
            });
        }
        for k in 0..1000 {
            let t = 0.002 + k as f64 / 50.0;
            msgs.push(Msg {
                sensor: SensorId::Wheel,
                stamp_ns: ns(t),
                arrival_ns: ns(t + 0.001),
                payload: Payload::Speed(10.0 + 0.03 * noise.sample(&mut rng)),
            });
        }
        msgs
    }

    /// A monitor fed `msgs` in arrival order (ties in the order given).
    fn feed(msgs: &[Msg]) -> HealthMonitor {
        let mut order: Vec<&Msg> = msgs.iter().collect();
        order.sort_by_key(|m| m.arrival_ns);
        let mut m = HealthMonitor::default();
        m.set_sensor_name(SensorId::Ultrasonic(8), "rear_center_left");
        for msg in order {
            m.record_arrival(msg.sensor, msg.stamp_ns, msg.arrival_ns);
            match &msg.payload {
                Payload::Radar(dets, pairs) => {
                    m.record_radar_scan(msg.stamp_ns, dets);
                    m.record_radar_lidar_pairs(msg.stamp_ns, pairs);
                }
                Payload::Camera(dets) => m.record_camera_detections(msg.stamp_ns, dets),
                Payload::Ultrasonic(u) => m.record_ultrasonic(u),
                Payload::Speed(v) => m.record_ego_speed(msg.stamp_ns, *v),
            }
        }
        m
    }

    fn close(a: f64, b: f64) -> bool {
        a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn a_late_sample_of_the_baseline_period_revises_the_baseline() {
        // 20 Hz samples of 10 over the 1.5 s baseline period and 2 s after, but 20 at 0 s and
        // 30 at 1.0 s.
        let value = |k: usize| match k {
            0 => 20.0,
            20 => 30.0,
            _ => 10.0,
        };
        let stamps: Vec<i64> = (0..70).map(|k| k * 50_000_000).collect();
        // Pushes every sample at its stamp, `moved` (index, after which index) later.
        let run = |moved: &[(usize, usize)]| {
            let mut b = BaselineSignal::new(1.5, 1.0, 5.0);
            for (k, &t) in stamps.iter().enumerate() {
                if !moved.iter().any(|m| m.0 == k) {
                    b.push(t, value(k), 1.5, 2.0);
                }
                for &(j, _) in moved.iter().filter(|m| m.1 == k) {
                    b.push(stamps[j], value(j), 1.5, 2.0);
                }
            }
            b.baseline_done
        };
        // The samples of the first 1.5 s (k = 0 to 30), but those of `except`.
        let mean_of_period = |except: &[usize]| {
            let kept: Vec<f64> = (0..=30)
                .filter(|k| !except.contains(k))
                .map(value)
                .collect();
            kept.iter().sum::<f64>() / kept.len() as f64
        };
        let expected = mean_of_period(&[]);
        // In time; the 1.0 s sample after the baseline was measured (at 1.55 s); the first
        // sample after the second and third (the period starts at it all the same): the same
        // baseline.
        for moved in [vec![], vec![(20, 32)], vec![(0, 2)]] {
            let done = run(&moved).unwrap();
            assert!((done - expected).abs() < 1e-12, "{moved:?}: {done}");
        }
        // Later than the rate window (2 s): a clock jump back, not a late sample of the period.
        let done = run(&[(20, 65)]).unwrap();
        assert!((done - mean_of_period(&[20])).abs() < 1e-12, "{done}");
    }

    #[test]
    fn late_messages_give_the_statistics_of_in_time_ones() {
        let msgs = fault_messages();
        // After the 5 s baseline, some messages arrive 0.2 s late: three radar scans in a row
        // of every twenty (the gap around them is four periods, a dropout until they come),
        // one camera frame of every ten, four ultrasonic readings of every twenty.
        let mut late = msgs.clone();
        let mut index: BTreeMap<SensorId, usize> = BTreeMap::new();
        let mut delayed = 0;
        for m in &mut late {
            let k = index.entry(m.sensor).or_default();
            let is_late = ns_to_s(m.stamp_ns) > 6.0
                && match m.sensor {
                    SensorId::RadarFront => (5..8).contains(&(*k % 20)),
                    SensorId::CameraFront => *k % 10 == 4,
                    SensorId::Ultrasonic(_) => (3..7).contains(&(*k % 20)),
                    _ => false,
                };
            *k += 1;
            if is_late {
                m.arrival_ns += ns(0.2);
                delayed += 1;
            }
        }
        assert!(delayed > 100, "{delayed}");
        let mut in_time = feed(&msgs);
        let mut with_late = feed(&late);
        let end_ns = ns(20.0);

        // The same findings: the four faults, with the same evidence and trends.
        let a = in_time.findings(end_ns);
        let b = with_late.findings(end_ns);
        let kinds: Vec<(String, FindingKind)> =
            a.iter().map(|f| (f.component.clone(), f.kind)).collect();
        for want in [
            ("camera_front", FindingKind::ConfidenceDrop),
            ("radar_front", FindingKind::AmplitudeDrop),
            ("radar_front", FindingKind::YawMisalignment),
            ("ultrasonic/rear_center_left", FindingKind::StuckValue),
        ] {
            assert!(
                kinds.contains(&(want.0.to_string(), want.1)),
                "{want:?} not in {kinds:?}"
            );
        }
        assert_eq!(a.len(), b.len(), "{a:#?}\n{b:#?}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                (&x.component, x.kind, x.severity),
                (&y.component, y.kind, y.severity)
            );
            assert_eq!(x.evidence.len(), y.evidence.len());
            for (e, f) in x.evidence.iter().zip(&y.evidence) {
                assert!(
                    e.0 == f.0 && close(e.1, f.1),
                    "{}: {e:?} {f:?}",
                    x.component
                );
            }
            assert!(close(x.trend_per_s, y.trend_per_s), "{x:#?}\n{y:#?}");
            assert!(
                close(x.time_to_threshold_s, y.time_to_threshold_s),
                "{x:#?}\n{y:#?}"
            );
        }
        assert_eq!(
            in_time.radar_yaw_offset_deg(),
            with_late.radar_yaw_offset_deg()
        );

        // The same rate and no dropout; the latency is the mean over the window's messages.
        for (x, y) in in_time.sensor_stats().iter().zip(with_late.sensor_stats()) {
            assert_eq!(x.sensor, y.sensor);
            assert_eq!(x.messages, y.messages);
            assert!(close(x.rate_hz, y.rate_hz), "{x:?} {y:?}");
            assert_eq!((x.dropouts, y.dropouts), (0, 0), "{y:?}");
            assert_eq!(x.longest_gap_s, y.longest_gap_s);
            assert!(y.skipped.is_empty(), "{y:?}");
            for (stats, msgs) in [(x, &msgs), (&y, &late)] {
                let of: Vec<&Msg> = msgs.iter().filter(|m| m.sensor == x.sensor).collect();
                let newest = of.iter().map(|m| m.stamp_ns).max().unwrap();
                let window = ns(HealthConfig::default().latency_window_s);
                let lat: Vec<f64> = of
                    .iter()
                    .filter(|m| m.stamp_ns >= newest - window)
                    .map(|m| ns_to_s(m.arrival_ns - m.stamp_ns))
                    .collect();
                let want = lat.iter().sum::<f64>() / lat.len() as f64;
                assert!(
                    (stats.mean_latency_s - want).abs() < 1e-12,
                    "{:?}: {} against {want}",
                    x.sensor,
                    stats.mean_latency_s
                );
            }
            if matches!(x.sensor, SensorId::RadarFront) {
                assert!(y.mean_latency_s > x.mean_latency_s + 0.02, "{y:?}");
            }
        }

        // A second copy of a message is a duplicate; one older than the rate window cannot
        // be placed any more: both counted, neither in the rate.
        let radar = |m: &HealthMonitor| {
            m.sensor_stats()
                .into_iter()
                .find(|s| s.sensor == SensorId::RadarFront)
                .unwrap()
        };
        let before = radar(&with_late);
        let last = msgs
            .iter()
            .rfind(|m| m.sensor == SensorId::RadarFront)
            .unwrap();
        with_late.record_arrival(SensorId::RadarFront, last.stamp_ns - ns(0.5), end_ns);
        with_late.record_arrival(SensorId::RadarFront, last.stamp_ns - ns(3.0), end_ns);
        let after = radar(&with_late);
        assert_eq!(after.skipped.get(&SkipReason::DuplicateStamp), Some(&1));
        assert_eq!(after.skipped.get(&SkipReason::OutOfSequence), Some(&1));
        assert_eq!(after.rate_hz, before.rate_hz);
        // The copies of the newest message too, however late: the mean latency stays.
        with_late.record_arrival(SensorId::RadarFront, last.stamp_ns, end_ns + ns(0.4));
        let copies = radar(&with_late);
        assert_eq!(copies.skipped.get(&SkipReason::DuplicateStamp), Some(&2));
        assert_eq!(copies.mean_latency_s, after.mean_latency_s);
    }

    #[test]
    fn a_late_reading_of_another_value_breaks_a_stuck_run() {
        // A sensor reads 0.87 m every 50 ms for 5 s while the ego drives, but at 2.5 s it read
        // 1.2 m: it was not stuck for the 3 s a finding needs, whenever that reading arrives.
        let run = |other_m: f64, late: bool| {
            let mut m = HealthMonitor::default();
            let reading = |t: f64, range_m: f64| UltrasonicRange {
                stamp_ns: ns(t),
                sensor: 3,
                range_m,
                min_range_m: 0.2,
                max_range_m: 5.5,
                field_of_view_rad: 1.05,
                base_from_sensor: Transform3::identity(),
            };
            let odd = reading(2.5, other_m);
            for k in 0..=100 {
                let t = k as f64 * 0.05;
                m.record_ego_speed(ns(t), 8.0);
                if k == 50 {
                    if !late {
                        m.record_ultrasonic(&odd);
                    }
                } else {
                    m.record_ultrasonic(&reading(t, 0.87));
                }
                if late && k == 80 {
                    m.record_ultrasonic(&odd);
                }
            }
            let stuck = m
                .findings(ns(5.0))
                .into_iter()
                .find(|f| f.kind == FindingKind::StuckValue);
            (
                stuck,
                m.skipped(SensorId::Ultrasonic(3), SkipReason::OutOfSequence),
            )
        };
        assert!(run(1.2, false).0.is_none());
        let (stuck, skipped) = run(1.2, true);
        assert!(stuck.is_none(), "{stuck:#?}");
        assert_eq!(skipped, 0);
        // The same value late: the run stands, with every reading counted.
        let in_time = run(0.87, false).0.unwrap();
        let late = run(0.87, true).0.unwrap();
        assert_eq!(evidence(&late, "readings"), evidence(&in_time, "readings"));
        assert!(close(
            evidence(&late, "stuck_while_moving_s"),
            evidence(&in_time, "stuck_while_moving_s")
        ));
    }

    #[test]
    fn same_input_same_findings() {
        let a = drive(&faults(), &[7.0, 13.0, 20.0]).1;
        let b = drive(&faults(), &[7.0, 13.0, 20.0]).1;
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn matcher_gates_and_ambiguity() {
        let det = |r: f64, az_deg: f64| RadarDetection {
            range_m: r,
            azimuth_rad: az_deg.to_radians(),
            ..RadarDetection::default()
        };
        let objs = [[30.0, 0.0], [20.0, 20.0], [50.0, 0.5], [3.0, 0.0]];
        let dets = [
            det(28.0, -1.5),
            det(40.0, 0.0),
            det(27.0, 44.0),
            det(3.0, 0.0),
            det(f64::NAN, 0.0),
        ];
        let p = match_radar_to_lidar(&dets, &objs, &CalibrationGates::default());
        assert_eq!(p.len(), 2, "{p:#?}");
        assert_eq!((p[0].detection, p[0].object), (0, 0));
        assert_eq!((p[1].detection, p[1].object), (2, 1));
        // Halfway between two objects: ambiguous, dropped.
        let objs = [[30.0, 0.5], [30.0, -0.5]];
        assert!(
            match_radar_to_lidar(&[det(28.0, 0.0)], &objs, &CalibrationGates::default()).is_empty()
        );
    }

    #[test]
    fn fast_lidar_sector_matches_the_exact_formula() {
        let mut rng = ChaCha8Rng::seed_from_u64(29);
        for n in [1usize, 7, 36, 360, 1024] {
            let width = 360.0 / n as f32;
            let per_rad = n as f32 / std::f32::consts::TAU;
            let exact = |x: f32, y: f32| {
                let az = y.atan2(x).to_degrees().rem_euclid(360.0);
                ((az / width) as usize).min(n - 1)
            };
            let mut pts: Vec<(f32, f32)> = (0..50_000)
                .map(|_| {
                    (
                        rng.random_range(-100.0..100.0),
                        rng.random_range(-100.0..100.0),
                    )
                })
                .collect();
            for k in 0..=n {
                let a = k as f64 * std::f64::consts::TAU / n as f64;
                for d in [-1e-7, 0.0, 1e-7] {
                    pts.push(((20.0 * (a + d).cos()) as f32, (20.0 * (a + d).sin()) as f32));
                }
            }
            pts.extend([
                (1.0, 0.0),
                (1.0, -0.0),
                (-1.0, 0.0),
                (-1.0, -0.0),
                (0.0, 1.0),
                (0.0, -1.0),
            ]);
            for (x, y) in pts {
                assert_eq!(
                    lidar_sector(x, y, n, width, per_rad),
                    exact(x, y),
                    "{n} {x} {y}"
                );
            }
        }
    }

    #[test]
    fn median_matches_a_sort() {
        let mut rng = ChaCha8Rng::seed_from_u64(31);
        for len in 1..40 {
            let v: Vec<f64> = (0..len).map(|_| rng.random_range(-3.0..3.0)).collect();
            let mut sorted = v.clone();
            sorted.sort_by(f64::total_cmp);
            let m = len / 2;
            let want = if len % 2 == 1 {
                sorted[m]
            } else {
                0.5 * (sorted[m - 1] + sorted[m])
            };
            assert_eq!(median(&mut v.clone()), Some(want));
        }
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn time_to_threshold_cases() {
        assert_eq!(
            time_to_threshold_s(0.5, 0.1, Bad::Above(0.8)),
            3.0000000000000004
        );
        assert_eq!(time_to_threshold_s(0.9, 0.1, Bad::Above(0.8)), 0.0);
        assert_eq!(
            time_to_threshold_s(0.5, -0.1, Bad::Above(0.8)),
            f64::INFINITY
        );
        assert_eq!(time_to_threshold_s(10.0, -1.0, Bad::Below(5.0)), 5.0);
        assert_eq!(time_to_threshold_s(-0.01, -0.002, Bad::AbsAbove(0.02)), 5.0);
        assert_eq!(
            time_to_threshold_s(-0.01, 0.002, Bad::AbsAbove(0.02)),
            f64::INFINITY
        );
        let mut s = Series::new(10.0);
        for k in 0..100 {
            s.push(ns(f64::from(k) * 0.1), 2.0 + 0.5 * f64::from(k) * 0.1);
        }
        assert!((s.slope_per_s() - 0.5).abs() < 1e-9);
    }
}
