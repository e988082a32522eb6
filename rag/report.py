"""Evaluation reports: writing report.json, report.md and a chart, reading them back, and
comparing two runs question by question."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.metrics import (
    HIT_KS, QuestionResult, grouped, hit_at, is_right, is_scored, paired_change, reciprocal_rank, summarize,
)
from rag.types import RagError

WORST_N = 10
ANSWER_SHOWN = 240  # characters of each answer shown side by side in a comparison
GROUPS = (("By language", "lang"), ("By kind", "kind"), ("By scope", "scope"))


class ReportError(RagError):
    """A report directory can't be read (missing or unreadable report.json)."""


def inert(text: str) -> str:
    """Untrusted text (questions, answers, passages) made inert in a Markdown report: no
    image, link or HTML tag can come out of it in a viewer, the words read the same."""
    return text.replace("\\", "\\\\").replace("<", "&lt;").replace("[", "\\[").replace("]", "\\]")


def _describe(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Report:
    """A finished evaluation: rows, totals computed from them, and what was run."""

    rows: tuple[QuestionResult, ...]
    totals: dict
    groups: dict  # field name (lang, kind, scope) -> group value -> totals
    meta: dict
    out_dir: Path

    @classmethod
    def from_rows(cls, rows: Sequence[QuestionResult], meta: dict, out_dir: Path) -> "Report":
        """Build a report whose totals are recomputed from ``rows``."""
        rows = tuple(rows)
        groups = {field: grouped(rows, field) for _, field in GROUPS}
        return cls(rows, summarize(rows), groups, meta, Path(out_dir))

    @property
    def by_kind(self) -> dict:
        return self.groups["kind"]

    @property
    def by_lang(self) -> dict:
        return self.groups["lang"]


# -- writing and reading reports ----------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"[{value[0]:.2f}, {value[1]:.2f}]"
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


_GROUP_COLUMNS = ("questions", "scored", "accuracy", "hit@5", "answer_hit@5", "mrr",
                  "refusal_accuracy", "false_refusal_rate", "citation_precision", "first_token_s_p50", "total_s_p50")


def with_interval(totals: dict, key: str) -> str:
    """A rate and its 95% interval, e.g. "0.620 [0.54, 0.70]"; just the value when it has none."""
    value, interval = totals.get(key), totals.get(f"{key}_ci")
    return f"{_fmt(value)} {_fmt(interval)}" if interval is not None and value is not None else _fmt(value)


def totals_rows(totals: dict) -> list[tuple[str, str]]:
    """(metric, value) rows with each rate's interval beside it, intervals not listed twice."""
    return [(key, with_interval(totals, key)) for key in totals if not key.endswith("_ci")]


def worst_rows(rows: Sequence[QuestionResult], n: int = WORST_N) -> list[QuestionResult]:
    """The n worst scored questions: failures first, then by reciprocal rank, then F1."""

    def ok(row: QuestionResult) -> bool:
        if row.refused is None:  # retrieval-only: did a source passage come back at all?
            return row.doc_rank is not None
        return is_right(row)

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
        f"- split: {meta.get('split', 'all')}; wall time {_fmt(meta.get('elapsed_s'))} s",
        "- rates are shown with their 95% Wilson interval [low, high]: two runs whose intervals overlap"
        " widely may differ by chance alone; use `rag eval --compare` to see which questions flipped.",
        "",
        "## Totals",
        "",
        *_table(("metric", "value"), totals_rows(totals)),
        "",
    ]
    missing = [r.id for r in report.rows if r.source_missing]
    if missing:
        lines += [f"Not scored, sources not in the index: {', '.join(missing)}", ""]
    for title, field in GROUPS:
        groups = report.groups[field]
        lines += [f"## {title}", "", *_table(("group", *_GROUP_COLUMNS),
                                              ((name, *(with_interval(g, c) for c in _GROUP_COLUMNS))
                                               for name, g in groups.items())), ""]
    lines += ["## Worst questions", ""]
    for row in worst_rows(report.rows):
        refused = f"{_fmt(row.refused)} ({row.refusal_reason})" if row.refusal_reason else _fmt(row.refused)
        verdict = (f"correct={_fmt(row.correct)} refused={refused} f1={_fmt(row.f1)}"
                   if row.refused is not None else "retrieval only")
        lines += [
            f"### {row.id} ({row.lang}, {row.kind}): {inert(row.question)}",
            "",
            f"- accepted answers: {_describe(list(row.answers))}; sources: {_describe(list(row.sources))}",
            f"- {verdict}; source rank {_fmt(row.doc_rank)}, answer-in-passage rank {_fmt(row.answer_rank)}",
        ]
        if row.answer is not None:
            lines.append(f"- answer: {inert(row.answer.strip()[:300])}")
        lines += [f"- [{p['rank']}] `{p['doc_id']}` ({p['score']:.3f}): {inert(p['text'][:160])}".replace("\n", " ")
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
        "groups": report.groups,
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
    tuples = {"answers", "sources", "resolved", "passages", "unsupported", "replies"}

    def value(key: str, v: Any) -> Any:
        if key == "reply_probs":
            return tuple(tuple(probs) for probs in v)
        return tuple(v) if key in tuples else v

    rows = [QuestionResult(**{k: value(k, v) for k, v in row.items() if k in names}) for row in data.get("rows", [])]
    return Report.from_rows(rows, data.get("meta", {}), directory)


FLIPS = (
    ("Now correct (wrong -> correct)", lambda a, b: a.correct is False and b.correct is True),
    ("Now wrong (correct -> wrong)", lambda a, b: a.correct is True and b.correct is False),
    ("Now refused (answered -> refused)", lambda a, b: a.refused is False and b.refused is True),
    ("Now answered (refused -> answered)", lambda a, b: a.refused is True and b.refused is False),
)


def _retrieval_changes(a: QuestionResult, b: QuestionResult) -> list[str]:
    changes = []
    for label, ra, rb in (("source", a.doc_rank, b.doc_rank), ("answer-in-passage", a.answer_rank, b.answer_rank)):
        moved = [k for k in HIT_KS if hit_at(ra, k) != hit_at(rb, k)]
        if moved:
            changes.append(f"{label} rank {_fmt(ra)} -> {_fmt(rb)} (hit@{moved[0]} {_fmt(hit_at(ra, moved[0]))} -> "
                           f"{_fmt(hit_at(rb, moved[0]))})")
    if a.source_missing != b.source_missing:
        changes.append("sources now missing from the index" if b.source_missing else "sources now indexed")
    return changes


def _shown_answer(row: QuestionResult) -> str:
    text = " ".join((row.answer or "").split())
    text = inert(text[:ANSWER_SHOWN]) + ("…" if len(text) > ANSWER_SHOWN else "")
    return f"{text} (refused: {row.refusal_reason})" if row.refused else text


def _flip_section(title: str, pairs: list[tuple[QuestionResult, QuestionResult]]) -> list[str]:
    """One direction of flips: each question with the two answers side by side."""
    lines = [f"## {title}: {len(pairs)}", ""]
    for a, b in pairs:
        lines += [f"### {b.id} ({b.lang}, {b.kind}): {inert(b.question)}", "",
                  f"accepted: {_describe(list(b.answers))}", "",
                  *_table(("A", "B"), [(_shown_answer(a), _shown_answer(b))]), ""]
    return lines


def _header(a: Report, b: Report) -> list[str]:
    lines = [
        f"A: {a.out_dir} ({a.meta.get('mode')}, split {a.meta.get('split', 'all')}, {a.meta.get('timestamp')}, "
        f"commit {a.meta.get('git_commit')})",
        f"B: {b.out_dir} ({b.meta.get('mode')}, split {b.meta.get('split', 'all')}, {b.meta.get('timestamp')}, "
        f"commit {b.meta.get('git_commit')})",
    ]
    settings_a, settings_b = a.meta.get("settings", {}), b.meta.get("settings", {})
    for key in sorted(set(settings_a) | set(settings_b)):
        if settings_a.get(key) != settings_b.get(key):
            lines.append(f"setting {key}: {_describe(settings_a.get(key))} -> {_describe(settings_b.get(key))}")
    if a.meta.get("questions", {}).get("sha256") != b.meta.get("questions", {}).get("sha256"):
        lines.append("note: the question sets differ")
    if a.meta.get("mode") != b.meta.get("mode"):
        lines.append(f"note: comparing a {a.meta.get('mode')} run with a {b.meta.get('mode')} run")
    return lines


def _delta(x: Any, y: Any) -> str:
    if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
        return f"{y - x:+.3f}" if isinstance(x, float) or isinstance(y, float) else f"{y - x:+d}"
    return ""


# Rates compared question by question: (name, whether a question counts, its flag).
_PAIRED = (
    ("accuracy", "answerable", lambda r: bool(r.correct)),
    ("false_refusal_rate", "answerable", lambda r: bool(r.refused)),
    ("refusal_accuracy", "unanswerable", lambda r: bool(r.refused)),
    ("answer_hit@5", "answerable", lambda r: hit_at(r.answer_rank, 5)),
    ("hit@5", "answerable", lambda r: hit_at(r.doc_rank, 5)),
)


def _paired_section(a: Report, b: Report, both: list[tuple[QuestionResult, QuestionResult]]) -> list[str]:
    """Each rate both runs measured, compared on the questions they share."""
    groups = {
        "answerable": [(x, y) for x, y in both if is_scored(x) and is_scored(y)],
        "unanswerable": [(x, y) for x, y in both if not x.answerable and not y.answerable],
    }
    rows = []
    for name, group, flag in _PAIRED:
        pairs = groups[group]
        if a.totals.get(name) is None or b.totals.get(name) is None or not pairs:
            continue
        change = paired_change([flag(x) for x, _ in pairs], [flag(y) for _, y in pairs])
        if not (change.only_a or change.only_b):
            verdict = "no change"
        else:
            verdict = ("B higher" if change.delta > 0 else "B lower") if change.real else "inside the interval"
        low, high = change.interval
        rows.append((name, change.n, change.only_b, change.only_a, f"{change.delta:+.3f} [{low:+.3f}, {high:+.3f}]",
                     f"{change.p:.2g}", verdict))
    if not rows:
        return []
    return [
        "## The same questions in A and B",
        "",
        "Each rate's flag (right, refused, found in the top 5) compared question by question: \"only B\" counts "
        "the questions where it holds in B and not in A. The interval is the paired difference's (exact, on the "
        "questions that changed); a difference inside it is chance.",
        "",
        *_table(("rate", "questions", "only B", "only A", "B − A [95%]", "sign test p", ""), rows),
        "",
    ]


def compare(report_a_dir: Path | str, report_b_dir: Path | str) -> str:
    """Totals of two reports side by side (with intervals and deltas), then each rate's paired
    difference on the questions both runs share (a change, or inside its interval), then the
    questions that flipped in each direction with both answers side by side, then retrieval
    rank changes."""
    a, b = load_report(report_a_dir), load_report(report_b_dir)
    keys = [k for k in [*a.totals, *(k for k in b.totals if k not in a.totals)] if not k.endswith("_ci")]
    lines = [*_header(a, b), "", *_table(
        ("metric", "A", "B", "delta"),
        ((k, with_interval(a.totals, k), with_interval(b.totals, k), _delta(a.totals.get(k), b.totals.get(k)))
         for k in keys)), ""]
    rows_a, rows_b = {r.id: r for r in a.rows}, {r.id: r for r in b.rows}
    both = [(rows_a[q], rows_b[q]) for q in rows_a if q in rows_b]
    lines += _paired_section(a, b, both)
    for title, flipped in FLIPS:
        lines += _flip_section(title, [(x, y) for x, y in both if flipped(x, y)])
    moved = [f"- {y.id} ({y.lang}, {y.kind}) {inert(y.question)}: {'; '.join(c)}"
             for x, y in both if (c := _retrieval_changes(x, y))]
    only = [f"- {q}: only in A" for q in rows_a if q not in rows_b] + [f"- {q}: only in B" for q in rows_b if q not in rows_a]
    lines += [f"## Retrieval changes: {len(moved)}", "", *moved, *([""] + only if only else [])]
    return "\n".join(lines)
