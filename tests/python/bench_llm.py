"""Side-by-side LLM bench: llama.cpp (llama-cpp-python) and edgefuse-llm on the same GGUF, the
same threads, the same chat prompt and the same number of greedy tokens. Each configuration
runs in its own process so that its peak RSS (VmHWM) is its own. Prints one JSON object.

usage: bench_llm.py EDGEFUSE_BIN MODEL [--threads 2] [--new-tokens 128] [--repeats 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEM = ("You are the voice of a car's driver assistant. Answer in one sentence, using only "
          "the facts you are given. Never guess a distance, a side or an object the facts do "
          "not state.")
QUESTION = "How far is the car in front of me, and is it getting closer?"
WARM_QUESTION = "Is anything on my left side, and how far away is it?"


def ours(binary, model, threads, new_tokens, extra, prompt=QUESTION, repeat=None):
    cmd = [binary, "llm", "--model", model, "--system", SYSTEM, "--prompt", prompt,
           "--max-tokens", str(new_tokens), "--ignore-eos", "--threads", str(threads), "--json"]
    if repeat:
        cmd += ["--repeat", repeat]
    out = subprocess.run(cmd + extra, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def llama(model, tokens, threads, new_tokens):
    req = {"model": model, "op": "greedy", "tokens": tokens, "n": new_tokens, "threads": threads}
    out = subprocess.run([sys.executable, os.path.join(HERE, "llama_oracle.py")],
                         input=json.dumps(req), check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    weight_bytes = ours(a.binary, a.model, a.threads, 1, [])["weight_bytes"]
    configs = [
        ("ours resident", ["--mode", "resident"], 1),
        ("ours streamed 100%", ["--mode", "streamed", "--memory-budget-percent", "100"], 1),
        ("ours streamed 50%", ["--mode", "streamed", "--memory-budget-percent", "50"], 1),
        ("ours streamed 25%", ["--mode", "streamed", "--memory-budget-percent", "25"], 1),
        ("ours streamed 25% N=4", ["--mode", "streamed", "--memory-budget-percent", "25",
                                   "--n", "4", "--temperature", "0.7", "--seed", "1"], 4),
        ("ours streamed 25% N=1 sampled", ["--mode", "streamed", "--memory-budget-percent", "25",
                                           "--temperature", "0.7", "--seed", "1"], 1),
    ]
    samples = {name: [] for name, _, _ in configs}
    samples["llama.cpp"] = []
    prompt_tokens = None
    # Interleaved repeats: every configuration sees the same machine conditions.
    for _ in range(a.repeats):
        for name, extra, n in configs:
            d = ours(a.binary, a.model, a.threads, a.new_tokens, extra, repeat=WARM_QUESTION)
            first, second = d["runs"]
            prompt_tokens = first["prompt_tokens"]
            samples[name].append({
                "decode_tokens_per_s": first["decode_steps_per_s"],
                "first_token_ms": first["first_token_s"] * 1e3,
                "first_token_cached_ms": second["first_token_s"] * 1e3,
                "cached_prompt_tokens": second["stats"]["cached_prompt_tokens"],
                "total_s": first["total_s"],
                "peak_rss_mb": d["peak_rss_bytes"] / 1e6,
                "weight_bytes_peak_mb": d["weight_bytes_peak"] / 1e6,
                "tokens": first["outputs"][0]["tokens"],
                "n": n,
            })
        l = llama(a.model, prompt_tokens, a.threads, a.new_tokens)
        samples["llama.cpp"].append({
            "decode_tokens_per_s": l["decode_steps_per_s"],
            "first_token_ms": l["first_token_s"] * 1e3,
            "total_s": l["total_s"],
            "peak_rss_mb": l["peak_rss_bytes"] / 1e6,
            "tokens": l["tokens"],
        })

    def med(name, key):
        vals = [s[key] for s in samples[name] if key in s]
        return statistics.median(vals) if vals else None

    summary = {}
    for name in samples:
        summary[name] = {k: med(name, k) for k in
                         ["decode_tokens_per_s", "first_token_ms", "first_token_cached_ms",
                          "total_s", "peak_rss_mb", "weight_bytes_peak_mb"]}
    res = summary["ours resident"]
    ratios = {
        "resident_decode_vs_llama_cpp": res["decode_tokens_per_s"] / summary["llama.cpp"]["decode_tokens_per_s"],
        "streamed25_rss_vs_resident": summary["ours streamed 25%"]["peak_rss_mb"] / res["peak_rss_mb"],
        "streamed25_decode_vs_resident": summary["ours streamed 25%"]["decode_tokens_per_s"] / res["decode_tokens_per_s"],
        "streamed25_n4_time_vs_n1": summary["ours streamed 25% N=4"]["total_s"] / summary["ours streamed 25% N=1 sampled"]["total_s"],
    }
    greedy_same = all(s["tokens"] == samples["ours resident"][0]["tokens"]
                      for name in ["ours resident", "ours streamed 100%", "ours streamed 50%", "ours streamed 25%"]
                      for s in samples[name])
    print(json.dumps({
        "model": a.model,
        "weight_bytes": weight_bytes,
        "threads": a.threads,
        "prompt_tokens": len(prompt_tokens),
        "system_prefix_tokens": prompt_tokens.index(4093) + 2 if 4093 in prompt_tokens else None,
        "new_tokens": a.new_tokens,
        "repeats": a.repeats,
        "medians": summary,
        "ratios": ratios,
        "streamed_equals_resident_greedy": greedy_same,
    }, indent=1))


if __name__ == "__main__":
    main()
