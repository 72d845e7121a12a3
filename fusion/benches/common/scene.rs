//! The synthetic ground-removed LiDAR scene of the clustering benches: cars and pedestrians seen as their visible faces, building walls, vegetation
//! blobs and sparse clutter. Shared by path with the system tests' DBSCAN comparison against
//! scikit-learn, so that both measure the same clouds.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A scene of about `n` points: 60% on 40 objects, 25% on two walls, 15% vegetation/clutter.
pub fn scene(n: usize, seed: u64) -> Vec<[f32; 3]> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pts = Vec::with_capacity(n);
    let objects = 40;
    let per_object = n * 6 / 10 / objects;
    for k in 0..objects {
        let ped = k % 4 == 0;
        let (l, w, h) = if ped {
            (0.6f32, 0.6f32, 1.8f32)
        } else {
            (4.5, 1.9, 1.5)
        };
        let cx = rng.random_range(3.0..60.0f32) * if k % 2 == 0 { 1.0 } else { -1.0 };
        let cy = rng.random_range(-12.0..12.0f32);
        let yaw = rng.random_range(0.0..std::f32::consts::PI);
        let (s, c) = yaw.sin_cos();
        for _ in 0..per_object {
            // Two visible faces: the long side and one end.
            let (u, v) = if rng.random_bool(0.6) {
                (rng.random_range(-l / 2.0..l / 2.0), -w / 2.0)
            } else {
                (-l / 2.0, rng.random_range(-w / 2.0..w / 2.0))
            };
            let z = rng.random_range(0.25..h);
            pts.push([cx + c * u - s * v, cy + s * u + c * v, z]);
        }
    }
    let wall = n / 4 / 2;
    for side in [-18.0f32, 18.0] {
        for _ in 0..wall {
            pts.push([
                rng.random_range(-70.0..70.0),
                side + rng.random_range(-0.05..0.05),
                rng.random_range(0.3..6.0),
            ]);
        }
    }
    while pts.len() < n {
        if rng.random_bool(0.7) {
            let (bx, by) = (
                rng.random_range(-70.0..70.0f32),
                rng.random_range(-30.0..30.0f32),
            );
            for _ in 0..50 {
                pts.push([
                    bx + rng.random_range(-0.8..0.8),
                    by + rng.random_range(-0.8..0.8),
                    rng.random_range(0.3..2.5),
                ]);
            }
        } else {
            pts.push([
                rng.random_range(-80.0..80.0),
                rng.random_range(-40.0..40.0),
                rng.random_range(0.3..4.0),
            ]);
        }
    }
    pts.truncate(n);
    pts
}
