"""How often the answer is in the evidence the model reads, for several evidence settings.

Usage: python bench/evidence.py [--split dev] [--config TOP_K:FOCUS:BUDGET | ev:CHARS ...]

No model runs: each answerable question is retrieved, its evidence chosen as the answering
pipeline chooses it (``TOP_K:FOCUS:BUDGET``: each of the top-k passages cut to its best
FOCUS characters within BUDGET tokens; ``ev:CHARS``: the best sentences across ten passages,
CHARS characters in all), and the answer keys are looked for in that text. A model can
only answer what it is shown, so this bounds accuracy from above, and the evidence's
token count sets the wait on a CPU. Seconds per setting, not a quarter of an hour.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag import prompt as prompts  # noqa: E402
from rag.answer import Assistant  # noqa: E402
from rag.evaluate import model_free_standalone  # noqa: E402
from rag.metrics import answer_correct, wilson  # noqa: E402
from rag.pipeline import focus_passages, pick_evidence, retrieve  # noqa: E402
from rag.questionset import load_questions, select_split  # noqa: E402
from rag.settings import load_settings  # noqa: E402

DEFAULT_CONFIGS = ("5:240:800", "5:120:400", "8:160:800", "ev:600", "ev:1200", "ev:1600")


def evidence_text(assistant: Assistant, question: str, config: str) -> str:
    """The passages' text as the model would read it for ``question`` under ``config``."""
    embedder = assistant.index.embedder()
    count = assistant.generator.count_tokens
    if config.startswith("ev:"):
        retrieved = retrieve(assistant.retriever, embedder, question, assistant.settings.evidence_passages)
        picked = pick_evidence(retrieved.query, retrieved.hits, embedder, int(config[3:]))
        hits, budget = [h for h in retrieved.hits if h.row in picked], assistant.settings.passage_budget
    else:
        top_k, focus, budget = (int(x) for x in config.split(":"))
        retrieved = retrieve(assistant.retriever, embedder, question, top_k)
        hits = list(retrieved.hits)
        picked = focus_passages(retrieved.query, hits, embedder, focus) if focus else {}
    quoted = prompts.select_passages(hits, budget, count, focus=lambda h: picked.get(h.row, h.chunk.text))
    return "\n".join(text for _, text in quoted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=("dev", "test", "all"))
    parser.add_argument("--questions", default="corpus/questions.jsonl")
    parser.add_argument("--config", action="append", help="TOP_K:FOCUS:BUDGET or ev:CHARS (repeatable)")
    args = parser.parse_args()
    settings, _ = load_settings({})
    assistant = Assistant.from_settings(settings)
    questions = [q for q in select_split(load_questions(Path(args.questions)), args.split) if q.answerable]
    print(f"{len(questions)} answerable {args.split} questions; tokens counted by {settings.llm}", flush=True)
    for config in args.config or DEFAULT_CONFIGS:
        seen, tokens = [], []
        for q in questions:
            text = evidence_text(assistant, model_free_standalone(q.question, q.history), config)
            seen.append(answer_correct(text, q.answers, q.items, q.min_items))
            tokens.append(assistant.generator.count_tokens(text))
        low, high = wilson(sum(seen), len(seen))
        print(f"{config:>10}: answer in evidence {sum(seen) / len(seen):.2f} [{low:.2f}, {high:.2f}], "
              f"evidence tokens p50 {statistics.median(tokens):.0f}", flush=True)


if __name__ == "__main__":
    main()
