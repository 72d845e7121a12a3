//! How the full fusion cycle scales, printed as JSON (run: `cargo bench -p edgefuse-fusion
//! --bench scaling`): cycle time against LiDAR points (10k to 1M, 50 tracks) and against
//! tracks (10 to 500, 120k points), on one core, with every other sensor at its nominal rate
//! (the world of `common/drive.rs`, as in the `cycle` bench).
//!
//! Per case: `WARM_UP` LiDAR periods so that the tracks are confirmed, then `periods` timed
//! ones: 200 up to 120k points and 50 objects, so that the p99 is the second slowest period,
//! not the slowest (fewer for the largest cases, to keep the whole run near a minute).
//! `period_*` is the wall time of everything the pipeline does in one LiDAR period (every push
//! and poll, one cycle); `cycle_*` is the cycle's own time from `CycleOutput.timing`
//! (monotonic clock).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{json, Value};

#[path = "common/drive.rs"]
mod drive;

use drive::{quantile, Drive};

const WARM_UP: usize = 15;

fn case(points: usize, objects: usize, periods: usize) -> Value {
    let start = Instant::now();
    let mut drive = Drive::new(points, objects, 3);
    let setup = drive.warm_up(WARM_UP).expect("no cycle in the warm-up");
    let mut walls = Vec::new();
    let mut totals = Vec::new();
    let mut stages: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut tracks = Vec::new();
    for _ in 0..periods {
        let window = drive.prepare();
        let run = drive.run(window);
        walls.push(run.wall.as_secs_f64() * 1e3);
        for c in &run.cycles {
            totals.push(c.timing.total_ns as f64 * 1e-6);
            tracks.push(c.tracks.len());
            for (s, ns) in &c.timing.stage_ns {
                stages
                    .entry(s.as_str())
                    .or_default()
                    .push(*ns as f64 * 1e-6);
            }
        }
    }
    let v = json!({
        "points": points,
        "objects": objects,
        "confirmed_tracks_at_setup": setup.tracks.len(),
        "confirmed_tracks_min_max": [tracks.iter().min(), tracks.iter().max()],
        "periods": walls.len(),
        "period_p50_ms": quantile(&mut walls, 0.5),
        "period_p99_ms": quantile(&mut walls, 0.99),
        "cycle_p50_ms": quantile(&mut totals, 0.5),
        "cycle_p99_ms": quantile(&mut totals, 0.99),
        "stage_p50_ms": stages
            .iter_mut()
            .map(|(k, v)| (*k, quantile(v, 0.5)))
            .collect::<BTreeMap<_, _>>(),
        "case_wall_s": start.elapsed().as_secs_f64(),
    });
    eprintln!("{v}");
    v
}

fn main() {
    // `cargo bench` passes `--bench`; no other arguments are used.
    drive::rerun_with_process_allocator_settings();
    let start = Instant::now();
    let mut by_points = Vec::new();
    for (points, periods) in [
        (10_000, 200),
        (30_000, 200),
        (120_000, 200),
        (300_000, 100),
        (1_000_000, 30),
    ] {
        by_points.push(case(points, 50, periods));
    }
    let mut by_tracks = Vec::new();
    for (objects, periods) in [(10, 200), (50, 200), (200, 100), (500, 50)] {
        by_tracks.push(case(120_000, objects, periods));
    }
    let out = json!({
        "bench": "fusion_scaling",
        "warm_up_periods": WARM_UP,
        "by_points_50_objects": by_points,
        "by_objects_120k_points": by_tracks,
        "total_wall_s": start.elapsed().as_secs_f64(),
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
