//! Fusion cycle time on the sample drives with the wall clock, printed as JSON (run:
//! `cargo bench -p edgefuse-system-tests --bench fusion_cycle`): per scenario the p50, p99 and
//! maximum of the whole cycle and of each stage, and the deadline misses, in one process on
//! one core (the pipeline is single-threaded).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;

use edgefuse_fusion::pipeline::PipelineConfig;
use edgefuse_fusion_node::runner::{run_bag, Timing};
use serde_json::json;

fn pct(v: &mut [i64], p: f64) -> f64 {
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i] as f64 / 1e6
}

fn main() {
    // The allocator as the fusion processes set it.
    edgefuse_ros::rt::keep_heap_memory();
    let mut out = Vec::new();
    for (name, _) in edgefuse_sim::BUILTIN_SCENARIOS {
        let bag = edgefuse_system_tests::sample_bag(name).unwrap();
        let report = run_bag(&bag, PipelineConfig::default(), Timing::Wall).unwrap();
        let mut totals: Vec<i64> = report
            .frames
            .iter()
            .map(|f| f.cycle.timing.total_ns)
            .collect();
        let mut stages: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for f in &report.frames {
            for (s, ns) in &f.cycle.timing.stage_ns {
                stages.entry(s.as_str()).or_default().push(*ns);
            }
        }
        let stage_json: BTreeMap<&str, serde_json::Value> = stages
            .iter_mut()
            .map(|(k, v)| (*k, json!({"p50_ms": pct(v, 0.5), "p99_ms": pct(v, 0.99)})))
            .collect();
        out.push(json!({
            "scenario": name,
            "cycles": totals.len(),
            "cycle_p50_ms": pct(&mut totals, 0.5),
            "cycle_p99_ms": pct(&mut totals, 0.99),
            "cycle_max_ms": pct(&mut totals, 1.0),
            "deadline_misses": report.deadline_misses,
            "stages": stage_json,
        }));
    }
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
