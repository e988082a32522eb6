"""Evaluation metrics: pure functions of strings and hits, the per-question result row,
and totals with 95% Wilson intervals computed from rows alone, so each can be checked by hand.

Questions whose sources are not in the index (a paper that was not indexed, say) are
counted as ``source_missing`` and left out of every rate instead of counting as failures.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ingest.text import CJK_WITH_KANA_HANGUL
from rag.types import Answer, Citation, Hit

if TYPE_CHECKING:
    from rag.questionset import Question

HIT_KS = (1, 3, 5, 10)
Z95 = 1.959964  # two-sided 95% normal quantile
PASSAGES_KEPT = 3  # top passages stored per question, shown for the worst questions



_TOKEN = re.compile(rf"[{CJK_WITH_KANA_HANGUL}]|[^\W_{CJK_WITH_KANA_HANGUL}]+")


def normalize(text: str) -> str:
    """NFKC, case-folded, with whitespace and punctuation removed.

    Symbols and numbers stay as written: "GPT-3 有 1750 亿参数。" -> "gpt3有1750亿参数",
    "85 ± 3%" -> "85±3"; Chinese numerals are not converted to digits.
    """
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    kept = "".join(ch for ch in text if not ch.isspace() and not unicodedata.category(ch).startswith("P"))
    # NFKC again: dropping a space can leave a combining mark next to a letter ("A´").
    return unicodedata.normalize("NFKC", kept)


def tokens(text: str) -> list[str]:
    """F1 tokens: each CJK character is a token, other text splits into letter/digit runs.

    "GPT-3 有1750亿参数" -> ["gpt", "3", "有", "1750", "亿", "参", "数"].
    """
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def answer_correct(
    prediction: str, answers: Sequence[str], items: Sequence[Sequence[str]] = (), min_items: int = 1
) -> bool:
    """True when the normalised prediction contains an accepted answer; for a list question
    (``items`` given), when it contains an answer of at least ``min_items`` item groups."""
    haystack = normalize(prediction)

    def found(group: Sequence[str]) -> bool:
        return any(normalize(a) and normalize(a) in haystack for a in group)

    if items:
        return sum(found(group) for group in items) >= min_items
    return found(answers)


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """Best token F1 of the prediction against any accepted answer (0.0 when none overlap)."""
    predicted = Counter(tokens(prediction))
    best = 0.0
    for answer in answers:
        gold = Counter(tokens(answer))
        common = sum((predicted & gold).values())
        if common:
            precision = common / sum(predicted.values())
            recall = common / sum(gold.values())
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def first_rank(hits: Sequence[Hit], matches: Callable[[Hit], bool]) -> int | None:
    """1-based rank of the first hit that matches, or None."""
    for rank, hit in enumerate(hits, start=1):
        if matches(hit):
            return rank
    return None


def source_rank(hits: Sequence[Hit], doc_ids: Iterable[str]) -> int | None:
    """Rank of the first passage from one of the question's source documents."""
    wanted = set(doc_ids)
    return first_rank(hits, lambda hit: hit.chunk.doc_id in wanted)


def answer_rank(hits: Sequence[Hit], answers: Sequence[str]) -> int | None:
    """Rank of the first passage that contains an accepted answer (normalised)."""
    wanted = [normalize(a) for a in answers if normalize(a)]
    return first_rank(hits, lambda hit: any(a in normalize(hit.chunk.text) for a in wanted))


def hit_at(rank: int | None, k: int) -> bool:
    """Whether a rank lies within the top k."""
    return rank is not None and rank <= k


def reciprocal_rank(rank: int | None) -> float:
    """1/rank, or 0.0 when nothing matched."""
    return 1.0 / rank if rank else 0.0


def citation_valid(citation: Citation, doc_ids: Iterable[str], answers: Sequence[str]) -> bool:
    """A citation is valid when its passage comes from a source or contains an answer."""
    chunk = citation.hit.chunk
    if chunk.doc_id in set(doc_ids):
        return True
    text = normalize(chunk.text)
    return any(normalize(a) and normalize(a) in text for a in answers)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile with linear interpolation (numpy's default); None when empty."""
    return float(np.percentile(values, q)) if len(values) else None


def _mean(values: Sequence[float | bool]) -> float | None:
    return sum(values) / len(values) if values else None


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a rate (95% by default); None when n is 0.

    Unlike the normal approximation it stays inside [0, 1] and is not zero-width at 0 or n:
    wilson(0, 10) is (0.0, 0.278), wilson(10, 10) is (0.722, 1.0).
    """
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # exact at the ends, where rounding would leave 0.9999999999999999
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class PairedChange:
    """One rate measured on the same questions in two runs, A and B.

    ``only_b`` and ``only_a`` count the questions whose flag holds in that run alone;
    ``delta`` is B's rate minus A's, with ``interval`` its 95% interval, and ``p`` the
    exact two-sided sign test (McNemar's) on the questions that changed.
    """

    n: int
    only_b: int
    only_a: int
    delta: float
    interval: tuple[float, float]
    p: float

    @property
    def real(self) -> bool:
        """Whether the interval leaves out 0: a change, not chance."""
        return self.interval[0] > 0 or self.interval[1] < 0


def paired_change(flags_a: Sequence[bool], flags_b: Sequence[bool]) -> PairedChange | None:
    """How a rate moved between two runs of the same questions (``flags_a[i]`` and
    ``flags_b[i]`` are question i's); None when there are no questions.

    Only the questions that changed carry information: given that m changed, the number
    that changed B's way is binomial, so its exact (Clopper-Pearson) interval, scaled by
    m / n, bounds the difference of the two rates. Two runs' own Wilson intervals overlap
    long after a paired difference is clear, while a few questions changing either way is
    chance. Of 116 questions, 9 right in B only and 1 in A only is +0.069 [+0.009,
    +0.086], p 0.02, a change; 7 and 4 is +0.026 [-0.036, +0.074], p 0.55, chance.
    """
    if len(flags_a) != len(flags_b):
        raise ValueError("paired_change needs one flag per question in each run")
    n = len(flags_a)
    if n == 0:
        return None
    only_b = sum(1 for a, b in zip(flags_a, flags_b) if b and not a)
    only_a = sum(1 for a, b in zip(flags_a, flags_b) if a and not b)
    changed = only_b + only_a
    if changed == 0:
        return PairedChange(n, 0, 0, 0.0, (0.0, 0.0), 1.0)
    from scipy.stats import binomtest  # lazy: only comparisons need scipy

    test = binomtest(only_b, changed)
    low, high = test.proportion_ci(confidence_level=0.95, method="exact")
    share = changed / n
    return PairedChange(
        n, only_b, only_a, (only_b - only_a) / n, (share * (2 * low - 1), share * (2 * high - 1)), float(test.pvalue)
    )


def _rate(totals: dict, key: str, flags: Sequence[bool]) -> None:
    """Store a rate and its Wilson interval (``<key>_ci``) from one flag per question."""
    totals[key] = _mean(flags)
    totals[f"{key}_ci"] = wilson(sum(flags), len(flags))


# -- per-question rows and totals --------------------------------------------------------


@dataclass(frozen=True)
class QuestionResult:
    """What happened to one question; a report's totals are computed from these alone.

    ``answer``, ``refused``, ``correct`` and ``f1`` are None in a retrieval-only run;
    ``correct`` and ``f1`` are also None for unanswerable questions.
    """

    id: str
    question: str
    lang: str
    kind: str
    answerable: bool
    answers: tuple[str, ...]
    sources: tuple[str, ...]
    resolved: tuple[str, ...]  # index doc ids the sources name
    source_missing: bool  # answerable, but none of its sources is indexed
    n_retrieved: int
    doc_rank: int | None
    answer_rank: int | None
    passages: tuple[dict, ...]  # the top retrieved passages: rank, doc_id, row, score, text
    split: str = "dev"
    scope: str = "article"  # article, paper, or none (unanswerable)
    answer: str | None = None
    refused: bool | None = None
    refusal_reason: str | None = None  # no_relevant_passages, model_declined, unsupported_answer
    unsupported: tuple[str, ...] = ()  # what the model wrote that no passage backs
    correct: bool | None = None
    f1: float | None = None
    n_citations: int = 0
    n_valid_citations: int = 0
    retrieve_s: float | None = None
    first_token_s: float | None = None
    first_shown_s: float | None = None  # the first checked sentence on screen
    total_s: float | None = None
    prompt_tokens: int | None = None
    read_tokens: int | None = None  # of the prompt's, those not held from the call before (what the wait pays for)
    tokens: int | None = None
    tokens_per_s: float | None = None
    standalone: str | None = None  # the follow-up as rewritten for retrieval and the prompt
    replies: tuple[str, ...] = ()  # the model's raw replies, attempt by attempt (see bench/quirks.py)
    reply_probs: tuple[tuple[float, ...], ...] = ()  # each reply's token probabilities, where known


def _read_tokens(timings: Mapping[str, Any]) -> int | None:
    """Prompt tokens the model read for this answer: the prompt less the prefix it still held."""
    if timings.get("prompt_tokens") is None:
        return None
    return timings["prompt_tokens"] - (timings.get("reused_tokens") or 0)


def score_question(
    question: Question, resolved: Sequence[str], hits: Sequence[Hit], answer: Answer | None, timings: Mapping[str, Any]
) -> QuestionResult:
    """Score one question from its retrieved hits and (unless retrieval-only) its answer."""
    answers = question.answers
    row = dict(
        id=question.id,
        question=question.question,
        lang=question.lang,
        kind=question.kind,
        answerable=question.answerable,
        split=question.split,
        scope=question.scope,
        answers=answers,
        sources=question.sources,
        resolved=tuple(resolved),
        source_missing=question.answerable and not resolved,
        n_retrieved=len(hits),
        doc_rank=source_rank(hits, resolved) if resolved else None,
        answer_rank=answer_rank(hits, answers) if answers else None,
        passages=tuple(
            {"rank": rank, "doc_id": h.chunk.doc_id, "row": h.row, "score": h.score, "text": h.chunk.text[:200]}
            for rank, h in enumerate(hits[:PASSAGES_KEPT], start=1)
        ),
        retrieve_s=timings.get("retrieve_s"),
        first_token_s=timings.get("first_token_s"),
        first_shown_s=timings.get("first_shown_s"),
        total_s=timings.get("total_s"),
        prompt_tokens=timings.get("prompt_tokens"),
        read_tokens=_read_tokens(timings),
        tokens=timings.get("tokens"),
        tokens_per_s=timings.get("tokens_per_s"),
    )
    if answer is not None:
        valid = sum(citation_valid(c, resolved, answers) for c in answer.citations)
        row.update(
            answer=answer.text,
            refused=answer.refused,
            refusal_reason=answer.refusal_reason,
            unsupported=tuple(answer.unsupported),
            correct=(
                answer_correct(answer.text, answers, question.items, question.min_items) and not answer.refused
                if question.answerable else None
            ),
            f1=token_f1(answer.text, answers) if question.answerable else None,
            n_citations=len(answer.citations),
            n_valid_citations=valid,
            standalone=answer.standalone_question,
            replies=tuple(answer.replies),
            reply_probs=tuple(tuple(round(p, 4) for p in probs) for probs in answer.reply_probs),
        )
    return QuestionResult(**row)


def is_scored(row: QuestionResult) -> bool:
    """An answerable question whose sources are indexed: what retrieval and answer rates cover."""
    return row.answerable and not row.source_missing


def is_right(row: QuestionResult) -> bool:
    """An answerable question answered correctly, or an unanswerable one refused."""
    return bool(row.correct) if row.answerable else bool(row.refused)


def summarize(rows: Sequence[QuestionResult], *, depth: int | None = None) -> dict:
    """Totals over rows. Rates are shares in [0, 1]; None where nothing was measurable.

    Retrieval and answer rates cover answerable questions whose sources are indexed;
    refusal accuracy covers unanswerable ones; latencies cover every question. hit@k is
    None when k exceeds ``depth``, the most passages any question retrieved (default:
    computed from ``rows``; a breakdown passes the whole run's).
    """
    scored = [r for r in rows if is_scored(r)]
    unanswerable = [r for r in rows if not r.answerable]
    full = any(r.refused is not None for r in rows)
    if depth is None:
        depth = max((r.n_retrieved for r in rows), default=0)
    totals: dict[str, Any] = {
        "questions": len(rows),
        "answerable": sum(r.answerable for r in rows),
        "unanswerable": len(unanswerable),
        "scored": len(scored),
        "source_missing": sum(r.source_missing for r in rows),
        "retrieval_depth": depth,
    }
    for k in HIT_KS:
        if k <= depth:
            _rate(totals, f"hit@{k}", [hit_at(r.doc_rank, k) for r in scored])
        else:
            totals[f"hit@{k}"] = totals[f"hit@{k}_ci"] = None
    for k in HIT_KS:
        if k <= depth:
            _rate(totals, f"answer_hit@{k}", [hit_at(r.answer_rank, k) for r in scored])
        else:
            totals[f"answer_hit@{k}"] = totals[f"answer_hit@{k}_ci"] = None
    totals["mrr"] = _mean([reciprocal_rank(r.doc_rank) for r in scored])
    rates = ("accuracy", "answers_with_valid_citation", "refusal_accuracy", "false_refusal_rate", "citation_precision")
    totals.update({key: None for key in rates}, **{f"{key}_ci": None for key in rates}, f1=None)
    if full:
        answered = [r for r in scored if not r.refused]
        _rate(totals, "accuracy", [bool(r.correct) for r in scored])
        totals["f1"] = _mean([r.f1 or 0.0 for r in scored])
        # each citation counts once: valid ones are successes
        valid = [True] * sum(r.n_valid_citations for r in answered)
        _rate(totals, "citation_precision", valid + [False] * (sum(r.n_citations for r in answered) - len(valid)))
        _rate(totals, "answers_with_valid_citation", [r.n_valid_citations > 0 for r in answered])
        _rate(totals, "refusal_accuracy", [bool(r.refused) for r in unanswerable])
        _rate(totals, "false_refusal_rate", [bool(r.refused) for r in scored])
    for key in ("retrieve_s", "first_token_s", "first_shown_s", "total_s", "prompt_tokens", "read_tokens", "tokens_per_s"):
        values = [getattr(r, key) for r in rows if getattr(r, key) is not None]
        totals[f"{key}_p50"] = percentile(values, 50)
        totals[f"{key}_p95"] = percentile(values, 95)
    return totals


def grouped(rows: Sequence[QuestionResult], key: str) -> dict[str, dict]:
    groups: dict[str, list[QuestionResult]] = {}
    for row in rows:
        groups.setdefault(getattr(row, key), []).append(row)
    depth = max((r.n_retrieved for r in rows), default=0)
    return {name: summarize(group, depth=depth) for name, group in sorted(groups.items())}


