//! The fact checker: every number, object class and side an answer states must be in the
//! fact sheet (numbers within a tolerance), or the answer is refused.

use crate::facts::{Echo, FactSheet, Side};
use edgefuse_fusion::types::ObjectClass;
use serde::Serialize;

/// A statement found in an answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Claim {
    /// A distance; `side`: the side word nearest to it in its sentence, if any, which the
    /// supporting object or echo must be on; `parking`: said of the parking (ultrasonic)
    /// sensors, so it must be one of their ranges; `at_most`: said as a bound ("less than",
    /// "under", "within"), so anything at or nearer than it supports it.
    Distance {
        value_m: f64,
        side: Option<Side>,
        parking: bool,
        at_most: bool,
    },
    /// A speed; `ego`: said of the driver's own speed ("you are driving at"), so it must be
    /// the ego speed, not any closing speed.
    Speed {
        value_mps: f64,
        ego: bool,
    },
    Time {
        value_s: f64,
    },
    Number {
        value: f64,
    },
    /// An object of `class` (any class when None) on `side` (anywhere when None) exists, or
    /// with `negated`, does not. An object of any class may be a tracked object or an
    /// ultrasonic echo; with `parking` (said of the parking sensors) only an echo.
    Object {
        #[serde(serialize_with = "crate::facts::ser_opt_class")]
        class: Option<ObjectClass>,
        side: Option<Side>,
        negated: bool,
        parking: bool,
        /// Said with a hedge ("possibly", "may"): an uncertain object supports it.
        hedged: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    pub claims: Vec<Claim>,
    /// Each claim that the fact sheet does not support, said why.
    pub failures: Vec<String>,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Tolerances: distances within max(1.5 m, 10 %), speeds within max(0.6 m/s, 10 %), times
/// within max(1 s, 15 %) of a fact.
fn close(value: f64, fact: f64, abs: f64, rel: f64) -> bool {
    (value - fact).abs() <= abs.max(rel * fact.abs())
}

/// An ultrasonic range may be said within max(0.1 m, 10 %): a parking distance is small and
/// the sensor resolves centimetres.
fn echo_close(value_m: f64, range_m: f64) -> bool {
    close(value_m, range_m, 0.1, 0.1)
}

/// Imperial units a phrasing may slip into.
const M_PER_MILE: f64 = 1609.344;
const MPS_PER_MPH: f64 = M_PER_MILE / 3600.0;
const M_PER_FOOT: f64 = 0.3048;

const NUMBER_WORDS: [(&str, f64); 11] = [
    ("zero", 0.0),
    ("one", 1.0),
    ("two", 2.0),
    ("three", 3.0),
    ("four", 4.0),
    ("five", 5.0),
    ("six", 6.0),
    ("seven", 7.0),
    ("eight", 8.0),
    ("nine", 9.0),
    ("ten", 10.0),
];

fn class_of(word: &str) -> Option<Option<ObjectClass>> {
    let w = word.trim_end_matches('s');
    Some(match w {
        "car" | "vehicle" | "van" => Some(ObjectClass::Car),
        "truck" | "bu" | "lorry" => Some(ObjectClass::Truck),
        "pedestrian" | "person" | "people" | "walker" => Some(ObjectClass::Pedestrian),
        "cyclist" | "bike" | "bicycle" | "biker" => Some(ObjectClass::Cyclist),
        "object" | "obstacle" | "anything" | "something" => None,
        _ => return None,
    })
}

fn side_of(words: &[&str], i: usize) -> Option<Side> {
    let w = words[i];
    let next = words.get(i + 1).copied().unwrap_or("");
    match w {
        "left" => Some(Side::Left),
        "right" if !(matches!(next, "now" | "away") || i > 0 && words[i - 1] == "all") => {
            Some(Side::Right)
        }
        "ahead" | "front" => Some(Side::Ahead),
        "behind" | "rear" => Some(Side::Behind),
        _ => None,
    }
}

/// A token that starts with a number: the number and what follows it (`"80cm"` gives
/// `(80.0, "cm")`, `"25"` gives `(25.0, "")`); `None` for other tokens.
fn split_number(token: &str) -> Option<(f64, &str)> {
    if !token.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let end = token
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(token.len());
    let (digits, suffix) = token.split_at(end);
    digits
        .trim_end_matches('.')
        .parse::<f64>()
        .ok()
        .map(|v| (v, suffix))
}

/// Contractions the tokenizer splits at the apostrophe ("isn't" -> "isn", "t").
const NEGATED_CONTRACTIONS: [&str; 12] = [
    "isn", "aren", "don", "doesn", "didn", "can", "won", "wasn", "weren", "haven", "hasn", "couldn",
];

fn tokens(sentence: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in sentence.chars() {
        if ch.is_alphanumeric() || matches!(ch, '.' | '/' | '%' | '_') {
            cur.push(ch.to_ascii_lowercase());
        } else {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.into_iter()
        .map(|t| t.trim_end_matches('.').to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The claims of one answer.
pub fn claims(answer: &str) -> Vec<Claim> {
    let mut out = Vec::new();
    for sentence in answer
        .split(['\n', ';', '!', '?'])
        .flat_map(split_sentences)
    {
        let toks = tokens(&sentence);
        let words: Vec<&str> = toks.iter().map(String::as_str).collect();
        let negated = words.iter().any(|w| {
            matches!(
                *w,
                "no" | "nothing"
                    | "not"
                    | "none"
                    | "nobody"
                    | "clear"
                    | "empty"
                    | "cannot"
                    | "without"
            )
        }) || words
            .windows(2)
            .any(|p| p[1] == "t" && NEGATED_CONTRACTIONS.contains(&p[0]));
        let parking = words.iter().any(|w| matches!(*w, "parking" | "ultrasonic"));
        let hedged = words.iter().any(|w| {
            matches!(
                *w,
                "possibly" | "perhaps" | "maybe" | "may" | "might" | "could" | "uncertain"
            )
        });
        let mut classes = Vec::new();
        let first_claim = out.len();
        // Where each side word and each distance is in the sentence.
        let mut side_at: Vec<(usize, Side)> = Vec::new();
        let mut distance_at: Vec<(usize, usize)> = Vec::new();
        for i in 0..words.len() {
            let w = words[i];
            let number = split_number(w).or_else(|| {
                NUMBER_WORDS
                    .iter()
                    .find(|(n, _)| *n == w)
                    .map(|(_, v)| (*v, ""))
            });
            if let Some((value, suffix)) = number {
                // The unit is the number's own suffix ("80cm", "2.5m/s") or the next word;
                // `unit2` is the word after the unit ("miles per hour").
                let next = |k: usize| words.get(i + k).copied().unwrap_or("");
                let (unit, unit2) = if suffix.is_empty() {
                    (next(1), next(2))
                } else {
                    (suffix, next(1))
                };
                let claim = match unit {
                    "m/s" | "mps" => Claim::Speed {
                        value_mps: value,
                        ego: false,
                    },
                    "km/h" | "kph" | "kmh" => Claim::Speed {
                        value_mps: value / 3.6,
                        ego: false,
                    },
                    "mph" => Claim::Speed {
                        value_mps: value * MPS_PER_MPH,
                        ego: false,
                    },
                    "mile" | "miles" if unit2 == "per" => Claim::Speed {
                        value_mps: value * MPS_PER_MPH,
                        ego: false,
                    },
                    "mile" | "miles" => Claim::Distance {
                        value_m: value * M_PER_MILE,
                        side: None,
                        parking,
                        at_most: false,
                    },
                    "km" | "kilometer" | "kilometers" | "kilometre" | "kilometres"
                        if unit2 == "per" =>
                    {
                        Claim::Speed {
                            value_mps: value / 3.6,
                            ego: false,
                        }
                    }
                    "km" | "kilometer" | "kilometers" | "kilometre" | "kilometres" => {
                        Claim::Distance {
                            value_m: value * 1000.0,
                            side: None,
                            parking,
                            at_most: false,
                        }
                    }
                    "ft" | "foot" | "feet" => Claim::Distance {
                        value_m: value * M_PER_FOOT,
                        side: None,
                        parking,
                        at_most: false,
                    },
                    "cm" | "centimeter" | "centimeters" | "centimetre" | "centimetres" => {
                        Claim::Distance {
                            value_m: value * 0.01,
                            side: None,
                            parking,
                            at_most: false,
                        }
                    }
                    "m" | "meter" | "meters" | "metre" | "metres" => {
                        if unit2 == "per" {
                            Claim::Speed {
                                value_mps: value,
                                ego: false,
                            }
                        } else {
                            Claim::Distance {
                                value_m: value,
                                side: None,
                                parking,
                                at_most: false,
                            }
                        }
                    }
                    "s" | "sec" | "secs" | "second" | "seconds" => Claim::Time { value_s: value },
                    _ => Claim::Number { value },
                };
                if let Claim::Distance { .. } = claim {
                    distance_at.push((out.len(), i));
                }
                out.push(claim);
            }
            if let Some(class) = class_of(w) {
                classes.push(class);
            }
            if let Some(side) = side_of(&words, i) {
                side_at.push((i, side));
            }
        }
        // A distance belongs to the side named nearest to it ("12 m ahead and 30 m on the
        // left"), and is a bound when "less than", "under", ... comes before it.
        for (claim, i) in distance_at {
            let nearest = side_at
                .iter()
                .min_by_key(|(j, _)| j.abs_diff(i))
                .map(|(_, side)| *side);
            let before = |k: usize| i.checked_sub(k).map_or("", |j| words[j]);
            let bound = matches!(before(1), "under" | "below" | "within")
                || matches!(
                    (before(2), before(1)),
                    ("less" | "closer" | "nearer" | "fewer", "than") | ("up", "to")
                );
            if let Some(Claim::Distance { side, at_most, .. }) = out.get_mut(claim) {
                *side = nearest;
                *at_most = bound;
            }
        }
        // Objects take the sentence's first side.
        let side = side_at.first().map(|(_, s)| *s);
        // "you're" and "I'm" arrive split at the apostrophe: "you" "re", "i" "m".
        let you = words.iter().any(|w| matches!(*w, "you" | "youre"))
            || words
                .windows(2)
                .any(|p| p == ["i", "m"] || p == ["we", "re"]);
        let ego_speed = words.contains(&"driving")
            || words.windows(2).any(|w| w == ["your", "speed"])
            || you
                && words
                    .iter()
                    .any(|w| matches!(*w, "going" | "moving" | "travelling" | "traveling"));
        for c in &mut out[first_claim..] {
            if let Claim::Speed { ego, .. } = c {
                *ego = ego_speed;
            }
        }
        if classes.is_empty() && side.is_some() {
            out.push(Claim::Object {
                class: None,
                side,
                negated,
                parking,
                hedged,
            });
        }
        for class in classes {
            out.push(Claim::Object {
                class,
                side,
                negated,
                parking,
                hedged,
            });
        }
    }
    out
}

fn split_sentences(text: &str) -> Vec<String> {
    // A period ends a sentence unless it sits between digits.
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let decimal = c == '.'
            && i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        if c == '.' && !decimal {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

/// Check every claim of `answer` against `facts`.
pub fn check(answer: &str, facts: &FactSheet) -> CheckReport {
    let claims = claims(answer);
    let mut failures = Vec::new();
    // Figures are supported only by facts known at least as precisely as they may be said.
    let speeds: Vec<f64> = std::iter::once(facts.ego_speed_mps)
        .chain(
            facts
                .objects
                .iter()
                .filter(|o| o.closing_sayable())
                .map(|o| o.closing_mps.abs()),
        )
        .collect();
    let distances: Vec<(Side, f64)> = facts
        .objects
        .iter()
        .filter(|o| o.distance_sayable())
        .map(|o| (o.side, o.distance_m))
        .collect();
    // Usable ultrasonic echoes (suspect sensors are not facts).
    let echoes: Vec<(Side, Echo)> = facts
        .ultrasonic_on(None)
        .filter(|u| u.range_m().is_some())
        .map(|u| (u.side, u.echo))
        .collect();
    let echo_range = |e: &Echo| match e {
        Echo::At(r) | Echo::Closer(r) => *r,
        Echo::Clear => f64::INFINITY,
    };
    for claim in &claims {
        let ok = match claim {
            Claim::Distance {
                value_m,
                side,
                parking,
                at_most,
            } => {
                let on_side = |s: &Side| side.is_none_or(|x| x == *s);
                // A bound holds for anything at or nearer than it; an exact figure must be
                // the echo's range, and an echo nearer than the sensor's minimum range
                // supports only a bound (its distance is not known).
                let echo = echoes.iter().any(|(s, e)| {
                    on_side(s)
                        && match e {
                            Echo::At(r) if *at_most => *value_m + 0.1f64.max(0.1 * r) >= *r,
                            Echo::At(r) => echo_close(*value_m, *r),
                            Echo::Closer(r) => *at_most && *value_m + 0.1f64.max(0.1 * r) >= *r,
                            Echo::Clear => false,
                        }
                });
                let tracked = distances.iter().any(|(s, d)| {
                    on_side(s)
                        && if *at_most {
                            *value_m + 1.5f64.max(0.1 * d) >= *d
                        } else {
                            close(*value_m, *d, 1.5, 0.1)
                        }
                });
                echo || !parking && tracked
            }
            Claim::Speed { value_mps, ego } => {
                if *ego {
                    close(*value_mps, facts.ego_speed_mps, 0.6, 0.1)
                } else {
                    speeds.iter().any(|s| close(*value_mps, *s, 0.6, 0.1))
                }
            }
            Claim::Time { value_s } => facts
                .objects
                .iter()
                .filter(|o| o.ttc_sayable())
                .filter_map(|o| o.ttc_s)
                .chain(facts.health.iter().map(|h| h.time_to_threshold_s))
                .any(|t| close(*value_s, t, 1.0, 0.15)),
            Claim::Number { value } => {
                let mut counts = vec![facts.objects.len()];
                for side in [Side::Ahead, Side::Behind, Side::Left, Side::Right] {
                    counts.push(facts.on_side(side).count());
                }
                for class in [
                    ObjectClass::Car,
                    ObjectClass::Truck,
                    ObjectClass::Pedestrian,
                    ObjectClass::Cyclist,
                ] {
                    counts.push(facts.objects.iter().filter(|o| o.class == class).count());
                }
                counts.iter().any(|c| (*value - *c as f64).abs() < 0.5)
                    || distances.iter().any(|(_, d)| close(*value, *d, 1.5, 0.1))
                    || speeds
                        .iter()
                        .any(|s| close(*value, *s, 0.6, 0.1) || close(*value, s * 3.6, 1.0, 0.1))
                    || facts
                        .health
                        .iter()
                        .flat_map(|h| h.evidence.iter())
                        .any(|(_, v)| close(*value, *v, 0.05, 0.1))
                    || echoes
                        .iter()
                        .any(|(_, e)| echo_close(*value, echo_range(e)))
            }
            Claim::Object {
                class,
                side,
                negated,
                parking,
                hedged,
            } => {
                // An existence claim needs a sure object; a hedged one or a denial any object.
                let tracked = !parking
                    && facts.objects.iter().any(|o| {
                        (o.sure() || *hedged || *negated)
                            && class.is_none_or(|c| {
                                c == o.class
                                    || (c == ObjectClass::Car && o.class == ObjectClass::Truck)
                            })
                            && side.is_none_or(|s| s == o.side)
                    });
                // An echo is an obstacle of no known class.
                let echo =
                    class.is_none() && echoes.iter().any(|(s, _)| side.is_none_or(|x| x == *s));
                (tracked || echo) != *negated
            }
        };
        if !ok {
            failures.push(format!("{claim:?} is not in the fact sheet"));
        }
    }
    // A figure with more than three decimals is noise a small model copied or made up
    // ("1.000000000000001 km/h"), not a precision any fact has.
    for sentence in split_sentences(answer) {
        for token in tokens(&sentence) {
            let digits = token
                .split_once('.')
                .filter(|(whole, _)| whole.chars().all(|c| c.is_ascii_digit()) && !whole.is_empty())
                .map_or(0, |(_, frac)| {
                    frac.chars().take_while(char::is_ascii_digit).count()
                });
            if digits > MAX_DECIMALS {
                failures.push(format!(
                    "'{token}' is said with more than {MAX_DECIMALS} decimals"
                ));
            }
        }
    }
    // The car speaks to the driver: what it said or warned is not the driver's, and the
    // driving is the driver's, not the car's.
    let lower = answer.to_lowercase().replace('\u{2019}', "'");
    for (phrase, why) in MISATTRIBUTED {
        if lower.contains(phrase) {
            failures.push(format!("'{phrase}' {why}"));
        }
    }
    CheckReport { claims, failures }
}

/// The most decimals a figure may be said with.
const MAX_DECIMALS: usize = 3;

/// Phrases that swap the car's and the driver's parts, and why: a small model rephrasing "I
/// warned you because ..." wrote "You said that you warned the driver ...", and "You are
/// driving at 1 km/h" became "I'm driving at 1 miles per hour".
const MISATTRIBUTED: [(&str, &str); 5] = [
    ("you said", "puts the car's words in the driver's mouth"),
    ("you told", "puts the car's words in the driver's mouth"),
    ("you warned", "puts the car's warning in the driver's mouth"),
    ("i'm driving", "makes the car the driver"),
    ("i am driving", "makes the car the driver"),
];

/// Whether `answer` says what `template` says: every figure of the template (within the same
/// tolerances), every object and side it names, and every sensor component it names. An answer
/// that passes [`check`] but says nothing of what was asked does not cover it.
pub fn covers(answer: &str, template: &str, facts: &FactSheet) -> Vec<String> {
    let said = claims(answer);
    let mut missing = Vec::new();
    for want in claims(template) {
        let found = said.iter().any(|c| match (&want, c) {
            (
                Claim::Distance {
                    value_m: a,
                    parking,
                    ..
                },
                Claim::Distance { value_m: b, .. } | Claim::Number { value: b },
            ) => {
                if *parking {
                    echo_close(*b, *a)
                } else {
                    close(*b, *a, 1.5, 0.1)
                }
            }
            (Claim::Speed { value_mps: a, .. }, Claim::Speed { value_mps: b, .. }) => {
                close(*b, *a, 0.6, 0.1)
            }
            (Claim::Time { value_s: a }, Claim::Time { value_s: b }) => close(*b, *a, 1.0, 0.15),
            (Claim::Number { value: a }, Claim::Number { value: b }) => (a - b).abs() < 0.5,
            (
                Claim::Object {
                    class: ca,
                    side: sa,
                    negated: na,
                    ..
                },
                Claim::Object {
                    class: cb,
                    side: sb,
                    negated: nb,
                    ..
                },
            ) => na == nb && (ca.is_none() || ca == cb) && (sa.is_none() || sa == sb),
            _ => false,
        });
        // Closing speeds and times to collision are detail: the distance, object and side
        // are what was asked.
        let essential = matches!(want, Claim::Distance { .. } | Claim::Object { .. })
            || matches!(want, Claim::Speed { .. }) && facts.objects.is_empty();
        if !found && essential {
            missing.push(format!("{want:?} is not said"));
        }
    }
    let lower = answer.to_lowercase();
    for h in &facts.health {
        if template.contains(&h.component) && !lower.contains(&h.component.to_lowercase()) {
            missing.push(format!("sensor {} is not named", h.component));
        }
    }
    if facts.health.is_empty() && template.contains("sensors are working") {
        let ok = ["work", "normal", "fine", "ok", "good", "healthy"]
            .iter()
            .any(|w| lower.contains(w));
        if !ok {
            missing.push("does not say the sensors are working".into());
        }
    }
    missing
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::facts::{FactSheet, WorldObject};

    fn sheet() -> FactSheet {
        FactSheet::from_objects(
            0,
            (0.0, 0.0, 0.0),
            10.0,
            &[
                WorldObject::exact(1, ObjectClass::Car, 25.0, 0.5, 8.0, 0.0),
                WorldObject::exact(2, ObjectClass::Pedestrian, 6.0, 4.0, 0.0, 0.0),
            ],
            &[],
        )
    }

    #[test]
    fn true_statements_pass_and_invented_ones_fail() {
        let f = sheet();
        assert!(check("The car ahead is 25 m away, closing at 2.0 m/s.", &f).passed());
        assert!(check(
            "There is a pedestrian on your left, about 7 metres away.",
            &f
        )
        .passed());
        assert!(check("Nothing is on the right.", &f).passed());
        assert!(check("You are driving at 36 km/h.", &f).passed());
        assert!(!check("The car ahead is 40 m away.", &f).passed());
        assert!(!check("There is a truck on your right.", &f).passed());
        assert!(!check("A cyclist is ahead.", &f).passed());
        assert!(!check("Nothing is on your left.", &f).passed());
        assert!(!check("You are driving at 80 km/h.", &f).passed());
        // The right figure with spurious decimals (as SmolLM2 once wrote one) is refused;
        // three are allowed.
        assert!(!check("You are driving at 36.000000000000001 km/h.", &f).passed());
        assert!(check("You are driving at 36.001 km/h.", &f).passed());
        // The car does not drive: the driver does.
        assert!(!check("I'm driving at 36 km/h.", &f).passed());
        assert!(!check("It will hit you in 99 seconds.", &f).passed());
        // Other units are converted, not read as bare numbers (36 km/h = 10 m/s = 22.4 mph).
        assert!(check("You are driving at 22 miles per hour.", &f).passed());
        assert!(!check("You are driving at 36 miles per hour.", &f).passed());
        assert!(!check("You are driving at 10 mph.", &f).passed());
        assert!(check("The car ahead is 82 feet away.", &f).passed());
        assert!(!check("The car ahead is 200 feet away.", &f).passed());
        assert!(!check("The car ahead is 25 km away.", &f).passed());
        // The ego's speed is the ego's: the car's closing speed (2 m/s) is not it.
        assert!(check("It is closing at 2 m/s.", &f).passed());
        assert!(!check("You are driving at 2 m/s.", &f).passed());
        assert!(!check("You're going 7 km/h.", &f).passed());
        // Units written onto the number are read too, not dropped.
        assert!(check("The car ahead is 25m away.", &f).passed());
        assert!(!check("The car ahead is 40m away.", &f).passed());
        assert!(!check("The car ahead is 1500cm away.", &f).passed());
        assert!(check("The car ahead is 2500cm away.", &f).passed());
        assert!(!check("You are driving at 80km/h.", &f).passed());
        assert!(check("You are driving at 36km/h.", &f).passed());
        assert!(!check("You are driving at 50mph.", &f).passed());
        assert!(!check("The car ahead is closing at 5.5m/s.", &f).passed());
        assert!(!check("The car ahead is 300ft away.", &f).passed());
        assert!(!check("I'm going 80 km/h.", &f).passed());
        // Negations written as contractions are negations.
        assert!(!check("There isn't anything on your left.", &f).passed());
        assert!(!check("I don't see anything on your left.", &f).passed());
        assert!(check("There isn't anything on the right.", &f).passed());
    }

    #[test]
    fn time_to_collision_is_not_said_when_the_distance_is_not() {
        use crate::intent::{template_answer, Intent};
        // A car 30 m ahead known to 3 m along the line of sight, closing at 10 m/s known well:
        // the closing speed may be said, the 3 s to collision would give the distance away.
        let mut car = WorldObject::exact(1, ObjectClass::Car, 30.0, 0.0, 0.0, 0.0);
        car.position_cov = [9.0, 0.0, 0.1];
        let f = FactSheet::from_objects(0, (0.0, 0.0, 0.0), 10.0, &[car], &[]);
        let c = &f.objects[0];
        assert!(!c.distance_sayable() && c.closing_sayable() && !c.ttc_sayable());
        assert!(c.ttc_s.is_some_and(|t| (t - 3.0).abs() < 0.1), "{c:?}");
        assert!(check("The car ahead is closing at 10 m/s.", &f).passed());
        assert!(!check("It will reach the car in 3 seconds.", &f).passed());
        for intent in [Intent::LeadDistance, Intent::Ahead, Intent::Surroundings] {
            let t = template_answer(intent, &f, None);
            assert!(!t.contains("to collision"), "{t}");
            assert!(check(&t, &f).passed(), "{t}");
        }
    }

    #[test]
    fn uncertain_facts_are_hedged_or_left_unsaid() {
        use crate::intent::{template_answer, Intent};
        // A car 30 m ahead whose position is known to 3 m along the line of sight and whose
        // velocity to 2 m/s; a cyclist on the right the tracker is unsure exists.
        let mut car = WorldObject::exact(1, ObjectClass::Car, 30.0, 0.3, 8.0, 0.0);
        car.position_cov = [9.0, 0.0, 0.1];
        car.velocity_cov = [4.0, 0.0, 0.1];
        let mut cyclist = WorldObject::exact(2, ObjectClass::Cyclist, 5.0, -4.0, 0.0, 0.0);
        cyclist.existence = 0.3;
        let f = FactSheet::from_objects(0, (0.0, 0.0, 0.0), 10.0, &[car, cyclist], &[]);
        let c = &f.objects.iter().find(|o| o.id == 1).unwrap();
        assert!(
            (c.distance_sigma_m - 3.0).abs() < 0.01 && (c.closing_sigma_mps - 2.0).abs() < 0.01
        );
        assert!(!c.distance_sayable() && !c.closing_sayable());
        // More precise than the track knows: refused.
        assert!(!check("The car ahead is 30 m away.", &f).passed());
        assert!(!check("The car ahead is closing at 2.0 m/s.", &f).passed());
        assert!(check("There is a car ahead.", &f).passed());
        // An object the tracker doubts: only with a hedge, and it cannot be denied either.
        assert!(!check("There is a cyclist on the right.", &f).passed());
        assert!(check("There is possibly a cyclist on the right.", &f).passed());
        assert!(!check("Nothing is on the right.", &f).passed());
        for intent in [
            Intent::LeadDistance,
            Intent::Ahead,
            Intent::Side(Side::Right),
            Intent::Surroundings,
        ] {
            let t = template_answer(intent, &f, None);
            assert!(check(&t, &f).passed(), "{t}: {:?}", check(&t, &f));
            assert!(!t.contains("30 m") && !t.contains("2.0 m/s"), "{t}");
        }
        assert!(template_answer(Intent::Side(Side::Right), &f, None).contains("possibly a cyclist"));
        // The alert still fires on the estimate, its reason without the unsayable figures.
        let h = crate::intent::hazards(&FactSheet::from_objects(
            0,
            (0.0, 0.0, 0.0),
            20.0,
            &[car],
            &[],
        ));
        assert_eq!(h.len(), 1);
        assert!(
            check(&format!("I warned you because {}.", h[0].reason), &f).passed(),
            "{h:?}"
        );
        // The same reason with the warning put in the driver's mouth (as SmolLM2 once
        // rephrased it) is refused.
        let misattributed = format!(
            "You said that you warned the driver because {}.",
            h[0].reason
        );
        let report = check(&misattributed, &f);
        assert!(
            report.claims == check(&format!("I warned you because {}.", h[0].reason), &f).claims
        );
        assert!(
            report.failures.iter().any(|r| r.contains("'you said'")),
            "{report:?}"
        );
    }

    /// The sheet above with a parking sensor reading 0.8 m behind, one clear on the left and
    /// one under a health finding reading 0.3 m behind.
    fn parking_sheet() -> FactSheet {
        use crate::facts::{HealthFact, UltrasonicFact};
        let mut f = sheet();
        f.health.push(HealthFact {
            component: "ultrasonic/rear_center_left".into(),
            kind: "stuck_value".into(),
            severity: "warn".into(),
            evidence: vec![],
            trend_per_s: 0.0,
            time_to_threshold_s: f64::INFINITY,
        });
        let pi = std::f64::consts::PI;
        let readings = [
            UltrasonicFact::new("rear_center_right", -10, 0.8, 0.2, 5.5, -0.97 * pi),
            UltrasonicFact::new("rear_center_left", -10, 0.3, 0.2, 5.5, 0.97 * pi),
            UltrasonicFact::new("front_left_corner", -10, f64::INFINITY, 0.2, 5.5, 1.2),
            // Stale: not stated.
            UltrasonicFact::new("front_center_left", -900_000_000, 0.5, 0.2, 5.5, 0.1),
        ];
        f.with_ultrasonic(readings.into_iter().flatten())
    }

    #[test]
    fn parking_sensor_ranges_are_checked_tightly_and_by_side() {
        let f = parking_sheet();
        assert_eq!(f.ultrasonic.len(), 3, "{:?}", f.ultrasonic);
        assert!(check("The parking sensors behind read 0.8 m.", &f).passed());
        assert!(check("The obstacle behind you is 0.8 m away.", &f).passed());
        assert!(check(
            "The parking sensors on the left detect nothing in range.",
            &f
        )
        .passed());
        // A distance a tracked object would support is no parking-sensor range.
        assert!(!check("The parking sensors behind read 1.5 m.", &f).passed());
        assert!(!check("The parking sensors behind read 0.5 m.", &f).passed());
        // The right figure on the wrong side.
        assert!(!check("The parking sensors on the left read 0.8 m.", &f).passed());
        // The suspect sensor's 0.3 m is not a fact, nor is the stale 0.5 m ahead.
        assert!(!check("The parking sensors behind read 0.3 m.", &f).passed());
        assert!(!check("The parking sensors ahead read 0.5 m.", &f).passed());
        // An echo behind contradicts "nothing behind"; a class is not known from an echo.
        assert!(!check("Nothing is behind.", &f).passed());
        assert!(!check("The parking sensors behind detect nothing.", &f).passed());
        assert!(!check("The parking sensors see a car behind.", &f).passed());
        assert!(check("No car is behind.", &f).passed());
    }

    #[test]
    fn parking_templates_pass_the_checker_and_name_each_side() {
        use crate::intent::{classify, template_answer, Intent};
        let f = parking_sheet();
        for (q, want) in [
            (
                "How close am I to the obstacle behind me?",
                Intent::Clearance(Some(Side::Behind)),
            ),
            ("What do the parking sensors say?", Intent::Clearance(None)),
            ("Is my ultrasonic sensor working?", Intent::Sensors),
            ("What is behind me?", Intent::Side(Side::Behind)),
        ] {
            let intent = classify(q);
            assert_eq!(intent, want, "{q}");
            let t = template_answer(intent, &f, None);
            assert!(check(&t, &f).passed(), "{q}: {t} {:?}", check(&t, &f));
            assert!(covers(&t, &t, &f).is_empty(), "{t}");
        }
        let all = template_answer(Intent::Clearance(None), &f, None);
        assert!(
            all.contains("0.8 m") && all.contains("rear_center_right"),
            "{all}"
        );
        assert!(
            all.contains("rear_center_left") && !all.contains("0.3"),
            "{all}"
        );
        // An answer that leaves out the range does not cover the template.
        let t = template_answer(Intent::Clearance(Some(Side::Behind)), &f, None);
        assert!(!covers("There is an obstacle behind you.", &t, &f).is_empty());
    }

    #[test]
    fn a_distance_is_checked_on_the_side_named_nearest_to_it() {
        let f = parking_sheet();
        // The car is 25 m ahead, the pedestrian 7.2 m on the left, an echo 0.8 m behind.
        assert!(check("The car ahead is 25 m away.", &f).passed());
        assert!(!check("Something is 25 m to your left.", &f).passed());
        assert!(!check("Something on the left is 25 m away.", &f).passed());
        // Not a parking sentence, but the only 0.8 m is the echo behind.
        assert!(check("Something behind you is 0.8 m away.", &f).passed());
        assert!(!check("Something on your left is 0.8 m away.", &f).passed());
        // Each figure of a sentence with two sides goes with its own side.
        assert!(check("A car is 25 m ahead and an obstacle 0.8 m behind.", &f).passed());
        assert!(!check("A car is 0.8 m ahead and an obstacle 25 m behind.", &f).passed());
        // Bounds: true of anything nearer, false of nothing.
        assert!(check("The obstacle behind is less than 1 m away.", &f).passed());
        assert!(check("The pedestrian on the left is within 10 m.", &f).passed());
        assert!(!check("The obstacle behind is less than 0.5 m away.", &f).passed());
        assert!(!check("Something on the left is under 5 m away.", &f).passed());
    }

    #[test]
    fn an_echo_under_the_minimum_range_is_said_as_a_bound() {
        use crate::facts::{Echo, UltrasonicFact};
        use crate::intent::{template_answer, Intent};
        let pi = std::f64::consts::PI;
        let f = sheet().with_ultrasonic(UltrasonicFact::new(
            "rear_center_right",
            -10,
            f64::NEG_INFINITY,
            0.2,
            5.5,
            -0.97 * pi,
        ));
        assert_eq!(f.ultrasonic[0].echo, Echo::Closer(0.2));
        // Its distance is not known: only "less than" the minimum range is true.
        assert!(!check("The parking sensors behind read 0.2 m.", &f).passed());
        assert!(check("The parking sensors behind read less than 0.2 m.", &f).passed());
        assert!(check("An obstacle is closer than 0.2 m behind you.", &f).passed());
        let t = template_answer(Intent::Clearance(Some(Side::Behind)), &f, None);
        assert!(t.contains("less than 0.2 m"), "{t}");
        assert!(check(&t, &f).passed(), "{t}: {:?}", check(&t, &f));
        assert!(f.to_prompt_text().contains("less than 0.2 m"));
    }
}
