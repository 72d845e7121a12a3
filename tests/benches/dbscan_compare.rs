//! Our clustering side by side with scikit-learn's DBSCAN, printed as JSON (run:
//! `cargo bench -p edgefuse-system-tests --bench dbscan_compare`). The same clouds in one run:
//! the 30k- and 120k-point synthetic scenes of `fusion/benches/cluster.rs` (seed 42) and one
//! real ground-removed sweep of the `urban_intersection` sample drive; the same radius
//! (eps = 0.5 m) and minimum neighbourhood (`min_samples` 5, and 1 = Euclidean clustering).
//!
//! Ours: `edgefuse_fusion::lidar::cluster` with `ClusterMode::Dbscan { min_samples }` (and for
//! `min_samples = 1` also `ClusterMode::Euclidean`, the grid the pipeline uses), nothing dropped
//! (`min_points = 1`), median of `OURS_REPEATS` runs. Theirs:
//! `sklearn.cluster.DBSCAN(eps, min_samples, algorithm="kd_tree").fit`, one thread, median of
//! `SKLEARN_REPEATS` fits in `tests/python/dbscan_oracle.py`. Both on one core. Each row says
//! whether the partitions agree exactly (the same points in each cluster, the same noise).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Instant;

use edgefuse_fusion::lidar::{cluster, ClusterConfig, ClusterMode};
use edgefuse_system_tests::dbscan::{
    compare_partitions, real_scan_without_ground, sklearn_dbscan, synthetic_scene,
};
use serde_json::json;

const EPS_M: f32 = 0.5;
const OURS_REPEATS: usize = 5;
const SKLEARN_REPEATS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut clouds = vec![
        ("synthetic_30k".to_string(), synthetic_scene(30_000, 42)),
        ("synthetic_120k".to_string(), synthetic_scene(120_000, 42)),
    ];
    match real_scan_without_ground("urban_intersection", 50) {
        Ok(pts) => clouds.push(("urban_intersection_sweep50_ground_removed".to_string(), pts)),
        Err(e) => eprintln!("no real sweep: {e:#}"),
    }
    let mut rows = Vec::new();
    for (name, pts) in &clouds {
        for min_samples in [5usize, 1] {
            let theirs = sklearn_dbscan(pts, EPS_M, min_samples, SKLEARN_REPEATS).unwrap();
            let mut modes = vec![("dbscan", ClusterMode::Dbscan { min_samples })];
            if min_samples == 1 {
                modes.push(("euclidean_grid", ClusterMode::Euclidean));
            }
            for (mode_name, mode) in modes {
                let cfg = ClusterConfig {
                    cluster_tolerance_m: EPS_M,
                    min_points: 1,
                    max_points: usize::MAX,
                    mode,
                };
                let mut times = Vec::new();
                let mut result = None;
                for _ in 0..OURS_REPEATS {
                    let start = Instant::now();
                    let c = cluster(std::hint::black_box(pts), &cfg).unwrap();
                    times.push(start.elapsed().as_secs_f64());
                    result = Some(c);
                }
                let ours = result.unwrap();
                let diff = compare_partitions(&ours.labels, &theirs.labels);
                let ours_s = median(times);
                let row = json!({
                    "cloud": name,
                    "points": pts.len(),
                    "eps_m": EPS_M,
                    "min_samples": min_samples,
                    "ours_mode": mode_name,
                    "ours_median_ms": ours_s * 1e3,
                    "sklearn_median_ms": theirs.median_s * 1e3,
                    "speedup": theirs.median_s / ours_s,
                    "partitions_agree": diff.agree(),
                    "points_in_disagreement": diff.points,
                    "clusters_ours_sklearn": [diff.ours_clusters, diff.theirs_clusters],
                    "noise_ours_sklearn": [diff.ours_noise, diff.theirs_noise],
                });
                eprintln!("{row}");
                rows.push(row);
            }
            if rows.len() == 1 {
                eprintln!("sklearn: {}", theirs.report);
            }
        }
    }
    let versions = sklearn_dbscan(&clouds[0].1[..100], EPS_M, 5, 1)
        .map(|r| r.report)
        .unwrap_or_default();
    let out = json!({
        "bench": "dbscan_compare",
        "ours_repeats": OURS_REPEATS,
        "sklearn_repeats": SKLEARN_REPEATS,
        "sklearn": versions["sklearn"],
        "numpy": versions["numpy"],
        "rows": rows,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
