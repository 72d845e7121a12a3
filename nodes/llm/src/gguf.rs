//! A GGUF model file: its header parsed by candle-core, the llama-family hyper-parameters, and
//! positioned reads of single tensors (so a layer can be read without touching the rest).

use crate::error::{LlmError, Result};
use crate::quant::{BlockFormat, Matrix, WeightBytes};
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::GgmlDType;
use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Hyper-parameters of a llama-family decoder.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    pub architecture: String,
    pub n_layers: usize,
    pub dim: usize,
    pub ffn_dim: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub vocab_size: usize,
    pub context_length: usize,
    pub rope_freq_base: f32,
    pub rms_eps: f32,
}

impl LlamaConfig {
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
}

#[derive(Debug, Clone)]
pub struct TensorEntry {
    pub dtype: GgmlDType,
    /// Rows and columns as the decoder uses them: GGUF `ne = [cols, rows]`.
    pub rows: usize,
    pub cols: usize,
    /// Absolute offset in the file.
    pub offset: u64,
    pub size_bytes: usize,
}

pub struct ModelFile {
    pub path: PathBuf,
    file: std::fs::File,
    pub size_bytes: u64,
    pub metadata: HashMap<String, Value>,
    pub tensors: HashMap<String, TensorEntry>,
    pub config: LlamaConfig,
}

impl ModelFile {
    /// Parse the header. Integrity is the caller's business: verify the manifest first.
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = std::fs::File::open(path).map_err(|e| LlmError::io(path, e))?;
        let size_bytes = file.metadata().map_err(|e| LlmError::io(path, e))?.len();
        let content = gguf_file::Content::read(&mut file)
            .map_err(|e| LlmError::gguf(path, format!("header: {e}")))?;
        let mut tensors = HashMap::new();
        for (name, info) in &content.tensor_infos {
            let dims = info.shape.dims();
            let (rows, cols) = match dims {
                [n] => (1, *n),
                [r, c] => (*r, *c),
                _ => {
                    return Err(LlmError::gguf(
                        path,
                        format!("tensor {name} has {} dimensions", dims.len()),
                    ))
                }
            };
            let elems = rows * cols;
            let block = info.ggml_dtype.block_size();
            if elems % block != 0 {
                return Err(LlmError::gguf(
                    path,
                    format!("tensor {name}: {elems} elements are not whole blocks of {block}"),
                ));
            }
            let size_bytes = elems / block * info.ggml_dtype.type_size();
            let offset = content.tensor_data_offset + info.offset;
            if offset + size_bytes as u64 > size_bytes_of(&file, path)? {
                return Err(LlmError::gguf(
                    path,
                    format!("tensor {name} ends past the end of the file (truncated?)"),
                ));
            }
            tensors.insert(
                name.clone(),
                TensorEntry {
                    dtype: info.ggml_dtype,
                    rows,
                    cols,
                    offset,
                    size_bytes,
                },
            );
        }
        let config = read_config(path, &content.metadata)?;
        let model = Self {
            path: path.to_path_buf(),
            file,
            size_bytes,
            metadata: content.metadata,
            tensors,
            config,
        };
        model.check_shapes()?;
        Ok(model)
    }

    fn check_shapes(&self) -> Result<()> {
        let c = &self.config;
        let want = |name: &str, rows: usize, cols: usize| -> Result<()> {
            let t = self.tensor(name)?;
            if (t.rows, t.cols) != (rows, cols) {
                return Err(LlmError::gguf(
                    &self.path,
                    format!(
                        "tensor {name} is {}x{}, the header says {rows}x{cols}",
                        t.rows, t.cols
                    ),
                ));
            }
            Ok(())
        };
        want("token_embd.weight", c.vocab_size, c.dim)?;
        want("output_norm.weight", 1, c.dim)?;
        for l in 0..c.n_layers {
            want(&format!("blk.{l}.attn_norm.weight"), 1, c.dim)?;
            want(
                &format!("blk.{l}.attn_q.weight"),
                c.n_heads * c.head_dim,
                c.dim,
            )?;
            want(&format!("blk.{l}.attn_k.weight"), c.kv_dim(), c.dim)?;
            want(&format!("blk.{l}.attn_v.weight"), c.kv_dim(), c.dim)?;
            want(
                &format!("blk.{l}.attn_output.weight"),
                c.dim,
                c.n_heads * c.head_dim,
            )?;
            want(&format!("blk.{l}.ffn_norm.weight"), 1, c.dim)?;
            want(&format!("blk.{l}.ffn_gate.weight"), c.ffn_dim, c.dim)?;
            want(&format!("blk.{l}.ffn_up.weight"), c.ffn_dim, c.dim)?;
            want(&format!("blk.{l}.ffn_down.weight"), c.dim, c.ffn_dim)?;
        }
        Ok(())
    }

    pub fn tensor(&self, name: &str) -> Result<&TensorEntry> {
        self.tensors
            .get(name)
            .ok_or_else(|| LlmError::gguf(&self.path, format!("tensor {name} is missing")))
    }

    /// Bytes of all tensors: the "weight bytes" that memory budgets are fractions of.
    pub fn weight_bytes(&self) -> usize {
        self.tensors.values().map(|t| t.size_bytes).sum()
    }

    /// Positioned read, safe to call from several threads at once.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| LlmError::io(&self.path, e))
    }

    /// Rows `first..first + n` of a matrix, as a matrix of `n` rows.
    pub fn read_matrix_rows(&self, name: &str, first: usize, n: usize) -> Result<Matrix> {
        let t = self.tensor(name)?.clone();
        let _span = tracing::debug_span!("read_tensor", name, rows = n).entered();
        let row_bytes = t.size_bytes / t.rows;
        match block_format(t.dtype) {
            Some(format) => {
                let bytes = WeightBytes::map_file(
                    &self.file,
                    t.offset + (first * row_bytes) as u64,
                    n * row_bytes,
                )
                .map_err(|e| LlmError::io(&self.path, e))?;
                Ok(Matrix::Blocks {
                    format,
                    rows: n,
                    cols: t.cols,
                    bytes,
                })
            }
            None => {
                let mut raw = vec![0u8; n * row_bytes];
                self.read_at(t.offset + (first * row_bytes) as u64, &mut raw)?;
                let values = dequantize_any(&self.path, name, t.dtype, &raw, n, t.cols)?;
                Ok(Matrix::F32 {
                    rows: n,
                    cols: t.cols,
                    values,
                })
            }
        }
    }

    pub fn read_matrix(&self, name: &str) -> Result<Matrix> {
        let rows = self.tensor(name)?.rows;
        self.read_matrix_rows(name, 0, rows)
    }

    /// A vector (norm weights), any type, as f32.
    pub fn read_vector(&self, name: &str) -> Result<Vec<f32>> {
        let t = self.tensor(name)?.clone();
        let mut raw = vec![0u8; t.size_bytes];
        self.read_at(t.offset, &mut raw)?;
        dequantize_any(&self.path, name, t.dtype, &raw, t.rows, t.cols)
    }

    /// Forget the header's key-value metadata (the vocabulary takes megabytes) once the
    /// tokenizer has been built from it.
    pub fn drop_metadata(&mut self) {
        self.metadata = HashMap::new();
    }

    pub fn metadata_string(&self, key: &str) -> Option<&str> {
        self.metadata
            .get(key)
            .and_then(|v| v.to_string().ok())
            .map(String::as_str)
    }
}

fn size_bytes_of(file: &std::fs::File, path: &Path) -> Result<u64> {
    Ok(file.metadata().map_err(|e| LlmError::io(path, e))?.len())
}

pub fn block_format(dtype: GgmlDType) -> Option<BlockFormat> {
    match dtype {
        GgmlDType::Q4_1 => Some(BlockFormat::Q4_1),
        GgmlDType::Q8_0 => Some(BlockFormat::Q8_0),
        _ => None,
    }
}

/// Any GGUF type to f32 through candle-core's dequantizers.
fn dequantize_any(
    path: &Path,
    name: &str,
    dtype: GgmlDType,
    raw: &[u8],
    rows: usize,
    cols: usize,
) -> Result<Vec<f32>> {
    let err = |e: candle_core::Error| LlmError::gguf(path, format!("tensor {name}: {e}"));
    let dims: Vec<usize> = if rows == 1 {
        vec![cols]
    } else {
        vec![rows, cols]
    };
    let q = candle_core::quantized::ggml_file::qtensor_from_ggml(
        dtype,
        raw,
        dims,
        &candle_core::Device::Cpu,
    )
    .map_err(err)?;
    let t = q.dequantize(&candle_core::Device::Cpu).map_err(err)?;
    t.flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(err)
}

fn read_config(path: &Path, md: &HashMap<String, Value>) -> Result<LlamaConfig> {
    let arch = md
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .ok_or_else(|| LlmError::gguf(path, "general.architecture is missing"))?;
    if arch != "llama" {
        return Err(LlmError::Unsupported {
            path: path.to_path_buf(),
            reason: format!(
                "architecture {arch:?}; this engine decodes the llama family \
                 (SmolLM2, TinyLlama, Llama 3.2)"
            ),
        });
    }
    let u = |key: &str| -> Result<usize> {
        md.get(&format!("{arch}.{key}"))
            .and_then(|v| v.to_u32().ok())
            .map(|v| v as usize)
            .ok_or_else(|| LlmError::gguf(path, format!("{arch}.{key} is missing")))
    };
    let f = |key: &str, default: f32| -> f32 {
        md.get(&format!("{arch}.{key}"))
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(default)
    };
    let dim = u("embedding_length")?;
    let n_heads = u("attention.head_count")?;
    let n_kv_heads = u("attention.head_count_kv").unwrap_or(n_heads);
    if n_heads == 0 || dim % n_heads != 0 || n_kv_heads == 0 || n_heads % n_kv_heads != 0 {
        return Err(LlmError::gguf(
            path,
            format!("{n_heads} heads, {n_kv_heads} kv heads and width {dim} do not fit together"),
        ));
    }
    if dim / n_heads > 256 || (dim / n_heads) % 2 != 0 {
        return Err(LlmError::Unsupported {
            path: path.to_path_buf(),
            reason: format!(
                "head width {} (must be even and at most 256)",
                dim / n_heads
            ),
        });
    }
    let vocab_size = match u("vocab_size") {
        Ok(v) => v,
        Err(_) => md
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.to_vec().ok())
            .map(Vec::len)
            .ok_or_else(|| LlmError::gguf(path, "no vocabulary size"))?,
    };
    Ok(LlamaConfig {
        n_layers: u("block_count")?,
        dim,
        ffn_dim: u("feed_forward_length")?,
        n_heads,
        n_kv_heads,
        head_dim: dim / n_heads,
        vocab_size,
        context_length: u("context_length")?,
        rope_freq_base: f("rope.freq_base", 10_000.0),
        rms_eps: f("attention.layer_norm_rms_epsilon", 1e-5),
        architecture: arch,
    })
}
