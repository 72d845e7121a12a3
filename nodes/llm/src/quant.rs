//! Quantized matrices and the matrix-vector kernels of the hot path.
//!
//! Weights stay in their GGUF block format (`Q4_1`, `Q8_0`); activations are quantized per
//! matmul to the block format llama.cpp pairs them with (`Q8_1` for `Q4_1`, `Q8_0` for
//! `Q8_0`) and the dot products run in integers, with AVX2 kernels chosen at run time and a
//! scalar fallback that gives the same sums. Other GGUF types (k-quants, f16) are dequantized
//! once at load with candle-core and multiplied in f32.

use half::f16;
use memmap2::MmapMut;
use rayon::prelude::*;

/// Elements per block for `Q4_1`, `Q8_0` and `Q8_1`.
pub const QK: usize = 32;
/// Bytes of one `Q4_1` block: f16 scale, f16 minimum, 16 bytes of nibbles.
pub const Q4_1_BYTES: usize = 20;
/// Bytes of one `Q8_0` block: f16 scale, 32 signed bytes.
pub const Q8_0_BYTES: usize = 34;

/// The bytes of a weight: a read-only mapping of its range of the model file (zero copy: the
/// pages are the page cache's, and unmapping a streamed layer drops them from this process at
/// once), or an anonymous copy.
pub struct WeightBytes {
    backing: Backing,
    start: usize,
    len: usize,
}

enum Backing {
    File(memmap2::Mmap),
    Anon(MmapMut),
    Shared(std::sync::Arc<dyn ByteSource>),
}

/// Bytes several weights share (a streaming slot holding one layer's tensors).
pub trait ByteSource: Send + Sync {
    fn bytes(&self) -> &[u8];
}

impl WeightBytes {
    /// A copy of `bytes` in an anonymous mapping.
    pub fn copy_of(bytes: &[u8]) -> std::io::Result<Self> {
        let mut map = MmapMut::map_anon(bytes.len().max(1))?;
        map[..bytes.len()].copy_from_slice(bytes);
        Ok(Self {
            backing: Backing::Anon(map),
            start: 0,
            len: bytes.len(),
        })
    }

    /// Map `len` bytes of `file` from `offset`, with the page tables filled at once
    /// (`MAP_POPULATE`), so that the thread mapping pays for the reads and page faults, not
    /// the one computing.
    pub fn map_file(file: &std::fs::File, offset: u64, len: usize) -> std::io::Result<Self> {
        const PAGE: u64 = 4096;
        let aligned = offset - offset % PAGE;
        let start = (offset - aligned) as usize;
        // SAFETY: the mapping is read-only and private to this engine; the model file was
        // checked against its manifest when it was opened and must not be modified in place
        // while the engine runs (replacing it by rename is fine: the open file stays).
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(aligned)
                .len(start + len)
                .populate()
                .map(file)?
        };
        Ok(Self {
            backing: Backing::File(map),
            start,
            len,
        })
    }

    /// `len` bytes from `start` of a shared source.
    pub fn shared(source: std::sync::Arc<dyn ByteSource>, start: usize, len: usize) -> Self {
        Self {
            backing: Backing::Shared(source),
            start,
            len,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match &self.backing {
            Backing::File(m) => &m[self.start..self.start + self.len],
            Backing::Anon(m) => &m[self.start..self.start + self.len],
            Backing::Shared(s) => &s.bytes()[self.start..self.start + self.len],
        }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The storage formats the kernels multiply directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockFormat {
    Q4_1,
    Q8_0,
}

impl BlockFormat {
    pub fn block_bytes(self) -> usize {
        match self {
            BlockFormat::Q4_1 => Q4_1_BYTES,
            BlockFormat::Q8_0 => Q8_0_BYTES,
        }
    }
}

/// A weight matrix `rows x cols` (GGUF `ne = [cols, rows]`), used as `y = W x`.
pub enum Matrix {
    Blocks {
        format: BlockFormat,
        rows: usize,
        cols: usize,
        bytes: WeightBytes,
    },
    F32 {
        rows: usize,
        cols: usize,
        values: Vec<f32>,
    },
}

impl Matrix {
    pub fn rows(&self) -> usize {
        match self {
            Matrix::Blocks { rows, .. } | Matrix::F32 { rows, .. } => *rows,
        }
    }
    pub fn cols(&self) -> usize {
        match self {
            Matrix::Blocks { cols, .. } | Matrix::F32 { cols, .. } => *cols,
        }
    }
    /// Bytes this matrix holds in memory.
    pub fn memory_bytes(&self) -> usize {
        match self {
            Matrix::Blocks { bytes, .. } => bytes.len(),
            Matrix::F32 { values, .. } => values.len() * 4,
        }
    }

    /// `out[t][r] = sum_c W[r][c] * xs[t][c]` for every input vector `t`: each weight row is
    /// read once for all inputs (a batch shares the load). `out` is `xs.len() * rows` long.
    pub fn matmul(&self, xs: &[f32], n_inputs: usize, out: &mut [f32]) {
        matmul_group(&[self], xs, n_inputs, &mut [out]);
    }

    /// Rows `first..first + parts[t].len()` for every input `t` into `parts[t]` (one slice
    /// of the output per input, each as long).
    fn fill_rows(
        &self,
        first: usize,
        parts: &mut [&mut [f32]],
        input: &Inputs,
        fours: &[Acts4],
        kernel: Kernel,
    ) {
        let len = parts.first().map_or(0, |p| p.len());
        match (self, input) {
            (
                Matrix::Blocks {
                    format,
                    bytes,
                    cols,
                    ..
                },
                Inputs::Quantized(acts),
            ) => {
                let nb = cols / QK;
                let row_bytes = nb * format.block_bytes();
                let w = bytes.as_slice();
                for i in 0..len {
                    let r = first + i;
                    let row = &w[r * row_bytes..(r + 1) * row_bytes];
                    let mut t = 0;
                    for four in fours {
                        for (k, v) in kernel.dot4(*format, row, four, nb).into_iter().enumerate() {
                            parts[t + k][i] = v;
                        }
                        t += 4;
                    }
                    for (part, act) in parts[t..].iter_mut().zip(&acts[t..]) {
                        part[i] = kernel.dot(*format, row, act, nb);
                    }
                }
            }
            (Matrix::F32 { values, cols, .. }, Inputs::Plain(xs)) => {
                for i in 0..len {
                    let r = first + i;
                    let row = &values[r * cols..(r + 1) * cols];
                    for (part, x) in parts.iter_mut().zip(xs.chunks_exact(*cols)) {
                        part[i] = row.iter().zip(x).map(|(a, b)| a * b).sum();
                    }
                }
            }
            // Callers pair each matrix with its own kind of input (see `matmul_group`).
            _ => parts.iter_mut().for_each(|p| p.fill(f32::NAN)),
        }
    }

    fn format(&self) -> Option<BlockFormat> {
        match self {
            Matrix::Blocks { format, .. } => Some(*format),
            Matrix::F32 { .. } => None,
        }
    }
}

/// The inputs as a matrix consumes them.
enum Inputs<'a> {
    Quantized(Vec<QuantActs>),
    Plain(&'a [f32]),
}

/// Several matrices with the same input width applied to the same inputs in one parallel
/// pass (the query, key and value projections; gate and up): the inputs are quantized once
/// per block format and the thread pool is woken once. `outs[i]` receives matrix `i`'s
/// output, row-major per input.
pub fn matmul_group(mats: &[&Matrix], xs: &[f32], n_inputs: usize, outs: &mut [&mut [f32]]) {
    let kernel = Kernel::detect();
    let mut inputs: Vec<(Option<BlockFormat>, Inputs)> = Vec::new();
    for m in mats {
        let f = m.format();
        if !inputs.iter().any(|(g, _)| *g == f) {
            let made = match f {
                Some(format) => Inputs::Quantized(
                    xs.chunks_exact(m.cols())
                        .map(|x| QuantActs::new(format, x))
                        .collect(),
                ),
                None => Inputs::Plain(xs),
            };
            inputs.push((f, made));
        }
    }
    {
        // Rows per parallel task: large enough that scheduling costs little. A task writes its
        // rows of every input straight into the outputs (row-major per input): no scratch
        // buffer, no transpose.
        let mut tasks: Vec<(usize, usize, Vec<&mut [f32]>)> = Vec::new();
        for (mi, out) in outs.iter_mut().enumerate() {
            let rows = mats[mi].rows();
            if rows == 0 {
                continue;
            }
            let chunk_rows = 64.max(rows / 64).min(rows);
            let mut per_input: Vec<_> = out[..rows * n_inputs]
                .chunks_mut(rows)
                .map(|o| o.chunks_mut(chunk_rows))
                .collect();
            for c in 0..rows.div_ceil(chunk_rows) {
                let parts: Vec<&mut [f32]> =
                    per_input.iter_mut().filter_map(|it| it.next()).collect();
                tasks.push((mi, c * chunk_rows, parts));
            }
        }
        // The four-input groups with their scales interleaved, built once for every task.
        let fours: Vec<Vec<Acts4>> = inputs
            .iter()
            .map(|(_, input)| match input {
                Inputs::Quantized(acts) => {
                    let nb = acts.first().map_or(0, |a| a.d.len());
                    acts.chunks_exact(4)
                        .map(|c| Acts4::new([&c[0], &c[1], &c[2], &c[3]], nb))
                        .collect()
                }
                Inputs::Plain(_) => Vec::new(),
            })
            .collect();
        tasks.into_par_iter().for_each(|(mi, first, mut parts)| {
            let m = mats[mi];
            let f = m.format();
            if let Some(k) = inputs.iter().position(|(g, _)| *g == f) {
                m.fill_rows(first, &mut parts, &inputs[k].1, &fours[k], kernel);
            }
        });
    }
}

/// One activation vector quantized in 32-element blocks: per block a scale `d`, the block's
/// `d * sum(q)` (used by `Q4_1`'s minimum), and 32 signed bytes.
pub struct QuantActs {
    pub d: Vec<f32>,
    pub s: Vec<f32>,
    pub q: Vec<i8>,
    /// For `Q8_0` only: per block, `-128` times the sum of each group of four quants (eight
    /// per block). The VNNI kernels start `vpdpbusd` from it, so that the weight quants can
    /// enter as unsigned bytes offset by 128 (`q + 128`) and the sums come out exact.
    pub c: Vec<i32>,
}

impl QuantActs {
    /// As ggml's `quantize_row_q8_0` / `quantize_row_q8_1`: `d = max|x| / 127` stored as f16,
    /// `q = round(x / d)`.
    pub fn new(format: BlockFormat, x: &[f32]) -> Self {
        let nb = x.len() / QK;
        let mut d = Vec::with_capacity(nb);
        let mut s = Vec::with_capacity(nb);
        let mut q = vec![0i8; nb * QK];
        let mut c = Vec::with_capacity(if format == BlockFormat::Q8_0 {
            nb * 8
        } else {
            0
        });
        let vector = avx2_available();
        for (b, block) in x.chunks_exact(QK).enumerate() {
            let (scale, sum) = quantize_block_with(vector, block, &mut q[b * QK..(b + 1) * QK]);
            if format == BlockFormat::Q8_0 {
                c.extend(
                    q[b * QK..(b + 1) * QK]
                        .chunks_exact(4)
                        .map(|g| -128 * g.iter().map(|&v| i32::from(v)).sum::<i32>()),
                );
            }
            let scale_h = f16::from_f32(scale).to_f32();
            d.push(scale_h);
            s.push(match format {
                BlockFormat::Q4_1 => f16::from_f32(scale * sum as f32).to_f32(),
                BlockFormat::Q8_0 => 0.0,
            });
        }
        Self { d, s, q, c }
    }
}

/// One block of activations quantized as ggml does: returns `max|x| / 127` and the sum of
/// the quants.
fn quantize_block(block: &[f32], dst: &mut [i8]) -> (f32, i32) {
    let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
    let scale = amax / 127.0;
    let inv = if scale != 0.0 { 1.0 / scale } else { 0.0 };
    let mut sum = 0i32;
    for (dst, v) in dst.iter_mut().zip(block) {
        // Round half to even, like `_mm256_round_ps(_MM_ROUND_NEAREST)` in ggml, with the
        // 1.5 * 2^23 trick (exact for |x| <= 127).
        let qi = ((v * inv + 12_582_912.0) - 12_582_912.0) as i32;
        *dst = qi as i8;
        sum += qi;
    }
    (scale, sum)
}

/// Whether this CPU has AVX2, FMA and F16C (every kernel but the scalar one needs them), probed
/// once: the AVX2 paths of the block quantizer and of attention run then.
pub(crate) fn avx2_available() -> bool {
    !matches!(Kernel::detect(), Kernel::Scalar)
}

/// [`quantize_block`], by the AVX2 path when `vector` (the same quants, scale and sum).
#[inline]
fn quantize_block_with(vector: bool, block: &[f32], dst: &mut [i8]) -> (f32, i32) {
    #[cfg(target_arch = "x86_64")]
    if vector {
        // SAFETY: `avx2_available` found AVX2; the function checks both lengths.
        return unsafe { avx2::quantize_block(block, dst) };
    }
    let _ = vector;
    quantize_block(block, dst)
}

/// Four activation vectors for the four-input kernels, with their per-block scales (and
/// `Q4_1` sums) interleaved, so a block's four come in one vector load; built once for all
/// the rows a task multiplies.
pub struct Acts4<'a> {
    /// The vectors themselves.
    pub acts: [&'a QuantActs; 4],
    /// Per block, the four scales `d`.
    pub d: Vec<[f32; 4]>,
    /// Per block, the four `d * sum(q)`.
    pub s: Vec<[f32; 4]>,
}

impl<'a> Acts4<'a> {
    /// Interleaves the first `nb` blocks of `acts`.
    pub fn new(acts: [&'a QuantActs; 4], nb: usize) -> Self {
        let at = |v: &[f32], b: usize| v.get(b).copied().unwrap_or(0.0);
        Self {
            acts,
            d: (0..nb).map(|b| acts.map(|a| at(&a.d, b))).collect(),
            s: (0..nb).map(|b| acts.map(|a| at(&a.s, b))).collect(),
        }
    }
}

#[derive(Clone, Copy)]
enum Kernel {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512 VNNI: one `vpdpbusd` per block instead of two multiply-adds, two blocks at a
    /// time on 512-bit vectors (for one input and for four).
    #[cfg(target_arch = "x86_64")]
    AvxVnni,
}

impl Kernel {
    /// The best kernel for this CPU, decided once.
    fn detect() -> Self {
        static KERNEL: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *KERNEL.get_or_init(Self::probe)
    }

    fn probe() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
                && std::is_x86_feature_detected!("f16c");
            let vnni = std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512vl")
                && std::is_x86_feature_detected!("avx512vnni");
            if avx2 && vnni && std::env::var_os("EDGEFUSE_LLM_NO_VNNI").is_none() {
                return Kernel::AvxVnni;
            }
            if avx2 {
                return Kernel::Avx2;
            }
        }
        Kernel::Scalar
    }

    #[inline]
    fn dot(self, format: BlockFormat, row: &[u8], act: &QuantActs, nb: usize) -> f32 {
        match self {
            Kernel::Scalar => match format {
                BlockFormat::Q4_1 => dot_q4_1_scalar(row, act, nb),
                BlockFormat::Q8_0 => dot_q8_0_scalar(row, act, nb),
            },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `detect` checked that the CPU has AVX2, FMA and F16C; the slices are long
            // enough for `nb` blocks (checked by the callers' row arithmetic).
            Kernel::Avx2 => unsafe {
                match format {
                    BlockFormat::Q4_1 => avx2::dot_q4_1(row, act, nb),
                    BlockFormat::Q8_0 => avx2::dot_q8_0(row, act, nb),
                }
            },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above, and `detect` checked AVX-512 F, VL and VNNI.
            Kernel::AvxVnni => unsafe {
                match format {
                    BlockFormat::Q4_1 => avx2::dot_q4_1_vnni512(row, act, nb),
                    BlockFormat::Q8_0 => avx2::dot_q8_0_vnni512(row, act, nb),
                }
            },
        }
    }
}

impl Kernel {
    /// Four activation vectors against one row: the row's blocks are loaded and unpacked
    /// once for all four.
    #[inline]
    fn dot4(self, format: BlockFormat, row: &[u8], acts: &Acts4, nb: usize) -> [f32; 4] {
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `detect` checked the features; the lengths are checked inside.
            Kernel::AvxVnni => unsafe {
                match format {
                    BlockFormat::Q4_1 => avx2::dot4_q4_1_vnni512(row, acts, nb),
                    BlockFormat::Q8_0 => avx2::dot4_q8_0_vnni512(row, acts, nb),
                }
            },
            _ => acts.acts.map(|a| self.dot(format, row, a, nb)),
        }
    }
}

#[inline]
fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([bytes[at], bytes[at + 1]])).to_f32()
}

pub fn dot_q4_1_scalar(row: &[u8], act: &QuantActs, nb: usize) -> f32 {
    let mut sum = 0f32;
    for b in 0..nb {
        let blk = &row[b * Q4_1_BYTES..(b + 1) * Q4_1_BYTES];
        let d = f16_at(blk, 0);
        let m = f16_at(blk, 2);
        let q = &act.q[b * QK..(b + 1) * QK];
        let mut isum = 0i32;
        for j in 0..QK / 2 {
            let byte = blk[4 + j];
            isum += (byte & 0x0F) as i32 * q[j] as i32;
            isum += (byte >> 4) as i32 * q[j + QK / 2] as i32;
        }
        sum += d * act.d[b] * isum as f32 + m * act.s[b];
    }
    sum
}

pub fn dot_q8_0_scalar(row: &[u8], act: &QuantActs, nb: usize) -> f32 {
    let mut sum = 0f32;
    for b in 0..nb {
        let blk = &row[b * Q8_0_BYTES..(b + 1) * Q8_0_BYTES];
        let d = f16_at(blk, 0);
        let q = &act.q[b * QK..(b + 1) * QK];
        let isum: i32 = blk[2..]
            .iter()
            .zip(q)
            .map(|(w, a)| (*w as i8) as i32 * *a as i32)
            .sum();
        sum += d * act.d[b] * isum as f32;
    }
    sum
}

/// Dequantize one row of blocks to f32 (embedding rows are gathered this way).
pub fn dequantize_row(format: BlockFormat, row: &[u8], out: &mut [f32]) {
    match format {
        BlockFormat::Q4_1 => {
            for (blk, dst) in row.chunks_exact(Q4_1_BYTES).zip(out.chunks_exact_mut(QK)) {
                let d = f16_at(blk, 0);
                let m = f16_at(blk, 2);
                for j in 0..QK / 2 {
                    dst[j] = (blk[4 + j] & 0x0F) as f32 * d + m;
                    dst[j + QK / 2] = (blk[4 + j] >> 4) as f32 * d + m;
                }
            }
        }
        BlockFormat::Q8_0 => {
            for (blk, dst) in row.chunks_exact(Q8_0_BYTES).zip(out.chunks_exact_mut(QK)) {
                let d = f16_at(blk, 0);
                for (o, q) in dst.iter_mut().zip(&blk[2..]) {
                    *o = (*q as i8) as f32 * d;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Acts4, QuantActs, Q4_1_BYTES, Q8_0_BYTES, QK};
    use std::arch::x86_64::*;

    /// The block's two leading f16 values (scale and minimum) as f32, one conversion, no
    /// bounds checks: `blk` points at a whole block.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn f16_pair(blk: *const u8) -> (f32, f32) {
        let dm = _mm_cvtph_ps(_mm_cvtsi32_si128(std::ptr::read_unaligned(
            blk as *const i32,
        )));
        (_mm_cvtss_f32(dm), _mm_cvtss_f32(_mm_movehdup_ps(dm)))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// [`super::quantize_block`] eight lanes at a time, the same operations (multiply, add,
    /// subtract, truncate), so the same quants; the maximum of the magnitudes is the same
    /// whatever the order for values that are not NaN.
    #[target_feature(enable = "avx2")]
    pub unsafe fn quantize_block(block: &[f32], dst: &mut [i8]) -> (f32, i32) {
        assert!(block.len() >= QK && dst.len() >= QK);
        let p = block.as_ptr();
        let v = [0, 8, 16, 24].map(|o| _mm256_loadu_ps(p.add(o)));
        let sign = _mm256_set1_ps(-0.0);
        let a = v.map(|x| _mm256_andnot_ps(sign, x));
        let m = _mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]));
        let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        let m = _mm_max_ss(m, _mm_movehdup_ps(m));
        let amax = _mm_cvtss_f32(m);
        let scale = amax / 127.0;
        let inv = _mm256_set1_ps(if scale != 0.0 { 1.0 / scale } else { 0.0 });
        let magic = _mm256_set1_ps(12_582_912.0);
        let q = v.map(|x| {
            let r = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(x, inv), magic), magic);
            _mm256_cvttps_epi32(r)
        });
        let total = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        let t = _mm_add_epi32(
            _mm256_castsi256_si128(total),
            _mm256_extracti128_si256(total, 1),
        );
        let t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0b01_00_11_10));
        let t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0b10_11_00_01));
        let sum = _mm_cvtsi128_si32(t);
        // 32-bit to 8-bit in order: the packs interleave 128-bit lanes; a permutation undoes it.
        let w01 = _mm256_packs_epi32(q[0], q[1]);
        let w23 = _mm256_packs_epi32(q[2], q[3]);
        let b = _mm256_packs_epi16(w01, w23);
        let b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(dst.as_mut_ptr() as *mut __m256i, b);
        (scale, sum)
    }

    /// Sum of u8 x i8 products over 32 lanes, as 8 f32 partial sums.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn mul_sum_us8(ax: __m256i, sy: __m256i) -> __m256 {
        let dot = _mm256_maddubs_epi16(ax, sy);
        _mm256_cvtepi32_ps(_mm256_madd_epi16(dot, _mm256_set1_epi16(1)))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_q4_1(row: &[u8], act: &QuantActs, nb: usize) -> f32 {
        assert!(
            row.len() >= nb * Q4_1_BYTES
                && act.q.len() >= nb * QK
                && act.d.len() >= nb
                && act.s.len() >= nb
        );
        let mut acc = _mm256_setzero_ps();
        let mut summs = 0f32;
        let mask = _mm256_set1_epi8(0x0F);
        for b in 0..nb {
            let blk = row.as_ptr().add(b * Q4_1_BYTES);
            let (d, m) = f16_pair(blk);
            summs += m * *act.s.get_unchecked(b);
            let packed = _mm_loadu_si128(blk.add(4) as *const __m128i);
            let hi = _mm_srli_epi16(packed, 4);
            let both = _mm256_set_m128i(hi, packed);
            let qx = _mm256_and_si256(both, mask);
            let qy = _mm256_loadu_si256(act.q.as_ptr().add(b * QK) as *const __m256i);
            let p = mul_sum_us8(qx, qy);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * *act.d.get_unchecked(b)), p, acc);
        }
        hsum(acc) + summs
    }

    /// A `Q4_1` block's 32 quants as bytes, unmasked: its 16 packed bytes, then the same
    /// shifted right by 4 (low nibbles are elements 0-15, high nibbles 16-31).
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn q4_1_nibbles(blk: *const u8) -> __m256i {
        let packed = _mm_loadu_si128(blk.add(4) as *const __m128i);
        _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed)
    }

    /// The quants of the `Q4_1` block at `blk0` and of the one after it, in one vector.
    #[inline]
    #[target_feature(enable = "avx2,avx512f")]
    unsafe fn q4_1_pair(blk0: *const u8) -> __m512i {
        let both = join(q4_1_nibbles(blk0), q4_1_nibbles(blk0.add(Q4_1_BYTES)));
        _mm512_and_si512(both, _mm512_set1_epi8(0x0F))
    }

    /// Two 256-bit vectors as the low and high halves of one.
    #[inline]
    #[target_feature(enable = "avx2,avx512f")]
    unsafe fn join(lo: __m256i, hi: __m256i) -> __m512i {
        _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1)
    }

    /// The quants of the `Q8_0` block at `blk0` and of the one after it, offset by 128 as
    /// unsigned bytes (`q ^ 0x80 = q + 128`), in one vector: `vpdpbusd`'s unsigned operand. The
    /// activations' `c` (-128 times their sums in fours) takes the offset back out exactly.
    #[inline]
    #[target_feature(enable = "avx2,avx512f")]
    unsafe fn q8_0_pair_offset(blk0: *const u8) -> __m512i {
        let qx0 = _mm256_loadu_si256(blk0.add(2) as *const __m256i);
        let qx1 = _mm256_loadu_si256(blk0.add(Q8_0_BYTES + 2) as *const __m256i);
        _mm512_xor_si512(join(qx0, qx1), _mm512_set1_epi8(-128))
    }

    /// [`q8_0_pair_offset`] for one block.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn q8_0_offset(blk: *const u8) -> __m256i {
        let qx = _mm256_loadu_si256(blk.add(2) as *const __m256i);
        _mm256_xor_si256(qx, _mm256_set1_epi8(-128))
    }

    /// `Q4_1` row times one activation vector with `vpdpbusd`, two blocks at a time on 512-bit
    /// vectors: the low half accumulates the even blocks and the high half the odd ones (as
    /// two alternating 256-bit accumulators would, and as [`dot4_q4_1_vnni512`] does for each
    /// of its inputs, so a batch decodes as each sequence alone).
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
    pub unsafe fn dot_q4_1_vnni512(row: &[u8], act: &QuantActs, nb: usize) -> f32 {
        assert!(
            row.len() >= nb * Q4_1_BYTES
                && act.q.len() >= nb * QK
                && act.d.len() >= nb
                && act.s.len() >= nb
        );
        let mut acc = _mm512_setzero_ps();
        let mut summs = 0f32;
        let mut b = 0;
        while b + 2 <= nb {
            let blk0 = row.as_ptr().add(b * Q4_1_BYTES);
            let blk1 = blk0.add(Q4_1_BYTES);
            let (d0, m0) = f16_pair(blk0);
            let (d1, m1) = f16_pair(blk1);
            summs += m0 * *act.s.get_unchecked(b);
            summs += m1 * *act.s.get_unchecked(b + 1);
            let qx = q4_1_pair(blk0);
            let qy = _mm512_loadu_si512(act.q.as_ptr().add(b * QK) as *const _);
            let sc = pair_scales(
                d0 * *act.d.get_unchecked(b),
                d1 * *act.d.get_unchecked(b + 1),
            );
            acc = fma_pair(acc, qx, qy, sc);
            b += 2;
        }
        let (mut lo, hi) = halves(acc);
        if b < nb {
            let blk = row.as_ptr().add(b * Q4_1_BYTES);
            let (d, m) = f16_pair(blk);
            summs += m * *act.s.get_unchecked(b);
            let qx = _mm256_and_si256(q4_1_nibbles(blk), _mm256_set1_epi8(0x0F));
            let qy = _mm256_loadu_si256(act.q.as_ptr().add(b * QK) as *const __m256i);
            lo = fma_one(lo, qx, qy, d * *act.d.get_unchecked(b));
        }
        hsum(_mm256_add_ps(lo, hi)) + summs
    }

    /// `Q8_0` row times one activation vector with `vpdpbusd`, two blocks at a time on 512-bit
    /// vectors: the low half accumulates the even blocks and the high half the odd ones (the
    /// same sums as two alternating 256-bit accumulators, and as [`dot4_q8_0_vnni512`]).
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
    pub unsafe fn dot_q8_0_vnni512(row: &[u8], act: &QuantActs, nb: usize) -> f32 {
        assert!(
            row.len() >= nb * Q8_0_BYTES
                && act.q.len() >= nb * QK
                && act.d.len() >= nb
                && act.c.len() >= nb * 8
        );
        let mut acc = _mm512_setzero_ps();
        let mut b = 0;
        while b + 2 <= nb {
            let blk0 = row.as_ptr().add(b * Q8_0_BYTES);
            let (d0, _) = f16_pair(blk0);
            let (d1, _) = f16_pair(blk0.add(Q8_0_BYTES));
            let ux = q8_0_pair_offset(blk0);
            let qy = _mm512_loadu_si512(act.q.as_ptr().add(b * QK) as *const _);
            let c = _mm512_loadu_si512(act.c.as_ptr().add(b * 8) as *const _);
            let sc = pair_scales(
                d0 * *act.d.get_unchecked(b),
                d1 * *act.d.get_unchecked(b + 1),
            );
            acc = fma_pair_from(acc, c, ux, qy, sc);
            b += 2;
        }
        let (mut lo, hi) = halves(acc);
        if b < nb {
            let blk = row.as_ptr().add(b * Q8_0_BYTES);
            let (d, _) = f16_pair(blk);
            let qy = _mm256_loadu_si256(act.q.as_ptr().add(b * QK) as *const __m256i);
            let c = _mm256_loadu_si256(act.c.as_ptr().add(b * 8) as *const __m256i);
            lo = fma_one_from(lo, c, q8_0_offset(blk), qy, d * *act.d.get_unchecked(b));
        }
        hsum(_mm256_add_ps(lo, hi))
    }

    /// One pair of blocks into a 512-bit accumulator: `acc + scales * ux.sy`, the `u8 x i8`
    /// products summed in fours (`vpdpbusd`), converted to f32, then one multiply-add.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn fma_pair(acc: __m512, ux: __m512i, sy: __m512i, scales: __m512) -> __m512 {
        fma_pair_from(acc, _mm512_setzero_si512(), ux, sy, scales)
    }

    /// [`fma_pair`] with the integer sums started from `start` instead of zero.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn fma_pair_from(
        acc: __m512,
        start: __m512i,
        ux: __m512i,
        sy: __m512i,
        scales: __m512,
    ) -> __m512 {
        let p = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(start, ux, sy));
        _mm512_fmadd_ps(scales, p, acc)
    }

    /// [`fma_pair`] for one block into a 256-bit accumulator, with one scale for all lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512vnni")]
    unsafe fn fma_one(acc: __m256, ux: __m256i, sy: __m256i, scale: f32) -> __m256 {
        fma_one_from(acc, _mm256_setzero_si256(), ux, sy, scale)
    }

    /// [`fma_one`] with the integer sums started from `start` instead of zero.
    #[inline]
    #[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512vnni")]
    unsafe fn fma_one_from(
        acc: __m256,
        start: __m256i,
        ux: __m256i,
        sy: __m256i,
        scale: f32,
    ) -> __m256 {
        let p = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(start, ux, sy));
        _mm256_fmadd_ps(_mm256_set1_ps(scale), p, acc)
    }

    /// `[s0; 8]` in the low half, `[s1; 8]` in the high half.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn pair_scales(s0: f32, s1: f32) -> __m512 {
        _mm512_castpd_ps(_mm512_insertf64x4(
            _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_set1_ps(s0))),
            _mm256_castps_pd(_mm256_set1_ps(s1)),
            1,
        ))
    }

    /// Four `d * d_x` or `m * s_x` products of one block at once: the same single
    /// multiplications (and, for the sums, additions) as four scalar ones, lane by lane.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn times4(v: f32, four: *const [f32; 4]) -> __m128 {
        _mm_mul_ps(_mm_set1_ps(v), _mm_loadu_ps(four as *const f32))
    }

    /// Per input `k`, a permutation index putting input `k`'s scale of the pair's first block
    /// in the low 8 lanes and of its second block in the high 8 (from 4 + 4 scales).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn pair_scale_index(k: i32) -> __m512i {
        _mm512_setr_epi32(
            k,
            k,
            k,
            k,
            k,
            k,
            k,
            k,
            4 + k,
            4 + k,
            4 + k,
            4 + k,
            4 + k,
            4 + k,
            4 + k,
            4 + k,
        )
    }

    /// The low and high 256-bit halves of `v`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn halves(v: __m512) -> (__m256, __m256) {
        (
            _mm512_castps512_ps256(v),
            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)),
        )
    }

    /// Each input's accumulator split into its even-block (low) and odd-block (high) halves.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn split4(acc: [__m512; 4]) -> [[__m256; 2]; 4] {
        acc.map(|a| {
            let (lo, hi) = halves(a);
            [lo, hi]
        })
    }

    /// Per input, the sum of its two halves' lanes plus `extra`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn total4(sum: [[__m256; 2]; 4], extra: [f32; 4]) -> [f32; 4] {
        let mut out = [0f32; 4];
        for k in 0..4 {
            out[k] = hsum(_mm256_add_ps(sum[k][0], sum[k][1])) + extra[k];
        }
        out
    }

    /// Four activation vectors against one `Q4_1` row, the row's blocks unpacked once for
    /// all four, two blocks at a time on 512-bit vectors. Each input's accumulator holds in
    /// its low half the even blocks' sums and in its high half the odd blocks', lane by lane
    /// the operations of [`dot_q4_1_vnni512`], so each result is bit-identical to a single
    /// call (a batch decodes as each sequence alone). Half the instructions per block of the
    /// 256-bit form, whose instruction count was the bound (not the execution units).
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
    pub unsafe fn dot4_q4_1_vnni512(row: &[u8], acts: &Acts4, nb: usize) -> [f32; 4] {
        assert!(row.len() >= nb * Q4_1_BYTES && acts.d.len() >= nb && acts.s.len() >= nb);
        for a in acts.acts {
            assert!(a.q.len() >= nb * QK);
        }
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut summs = _mm_setzero_ps();
        let index = [0, 1, 2, 3].map(|k| pair_scale_index(k));
        let mut b = 0;
        while b + 2 <= nb {
            let blk0 = row.as_ptr().add(b * Q4_1_BYTES);
            let blk1 = blk0.add(Q4_1_BYTES);
            let (d0, m0) = f16_pair(blk0);
            let (d1, m1) = f16_pair(blk1);
            summs = _mm_add_ps(summs, times4(m0, acts.s.as_ptr().add(b)));
            summs = _mm_add_ps(summs, times4(m1, acts.s.as_ptr().add(b + 1)));
            let scales = _mm512_castps256_ps512(_mm256_set_m128(
                times4(d1, acts.d.as_ptr().add(b + 1)),
                times4(d0, acts.d.as_ptr().add(b)),
            ));
            let qx = q4_1_pair(blk0);
            for k in 0..4 {
                let qy = _mm512_loadu_si512(acts.acts[k].q.as_ptr().add(b * QK) as *const _);
                acc[k] = fma_pair(acc[k], qx, qy, _mm512_permutexvar_ps(index[k], scales));
            }
            b += 2;
        }
        let mut sum = split4(acc);
        if b < nb {
            // An odd last block is an even one: the low halves take it.
            let blk = row.as_ptr().add(b * Q4_1_BYTES);
            let (d, m) = f16_pair(blk);
            summs = _mm_add_ps(summs, times4(m, acts.s.as_ptr().add(b)));
            let mut scale = [0f32; 4];
            _mm_storeu_ps(scale.as_mut_ptr(), times4(d, acts.d.as_ptr().add(b)));
            let qx = _mm256_and_si256(q4_1_nibbles(blk), _mm256_set1_epi8(0x0F));
            for k in 0..4 {
                let qy = _mm256_loadu_si256(acts.acts[k].q.as_ptr().add(b * QK) as *const __m256i);
                sum[k][0] = fma_one(sum[k][0], qx, qy, scale[k]);
            }
        }
        let mut sm = [0f32; 4];
        _mm_storeu_ps(sm.as_mut_ptr(), summs);
        total4(sum, sm)
    }

    /// [`dot4_q4_1_vnni512`] for `Q8_0` rows (bit-identical to [`dot_q8_0_vnni512`]).
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
    pub unsafe fn dot4_q8_0_vnni512(row: &[u8], acts: &Acts4, nb: usize) -> [f32; 4] {
        assert!(row.len() >= nb * Q8_0_BYTES && acts.d.len() >= nb);
        for a in acts.acts {
            assert!(a.q.len() >= nb * QK && a.c.len() >= nb * 8);
        }
        let mut acc = [_mm512_setzero_ps(); 4];
        let index = [0, 1, 2, 3].map(|k| pair_scale_index(k));
        let mut b = 0;
        while b + 2 <= nb {
            let blk0 = row.as_ptr().add(b * Q8_0_BYTES);
            let (d0, _) = f16_pair(blk0);
            let (d1, _) = f16_pair(blk0.add(Q8_0_BYTES));
            let scales = _mm512_castps256_ps512(_mm256_set_m128(
                times4(d1, acts.d.as_ptr().add(b + 1)),
                times4(d0, acts.d.as_ptr().add(b)),
            ));
            let ux = q8_0_pair_offset(blk0);
            for k in 0..4 {
                let qy = _mm512_loadu_si512(acts.acts[k].q.as_ptr().add(b * QK) as *const _);
                let c = _mm512_loadu_si512(acts.acts[k].c.as_ptr().add(b * 8) as *const _);
                let sc = _mm512_permutexvar_ps(index[k], scales);
                acc[k] = fma_pair_from(acc[k], c, ux, qy, sc);
            }
            b += 2;
        }
        let mut sum = split4(acc);
        if b < nb {
            let blk = row.as_ptr().add(b * Q8_0_BYTES);
            let (d, _) = f16_pair(blk);
            let mut scale = [0f32; 4];
            _mm_storeu_ps(scale.as_mut_ptr(), times4(d, acts.d.as_ptr().add(b)));
            let ux = q8_0_offset(blk);
            for k in 0..4 {
                let qy = _mm256_loadu_si256(acts.acts[k].q.as_ptr().add(b * QK) as *const __m256i);
                let c = _mm256_loadu_si256(acts.acts[k].c.as_ptr().add(b * 8) as *const __m256i);
                sum[k][0] = fma_one_from(sum[k][0], c, ux, qy, scale[k]);
            }
        }
        total4(sum, [0.0; 4])
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_q8_0(row: &[u8], act: &QuantActs, nb: usize) -> f32 {
        assert!(row.len() >= nb * Q8_0_BYTES && act.q.len() >= nb * QK && act.d.len() >= nb);
        let mut acc = _mm256_setzero_ps();
        for b in 0..nb {
            let blk = row.as_ptr().add(b * Q8_0_BYTES);
            let (d, _) = f16_pair(blk);
            let qx = _mm256_loadu_si256(blk.add(2) as *const __m256i);
            let qy = _mm256_loadu_si256(act.q.as_ptr().add(b * QK) as *const __m256i);
            // |x| * sign(x) y: maddubs needs an unsigned left operand.
            let ax = _mm256_sign_epi8(qx, qx);
            let sy = _mm256_sign_epi8(qy, qx);
            let p = mul_sum_us8(ax, sy);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * *act.d.get_unchecked(b)), p, acc);
        }
        hsum(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    }

    fn random_blocks(format: BlockFormat, nb: usize, seed: &mut u64) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..nb {
            match format {
                BlockFormat::Q4_1 => {
                    out.extend(f16::from_f32(lcg(seed) * 0.1).to_bits().to_le_bytes());
                    out.extend(f16::from_f32(lcg(seed) * 0.5).to_bits().to_le_bytes());
                    for _ in 0..16 {
                        out.push(((lcg(seed) + 1.0) * 127.9) as u8);
                    }
                }
                BlockFormat::Q8_0 => {
                    out.extend(f16::from_f32(lcg(seed) * 0.1).to_bits().to_le_bytes());
                    for _ in 0..32 {
                        out.push((lcg(seed) * 127.0) as i8 as u8);
                    }
                }
            }
        }
        out
    }

    /// The integer kernels against an f32 oracle: dequantized weights times dequantized
    /// activations, summed in f64.
    #[test]
    fn kernels_match_dequantized_f64_oracle() {
        let mut seed = 7u64;
        for (format, nb) in [
            (BlockFormat::Q4_1, 18),
            (BlockFormat::Q4_1, 17),
            (BlockFormat::Q8_0, 18),
            (BlockFormat::Q8_0, 1),
        ] {
            let row = random_blocks(format, nb, &mut seed);
            let x: Vec<f32> = (0..nb * QK).map(|_| lcg(&mut seed)).collect();
            let act = QuantActs::new(format, &x);
            let mut w = vec![0f32; nb * QK];
            dequantize_row(format, &row, &mut w);
            let oracle: f64 = (0..nb * QK)
                .map(|i| {
                    let b = i / QK;
                    w[i] as f64 * (act.q[i] as f64 * act.d[b] as f64)
                })
                .sum();
            let scalar = match format {
                BlockFormat::Q4_1 => dot_q4_1_scalar(&row, &act, nb),
                BlockFormat::Q8_0 => dot_q8_0_scalar(&row, &act, nb),
            };
            let fast = Kernel::detect().dot(format, &row, &act, nb);
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("f16c") {
                let avx2 = Kernel::Avx2.dot(format, &row, &act, nb);
                assert!(
                    (avx2 - scalar).abs() < 1e-3 * scalar.abs().max(1.0),
                    "{format:?} avx2 {avx2} vs scalar {scalar}"
                );
            }
            // Q4_1's minimum term uses the f16-rounded block sum, as ggml does.
            let tol = 2e-2 * oracle.abs().max(1.0);
            assert!(
                (scalar as f64 - oracle).abs() < tol,
                "{format:?} scalar {scalar} vs {oracle}"
            );
            assert!(
                (fast - scalar).abs() < 1e-3 * scalar.abs().max(1.0),
                "{format:?} simd {fast} vs scalar {scalar}"
            );
        }
    }

    /// The four-input kernels (512-bit, two blocks a step) give each input bit for bit what
    /// the one-input kernel gives it, for even and odd block counts.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn four_input_kernels_equal_single_ones_bit_for_bit() {
        if !matches!(Kernel::detect(), Kernel::AvxVnni) {
            eprintln!("no AVX-512 VNNI here: the four-input kernels are not used");
            return;
        }
        let mut seed = 5u64;
        for format in [BlockFormat::Q4_1, BlockFormat::Q8_0] {
            for nb in [1, 2, 3, 17, 18, 48] {
                let row = random_blocks(format, nb, &mut seed);
                let acts: Vec<QuantActs> = (0..4)
                    .map(|_| {
                        let x: Vec<f32> = (0..nb * QK).map(|_| lcg(&mut seed)).collect();
                        QuantActs::new(format, &x)
                    })
                    .collect();
                let four = Acts4::new([&acts[0], &acts[1], &acts[2], &acts[3]], nb);
                let single = acts
                    .iter()
                    .map(|a| Kernel::AvxVnni.dot(format, &row, a, nb).to_bits())
                    .collect::<Vec<_>>();
                let bits = |v: [f32; 4]| v.map(f32::to_bits).to_vec();
                let four = Kernel::AvxVnni.dot4(format, &row, &four, nb);
                assert_eq!(bits(four), single, "{format:?} nb {nb}");
            }
        }
    }

    #[test]
    fn batched_matmul_equals_one_at_a_time() {
        let mut seed = 11u64;
        let (rows, cols) = (70, 64);
        let raw = random_blocks(BlockFormat::Q4_1, rows * cols / QK, &mut seed);
        let bytes = WeightBytes::copy_of(&raw).unwrap();
        let m = Matrix::Blocks {
            format: BlockFormat::Q4_1,
            rows,
            cols,
            bytes,
        };
        let xs: Vec<f32> = (0..6 * cols).map(|_| lcg(&mut seed)).collect();
        let mut batched = vec![0f32; 6 * rows];
        m.matmul(&xs, 6, &mut batched);
        for t in 0..6 {
            let mut one = vec![0f32; rows];
            m.matmul(&xs[t * cols..(t + 1) * cols], 1, &mut one);
            assert_eq!(one, batched[t * rows..(t + 1) * rows]);
        }
    }

    #[test]
    fn the_vector_block_quantizer_equals_the_scalar_one() {
        let mut seed = 9u64;
        for scale in [1e-6f32, 0.01, 1.0, 37.0, 1e4] {
            for zeros in [false, true] {
                let mut x: Vec<f32> = (0..QK).map(|_| lcg(&mut seed) * scale).collect();
                if zeros {
                    x.iter_mut().step_by(3).for_each(|v| *v = 0.0);
                }
                // A value at an exact half after scaling (1.5 quants): a rounding tie.
                x[5] = x.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0 * 1.5;
                let (mut a, mut b) = (vec![0i8; QK], vec![0i8; QK]);
                let want = quantize_block(&x, &mut a);
                let got = quantize_block_with(avx2_available(), &x, &mut b);
                assert_eq!(want.0.to_bits(), got.0.to_bits(), "{scale}");
                assert_eq!(want.1, got.1, "{scale}");
                assert_eq!(a, b, "{scale}");
            }
        }
        let (mut a, mut b) = (vec![0i8; QK], vec![0i8; QK]);
        assert_eq!(
            quantize_block(&[0.0; QK], &mut a),
            quantize_block_with(avx2_available(), &[0.0; QK], &mut b)
        );
        assert_eq!(a, b);
    }
}
