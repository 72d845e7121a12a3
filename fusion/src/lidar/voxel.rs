//! Voxel-grid downsampling: one centroid per occupied voxel, in sorted voxel-key order.

use super::LidarError;

/// Largest accepted `|coordinate| / voxel size`.
const MAX_VOXEL_COORD: f64 = 1.0e9;

/// A downsampled cloud.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VoxelCloud {
    /// Centroid of each occupied voxel, m, ordered by voxel key `(floor(x/v), floor(y/v),
    /// floor(z/v))` ascending (x first).
    pub points_m: Vec<[f32; 3]>,
    /// Number of input points in each voxel.
    pub counts: Vec<u32>,
}

/// Downsamples `points` (m) onto a grid of `voxel_size_m`.
///
/// Voxel key `k = floor(p / voxel_size_m)` per axis; the output point is the mean of the voxel's
/// points, summed in `f64` in input order, so the result is deterministic. Errors: a voxel size
/// that is not finite and positive, a non-finite point, a coordinate beyond `1e9` voxels.
pub fn voxel_downsample(points: &[[f32; 3]], voxel_size_m: f32) -> Result<VoxelCloud, LidarError> {
    if !(voxel_size_m.is_finite() && voxel_size_m > 0.0) {
        return Err(LidarError::InvalidConfig {
            field: "voxel_size_m",
            value: f64::from(voxel_size_m),
        });
    }
    let v = f64::from(voxel_size_m);
    let mut keyed: Vec<([i32; 3], u32)> = Vec::with_capacity(points.len());
    for (i, p) in points.iter().enumerate() {
        let mut key = [0i32; 3];
        for (k, c) in key.iter_mut().zip(p) {
            if !c.is_finite() {
                return Err(LidarError::NonFinitePoint { index: i });
            }
            let q = (f64::from(*c) / v).floor();
            if q.abs() > MAX_VOXEL_COORD {
                return Err(LidarError::CoordinateOutOfRange { index: i });
            }
            *k = q as i32;
        }
        keyed.push((key, i as u32));
    }
    // (key, index) pairs are unique, so the unstable sort is deterministic and keeps input
    // order inside a voxel.
    keyed.sort_unstable();
    let mut out = VoxelCloud::default();
    let mut j = 0;
    while j < keyed.len() {
        let key = keyed[j].0;
        let mut sum = [0.0f64; 3];
        let mut n = 0u32;
        while j < keyed.len() && keyed[j].0 == key {
            let p = points[keyed[j].1 as usize];
            for k in 0..3 {
                sum[k] += f64::from(p[k]);
            }
            n += 1;
            j += 1;
        }
        let inv = 1.0 / f64::from(n);
        out.points_m.push([
            (sum[0] * inv) as f32,
            (sum[1] * inv) as f32,
            (sum[2] * inv) as f32,
        ]);
        out.counts.push(n);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn centroids_counts_and_order_match_a_map_oracle() {
        let pts: Vec<[f32; 3]> = (0..5000)
            .map(|i| {
                [
                    ((i * 37) % 101) as f32 * 0.07 - 3.0,
                    ((i * 13) % 53) as f32 * 0.05,
                    (i % 7) as f32 * 0.11,
                ]
            })
            .collect();
        let out = voxel_downsample(&pts, 0.25).unwrap();
        let mut map: BTreeMap<[i32; 3], ([f64; 3], u32)> = BTreeMap::new();
        for p in &pts {
            let k = [
                (p[0] / 0.25).floor() as i32,
                (p[1] / 0.25).floor() as i32,
                (p[2] / 0.25).floor() as i32,
            ];
            let e = map.entry(k).or_insert(([0.0; 3], 0));
            for (acc, c) in e.0.iter_mut().zip(p) {
                *acc += f64::from(*c);
            }
            e.1 += 1;
        }
        assert_eq!(out.points_m.len(), map.len());
        for ((s, n), (p, c)) in map.values().zip(out.points_m.iter().zip(&out.counts)) {
            assert_eq!(n, c);
            for a in 0..3 {
                assert!((s[a] / f64::from(*n) - f64::from(p[a])).abs() < 1e-5);
            }
        }
        assert_eq!(out.counts.iter().sum::<u32>() as usize, pts.len());
        // Permuting the input gives the same voxels (order by key, not by input).
        let mut rev = pts.clone();
        rev.reverse();
        let out2 = voxel_downsample(&rev, 0.25).unwrap();
        assert_eq!(out.counts, out2.counts);
        for (a, b) in out.points_m.iter().zip(&out2.points_m) {
            assert!(
                (a[0] - b[0]).abs() < 1e-5
                    && (a[1] - b[1]).abs() < 1e-5
                    && (a[2] - b[2]).abs() < 1e-5
            );
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert!(voxel_downsample(&[[0.0; 3]], 0.0).is_err());
        assert!(voxel_downsample(&[[0.0; 3]], f32::NAN).is_err());
        assert!(voxel_downsample(&[[f32::INFINITY, 0.0, 0.0]], 0.1).is_err());
        assert!(voxel_downsample(&[[3.0e9, 0.0, 0.0]], 0.1).is_err());
        assert!(voxel_downsample(&[], 0.1).unwrap().points_m.is_empty());
    }
}
