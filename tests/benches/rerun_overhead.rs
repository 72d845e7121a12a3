//! What drawing costs: each sample drive replayed in-process as fast as it goes (the
//! `edgefuse replay --fast` path), alternately without rerun and with `--rerun-save` to an
//! `.rrd` file (the labelled cloud kept, every entity logged, the file flushed), side by side
//! in one run. Prints one JSON object per drive with the median wall times and their ratio.
//!
//!     cargo bench -p edgefuse-system-tests --bench rerun_overhead [-- REPS]

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Instant;

use edgefuse_cli::viz_cmd::{VizObserver, DEADLINE_MS};
use edgefuse_fusion::pipeline::PipelineConfig;
use edgefuse_fusion_node::runner::{run_bag, run_bag_observed, Timing};
use edgefuse_system_tests::sample_bag;
use edgefuse_viz::Target;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let reps: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    for drive in [
        "highway_cut_in",
        "urban_intersection",
        "parking",
        "sensor_degradation",
    ] {
        let bag = sample_bag(drive).unwrap();
        let (mut plain, mut saved) = (Vec::new(), Vec::new());
        let mut rrd_bytes = 0;
        // Warm the page cache once.
        run_bag(&bag, PipelineConfig::default(), Timing::Wall).unwrap();
        for i in 0..reps {
            let t = Instant::now();
            run_bag(&bag, PipelineConfig::default(), Timing::Wall).unwrap();
            plain.push(t.elapsed().as_secs_f64());

            let rrd = dir.path().join(format!("{drive}-{i}.rrd"));
            let t = Instant::now();
            let target = Target {
                save: Some(rrd.clone()),
                ..Target::default()
            };
            let mut observer = VizObserver::open("edgefuse_bench", target, DEADLINE_MS).unwrap();
            let mut config = PipelineConfig::default();
            config.lidar.keep_cloud = true;
            run_bag_observed(&bag, config, Timing::Wall, &mut observer).unwrap();
            observer.finish().unwrap();
            saved.push(t.elapsed().as_secs_f64());
            rrd_bytes = std::fs::metadata(&rrd).unwrap().len();
            std::fs::remove_file(&rrd).unwrap();
        }
        let (p, s) = (median(&mut plain), median(&mut saved));
        println!(
            "{}",
            serde_json::json!({
                "drive": drive,
                "reps": reps,
                "replay_fast_median_s": p,
                "replay_fast_rerun_save_median_s": s,
                "ratio": s / p,
                "overhead_pct": 100.0 * (s / p - 1.0),
                "rrd_mb": rrd_bytes as f64 / 1e6,
            })
        );
    }
}
