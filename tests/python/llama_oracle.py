"""llama.cpp (through llama-cpp-python) as the oracle and the reference for speed.

Reads one JSON request on stdin and prints one JSON answer:
  {"model": PATH, "op": "tokenize", "text": STR,
   "add_bos": false, "vocab_only": false}                   -> {"tokens": [...], "text": back}
  {"model": PATH, "op": "chat", "messages": [...]}          -> {"text": STR, "tokens": [...]}
  {"model": PATH, "op": "greedy", "tokens": [...], "n": N,
   "threads": T}                                            -> {"tokens": [...], timings}
Greedy decoding is llama.cpp's own (top-k 1), on the CPU, flash attention off, f16 KV cache.
"""
import json
import os
import resource
import sys
import time

from llama_cpp import Llama, llama_chat_format


def peak_rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def main():
    req = json.load(sys.stdin)
    threads = int(req.get("threads", 2))
    n_ctx = int(req.get("n_ctx", 512))
    t0 = time.perf_counter()
    llm = Llama(
        model_path=req["model"],
        n_ctx=n_ctx,
        n_threads=threads,
        n_threads_batch=threads,
        n_batch=512,
        flash_attn=False,
        verbose=False,
        logits_all=bool(req.get("margins", False)),
        vocab_only=bool(req.get("vocab_only", False)),
    )
    load_s = time.perf_counter() - t0
    op = req["op"]
    if op == "tokenize":
        toks = llm.tokenize(
            req["text"].encode("utf-8"), add_bos=bool(req.get("add_bos", False)), special=True)
        text = llm.detokenize(toks).decode("utf-8", errors="replace")
        print(json.dumps({"tokens": toks, "text": text}))
        return
    if op == "greedy":
        tokens = req["tokens"]
        n = int(req["n"])
        out = []
        t_start = time.perf_counter()
        llm.reset()
        llm.eval(tokens)
        t_first = None
        margins = []
        for i in range(n):
            tok = llm.sample(top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0)
            if req.get("margins"):
                row = sorted(llm.scores[llm.n_tokens - 1], reverse=True)
                margins.append(float(row[0] - row[1]))
            if t_first is None:
                t_first = time.perf_counter()
            out.append(int(tok))
            if i + 1 < n:
                llm.eval([tok])
        t_end = time.perf_counter()
        self_noise = None
        if req.get("margins"):
            # llama.cpp against itself: the same tokens evaluated in one batch instead of one
            # at a time; the largest change of a chosen token's logit is its own noise level.
            seq_rows = [llm.scores[len(tokens) - 1 + k].copy() for k in range(n)]
            llm.reset()
            llm.eval(tokens + out[:-1])
            self_noise = max(
                abs(float(seq_rows[k][out[k]]) - float(llm.scores[len(tokens) - 1 + k][out[k]]))
                for k in range(n))
        print(json.dumps({
            "self_noise": self_noise,
            "tokens": out,
            "load_s": load_s,
            "first_token_s": t_first - t_start,
            "total_s": t_end - t_start,
            "decode_steps_per_s": (n - 1) / (t_end - t_first) if n > 1 else 0.0,
            "peak_rss_bytes": peak_rss_bytes(),
            "margins": margins,
        }))
        return
    raise SystemExit(f"unknown op {op!r}")


if __name__ == "__main__":
    main()
