"""Benchmark generator backends: load time, prompt tokens/s and generated tokens/s.

Usage: python bench/generation.py [SPEC ...] [--max-tokens N] [--repeats N] [--threads N] [--json PATH]

Each SPEC is a ``make_generator`` spec (default: the packaged 0.5B and 1.5B via llama.cpp).
Prompt speed is prompt tokens / time to first token; generation speed is (tokens after the
first) / (time after the first token). Token counts come from the model's own tokenizer;
the prompt count excludes the few tokens the chat template adds. Every measured prompt is
new text, so llama.cpp cannot reuse a cached prefix.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag import models  # noqa: E402
from rag.generate import make_generator  # noqa: E402

PASSAGE = (
    "2017 年，Google 的研究者在论文《Attention Is All You Need》中提出了 Transformer 架构，"
    "它完全依靠注意力机制，抛弃了循环和卷积结构。随后 OpenAI 发布 GPT，Google 发布 BERT，"
    "预训练加微调成为自然语言处理的主流范式。GPT-2 和 GPT-3 显示，扩大模型参数和训练数据会带来"
    "持续的能力提升，并出现了上下文学习。The scaling laws paper showed that loss falls as a power law "
    "in model size, data and compute. InstructGPT used reinforcement learning from human feedback to "
    "align the model with what users ask for, and ChatGPT brought this to the public in November 2022. "
)


def _prompt(i: int) -> list[dict]:
    text = f"[资料 {i}]\n" + PASSAGE * 3
    return [
        {"role": "system", "content": "You answer questions about the history of large language models."},
        {"role": "user", "content": f"{text}\n请根据以上资料，详细介绍大语言模型的发展历程（第 {i} 次提问）。"},
    ]


def bench(spec: str, *, max_tokens: int, repeats: int, threads: int | None) -> dict:
    """Measure one spec; returns load time and per-run speeds (median over ``repeats``)."""
    if spec in models.REGISTRY:
        models.ensure_model(spec)  # assembly is a one-off, not part of load time
    gen = make_generator(spec, threads=threads)
    start = time.perf_counter()
    gen.load()
    load_s = time.perf_counter() - start
    gen.complete([{"role": "user", "content": "hi"}], max_tokens=4)  # warm-up
    runs = []
    for i in range(repeats):
        messages = _prompt(i)
        prompt_tokens = sum(gen.count_tokens(m["content"]) for m in messages)
        t0 = time.perf_counter()
        first = None
        pieces = []
        for delta in gen.stream(messages, max_tokens=max_tokens):
            first = first or time.perf_counter()
            pieces.append(delta)
        end = time.perf_counter()
        generated = gen.count_tokens("".join(pieces))
        runs.append(
            {
                "prompt_tokens": prompt_tokens,
                "generated_tokens": generated,
                "ttft_s": round(first - t0, 3),
                "prompt_tok_s": round(prompt_tokens / (first - t0), 1),
                "gen_tok_s": round((generated - 1) / (end - first), 1) if end > first else None,
            }
        )
    return {
        "spec": spec,
        "info": {k: v for k, v in gen.info.items() if k != "path"},
        "load_s": round(load_s, 2),
        "prompt_tok_s": statistics.median(r["prompt_tok_s"] for r in runs),
        "gen_tok_s": statistics.median(r["gen_tok_s"] for r in runs if r["gen_tok_s"] is not None),
        "runs": runs,
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=["qwen2.5-coder-0.5b-q4_0", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    results = []
    for spec in args.specs:
        r = bench(spec, max_tokens=args.max_tokens, repeats=args.repeats, threads=args.threads)
        results.append(r)
        print(
            f"{spec:32s} {r['info']['backend']:12s} load {r['load_s']:6.2f}s  "
            f"prompt {r['prompt_tok_s']:7.1f} tok/s  generate {r['gen_tok_s']:6.1f} tok/s  "
            f"(load avg {r['loadavg_1m']})",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
