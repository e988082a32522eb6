"""Running a question set through the assistant and recording what was run.

The question set format and split live in ``rag.questionset``, the metrics in
``rag.metrics``, and reports (writing, reading, comparing) in ``rag.report``.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rag.followup import joined, needs_rewrite, substitute_followup
from rag.metrics import QuestionResult, score_question
from rag.questionset import Question, SourceResolver, load_questions, select_split
from rag.report import Report, write_report
from rag.types import RagError

log = logging.getLogger(__name__)

RETRIEVAL_TOP_K = 10  # depth of the retrieval-only pass, so hit@10 is measurable


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


def model_free_standalone(question: str, history) -> str:
    """The follow-up as retrieval would search it without a model: the name swapped into
    the previous question ("那 GPT-2 呢?"), else the previous question and this one together.

    The same steps :meth:`rag.answer.Assistant.standalone_question` takes before and
    after asking the model, so a retrieval-only run measures follow-ups as the product
    would search them when the model's rewrite adds nothing.
    """
    if not history or not needs_rewrite(question):
        return question
    previous = history[-1][0]
    return substitute_followup(question, previous) or joined(question, previous)


def run_eval(
    assistant,
    questions: Sequence[Question] | Path | str,
    *,
    out_dir: Path | str,
    retrieval_only: bool = False,
    top_k: int | None = None,
    settings: Mapping[str, Any] | None = None,
    progress: bool = True,
    split: str = "all",
    limit: int | None = None,
) -> Report:
    """Run a question set through ``assistant`` and write report.json, report.md and a chart.

    ``questions`` is a loaded set or the path of one (a path is recorded with its sha256);
    ``split`` keeps the dev or test questions only (default: all), ``limit`` the first N of those.
    Retrieval-only runs call ``assistant.retriever.search(question, top_k or 10)`` and no
    model; full runs call ``assistant.ask(question, history)`` (passing ``top_k`` when
    given), follow-ups with their scripted history (a retrieval-only run searches a
    follow-up as :func:`model_free_standalone` rewrites it: the model is not loaded).
    The assistant must expose ``.index`` (documents and manifest), ``.retriever`` and ``.info()``.
    """
    path, question_list = _questions_to_run(questions, split, limit)
    index = getattr(assistant, "index", None)
    if index is None:
        raise RagError("the assistant has no index: evaluation needs its documents to resolve sources")
    resolver = SourceResolver(index.documents)
    depth = top_k or RETRIEVAL_TOP_K
    mode = "retrieval" if retrieval_only else "full"
    started = time.perf_counter()
    rows = [
        _retrieval_row(assistant, question, resolver, depth)
        if retrieval_only
        else _full_row(assistant, question, resolver, top_k)
        for question in tqdm(question_list, desc=f"eval ({mode})", unit="question", disable=not progress)
    ]
    meta = {
        "mode": mode,
        "split": _split_label(split, limit),
        "elapsed_s": round(time.perf_counter() - started, 1),
        "top_k": depth if retrieval_only else top_k,
        "settings": dict(settings or {}),
        **_provenance(assistant, index, path, len(question_list)),
    }
    report = Report.from_rows(rows, meta, Path(out_dir))
    write_report(report)
    log.info("evaluation report written to %s", out_dir)
    return report


def run_side_by_side(
    assistants: Mapping[str, Any],
    questions: Sequence[Question] | Path | str,
    *,
    out_dir: Path | str,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = True,
    split: str = "all",
    limit: int | None = None,
) -> dict[str, Report]:
    """Answer each question with every assistant in turn (question 1 with A, B, C, then
    question 2 ...) and write one report per assistant into ``out_dir/<name>/``.

    Interleaving puts every setting on the same questions under the same load, so the
    ratio of two settings' timings holds even on a machine whose speed drifts during a
    long run. ``settings`` maps a name to the settings recorded in its report.
    """
    path, question_list = _questions_to_run(questions, split, limit)
    resolvers = {name: SourceResolver(assistant.index.documents) for name, assistant in assistants.items()}
    rows: dict[str, list[QuestionResult]] = {name: [] for name in assistants}
    elapsed = dict.fromkeys(assistants, 0.0)
    for question in tqdm(question_list, desc=f"eval ({len(assistants)} settings)", unit="question", disable=not progress):
        for name, assistant in assistants.items():
            started = time.perf_counter()
            rows[name].append(_full_row(assistant, question, resolvers[name], None))
            elapsed[name] += time.perf_counter() - started
    reports = {}
    for name, assistant in assistants.items():
        meta = {
            "mode": "full",
            "split": _split_label(split, limit),
            "elapsed_s": round(elapsed[name], 1),
            "top_k": None,
            "settings": dict((settings or {}).get(name, {})),
            "side_by_side": list(assistants),
            **_provenance(assistant, assistant.index, path, len(question_list)),
        }
        reports[name] = Report.from_rows(rows[name], meta, Path(out_dir) / name)
        write_report(reports[name])
    return reports


def _questions_to_run(
    questions: Sequence[Question] | Path | str, split: str, limit: int | None
) -> tuple[Path | None, list[Question]]:
    """The set's path (None for a loaded set) and its questions of ``split`` ("dev", "test"
    or "all"), the first ``limit`` of them when given."""
    path = Path(questions) if isinstance(questions, (str, Path)) else None
    selected = select_split(load_questions(path) if path is not None else list(questions), split)
    return path, selected[:limit] if limit else selected


def _split_label(split: str, limit: int | None) -> str:
    """The split as a report records it: "test", or "test, first 10" for a part of it."""
    return split if not limit else f"{split}, first {limit}"


def _retrieval_row(assistant, question: Question, resolver: SourceResolver, depth: int) -> QuestionResult:
    """The score of ``question`` from retrieval alone: its top ``depth`` passages, no model."""
    resolved = resolver.resolve(question.sources)
    started = time.perf_counter()
    hits = assistant.retriever.search(model_free_standalone(question.question, question.history), depth)
    return score_question(question, resolved, hits, None, {"retrieve_s": time.perf_counter() - started})


def _full_row(assistant, question: Question, resolver: SourceResolver, top_k: int | None) -> QuestionResult:
    """The score of the assistant's answer to ``question``, asked after its scripted history."""
    resolved = resolver.resolve(question.sources)
    options = {"top_k": top_k} if top_k else {}
    answer = assistant.ask(question.question, question.history, **options)
    return score_question(question, resolved, answer.retrieved, answer, answer.timings)


def _provenance(assistant, index, questions_path: Path | None, count: int) -> dict:
    """What a reader needs to reproduce a run: the model, the index, the code and the questions."""
    return {
        "model": assistant.info(),
        "index": index_summary(index),
        "git_commit": git_commit(),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "questions": {
            "path": str(questions_path) if questions_path is not None else None,
            "sha256": _file_sha256(questions_path) if questions_path is not None else None,
            "count": count,
        },
    }
