//! Our clustering against scikit-learn's DBSCAN (`algorithm="kd_tree"`) as an independent
//! oracle: on the same clouds with the same radius and `min_samples`, the partitions must be
//! identical (the same points in each cluster, the same noise), including which cluster a
//! border point within reach of two clusters joins. No timing here: see
//! `tests/benches/dbscan_compare.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use edgefuse_fusion::lidar::{cluster, ClusterConfig, ClusterMode};
use edgefuse_system_tests::dbscan::{compare_partitions, sklearn_dbscan, synthetic_scene};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn check(name: &str, pts: &[[f32; 3]], eps: f32, min_samples: usize, mode: ClusterMode) {
    let theirs = sklearn_dbscan(pts, eps, min_samples, 1).unwrap();
    let cfg = ClusterConfig {
        cluster_tolerance_m: eps,
        min_points: 1,
        max_points: usize::MAX,
        mode,
    };
    let ours = cluster(pts, &cfg).unwrap();
    let diff = compare_partitions(&ours.labels, &theirs.labels);
    eprintln!("{name} eps {eps} min_samples {min_samples} {mode:?}: {diff:?}");
    assert!(
        diff.agree(),
        "{name}, eps {eps}, min_samples {min_samples}, {mode:?}: {diff:?}"
    );
    assert!(diff.theirs_clusters > 1, "{name}: a trivial partition");
}

#[test]
fn partitions_agree_with_sklearn_on_the_synthetic_scene() {
    let pts = synthetic_scene(8_000, 42);
    check(
        "scene 8k",
        &pts,
        0.5,
        5,
        ClusterMode::Dbscan { min_samples: 5 },
    );
    check(
        "scene 8k",
        &pts,
        0.5,
        1,
        ClusterMode::Dbscan { min_samples: 1 },
    );
    check("scene 8k", &pts, 0.5, 1, ClusterMode::Euclidean);
}

/// A sparse random cloud: about two neighbours per point, so most clusters have border points
/// and many border points are within reach of two clusters.
#[test]
fn partitions_agree_with_sklearn_on_a_sparse_random_cloud() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let pts: Vec<[f32; 3]> = (0..4_000)
        .map(|_| {
            [
                rng.random_range(0.0..10.0),
                rng.random_range(0.0..10.0),
                rng.random_range(0.0..10.0),
            ]
        })
        .collect();
    for min_samples in [2, 3, 4] {
        check(
            "random 4k",
            &pts,
            0.5,
            min_samples,
            ClusterMode::Dbscan { min_samples },
        );
    }
    check("random 4k", &pts, 0.5, 1, ClusterMode::Euclidean);
}

/// The comparison itself: relabelling is no difference; a moved point, a split, a merge or a
/// point turned noise is.
#[test]
fn partition_comparison_sees_every_kind_of_difference() {
    let ours = [Some(0), Some(0), Some(1), Some(1), None];
    assert!(compare_partitions(&ours, &[1, 1, 0, 0, -1]).agree());
    for theirs in [
        [0, 1, 1, 1, -1],  // a point moved
        [0, 2, 1, 1, -1],  // a split
        [0, 0, 0, 0, -1],  // a merge
        [0, 0, 1, -1, -1], // a point turned noise
        [0, 0, 1, 1, 2],   // noise turned a cluster
    ] {
        let d = compare_partitions(&ours, &theirs);
        assert!(!d.agree() && d.points > 0, "{theirs:?}: {d:?}");
    }
}
