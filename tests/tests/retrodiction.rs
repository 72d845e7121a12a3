//! Out-of-sequence measurements on a recorded drive: a radar scan that arrives after its cycle
//! has run is retrodicted (the tracker runs again from that cycle with the scan where it
//! belongs), so the tracks from then on are exactly those of the run where it came in time;
//! with retrodiction off it is rejected and counted, and the tracks differ; beyond the
//! retrodiction window it is rejected and counted. The health monitor takes every measurement
//! the tracker does not take as it comes, late or kept from the tracker by an overloaded
//! cycle's degradation: its statistics and findings are those of the run in time. Sensors a
//! drive lacks are not waited for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use edgefuse_bag::BagReader;
use edgefuse_fusion::budget::{Degrade, SteppingClock};
use edgefuse_fusion::health::{Finding, SensorStats};
use edgefuse_fusion::pipeline::{CycleOutput, Pipeline, PipelineConfig, RetrodictionConfig};
use edgefuse_fusion::types::{Input, SensorId};
use edgefuse_fusion_node::offline::{ultrasonic_positions, BagFeed, FeedItem};
use edgefuse_system_tests::sample_bag;

/// The drive's fusion inputs with their arrival times, and its ultrasonic positions.
fn inputs(scenario: &str) -> (Vec<(i64, Input)>, Vec<String>) {
    let reader = BagReader::open(&sample_bag(scenario).unwrap()).unwrap();
    let ultrasonic = ultrasonic_positions(&reader);
    let inputs = BagFeed::with_ultrasonic(&reader, &ultrasonic)
        .filter_map(|item| match item {
            FeedItem::Input { arrival_ns, input } => Some((arrival_ns, input)),
            _ => None,
        })
        .collect();
    (inputs, ultrasonic)
}

/// Every input pushed at its arrival and the pipeline polled after each, as the fusion node
/// does; the cycles with the arrival time after which each was emitted, and the pipeline.
fn run(
    inputs: &[(i64, Input)],
    ultrasonic: &[String],
    retrodiction: RetrodictionConfig,
) -> (Vec<(i64, CycleOutput)>, Pipeline) {
    run_with_clock_step(inputs, ultrasonic, retrodiction, 1_000_000)
}

/// [`run`] with the budget's clock advancing `step_ns` at each reading.
fn run_with_clock_step(
    inputs: &[(i64, Input)],
    ultrasonic: &[String],
    retrodiction: RetrodictionConfig,
    step_ns: i64,
) -> (Vec<(i64, CycleOutput)>, Pipeline) {
    let config = PipelineConfig {
        retrodiction,
        ..PipelineConfig::default()
    };
    run_config(inputs, ultrasonic, config, step_ns)
}

/// [`run_with_clock_step`] with `config` (its ultrasonic names set from `ultrasonic`).
fn run_config(
    inputs: &[(i64, Input)],
    ultrasonic: &[String],
    mut config: PipelineConfig,
    step_ns: i64,
) -> (Vec<(i64, CycleOutput)>, Pipeline) {
    config.ultrasonic_names = ultrasonic
        .iter()
        .enumerate()
        .map(|(i, p)| (i as u8, p.clone()))
        .collect();
    let mut pipeline = Pipeline::new(config).unwrap();
    let mut clock = SteppingClock { now_ns: 0, step_ns };
    let mut cycles = Vec::new();
    for (arrival_ns, input) in inputs {
        pipeline.push(*arrival_ns, input.clone());
        for c in pipeline.poll(*arrival_ns, &mut clock) {
            cycles.push((*arrival_ns, c));
        }
    }
    (cycles, pipeline)
}

/// The inputs with every fourth radar scan, camera frame and ultrasonic reading arriving
/// 150 ms late, in arrival order.
fn every_fourth_late(inputs: &[(i64, Input)]) -> Vec<(i64, Input)> {
    let mut late = inputs.to_vec();
    let mut nth = 0usize;
    for (arrival_ns, input) in &mut late {
        if matches!(
            input,
            Input::Radar(_) | Input::Camera(_) | Input::Ultrasonic(_)
        ) {
            nth += 1;
            if nth.is_multiple_of(4) {
                *arrival_ns += 150_000_000;
            }
        }
    }
    late.sort_by_key(|(arrival_ns, _)| *arrival_ns);
    late
}

/// The health monitor's figures of every sensor other than its latency.
fn stats_but_latency(pipeline: &Pipeline) -> Vec<SensorStats> {
    pipeline
        .health()
        .sensor_stats()
        .into_iter()
        .map(|mut s| {
            s.mean_latency_s = 0.0;
            s
        })
        .collect()
}

/// The health monitor's radar figures other than its latency.
fn radar_stats_but_latency(pipeline: &Pipeline) -> SensorStats {
    let mut stats = pipeline
        .health()
        .sensor_stats()
        .into_iter()
        .find(|s| s.sensor == SensorId::RadarFront)
        .unwrap();
    stats.mean_latency_s = 0.0;
    stats
}

#[test]
fn a_radar_scan_after_its_cycle_is_retrodicted_exactly_or_rejected_and_counted() {
    let (in_time, ultrasonic) = inputs("urban_intersection");
    // A radar scan in the middle of the drive, while the tracker follows the cars ahead.
    let radar: Vec<usize> = in_time
        .iter()
        .enumerate()
        .filter(|(_, (_, input))| matches!(input, Input::Radar(_)))
        .map(|(i, _)| i)
        .collect();
    let moved = radar[radar.len() / 2];
    let stamp_ns = in_time[moved].1.stamp_ns();
    // It arrives 250 ms late instead: after its cycle has run (the radar's next scans came in
    // time, so the synchroniser did not wait for it).
    let late_arrival_ns = in_time[moved].0 + 250_000_000;
    let mut late = in_time.clone();
    let (_, scan) = late.remove(moved);
    let at = late.partition_point(|(a, _)| *a <= late_arrival_ns);
    late.insert(at, (late_arrival_ns, scan));

    // Or 800 ms late, beyond the 0.5 s window.
    let too_late_arrival_ns = in_time[moved].0 + 800_000_000;
    let mut too_late = in_time.clone();
    let (_, scan_again) = too_late.remove(moved);
    let at_too_late = too_late.partition_point(|(a, _)| *a <= too_late_arrival_ns);
    too_late.insert(at_too_late, (too_late_arrival_ns, scan_again));
    // And the same late scan twice (a duplicate must not be applied twice).
    let mut twice = late.clone();
    twice.insert(at + 1, (late_arrival_ns + 1_000_000, late[at].1.clone()));

    let (reference, in_time_pipeline) = run(&in_time, &ultrasonic, RetrodictionConfig::default());
    let (retro, pipeline) = run(&late, &ultrasonic, RetrodictionConfig::default());
    let (retro_twice, pipeline_twice) = run(&twice, &ultrasonic, RetrodictionConfig::default());
    let (rejected, rejecting) = run(&late, &ultrasonic, RetrodictionConfig { window_ns: 0 });
    let (_, beyond) = run(&too_late, &ultrasonic, RetrodictionConfig::default());

    // The scan's cycle had run before it came: it was out of sequence.
    let emitted_before: Vec<&CycleOutput> = retro
        .iter()
        .filter(|(a, c)| *a < late_arrival_ns && c.stamp_ns >= stamp_ns)
        .map(|(_, c)| c)
        .collect();
    assert!(
        !emitted_before.is_empty(),
        "the scan at {stamp_ns} should have missed its cycle"
    );
    assert_eq!(pipeline.retrodicted.get(&SensorId::RadarFront), Some(&1));
    assert_eq!(
        pipeline
            .skipped
            .get(&(SensorId::RadarFront, "out_of_sequence")),
        None
    );
    assert_eq!(
        rejecting
            .skipped
            .get(&(SensorId::RadarFront, "out_of_sequence")),
        Some(&1)
    );
    assert!(rejecting.retrodicted.is_empty());
    assert_eq!(
        beyond
            .skipped
            .get(&(SensorId::RadarFront, "out_of_sequence")),
        Some(&1)
    );
    assert!(beyond.retrodicted.is_empty());
    assert_eq!(
        pipeline_twice.retrodicted.get(&SensorId::RadarFront),
        Some(&1)
    );
    assert_eq!(
        pipeline_twice
            .skipped
            .get(&(SensorId::RadarFront, "duplicate")),
        Some(&1)
    );

    // The health monitor took it too: the radar's rate, dropouts and skips as in time.
    assert_eq!(
        radar_stats_but_latency(&pipeline),
        radar_stats_but_latency(&in_time_pipeline)
    );

    // Every cycle after the late arrival: the same tracks as in time when retrodicted; not
    // all the same when rejected (the scan mattered).
    let after = |run: &[(i64, CycleOutput)]| -> Vec<CycleOutput> {
        run.iter()
            .filter(|(a, _)| *a > late_arrival_ns)
            .map(|(_, c)| c.clone())
            .collect()
    };
    let first_after = after(&retro)[0].stamp_ns;
    let reference_after: Vec<CycleOutput> = reference
        .iter()
        .map(|(_, c)| c.clone())
        .filter(|c| c.stamp_ns >= first_after)
        .collect();
    let (retro_after, rejected_after) = (after(&retro), after(&rejected));
    assert!(retro_after.len() > 50, "{} cycles after", retro_after.len());
    for run_after in [&retro_after, &after(&retro_twice)] {
        assert_eq!(run_after.len(), reference_after.len());
        for (r, c) in run_after.iter().zip(&reference_after) {
            assert_eq!(r.stamp_ns, c.stamp_ns);
            assert_eq!(r.tracks, c.tracks, "cycle at {}", c.stamp_ns);
        }
    }
    assert_eq!(rejected_after.len(), reference_after.len());
    assert!(
        rejected_after
            .iter()
            .zip(&reference_after)
            .any(|(r, c)| r.tracks != c.tracks),
        "the rejected scan changed no track: the test would not see a wrong retrodiction"
    );
}

#[test]
fn late_measurements_enter_the_health_monitor() {
    // The drive with four injected sensor faults, where every fourth radar scan, camera frame
    // and ultrasonic reading arrives 150 ms late, after its cycle.
    let (in_time, ultrasonic) = inputs("sensor_degradation");
    let late = every_fourth_late(&in_time);
    let (reference, in_time_pipeline) = run(&in_time, &ultrasonic, RetrodictionConfig::default());
    let (retro, pipeline) = run(&late, &ultrasonic, RetrodictionConfig::default());
    let retrodicted: u64 = pipeline.retrodicted.values().sum();
    assert!(retrodicted > 500, "{:?}", pipeline.retrodicted);
    assert!(
        !pipeline
            .skipped
            .keys()
            .any(|(_, reason)| *reason == "out_of_sequence"),
        "{:?}",
        pipeline.skipped
    );

    // Every sensor's rate, dropouts and skips as in time (its latency is the late one's).
    assert_eq!(
        stats_but_latency(&pipeline),
        stats_but_latency(&in_time_pipeline)
    );

    // The same findings once every measurement has come: the four faults, with the same
    // severities and evidence (to rounding: the misalignment from the same 1,369 radar /
    // LiDAR pairs, the stuck sensor's 278 readings; without the retrodicted measurements the
    // monitor counts 1,196 pairs).
    let end_ns = reference.last().unwrap().1.stamp_ns;
    let findings = |p: &Pipeline| -> Vec<Finding> { p.health().clone().findings(end_ns) };
    let (want, got) = (findings(&in_time_pipeline), findings(&pipeline));
    assert_eq!(want.len(), 4, "{want:#?}");
    assert_eq!(want.len(), got.len(), "{got:#?}");
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(
            (&w.component, w.kind, w.severity),
            (&g.component, g.kind, g.severity)
        );
        for (a, b) in w.evidence.iter().zip(&g.evidence) {
            assert_eq!(a.0, b.0);
            assert!(
                (a.1 - b.1).abs() <= 1e-9 * a.1.abs().max(1.0),
                "{}: {a:?} in time, {b:?} with late measurements",
                w.component
            );
        }
    }
    assert_eq!(retro.len(), reference.len());
}

#[test]
fn the_health_monitor_sees_what_an_overloaded_cycle_skips() {
    // Every stage of every cycle takes 10 ms on the budget's clock: the cycles overrun the
    // deadline, and the budget soon keeps camera and ultrasonic measurements from the tracker.
    let (inputs, ultrasonic) = inputs("sensor_degradation");
    let (reference, in_time) = run(&inputs, &ultrasonic, RetrodictionConfig::default());
    let slow_step_ns = 10_000_000;
    let late = every_fourth_late(&inputs);
    let (slow, overloaded) = run_with_clock_step(
        &inputs,
        &ultrasonic,
        RetrodictionConfig::default(),
        slow_step_ns,
    );
    let (_, overloaded_late) = run_with_clock_step(
        &late,
        &ultrasonic,
        RetrodictionConfig::default(),
        slow_step_ns,
    );
    // And a late reading of the stuck sensor twice, the second copy 300 ms after its stamp,
    // when its cycle has run (degraded): it must not count.
    let stuck_sensor = ultrasonic
        .iter()
        .position(|name| name == "rear_center_left")
        .unwrap() as u8;
    let late_stuck: Vec<usize> = late
        .iter()
        .enumerate()
        .filter(|(_, (arrival_ns, input))| {
            matches!(input, Input::Ultrasonic(u) if u.sensor == stuck_sensor)
                && arrival_ns - input.stamp_ns() > 100_000_000
        })
        .map(|(i, _)| i)
        .collect();
    let mut twice = late.clone();
    let again = &late[late_stuck[late_stuck.len() / 2]].1;
    let again_ns = again.stamp_ns() + 300_000_000;
    let at = twice.partition_point(|(arrival_ns, _)| *arrival_ns <= again_ns);
    twice.insert(at, (again_ns, again.clone()));
    let (_, overloaded_twice) = run_with_clock_step(
        &twice,
        &ultrasonic,
        RetrodictionConfig::default(),
        slow_step_ns,
    );
    let minimal = slow
        .iter()
        .filter(|(_, c)| c.timing.degrade == Degrade::Minimal)
        .count();
    assert!(minimal > slow.len() / 2, "{minimal} of {}", slow.len());
    // Late ones too, for cycles that ran degraded (the tracker does not take them).
    let degraded_late: u64 = overloaded_late
        .skipped
        .iter()
        .filter(|((_, reason), _)| *reason == "late_for_a_degraded_cycle")
        .map(|(_, n)| n)
        .sum();
    assert!(degraded_late > 100, "{:?}", overloaded_late.skipped);

    // The monitor counts what it counts in time, and finds the four faults, the stuck
    // ultrasonic sensor with the same evidence.
    for pipeline in [&overloaded, &overloaded_late] {
        assert_eq!(stats_but_latency(pipeline), stats_but_latency(&in_time));
    }
    let end_ns = reference.last().unwrap().1.stamp_ns;
    let stuck = |p: &Pipeline| {
        p.health()
            .clone()
            .findings(end_ns)
            .into_iter()
            .find(|f| f.component == "ultrasonic/rear_center_left")
            .map(|f| f.evidence)
    };
    assert!(stuck(&in_time).is_some());
    assert_eq!(stuck(&overloaded), stuck(&in_time));
    assert_eq!(stuck(&overloaded_late), stuck(&in_time));
    assert_eq!(stuck(&overloaded_twice), stuck(&in_time));
    assert_eq!(
        overloaded_twice
            .skipped
            .get(&(SensorId::Ultrasonic(stuck_sensor), "duplicate")),
        Some(&1)
    );
    let kinds = |cycles: &[(i64, CycleOutput)]| -> Vec<(String, &'static str)> {
        cycles
            .last()
            .unwrap()
            .1
            .findings
            .iter()
            .map(|f| (f.component.clone(), f.kind.as_str()))
            .collect()
    };
    assert_eq!(kinds(&slow), kinds(&reference));
}

#[test]
fn a_drive_without_radar_camera_or_ultrasonic_cycles_as_each_sweep_arrives() {
    // Only the LiDAR, the IMU and the wheels, as in a bag of a car with no radar, camera or
    // parking sensors: the pipeline still expects the radar and the camera, but after half a
    // second without them it no longer waits for them (the synchroniser's `absent_after_ns`),
    // so each cycle runs when its sweep arrives instead of 60 ms (the timeout) later.
    let (all, _) = inputs("highway_cut_in");
    let some: Vec<(i64, Input)> = all
        .into_iter()
        .filter(|(_, i)| matches!(i, Input::Lidar(_) | Input::Imu(_) | Input::Wheel(_)))
        .collect();
    let sweep_arrival: BTreeMap<i64, i64> = some
        .iter()
        .filter(|(_, i)| matches!(i, Input::Lidar(_)))
        .map(|(a, i)| (i.stamp_ns(), *a))
        .collect();
    let (cycles, pipeline) = run(&some, &[], RetrodictionConfig::default());
    assert!(cycles.len() > 190, "{} cycles", cycles.len());
    let first_ns = *sweep_arrival.values().next().unwrap();
    let waits_ms: Vec<f64> = cycles
        .iter()
        .filter(|(emitted_ns, _)| *emitted_ns > first_ns + 600_000_000)
        .map(|(emitted_ns, c)| (emitted_ns - sweep_arrival[&c.stamp_ns]) as f64 * 1e-6)
        .collect();
    assert!(waits_ms.len() > 180, "{}", waits_ms.len());
    assert!(
        waits_ms.iter().all(|w| *w == 0.0),
        "waits after 0.6 s: {waits_ms:?}"
    );
    // Every cycle says which sensors it went without: late while they were waited for (the
    // first half second), absent after.
    let (radar, camera) = (SensorId::RadarFront, SensorId::CameraFront);
    for (emitted_ns, c) in &cycles {
        let missed = [c.late.clone(), c.absent.clone()].concat();
        assert_eq!(missed, vec![radar, camera], "{}", c.stamp_ns);
        if *emitted_ns > first_ns + 600_000_000 {
            assert!(c.late.is_empty(), "{}: {:?}", c.stamp_ns, c.late);
        }
    }
    assert!(cycles.iter().any(|(_, c)| !c.tracks.is_empty()));
    assert!(pipeline.tracker().is_some());

    // The system declared without them (`sensors:=[lidar, imu, wheel]` on the fusion node,
    // `replay --fast` on a bag without their topics): no cycle waits or lists them, the
    // tracks are the same, and their measurements, if any come, are refused and counted.
    let mut config = PipelineConfig::default();
    for sensor in [radar, camera, SensorId::Ultrasonic(5)] {
        config.remove_sensor(sensor).unwrap();
    }
    for sensor in [SensorId::Lidar, SensorId::Imu, SensorId::Wheel] {
        assert!(config.clone().remove_sensor(sensor).is_err());
    }
    // Whatever is set after: a rate for the radar, and (in `run_config`) the drive's
    // ultrasonic sensors by name.
    config.set_nominal_rate_hz(radar, 20.0).unwrap();
    let (all, ultrasonic) = inputs("highway_cut_in");
    assert!(!ultrasonic.is_empty());
    let (without, pipeline) = run_config(&all, &ultrasonic, config, 1_000_000);
    assert_eq!(without.len(), cycles.len());
    for ((emitted_ns, c), (_, expected)) in without.iter().zip(&cycles) {
        assert_eq!(emitted_ns, &sweep_arrival[&c.stamp_ns]);
        assert!(c.late.is_empty() && c.absent.is_empty(), "{}", c.stamp_ns);
        assert_eq!(
            (c.stamp_ns, &c.tracks, &c.ego),
            (expected.stamp_ns, &expected.tracks, &expected.ego)
        );
    }
    // Per kind of sensor: (its messages, those refused as not of this system).
    let mut refused: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let kind = |s: SensorId| match s {
        SensorId::Ultrasonic(_) => "ultrasonic",
        SensorId::RadarFront => "radar",
        SensorId::CameraFront => "camera",
        _ => "other",
    };
    for (_, i) in &all {
        refused.entry(kind(i.sensor())).or_default().0 += 1;
    }
    for ((s, reason), n) in &pipeline.skipped {
        if *reason == "not a sensor of this system" {
            refused.entry(kind(*s)).or_default().1 += n;
        }
    }
    assert_eq!(refused.remove("other").map(|r| r.1), Some(0));
    assert_eq!(refused.len(), 3);
    for (messages, counted) in refused.values() {
        assert!(*messages > 100 && counted == messages, "{refused:?}");
    }
    let seen: Vec<SensorId> = pipeline
        .health()
        .sensor_stats()
        .iter()
        .map(|s| s.sensor)
        .collect();
    assert_eq!(seen, vec![SensorId::Lidar, SensorId::Imu, SensorId::Wheel]);

    // Ultrasonic sensors the configuration does not name (here the rear six) are not sensors
    // of this system either: refused and counted, not in the health monitor.
    let (_, named_front) = run_config(&all, &ultrasonic[..6], PipelineConfig::default(), 1_000_000);
    let refused: u64 = named_front
        .skipped
        .iter()
        .filter(|((s, r), _)| {
            matches!(s, SensorId::Ultrasonic(i) if *i >= 6) && *r == "not a sensor of this system"
        })
        .map(|(_, n)| *n)
        .sum();
    let rear = all
        .iter()
        .filter(|(_, i)| matches!(i, Input::Ultrasonic(u) if u.sensor >= 6))
        .count() as u64;
    assert!(rear > 100 && refused == rear, "{refused} of {rear}");
    assert!(named_front
        .health()
        .sensor_stats()
        .iter()
        .all(|s| !matches!(s.sensor, SensorId::Ultrasonic(i) if i >= 6)));
}

#[test]
fn a_radar_slower_than_the_contract_is_judged_against_its_configured_rate() {
    // The drive's radar with every third scan gone: 13.3 Hz, as some automotive radars run,
    // against the contract's 20 Hz.
    let (all, ultrasonic) = inputs("highway_cut_in");
    let mut nth = 0usize;
    let slow: Vec<(i64, Input)> = all
        .into_iter()
        .filter(|(_, i)| {
            if !matches!(i, Input::Radar(_)) {
                return true;
            }
            nth += 1;
            !nth.is_multiple_of(3)
        })
        .collect();
    let rate_findings = |config: PipelineConfig| {
        let (cycles, pipeline) = run_config(&slow, &ultrasonic, config, 1_000_000);
        let radar = pipeline
            .health()
            .sensor_stats()
            .into_iter()
            .find(|s| s.sensor == SensorId::RadarFront)
            .unwrap();
        let findings: Vec<(String, &'static str)> = cycles
            .last()
            .unwrap()
            .1
            .findings
            .iter()
            .map(|f| (f.component.clone(), f.kind.as_str()))
            .collect();
        (radar, findings)
    };
    // Against the contract's rate: a rate drop on a healthy radar.
    let (radar, findings) = rate_findings(PipelineConfig::default());
    assert!((radar.rate_hz - 40.0 / 3.0).abs() < 0.2, "{radar:?}");
    assert_eq!(radar.nominal_rate_hz, 20.0);
    assert!(
        findings.contains(&("radar_front".to_string(), "rate_drop")),
        "{findings:?}"
    );
    // Its own rate configured (the fusion node's `radar_rate_hz`, `replay --sensor-rate
    // radar=13.33`): nothing.
    let mut config = PipelineConfig::default();
    config
        .set_nominal_rate_hz(SensorId::RadarFront, 40.0 / 3.0)
        .unwrap();
    let (radar, findings) = rate_findings(config);
    // Exactly the rate set (not the one of the rounded period).
    assert_eq!(radar.nominal_rate_hz, 40.0 / 3.0, "{radar:?}");
    assert!(findings.is_empty(), "{findings:?}");
    let mut config = PipelineConfig::default();
    let e = config
        .set_nominal_rate_hz(SensorId::CameraFront, 0.0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("CameraFront") && e.contains("0 Hz"), "{e}");
}

#[test]
fn without_a_radar_the_camera_carries_the_cycles_while_the_lidar_is_silent() {
    // A system without a radar: when the LiDAR falls silent (here from 5 s to 6.5 s into the
    // highway drive), the camera's frames trigger the cycles, each listing the LiDAR as absent.
    let (all, ultrasonic) = inputs("highway_cut_in");
    let t0 = all
        .iter()
        .find(|(_, i)| matches!(i, Input::Lidar(_)))
        .map(|(_, i)| i.stamp_ns())
        .unwrap();
    let gap = t0 + 5_000_000_000..t0 + 6_500_000_000;
    let silent: Vec<(i64, Input)> = all
        .iter()
        .filter(|(_, i)| !(matches!(i, Input::Lidar(_)) && gap.contains(&i.stamp_ns())))
        .cloned()
        .collect();
    let mut config = PipelineConfig::default();
    config.remove_sensor(SensorId::RadarFront).unwrap();
    let (cycles, _) = run_config(&silent, &ultrasonic, config.clone(), 1_000_000);
    let in_gap: Vec<&CycleOutput> = cycles
        .iter()
        .map(|(_, c)| c)
        .filter(|c| gap.contains(&c.stamp_ns))
        .collect();
    // 30 Hz frames once the LiDAR has been silent for 0.3 s: 1.1 s of them (1.2 less the
    // 0.1 s between the last sweep and the gap).
    assert!(in_gap.len() >= 30, "{} cycles in the gap", in_gap.len());
    for c in &in_gap {
        assert_eq!((&c.late, &c.absent), (&vec![], &vec![SensorId::Lidar]));
        assert!(!c.tracks.is_empty(), "{}", c.stamp_ns);
    }
    // The LiDAR's first sweep back (stamped at the gap's end) takes the cycles back; until it
    // arrives, frames stamped after it still trigger some.
    let back_ns = gap.end + 100_000_000;
    let after: Vec<(i64, Vec<SensorId>, Vec<SensorId>)> = cycles
        .iter()
        .filter(|(_, c)| c.stamp_ns >= back_ns && (!c.absent.is_empty() || !c.late.is_empty()))
        .map(|(_, c)| (c.stamp_ns - gap.end, c.late.clone(), c.absent.clone()))
        .collect();
    assert!(after.is_empty(), "{after:?}");
    // Overloaded (10 ms per stage on the budget's clock), the budget keeps the camera from the
    // tracker, the frames that trigger the cycles too: the tracks are those of the same drive
    // with every frame of the gap empty.
    let blank: Vec<(i64, Input)> = silent
        .iter()
        .map(|(a, i)| match i {
            Input::Camera(f) if gap.contains(&f.stamp_ns) => {
                let mut f = f.clone();
                f.detections.clear();
                (*a, Input::Camera(f))
            }
            other => (*a, other.clone()),
        })
        .collect();
    let (busy, busy_pipeline) = run_config(&silent, &ultrasonic, config.clone(), 10_000_000);
    let (busy_blank, blank_pipeline) = run_config(&blank, &ultrasonic, config, 10_000_000);
    let busy_gap: Vec<&CycleOutput> = busy
        .iter()
        .map(|(_, c)| c)
        .filter(|c| gap.contains(&c.stamp_ns))
        .collect();
    assert!(busy_gap.len() >= 30);
    assert!(busy_gap.iter().all(|c| !c.timing.degrade.camera_enabled()));
    assert_eq!(busy.len(), busy_blank.len());
    for ((_, a), (_, b)) in busy.iter().zip(&busy_blank) {
        assert_eq!((a.stamp_ns, &a.tracks), (b.stamp_ns, &b.tracks));
    }
    // Every track, tentative ones too, and the tracker's counters (associations, gating).
    let (a, b) = (
        busy_pipeline.tracker().unwrap(),
        blank_pipeline.tracker().unwrap(),
    );
    assert_eq!(a.counters(), b.counters());
    assert_eq!(a.all_tracks(), b.all_tracks());
}
