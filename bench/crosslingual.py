"""What each way of crossing languages buys retrieval, and what it costs.

Usage: python bench/crosslingual.py [--split dev] [--sample-chunks 8] [--out FILE.json]

Four ways for an English question to reach Chinese passages (and a Chinese one English
papers), measured on the question set's answerable questions (follow-ups rewritten
without a model, as ``rag eval --retrieval-only`` does):

- **none**: BM25 and the multilingual embedder alone (glossary and dictionary off);
- **glossary**: keyword search also looks for the other-language terms that the corpus
  itself glosses in brackets ("注意力机制(attention)");
- **glossary + dictionary** (shipped): and for CC-CEDICT's word-for-word translations of
  the question's words, kept to the terms the index uses;
- **model translation**: the loaded LLM translates the question into the other language
  first, and the two searches are fused by reciprocal rank, on top of the shipped way.

A fourth, a bilingual index (every passage translated at ingest), is costed, not built:
a few passages are translated with the loaded model and the time is scaled to the index.

Prints, by question language and scope, source hit@5 and answer-in-passage hit@5 with 95%
Wilson intervals, and each way's cost: time per question, and build time and size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.text import has_cjk  # noqa: E402
from rag import prompt as prompts  # noqa: E402
from rag.answer import Assistant  # noqa: E402
from rag.evaluate import model_free_standalone  # noqa: E402
from rag.glossary import Dictionary, Glossary, Translator  # noqa: E402
from rag.metrics import answer_rank, hit_at, source_rank, wilson  # noqa: E402
from rag.questionset import SourceResolver, load_questions, select_split  # noqa: E402
from rag.retrieve import HybridRetriever, Retriever, rrf_fuse  # noqa: E402
from rag.settings import load_settings  # noqa: E402
from rag.types import Hit  # noqa: E402

TRANSLATE = {
    "zh": "Translate the user's text into Chinese. Reply with the translation only.",
    "en": "Translate the user's text into English. Reply with the translation only.",
}
K = 5


def translate(assistant: Assistant, text: str, into: str, max_tokens: int = 96) -> str:
    """``text`` in language ``into`` ("zh" or "en"), by the loaded model (one line)."""
    messages = [{"role": "system", "content": TRANSLATE[into]},
                {"role": "user", "content": prompts.clean_untrusted(text, one_line=True)}]
    reply = assistant.generator.complete(messages, max_tokens=max_tokens, temperature=0.0)
    return " ".join(reply.split())


def fused_search(retriever: Retriever, question: str, translation: str, k: int) -> list[Hit]:
    """The question's and its translation's results fused by reciprocal rank."""
    first, second = retriever.search(question, 30), retriever.search(translation, 30)
    by_row = {h.row: h for h in (*second, *first)}
    fused = rrf_fuse([[(h.row, h.score) for h in first], [(h.row, h.score) for h in second]], [1.0, 1.0])
    return [by_row[row] for row, _ in fused[:k]]


def rate(flags: list[bool]) -> str:
    if not flags:
        return "–"
    low, high = wilson(sum(flags), len(flags))
    return f"{sum(flags) / len(flags):.2f} [{low:.2f}, {high:.2f}] (n={len(flags)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=("dev", "test", "all"))
    parser.add_argument("--questions", default="corpus/questions.jsonl")
    parser.add_argument("--sample-chunks", type=int, default=8, help="passages translated to cost a bilingual index")
    parser.add_argument("--out", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    settings, _ = load_settings()
    assistant = Assistant.from_settings(settings)
    index = assistant.index
    resolver = SourceResolver(index.documents)
    questions = [q for q in select_split(load_questions(Path(args.questions)), args.split) if q.answerable]
    questions = [q for q in questions if resolver.resolve(q.sources)]

    started = time.perf_counter()
    glossary = Glossary.from_texts(c.text for c in index.chunks if c.lang == "zh")
    glossary_build_s = time.perf_counter() - started
    started = time.perf_counter()
    dictionary = Dictionary.for_vocabulary(index.vocabulary())
    dictionary_build_s = time.perf_counter() - started
    common = dict(candidates=settings.candidates, rrf_k=settings.rrf_k, dense_weight=settings.dense_weight,
                  keyword_weight=settings.keyword_weight, balance_kinds=bool(settings.balance_kinds))
    without = HybridRetriever(index, translator=Translator([]), **common)
    glossary_only = HybridRetriever(index, translator=Translator([glossary]), **common)
    shipped = assistant.retriever
    assistant.load_model()

    ways = ("none", "glossary", "glossary + dictionary", "model translation")
    flags = {w: {} for w in ways}
    seconds = {w: [] for w in ways}
    for q in questions:
        text = model_free_standalone(q.question, q.history)
        sources = resolver.resolve(q.sources)
        group = (q.lang, q.scope)
        results = {}
        for way, search in (("none", without.search), ("glossary", glossary_only.search),
                            ("glossary + dictionary", shipped.search)):
            t = time.perf_counter()
            results[way] = search(text, K)
            seconds[way].append(time.perf_counter() - t)
        t = time.perf_counter()
        translation = translate(assistant, text, "en" if has_cjk(text) else "zh")
        results["model translation"] = fused_search(shipped, text, translation, K)
        seconds["model translation"].append(time.perf_counter() - t)
        for way, hits in results.items():
            source = hit_at(source_rank(hits, sources), K)
            answer = hit_at(answer_rank(hits, q.answers or [x for g in q.items for x in g]), K)
            for key in (group, ("all", "all")):
                cell = flags[way].setdefault(key, ([], []))
                cell[0].append(source)
                cell[1].append(answer)

    chinese = [c for c in index.chunks if c.lang == "zh"]
    sample = chinese[:: max(1, len(chinese) // max(args.sample_chunks, 1))][: args.sample_chunks]
    t = time.perf_counter()
    for chunk in sample:
        translate(assistant, chunk.text, "en", max_tokens=512)
    per_chunk = (time.perf_counter() - t) / max(len(sample), 1)
    vector_bytes = index.vector(0).nbytes

    groups = sorted({key for way in flags.values() for key in way}, key=lambda g: (g == ("all", "all"), g))
    print(f"{len(questions)} answerable {args.split} questions; source hit@{K} / answer in passage hit@{K}\n")
    print("| questions | " + " | ".join(ways) + " |")
    print("| --- |" + " --- |" * len(ways))
    for g in groups:
        cells = [f"{rate(flags[w][g][0])} / {rate(flags[w][g][1])}" for w in ways]
        label = "all questions" if g == ("all", "all") else f"{g[0]} on {g[1]}s"
        print(f"| {label} | " + " | ".join(cells) + " |")
    costs = {
        "none": "–",
        "glossary": f"{len(glossary.zh_of)} English and {len(glossary.en_of)} Chinese terms read from the index in {glossary_build_s:.2f} s at load; nothing stored",
        "glossary + dictionary": (f"and {len(dictionary.zh_of)} English and {len(dictionary.en_of)} Chinese "
                                  f"CC-CEDICT words the index uses, read in {dictionary_build_s:.2f} s at load; nothing stored"),
        "model translation": "one model call per question",
        "bilingual index": (f"{per_chunk:.1f} s per passage ({len(sample)} translated) -> "
                            f"{per_chunk * len(index.chunks) / 3600:.1f} h for {len(index.chunks)} passages; "
                            f"+{vector_bytes * len(index.chunks) / 1e6:.1f} MB of vectors and the translated text"),
    }
    print("\n| way | retrieval p50 | cost |\n| --- | --- | --- |")
    for way in ways:
        print(f"| {way} | {statistics.median(seconds[way]) * 1000:.0f} ms | {costs[way]} |")
    print(f"| bilingual index | – | {costs['bilingual index']} |")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "split": args.split, "questions": len(questions),
            "hits": {w: {f"{g[0]}/{g[1]}": {"source": flags[w][g][0], "answer": flags[w][g][1]} for g in groups} for w in ways},
            "p50_ms": {w: statistics.median(seconds[w]) * 1000 for w in ways},
            "costs": costs, "model": assistant.info(),
        }, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
