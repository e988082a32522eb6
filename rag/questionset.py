"""The question set: its format, loading and checking it, its dev/test split, and
mapping the sources it names to indexed documents.

The question set is JSON Lines, one question per line::

    {"id": "zh-01", "question": "GPT-3 的参数规模有多大?", "lang": "zh",
     "answers": ["1750 亿", "175B"], "sources": ["llm-development-resources"],
     "answerable": true, "kind": "number",
     "evidence": "GPT-3 ... 1750 亿 ...", "evidence_doc": "llm-development-resources"}

``kind`` is ``fact``, ``number``, ``list``, ``followup`` or ``unanswerable``. ``answers``
are accepted answer strings; a reply is correct when, after ``normalize``, it contains any
of them. A list question also has ``items`` (groups of alternative spellings, one group per
item) and ``min_items``: it is correct when at least that many groups appear in the reply;
its ``answers`` are all the items' strings. ``sources`` name the documents that hold the
answer, by corpus id, by original or indexed file name, or by arXiv id. ``evidence`` quotes
the sentence that states the answer, in document ``evidence_doc``; tests check that it is
really there and holds a key. Unanswerable questions have ``answerable: false`` and no
answers or sources, and say in ``why`` what was searched for. A follow-up question carries
the earlier conversation as ``history`` (a list of ``[user, assistant]`` pairs) and may name
the question it continues in ``follows``; when ``history`` is absent it is built from that
question (its own history, then its text and first accepted answer), so a follow-up is
always asked after the same scripted conversation and one wrong answer does not spoil the
next. Unknown fields are ignored.

The split is fixed by id: a conversation's first question decides the split of every
follow-up in it, so a dev follow-up never shows a test question's answer in its history.
A conversation's first question may pin its split with ``"split": "test"`` (and say why in
``note``): questions that repeat an example quoted in an issue are pinned to test, so
tuning on dev never tunes on them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.metrics import normalize
from rag.types import RagError

LANGS = ("zh", "en")
KINDS = ("fact", "number", "list", "followup", "unanswerable")
SPLITS = ("dev", "test", "all")
DEV_SHARE = 60  # percent of conversations in the dev split
_ARXIV = re.compile(r"^(arxiv-)?\d{4}\.\d{4,5}(v\d+)?(-[a-z]+)?$")


class QuestionSetError(RagError):
    """The question set file is missing or malformed; the message names the line."""


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
    items: tuple[tuple[str, ...], ...] = ()  # list questions: alternative spellings per item
    min_items: int = 1
    evidence: str = ""  # the sentence that states the answer, quoted from evidence_doc
    evidence_doc: str = ""
    split: str = "dev"  # set by load_questions from the conversation's first id

    @property
    def scope(self) -> str:
        """``paper`` when only papers answer it, ``article`` when an article does, ``none`` when unanswerable."""
        if not self.sources:
            return "none"
        return "paper" if all(_ARXIV.match(s) for s in self.sources) else "article"


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
    if record["kind"] not in KINDS:
        raise ValueError(f"field 'kind' must be one of {', '.join(KINDS)}, got {_describe(record['kind'])}")
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
    items, min_items = _items(record, answers)
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
        items=items,
        min_items=min_items,
        evidence=_optional_string(record, "evidence"),
        evidence_doc=_optional_string(record, "evidence_doc"),
    )


def _optional_string(record: dict, name: str) -> str:
    value = record.get(name, "")
    if not isinstance(value, str):
        raise ValueError(f"field '{name}' must be a string, got {_describe(value)}")
    return value


def _items(record: dict, answers: tuple[str, ...]) -> tuple[tuple[tuple[str, ...], ...], int]:
    """A list question's item groups and how many must appear; ((), 1) for other questions."""
    if "items" not in record:
        return (), 1
    groups = record["items"]
    if not isinstance(groups, list) or not groups or not all(
        isinstance(g, list) and g and all(isinstance(a, str) and normalize(a) for a in g) for g in groups
    ):
        raise ValueError(f"field 'items' must be a non-empty list of non-empty lists of strings, got {_describe(groups)}")
    if sorted(a for g in groups for a in g) != sorted(answers):
        raise ValueError("field 'answers' must hold exactly the strings of 'items'")
    min_items = record.get("min_items", len(groups))
    if not isinstance(min_items, int) or isinstance(min_items, bool) or not 1 <= min_items <= len(groups):
        raise ValueError(f"field 'min_items' must be a whole number from 1 to {len(groups)}, got {_describe(min_items)}")
    return tuple(tuple(g) for g in groups), min_items


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
            pinned = record_split(record)
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
        if pinned and question.follows:
            raise QuestionSetError(f"{where}: a follow-up takes the split of the question it follows; remove 'split'")
        root = by_id[question.follows][1].split if question.follows else pinned or split_of(question.id)
        question = dataclasses.replace(question, split=root)
        by_id[question.id] = (number, question)
        questions.append(question)
    return questions


def record_split(record: dict) -> str | None:
    """The split a line pins (``dev`` or ``test``), or None when the id's hash decides."""
    pinned = record.get("split")
    if pinned is not None and pinned not in ("dev", "test"):
        raise ValueError(f"field 'split' must be \"dev\" or \"test\", got {_describe(pinned)}")
    return pinned


def split_of(question_id: str) -> str:
    """``dev`` or ``test``, fixed by a hash of the id (about DEV_SHARE percent dev)."""
    bucket = int(hashlib.sha256(question_id.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "dev" if bucket < DEV_SHARE else "test"


def select_split(questions: Sequence[Question], split: str) -> list[Question]:
    """The questions of one split (``dev``, ``test``) or all of them (``all``)."""
    if split not in SPLITS:
        raise QuestionSetError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    return [q for q in questions if split == "all" or q.split == split]


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


