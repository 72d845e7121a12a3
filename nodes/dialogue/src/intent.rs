//! What a driver asks, and the deterministic answer to it from the fact sheet.

use crate::facts::{class_name, FactSheet, Side};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Intent {
    /// "How far is the car in front?"
    LeadDistance,
    /// "What is ahead?"
    Ahead,
    /// "Is anything on my left / right / behind me?"
    Side(Side),
    /// "Why did you warn me?"
    WhyWarned,
    /// "How are my sensors?"
    Sensors,
    /// "How fast am I going?"
    Speed,
    /// "How close am I to the obstacle behind me?", "What do the parking sensors say?": the
    /// ultrasonic ranges on one side (all sides when None).
    Clearance(Option<Side>),
    /// Anything else: what is around.
    Surroundings,
}

/// Phrases that put something on the right ("right" alone is too often "right now").
const RIGHT_WORDS: [&str; 5] = [
    "right side",
    "on my right",
    "to my right",
    "right of",
    "the right",
];

/// Word-level matching on the lower-cased question (a typed enum comes out; nothing
/// downstream looks at the words again).
pub fn classify(question: &str) -> Intent {
    let q = question.to_lowercase();
    let has = |w: &[&str]| w.iter().any(|x| q.contains(x));
    let side = if has(&["left"]) {
        Some(Side::Left)
    } else if has(&RIGHT_WORDS) {
        Some(Side::Right)
    } else if has(&["behind", "rear", "back"]) {
        Some(Side::Behind)
    } else if has(&["ahead", "front", "nose"]) {
        Some(Side::Ahead)
    } else {
        None
    };
    if has(&["why", "warn", "alert", "beep"]) {
        Intent::WhyWarned
    } else if !has(&["working", "health", "fault", "broken", "maintenance"])
        && (has(&[
            "parking sensor",
            "park sensor",
            "ultrasonic",
            "bumper",
            "clearance",
        ]) || has(&["how close am i"])
            // "How close am I to the car in front?" is about that car, not the parking sensors.
            && !has(&[
                "car", "vehicle", "van", "truck", "bus", "lorry", "pedestrian", "person",
                "people", "cyclist", "bike",
            ]))
    {
        Intent::Clearance(side)
    } else if has(&[
        "sensor",
        "health",
        "maintenance",
        "fault",
        "camera work",
        "radar work",
        "lidar",
    ]) {
        Intent::Sensors
    } else if has(&["how fast", "my speed", "speed am i", "going fast"]) {
        Intent::Speed
    } else if has(&["left"]) {
        Intent::Side(Side::Left)
    } else if has(&RIGHT_WORDS) {
        Intent::Side(Side::Right)
    } else if has(&["behind", "rear", "back of"]) {
        Intent::Side(Side::Behind)
    } else if has(&["how far", "distance", "gap", "how close"]) {
        Intent::LeadDistance
    } else if has(&["ahead", "in front", "front of"]) {
        Intent::Ahead
    } else {
        Intent::Surroundings
    }
}

/// An object with the figures that may be said of it: "possibly" when its existence is
/// uncertain, no distance or closing speed more precise than the track knows it.
fn describe(o: &crate::facts::ObjectFact) -> String {
    let mut s = format!(
        "{}a {} {}",
        if o.sure() { "" } else { "possibly " },
        class_name(o.class),
        o.side.as_str(),
    );
    if o.distance_sayable() {
        s.push_str(&format!(", {:.0} m away", o.distance_m));
    } else {
        s.push_str(", at an uncertain distance");
    }
    if let Some(ttc) = o.ttc_s.filter(|_| o.closing_sayable()) {
        s.push_str(&format!(", closing at {:.1} m/s", o.closing_mps));
        if ttc < 10.0 && o.ttc_sayable() {
            s.push_str(&format!(" ({ttc:.0} s to collision)"));
        }
    }
    s
}

/// Capitalize the first letter.
fn sentence(s: String) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// The deterministic answer: always correct for the fact sheet, never eloquent.
pub fn template_answer(intent: Intent, facts: &FactSheet, warning: Option<&str>) -> String {
    match intent {
        Intent::LeadDistance => match facts.lead() {
            Some(o) if o.sure() && o.distance_sayable() => sentence(format!(
                "the {} ahead is {:.0} m away{}.",
                class_name(o.class),
                o.distance_m,
                match o.ttc_s.filter(|_| o.ttc_sayable()) {
                    Some(_) => format!(", closing at {:.1} m/s", o.closing_mps),
                    None => String::new(),
                }
            )),
            Some(o) => sentence(format!("ahead: {}.", describe(o))),
            None => match facts.nearest_echo(Some(Side::Ahead)) {
                None => "There is nothing in your lane ahead.".to_string(),
                Some(_) => format!(
                    "No vehicle or person is in your lane ahead. {}",
                    clearance_sentence(facts, Side::Ahead)
                ),
            },
        },
        Intent::Ahead => {
            let ahead: Vec<String> = facts.on_side(Side::Ahead).take(3).map(describe).collect();
            if ahead.is_empty() {
                match facts.nearest_echo(Some(Side::Ahead)) {
                    None => "Nothing is ahead of you in your lane.".to_string(),
                    Some(_) => format!(
                        "No vehicle or person is ahead of you in your lane. {}",
                        clearance_sentence(facts, Side::Ahead)
                    ),
                }
            } else {
                sentence(format!("ahead: {}.", ahead.join("; ")))
            }
        }
        Intent::Side(side) => {
            let objs: Vec<String> = facts.on_side(side).take(3).map(describe).collect();
            let echo = facts.nearest_echo(Some(side));
            match (objs.is_empty(), echo) {
                (true, None) => sentence(format!("nothing is {}.", side.as_str())),
                (true, Some(_)) => sentence(format!(
                    "no vehicle or person is {}. {}",
                    side.as_str(),
                    clearance_sentence(facts, side)
                )),
                (false, None) => sentence(format!("there is {}.", objs.join("; "))),
                (false, Some(_)) => sentence(format!(
                    "there is {}. {}",
                    objs.join("; "),
                    clearance_sentence(facts, side)
                )),
            }
        }
        Intent::Clearance(side) => clearance_answer(facts, side),
        Intent::WhyWarned => match warning {
            Some(w) => format!("I warned you because {w}."),
            None => "I have not warned you recently.".to_string(),
        },
        Intent::Sensors => {
            if facts.health.is_empty() {
                "All sensors are working normally.".to_string()
            } else {
                let items: Vec<String> = facts
                    .health
                    .iter()
                    .map(|h| {
                        format!(
                            "{} has a {} ({})",
                            h.component,
                            h.kind.replace('_', " "),
                            h.severity
                        )
                    })
                    .collect();
                sentence(format!("{}.", items.join("; ")))
            }
        }
        Intent::Speed => format!("You are driving at {:.0} km/h.", facts.ego_speed_mps * 3.6),
        Intent::Surroundings => {
            if facts.objects.is_empty() {
                if facts.nearest_echo(None).is_none() {
                    "I see nothing around you.".to_string()
                } else {
                    format!(
                        "I see no vehicle or person around you. {}",
                        clearance_answer(facts, None)
                    )
                }
            } else {
                let near: Vec<String> = facts.objects.iter().take(3).map(describe).collect();
                sentence(format!("nearest to you: {}.", near.join("; ")))
            }
        }
    }
}

/// What the usable parking sensors looking to `side` say, as one sentence naming the side
/// and the parking sensors (so that the checker holds its figures to the ultrasonic ranges).
fn clearance_sentence(facts: &FactSheet, side: Side) -> String {
    match facts.nearest_echo(Some(side)) {
        Some((u, _)) => format!(
            "The parking sensors {} read {} to the nearest obstacle (sensor {}).",
            side.as_str(),
            u.said_range().unwrap_or_default(),
            u.sensor
        ),
        None => format!(
            "The parking sensors {} detect nothing in range.",
            side.as_str()
        ),
    }
}

/// The answer to [`Intent::Clearance`]: per side the nearest usable ultrasonic range and the
/// sensor that reads it; sensors under a health finding are named as not used.
fn clearance_answer(facts: &FactSheet, side: Option<Side>) -> String {
    let sides: Vec<Side> = match side {
        Some(s) => vec![s],
        None => [Side::Ahead, Side::Behind, Side::Left, Side::Right]
            .into_iter()
            .filter(|s| facts.ultrasonic_on(Some(*s)).next().is_some())
            .collect(),
    };
    let mut parts: Vec<String> = Vec::new();
    for s in sides {
        if facts.ultrasonic_on(Some(s)).next().is_none() {
            parts.push(format!(
                "I have no working parking sensor reading {}.",
                s.as_str()
            ));
        } else {
            parts.push(clearance_sentence(facts, s));
        }
    }
    if parts.is_empty() {
        parts.push("I have no working parking sensor readings.".to_string());
    }
    let suspect: Vec<&str> = facts
        .ultrasonic
        .iter()
        .filter(|u| u.suspect && side.is_none_or(|s| s == u.side))
        .map(|u| u.sensor.as_str())
        .collect();
    if !suspect.is_empty() {
        parts.push(format!(
            "Readings of sensor {} are not used: a health finding names it.",
            suspect.join(", ")
        ));
    }
    parts.join(" ")
}

/// A reason to wake the driver (and the LLM) without a request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hazard {
    pub object_id: u64,
    /// Why, with the figures, as it may be said after "I warned you because".
    pub reason: String,
}

/// Time to collision below which the lead object raises an alert, s.
pub const TTC_ALERT_S: f64 = 4.0;
/// A vulnerable road user in the path closer than this raises an alert, m.
pub const VRU_ALERT_M: f64 = 20.0;

/// A hazard raises an alert only once it has lasted this long, s: a track that shows a short
/// time to collision for a cycle or two (a ghost born beside a passing truck, say) does not
/// wake the driver. Forward-collision warnings debounce the same way; a real threat at a time
/// to collision under 4 s lasts far longer.
pub const HAZARD_PERSIST_S: f64 = 0.25;

/// Debounces [`hazards`] over successive fact sheets (see [`HAZARD_PERSIST_S`]).
#[derive(Debug, Clone, Default)]
pub struct HazardDebounce {
    /// Object id -> stamp of the fact sheet where its hazard began, ns.
    since_ns: std::collections::BTreeMap<u64, i64>,
}

impl HazardDebounce {
    /// The hazards of `facts` that have been hazards in every sheet passed since at least
    /// [`HAZARD_PERSIST_S`] before `facts.stamp_ns`. Sheets come in time order.
    pub fn update(&mut self, facts: &FactSheet) -> Vec<Hazard> {
        let now = hazards(facts);
        self.since_ns
            .retain(|id, _| now.iter().any(|h| h.object_id == *id));
        let persist_ns = (HAZARD_PERSIST_S * 1e9) as i64;
        now.into_iter()
            .filter(|h| {
                let since = *self.since_ns.entry(h.object_id).or_insert(facts.stamp_ns);
                facts.stamp_ns - since >= persist_ns
            })
            .collect()
    }
}

/// Hazards in the fact sheet: a closing object in the path with a short time to collision, a
/// pedestrian or cyclist in the path.
pub fn hazards(facts: &FactSheet) -> Vec<Hazard> {
    let mut out = Vec::new();
    for o in facts.objects.iter().filter(|o| o.in_path) {
        if let Some(ttc) = o.ttc_s.filter(|t| *t < TTC_ALERT_S) {
            // The alert fires on the estimate; its reason states only the figures the track
            // knows well enough to say.
            let reason = match (o.distance_sayable(), o.closing_sayable()) {
                (true, true) => format!(
                    "the {} ahead was {:.0} m away, closing at {:.1} m/s, {:.0} s to collision",
                    class_name(o.class),
                    o.distance_m,
                    o.closing_mps,
                    ttc
                ),
                (true, false) => format!(
                    "the {} ahead was {:.0} m away and closing in at an uncertain speed",
                    class_name(o.class),
                    o.distance_m
                ),
                (false, _) => format!(
                    "the {} ahead was closing in at an uncertain distance",
                    class_name(o.class)
                ),
            };
            out.push(Hazard {
                object_id: o.id,
                reason,
            });
        } else if matches!(
            o.class,
            edgefuse_fusion::types::ObjectClass::Pedestrian
                | edgefuse_fusion::types::ObjectClass::Cyclist
        ) && o.distance_m < VRU_ALERT_M
        {
            out.push(Hazard {
                object_id: o.id,
                reason: if o.distance_sayable() {
                    format!(
                        "a {} was in your path {:.0} m ahead",
                        class_name(o.class),
                        o.distance_m
                    )
                } else {
                    format!(
                        "a {} was in your path ahead, at an uncertain distance",
                        class_name(o.class)
                    )
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hazard_alerts_only_once_it_has_lasted() {
        use edgefuse_fusion::types::ObjectClass;
        // A car 10 m ahead closing at 5 m/s (2 s to collision), sheets every 0.1 s.
        let sheet = |t_s: f64, with_car: bool| {
            let car = crate::facts::WorldObject {
                id: 7,
                class: ObjectClass::Car,
                x_m: 10.0,
                y_m: 0.0,
                vx_mps: 5.0,
                vy_mps: 0.0,
                existence: 1.0,
                position_cov: [0.01, 0.0, 0.01],
                velocity_cov: [0.01, 0.0, 0.01],
            };
            let objects = if with_car { vec![car] } else { vec![] };
            FactSheet::from_objects((t_s * 1e9) as i64, (0.0, 0.0, 0.0), 10.0, &objects, &[])
        };
        assert_eq!(hazards(&sheet(0.0, true)).len(), 1);
        let mut d = HazardDebounce::default();
        // Two cycles, gone, then back: no alert (each stretch is under 0.25 s).
        assert!(d.update(&sheet(0.0, true)).is_empty());
        assert!(d.update(&sheet(0.1, true)).is_empty());
        assert!(d.update(&sheet(0.2, false)).is_empty());
        assert!(d.update(&sheet(0.3, true)).is_empty());
        assert!(d.update(&sheet(0.4, true)).is_empty());
        // Lasting 0.25 s: alert.
        assert_eq!(d.update(&sheet(0.6, true)).len(), 1);
    }

    #[test]
    fn parking_questions_go_to_the_parking_sensors_and_object_questions_do_not() {
        assert_eq!(
            classify("How close am I to the obstacle behind me?"),
            Intent::Clearance(Some(Side::Behind))
        );
        assert_eq!(
            classify("What do the parking sensors say?"),
            Intent::Clearance(None)
        );
        assert_eq!(
            classify("How close am I to the car in front?"),
            Intent::LeadDistance
        );
        assert!(!matches!(
            classify("Is there an obstacle ahead?"),
            Intent::Clearance(_)
        ));
        assert_eq!(classify("Are my parking sensors working?"), Intent::Sensors);
    }
}
