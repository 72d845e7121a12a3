//! Planar rigid-body geometry in the ground plane (x forward/east, y left/north, yaw CCW).

/// The difference between two box headings, which are equal modulo pi: `angle_rad` taken to
/// `[-pi/2, pi/2]` (modulo pi), in radians.
pub fn wrap_half_turn_rad(angle_rad: f64) -> f64 {
    let pi = std::f64::consts::PI;
    angle_rad - pi * (angle_rad / pi).round()
}

/// Wraps an angle to `(-pi, pi]`, in radians.
pub fn wrap_angle_rad(angle_rad: f64) -> f64 {
    let two_pi = std::f64::consts::TAU;
    let a = (angle_rad + std::f64::consts::PI).rem_euclid(two_pi) - std::f64::consts::PI;
    if a <= -std::f64::consts::PI {
        a + two_pi
    } else {
        a
    }
}

/// The span of the rectangle centred at `centre` with heading `yaw_rad` and half extents
/// `half` (along and across its heading) as seen from `view`: its corners' lowest and highest
/// bearings relative to `reference_rad` (rad, each in `(-pi, pi]`) and its nearest corner's
/// range (m); `None` when the span reaches half a turn (a rectangle around `view`, or one on
/// the far side of the reference bearing).
pub fn footprint_span(
    centre: [f64; 2],
    yaw_rad: f64,
    half: [f64; 2],
    view: [f64; 2],
    reference_rad: f64,
) -> Option<(f64, f64, f64)> {
    let (s, c) = yaw_rad.sin_cos();
    let (hl, hw) = (half[0], half[1]);
    let (mut lo, mut hi, mut near) = (f64::MAX, f64::MIN, f64::MAX);
    for (u, v) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
        let x = centre[0] + u * hl * c - v * hw * s - view[0];
        let y = centre[1] + u * hl * s + v * hw * c - view[1];
        let rel = wrap_angle_rad(y.atan2(x) - reference_rad);
        lo = lo.min(rel);
        hi = hi.max(rel);
        near = near.min(x.hypot(y));
    }
    (hi - lo < std::f64::consts::PI).then_some((lo, hi, near))
}

/// The largest separation (m) of two rectangles (corners `a` with heading `yaw_a`, corners `b`
/// with heading `yaw_b`) along the four axes of their sides: 0 when they overlap, otherwise a
/// lower bound of their distance, exact when the nearest features face each other
/// (separating-axis theorem).
pub fn rect_gap_m(a: &[[f64; 2]; 4], yaw_a: f64, b: &[[f64; 2]; 4], yaw_b: f64) -> f64 {
    let mut gap = 0.0_f64;
    for yaw in [yaw_a, yaw_b] {
        for axis in [yaw, yaw + std::f64::consts::FRAC_PI_2] {
            let (s, c) = axis.sin_cos();
            let span = |r: &[[f64; 2]; 4]| {
                r.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
                    let v = c * p[0] + s * p[1];
                    (lo.min(v), hi.max(v))
                })
            };
            let ((alo, ahi), (blo, bhi)) = (span(a), span(b));
            gap = gap.max(blo - ahi).max(alo - bhi);
        }
    }
    gap
}

/// Where the ray from `origin` along the unit vector `dir` enters and leaves the rectangle
/// centred at `centre` with heading `yaw_rad` and half extents `half` (along and across its
/// heading), as distances along the ray (the entry negative when `origin` is inside); `None`
/// when the ray misses it or it lies wholly behind `origin`.
pub fn ray_rect_interval(
    origin: [f64; 2],
    dir: [f64; 2],
    centre: [f64; 2],
    yaw_rad: f64,
    half: [f64; 2],
) -> Option<(f64, f64)> {
    let (s, c) = yaw_rad.sin_cos();
    let (px, py) = (origin[0] - centre[0], origin[1] - centre[1]);
    // The ray in the rectangle's axes: origin o, direction d.
    let o = [c * px + s * py, -s * px + c * py];
    let d = [c * dir[0] + s * dir[1], -s * dir[0] + c * dir[1]];
    let (mut enter, mut exit) = (f64::MIN, f64::MAX);
    for k in 0..2 {
        if d[k].abs() < 1e-12 {
            if o[k].abs() > half[k] {
                return None;
            }
        } else {
            let (a, b) = ((-half[k] - o[k]) / d[k], (half[k] - o[k]) / d[k]);
            enter = enter.max(a.min(b));
            exit = exit.min(a.max(b));
        }
    }
    (enter <= exit && exit > 0.0).then_some((enter, exit))
}

/// A planar pose `parent_from_child`: position of the child's origin in the parent frame (m)
/// and the child's heading (rad).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pose2 {
    /// x of the child origin in the parent frame, metres.
    pub x_m: f64,
    /// y of the child origin in the parent frame, metres.
    pub y_m: f64,
    /// Heading of the child x axis in the parent frame, radians CCW.
    pub yaw_rad: f64,
}

impl Pose2 {
    /// A pose from its parts.
    pub fn new(x_m: f64, y_m: f64, yaw_rad: f64) -> Self {
        Self { x_m, y_m, yaw_rad }
    }

    /// Maps a point from the child frame to the parent frame:
    /// `p_parent = R(yaw) p_child + t`.
    pub fn transform_point(&self, x_m: f64, y_m: f64) -> (f64, f64) {
        let (s, c) = self.yaw_rad.sin_cos();
        (self.x_m + c * x_m - s * y_m, self.y_m + s * x_m + c * y_m)
    }

    /// Maps a point from the parent frame into the child frame: `R(yaw)^T (p - t)`.
    pub fn inverse_transform_point(&self, x_m: f64, y_m: f64) -> (f64, f64) {
        let (s, c) = self.yaw_rad.sin_cos();
        let (dx, dy) = (x_m - self.x_m, y_m - self.y_m);
        (c * dx + s * dy, -s * dx + c * dy)
    }

    /// Composition `a_from_c = a_from_b * b_from_c` (self is `a_from_b`).
    pub fn compose(&self, b_from_c: &Pose2) -> Pose2 {
        let (x, y) = self.transform_point(b_from_c.x_m, b_from_c.y_m);
        Pose2::new(x, y, wrap_angle_rad(self.yaw_rad + b_from_c.yaw_rad))
    }

    /// The inverse pose `child_from_parent`.
    pub fn inverse(&self) -> Pose2 {
        let (x, y) = self.inverse_transform_point(0.0, 0.0);
        Pose2::new(x, y, wrap_angle_rad(-self.yaw_rad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprint_span_is_the_corners_bearings_and_the_nearest_corner() {
        // A 2 x 2 square at (5, 0) seen from the origin.
        let Some((lo, hi, near)) = footprint_span([5.0, 0.0], 0.0, [1.0, 1.0], [0.0, 0.0], 0.0)
        else {
            panic!("span")
        };
        assert!((lo + 0.25f64.atan()).abs() < 1e-12 && (hi - 0.25f64.atan()).abs() < 1e-12);
        assert!((near - 17f64.sqrt()).abs() < 1e-12);
        // Relative to a reference bearing of 0.1 rad.
        let r = footprint_span([5.0, 0.0], 0.0, [1.0, 1.0], [0.0, 0.0], 0.1);
        assert!(
            r.is_some_and(|(l, h, _)| (l - lo + 0.1).abs() < 1e-12 && (h - hi + 0.1).abs() < 1e-12)
        );
        // A footprint around the viewpoint spans the whole turn.
        assert!(footprint_span([0.0, 0.0], 0.3, [2.0, 1.0], [0.5, 0.2], 0.0).is_none());
    }

    #[test]
    fn ray_rect_interval_enters_and_leaves() {
        let close =
            |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9;
        // Along +x through a 2 x 2 square at (5, 0).
        let r = ray_rect_interval([0.0, 0.0], [1.0, 0.0], [5.0, 0.0], 0.0, [1.0, 1.0]);
        assert!(r.is_some_and(|r| close(r, (4.0, 6.0))), "{r:?}");
        // The same square turned 45 degrees: its corners on the axis.
        let h = std::f64::consts::SQRT_2;
        let r = ray_rect_interval(
            [0.0, 0.0],
            [1.0, 0.0],
            [5.0, 0.0],
            0.25 * std::f64::consts::PI,
            [1.0, 1.0],
        );
        assert!(r.is_some_and(|r| close(r, (5.0 - h, 5.0 + h))), "{r:?}");
        // From inside: the entry is behind the origin.
        let r = ray_rect_interval([5.0, 0.0], [0.0, 1.0], [5.0, 0.0], 0.0, [1.0, 2.0]);
        assert!(r.is_some_and(|r| close(r, (-2.0, 2.0))), "{r:?}");
        // Missing it, parallel to a side outside it, and with it behind the origin.
        assert!(ray_rect_interval([0.0, 0.0], [0.0, 1.0], [5.0, 0.0], 0.0, [1.0, 1.0]).is_none());
        assert!(ray_rect_interval([0.0, 3.0], [1.0, 0.0], [5.0, 0.0], 0.0, [1.0, 1.0]).is_none());
        assert!(ray_rect_interval([0.0, 0.0], [-1.0, 0.0], [5.0, 0.0], 0.0, [1.0, 1.0]).is_none());
    }

    /// The separating-axis gap against a brute-force oracle (the smallest distance between
    /// points sampled densely on both outlines): never above it, equal to it (to the sampling
    /// step) when parallel sides face each other, 0 when the rectangles overlap.
    #[test]
    fn rect_gap_is_a_lower_bound_of_the_distance() {
        let corners = |c: [f64; 2], yaw: f64, half: [f64; 2]| {
            let (s, k) = yaw.sin_cos();
            [(1.0, 1.0), (1.0, -1.0), (-1.0, -1.0), (-1.0, 1.0)].map(|(u, v): (f64, f64)| {
                [
                    c[0] + u * half[0] * k - v * half[1] * s,
                    c[1] + u * half[0] * s + v * half[1] * k,
                ]
            })
        };
        let outline = |r: &[[f64; 2]; 4]| {
            let mut pts = Vec::new();
            for e in 0..4 {
                let (a, b) = (r[e], r[(e + 1) % 4]);
                for i in 0..400 {
                    let t = f64::from(i) / 400.0;
                    pts.push([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]);
                }
            }
            pts
        };
        let brute = |a: &[[f64; 2]; 4], b: &[[f64; 2]; 4]| {
            let (pa, pb) = (outline(a), outline(b));
            pa.iter()
                .flat_map(|p| pb.iter().map(move |q| (p[0] - q[0]).hypot(p[1] - q[1])))
                .fold(f64::MAX, f64::min)
        };
        // Parallel sides facing each other, 1.2 m apart.
        let a = corners([0.0, 0.0], 0.3, [2.0, 0.5]);
        let (s, c) = 0.3f64.sin_cos();
        let b = corners([-s * 2.2, c * 2.2], 0.3, [1.5, 0.5]);
        let gap = rect_gap_m(&a, 0.3, &b, 0.3);
        assert!((gap - 1.2).abs() < 1e-9, "{gap}");
        assert!((brute(&a, &b) - gap).abs() < 0.01);
        // Overlapping.
        let o = corners([1.0, 0.3], 1.0, [1.0, 1.0]);
        assert_eq!(rect_gap_m(&a, 0.3, &o, 1.0), 0.0);
        // Turned against each other, in several places: a lower bound.
        for k in 0..12 {
            let t = f64::from(k) * 0.5;
            let r = corners([4.0 * t.cos(), 4.0 * t.sin()], 0.7 * t, [1.0, 0.4]);
            let gap = rect_gap_m(&a, 0.3, &r, 0.7 * t);
            assert!(gap <= brute(&a, &r) + 1e-9, "{k}: {gap}");
        }
    }

    #[test]
    fn wrap_stays_in_range() {
        for k in -20..20 {
            let a = 0.37 + f64::from(k) * std::f64::consts::PI;
            let w = wrap_angle_rad(a);
            assert!(
                w > -std::f64::consts::PI && w <= std::f64::consts::PI,
                "{a} -> {w}"
            );
            assert!(
                ((a - w) / std::f64::consts::TAU).fract().abs() < 1e-9
                    || ((a - w) / std::f64::consts::TAU).fract().abs() > 1.0 - 1e-9
            );
        }
    }

    #[test]
    fn compose_with_inverse_is_identity() {
        let p = Pose2::new(3.0, -2.0, 0.7);
        let i = p.compose(&p.inverse());
        assert!(i.x_m.abs() < 1e-12 && i.y_m.abs() < 1e-12 && i.yaw_rad.abs() < 1e-12);
        let (x, y) =
            p.inverse_transform_point(p.transform_point(1.5, 4.0).0, p.transform_point(1.5, 4.0).1);
        assert!((x - 1.5).abs() < 1e-12 && (y - 4.0).abs() < 1e-12);
    }
}
