"""Offline evaluation: the question set, the metrics, running a set through the assistant,
and writing and comparing reports.

The question set is JSON Lines, one question per line::

    {"id": "zh-01", "question": "GPT-3 的参数规模有多大?", "lang": "zh",
     "answers": ["1750 亿", "175B"], "sources": ["llm-development-resources"],
     "answerable": true, "kind": "number"}

``answers`` are accepted answer strings; a reply is correct when, after ``normalize``, it
contains any of them. ``sources`` name the documents that hold the answer, by corpus id,
by original or indexed file name, or by arXiv id. Unanswerable questions have
``answerable: false`` and no answers or sources. A follow-up question carries the earlier
conversation as ``history`` (a list of ``[user, assistant]`` pairs) and may name the
question it continues in ``follows``; when ``history`` is absent it is built from that
question (its own history, then its text and first accepted answer), so a follow-up is
always asked after the same scripted conversation and one wrong answer does not spoil the
next. Unknown fields are ignored.

Metrics are pure functions of strings and hits, so each can be checked by hand. Totals in a
report are always recomputed from its per-question rows (``summarize``). Questions whose
sources are not in the index (a paper that was not indexed, say) are counted as
``source_missing`` and left out of every rate instead of counting as failures.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import subprocess
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from rag.types import Answer, Citation, Hit, RagError

log = logging.getLogger(__name__)

LANGS = ("zh", "en")
HIT_KS = (1, 3, 5, 10)
RETRIEVAL_TOP_K = 10  # depth of the retrieval-only pass, so hit@10 is measurable
WORST_N = 10
PASSAGES_KEPT = 3  # top passages stored per question, shown for the worst questions


class QuestionSetError(RagError):
    """The question set file is missing or malformed; the message names the line."""


class ReportError(RagError):
    """A report directory can't be read (missing or unreadable report.json)."""


# -- the question set -------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """One test question. ``history`` is the conversation before it (follow-ups only)."""

    id: str
    question: str
    lang: str
    answers: tuple[str, ...]
    sources: tuple[str, ...]
    answerable: bool
    kind: str
    history: tuple[tuple[str, str], ...] = ()
    follows: str | None = None


def _describe(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _string_list(record: dict, name: str) -> tuple[str, ...]:
    value = record[name]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"field '{name}' must be a list of strings, got {_describe(value)}")
    return tuple(value)


def _parse_question(record: Any) -> Question:
    """Check one decoded line; raises ValueError saying what is wrong (no line number)."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    for name in ("id", "question", "lang", "answers", "sources", "answerable", "kind"):
        if name not in record:
            raise ValueError(f"missing field '{name}'")
    for name in ("id", "question", "kind"):
        if not isinstance(record[name], str) or not record[name].strip():
            raise ValueError(f"field '{name}' must be a non-empty string, got {_describe(record[name])}")
    if record["lang"] not in LANGS:
        raise ValueError(f"field 'lang' must be \"zh\" or \"en\", got {_describe(record['lang'])}")
    if not isinstance(record["answerable"], bool):
        raise ValueError(f"field 'answerable' must be true or false, got {_describe(record['answerable'])}")
    answers = _string_list(record, "answers")
    sources = _string_list(record, "sources")
    for answer in answers:
        if not normalize(answer):
            raise ValueError(f"answer {_describe(answer)} is empty once punctuation and spaces are removed")
    if record["answerable"] and (not answers or not sources):
        raise ValueError("an answerable question needs at least one answer and one source")
    if not record["answerable"] and (answers or sources):
        raise ValueError("an unanswerable question must have empty 'answers' and 'sources'")
    history = record.get("history", [])
    if not isinstance(history, list) or not all(
        isinstance(turn, list) and len(turn) == 2 and all(isinstance(t, str) for t in turn) for turn in history
    ):
        raise ValueError(f"field 'history' must be a list of [user, assistant] string pairs, got {_describe(history)}")
    follows = record.get("follows")
    if follows is not None and (not isinstance(follows, str) or not follows):
        raise ValueError(f"field 'follows' must be a question id, got {_describe(follows)}")
    return Question(
        id=record["id"],
        question=record["question"],
        lang=record["lang"],
        answers=answers,
        sources=sources,
        answerable=record["answerable"],
        kind=record["kind"],
        history=tuple((user, assistant) for user, assistant in history),
        follows=follows,
    )


def load_questions(path: Path | str) -> list[Question]:
    """Read and check a question set (JSON Lines; blank lines are skipped).

    Raises ``QuestionSetError("questions.jsonl line 7: <what is wrong>")`` for the first
    malformed line: invalid JSON, a missing or mistyped field, a duplicate id, or a
    ``follows`` that names no earlier question.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise QuestionSetError(f"question set not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionSetError(f"can't read question set {path}: {exc}") from exc
    questions: list[Question] = []
    by_id: dict[str, tuple[int, Question]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionSetError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        try:
            question = _parse_question(record)
        except ValueError as exc:
            raise QuestionSetError(f"{where}: {exc}") from None
        if question.id in by_id:
            raise QuestionSetError(f"{where}: duplicate id {_describe(question.id)} (first used on line {by_id[question.id][0]})")
        if question.follows is not None:
            if question.follows not in by_id:
                raise QuestionSetError(f"{where}: 'follows' names {_describe(question.follows)}, which is not an earlier question")
            if not question.history:
                earlier = by_id[question.follows][1]
                turn = (earlier.question, earlier.answers[0] if earlier.answers else "")
                question = dataclasses.replace(question, history=earlier.history + (turn,))
        by_id[question.id] = (number, question)
        questions.append(question)
    return questions


class SourceResolver:
    """Maps the names a question uses for its sources to index document ids.

    ``documents`` is the index's ``doc_id -> metadata`` mapping; a source matches a
    document by its id, its ``origin`` (the file name recorded in the corpus manifest), its
    ``source`` path or that path's file name, or its arXiv id (with or without a version).
    """

    def __init__(self, documents: Mapping[str, Mapping[str, Any]]):
        self._names: dict[str, set[str]] = {}
        for doc_id, meta in documents.items():
            names = {doc_id}
            for key in ("origin", "source"):
                value = meta.get(key)
                if value:
                    names.update({str(value), Path(str(value)).name})
            if meta.get("arxiv_id"):
                names.add(_strip_arxiv_version(str(meta["arxiv_id"])))
            for name in names:
                self._names.setdefault(name, set()).add(doc_id)

    def resolve(self, sources: Iterable[str]) -> tuple[str, ...]:
        """Sorted ids of the indexed documents the sources name (empty when none is indexed)."""
        found: set[str] = set()
        for source in sources:
            found |= self._names.get(source, set()) | self._names.get(_strip_arxiv_version(source), set())
        return tuple(sorted(found))


def _strip_arxiv_version(name: str) -> str:
    return re.sub(r"^(\d{4}\.\d{4,5})v\d+$", r"\1", name)


# -- metrics ------------------------------------------------------------------------------

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")


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


def answer_correct(prediction: str, answers: Sequence[str]) -> bool:
    """True when the normalised prediction contains any normalised accepted answer."""
    haystack = normalize(prediction)
    return any(normalize(a) and normalize(a) in haystack for a in answers)


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
    total_s: float | None = None
    tokens: int | None = None
    tokens_per_s: float | None = None


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
        total_s=timings.get("total_s"),
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
            correct=answer_correct(answer.text, answers) and not answer.refused if question.answerable else None,
            f1=token_f1(answer.text, answers) if question.answerable else None,
            n_citations=len(answer.citations),
            n_valid_citations=valid,
        )
    return QuestionResult(**row)


def summarize(rows: Sequence[QuestionResult], *, depth: int | None = None) -> dict:
    """Totals over rows. Rates are shares in [0, 1]; None where nothing was measurable.

    Retrieval and answer rates cover answerable questions whose sources are indexed;
    refusal accuracy covers unanswerable ones; latencies cover every question. hit@k is
    None when k exceeds ``depth``, the most passages any question retrieved (default:
    computed from ``rows``; a breakdown passes the whole run's).
    """
    scored = [r for r in rows if r.answerable and not r.source_missing]
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
        totals[f"hit@{k}"] = _mean([hit_at(r.doc_rank, k) for r in scored]) if k <= depth else None
    for k in HIT_KS:
        totals[f"answer_hit@{k}"] = _mean([hit_at(r.answer_rank, k) for r in scored]) if k <= depth else None
    totals["mrr"] = _mean([reciprocal_rank(r.doc_rank) for r in scored])
    answered = [r for r in scored if full and not r.refused]
    cited = sum(r.n_citations for r in answered)
    totals.update(
        accuracy=_mean([bool(r.correct) for r in scored]) if full else None,
        f1=_mean([r.f1 or 0.0 for r in scored]) if full else None,
        citation_precision=sum(r.n_valid_citations for r in answered) / cited if cited else None,
        answers_with_valid_citation=_mean([r.n_valid_citations > 0 for r in answered]) if full else None,
        refusal_accuracy=_mean([bool(r.refused) for r in unanswerable]) if full else None,
        false_refusal_rate=_mean([bool(r.refused) for r in scored]) if full else None,
    )
    for key in ("retrieve_s", "first_token_s", "total_s", "tokens_per_s"):
        values = [getattr(r, key) for r in rows if getattr(r, key) is not None]
        totals[f"{key}_p50"] = percentile(values, 50)
        totals[f"{key}_p95"] = percentile(values, 95)
    return totals


def _grouped(rows: Sequence[QuestionResult], key: str) -> dict[str, dict]:
    groups: dict[str, list[QuestionResult]] = {}
    for row in rows:
        groups.setdefault(getattr(row, key), []).append(row)
    depth = max((r.n_retrieved for r in rows), default=0)
    return {name: summarize(group, depth=depth) for name, group in sorted(groups.items())}


# -- running a question set -----------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """A finished evaluation: rows, totals computed from them, and what was run."""

    rows: tuple[QuestionResult, ...]
    totals: dict
    by_lang: dict
    by_kind: dict
    meta: dict
    out_dir: Path

    @classmethod
    def from_rows(cls, rows: Sequence[QuestionResult], meta: dict, out_dir: Path) -> "Report":
        """Build a report whose totals are recomputed from ``rows``."""
        rows = tuple(rows)
        return cls(rows, summarize(rows), _grouped(rows, "lang"), _grouped(rows, "kind"), meta, Path(out_dir))


def git_commit(directory: Path | None = None) -> str:
    """``git rev-parse HEAD`` of the directory (default: this project), or "unknown"."""
    directory = directory or Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, check=False, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("git rev-parse failed: %s", exc)
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"


def index_summary(index) -> dict:
    """The manifest facts a reader needs to reproduce a run: embedder, chunker, counts, build time."""
    manifest = getattr(index, "manifest", {}) or {}
    summary = {key: manifest[key] for key in ("format_version", "embedder", "chunker", "built_at") if key in manifest}
    summary["counts"] = manifest.get("counts") or {
        "documents": len(index.documents),
        "chunks": len(getattr(index, "chunks", ())),
    }
    return summary


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_eval(
    assistant,
    questions: Sequence[Question] | Path | str,
    *,
    out_dir: Path | str,
    retrieval_only: bool = False,
    top_k: int | None = None,
    settings: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> Report:
    """Run a question set through ``assistant`` and write report.json, report.md and a chart.

    ``questions`` is a loaded set or the path of one (a path is recorded with its sha256).
    Retrieval-only runs call ``assistant.retriever.search(question, top_k or 10)`` and no
    model; full runs call ``assistant.ask(question, history)`` (passing ``top_k`` when
    given), follow-ups with their scripted history (a retrieval-only run searches a
    follow-up as typed: rewriting it needs the model). The assistant must expose ``.index``
    (documents and manifest), ``.retriever`` and ``.info()``.
    """
    path = Path(questions) if isinstance(questions, (str, Path)) else None
    question_list = load_questions(path) if path is not None else list(questions)
    index = getattr(assistant, "index", None)
    if index is None:
        raise RagError("the assistant has no index: evaluation needs its documents to resolve sources")
    resolver = SourceResolver(index.documents)
    depth = top_k or RETRIEVAL_TOP_K
    out_dir = Path(out_dir)

    rows = []
    mode = "retrieval" if retrieval_only else "full"
    for question in tqdm(question_list, desc=f"eval ({mode})", unit="question", disable=not progress):
        resolved = resolver.resolve(question.sources)
        if retrieval_only:
            started = time.perf_counter()
            hits = assistant.retriever.search(question.question, depth)
            rows.append(score_question(question, resolved, hits, None, {"retrieve_s": time.perf_counter() - started}))
        else:
            options = {"top_k": top_k} if top_k else {}
            answer = assistant.ask(question.question, question.history, **options)
            rows.append(score_question(question, resolved, answer.retrieved, answer, answer.timings))

    meta = {
        "mode": mode,
        "top_k": depth if retrieval_only else top_k,
        "settings": dict(settings or {}),
        "model": assistant.info(),
        "index": index_summary(index),
        "git_commit": git_commit(),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "questions": {
            "path": str(path) if path is not None else None,
            "sha256": _file_sha256(path) if path is not None else None,
            "count": len(question_list),
        },
    }
    report = Report.from_rows(rows, meta, out_dir)
    write_report(report)
    log.info("evaluation report written to %s", out_dir)
    return report


# -- writing and reading reports ----------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        return _fmt(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


_GROUP_COLUMNS = ("questions", "scored", "accuracy", "f1", "hit@1", "hit@5", "mrr",
                  "refusal_accuracy", "false_refusal_rate", "retrieve_s_p50", "total_s_p50")


def worst_rows(rows: Sequence[QuestionResult], n: int = WORST_N) -> list[QuestionResult]:
    """The n worst scored questions: failures first, then by reciprocal rank, then F1."""

    def ok(row: QuestionResult) -> bool:
        if row.refused is None:  # retrieval-only: did a source passage come back at all?
            return row.doc_rank is not None
        return bool(row.correct) if row.answerable else bool(row.refused)

    candidates = [r for r in rows if not r.source_missing and (r.answerable or r.refused is not None)]
    return sorted(candidates, key=lambda r: (ok(r), reciprocal_rank(r.doc_rank), r.f1 or 0.0, r.id))[:n]


def render_markdown(report: Report) -> str:
    """The human-readable report: what was run, totals, breakdowns and the worst questions."""
    meta, totals = report.meta, report.totals
    model = meta.get("model", {})
    lines = [
        f"# Evaluation report ({meta.get('mode')})",
        "",
        f"- time: {meta.get('timestamp')}  commit: `{meta.get('git_commit')}`",
        f"- model: {_describe(model.get('model', model))}  embedder: {model.get('embedder')}",
        f"- index: {_describe(meta.get('index', {}))}",
        f"- questions: {meta['questions'].get('path')} ({meta['questions'].get('count')} questions, "
        f"sha256 {meta['questions'].get('sha256')})",
        f"- settings: {_describe(meta.get('settings', {}))}",
        "",
        "## Totals",
        "",
        *_table(("metric", "value"), totals.items()),
        "",
    ]
    missing = [r.id for r in report.rows if r.source_missing]
    if missing:
        lines += [f"Not scored, sources not in the index: {', '.join(missing)}", ""]
    for title, groups in (("By language", report.by_lang), ("By kind", report.by_kind)):
        lines += [f"## {title}", "", *_table(("group", *_GROUP_COLUMNS),
                                              ((name, *(g.get(c) for c in _GROUP_COLUMNS)) for name, g in groups.items())), ""]
    lines += ["## Worst questions", ""]
    for row in worst_rows(report.rows):
        refused = f"{_fmt(row.refused)} ({row.refusal_reason})" if row.refusal_reason else _fmt(row.refused)
        verdict = (f"correct={_fmt(row.correct)} refused={refused} f1={_fmt(row.f1)}"
                   if row.refused is not None else "retrieval only")
        lines += [
            f"### {row.id} ({row.lang}, {row.kind}): {row.question}",
            "",
            f"- accepted answers: {_describe(list(row.answers))}; sources: {_describe(list(row.sources))}",
            f"- {verdict}; source rank {_fmt(row.doc_rank)}, answer-in-passage rank {_fmt(row.answer_rank)}",
        ]
        if row.answer is not None:
            lines.append(f"- answer: {row.answer.strip()[:300]}")
        lines += [f"- [{p['rank']}] `{p['doc_id']}` ({p['score']:.3f}): {p['text'][:160]}".replace("\n", " ")
                  for p in row.passages]
        lines.append("")
    return "\n".join(lines)


def write_chart(report: Report, path: Path) -> Path:
    """A PNG with accuracy (or hit rate) and total latency per question kind."""
    from matplotlib.figure import Figure  # lazy: matplotlib costs ~0.5 s to import

    kinds = list(report.by_kind)
    groups = [report.by_kind[k] for k in kinds]
    depth = report.totals["retrieval_depth"]
    hit_key = f"hit@{max((k for k in HIT_KS if k <= depth), default=1)}"
    def column(key: str) -> list[float]:
        return [np.nan if g.get(key) is None else g[key] for g in groups]  # nan: no bar, not a zero

    series = [(hit_key, column(hit_key))]
    if report.meta.get("mode") == "full":
        series.insert(0, ("accuracy", column("accuracy")))
        series.append(("refusal accuracy", column("refusal_accuracy")))

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    left, right = figure.subplots(1, 2)
    positions = np.arange(len(kinds))
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series):
        left.bar(positions + i * width, values, width, label=label)
    left.set_xticks(positions + width * (len(series) - 1) / 2, kinds, rotation=30, ha="right")
    left.set_ylim(0, 1)
    left.set_title("quality by kind")
    left.legend(fontsize="small")
    latency_key = "total_s" if report.meta.get("mode") == "full" else "retrieve_s"
    right.bar(positions, column(f"{latency_key}_p50"), 0.6, label="p50")
    right.plot(positions, column(f"{latency_key}_p95"), "o", color="black", label="p95")
    right.set_xticks(positions, kinds, rotation=30, ha="right")
    right.set_ylabel("seconds")
    right.set_title(f"{latency_key} by kind")
    right.legend(fontsize="small")
    figure.savefig(path, dpi=100)
    return path


def write_report(report: Report) -> None:
    """Write report.json, report.md and by_kind.png into the report's directory."""
    out = report.out_dir
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "meta": report.meta,
        "totals": report.totals,
        "by_lang": report.by_lang,
        "by_kind": report.by_kind,
        "rows": [dataclasses.asdict(r) for r in report.rows],
    }
    (out / "report.json").write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    write_chart(report, out / "by_kind.png")


def load_report(directory: Path | str) -> Report:
    """Read a report written by ``run_eval``; totals are recomputed from its rows."""
    directory = Path(directory)
    path = directory / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"no report.json in {directory}: run `rag eval` first") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"can't read {path}: {exc}") from exc
    names = {f.name for f in dataclasses.fields(QuestionResult)}
    tuples = {"answers", "sources", "resolved", "passages", "unsupported"}
    rows = [
        QuestionResult(**{k: tuple(v) if k in tuples else v for k, v in row.items() if k in names})
        for row in data.get("rows", [])
    ]
    return Report.from_rows(rows, data.get("meta", {}), directory)


def _changes(a: QuestionResult, b: QuestionResult) -> list[str]:
    changes = []
    if a.correct is not None and b.correct is not None and a.correct != b.correct:
        changes.append("wrong -> correct" if b.correct else "correct -> wrong")
    if a.refused is not None and b.refused is not None and a.refused != b.refused:
        changes.append("answered -> refused" if b.refused else "refused -> answered")
    for label, ra, rb in (("source", a.doc_rank, b.doc_rank), ("answer-in-passage", a.answer_rank, b.answer_rank)):
        moved = [k for k in HIT_KS if hit_at(ra, k) != hit_at(rb, k)]
        if moved:
            changes.append(f"{label} rank {_fmt(ra)} -> {_fmt(rb)} (hit@{moved[0]} {_fmt(hit_at(ra, moved[0]))} -> "
                           f"{_fmt(hit_at(rb, moved[0]))})")
    if a.source_missing != b.source_missing:
        changes.append("sources now missing from the index" if b.source_missing else "sources now indexed")
    return changes


def compare(report_a_dir: Path | str, report_b_dir: Path | str) -> str:
    """Totals of two reports side by side with deltas, then every question whose result changed."""
    a, b = load_report(report_a_dir), load_report(report_b_dir)
    lines = [
        f"A: {a.out_dir} ({a.meta.get('mode')}, {a.meta.get('timestamp')}, commit {a.meta.get('git_commit')})",
        f"B: {b.out_dir} ({b.meta.get('mode')}, {b.meta.get('timestamp')}, commit {b.meta.get('git_commit')})",
    ]
    settings_a, settings_b = a.meta.get("settings", {}), b.meta.get("settings", {})
    changed_settings = [k for k in sorted(set(settings_a) | set(settings_b)) if settings_a.get(k) != settings_b.get(k)]
    for key in changed_settings:
        lines.append(f"setting {key}: {_describe(settings_a.get(key))} -> {_describe(settings_b.get(key))}")
    if a.meta.get("questions", {}).get("sha256") != b.meta.get("questions", {}).get("sha256"):
        lines.append("note: the question sets differ")
    if a.meta.get("mode") != b.meta.get("mode"):
        lines.append(f"note: comparing a {a.meta.get('mode')} run with a {b.meta.get('mode')} run")

    def delta(x: Any, y: Any) -> str:
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
            return f"{y - x:+.3f}" if isinstance(x, float) or isinstance(y, float) else f"{y - x:+d}"
        return ""

    keys = list(a.totals) + [k for k in b.totals if k not in a.totals]
    lines += ["", *_table(("metric", "A", "B", "delta"),
                         ((k, a.totals.get(k), b.totals.get(k), delta(a.totals.get(k), b.totals.get(k))) for k in keys))]

    rows_a = {r.id: r for r in a.rows}
    rows_b = {r.id: r for r in b.rows}
    changed = []
    for qid in list(rows_a) + [q for q in rows_b if q not in rows_a]:
        if qid not in rows_b:
            changed.append(f"- {qid}: only in A")
        elif qid not in rows_a:
            changed.append(f"- {qid}: only in B")
        else:
            changes = _changes(rows_a[qid], rows_b[qid])
            if changes:
                row = rows_b[qid]
                changed.append(f"- {qid} ({row.lang}, {row.kind}) {row.question}: {'; '.join(changes)}")
    lines += ["", f"Changed questions: {len(changed)}", *changed]
    return "\n".join(lines)
