//! Coarse gating: a cheap, conservative pre-selection of the (track, measurement) pairs that
//! can pass the Mahalanobis gate, so that the exact gate (linearization, innovation covariance,
//! Cholesky) runs only on those.
//!
//! Every track and every measurement gets a scalar key and a radius with the guarantee (proved
//! per sensor at the call site) that a pair passing the exact gate has
//! `|key_track - key_meas| <= radius_track + radius_meas`; the pairs meeting that are then
//! passed to a sharper per-pair test. Tracks are sorted by key, so each measurement looks only
//! at the tracks in its key window: the work grows with the number of nearby pairs, not with
//! tracks times measurements. A track or measurement with a non-finite key or radius is never
//! excluded (the exact path decides, and counts any failure).

/// Relative and absolute slack on every bound, so that rounding never drops a pair the exact
/// gate would take.
const SLACK_REL: f64 = 1e-9;
const SLACK_ABS: f64 = 1e-9;

/// `a <= b` with the bound slack; true when either is NaN (never exclude on a broken bound).
pub(crate) fn within(a: f64, b: f64) -> bool {
    let bound = b * (1.0 + SLACK_REL) + SLACK_ABS;
    a.is_nan() || bound.is_nan() || a <= bound
}

/// A key and a radius; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Extent {
    pub key: f64,
    pub radius: f64,
}

impl Extent {
    fn bounded(&self) -> bool {
        self.key.is_finite() && self.radius.is_finite() && self.radius >= 0.0
    }
}

/// Per track, the measurements (ascending) whose extents overlap the track's and that
/// `accept(track, meas)` keeps.
pub(crate) fn candidates(
    tracks: &[Extent],
    meas: &[Extent],
    mut accept: impl FnMut(usize, usize) -> bool,
) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); tracks.len()];
    let mut sorted: Vec<(f64, usize)> = Vec::with_capacity(tracks.len());
    let mut wild: Vec<usize> = Vec::new();
    let mut max_radius: f64 = 0.0;
    for (i, e) in tracks.iter().enumerate() {
        if e.bounded() {
            sorted.push((e.key, i));
            max_radius = max_radius.max(e.radius);
        } else {
            wild.push(i);
        }
    }
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut hits: Vec<usize> = Vec::new();
    for (j, m) in meas.iter().enumerate() {
        hits.clear();
        if m.bounded() {
            let reach = (m.radius + max_radius) * (1.0 + SLACK_REL) + SLACK_ABS;
            let lo = m.key - reach;
            let hi = m.key + reach;
            let start = sorted.partition_point(|&(k, _)| k < lo);
            for &(k, i) in sorted[start..].iter().take_while(|&&(k, _)| k <= hi) {
                if within((k - m.key).abs(), tracks[i].radius + m.radius) {
                    hits.push(i);
                }
            }
        } else {
            hits.extend(sorted.iter().map(|&(_, i)| i));
        }
        hits.extend(wild.iter().copied());
        for &i in &hits {
            if accept(i, j) {
                out[i].push(j);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNBOUNDED: Extent = Extent {
        key: 0.0,
        radius: f64::INFINITY,
    };

    #[test]
    fn matches_brute_force() {
        let mut seed = 99u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f64) / f64::from(1u32 << 31)
        };
        for _ in 0..100 {
            let n = (rnd() * 30.0) as usize;
            let m = (rnd() * 30.0) as usize;
            let mk = |rnd: &mut dyn FnMut() -> f64| {
                let r = rnd();
                if r < 0.05 {
                    UNBOUNDED
                } else if r < 0.08 {
                    Extent {
                        key: f64::NAN,
                        radius: 1.0,
                    }
                } else {
                    Extent {
                        key: rnd() * 100.0,
                        radius: rnd() * rnd() * 20.0,
                    }
                }
            };
            let tracks: Vec<Extent> = (0..n).map(|_| mk(&mut rnd)).collect();
            let meas: Vec<Extent> = (0..m).map(|_| mk(&mut rnd)).collect();
            let got = candidates(&tracks, &meas, |i, j| (i + j) % 3 != 0);
            for (i, t) in tracks.iter().enumerate() {
                let want: Vec<usize> = (0..m)
                    .filter(|&j| {
                        let e = &meas[j];
                        let overlap = !(t.bounded() && e.bounded())
                            || (t.key - e.key).abs() <= t.radius + e.radius;
                        overlap && (i + j) % 3 != 0
                    })
                    .collect();
                assert_eq!(got[i], want, "track {i}");
            }
        }
    }
}
