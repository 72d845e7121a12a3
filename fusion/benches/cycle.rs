//! The full fusion cycle of issue 3's target: a 120k-point LiDAR sweep with 50 confirmed
//! tracks plus radar, camera, ultrasonic, IMU and wheel inputs at their nominal rates, through
//! [`edgefuse_fusion::pipeline::Pipeline`] on one core (see `common/drive.rs` for the world).
//!
//! One iteration is one LiDAR period: every input that arrives in it is pushed at its arrival
//! time and the pipeline polled after each (as a node does), which runs exactly one cycle; the
//! inputs are generated outside the timed part. Criterion reports the mean and median; the
//! p50/p99 over every timed period (and of the cycle's own `CycleOutput.timing`, stage by
//! stage) are printed as one JSON line starting with `{"bench":"fusion_cycle"`.
//!
//! The bench re-runs itself under the glibc allocator settings of the fusion processes (see
//! `common/drive.rs`). Run: `cargo bench -p edgefuse-fusion --bench cycle`. Target: p99 <= 10
//! ms on one core.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)] // criterion_group! items

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};
use serde_json::json;

#[path = "common/drive.rs"]
mod drive;

use drive::{quantile, Drive};

const POINTS: usize = 120_000;
const OBJECTS: usize = 50;
/// LiDAR periods run before measuring, so that every object has a confirmed track.
const WARM_UP_WINDOWS: usize = 30;

fn bench_cycle(c: &mut Criterion) {
    let mut drive = Drive::new(POINTS, OBJECTS, 3);
    let setup = drive
        .warm_up(WARM_UP_WINDOWS)
        .expect("no cycle in the warm-up");
    let counters = drive.pipeline.tracker().map(|t| t.counters().clone());
    eprintln!(
        "setup after {WARM_UP_WINDOWS} periods: {} confirmed tracks, {} LiDAR boxes, \
         tracker {counters:?}, skipped {:?}",
        setup.tracks.len(),
        setup.lidar_boxes.len(),
        drive.pipeline.skipped
    );
    let untracked = drive.untracked(&setup, 3.0);
    eprintln!(
        "objects without a confirmed track within 3 m: {}: {untracked:?}",
        untracked.len()
    );
    // The tracker confirms most but not all of the objects (see the list above); the bench
    // only needs the load of about 50 confirmed tracks.
    assert!(
        setup.tracks.len() >= OBJECTS * 8 / 10,
        "only {} confirmed tracks for {OBJECTS} objects",
        setup.tracks.len()
    );

    let mut walls_ms: Vec<f64> = Vec::new();
    let mut cycles = Vec::new();
    let mut group = c.benchmark_group("fusion_cycle");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(POINTS as u64));
    group.bench_function("lidar_120k_tracks_50_all_sensors", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let window = drive.prepare();
                let run = drive.run(window);
                total += run.wall;
                walls_ms.push(run.wall.as_secs_f64() * 1e3);
                cycles.extend(run.cycles);
            }
            total
        })
    });
    group.finish();

    let mut totals: Vec<f64> = cycles
        .iter()
        .map(|c| c.timing.total_ns as f64 * 1e-6)
        .collect();
    let mut stages: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for c in &cycles {
        for (s, ns) in &c.timing.stage_ns {
            stages
                .entry(s.as_str())
                .or_default()
                .push(*ns as f64 * 1e-6);
        }
    }
    let tracks: Vec<usize> = cycles.iter().map(|c| c.tracks.len()).collect();
    let boxes: Vec<usize> = cycles.iter().map(|c| c.lidar_boxes.len()).collect();
    let line = json!({
        "bench": "fusion_cycle",
        "points": POINTS,
        "objects": OBJECTS,
        "confirmed_tracks_at_setup": setup.tracks.len(),
        "objects_without_confirmed_track_at_setup": untracked.len(),
        "periods": walls_ms.len(),
        "cycles": cycles.len(),
        "period_p50_ms": quantile(&mut walls_ms, 0.5),
        "period_p99_ms": quantile(&mut walls_ms, 0.99),
        "period_max_ms": quantile(&mut walls_ms, 1.0),
        "cycle_p50_ms": quantile(&mut totals, 0.5),
        "cycle_p99_ms": quantile(&mut totals, 0.99),
        "stages_p50_p99_ms": stages
            .iter_mut()
            .map(|(k, v)| (*k, [quantile(v, 0.5), quantile(v, 0.99)]))
            .collect::<BTreeMap<_, _>>(),
        "confirmed_tracks_min_max": [tracks.iter().min(), tracks.iter().max()],
        "lidar_boxes_min_max": [boxes.iter().min(), boxes.iter().max()],
        "deadline_misses": drive.pipeline.budget().deadline_misses,
        "target_p99_ms": 10.0,
    });
    println!("{line}");
}

criterion_group!(benches, bench_cycle);

fn main() {
    drive::rerun_with_process_allocator_settings();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
