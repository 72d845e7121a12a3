//! Euclidean clustering (connected components under a distance threshold, i.e. single linkage)
//! and a DBSCAN-compatible variant, both on an exact fine cell grid; a `kiddo` k-d tree mode is
//! kept as the textbook reference. Pure: no I/O, no ROS types.
//!
//! Two points are *linked* when their squared distance, computed in `f32` as
//! `dx*dx + dy*dy + dz*dz`, is `<= cluster_tolerance_m^2`. A Euclidean cluster is a connected
//! component of that graph (PCL's `EuclideanClusterExtraction`, scikit-learn's
//! `DBSCAN(eps = tolerance, min_samples = 1)`). Unlike DBSCAN there are no core points: a thin
//! chain of points links two blobs. [`ClusterMode::Dbscan`] gives DBSCAN's core-point rule.
//!
//! Output order is deterministic: clusters are sorted by their smallest point index and each
//! cluster lists its point indices ascending; labels are the positions in that order.

use kiddo::immutable::float::kdtree::ImmutableKdTree;
use kiddo::SquaredEuclidean;

use super::LidarError;

/// k-d tree used here: `f32` coordinates, `u32` items, 3D, buckets of 32.
type Tree = ImmutableKdTree<f32, u32, 3, 32>;

/// Largest accepted `|coordinate| / cell size` before grid keys could overflow.
const MAX_CELL_COORD: f64 = 1.0e9;

/// How clusters are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterMode {
    /// Connected components of the "within tolerance" graph (single linkage) on a grid of
    /// cells of side `tolerance / sqrt(3)`: a cell is one component from the start, and cells
    /// up to 2 apart per axis are linked by their first close pair unless already joined.
    /// Exact: the same partition as [`ClusterMode::EuclideanKdTree`] and the brute-force
    /// oracle, and the fastest on LiDAR clouds (see `benches/cluster.rs`).
    Euclidean,
    /// The same partition as [`ClusterMode::Euclidean`], computed with one `kiddo`
    /// (`ImmutableKdTree`, `SquaredEuclidean`, radius = tolerance squared) query per point: the
    /// textbook algorithm, slower on dense clouds, kept as a reference.
    EuclideanKdTree,
    /// DBSCAN as scikit-learn defines it: a point is *core* when at least `min_samples` points
    /// (itself included) lie within the tolerance; clusters are connected components of core
    /// points; a non-core point within the tolerance of a core point joins the cluster whose
    /// smallest core-point index is smallest (scikit-learn's visiting order); the rest is noise.
    /// Computed on the same grid: a cell with `min_samples` points is all core without counting.
    Dbscan {
        /// Minimum neighbourhood size, the point itself included, for a core point.
        min_samples: usize,
    },
}

/// Clustering parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterConfig {
    /// Link distance, m (the `kiddo` query radius is its square).
    pub cluster_tolerance_m: f32,
    /// Clusters with fewer points are dropped (their points get no label).
    pub min_points: usize,
    /// Clusters with more points are dropped (their points get no label).
    pub max_points: usize,
    /// Connectivity rule.
    pub mode: ClusterMode,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            cluster_tolerance_m: 0.5,
            min_points: 5,
            max_points: 50_000,
            mode: ClusterMode::Euclidean,
        }
    }
}

/// The result of a clustering.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Clustering {
    /// Kept clusters, ordered by smallest point index; each lists point indices ascending.
    pub clusters: Vec<Vec<u32>>,
    /// Per input point, the index of its cluster in `clusters`, or `None` (noise or dropped).
    pub labels: Vec<Option<u32>>,
    /// Components dropped because they had fewer than `min_points` points.
    pub rejected_small: usize,
    /// Components dropped because they had more than `max_points` points.
    pub rejected_large: usize,
}

/// The squared distance used for linking: `dx^2 + dy^2 + dz^2` in `f32`, m^2.
#[inline]
pub fn distance_squared_m2(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    let dx = a[0] - b[0];
    let dy = a[1] - b[1];
    let dz = a[2] - b[2];
    dx * dx + dy * dy + dz * dz
}

/// Union-find with path halving and union by smaller root index (deterministic).
#[derive(Debug, Clone)]
pub(crate) struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
        }
    }

    #[inline]
    pub(crate) fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = self.parent[x as usize];
        }
        x
    }

    /// Points every element straight at its root. One forward pass does it: a parent's index
    /// is never above its child's (roots are the smallest index of their set, and path
    /// halving only moves a parent lower), so a parent is already flat when its child is met.
    pub(crate) fn flatten(&mut self) {
        for i in 0..self.parent.len() {
            let p = self.parent[i] as usize;
            self.parent[i] = self.parent[p];
        }
    }

    /// Joins two distinct roots; returns the new root (the smaller).
    #[inline]
    pub(crate) fn link_roots(&mut self, ra: u32, rb: u32) -> u32 {
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[hi as usize] = lo;
        lo
    }

    /// Joins the sets of `a` and `b`; returns whether they were apart.
    #[inline]
    pub(crate) fn union(&mut self, a: u32, b: u32) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[hi as usize] = lo;
        true
    }
}

fn validate(points: &[[f32; 3]], config: &ClusterConfig) -> Result<(), LidarError> {
    let tol = config.cluster_tolerance_m;
    if !(tol.is_finite() && tol > 0.0) {
        return Err(LidarError::InvalidConfig {
            field: "cluster_tolerance_m",
            value: f64::from(tol),
        });
    }
    if points.len() >= u32::MAX as usize {
        return Err(LidarError::TooManyPoints {
            count: points.len(),
        });
    }
    if let Some(index) = points.iter().position(|p| !p.iter().all(|c| c.is_finite())) {
        return Err(LidarError::NonFinitePoint { index });
    }
    Ok(())
}

/// Clusters `points` (any frame, m) as `config` says.
///
/// Errors: a non-positive or non-finite tolerance, a non-finite point, more than `u32::MAX`
/// points, or (grid modes) a coordinate beyond `1e9` grid cells or a cloud wider than
/// `2^21` cells on one axis.
pub fn cluster(points: &[[f32; 3]], config: &ClusterConfig) -> Result<Clustering, LidarError> {
    cluster_parts(points, config, 1)
}

/// [`cluster`] with the Euclidean grid mode's linking spread over `threads` threads (the
/// calling one included); the same clusters for any count. The other modes use one thread.
pub fn cluster_parts(
    points: &[[f32; 3]],
    config: &ClusterConfig,
    threads: usize,
) -> Result<Clustering, LidarError> {
    validate(points, config)?;
    let n = points.len();
    if n == 0 {
        return Ok(Clustering::default());
    }
    let r2 = config.cluster_tolerance_m * config.cluster_tolerance_m;
    match config.mode {
        ClusterMode::Euclidean => {
            let grid = Grid::build(points, config.cluster_tolerance_m)?;
            Ok(finish(&grid.euclidean_components(r2, threads), config))
        }
        ClusterMode::EuclideanKdTree => {
            let mut uf = UnionFind::new(n);
            if n > 0 {
                let tree = Tree::new_from_slice(points);
                for (i, p) in points.iter().enumerate() {
                    for nb in tree.within_unsorted::<SquaredEuclidean>(p, r2) {
                        if nb.item as usize > i {
                            uf.union(i as u32, nb.item);
                        }
                    }
                }
            }
            let comp: Vec<Option<u32>> = (0..n as u32).map(|i| Some(uf.find(i))).collect();
            Ok(finish(&comp, config))
        }
        ClusterMode::Dbscan { min_samples } => {
            let grid = Grid::build(points, config.cluster_tolerance_m)?;
            Ok(finish(&grid.dbscan_components(r2, min_samples), config))
        }
    }
}

/// Cells of the fine grid are cubes of this side over the tolerance: `1/sqrt(3)`, shrunk by
/// 0.1% so that two points of one cell are within the tolerance even after `f32` rounding.
const CELL_SIDE_PER_TOLERANCE: f64 = 0.577_350_269_189_625_8 * (1.0 - 1.0e-3);
/// Bits per axis of a cell key: a cloud may span `2^21` cells per axis (600 km at 0.5 m).
const AXIS_BITS: u32 = 21;
/// Largest radix sort digit, bits (a 32 KiB count table).
const RADIX_BITS: u32 = 12;
/// Largest z cell index for the bit-mask neighbour sweep (a window of `2 * REACH_CELLS + 1`
/// bits around it must fit in a `u64` after a shift by `REACH_CELLS`): 17 m at 0.5 m.
const MASK_MAX_QZ: u32 = 64 - 2 * REACH_CELLS - 1;
/// Largest size of the dense column table, in entries per point.
const TABLE_ENTRIES_PER_POINT: u64 = 8;
/// Cells at most this many apart on every axis may hold linked points: the tolerance is
/// `sqrt(3)` cell sides (under 2).
const REACH_CELLS: u32 = 2;

/// Which cell pairs a neighbour sweep visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Band {
    /// Every pair of distinct cells at most [`REACH_CELLS`] apart on every axis.
    All,
    /// The pairs at most one cell apart on every axis (the 26-neighbourhood).
    Adjacent,
    /// The other pairs of [`Band::All`]: two cells apart on some axis.
    Outer,
}

/// An exact fine grid over a cloud.
///
/// Cells are cubes of side `tolerance / sqrt(3)` (slightly less), so all points of one cell
/// are linked to each other and a cell is one component from the start; linked points lie at
/// most 2 cells apart per axis. Cells are sorted by key (x, y, z) with a radix sort and grouped
/// in columns (x, y). The 12 neighbour columns of a column are looked up in a dense table of
/// column indices (or, for a cloud too wide for the table, found by 12 sweep pointers over the
/// column keys); inside a column pair, the cells near a height are a window of the column's
/// bit mask of occupied z cells (or, for a cloud over 61 cells tall, a merge over z): O(1) per
/// pair. Linking sweeps the 26-neighbourhood first and the outer cells after, which then
/// mostly belong to the same component already.
struct Grid {
    /// Points in cell order.
    sorted: Vec<[f32; 3]>,
    /// Input index of each sorted point.
    ids: Vec<u32>,
    /// Cells in key order, then a sentinel whose `start` is the number of points.
    cell: Vec<Cell>,
    /// The z cell index of each cell (without the sentinel): the neighbour sweep reads only
    /// this, packed densely.
    qz: Vec<u32>,
    /// Per column, bit `qz` set for each of its cells, when every z cell index is below
    /// [`MASK_MAX_QZ`] (else empty): the neighbour sweep then finds a column's cells near a
    /// height by masking and counting bits instead of scanning.
    col_mask: Vec<u64>,
    /// Column index per `(qx, qy)` at `qx * (max_qy + 1) + qy`, `u32::MAX` where there is no
    /// column, when the table has at most [`TABLE_ENTRIES_PER_POINT`] entries per point (else
    /// empty): the sweep then looks neighbour columns up instead of advancing 12 pointers.
    col_table: Vec<u32>,
    /// Column keys `(qx << y_bits) | qy`, ascending.
    col_keys: Vec<u64>,
    /// Column `k` holds cells `col_starts[k]..col_starts[k + 1]`.
    col_starts: Vec<u32>,
    /// Bits of the y cell index in a column key.
    y_bits: u32,
    /// Largest x and y cell indices.
    max_qx: u64,
    max_qy: u64,
}

/// One grid cell (28 bytes: the data a cell-pair test reads).
#[derive(Debug, Clone, Copy)]
struct Cell {
    /// Bounding box of the cell's points.
    lo: [f32; 3],
    /// See `lo`.
    hi: [f32; 3],
    /// The cell holds sorted points `start..` the next cell's `start`.
    start: u32,
}

impl Cell {
    /// Squared gap between the bounding boxes of two cells, m^2.
    #[inline]
    fn gap2(&self, other: &Cell) -> f32 {
        box_gap2(&self.lo, &self.hi, &other.lo, &other.hi)
    }
}

/// Number of bits needed to hold `v`.
fn bits_for(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Stable LSD radix sort of `items` on the bits `shift0 .. shift0 + key_bits` of `key(item)`.
fn radix_sort_by<T: Copy + Default>(
    items: &mut Vec<T>,
    shift0: u32,
    key_bits: u32,
    key: impl Fn(&T) -> u64,
) {
    let passes = key_bits.div_ceil(RADIX_BITS).max(1);
    let digit_bits = key_bits.div_ceil(passes);
    let buckets = 1usize << digit_bits;
    let mask = (buckets - 1) as u64;
    let mut tmp = vec![T::default(); items.len()];
    let mut count = vec![0usize; buckets + 1];
    let mut shift = shift0;
    while shift < shift0 + key_bits {
        count.iter_mut().for_each(|c| *c = 0);
        for it in items.iter() {
            count[((key(it) >> shift) & mask) as usize + 1] += 1;
        }
        for d in 1..=buckets {
            count[d] += count[d - 1];
        }
        for it in items.iter() {
            let d = ((key(it) >> shift) & mask) as usize;
            tmp[count[d]] = *it;
            count[d] += 1;
        }
        std::mem::swap(items, &mut tmp);
        shift += digit_bits;
    }
}

/// Stable LSD radix sort of `(key, item)` pairs on the low `key_bits` bits of the key.
pub(crate) fn radix_sort(items: &mut Vec<(u64, u32)>, key_bits: u32) {
    radix_sort_by(items, 0, key_bits, |it| it.0);
}

impl Grid {
    fn build(points: &[[f32; 3]], tol_m: f32) -> Result<Self, LidarError> {
        let n = points.len();
        let side = f64::from(tol_m) * CELL_SIDE_PER_TOLERANCE;
        let mut min = [f32::INFINITY; 3];
        let mut max = [f32::NEG_INFINITY; 3];
        for p in points {
            for k in 0..3 {
                min[k] = min[k].min(p[k]);
                max[k] = max[k].max(p[k]);
            }
        }
        let limit = f64::from(1u32 << AXIS_BITS) - 1.0;
        for k in 0..3 {
            let far = f64::from(min[k].abs().max(max[k].abs())) / side;
            let span = (f64::from(max[k]) - f64::from(min[k])) / side;
            if far > MAX_CELL_COORD || span > limit {
                let index = points
                    .iter()
                    .position(|p| p[k] == max[k] || p[k] == min[k])
                    .unwrap_or(0);
                return Err(LidarError::CoordinateOutOfRange { index });
            }
        }
        let inv_side = 1.0 / side;
        let min64 = min.map(f64::from);
        // Offsets from the minimum are >= 0, so truncation is the floor.
        let cell = |p: &[f32; 3], k: usize| ((f64::from(p[k]) - min64[k]) * inv_side) as u64;
        let max_q = [0, 1, 2].map(|k| cell(&max, k));
        let (y_bits, z_bits) = (bits_for(max_q[1]), bits_for(max_q[2]));
        let key_bits = bits_for(max_q[0]) + y_bits + z_bits;
        let key = |p: &[f32; 3]| (((cell(p, 0) << y_bits) | cell(p, 1)) << z_bits) | cell(p, 2);
        let mut grid = if key_bits <= 32 {
            // Key and index packed in one u64: the sort moves half the bytes.
            let mut packed: Vec<u64> = points
                .iter()
                .enumerate()
                .map(|(i, p)| key(p) << 32 | i as u64)
                .collect();
            radix_sort_by(&mut packed, 32, key_bits, |&k| k);
            let keyed = packed.iter().map(|&k| (k >> 32, k as u32));
            Self::from_sorted(points, keyed, y_bits, z_bits, max_q)
        } else {
            let mut keyed: Vec<(u64, u32)> = points
                .iter()
                .enumerate()
                .map(|(i, p)| (key(p), i as u32))
                .collect();
            radix_sort(&mut keyed, key_bits);
            Self::from_sorted(points, keyed.into_iter(), y_bits, z_bits, max_q)
        };
        grid.col_starts.push(grid.cell.len() as u32);
        if max_q[2] <= u64::from(MASK_MAX_QZ) {
            grid.col_mask = grid
                .col_starts
                .windows(2)
                .map(|w| {
                    grid.qz[w[0] as usize..w[1] as usize]
                        .iter()
                        .fold(0u64, |m, &z| m | 1 << z)
                })
                .collect();
        }
        let entries = (max_q[0] + 1).saturating_mul(max_q[1] + 1);
        if entries <= (TABLE_ENTRIES_PER_POINT * n as u64).max(1 << 16) {
            let mut table = vec![u32::MAX; entries as usize];
            let y_mask = (1u64 << y_bits) - 1;
            for (c, &key) in grid.col_keys.iter().enumerate() {
                table[((key >> y_bits) * (max_q[1] + 1) + (key & y_mask)) as usize] = c as u32;
            }
            grid.col_table = table;
        }
        grid.cell.push(Cell {
            lo: [0.0; 3],
            hi: [0.0; 3],
            start: n as u32,
        });
        Ok(grid)
    }

    /// The grid's cells and columns from the points' `(key, index)` pairs in key order (the
    /// column starts without their end, the cells without the sentinel).
    fn from_sorted(
        points: &[[f32; 3]],
        keyed: impl Iterator<Item = (u64, u32)>,
        y_bits: u32,
        z_bits: u32,
        max_q: [u64; 3],
    ) -> Self {
        let n = points.len();
        let z_mask = (1u64 << z_bits) - 1;
        let mut grid = Grid {
            sorted: Vec::with_capacity(n),
            ids: Vec::with_capacity(n),
            cell: Vec::with_capacity(n / 2 + 1),
            qz: Vec::with_capacity(n / 2 + 1),
            col_mask: Vec::new(),
            col_table: Vec::new(),
            col_keys: Vec::new(),
            col_starts: Vec::new(),
            y_bits,
            max_qx: max_q[0],
            max_qy: max_q[1],
        };
        let mut last_key = None;
        for (j, (key, i)) in keyed.enumerate() {
            let p = points[i as usize];
            grid.sorted.push(p);
            grid.ids.push(i);
            if last_key == Some(key) {
                if let Some(c) = grid.cell.last_mut() {
                    for ((lo, hi), v) in c.lo.iter_mut().zip(c.hi.iter_mut()).zip(p) {
                        *lo = lo.min(v);
                        *hi = hi.max(v);
                    }
                }
                continue;
            }
            last_key = Some(key);
            let col = key >> z_bits;
            if grid.col_keys.last() != Some(&col) {
                grid.col_keys.push(col);
                grid.col_starts.push(grid.cell.len() as u32);
            }
            grid.cell.push(Cell {
                lo: p,
                hi: p,
                start: j as u32,
            });
            grid.qz.push((key & z_mask) as u32);
        }
        grid
    }

    fn cells(&self) -> usize {
        self.cell.len() - 1
    }

    fn range(&self, c: usize) -> std::ops::Range<usize> {
        self.cell[c].start as usize..self.cell[c + 1].start as usize
    }

    /// Calls `f(a, b)` once for every unordered pair of distinct cells at most
    /// [`REACH_CELLS`] apart on every axis.
    fn for_each_neighbour_pair(&self, f: impl FnMut(usize, usize)) {
        self.for_each_neighbour_pair_in(0..self.col_keys.len(), Band::All, f);
    }

    /// The bands to sweep for all pairs: adjacent then outer where the bit-mask sweep makes a
    /// second sweep cheap, else all at once.
    fn bands(&self) -> &'static [Band] {
        if self.col_mask.is_empty() {
            &[Band::All]
        } else {
            &[Band::Adjacent, Band::Outer]
        }
    }

    /// [`Self::for_each_neighbour_pair`] for the pairs of `band` whose first cell lies in the
    /// columns `cols` (the second lies in the same column or a later one). Without the bit
    /// masks only [`Band::All`] may be asked for.
    fn for_each_neighbour_pair_in(
        &self,
        cols_in: std::ops::Range<usize>,
        band: Band,
        mut f: impl FnMut(usize, usize),
    ) {
        let reach = i64::from(REACH_CELLS);
        // Per column offset, the z window of the band: bit `k` for `dz = k - 2`.
        let window_bits = |dx: i64, dy: i64| -> u64 {
            let adjacent = dx.abs() <= 1 && dy.abs() <= 1;
            match (band, adjacent) {
                (Band::All, _) => 0b11111,
                (Band::Adjacent, true) => 0b01110,
                (Band::Adjacent, false) => 0,
                (Band::Outer, true) => 0b10001,
                (Band::Outer, false) => 0b11111,
            }
        };
        let mut offsets: Vec<(i64, i64, u64)> = Vec::new();
        for dx in -reach..=reach {
            for dy in -reach..=reach {
                if (dx > 0 || (dx == 0 && dy > 0)) && window_bits(dx, dy) != 0 {
                    offsets.push((dx, dy, window_bits(dx, dy)));
                }
            }
        }
        // The same column: only cells above (bits 3 and 4).
        let same_bits = window_bits(0, 0) & 0b11000;
        let cols = self.col_keys.len();
        let y_mask = (1u64 << self.y_bits) - 1;
        // Each sweep pointer starts at or before its first target (a key never decreases).
        let cursor_start = |dx: i64, dy: i64| match self.col_keys.get(cols_in.start) {
            Some(&key) => {
                let (qx, qy) = ((key >> self.y_bits) as i64, (key & y_mask) as i64);
                let (tx, ty) = (qx + dx, (qy + dy).max(0));
                if tx < 0 {
                    0
                } else {
                    let target = ((tx as u64) << self.y_bits) | ty as u64;
                    self.col_keys.partition_point(|&k| k < target)
                }
            }
            None => cols,
        };
        let mut cursor: Vec<usize> = offsets
            .iter()
            .map(|&(dx, dy, _)| cursor_start(dx, dy))
            .collect();
        // The neighbour columns of the current column.
        let mut near_cols: Vec<(usize, u64)> = Vec::with_capacity(offsets.len());
        // Per neighbour column, while scanning: (first candidate cell, end).
        let mut near: Vec<(usize, usize)> = Vec::with_capacity(offsets.len());
        for ca in cols_in.start..cols_in.end.min(cols) {
            let (a0, a1) = (
                self.col_starts[ca] as usize,
                self.col_starts[ca + 1] as usize,
            );
            let key = self.col_keys[ca];
            let (qx, qy) = ((key >> self.y_bits) as i64, (key & y_mask) as i64);
            near_cols.clear();
            for (&(dx, dy, bits), cur) in offsets.iter().zip(cursor.iter_mut()) {
                let (tx, ty) = (qx + dx, qy + dy);
                if tx < 0 || ty < 0 || tx as u64 > self.max_qx || ty as u64 > self.max_qy {
                    continue;
                }
                if !self.col_table.is_empty() {
                    let c = self.col_table[(tx as u64 * (self.max_qy + 1) + ty as u64) as usize];
                    if c != u32::MAX {
                        near_cols.push((c as usize, bits));
                    }
                    continue;
                }
                let target = ((tx as u64) << self.y_bits) | ty as u64;
                while *cur < cols && self.col_keys[*cur] < target {
                    *cur += 1;
                }
                if *cur < cols && self.col_keys[*cur] == target {
                    near_cols.push((*cur, bits));
                }
            }
            if !self.col_mask.is_empty() {
                // The cells of column `c` within `REACH_CELLS` of height `z`, ascending: a
                // window of the column's mask; a cell's index is its column's start plus the
                // number of cells below it.
                let window = |c: usize, z: u32| (self.col_mask[c] << REACH_CELLS) >> z & 0x1f;
                let rank = |c: usize, zb: u32| {
                    self.col_starts[c] as usize
                        + (self.col_mask[c] & ((1u64 << zb) - 1)).count_ones() as usize
                };
                for a in a0..a1 {
                    let z = self.qz[a];
                    // The same column: cells above.
                    let mut m = window(ca, z) & same_bits;
                    while m != 0 {
                        let zb = z + m.trailing_zeros() - REACH_CELLS;
                        f(a, rank(ca, zb));
                        m &= m - 1;
                    }
                    for &(cb, bits) in &near_cols {
                        let mut m = window(cb, z) & bits;
                        while m != 0 {
                            let zb = z + m.trailing_zeros() - REACH_CELLS;
                            f(a, rank(cb, zb));
                            m &= m - 1;
                        }
                    }
                }
                continue;
            }
            debug_assert_eq!(band, Band::All, "bands need the bit masks");
            near.clear();
            near.extend(
                near_cols
                    .iter()
                    .map(|&(c, _)| (self.col_starts[c] as usize, self.col_starts[c + 1] as usize)),
            );
            for a in a0..a1 {
                let z = self.qz[a];
                // The same column: later cells up to `reach` above.
                for b in a + 1..a1 {
                    if self.qz[b] > z + REACH_CELLS {
                        break;
                    }
                    f(a, b);
                }
                for (first, end) in near.iter_mut() {
                    while *first < *end && self.qz[*first] + REACH_CELLS < z {
                        *first += 1;
                    }
                    for b in *first..*end {
                        if self.qz[b] > z + REACH_CELLS {
                            break;
                        }
                        f(a, b);
                    }
                }
            }
        }
    }

    /// Whether some point of cell `a` accepted by `in_a` is within `r2` of some point of cell
    /// `b` accepted by `in_b` (sorted slots are passed to the filters).
    fn cells_linked(
        &self,
        a: usize,
        b: usize,
        r2: f32,
        in_a: impl Fn(usize) -> bool,
        in_b: impl Fn(usize) -> bool,
    ) -> bool {
        if self.cell[a].gap2(&self.cell[b]) > r2 {
            return false;
        }
        for i in self.range(a).filter(|&i| in_a(i)) {
            let p = &self.sorted[i];
            if box_gap2(p, p, &self.cell[b].lo, &self.cell[b].hi) > r2 {
                continue;
            }
            if self
                .range(b)
                .any(|j| in_b(j) && distance_squared_m2(p, &self.sorted[j]) <= r2)
            {
                return true;
            }
        }
        false
    }

    /// Single-linkage components: per input point, a component id (< n).
    ///
    /// With `parts > 1` the columns are cut into `parts` runs of about equal cell counts, each
    /// linked on its own thread with its own union-find; a pair reaching into a later run is
    /// tested there and its link kept, and the links join the runs' sets at the end. The
    /// components are those of one run over everything (the same graph).
    fn euclidean_components(&self, r2: f32, parts: usize) -> Vec<Option<u32>> {
        let cols = self.col_keys.len();
        let cells = self.cells();
        let mut bounds = vec![0usize];
        for k in 1..parts.max(1) {
            let target = cells * k / parts;
            let c = self.col_starts[..cols].partition_point(|&s| (s as usize) < target);
            let last = bounds.last().copied().unwrap_or(0);
            bounds.push(c.clamp(last, cols));
        }
        bounds.push(cols);
        let runs: Vec<std::ops::Range<usize>> = bounds
            .windows(2)
            .filter(|w| w[0] < w[1])
            .map(|w| w[0]..w[1])
            .collect();
        let linked = super::par_map(runs, |run| {
            let lo = self.col_starts[run.start] as usize;
            let hi = self.col_starts[run.end] as usize;
            let mut uf = UnionFind::new(hi - lo);
            let mut cross: Vec<(u32, u32)> = Vec::new();
            // Pairs come grouped by their first cell: its root is kept across the group.
            // With two bands the adjacent one first: it forms most components, so that most
            // pairs of the outer band are then found joined already, without a box test.
            for &band in self.bands() {
                let (mut cur, mut root) = (usize::MAX, 0u32);
                self.for_each_neighbour_pair_in(run.clone(), band, |a, b| {
                    if b >= hi {
                        if self.cells_linked(a, b, r2, |_| true, |_| true) {
                            cross.push((a as u32, b as u32));
                        }
                        return;
                    }
                    if a != cur {
                        (cur, root) = (a, uf.find((a - lo) as u32));
                    }
                    let rb = uf.find((b - lo) as u32);
                    if rb != root && self.cells_linked(a, b, r2, |_| true, |_| true) {
                        root = uf.link_roots(root, rb);
                    }
                });
                // The next band's finds then take a step or two.
                uf.flatten();
            }
            (lo, uf, cross)
        });
        let mut cross: Vec<(u32, u32)> = Vec::new();
        let mut uf = UnionFind { parent: Vec::new() };
        for (lo, run, links) in linked {
            if lo == 0 {
                uf = run; // the first run's sets as they are (no copy with one thread)
            } else {
                uf.parent.extend(run.parent.iter().map(|p| p + lo as u32));
            }
            cross.extend(links);
        }
        for (a, b) in cross {
            uf.union(a, b);
        }
        let mut comp = vec![None; self.sorted.len()];
        for c in 0..self.cells() {
            let root = uf.find(c as u32);
            for s in self.range(c) {
                comp[self.ids[s] as usize] = Some(root);
            }
        }
        comp
    }

    /// DBSCAN components as [`ClusterMode::Dbscan`] defines them: per input point the smallest
    /// core index of its cluster, `None` for noise.
    fn dbscan_components(&self, r2: f32, min_samples: usize) -> Vec<Option<u32>> {
        let n = self.sorted.len();
        let cells = self.cells();
        let size = |c: usize| self.range(c).len();
        // Neighbourhood sizes; a cell with `min_samples` points makes all of them core.
        let full: Vec<bool> = (0..cells).map(|c| size(c) >= min_samples).collect();
        let mut count: Vec<usize> = vec![0; n];
        for c in 0..cells {
            for s in self.range(c) {
                count[s] = size(c);
            }
        }
        // Counting stops at `min_samples`: only "is core" matters.
        let add_close = |count: &mut [usize], from: usize, to: usize| {
            for i in self.range(from) {
                if count[i] >= min_samples {
                    continue;
                }
                let p = &self.sorted[i];
                if box_gap2(p, p, &self.cell[to].lo, &self.cell[to].hi) > r2 {
                    continue;
                }
                for j in self.range(to) {
                    if distance_squared_m2(p, &self.sorted[j]) <= r2 {
                        count[i] += 1;
                        if count[i] >= min_samples {
                            break;
                        }
                    }
                }
            }
        };
        self.for_each_neighbour_pair(|a, b| {
            if (full[a] && full[b]) || self.cell[a].gap2(&self.cell[b]) > r2 {
                return;
            }
            if !full[a] {
                add_close(&mut count, a, b);
            }
            if !full[b] {
                add_close(&mut count, b, a);
            }
        });
        let core: Vec<bool> = count.iter().map(|&c| c >= min_samples).collect();
        let has_core: Vec<bool> = (0..cells).map(|c| self.range(c).any(|s| core[s])).collect();
        let all_core: Vec<bool> = (0..cells).map(|c| self.range(c).all(|s| core[s])).collect();
        // Core points of a cell are one component; link cells through core pairs.
        let mut uf = UnionFind::new(cells);
        self.for_each_neighbour_pair(|a, b| {
            if has_core[a]
                && has_core[b]
                && uf.find(a as u32) != uf.find(b as u32)
                && self.cells_linked(a, b, r2, |s| core[s], |s| core[s])
            {
                uf.union(a as u32, b as u32);
            }
        });
        // Each component is named by its smallest core point index (scikit-learn's order).
        let mut min_core = vec![u32::MAX; cells];
        for c in 0..cells {
            let root = uf.find(c as u32) as usize;
            for s in self.range(c).filter(|&s| core[s]) {
                min_core[root] = min_core[root].min(self.ids[s]);
            }
        }
        let mut label: Vec<Option<u32>> = vec![None; n];
        for c in 0..cells {
            let name = has_core[c].then(|| min_core[uf.find(c as u32) as usize]);
            for s in self.range(c) {
                label[s] = name;
            }
        }
        // Border points join the neighbouring cluster with the smallest name.
        let offer = |label: &mut Vec<Option<u32>>, slot: usize, name: u32| {
            label[slot] = Some(label[slot].map_or(name, |l| l.min(name)));
        };
        self.for_each_neighbour_pair(|a, b| {
            if !(has_core[a] || has_core[b])
                || (all_core[a] && all_core[b])
                || self.cell[a].gap2(&self.cell[b]) > r2
            {
                return;
            }
            let name_a = min_core[uf.find(a as u32) as usize];
            let name_b = min_core[uf.find(b as u32) as usize];
            for i in self.range(a) {
                for j in self.range(b) {
                    if core[i] != core[j]
                        && distance_squared_m2(&self.sorted[i], &self.sorted[j]) <= r2
                    {
                        if core[i] {
                            offer(&mut label, j, name_a);
                        } else {
                            offer(&mut label, i, name_b);
                        }
                    }
                }
            }
        });
        let mut comp = vec![None; n];
        for (s, l) in label.into_iter().enumerate() {
            comp[self.ids[s] as usize] = l;
        }
        comp
    }
}

/// Squared gap between two axis-aligned boxes (0 when they overlap), m^2.
#[inline]
fn box_gap2(alo: &[f32; 3], ahi: &[f32; 3], blo: &[f32; 3], bhi: &[f32; 3]) -> f32 {
    let mut g = 0.0;
    for k in 0..3 {
        let d = (blo[k] - ahi[k]).max(alo[k] - bhi[k]).max(0.0);
        g += d * d;
    }
    g
}

/// Turns per-point component ids into ordered, filtered clusters.
fn finish(comp: &[Option<u32>], config: &ClusterConfig) -> Clustering {
    let n = comp.len();
    // Component ids are point indices; map each to a dense slot in first-seen order, which is
    // the order of smallest point index.
    let mut slot = vec![u32::MAX; n];
    let mut sizes: Vec<usize> = Vec::new();
    for c in comp.iter().flatten() {
        let s = &mut slot[*c as usize];
        if *s == u32::MAX {
            *s = sizes.len() as u32;
            sizes.push(0);
        }
        sizes[*s as usize] += 1;
    }
    let mut label_of_slot = vec![None; sizes.len()];
    let mut out = Clustering {
        labels: vec![None; n],
        ..Clustering::default()
    };
    for (s, &size) in sizes.iter().enumerate() {
        if size < config.min_points {
            out.rejected_small += 1;
        } else if size > config.max_points {
            out.rejected_large += 1;
        } else {
            label_of_slot[s] = Some(out.clusters.len() as u32);
            out.clusters.push(Vec::with_capacity(size));
        }
    }
    for (i, c) in comp.iter().enumerate() {
        if let Some(c) = c {
            if let Some(l) = label_of_slot[slot[*c as usize] as usize] {
                out.labels[i] = Some(l);
                out.clusters[l as usize].push(i as u32);
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::collections::BTreeSet;

    /// Brute-force oracle: union-find over all pairs, O(n^2).
    fn oracle_euclidean(
        points: &[[f32; 3]],
        tol: f32,
        min_pts: usize,
        max_pts: usize,
    ) -> BTreeSet<Vec<u32>> {
        let n = points.len();
        let mut uf = UnionFind::new(n);
        for i in 0..n {
            for j in i + 1..n {
                if distance_squared_m2(&points[i], &points[j]) <= tol * tol {
                    uf.union(i as u32, j as u32);
                }
            }
        }
        let mut groups: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
        for i in 0..n as u32 {
            groups.entry(uf.find(i)).or_default().push(i);
        }
        groups
            .into_values()
            .filter(|g| g.len() >= min_pts && g.len() <= max_pts)
            .collect()
    }

    /// Brute-force DBSCAN following scikit-learn's loop literally (visit in index order, BFS).
    fn oracle_dbscan(points: &[[f32; 3]], tol: f32, min_samples: usize) -> Vec<Option<u32>> {
        let n = points.len();
        let nbrs: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                (0..n)
                    .filter(|&j| distance_squared_m2(&points[i], &points[j]) <= tol * tol)
                    .collect()
            })
            .collect();
        let core: Vec<bool> = nbrs.iter().map(|v| v.len() >= min_samples).collect();
        let mut labels: Vec<Option<u32>> = vec![None; n];
        let mut next = 0;
        for i in 0..n {
            if labels[i].is_some() || !core[i] {
                continue;
            }
            let mut stack = vec![i];
            labels[i] = Some(next);
            while let Some(p) = stack.pop() {
                if !core[p] {
                    continue;
                }
                for &q in &nbrs[p] {
                    if labels[q].is_none() {
                        labels[q] = Some(next);
                        stack.push(q);
                    }
                }
            }
            next += 1;
        }
        labels
    }

    fn as_set(c: &Clustering) -> BTreeSet<Vec<u32>> {
        c.clusters.iter().cloned().collect()
    }

    fn random_cloud(rng: &mut ChaCha8Rng, n: usize, extent: f32) -> Vec<[f32; 3]> {
        (0..n)
            .map(|_| {
                [
                    rng.random_range(-extent..extent),
                    rng.random_range(-extent..extent),
                    rng.random_range(0.0..2.0),
                ]
            })
            .collect()
    }

    /// Objects (dense blobs and boxes) plus sparse clutter, like a ground-removed scan.
    pub(crate) fn scene(
        rng: &mut ChaCha8Rng,
        objects: usize,
        per_object: usize,
        clutter: usize,
    ) -> Vec<[f32; 3]> {
        let mut pts = Vec::new();
        for _ in 0..objects {
            let cx = rng.random_range(-40.0..40.0f32);
            let cy = rng.random_range(-40.0..40.0f32);
            let (l, w, h) = (
                rng.random_range(0.5..5.0f32),
                rng.random_range(0.5..2.5f32),
                rng.random_range(0.5..2.0f32),
            );
            for _ in 0..per_object {
                pts.push([
                    cx + rng.random_range(-l / 2.0..l / 2.0),
                    cy + rng.random_range(-w / 2.0..w / 2.0),
                    rng.random_range(0.2..h),
                ]);
            }
        }
        pts.extend(random_cloud(rng, clutter, 50.0));
        pts
    }

    fn all_modes_match_oracle(points: &[[f32; 3]], tol: f32, min_pts: usize, max_pts: usize) {
        let want = oracle_euclidean(points, tol, min_pts, max_pts);
        for mode in [
            ClusterMode::Euclidean,
            ClusterMode::EuclideanKdTree,
            ClusterMode::Dbscan { min_samples: 1 },
        ] {
            let cfg = ClusterConfig {
                cluster_tolerance_m: tol,
                min_points: min_pts,
                max_points: max_pts,
                mode,
            };
            let got = cluster(points, &cfg).unwrap();
            assert_eq!(
                as_set(&got),
                want,
                "mode {mode:?} tol {tol} n {}",
                points.len()
            );
            // Linked in parallel runs of columns: the same clusters in the same order.
            for threads in [2, 3, 5] {
                let par = cluster_parts(points, &cfg, threads).unwrap();
                assert_eq!(par, got, "mode {mode:?} threads {threads}");
            }
            // Labels agree with the cluster lists, clusters are ordered by smallest index.
            for (l, c) in got.clusters.iter().enumerate() {
                assert!(c.windows(2).all(|w| w[0] < w[1]));
                assert!(c.iter().all(|&i| got.labels[i as usize] == Some(l as u32)));
            }
            assert!(got.clusters.windows(2).all(|w| w[0][0] < w[1][0]));
        }
    }

    #[test]
    fn one_pass_flattens_the_union_find() {
        let mut rng = ChaCha8Rng::seed_from_u64(29);
        let n = 2000u32;
        let mut uf = UnionFind::new(n as usize);
        for _ in 0..1500 {
            let (a, b) = (rng.random_range(0..n), rng.random_range(0..n));
            uf.union(a, b);
            // Interleaved finds halve paths, as the linking does.
            uf.find(rng.random_range(0..n));
        }
        let roots: Vec<u32> = (0..n).map(|i| uf.clone().find(i)).collect();
        uf.flatten();
        for (i, &root) in roots.iter().enumerate() {
            assert_eq!(uf.parent[i], root, "element {i}");
            assert_eq!(uf.parent[root as usize], root, "root of {i}");
        }
    }

    #[test]
    fn random_clouds_match_bruteforce_oracle() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for trial in 0..30 {
            let n = rng.random_range(0..900);
            let extent = rng.random_range(1.0..15.0);
            let tol = rng.random_range(0.05..1.5);
            let pts = random_cloud(&mut rng, n, extent);
            all_modes_match_oracle(&pts, tol, 1 + trial % 4, 10_000);
        }
    }

    #[test]
    fn clustered_scenes_match_bruteforce_oracle_with_size_filters() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..6 {
            let pts = scene(&mut rng, 25, 80, 600);
            all_modes_match_oracle(&pts, 0.5, 5, 70);
            all_modes_match_oracle(&pts, 0.3, 1, usize::MAX);
        }
    }

    #[test]
    fn the_bit_mask_and_scanning_sweeps_and_both_key_widths_match_the_oracle() {
        // Low clouds take the bit-mask sweep, clouds over 61 z cells tall the scanning one.
        let mut rng = ChaCha8Rng::seed_from_u64(19);
        for (height_m, masked) in [(2.0f32, true), (30.0, false)] {
            let pts: Vec<[f32; 3]> = (0..1500)
                .map(|_| {
                    [
                        rng.random_range(-6.0..6.0),
                        rng.random_range(-6.0..6.0),
                        rng.random_range(0.0..height_m),
                    ]
                })
                .collect();
            let grid = Grid::build(&pts, 0.4).unwrap();
            assert_eq!(!grid.col_mask.is_empty(), masked, "height {height_m}");
            all_modes_match_oracle(&pts, 0.4, 1, usize::MAX);
            all_modes_match_oracle(&pts, 0.4, 3, 400);
        }
        // Keys of more than 32 bits (a 3 km wide cloud in 6 cm cells) take the unpacked sort.
        let pts: Vec<[f32; 3]> = (0..1200)
            .map(|k| {
                let c = (k / 40) as f32 * 100.0;
                [
                    c + rng.random_range(0.0..0.6),
                    c + rng.random_range(0.0..0.6),
                    rng.random_range(0.0..1.0),
                ]
            })
            .collect();
        let grid = Grid::build(&pts, 0.1).unwrap();
        let bits = [
            grid.max_qx,
            grid.max_qy,
            grid.qz.iter().copied().max().unwrap().into(),
        ]
        .map(bits_for);
        assert!(bits.iter().sum::<u32>() > 32, "{bits:?}");
        // Its column table would be too large: the sweep advances pointers instead.
        assert!(grid.col_table.is_empty());
        all_modes_match_oracle(&pts, 0.1, 1, usize::MAX);
    }

    #[test]
    fn lattice_ties_on_the_tolerance_are_linked() {
        // Points spaced exactly by the tolerance (0.5 is exact in binary): all linked.
        let pts: Vec<[f32; 3]> = (0..20).map(|i| [i as f32 * 0.5, 0.0, 0.0]).collect();
        all_modes_match_oracle(&pts, 0.5, 1, 100);
        let c = cluster(
            &pts,
            &ClusterConfig {
                min_points: 1,
                ..ClusterConfig::default()
            },
        )
        .unwrap();
        assert_eq!(c.clusters.len(), 1);
    }

    #[test]
    fn dbscan_matches_sklearn_order_oracle() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for trial in 0..12 {
            let pts = if trial % 2 == 0 {
                scene(&mut rng, 10, 30, 300)
            } else {
                random_cloud(&mut rng, 500, 4.0)
            };
            let tol = 0.4;
            let min_samples = 2 + trial % 5;
            let want = oracle_dbscan(&pts, tol, min_samples);
            let cfg = ClusterConfig {
                cluster_tolerance_m: tol,
                min_points: 1,
                max_points: usize::MAX,
                mode: ClusterMode::Dbscan { min_samples },
            };
            let got = cluster(&pts, &cfg).unwrap();
            // Same partition and same noise (labels may be numbered differently).
            let mut groups: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
            for (i, l) in want.iter().enumerate() {
                if let Some(l) = l {
                    groups.entry(*l).or_default().push(i as u32);
                }
            }
            let want_set: BTreeSet<Vec<u32>> = groups.into_values().collect();
            assert_eq!(as_set(&got), want_set, "trial {trial}");
            let noise = |v: &[Option<u32>]| v.iter().map(Option::is_none).collect::<Vec<_>>();
            assert_eq!(noise(&got.labels), noise(&want), "trial {trial}");
            assert!(!want_set.is_empty());
        }
    }

    #[test]
    fn dense_cells_far_coordinates_and_dbscan_min_samples_match_oracles() {
        // Dense blobs (many points per cell), an offset far from the origin and negative
        // coordinates, against both brute-force oracles.
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        for trial in 0..4 {
            let offset = [-5000.0f32, 3000.0, -2.0];
            let mut pts = scene(&mut rng, 12, 150, 400);
            for p in &mut pts {
                for k in 0..3 {
                    p[k] = p[k] * 0.3 + offset[k];
                }
            }
            let tol = [0.2, 0.35, 0.5, 0.9][trial];
            all_modes_match_oracle(&pts, tol, 2, 1000);
            for min_samples in [1usize, 3, 8, 30] {
                let want = oracle_dbscan(&pts, tol, min_samples);
                let got = cluster(
                    &pts,
                    &ClusterConfig {
                        cluster_tolerance_m: tol,
                        min_points: 1,
                        max_points: usize::MAX,
                        mode: ClusterMode::Dbscan { min_samples },
                    },
                )
                .unwrap();
                let noise = |v: &[Option<u32>]| v.iter().map(Option::is_none).collect::<Vec<_>>();
                assert_eq!(noise(&got.labels), noise(&want), "trial {trial}");
                let mut groups: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
                for (i, l) in want.iter().enumerate() {
                    if let Some(l) = l {
                        groups.entry(*l).or_default().push(i as u32);
                    }
                }
                let want_set: BTreeSet<Vec<u32>> = groups.into_values().collect();
                assert_eq!(
                    as_set(&got),
                    want_set,
                    "trial {trial} min_samples {min_samples}"
                );
            }
        }
    }

    #[test]
    fn chain_links_blobs_in_euclidean_but_not_in_dbscan() {
        let mut pts: Vec<[f32; 3]> = Vec::new();
        for k in 0..10 {
            pts.push([0.01 * k as f32, 0.0, 0.0]);
            pts.push([3.0 + 0.01 * k as f32, 0.0, 0.0]);
        }
        for k in 1..6 {
            pts.push([0.5 * k as f32, 0.0, 0.0]); // sparse bridge
        }
        let e = cluster(
            &pts,
            &ClusterConfig {
                cluster_tolerance_m: 0.55,
                min_points: 1,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(e.clusters.len(), 1);
        let d = cluster(
            &pts,
            &ClusterConfig {
                cluster_tolerance_m: 0.55,
                min_points: 1,
                max_points: usize::MAX,
                mode: ClusterMode::Dbscan { min_samples: 5 },
            },
        )
        .unwrap();
        assert_eq!(d.clusters.len(), 2);
    }

    #[test]
    fn bad_input_is_an_error() {
        let pts = [[0.0, 0.0, 0.0], [f32::NAN, 0.0, 0.0]];
        assert!(matches!(
            cluster(&pts, &ClusterConfig::default()),
            Err(LidarError::NonFinitePoint { index: 1 })
        ));
        let cfg = ClusterConfig {
            cluster_tolerance_m: 0.0,
            ..Default::default()
        };
        assert!(cluster(&pts[..1], &cfg).is_err());
        let far = [[1.0e12, 0.0, 0.0]];
        assert!(matches!(
            cluster(&far, &ClusterConfig::default()),
            Err(LidarError::CoordinateOutOfRange { .. })
        ));
        assert!(cluster(&[], &ClusterConfig::default())
            .unwrap()
            .clusters
            .is_empty());
    }

    #[test]
    fn deterministic() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let pts = scene(&mut rng, 40, 200, 2000);
        let a = cluster(&pts, &ClusterConfig::default()).unwrap();
        let b = cluster(&pts, &ClusterConfig::default()).unwrap();
        assert_eq!(a, b);
    }
}
