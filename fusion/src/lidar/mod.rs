//! LiDAR point-cloud stages of the fusion core: deskew with per-point time and ego motion,
//! ground removal on a polar grid, voxel downsampling, Euclidean clustering (an exact sorted
//! cell grid; a `kiddo` k-d tree for the reference and the DBSCAN modes), and an oriented
//! minimum-area box per cluster, chained by
//! [`LidarPipeline`]. Pure: no ROS, no I/O, no wall clock; time and ego poses are arguments, and
//! the same input gives the same output, bit for bit.

pub mod cluster;
pub mod deskew;
pub mod ground;
pub mod obb;
pub mod voxel;

pub use cluster::{cluster, cluster_parts, ClusterConfig, ClusterMode, Clustering};
pub use deskew::{deskew, DeskewConfig, DeskewReference, DeskewedCloud, SkipCounts};
pub use ground::{remove_ground, GroundConfig, GroundSplit};
pub use obb::{fit_box, BoxConfig};
pub use voxel::{voxel_downsample, VoxelCloud};

use crate::types::{Box3, LidarScan, SeamParts, StampNs, Transform3};

/// Parameters of the whole chain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LidarPipelineConfig {
    /// Deskew stage.
    pub deskew: DeskewConfig,
    /// Ground removal stage.
    pub ground: GroundConfig,
    /// Voxel edge for downsampling the non-ground points, m.
    pub voxel_size_m: f32,
    /// Clustering of the voxel centroids (`min_points`/`max_points` count voxels).
    pub cluster: ClusterConfig,
    /// Beyond this horizontal range from the sensor (m), heights are compressed by
    /// `range / far_link_from_m` for clustering only (the boxes keep the true heights): the
    /// vertical gap between adjacent beams grows with range (0.6 m at 54 m for 0.625 degree
    /// beams) past the cluster tolerance, and a far car would otherwise fall apart into one
    /// flat fragment per beam, each too low to be an object. `None` clusters the true heights.
    pub far_link_from_m: Option<f32>,
    /// Box fitting.
    pub boxes: BoxConfig,
    /// Keep the labelled cloud ([`LidarOutput::cloud`]) for visualisation; off by default (it
    /// copies the ground points and the voxels every sweep).
    pub keep_cloud: bool,
    /// Threads for the per-point stages (deskew, ground cells and classification) and the
    /// clustering: the calling thread and `threads - 1` scoped ones, each on a contiguous part
    /// of the sweep. The output is the same bit for bit for any count; 1 (the default) runs
    /// everything on the calling thread.
    pub threads: usize,
}

impl Default for LidarPipelineConfig {
    fn default() -> Self {
        Self {
            deskew: DeskewConfig::default(),
            ground: GroundConfig::default(),
            voxel_size_m: 0.15,
            cluster: ClusterConfig {
                cluster_tolerance_m: 0.5,
                min_points: 3,
                max_points: 20_000,
                mode: ClusterMode::Euclidean,
            },
            far_link_from_m: Some(35.0),
            boxes: BoxConfig::default(),
            keep_cloud: false,
            threads: 1,
        }
    }
}

/// Per-stage counts of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StageCounts {
    /// Points in the scan.
    pub points_in: usize,
    /// Points skipped by deskew, per reason.
    pub skipped: SkipCounts,
    /// Points removed as ground (including `below_ground`).
    pub ground_removed: usize,
    /// Of those, points far below the local ground.
    pub below_ground: usize,
    /// Non-ground points handed to the voxel grid.
    pub non_ground: usize,
    /// Occupied voxels (points handed to clustering).
    pub voxels: usize,
    /// Kept clusters (= boxes).
    pub clusters: usize,
    /// Clusters dropped for fewer than `min_points` voxels.
    pub clusters_too_small: usize,
    /// Clusters dropped for more than `max_points` voxels.
    pub clusters_too_large: usize,
}

/// One object candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct LidarObject {
    /// Oriented box in `base_link` at [`LidarOutput::stamp_ns`].
    pub shape: Box3,
    /// Voxels in the cluster.
    pub voxel_count: usize,
    /// Raw (deskewed) points in the cluster's voxels.
    pub point_count: usize,
    /// Mean measurement time of the cluster's points relative to [`LidarOutput::stamp_ns`], s.
    /// Deskewing removes the ego motion only: a moving object is seen where it was when the
    /// beams hit it, up to one sweep period away from the reference time.
    pub time_offset_s: f64,
    /// The cluster's two halves when it straddles the sweep's seam (its points' times span
    /// more than half the sweep's), each boxed on its own; `None` otherwise.
    pub seam_parts: Option<SeamParts>,
}

/// The points of one sweep as the stages saw them, in `base_link` at the reference time: the
/// deskewed ground points and the voxel centroids of the rest with their cluster.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelledCloud {
    /// Deskewed points classified as ground, m.
    pub ground_m: Vec<[f32; 3]>,
    /// Voxel centroids of the non-ground points, m.
    pub voxels_m: Vec<[f32; 3]>,
    /// Per voxel, the index of its kept cluster (the order of [`LidarOutput::objects`] before
    /// box fitting), or `None` (noise, or a cluster dropped for its size).
    pub voxel_cluster: Vec<Option<u32>>,
}

/// The result of [`LidarPipeline::run`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LidarOutput {
    /// Reference time: boxes are in `base_link` as it was at this stamp, ns.
    pub stamp_ns: StampNs,
    /// Objects, in cluster order (smallest voxel index first, i.e. voxel-key order).
    pub objects: Vec<LidarObject>,
    /// The voxel size used, m (the configured one or the degraded one).
    pub voxel_size_m: f32,
    /// Per-stage counts.
    pub counts: StageCounts,
    /// The labelled cloud, when [`LidarPipelineConfig::keep_cloud`] is set.
    pub cloud: Option<LabelledCloud>,
}

/// deskew -> ground removal -> voxel downsampling -> clustering -> boxes.
#[derive(Debug, Clone, PartialEq)]
pub struct LidarPipeline {
    /// The configuration.
    pub config: LidarPipelineConfig,
}

impl LidarPipeline {
    /// A pipeline with `config`.
    pub fn new(config: LidarPipelineConfig) -> Self {
        Self { config }
    }

    /// Runs the chain on `scan`, with ego poses from `odom_from_base_at` (see [`deskew`]).
    ///
    /// `voxel_size_override_m` replaces `config.voxel_size_m` for this run (the deadline budget
    /// passes a coarser grid when the cycle is projected to overrun); `None` keeps the
    /// configured size. Errors come only from invalid configuration.
    pub fn run(
        &self,
        scan: &LidarScan,
        odom_from_base_at: impl Fn(StampNs) -> Transform3 + Sync,
        reference: DeskewReference,
        voxel_size_override_m: Option<f32>,
    ) -> Result<LidarOutput, LidarError> {
        let cfg = &self.config;
        let voxel_size_m = voxel_size_override_m.unwrap_or(cfg.voxel_size_m);
        let mut counts = StageCounts {
            points_in: scan.points.len(),
            ..StageCounts::default()
        };
        // Deskew, then the ground cell of each accepted point (batched, see `cells_of`), and
        // each part's lowest height per ground cell, a part of the sweep per thread.
        let grid = ground::PolarGrid::new(&cfg.ground)?;
        let threads = cfg.threads.max(1);
        let parts = deskew::deskew_parts(scan, odom_from_base_at, reference, &cfg.deskew, threads);
        let (parts, models): (
            Vec<(deskew::DeskewedCloud, Vec<u32>)>,
            Vec<ground::GroundModel>,
        ) = par_map(parts, |cloud| {
            let mut cells: Vec<u32> = Vec::new();
            grid.cells_of(&cloud.points_m, &mut cells);
            let mut model = ground::GroundModel::new(&grid);
            model.accumulate(&cloud.points_m, &cells);
            ((cloud, cells), model)
        })
        .into_iter()
        .unzip();
        // The ground walk on the whole sweep's heights.
        let mut models = models.into_iter();
        let mut model = models
            .next()
            .unwrap_or_else(|| ground::GroundModel::new(&grid));
        for m in models {
            model.merge(&m);
        }
        for (cloud, _) in &parts {
            counts.skipped += cloud.skipped;
        }
        let views: Vec<(&[[f32; 3]], &[u32])> = parts
            .iter()
            .map(|(cloud, cells)| (cloud.points_m.as_slice(), cells.as_slice()))
            .collect();
        model.walk(&grid, &cfg.ground, &views);
        let stamp_ns = parts.first().map_or(scan.stamp_ns, |(c, _)| c.stamp_ns);
        // Non-ground points with their time offset from the reference, s; part by part.
        let offset_s = (scan.stamp_ns - stamp_ns) as f64 * 1e-9;
        let model = &model;
        let split: Vec<GroundPart> = par_map(parts.iter().collect(), |(cloud, cells)| {
            let mut part = GroundPart::default();
            // Without a branch on the classification (about half the points are ground,
            // in no order a predictor could learn): every point is written at the next
            // non-ground slot, which moves on only past a non-ground point.
            let n = cloud.points_m.len();
            let mut non_ground = vec![[0.0f32; 3]; n];
            let mut time_s = vec![0.0f64; n];
            let mut k = 0;
            for ((p, &i), &c) in cloud.points_m.iter().zip(&cloud.source_index).zip(cells) {
                let (is_ground, below) = model.classify(c, p[2]);
                part.below_ground += usize::from(below);
                let t = scan
                    .points
                    .get(i as usize)
                    .map_or(0.0, |q| f64::from(q.t_s));
                if let (Some(slot), Some(slot_t)) = (non_ground.get_mut(k), time_s.get_mut(k)) {
                    *slot = *p;
                    *slot_t = offset_s + t;
                }
                k += usize::from(!is_ground);
                if cfg.keep_cloud && is_ground {
                    part.ground_m.push(*p);
                }
            }
            non_ground.truncate(k);
            time_s.truncate(k);
            part.ground = n - k;
            part.non_ground = non_ground;
            part.time_s = time_s;
            part
        });
        drop(parts);
        let n_non_ground: usize = split.iter().map(|p| p.non_ground.len()).sum();
        let mut split = split.into_iter();
        // The first part's vectors are kept (no copy with one thread), the others appended.
        let first = split.next().unwrap_or_default();
        counts.ground_removed = first.ground;
        counts.below_ground = first.below_ground;
        let (mut non_ground, mut point_time_s, mut ground_m) =
            (first.non_ground, first.time_s, first.ground_m);
        non_ground.reserve(n_non_ground - non_ground.len());
        point_time_s.reserve(n_non_ground - point_time_s.len());
        for part in split {
            counts.ground_removed += part.ground;
            counts.below_ground += part.below_ground;
            non_ground.extend(part.non_ground);
            point_time_s.extend(part.time_s);
            ground_m.extend(part.ground_m);
        }
        counts.non_ground = non_ground.len();
        let (voxels, voxel_time_s) =
            voxel::voxel_downsample_timed(&non_ground, Some(&point_time_s), voxel_size_m)?;
        counts.voxels = voxels.points_m.len();
        let clustering = match cfg.far_link_from_m {
            Some(from_m) if from_m > 0.0 => {
                let t = scan.base_from_sensor.translation.vector;
                let (sx, sy) = (t.x as f32, t.y as f32);
                let from2 = from_m * from_m;
                let linked: Vec<[f32; 3]> = voxels
                    .points_m
                    .iter()
                    .map(|p| {
                        let range2 = (p[0] - sx).powi(2) + (p[1] - sy).powi(2);
                        let z = if range2 > from2 {
                            p[2] * (from_m / range2.sqrt())
                        } else {
                            p[2]
                        };
                        [p[0], p[1], z]
                    })
                    .collect();
                cluster_parts(&linked, &cfg.cluster, threads)?
            }
            _ => cluster_parts(&voxels.points_m, &cfg.cluster, threads)?,
        };
        counts.clusters = clustering.clusters.len();
        counts.clusters_too_small = clustering.rejected_small;
        counts.clusters_too_large = clustering.rejected_large;
        let mut objects = Vec::with_capacity(clustering.clusters.len());
        let mut buf: Vec<[f32; 3]> = Vec::new();
        // A cluster whose times span more than half the sweep's straddles its seam.
        let (sweep_lo_s, sweep_hi_s) = voxel_time_s
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        let seam_span_s = 0.5 * (sweep_hi_s - sweep_lo_s);
        // Mean time (weighted by points), point count, earliest and latest voxel time.
        let times_s = |members: &[u32]| {
            let (sum_s, count, lo_s, hi_s) = members.iter().fold(
                (0.0, 0usize, f64::MAX, f64::MIN),
                |(sum_s, n, lo_s, hi_s), &i| {
                    let (c, t) = (voxels.counts[i as usize], voxel_time_s[i as usize]);
                    (
                        sum_s + t * f64::from(c),
                        n + c as usize,
                        lo_s.min(t),
                        hi_s.max(t),
                    )
                },
            );
            (sum_s / count.max(1) as f64, count, lo_s, hi_s)
        };
        for members in &clustering.clusters {
            buf.clear();
            buf.extend(members.iter().map(|&i| voxels.points_m[i as usize]));
            if let Some(shape) = fit_box(&buf, &cfg.boxes) {
                let (time_offset_s, point_count, lo_s, hi_s) = times_s(members);
                let seam_parts = (seam_span_s > 0.0 && hi_s - lo_s > seam_span_s)
                    .then(|| {
                        let mid_s = 0.5 * (lo_s + hi_s);
                        let (early, late): (Vec<u32>, Vec<u32>) = members
                            .iter()
                            .partition(|&&i| voxel_time_s[i as usize] < mid_s);
                        let fit = |part: &[u32]| {
                            let pts: Vec<[f32; 3]> =
                                part.iter().map(|&i| voxels.points_m[i as usize]).collect();
                            fit_box(&pts, &cfg.boxes)
                        };
                        Some(SeamParts {
                            early: fit(&early)?,
                            early_offset_s: times_s(&early).0,
                            late: fit(&late)?,
                            late_offset_s: times_s(&late).0,
                        })
                    })
                    .flatten();
                objects.push(LidarObject {
                    shape,
                    voxel_count: members.len(),
                    point_count,
                    time_offset_s,
                    seam_parts,
                });
            }
        }
        let cloud_out = cfg.keep_cloud.then_some(LabelledCloud {
            ground_m,
            voxels_m: voxels.points_m,
            voxel_cluster: clustering.labels,
        });
        Ok(LidarOutput {
            stamp_ns,
            objects,
            voxel_size_m,
            counts,
            cloud: cloud_out,
        })
    }
}

/// One part of a sweep after ground classification.
#[derive(Debug, Default)]
struct GroundPart {
    non_ground: Vec<[f32; 3]>,
    time_s: Vec<f64>,
    ground_m: Vec<[f32; 3]>,
    ground: usize,
    below_ground: usize,
}

/// `f` over `items` in parallel, the first on the calling thread and each other on a scoped
/// thread of its own (on the calling thread too if a thread cannot be started); the results
/// in the items' order.
pub(crate) fn par_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let mut items = items.into_iter();
    let Some(first) = items.next() else {
        return Vec::new();
    };
    let rest: Vec<T> = items.collect();
    if rest.is_empty() {
        return vec![f(first)];
    }
    let f = &f;
    let slots: Vec<std::sync::Mutex<Option<T>>> = rest
        .into_iter()
        .map(|t| std::sync::Mutex::new(Some(t)))
        .collect();
    let take = |slot: &std::sync::Mutex<Option<T>>| {
        slot.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = slots
            .iter()
            .map(|slot| {
                std::thread::Builder::new()
                    .name("lidar-part".into())
                    .spawn_scoped(scope, move || take(slot).map(f))
                    .ok()
            })
            .collect();
        let mut out = vec![f(first)];
        for (handle, slot) in handles.into_iter().zip(&slots) {
            let done = match handle.map(std::thread::ScopedJoinHandle::join) {
                Some(Ok(r)) => r,
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                None => None,
            };
            // A thread that could not start left its item to the calling thread.
            out.extend(done.or_else(|| take(slot).map(f)));
        }
        out
    })
}

/// `floor(q)` as an integer, exactly as `q.floor() as i64` for `|q| < 2^52` (without the libm
/// call that `f64::floor` is on the baseline x86-64 target).
#[inline]
pub(crate) fn floor_i64(q: f64) -> i64 {
    let t = q as i64;
    t - i64::from((t as f64) > q)
}

/// `q.round() as i64` (halves away from zero) exactly, for `|q| < 2^52`, without libm and
/// without branches (the fraction of a point time is random).
#[inline]
pub(crate) fn round_i64(q: f64) -> i64 {
    let t = q as i64;
    // `q - t` is exact for `|q| < 2^52`.
    let frac = q - t as f64;
    t + i64::from(frac >= 0.5) - i64::from(frac <= -0.5)
}

/// `atan2(y, x)` in `f32` to within 1e-6 rad, rad, for `(x, y) != (0, 0)` (the sign of a zero
/// `y` is ignored: `atan2(-0.0, -1.0)` gives `pi`). One division and a polynomial (Abramowitz
/// and Stegun 4.4.49, error below 2e-8 on [0, 1]), several times cheaper than libm, and in
/// `f32` a loop over points vectorises four wide; used to find a bin, with an exact fallback
/// near bin edges (see `ground::PolarGrid::cell_of`).
#[inline]
pub(crate) fn atan2_approx_f32(y: f32, x: f32) -> f32 {
    use std::f32::consts::{FRAC_PI_2, PI};
    // Branch-free (selects only), so that a loop over points vectorises.
    let (ax, ay) = (x.abs(), y.abs());
    let (lo, hi) = (ax.min(ay), ax.max(ay));
    let t = lo / hi;
    // Estrin's scheme: a short dependency chain for the polynomial in t^2.
    let t2 = t * t;
    let t4 = t2 * t2;
    let t8 = t4 * t4;
    let p01 = 1.0 - 0.333_331_45 * t2;
    let p23 = 0.199_935_51 - 0.142_089 * t2;
    let p45 = 0.106_562_64 - 0.075_289_64 * t2;
    let p67 = 0.042_909_614 - 0.016_165_737 * t2;
    let poly = (p01 + p23 * t4) + (p45 + p67 * t4 + 0.002_866_225_7 * t8) * t8;
    let a = t * poly;
    let a = if ay > ax { FRAC_PI_2 - a } else { a };
    let a = if x < 0.0 { PI - a } else { a };
    if y < 0.0 {
        -a
    } else {
        a
    }
}

/// The bin `floor(v)` of a non-negative `v` below `2^52`, or `None` when `v` lies within
/// [`BIN_EDGE_MARGIN`] of a bin edge (then the caller evaluates its exact formula).
#[inline]
pub(crate) fn bin_away_from_edge(v: f64) -> Option<usize> {
    // Through i64: f64 <-> u64 conversions are multi-instruction sequences on x86-64.
    let i = v as i64;
    let frac = v - i as f64;
    (BIN_EDGE_MARGIN..=1.0 - BIN_EDGE_MARGIN)
        .contains(&frac)
        .then_some(i as usize)
}

/// Values this close to an integer (in units of the binned quantity) take the exact, slow path
/// when a fast approximation picks a bin: far above the approximation's error (< 1e-6) and the
/// `f32` rounding of the exact formula (< 1e-4 for bins up to 1000).
pub(crate) const BIN_EDGE_MARGIN: f64 = 1.0e-3;

/// Errors of the LiDAR stages.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LidarError {
    /// A configuration value is out of its valid range.
    #[error("invalid config: {field} = {value}")]
    InvalidConfig {
        /// The config field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// A point handed to a stage that needs finite input is NaN or infinite.
    #[error("point {index} is not finite")]
    NonFinitePoint {
        /// Index of the point.
        index: usize,
    },
    /// A coordinate is too far out for the stage's integer grid.
    #[error("point {index} is too far from the origin for the grid")]
    CoordinateOutOfRange {
        /// Index of the point.
        index: usize,
    },
    /// More points than `u32` indices can address.
    #[error("{count} points exceed the u32 index range")]
    TooManyPoints {
        /// Number of points.
        count: usize,
    },
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::types::LidarPoint;
    use nalgebra::{Isometry3, Point3, Vector3};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A return at `q` (sensor frame, m) fired `t_s` into the sweep.
    fn sensor_point(q: &Point3<f64>, t_s: f32) -> LidarPoint {
        LidarPoint {
            x_m: q.x as f32,
            y_m: q.y as f32,
            z_m: q.z as f32,
            intensity: 10.0,
            t_s,
        }
    }

    fn ego(t_ns: StampNs) -> Transform3 {
        // 15 m/s straight along odom x.
        Isometry3::translation(15.0 * t_ns as f64 * 1e-9, 0.0, 0.0)
    }

    /// Cars (centre x, y in odom at t = 0, yaw, length, width) sampled as surfaces, ground, and
    /// bad points; the sensor is roof-mounted at 1.9 m.
    /// Car: centre x, y in odom at t = 0, yaw, length, width.
    type Car = (f64, f64, f64, f64, f64);

    fn scan(seed: u64) -> (LidarScan, Vec<Car>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let cars = vec![
            (12.0, 3.0, 0.0, 4.5, 1.9),
            (25.0, -4.0, 0.4, 4.6, 1.8),
            (-15.0, 6.0, -1.2, 4.0, 1.7),
        ];
        let base_from_sensor = Isometry3::new(Vector3::new(1.0, 0.0, 1.9), Vector3::zeros());
        let mut points = Vec::new();
        let push = |p_odom: Point3<f64>, t_s: f32, points: &mut Vec<LidarPoint>| {
            let t = (f64::from(t_s) * 1e9).round() as i64;
            let p = (ego(t) * base_from_sensor).inverse() * p_odom;
            points.push(sensor_point(&p, t_s));
        };
        for k in 0..60_000 {
            let t_s = k as f32 / 60_000.0 * 0.1;
            let p = Point3::new(
                rng.random_range(-40.0..40.0),
                rng.random_range(-20.0..20.0),
                rng.random_range(-0.02..0.02),
            );
            push(p, t_s, &mut points);
        }
        for &(cx, cy, yaw, l, w) in &cars {
            let (s, c) = f64::sin_cos(yaw);
            for _ in 0..3000 {
                let t_s = rng.random_range(0.0..0.1f32);
                let (u, v) = (
                    rng.random_range(-l / 2.0..l / 2.0),
                    rng.random_range(-w / 2.0..w / 2.0),
                );
                let z = rng.random_range(0.3..1.5);
                push(
                    Point3::new(cx + c * u - s * v, cy + s * u + c * v, z),
                    t_s,
                    &mut points,
                );
            }
        }
        points.push(LidarPoint {
            x_m: f32::NAN,
            ..LidarPoint::default()
        });
        points.push(LidarPoint {
            t_s: f32::INFINITY,
            x_m: 5.0,
            ..LidarPoint::default()
        });
        (
            LidarScan {
                stamp_ns: 0,
                points,
                base_from_sensor,
            },
            cars,
        )
    }

    /// A car's rear face 54 m ahead as a 0.625-degree-beam LiDAR 1.9 m up sees it: one row of
    /// points per beam, 0.59 m apart in height (over the 0.5 m tolerance), with ground before
    /// it.
    fn far_car_scan() -> LidarScan {
        let base_from_sensor = Isometry3::new(Vector3::new(1.0, 0.0, 1.9), Vector3::zeros());
        let range_m = 54.0f32;
        let mut points = Vec::new();
        let beam_rad = 0.625f32.to_radians();
        let column_rad = 0.35f32.to_radians();
        for k in 1..6 {
            let z = -range_m * (k as f32 * beam_rad).tan();
            if !(-1.6..=-0.4).contains(&z) {
                continue;
            }
            for c in -2..=2 {
                let a = c as f32 * column_rad;
                points.push(LidarPoint {
                    x_m: range_m * a.cos(),
                    y_m: range_m * a.sin(),
                    z_m: z,
                    intensity: 10.0,
                    t_s: 0.0,
                });
            }
        }
        for i in 0..400 {
            let (x, y) = (40.0 + 0.1 * (i / 20) as f32, -1.0 + 0.1 * (i % 20) as f32);
            points.push(LidarPoint {
                x_m: x,
                y_m: y,
                z_m: -1.9,
                intensity: 5.0,
                t_s: 0.0,
            });
        }
        LidarScan {
            stamp_ns: 0,
            points,
            base_from_sensor,
        }
    }

    #[test]
    fn a_far_car_is_one_cluster_across_its_beams() {
        let scan = far_car_scan();
        let static_ego = |_: StampNs| Transform3::identity();
        let run = |far_link_from_m| {
            LidarPipeline::new(LidarPipelineConfig {
                far_link_from_m,
                ..LidarPipelineConfig::default()
            })
            .run(&scan, static_ego, DeskewReference::Stamp(0), None)
            .unwrap()
        };
        let tallest = |out: &LidarOutput| {
            out.objects
                .iter()
                .map(|o| o.shape.height_m)
                .fold(0.0, f64::max)
        };
        // Linked across beams: one box over both rows that hit the car (1.31 m and 0.72 m
        // above the ground), 0.59 m tall, tall enough to be an object.
        let linked = run(Some(35.0));
        assert_eq!(linked.objects.len(), 1, "{:?}", linked.objects);
        assert!(tallest(&linked) > 0.55, "{:?}", linked.objects);
        // True heights only: a flat fragment per beam, none of them tall enough to be an
        // object.
        let plain = run(None);
        assert!(plain.objects.len() >= 2, "{:?}", plain.objects);
        assert!(tallest(&plain) < 0.4, "{:?}", plain.objects);
    }

    #[test]
    fn pipeline_finds_the_cars_and_counts_every_stage() {
        let (scan, cars) = scan(1);
        let pipe = LidarPipeline::new(LidarPipelineConfig::default());
        let out = pipe
            .run(&scan, ego, DeskewReference::Stamp(100_000_000), None)
            .unwrap();
        let c = out.counts;
        assert_eq!(c.points_in, scan.points.len());
        assert_eq!(
            (c.skipped.non_finite_xyz, c.skipped.non_finite_time),
            (1, 1)
        );
        assert_eq!(
            c.points_in,
            c.skipped.total() + c.ground_removed + c.non_ground
        );
        assert!(c.ground_removed >= 59_000, "{c:?}");
        assert_eq!(out.objects.len(), cars.len(), "{:?}", out.objects);
        assert_eq!(c.clusters, out.objects.len());
        // At 0.1 s the ego is 1.5 m further along x.
        for &(cx, cy, yaw, l, w) in &cars {
            let found = out.objects.iter().any(|o| {
                let b = o.shape;
                let dyaw = (b.yaw_rad - yaw).rem_euclid(std::f64::consts::PI);
                (b.x_m - (cx - 1.5)).hypot(b.y_m - cy) < 0.15
                    && dyaw.min(std::f64::consts::PI - dyaw) < 0.05
                    && (b.length_m - l).abs() < 0.3
                    && (b.width_m - w).abs() < 0.3
            });
            assert!(found, "car {cx} {cy} not found in {:?}", out.objects);
        }
        // A coarser grid at run time: fewer voxels, the same objects.
        let coarse = pipe
            .run(&scan, ego, DeskewReference::Stamp(100_000_000), Some(0.4))
            .unwrap();
        assert_eq!(coarse.voxel_size_m, 0.4);
        assert!(coarse.counts.voxels < out.counts.voxels / 2);
        assert_eq!(coarse.objects.len(), cars.len());
    }

    /// A sweep starting and ending behind the sensor (bearing pi): a car behind straddles
    /// the seam, its left half seen at the sweep's start and its right half at its end; a car
    /// ahead is seen in one go. Only the one behind comes with its halves, each boxed on its
    /// own and timed by its own points.
    #[test]
    fn a_cluster_across_the_sweep_seam_comes_with_its_halves() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let base_from_sensor = Isometry3::new(Vector3::new(1.0, 0.0, 1.9), Vector3::zeros());
        let sensor = base_from_sensor.inverse();
        let time_of = |p: &Point3<f64>| {
            let q = sensor * p;
            let turn = (q.y.atan2(q.x) + std::f64::consts::PI) / std::f64::consts::TAU;
            (turn * 0.1) as f32
        };
        let mut points = Vec::new();
        let mut push = |p: Point3<f64>, t_s: f32| points.push(sensor_point(&(sensor * p), t_s));
        for k in 0..40_000 {
            let p = Point3::new(
                rng.random_range(-30.0..30.0),
                rng.random_range(-20.0..20.0),
                rng.random_range(-0.02..0.02),
            );
            push(p, k as f32 / 40_000.0 * 0.1);
        }
        // Behind: centre (-12, 0); ahead: centre (14, 2); both 4.5 m by 1.8 m along x.
        for (cx, cy) in [(-12.0, 0.0), (14.0, 2.0)] {
            for _ in 0..3000 {
                let p = Point3::new(
                    cx + rng.random_range(-2.25..2.25),
                    cy + rng.random_range(-0.9..0.9),
                    rng.random_range(0.3..1.5),
                );
                push(p, time_of(&p));
            }
        }
        let scan = LidarScan {
            stamp_ns: 0,
            points,
            base_from_sensor,
        };
        let out = LidarPipeline::new(LidarPipelineConfig::default())
            .run(
                &scan,
                |_| Isometry3::identity(),
                DeskewReference::Stamp(0),
                None,
            )
            .unwrap();
        assert_eq!(out.objects.len(), 2, "{:?}", out.objects);
        let behind = out.objects.iter().find(|o| o.shape.x_m < 0.0).unwrap();
        let ahead = out.objects.iter().find(|o| o.shape.x_m > 0.0).unwrap();
        assert_eq!(ahead.seam_parts, None);
        let parts = behind
            .seam_parts
            .expect("the car behind straddles the seam");
        // The sweep starts at bearing -pi (the right half, y < 0) and ends at pi.
        assert!(parts.early.y_m < -0.2 && parts.late.y_m > 0.2, "{parts:?}");
        assert!(
            parts.early_offset_s < 0.02 && parts.late_offset_s > 0.08,
            "{parts:?}"
        );
        for half in [parts.early, parts.late] {
            assert!((half.x_m + 12.0).abs() < 0.3, "{parts:?}");
            assert!(half.length_m.max(half.width_m) > 4.0, "{parts:?}");
        }
        assert!((behind.time_offset_s - 0.05).abs() < 0.02, "{behind:?}");
    }

    #[test]
    fn kept_cloud_labels_agree_with_the_objects_and_change_nothing() {
        let (scan, _) = scan(3);
        let plain = LidarPipeline::new(LidarPipelineConfig::default())
            .run(&scan, ego, DeskewReference::ScanEnd, None)
            .unwrap();
        assert!(plain.cloud.is_none());
        let kept = LidarPipeline::new(LidarPipelineConfig {
            keep_cloud: true,
            ..LidarPipelineConfig::default()
        })
        .run(&scan, ego, DeskewReference::ScanEnd, None)
        .unwrap();
        let cloud = kept.cloud.clone().unwrap();
        assert_eq!(kept.objects, plain.objects);
        assert_eq!(cloud.ground_m.len(), kept.counts.ground_removed);
        assert_eq!(cloud.voxels_m.len(), kept.counts.voxels);
        assert_eq!(cloud.voxel_cluster.len(), cloud.voxels_m.len());
        assert_eq!(kept.objects.len(), kept.counts.clusters);
        // Each object's voxels are exactly those labelled with its cluster, inside its box.
        for (k, o) in kept.objects.iter().enumerate() {
            let members: Vec<&[f32; 3]> = cloud
                .voxels_m
                .iter()
                .zip(&cloud.voxel_cluster)
                .filter(|(_, c)| **c == Some(k as u32))
                .map(|(p, _)| p)
                .collect();
            assert_eq!(members.len(), o.voxel_count);
            let b = o.shape;
            let (s, c) = b.yaw_rad.sin_cos();
            for p in members {
                let (dx, dy) = (f64::from(p[0]) - b.x_m, f64::from(p[1]) - b.y_m);
                let (u, v) = (c * dx + s * dy, -s * dx + c * dy);
                assert!(u.abs() <= b.length_m / 2.0 + 1e-3, "{p:?} outside {b:?}");
                assert!(v.abs() <= b.width_m / 2.0 + 1e-3, "{p:?} outside {b:?}");
            }
        }
    }

    #[test]
    fn pipeline_is_deterministic() {
        let (scan, _) = scan(2);
        let pipe = LidarPipeline::new(LidarPipelineConfig::default());
        let a = pipe
            .run(&scan, ego, DeskewReference::ScanEnd, None)
            .unwrap();
        let b = pipe
            .run(&scan, ego, DeskewReference::ScanEnd, None)
            .unwrap();
        let c = pipe
            .run(&scan.clone(), ego, DeskewReference::ScanEnd, None)
            .unwrap();
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_eq!(a, c);
    }

    #[test]
    fn any_thread_count_gives_the_same_output_bit_for_bit() {
        // With the labelled cloud kept (every stage's output visible), a few bad points (so
        // that each part counts skips), and both deskew references.
        let (mut scan, _) = scan(5);
        let n = scan.points.len();
        for (k, at) in [7, n / 3, n / 2, n - 2].into_iter().enumerate() {
            match k {
                0 => scan.points[at].x_m = f32::NAN,
                1 => scan.points[at].t_s = f32::INFINITY,
                2 => scan.points[at].intensity = f32::NAN,
                _ => scan.points[at].z_m = f32::NEG_INFINITY,
            }
        }
        for reference in [
            DeskewReference::ScanEnd,
            DeskewReference::Stamp(scan.stamp_ns),
        ] {
            let run = |threads: usize| {
                LidarPipeline::new(LidarPipelineConfig {
                    keep_cloud: true,
                    threads,
                    ..LidarPipelineConfig::default()
                })
                .run(&scan, ego, reference, None)
                .unwrap()
            };
            let one = run(1);
            assert!(
                one.objects.len() >= 3 && one.counts.skipped.total() >= 4,
                "{:?}",
                one.counts
            );
            for threads in [2, 3, 4, 7] {
                let many = run(threads);
                assert_eq!(format!("{one:?}"), format!("{many:?}"), "{threads} threads");
            }
        }
    }

    #[test]
    fn fast_numeric_helpers_match_the_exact_ones() {
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        for _ in 0..200_000 {
            let (x, y): (f64, f64) = (
                rng.random_range(-300.0..300.0),
                rng.random_range(-300.0..300.0),
            );
            let (xf, yf) = (x as f32, y as f32);
            let exact = f64::from(yf).atan2(f64::from(xf));
            assert!(
                (f64::from(atan2_approx_f32(yf, xf)) - exact).abs() < 1e-6,
                "{x} {y}"
            );
            let q: f64 = rng.random_range(-1.0e6..1.0e6);
            assert_eq!(floor_i64(q), q.floor() as i64);
            assert_eq!(round_i64(q), q.round() as i64);
        }
        for q in [
            -2.5,
            -1.5,
            -0.5,
            -0.0,
            0.0,
            0.5,
            1.5,
            2.5,
            -3.0,
            3.0,
            1e15 + 0.5,
        ] {
            assert_eq!(floor_i64(q), q.floor() as i64);
            assert_eq!(round_i64(q), q.round() as i64);
        }
    }

    #[test]
    fn ground_cells_match_the_exact_formula_also_on_bin_edges() {
        // The default grid, and one near the fast path's limit (1024 bins): 1000 sectors and
        // rings of 0.15 m (1000 within 150 m), where the `f32` estimates err most in bins.
        let fine = GroundConfig {
            sector_width_rad: std::f32::consts::TAU / 1000.0,
            ring_length_m: 0.15,
            ring_count: 1000,
            ..GroundConfig::default()
        };
        for cfg in [GroundConfig::default(), fine] {
            ground_cells_match_the_exact_formula(&cfg);
        }
    }

    fn ground_cells_match_the_exact_formula(cfg: &GroundConfig) {
        let grid = ground::PolarGrid::new(cfg).unwrap();
        let sectors = ((std::f32::consts::TAU / cfg.sector_width_rad).ceil() as usize).max(1);
        let exact = |x: f32, y: f32| -> u32 {
            let a = y.atan2(x) + std::f32::consts::PI;
            let s = ((a / std::f32::consts::TAU * sectors as f32) as usize).min(sectors - 1);
            let r = (x.hypot(y) / cfg.ring_length_m) as usize;
            (s * cfg.ring_count + r.min(cfg.ring_count - 1)) as u32
        };
        let mut rng = ChaCha8Rng::seed_from_u64(19);
        let mut pts: Vec<(f32, f32)> = (0..100_000)
            .map(|_| {
                (
                    rng.random_range(-150.0..150.0),
                    rng.random_range(-150.0..150.0),
                )
            })
            .collect();
        // Points on and next to sector edges and ring edges, and on the axes.
        for k in 0..=sectors {
            let a = -std::f64::consts::PI + k as f64 * std::f64::consts::TAU / sectors as f64;
            for r in [0.7, 1.0, 5.0, 33.3, 119.0, 200.0] {
                for d in [-1e-6, 0.0, 1e-6] {
                    pts.push(((r * (a + d).cos()) as f32, (r * (a + d).sin()) as f32));
                }
            }
        }
        let ring_edges = ((150.0 / cfg.ring_length_m) as usize).min(cfg.ring_count + 2);
        for r in 0..ring_edges {
            for e in [-1e-5f32, 0.0, 1e-5] {
                let r = r as f32 * cfg.ring_length_m + e;
                pts.extend([
                    (r, 0.0),
                    (0.0, r),
                    (-r, 0.0),
                    (0.0, -r),
                    (-r, -0.0),
                    (r * 0.6, r * 0.8),
                ]);
            }
        }
        for &(x, y) in &pts {
            assert_eq!(grid.cell_of(x, y), exact(x, y), "{x} {y}");
        }
        // The batched form gives the same cells.
        let xyz: Vec<[f32; 3]> = pts.iter().map(|&(x, y)| [x, y, 0.5]).collect();
        let mut cells = Vec::new();
        grid.cells_of(&xyz, &mut cells);
        let one_by_one: Vec<u32> = pts.iter().map(|&(x, y)| exact(x, y)).collect();
        assert_eq!(cells, one_by_one);
    }

    #[test]
    fn invalid_config_is_an_error() {
        let (scan, _) = scan(3);
        let pipe = LidarPipeline::new(LidarPipelineConfig::default());
        assert!(pipe
            .run(&scan, ego, DeskewReference::ScanEnd, Some(0.0))
            .is_err());
    }
}
