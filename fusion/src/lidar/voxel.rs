//! Voxel-grid downsampling: one centroid per occupied voxel, in sorted voxel-key order.

use super::cluster::radix_sort;
use super::{floor_i64, LidarError};

/// Largest accepted `|coordinate| / voxel size`.
const MAX_VOXEL_COORD: f64 = 1.0e9;

/// Quotients `c / v` this close to an integer take the division: far above the error of
/// `c * (1 / v)` (a few ulp, below `3e-7` for quotients up to `1e9`).
const VOXEL_EDGE_MARGIN: f64 = 1.0e-5;

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
    Ok(voxel_downsample_timed(points, None, voxel_size_m)?.0)
}

/// [`voxel_downsample`], and with `time_s` (one value per point) the mean of each voxel's
/// times too, summed in `f64` in input order (empty without `time_s`).
///
/// The keys, offset to the cloud's smallest key per axis, are packed into one `u64` (x, y, z
/// from high to low bits) and radix sorted, stably, so that a voxel's points stay in input
/// order; a cloud too wide for 64 key bits falls back to a comparison sort with the same order.
pub(crate) fn voxel_downsample_timed(
    points: &[[f32; 3]],
    time_s: Option<&[f64]>,
    voxel_size_m: f32,
) -> Result<(VoxelCloud, Vec<f64>), LidarError> {
    if !(voxel_size_m.is_finite() && voxel_size_m > 0.0) {
        return Err(LidarError::InvalidConfig {
            field: "voxel_size_m",
            value: f64::from(voxel_size_m),
        });
    }
    if points.len() >= u32::MAX as usize {
        return Err(LidarError::TooManyPoints {
            count: points.len(),
        });
    }
    let v = f64::from(voxel_size_m);
    if points.is_empty() {
        return Ok((VoxelCloud::default(), Vec::new()));
    }
    // Key of one coordinate, or `None` when it is not finite or beyond the grid.
    let axis_key = |c: f32| -> Option<i64> {
        let q = f64::from(c) / v;
        // |floor(q)| > 1e9 whenever |q| >= 2e9; below that `floor_i64` is exact.
        (q.abs() < 2.0 * MAX_VOXEL_COORD)
            .then(|| floor_i64(q))
            .filter(|f| f.unsigned_abs() <= MAX_VOXEL_COORD as u64)
    };
    // The key range from the coordinate range (floor is monotonic); a non-finite or far point
    // is found by a scan in point order, so the error names the same point as a per-point check.
    let mut lo_c = [f32::INFINITY; 3];
    let mut hi_c = [f32::NEG_INFINITY; 3];
    let mut any_nan = false;
    for p in points {
        for k in 0..3 {
            lo_c[k] = lo_c[k].min(p[k]);
            hi_c[k] = hi_c[k].max(p[k]);
            any_nan |= p[k].is_nan();
        }
    }
    let range = [0, 1, 2].map(|k| axis_key(lo_c[k]).zip(axis_key(hi_c[k])));
    let (Some(rx), Some(ry), Some(rz)) = (range[0], range[1], range[2]) else {
        for (i, p) in points.iter().enumerate() {
            for c in p {
                if !c.is_finite() {
                    return Err(LidarError::NonFinitePoint { index: i });
                }
                if axis_key(*c).is_none() {
                    return Err(LidarError::CoordinateOutOfRange { index: i });
                }
            }
        }
        // NaN is ignored by min/max, so a NaN-only axis has an infinite range: found above.
        return Err(LidarError::NonFinitePoint { index: 0 });
    };
    let lo = [rx.0, ry.0, rz.0];
    let bits = [rx, ry, rz].map(|(a, b)| 64 - ((b - a) as u64).leading_zeros());
    let key_bits: u32 = bits.iter().sum();
    if any_nan {
        let index = points
            .iter()
            .position(|p| p.iter().any(|c| c.is_nan()))
            .unwrap_or(0);
        return Err(LidarError::NonFinitePoint { index });
    }
    // `floor(c / v)`: from `c * (1 / v)` when that is clearly away from an integer (it is then
    // within a few ulp of `c / v`, far less than the margin, so the floors agree), else from
    // the division itself. Every `|c / v|` is below `1e9 + 1` here (checked on the extremes).
    let inv_v = 1.0 / v;
    let floor_div = |c: f32| -> i64 {
        let c = f64::from(c);
        let q = c * inv_v;
        let t = floor_i64(q);
        let frac = q - t as f64;
        if (VOXEL_EDGE_MARGIN..=1.0 - VOXEL_EDGE_MARGIN).contains(&frac) {
            t
        } else {
            floor_i64(c / v)
        }
    };
    let key_of = |p: &[f32; 3]| -> [i64; 3] {
        [
            floor_div(p[0]) - lo[0],
            floor_div(p[1]) - lo[1],
            floor_div(p[2]) - lo[2],
        ]
    };
    // (packed key, point index) in (key, index) order.
    if key_bits <= 64 {
        let mut keyed: Vec<(u64, u32)> = points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let d = key_of(p).map(|x| x as u64);
                ((((d[0] << bits[1]) | d[1]) << bits[2]) | d[2], i as u32)
            })
            .collect();
        radix_sort(&mut keyed, key_bits);
        Ok(centroids(points, time_s, keyed.iter().copied()))
    } else {
        let mut wide: Vec<([i64; 3], u32)> = points
            .iter()
            .enumerate()
            .map(|(i, p)| (key_of(p), i as u32))
            .collect();
        wide.sort_unstable();
        // Dense ranks stand in for the wide keys: only equality is used.
        let mut rank = 0u64;
        let mut ranked = Vec::with_capacity(wide.len());
        for (j, (k, i)) in wide.iter().enumerate() {
            if j > 0 && wide[j - 1].0 != *k {
                rank += 1;
            }
            ranked.push((rank, *i));
        }
        Ok(centroids(points, time_s, ranked.iter().copied()))
    }
}

/// Each voxel's centroid and point count (and with `time_s` its mean time) from the points'
/// `(key, index)` pairs in (key, index) order, in that order.
///
/// Without a branch on where a voxel ends (every second point or so, in no order a predictor
/// could learn): a first pass counts the voxels, the second adds each point into the sums of
/// the voxel it opens or continues.
fn centroids(
    points: &[[f32; 3]],
    time_s: Option<&[f64]>,
    keyed: impl Iterator<Item = (u64, u32)> + Clone,
) -> (VoxelCloud, Vec<f64>) {
    let mut voxels = 0usize;
    let mut last: Option<u64> = None;
    for (key, _) in keyed.clone() {
        voxels += usize::from(last != Some(key));
        last = Some(key);
    }
    let mut sums = vec![[0.0f64; 4]; voxels];
    let mut counts = vec![0u32; voxels];
    let mut slot = 0usize;
    let mut last: Option<u64> = None;
    for (key, i) in keyed {
        // The first pair opens voxel 0; each later change of key the next.
        slot += usize::from(last.is_some() && last != Some(key));
        last = Some(key);
        let i = i as usize;
        let p = points.get(i).copied().unwrap_or_default();
        let t = time_s.and_then(|t| t.get(i).copied()).unwrap_or(0.0);
        if let (Some(sum), Some(count)) = (sums.get_mut(slot), counts.get_mut(slot)) {
            sum[0] += f64::from(p[0]);
            sum[1] += f64::from(p[1]);
            sum[2] += f64::from(p[2]);
            sum[3] += t;
            *count += 1;
        }
    }
    let mut out = VoxelCloud {
        points_m: Vec::with_capacity(voxels),
        counts,
    };
    let mut mean_time_s = Vec::with_capacity(if time_s.is_some() { voxels } else { 0 });
    for (sum, &n) in sums.iter().zip(&out.counts) {
        let inv = 1.0 / f64::from(n);
        out.points_m.push([
            (sum[0] * inv) as f32,
            (sum[1] * inv) as f32,
            (sum[2] * inv) as f32,
        ]);
        if time_s.is_some() {
            mean_time_s.push(sum[3] / f64::from(n));
        }
    }
    (out, mean_time_s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn keys_match_the_f64_division_also_on_voxel_edges() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(31);
        for v in [0.15f32, 0.1, 0.3, 0.4, 0.07] {
            let vd = f64::from(v);
            let mut pts: Vec<[f32; 3]> = (0..20_000)
                .map(|_| {
                    [0, 1, 2].map(|_| {
                        if rng.random_bool(0.3) {
                            // On (and next to) an edge: k * v in f32.
                            let k: i32 = rng.random_range(-800..800);
                            let e = (k as f32) * v;
                            [e, f32::from_bits(e.to_bits() + 1), e.next_down()]
                                [k.rem_euclid(3) as usize]
                        } else {
                            rng.random_range(-120.0..120.0f32)
                        }
                    })
                })
                .collect();
            pts.push([0.0, -0.0, 1e-30]);
            let out = voxel_downsample(&pts, v).unwrap();
            let mut map: BTreeMap<[i64; 3], u32> = BTreeMap::new();
            for p in &pts {
                let k = p.map(|c| (f64::from(c) / vd).floor() as i64);
                *map.entry(k).or_insert(0) += 1;
            }
            let counts: Vec<u32> = map.values().copied().collect();
            assert_eq!(out.counts, counts, "voxel {v}");
        }
    }

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
    fn mean_times_and_wide_clouds() {
        let pts: Vec<[f32; 3]> = (0..3000)
            .map(|i| {
                [
                    ((i * 7) % 31) as f32 * 0.1,
                    ((i * 3) % 17) as f32 * 0.1,
                    0.0,
                ]
            })
            .collect();
        let t: Vec<f64> = (0..3000).map(|i| f64::from(i) * 1e-3).collect();
        let (vox, mean_t) = voxel_downsample_timed(&pts, Some(&t), 0.25).unwrap();
        let mut map: BTreeMap<[i32; 2], (f64, u32)> = BTreeMap::new();
        for (p, t) in pts.iter().zip(&t) {
            let e = map
                .entry([(p[0] / 0.25).floor() as i32, (p[1] / 0.25).floor() as i32])
                .or_insert((0.0, 0));
            e.0 += t;
            e.1 += 1;
        }
        assert_eq!(mean_t.len(), map.len());
        for ((s, n), m) in map.values().zip(&mean_t) {
            assert_eq!(s / f64::from(*n), *m);
        }
        assert_eq!(vox.points_m, voxel_downsample(&pts, 0.25).unwrap().points_m);
        // Keys wider than 64 bits in total take the comparison sort, in the same order.
        let wide = [
            [-1.0e8f32, 5.0e7, -9.0e7],
            [1.0e8, -5.0e7, 9.0e7],
            [-1.0e8, 5.0e7, -9.0e7],
        ];
        let out = voxel_downsample(&wide, 0.2).unwrap();
        assert_eq!(out.counts, vec![2, 1]);
        assert!(out.points_m[0][0] < out.points_m[1][0]);
        // Errors name the first bad point, coordinate by coordinate.
        let bad = [
            [0.0, 0.0, 0.0],
            [3.0e9, f32::NAN, 0.0],
            [f32::NAN, 0.0, 0.0],
        ];
        assert!(matches!(
            voxel_downsample(&bad, 0.1),
            Err(LidarError::CoordinateOutOfRange { index: 1 })
        ));
        assert!(matches!(
            voxel_downsample(
                &bad[..1]
                    .iter()
                    .chain(&bad[2..])
                    .copied()
                    .collect::<Vec<_>>(),
                0.1
            ),
            Err(LidarError::NonFinitePoint { index: 1 })
        ));
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
