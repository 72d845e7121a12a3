//! Tracking and ego scores of a simulated drive, the way py-motmetrics computes CLEAR-MOT
//! (`tests/python/score_tracking.py` is the independent oracle; a system test checks that both
//! agree): per frame, a ground-truth object keeps the hypothesis it was last matched to (in any
//! earlier frame, as py-motmetrics does) if that is still within the gate; the rest are matched
//! by a maximum-cardinality minimum-cost assignment on squared distance (Hungarian); a match to
//! another hypothesis than the object's last one is an identity switch. MOTA = 1 - (misses +
//! false positives + switches) / objects.
//!
//! Frames are built from a run report: our `odom` is aligned to the simulator's world by the
//! first frame's ego poses, only cycles with recorded ground truth are scored, and only objects
//! and tracks within `roi_m` of the ego.

use std::collections::BTreeMap;

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

use crate::runner::RunReport;

/// An object or track in the simulator's world frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Obj {
    /// Its id.
    pub id: u64,
    /// Position, m.
    pub x_m: f64,
    /// See `x_m`.
    pub y_m: f64,
    /// Velocity, m/s.
    pub vx_mps: f64,
    /// See `vx_mps`.
    pub vy_mps: f64,
}

/// A 2D pose, m and rad.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// x, m.
    pub x_m: f64,
    /// y, m.
    pub y_m: f64,
    /// Heading, rad.
    pub yaw_rad: f64,
}

/// One scored frame (a fusion cycle with ground truth).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredFrame {
    /// Cycle stamp, ns.
    pub stamp_ns: i64,
    /// Ground-truth objects within the ROI.
    pub truth: Vec<Obj>,
    /// Confirmed tracks within the ROI, in the truth frame.
    pub tracks: Vec<Obj>,
    /// Our ego pose, in the truth frame.
    pub ego: Pose,
    /// The true ego pose.
    pub ego_truth: Pose,
}

/// Frames of a run, aligned to the simulator's world by the first frame's ego poses.
pub fn frames(report: &RunReport, roi_m: f64) -> Vec<ScoredFrame> {
    frames_visible(report, roi_m, None)
}

/// Which ground-truth objects count: `seen(stamp_ns, id)` says whether any sensor could see
/// object `id` in the cycle at `stamp_ns`; a track within `gate_m` of an unseen object and of
/// no seen one is neither a match nor a false positive (a "don't care" object, as KITTI and
/// MOTChallenge treat objects no sensor can see).
pub struct Visibility<'a> {
    /// Whether object `id` was visible at `stamp_ns`.
    pub seen: &'a dyn Fn(i64, u64) -> bool,
    /// Match gate, m.
    pub gate_m: f64,
}

/// [`frames`] with the objects no sensor saw left out (see [`Visibility`]); `None` keeps all.
pub fn frames_visible(
    report: &RunReport,
    roi_m: f64,
    visibility: Option<&Visibility<'_>>,
) -> Vec<ScoredFrame> {
    let mut out = Vec::new();
    let mut align: Option<(f64, f64, f64)> = None; // truth = R(dyaw) ours + t
    for f in &report.frames {
        // A cycle without recorded ground truth (the radar-triggered cycles after the last
        // sweep) cannot be scored: its tracks would all count as false positives.
        let (Some(ego), Some(truth_ego), Some(truth)) = (f.cycle.ego, f.ego_truth, &f.truth) else {
            continue;
        };
        let (tx, ty, dyaw) = *align.get_or_insert_with(|| {
            let dyaw = truth_ego.yaw_rad - ego.yaw_rad;
            let (s, c) = dyaw.sin_cos();
            (
                truth_ego.x_m - (c * ego.x_m - s * ego.y_m),
                truth_ego.y_m - (s * ego.x_m + c * ego.y_m),
                dyaw,
            )
        });
        let (s, c) = dyaw.sin_cos();
        let to_truth = |x: f64, y: f64| (c * x - s * y + tx, s * x + c * y + ty);
        let rot = |vx: f64, vy: f64| (c * vx - s * vy, s * vx + c * vy);
        let (ex, ey) = to_truth(ego.x_m, ego.y_m);
        let all_truth: Vec<Obj> = truth
            .iter()
            .filter(|o| {
                (o.pose.pose.position.x - truth_ego.x_m)
                    .hypot(o.pose.pose.position.y - truth_ego.y_m)
                    <= roi_m
            })
            .map(|o| Obj {
                id: o.id,
                x_m: o.pose.pose.position.x,
                y_m: o.pose.pose.position.y,
                vx_mps: o.twist.twist.linear.x,
                vy_mps: o.twist.twist.linear.y,
            })
            .collect();
        let stamp = f.cycle.stamp_ns;
        let (truth, unseen): (Vec<Obj>, Vec<Obj>) = all_truth
            .into_iter()
            .partition(|o| visibility.is_none_or(|v| (v.seen)(stamp, o.id)));
        let near = |objs: &[Obj], x: f64, y: f64, gate_m: f64| {
            objs.iter().any(|o| (o.x_m - x).hypot(o.y_m - y) <= gate_m)
        };
        let tracks: Vec<Obj> = f
            .cycle
            .tracks
            .iter()
            .filter(|t| (t.shape.x_m - ego.x_m).hypot(t.shape.y_m - ego.y_m) <= roi_m)
            .map(|t| {
                let (x, y) = to_truth(t.shape.x_m, t.shape.y_m);
                let (vx, vy) = rot(t.vx_mps, t.vy_mps);
                Obj {
                    id: t.id,
                    x_m: x,
                    y_m: y,
                    vx_mps: vx,
                    vy_mps: vy,
                }
            })
            .filter(|t| {
                visibility.is_none_or(|v| {
                    !near(&unseen, t.x_m, t.y_m, v.gate_m) || near(&truth, t.x_m, t.y_m, v.gate_m)
                })
            })
            .collect();
        out.push(ScoredFrame {
            stamp_ns: f.cycle.stamp_ns,
            truth,
            tracks,
            ego: Pose {
                x_m: ex,
                y_m: ey,
                yaw_rad: ego.yaw_rad + dyaw,
            },
            ego_truth: Pose {
                x_m: truth_ego.x_m,
                y_m: truth_ego.y_m,
                yaw_rad: truth_ego.yaw_rad,
            },
        });
    }
    out
}

/// CLEAR-MOT and ego scores.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Scores {
    /// Ground-truth object-frames.
    pub objects: u64,
    /// Matched pairs.
    pub matches: u64,
    /// Objects not matched.
    pub misses: u64,
    /// Tracks not matched.
    pub false_positives: u64,
    /// Identity switches.
    pub switches: u64,
    /// 1 - (misses + false positives + switches) / objects.
    pub mota: f64,
    /// Position RMSE over matched pairs, m.
    pub pos_rmse_m: f64,
    /// Velocity RMSE over matched pairs, m/s.
    pub vel_rmse_mps: f64,
    /// Distance the true ego travelled, m.
    pub ego_distance_m: f64,
    /// Ego position error at the end, m.
    pub ego_final_error_m: f64,
    /// Largest ego heading error, deg.
    pub ego_max_heading_error_deg: f64,
}

/// Maximum-cardinality, minimum-cost assignment; `cost[i][j]` is `None` for a forbidden pair.
fn assign(cost: &[Vec<Option<f64>>], cols: usize) -> Vec<Option<usize>> {
    let rows = cost.len();
    if rows == 0 || cols == 0 {
        return vec![None; rows];
    }
    // Every allowed pair outweighs any number of cost differences; costs in um^2.
    const ALLOWED: i64 = 1 << 50;
    let w = |i: usize, j: usize| -> i64 {
        cost[i][j].map_or(0, |c| ALLOWED - (c * 1e12).round().clamp(0.0, 1e15) as i64)
    };
    let mut out = vec![None; rows];
    if rows <= cols {
        let (_, a) = kuhn_munkres(&Matrix::from_fn(rows, cols, |(i, j)| w(i, j)));
        for (i, &j) in a.iter().enumerate() {
            if cost[i][j].is_some() {
                out[i] = Some(j);
            }
        }
    } else {
        let (_, a) = kuhn_munkres(&Matrix::from_fn(cols, rows, |(j, i)| w(i, j)));
        for (j, &i) in a.iter().enumerate() {
            if cost[i][j].is_some() {
                out[i] = Some(j);
            }
        }
    }
    out
}

/// Scores `frames` with a match gate of `max_dist_m`.
pub fn score(frames: &[ScoredFrame], max_dist_m: f64) -> Scores {
    let mut s = Scores::default();
    let gate2 = max_dist_m * max_dist_m;
    // Object id -> the hypothesis it was last matched to (in any earlier frame).
    let mut last: BTreeMap<u64, u64> = BTreeMap::new();
    let (mut pos_se, mut vel_se) = (0.0, 0.0);
    for f in frames {
        s.objects += f.truth.len() as u64;
        let d2 = |a: &Obj, b: &Obj| (a.x_m - b.x_m).powi(2) + (a.y_m - b.y_m).powi(2);
        let mut truth_match: Vec<Option<usize>> = vec![None; f.truth.len()];
        let mut track_used = vec![false; f.tracks.len()];
        // 1. Each object's last correspondence, if its hypothesis is still within the gate
        //    (py-motmetrics keeps it across frames where the object went unmatched).
        for (i, o) in f.truth.iter().enumerate() {
            if let Some(h) = last.get(&o.id) {
                if let Some(j) = f.tracks.iter().position(|t| t.id == *h) {
                    if !track_used[j] && d2(o, &f.tracks[j]) <= gate2 {
                        truth_match[i] = Some(j);
                        track_used[j] = true;
                    }
                }
            }
        }
        // 2. The rest by assignment.
        let free_t: Vec<usize> = (0..f.truth.len())
            .filter(|i| truth_match[*i].is_none())
            .collect();
        let free_h: Vec<usize> = (0..f.tracks.len()).filter(|j| !track_used[*j]).collect();
        let cost: Vec<Vec<Option<f64>>> = free_t
            .iter()
            .map(|&i| {
                free_h
                    .iter()
                    .map(|&j| {
                        let c = d2(&f.truth[i], &f.tracks[j]);
                        (c <= gate2).then_some(c)
                    })
                    .collect()
            })
            .collect();
        let mut switched = vec![false; f.truth.len()];
        for (k, a) in assign(&cost, free_h.len()).into_iter().enumerate() {
            if let Some(jj) = a {
                let (i, j) = (free_t[k], free_h[jj]);
                truth_match[i] = Some(j);
                track_used[j] = true;
                let o = f.truth[i].id;
                switched[i] = last.get(&o).is_some_and(|h| *h != f.tracks[j].id);
            }
        }
        for (i, m) in truth_match.iter().enumerate() {
            let o = &f.truth[i];
            match m {
                None => s.misses += 1,
                Some(j) => {
                    let t = &f.tracks[*j];
                    s.matches += 1;
                    s.switches += u64::from(switched[i]);
                    pos_se += d2(o, t);
                    vel_se += (o.vx_mps - t.vx_mps).powi(2) + (o.vy_mps - t.vy_mps).powi(2);
                    last.insert(o.id, t.id);
                }
            }
        }
        s.false_positives += track_used.iter().filter(|u| !**u).count() as u64;
    }
    if s.objects > 0 {
        s.mota = 1.0 - (s.misses + s.false_positives + s.switches) as f64 / s.objects as f64;
    }
    if s.matches > 0 {
        s.pos_rmse_m = (pos_se / s.matches as f64).sqrt();
        s.vel_rmse_mps = (vel_se / s.matches as f64).sqrt();
    }
    for w in frames.windows(2) {
        s.ego_distance_m += (w[1].ego_truth.x_m - w[0].ego_truth.x_m)
            .hypot(w[1].ego_truth.y_m - w[0].ego_truth.y_m);
    }
    if let Some(f) = frames.last() {
        s.ego_final_error_m = (f.ego.x_m - f.ego_truth.x_m).hypot(f.ego.y_m - f.ego_truth.y_m);
    }
    s.ego_max_heading_error_deg = frames
        .iter()
        .map(|f| {
            edgefuse_fusion::geometry::wrap_angle_rad(f.ego.yaw_rad - f.ego_truth.yaw_rad)
                .abs()
                .to_degrees()
        })
        .fold(0.0, f64::max);
    s
}
