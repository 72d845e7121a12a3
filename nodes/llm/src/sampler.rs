//! Greedy and seeded temperature / top-p sampling.

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// The most likely token (the lowest id on a tie).
    Greedy,
    /// Temperature then nucleus (top-p) sampling from a seeded generator: the same seed gives
    /// the same tokens.
    TopP {
        temperature: f32,
        top_p: f32,
        seed: u64,
    },
}

pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// SplitMix64: small, seedable, and the same on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Logits this many temperatures below the largest are left out of top-p sampling.
const NEGLIGIBLE_LOGIT: f32 = 30.0;

/// Sample from `softmax(logits / temperature)` restricted to the smallest set of most likely
/// tokens whose probability reaches `top_p`.
pub fn sample_top_p(logits: &[f32], temperature: f32, top_p: f32, rng: &mut Rng) -> u32 {
    if temperature <= 0.0 || logits.is_empty() {
        return argmax(logits);
    }
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    // Tokens more than `NEGLIGIBLE_LOGIT` (in units of the temperature) below the best weigh
    // under e^-30 each, under 5e-9 of the mass all together for a 50k vocabulary: they are left
    // out before any exponential is taken (one comparison per token instead of one `exp`).
    let floor = max - NEGLIGIBLE_LOGIT * temperature;
    let mut probs: Vec<(u32, f64)> = logits
        .iter()
        .enumerate()
        .filter(|(_, &v)| v >= floor)
        .map(|(i, &v)| (i as u32, (((v - max) / temperature) as f64).exp()))
        .collect();
    let total: f64 = probs.iter().map(|p| p.1).sum();
    let order = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    // The nucleus is almost always a few dozen tokens: sort only the largest candidates when
    // they already hold `top_p` of the mass (the same order as a full sort), else all.
    const HEAD: usize = 512;
    if probs.len() > HEAD {
        probs.select_nth_unstable_by(HEAD - 1, order);
        let head_mass: f64 = probs[..HEAD].iter().map(|p| p.1).sum::<f64>() / total;
        if head_mass >= top_p as f64 {
            probs.truncate(HEAD);
        }
    }
    probs.sort_by(order);
    let mut kept = 0;
    let mut mass = 0.0;
    for p in &probs {
        kept += 1;
        mass += p.1 / total;
        if mass >= top_p as f64 {
            break;
        }
    }
    let kept = &probs[..kept];
    let kept_mass: f64 = kept.iter().map(|p| p.1).sum();
    let mut r = rng.next_f64() * kept_mass;
    for p in kept {
        r -= p.1;
        if r <= 0.0 {
            return p.0;
        }
    }
    kept[kept.len() - 1].0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.1, 3.0, 3.0, -1.0]), 1);
    }

    #[test]
    fn logits_far_below_the_best_are_never_drawn_and_the_rest_keep_their_odds() {
        // 50k tokens 40 temperatures below two close ones: those two share every draw, 2:1.
        let mut logits = vec![-40.0f32; 50_000];
        logits[7] = 0.0;
        logits[9] = 0.5f32.ln();
        let mut rng = Rng::new(3);
        let mut counts = [0usize; 2];
        for _ in 0..20_000 {
            match sample_top_p(&logits, 1.0, 1.0, &mut rng) {
                7 => counts[0] += 1,
                9 => counts[1] += 1,
                other => panic!("drew {other}"),
            }
        }
        let share = counts[0] as f64 / 20_000.0;
        assert!((share - 2.0 / 3.0).abs() < 0.02, "{counts:?}");
    }

    #[test]
    fn top_p_keeps_only_the_nucleus_and_follows_the_distribution() {
        // Probabilities ~ [0.6, 0.3, 0.1]: with top_p 0.85 the third is never drawn.
        let logits = [0.6f32.ln(), 0.3f32.ln(), 0.1f32.ln()];
        let mut rng = Rng::new(42);
        let mut counts = [0usize; 3];
        for _ in 0..20_000 {
            counts[sample_top_p(&logits, 1.0, 0.85, &mut rng) as usize] += 1;
        }
        assert_eq!(counts[2], 0);
        let share = counts[0] as f64 / 20_000.0;
        assert!((share - 2.0 / 3.0).abs() < 0.02, "{counts:?}");
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(
            (0..50)
                .map(|_| sample_top_p(&logits, 0.8, 0.95, &mut a))
                .collect::<Vec<_>>(),
            (0..50)
                .map(|_| sample_top_p(&logits, 0.8, 0.95, &mut b))
                .collect::<Vec<_>>()
        );
    }
}
