//! Where layer weights live: all resident, or streamed from the file through a budgeted cache
//! with a prefetch thread.
//!
//! The decoder visits its units (the transformer layers, then the output head in row chunks)
//! in the same cyclic order on every forward pass. Streaming therefore pins as many units as
//! the budget allows after reserving room for two streamed units, and streams the others
//! through a rendezvous channel: while the decoder computes with one unit, the loader reads
//! the next into the other of two reusable slots (a copy from the page cache; no page faults
//! or unmaps per token), and a slot goes back to the loader as soon as the decoder moves on.
//! Resident units are mapped from the file. The bytes held are counted; the peak never
//! exceeds the budget. Dropping the store (an idle engine) gives every byte back.

use crate::error::{LlmError, Result};
use crate::gguf::ModelFile;
use crate::quant::Matrix;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Condvar, Mutex};

use crate::quant::{ByteSource, WeightBytes};
use memmap2::MmapMut;
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

/// Reusable buffers for streamed units: a unit is read into a free slot and the slot goes
/// back to the pool when the unit is dropped, so streaming costs a copy from the page cache
/// and never a page fault or an unmap.
struct SlotPool {
    free: Mutex<Vec<MmapMut>>,
    returned: Condvar,
}

/// A slot holding one unit's tensors, returned to its pool on drop.
struct Slot {
    buf: Option<MmapMut>,
    pool: Arc<SlotPool>,
}

impl ByteSource for Slot {
    fn bytes(&self) -> &[u8] {
        self.buf.as_deref().unwrap_or(&[])
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let (Some(buf), Ok(mut free)) = (self.buf.take(), self.pool.free.lock()) {
            free.push(buf);
            self.pool.returned.notify_one();
        }
    }
}

impl SlotPool {
    /// A free slot, waiting for one to come back; None once `stop` is raised.
    fn take(&self, stop: &AtomicBool) -> Option<MmapMut> {
        let mut free = self.free.lock().ok()?;
        loop {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(buf) = free.pop() {
                return Some(buf);
            }
            free = self
                .returned
                .wait_timeout(free, std::time::Duration::from_millis(50))
                .ok()?
                .0;
        }
    }
}

/// Read a streamed unit into `buf`: the layer's matrices (or the head chunk) at 64-byte
/// aligned offsets; norm vectors are small and read on their own.
fn load_unit_into(
    model: &ModelFile,
    plan: &Plan,
    index: usize,
    mut buf: MmapMut,
    pool: &Arc<SlotPool>,
) -> Result<Unit> {
    let _span =
        tracing::debug_span!("layer_load", unit = index, bytes = plan.unit_bytes[index]).entered();
    // (tensor, first row, rows)
    let parts: Vec<(String, usize, usize)> = match plan.units[index] {
        UnitSpec::Layer(l) => [
            "attn_q",
            "attn_k",
            "attn_v",
            "attn_output",
            "ffn_gate",
            "ffn_up",
            "ffn_down",
        ]
        .iter()
        .map(|p| {
            let name = format!("blk.{l}.{p}.weight");
            model.tensor(&name).map(|t| (name, 0, t.rows))
        })
        .collect::<Result<_>>()?,
        UnitSpec::Head { first_row, rows } => vec![(plan.head_tensor.clone(), first_row, rows)],
    };
    let mut placed = Vec::with_capacity(parts.len());
    let mut offset = 0usize;
    for (name, first, rows) in &parts {
        let t = model.tensor(name)?;
        let row_bytes = t.size_bytes / t.rows.max(1);
        let len = rows * row_bytes;
        if crate::gguf::block_format(t.dtype).is_some() && offset + len <= buf.len() {
            model.read_at(
                t.offset + (first * row_bytes) as u64,
                &mut buf[offset..offset + len],
            )?;
            placed.push(Some((offset, len)));
            offset = (offset + len + 63) & !63;
        } else {
            placed.push(None);
        }
    }
    let slot: Arc<dyn ByteSource> = Arc::new(Slot {
        buf: Some(buf),
        pool: pool.clone(),
    });
    let mut matrices = Vec::with_capacity(parts.len());
    for ((name, first, rows), place) in parts.iter().zip(placed) {
        let t = model.tensor(name)?;
        matrices.push(match (place, crate::gguf::block_format(t.dtype)) {
            (Some((start, len)), Some(format)) => Matrix::Blocks {
                format,
                rows: *rows,
                cols: t.cols,
                bytes: WeightBytes::shared(slot.clone(), start, len),
            },
            _ => model.read_matrix_rows(name, *first, *rows)?,
        });
    }
    let weights = match plan.units[index] {
        UnitSpec::Layer(l) => {
            let v = |part: &str| model.read_vector(&format!("blk.{l}.{part}.weight"));
            let mut m = matrices.into_iter();
            let mut next = || {
                m.next()
                    .ok_or_else(|| LlmError::Loader(format!("unit {index}: a matrix is missing")))
            };
            UnitWeights::Layer(Box::new(Layer {
                attn_norm: v("attn_norm")?,
                wq: next()?,
                wk: next()?,
                wv: next()?,
                wo: next()?,
                ffn_norm: v("ffn_norm")?,
                gate: next()?,
                up: next()?,
                down: next()?,
            }))
        }
        UnitSpec::Head { first_row, .. } => UnitWeights::Head(HeadChunk {
            first_row,
            weight: matrices
                .into_iter()
                .next()
                .ok_or_else(|| LlmError::Loader(format!("unit {index}: no head matrix")))?,
        }),
    };
    // The slots are charged once, when the pool is made.
    Ok(Unit {
        weights,
        bytes: 0,
        accounting: Arc::new(Accounting::default()),
    })
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
                    // Two streaming slots, each the largest unit plus alignment padding.
                    let reserve = 2 * (largest + 7 * 64);
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
            // Two slots of the largest unit: one in use, one being read.
            let largest = streamed
                .iter()
                .map(|&i| plan.unit_bytes[i])
                .max()
                .unwrap_or(0);
            // Room for the 64-byte alignment of each of a layer's seven matrices.
            let slot_bytes = largest + 7 * 64;
            let mut free = Vec::new();
            for _ in 0..2 {
                free.push(
                    MmapMut::map_anon(slot_bytes.max(1))
                        .map_err(|e| LlmError::io(&model.path, e))?,
                );
            }
            accounting.charge(2 * slot_bytes);
            let pool = Arc::new(SlotPool {
                free: Mutex::new(free),
                returned: Condvar::new(),
            });
            let (tx, rx) = sync_channel::<(usize, Result<Unit>)>(0);
            let stop = Arc::new(AtomicBool::new(false));
            let (m, p, s) = (model.clone(), plan.clone(), stop.clone());
            let handle = std::thread::Builder::new()
                .name("edgefuse-llm-prefetch".into())
                .spawn(move || {
                    crate::engine::set_thread_nice(nice);
                    for &i in streamed.iter().cycle() {
                        let Some(buf) = pool.take(&s) else { break };
                        let unit = load_unit_into(&m, &p, i, buf, &pool);
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
