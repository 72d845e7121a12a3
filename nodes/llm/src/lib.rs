//! edgefuse-llm: the HMI's layer-streamed LLM engine, a library with no ROS types and no
//! network access.
//!
//! It decodes llama-family GGUF models (SmolLM2, Llama 3.2 with byte-level BPE) on the CPU:
//! candle-core parses the GGUF and dequantizes uncommon tensor types; the hot matrix-vector
//! products run on the quantized blocks with AVX-512 VNNI or AVX2 kernels chosen at run time.
//! Weights are either resident or streamed from the file through a cache that never holds
//! more than a memory budget, with a prefetch thread reading the next layer while the current
//! one computes. Several sequences decode together and share every layer load. A model file is
//! refused unless its sha256 matches its manifest, before any tensor is read.
//!
//! It must not depend on ROS types, the node harness, or anything that reaches the network;
//! its only I/O is reading the model file it is given. It keeps no clock: callers time it.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod attention;
pub mod engine;
pub mod error;
pub mod gguf;
pub mod manifest;
pub mod model;
pub mod quant;
pub mod sampler;
pub mod store;
pub mod tokenizer;

pub use engine::{
    Engine, EngineOptions, GenerateRequest, GenerateStats, Generated, StopReason, TokenEvent,
};
pub use error::{LlmError, Result};
pub use manifest::{Manifest, DEFAULT_MODEL};
pub use sampler::Sampling;
pub use store::Residency;
pub use tokenizer::Message;
