//! The fact sheet: the part of the world state a driver can ask about, in the ego frame, with
//! every figure rounded as it may be said.

use edgefuse_fusion::health::Finding;
use edgefuse_fusion::types::{EgoState, ObjectClass, Track, TrackStatus};
use serde::Serialize;

/// Half the lane width: objects closer than this to the ego's centre line are ahead or behind.
pub const LANE_HALF_WIDTH_M: f64 = 1.8;
/// Objects farther than this are left out of the fact sheet.
pub const RANGE_M: f64 = 60.0;

/// Where an object is, seen from the driver's seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Side {
    Ahead,
    Behind,
    Left,
    Right,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Ahead => "ahead",
            Side::Behind => "behind",
            Side::Left => "on the left",
            Side::Right => "on the right",
        }
    }
}

/// Lower-case class name as it is said.
pub fn class_name(class: ObjectClass) -> &'static str {
    match class {
        ObjectClass::Car => "car",
        ObjectClass::Truck => "truck",
        ObjectClass::Pedestrian => "pedestrian",
        ObjectClass::Cyclist => "cyclist",
        ObjectClass::Unknown => "object",
    }
}

pub(crate) fn ser_class<S: serde::Serializer>(c: &ObjectClass, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(class_name(*c))
}

pub(crate) fn ser_opt_class<S: serde::Serializer>(
    c: &Option<ObjectClass>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.serialize_str(class_name(*c)),
        None => s.serialize_none(),
    }
}

/// One object as the driver sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectFact {
    pub id: u64,
    #[serde(serialize_with = "ser_class")]
    pub class: ObjectClass,
    /// Forward and leftward offsets of the object's centre from the ego's, m.
    pub forward_m: f64,
    pub left_m: f64,
    /// Distance between the centres, m.
    pub distance_m: f64,
    pub side: Side,
    /// Rate at which the distance shrinks, m/s (negative: moving away).
    pub closing_mps: f64,
    /// Time to collision at the current closing speed, s (None when not closing).
    pub ttc_s: Option<f64>,
    /// In the ego's lane ahead.
    pub in_path: bool,
}

/// A sensor's state for the driver.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthFact {
    pub component: String,
    pub kind: String,
    pub severity: String,
    pub evidence: Vec<(String, f64)>,
    /// Slope of the monitored quantity, its unit per second.
    pub trend_per_s: f64,
    pub time_to_threshold_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactSheet {
    /// The world state's time, ns.
    pub stamp_ns: i64,
    pub ego_speed_mps: f64,
    /// Nearest first.
    pub objects: Vec<ObjectFact>,
    pub health: Vec<HealthFact>,
}

/// An object in `odom` for [`FactSheet::from_objects`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorldObject {
    pub id: u64,
    pub class: ObjectClass,
    pub x_m: f64,
    pub y_m: f64,
    pub vx_mps: f64,
    pub vy_mps: f64,
}

impl FactSheet {
    /// From the pipeline's output: confirmed tracks only.
    pub fn from_world(
        stamp_ns: i64,
        ego: &EgoState,
        tracks: &[Track],
        findings: &[Finding],
    ) -> Self {
        let objects: Vec<WorldObject> = tracks
            .iter()
            .filter(|t| t.status == TrackStatus::Confirmed)
            .map(|t| WorldObject {
                id: t.id,
                class: t.class,
                x_m: t.shape.x_m,
                y_m: t.shape.y_m,
                vx_mps: t.vx_mps,
                vy_mps: t.vy_mps,
            })
            .collect();
        Self::from_objects(
            stamp_ns,
            (ego.x_m, ego.y_m, ego.yaw_rad),
            ego.speed_mps,
            &objects,
            findings,
        )
    }

    /// From objects in `odom` and the ego pose `(x_m, y_m, yaw_rad)` there.
    pub fn from_objects(
        stamp_ns: i64,
        odom_from_ego: (f64, f64, f64),
        ego_speed_mps: f64,
        objects: &[WorldObject],
        findings: &[Finding],
    ) -> Self {
        let (ex, ey, eyaw) = odom_from_ego;
        let (c, s) = (eyaw.cos(), eyaw.sin());
        let (evx, evy) = (ego_speed_mps * c, ego_speed_mps * s);
        let mut facts: Vec<ObjectFact> = objects
            .iter()
            .filter_map(|o| {
                let (dx, dy) = (o.x_m - ex, o.y_m - ey);
                let forward_m = c * dx + s * dy;
                let left_m = -s * dx + c * dy;
                let distance_m = forward_m.hypot(left_m);
                if !(1e-3..=RANGE_M).contains(&distance_m) {
                    return None;
                }
                let side = if left_m.abs() <= LANE_HALF_WIDTH_M {
                    if forward_m >= 0.0 {
                        Side::Ahead
                    } else {
                        Side::Behind
                    }
                } else if left_m > 0.0 {
                    Side::Left
                } else {
                    Side::Right
                };
                let (rvx, rvy) = (o.vx_mps - evx, o.vy_mps - evy);
                let closing_mps = -(rvx * dx + rvy * dy) / distance_m;
                let ttc_s = (closing_mps > 0.3).then(|| distance_m / closing_mps);
                Some(ObjectFact {
                    id: o.id,
                    class: o.class,
                    forward_m,
                    left_m,
                    distance_m,
                    side,
                    closing_mps,
                    ttc_s,
                    in_path: side == Side::Ahead,
                })
            })
            .collect();
        facts.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m).then(a.id.cmp(&b.id)));
        let health = findings
            .iter()
            .map(|f| HealthFact {
                component: f.component.clone(),
                kind: f.kind.as_str().to_string(),
                severity: f.severity.as_str().to_string(),
                evidence: f.evidence.clone(),
                trend_per_s: f.trend_per_s,
                time_to_threshold_s: f.time_to_threshold_s,
            })
            .collect();
        Self {
            stamp_ns,
            ego_speed_mps,
            objects: facts,
            health,
        }
    }

    /// Objects on one side, nearest first.
    pub fn on_side(&self, side: Side) -> impl Iterator<Item = &ObjectFact> {
        self.objects.iter().filter(move |o| o.side == side)
    }

    /// The nearest object in the ego's path.
    pub fn lead(&self) -> Option<&ObjectFact> {
        self.objects.iter().find(|o| o.in_path)
    }

    /// Compact text for the prompt: one line per fact, figures as they may be said.
    pub fn to_prompt_text(&self) -> String {
        let mut out = format!("Your speed: {:.0} km/h.\n", self.ego_speed_mps * 3.6);
        if self.objects.is_empty() {
            out.push_str("Objects: none.\n");
        }
        for o in self.objects.iter().take(8) {
            out.push_str(&format!(
                "- {} {}, {:.0} m away",
                class_name(o.class),
                o.side.as_str(),
                o.distance_m
            ));
            if let Some(ttc) = o.ttc_s {
                out.push_str(&format!(
                    ", closing at {:.1} m/s, {:.0} s to collision",
                    o.closing_mps, ttc
                ));
            }
            out.push_str(".\n");
        }
        if self.health.is_empty() {
            out.push_str("Sensors: all working.\n");
        }
        for h in &self.health {
            out.push_str(&format!(
                "- sensor {}: {} ({}).\n",
                h.component,
                h.kind.replace('_', " "),
                h.severity
            ));
        }
        out
    }
}
