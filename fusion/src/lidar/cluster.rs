//! Euclidean clustering (connected components under a distance threshold, i.e. single linkage)
//! and a DBSCAN-compatible variant. The fast path is an exact cell grid; the reference and the
//! DBSCAN modes query a `kiddo` k-d tree.
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
    /// Connected components of the "within tolerance" graph (single linkage) on a sorted
    /// grid of cells of side `tolerance` (pairs tested only within a cell and with its 26
    /// neighbours). Exact: the same partition as [`ClusterMode::EuclideanKdTree`] and the
    /// brute-force oracle, and the fastest on LiDAR clouds (see `benches/cluster.rs`).
    Euclidean,
    /// The same partition as [`ClusterMode::Euclidean`], computed with one `kiddo`
    /// (`ImmutableKdTree`, `SquaredEuclidean`, radius = tolerance squared) query per point: the
    /// textbook algorithm, slower on dense clouds, kept as a reference.
    EuclideanKdTree,
    /// DBSCAN as scikit-learn defines it: a point is *core* when at least `min_samples` points
    /// (itself included) lie within the tolerance; clusters are connected components of core
    /// points; a non-core point within the tolerance of a core point joins the cluster whose
    /// smallest core-point index is smallest (scikit-learn's visiting order); the rest is noise.
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
/// points, or (grid mode) a coordinate beyond `1e9` grid cells.
pub fn cluster(points: &[[f32; 3]], config: &ClusterConfig) -> Result<Clustering, LidarError> {
    validate(points, config)?;
    let n = points.len();
    let r2 = config.cluster_tolerance_m * config.cluster_tolerance_m;
    match config.mode {
        ClusterMode::Euclidean => {
            let mut uf = UnionFind::new(n);
            grid_components(points, config.cluster_tolerance_m, &mut uf)?;
            let comp: Vec<Option<u32>> = (0..n as u32).map(|i| Some(uf.find(i))).collect();
            Ok(finish(&comp, config))
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
            Ok(finish(&dbscan_components(points, r2, min_samples), config))
        }
    }
}

/// DBSCAN components: per point the representative (smallest core index) of its cluster.
fn dbscan_components(points: &[[f32; 3]], r2: f32, min_samples: usize) -> Vec<Option<u32>> {
    let n = points.len();
    if n == 0 {
        return Vec::new();
    }
    let tree = Tree::new_from_slice(points);
    let core: Vec<bool> = points
        .iter()
        .map(|p| tree.within_unsorted::<SquaredEuclidean>(p, r2).len() >= min_samples)
        .collect();
    let mut uf = UnionFind::new(n);
    for (i, p) in points.iter().enumerate() {
        if core[i] {
            for nb in tree.within_unsorted::<SquaredEuclidean>(p, r2) {
                if nb.item as usize > i && core[nb.item as usize] {
                    uf.union(i as u32, nb.item);
                }
            }
        }
    }
    // Union by smaller root index makes each root the smallest core index of its component,
    // which is the order in which scikit-learn discovers clusters.
    let mut comp = vec![None; n];
    for (i, p) in points.iter().enumerate() {
        if core[i] {
            comp[i] = Some(uf.find(i as u32));
        } else {
            let mut best: Option<u32> = None;
            for nb in tree.within_unsorted::<SquaredEuclidean>(p, r2) {
                if core[nb.item as usize] {
                    let root = uf.find(nb.item);
                    best = Some(best.map_or(root, |b| b.min(root)));
                }
            }
            comp[i] = best;
        }
    }
    comp
}

/// Links all points into `uf` by the exact grid method.
///
/// Cells are cubes of side `tolerance`, so linked points lie in the same or in one of the 26
/// adjacent cells. Cells are sorted by key; for every cell, all point pairs inside it are
/// tested, then the pairs with each of its 13 "forward" neighbours (found by 13 sweep pointers
/// over the sorted keys, O(1) amortised). A cell pair is skipped when the boxes around their
/// points are more than the tolerance apart, or when both cells are already one component
/// each and the same one; when both are single components the test stops at the first link.
fn grid_components(points: &[[f32; 3]], tol_m: f32, uf: &mut UnionFind) -> Result<(), LidarError> {
    let n = points.len();
    if n == 0 {
        return Ok(());
    }
    let r2 = tol_m * tol_m;
    let side = f64::from(tol_m);
    let mut keyed: Vec<([i32; 3], u32)> = Vec::with_capacity(n);
    for (i, p) in points.iter().enumerate() {
        let mut key = [0i32; 3];
        for (k, c) in key.iter_mut().zip(p) {
            let q = (f64::from(*c) / side).floor();
            if q.abs() > MAX_CELL_COORD {
                return Err(LidarError::CoordinateOutOfRange { index: i });
            }
            *k = q as i32;
        }
        keyed.push((key, i as u32));
    }
    keyed.sort_unstable();
    let sorted: Vec<[f32; 3]> = keyed.iter().map(|&(_, i)| points[i as usize]).collect();
    let ids: Vec<u32> = keyed.iter().map(|&(_, i)| i).collect();
    let mut keys: Vec<[i32; 3]> = Vec::new();
    let mut starts: Vec<usize> = Vec::new();
    let mut lo: Vec<[f32; 3]> = Vec::new();
    let mut hi: Vec<[f32; 3]> = Vec::new();
    for (j, (&(key, _), p)) in keyed.iter().zip(&sorted).enumerate() {
        if keys.last() != Some(&key) {
            keys.push(key);
            starts.push(j);
            lo.push(*p);
            hi.push(*p);
        } else {
            let c = keys.len() - 1;
            for k in 0..3 {
                lo[c][k] = lo[c][k].min(p[k]);
                hi[c][k] = hi[c][k].max(p[k]);
            }
        }
    }
    starts.push(n);
    let cells = keys.len();
    // Inside each cell: all pairs. `single[c]`: all points of cell c are one component.
    let mut single = vec![false; cells];
    for c in 0..cells {
        let (c0, c1) = (starts[c], starts[c + 1]);
        for i in c0..c1 {
            for j in i + 1..c1 {
                if distance_squared_m2(&sorted[i], &sorted[j]) <= r2 {
                    uf.union(ids[i], ids[j]);
                }
            }
        }
        let root = uf.find(ids[c0]);
        single[c] = (c0 + 1..c1).all(|i| uf.find(ids[i]) == root);
    }
    // The 13 neighbour offsets that come after (0, 0, 0) in key order.
    let mut offsets: Vec<[i32; 3]> = Vec::with_capacity(13);
    for dx in -1..=1 {
        for dy in -1..=1 {
            for dz in -1..=1 {
                if [dx, dy, dz] > [0, 0, 0] {
                    offsets.push([dx, dy, dz]);
                }
            }
        }
    }
    let mut cursor = vec![0usize; offsets.len()];
    for a in 0..cells {
        let ka = keys[a];
        for (off, cur) in offsets.iter().zip(cursor.iter_mut()) {
            let target = [
                ka[0].saturating_add(off[0]),
                ka[1].saturating_add(off[1]),
                ka[2].saturating_add(off[2]),
            ];
            while *cur < cells && keys[*cur] < target {
                *cur += 1;
            }
            if *cur >= cells || keys[*cur] != target {
                continue;
            }
            let b = *cur;
            if box_gap2(&lo[a], &hi[a], &lo[b], &hi[b]) > r2 {
                continue;
            }
            let (a0, a1, b0, b1) = (starts[a], starts[a + 1], starts[b], starts[b + 1]);
            let both_single = single[a] && single[b];
            if both_single && uf.find(ids[a0]) == uf.find(ids[b0]) {
                continue;
            }
            'pair: for i in a0..a1 {
                let p = &sorted[i];
                if box_gap2(p, p, &lo[b], &hi[b]) > r2 {
                    continue;
                }
                for j in b0..b1 {
                    if distance_squared_m2(p, &sorted[j]) <= r2 {
                        uf.union(ids[i], ids[j]);
                        if both_single {
                            break 'pair;
                        }
                    }
                }
            }
        }
    }
    Ok(())
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
            // Labels agree with the cluster lists, clusters are ordered by smallest index.
            for (l, c) in got.clusters.iter().enumerate() {
                assert!(c.windows(2).all(|w| w[0] < w[1]));
                assert!(c.iter().all(|&i| got.labels[i as usize] == Some(l as u32)));
            }
            assert!(got.clusters.windows(2).all(|w| w[0][0] < w[1][0]));
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
