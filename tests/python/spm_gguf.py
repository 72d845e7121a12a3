"""A SentencePiece vocabulary in a GGUF file, for testing tokenizers against llama.cpp.

usage: spm_gguf.py CORPUS OUT.gguf

Trains a SentencePiece BPE model (the `sentencepiece` library, Llama 2 / TinyLlama settings:
byte fallback, digits split, a dummy space prefix, no normalization) on the text file CORPUS
and writes its pieces, scores and token types with the `gguf` library as a GGUF of the llama
architecture (`tokenizer.ggml.model = "llama"`) with one layer of small random weights.
Prints {"vocab_size": N}.
"""
import json
import os
import sys
import tempfile

import gguf
import numpy as np
import sentencepiece as spm


def main():
    corpus, out = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "spm")
        spm.SentencePieceTrainer.train(
            input=corpus,
            model_prefix=prefix,
            model_type="bpe",
            vocab_size=800,
            byte_fallback=True,
            split_digits=True,
            add_dummy_prefix=True,
            allow_whitespace_only_pieces=True,
            remove_extra_whitespaces=False,
            normalization_rule_name="identity",
            character_coverage=0.9995,
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=-1,
            minloglevel=2,
        )
        sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        if sp.is_unknown(i):
            types.append(gguf.TokenType.UNKNOWN)
        elif sp.is_control(i):
            types.append(gguf.TokenType.CONTROL)
        elif sp.is_byte(i):
            types.append(gguf.TokenType.BYTE)
        elif sp.is_unused(i):
            types.append(gguf.TokenType.UNUSED)
        else:
            types.append(gguf.TokenType.NORMAL)
    w = gguf.GGUFWriter(out, "llama")
    w.add_context_length(256)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(True)
    # Small random f32 weights (seeded), so that the file is a whole one-layer model that
    # loaders which check tensor shapes accept; the tests only use its vocabulary.
    rng = np.random.default_rng(7)
    dim, ffn, n = 64, 128, len(tokens)

    def t(name, rows, cols):
        w.add_tensor(name, (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32))

    t("token_embd.weight", n, dim)
    w.add_tensor("output_norm.weight", np.ones(dim, dtype=np.float32))
    w.add_tensor("blk.0.attn_norm.weight", np.ones(dim, dtype=np.float32))
    w.add_tensor("blk.0.ffn_norm.weight", np.ones(dim, dtype=np.float32))
    for name in ["attn_q", "attn_k", "attn_v", "attn_output"]:
        t(f"blk.0.{name}.weight", dim, dim)
    t("blk.0.ffn_gate.weight", ffn, dim)
    t("blk.0.ffn_up.weight", ffn, dim)
    t("blk.0.ffn_down.weight", dim, ffn)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(json.dumps({"vocab_size": len(tokens)}))


if __name__ == "__main__":
    main()
