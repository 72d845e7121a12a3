//! Clustering throughput on a synthetic ground-removed scene: cars and pedestrians seen as
//! their visible faces, building walls, vegetation blobs and sparse clutter.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use edgefuse_fusion::lidar::{
    cluster, cluster_parts, ClusterConfig, ClusterMode, DeskewReference, LidarPipeline,
    LidarPipelineConfig,
};
use edgefuse_fusion::types::{LidarPoint, LidarScan, StampNs, Transform3};
use nalgebra::{Isometry3, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[path = "common/scene.rs"]
mod scene;
use scene::scene;

fn bench_cluster(c: &mut Criterion) {
    let mut group = c.benchmark_group("cluster");
    group.sample_size(20);
    for n in [30_000usize, 120_000] {
        let pts = scene(n, 42);
        group.throughput(Throughput::Elements(n as u64));
        for (name, mode) in [
            ("grid", ClusterMode::Euclidean),
            ("grid_dbscan_min5", ClusterMode::Dbscan { min_samples: 5 }),
            ("kiddo_per_point", ClusterMode::EuclideanKdTree),
        ] {
            let cfg = ClusterConfig {
                cluster_tolerance_m: 0.5,
                min_points: 5,
                max_points: 50_000,
                mode,
            };
            group.bench_with_input(BenchmarkId::new(name, n), &pts, |b, pts| {
                b.iter(|| cluster(std::hint::black_box(pts), &cfg).map(|c| c.clusters.len()))
            });
        }
        // The grid's linking on two threads (as the fusion node runs it; the same clusters).
        let cfg = ClusterConfig {
            cluster_tolerance_m: 0.5,
            min_points: 5,
            max_points: 50_000,
            mode: ClusterMode::Euclidean,
        };
        group.bench_with_input(BenchmarkId::new("grid_2_threads", n), &pts, |b, pts| {
            b.iter(|| cluster_parts(std::hint::black_box(pts), &cfg, 2).map(|c| c.clusters.len()))
        });
    }
    group.finish();
}

/// Full chain on a 120k-point scan: 45% ground, the rest the clustering scene, sensor at 1.9 m.
fn bench_pipeline(c: &mut Criterion) {
    let n = 120_000;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let base_from_sensor = Isometry3::new(Vector3::new(1.0, 0.0, 1.9), Vector3::zeros());
    let objects = scene(n - n * 45 / 100, 43);
    let mut points: Vec<LidarPoint> = objects
        .iter()
        .map(|p| LidarPoint {
            x_m: p[0] - 1.0,
            y_m: p[1],
            z_m: p[2] - 1.9,
            intensity: 5.0,
            t_s: 0.0,
        })
        .collect();
    while points.len() < n {
        let (x, y): (f32, f32) = (rng.random_range(-70.0..70.0), rng.random_range(-30.0..30.0));
        points.push(LidarPoint {
            x_m: x - 1.0,
            y_m: y,
            z_m: rng.random_range(-0.03..0.03) - 1.9,
            intensity: 5.0,
            t_s: 0.0,
        });
    }
    // Sweep time by azimuth, as a spinning LiDAR measures.
    for p in &mut points {
        p.t_s = (p.y_m.atan2(p.x_m) + std::f32::consts::PI) / std::f32::consts::TAU * 0.1;
    }
    let scan = LidarScan {
        stamp_ns: 0,
        points,
        base_from_sensor,
    };
    let ego = |t: StampNs| -> Transform3 {
        Isometry3::new(
            Vector3::new(15.0 * t as f64 * 1e-9, 0.0, 0.0),
            Vector3::new(0.0, 0.0, 0.2 * t as f64 * 1e-9),
        )
    };
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(20);
    group.throughput(Throughput::Elements(n as u64));
    for voxel in [0.15f32, 0.3] {
        let pipe = LidarPipeline::new(LidarPipelineConfig {
            voxel_size_m: voxel,
            ..LidarPipelineConfig::default()
        });
        if let Ok(out) = pipe.run(&scan, ego, DeskewReference::ScanEnd, None) {
            eprintln!(
                "voxel {voxel}: {:?}, objects {}",
                out.counts,
                out.objects.len()
            );
        }
        group.bench_with_input(
            BenchmarkId::new(format!("voxel_{voxel}"), n),
            &scan,
            |b, scan| {
                b.iter(|| {
                    pipe.run(
                        std::hint::black_box(scan),
                        ego,
                        DeskewReference::ScanEnd,
                        None,
                    )
                    .map(|o| o.objects.len())
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_cluster, bench_pipeline);
criterion_main!(benches);
