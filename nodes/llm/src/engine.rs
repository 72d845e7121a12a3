//! The engine: a verified model, its weights resident or streamed, the tokenizer, a prefix
//! cache, and generation of one or several sequences together.

use crate::error::{LlmError, Result};
use crate::gguf::ModelFile;
use crate::manifest::Manifest;
use crate::model::{Decoder, Sequence};
use crate::sampler::{argmax, sample_top_p, Rng, Sampling};
use crate::store::{Residency, Store};
use crate::tokenizer::{Message, TextStream, Tokenizer};
use rayon::prelude::*;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub residency: Residency,
    /// Compute threads (the prefetch thread comes on top).
    pub threads: usize,
    /// Niceness of the engine's threads (0: inherit; 10: yield to the fusion stack), set per
    /// thread on Linux.
    pub nice: i32,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            residency: Residency::Resident,
            threads: 2,
            nice: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub max_new_tokens: usize,
    pub sampling: Sampling,
    /// Sequences decoded together from the same prompt; with `TopP` sequence `i` uses seed
    /// `seed + i`.
    pub n: usize,
    /// Go on past stop tokens (benchmarks that need a fixed number of tokens).
    pub ignore_stop: bool,
}

impl Default for GenerateRequest {
    fn default() -> Self {
        Self {
            max_new_tokens: 128,
            sampling: Sampling::Greedy,
            n: 1,
            ignore_stop: false,
        }
    }
}

/// Why a sequence ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum StopReason {
    /// A stop token (end of sequence or of turn) was produced; it is not in the output.
    StopToken,
    MaxTokens,
    /// The callback asked to stop.
    Cancelled,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Generated {
    pub tokens: Vec<u32>,
    pub text: String,
    pub stop: StopReason,
}

/// Give the allocator's free pages back to the system (glibc keeps them otherwise), so that
/// what the header parse freed does not count in the resident set.
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's heaps to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Drop the file's clean pages from the page cache, so that the next reads (the hash check,
/// then the loader) fill it again through readahead. Linux keeps a file's cached pages in the
/// folio sizes they were filled with: a model just written in small pieces (fetched, or copied
/// by the user) sits in small folios, which read back at 6 to 12 GB/s on the development
/// machine, while readahead fills large folios, read at 19 to 29 GB/s (2.2 MB preads of the
/// default model, one thread). Streaming copies most of the weights from the page cache for
/// every token, so that is its speed: 113 against 163 to 183 tokens/s at a 25 % budget on a
/// model written in 8 KiB pieces. Costs one read of the file from disk at load; pages other
/// processes have mapped stay. Only on Linux; a hint, so failure of the advice itself is not an
/// error.
fn refresh_page_cache(path: &Path) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| LlmError::io(path, e))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: posix_fadvise only reads its arguments; the descriptor is open for the call.
        let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if rc != 0 {
            tracing::debug!(rc, "posix_fadvise(DONTNEED) on the model file did nothing");
        }
    }
    drop(file);
    Ok(())
}

/// The store, mapped again if it was released.
fn ensure_store<'a>(
    slot: &'a mut Option<Store>,
    model: &Arc<ModelFile>,
    residency: Residency,
    nice: i32,
) -> Result<&'a mut Store> {
    if slot.is_none() {
        let _span = tracing::debug_span!("wake").entered();
        *slot = Some(Store::new(model.clone(), residency, nice)?);
    }
    slot.as_mut()
        .ok_or_else(|| LlmError::Loader("the weights did not load".into()))
}

/// Lower this thread's priority (Linux: niceness is per thread, and the threads it spawns
/// inherit it).
pub fn set_thread_nice(nice: i32) {
    #[cfg(target_os = "linux")]
    if nice != 0 {
        // SAFETY: setpriority on this thread's own id only changes its scheduling priority.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, nice);
        }
    }
}

/// One new token, handed to the streaming callback as soon as it is chosen.
#[derive(Debug, Clone)]
pub struct TokenEvent<'a> {
    pub sequence: usize,
    pub token: u32,
    /// The text this token completes (None while a UTF-8 character is unfinished).
    pub text: Option<&'a str>,
    /// The logits the token was chosen from.
    pub logits: &'a [f32],
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GenerateStats {
    pub prompt_tokens: usize,
    /// Prompt tokens whose keys and values came from the prefix cache.
    pub cached_prompt_tokens: usize,
    pub decode_steps: usize,
    pub kv_cache_bytes: usize,
    pub weight_bytes_peak: usize,
    pub unit_loads: usize,
    pub unit_bytes_loaded: usize,
}

pub struct Engine {
    model: Arc<ModelFile>,
    /// The weights: None while released (an idle engine holds none).
    store: Option<Store>,
    residency: Residency,
    nice: i32,
    plan: crate::store::Plan,
    /// The largest weight bytes held by any store this engine had.
    peak_bytes_released: usize,
    decoder: Decoder,
    pub tokenizer: Tokenizer,
    pool: rayon::ThreadPool,
    prefix: Option<Sequence>,
    pub manifest: Manifest,
}

impl Engine {
    /// Verify the model against its manifest (before any tensor is read), then load it.
    pub fn load(path: &Path, options: &EngineOptions) -> Result<Self> {
        let manifest = Manifest::read(path)?;
        if matches!(options.residency, Residency::Streamed { .. }) {
            refresh_page_cache(path)?;
        }
        manifest.verify_once(path)?;
        let mut model = ModelFile::open(path)?;
        let tokenizer = Tokenizer::from_gguf(&model)?;
        // The vocabulary now lives in the tokenizer; the parsed header's copy goes.
        model.drop_metadata();
        release_free_heap();
        let model = Arc::new(model);
        let store = Store::new(model.clone(), options.residency, options.nice)?;
        let decoder = Decoder::new(&model, &store)?;
        let plan = store.plan.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(options.threads.max(1))
            .thread_name(|i| format!("edgefuse-llm-{i}"))
            .start_handler({
                let nice = options.nice;
                move |_| set_thread_nice(nice)
            })
            .build()
            .map_err(|e| LlmError::Loader(format!("thread pool: {e}")))?;
        Ok(Self {
            model,
            store: Some(store),
            residency: options.residency,
            nice: options.nice,
            plan,
            peak_bytes_released: 0,
            decoder,
            tokenizer,
            pool,
            prefix: None,
            manifest,
        })
    }

    pub fn model(&self) -> &ModelFile {
        &self.model
    }

    /// Total bytes of the model's weights.
    pub fn weight_bytes(&self) -> usize {
        self.plan.total_bytes()
    }

    /// Units (layers and head chunks) and how many of them stay resident.
    pub fn units(&self) -> (usize, usize) {
        (
            self.plan.units.len(),
            self.store.as_ref().map_or(0, Store::n_pinned),
        )
    }

    pub fn chat_prompt(&self, messages: &[Message]) -> Result<Vec<u32>> {
        let text = self.tokenizer.apply_chat_template(messages)?;
        self.tokenizer.encode(&text)
    }

    /// Forget the cached prompt prefix.
    pub fn clear_prefix_cache(&mut self) {
        self.prefix = None;
    }

    /// Compute and keep the keys and values of `tokens` so that later prompts starting with
    /// them skip that part (a fixed system prompt, say).
    pub fn warm_prefix(&mut self, tokens: &[u32]) -> Result<()> {
        let mut seq = self.reuse_prefix(tokens, tokens.len(), tokens.len());
        let done = seq.len();
        let store = ensure_store(&mut self.store, &self.model, self.residency, self.nice)?;
        let decoder = &self.decoder;
        self.pool
            .install(|| decoder.forward(store, &mut [&mut seq], &[&tokens[done..]], false))?;
        self.prefix = Some(seq);
        Ok(())
    }

    /// A sequence holding the longest cached prefix of `prompt`, at most `max_reuse` tokens.
    /// The cache is taken, not copied: it comes back when the caller is done (a generation
    /// leaves its prompt behind as the new prefix).
    fn reuse_prefix(&mut self, prompt: &[u32], max_reuse: usize, capacity: usize) -> Sequence {
        let cfg = &self.decoder.config;
        if let Some(mut cached) = self.prefix.take() {
            let common = cached
                .tokens
                .iter()
                .zip(prompt)
                .take_while(|(a, b)| a == b)
                .count()
                .min(max_reuse);
            if common > 0 {
                cached.truncate(common, cfg.kv_dim());
                // Sized to the context once, not grown by doubling.
                cached.reserve(cfg, capacity);
                return cached;
            }
        }
        Sequence::new(cfg, capacity)
    }

    /// Generate from `prompt` (token ids, e.g. from [`Engine::chat_prompt`]). `on_token` sees
    /// every token as it is chosen and returns false to stop.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        request: &GenerateRequest,
        on_token: &mut dyn FnMut(TokenEvent) -> bool,
    ) -> Result<(Vec<Generated>, GenerateStats)> {
        let cfg = self.decoder.config.clone();
        if prompt.is_empty() {
            return Err(LlmError::Request("the prompt is empty".into()));
        }
        if request.n == 0 {
            return Err(LlmError::Request("n must be at least 1".into()));
        }
        let capacity = prompt.len() + request.max_new_tokens;
        if capacity > cfg.context_length {
            return Err(LlmError::ContextOverflow {
                tokens: capacity,
                context: cfg.context_length,
            });
        }
        let accounting = ensure_store(&mut self.store, &self.model, self.residency, self.nice)?
            .accounting
            .clone();
        let loads_before = (accounting.loads(), accounting.loaded_bytes());
        // Prefill, layer-major: the whole uncached part of the prompt passes each layer once.
        let mut seq = self.reuse_prefix(prompt, prompt.len() - 1, capacity);
        let cached = seq.len();
        let logits = {
            let store = ensure_store(&mut self.store, &self.model, self.residency, self.nice)?;
            let decoder = &self.decoder;
            let rest = &prompt[cached..];
            self.pool
                .install(|| decoder.forward(store, &mut [&mut seq], &[rest], true))?
        };
        let n = request.n;
        // The prompt's cache is copied for all but the last sequence, which takes it.
        let mut seqs: Vec<Sequence> = Vec::with_capacity(n);
        for _ in 1..n {
            let mut s = seq.clone();
            s.reserve(&cfg, capacity);
            seqs.push(s);
        }
        seqs.push(seq);
        let mut rngs: Vec<Rng> = (0..n)
            .map(|i| match request.sampling {
                Sampling::TopP { seed, .. } => Rng::new(seed.wrapping_add(i as u64)),
                Sampling::Greedy => Rng::new(0),
            })
            .collect();
        let mut outputs: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut streams: Vec<TextStream> = (0..n).map(|_| TextStream::default()).collect();
        let mut stops: Vec<Option<StopReason>> = vec![None; n];
        let mut current: Vec<Vec<f32>> = vec![logits.into_iter().next().unwrap_or_default(); n];
        let mut steps = 0;
        loop {
            // Choose each live sequence's next token; several sequences in parallel (each draws
            // from its own generator, so the tokens do not depend on the threads), one on this
            // thread without a round trip through the pool.
            let choose = |((logits, rng), stop): ((&Vec<f32>, &mut Rng), &Option<StopReason>)| {
                stop.is_none().then(|| match request.sampling {
                    Sampling::Greedy => argmax(logits),
                    Sampling::TopP {
                        temperature, top_p, ..
                    } => sample_top_p(logits, temperature, top_p, rng),
                })
            };
            let chosen: Vec<Option<u32>> = if n == 1 {
                current
                    .iter()
                    .zip(rngs.iter_mut())
                    .zip(stops.iter())
                    .map(choose)
                    .collect()
            } else {
                self.pool.install(|| {
                    current
                        .par_iter()
                        .zip(rngs.par_iter_mut())
                        .zip(stops.par_iter())
                        .map(choose)
                        .collect()
                })
            };
            let mut next: Vec<(usize, u32)> = Vec::new();
            for i in 0..n {
                let Some(token) = chosen[i] else {
                    continue;
                };
                if !request.ignore_stop && self.tokenizer.stop_ids.contains(&token) {
                    stops[i] = Some(StopReason::StopToken);
                    continue;
                }
                outputs[i].push(token);
                let piece = streams[i].push(&self.tokenizer, token)?;
                let go_on = on_token(TokenEvent {
                    sequence: i,
                    token,
                    text: piece.as_deref(),
                    logits: &current[i],
                });
                if !go_on {
                    stops[i] = Some(StopReason::Cancelled);
                } else if outputs[i].len() >= request.max_new_tokens {
                    stops[i] = Some(StopReason::MaxTokens);
                } else {
                    next.push((i, token));
                }
            }
            if next.is_empty() {
                break;
            }
            // One forward pass for all live sequences: each unit is loaded once for the batch.
            let tokens: Vec<[u32; 1]> = next.iter().map(|&(_, t)| [t]).collect();
            let token_refs: Vec<&[u32]> = tokens.iter().map(|t| &t[..]).collect();
            let mut live: Vec<&mut Sequence> = Vec::with_capacity(next.len());
            {
                let mut wanted = next.iter().map(|&(i, _)| i).peekable();
                for (i, s) in seqs.iter_mut().enumerate() {
                    if wanted.peek() == Some(&i) {
                        live.push(s);
                        wanted.next();
                    }
                }
            }
            let store = ensure_store(&mut self.store, &self.model, self.residency, self.nice)?;
            let decoder = &self.decoder;
            let logits = self
                .pool
                .install(|| decoder.forward(store, &mut live, &token_refs, true))?;
            for (&(i, _), l) in next.iter().zip(logits) {
                current[i] = l;
            }
            steps += 1;
        }
        let kv_cache_bytes = seqs.iter().map(Sequence::kv_bytes).sum::<usize>();
        // The prompt's keys and values become the prefix cache: the last sequence holds them
        // (decoding only appended to it), so it is cut back to the prompt instead of the prompt
        // being copied while the batch decodes.
        if let Some(mut last) = seqs.pop() {
            last.truncate(prompt.len(), cfg.kv_dim());
            last.shrink_to_fit();
            self.prefix = Some(last);
        }
        let stats = GenerateStats {
            prompt_tokens: prompt.len(),
            cached_prompt_tokens: cached,
            decode_steps: steps,
            kv_cache_bytes,
            weight_bytes_peak: accounting.peak_bytes(),
            unit_loads: accounting.loads() - loads_before.0,
            unit_bytes_loaded: accounting.loaded_bytes() - loads_before.1,
        };
        let mut generated = Vec::with_capacity(n);
        for (tokens, stop) in outputs.into_iter().zip(stops) {
            let text = self.tokenizer.decode(&tokens)?;
            generated.push(Generated {
                tokens,
                text,
                stop: stop.unwrap_or(StopReason::MaxTokens),
            });
        }
        Ok((generated, stats))
    }

    /// Teacher forcing: the logits after the prompt and after each token of `continuation`,
    /// fed one at a time as in decoding (`continuation.len() + 1` rows). For comparing with
    /// another implementation position by position.
    pub fn forced_logits(&mut self, prompt: &[u32], continuation: &[u32]) -> Result<Vec<Vec<f32>>> {
        let cfg = self.decoder.config.clone();
        if prompt.is_empty() {
            return Err(LlmError::Request("the prompt is empty".into()));
        }
        let mut seq = Sequence::new(&cfg, prompt.len() + continuation.len());
        let store = ensure_store(&mut self.store, &self.model, self.residency, self.nice)?;
        let decoder = &self.decoder;
        let mut rows = Vec::with_capacity(continuation.len() + 1);
        let first = self
            .pool
            .install(|| decoder.forward(store, &mut [&mut seq], &[prompt], true))?;
        rows.extend(first);
        for &t in continuation {
            let next = self
                .pool
                .install(|| decoder.forward(store, &mut [&mut seq], &[&[t]], true))?;
            rows.extend(next);
        }
        Ok(rows)
    }

    /// Peak bytes of weights held since load.
    pub fn weight_bytes_peak(&self) -> usize {
        self.store
            .as_ref()
            .map_or(0, |s| s.accounting.peak_bytes())
            .max(self.peak_bytes_released)
    }

    /// Give every weight back (an idle HMI holds none). The tokenizer, the model's header and
    /// the prefix cache stay; the next generation maps the weights again.
    pub fn release_weights(&mut self) {
        if let Some(store) = self.store.take() {
            self.peak_bytes_released = self.peak_bytes_released.max(store.accounting.peak_bytes());
        }
    }

    /// Whether weights are held now.
    pub fn holds_weights(&self) -> bool {
        self.store.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_cache_refresh_names_a_missing_file_and_leaves_a_file_intact() {
        let dir = std::env::temp_dir().join(format!("edgefuse-refresh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.gguf");
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        refresh_page_cache(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let missing = dir.join("absent.gguf");
        let err = refresh_page_cache(&missing).unwrap_err().to_string();
        assert!(err.contains("absent.gguf"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
