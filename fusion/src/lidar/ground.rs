//! Ground removal on a polar grid, walked outward per sector with a slope limit.

use super::{atan2_approx_f32, bin_away_from_edge, LidarError};

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
    let grid = PolarGrid::new(config)?;
    if let Some(index) = points.iter().position(|p| !p.iter().all(|c| c.is_finite())) {
        return Err(LidarError::NonFinitePoint { index });
    }
    let cells: Vec<u32> = points.iter().map(|p| grid.cell_of(p[0], p[1])).collect();
    Ok(classify(points, &cells, &grid, config))
}

/// Up to this many bins the `f32` rounding of the exact bin formulas stays well inside
/// `BIN_EDGE_MARGIN`; beyond it the exact formula is used throughout.
const MAX_FAST_BINS: usize = 1024;

/// The polar grid of a [`GroundConfig`]: sector-major, ring-minor cell indices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PolarGrid {
    sectors: usize,
    rings: usize,
    ring_length_m: f32,
    /// `sectors / 2pi`, for the fast path.
    sectors_per_rad: f32,
    /// `1 / ring_length_m`, for the fast path.
    rings_per_m: f32,
}

impl PolarGrid {
    /// The grid of `config`; errors for an invalid configuration.
    pub(crate) fn new(config: &GroundConfig) -> Result<Self, LidarError> {
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
        let sectors = ((std::f32::consts::TAU / config.sector_width_rad).ceil() as usize).max(1);
        Ok(Self {
            sectors,
            rings: config.ring_count,
            ring_length_m: config.ring_length_m,
            sectors_per_rad: sectors as f32 / std::f32::consts::TAU,
            rings_per_m: 1.0 / config.ring_length_m,
        })
    }

    /// Number of cells.
    pub(crate) fn cells(&self) -> usize {
        self.sectors * self.rings
    }

    /// The cell of a finite point `(x, y)`, m: sector
    /// `floor((atan2(y, x) + pi) / 2pi * sectors)` and ring `floor(hypot(x, y) / ring_length)`,
    /// both evaluated in `f32` exactly as written (the last sector and ring take everything
    /// beyond). A fast `f32` approximation picks the bins; values within
    /// `BIN_EDGE_MARGIN` of a bin edge are recomputed with the exact `f32` formula, so the
    /// result is the exact formula's.
    #[inline]
    pub(crate) fn cell_of(&self, x: f32, y: f32) -> u32 {
        (self.sector_of(x, y) * self.rings + self.ring_of(x, y)) as u32
    }

    /// Appends `self.cell_of(x, y)` for every (finite) point to `cells`. Batched: the fast
    /// approximations of a batch are computed first without branches (a loop the compiler
    /// vectorises), then each is checked against the bin edges as in [`Self::cell_of`].
    pub(crate) fn cells_of(&self, points: &[[f32; 3]], cells: &mut Vec<u32>) {
        const BATCH: usize = 256;
        let mut sector_v = [0.0f32; BATCH];
        let mut ring_v = [0.0f32; BATCH];
        let fast_sectors = self.sectors <= MAX_FAST_BINS;
        cells.reserve(points.len());
        for chunk in points.chunks(BATCH) {
            for ((p, s), r) in chunk.iter().zip(&mut sector_v).zip(&mut ring_v) {
                (*s, *r) = self.cell_estimate(p[0], p[1]);
            }
            for ((p, &s), &r) in chunk.iter().zip(&sector_v).zip(&ring_v) {
                let (x, y) = (p[0], p[1]);
                let (s, r) = (f64::from(s), f64::from(r));
                let sector = if !fast_sectors || (x == 0.0 && y == 0.0) {
                    self.sector_exact(x, y)
                } else {
                    match bin_away_from_edge(s) {
                        Some(b) => b.min(self.sectors - 1),
                        None => self.sector_exact(x, y),
                    }
                };
                let fast_ring = if r < MAX_FAST_BINS as f64 {
                    bin_away_from_edge(r)
                } else {
                    None
                };
                let ring = fast_ring
                    .unwrap_or_else(|| (x.hypot(y) / self.ring_length_m) as usize)
                    .min(self.rings - 1);
                cells.push((sector * self.rings + ring) as u32);
            }
        }
    }

    /// The fast estimates of the sector and the ring of `(x, y)` as real numbers (their floors
    /// are the bins away from the edges): `f32` throughout, so that a loop over points
    /// vectorises four wide (converting to `f64` in the same loop is slower: 1.5 times as long
    /// for the health monitor's sectors);
    /// within 3e-4 of a bin up to [`MAX_FAST_BINS`] bins, far inside `BIN_EDGE_MARGIN`.
    /// Branch-free.
    #[inline]
    fn cell_estimate(&self, x: f32, y: f32) -> (f32, f32) {
        let sector = (atan2_approx_f32(y, x) + std::f32::consts::PI) * self.sectors_per_rad;
        let ring = (x * x + y * y).sqrt() * self.rings_per_m;
        (sector, ring)
    }

    fn sector_exact(&self, x: f32, y: f32) -> usize {
        let a = y.atan2(x) + std::f32::consts::PI; // [0, 2pi]
        ((a / std::f32::consts::TAU * self.sectors as f32) as usize).min(self.sectors - 1)
    }

    #[inline]
    fn sector_of(&self, x: f32, y: f32) -> usize {
        if (x == 0.0 && y == 0.0) || self.sectors > MAX_FAST_BINS {
            return self.sector_exact(x, y);
        }
        match bin_away_from_edge(f64::from(self.cell_estimate(x, y).0)) {
            Some(s) => s.min(self.sectors - 1),
            None => self.sector_exact(x, y),
        }
    }

    #[inline]
    fn ring_of(&self, x: f32, y: f32) -> usize {
        let v = f64::from(self.cell_estimate(x, y).1);
        let fast = if v < MAX_FAST_BINS as f64 {
            bin_away_from_edge(v)
        } else {
            None
        };
        fast.unwrap_or_else(|| (x.hypot(y) / self.ring_length_m) as usize)
            .min(self.rings - 1)
    }
}

/// Per-cell walk state: the lowest point of the cell, its count, and (after the walk) the
/// floor and the ground threshold of the cell.
#[derive(Debug, Clone, Copy)]
struct CellState {
    z_min_m: f32,
    count: u32,
    floor_m: f32,
    ground_below_m: f32,
}

/// [`remove_ground`] on points whose cells (`grid.cell_of`) are known; the points are finite.
pub(crate) fn classify(
    points: &[[f32; 3]],
    cells: &[u32],
    grid: &PolarGrid,
    config: &GroundConfig,
) -> GroundSplit {
    let mut model = GroundModel::new(grid);
    model.accumulate(points, cells);
    model.walk(grid, config, &[(points, cells)]);
    let mut out = GroundSplit {
        is_ground: Vec::with_capacity(points.len()),
        ..GroundSplit::default()
    };
    for (p, &c) in points.iter().zip(cells) {
        let (ground, below) = model.classify(c, p[2]);
        out.below_ground += usize::from(below);
        out.is_ground.push(ground);
    }
    out.ground_count = out.is_ground.iter().filter(|g| **g).count();
    out
}

/// The ground walk in steps, so that a cloud cut in parts can be classified part by part:
/// every part [`GroundModel::accumulate`]s into its own model, the models are
/// [`GroundModel::merge`]d, the merged one [`GroundModel::walk`]s, and then classifies any
/// point of any part. The result is [`classify`]'s on the whole cloud.
#[derive(Debug, Clone)]
pub(crate) struct GroundModel {
    state: Vec<CellState>,
}

impl GroundModel {
    pub(crate) fn new(grid: &PolarGrid) -> Self {
        Self {
            state: vec![
                CellState {
                    z_min_m: f32::INFINITY,
                    count: 0,
                    floor_m: f32::NEG_INFINITY,
                    ground_below_m: f32::NEG_INFINITY,
                };
                grid.cells()
            ],
        }
    }

    /// Adds the points (with their cells) to the per-cell lowest heights and counts.
    pub(crate) fn accumulate(&mut self, points: &[[f32; 3]], cells: &[u32]) {
        for (p, &c) in points.iter().zip(cells) {
            let st = &mut self.state[c as usize];
            st.z_min_m = st.z_min_m.min(p[2]);
            st.count += 1;
        }
    }

    /// Adds another part's heights and counts (both models of the same grid, not walked).
    pub(crate) fn merge(&mut self, other: &GroundModel) {
        for (a, b) in self.state.iter_mut().zip(&other.state) {
            a.z_min_m = a.z_min_m.min(b.z_min_m);
            a.count += b.count;
        }
    }

    /// Walks every sector outward; `parts` are all the points accumulated, with their cells
    /// (read only when some cell holds a point below its floor).
    pub(crate) fn walk(
        &mut self,
        grid: &PolarGrid,
        config: &GroundConfig,
        parts: &[(&[[f32; 3]], &[u32])],
    ) {
        let state = &mut self.state;
        // The points of each cell, built only when some cell holds a point below its floor (then
        // the lowest point at or above the floor needs the cell's points).
        let mut buckets: Option<(Vec<u32>, Vec<f32>)> = None;
        let rise = (config.max_slope * config.ring_length_m).max(config.max_step_m);
        for s in 0..grid.sectors {
            let mut g = config.origin_ground_z_m;
            for r in 0..grid.rings {
                let c = s * grid.rings + r;
                let floor = g - config.max_step_m;
                let st = state[c];
                let z_min = if st.count == 0 || st.z_min_m >= floor {
                    st.z_min_m
                } else {
                    let (start, zs) = buckets.get_or_insert_with(|| bucket_z(parts, state));
                    zs[start[c] as usize..start[c + 1] as usize]
                        .iter()
                        .copied()
                        .filter(|&z| z >= floor)
                        .fold(f32::INFINITY, f32::min)
                };
                if z_min <= g + rise {
                    g = z_min;
                }
                state[c].floor_m = floor;
                state[c].ground_below_m = g + config.ground_tolerance_m;
            }
        }
    }

    /// After the walk: whether a point of height `z_m` in `cell` is ground, and whether it is
    /// below the cell's floor (counted as ground).
    #[inline]
    pub(crate) fn classify(&self, cell: u32, z_m: f32) -> (bool, bool) {
        let st = &self.state[cell as usize];
        if z_m < st.floor_m {
            (true, true)
        } else {
            (z_m <= st.ground_below_m, false)
        }
    }
}

/// Counting sort of the points' heights by cell: cell `c` holds `z[start[c]..start[c + 1]]`.
fn bucket_z(parts: &[(&[[f32; 3]], &[u32])], state: &[CellState]) -> (Vec<u32>, Vec<f32>) {
    let mut start = vec![0u32; state.len() + 1];
    for (c, st) in state.iter().enumerate() {
        start[c + 1] = start[c] + st.count;
    }
    let mut fill = start.clone();
    let mut zs = vec![0.0f32; start[state.len()] as usize];
    for (points, cells) in parts {
        for (p, &c) in points.iter().zip(cells.iter()) {
            zs[fill[c as usize] as usize] = p[2];
            fill[c as usize] += 1;
        }
    }
    (start, zs)
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
