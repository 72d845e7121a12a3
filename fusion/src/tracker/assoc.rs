//! Global nearest-neighbour assignment with the Hungarian method (`pathfinding::kuhn_munkres`).

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

/// Weight of a forbidden cell (maximization: very negative). Far below any feasible sum, far
/// above `i64::MIN / N` so the solver's sums cannot overflow.
const FORBIDDEN: i64 = -1_000_000_000_000;

/// Solves the track-to-measurement assignment.
///
/// `costs[i][j]` is `Some(c)` when measurement `j` lies in track `i`'s gate. The problem is
/// padded to the square `(n + m) x (m + n)` matrix
///
/// ```text
///             meas j < m          dummy k < n
/// track i   [ c_ij or forbidden | miss (k == i) or forbidden ]
/// dummy l   [ new (l == j) or f | 0                          ]
/// ```
///
/// with `miss = new = non_assignment_cost / 2`, so a gated pair is assigned only when its cost
/// is below `non_assignment_cost`. Costs are scaled by `cost_scale` and rounded to integers.
/// The solver is deterministic, and rows (tracks, by id) and columns (measurements, in input
/// order) come in a fixed order, so ties resolve identically on every run.
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
    let q = |c: f64| -> i64 { -((c.clamp(0.0, 1e6) * cost_scale).round() as i64) };
    let half = q(0.5 * non_assignment_cost);
    let size = n + m;
    let mut w = Matrix::new(size, size, FORBIDDEN);
    for (i, row) in costs.iter().enumerate() {
        for (j, c) in row.iter().enumerate().take(m) {
            if let Some(c) = c {
                w[(i, j)] = q(*c);
            }
        }
        w[(i, m + i)] = half;
    }
    for l in 0..m {
        w[(n + l, l)] = half;
        for k in 0..n {
            w[(n + l, m + k)] = 0;
        }
    }
    let (_, cols) = kuhn_munkres(&w);
    (0..n)
        .map(|i| {
            let j = cols[i];
            (j < m && costs[i][j].is_some()).then_some(j)
        })
        .collect()
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
}
