//! The fusion cycle: inputs are pushed as they arrive; IMU and wheel odometry go straight into
//! the ego EKF (which compensates their delays), every other sensor is buffered by the time
//! synchroniser, and each LiDAR sweep triggers a cycle that runs the stages in stamp order
//! under the deadline budget.

use std::collections::BTreeMap;

use crate::budget::{Budget, BudgetConfig, Clock, CycleTiming, Stage};
use crate::ego::{EgoConfig, EgoEkf, EgoError};
use crate::sync::{SensorTiming, SyncConfig, SyncError, TimeSync};
use crate::types::{EgoState, Input, SensorId, StampNs, Track};

/// Why a pipeline cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The synchroniser's configuration is invalid.
    #[error("time sync: {0}")]
    Sync(#[from] SyncError),
    /// The EKF's configuration is invalid.
    #[error("ego EKF: {0}")]
    Ego(#[from] EgoError),
}

/// All stage configurations.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    /// Time synchronisation (IMU and wheel are removed from it: they feed the EKF directly).
    pub sync: SyncConfig,
    /// Ego EKF.
    pub ego: EgoConfig,
    /// Deadline budget.
    pub budget: BudgetConfig,
    /// Number of ultrasonic sensors (`SensorId::Ultrasonic(0..n)`).
    pub ultrasonic_sensors: u8,
}

/// Inputs skipped, by sensor and reason.
pub type SkipCounts = BTreeMap<(SensorId, &'static str), u64>;

/// What one cycle produced.
#[derive(Debug, Clone, PartialEq)]
pub struct CycleOutput {
    /// The cycle's time: the LiDAR sweep stamp.
    pub stamp_ns: StampNs,
    /// Ego state at the cycle time, when the EKF has started.
    pub ego: Option<EgoState>,
    /// Confirmed tracks in `odom` at the cycle time, sorted by id.
    pub tracks: Vec<Track>,
    /// Stage timings and the degradation used.
    pub timing: CycleTiming,
    /// Sensors that missed this cycle (timed out).
    pub late: Vec<SensorId>,
}

/// The fusion pipeline.
pub struct Pipeline {
    sync: TimeSync<Input>,
    ego: EgoEkf,
    budget: Budget,
    /// Inputs rejected, per sensor and reason.
    pub skipped: SkipCounts,
}

impl Pipeline {
    /// A pipeline with `config`.
    pub fn new(config: PipelineConfig) -> Result<Self, PipelineError> {
        let mut sync = config.sync.clone();
        sync.sensors.remove(&SensorId::Imu);
        sync.sensors.remove(&SensorId::Wheel);
        for i in 0..config.ultrasonic_sensors {
            sync.sensors
                .entry(SensorId::Ultrasonic(i))
                .or_insert(SensorTiming { latency_ns: 5_000_000, period_ns: 50_000_000 });
        }
        Ok(Self {
            sync: TimeSync::new(sync)?,
            ego: EgoEkf::new(config.ego)?,
            budget: Budget::new(config.budget),
            skipped: SkipCounts::new(),
        })
    }

    fn skip(&mut self, sensor: SensorId, reason: &'static str) {
        *self.skipped.entry((sensor, reason)).or_default() += 1;
    }

    /// Takes one input that arrived at `arrival_ns`.
    pub fn push(&mut self, arrival_ns: StampNs, input: Input) {
        let sensor = input.sensor();
        match input {
            Input::Imu(s) => {
                if let Err(e) = self.ego.push_imu(&s) {
                    self.skip(sensor, e.as_str());
                }
            }
            Input::Wheel(w) => {
                if let Err(e) = self.ego.push_wheel(&w) {
                    self.skip(sensor, e.as_str());
                }
            }
            other => {
                let stamp = other.stamp_ns();
                let outcome = self.sync.push(sensor, stamp, arrival_ns, other);
                if let Some(reason) = outcome.rejection() {
                    self.skip(sensor, reason);
                }
            }
        }
    }

    /// Runs every cycle that is ready at `now_ns`.
    pub fn poll(&mut self, now_ns: StampNs, clock: &mut impl Clock) -> Vec<CycleOutput> {
        let mut out = Vec::new();
        while let Some(cycle) = self.sync.poll(now_ns) {
            let _degrade = self.budget.begin(clock);
            self.budget.end_stage(Stage::Sync, clock);
            let ego = self.ego.state_at(cycle.stamp_ns);
            self.budget.end_stage(Stage::Ego, clock);
            let timing = self.budget.end(clock);
            out.push(CycleOutput { stamp_ns: cycle.stamp_ns, ego, tracks: Vec::new(), timing, late: cycle.late.clone() });
        }
        out
    }

    /// The ego EKF.
    pub fn ego(&self) -> &EgoEkf {
        &self.ego
    }

    /// The deadline budget (misses, cycles per degradation level).
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// The synchroniser (per-sensor counters).
    pub fn sync(&self) -> &TimeSync<Input> {
        &self.sync
    }
}
