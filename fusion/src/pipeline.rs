//! The fusion cycle: inputs are pushed as they arrive; IMU and wheel odometry go straight into
//! the ego EKF (which compensates their delays), every other sensor is buffered by the time
//! synchroniser, and each LiDAR sweep triggers a cycle that runs the stages under the deadline
//! budget: LiDAR stages on the sweep, then the tracker with every radar, camera and ultrasonic
//! measurement of the cycle in stamp order and the LiDAR boxes at the cycle time, then the
//! health monitor. A radar, camera or ultrasonic measurement that arrives after its cycle ran
//! (out of sequence) is retrodicted: the tracker's inputs and states of the last
//! [`RetrodictionConfig::window_ns`] are kept, the measurement is put where it belongs among
//! its cycle's, and the tracker runs again from that cycle, so that it stands where it would
//! had the measurement come in time (older ones are rejected and counted). The health monitor
//! takes every radar, camera and ultrasonic measurement of a cycle, also those that an
//! overloaded cycle's degradation keeps from the tracker, and the retrodicted ones with their
//! cycle's LiDAR objects.

use std::collections::{BTreeMap, BTreeSet};

use crate::budget::{Budget, BudgetConfig, Clock, CycleTiming, Degrade, Stage};
use crate::ego::{EgoConfig, EgoEkf, EgoError};
use crate::health::{match_radar_to_lidar, CalibrationGates, Finding, HealthConfig, HealthMonitor};
use crate::lidar::{
    DeskewReference, LabelledCloud, LidarError, LidarObject, LidarPipeline, LidarPipelineConfig,
};
use crate::sync::{SensorTiming, SyncConfig, SyncError, TimeSync};
use crate::tracker::{ConfigError, Tracker, TrackerConfig};
use crate::types::{
    Box3, CameraFrame, EgoState, Input, RadarScan, SeamParts, SensorId, StampNs, Track,
    UltrasonicRange,
};

/// Why a pipeline cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The synchroniser's configuration is invalid.
    #[error("time sync: {0}")]
    Sync(#[from] SyncError),
    /// The EKF's configuration is invalid.
    #[error("ego EKF: {0}")]
    Ego(#[from] EgoError),
    /// The tracker's configuration is invalid.
    #[error("tracker: {0}")]
    Tracker(#[from] ConfigError),
    /// The LiDAR stages' configuration is invalid.
    #[error("lidar: {0}")]
    Lidar(#[from] LidarError),
    /// A sensor's nominal rate is not a positive number (up to 1 GHz).
    #[error("{sensor:?}: nominal rate {rate_hz} Hz is not a positive number up to 1 GHz")]
    InvalidRate {
        /// The sensor.
        sensor: SensorId,
        /// The rate given, Hz.
        rate_hz: f64,
    },
    /// A sensor the pipeline cannot run without was to be removed.
    #[error("{sensor:?} cannot be removed: the LiDAR triggers the cycles and the ego filter needs the IMU and the wheel speed")]
    RequiredSensor {
        /// The sensor.
        sensor: SensorId,
    },
}

/// Retrodiction of measurements that arrive after their cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrodictionConfig {
    /// How long the tracker's inputs and states are kept, ns: a radar, camera or ultrasonic
    /// measurement stamped within this of the newest cycle that arrives after its cycle (the
    /// synchroniser calls it out of sequence) is put where it belongs among that cycle's
    /// measurements and the tracker is run again from there. Older ones are rejected and
    /// counted as before; 0 rejects every one.
    pub window_ns: i64,
}

impl Default for RetrodictionConfig {
    fn default() -> Self {
        Self {
            window_ns: 500_000_000,
        }
    }
}

/// Which LiDAR clusters are road users worth tracking: walls, guard rails, buildings, poles and
/// trees are static structure, not objects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObjectGate {
    /// Longest object, m (a long truck and trailer).
    pub max_length_m: f64,
    /// Tallest object, m.
    pub max_height_m: f64,
    /// Lowest object, m (kerbs and debris below are not tracked).
    pub min_height_m: f64,
    /// Smallest footprint (longer side), m: fragments of rails and fences are smaller than
    /// anything that walks or drives.
    pub min_footprint_m: f64,
    /// A cluster with a footprint under this (m) and taller than `pole_min_height_m` is a pole
    /// or a tree trunk, when it is under `pole_thin_footprint_m` or compact (its shorter side
    /// at least `pole_min_aspect` of its longer one): a trunk is round, while half of a van's
    /// face cut at the sweep's seam (0.9 m by 0.1 m, 2.5 m seen) is as long and as tall but
    /// flat.
    pub pole_max_footprint_m: f64,
    /// See `pole_max_footprint_m`.
    pub pole_min_aspect: f64,
    /// See `pole_max_footprint_m`, m.
    pub pole_min_height_m: f64,
    /// A cluster with a footprint under `pole_thin_footprint_m` whose top is higher than
    /// `pole_min_top_m` above the ground is a pole or a trunk too: nothing that walks is that
    /// tall. Close to the sensor the field of view cuts a pole's bottom (and, above the sensor,
    /// its top), so its visible height can be a pedestrian's while its top is not. Thinner than
    /// `pole_max_footprint_m` so that half of a vehicle's face cut at the sweep's seam stays.
    pub pole_thin_footprint_m: f64,
    /// See `pole_thin_footprint_m`, m.
    pub pole_min_top_m: f64,
    /// Thinner than this (m) and longer than `rail_min_length_m`: a rail or a wall.
    pub rail_max_width_m: f64,
    /// See `rail_max_width_m`, m: longer than a van, whose side seen square-on is as thin as a
    /// wall (a 6.3 m van's side, joined across a pole's shadow, makes a 6.3 by 0.15 m box).
    pub rail_min_length_m: f64,
    /// A box longer than `rail_min_length_m` and thinner than this fraction of its length is a
    /// wall too (over `rail_max_width_m`: a wall 17 m long, seen at a slant, makes a box 0.5 to
    /// 0.6 m deep; a truck seen at any slant shows its 2.5 m width).
    pub rail_max_width_per_length: f64,
    /// The box bottom must be within this of the ground (base_link z = 0), m.
    pub max_bottom_above_ground_m: f64,
}

impl Default for ObjectGate {
    fn default() -> Self {
        Self {
            max_length_m: 19.0,
            max_height_m: 4.5,
            min_height_m: 0.4,
            min_footprint_m: 0.25,
            pole_max_footprint_m: 1.0,
            pole_min_aspect: 0.4,
            pole_min_height_m: 2.4,
            pole_thin_footprint_m: 0.6,
            pole_min_top_m: 2.2,
            rail_max_width_m: 0.5,
            rail_min_length_m: 8.0,
            rail_max_width_per_length: 0.05,
            max_bottom_above_ground_m: 1.0,
        }
    }
}

/// The boxes [`ObjectGate::admit_all`] lets through, in `base_link`, with the time each was
/// seen relative to the sweep's reference time (s) and, for a box straddling the sweep's seam,
/// its two halves (`None` for the others); one entry per box in each.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdmittedBoxes {
    /// The boxes.
    pub boxes: Vec<Box3>,
    /// When each was seen, s.
    pub time_offsets_s: Vec<f64>,
    /// Each box's halves when it straddles the seam.
    pub seam_parts: Vec<Option<SeamParts>>,
}

impl ObjectGate {
    /// The boxes (in `base_link`) of `objects` that may be road users, with their time
    /// offsets, for a LiDAR at `sensor_base_m` (`base_link`, m). The parts of one object that
    /// a nearer one cut apart are joined first ([`ObjectGate::join_occluded_parts`]).
    ///
    /// What only fails for floating above the ground may be the top of something standing
    /// behind a nearer, lower object (a parked car seen over its neighbour shows its roof and
    /// the top of its sides): a box whose bottom lies on the shadow line of a nearer admitted
    /// box ([`ObjectGate::hidden_below`]), at least `SEEN_OVER_MIN_WIDTH_M` wide both ways and
    /// `SEEN_OVER_MIN_HEIGHT_M` high, or a single beam row as long as a car
    /// (`SEEN_OVER_ROW_MIN_LENGTH_M` to `SEEN_OVER_ROW_MAX_LENGTH_M`), is taken down to the
    /// ground. The rows of one roof are joined first ([`ObjectGate::join_roof_rows`]). What is
    /// taken down hides what lies behind it in turn: the car three bays away shows a row over
    /// the roof of the car two bays away, and a thinner one (down to
    /// `SEEN_OVER_FAR_ROW_MIN_WIDTH_M`), the beams grazing it.
    pub fn admit_all(&self, objects: &[LidarObject], sensor_base_m: [f64; 3]) -> AdmittedBoxes {
        let joined = self.join_occluded_parts(objects, sensor_base_m);
        let objects = joined.as_slice();
        let admitted: Vec<bool> = objects.iter().map(|o| self.admits(&o.shape)).collect();
        let occluders: Vec<&Box3> = objects
            .iter()
            .zip(&admitted)
            .filter(|(_, a)| **a)
            .map(|(o, _)| &o.shape)
            .collect();
        let mut out = AdmittedBoxes::default();
        for o in objects
            .iter()
            .zip(&admitted)
            .filter(|(_, a)| **a)
            .map(|(o, _)| o)
        {
            out.boxes.push(o.shape);
            out.time_offsets_s.push(o.time_offset_s);
            out.seam_parts.push(o.seam_parts);
        }
        let rest: Vec<LidarObject> = objects
            .iter()
            .zip(&admitted)
            .filter(|(_, a)| !**a)
            .map(|(o, _)| o.clone())
            .collect();
        let rest = self.join_roof_rows(rest, &occluders, sensor_base_m);
        let mut taken = vec![false; rest.len()];
        // Each round's occluders: the admitted boxes, then what the last round took down.
        let mut occluders: Vec<Box3> = occluders.into_iter().copied().collect();
        let mut row_min_width_m = SEEN_OVER_ROW_MIN_WIDTH_M;
        while !occluders.is_empty() {
            let behind: Vec<&Box3> = occluders.iter().collect();
            let mut grounded_now = Vec::new();
            for (o, taken) in rest.iter().zip(taken.iter_mut()).filter(|(_, t)| !**t) {
                let b = o.shape;
                let top = b.z_m + 0.5 * b.height_m;
                let grounded = Box3 {
                    z_m: 0.5 * top,
                    height_m: top,
                    ..b
                };
                // The size checks first: the ray test is the costly one.
                let (long, short) = (b.length_m.max(b.width_m), b.length_m.min(b.width_m));
                let roof = short >= SEEN_OVER_MIN_WIDTH_M && b.height_m >= SEEN_OVER_MIN_HEIGHT_M;
                let roof_row = (SEEN_OVER_ROW_MIN_LENGTH_M..=SEEN_OVER_ROW_MAX_LENGTH_M)
                    .contains(&long)
                    && short >= row_min_width_m
                    && b.height_m >= SEEN_OVER_ROW_MIN_HEIGHT_M;
                if (roof || roof_row)
                    && self.hidden_below(&b, &behind, sensor_base_m)
                    && self.admits(&grounded)
                {
                    out.boxes.push(grounded);
                    out.time_offsets_s.push(o.time_offset_s);
                    out.seam_parts.push(None);
                    *taken = true;
                    grounded_now.push(grounded);
                }
            }
            occluders = grounded_now;
            row_min_width_m = SEEN_OVER_FAR_ROW_MIN_WIDTH_M;
        }
        out
    }

    /// `objects` with the parts of one object that a nearer object cut apart joined: a pole
    /// in front of a passing van splits its side into two clusters, and each half read as a
    /// whole side (or one as an end) puts the centre metres off and its motion wrong. Two
    /// admitted elongated boxes are parts of one object when they lie along one line (headings
    /// within `JOIN_MAX_YAW_RAD`, centres within `JOIN_MAX_LATERAL_M` of the line), stand
    /// as high (tops within `JOIN_MAX_TOP_DIFF_M`), leave a gap of at most `JOIN_MAX_GAP_M`
    /// between their facing ends and make at most `JOIN_MAX_LENGTH_M` together, and when
    /// another object, nearer to the sensor at `sensor_base_m` than the gap, covers the gap's
    /// bearings (to `JOIN_BEARING_TOLERANCE_RAD`): the sensor could not see what joins them.
    /// The union is a box in the longer part's axes.
    pub fn join_occluded_parts(
        &self,
        objects: &[LidarObject],
        sensor_base_m: [f64; 3],
    ) -> Vec<LidarObject> {
        let view = [sensor_base_m[0], sensor_base_m[1]];
        join_pairs(
            objects.to_vec(),
            // Each part is shorter than the union.
            |o| o.shape.length_m.max(o.shape.width_m) <= JOIN_MAX_LENGTH_M && self.admits(&o.shape),
            JOIN_MAX_GAP_M + JOIN_MAX_LATERAL_M,
            |a, b| {
                // Off the longer part's line by at most the lateral bound, and what its
                // heading's tolerance adds over the distance.
                let (a, b) = if a.long_m >= b.long_m { (a, b) } else { (b, a) };
                let d = [b.centre[0] - a.centre[0], b.centre[1] - a.centre[1]];
                let lateral = (a.axis[0] * d[1] - a.axis[1] * d[0]).abs();
                a.parallel(b, JOIN_MAX_YAW_RAD, JOIN_MAX_TOP_DIFF_M)
                    && lateral <= JOIN_MAX_LATERAL_M + d[0].hypot(d[1]) * JOIN_MAX_YAW_RAD.sin()
            },
            |all, i, j| self.occluded_join(all, i, j, view),
        )
    }

    /// The union of `objects[i]` and `objects[j]` and the gap between them (m), when they are
    /// parts of one object cut apart by a nearer one ([`ObjectGate::join_occluded_parts`]),
    /// for a pair [`join_pairs`] offers (parallel and as high).
    fn occluded_join(
        &self,
        objects: &[LidarObject],
        i: usize,
        j: usize,
        view: [f64; 2],
    ) -> Option<(f64, LidarObject)> {
        // The longer part gives the axes.
        let (a, b) = if objects[i].shape.length_m.max(objects[i].shape.width_m)
            >= objects[j].shape.length_m.max(objects[j].shape.width_m)
        {
            (&objects[i], &objects[j])
        } else {
            (&objects[j], &objects[i])
        };
        // Parallel and as high: `join_pairs` offers only pairs that are.
        let (sa, sb) = (&a.shape, &b.shape);
        let ya = axis_rad(sa)?;
        let (s, c) = ya.sin_cos();
        let along = |p: [f64; 2]| c * p[0] + s * p[1];
        let across = |p: [f64; 2]| -s * p[0] + c * p[1];
        if (across([sb.x_m, sb.y_m]) - across([sa.x_m, sa.y_m])).abs() > JOIN_MAX_LATERAL_M {
            return None;
        }
        let (a_lo, a_hi) = span(sa, &along);
        let (b_lo, b_hi) = span(sb, &along);
        let (gap_from, gap_to) = if b_lo >= a_hi {
            (a_hi, b_lo)
        } else {
            (b_hi, a_lo)
        };
        let gap_m = gap_to - gap_from;
        let (lo, hi) = (a_lo.min(b_lo), a_hi.max(b_hi));
        if gap_m <= 0.0 || gap_m > JOIN_MAX_GAP_M || hi - lo > JOIN_MAX_LENGTH_M {
            return None;
        }
        // The gap's ends on the line through the longer part's centre.
        let line = across([sa.x_m, sa.y_m]);
        let point = |u: f64| [c * u - s * line, s * u + c * line];
        let ends = [point(gap_from), point(gap_to)];
        let middle = point(0.5 * (gap_from + gap_to));
        let reference = (middle[1] - view[1]).atan2(middle[0] - view[0]);
        let bearing = |p: [f64; 2]| {
            crate::geometry::wrap_angle_rad((p[1] - view[1]).atan2(p[0] - view[0]) - reference)
        };
        let (g0, g1) = (bearing(ends[0]), bearing(ends[1]));
        let (g_lo, g_hi) = (g0.min(g1), g0.max(g1));
        let gap_range_m = ends
            .iter()
            .map(|p| (p[0] - view[0]).hypot(p[1] - view[1]))
            .fold(f64::MAX, f64::min);
        let covered = objects.iter().enumerate().any(|(k, o)| {
            let b = &o.shape;
            k != i
                && k != j
                && crate::geometry::footprint_span(
                    [b.x_m, b.y_m],
                    b.yaw_rad,
                    [0.5 * b.length_m, 0.5 * b.width_m],
                    view,
                    reference,
                )
                .is_some_and(|(o_lo, o_hi, near)| {
                    near + JOIN_MIN_OCCLUDER_LEAD_M < gap_range_m
                        && o_lo <= g_lo + JOIN_BEARING_TOLERANCE_RAD
                        && o_hi >= g_hi - JOIN_BEARING_TOLERANCE_RAD
                })
        });
        if !covered {
            return None;
        }
        Some((gap_m, union_in_axes(a, b, ya)))
    }

    /// `objects` (boxes the gate did not admit) with the beam rows of one roof joined: a
    /// LiDAR 2 m up sees a car's flat roof at grazing incidence as one row per beam, 0.5 to
    /// 1 m apart 5 m away, and the clustering cuts it into one thin floating box per row,
    /// each too thin to be seen over a neighbour ([`ObjectGate::hidden_below`]). Two floating
    /// boxes within `SEEN_OVER_MAX_RANGE_M` of the sensor at `sensor_base_m` are rows of one
    /// roof when they are elongated and parallel (`JOIN_MIN_ELONGATION`, `JOIN_MAX_YAW_RAD`),
    /// overlap along their length by `ROW_MIN_OVERLAP` of the shorter, lie at most
    /// `ROW_MAX_GAP_M` apart across it with tops within `ROW_MAX_TOP_DIFF_M`, and together stay
    /// `ROW_MIN_CLEARANCE_M` clear of every admitted box in `admitted` (the rows behind a
    /// car's end seen from the aisle are that car's roof, not another car).
    pub fn join_roof_rows(
        &self,
        objects: Vec<LidarObject>,
        admitted: &[&Box3],
        sensor_base_m: [f64; 3],
    ) -> Vec<LidarObject> {
        let view = [sensor_base_m[0], sensor_base_m[1]];
        let top = |b: &Box3| b.z_m + 0.5 * b.height_m;
        let row = |o: &LidarObject| {
            let b = &o.shape;
            let bottom = b.z_m - 0.5 * b.height_m;
            let long = b.length_m.max(b.width_m);
            bottom > self.max_bottom_above_ground_m
                && top(b) <= self.max_height_m
                && (b.x_m - view[0]).hypot(b.y_m - view[1]) <= SEEN_OVER_MAX_RANGE_M + 0.5 * long
        };
        let compatible =
            |a: &Member, b: &Member| a.parallel(b, JOIN_MAX_YAW_RAD, ROW_MAX_TOP_DIFF_M);
        join_pairs(objects, row, ROW_MAX_GAP_M, compatible, |all, i, j| {
            // Parallel and as high: `join_pairs` offers only pairs that are.
            let (sa, sb) = (&all[i].shape, &all[j].shape);
            let ya = axis_rad(sa)?;
            let (s, c) = ya.sin_cos();
            let along = |p: [f64; 2]| c * p[0] + s * p[1];
            let across = |p: [f64; 2]| -s * p[0] + c * p[1];
            let ((a0, a1), (b0, b1)) = (span(sa, &along), span(sb, &along));
            let overlap = a1.min(b1) - a0.max(b0);
            let ((c0, c1), (d0, d1)) = (span(sa, &across), span(sb, &across));
            let gap_m = (d0 - c1).max(c0 - d1);
            if overlap < ROW_MIN_OVERLAP * (a1 - a0).min(b1 - b0) || gap_m > ROW_MAX_GAP_M {
                return None;
            }
            let joined = union_in_axes(&all[i], &all[j], ya);
            let u = &joined.shape;
            admitted
                .iter()
                .all(|o| {
                    crate::geometry::rect_gap_m(
                        &box_corners(o),
                        o.yaw_rad,
                        &box_corners(u),
                        u.yaw_rad,
                    ) >= ROW_MIN_CLEARANCE_M
                })
                .then_some((gap_m, joined))
        })
    }

    /// Whether `b` floats (its bottom above `max_bottom_above_ground_m`, its top under
    /// `max_height_m`, within `SEEN_OVER_MAX_RANGE_M`) because a box of `occluders` hides what
    /// is below it from the sensor at `sensor_base_m`: an occluder lower than the sensor that a
    /// ray from the sensor through `b` (its middle or near either side) leaves
    /// `SEEN_OVER_MIN_GAP_M` before reaching `b`'s nearest corner, with `b`'s bottom at most
    /// `SEEN_OVER_TOLERANCE_M` above that ray's height there when it just clears the
    /// occluder's top where it leaves it.
    pub fn hidden_below(&self, b: &Box3, occluders: &[&Box3], sensor_base_m: [f64; 3]) -> bool {
        let bottom = b.z_m - 0.5 * b.height_m;
        let top = b.z_m + 0.5 * b.height_m;
        if bottom <= self.max_bottom_above_ground_m || top > self.max_height_m {
            return false;
        }
        let centre_rad = (b.y_m - sensor_base_m[1]).atan2(b.x_m - sensor_base_m[0]);
        let Some((lo, hi, near)) = crate::geometry::footprint_span(
            [b.x_m, b.y_m],
            b.yaw_rad,
            [0.5 * b.length_m, 0.5 * b.width_m],
            [sensor_base_m[0], sensor_base_m[1]],
            centre_rad,
        ) else {
            return false;
        };
        if near > SEEN_OVER_MAX_RANGE_M {
            return false;
        }
        let rays = [0.0, 0.8 * lo, 0.8 * hi].map(|r| (centre_rad + r).sin_cos());
        occluders.iter().any(|o| {
            let o_top = o.z_m + 0.5 * o.height_m;
            o_top < sensor_base_m[2]
                && rays.iter().any(|&(s, c)| {
                    ray_exit_m(o, sensor_base_m, [c, s]).is_some_and(|exit_m| {
                        let ray_m = sensor_base_m[2] + (o_top - sensor_base_m[2]) * near / exit_m;
                        exit_m + SEEN_OVER_MIN_GAP_M < near
                            && bottom <= ray_m + SEEN_OVER_TOLERANCE_M
                    })
                })
        })
    }

    /// Whether a box (in `base_link`) may be a road user.
    pub fn admits(&self, b: &Box3) -> bool {
        let footprint = b.length_m.max(b.width_m);
        let bottom = b.z_m - 0.5 * b.height_m;
        b.length_m <= self.max_length_m
            && b.height_m <= self.max_height_m
            && b.height_m >= self.min_height_m
            && footprint >= self.min_footprint_m
            && !(footprint < self.pole_max_footprint_m
                && b.height_m > self.pole_min_height_m
                && (footprint < self.pole_thin_footprint_m
                    || b.width_m.min(b.length_m) >= self.pole_min_aspect * footprint))
            && !(footprint < self.pole_thin_footprint_m
                && b.z_m + 0.5 * b.height_m > self.pole_min_top_m)
            && !(b.width_m.min(b.length_m)
                < self
                    .rail_max_width_m
                    .max(self.rail_max_width_per_length * footprint)
                && footprint > self.rail_min_length_m)
            && bottom <= self.max_bottom_above_ground_m
    }
}

/// The LiDAR's blind sectors for the tracker are judged over this many of its last sweeps.
const LIDAR_BLIND_SCANS: usize = 5;

/// Parts of one object cut apart by a nearer one (`ObjectGate::join_occluded_parts`): each
/// part's long side at least this many times its short side (a side, not a corner or a blob).
const JOIN_MIN_ELONGATION: f64 = 2.0;
/// Their headings differ by at most this, rad.
const JOIN_MAX_YAW_RAD: f64 = 0.2;
/// Their centres are at most this far off the line through the longer part, m.
const JOIN_MAX_LATERAL_M: f64 = 0.5;
/// Their tops differ by at most this, m.
const JOIN_MAX_TOP_DIFF_M: f64 = 0.5;
/// The gap between their facing ends is at most this, m (a pole's or a pedestrian's shadow).
const JOIN_MAX_GAP_M: f64 = 2.0;
/// Together at most this long, m: a car or a van (two vehicles queued behind a pole are not
/// one, and a truck's parts are long enough to read alone).
const JOIN_MAX_LENGTH_M: f64 = 8.0;
/// The occluder's bearings reach each end of the gap's to within this, rad (two columns of
/// a 1024-column sweep).
const JOIN_BEARING_TOLERANCE_RAD: f64 = 0.0123;
/// The occluder's nearest corner is at least this much nearer than the gap, m.
const JOIN_MIN_OCCLUDER_LEAD_M: f64 = 0.5;

/// Beam rows of one roof (`ObjectGate::join_roof_rows`): they overlap along their length by
/// at least this fraction of the shorter one.
const ROW_MIN_OVERLAP: f64 = 0.7;
/// They lie at most this far apart across their length, m.
const ROW_MAX_GAP_M: f64 = 1.0;
/// Their tops differ by at most this, m.
const ROW_MAX_TOP_DIFF_M: f64 = 0.3;
/// Together they keep at least this far from every admitted box, m.
const ROW_MIN_CLEARANCE_M: f64 = 0.5;

/// The union of `a` and `b` as one object: its box in the axes at `axis_rad` (the footprint
/// extents of both along and across it, the lowest bottom and the highest top), the counts
/// summed, the time offset weighted by points.
fn union_in_axes(a: &LidarObject, b: &LidarObject, axis_rad: f64) -> LidarObject {
    let (s, c) = axis_rad.sin_cos();
    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
    for p in box_corners(&a.shape).iter().chain(&box_corners(&b.shape)) {
        let q = [c * p[0] + s * p[1], -s * p[0] + c * p[1]];
        for k in 0..2 {
            lo[k] = lo[k].min(q[k]);
            hi[k] = hi[k].max(q[k]);
        }
    }
    let (sa, sb) = (&a.shape, &b.shape);
    let bottom = (sa.z_m - 0.5 * sa.height_m).min(sb.z_m - 0.5 * sb.height_m);
    let roof = (sa.z_m + 0.5 * sa.height_m).max(sb.z_m + 0.5 * sb.height_m);
    let (u, v) = (0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]));
    let points = a.point_count + b.point_count;
    let time_offset_s = if points == 0 {
        0.5 * (a.time_offset_s + b.time_offset_s)
    } else {
        (a.point_count as f64 * a.time_offset_s + b.point_count as f64 * b.time_offset_s)
            / points as f64
    };
    LidarObject {
        shape: Box3 {
            x_m: c * u - s * v,
            y_m: s * u + c * v,
            z_m: 0.5 * (bottom + roof),
            yaw_rad: crate::geometry::wrap_angle_rad(axis_rad),
            length_m: hi[0] - lo[0],
            width_m: hi[1] - lo[1],
            height_m: roof - bottom,
        },
        voxel_count: a.voxel_count + b.voxel_count,
        point_count: points,
        time_offset_s,
        seam_parts: None,
    }
}

/// The heading of `b`'s long side, when it is at least `JOIN_MIN_ELONGATION` times its short
/// one (a side, not a corner or a blob).
fn axis_rad(b: &Box3) -> Option<f64> {
    let long = b.length_m.max(b.width_m);
    let short = b.length_m.min(b.width_m);
    let yaw_rad = if b.length_m >= b.width_m {
        b.yaw_rad
    } else {
        b.yaw_rad + std::f64::consts::FRAC_PI_2
    };
    (long >= JOIN_MIN_ELONGATION * short).then_some(yaw_rad)
}

/// The extent of `b`'s footprint corners along the linear form `f`: (lowest, highest).
fn span(b: &Box3, f: &dyn Fn([f64; 2]) -> f64) -> (f64, f64) {
    box_corners(b)
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(f(*p)), hi.max(f(*p)))
        })
}

/// What [`join_pairs`] knows of a member for its pair tests, which need no trigonometry: its
/// centre, its long side (m), the unit vector along it, and its top (m).
struct Member {
    index: usize,
    centre: [f64; 2],
    long_m: f64,
    axis: [f64; 2],
    top_m: f64,
}

impl Member {
    /// Whether two members' long sides are parallel to `max_yaw_rad` and their tops within
    /// `max_top_diff_m`.
    fn parallel(&self, other: &Member, max_yaw_rad: f64, max_top_diff_m: f64) -> bool {
        let cross = self.axis[0] * other.axis[1] - self.axis[1] * other.axis[0];
        cross.abs() <= max_yaw_rad.sin() && (self.top_m - other.top_m).abs() <= max_top_diff_m
    }
}

/// Joins pairs of the `objects` that are `member`s (elongated: see [`axis_rad`]), greedily:
/// each pass collects every pair `join` accepts (with a key, smallest first, and the union),
/// joins each object at most once, and passes repeat until none joins. Only pairs whose
/// centres lie within 3/4 of their long sides plus `pad_m` of each other on both axes (members
/// are at least twice as long as wide, so parts along one line or side by side within `pad_m`
/// are) and that `compatible` accepts are offered (`join` must refuse the others), found by a
/// sweep over x. Deterministic: ties keep the input order.
fn join_pairs(
    mut objects: Vec<LidarObject>,
    member: impl Fn(&LidarObject) -> bool,
    pad_m: f64,
    compatible: impl Fn(&Member, &Member) -> bool,
    join: impl Fn(&[LidarObject], usize, usize) -> Option<(f64, LidarObject)>,
) -> Vec<LidarObject> {
    loop {
        let mut members: Vec<Member> = objects
            .iter()
            .enumerate()
            .filter(|(_, o)| member(o))
            .filter_map(|(index, o)| {
                let b = &o.shape;
                let (s, c) = axis_rad(b)?.sin_cos();
                Some(Member {
                    index,
                    centre: [b.x_m, b.y_m],
                    long_m: b.length_m.max(b.width_m),
                    axis: [c, s],
                    top_m: b.z_m + 0.5 * b.height_m,
                })
            })
            .collect();
        let longest_m = members.iter().map(|m| m.long_m).fold(0.0, f64::max);
        members.sort_by(|a, b| a.centre[0].total_cmp(&b.centre[0]));
        let mut joins: Vec<(f64, usize, usize, LidarObject)> = Vec::new();
        for (n, a) in members.iter().enumerate() {
            for b in &members[n + 1..] {
                let (dx, dy) = (b.centre[0] - a.centre[0], b.centre[1] - a.centre[1]);
                if dx > 0.75 * (a.long_m + longest_m) + pad_m {
                    break;
                }
                let reach_m = 0.75 * (a.long_m + b.long_m) + pad_m;
                if dx > reach_m || dy.abs() > reach_m || !compatible(a, b) {
                    continue;
                }
                let (i, j) = (a.index.min(b.index), a.index.max(b.index));
                if let Some((key, joined)) = join(&objects, i, j) {
                    joins.push((key, i, j, joined));
                }
            }
        }
        if joins.is_empty() {
            return objects;
        }
        joins.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut used = vec![false; objects.len()];
        let mut gone = vec![false; objects.len()];
        for (_, i, j, joined) in joins {
            if used[i] || used[j] {
                continue;
            }
            used[i] = true;
            used[j] = true;
            objects[i] = joined;
            gone[j] = true;
        }
        let mut k = 0;
        objects.retain(|_| {
            k += 1;
            !gone[k - 1]
        });
    }
}

/// The four footprint corners of `b`.
fn box_corners(b: &Box3) -> [[f64; 2]; 4] {
    let (s, c) = b.yaw_rad.sin_cos();
    let (hl, hw) = (0.5 * b.length_m, 0.5 * b.width_m);
    [(1.0, 1.0), (1.0, -1.0), (-1.0, -1.0), (-1.0, 1.0)].map(|(u, v)| {
        [
            b.x_m + u * hl * c - v * hw * s,
            b.y_m + u * hl * s + v * hw * c,
        ]
    })
}

/// A box seen over a nearer object is the top of something standing: a roof seen from above
/// is this wide both ways, a beam's row across a far object (one flat fragment) is not, m.
const SEEN_OVER_MIN_WIDTH_M: f64 = 0.8;

/// A box seen over a nearer object shows at least this much of its height (the top of its
/// sides below its roof), m: one beam's row across a far object, cut off the rest of it by
/// the clustering, is flat.
const SEEN_OVER_MIN_HEIGHT_M: f64 = 0.15;

/// Or one beam's row across a roof seen over a nearer object, as long as a car: from a bay,
/// the car two bays away shows one row 0.45 m wide and 0.1 m high (the next row misses its
/// roof), m.
const SEEN_OVER_ROW_MIN_LENGTH_M: f64 = 3.5;
/// See `SEEN_OVER_ROW_MIN_LENGTH_M`, m.
const SEEN_OVER_ROW_MIN_WIDTH_M: f64 = 0.3;
/// A row longer than a car is the top of a wall beyond the cars, m.
const SEEN_OVER_ROW_MAX_LENGTH_M: f64 = 5.5;
/// A row seen over something itself seen over a nearer object (the car three bays away over
/// the roof of the car two bays away) is this wide at least, m: the beams graze it.
const SEEN_OVER_FAR_ROW_MIN_WIDTH_M: f64 = 0.08;
/// See `SEEN_OVER_ROW_MIN_LENGTH_M`, m.
const SEEN_OVER_ROW_MIN_HEIGHT_M: f64 = 0.08;

/// Only this near (m) does a LiDAR 2 m up see enough of something over a car-high object.
const SEEN_OVER_MAX_RANGE_M: f64 = 15.0;

/// A box seen over a nearer object lies at least this far behind it along the ray, m (the
/// upper rows of one object, cut into several clusters at long range, do not).
const SEEN_OVER_MIN_GAP_M: f64 = 0.4;

/// How far above the lowest ray over a nearer object a box's bottom may be and still be
/// that object's shadow line (beam spacing and the object's own shape), m.
const SEEN_OVER_TOLERANCE_M: f64 = 0.3;

/// Where the ray from `sensor_base_m` along the unit `dir` leaves `b`'s footprint (m along the
/// ray), if it crosses it ahead of the sensor.
fn ray_exit_m(b: &Box3, sensor_base_m: [f64; 3], dir: [f64; 2]) -> Option<f64> {
    crate::geometry::ray_rect_interval(
        [sensor_base_m[0], sensor_base_m[1]],
        dir,
        [b.x_m, b.y_m],
        b.yaw_rad,
        [0.5 * b.length_m, 0.5 * b.width_m],
    )
    .map(|(_, exit)| exit)
}

/// All stage configurations.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    /// Which LiDAR clusters go to the tracker.
    pub object_gate: ObjectGate,
    /// Time synchronisation (IMU and wheel are removed from it: they feed the EKF directly).
    pub sync: SyncConfig,
    /// Ego EKF.
    pub ego: EgoConfig,
    /// LiDAR stages.
    pub lidar: LidarPipelineConfig,
    /// Tracker (its LiDAR viewpoint is set from the LiDAR mounting on the first sweep).
    pub tracker: TrackerConfig,
    /// Health monitor.
    pub health: HealthConfig,
    /// Deadline budget.
    pub budget: BudgetConfig,
    /// Ultrasonic sensors by index (`SensorId::Ultrasonic(i)`) with their names.
    pub ultrasonic_names: BTreeMap<u8, String>,
    /// Retrodiction of late measurements.
    pub retrodiction: RetrodictionConfig,
    /// Nominal rates set with [`PipelineConfig::set_nominal_rate_hz`], Hz (an `Ultrasonic(_)`
    /// entry for every ultrasonic sensor); the others are the topic contract's.
    pub nominal_rates_hz: BTreeMap<SensorId, f64>,
    /// Sensors the system does not have, set with [`PipelineConfig::remove_sensor`]: the radar,
    /// the camera, and `Ultrasonic(0)` for every ultrasonic sensor. Applied when the pipeline is
    /// built, whatever else the configuration lists.
    pub removed_sensors: BTreeSet<SensorId>,
}

impl PipelineConfig {
    /// Sets a sensor's nominal rate, Hz, for a system whose sensors run at other rates than
    /// the topic contract's: the synchroniser's period for it and the health monitor's rate
    /// (its rate drops and dropouts are judged against it); any `Ultrasonic(_)` sets every
    /// ultrasonic sensor's.
    pub fn set_nominal_rate_hz(
        &mut self,
        sensor: SensorId,
        rate_hz: f64,
    ) -> Result<(), PipelineError> {
        // Positive, and a period of at least a nanosecond (0 means event-driven).
        if !(rate_hz.is_finite() && rate_hz > 0.0 && rate_hz <= 1e9) {
            return Err(PipelineError::InvalidRate { sensor, rate_hz });
        }
        let period_ns = (1e9 / rate_hz).round() as i64;
        let key = match sensor {
            SensorId::Ultrasonic(_) => {
                self.sync.ultrasonic_timing.period_ns = period_ns;
                SensorId::Ultrasonic(0)
            }
            other => {
                self.sync
                    .sensors
                    .entry(other)
                    .or_insert(SensorTiming {
                        latency_ns: 0,
                        period_ns,
                    })
                    .period_ns = period_ns;
                other
            }
        };
        // A reference slower than the contract's: the fallback must not take over between
        // two of its items.
        if sensor == self.sync.reference {
            self.sync.reference_silence_ns = self
                .sync
                .reference_silence_ns
                .max(period_ns.saturating_mul(3));
        }
        self.nominal_rates_hz.insert(key, rate_hz);
        Ok(())
    }

    /// Removes a sensor the system does not have: the radar, the camera, or (any
    /// `Ultrasonic(_)`) every ultrasonic sensor, whatever the rest of the configuration lists
    /// (it is applied when the pipeline is built). Its items are then refused and counted, and
    /// the cycles neither wait for it nor list it as late or absent. When the radar is removed
    /// the camera, if kept, triggers the cycles while the LiDAR is silent. The LiDAR (or
    /// whichever sensor is the synchroniser's reference), the IMU and the wheel speed cannot be
    /// removed.
    pub fn remove_sensor(&mut self, sensor: SensorId) -> Result<(), PipelineError> {
        if matches!(sensor, SensorId::Lidar | SensorId::Imu | SensorId::Wheel)
            || sensor == self.sync.reference
        {
            return Err(PipelineError::RequiredSensor { sensor });
        }
        self.removed_sensors.insert(kind_key(sensor));
        Ok(())
    }

    /// Whether the system has `sensor` (not removed with [`PipelineConfig::remove_sensor`]).
    pub fn has_sensor(&self, sensor: SensorId) -> bool {
        !self.removed_sensors.contains(&kind_key(sensor))
    }
}

/// A sensor's key in [`PipelineConfig::removed_sensors`]: `Ultrasonic(0)` for every
/// ultrasonic sensor, the sensor itself for the others.
fn kind_key(sensor: SensorId) -> SensorId {
    match sensor {
        SensorId::Ultrasonic(_) => SensorId::Ultrasonic(0),
        other => other,
    }
}

/// Inputs skipped, by sensor and reason.
pub type SkipCounts = BTreeMap<(SensorId, &'static str), u64>;

/// What one cycle produced.
#[derive(Debug, Clone, PartialEq)]
pub struct CycleOutput {
    /// The cycle's time: the LiDAR sweep stamp.
    pub stamp_ns: StampNs,
    /// The newest sensor stamp that went into the cycle.
    pub newest_input_ns: StampNs,
    /// Ego state at the cycle time, when the EKF has started.
    pub ego: Option<EgoState>,
    /// Confirmed tracks in `odom` at the cycle time, sorted by id.
    pub tracks: Vec<Track>,
    /// LiDAR objects found in the sweep (boxes in `base_link` at the cycle time).
    pub lidar_boxes: Vec<Box3>,
    /// Health findings at the cycle time.
    pub findings: Vec<Finding>,
    /// Stage timings and the degradation used.
    pub timing: CycleTiming,
    /// Sensors that missed this cycle alive: waited for until the timeout.
    pub late: Vec<SensorId>,
    /// Sensors that missed this cycle silent: dead or not on this system, not waited for
    /// (see `SyncConfig::absent_after_ns`).
    pub absent: Vec<SensorId>,
    /// The sweep's labelled cloud (`base_link` at the cycle time), when the LiDAR config's
    /// `keep_cloud` is set.
    pub lidar_cloud: Option<LabelledCloud>,
}

/// The fusion pipeline.
pub struct Pipeline {
    config: PipelineConfig,
    sync: TimeSync<Input>,
    ego: EgoEkf,
    lidar: LidarPipeline,
    tracker: Option<Tracker>,
    health: HealthMonitor,
    budget: Budget,
    /// The yaw correction applied to the radar's mounting at the last cycle, deg (`None`: the
    /// radar is used as mounted).
    radar_yaw_correction_deg: Option<f64>,
    /// Inputs rejected, per sensor and reason.
    pub skipped: SkipCounts,
    /// Measurements that arrived after their cycle and were retrodicted, per sensor.
    pub retrodicted: BTreeMap<SensorId, u64>,
    /// The tracker's cycles within the retrodiction window, oldest first.
    history: Vec<CycleRecord>,
    /// The last cycle's stamp.
    last_cycle_ns: Option<StampNs>,
}

/// A measurement of the cycle other than the sweep, for the tracker.
enum Measurement<'a> {
    Radar(&'a RadarScan),
    Camera(&'a CameraFrame),
    Ultrasonic(&'a UltrasonicRange),
}

impl<'a> Measurement<'a> {
    /// The measurement an input is, if it is a radar scan, camera frame or ultrasonic reading.
    fn of(input: &'a Input) -> Option<Self> {
        match input {
            Input::Radar(r) => Some(Measurement::Radar(r)),
            Input::Camera(c) => Some(Measurement::Camera(c)),
            Input::Ultrasonic(u) => Some(Measurement::Ultrasonic(u)),
            Input::Lidar(_) | Input::Imu(_) | Input::Wheel(_) => None,
        }
    }

    /// Whether the tracker takes it with camera and ultrasonic updates on or off (radar
    /// always).
    fn tracked_with(&self, camera_enabled: bool, ultrasonic_enabled: bool) -> bool {
        match self {
            Measurement::Radar(_) => true,
            Measurement::Camera(_) => camera_enabled,
            Measurement::Ultrasonic(_) => ultrasonic_enabled,
        }
    }

    /// Its rank among measurements of one stamp (radar, camera, ultrasonic).
    fn rank(&self) -> u8 {
        match self {
            Measurement::Radar(_) => 0,
            Measurement::Camera(_) => 1,
            Measurement::Ultrasonic(_) => 2,
        }
    }

    fn to_owned_input(&self) -> TrackerInput {
        match self {
            Measurement::Radar(r) => TrackerInput::Radar((*r).clone()),
            Measurement::Camera(c) => TrackerInput::Camera((*c).clone()),
            Measurement::Ultrasonic(u) => TrackerInput::Ultrasonic(**u),
        }
    }
}

/// A measurement the tracker took, kept for retrodiction (a radar scan with the mounting it
/// was used with).
#[derive(Debug, Clone)]
enum TrackerInput {
    Radar(RadarScan),
    Camera(CameraFrame),
    Ultrasonic(UltrasonicRange),
}

impl TrackerInput {
    /// The tracker measurement an input is (taken, not copied), if it is one.
    fn of(input: Input) -> Option<Self> {
        match input {
            Input::Radar(r) => Some(TrackerInput::Radar(r)),
            Input::Camera(c) => Some(TrackerInput::Camera(c)),
            Input::Ultrasonic(u) => Some(TrackerInput::Ultrasonic(u)),
            Input::Lidar(_) | Input::Imu(_) | Input::Wheel(_) => None,
        }
    }
}

/// One tracker update of a cycle: the measurement, its stamp and the ego state at it. Updates
/// run in the order of `(stamp_ns, rank, sensor)`.
#[derive(Debug, Clone)]
struct TrackerStep {
    stamp_ns: StampNs,
    rank: u8,
    sensor: SensorId,
    ego: EgoState,
    input: TrackerInput,
}

impl TrackerStep {
    fn order(&self) -> (StampNs, u8, SensorId) {
        (self.stamp_ns, self.rank, self.sensor)
    }
}

/// The sweep's update of a cycle.
#[derive(Debug, Clone)]
struct SweepStep {
    blind_sectors_rad: Vec<(f64, f64)>,
    ego: EgoState,
    boxes: AdmittedBoxes,
}

/// Everything the tracker did in one cycle and its state before, so that the cycle can be run
/// again with a measurement that arrived late.
#[derive(Debug, Clone)]
struct CycleRecord {
    stamp_ns: StampNs,
    /// The cycle before's stamp: the cycle holds the measurements stamped after it.
    prev_stamp_ns: Option<StampNs>,
    /// The ego state at the cycle time.
    ego_ref: EgoState,
    camera_enabled: bool,
    ultrasonic_enabled: bool,
    /// The tracker before the cycle (kept in the history only).
    before: Option<Tracker>,
    steps: Vec<TrackerStep>,
    /// The measurements of the cycle that its degradation kept from the tracker.
    untracked: Vec<(SensorId, StampNs)>,
    sweep: Option<SweepStep>,
}

impl CycleRecord {
    /// Whether the cycle's degradation lets the tracker take `m`.
    fn tracks(&self, m: &Measurement<'_>) -> bool {
        m.tracked_with(self.camera_enabled, self.ultrasonic_enabled)
    }
}

/// Turns a radar scan's mounting about z by `yaw_rad` (the health monitor's misalignment
/// correction).
fn turn_mount(scan: &mut RadarScan, yaw_rad: f64) {
    scan.base_from_sensor *= nalgebra::UnitQuaternion::from_euler_angles(0.0, 0.0, yaw_rad);
}

/// Feeds one radar, camera or ultrasonic measurement to the health monitor, as it came (a
/// radar scan with the mounting it reported): a radar scan's returns are paired with `boxes`,
/// its cycle's LiDAR objects in `base_link`, for the misalignment estimate.
fn record_health(health: &mut HealthMonitor, m: &Measurement<'_>, boxes: &[Box3]) {
    match m {
        Measurement::Radar(r) => {
            health.record_radar_scan(r.stamp_ns, &r.detections);
            let radar_from_base = r.base_from_sensor.inverse();
            let centres: Vec<[f64; 2]> = boxes
                .iter()
                .map(|b| {
                    let p = radar_from_base * nalgebra::Point3::new(b.x_m, b.y_m, b.z_m);
                    [p.x, p.y]
                })
                .collect();
            let pairs = match_radar_to_lidar(&r.detections, &centres, &CalibrationGates::default());
            health.record_radar_lidar_pairs(r.stamp_ns, &pairs);
        }
        Measurement::Camera(c) => health.record_camera_detections(c.stamp_ns, &c.detections),
        Measurement::Ultrasonic(u) => health.record_ultrasonic(u),
    }
}

/// Runs one cycle's tracker updates: each measurement at its stamp, then the sweep at the
/// cycle time; `done(stage)` after each.
fn run_tracker_cycle(tracker: &mut Tracker, record: &CycleRecord, mut done: impl FnMut(Stage)) {
    for step in &record.steps {
        tracker.predict_to(step.stamp_ns);
        match &step.input {
            TrackerInput::Radar(r) => {
                tracker.update_radar(r, &step.ego);
                done(Stage::TrackRadar);
            }
            TrackerInput::Camera(c) => {
                tracker.update_camera(c, &step.ego);
                done(Stage::TrackCamera);
            }
            TrackerInput::Ultrasonic(u) => {
                tracker.update_ultrasonic(u, &step.ego);
                done(Stage::TrackUltrasonic);
            }
        }
    }
    tracker.predict_to(record.stamp_ns);
    if let Some(sweep) = &record.sweep {
        tracker.set_lidar_blind_sectors(sweep.blind_sectors_rad.clone());
        tracker.update_lidar_timed(
            record.stamp_ns,
            &sweep.ego,
            &sweep.boxes.boxes,
            &sweep.boxes.time_offsets_s,
            &sweep.boxes.seam_parts,
        );
    }
}

impl Pipeline {
    /// A pipeline with `config`.
    pub fn new(mut config: PipelineConfig) -> Result<Self, PipelineError> {
        // The sensors the system does not have (validated and normalised first): no stream,
        // no name, no rate; the fallback passes to the next sensor the system has.
        let removed: Vec<SensorId> = std::mem::take(&mut config.removed_sensors)
            .into_iter()
            .collect();
        for sensor in removed {
            config.remove_sensor(sensor)?;
        }
        if !config.has_sensor(SensorId::Ultrasonic(0)) {
            config.ultrasonic_names.clear();
        }
        let removed = &config.removed_sensors;
        config
            .sync
            .sensors
            .retain(|s, _| !removed.contains(&kind_key(*s)));
        config
            .nominal_rates_hz
            .retain(|s, _| !removed.contains(&kind_key(*s)));
        if let Some(f) = config.sync.fallback_reference {
            if !config.has_sensor(f) {
                config.sync.fallback_reference = [SensorId::RadarFront, SensorId::CameraFront]
                    .into_iter()
                    .find(|s| {
                        *s != config.sync.reference
                            && config.has_sensor(*s)
                            && config.sync.sensors.contains_key(s)
                    });
            }
        }
        let mut sync = config.sync.clone();
        for i in config.ultrasonic_names.keys() {
            sync.sensors
                .entry(SensorId::Ultrasonic(*i))
                .or_insert(config.sync.ultrasonic_timing);
        }
        let mut health = HealthMonitor::new(config.health.clone());
        for (i, name) in &config.ultrasonic_names {
            health.set_sensor_name(SensorId::Ultrasonic(*i), name);
        }
        // The rates set for the system's sensors (the synchroniser has them as periods).
        for (sensor, rate_hz) in &config.nominal_rates_hz {
            match sensor {
                SensorId::Ultrasonic(_) => {
                    for i in config.ultrasonic_names.keys() {
                        health.set_nominal_rate(SensorId::Ultrasonic(*i), *rate_hz);
                    }
                }
                other => health.set_nominal_rate(*other, *rate_hz),
            }
        }
        sync.sensors.remove(&SensorId::Imu);
        sync.sensors.remove(&SensorId::Wheel);
        // Validate the tracker configuration now; the tracker itself starts on the first sweep.
        Tracker::new(config.tracker)?;
        Ok(Self {
            sync: TimeSync::new(sync)?,
            ego: EgoEkf::new(config.ego.clone())?,
            lidar: LidarPipeline::new(config.lidar),
            tracker: None,
            radar_yaw_correction_deg: None,
            health,
            budget: Budget::new(config.budget),
            skipped: SkipCounts::new(),
            retrodicted: BTreeMap::new(),
            history: Vec::new(),
            last_cycle_ns: None,
            config,
        })
    }

    fn skip(&mut self, sensor: SensorId, reason: &'static str) {
        *self.skipped.entry((sensor, reason)).or_default() += 1;
    }

    /// Whether an input of `sensor` is taken: a sensor the system has, and for an ultrasonic
    /// sensor one named in the configuration, for the radar or camera one the synchroniser
    /// has.
    fn takes(&self, sensor: SensorId) -> bool {
        self.config.has_sensor(sensor)
            && match sensor {
                SensorId::Lidar | SensorId::Imu | SensorId::Wheel => true,
                SensorId::Ultrasonic(i) => self.config.ultrasonic_names.contains_key(&i),
                radar_or_camera => self.sync.config().sensors.contains_key(&radar_or_camera),
            }
    }

    /// Takes one input that arrived at `arrival_ns`; one of a sensor the system does not have
    /// (removed, an ultrasonic sensor without a name, a radar or camera the synchroniser does
    /// not have) is refused and counted (`not a sensor of this system`).
    pub fn push(&mut self, arrival_ns: StampNs, input: Input) {
        let sensor = input.sensor();
        if !self.takes(sensor) {
            self.skip(sensor, "not a sensor of this system");
            return;
        }
        self.health
            .record_arrival(sensor, input.stamp_ns(), arrival_ns);
        match input {
            Input::Imu(s) => {
                self.health.record_imu(&s);
                if let Err(e) = self.ego.push_imu(&s) {
                    self.skip(sensor, e.as_str());
                }
            }
            Input::Wheel(w) => {
                self.health.record_ego_speed(w.stamp_ns, w.speed_mps);
                if let Err(e) = self.ego.push_wheel(&w) {
                    self.skip(sensor, e.as_str());
                }
            }
            other => {
                let stamp = other.stamp_ns();
                let (outcome, late) = self
                    .sync
                    .push_keeping_late(sensor, stamp, arrival_ns, other);
                match late {
                    Some(item) => match self.retrodict(item) {
                        Ok(()) => *self.retrodicted.entry(sensor).or_default() += 1,
                        Err(reason) => self.skip(sensor, reason),
                    },
                    None => {
                        if let Some(reason) = outcome.rejection() {
                            self.skip(sensor, reason);
                        }
                    }
                }
            }
        }
    }

    /// Puts a measurement that arrived after its cycle among that cycle's measurements and runs
    /// the tracker again from that cycle: the tracker then stands where it would had the
    /// measurement come in time. The error names why it cannot: out of the window (or not a
    /// tracker measurement), the same sensor and stamp already taken, or a sensor the cycle's
    /// degradation had switched off (the health monitor takes it then all the same).
    fn retrodict(&mut self, item: Input) -> Result<(), &'static str> {
        const OUT_OF_SEQUENCE: &str = "out_of_sequence";
        let (sensor, t) = (item.sensor(), item.stamp_ns());
        let newest = self.history.last().map_or(StampNs::MIN, |r| r.stamp_ns);
        if self.config.retrodiction.window_ns <= 0
            || t < newest.saturating_sub(self.config.retrodiction.window_ns)
        {
            return Err(OUT_OF_SEQUENCE);
        }
        // The cycle it belongs to: the first whose stamp reaches it, if the one before is
        // known (else its cycle has left the window).
        let Some(r) = self.history.iter().position(|rec| t <= rec.stamp_ns) else {
            return Err(OUT_OF_SEQUENCE);
        };
        let record = &self.history[r];
        if record.prev_stamp_ns.is_none_or(|p| t <= p) {
            return Err(OUT_OF_SEQUENCE);
        }
        let Some(measurement) = Measurement::of(&item) else {
            return Err(OUT_OF_SEQUENCE);
        };
        if record
            .steps
            .iter()
            .any(|s| s.sensor == sensor && s.stamp_ns == t)
            || record.untracked.contains(&(sensor, t))
        {
            return Err("duplicate");
        }
        let tracker = if record.tracks(&measurement) {
            let Some(tracker) = record.before.clone() else {
                return Err(OUT_OF_SEQUENCE);
            };
            Some(tracker)
        } else {
            None
        };
        // The health monitor takes it, with its cycle's LiDAR objects, also when the cycle's
        // degradation keeps it from the tracker.
        let boxes = record
            .sweep
            .as_ref()
            .map_or(&[][..], |s| &s.boxes.boxes[..]);
        record_health(&mut self.health, &measurement, boxes);
        let Some(mut tracker) = tracker else {
            self.history[r].untracked.push((sensor, t));
            return Err("late_for_a_degraded_cycle");
        };
        let rank = measurement.rank();
        let Some(mut input) = TrackerInput::of(item) else {
            return Err(OUT_OF_SEQUENCE);
        };
        if let (TrackerInput::Radar(scan), Some(fix_deg)) =
            (&mut input, self.radar_yaw_correction_deg)
        {
            turn_mount(scan, fix_deg.to_radians());
        }
        let step = TrackerStep {
            stamp_ns: t,
            rank,
            sensor,
            ego: self.ego.state_at(t).unwrap_or(record.ego_ref),
            input,
        };
        let pos = record.steps.partition_point(|s| s.order() <= step.order());
        self.history[r].steps.insert(pos, step);
        for (i, record) in self.history.iter_mut().enumerate().skip(r) {
            if i > r {
                record.before = Some(tracker.clone());
            }
            run_tracker_cycle(&mut tracker, record, |_| {});
        }
        self.tracker = Some(tracker);
        Ok(())
    }

    /// Runs every cycle that is ready at `now_ns`.
    pub fn poll(&mut self, now_ns: StampNs, clock: &mut impl Clock) -> Vec<CycleOutput> {
        let mut out = Vec::new();
        while let Some(cycle) = self.sync.poll(now_ns) {
            let degrade = self.budget.begin(clock);
            self.budget.end_stage(Stage::Sync, clock);
            // A LiDAR sweep, or (the LiDAR silent) the fallback sensor's item: a degraded
            // cycle of the other sensors without the LiDAR stages.
            let scan = match &cycle.reference.item {
                Input::Lidar(scan) => Some(scan),
                Input::Radar(_) | Input::Camera(_) | Input::Ultrasonic(_) => None,
                other => {
                    self.skip(other.sensor(), "reference cannot trigger a cycle");
                    self.budget.end(clock);
                    continue;
                }
            };
            let stamp = cycle.stamp_ns;
            let mut newest_input_ns = stamp;
            let ego_ref = self.ego.state_at(stamp);
            self.budget.end_stage(Stage::Ego, clock);
            let Some(ego_ref) = ego_ref else {
                self.skip(SensorId::Lidar, "ego not initialised");
                self.last_cycle_ns = Some(stamp);
                let timing = self.budget.end(clock);
                out.push(CycleOutput {
                    stamp_ns: stamp,
                    newest_input_ns,
                    ego: None,
                    tracks: Vec::new(),
                    lidar_boxes: Vec::new(),
                    findings: Vec::new(),
                    timing,
                    late: cycle.late.clone(),
                    absent: cycle.absent.clone(),
                    lidar_cloud: None,
                });
                continue;
            };

            // LiDAR stages.
            let ego = &self.ego;
            let pose_at = |t: StampNs| {
                ego.odom_from_base_at(t)
                    .unwrap_or_else(|| ego_ref.odom_from_base())
            };
            let voxel = (degrade != Degrade::None).then(|| {
                (f64::from(self.config.lidar.voxel_size_m) * degrade.voxel_scale()) as f32
            });
            let lidar_out = scan.map(|scan| {
                self.lidar
                    .run(scan, pose_at, DeskewReference::Stamp(stamp), voxel)
            });
            let mut lidar_out = lidar_out;
            let lidar_cloud = match lidar_out.as_mut() {
                Some(Ok(o)) => o.cloud.take(),
                _ => None,
            };
            let admitted = match (lidar_out, scan) {
                (Some(Ok(o)), Some(scan)) => {
                    let t = scan.base_from_sensor.translation.vector;
                    self.config
                        .object_gate
                        .admit_all(&o.objects, [t.x, t.y, t.z])
                }
                (Some(Err(_)), _) => {
                    self.skip(SensorId::Lidar, "lidar stage error");
                    AdmittedBoxes::default()
                }
                _ => AdmittedBoxes::default(),
            };
            self.budget.end_stage(Stage::Lidar, clock);

            // Tracker: the cycle's other measurements in stamp order, then the sweep.
            if let (None, Some(scan)) = (&self.tracker, scan) {
                let mut cfg = self.config.tracker;
                let t = scan.base_from_sensor.translation.vector;
                cfg.lidar.viewpoint_base_m = [t.x, t.y];
                self.tracker = Tracker::new(cfg).ok();
            }
            // Every radar, camera and ultrasonic measurement of the cycle, with whether the
            // tracker takes it: the health monitor takes them all, the tracker those that the
            // budget's degradation leaves on.
            let mut measurements: Vec<(StampNs, SensorId, Measurement<'_>, bool)> = Vec::new();
            // Without the LiDAR, the fallback item is one of the cycle's measurements.
            if scan.is_none() {
                let (t, item) = (cycle.stamp_ns, &cycle.reference.item);
                let sensor = item.sensor();
                if let Some(m) = Measurement::of(item) {
                    // A camera fallback item too is skipped while the budget has the camera off.
                    let tracked =
                        m.tracked_with(degrade.camera_enabled(), degrade.ultrasonic_enabled());
                    measurements.push((t, sensor, m, tracked));
                }
            }
            for (sensor, items) in &cycle.items {
                for it in items {
                    newest_input_ns = newest_input_ns.max(it.stamp_ns);
                    if let Some(m) = Measurement::of(&it.item) {
                        let tracked =
                            m.tracked_with(degrade.camera_enabled(), degrade.ultrasonic_enabled());
                        measurements.push((it.stamp_ns, *sensor, m, tracked));
                    }
                }
            }
            measurements.sort_by_key(|(t, sensor, m, _)| (*t, m.rank(), *sensor));
            // Online extrinsic correction: a radar the health monitor finds yawed on its mount
            // (its azimuths against the LiDAR objects', consistently beyond `calib_warn_deg`)
            // is used with its mounting turned back by the estimate, so its returns gate with
            // the tracks again. The monitor keeps measuring the raw azimuths, so its finding
            // stands.
            let radar_yaw_fix_rad = self
                .health
                .radar_yaw_correction_deg()
                .map(|offset_deg| -offset_deg.to_radians());
            self.radar_yaw_correction_deg = radar_yaw_fix_rad.map(f64::to_degrees);
            if let Some(tracker) = self.tracker.as_mut() {
                let steps: Vec<TrackerStep> = measurements
                    .iter()
                    .filter(|(_, _, _, tracked)| *tracked)
                    .map(|(t, sensor, m, _)| {
                        let mut input = m.to_owned_input();
                        if let (TrackerInput::Radar(r), Some(fix_rad)) =
                            (&mut input, radar_yaw_fix_rad)
                        {
                            turn_mount(r, fix_rad);
                        }
                        TrackerStep {
                            stamp_ns: *t,
                            rank: m.rank(),
                            sensor: *sensor,
                            ego: self.ego.state_at(*t).unwrap_or(ego_ref),
                            input,
                        }
                    })
                    .collect();
                // Where the health monitor finds the LiDAR blind (over its last sweeps), in
                // `base_link` bearings.
                let sweep = scan.map(|scan| {
                    let (_, _, mount_yaw) = scan.base_from_sensor.rotation.euler_angles();
                    SweepStep {
                        blind_sectors_rad: self
                            .health
                            .lidar_blind_sectors(LIDAR_BLIND_SCANS)
                            .into_iter()
                            .map(|(lo, hi)| (lo + mount_yaw, hi + mount_yaw))
                            .collect(),
                        ego: ego_ref,
                        boxes: admitted.clone(),
                    }
                });
                let record = CycleRecord {
                    stamp_ns: stamp,
                    prev_stamp_ns: self.last_cycle_ns,
                    ego_ref,
                    camera_enabled: degrade.camera_enabled(),
                    ultrasonic_enabled: degrade.ultrasonic_enabled(),
                    before: None,
                    steps,
                    untracked: measurements
                        .iter()
                        .filter(|(_, _, _, tracked)| !*tracked)
                        .map(|(t, sensor, _, _)| (*sensor, *t))
                        .collect(),
                    sweep,
                };
                let budget = &mut self.budget;
                if self.config.retrodiction.window_ns > 0 {
                    let mut record = record;
                    record.before = Some(tracker.clone());
                    run_tracker_cycle(tracker, &record, |stage| budget.end_stage(stage, clock));
                    // After a clock jump back the kept cycles are of another time line.
                    if self.history.last().is_some_and(|r| r.stamp_ns >= stamp) {
                        self.history.clear();
                    }
                    self.history.push(record);
                    let oldest = stamp.saturating_sub(self.config.retrodiction.window_ns);
                    let stale = self.history.partition_point(|r| r.stamp_ns < oldest);
                    self.history.drain(..stale);
                } else {
                    run_tracker_cycle(tracker, &record, |stage| budget.end_stage(stage, clock));
                }
            }
            self.last_cycle_ns = Some(stamp);
            self.budget.end_stage(Stage::TrackLidar, clock);

            // Health.
            if let Some(scan) = scan {
                self.health.record_lidar_scan(scan.stamp_ns, &scan.points);
            }
            for (_, _, m, _) in &measurements {
                record_health(&mut self.health, m, &admitted.boxes);
            }
            self.health.record_gyro_bias(stamp, ego_ref.gyro_bias_radps);
            let findings = self.health.findings(stamp);
            self.budget.end_stage(Stage::Health, clock);

            let tracks = self
                .tracker
                .as_ref()
                .map(Tracker::tracks)
                .unwrap_or_default();
            let timing = self.budget.end(clock);
            out.push(CycleOutput {
                stamp_ns: stamp,
                newest_input_ns,
                ego: Some(ego_ref),
                tracks,
                lidar_boxes: admitted.boxes,
                findings,
                timing,
                late: cycle.late.clone(),
                absent: cycle.absent.clone(),
                lidar_cloud,
            });
        }
        out
    }

    /// The ego EKF.
    pub fn ego(&self) -> &EgoEkf {
        &self.ego
    }

    /// The tracker, once the first sweep has started it.
    pub fn tracker(&self) -> Option<&Tracker> {
        self.tracker.as_ref()
    }

    /// The health monitor.
    pub fn health(&self) -> &HealthMonitor {
        &self.health
    }

    /// The yaw correction (deg) the last cycle applied to the radar's mounting, from the
    /// health monitor's misalignment estimate; `None` while the radar is used as mounted.
    pub fn radar_yaw_correction_deg(&self) -> Option<f64> {
        self.radar_yaw_correction_deg
    }

    /// The deadline budget (misses, cycles per degradation level).
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// The synchroniser (per-sensor counters).
    pub fn sync(&self) -> &TimeSync<Input> {
        &self.sync
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upright(length_m: f64, width_m: f64, bottom_m: f64, top_m: f64) -> Box3 {
        Box3 {
            x_m: 3.0,
            y_m: -2.7,
            z_m: 0.5 * (bottom_m + top_m),
            yaw_rad: 0.3,
            length_m,
            width_m,
            height_m: top_m - bottom_m,
        }
    }

    /// A LiDAR object: its box centred at (`x_m`, `y_m`) with heading `yaw_rad`, length and
    /// width `lw`, from `z[0]` to `z[1]` above the ground, seen `time_offset_s` after the sweep.
    fn cluster_box(
        x_m: f64,
        y_m: f64,
        yaw_rad: f64,
        lw: [f64; 2],
        z: [f64; 2],
        time_offset_s: f64,
    ) -> LidarObject {
        LidarObject {
            shape: Box3 {
                x_m,
                y_m,
                z_m: 0.5 * (z[0] + z[1]),
                yaw_rad,
                length_m: lw[0],
                width_m: lw[1],
                height_m: z[1] - z[0],
            },
            voxel_count: 50,
            point_count: 200,
            time_offset_s,
            seam_parts: None,
        }
    }

    #[test]
    fn object_gate_keeps_road_users_and_drops_poles_cut_by_the_field_of_view() {
        let gate = ObjectGate::default();
        // A pedestrian and a cyclist standing on the ground.
        assert!(gate.admits(&upright(0.5, 0.6, 0.0, 1.8)));
        assert!(gate.admits(&upright(1.8, 0.6, 0.0, 1.7)));
        // A 0.3 m pole 3 m from a LiDAR 1.95 m up with a -25..+15 deg field of view: only
        // 0.7 m to 2.75 m is seen, a pedestrian's height, but its top is not a pedestrian's.
        assert!(!gate.admits(&upright(0.3, 0.3, 0.7, 2.75)));
        // The same pole further away, seen from the ground to 3.3 m: too tall.
        assert!(!gate.admits(&upright(0.3, 0.3, 0.0, 3.3)));
        // Half of a van's 2.2 m face cut at the sweep's seam stays (the tracker joins the
        // halves), also when more than 2.4 m of it is seen; a trunk as wide does not.
        assert!(gate.admits(&upright(0.86, 0.1, 0.3, 2.64)));
        assert!(gate.admits(&upright(0.91, 0.1, 0.23, 2.79)));
        assert!(!gate.admits(&upright(0.8, 0.5, 0.0, 3.0)));
        // A wall and a kerb are not objects, nor a long wall seen at a slant.
        assert!(!gate.admits(&upright(12.0, 0.3, 0.0, 3.0)));
        assert!(!gate.admits(&upright(17.3, 0.6, 0.0, 2.8)));
        // A truck seen at a slant is.
        assert!(gate.admits(&upright(12.0, 2.5, 0.0, 3.8)));
        assert!(!gate.admits(&upright(3.0, 0.3, 0.0, 0.15)));
    }

    /// A van passing behind the ego turns past a pole: the pole's shadow cuts its side into
    /// two clusters (the urban drive at 12.5 s: 3.81 m and 1.77 m of a 6.2 m side, 0.6 m
    /// apart, the pole 18.7 m away, the van 24 m). They are one box, a vehicle's; without the
    /// pole, with the parts too far apart for its shadow, or queued cars too long together
    /// to be one vehicle, they stay apart.
    #[test]
    fn the_parts_of_a_van_cut_by_a_pole_are_one_box() {
        let gate = ObjectGate::default();
        let sensor = [1.3, 0.0, 1.95];
        let object = |x_m, y_m, yaw_rad, lw, z| cluster_box(x_m, y_m, yaw_rad, lw, z, -0.04);
        let near = object(-23.86, 5.71, 1.19, [3.81, 0.13], [0.35, 2.74]);
        let far = object(-22.57, 8.89, 1.18, [1.77, 0.10], [0.39, 2.72]);
        let pole = object(-17.69, 6.12, 1.46, [0.27, 0.11], [0.26, 4.4]);
        assert!(!gate.admits(&pole.shape));
        let AdmittedBoxes {
            boxes,
            time_offsets_s: times,
            ..
        } = gate.admit_all(&[near.clone(), pole.clone(), far.clone()], sensor);
        assert_eq!(boxes.len(), 1, "{boxes:?}");
        assert_eq!(times, vec![-0.04]);
        let b = boxes[0];
        // The union's ends are the outer ends of the parts.
        let (s, c) = (1.19f64).sin_cos();
        let ends = [
            (
                near.shape.x_m - 0.5 * 3.81 * c,
                near.shape.y_m - 0.5 * 3.81 * s,
            ),
            (
                far.shape.x_m + 0.5 * 1.77 * (1.18f64).cos(),
                far.shape.y_m + 0.5 * 1.77 * (1.18f64).sin(),
            ),
        ];
        let length_m = (ends[1].0 - ends[0].0).hypot(ends[1].1 - ends[0].1);
        assert!((b.length_m - length_m).abs() < 0.1, "{b:?} {length_m}");
        let middle = (0.5 * (ends[0].0 + ends[1].0), 0.5 * (ends[0].1 + ends[1].1));
        assert!(
            (b.x_m - middle.0).hypot(b.y_m - middle.1) < 0.1,
            "{b:?} {middle:?}"
        );
        assert!(b.width_m < 0.3 && (b.height_m - 2.39).abs() < 0.01, "{b:?}");
        // No pole: nothing hid the gap, two objects.
        assert_eq!(
            gate.admit_all(&[near.clone(), far.clone()], sensor)
                .boxes
                .len(),
            2
        );
        // The pole beside the gap, not in front of it.
        let aside = object(-17.69, 3.0, 1.46, [0.27, 0.11], [0.26, 4.4]);
        assert_eq!(
            gate.admit_all(&[near.clone(), aside, far.clone()], sensor)
                .boxes
                .len(),
            2
        );
        // The far part 2.5 m farther on: more than a pole's shadow.
        let (s2, c2) = (1.18f64).sin_cos();
        let farther = object(
            -22.57 + 2.5 * c2,
            8.89 + 2.5 * s2,
            1.18,
            [1.77, 0.10],
            [0.39, 2.72],
        );
        assert_eq!(
            gate.admit_all(&[near.clone(), pole.clone(), farther], sensor)
                .boxes
                .len(),
            2
        );
        // Two 4.5 m cars queued 0.6 m apart behind the pole: 9.6 m together, not one vehicle.
        // Their facing ends where the van's parts have theirs.
        let (near_end, far_end) = (
            (
                near.shape.x_m + 0.5 * 3.81 * c,
                near.shape.y_m + 0.5 * 3.81 * s,
            ),
            (
                far.shape.x_m - 0.5 * 1.77 * c2,
                far.shape.y_m - 0.5 * 1.77 * s2,
            ),
        );
        let car_a = object(
            near_end.0 - 2.25 * c,
            near_end.1 - 2.25 * s,
            1.19,
            [4.5, 1.8],
            [0.0, 1.5],
        );
        let car_b = object(
            far_end.0 + 2.25 * c2,
            far_end.1 + 2.25 * s2,
            1.18,
            [4.5, 1.8],
            [0.0, 1.5],
        );
        assert_eq!(gate.admit_all(&[car_a, pole, car_b], sensor).boxes.len(), 2);
    }

    /// A parked car seen over its neighbour (the ego in the next bay, facing along the cars;
    /// LiDAR 1.95 m up): only its roof and the top 0.2 m of its side are seen, a box floating
    /// 1.35 m above the ground. It is taken down to the ground when the neighbour hides what
    /// is below it, and refused without that neighbour; a tree crown over the neighbour and a
    /// flat beam row are refused.
    #[test]
    fn a_car_seen_over_its_neighbour_stands_on_the_ground() {
        let gate = ObjectGate::default();
        let sensor = [1.3, 0.0, 1.95];
        let car = |y_m: f64, bottom_m: f64, top_m: f64, width_m: f64| LidarObject {
            shape: Box3 {
                x_m: 0.3,
                y_m,
                z_m: 0.5 * (bottom_m + top_m),
                yaw_rad: 0.0,
                length_m: 4.2,
                width_m,
                height_m: top_m - bottom_m,
            },
            voxel_count: 100,
            point_count: 400,
            time_offset_s: 0.01,
            seam_parts: None,
        };
        let neighbour = car(2.6, 0.0, 1.5, 1.85);
        let over = car(5.2, 1.35, 1.6, 1.6);
        let AdmittedBoxes {
            boxes,
            time_offsets_s: times,
            ..
        } = gate.admit_all(&[neighbour.clone(), over.clone()], sensor);
        assert_eq!(boxes.len(), 2, "{boxes:?}");
        assert_eq!(times, vec![0.01, 0.01]);
        let b = boxes[1];
        assert!(
            (b.z_m - 0.8).abs() < 1e-9 && (b.height_m - 1.6).abs() < 1e-9,
            "{b:?}"
        );
        assert_eq!((b.x_m, b.y_m, b.length_m), (0.3, 5.2, 4.2));
        // Alone it floats.
        assert_eq!(
            gate.admit_all(std::slice::from_ref(&over), sensor)
                .boxes
                .len(),
            0
        );
        // Behind the neighbour but farther up than its shadow line: a tree crown.
        let crown = car(5.2, 2.6, 4.0, 3.0);
        assert_eq!(
            gate.admit_all(&[neighbour.clone(), crown], sensor)
                .boxes
                .len(),
            1
        );
        // One beam's row, flat and thin.
        let row = car(5.2, 1.55, 1.6, 0.1);
        assert_eq!(gate.admit_all(&[neighbour, row], sensor).boxes.len(), 1);
    }

    /// From its bay the ego sees the car beyond its neighbour only as beam rows across its
    /// roof (the parking drive at 14.7 s: two rows 4.15 m long, 0.39 m and 0.64 m wide, 0.1
    /// and 0.2 m high, 0.5 m apart): they are one roof, taken down to the ground as a car. The
    /// car two bays away shows one row, 4.86 m by 0.45 m: a car too. Rows right behind an
    /// admitted box are that object's own roof (a car's end seen from the aisle), not another
    /// car.
    #[test]
    fn the_beam_rows_of_a_roof_seen_over_a_neighbour_are_a_car() {
        let gate = ObjectGate::default();
        let sensor = [1.3, 0.0, 1.95];
        let object = |x_m, y_m, yaw_rad, lw, z| cluster_box(x_m, y_m, yaw_rad, lw, z, 0.02);
        let neighbour = object(1.4, 2.6, 0.0, [4.5, 1.87], [0.0, 1.5]);
        let far_row = object(1.45, 5.70, -0.01, [4.15, 0.39], [1.55, 1.65]);
        let near_row = object(1.50, 4.65, 0.01, [4.14, 0.64], [1.40, 1.60]);
        let rows = [neighbour.clone(), far_row.clone(), near_row.clone()];
        let boxes = gate.admit_all(&rows, sensor).boxes;
        assert_eq!(boxes.len(), 2, "{boxes:?}");
        let car = boxes[1];
        let (lo, hi) = (near_row.shape.y_m - 0.32, far_row.shape.y_m + 0.195);
        assert!((car.width_m - (hi - lo)).abs() < 0.05, "{car:?}");
        assert!((car.y_m - 0.5 * (lo + hi)).abs() < 0.05, "{car:?}");
        assert!((car.length_m - 4.2).abs() < 0.1, "{car:?}");
        assert!((car.z_m - 0.5 * car.height_m).abs() < 1e-9, "{car:?}");
        assert!((car.height_m - 1.65).abs() < 1e-9, "{car:?}");
        // Either row alone is too narrow to be a roof seen over the neighbour.
        assert_eq!(gate.admit_all(&rows[..2], sensor).boxes.len(), 1);
        // One long row.
        let one_row = object(1.37, -7.34, 0.01, [4.86, 0.45], [1.45, 1.55]);
        let near = object(1.35, -4.59, 0.0, [4.30, 0.59], [0.19, 1.55]);
        assert_eq!(gate.admit_all(&[near, one_row], sensor).boxes.len(), 2);
        // A car's end seen from the aisle, 6 m ahead, with two rows of its own roof across
        // it 0.45 m and 1.3 m behind: no second car.
        let end = object(6.0, 0.0, 0.0, [0.2, 1.8], [0.0, 1.5]);
        let first = object(6.7, 0.0, 0.0, [0.3, 1.7], [1.3, 1.5]);
        let second = object(7.55, 0.0, 0.0, [0.3, 1.7], [1.3, 1.5]);
        assert_eq!(gate.admit_all(&[end, first, second], sensor).boxes.len(), 1);
    }

    /// From the bay (`parking` at 15 s): the neighbour's side, the row of the roof two bays
    /// away seen over it, and the row three bays away seen over that roof, one beam grazing
    /// it (0.1 m wide). Each hides the next: three cars. Without the middle roof the far row
    /// floats; a row longer than a car there is the top of the wall behind.
    #[test]
    fn a_roof_seen_over_a_roof_seen_over_a_neighbour_is_a_car() {
        let gate = ObjectGate::default();
        let sensor = [1.3, 0.0, 1.95];
        let object = |x_m, y_m, lw, z| cluster_box(x_m, y_m, 0.0, lw, z, 0.02);
        let side = object(1.31, -4.60, [4.33, 0.59], [0.19, 1.55]);
        let two_bays = object(1.30, -7.37, [4.79, 0.39], [1.45, 1.55]);
        let three_bays = object(1.29, -9.55, [4.14, 0.10], [1.47, 1.59]);
        let boxes = gate
            .admit_all(
                &[side.clone(), two_bays.clone(), three_bays.clone()],
                sensor,
            )
            .boxes;
        assert_eq!(boxes.len(), 3, "{boxes:?}");
        let far = boxes[2];
        assert!((far.y_m + 9.55).abs() < 1e-9, "{far:?}");
        assert!((far.z_m - 0.5 * far.height_m).abs() < 1e-9, "{far:?}");
        assert_eq!(
            gate.admit_all(&[side.clone(), three_bays], sensor)
                .boxes
                .len(),
            1
        );
        let wall_top = object(1.29, -9.55, [7.0, 0.10], [1.47, 1.59]);
        assert_eq!(
            gate.admit_all(&[side, two_bays, wall_top], sensor)
                .boxes
                .len(),
            2
        );
    }
}
