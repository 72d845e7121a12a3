//! The llama decoder's forward pass over a batch of sequences.
//!
//! Numerics follow llama.cpp's CPU path so that greedy outputs can be compared token for
//! token: activations quantized per matmul like ggml's, RMS norm summed in f64, RoPE angles
//! advanced by repeated multiplication, and the key/value cache, the queries and the attention
//! weights rounded to f16 as ggml's f16 cache does.

use crate::attention::{attend, round_to_f16, HeadGroup};
use crate::error::{LlmError, Result};
use crate::gguf::{block_format, LlamaConfig, ModelFile};
use crate::quant::{dequantize_row, matmul_group};
use crate::store::{Store, UnitSpec, UnitWeights};
use half::f16;

use rayon::prelude::*;

/// One sequence's key/value cache, per layer `[position][kv_dim]` in f16.
#[derive(Clone, Default)]
pub struct Sequence {
    pub tokens: Vec<u32>,
    k: Vec<Vec<f16>>,
    v: Vec<Vec<f16>>,
}

impl Sequence {
    pub fn new(config: &LlamaConfig, capacity_tokens: usize) -> Self {
        let per_layer = capacity_tokens * config.kv_dim();
        Self {
            tokens: Vec::with_capacity(capacity_tokens),
            k: (0..config.n_layers)
                .map(|_| Vec::with_capacity(per_layer))
                .collect(),
            v: (0..config.n_layers)
                .map(|_| Vec::with_capacity(per_layer))
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Keep the first `n` positions.
    pub fn truncate(&mut self, n: usize, kv_dim: usize) {
        self.tokens.truncate(n);
        for k in &mut self.k {
            k.truncate(n * kv_dim);
        }
        for v in &mut self.v {
            v.truncate(n * kv_dim);
        }
    }

    /// Make room for `capacity_tokens` positions in every layer.
    pub fn reserve(&mut self, config: &LlamaConfig, capacity_tokens: usize) {
        let want = capacity_tokens * config.kv_dim();
        for c in self.k.iter_mut().chain(self.v.iter_mut()) {
            c.reserve(want.saturating_sub(c.len()));
        }
        self.tokens
            .reserve(capacity_tokens.saturating_sub(self.tokens.len()));
    }

    /// Give back the room reserved beyond the positions held.
    pub fn shrink_to_fit(&mut self) {
        for c in self.k.iter_mut().chain(self.v.iter_mut()) {
            c.shrink_to_fit();
        }
        self.tokens.shrink_to_fit();
    }

    /// Bytes the cache holds (its capacity, which is what it costs).
    pub fn kv_bytes(&self) -> usize {
        self.k.iter().chain(&self.v).map(|c| c.capacity() * 2).sum()
    }
}

pub struct Decoder {
    pub config: LlamaConfig,
    output_norm: Vec<f32>,
    embedding: Embedding,
}

/// Token embedding rows, gathered on use and never expanded into an f32 table: from the
/// resident head chunks, or read from the file.
struct Embedding {
    offset: u64,
    row_bytes: usize,
    format: Option<crate::quant::BlockFormat>,
    tied_to_head: bool,
}

impl Decoder {
    pub fn new(model: &ModelFile, store: &Store) -> Result<Self> {
        let t = model.tensor("token_embd.weight")?;
        let format = block_format(t.dtype);
        Ok(Self {
            config: model.config.clone(),
            output_norm: model.read_vector("output_norm.weight")?,
            embedding: Embedding {
                offset: t.offset,
                row_bytes: t.size_bytes / t.rows,
                format,
                tied_to_head: store.plan.head_tensor == "token_embd.weight",
            },
        })
    }

    fn embed(&self, store: &mut Store, token: u32, out: &mut [f32]) -> Result<()> {
        let c = &self.config;
        if token as usize >= c.vocab_size {
            return Err(LlmError::Request(format!(
                "token id {token} is outside the vocabulary of {}",
                c.vocab_size
            )));
        }
        let model = store.model().clone();
        match self.embedding.format {
            Some(format) => {
                // A resident head chunk already holds the row when the head is tied.
                if self.embedding.tied_to_head {
                    if let Some(row) = resident_head_row(store, token as usize) {
                        dequantize_row(format, &row, out);
                        return Ok(());
                    }
                }
                let mut row = vec![0u8; self.embedding.row_bytes];
                model.read_at(
                    self.embedding.offset + token as u64 * self.embedding.row_bytes as u64,
                    &mut row,
                )?;
                dequantize_row(format, &row, out);
            }
            None => {
                let m = model.read_matrix_rows("token_embd.weight", token as usize, 1)?;
                if let crate::quant::Matrix::F32 { values, .. } = m {
                    out.copy_from_slice(&values);
                }
            }
        }
        Ok(())
    }

    /// Run `new_tokens[s]` through sequence `seqs[s]` for every `s` together (each unit is
    /// loaded once for the whole batch). Returns the logits after each sequence's last new
    /// token when `logits` is set.
    pub fn forward(
        &self,
        store: &mut Store,
        seqs: &mut [&mut Sequence],
        new_tokens: &[&[u32]],
        logits: bool,
    ) -> Result<Vec<Vec<f32>>> {
        let c = &self.config;
        let (dim, kv_dim, hd) = (c.dim, c.kv_dim(), c.head_dim);
        let q_dim = c.n_heads * hd;
        // Token t belongs to sequence owner[t] at position pos[t].
        let mut owner = Vec::new();
        let mut pos = Vec::new();
        for (s, toks) in new_tokens.iter().enumerate() {
            let start = seqs[s].len();
            if start + toks.len() > c.context_length {
                return Err(LlmError::ContextOverflow {
                    tokens: start + toks.len(),
                    context: c.context_length,
                });
            }
            for i in 0..toks.len() {
                owner.push(s);
                pos.push(start + i);
            }
        }
        let n = owner.len();
        if n == 0 {
            return Ok(vec![Vec::new(); seqs.len()]);
        }
        let mut x = vec![0f32; n * dim];
        let mut t = 0;
        for toks in new_tokens {
            for &tok in toks.iter() {
                self.embed(store, tok, &mut x[t * dim..(t + 1) * dim])?;
                t += 1;
            }
        }
        let mut xn = vec![0f32; n * dim];
        let mut q = vec![0f32; n * q_dim];
        let mut k = vec![0f32; n * kv_dim];
        let mut v = vec![0f32; n * kv_dim];
        let mut att = vec![0f32; n * q_dim];
        let mut proj = vec![0f32; n * dim];
        let mut g = vec![0f32; n * c.ffn_dim];
        let mut u = vec![0f32; n * c.ffn_dim];
        let theta_scale = c.rope_freq_base.powf(-2.0 / hd as f32);
        let kq_scale = 1.0 / (hd as f32).sqrt();
        for l in 0..c.n_layers {
            let unit = store.get(l)?;
            let UnitWeights::Layer(w) = &unit.weights else {
                return Err(LlmError::Loader(format!("unit {l} is not a layer")));
            };
            let _span = tracing::debug_span!("layer_compute", layer = l, tokens = n).entered();
            rms_norm(&x, &w.attn_norm, c.rms_eps, &mut xn);
            matmul_group(
                &[&w.wq, &w.wk, &w.wv],
                &xn,
                n,
                &mut [&mut q, &mut k, &mut v],
            );
            for t in 0..n {
                rope(&mut q[t * q_dim..(t + 1) * q_dim], hd, pos[t], theta_scale);
                rope(
                    &mut k[t * kv_dim..(t + 1) * kv_dim],
                    hd,
                    pos[t],
                    theta_scale,
                );
            }
            for t in 0..n {
                let s = owner[t];
                seqs[s].k[l].extend(
                    k[t * kv_dim..(t + 1) * kv_dim]
                        .iter()
                        .map(|&a| f16::from_f32(a)),
                );
                seqs[s].v[l].extend(
                    v[t * kv_dim..(t + 1) * kv_dim]
                        .iter()
                        .map(|&a| f16::from_f32(a)),
                );
            }
            {
                // One task per (token, kv head): the query heads of the group read each cached
                // key and value once, converted from f16 on the fly; no f32 copy of the cache.
                let group = c.n_heads / c.n_kv_heads;
                let seqs: &[&mut Sequence] = seqs;
                round_to_f16(&mut q);
                let q = &q;
                att.par_chunks_mut(group * hd).enumerate().for_each_init(
                    Vec::new,
                    |scores, (tk, out)| {
                        let (t, kvh) = (tk / c.n_kv_heads, tk % c.n_kv_heads);
                        let q0 = t * q_dim + kvh * group * hd;
                        let head = HeadGroup {
                            q: &q[q0..q0 + group * hd],
                            k: &seqs[owner[t]].k[l],
                            v: &seqs[owner[t]].v[l],
                            kv_dim,
                            offset: kvh * hd,
                            head_dim: hd,
                            span: pos[t] + 1,
                            kq_scale,
                        };
                        attend(&head, scores, out);
                    },
                );
            }
            w.wo.matmul(&att, n, &mut proj);
            for (a, b) in x.iter_mut().zip(&proj) {
                *a += b;
            }
            rms_norm(&x, &w.ffn_norm, c.rms_eps, &mut xn);
            matmul_group(&[&w.gate, &w.up], &xn, n, &mut [&mut g, &mut u]);
            for (gv, uv) in g.iter_mut().zip(&u) {
                *gv = *gv / (1.0 + (-*gv).exp()) * uv;
            }
            w.down.matmul(&g, n, &mut proj);
            for (a, b) in x.iter_mut().zip(&proj) {
                *a += b;
            }
            drop(unit);
        }
        for (s, toks) in new_tokens.iter().enumerate() {
            seqs[s].tokens.extend_from_slice(toks);
        }
        if !logits {
            store.release_current();
            return Ok(vec![Vec::new(); seqs.len()]);
        }
        // The last new token of each sequence goes through the head.
        let mut last = Vec::with_capacity(seqs.len() * dim);
        let mut t_end = 0;
        for toks in new_tokens {
            t_end += toks.len();
            let row = &x[(t_end - 1) * dim..t_end * dim];
            let mut normed = vec![0f32; dim];
            rms_norm(row, &self.output_norm, c.rms_eps, &mut normed);
            last.extend_from_slice(&normed);
        }
        let n_seq = new_tokens.len();
        let mut out = vec![vec![0f32; c.vocab_size]; n_seq];
        // Resident head chunks go through in one parallel pass; streamed ones one at a time
        // (holding two streamed units at once would break the budget).
        let mut index = c.n_layers;
        while index < store.n_units() {
            let mut units = Vec::new();
            while index < store.n_units() {
                match store.pinned_unit(index) {
                    Some(u) => {
                        units.push(u);
                        index += 1;
                    }
                    None => break,
                }
            }
            if units.is_empty() {
                units.push(store.get(index)?);
                index += 1;
            }
            let _span = tracing::debug_span!("head_compute", units = units.len()).entered();
            let mut chunks = Vec::with_capacity(units.len());
            for unit in &units {
                let UnitWeights::Head(chunk) = &unit.weights else {
                    return Err(LlmError::Loader(
                        "a unit after the layers is not a head chunk".into(),
                    ));
                };
                chunks.push(chunk);
            }
            let mats: Vec<&crate::quant::Matrix> = chunks.iter().map(|c| &c.weight).collect();
            let mut parts: Vec<Vec<f32>> =
                mats.iter().map(|m| vec![0f32; n_seq * m.rows()]).collect();
            {
                let mut outs: Vec<&mut [f32]> =
                    parts.iter_mut().map(|p| p.as_mut_slice()).collect();
                matmul_group(&mats, &last, n_seq, &mut outs);
            }
            for (chunk, part) in chunks.iter().zip(&parts) {
                let rows = chunk.weight.rows();
                for (s, o) in out.iter_mut().enumerate() {
                    o[chunk.first_row..chunk.first_row + rows]
                        .copy_from_slice(&part[s * rows..(s + 1) * rows]);
                }
            }
            drop(chunks);
            drop(units);
        }
        store.release_current();
        Ok(out)
    }
}

fn resident_head_row(store: &mut Store, row: usize) -> Option<Vec<u8>> {
    let first_head = store
        .plan
        .units
        .iter()
        .position(|u| matches!(u, UnitSpec::Head { .. }))?;
    let index = store.plan.units[first_head..]
        .iter()
        .position(|u| match u {
            UnitSpec::Head { first_row, rows } => row >= *first_row && row < first_row + rows,
            UnitSpec::Layer(_) => false,
        })?
        + first_head;
    let unit = store.pinned_unit(index)?;
    let UnitWeights::Head(chunk) = &unit.weights else {
        return None;
    };
    match &chunk.weight {
        crate::quant::Matrix::Blocks {
            bytes,
            cols,
            format,
            ..
        } => {
            let row_bytes = cols / crate::quant::QK * format.block_bytes();
            let r = row - chunk.first_row;
            Some(bytes.as_slice()[r * row_bytes..(r + 1) * row_bytes].to_vec())
        }
        crate::quant::Matrix::F32 { .. } => None,
    }
}

/// `out = x / rms(x) * weight`, per row, the mean of squares summed in f64 as ggml does.
fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let dim = weight.len();
    for (row, dst) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
        let sum: f64 = row.iter().map(|&a| (a as f64) * (a as f64)).sum();
        let mean = (sum / dim as f64) as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for ((o, a), w) in dst.iter_mut().zip(row).zip(weight) {
            *o = a * scale * w;
        }
    }
}

/// Rotary embedding on adjacent pairs of every head (llama.cpp's "normal" mode, which the
/// GGUF converter's permutation of the query and key weights expects).
fn rope(x: &mut [f32], head_dim: usize, pos: usize, theta_scale: f32) {
    let mut cos_sin = Vec::with_capacity(head_dim / 2);
    let mut theta = pos as f32;
    for _ in 0..head_dim / 2 {
        cos_sin.push((theta.cos(), theta.sin()));
        theta *= theta_scale;
    }
    for head in x.chunks_exact_mut(head_dim) {
        for (i, (c, s)) in cos_sin.iter().enumerate() {
            let (a, b) = (head[2 * i], head[2 * i + 1]);
            head[2 * i] = a * c - b * s;
            head[2 * i + 1] = a * s + b * c;
        }
    }
}
