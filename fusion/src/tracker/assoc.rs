//! Global nearest-neighbour assignment with the Hungarian method (`pathfinding::kuhn_munkres`),
//! solved per connected component of the gating graph.

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

/// Solves the track-to-measurement assignment.
///
/// `costs[i][j]` is `Some(c)` when measurement `j` lies in track `i`'s gate. Leaving a track or
/// a measurement unassigned costs `non_assignment_cost / 2` each, so a gated pair is assigned
/// only when its cost is below `non_assignment_cost`. Costs are scaled by `cost_scale` and
/// rounded to integers `q(c)`. Minimizing the total cost is maximizing the saving
/// `w_ij = 2 q(non_assignment_cost / 2) - q(c_ij)` summed over the assigned pairs (forbidden and
/// non-saving pairs weigh 0 and are read as unassigned), which the Hungarian method solves on
/// the rectangular `min(n, m) x max(n, m)` matrix, `O(min^2 max)` (the padded square
/// `(n + m)^2` formulation costs `O((n + m)^3)` for the same optimum). The solver is
/// deterministic, and rows and columns come in a fixed order (tracks by id, measurements in
/// input order), so ties resolve identically on every run.
///
/// Returns, per track, the assigned measurement.
pub(crate) fn assign(
    costs: &[Vec<Option<f64>>],
    n_meas: usize,
    non_assignment_cost: f64,
    cost_scale: f64,
) -> Vec<Option<usize>> {
    let n = costs.len();
    let m = n_meas;
    if n == 0 || m == 0 || costs.iter().all(|row| row.iter().all(Option::is_none)) {
        return vec![None; n];
    }
    let q = |c: f64| -> i64 { (c.clamp(0.0, 1e6) * cost_scale).round() as i64 };
    let both = 2 * q(0.5 * non_assignment_cost);
    let saving = |i: usize, j: usize| -> i64 {
        costs[i]
            .get(j)
            .copied()
            .flatten()
            .map_or(0, |c| (both - q(c)).max(0))
    };
    let mut out = vec![None; n];
    if n <= m {
        let w = Matrix::from_fn(n, m, |(i, j)| saving(i, j));
        let (_, cols) = kuhn_munkres(&w);
        for (i, &j) in cols.iter().enumerate() {
            if saving(i, j) > 0 {
                out[i] = Some(j);
            }
        }
    } else {
        let w = Matrix::from_fn(m, n, |(j, i)| saving(i, j));
        let (_, rows) = kuhn_munkres(&w);
        for (j, &i) in rows.iter().enumerate() {
            if saving(i, j) > 0 {
                out[i] = Some(j);
            }
        }
    }
    out
}

/// [`assign`] on a sparse problem: `gated[i]` lists track `i`'s gated measurements as
/// `(j, cost)`, `j < n_meas`. The padded problem is block diagonal over the connected components
/// of the bipartite gating graph (an ungated track or measurement only ever pays its
/// non-assignment cost), so each component is solved on its own, tracks and measurements in
/// their global order: the cost is the sum of the components' cubes instead of the cube of the
/// whole problem.
pub(crate) fn assign_sparse(
    gated: &[Vec<(usize, f64)>],
    n_meas: usize,
    non_assignment_cost: f64,
    cost_scale: f64,
) -> Vec<Option<usize>> {
    let n = gated.len();
    let mut out = vec![None; n];
    // Union-find over tracks (0..n) and measurements (n..n + n_meas).
    let mut parent: Vec<usize> = (0..n + n_meas).collect();
    fn root(parent: &mut [usize], mut a: usize) -> usize {
        while parent[a] != a {
            parent[a] = parent[parent[a]];
            a = parent[a];
        }
        a
    }
    for (i, row) in gated.iter().enumerate() {
        for &(j, _) in row {
            if j >= n_meas {
                continue;
            }
            let (a, b) = (root(&mut parent, i), root(&mut parent, n + j));
            if a != b {
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    // Components in order of their first track; members in global order.
    let mut comp_of_root: Vec<usize> = vec![usize::MAX; n + n_meas];
    let mut comps: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
    for (i, row) in gated.iter().enumerate() {
        if row.iter().all(|&(j, _)| j >= n_meas) {
            continue;
        }
        let r = root(&mut parent, i);
        if comp_of_root[r] == usize::MAX {
            comp_of_root[r] = comps.len();
            comps.push((Vec::new(), Vec::new()));
        }
        comps[comp_of_root[r]].0.push(i);
    }
    for j in 0..n_meas {
        let r = root(&mut parent, n + j);
        if let Some(c) = comps.get_mut(comp_of_root[r]) {
            c.1.push(j);
        }
    }
    let mut local_of_meas = vec![usize::MAX; n_meas];
    for (tracks, meas) in &comps {
        for (l, &j) in meas.iter().enumerate() {
            local_of_meas[j] = l;
        }
        let costs: Vec<Vec<Option<f64>>> = tracks
            .iter()
            .map(|&i| {
                let mut row = vec![None; meas.len()];
                for &(j, c) in &gated[i] {
                    if let Some(slot) = local_of_meas.get(j).and_then(|&l| row.get_mut(l)) {
                        *slot = Some(c);
                    }
                }
                row
            })
            .collect();
        let local = assign(&costs, meas.len(), non_assignment_cost, cost_scale);
        for (&i, a) in tracks.iter().zip(local) {
            out[i] = a.and_then(|l| meas.get(l).copied());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force over all partial injective assignments.
    fn oracle(costs: &[Vec<Option<f64>>], m: usize, na: f64) -> f64 {
        fn rec(i: usize, costs: &[Vec<Option<f64>>], used: &mut Vec<bool>, na: f64) -> f64 {
            if i == costs.len() {
                return used.iter().filter(|u| !**u).count() as f64 * na / 2.0;
            }
            let mut best = na / 2.0 + rec(i + 1, costs, used, na);
            for j in 0..used.len() {
                if let Some(c) = costs[i][j] {
                    if !used[j] {
                        used[j] = true;
                        best = best.min(c + rec(i + 1, costs, used, na));
                        used[j] = false;
                    }
                }
            }
            best
        }
        rec(0, costs, &mut vec![false; m], na)
    }

    #[test]
    fn matches_brute_force() {
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f64) / f64::from(1u32 << 31)
        };
        for _ in 0..200 {
            let n = 1 + (rnd() * 4.0) as usize;
            let m = 1 + (rnd() * 4.0) as usize;
            let costs: Vec<Vec<Option<f64>>> = (0..n)
                .map(|_| {
                    (0..m)
                        .map(|_| (rnd() < 0.6).then(|| rnd() * 20.0))
                        .collect()
                })
                .collect();
            let na = 16.0;
            let a = assign(&costs, m, na, 1000.0);
            let mut used = vec![false; m];
            let mut total = 0.0;
            for (i, aj) in a.iter().enumerate() {
                match aj {
                    Some(j) => {
                        assert!(!used[*j]);
                        used[*j] = true;
                        total += costs[i][*j].unwrap_or(f64::NAN);
                    }
                    None => total += na / 2.0,
                }
            }
            total += used.iter().filter(|u| !**u).count() as f64 * na / 2.0;
            let best = oracle(&costs, m, na);
            assert!((total - best).abs() < 1e-2, "{total} vs {best}: {costs:?}");
        }
    }

    #[test]
    fn sparse_matches_dense() {
        let mut seed = 777u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f64) / f64::from(1u32 << 31)
        };
        for _ in 0..300 {
            let n = (rnd() * 9.0) as usize;
            let m = (rnd() * 9.0) as usize;
            let density = rnd() * 0.5;
            // Distinct costs so that the optimum is unique.
            let costs: Vec<Vec<Option<f64>>> = (0..n)
                .map(|_| {
                    (0..m)
                        .map(|_| (rnd() < density).then(|| rnd() * 20.0))
                        .collect()
                })
                .collect();
            let gated: Vec<Vec<(usize, f64)>> = costs
                .iter()
                .map(|row| {
                    row.iter()
                        .enumerate()
                        .filter_map(|(j, c)| c.map(|c| (j, c)))
                        .collect()
                })
                .collect();
            let dense = assign(&costs, m, 16.0, 1000.0);
            let sparse = assign_sparse(&gated, m, 16.0, 1000.0);
            let total = |a: &[Option<usize>]| -> f64 {
                a.iter()
                    .enumerate()
                    .map(|(i, aj)| aj.and_then(|j| costs[i][j]).unwrap_or(16.0))
                    .sum::<f64>()
            };
            assert!((total(&dense) - total(&sparse)).abs() < 1e-2);
            assert_eq!(dense, sparse, "{costs:?}");
        }
    }
}
