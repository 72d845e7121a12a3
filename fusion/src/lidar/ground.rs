//! Ground removal on a polar grid, walked outward per sector with a slope limit.

use super::LidarError;

/// Ground-removal parameters. Points are in `base_link` (z up, ground near z = 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundConfig {
    /// A point is ground when `z <= ground_z(cell) + ground_tolerance_m`, m.
    pub ground_tolerance_m: f32,
    /// Angular width of a sector, rad.
    pub sector_width_rad: f32,
    /// Radial length of a ring cell, m.
    pub ring_length_m: f32,
    /// Number of rings; points beyond `ring_count * ring_length_m` use the last ring.
    pub ring_count: usize,
    /// Largest ground rise accepted from one ring to the next, as a slope (m per m).
    pub max_slope: f32,
    /// Largest accepted ground rise between neighbouring rings regardless of slope (kerbs), m.
    pub max_step_m: f32,
    /// The ground height assumed at the vehicle (ring 0 start), m.
    pub origin_ground_z_m: f32,
}

impl Default for GroundConfig {
    fn default() -> Self {
        Self {
            ground_tolerance_m: 0.2,
            sector_width_rad: 1.0_f32.to_radians(),
            ring_length_m: 1.0,
            ring_count: 120,
            max_slope: 0.1,
            max_step_m: 0.2,
            origin_ground_z_m: 0.0,
        }
    }
}

/// Ground classification of a cloud.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroundSplit {
    /// `true` for ground points, per input point.
    pub is_ground: Vec<bool>,
    /// Points classified ground (including `below_ground`).
    pub ground_count: usize,
    /// Of those, points more than `max_step_m` below the local ground (noise, multipath).
    pub below_ground: usize,
}

/// Classifies each point (in `base_link`, m) as ground or not.
///
/// The plane is cut into sectors of `sector_width_rad` and rings of `ring_length_m`. Each sector
/// is walked outward from `origin_ground_z_m`: a cell's ground height is its lowest point `z_min`
/// among points no lower than `g_prev - max_step_m`, accepted when
/// `z_min <= g_prev + max(max_slope * ring_length_m, max_step_m)` (a kerb or a slope), otherwise
/// (an object fills the cell, or the cell is empty) the previous height carries on. A point is
/// ground when `z <= g_cell + ground_tolerance_m`; points below `g_prev - max_step_m` count as
/// ground too (`below_ground`). Non-finite points are an error.
pub fn remove_ground(
    points: &[[f32; 3]],
    config: &GroundConfig,
) -> Result<GroundSplit, LidarError> {
    for (field, v) in [
        ("ground_tolerance_m", config.ground_tolerance_m),
        ("sector_width_rad", config.sector_width_rad),
        ("ring_length_m", config.ring_length_m),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(LidarError::InvalidConfig {
                field,
                value: f64::from(v),
            });
        }
    }
    if config.ring_count == 0 {
        return Err(LidarError::InvalidConfig {
            field: "ring_count",
            value: 0.0,
        });
    }
    if let Some(index) = points.iter().position(|p| !p.iter().all(|c| c.is_finite())) {
        return Err(LidarError::NonFinitePoint { index });
    }
    let sectors = ((std::f32::consts::TAU / config.sector_width_rad).ceil() as usize).max(1);
    let rings = config.ring_count;
    let cells = sectors * rings;
    // Counting sort of point indices by cell (sector-major, ring-minor): stable, deterministic.
    let cell_of: Vec<u32> = points
        .iter()
        .map(|p| {
            let a = p[1].atan2(p[0]) + std::f32::consts::PI; // [0, 2pi]
            let s = ((a / std::f32::consts::TAU * sectors as f32) as usize).min(sectors - 1);
            let r = (p[0].hypot(p[1]) / config.ring_length_m) as usize;
            (s * rings + r.min(rings - 1)) as u32
        })
        .collect();
    let mut start = vec![0u32; cells + 1];
    for &c in &cell_of {
        start[c as usize + 1] += 1;
    }
    for c in 0..cells {
        start[c + 1] += start[c];
    }
    let mut fill = start.clone();
    let mut order = vec![0u32; points.len()];
    for (i, &c) in cell_of.iter().enumerate() {
        order[fill[c as usize] as usize] = i as u32;
        fill[c as usize] += 1;
    }
    let rise = (config.max_slope * config.ring_length_m).max(config.max_step_m);
    let mut out = GroundSplit {
        is_ground: vec![false; points.len()],
        ..GroundSplit::default()
    };
    for s in 0..sectors {
        let mut g = config.origin_ground_z_m;
        for r in 0..rings {
            let c = s * rings + r;
            let idx = &order[start[c] as usize..start[c + 1] as usize];
            let floor = g - config.max_step_m;
            let z_min = idx
                .iter()
                .map(|&i| points[i as usize][2])
                .filter(|&z| z >= floor)
                .fold(f32::INFINITY, f32::min);
            if z_min <= g + rise {
                g = z_min;
            }
            for &i in idx {
                let z = points[i as usize][2];
                if z < floor {
                    out.is_ground[i as usize] = true;
                    out.below_ground += 1;
                } else if z <= g + config.ground_tolerance_m {
                    out.is_ground[i as usize] = true;
                }
            }
        }
    }
    out.ground_count = out.is_ground.iter().filter(|g| **g).count();
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn road_with_kerb_slope_and_objects() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut pts = Vec::new();
        let mut truth = Vec::new();
        // Ground: road |y| < 6 at z = 0 (+-3 cm noise), kerb 15 cm up to a pavement beyond,
        // and a 4% uphill for x > 30.
        let ground_z = |x: f32, y: f32| -> f32 {
            let road = if y.abs() > 6.0 { 0.15 } else { 0.0 };
            road + if x > 30.0 { 0.04 * (x - 30.0) } else { 0.0 }
        };
        for _ in 0..40_000 {
            let (x, y) = (
                rng.random_range(-60.0..60.0f32),
                rng.random_range(-15.0..15.0f32),
            );
            pts.push([x, y, ground_z(x, y) + rng.random_range(-0.03..0.03)]);
            truth.push(true);
        }
        // Objects: cars 1.9 m wide, 1.5 m high, points from 0.3 m up (the body above the wheels).
        for k in 0..12 {
            let (cx, cy) = (-50.0 + 9.0 * k as f32, if k % 2 == 0 { 3.0 } else { -9.0 });
            for _ in 0..800 {
                let (x, y) = (
                    cx + rng.random_range(-2.2..2.2f32),
                    cy + rng.random_range(-0.95..0.95f32),
                );
                pts.push([x, y, ground_z(x, y) + rng.random_range(0.3..1.5)]);
                truth.push(false);
            }
        }
        // Two multipath points far below the road.
        pts.push([10.0, 1.0, -3.0]);
        truth.push(true);
        pts.push([-10.0, 1.0, -2.0]);
        truth.push(true);
        let split = remove_ground(&pts, &GroundConfig::default()).unwrap();
        let ground_ok = pts
            .iter()
            .zip(&truth)
            .zip(&split.is_ground)
            .filter(|((_, t), g)| **t && **g)
            .count();
        let object_ok = pts
            .iter()
            .zip(&truth)
            .zip(&split.is_ground)
            .filter(|((_, t), g)| !**t && !**g)
            .count();
        let n_ground = truth.iter().filter(|t| **t).count();
        let n_obj = truth.len() - n_ground;
        assert!(
            ground_ok as f64 >= 0.99 * n_ground as f64,
            "ground kept {ground_ok}/{n_ground}"
        );
        assert!(
            object_ok as f64 >= 0.97 * n_obj as f64,
            "objects kept {object_ok}/{n_obj}"
        );
        assert_eq!(split.below_ground, 2);
        assert_eq!(
            split.ground_count,
            split.is_ground.iter().filter(|g| **g).count()
        );
    }

    #[test]
    fn object_filling_a_cell_is_not_ground() {
        // A wall 1 m high from 0.4 m up, and no ground points under it.
        let pts: Vec<[f32; 3]> = (0..100)
            .map(|k| [10.5, -0.5 + 0.01 * k as f32, 0.4 + 0.01 * (k % 10) as f32])
            .collect();
        let split = remove_ground(&pts, &GroundConfig::default()).unwrap();
        assert_eq!(split.ground_count, 0);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(remove_ground(&[[f32::NAN, 0.0, 0.0]], &GroundConfig::default()).is_err());
        let cfg = GroundConfig {
            ground_tolerance_m: -1.0,
            ..Default::default()
        };
        assert!(remove_ground(&[], &cfg).is_err());
    }
}
