//! The deadline budget: each stage of a cycle is timed through an injected [`Clock`]; when the
//! cycle is projected to overrun its deadline, the next cycle degrades in a fixed order
//! ([`Degrade`]) and the cycle reports it; overruns are counted as deadline misses.
//!
//! Time comes only from the clock passed in: a monotonic clock in a node, a scripted clock in
//! tests (so that the degradation decisions, and the output, are reproducible).

use std::collections::BTreeMap;

/// A source of monotonic time in nanoseconds.
pub trait Clock {
    /// The current time, ns (any origin, non-decreasing).
    fn now_ns(&mut self) -> i64;
}

/// A clock that advances by a fixed step on each reading: deterministic timing for tests and
/// for reproducible offline replays.
#[derive(Debug, Clone)]
pub struct SteppingClock {
    /// Current reading, ns.
    pub now_ns: i64,
    /// Advance per reading, ns.
    pub step_ns: i64,
}

impl Clock for SteppingClock {
    fn now_ns(&mut self) -> i64 {
        self.now_ns += self.step_ns;
        self.now_ns
    }
}

/// The stages of a fusion cycle, in execution order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Time synchronisation of the cycle's inputs.
    Sync,
    /// Ego-motion EKF (IMU, wheel).
    Ego,
    /// LiDAR deskew, ground removal, voxel grid, clustering and boxes.
    Lidar,
    /// Tracker: prediction and LiDAR update.
    TrackLidar,
    /// Tracker: radar update.
    TrackRadar,
    /// Tracker: camera update.
    TrackCamera,
    /// Tracker: ultrasonic update.
    TrackUltrasonic,
    /// Sensor health monitor.
    Health,
}

impl Stage {
    /// Every stage in execution order.
    pub const ALL: [Stage; 8] = [
        Stage::Sync,
        Stage::Ego,
        Stage::Lidar,
        Stage::TrackLidar,
        Stage::TrackRadar,
        Stage::TrackCamera,
        Stage::TrackUltrasonic,
        Stage::Health,
    ];

    /// A stable name for diagnostics.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Sync => "sync",
            Stage::Ego => "ego",
            Stage::Lidar => "lidar",
            Stage::TrackLidar => "track_lidar",
            Stage::TrackRadar => "track_radar",
            Stage::TrackCamera => "track_camera",
            Stage::TrackUltrasonic => "track_ultrasonic",
            Stage::Health => "health",
        }
    }
}

/// How much a cycle sheds to keep its deadline, in the order it is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Degrade {
    /// Everything at full quality.
    #[default]
    None,
    /// The LiDAR voxel grid is twice as coarse.
    CoarseVoxel,
    /// Also: camera association skipped (LiDAR and radar still update tracks).
    SkipCamera,
    /// Also: the voxel grid is four times as coarse and ultrasonic updates are skipped.
    Minimal,
}

impl Degrade {
    fn harder(self) -> Self {
        match self {
            Degrade::None => Degrade::CoarseVoxel,
            Degrade::CoarseVoxel => Degrade::SkipCamera,
            Degrade::SkipCamera | Degrade::Minimal => Degrade::Minimal,
        }
    }

    fn softer(self) -> Self {
        match self {
            Degrade::Minimal => Degrade::SkipCamera,
            Degrade::SkipCamera => Degrade::CoarseVoxel,
            Degrade::CoarseVoxel | Degrade::None => Degrade::None,
        }
    }

    /// The voxel size multiplier at this level.
    pub fn voxel_scale(self) -> f64 {
        match self {
            Degrade::None => 1.0,
            Degrade::CoarseVoxel | Degrade::SkipCamera => 2.0,
            Degrade::Minimal => 4.0,
        }
    }

    /// Whether camera detections are associated at this level.
    pub fn camera_enabled(self) -> bool {
        self < Degrade::SkipCamera
    }

    /// Whether ultrasonic ranges are used at this level.
    pub fn ultrasonic_enabled(self) -> bool {
        self < Degrade::Minimal
    }
}

/// Budget settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetConfig {
    /// The cycle deadline, ns (50 ms).
    pub deadline_ns: i64,
    /// Degrade when a cycle takes more than this fraction of the deadline.
    pub degrade_above: f64,
    /// Recover one level after this many cycles below `recover_below` of the deadline.
    pub recover_after_cycles: u32,
    /// Fraction of the deadline under which a cycle counts towards recovery.
    pub recover_below: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            deadline_ns: 50_000_000,
            degrade_above: 0.7,
            recover_after_cycles: 20,
            recover_below: 0.35,
        }
    }
}

/// Timing of one cycle.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CycleTiming {
    /// Time spent per stage, ns.
    pub stage_ns: BTreeMap<Stage, i64>,
    /// Whole cycle, ns.
    pub total_ns: i64,
    /// The degradation the cycle ran with.
    pub degrade: Degrade,
    /// Whether the cycle overran its deadline.
    pub missed: bool,
}

/// The budget keeper: times stages and chooses each cycle's degradation.
#[derive(Debug, Clone)]
pub struct Budget {
    config: BudgetConfig,
    level: Degrade,
    calm_cycles: u32,
    cycle_start_ns: i64,
    stage_start_ns: i64,
    current: CycleTiming,
    /// Cycles that overran the deadline.
    pub deadline_misses: u64,
    /// Cycles run.
    pub cycles: u64,
    /// Cycles run at each degradation level.
    pub cycles_at: BTreeMap<Degrade, u64>,
}

impl Budget {
    /// A budget with `config`.
    pub fn new(config: BudgetConfig) -> Self {
        Self {
            config,
            level: Degrade::None,
            calm_cycles: 0,
            cycle_start_ns: 0,
            stage_start_ns: 0,
            current: CycleTiming::default(),
            deadline_misses: 0,
            cycles: 0,
            cycles_at: BTreeMap::new(),
        }
    }

    /// Starts a cycle and returns the degradation it must run with.
    pub fn begin(&mut self, clock: &mut impl Clock) -> Degrade {
        self.cycle_start_ns = clock.now_ns();
        self.stage_start_ns = self.cycle_start_ns;
        self.current = CycleTiming {
            degrade: self.level,
            ..CycleTiming::default()
        };
        self.level
    }

    /// Ends `stage` (started when the previous stage ended, or at [`Budget::begin`]).
    pub fn end_stage(&mut self, stage: Stage, clock: &mut impl Clock) {
        let now = clock.now_ns();
        *self.current.stage_ns.entry(stage).or_default() += now - self.stage_start_ns;
        self.stage_start_ns = now;
    }

    /// Whether the cycle, `elapsed` so far, is projected to overrun if it runs `remaining`
    /// more stages at their last cost: stages may use it to shed work within the cycle.
    pub fn projected_overrun(&self, clock: &mut impl Clock, remaining_ns: i64) -> bool {
        clock.now_ns() - self.cycle_start_ns + remaining_ns > self.config.deadline_ns
    }

    /// Ends the cycle: counts a miss, and picks the next cycle's degradation.
    pub fn end(&mut self, clock: &mut impl Clock) -> CycleTiming {
        let now = clock.now_ns();
        let mut timing = std::mem::take(&mut self.current);
        timing.total_ns = now - self.cycle_start_ns;
        timing.missed = timing.total_ns > self.config.deadline_ns;
        self.cycles += 1;
        *self.cycles_at.entry(timing.degrade).or_default() += 1;
        if timing.missed {
            self.deadline_misses += 1;
        }
        let fraction = timing.total_ns as f64 / self.config.deadline_ns as f64;
        if fraction > self.config.degrade_above {
            self.level = self.level.harder();
            self.calm_cycles = 0;
        } else if fraction < self.config.recover_below {
            self.calm_cycles += 1;
            if self.calm_cycles >= self.config.recover_after_cycles {
                self.level = self.level.softer();
                self.calm_cycles = 0;
            }
        } else {
            self.calm_cycles = 0;
        }
        timing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock whose readings are scripted.
    struct Script(Vec<i64>);
    impl Clock for Script {
        fn now_ns(&mut self) -> i64 {
            self.0.remove(0)
        }
    }

    #[test]
    fn slow_cycles_degrade_in_order_and_fast_ones_recover() {
        let cfg = BudgetConfig {
            recover_after_cycles: 2,
            ..BudgetConfig::default()
        };
        let mut b = Budget::new(cfg);
        let ms = 1_000_000;
        // Three cycles of 45 ms (> 70% of 50 ms): None -> CoarseVoxel -> SkipCamera -> Minimal.
        let mut levels = Vec::new();
        for _ in 0..4 {
            let mut c = Script(vec![0, 20 * ms, 45 * ms]);
            levels.push(b.begin(&mut c));
            b.end_stage(Stage::Lidar, &mut c);
            let t = b.end(&mut c);
            assert!(!t.missed);
            assert_eq!(t.stage_ns[&Stage::Lidar], 20 * ms);
        }
        assert_eq!(
            levels,
            vec![
                Degrade::None,
                Degrade::CoarseVoxel,
                Degrade::SkipCamera,
                Degrade::Minimal
            ]
        );
        // A 60 ms cycle is a miss.
        let mut c = Script(vec![0, 60 * ms]);
        b.begin(&mut c);
        assert!(b.end(&mut c).missed);
        assert_eq!(b.deadline_misses, 1);
        // Fast cycles recover one level per two calm cycles.
        let mut seen = Vec::new();
        for _ in 0..6 {
            let mut c = Script(vec![0, 5 * ms]);
            seen.push(b.begin(&mut c));
            b.end(&mut c);
        }
        assert_eq!(seen[0], Degrade::Minimal);
        assert_eq!(
            *seen.last().unwrap_or(&Degrade::Minimal),
            Degrade::CoarseVoxel
        );
        assert!(!Degrade::SkipCamera.camera_enabled() && Degrade::CoarseVoxel.camera_enabled());
        assert_eq!(Degrade::Minimal.voxel_scale(), 4.0);
    }
}
