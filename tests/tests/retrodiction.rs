//! Out-of-sequence measurements on a recorded drive: a radar scan that arrives after its cycle
//! has run is retrodicted (the tracker runs again from that cycle with the scan where it
//! belongs), so the tracks from then on are exactly those of the run where it came in time;
//! with retrodiction off it is rejected and counted, and the tracks differ; beyond the
//! retrodiction window it is rejected and counted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use edgefuse_bag::BagReader;
use edgefuse_fusion::budget::SteppingClock;
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
    let config = PipelineConfig {
        ultrasonic_names: ultrasonic
            .iter()
            .enumerate()
            .map(|(i, p)| (i as u8, p.clone()))
            .collect(),
        retrodiction,
        ..PipelineConfig::default()
    };
    let mut pipeline = Pipeline::new(config).unwrap();
    let mut clock = SteppingClock {
        now_ns: 0,
        step_ns: 1_000_000,
    };
    let mut cycles = Vec::new();
    for (arrival_ns, input) in inputs {
        pipeline.push(*arrival_ns, input.clone());
        for c in pipeline.poll(*arrival_ns, &mut clock) {
            cycles.push((*arrival_ns, c));
        }
    }
    (cycles, pipeline)
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
    let mut late = in_time.clone();
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
    let but_latency = |p: &Pipeline| -> Vec<SensorStats> {
        p.health()
            .sensor_stats()
            .into_iter()
            .map(|mut s| {
                s.mean_latency_s = 0.0;
                s
            })
            .collect()
    };
    assert_eq!(but_latency(&pipeline), but_latency(&in_time_pipeline));

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
