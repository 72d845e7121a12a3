//! Attention of one group of query heads over the key/value head they share, on a sequence's
//! f16 cache, as ggml's f16 cache computes it: keys and values read as f16, scores scaled and
//! soft-maxed in f32, the weights rounded to f16 before they multiply the values.
//!
//! Two paths with bit-identical results: a portable one, and an AVX2/F16C one chosen at run
//! time for head widths that are a multiple of 64. The vector path converts the cache with
//! one instruction per 8 values, keeps its accumulators in registers (eight positions' scores
//! at a time, 64 output values at a time) and keeps the portable summation order: 8 lanes per
//! dot product, multiply then add, lanes summed in order (through a transpose).

use half::f16;
use half::slice::HalfFloatSliceExt;

/// One query-head group against one key/value head.
pub struct HeadGroup<'a> {
    /// The group's queries, `group * head_dim`, already rounded to f16 values.
    pub q: &'a [f32],
    /// The layer's cached keys and values, `[position][kv_dim]`.
    pub k: &'a [f16],
    pub v: &'a [f16],
    pub kv_dim: usize,
    /// Where this key/value head starts within a cached row.
    pub offset: usize,
    pub head_dim: usize,
    /// Positions attended (the first `span` rows of the cache).
    pub span: usize,
    pub kq_scale: f32,
}

/// `out[g] = softmax(q[g] . K^T * kq_scale) . V` for every head `g` of the group; `scores` is
/// scratch (resized here).
pub fn attend(h: &HeadGroup, scores: &mut Vec<f32>, out: &mut [f32]) {
    let group = h.q.len() / h.head_dim.max(1);
    scores.clear();
    scores.resize(group * h.span, 0.0);
    #[cfg(target_arch = "x86_64")]
    if vector_path() && h.head_dim.is_multiple_of(64) {
        // SAFETY: `vector_path` checked AVX2 and F16C; `check` bounds every access below.
        if check(h, out) {
            unsafe { avx2::attend(h, group, scores, out) };
            return;
        }
    }
    attend_portable(h, group, scores, out);
}

/// Whether the slices hold every row and head the group reads and writes.
fn check(h: &HeadGroup, out: &[f32]) -> bool {
    let group = h.q.len() / h.head_dim.max(1);
    let need = if h.span == 0 {
        0
    } else {
        (h.span - 1) * h.kv_dim + h.offset + h.head_dim
    };
    h.offset + h.head_dim <= h.kv_dim
        && h.k.len() >= need
        && h.v.len() >= need
        && h.q.len() == group * h.head_dim
        && out.len() >= group * h.head_dim
}

#[cfg(target_arch = "x86_64")]
fn vector_path() -> bool {
    // The matrix kernels' CPU probe: every kernel but the scalar one has AVX2 and F16C.
    crate::quant::avx2_available()
}

fn attend_portable(h: &HeadGroup, group: usize, scores: &mut [f32], out: &mut [f32]) {
    let (hd, span) = (h.head_dim, h.span);
    let mut row = vec![0f32; hd];
    for j in 0..span {
        let at = j * h.kv_dim + h.offset;
        h.k[at..at + hd].convert_to_f32_slice(&mut row);
        for g in 0..group {
            scores[g * span + j] = dot(&h.q[g * hd..(g + 1) * hd], &row) * h.kq_scale;
        }
    }
    for g in 0..group {
        softmax_rounded(&mut scores[g * span..(g + 1) * span]);
    }
    out[..group * hd].fill(0.0);
    for j in 0..span {
        let at = j * h.kv_dim + h.offset;
        h.v[at..at + hd].convert_to_f32_slice(&mut row);
        for g in 0..group {
            let p = scores[g * span + j];
            for (o, vv) in out[g * hd..(g + 1) * hd].iter_mut().zip(&row) {
                *o += p * vv;
            }
        }
    }
}

/// Dot product in 8 independent lanes (a different summation order than a plain fold, as
/// ggml's own is), the lanes then summed in order.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        for i in 0..8 {
            acc[i] += a[c * 8 + i] * b[c * 8 + i];
        }
    }
    let mut sum = acc[0];
    for a in &acc[1..] {
        sum += a;
    }
    for i in chunks * 8..a.len() {
        sum += a[i] * b[i];
    }
    sum
}

/// Softmax in place (the sum in f64), each weight then rounded to f16 as ggml stores them.
fn softmax_rounded(x: &mut [f32]) {
    let inv = exp_and_inverse_sum(x);
    for v in x.iter_mut() {
        *v = f16::from_f32(*v * inv).to_f32();
    }
}

/// `x = exp(x - max x)`, returning `1 / sum(x)` (summed in f64, in order).
fn exp_and_inverse_sum(x: &mut [f32]) -> f32 {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v as f64;
    }
    (1.0 / sum) as f32
}

/// Every value rounded to the nearest f16 (ties to even) and back, as ggml's f16 copies of
/// the queries are: by F16C eight at a time where the CPU has it.
pub fn round_to_f16(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if vector_path() {
        // SAFETY: `vector_path` checked F16C; the function stays within `x`.
        unsafe { avx2::round_to_f16(x) };
        return;
    }
    for v in x.iter_mut() {
        *v = f16::from_f32(*v).to_f32();
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{exp_and_inverse_sum, HeadGroup};
    use std::arch::x86_64::*;

    /// Eight values rounded to f16 (ties to even, as `half` does) and back.
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn round8(v: __m256) -> __m256 {
        _mm256_cvtph_ps(_mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v))
    }

    /// [`super::round_to_f16`] eight at a time.
    #[target_feature(enable = "avx2,f16c")]
    pub unsafe fn round_to_f16(x: &mut [f32]) {
        let mut chunks = x.chunks_exact_mut(8);
        for c in &mut chunks {
            _mm256_storeu_ps(c.as_mut_ptr(), round8(_mm256_loadu_ps(c.as_ptr())));
        }
        for v in chunks.into_remainder() {
            *v = half::f16::from_f32(*v).to_f32();
        }
    }

    /// [`super::softmax_rounded`], the scaling and rounding eight at a time.
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn softmax_rounded(x: &mut [f32]) {
        let inv = _mm256_set1_ps(exp_and_inverse_sum(x));
        let mut chunks = x.chunks_exact_mut(8);
        for c in &mut chunks {
            let v = _mm256_mul_ps(_mm256_loadu_ps(c.as_ptr()), inv);
            _mm256_storeu_ps(c.as_mut_ptr(), round8(v));
        }
        let inv = _mm256_cvtss_f32(inv);
        for v in chunks.into_remainder() {
            *v = half::f16::from_f32(*v * inv).to_f32();
        }
    }

    /// Eight f16 values from `p` as f32.
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn load8(p: *const half::f16) -> __m256 {
        _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i))
    }

    /// The lanes summed in order, `((a0 + a1) + a2) + ...`, as the portable `dot` does.
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn lanes_in_order(v: __m256) -> f32 {
        let mut a = [0f32; 8];
        _mm256_storeu_ps(a.as_mut_ptr(), v);
        let mut s = a[0];
        for x in &a[1..] {
            s += x;
        }
        s
    }

    /// For eight vectors `a[p]`, the vector of their in-order lane sums (`lanes_in_order` of
    /// each, bit for bit): a transpose, then seven additions in lane order.
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn eight_sums(a: [__m256; 8]) -> __m256 {
        let t0 = _mm256_unpacklo_ps(a[0], a[1]);
        let t1 = _mm256_unpackhi_ps(a[0], a[1]);
        let t2 = _mm256_unpacklo_ps(a[2], a[3]);
        let t3 = _mm256_unpackhi_ps(a[2], a[3]);
        let t4 = _mm256_unpacklo_ps(a[4], a[5]);
        let t5 = _mm256_unpackhi_ps(a[4], a[5]);
        let t6 = _mm256_unpacklo_ps(a[6], a[7]);
        let t7 = _mm256_unpackhi_ps(a[6], a[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        // Row l of the transpose holds lane l of every input.
        let lane = [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ];
        let mut s = lane[0];
        for l in &lane[1..] {
            s = _mm256_add_ps(s, *l);
        }
        s
    }

    /// The caller checked the features, the slice lengths (`super::check`) and a head width
    /// that is a multiple of 64.
    #[target_feature(enable = "avx2,f16c")]
    pub unsafe fn attend(h: &HeadGroup, group: usize, scores: &mut [f32], out: &mut [f32]) {
        let (hd, span) = (h.head_dim, h.span);
        let chunks = hd / 8;
        let scale = _mm256_set1_ps(h.kq_scale);
        // Scores: eight positions at a time per head, their accumulators in registers.
        for g in 0..group {
            let q = h.q.as_ptr().add(g * hd);
            let dst = scores.as_mut_ptr().add(g * span);
            let mut j = 0;
            while j + 8 <= span {
                let k = h.k.as_ptr().add(j * h.kv_dim + h.offset);
                let mut acc = [_mm256_setzero_ps(); 8];
                for c in 0..chunks {
                    let qv = _mm256_loadu_ps(q.add(c * 8));
                    for (p, a) in acc.iter_mut().enumerate() {
                        let kf = load8(k.add(p * h.kv_dim + c * 8));
                        *a = _mm256_add_ps(*a, _mm256_mul_ps(qv, kf));
                    }
                }
                _mm256_storeu_ps(dst.add(j), _mm256_mul_ps(eight_sums(acc), scale));
                j += 8;
            }
            while j < span {
                let k = h.k.as_ptr().add(j * h.kv_dim + h.offset);
                let mut acc = _mm256_setzero_ps();
                for c in 0..chunks {
                    let qv = _mm256_loadu_ps(q.add(c * 8));
                    acc = _mm256_add_ps(acc, _mm256_mul_ps(qv, load8(k.add(c * 8))));
                }
                *dst.add(j) = lanes_in_order(acc) * h.kq_scale;
                j += 1;
            }
        }
        for g in 0..group {
            softmax_rounded(&mut scores[g * span..(g + 1) * span]);
        }
        // Weighted values: 64 output values at a time per head, in registers, over every
        // position in order.
        for g in 0..group {
            let w = scores.as_ptr().add(g * span);
            for cb in (0..chunks).step_by(8) {
                let mut o = [_mm256_setzero_ps(); 8];
                for j in 0..span {
                    let p = _mm256_set1_ps(*w.add(j));
                    let v = h.v.as_ptr().add(j * h.kv_dim + h.offset + cb * 8);
                    for (c, oc) in o.iter_mut().enumerate() {
                        *oc = _mm256_add_ps(*oc, _mm256_mul_ps(p, load8(v.add(c * 8))));
                    }
                }
                for (c, oc) in o.iter().enumerate() {
                    _mm256_storeu_ps(out.as_mut_ptr().add(g * hd + (cb + c) * 8), *oc);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// The portable path against an f64 oracle, and the vector path bit for bit against the
    /// portable one, over head widths, groups and spans.
    #[test]
    fn both_paths_agree_bit_for_bit_and_with_an_f64_oracle() {
        let mut seed = 11u64;
        for &(hd, group, kv_heads) in &[
            (64, 3, 3),
            (64, 1, 1),
            (128, 4, 2),
            (64, 16, 1),
            (256, 2, 1),
            (12, 2, 2),
        ] {
            let kv_dim = hd * kv_heads;
            for span in [1usize, 2, 7, 8, 9, 33, 130] {
                let k: Vec<f16> = (0..span * kv_dim)
                    .map(|_| f16::from_f32(lcg(&mut seed) * 2.0))
                    .collect();
                let v: Vec<f16> = (0..span * kv_dim)
                    .map(|_| f16::from_f32(lcg(&mut seed)))
                    .collect();
                let q: Vec<f32> = (0..group * hd)
                    .map(|_| f16::from_f32(lcg(&mut seed) * 3.0).to_f32())
                    .collect();
                let h = HeadGroup {
                    q: &q,
                    k: &k,
                    v: &v,
                    kv_dim,
                    offset: (kv_heads - 1) * hd,
                    head_dim: hd,
                    span,
                    kq_scale: 1.0 / (hd as f32).sqrt(),
                };
                let mut scores = Vec::new();
                let mut fast = vec![0f32; group * hd];
                attend(&h, &mut scores, &mut fast);
                let mut plain = vec![0f32; group * hd];
                let mut scores2 = vec![0f32; group * span];
                attend_portable(&h, group, &mut scores2, &mut plain);
                assert_eq!(
                    fast.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    plain.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    "hd {hd} group {group} span {span}"
                );
                for g in 0..group {
                    let s: Vec<f64> = (0..span)
                        .map(|j| {
                            (0..hd)
                                .map(|d| {
                                    q[g * hd + d] as f64 * k[j * kv_dim + h.offset + d].to_f64()
                                })
                                .sum::<f64>()
                                * h.kq_scale as f64
                        })
                        .collect();
                    let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for d in 0..hd {
                        let want: f64 = (0..span)
                            .map(|j| e[j] / z * v[j * kv_dim + h.offset + d].to_f64())
                            .sum();
                        let got = plain[g * hd + d] as f64;
                        assert!((got - want).abs() < 2e-3, "{got} vs {want}");
                    }
                }
            }
        }
    }

    #[test]
    fn rounding_to_f16_matches_half_including_ties() {
        let mut seed = 5u64;
        let mut x: Vec<f32> = (0..1003).map(|_| lcg(&mut seed) * 70_000.0).collect();
        // Exact ties between two f16 values (1 + 2^-11 lies halfway between 1 and 1 + 2^-10).
        x.extend([
            1.0 + 1.0 / 2048.0,
            1.0 + 3.0 / 2048.0,
            -(1.0 + 1.0 / 2048.0),
            1e-8,
            0.0,
        ]);
        let want: Vec<u32> = x
            .iter()
            .map(|&v| f16::from_f32(v).to_f32().to_bits())
            .collect();
        round_to_f16(&mut x);
        assert_eq!(x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want);
    }

    #[test]
    fn short_slices_take_the_checked_path() {
        let q = vec![0.5f32; 8];
        let k = vec![f16::from_f32(1.0); 8];
        let h = HeadGroup {
            q: &q,
            k: &k,
            v: &k,
            kv_dim: 8,
            offset: 0,
            head_dim: 8,
            span: 1,
            kq_scale: 1.0,
        };
        let mut out = vec![0f32; 8];
        attend(&h, &mut Vec::new(), &mut out);
        assert!(out.iter().all(|&x| x == 1.0));
        assert!(!check(&HeadGroup { span: 2, ..h }, &out));
    }
}
