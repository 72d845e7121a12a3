//! Time synchronization of sensor streams into fusion cycles. [`TimeSync`] keeps one buffer per
//! sensor ([`SensorId`]), ordered by stamp and bounded (oldest dropped first). A cycle is
//! triggered by each item of the reference sensor (the LiDAR sweep by default) and collects, for
//! every other sensor, the buffered items stamped at or before the cycle time. A cycle waits
//! until every expected sensor has caught up with the cycle time, judged from its stamps, its
//! nominal period and its nominal latency plus a jitter window; after a timeout it proceeds
//! without the late sensors and says so ([`Cycle::late`]): it never blocks. A sensor that has
//! been silent for a while (or was never seen) is not waited for at all, and the reference's
//! cycles list it as absent ([`Cycle::absent`]; a cycle the fallback sensor triggers lists only
//! the silent reference). Items stamped at or before the last cycle already emitted for their sensor are rejected as out of sequence (never
//! applied as if new), duplicate stamps are dropped, and a clock jump (stamp backwards, or
//! forwards much faster than arrival time) resets that sensor's buffer; each is counted per
//! sensor. Pure: no ROS, no I/O, no wall clock; arrival time and "now" are arguments, in one
//! local clock, and stamps are assumed to be in a clock synchronized with it up to the latency.

use std::collections::{BTreeMap, VecDeque};

use crate::types::{SensorId, StampNs};

/// Errors of the time synchronizer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// A configuration value is out of its valid range.
    #[error("invalid sync config: {field} = {value}")]
    InvalidConfig {
        /// The config field.
        field: &'static str,
        /// Its value.
        value: i64,
    },
    /// The reference sensor has no entry in [`SyncConfig::sensors`].
    #[error("reference sensor {reference:?} is not among the configured sensors")]
    MissingReference {
        /// The configured reference sensor.
        reference: SensorId,
    },
}

/// Nominal timing of one sensor stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensorTiming {
    /// Expected delay from an item's stamp to its arrival, ns (>= 0).
    pub latency_ns: i64,
    /// Nominal period between stamps, ns; 0 for event-driven streams (then only the latency
    /// tells when the stream has caught up with a cycle).
    pub period_ns: i64,
}

/// Configuration of [`TimeSync`].
#[derive(Debug, Clone, PartialEq)]
pub struct SyncConfig {
    /// The sensor whose items trigger cycles (the LiDAR by default).
    pub reference: SensorId,
    /// Every sensor taking part, with its timing; must include the reference. Items of sensors
    /// not listed are rejected and counted ([`SyncCounters::unknown_sensor`]).
    pub sensors: BTreeMap<SensorId, SensorTiming>,
    /// Jitter window on stamps and arrivals, ns (>= 0).
    pub jitter_ns: i64,
    /// Longest a cycle waits after its reference item arrived, ns (>= 0).
    pub timeout_ns: i64,
    /// Capacity of each sensor's buffer, items (>= 1).
    pub capacity: usize,
    /// A stamp earlier than the sensor's newest stamp by more than this is a clock jump, ns (> 0).
    pub clock_jump_back_ns: i64,
    /// A stamp that advanced by more than this beyond the advance of the arrival time is a clock
    /// jump, ns (> 0).
    pub clock_jump_forward_ns: i64,
    /// When the reference sensor has been silent for `reference_silence_ns`, each item of this
    /// sensor triggers a (degraded) cycle instead, with the reference listed as absent; `None`:
    /// no cycle without the reference.
    pub fallback_reference: Option<SensorId>,
    /// See `fallback_reference`, ns (> 0).
    pub reference_silence_ns: i64,
    /// A late sensor is waited for (up to `timeout_ns`) only while it is alive: it delivered
    /// within this long (or two of its periods and its latency, if longer) before the poll,
    /// or, never seen, the synchroniser received its first item of any sensor that recently.
    /// A sensor the system does not have (a bag without a radar) or that died then costs no
    /// cycle any waiting; its cycles list it as absent ([`Cycle::absent`]), not late. ns (>= 0).
    pub absent_after_ns: i64,
    /// The timing of each ultrasonic sensor (`Ultrasonic(i)`, added by the caller).
    pub ultrasonic_timing: SensorTiming,
}

impl Default for SyncConfig {
    /// LiDAR 10 Hz reference, radar 20 Hz, camera 30 Hz, IMU 100 Hz, wheel 50 Hz; 10 ms jitter,
    /// 60 ms timeout, 256-item buffers, 1 s clock-jump thresholds; the radar triggers cycles
    /// after 300 ms without a LiDAR sweep; a sensor silent for 500 ms is not waited for.
    /// Ultrasonic sensors (20 Hz, 5 ms) are added by the caller (`Ultrasonic(i)`).
    fn default() -> Self {
        let ms = 1_000_000_i64;
        let sensors = BTreeMap::from([
            (
                SensorId::Lidar,
                SensorTiming {
                    latency_ns: 30 * ms,
                    period_ns: 100 * ms,
                },
            ),
            (
                SensorId::RadarFront,
                SensorTiming {
                    latency_ns: 15 * ms,
                    period_ns: 50 * ms,
                },
            ),
            (
                SensorId::CameraFront,
                SensorTiming {
                    latency_ns: 40 * ms,
                    period_ns: 33 * ms,
                },
            ),
            (
                SensorId::Imu,
                SensorTiming {
                    latency_ns: 2 * ms,
                    period_ns: 10 * ms,
                },
            ),
            (
                SensorId::Wheel,
                SensorTiming {
                    latency_ns: 5 * ms,
                    period_ns: 20 * ms,
                },
            ),
        ]);
        Self {
            reference: SensorId::Lidar,
            sensors,
            jitter_ns: 10 * ms,
            timeout_ns: 60 * ms,
            capacity: 256,
            clock_jump_back_ns: 1_000 * ms,
            clock_jump_forward_ns: 1_000 * ms,
            fallback_reference: Some(SensorId::RadarFront),
            reference_silence_ns: 300 * ms,
            absent_after_ns: 500 * ms,
            ultrasonic_timing: SensorTiming {
                latency_ns: 5 * ms,
                period_ns: 50 * ms,
            },
        }
    }
}

/// One buffered item with its stamp (sensor clock) and arrival time (local clock).
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped<T> {
    /// Measurement time, ns.
    pub stamp_ns: StampNs,
    /// Arrival time, ns.
    pub arrival_ns: StampNs,
    /// The payload.
    pub item: T,
}

/// One synchronized fusion cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Cycle<T> {
    /// Cycle time: the stamp of the reference item, ns.
    pub stamp_ns: StampNs,
    /// The reference item that triggered the cycle.
    pub reference: Stamped<T>,
    /// Every other sensor's items stamped after the previous cycle and at or before
    /// `stamp_ns`, oldest first. Sensors with no item have no entry.
    pub items: BTreeMap<SensorId, Vec<Stamped<T>>>,
    /// Sensors that had not caught up with `stamp_ns` when the timeout expired: alive, but
    /// their items for this cycle had not arrived (degraded cycle).
    pub late: Vec<SensorId>,
    /// Sensors that had not caught up with `stamp_ns` and were not waited for: silent for
    /// [`SyncConfig::absent_after_ns`] (dead, or not on this system; degraded cycle).
    pub absent: Vec<SensorId>,
}

impl<T> Cycle<T> {
    /// True when the cycle proceeded without at least one of its sensors, late or absent.
    pub fn is_degraded(&self) -> bool {
        !self.late.is_empty() || !self.absent.is_empty()
    }
}

/// What [`TimeSync::push`] did with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Buffered.
    Accepted,
    /// The stamp jumped: the sensor's buffer was reset, then the item buffered.
    AcceptedAfterClockJump,
    /// Dropped: the same stamp is already buffered or was the sensor's newest stamp.
    Duplicate,
    /// Not buffered: stamped at or before the last cycle already emitted for this sensor (the
    /// pipeline retrodicts such a measurement into the tracker when it can).
    OutOfSequence,
    /// Rejected: the sensor is not configured.
    UnknownSensor,
}

impl PushOutcome {
    /// Why the item was not buffered (`None` when it was).
    pub fn rejection(self) -> Option<&'static str> {
        match self {
            PushOutcome::Accepted | PushOutcome::AcceptedAfterClockJump => None,
            PushOutcome::Duplicate => Some("duplicate"),
            PushOutcome::OutOfSequence => Some("out_of_sequence"),
            PushOutcome::UnknownSensor => Some("unknown_sensor"),
        }
    }
}

/// Per-sensor counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SensorCounters {
    /// Items buffered (including those after a clock jump).
    pub accepted: u64,
    /// Items dropped as duplicate stamps.
    pub duplicates: u64,
    /// Items rejected as out of sequence.
    pub out_of_sequence: u64,
    /// Clock jumps (each reset the buffer).
    pub clock_jumps: u64,
    /// Buffered items discarded by a clock-jump reset.
    pub reset_dropped: u64,
    /// Oldest items dropped because the buffer was full.
    pub overflow_dropped: u64,
    /// Cycles emitted while this sensor was late (alive, waited for, timed out).
    pub late_cycles: u64,
    /// Cycles emitted while this sensor was absent (silent, not waited for).
    pub absent_cycles: u64,
    /// Arrival minus stamp of the newest accepted item, ns.
    pub last_latency_ns: Option<i64>,
}

/// Counters over all sensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncCounters {
    /// Cycles emitted.
    pub cycles: u64,
    /// Cycles emitted with at least one late or absent sensor.
    pub degraded_cycles: u64,
    /// Items of sensors that are not configured.
    pub unknown_sensor: u64,
}

#[derive(Debug, Clone)]
struct Stream<T> {
    timing: SensorTiming,
    buf: VecDeque<Stamped<T>>,
    /// Newest accepted stamp since the last reset.
    newest_stamp_ns: Option<StampNs>,
    /// Arrival time of the item with `newest_stamp_ns`.
    newest_arrival_ns: StampNs,
    /// Arrival time of the last item pushed, whatever became of it (the sensor is alive).
    last_arrival_ns: Option<StampNs>,
    /// Stamp of the last cycle emitted since the last reset: items at or before it are late.
    emitted_until_ns: Option<StampNs>,
    counters: SensorCounters,
}

impl<T> Stream<T> {
    fn new(timing: SensorTiming) -> Self {
        Self {
            timing,
            buf: VecDeque::new(),
            newest_stamp_ns: None,
            newest_arrival_ns: 0,
            last_arrival_ns: None,
            emitted_until_ns: None,
            counters: SensorCounters::default(),
        }
    }

    /// Whether this stream has caught up with cycle time `t_ns`: its newest stamp reached `t`,
    /// or its next stamp (newest + period) is due after `t + jitter`, or (event-driven stream)
    /// `now` passed the time by which on-time data stamped `t` arrives (`due_ns`).
    fn caught_up(&self, t_ns: StampNs, jitter_ns: i64, now_ns: StampNs, due_ns: StampNs) -> bool {
        if self.timing.period_ns == 0 {
            return self.newest_stamp_ns.is_some_and(|s| s >= t_ns) || now_ns >= due_ns;
        }
        self.newest_stamp_ns.is_some_and(|s| {
            s >= t_ns || s.saturating_add(self.timing.period_ns) > t_ns.saturating_add(jitter_ns)
        })
    }
}

/// Per-sensor buffers and the cycle trigger. Generic over the item type `T` (for example an
/// enum over the sensor payloads).
#[derive(Debug, Clone)]
pub struct TimeSync<T> {
    config: SyncConfig,
    streams: BTreeMap<SensorId, Stream<T>>,
    counters: SyncCounters,
    /// Arrival of the newest reference item, or of the first item of any sensor before one.
    reference_seen_ns: Option<StampNs>,
    /// Arrival of the first item of any sensor.
    first_arrival_ns: Option<StampNs>,
}

impl<T> TimeSync<T> {
    /// A synchronizer, after checking the config (non-negative latencies, periods, jitter and
    /// timeout; positive capacity and clock-jump thresholds; the reference is configured).
    pub fn new(config: SyncConfig) -> Result<Self, SyncError> {
        let check = |field: &'static str, value: i64, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(SyncError::InvalidConfig { field, value })
            }
        };
        check("jitter_ns", config.jitter_ns, config.jitter_ns >= 0)?;
        check("timeout_ns", config.timeout_ns, config.timeout_ns >= 0)?;
        let cap = i64::try_from(config.capacity).unwrap_or(i64::MAX);
        check("capacity", cap, config.capacity >= 1)?;
        check(
            "clock_jump_back_ns",
            config.clock_jump_back_ns,
            config.clock_jump_back_ns > 0,
        )?;
        check(
            "clock_jump_forward_ns",
            config.clock_jump_forward_ns,
            config.clock_jump_forward_ns > 0,
        )?;
        check(
            "reference_silence_ns",
            config.reference_silence_ns,
            config.reference_silence_ns > 0,
        )?;
        check(
            "absent_after_ns",
            config.absent_after_ns,
            config.absent_after_ns >= 0,
        )?;
        for timing in config.sensors.values() {
            check("latency_ns", timing.latency_ns, timing.latency_ns >= 0)?;
            check("period_ns", timing.period_ns, timing.period_ns >= 0)?;
        }
        if !config.sensors.contains_key(&config.reference) {
            return Err(SyncError::MissingReference {
                reference: config.reference,
            });
        }
        let streams = config
            .sensors
            .iter()
            .map(|(id, t)| (*id, Stream::new(*t)))
            .collect();
        Ok(Self {
            config,
            streams,
            counters: SyncCounters::default(),
            reference_seen_ns: None,
            first_arrival_ns: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// Offers one item of `sensor`, stamped `stamp_ns` (sensor clock) and arrived at
    /// `arrival_ns` (local clock). Rules, in order, with `s_new` the sensor's newest stamp and
    /// `a_new` its arrival:
    /// 1. clock jump if `s_new - stamp > clock_jump_back_ns` or
    ///    `(stamp - s_new) - max(0, arrival - a_new) > clock_jump_forward_ns`: the sensor's buffer
    ///    and its out-of-sequence mark are reset, then the item is buffered;
    /// 2. duplicate if `stamp == s_new` or the stamp is buffered: dropped;
    /// 3. out of sequence if `stamp <=` the last cycle emitted for this sensor: rejected;
    /// 4. otherwise inserted in stamp order; if the buffer then exceeds `capacity`, the oldest
    ///    item is dropped.
    ///
    /// Every outcome is counted per sensor.
    pub fn push(
        &mut self,
        sensor: SensorId,
        stamp_ns: StampNs,
        arrival_ns: StampNs,
        item: T,
    ) -> PushOutcome {
        self.push_keeping_late(sensor, stamp_ns, arrival_ns, item).0
    }

    /// [`Self::push`], handing an item back when it is [`PushOutcome::OutOfSequence`] (counted
    /// as such), for a caller that can still use it (a tracker that retrodicts it).
    pub fn push_keeping_late(
        &mut self,
        sensor: SensorId,
        stamp_ns: StampNs,
        arrival_ns: StampNs,
        item: T,
    ) -> (PushOutcome, Option<T>) {
        let Some(stream) = self.streams.get_mut(&sensor) else {
            self.counters.unknown_sensor += 1;
            return (PushOutcome::UnknownSensor, None);
        };
        if sensor == self.config.reference || self.reference_seen_ns.is_none() {
            self.reference_seen_ns = Some(arrival_ns);
        }
        self.first_arrival_ns.get_or_insert(arrival_ns);
        stream.last_arrival_ns = Some(arrival_ns);
        let mut outcome = PushOutcome::Accepted;
        if let Some(newest) = stream.newest_stamp_ns {
            let back = newest.saturating_sub(stamp_ns);
            let arrival_advance = arrival_ns.saturating_sub(stream.newest_arrival_ns).max(0);
            let forward = stamp_ns
                .saturating_sub(newest)
                .saturating_sub(arrival_advance);
            if back > self.config.clock_jump_back_ns || forward > self.config.clock_jump_forward_ns
            {
                stream.counters.clock_jumps += 1;
                stream.counters.reset_dropped += stream.buf.len() as u64;
                stream.buf.clear();
                stream.newest_stamp_ns = None;
                stream.emitted_until_ns = None;
                outcome = PushOutcome::AcceptedAfterClockJump;
            }
        }
        if outcome == PushOutcome::Accepted {
            let buffered = stream
                .buf
                .binary_search_by_key(&stamp_ns, |s| s.stamp_ns)
                .is_ok();
            if stream.newest_stamp_ns == Some(stamp_ns) || buffered {
                stream.counters.duplicates += 1;
                return (PushOutcome::Duplicate, None);
            }
            if stream.emitted_until_ns.is_some_and(|e| stamp_ns <= e) {
                stream.counters.out_of_sequence += 1;
                return (PushOutcome::OutOfSequence, Some(item));
            }
        }
        let pos = stream.buf.partition_point(|s| s.stamp_ns < stamp_ns);
        stream.buf.insert(
            pos,
            Stamped {
                stamp_ns,
                arrival_ns,
                item,
            },
        );
        if stream.newest_stamp_ns.is_none_or(|n| stamp_ns > n) {
            stream.newest_stamp_ns = Some(stamp_ns);
            stream.newest_arrival_ns = arrival_ns;
        }
        stream.counters.accepted += 1;
        stream.counters.last_latency_ns = Some(arrival_ns.saturating_sub(stamp_ns));
        if stream.buf.len() > self.config.capacity {
            stream.buf.pop_front();
            stream.counters.overflow_dropped += 1;
        }
        (outcome, None)
    }

    /// Emits the oldest pending cycle if it is ready at local time `now_ns`, else `None`; call
    /// again until `None` to drain several. With `t` the oldest buffered reference stamp and
    /// `a` its arrival, every other sensor `s` must have caught up with `t` (newest stamp
    /// `>= t`, or newest stamp + period `> t + jitter`, or, for period 0,
    /// `now >= a - latency_ref + latency_s + jitter`); once `now >= a + timeout` the cycle is
    /// emitted anyway, with the sensors not caught up listed in [`Cycle::late`]. A sensor not
    /// caught up that is not alive (see [`SyncConfig::absent_after_ns`]) is not waited for and
    /// is listed in [`Cycle::absent`].
    pub fn poll(&mut self, now_ns: StampNs) -> Option<Cycle<T>> {
        if let Some(cycle) = self.poll_reference(now_ns) {
            return Some(cycle);
        }
        self.poll_fallback(now_ns)
    }

    /// A degraded cycle on the fallback sensor's oldest item, when the reference has been
    /// silent for `reference_silence_ns` and nothing of it is buffered: the other sensors'
    /// items up to that stamp, the reference listed as absent (silent, not waited for). No
    /// waiting for other sensors, and only the reference is listed.
    fn poll_fallback(&mut self, now_ns: StampNs) -> Option<Cycle<T>> {
        let reference = self.config.reference;
        let fallback = self.config.fallback_reference.filter(|f| *f != reference)?;
        let seen = self.reference_seen_ns?;
        let silent = now_ns.saturating_sub(seen) > self.config.reference_silence_ns;
        let ref_empty = self
            .streams
            .get(&reference)
            .is_none_or(|r| r.buf.is_empty());
        if !(silent && ref_empty) {
            return None;
        }
        let item = self.streams.get_mut(&fallback)?.buf.pop_front()?;
        let t_ns = item.stamp_ns;
        let mut items = BTreeMap::new();
        for (id, stream) in self.streams.iter_mut() {
            if *id != fallback {
                let n = stream.buf.partition_point(|s| s.stamp_ns <= t_ns);
                if n > 0 {
                    items.insert(*id, stream.buf.drain(..n).collect::<Vec<_>>());
                }
            }
            stream.emitted_until_ns = Some(stream.emitted_until_ns.map_or(t_ns, |e| e.max(t_ns)));
            if *id == reference {
                stream.counters.absent_cycles += 1;
            }
        }
        self.counters.cycles += 1;
        self.counters.degraded_cycles += 1;
        Some(Cycle {
            stamp_ns: t_ns,
            reference: item,
            items,
            late: Vec::new(),
            absent: vec![reference],
        })
    }

    fn poll_reference(&mut self, now_ns: StampNs) -> Option<Cycle<T>> {
        let reference = self.config.reference;
        let (t_ns, a_ns, ref_latency_ns) = {
            let r = self.streams.get(&reference)?;
            let first = r.buf.front()?;
            (first.stamp_ns, first.arrival_ns, r.timing.latency_ns)
        };
        let jitter_ns = self.config.jitter_ns;
        let mut late = Vec::new();
        let mut absent = Vec::new();
        for (id, stream) in &self.streams {
            if *id == reference {
                continue;
            }
            let due_ns = a_ns
                .saturating_sub(ref_latency_ns)
                .saturating_add(stream.timing.latency_ns)
                .saturating_add(jitter_ns);
            if !stream.caught_up(t_ns, jitter_ns, now_ns, due_ns) {
                // Waited for only while alive (see `SyncConfig::absent_after_ns`; a slow
                // sensor has two of its periods and its latency at least).
                let absent_after_ns = self.config.absent_after_ns.max(
                    stream
                        .timing
                        .period_ns
                        .saturating_mul(2)
                        .saturating_add(stream.timing.latency_ns),
                );
                let alive = stream
                    .last_arrival_ns
                    .or(self.first_arrival_ns)
                    .is_some_and(|a| now_ns.saturating_sub(a) <= absent_after_ns);
                if alive {
                    late.push(*id);
                } else {
                    absent.push(*id);
                }
            }
        }
        let wait = !late.is_empty();
        if wait && now_ns < a_ns.saturating_add(self.config.timeout_ns) {
            return None;
        }
        let ref_stream = self.streams.get_mut(&reference)?;
        let reference_item = ref_stream.buf.pop_front()?;
        ref_stream.emitted_until_ns = Some(t_ns);
        let mut items = BTreeMap::new();
        for (id, stream) in self.streams.iter_mut() {
            if *id == reference {
                continue;
            }
            let n = stream.buf.partition_point(|s| s.stamp_ns <= t_ns);
            if n > 0 {
                items.insert(*id, stream.buf.drain(..n).collect::<Vec<_>>());
            }
            stream.emitted_until_ns = Some(stream.emitted_until_ns.map_or(t_ns, |e| e.max(t_ns)));
            if late.contains(id) {
                stream.counters.late_cycles += 1;
            } else if absent.contains(id) {
                stream.counters.absent_cycles += 1;
            }
        }
        self.counters.cycles += 1;
        if !late.is_empty() || !absent.is_empty() {
            self.counters.degraded_cycles += 1;
        }
        Some(Cycle {
            stamp_ns: t_ns,
            reference: reference_item,
            items,
            late,
            absent,
        })
    }

    /// The counters of one sensor (`None` if it is not configured).
    pub fn sensor_counters(&self, sensor: SensorId) -> Option<SensorCounters> {
        self.streams.get(&sensor).map(|s| s.counters)
    }

    /// Counters over all sensors.
    pub fn counters(&self) -> SyncCounters {
        self.counters
    }

    /// Number of items buffered for `sensor` (0 if not configured).
    pub fn buffered(&self, sensor: SensorId) -> usize {
        self.streams.get(&sensor).map_or(0, |s| s.buf.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    /// LiDAR reference (latency 30 ms, 100 ms), radar (10 ms, 50 ms), wheel (5 ms, 20 ms),
    /// an event-driven ultrasonic (latency 20 ms, period 0).
    fn config() -> SyncConfig {
        SyncConfig {
            reference: SensorId::Lidar,
            sensors: BTreeMap::from([
                (
                    SensorId::Lidar,
                    SensorTiming {
                        latency_ns: 30 * MS,
                        period_ns: 100 * MS,
                    },
                ),
                (
                    SensorId::RadarFront,
                    SensorTiming {
                        latency_ns: 10 * MS,
                        period_ns: 50 * MS,
                    },
                ),
                (
                    SensorId::Wheel,
                    SensorTiming {
                        latency_ns: 5 * MS,
                        period_ns: 20 * MS,
                    },
                ),
                (
                    SensorId::Ultrasonic(0),
                    SensorTiming {
                        latency_ns: 20 * MS,
                        period_ns: 0,
                    },
                ),
            ]),
            jitter_ns: 5 * MS,
            timeout_ns: 60 * MS,
            capacity: 8,
            clock_jump_back_ns: 500 * MS,
            clock_jump_forward_ns: 500 * MS,
            fallback_reference: None,
            reference_silence_ns: 300 * MS,
            absent_after_ns: 500 * MS,
            ultrasonic_timing: SensorTiming {
                latency_ns: 5 * MS,
                period_ns: 50 * MS,
            },
        }
    }

    fn sync() -> TimeSync<i64> {
        match TimeSync::new(config()) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    /// Pushes an item whose payload is its stamp, arriving after the sensor's latency.
    fn push(s: &mut TimeSync<i64>, sensor: SensorId, stamp_ns: i64) -> PushOutcome {
        let lat = s.config().sensors.get(&sensor).map_or(0, |t| t.latency_ns);
        s.push(sensor, stamp_ns, stamp_ns + lat, stamp_ns)
    }

    fn stamps(c: &Cycle<i64>, id: SensorId) -> Vec<i64> {
        c.items
            .get(&id)
            .map_or(vec![], |v| v.iter().map(|s| s.item).collect())
    }

    #[test]
    fn a_silent_reference_hands_cycles_to_the_fallback_and_takes_them_back() {
        let mut s = match TimeSync::new(SyncConfig {
            fallback_reference: Some(SensorId::RadarFront),
            ..config()
        }) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        for t in [0, 100] {
            push(&mut s, SensorId::Wheel, t * MS);
            push(&mut s, SensorId::RadarFront, t * MS);
            push(&mut s, SensorId::Lidar, t * MS);
        }
        let mut normal = 0;
        while let Some(c) = s.poll(200 * MS) {
            assert!(c.late.is_empty() || c.stamp_ns == 100 * MS);
            normal += 1;
        }
        assert_eq!(normal, 2);
        // The LiDAR falls silent after its sweep at 100 ms (arrived 130 ms): radar and wheel
        // go on. Before 300 ms of silence nothing cycles on the radar.
        for t in [150, 200, 250, 300, 350, 400, 450] {
            push(&mut s, SensorId::Wheel, t * MS);
            push(&mut s, SensorId::RadarFront, t * MS);
        }
        assert!(
            s.poll(420 * MS).is_none(),
            "the LiDAR is silent for 290 ms only"
        );
        let mut fallback = Vec::new();
        while let Some(c) = s.poll(460 * MS) {
            assert_eq!((&c.late, &c.absent), (&vec![], &vec![SensorId::Lidar]));
            assert!(c.is_degraded());
            fallback.push((c.stamp_ns, c.reference.item, stamps(&c, SensorId::Wheel)));
        }
        assert_eq!(fallback.first().map(|f| f.0), Some(150 * MS));
        assert_eq!(fallback.len(), 7);
        assert_eq!(fallback[1].2, vec![200 * MS]);
        assert_eq!(s.counters().degraded_cycles, 7);
        // A late sweep stamped before the last fallback cycle is out of sequence; a new one
        // takes the cycles back.
        assert_eq!(
            push(&mut s, SensorId::Lidar, 400 * MS),
            PushOutcome::OutOfSequence
        );
        for t in [500, 550, 600] {
            push(&mut s, SensorId::Wheel, t * MS);
            push(&mut s, SensorId::RadarFront, t * MS);
        }
        push(&mut s, SensorId::Lidar, 500 * MS);
        let c = s.poll(540 * MS).unwrap_or_else(|| panic!("a LiDAR cycle"));
        assert_eq!((c.stamp_ns, c.late.clone()), (500 * MS, vec![]));
        assert_eq!(stamps(&c, SensorId::RadarFront), vec![500 * MS]);
    }

    #[test]
    fn config_is_validated() {
        let mut c = config();
        c.capacity = 0;
        assert!(matches!(
            TimeSync::<i64>::new(c),
            Err(SyncError::InvalidConfig {
                field: "capacity",
                ..
            })
        ));
        let mut c = config();
        c.reference = SensorId::CameraFront;
        assert!(matches!(
            TimeSync::<i64>::new(c),
            Err(SyncError::MissingReference { .. })
        ));
        let mut c = config();
        c.jitter_ns = -1;
        assert!(TimeSync::<i64>::new(c).is_err());
        assert!(TimeSync::<i64>::new(SyncConfig::default()).is_ok());
    }

    #[test]
    fn cycle_collects_items_up_to_reference_stamp_in_order() {
        let mut s = sync();
        // Radar arrives out of order but after no cycle: buffered in stamp order.
        for t in [0, 20, 40, 60, 80, 100, 120] {
            push(&mut s, SensorId::Wheel, t * MS);
        }
        push(&mut s, SensorId::RadarFront, 50 * MS);
        push(&mut s, SensorId::RadarFront, 0);
        push(&mut s, SensorId::RadarFront, 100 * MS);
        push(&mut s, SensorId::Ultrasonic(0), 70 * MS);
        push(&mut s, SensorId::Lidar, 100 * MS);
        // Ultrasonic is event-driven: due at arrival(130) - 30 + 20 + 5 = 125 ms.
        assert!(s.poll(124 * MS).is_none());
        let c = s.poll(125 * MS).unwrap_or_else(|| panic!("cycle expected"));
        assert_eq!(c.stamp_ns, 100 * MS);
        assert!(!c.is_degraded());
        assert_eq!(stamps(&c, SensorId::RadarFront), vec![0, 50 * MS, 100 * MS]);
        assert_eq!(
            stamps(&c, SensorId::Wheel),
            vec![0, 20 * MS, 40 * MS, 60 * MS, 80 * MS, 100 * MS]
        );
        assert_eq!(stamps(&c, SensorId::Ultrasonic(0)), vec![70 * MS]);
        assert_eq!(
            s.buffered(SensorId::Wheel),
            1,
            "the 120 ms wheel item waits for the next cycle"
        );
        assert!(s.poll(1_000 * MS).is_none(), "no reference item pending");
        assert_eq!(s.counters().cycles, 1);
    }

    #[test]
    fn waits_for_sensor_whose_next_sample_is_due_before_cycle_time() {
        let mut s = sync();
        push(&mut s, SensorId::Wheel, 100 * MS);
        push(&mut s, SensorId::RadarFront, 40 * MS); // next radar due at 90 ms <= 100 + 5
        push(&mut s, SensorId::Lidar, 100 * MS); // arrives 130 ms
        assert!(s.poll(140 * MS).is_none(), "radar 90 ms still expected");
        push(&mut s, SensorId::RadarFront, 90 * MS);
        let c = s.poll(141 * MS).unwrap_or_else(|| panic!("cycle expected"));
        assert!(!c.is_degraded());
        assert_eq!(stamps(&c, SensorId::RadarFront), vec![40 * MS, 90 * MS]);
        // Radar 160 ms: its next sample is due at 210 ms > 200 + 5 (jitter), so it has caught up.
        push(&mut s, SensorId::Wheel, 200 * MS);
        push(&mut s, SensorId::RadarFront, 160 * MS);
        push(&mut s, SensorId::Lidar, 200 * MS);
        assert!(s.poll(200 * MS + 21 * MS + 30 * MS).is_some());
    }

    #[test]
    fn timeout_proceeds_without_late_sensor_and_flags_it() {
        let mut s = sync();
        push(&mut s, SensorId::Wheel, 100 * MS);
        push(&mut s, SensorId::Ultrasonic(0), 90 * MS);
        // Radar silent. LiDAR 100 ms arrives at 130 ms; timeout at 190 ms.
        push(&mut s, SensorId::Lidar, 100 * MS);
        assert!(s.poll(189 * MS).is_none(), "waits within the timeout");
        let c = s
            .poll(190 * MS)
            .unwrap_or_else(|| panic!("cycle expected at timeout"));
        assert!(c.is_degraded());
        assert_eq!(c.late, vec![SensorId::RadarFront]);
        assert_eq!(stamps(&c, SensorId::Wheel), vec![100 * MS]);
        assert_eq!(s.counters().degraded_cycles, 1);
        assert_eq!(
            s.sensor_counters(SensorId::RadarFront)
                .map(|c| c.late_cycles),
            Some(1)
        );
        // The late radar item, when it finally arrives, is out of sequence: never applied.
        assert_eq!(
            push(&mut s, SensorId::RadarFront, 95 * MS),
            PushOutcome::OutOfSequence
        );
        assert_eq!(
            s.sensor_counters(SensorId::RadarFront)
                .map(|c| c.out_of_sequence),
            Some(1)
        );
        // A later radar item is fine.
        assert_eq!(
            push(&mut s, SensorId::RadarFront, 150 * MS),
            PushOutcome::Accepted
        );
    }

    #[test]
    fn a_sensor_silent_for_long_or_never_seen_is_flagged_but_not_waited_for() {
        let mut s = match TimeSync::new(SyncConfig {
            sensors: config()
                .sensors
                .into_iter()
                .chain([(
                    SensorId::CameraFront,
                    SensorTiming {
                        latency_ns: 20 * MS,
                        period_ns: 33 * MS,
                    },
                )])
                .collect(),
            ..config()
        }) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        // The radar delivers until 50 ms, then dies; it is back at 900 ms. The camera never
        // delivers. Wheel and ultrasonic go on. A sweep every 100 ms (arrives 30 ms later);
        // each cycle is polled as the next inputs arrive, every 5 ms.
        let mut emitted = Vec::new();
        // Pushed when it arrives: stamp `t` at `t + latency`.
        let arrived = |now: i64, latency: i64, period: i64| {
            let t = now - latency;
            (t >= 0 && t % period == 0).then_some(t)
        };
        for step in 0..=230 {
            let now = step * 5 * MS;
            if let Some(t) = arrived(now, 5 * MS, 20 * MS) {
                s.push(SensorId::Wheel, t, now, t);
                s.push(SensorId::Ultrasonic(0), t, now, t);
            }
            if let Some(t) = arrived(now, 10 * MS, 50 * MS) {
                if t <= 50 * MS || t >= 900 * MS {
                    s.push(SensorId::RadarFront, t, now, t);
                }
            }
            if let Some(t) = arrived(now, 30 * MS, 100 * MS) {
                s.push(SensorId::Lidar, t, now, t);
            }
            while let Some(c) = s.poll(now) {
                emitted.push((c.stamp_ns, now, c.late.clone(), c.absent.clone()));
            }
        }
        let wait_of = |stamp_ms: i64| {
            emitted
                .iter()
                .find(|e| e.0 == stamp_ms * MS)
                .map(|e| (e.1 - e.0 - 30 * MS) / MS)
                .unwrap_or_else(|| panic!("no cycle at {stamp_ms} ms: {emitted:?}"))
        };
        // At first both are waited for the full timeout (the camera not seen yet, the radar
        // alive), up to 500 ms after they last delivered (the camera: after the first input).
        assert_eq!(wait_of(100), 60);
        assert_eq!(wait_of(400), 60);
        let missed = |stamp_ms: i64| {
            let e = emitted.iter().find(|e| e.0 == stamp_ms * MS).unwrap();
            (e.2.clone(), e.3.clone())
        };
        let (radar, camera) = (SensorId::RadarFront, SensorId::CameraFront);
        assert_eq!(missed(100), (vec![radar, camera], vec![]));
        // Then neither: the cycle goes at its sweep's arrival, listing both as absent.
        assert_eq!(wait_of(600), 0);
        assert_eq!(wait_of(800), 0);
        assert_eq!(missed(800), (vec![], vec![radar, camera]));
        // The radar back: caught up again (no wait); only the camera is absent.
        assert_eq!(missed(1000), (vec![], vec![camera]));
        assert_eq!(wait_of(1000), 0);
        let counters = |id| s.sensor_counters(id).unwrap();
        // The camera: waited for in the sweeps of 0 to 400 ms, absent from 500 ms on.
        let camera_counts = (counters(camera).late_cycles, counters(camera).absent_cycles);
        assert_eq!(camera_counts, (5, 7));
        assert_eq!(s.counters().degraded_cycles, 12);
    }

    #[test]
    fn a_slow_sensor_is_waited_for_over_its_own_period() {
        // A radar at 1.67 Hz (600 ms) with 50 ms of latency: its last item is older than
        // `absent_after_ns` when its next is due, but it is alive.
        let mut c = config();
        c.sensors
            .retain(|id, _| matches!(id, SensorId::Lidar | SensorId::RadarFront));
        c.sensors.insert(
            SensorId::RadarFront,
            SensorTiming {
                latency_ns: 50 * MS,
                period_ns: 600 * MS,
            },
        );
        let mut s = match TimeSync::new(c) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        for t in [0, 600] {
            s.push(SensorId::RadarFront, t * MS, (t + 50) * MS, t);
        }
        for t in (0..=1100).step_by(100) {
            s.push(SensorId::Lidar, t * MS, (t + 30) * MS, t);
            while s.poll((t + 30) * MS).is_some() {}
        }
        s.push(SensorId::Lidar, 1200 * MS, 1230 * MS, 1200);
        assert!(
            s.poll(1230 * MS).is_none(),
            "the radar's 1200 ms scan is due"
        );
        s.push(SensorId::RadarFront, 1200 * MS, 1250 * MS, 1200);
        let c = s
            .poll(1250 * MS)
            .unwrap_or_else(|| panic!("cycle expected"));
        assert!(c.late.is_empty(), "{:?}", c.late);
        assert_eq!(stamps(&c, SensorId::RadarFront), vec![1200]);
    }

    #[test]
    fn out_of_sequence_items_are_rejected_and_counted() {
        let mut s = sync();
        push(&mut s, SensorId::Wheel, 100 * MS);
        push(&mut s, SensorId::RadarFront, 100 * MS);
        push(&mut s, SensorId::Lidar, 100 * MS);
        assert!(s.poll(200 * MS).is_some());
        assert_eq!(
            push(&mut s, SensorId::Wheel, 80 * MS),
            PushOutcome::OutOfSequence
        );
        assert_eq!(
            push(&mut s, SensorId::Wheel, 99 * MS),
            PushOutcome::OutOfSequence
        );
        assert_eq!(
            push(&mut s, SensorId::Lidar, 50 * MS),
            PushOutcome::OutOfSequence
        );
        assert_eq!(
            push(&mut s, SensorId::Wheel, 101 * MS),
            PushOutcome::Accepted
        );
        assert_eq!(
            s.sensor_counters(SensorId::Wheel)
                .map(|c| c.out_of_sequence),
            Some(2)
        );
        assert_eq!(
            s.sensor_counters(SensorId::Lidar)
                .map(|c| c.out_of_sequence),
            Some(1)
        );
        assert_eq!(s.buffered(SensorId::Wheel), 1);
    }

    #[test]
    fn duplicate_stamps_are_dropped_and_counted() {
        let mut s = sync();
        assert_eq!(
            push(&mut s, SensorId::Wheel, 20 * MS),
            PushOutcome::Accepted
        );
        assert_eq!(
            push(&mut s, SensorId::Wheel, 40 * MS),
            PushOutcome::Accepted
        );
        assert_eq!(
            push(&mut s, SensorId::Wheel, 20 * MS),
            PushOutcome::Duplicate
        );
        assert_eq!(
            push(&mut s, SensorId::Wheel, 40 * MS),
            PushOutcome::Duplicate
        );
        assert_eq!(s.buffered(SensorId::Wheel), 2);
        assert_eq!(
            s.sensor_counters(SensorId::Wheel).map(|c| c.duplicates),
            Some(2)
        );
    }

    #[test]
    fn clock_jumps_reset_the_sensor_buffer_and_are_counted() {
        let mut s = sync();
        for t in [0, 20, 40] {
            push(&mut s, SensorId::Wheel, 10_000 * MS + t * MS);
        }
        // Backwards by 10 s: reset, then buffered; not rejected as out of sequence.
        assert_eq!(
            push(&mut s, SensorId::Wheel, 60 * MS),
            PushOutcome::AcceptedAfterClockJump
        );
        assert_eq!(s.buffered(SensorId::Wheel), 1);
        // Forwards by 1 h while arrival advanced 20 ms: reset again.
        let c = s.sensor_counters(SensorId::Wheel).unwrap_or_default();
        assert_eq!((c.clock_jumps, c.reset_dropped), (1, 3));
        let out = s.push(
            SensorId::Wheel,
            3_600_000 * MS,
            60 * MS + 5 * MS + 20 * MS,
            0,
        );
        assert_eq!(out, PushOutcome::AcceptedAfterClockJump);
        // A stamp that advances by 2 s after a 2 s silence is not a jump.
        let out = s.push(
            SensorId::Wheel,
            3_602_000 * MS,
            60 * MS + 5 * MS + 20 * MS + 2_000 * MS,
            0,
        );
        assert_eq!(out, PushOutcome::Accepted);
        // Small backwards step (within threshold) is an ordinary insert.
        let out = s.push(SensorId::Wheel, 3_601_900 * MS, 2_100 * MS, 0);
        assert_eq!(out, PushOutcome::Accepted);
        let c = s.sensor_counters(SensorId::Wheel).unwrap_or_default();
        assert_eq!((c.clock_jumps, c.reset_dropped), (2, 4));
        assert_eq!(s.buffered(SensorId::Wheel), 3);
    }

    #[test]
    fn clock_jump_back_after_a_cycle_clears_the_out_of_sequence_mark() {
        let mut s = sync();
        push(&mut s, SensorId::Wheel, 5_000 * MS);
        push(&mut s, SensorId::RadarFront, 5_000 * MS);
        push(&mut s, SensorId::Lidar, 5_000 * MS);
        assert!(s.poll(6_000 * MS).is_some());
        // The whole system restarts its clock (bag loop): each sensor resets on its own.
        assert_eq!(
            push(&mut s, SensorId::Wheel, 100 * MS),
            PushOutcome::AcceptedAfterClockJump
        );
        assert_eq!(
            push(&mut s, SensorId::RadarFront, 100 * MS),
            PushOutcome::AcceptedAfterClockJump
        );
        assert_eq!(
            push(&mut s, SensorId::Lidar, 100 * MS),
            PushOutcome::AcceptedAfterClockJump
        );
        let c = s
            .poll(200 * MS)
            .unwrap_or_else(|| panic!("cycle after the jump"));
        assert_eq!(c.stamp_ns, 100 * MS);
        assert!(!c.is_degraded());
        assert_eq!(stamps(&c, SensorId::Wheel), vec![100 * MS]);
    }

    #[test]
    fn bounded_buffers_drop_oldest_and_count() {
        let mut s = sync();
        for k in 0..12 {
            push(&mut s, SensorId::Wheel, k * 20 * MS);
        }
        assert_eq!(s.buffered(SensorId::Wheel), 8);
        assert_eq!(
            s.sensor_counters(SensorId::Wheel)
                .map(|c| c.overflow_dropped),
            Some(4)
        );
        push(&mut s, SensorId::RadarFront, 300 * MS);
        push(&mut s, SensorId::Lidar, 220 * MS);
        let c = s.poll(10_000 * MS).unwrap_or_else(|| panic!("cycle"));
        let w = stamps(&c, SensorId::Wheel);
        assert_eq!(
            w.first().copied(),
            Some(80 * MS),
            "the four oldest were dropped"
        );
        assert_eq!(w.last().copied(), Some(220 * MS));
    }

    #[test]
    fn unknown_sensor_is_rejected_and_counted() {
        let mut s = sync();
        assert_eq!(
            push(&mut s, SensorId::CameraFront, 0),
            PushOutcome::UnknownSensor
        );
        assert_eq!(s.counters().unknown_sensor, 1);
    }

    #[test]
    fn several_pending_cycles_drain_in_order() {
        let mut s: TimeSync<i64> = TimeSync::new(SyncConfig {
            capacity: 64,
            ..config()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        for k in 0..=15 {
            push(&mut s, SensorId::Wheel, k * 20 * MS);
        }
        for k in 0..=6 {
            push(&mut s, SensorId::RadarFront, k * 50 * MS);
        }
        for k in 1..=3 {
            push(&mut s, SensorId::Lidar, k * 100 * MS);
        }
        let mut got = vec![];
        while let Some(c) = s.poll(1_000 * MS) {
            got.push((
                c.stamp_ns,
                stamps(&c, SensorId::Wheel).len(),
                stamps(&c, SensorId::RadarFront).len(),
            ));
        }
        assert_eq!(
            got,
            vec![(100 * MS, 6, 3), (200 * MS, 5, 2), (300 * MS, 5, 2)]
        );
    }

    #[test]
    fn deterministic_same_input_same_cycles() {
        let run = || {
            let mut s = sync();
            let mut out = vec![];
            for k in 0..200_i64 {
                let t = k * 10 * MS;
                if k % 2 == 0 {
                    push(&mut s, SensorId::Wheel, t);
                }
                if k % 5 == 0 && k % 35 != 0 {
                    push(&mut s, SensorId::RadarFront, t);
                }
                if k % 10 == 0 {
                    push(&mut s, SensorId::Lidar, t);
                }
                while let Some(c) = s.poll(t) {
                    out.push(format!("{c:?}"));
                }
            }
            out
        };
        let a = run();
        assert!(a.len() > 10);
        assert_eq!(a, run());
    }
}
