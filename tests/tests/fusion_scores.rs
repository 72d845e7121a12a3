//! The fusion pipeline on the simulated sample drives, scored by an independent tool:
//! py-motmetrics for tracking, the simulator's `/ground_truth/ego` for ego motion, the
//! simulator's `faults.json` for the health monitor.
//!
//! The targets (MOTA >= 0.85, heading error <= 1 deg, ...) are reached on every drive;
//! the assertions below hold the levels reached (per drive for tracking, most of them above
//! the targets), so that a regression fails, and the README lists every figure beside its
//! target.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use edgefuse_fusion::pipeline::PipelineConfig;
use edgefuse_fusion_node::runner::{run_bag, RunReport, Timing};
use edgefuse_fusion_node::score::{frames, frames_visible, ScoredFrame, Visibility};
use serde_json::Value;

/// Scores `frames` with py-motmetrics and checks that the demo's own scorer agrees.
fn score_frames(scenario: &str, label: &str, frames: &[ScoredFrame]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frames.jsonl");
    std::fs::write(&path, edgefuse_system_tests::scored_frames_jsonl(frames)).unwrap();
    let out =
        edgefuse_system_tests::run_python("score_tracking.py", &[path.to_str().unwrap()]).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    eprintln!("SCORE {scenario}{label}: {v}");
    // The demo's own scorer agrees with py-motmetrics.
    let ours = edgefuse_fusion_node::score::score(frames, 2.0);
    let count = |k: &str| v[k].as_u64().unwrap();
    assert_eq!(ours.switches, count("id_switches"), "{scenario}: switches");
    assert_eq!(
        ours.false_positives,
        count("false_positives"),
        "{scenario}: FP"
    );
    assert_eq!(ours.misses, count("misses"), "{scenario}: misses");
    assert_eq!(ours.matches, count("matched_pairs"), "{scenario}: matches");
    let close = |a: f64, k: &str| {
        let b = v[k].as_f64().unwrap();
        assert!(
            (a - b).abs() <= 1e-9 * b.abs().max(1.0),
            "{scenario}: {k} {a} vs {b}"
        );
    };
    close(ours.mota, "mota");
    close(ours.pos_rmse_m, "pos_rmse_m");
    close(ours.vel_rmse_mps, "vel_rmse_mps");
    close(ours.ego_final_error_m, "ego_final_error_m");
    close(ours.ego_max_heading_error_deg, "ego_max_heading_error_deg");
    close(ours.ego_distance_m, "ego_distance_m");
    v
}

/// An object matched, then missed for a frame, keeps its old hypothesis when that is back in
/// the gate, even beside a nearer one: no identity switch, as py-motmetrics counts it (the
/// last correspondence of any earlier frame, not only of the previous one).
#[test]
fn a_correspondence_survives_a_missed_frame_as_in_motmetrics() {
    use edgefuse_fusion_node::score::{Obj, Pose};
    let obj = |id: u64, x_m: f64| Obj {
        id,
        x_m,
        y_m: 0.0,
        vx_mps: 0.0,
        vy_mps: 0.0,
    };
    let pose = Pose {
        x_m: 0.0,
        y_m: 0.0,
        yaw_rad: 0.0,
    };
    let frame = |k: i64, tracks: Vec<Obj>| ScoredFrame {
        stamp_ns: k * 100_000_000,
        truth: vec![obj(1, 0.0)],
        tracks,
        ego: pose,
        ego_truth: pose,
    };
    let frames = [
        frame(0, vec![obj(10, 0.5), obj(20, 5.0)]),
        frame(1, vec![obj(10, 3.0)]),
        frame(2, vec![obj(10, 1.5), obj(20, 0.2)]),
    ];
    let v = score_frames("synthetic", " (a missed frame)", &frames);
    assert_eq!(v["id_switches"].as_u64(), Some(0), "{v}");
    assert_eq!(v["misses"].as_u64(), Some(1), "{v}");
    assert_eq!(v["false_positives"].as_u64(), Some(3), "{v}");
}

/// Runs a drive and scores it twice: against every ground-truth object in the ROI, and against
/// the objects the LiDAR returned at least one point from in that sweep (the others, fully
/// occluded or between beams, are "don't care": a track on one is neither a match nor a false
/// positive). The simulator counts the points per object in its own sweeps.
fn run(scenario: &str) -> (RunReport, Value, Value) {
    let bag = edgefuse_system_tests::sample_bag(scenario).unwrap();
    let report = run_bag(&bag, PipelineConfig::default(), Timing::Deterministic).unwrap();
    assert!(
        report.frames.len() >= 190,
        "{scenario}: {} cycles",
        report.frames.len()
    );
    assert!(
        report.storage_errors.is_empty(),
        "{:?}",
        report.storage_errors
    );
    let all = score_frames(scenario, "", &frames(&report, 40.0));
    let points = edgefuse_system_tests::lidar_points(scenario).unwrap();
    // Every scored cycle is a sweep the simulator counted.
    for f in frames(&report, 40.0) {
        assert!(
            points.contains_key(&f.stamp_ns),
            "{scenario}: {}",
            f.stamp_ns
        );
    }
    let seen = |stamp: i64, id: u64| {
        points
            .get(&stamp)
            .and_then(|m| m.get(&id))
            .is_some_and(|n| *n > 0)
    };
    let visibility = Visibility {
        seen: &seen,
        gate_m: 2.0,
    };
    let visible = score_frames(
        scenario,
        " (objects the LiDAR saw)",
        &frames_visible(&report, 40.0, Some(&visibility)),
    );
    (report, all, visible)
}

/// (component, kind) of the findings of the last cycle.
fn findings(report: &RunReport) -> BTreeSet<(String, String)> {
    report
        .frames
        .last()
        .map(|f| {
            f.cycle
                .findings
                .iter()
                .map(|x| (x.component.clone(), x.kind.as_str().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_same_bag_gives_identical_output_twice() {
    let bag = edgefuse_system_tests::sample_bag("urban_intersection").unwrap();
    let a = run_bag(&bag, PipelineConfig::default(), Timing::Deterministic).unwrap();
    let b = run_bag(&bag, PipelineConfig::default(), Timing::Deterministic).unwrap();
    let text = |r: &RunReport| {
        format!(
            "{:?}",
            r.frames.iter().map(|f| &f.cycle).collect::<Vec<_>>()
        )
    };
    let (ta, tb) = (text(&a), text(&b));
    assert!(ta.len() > 10_000);
    assert!(ta == tb, "two runs differ");
}

/// Per drive: minimum MOTA, maximum position RMSE (m), velocity RMSE (m/s) and ID switches per
/// 100 truth-track frames, just past the levels reached.
const TRACKING_FLOORS: [(&str, f64, f64, f64, f64); 4] = [
    // 0.956 -> 0.944, velocity 0.45 -> 0.48 m/s and switches 0 -> 0.40 when moving tracks began
    // to take boxes whose heading is an outlier for their position: the cut-in car's track,
    // its state slightly changed, is dropped by ultrasonic misses as it passes, and re-born.
    // Back to 0.960 with 0 switches (position RMSE 0.48 -> 0.496 m) when an ultrasonic echo that
    // does not fit the nearest track began to count less against it than silence.
    // Then 0.960 -> 0.944 (4 more false positives), 0.496 -> 0.459 m and 0.478 -> 0.438 m/s
    // when boxes began to lie along an L of points rather than its hypotenuse.
    ("highway_cut_in", 0.94, 0.47, 0.45, 0.5),
    // Velocity RMSE traded from 0.83 to 1.00 m/s for MOTA 0.46 -> 0.54 and position RMSE
    // 0.40 -> 0.34 m when radar returns became near-surface measurements (both above target).
    // Position RMSE 0.34 -> 0.47 m, velocity 1.00 -> 1.05 m/s and switches 1.64 -> 1.89 for
    // MOTA 0.53 -> 0.61 when the van behind the ego became a vehicle: its 40 newly matched
    // frames have ~1.3 m error (the truck length prior, 10 m, places its centre too far back).
    // Then 0.47 -> 0.55 m, 1.05 -> 1.11 m/s and 1.89 -> 2.02 for MOTA 0.61 -> 0.72 when its
    // track turned to head along its motion (44 more of its frames matched, same error).
    // Occlusion-aware coasting brought them back to 0.53 m, 1.00 m/s and 1.64.
    // MOTA 0.73 -> 0.82, position RMSE 0.53 -> 0.41 m and velocity 1.00 -> 0.92 m/s, switches
    // 1.64 -> 1.76, when thin clusters reaching above 2.2 m became poles (a pole cut by the
    // field of view had been a pedestrian) and a truck under 3 m tall got a van's length.
    // Then 0.817 -> 0.810, 0.92 -> 0.94 m/s and 1.76 -> 1.89 when far clusters began to link
    // across beams (objects beyond 35 m are whole, tracked from further away: the HMI's
    // answers about cars 53-55 m behind became true).
    // Then 0.810 -> 0.826, 0.41 -> 0.37 m, 0.94 -> 0.87 m/s and 1.89 -> 1.64 when trucks took
    // 2 m/s^2 of process noise and a moving track turned to head along its motion once its
    // direction was known to 0.1 rad (the van behind the ego, braking, kept its tracks).
    // Then 0.826 -> 0.854, 1.64 -> 1.26 switches and 0.87 -> 0.76 m/s (position 0.37 -> 0.41
    // m) with that change: the van behind the ego, its L-shape fitted 30 degrees off as the
    // ego turns, keeps its track.
    // Then 0.854 -> 0.866, switches 1.26 -> 1.13 and 0.76 -> 0.74 m/s with the ultrasonic change.
    // Then 0.866 -> 0.872, switches 1.13 -> 1.01, 0.74 -> 0.71 m/s when a flat box under 1 m
    // long stopped being a pole however tall (half the van's face, cut at the sweep's seam).
    // Then 0.872 -> 0.877 and switches 1.01 -> 0.50 (the target) with re-identification: a
    // track confirmed where a confirmed track lost a moment before would be continues its id.
    // Then 0.877 -> 0.875, 0.41 -> 0.37 m and 0.71 -> 0.60 m/s when a moving vehicle's side
    // first read as an end turned the track once it grew wider than a vehicle, and the parts
    // of the van's side cut apart by a pole's shadow became one box.
    // Then 0.875 -> 0.879, 0.60 -> 0.56 m/s and switches 0.50 -> 0.38 when a fragment of a
    // moving object (a cyclist half hidden) stopped turning its track.
    // Then 0.879 -> 0.883 with radar-and-camera confirmation only where the LiDAR is blind.
    // Then 0.883 -> 0.889, 0.363 -> 0.285 m but velocity 0.551 -> 0.746 m/s when boxes began
    // to lie along an L of points rather than its hypotenuse: a car crossing from the right,
    // its track born from radar moving 0.6 rad off, keeps that heading (the LiDAR's now true
    // headings are outliers to it) and gives 233 of the 395 summed squares.
    // Then 0.889 -> 0.906, 0.285 -> 0.265 m, 0.746 -> 0.598 m/s and switches 0.50 -> 0.38 when
    // two whole boxes in a row disagreeing with a young moving track's heading turned it.
    // Then 0.906 -> 0.878, 0.265 -> 0.305 m but velocity 0.598 -> 0.529 m/s when the size
    // evidence became a moving average and cyclists a fifth as likely a priori: the track the
    // van's front face starts when the van is seen in two parts is born slower (its velocity's
    // summed squares 75 -> 20), while the van's first track, gone astray, and two duplicates
    // of the car behind it live longer (18 more false positives).
    // Then 0.878 -> 0.875, 0.305 -> 0.285 m and 0.529 -> 0.489 m/s (the target) when trucks
    // and vans took 3 m/s^2 of acceleration noise (the van's braking) and the first whole box
    // disagreeing with a young moving track's heading turned it (the crossing car).
    ("urban_intersection", 0.87, 0.29, 0.49, 0.45),
    // Position RMSE 0.69 -> 0.73 m and velocity 0.37 -> 0.44 m/s with occlusion-aware
    // coasting: 353 more frames matched, many of them tracks on the visible ends of parked cars.
    // MOTA 0.403 -> 0.469, position RMSE 0.73 -> 0.83 m when the radar cross section of a
    // standing track's returns became class evidence: end faces of parked cars that had been
    // cyclists or pedestrians at the face became cars (213 more matched frames, at 1 to 2 m).
    // Then 0.469 -> 0.488, 0.83 -> 0.80 m, switches 0.66 -> 0.69 with the same change.
    // Then 0.488 -> 0.491, 0.80 -> 0.795 m, 0.42 -> 0.39 m/s with the ultrasonic change.
    // Then 0.491 -> 0.589, 0.795 -> 0.82 m, 0.39 -> 0.41 m/s (195 more matched frames, many
    // at 1 to 2 m) when a standing car's end, read as part of its side, turned the track a
    // quarter, and long walls seen at a slant stopped being trucks.
    // Then 0.589 -> 0.599 (position 0.82 -> 0.820 m) when a car seen over its neighbour (a box
    // floating on the neighbour's shadow line) began to stand on the ground.
    // Then 0.599 -> 0.606, switches 0.69 -> 0.37 with re-identification (18 fewer false
    // positives: a coasting duplicate is deleted when a new track continues it).
    // Then 0.606 -> 0.617, position 0.820 -> 0.805 m, velocity 0.410 -> 0.421 m/s with a 2 m
    // re-identification margin for vehicles (52 fewer false positives).
    // Then 0.617 -> 0.634 when the beam rows of a roof seen over a neighbour became one box,
    // and 0.663 (velocity 0.42 -> 0.38 m/s, switches 0.37 -> 0.34) when one row as long as a
    // car did too: the cars beyond the ego's neighbours, once it is in its bay.
    // Then 0.663 -> 0.694 (136 fewer false positives; switches 0.34 -> 0.41, position 0.81 ->
    // 0.815 m) when a track the LiDAR could see but never did stopped being confirmed by the
    // radar and camera alone (radar echoes behind parked cars with a camera box's bearing).
    // Then 0.694 -> 0.722 (121 fewer misses) when a row seen over a roof seen over a neighbour
    // began to stand on the ground too, and 0.754, position 0.80 -> 0.612 m, velocity 0.37 ->
    // 0.294 m/s, switches 0.43 -> 0.21 when boxes began to lie along an L of points rather
    // than its hypotenuse.
    // Then 0.754 -> 0.785, 0.612 -> 0.511 m, 0.294 -> 0.256 m/s (switches 0.21 -> 0.25) when
    // a car or truck standing for 2 s took a tenth of the acceleration noise (parked).
    // Then 0.785 -> 0.808, 0.511 -> 0.442 m, 0.256 -> 0.248 m/s and switches 0.25 -> 0.16 when
    // the size evidence became a moving average and cyclists a fifth as likely a priori: a
    // parked car's end face, a cyclist side-on by size, had made the car's track a cyclist
    // once the car left the radar's view, its centre 0.9 m behind the face instead of 2.3.
    // Then 0.808 -> 0.839 (193 fewer misses, 56 more false positives), 0.442 -> 0.437 m when
    // a track that had stood for 2 s, hidden behind a nearer one, began to coast 10 s instead
    // of 3: the cars the ego passed stay tracked while the cars between hide them.
    // Then 0.839 -> 0.888 (the target; 157 fewer misses, 57 fewer false positives), 0.437 ->
    // 0.440 m, 0.241 -> 0.232 m/s when fragments of a far car's end under half a metre stopped
    // turning its track (back and forth, into the next bay).
    // 0.232 -> 0.236 m/s with cyclists a third as likely a priori instead of a fifth.
    ("parking", 0.88, 0.45, 0.24, 0.2),
    // 0.888 -> 0.877 and 0.35 -> 0.36 m with far clusters linked across beams (11 more false
    // positives: tracks born beyond 35 m on trees and houses that enter the 40 m ROI).
    // Then 0.877 -> 0.931, 0.89 -> 0.41 m/s (the target) and 0.47 -> 0.16 switches when the
    // radar, found yawed 2.1 deg by the health monitor, was used with its mount corrected.
    // 0.36 -> 0.361 m and 0.41 -> 0.410 m/s with the truck noise and alignment change.
    // 0.931 -> 0.928 with the end-face turn: a roadside track 27 m from any object (a false
    // positive either way) lives two frames longer.
    // Then 0.928 -> 0.930 and switches 0.16 -> 0 with re-identification.
    // Then 0.930 -> 0.936 when parts of one object cut apart by a nearer one became one box,
    // and 0.938 with the fragment rule.
    // Then 0.938 -> 0.955, 0.362 -> 0.309 m, 0.409 -> 0.298 m/s when boxes began to lie along
    // an L of points rather than its hypotenuse.
    // Then 0.955 -> 0.938 (velocity 0.298 -> 0.303 m/s) with the class prior and the size
    // evidence's moving average: two roadside tracks 22 to 27 m from any road user are taken
    // for cars (12 more false positives).
    // 0.309 -> 0.306 m with the trucks' acceleration noise.
    // Then 0.938 -> 0.952 (9 fewer false positives) with cyclists a third as likely a priori
    // instead of a fifth.
    ("sensor_degradation", 0.95, 0.31, 0.30, 0.05),
];

/// The same as [`TRACKING_FLOORS`] against the objects the LiDAR returned points from (the
/// others are "don't care"; see [`run`]).
const VISIBLE_FLOORS: [(&str, f64, f64, f64, f64); 4] = [
    ("highway_cut_in", 0.94, 0.47, 0.45, 0.5),
    ("urban_intersection", 0.90, 0.29, 0.50, 0.45),
    ("parking", 0.88, 0.43, 0.25, 0.2),
    ("sensor_degradation", 0.95, 0.31, 0.30, 0.05),
];

/// Tracking: floors just under the levels reached (targets: MOTA >= 0.85, RMSE <= 0.5 m and
/// 0.5 m/s, <= 1 switch per 100 truth-track frames).
fn check_floors(
    name: &str,
    label: &str,
    v: &Value,
    floors: &[(&str, f64, f64, f64, f64)],
    failures: &mut Vec<String>,
) {
    let floor = floors
        .iter()
        .find(|f| f.0 == name)
        .map_or((0.1, 2.0, 2.0, 2.0), |f| (f.1, f.2, f.3, f.4));
    let mota = v["mota"].as_f64().unwrap();
    let pos = v["pos_rmse_m"].as_f64().unwrap_or(f64::INFINITY);
    let vel = v["vel_rmse_mps"].as_f64().unwrap_or(f64::INFINITY);
    let switches = v["switches_per_100_truth_frames"].as_f64().unwrap();
    if mota < floor.0 {
        failures.push(format!("{name}{label}: MOTA {mota:.3} < {}", floor.0));
    }
    if pos > floor.1 {
        failures.push(format!(
            "{name}{label}: position RMSE {pos:.3} m > {}",
            floor.1
        ));
    }
    if vel > floor.2 {
        failures.push(format!(
            "{name}{label}: velocity RMSE {vel:.3} m/s > {}",
            floor.2
        ));
    }
    if switches > floor.3 {
        failures.push(format!(
            "{name}{label}: {switches:.2} ID switches per 100 truth frames > {}",
            floor.3
        ));
    }
}

#[test]
fn scores_on_every_drive() {
    let mut failures = Vec::new();
    for (name, _) in edgefuse_sim::BUILTIN_SCENARIOS {
        let (report, v, visible) = run(name);
        let drift = v["ego_drift_pct"].as_f64().unwrap_or(0.0);
        let dist = v["ego_distance_m"].as_f64().unwrap();
        let heading = v["ego_max_heading_error_deg"].as_f64().unwrap();
        let final_err = v["ego_final_error_m"].as_f64().unwrap();
        // Ego drift meets the target (<= 1% of the distance; a parking drive under
        // 10 m is judged by its absolute error).
        if dist > 10.0 && drift > 1.0 {
            failures.push(format!("{name}: ego drift {drift:.2}% of {dist:.0} m"));
        }
        if dist <= 10.0 && final_err > 0.1 {
            failures.push(format!("{name}: ego final error {final_err:.2} m"));
        }
        // Heading meets the target (<= 1 deg). MOTA not yet (0.85): regression floor.
        if heading > 1.0 {
            failures.push(format!("{name}: heading error {heading:.2} deg"));
        }
        check_floors(name, "", &v, &TRACKING_FLOORS, &mut failures);
        check_floors(
            name,
            " (objects the LiDAR saw)",
            &visible,
            &VISIBLE_FLOORS,
            &mut failures,
        );
        let f = findings(&report);
        eprintln!("FINDINGS {name}: {f:?}");
        // The health monitor against the simulator's injected faults: all found with the
        // right component on the degraded drive, nothing on the clean ones.
        let bag = edgefuse_system_tests::sample_bag(name).unwrap();
        let injected: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(bag.join("faults.json")).unwrap())
                .unwrap();
        let want: BTreeSet<(String, String)> = injected
            .iter()
            .map(|x| {
                (
                    x["component"].as_str().unwrap().to_string(),
                    x["kind"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        if f != want {
            failures.push(format!("{name}: findings {f:?}, injected {want:?}"));
        }
        eprintln!("DEADLINE {name}: misses {}", report.deadline_misses);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
