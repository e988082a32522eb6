"""llama.cpp with and without flash attention: raw prompt speed, and optionally answers.

Usage: python bench/flash_attention.py [SPEC ...] [--repeats N] [--split dev|test --out DIR]

Raw speed: for each packaged model SPEC (default: the 0.5B), two llama.cpp contexts of the
same GGUF, one with flash attention and one without, read the same fresh prompts (about
700 tokens, never a cached prefix) in turn, so machine drift hits both alike. With
``--split``, the default assistant answers that split of the question set with each
context, question by question (``rag.evaluate.run_side_by_side``), into DIR/noflash and
DIR/flash; compare them with ``rag eval --compare``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.answer import Assistant  # noqa: E402
from rag.evaluate import run_side_by_side  # noqa: E402
from rag.llamacpp import LlamaCppGenerator  # noqa: E402
from rag.settings import load_settings  # noqa: E402

ARMS = {"noflash": False, "flash": True}
_TEXT = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def prompt_speed(spec: str, repeats: int) -> dict[str, float]:
    """Median prompt tokens/s of each arm over ``repeats`` rounds of fresh prompts."""
    gens = {arm: LlamaCppGenerator(spec, flash_attn=flash) for arm, flash in ARMS.items()}
    speeds: dict[str, list[float]] = {arm: [] for arm in gens}
    for n in range(repeats):
        for i, (arm, gen) in enumerate(gens.items()):
            start = (2 * n + i) * 2000  # a new slice every time: nothing to reuse from a cache
            messages = [{"role": "user", "content": _TEXT[start : start + 2000] + "\n\nSummarise the text above."}]
            tokens = gen.count_tokens(messages[0]["content"])
            t0 = time.perf_counter()
            for _ in gen.stream(messages, max_tokens=1):  # the first token comes after the whole prompt
                pass
            speeds[arm].append(tokens / (time.perf_counter() - t0))
    return {arm: statistics.median(values) for arm, values in speeds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=["qwen2.5-coder-0.5b"])
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--split", choices=("dev", "test", "all"), help="also answer this split with both arms")
    parser.add_argument("--out", default="reports/flash-attention")
    args = parser.parse_args()
    for spec in args.specs:
        speed = prompt_speed(spec, args.repeats)
        print(f"{spec:28s} prompt tokens/s: without {speed['noflash']:6.1f}  with {speed['flash']:6.1f}  "
              f"({speed['flash'] / speed['noflash']:.2f}x)", flush=True)
    if args.split:
        settings, _ = load_settings()
        base = Assistant.from_settings(settings)
        assistants = {
            arm: Assistant(base.index, settings, retriever=base.retriever, translator=base.translator,
                           generator=LlamaCppGenerator(settings.llm, n_ctx=settings.n_ctx,
                                                       threads=settings.threads or None, flash_attn=flash))
            for arm, flash in ARMS.items()
        }
        run_side_by_side(assistants, settings.questions, out_dir=args.out, split=args.split,
                         settings={arm: {"flash_attn": flash} for arm, flash in ARMS.items()})


if __name__ == "__main__":
    main()
