//! Motion compensation ("deskew") of one sweep with per-point time and ego poses.

use crate::types::{LidarPoint, LidarScan, StampNs, Transform3};

/// The time whose `base_link` the deskewed points are expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeskewReference {
    /// `scan.stamp_ns + max(t_s)` over the accepted points (the sweep start if none).
    ScanEnd,
    /// A given stamp, ns (for example the fusion cycle time).
    Stamp(StampNs),
}

/// Deskew parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeskewConfig {
    /// Point times are rounded (in whole ns, halves up) to multiples of this before the ego pose
    /// is looked up, s; poses
    /// are then computed once per distinct rounded time. 0 disables rounding (one lookup per
    /// distinct `t_s`). At 30 m/s, 1e-4 s moves a point by at most 1.5 mm.
    pub time_step_s: f32,
    /// Points with `|t_s|` above this are skipped as [`SkipCounts::time_out_of_range`], s.
    pub max_abs_point_time_s: f32,
    /// Points nearer to the sensor origin than this are skipped (zero returns, self hits), m.
    pub min_range_m: f32,
    /// Points farther from the sensor origin than this are skipped, m.
    pub max_range_m: f32,
}

impl Default for DeskewConfig {
    fn default() -> Self {
        Self {
            time_step_s: 1.0e-4,
            max_abs_point_time_s: 0.5,
            min_range_m: 0.5,
            max_range_m: 250.0,
        }
    }
}

/// Points skipped by deskew, per reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SkipCounts {
    /// x, y or z is NaN or infinite.
    pub non_finite_xyz: usize,
    /// The intensity is NaN or infinite.
    pub non_finite_intensity: usize,
    /// `t_s` is NaN or infinite.
    pub non_finite_time: usize,
    /// `|t_s| > max_abs_point_time_s`.
    pub time_out_of_range: usize,
    /// Range below `min_range_m` or above `max_range_m`.
    pub range_out_of_limits: usize,
    /// The ego pose at the point's time (or the reference) was not finite.
    pub non_finite_pose: usize,
}

impl std::ops::AddAssign for SkipCounts {
    fn add_assign(&mut self, o: SkipCounts) {
        self.non_finite_xyz += o.non_finite_xyz;
        self.non_finite_intensity += o.non_finite_intensity;
        self.non_finite_time += o.non_finite_time;
        self.time_out_of_range += o.time_out_of_range;
        self.range_out_of_limits += o.range_out_of_limits;
        self.non_finite_pose += o.non_finite_pose;
    }
}

impl SkipCounts {
    /// All skipped points.
    pub fn total(&self) -> usize {
        self.non_finite_xyz
            + self.non_finite_intensity
            + self.non_finite_time
            + self.time_out_of_range
            + self.range_out_of_limits
            + self.non_finite_pose
    }
}

/// A deskewed cloud in `base_link` at `stamp_ns`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeskewedCloud {
    /// The reference time: the points are in `base_link` as it was at this stamp, ns.
    pub stamp_ns: StampNs,
    /// Points, m.
    pub points_m: Vec<[f32; 3]>,
    /// Intensity per point.
    pub intensity: Vec<f32>,
    /// Index of each point in `scan.points`.
    pub source_index: Vec<u32>,
    /// Points skipped, per reason.
    pub skipped: SkipCounts,
}

/// Moves every point of `scan` into `base_link` at the reference time.
///
/// Point `i` was measured at `t_i = scan.stamp_ns + q(round(t_s * 1e9))` ns, where `q` rounds
/// to the nearest multiple of `time_step_s` in ns (halves up; no rounding when the step is 0).
/// With `odom_from_base_at(t)` the ego pose at time `t` and `t_ref` from `reference`:
///
/// `p_out = odom_from_base(t_ref)^-1 * odom_from_base(t_i) * scan.base_from_sensor * p_sensor`
///
/// computed in `f64` (the chain is formed once per distinct time as one 3x4 matrix), stored as
/// `f32`, m. Accepted points keep their input order. Skipped points are counted per reason
/// (checked in the order of [`SkipCounts`]' fields); if the reference pose itself is not finite
/// every point is skipped as `non_finite_pose`.
pub fn deskew(
    scan: &LidarScan,
    odom_from_base_at: impl Fn(StampNs) -> Transform3 + Sync,
    reference: DeskewReference,
    config: &DeskewConfig,
) -> DeskewedCloud {
    let mut parts = deskew_parts(scan, odom_from_base_at, reference, config, 1);
    let mut out = parts.swap_remove(0);
    for p in parts {
        out.points_m.extend(p.points_m);
        out.intensity.extend(p.intensity);
        out.source_index.extend(p.source_index);
        out.skipped += p.skipped;
    }
    out
}

/// A rigid transform as a row-major 3x4 matrix `[R | t]`, for cheap per-point application.
#[derive(Debug, Clone, Copy)]
struct Affine3([[f64; 4]; 3]);

impl Affine3 {
    fn of(tf: &Transform3) -> Self {
        let m = tf.to_homogeneous();
        Self([0, 1, 2].map(|r| [0, 1, 2, 3].map(|c| m[(r, c)])))
    }

    #[inline]
    fn apply(&self, p: [f64; 3]) -> [f64; 3] {
        self.0
            .map(|row| row[0] * p[0] + row[1] * p[1] + row[2] * p[2] + row[3])
    }
}

/// [`deskew`] in `parts` contiguous slices of the sweep, each on its own thread (the calling
/// thread takes the first): the slices' clouds in order, their points together exactly those of
/// [`deskew`] (each point's transform depends only on its own time), `source_index` into the
/// whole sweep. `parts` is at least 1.
pub(crate) fn deskew_parts(
    scan: &LidarScan,
    odom_from_base_at: impl Fn(StampNs) -> Transform3 + Sync,
    reference: DeskewReference,
    config: &DeskewConfig,
    parts: usize,
) -> Vec<DeskewedCloud> {
    // Rounding works on integer nanoseconds, so that e.g. a 1e-4 s step is exactly 100 us.
    let step_ns = (f64::from(config.time_step_s) * 1.0e9).round().max(0.0) as i64;
    let step_f64 = step_ns as f64;
    // Offset of the point from the sweep start, ns (`round` halves away from zero).
    let to_ns = |t_s: f32| -> i64 {
        let x = f64::from(t_s) * 1.0e9;
        if x.abs() < 4.0e15 {
            super::round_i64(x)
        } else {
            x.round() as i64
        }
    };
    // `t_ns` rounded to a multiple of the step (halves up).
    let quantise_ns = |t_ns: i64| -> i64 {
        if step_ns > 1 {
            let a = t_ns + step_ns / 2;
            // `floor(a / step)` in f64 is exact for |a| < 2^53 (the quotient's rounding error
            // is below the 1/step gap to the next integer) and much cheaper than `div_euclid`.
            let bin = if a.unsigned_abs() < 1 << 52 {
                super::floor_i64(a as f64 / step_f64)
            } else {
                a.div_euclid(step_ns)
            };
            bin * step_ns
        } else {
            t_ns
        }
    };
    let quantise = |t_s: f32| quantise_ns(to_ns(t_s));
    let (min_r2, max_r2) = (
        config.min_range_m * config.min_range_m,
        config.max_range_m * config.max_range_m,
    );
    // The skip reason of a point, checked in the order of `SkipCounts`' fields, or `None`.
    let check = |p: &LidarPoint| -> Option<fn(&mut SkipCounts)> {
        if !(p.x_m.is_finite() && p.y_m.is_finite() && p.z_m.is_finite()) {
            Some(|s| s.non_finite_xyz += 1)
        } else if !p.intensity.is_finite() {
            Some(|s| s.non_finite_intensity += 1)
        } else if !p.t_s.is_finite() {
            Some(|s| s.non_finite_time += 1)
        } else if p.t_s.abs() > config.max_abs_point_time_s {
            Some(|s| s.time_out_of_range += 1)
        } else {
            let r2 = p.x_m * p.x_m + p.y_m * p.y_m + p.z_m * p.z_m;
            (r2 < min_r2 || r2 > max_r2).then_some(|s: &mut SkipCounts| s.range_out_of_limits += 1)
        }
    };
    let t_ref = match reference {
        DeskewReference::ScanEnd => {
            let max_dt_ns = scan
                .points
                .iter()
                .filter(|p| check(p).is_none())
                .map(|p| quantise(p.t_s))
                .max();
            scan.stamp_ns.saturating_add(max_dt_ns.unwrap_or(0))
        }
        DeskewReference::Stamp(s) => s,
    };
    let odom_from_ref = odom_from_base_at(t_ref);
    let ref_from_odom =
        crate::types::is_finite_transform(&odom_from_ref).then(|| odom_from_ref.inverse());
    let per_part = scan.points.len().div_ceil(parts.max(1)).max(1);
    let slices: Vec<(usize, &[LidarPoint])> = scan
        .points
        .chunks(per_part)
        .enumerate()
        .map(|(k, c)| (k * per_part, c))
        .collect();
    let mut clouds = super::par_map(slices, |(first, points)| {
        deskew_slice(
            scan,
            first,
            points,
            t_ref,
            ref_from_odom.as_ref(),
            &odom_from_base_at,
            &check,
            &quantise_ns,
            &to_ns,
            step_ns,
        )
    });
    if clouds.is_empty() {
        clouds.push(DeskewedCloud {
            stamp_ns: t_ref,
            ..DeskewedCloud::default()
        });
    }
    clouds
}

/// [`deskew_parts`]' work on the points `first..first + points.len()` of the sweep.
#[allow(clippy::too_many_arguments)]
fn deskew_slice(
    scan: &LidarScan,
    first: usize,
    points: &[LidarPoint],
    t_ref: StampNs,
    ref_from_odom: Option<&Transform3>,
    odom_from_base_at: &impl Fn(StampNs) -> Transform3,
    check: &impl Fn(&LidarPoint) -> Option<fn(&mut SkipCounts)>,
    quantise_ns: &impl Fn(i64) -> i64,
    to_ns: &impl Fn(f32) -> i64,
    step_ns: i64,
) -> DeskewedCloud {
    let mut out = DeskewedCloud {
        stamp_ns: t_ref,
        ..DeskewedCloud::default()
    };
    let mut skipped = SkipCounts::default();
    let Some(ref_from_odom) = ref_from_odom else {
        for p in points {
            match check(p) {
                Some(count) => count(&mut skipped),
                None => skipped.non_finite_pose += 1,
            }
        }
        out.skipped = skipped;
        return out;
    };
    out.points_m.reserve(points.len());
    out.intensity.reserve(points.len());
    out.source_index.reserve(points.len());
    // Cache of the last pose: sweeps are ordered in time, so consecutive points share it. It
    // holds an open range of unrounded point times (ns, `f64`) that round to its time, so that
    // a point inside the range skips the rounding (to ns, then to the step: a division).
    let mut cached: Option<(f64, f64, Option<Affine3>)> = None;
    for (i, p) in points.iter().enumerate() {
        let i = first + i;
        if let Some(count) = check(p) {
            count(&mut skipped);
            continue;
        }
        // As in `to_ns`, before rounding.
        let x_ns = f64::from(p.t_s) * 1.0e9;
        let ref_from_sensor = match cached {
            Some((lo, hi, tf)) if lo < x_ns && x_ns < hi => tf,
            _ => {
                let t_ns = to_ns(p.t_s);
                let dt = quantise_ns(t_ns);
                let odom_from_base = odom_from_base_at(scan.stamp_ns.saturating_add(dt));
                let tf = crate::types::is_finite_transform(&odom_from_base).then(|| {
                    Affine3::of(&(ref_from_odom * odom_from_base * scan.base_from_sensor))
                });
                // The whole ns `t` with `quantise_ns(t) == dt`: with a step, `t + step / 2` in
                // `[dt, dt + step)`, i.e. `t` in `[dt - step / 2, dt + step - 1 - step / 2]`.
                let (lo, hi) = if step_ns > 1 {
                    (
                        dt.saturating_sub(step_ns / 2),
                        dt.saturating_add(step_ns - 1 - step_ns / 2),
                    )
                } else {
                    (t_ns, t_ns)
                };
                // Every `x` strictly between `lo - 0.5` and `hi + 0.5` rounds to a whole ns in
                // `[lo, hi]` (exact in `f64` below 2^51); an empty range otherwise.
                let limit = 1i64 << 51;
                let range = if (-limit..limit).contains(&lo) && (-limit..limit).contains(&hi) {
                    (lo as f64 - 0.5, hi as f64 + 0.5)
                } else {
                    (f64::NAN, f64::NAN)
                };
                cached = Some((range.0, range.1, tf));
                tf
            }
        };
        let Some(tf) = ref_from_sensor else {
            skipped.non_finite_pose += 1;
            continue;
        };
        let q = tf.apply([f64::from(p.x_m), f64::from(p.y_m), f64::from(p.z_m)]);
        let q = [q[0] as f32, q[1] as f32, q[2] as f32];
        out.points_m.push(q);
        out.intensity.push(p.intensity);
        out.source_index.push(i as u32);
    }
    out.skipped = skipped;
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use nalgebra::{Isometry3, Point3, Vector3};

    /// Ego driving at 10 m/s along x while turning at 0.5 rad/s (pose exact for a unicycle).
    fn ego(t_ns: StampNs) -> Transform3 {
        let t = t_ns as f64 * 1e-9;
        let (v, w) = (10.0, 0.5);
        let yaw = w * t;
        let (x, y) = (v / w * yaw.sin(), v / w * (1.0 - yaw.cos()));
        Isometry3::new(Vector3::new(x, y, 0.0), Vector3::new(0.0, 0.0, yaw))
    }

    #[test]
    fn static_world_point_lands_on_the_same_place() {
        // A fixed landmark in odom, seen at different times of the sweep, must deskew to one
        // place: its position in base_link at the reference time.
        let base_from_sensor =
            Isometry3::new(Vector3::new(1.2, 0.0, 1.9), Vector3::new(0.0, 0.0, 0.1));
        let landmark = Point3::new(20.0, 5.0, 0.5);
        let stamp = 1_000_000_000;
        let points: Vec<LidarPoint> = (0..100)
            .map(|k| {
                let t_s = k as f32 * 0.001;
                let t = stamp + (f64::from(t_s) * 1e9).round() as i64;
                let p = (ego(t) * base_from_sensor).inverse() * landmark;
                LidarPoint {
                    x_m: p.x as f32,
                    y_m: p.y as f32,
                    z_m: p.z as f32,
                    intensity: 1.0,
                    t_s,
                }
            })
            .collect();
        let scan = LidarScan {
            stamp_ns: stamp,
            points,
            base_from_sensor,
        };
        let cfg = DeskewConfig {
            time_step_s: 0.0,
            ..Default::default()
        };
        let out = deskew(&scan, ego, DeskewReference::ScanEnd, &cfg);
        assert_eq!(out.points_m.len(), 100);
        assert_eq!(
            out.stamp_ns,
            stamp + (f64::from(99.0f32 * 0.001) * 1e9).round() as i64
        );
        let want = ego(out.stamp_ns).inverse() * landmark;
        for p in &out.points_m {
            let e = ((f64::from(p[0]) - want.x).powi(2)
                + (f64::from(p[1]) - want.y).powi(2)
                + (f64::from(p[2]) - want.z).powi(2))
            .sqrt();
            assert!(e < 2e-3, "error {e}");
        }
        // Given stamp: the sweep start.
        let out0 = deskew(
            &scan,
            ego,
            DeskewReference::Stamp(stamp),
            &DeskewConfig::default(),
        );
        let want0 = ego(stamp).inverse() * landmark;
        assert!((f64::from(out0.points_m[50][0]) - want0.x).abs() < 5e-3);
        // Without ego motion compensation the sweep would smear by ~1 m.
        let first = &scan.points[0];
        let last = &scan.points[99];
        assert!((first.x_m - last.x_m).abs() > 0.5);
    }

    #[test]
    fn each_point_uses_the_pose_at_its_rounded_time() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(41);
        // Times in order (as a sweep), shuffled, and on rounding edges: k * 50 us (half steps).
        let mut ts: Vec<f32> = (0..3000).map(|k| k as f32 * 3.3e-5).collect();
        ts.extend((0..3000).map(|_| rng.random_range(-0.2..0.2f32)));
        for k in -400..400 {
            let e = k as f32 * 5.0e-5;
            ts.extend([e, e.next_up(), e.next_down()]);
        }
        ts.extend([0.0, -0.0, 1.0e-9, 5.0e-10, -5.0e-10]);
        let points: Vec<LidarPoint> = ts
            .iter()
            .map(|&t_s| LidarPoint {
                x_m: 5.0,
                y_m: 1.0,
                z_m: 0.5,
                intensity: 1.0,
                t_s,
            })
            .collect();
        let stamp = 1_000_000_000;
        let scan = LidarScan {
            stamp_ns: stamp,
            points,
            base_from_sensor: Isometry3::identity(),
        };
        // 1 m per ms: a different pose for every step.
        let pose = |t: StampNs| Isometry3::translation((t - stamp) as f64 * 1e-6, 0.0, 0.0);
        for step_s in [1.0e-4f32, 0.0, 1.0e-9, 3.0e-6] {
            let cfg = DeskewConfig {
                time_step_s: step_s,
                ..DeskewConfig::default()
            };
            let out = deskew(&scan, pose, DeskewReference::Stamp(stamp), &cfg);
            assert_eq!(out.points_m.len(), ts.len());
            let step = (f64::from(step_s) * 1e9).round() as i64;
            for (q, &t_s) in out.points_m.iter().zip(&ts) {
                let t = (f64::from(t_s) * 1e9).round() as i64;
                let t = if step > 1 {
                    (t + step / 2).div_euclid(step) * step
                } else {
                    t
                };
                assert_eq!(q[0], (5.0 + t as f64 * 1e-6) as f32, "{t_s} {step_s}");
            }
        }
    }

    #[test]
    fn bad_points_are_skipped_and_counted_per_reason() {
        let good = LidarPoint {
            x_m: 5.0,
            y_m: 0.0,
            z_m: 0.0,
            intensity: 1.0,
            t_s: 0.01,
        };
        let points = vec![
            good,
            LidarPoint {
                x_m: f32::NAN,
                ..good
            },
            LidarPoint {
                z_m: f32::INFINITY,
                ..good
            },
            LidarPoint {
                intensity: f32::NAN,
                ..good
            },
            LidarPoint {
                t_s: f32::NAN,
                ..good
            },
            LidarPoint { t_s: 7.0, ..good },
            LidarPoint { x_m: 0.0, ..good },
            LidarPoint { x_m: 1.0e4, ..good },
            LidarPoint { t_s: 0.05, ..good },
        ];
        let scan = LidarScan {
            stamp_ns: 0,
            points,
            base_from_sensor: Isometry3::identity(),
        };
        // The pose is NaN at exactly 50 ms.
        let pose = |t: StampNs| {
            if t == 50_000_000 {
                Isometry3::translation(f64::NAN, 0.0, 0.0)
            } else {
                Isometry3::identity()
            }
        };
        let out = deskew(
            &scan,
            pose,
            DeskewReference::Stamp(0),
            &DeskewConfig::default(),
        );
        let s = out.skipped;
        assert_eq!(
            (
                s.non_finite_xyz,
                s.non_finite_intensity,
                s.non_finite_time,
                s.time_out_of_range,
                s.range_out_of_limits,
                s.non_finite_pose
            ),
            (2, 1, 1, 1, 2, 1)
        );
        assert_eq!(out.points_m, vec![[5.0, 0.0, 0.0]]);
        assert_eq!(out.source_index, vec![0]);
        assert_eq!(s.total() + out.points_m.len(), scan.points.len());
        // A NaN reference pose skips everything, still counted.
        let out = deskew(
            &scan,
            |_| Isometry3::translation(f64::NAN, 0.0, 0.0),
            DeskewReference::ScanEnd,
            &DeskewConfig::default(),
        );
        assert!(out.points_m.is_empty());
        assert_eq!(out.skipped.non_finite_pose, 2);
    }
}
