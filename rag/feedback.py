"""What users say about answers (👍 / 👎 and corrections), and turning it into questions.

Owns the feedback file: JSON Lines, one event per line, appended and never rewritten::

    {"id": "fb-3f2a…", "time": "2026-…", "rating": "down", "question": "…", "answer": "…",
     "refused": false, "history": [["…", "…"]], "citations": [{"n": 1, "doc_id": "…",
     "title": "…", "page": 3}], "model": {…}, "settings": {"top_k": 5, …},
     "index_build_id": "…", "correction": "1750 亿", "source": "llm-development-resources",
     "unanswerable": false}

A later line with the same ``id`` replaces an earlier one (a 👎 is recorded at once, its
correction when the user sends the form). :func:`export_questions` turns the 👎 lines into
question-set lines valid for :func:`rag.questionset.load_questions`: a correction makes
an answerable question with the correction as its answer and the named source; "the
documents can't answer this" makes an unanswerable one. So what users flag is measured by
``rag eval`` from then on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ingest.text import detect_language

from rag.metrics import normalize
from rag.types import Answer, RagError

log = logging.getLogger(__name__)

RATINGS = ("up", "down")
_WRITE_LOCK = threading.Lock()  # one appender at a time, so lines never interleave


class FeedbackError(RagError):
    """The feedback file can't be read, or a feedback entry is incomplete."""


@dataclass(frozen=True)
class Feedback:
    """One user's verdict on one answer, with what is needed to ask the question again."""

    id: str
    rating: str
    question: str
    answer: str
    refused: bool = False
    history: tuple[tuple[str, str], ...] = ()
    citations: tuple[Mapping[str, Any], ...] = ()
    model: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    index_build_id: str | None = None
    correction: str = ""
    source: str = ""
    unanswerable: bool = False
    time: str = ""


def feedback_for(
    answer: Answer,
    rating: str,
    *,
    history: Sequence[tuple[str, str]] = (),
    settings: Mapping[str, Any] | None = None,
    index_build_id: str | None = None,
) -> Feedback:
    """A :class:`Feedback` for ``answer``; its id is the same for the same answer and question."""
    if rating not in RATINGS:
        raise FeedbackError(f"rating must be one of {', '.join(RATINGS)}, not {rating!r}")
    key = json.dumps([answer.question, answer.text, [list(t) for t in history], index_build_id], ensure_ascii=False)
    return Feedback(
        id="fb-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12],
        rating=rating,
        question=answer.question,
        answer=answer.text,
        refused=answer.refused,
        history=tuple((str(q), str(a)) for q, a in history),
        citations=tuple(
            {"n": c.n, "doc_id": c.hit.chunk.doc_id, "title": c.hit.chunk.title, "page": c.hit.chunk.page}
            for c in answer.citations
        ),
        model=dict(answer.model or {}),
        settings=dict(settings or {}),
        index_build_id=index_build_id,
    )


def with_correction(feedback: Feedback, *, correction: str = "", source: str = "", unanswerable: bool = False) -> Feedback:
    """``feedback`` as a 👎 carrying the right answer and its source, or "no answer in the documents".

    Raises :class:`FeedbackError` with a line for the form when the correction can't
    become a question: an answer without a source, or neither an answer nor the
    unanswerable mark.
    """
    correction, source = correction.strip(), source.strip()
    if unanswerable and correction:
        raise FeedbackError("give either the right answer or \"the documents can't answer this\", not both")
    if not unanswerable:
        if not normalize(correction):
            raise FeedbackError("write the right answer, or tick \"the documents can't answer this\"")
        if not source:
            raise FeedbackError("name the document that gives the right answer (its id, file name or arXiv id)")
    return replace(feedback, rating="down", correction=correction, source=source, unanswerable=unanswerable)


def record_feedback(path: Path | str, feedback: Feedback) -> None:
    """Append ``feedback`` as one line to the JSONL file at ``path`` (created with its folder).

    Raises :class:`FeedbackError` when the file can't be written.
    """
    path = Path(path)
    record = asdict(replace(feedback, time=feedback.time or datetime.now(timezone.utc).isoformat(timespec="seconds")))
    line = json.dumps(record, ensure_ascii=False) + "\n"
    try:
        with _WRITE_LOCK:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(line)
    except OSError as exc:
        raise FeedbackError(f"can't write the feedback file {path}: {exc.strerror or exc}") from exc
    log.info("feedback %s (%s) recorded in %s", feedback.id, feedback.rating, path)


def load_feedback(path: Path | str) -> list[Feedback]:
    """The feedback in ``path``, the latest line of each id, in order of first appearance."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise FeedbackError(f"no feedback file at {path}: nothing was rated yet") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedbackError(f"can't read feedback file {path}: {exc}") from exc
    latest: dict[str, Feedback] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            record["history"] = tuple(tuple(turn) for turn in record.get("history", ()))
            record["citations"] = tuple(record.get("citations", ()))
            feedback = Feedback(**record)
        except (json.JSONDecodeError, TypeError, AttributeError) as exc:
            raise FeedbackError(f"{path.name} line {number}: not a feedback entry ({exc})") from None
        latest[feedback.id] = feedback
    return list(latest.values())


def question_line(feedback: Feedback) -> dict[str, Any] | None:
    """The question-set record a 👎 becomes, or ``None`` (👍, or a 👎 without a correction)."""
    if feedback.rating != "down" or not (feedback.unanswerable or feedback.correction):
        return None
    record: dict[str, Any] = {
        "id": feedback.id,
        "question": feedback.question,
        "lang": detect_language(feedback.question),
        "answerable": not feedback.unanswerable,
        "answers": [] if feedback.unanswerable else [feedback.correction],
        "sources": [] if feedback.unanswerable else [feedback.source],
        "kind": "unanswerable" if feedback.unanswerable else ("followup" if feedback.history else _kind(feedback.correction)),
        "origin": "user feedback",
        "rejected_answer": feedback.answer,
    }
    if feedback.history:
        record["history"] = [list(turn) for turn in feedback.history]
    if feedback.unanswerable:
        record["why"] = "a user marked the answer as wrong: the documents do not answer this"
    return record


def _kind(correction: str) -> str:
    return "number" if any(ch.isdigit() for ch in correction) else "fact"


def export_questions(feedback: Sequence[Feedback]) -> tuple[list[dict[str, Any]], int]:
    """Question-set records for the 👎 entries that can be measured, and how many were left out."""
    records = [line for entry in feedback if (line := question_line(entry)) is not None]
    return records, len(feedback) - len(records)
