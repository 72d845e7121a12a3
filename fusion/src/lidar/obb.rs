//! Oriented boxes: minimum-area rectangle over the 2D convex hull (rotating calipers).

use crate::types::Box3;

/// Box-fitting parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxConfig {
    /// Lower bound on length, width and height, so that one point or a line never gives a
    /// zero-size box, m.
    pub min_extent_m: f64,
}

impl Default for BoxConfig {
    fn default() -> Self {
        Self { min_extent_m: 0.1 }
    }
}

/// Rectangles up to this fraction larger than the smallest compete on how close the points lie
/// to their edges (see [`fit_box`]). On the sample drives 0.25 to 1.0 score alike (`parking`
/// 0.73 to 0.77 MOTA, position 0.58 to 0.61 m); 0.5 is in the middle of that plateau.
const FIT_AREA_TOLERANCE: f64 = 0.5;
/// Hull edges whose directions differ by less than this (modulo a quarter turn) give one
/// candidate rectangle, rad.
const SAME_DIRECTION_RAD: f64 = 0.005;
/// Closeness is summed over at most about this many points (an even sample of larger
/// clusters).
const CLOSENESS_MAX_POINTS: usize = 256;

/// Cross product of `(a - o)` and `(b - o)`, m^2.
fn cross(o: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/// Clouds with more points than this are thinned before the hull (see [`outline_filter`]).
const OUTLINE_FILTER_MIN_POINTS: usize = 32;

/// The points of `points` that are not well inside the octagon of its extreme points
/// (Akl-Toussaint), in input order.
///
/// The octagon's corners are input points extreme in x, x + y, y, y - x, -x, -x - y, -y and
/// x - y, in that (counter-clockwise) order, so it lies inside the convex hull, and a point
/// strictly inside it is not a hull vertex. Only points clearly inside are dropped: their cross
/// product with every octagon edge exceeds `1e-9` times the squared extent of the cloud, far
/// above the rounding of the products (differences of `f32` coordinates are exact in `f64`), so
/// the hull of the kept points is the hull of all points. Typical clusters (two long walls)
/// keep a few percent of their points.
fn outline_filter(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let dirs: [[f64; 2]; 8] = [
        [1.0, 0.0],
        [1.0, 1.0],
        [0.0, 1.0],
        [-1.0, 1.0],
        [-1.0, 0.0],
        [-1.0, -1.0],
        [0.0, -1.0],
        [1.0, -1.0],
    ];
    let mut best = [0usize; 8];
    let mut best_v = [f64::NEG_INFINITY; 8];
    for (i, q) in points.iter().enumerate() {
        for k in 0..8 {
            let v = dirs[k][0] * q[0] + dirs[k][1] * q[1];
            if v > best_v[k] {
                best_v[k] = v;
                best[k] = i;
            }
        }
    }
    let mut corners: Vec<[f64; 2]> = Vec::with_capacity(8);
    for &i in &best {
        let q = points[i];
        if corners.last() != Some(&q) && corners.first() != Some(&q) {
            corners.push(q);
        }
    }
    // Extent from the axis extremes: max x - min x and max y - min y.
    let extent = (best_v[0] + best_v[4]).max(best_v[2] + best_v[6]);
    if corners.len() < 3 || !(extent.is_finite() && extent > 0.0) {
        return points.to_vec();
    }
    let margin = 1.0e-9 * extent * extent;
    let edges: Vec<([f64; 2], [f64; 2])> = (0..corners.len())
        .map(|k| (corners[k], corners[(k + 1) % corners.len()]))
        .collect();
    points
        .iter()
        .copied()
        .filter(|&q| !edges.iter().all(|&(a, b)| cross(a, b, q) > margin))
        .collect()
}

/// Convex hull (Andrew's monotone chain), counter-clockwise, without collinear points.
pub fn convex_hull(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    monotone_chain(if points.len() > OUTLINE_FILTER_MIN_POINTS {
        outline_filter(points)
    } else {
        points.to_vec()
    })
}

/// An unsigned key of `v` whose order is `f32::total_cmp`'s.
fn f32_order_key(v: f32) -> u32 {
    let b = v.to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | 1 << 31
    }
}

/// The value of an [`f32_order_key`].
fn f32_from_order_key(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & !(1 << 31) } else { !k })
}

/// Andrew's monotone chain on all of `p`.
fn monotone_chain(mut p: Vec<[f64; 2]>) -> Vec<[f64; 2]> {
    // Equal keys are equal points, so the unstable sort gives the same sequence as a stable one.
    // Points of `f32` coordinates (a LiDAR cloud's) sort as one `u64` each: the two
    // coordinates' `f32` bits mapped to an unsigned order equal to `total_cmp`'s, x high (the
    // same sequence; 0.16 ms less per 120k-point sweep of the benches).
    let packed: Option<Vec<u64>> = p
        .iter()
        .map(|q| {
            let (x, y) = (q[0] as f32, q[1] as f32);
            (f64::from(x) == q[0] && f64::from(y) == q[1])
                .then(|| u64::from(f32_order_key(x)) << 32 | u64::from(f32_order_key(y)))
        })
        .collect();
    match packed {
        Some(mut keys) => {
            keys.sort_unstable();
            for (q, k) in p.iter_mut().zip(&keys) {
                *q = [
                    f64::from(f32_from_order_key((k >> 32) as u32)),
                    f64::from(f32_from_order_key(*k as u32)),
                ];
            }
        }
        None => p.sort_unstable_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1]))),
    }
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let mut hull: Vec<[f64; 2]> = Vec::with_capacity(2 * p.len());
    fn chain(hull: &mut Vec<[f64; 2]>, pts: impl Iterator<Item = [f64; 2]>) {
        let floor = hull.len();
        for q in pts {
            while hull.len() >= floor + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], q) <= 0.0
            {
                hull.pop();
            }
            hull.push(q);
        }
        hull.pop();
    }
    chain(&mut hull, p.iter().copied());
    chain(&mut hull, p.iter().rev().copied());
    hull
}

/// The oriented box of `points` (m, any frame with z up), in the same frame.
///
/// Footprint: a rectangle enclosing the xy convex hull with one side on a hull edge (each edge
/// direction is tried: rotating calipers, O(h^2) projections here with h hull vertices). Of
/// those at most `FIT_AREA_TOLERANCE` larger than the smallest, the one whose edges the points
/// lie closest to wins (the sum of each point's distance to its nearest edge; the first edge
/// on ties): the closeness criterion of L-shape fitting. A vehicle seen at a corner is an L of
/// points whose hull is nearly a right triangle, and the smallest rectangle around a right
/// triangle may lie along its hypotenuse (the same area as along its legs): turned by tens of
/// degrees, with the points across its middle. `length_m >= width_m`;
/// `yaw_rad` is the direction of the length side, in `(-pi/2, pi/2]` (a box has no front).
/// z: centre `(z_min + z_max) / 2`, `height_m = z_max - z_min`. Every extent is at least
/// `min_extent_m`. Returns `None` for no points or non-finite ones.
pub fn fit_box(points: &[[f32; 3]], config: &BoxConfig) -> Option<Box3> {
    if points.is_empty() || !points.iter().all(|p| p.iter().all(|c| c.is_finite())) {
        return None;
    }
    let xy: Vec<[f64; 2]> = points
        .iter()
        .map(|p| [f64::from(p[0]), f64::from(p[1])])
        .collect();
    let (z_lo, z_hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(f64::from(p[2])), hi.max(f64::from(p[2])))
        });
    let hull = convex_hull(&xy);
    // Each hull edge's rectangle: (area, angle, u range, v range).
    let mut rects: Vec<(f64, f64, [f64; 2], [f64; 2])> = Vec::with_capacity(hull.len().max(1));
    let n = hull.len();
    let edges = if n >= 2 { n } else { 1 };
    for e in 0..edges {
        let angle = if n >= 2 {
            let (a, b) = (hull[e], hull[(e + 1) % n]);
            (b[1] - a[1]).atan2(b[0] - a[0])
        } else {
            0.0
        };
        let (s, c) = angle.sin_cos();
        let mut u = [f64::INFINITY, f64::NEG_INFINITY];
        let mut v = [f64::INFINITY, f64::NEG_INFINITY];
        for q in &hull {
            let pu = c * q[0] + s * q[1];
            let pv = -s * q[0] + c * q[1];
            u = [u[0].min(pu), u[1].max(pu)];
            v = [v[0].min(pv), v[1].max(pv)];
        }
        rects.push(((u[1] - u[0]) * (v[1] - v[0]), angle, u, v));
    }
    let min_area = rects.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
    // Hull edges along one direction (modulo a quarter turn) give one rectangle: each is a
    // candidate once. With one candidate there is nothing to score; large clusters are scored
    // on an even sample of their points.
    let mut candidates: Vec<(f64, f64, [f64; 2], [f64; 2])> = Vec::new();
    let mut quarters: Vec<f64> = Vec::new();
    for r in rects
        .iter()
        .filter(|r| r.0 <= min_area * (1.0 + FIT_AREA_TOLERANCE))
    {
        let quarter = r.1.rem_euclid(std::f64::consts::FRAC_PI_2);
        if !quarters.iter().any(|&a| {
            let d = (a - quarter).abs();
            d.min(std::f64::consts::FRAC_PI_2 - d) < SAME_DIRECTION_RAD
        }) {
            quarters.push(quarter);
            candidates.push(*r);
        }
    }
    let stride = xy.len().div_ceil(CLOSENESS_MAX_POINTS).max(1);
    let distance_m = |&(_, angle, u, v): &(f64, f64, [f64; 2], [f64; 2])| -> f64 {
        let (s, c) = f64::sin_cos(angle);
        xy.iter()
            .step_by(stride)
            .map(|q| {
                let pu = c * q[0] + s * q[1];
                let pv = -s * q[0] + c * q[1];
                (pu - u[0])
                    .min(u[1] - pu)
                    .min(pv - v[0])
                    .min(v[1] - pv)
                    .max(0.0)
            })
            .sum()
    };
    let best = if candidates.len() <= 1 {
        candidates.first().copied()
    } else {
        candidates
            .iter()
            .map(|r| (distance_m(r), *r))
            .fold(None, |b: Option<(f64, _)>, (d, r)| match b {
                Some((bd, _)) if bd <= d => b,
                _ => Some((d, r)),
            })
            .map(|(_, r)| r)
    };
    let (_, angle, u, v) = best?;
    let (s, c) = angle.sin_cos();
    let (cu, cv) = ((u[0] + u[1]) / 2.0, (v[0] + v[1]) / 2.0);
    let (mut len, mut wid, mut yaw) = (u[1] - u[0], v[1] - v[0], angle);
    if wid > len {
        std::mem::swap(&mut len, &mut wid);
        yaw += std::f64::consts::FRAC_PI_2;
    }
    // Into (-pi/2, pi/2].
    let mut yaw = crate::geometry::wrap_angle_rad(yaw);
    if yaw <= -std::f64::consts::FRAC_PI_2 {
        yaw += std::f64::consts::PI;
    } else if yaw > std::f64::consts::FRAC_PI_2 {
        yaw -= std::f64::consts::PI;
    }
    let m = config.min_extent_m;
    Some(Box3 {
        x_m: c * cu - s * cv,
        y_m: s * cu + c * cv,
        z_m: (z_lo + z_hi) / 2.0,
        yaw_rad: yaw,
        length_m: len.max(m),
        width_m: wid.max(m),
        height_m: (z_hi - z_lo).max(m),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Smallest difference between two box headings, which are equal modulo pi, rad.
    fn yaw_error(a: f64, b: f64) -> f64 {
        let d = (a - b).rem_euclid(std::f64::consts::PI);
        d.min(std::f64::consts::PI - d)
    }

    #[test]
    fn the_f32_order_key_orders_as_total_cmp_and_round_trips() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut v: Vec<f32> = (0..2000)
            .map(|_| f32::from_bits(rng.random::<u32>()))
            .filter(|x| !x.is_nan())
            .collect();
        v.extend([0.0, -0.0, 1.0, -1.0, f32::MIN_POSITIVE, -f32::MIN_POSITIVE]);
        v.extend([
            1e-45,
            -1e-45,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ]);
        for a in &v {
            assert_eq!(f32_from_order_key(f32_order_key(*a)).to_bits(), a.to_bits());
            for b in v.iter().step_by(7) {
                assert_eq!(f32_order_key(*a).cmp(&f32_order_key(*b)), a.total_cmp(b));
            }
        }
        // A hull of f32 points (the packed sort) equals the hull of the same points nudged off
        // f32 (the comparison sort), up to the nudge.
        let pts: Vec<[f64; 2]> = (0..500)
            .map(|_| {
                let (x, y): (f32, f32) = (rng.random_range(-5.0..5.0), rng.random_range(-2.0..2.0));
                [f64::from(x), f64::from(y)]
            })
            .collect();
        let nudged: Vec<[f64; 2]> = pts.iter().map(|q| [q[0] + 1e-12, q[1]]).collect();
        let (a, b) = (monotone_chain(pts), monotone_chain(nudged));
        assert_eq!(a.len(), b.len());
        for (p, q) in a.iter().zip(&b) {
            assert!(
                (p[0] + 1e-12 - q[0]).abs() < 1e-15 && p[1] == q[1],
                "{p:?} {q:?}"
            );
        }
    }

    #[test]
    fn recovers_rotated_rectangles() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for trial in 0..200 {
            let (cx, cy) = (rng.random_range(-50.0..50.0), rng.random_range(-50.0..50.0));
            let yaw: f64 = rng.random_range(-4.0..4.0);
            let (l, w) = (rng.random_range(1.0..6.0f64), rng.random_range(0.4..2.5f64));
            let (l, w) = if l >= w * 1.1 { (l, w) } else { (w * 1.2, w) };
            let (s, c) = yaw.sin_cos();
            let mut pts = Vec::new();
            // Outline points (what a LiDAR sees), plus every corner so the truth is the hull.
            for k in 0..400 {
                let (u, v) = match k % 4 {
                    0 => (rng.random_range(-l / 2.0..l / 2.0), w / 2.0),
                    1 => (rng.random_range(-l / 2.0..l / 2.0), -w / 2.0),
                    2 => (l / 2.0, rng.random_range(-w / 2.0..w / 2.0)),
                    _ => (-l / 2.0, rng.random_range(-w / 2.0..w / 2.0)),
                };
                let u = if k < 4 { [l, -l][k % 2] / 2.0 } else { u };
                let v = if k < 4 { [w, -w][k / 2] / 2.0 } else { v };
                let z = rng.random_range(0.2..1.7);
                pts.push([
                    (cx + c * u - s * v) as f32,
                    (cy + s * u + c * v) as f32,
                    z as f32,
                ]);
            }
            let b = fit_box(&pts, &BoxConfig::default()).unwrap();
            assert!(
                (b.x_m - cx).abs() < 0.02 && (b.y_m - cy).abs() < 0.02,
                "trial {trial}: {b:?}"
            );
            assert!(
                yaw_error(b.yaw_rad, yaw) < 0.01,
                "trial {trial}: yaw {} vs {yaw}",
                b.yaw_rad
            );
            assert!(
                b.yaw_rad > -std::f64::consts::FRAC_PI_2
                    && b.yaw_rad <= std::f64::consts::FRAC_PI_2
            );
            assert!(
                (b.length_m - l).abs() < 0.02 && (b.width_m - w).abs() < 0.02,
                "trial {trial}: {b:?} {l} {w}"
            );
            assert!(b.height_m <= 1.5 + 1e-6 && b.height_m > 1.3);
        }
    }

    /// A van seen at a corner (`urban_intersection` at 9.6 s): its side, 6.3 m, and the near
    /// part of its end, 2.1 m, as beam columns with range noise. The hull is nearly a right
    /// triangle, whose smallest rectangle lies along the hypotenuse (0.32 rad off); the box
    /// lies along the legs, at any heading.
    #[test]
    fn an_l_of_points_is_boxed_along_its_legs() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let (l, w) = (6.3, 2.1);
        for trial in 0..50 {
            let yaw: f64 = rng.random_range(-3.2..3.2);
            let (s, c) = yaw.sin_cos();
            let mut pts = Vec::new();
            for k in 0..=60 {
                let u = -l / 2.0 + l * f64::from(k) / 60.0;
                pts.push((u, -w / 2.0));
            }
            for k in 1..=20 {
                pts.push((-l / 2.0, -w / 2.0 + w * f64::from(k) / 20.0));
            }
            let pts: Vec<[f32; 3]> = pts
                .into_iter()
                .flat_map(|(u, v)| {
                    let (u, v) = (
                        u + rng.random_range(-0.02..0.02),
                        v + rng.random_range(-0.02..0.02),
                    );
                    [0.3, 1.5, 2.5].map(|z| [(c * u - s * v) as f32, (s * u + c * v) as f32, z])
                })
                .collect();
            let b = fit_box(&pts, &BoxConfig::default()).unwrap();
            assert!(
                yaw_error(b.yaw_rad, yaw) < 0.02,
                "trial {trial}: {b:?} vs {yaw}"
            );
            assert!(
                (b.length_m - l).abs() < 0.1 && (b.width_m - w).abs() < 0.1,
                "trial {trial}: {b:?}"
            );
        }
    }

    #[test]
    fn outline_filter_keeps_the_hull() {
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        for trial in 0..300 {
            let n = rng.random_range(33..3000);
            let (cx, cy) = (rng.random_range(-80.0..80.0), rng.random_range(-80.0..80.0));
            let (l, w) = (
                rng.random_range(0.1..40.0f64),
                rng.random_range(0.0..3.0f64),
            );
            let (s, c) = rng.random_range(-4.0..4.0f64).sin_cos();
            // Walls, discs, lines and f32-rounded coordinates (as voxel centroids are).
            let pts: Vec<[f64; 2]> = (0..n)
                .map(|_| {
                    let (u, v) = match trial % 3 {
                        0 => (rng.random_range(-l..=l), rng.random_range(-w..=w)),
                        1 => {
                            let a: f64 = rng.random_range(0.0..std::f64::consts::TAU);
                            let r = l * rng.random_range(0.0..=1.0f64).sqrt();
                            (r * a.cos(), r * a.sin())
                        }
                        _ => (rng.random_range(-l..=l), 0.0),
                    };
                    [
                        f64::from((cx + c * u - s * v) as f32),
                        f64::from((cy + s * u + c * v) as f32),
                    ]
                })
                .collect();
            assert_eq!(
                convex_hull(&pts),
                monotone_chain(pts.clone()),
                "trial {trial}"
            );
        }
    }

    #[test]
    fn degenerate_clusters_get_a_minimum_box() {
        let cfg = BoxConfig::default();
        let one = fit_box(&[[1.0, 2.0, 3.0]], &cfg).unwrap();
        assert_eq!(
            (one.x_m, one.y_m, one.length_m, one.width_m, one.height_m),
            (1.0, 2.0, 0.1, 0.1, 0.1)
        );
        let line: Vec<[f32; 3]> = (0..10).map(|k| [k as f32, k as f32, 0.5]).collect();
        let b = fit_box(&line, &cfg).unwrap();
        assert!((b.length_m - 9.0 * 2f64.sqrt()).abs() < 1e-5 && b.width_m == 0.1);
        assert!((b.yaw_rad - std::f64::consts::FRAC_PI_4).abs() < 1e-9);
        assert!(fit_box(&[], &cfg).is_none());
        assert!(fit_box(&[[f32::NAN, 0.0, 0.0]], &cfg).is_none());
    }
}
