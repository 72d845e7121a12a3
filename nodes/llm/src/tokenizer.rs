//! The tokenizer, built from the GGUF metadata with the `tokenizers` crate: byte-level BPE
//! (`gpt2`: vocabulary, merges, token types) or SentencePiece BPE (`llama`: vocabulary,
//! scores, token types, byte fallback); the chat template rendered with `minijinja`.

use crate::error::{LlmError, Result};
use crate::gguf::ModelFile;
use candle_core::quantized::gguf_file::Value;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::prepend::Prepend;
use tokenizers::normalizers::replace::Replace;
use tokenizers::normalizers::utils::Sequence as NormalizerSequence;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior};

/// GGUF token types (llama.cpp's `llama_token_type`).
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// The Llama 3 pre-tokenizer split.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub add_bos: bool,
    /// Tokens that end a generation: end of sequence, end of turn.
    pub stop_ids: Vec<u32>,
    chat_template: Option<String>,
    /// Texts of the tokens the templates and stop rules need (BOS, EOS); the vocabulary
    /// itself lives once, in `inner`.
    bos_text: String,
    eos_text: String,
    n_tokens: usize,
}

/// One chat message.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Self {
        Self {
            role: role.to_string(),
            content: content.to_string(),
        }
    }
}

impl Tokenizer {
    pub fn from_gguf(model: &ModelFile) -> Result<Self> {
        let md = &model.metadata;
        let kind = model.metadata_string("tokenizer.ggml.model").unwrap_or("");
        let spm = match kind {
            "gpt2" => false,
            "llama" => true,
            _ => {
                return Err(LlmError::Unsupported {
                    path: model.path.clone(),
                    reason: format!(
                        "tokenizer model {kind:?}; byte-level BPE (\"gpt2\": SmolLM2, Llama 3) \
                         and SentencePiece BPE (\"llama\": TinyLlama, Llama 2) are supported"
                    ),
                })
            }
        };
        let strings = |key: &str| -> Result<Vec<String>> {
            md.get(key)
                .and_then(|v| v.to_vec().ok())
                .ok_or_else(|| LlmError::Tokenizer(format!("{key} is missing")))?
                .iter()
                .map(|v| {
                    v.to_string()
                        .cloned()
                        .map_err(|e| LlmError::Tokenizer(format!("{key}: {e}")))
                })
                .collect()
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let types: Vec<i32> = match md
            .get("tokenizer.ggml.token_type")
            .and_then(|v| v.to_vec().ok())
        {
            Some(v) => v.iter().map(|t| t.to_i32().unwrap_or(1)).collect(),
            None => vec![1; tokens.len()],
        };
        if types.len() != tokens.len() {
            return Err(LlmError::Tokenizer(format!(
                "{} token types for {} tokens",
                types.len(),
                tokens.len()
            )));
        }
        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        if spm {
            let scores: Vec<f32> = md
                .get("tokenizer.ggml.scores")
                .and_then(|v| v.to_vec().ok())
                .ok_or_else(|| LlmError::Tokenizer("tokenizer.ggml.scores is missing".into()))?
                .iter()
                .map(|v| {
                    v.to_f32()
                        .map_err(|e| LlmError::Tokenizer(format!("tokenizer.ggml.scores: {e}")))
                })
                .collect::<Result<_>>()?;
            if scores.len() != tokens.len() {
                return Err(LlmError::Tokenizer(format!(
                    "{} scores for {} tokens",
                    scores.len(),
                    tokens.len()
                )));
            }
            let unk = id_of(md, "tokenizer.ggml.unknown_token_id")
                .and_then(|i| tokens.get(i as usize))
                .cloned();
            let mut builder = BPE::builder()
                .vocab_and_merges(vocab, spm_merges(&tokens, &scores, &types))
                .byte_fallback(true);
            if let Some(unk) = unk {
                builder = builder.unk_token(unk);
            }
            let bpe = builder
                .build()
                .map_err(|e| LlmError::Tokenizer(format!("SentencePiece BPE: {e}")))?;
            let mut inner = tokenizers::Tokenizer::new(bpe);
            // As llama.cpp: spaces are "▁", and each run of text between special tokens
            // starts with one (unless the file says not to); no pre-splitting.
            let add_space_prefix = md
                .get("tokenizer.ggml.add_space_prefix")
                .and_then(|v| v.to_bool().ok())
                .unwrap_or(true);
            let replace = Replace::new(" ", "\u{2581}")
                .map_err(|e| LlmError::Tokenizer(format!("normalizer: {e}")))?;
            let mut normalizers = Vec::new();
            if add_space_prefix {
                normalizers.push(Prepend::new("\u{2581}".into()).into());
            }
            normalizers.push(replace.into());
            inner
                .with_normalizer(Some(NormalizerSequence::new(normalizers)))
                .map_err(|e| LlmError::Tokenizer(format!("normalizer: {e}")))?;
            let unspace = Replace::new("\u{2581}", " ")
                .map_err(|e| LlmError::Tokenizer(format!("decoder: {e}")))?;
            let mut decoders = vec![
                unspace.into(),
                ByteFallback::new().into(),
                Fuse::new().into(),
            ];
            if add_space_prefix {
                decoders.push(Strip::new(' ', 1, 0).into());
            }
            inner.with_decoder(Some(DecoderSequence::new(decoders)));
            return Self::finish(model, inner, &tokens, &types);
        }
        let merges: Vec<(String, String)> = strings("tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| LlmError::Tokenizer(format!("merge {m:?} has no space")))
            })
            .collect::<Result<_>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| LlmError::Tokenizer(format!("BPE: {e}")))?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        let pre = model
            .metadata_string("tokenizer.ggml.pre")
            .unwrap_or("default");
        let byte_level = ByteLevel::new(false, false, true);
        let pre_tokenizer = match pre {
            "llama-bpe" | "llama3" => {
                let split = Split::new(
                    SplitPattern::Regex(LLAMA3_SPLIT.to_string()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .map_err(|e| LlmError::Tokenizer(format!("split regex: {e}")))?;
                Sequence::new(vec![
                    split.into(),
                    ByteLevel::new(false, false, false).into(),
                ])
            }
            // SmolLM, StarCoder, GPT-2: every digit on its own, then the GPT-2 split.
            _ => Sequence::new(vec![Digits::new(true).into(), byte_level.into()]),
        };
        inner.with_pre_tokenizer(Some(pre_tokenizer));
        inner.with_decoder(Some(ByteLevel::default()));
        Self::finish(model, inner, &tokens, &types)
    }

    /// Special tokens, BOS / EOS, stop tokens and the chat template, for either model.
    fn finish(
        model: &ModelFile,
        mut inner: tokenizers::Tokenizer,
        tokens: &[String],
        types: &[i32],
    ) -> Result<Self> {
        let md = &model.metadata;
        let special: Vec<AddedToken> = tokens
            .iter()
            .zip(types)
            .filter(|(_, t)| **t == TOKEN_TYPE_CONTROL || **t == TOKEN_TYPE_USER_DEFINED)
            .map(|(s, _)| AddedToken::from(s.clone(), true))
            .collect();
        inner
            .add_special_tokens(special)
            .map_err(|e| LlmError::Tokenizer(format!("special tokens: {e}")))?;
        let bos_id = id_of(md, "tokenizer.ggml.bos_token_id");
        let eos_id = id_of(md, "tokenizer.ggml.eos_token_id");
        let add_bos = md
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);
        let mut stop_ids: Vec<u32> = eos_id.into_iter().collect();
        for end in ["<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"] {
            if let Some(i) = tokens.iter().position(|t| t == end) {
                if !stop_ids.contains(&(i as u32)) {
                    stop_ids.push(i as u32);
                }
            }
        }
        Ok(Self {
            inner,
            bos_id,
            eos_id,
            add_bos,
            stop_ids,
            chat_template: model
                .metadata_string("tokenizer.chat_template")
                .map(str::to_string),
            bos_text: bos_id
                .and_then(|i| tokens.get(i as usize))
                .cloned()
                .unwrap_or_default(),
            eos_text: eos_id
                .and_then(|i| tokens.get(i as usize))
                .cloned()
                .unwrap_or_default(),
            n_tokens: tokens.len(),
        })
    }

    /// Token ids of `text`; special tokens written in the text are parsed as such. A BOS token
    /// is prepended when the model asks for one.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| LlmError::Tokenizer(format!("encode: {e}")))?;
        let mut ids = Vec::with_capacity(enc.len() + 1);
        if self.add_bos {
            ids.extend(self.bos_id);
        }
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| LlmError::Tokenizer(format!("decode: {e}")))
    }

    pub fn vocab_size(&self) -> usize {
        self.n_tokens
    }

    pub fn token_text(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The prompt for `messages` through the model's own chat template (ChatML when the file
    /// has none), ending with the assistant's turn opened.
    pub fn apply_chat_template(&self, messages: &[Message]) -> Result<String> {
        let chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
        let template = self.chat_template.as_deref().unwrap_or(chatml);
        let mut env = minijinja::Environment::new();
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        env.add_template("chat", template)
            .map_err(|e| LlmError::Template(e.to_string()))?;
        env.get_template("chat")
            .and_then(|t| {
                t.render(minijinja::context! {
                    messages => messages_value(messages),
                    add_generation_prompt => true,
                    bos_token => self.bos_text.as_str(),
                    eos_token => self.eos_text.as_str(),
                })
            })
            .map_err(|e| LlmError::Template(e.to_string()))
    }
}

/// A token id stored under `key` in the metadata.
fn id_of(md: &std::collections::HashMap<String, Value>, key: &str) -> Option<u32> {
    md.get(key).and_then(|v| v.to_u32().ok())
}

/// The merges of a SentencePiece BPE vocabulary, as llama.cpp applies it: any two adjacent
/// pieces whose concatenation is a normal (or user-defined) token merge, the highest-scoring
/// result first. Listed as BPE merge rules: every split of every such token into two tokens,
/// ordered by the merged token's score (then its id).
fn spm_merges(tokens: &[String], scores: &[f32], types: &[i32]) -> Vec<(String, String)> {
    const NORMAL: i32 = 1;
    let mergeable = |i: usize| matches!(types[i], NORMAL | TOKEN_TYPE_USER_DEFINED);
    let index: std::collections::HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| mergeable(*i))
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut rules: Vec<(f32, usize, usize, usize)> = Vec::new();
    for (id, t) in tokens.iter().enumerate() {
        if !mergeable(id) {
            continue;
        }
        for (k, _) in t.char_indices().skip(1) {
            if let (Some(&a), Some(&b)) = (index.get(&t[..k]), index.get(&t[k..])) {
                rules.push((scores[id], id, a, b));
            }
        }
    }
    rules.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    rules
        .into_iter()
        .map(|(_, _, a, b)| (tokens[a].clone(), tokens[b].clone()))
        .collect()
}

fn messages_value(messages: &[Message]) -> minijinja::Value {
    let list: Vec<minijinja::Value> = messages
        .iter()
        .map(|m| {
            let mut map = std::collections::BTreeMap::new();
            map.insert("role".to_string(), minijinja::Value::from(m.role.clone()));
            map.insert(
                "content".to_string(),
                minijinja::Value::from(m.content.clone()),
            );
            minijinja::Value::from(map)
        })
        .collect();
    minijinja::Value::from(list)
}

/// Turns a stream of token ids into text pieces, holding back bytes of an unfinished UTF-8
/// character.
#[derive(Default)]
pub struct TextStream {
    ids: Vec<u32>,
    emitted: usize,
}

impl TextStream {
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32) -> Result<Option<String>> {
        self.ids.push(id);
        let text = tokenizer.decode(&self.ids)?;
        if text.ends_with('\u{FFFD}') || text.len() <= self.emitted {
            return Ok(None);
        }
        let piece = text.get(self.emitted..).map(str::to_string);
        self.emitted = text.len();
        Ok(piece)
    }
}
