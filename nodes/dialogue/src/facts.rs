//! The fact sheet: the part of the world state a driver can ask about, in the ego frame, with
//! every figure rounded as it may be said.

use edgefuse_fusion::health::Finding;
use edgefuse_fusion::types::{EgoState, ObjectClass, Track, TrackStatus, UltrasonicRange};
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

/// A distance may be said within max(1.5 m, 10 %) of the fact (the checker's tolerance).
pub const DISTANCE_TOL_M: f64 = 1.5;
pub const DISTANCE_TOL_REL: f64 = 0.1;
/// A speed may be said within max(0.6 m/s, 10 %).
pub const SPEED_TOL_MPS: f64 = 0.6;
pub const SPEED_TOL_REL: f64 = 0.1;
/// Below this existence probability an object is only "possibly" there.
pub const EXISTENCE_SURE: f64 = 0.5;

/// The tolerance a figure of this size may be said within.
pub fn tolerance(value: f64, abs: f64, rel: f64) -> f64 {
    abs.max(rel * value.abs())
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
    /// The tracker's existence probability.
    pub existence: f64,
    /// Standard deviation of `distance_m` from the track's position covariance along the line
    /// of sight, m.
    pub distance_sigma_m: f64,
    /// Standard deviation of `closing_mps` from the track's velocity covariance along the line
    /// of sight, m/s.
    pub closing_sigma_mps: f64,
}

impl ObjectFact {
    /// Whether the object may be said to be there without a hedge.
    pub fn sure(&self) -> bool {
        self.existence >= EXISTENCE_SURE
    }

    /// Whether its distance may be said: two standard deviations within the tolerance a
    /// distance is said with (a figure more precise than the fact is not said).
    pub fn distance_sayable(&self) -> bool {
        2.0 * self.distance_sigma_m <= tolerance(self.distance_m, DISTANCE_TOL_M, DISTANCE_TOL_REL)
    }

    /// Whether its closing speed may be said, likewise.
    pub fn closing_sayable(&self) -> bool {
        2.0 * self.closing_sigma_mps <= tolerance(self.closing_mps, SPEED_TOL_MPS, SPEED_TOL_REL)
    }

    /// Whether its time to collision may be said: it is distance over closing speed, so both
    /// must be sayable (with the speed alone it would give the distance away).
    pub fn ttc_sayable(&self) -> bool {
        self.distance_sayable() && self.closing_sayable()
    }
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

/// Readings older than this at the fact sheet's time are not stated, s.
pub const ULTRASONIC_STALE_S: f64 = 0.5;

/// What one ultrasonic (parking) sensor reads (REP 117 ranges).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Echo {
    /// Nothing within the sensor's maximum range (`+inf`).
    Clear,
    /// The nearest obstacle at this range from the sensor, m.
    At(f64),
    /// An obstacle closer than the sensor's minimum range, m (`-inf`).
    Closer(f64),
}

/// One ultrasonic sensor's latest reading, as the driver may be told it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UltrasonicFact {
    /// The sensor's position name (`rear_center_left`), as in its topic.
    pub sensor: String,
    /// The side it looks to, from its mounting: the quadrant of its axis in `base_link`
    /// (within 45 degrees of forward: ahead; of backward: behind; else left or right).
    pub side: Side,
    pub echo: Echo,
    /// Maximum range, m.
    pub max_range_m: f64,
    /// The reading's stamp, ns.
    pub stamp_ns: i64,
    /// A health finding names this sensor: its reading is not stated as a fact.
    pub suspect: bool,
}

impl UltrasonicFact {
    /// From a range (`+inf` clear, `-inf` closer than `min_range_m`, NaN: None) and the
    /// sensor's facing direction `facing_yaw_rad` in `base_link` (atan2 of its x axis).
    pub fn new(
        sensor: &str,
        stamp_ns: i64,
        range_m: f64,
        min_range_m: f64,
        max_range_m: f64,
        facing_yaw_rad: f64,
    ) -> Option<Self> {
        let echo = if range_m.is_nan() {
            return None;
        } else if range_m == f64::INFINITY || range_m > max_range_m {
            Echo::Clear
        } else if range_m == f64::NEG_INFINITY || range_m < min_range_m {
            Echo::Closer(min_range_m)
        } else {
            Echo::At(range_m)
        };
        Some(Self {
            sensor: sensor.to_string(),
            side: side_of_axis(facing_yaw_rad)?,
            echo,
            max_range_m,
            stamp_ns,
            suspect: false,
        })
    }

    /// From the pipeline's ultrasonic reading of the sensor named `sensor`; its side from its
    /// mounting (`base_from_sensor` applied to the sensor's x axis).
    pub fn from_range(sensor: &str, r: &UltrasonicRange) -> Option<Self> {
        let axis = r.base_from_sensor.rotation * nalgebra::Vector3::x();
        Self::new(
            sensor,
            r.stamp_ns,
            r.range_m,
            r.min_range_m,
            r.max_range_m,
            axis.y.atan2(axis.x),
        )
    }

    /// The range to state, m: the echo's range (or the minimum range for a too-close echo);
    /// None when clear or suspect.
    pub fn range_m(&self) -> Option<f64> {
        match (self.suspect, self.echo) {
            (false, Echo::At(r) | Echo::Closer(r)) => Some(r),
            _ => None,
        }
    }

    /// The reading as it may be said ("0.8 m"; "less than 0.2 m" for an echo nearer than the
    /// sensor's minimum range, whose distance is not known); None when clear or suspect.
    pub fn said_range(&self) -> Option<String> {
        match (self.suspect, self.echo) {
            (false, Echo::At(r)) => Some(format!("{r:.1} m")),
            (false, Echo::Closer(r)) => Some(format!("less than {r:.1} m")),
            _ => None,
        }
    }

    /// The health component naming this sensor (`ultrasonic/<sensor>`).
    pub fn component(&self) -> String {
        format!("ultrasonic/{}", self.sensor)
    }
}

/// The quadrant of a sensor axis `yaw_rad` in `base_link` (None when not finite).
pub fn side_of_axis(yaw_rad: f64) -> Option<Side> {
    if !yaw_rad.is_finite() {
        return None;
    }
    let (c, s) = (yaw_rad.cos(), yaw_rad.sin());
    Some(if c.abs() >= s.abs() {
        if c >= 0.0 {
            Side::Ahead
        } else {
            Side::Behind
        }
    } else if s > 0.0 {
        Side::Left
    } else {
        Side::Right
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactSheet {
    /// The world state's time, ns.
    pub stamp_ns: i64,
    pub ego_speed_mps: f64,
    /// Nearest first.
    pub objects: Vec<ObjectFact>,
    pub health: Vec<HealthFact>,
    /// The ultrasonic (parking) sensors' latest readings, by sensor name.
    pub ultrasonic: Vec<UltrasonicFact>,
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
    /// Existence probability (1 for ground truth).
    pub existence: f64,
    /// Position covariance (xx, xy, yy) in `odom`, m^2 (zero for ground truth).
    pub position_cov: [f64; 3],
    /// Velocity covariance (xx, xy, yy) in `odom`, (m/s)^2.
    pub velocity_cov: [f64; 3],
}

impl WorldObject {
    /// An object known exactly (ground truth, tests).
    pub fn exact(
        id: u64,
        class: ObjectClass,
        x_m: f64,
        y_m: f64,
        vx_mps: f64,
        vy_mps: f64,
    ) -> Self {
        Self {
            id,
            class,
            x_m,
            y_m,
            vx_mps,
            vy_mps,
            existence: 1.0,
            position_cov: [0.0; 3],
            velocity_cov: [0.0; 3],
        }
    }
}

/// The standard deviation along the unit vector `(ux, uy)` of a 2D covariance (xx, xy, yy).
fn sigma_along(cov: [f64; 3], ux: f64, uy: f64) -> f64 {
    (cov[0] * ux * ux + 2.0 * cov[1] * ux * uy + cov[2] * uy * uy)
        .max(0.0)
        .sqrt()
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
                existence: t.existence,
                position_cov: [t.covariance[0], t.covariance[1], t.covariance[5]],
                velocity_cov: [t.covariance[10], t.covariance[11], t.covariance[15]],
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
                let (ux, uy) = (dx / distance_m, dy / distance_m);
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
                    existence: o.existence,
                    distance_sigma_m: sigma_along(o.position_cov, ux, uy),
                    closing_sigma_mps: sigma_along(o.velocity_cov, ux, uy),
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
            ultrasonic: Vec::new(),
        }
    }

    /// Adds the ultrasonic readings: per sensor the newest one not after the sheet's time and
    /// at most [`ULTRASONIC_STALE_S`] before it; a sensor that a health finding names is
    /// marked suspect (its reading is not stated).
    pub fn with_ultrasonic(mut self, readings: impl IntoIterator<Item = UltrasonicFact>) -> Self {
        let oldest = self.stamp_ns - (ULTRASONIC_STALE_S * 1e9) as i64;
        let mut newest: std::collections::BTreeMap<String, UltrasonicFact> = Default::default();
        for r in readings {
            if r.stamp_ns > self.stamp_ns || r.stamp_ns < oldest {
                continue;
            }
            match newest.get(&r.sensor) {
                Some(have) if have.stamp_ns >= r.stamp_ns => {}
                _ => {
                    newest.insert(r.sensor.clone(), r);
                }
            }
        }
        self.ultrasonic = newest.into_values().collect();
        self.mark_suspect_ultrasonic();
        self
    }

    /// Marks the ultrasonic sensors that a health finding names as suspect.
    pub fn mark_suspect_ultrasonic(&mut self) {
        for u in &mut self.ultrasonic {
            let component = u.component();
            u.suspect = self.health.iter().any(|h| h.component == component);
        }
    }

    /// The usable ultrasonic readings looking to `side` (any side when None).
    pub fn ultrasonic_on(&self, side: Option<Side>) -> impl Iterator<Item = &UltrasonicFact> {
        self.ultrasonic
            .iter()
            .filter(move |u| !u.suspect && side.is_none_or(|s| s == u.side))
    }

    /// The nearest usable echo looking to `side` (any side when None).
    pub fn nearest_echo(&self, side: Option<Side>) -> Option<(&UltrasonicFact, f64)> {
        self.ultrasonic_on(side)
            .filter_map(|u| u.range_m().map(|r| (u, r)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
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
        for side in [Side::Ahead, Side::Behind, Side::Left, Side::Right] {
            if self.ultrasonic_on(Some(side)).next().is_none() {
                continue;
            }
            match self.nearest_echo(Some(side)) {
                Some((u, _)) => out.push_str(&format!(
                    "- parking sensors {}: nearest obstacle {} (sensor {}).\n",
                    side.as_str(),
                    u.said_range().unwrap_or_default(),
                    u.sensor
                )),
                None => out.push_str(&format!(
                    "- parking sensors {}: nothing in range.\n",
                    side.as_str()
                )),
            }
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
