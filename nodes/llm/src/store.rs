//! Where layer weights live: all resident, or streamed from the file through a budgeted cache
//! with a prefetch thread.
//!
//! The decoder visits its units (the transformer layers, then the output head in row chunks)
//! in the same cyclic order on every forward pass. Streaming therefore pins as many units as
//! the budget allows after reserving room for two streamed units, and streams the others
//! through a rendezvous channel: while the decoder computes with one unit, the loader reads
//! the next, and a unit's memory goes back to the system as soon as the decoder moves on. The
//! bytes held are counted; the peak never exceeds the budget.

use crate::error::{LlmError, Result};
use crate::gguf::ModelFile;
use crate::quant::Matrix;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

/// One transformer block's weights.
pub struct Layer {
    pub attn_norm: Vec<f32>,
    pub wq: Matrix,
    pub wk: Matrix,
    pub wv: Matrix,
    pub wo: Matrix,
    pub ffn_norm: Vec<f32>,
    pub gate: Matrix,
    pub up: Matrix,
    pub down: Matrix,
}

/// Rows `first_row..first_row + rows` of the output projection.
pub struct HeadChunk {
    pub first_row: usize,
    pub weight: Matrix,
}

pub enum UnitWeights {
    Layer(Box<Layer>),
    Head(HeadChunk),
}

/// A unit's weights with the bytes they hold charged to the accounting until dropped.
pub struct Unit {
    pub weights: UnitWeights,
    bytes: usize,
    accounting: Arc<Accounting>,
}

impl Drop for Unit {
    fn drop(&mut self) {
        self.accounting
            .current
            .fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

/// Bytes of weights held now and at most, across threads.
#[derive(Default, Debug)]
pub struct Accounting {
    current: AtomicUsize,
    peak: AtomicUsize,
    loads: AtomicUsize,
    loaded_bytes: AtomicUsize,
}

impl Accounting {
    fn charge(&self, bytes: usize) {
        let now = self.current.fetch_add(bytes, Ordering::SeqCst) + bytes;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.loads.fetch_add(1, Ordering::Relaxed);
        self.loaded_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    pub fn current_bytes(&self) -> usize {
        self.current.load(Ordering::SeqCst)
    }
    pub fn peak_bytes(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::Relaxed)
    }
    pub fn loaded_bytes(&self) -> usize {
        self.loaded_bytes.load(Ordering::Relaxed)
    }
}

/// What a unit is and where its bytes are in the file.
#[derive(Debug, Clone)]
pub enum UnitSpec {
    Layer(usize),
    Head { first_row: usize, rows: usize },
}

/// The units of a model in decoding order and their sizes.
#[derive(Debug, Clone)]
pub struct Plan {
    pub units: Vec<UnitSpec>,
    pub unit_bytes: Vec<usize>,
    pub head_tensor: String,
}

impl Plan {
    pub fn new(model: &ModelFile) -> Result<Self> {
        let c = &model.config;
        let mut units = Vec::new();
        let mut unit_bytes = Vec::new();
        for l in 0..c.n_layers {
            let mut bytes = 0;
            for part in LAYER_TENSORS {
                bytes += model.tensor(&format!("blk.{l}.{part}.weight"))?.size_bytes;
            }
            units.push(UnitSpec::Layer(l));
            unit_bytes.push(bytes);
        }
        // Tied embeddings: the head is the token embedding when there is no output tensor.
        let head_tensor = if model.tensors.contains_key("output.weight") {
            "output.weight"
        } else {
            "token_embd.weight"
        };
        let head = model.tensor(head_tensor)?;
        let row_bytes = head.size_bytes / head.rows.max(1);
        let largest_layer = unit_bytes.iter().copied().max().unwrap_or(row_bytes);
        let rows_per_chunk = (largest_layer / row_bytes.max(1)).clamp(1, head.rows.max(1));
        let mut first_row = 0;
        while first_row < head.rows {
            let rows = rows_per_chunk.min(head.rows - first_row);
            units.push(UnitSpec::Head { first_row, rows });
            unit_bytes.push(rows * row_bytes);
            first_row += rows;
        }
        Ok(Self {
            units,
            unit_bytes,
            head_tensor: head_tensor.to_string(),
        })
    }

    pub fn total_bytes(&self) -> usize {
        self.unit_bytes.iter().sum()
    }
}

const LAYER_TENSORS: [&str; 9] = [
    "attn_norm",
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "ffn_norm",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
];

fn load_unit(
    model: &ModelFile,
    plan: &Plan,
    index: usize,
    accounting: &Arc<Accounting>,
) -> Result<Unit> {
    let bytes = plan.unit_bytes[index];
    let _span = tracing::debug_span!("layer_load", unit = index, bytes).entered();
    accounting.charge(bytes);
    // From here on the charge is owned by `Unit` (or given back on error).
    let weights = (|| -> Result<UnitWeights> {
        Ok(match plan.units[index] {
            UnitSpec::Layer(l) => {
                let m = |part: &str| model.read_matrix(&format!("blk.{l}.{part}.weight"));
                let v = |part: &str| model.read_vector(&format!("blk.{l}.{part}.weight"));
                UnitWeights::Layer(Box::new(Layer {
                    attn_norm: v("attn_norm")?,
                    wq: m("attn_q")?,
                    wk: m("attn_k")?,
                    wv: m("attn_v")?,
                    wo: m("attn_output")?,
                    ffn_norm: v("ffn_norm")?,
                    gate: m("ffn_gate")?,
                    up: m("ffn_up")?,
                    down: m("ffn_down")?,
                }))
            }
            UnitSpec::Head { first_row, rows } => UnitWeights::Head(HeadChunk {
                first_row,
                weight: model.read_matrix_rows(&plan.head_tensor, first_row, rows)?,
            }),
        })
    })();
    match weights {
        Ok(weights) => Ok(Unit {
            weights,
            bytes,
            accounting: accounting.clone(),
        }),
        Err(e) => {
            accounting.current.fetch_sub(bytes, Ordering::SeqCst);
            Err(e)
        }
    }
}

/// How the weights are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Residency {
    /// Every unit loaded once.
    Resident,
    /// Units streamed from the file; weights held never exceed `budget_bytes`.
    Streamed { budget_bytes: usize },
}

pub struct Store {
    model: Arc<ModelFile>,
    pinned: Vec<Option<Arc<Unit>>>,
    stream: Option<Stream>,
    current: Option<Arc<Unit>>,
    pub accounting: Arc<Accounting>,
    pub plan: Plan,
}

struct Stream {
    rx: Option<Receiver<(usize, Result<Unit>)>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Dropping the receiver makes a loader blocked in `send` return.
        self.rx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Store {
    /// `nice` is the prefetch thread's niceness.
    pub fn new(model: Arc<ModelFile>, residency: Residency, nice: i32) -> Result<Self> {
        let plan = Plan::new(&model)?;
        let accounting = Arc::new(Accounting::default());
        let n = plan.units.len();
        let mut pinned: Vec<Option<Arc<Unit>>> = (0..n).map(|_| None).collect();
        let mut streamed = Vec::new();
        match residency {
            Residency::Resident => {
                for (i, slot) in pinned.iter_mut().enumerate() {
                    *slot = Some(Arc::new(load_unit(&model, &plan, i, &accounting)?));
                }
            }
            Residency::Streamed { budget_bytes } => {
                let largest = plan.unit_bytes.iter().copied().max().unwrap_or(0);
                let total = plan.total_bytes();
                if total <= budget_bytes {
                    for (i, slot) in pinned.iter_mut().enumerate() {
                        *slot = Some(Arc::new(load_unit(&model, &plan, i, &accounting)?));
                    }
                } else {
                    let reserve = 2 * largest;
                    if budget_bytes < reserve {
                        return Err(LlmError::BudgetTooSmall {
                            budget_bytes,
                            needed_bytes: reserve,
                        });
                    }
                    let mut room = budget_bytes - reserve;
                    for (i, slot) in pinned.iter_mut().enumerate() {
                        if plan.unit_bytes[i] <= room {
                            room -= plan.unit_bytes[i];
                            *slot = Some(Arc::new(load_unit(&model, &plan, i, &accounting)?));
                        } else {
                            streamed.push(i);
                            // Keep the pinned set a prefix: streaming is cheapest when the
                            // streamed units are contiguous.
                            room = 0;
                        }
                    }
                }
            }
        }
        let stream = if streamed.is_empty() {
            None
        } else {
            let (tx, rx) = sync_channel::<(usize, Result<Unit>)>(0);
            let stop = Arc::new(AtomicBool::new(false));
            let (m, p, a, s) = (
                model.clone(),
                plan.clone(),
                accounting.clone(),
                stop.clone(),
            );
            let handle = std::thread::Builder::new()
                .name("edgefuse-llm-prefetch".into())
                .spawn(move || {
                    crate::engine::set_thread_nice(nice);
                    for &i in streamed.iter().cycle() {
                        if s.load(Ordering::SeqCst) {
                            break;
                        }
                        let unit = load_unit(&m, &p, i, &a);
                        if tx.send((i, unit)).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| LlmError::Loader(format!("cannot start the prefetch thread: {e}")))?;
            Some(Stream {
                rx: Some(rx),
                stop,
                handle: Some(handle),
            })
        };
        Ok(Self {
            model,
            pinned,
            stream,
            current: None,
            accounting,
            plan,
        })
    }

    pub fn n_units(&self) -> usize {
        self.plan.units.len()
    }

    pub fn n_pinned(&self) -> usize {
        self.pinned.iter().filter(|p| p.is_some()).count()
    }

    pub fn model(&self) -> &Arc<ModelFile> {
        &self.model
    }

    /// The weights of unit `index`. Streamed units must be asked for in decoding order; a unit
    /// skipped (a pass without the head) is read and dropped.
    pub fn get(&mut self, index: usize) -> Result<Arc<Unit>> {
        if let Some(Some(unit)) = self.pinned.get(index) {
            return Ok(unit.clone());
        }
        // Give the previous streamed unit back before taking the next.
        self.current = None;
        let stream = self.stream.as_ref().ok_or_else(|| {
            LlmError::Loader(format!("unit {index} is neither pinned nor streamed"))
        })?;
        let rx = stream
            .rx
            .as_ref()
            .ok_or_else(|| LlmError::Loader("the stream is closed".into()))?;
        loop {
            let (i, unit) = rx
                .recv()
                .map_err(|_| LlmError::Loader("the prefetch thread ended".into()))?;
            let unit = Arc::new(unit?);
            if i == index {
                self.current = Some(unit.clone());
                return Ok(unit);
            }
        }
    }

    /// A unit held resident, if it is.
    pub fn pinned_unit(&self, index: usize) -> Option<Arc<Unit>> {
        self.pinned.get(index).and_then(|u| u.clone())
    }

    /// Release the streamed unit held between passes.
    pub fn release_current(&mut self) {
        self.current = None;
    }
}
