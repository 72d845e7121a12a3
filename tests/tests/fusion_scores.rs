//! The fusion pipeline on the simulated sample drives, scored by an independent tool:
//! py-motmetrics for tracking, the simulator's `/ground_truth/ego` for ego motion.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use edgefuse_fusion::pipeline::PipelineConfig;
use edgefuse_fusion_node::runner::{run_bag, Timing};
use serde_json::Value;

fn score(scenario: &str) -> Value {
    let bag = edgefuse_system_tests::sample_bag(scenario).unwrap();
    let report = run_bag(&bag, PipelineConfig::default(), Timing::Deterministic).unwrap();
    assert!(report.frames.len() >= 190, "{scenario}: {} cycles", report.frames.len());
    assert!(report.storage_errors.is_empty(), "{:?}", report.storage_errors);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frames.jsonl");
    std::fs::write(&path, edgefuse_system_tests::frames_jsonl(&report, 40.0)).unwrap();
    let out = edgefuse_system_tests::run_python("score_tracking.py", &[path.to_str().unwrap()]).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    eprintln!("{scenario}: {v}");
    v
}

#[test]
fn ego_drift_and_heading_on_every_drive() {
    for (name, _) in edgefuse_sim::BUILTIN_SCENARIOS {
        let v = score(name);
        let drift = v["ego_drift_pct"].as_f64().unwrap_or(0.0);
        let dist = v["ego_distance_m"].as_f64().unwrap();
        let heading = v["ego_max_heading_error_deg"].as_f64().unwrap();
        let final_err = v["ego_final_error_m"].as_f64().unwrap();
        // Drift is judged against the distance; below 10 m (parking) the absolute error is.
        if dist > 10.0 {
            assert!(drift <= 1.0, "{name}: ego drift {drift:.2}% of {dist:.0} m");
        } else {
            assert!(final_err <= 0.1, "{name}: final error {final_err:.2} m over {dist:.1} m");
        }
        assert!(heading <= 1.0, "{name}: heading error {heading:.2} deg");
    }
}
