"""Plain data types that ``rag`` hands to the UI, the CLI and the evaluator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy costs a fifth of a second to import; the types need none of it
    import numpy as np

from ingest.documents import Chunk


class RagError(Exception):
    """Base class for errors a user can fix; the CLI prints them as one line."""


@dataclass(frozen=True)
class Query:
    """A question as retrieval searches it: its text and, once embedded, its unit vector.

    The vector is computed once per question and reused by dense search, routing,
    passage focusing and the similarity checks of citations.
    """

    text: str
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk. ``row`` is its row in the index (its id).

    ``score`` is the fused score used for ranking; ``dense`` is the cosine similarity
    and ``keyword`` the BM25 score (``None`` when that retriever did not return it).
    ``sentences`` scores each sentence of the passage against the question, when the
    reranker has (``rag.rerank``).
    """

    row: int
    chunk: Chunk
    score: float
    dense: float | None = None
    keyword: float | None = None
    sentences: tuple[float, ...] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Reading:
    """The passages the model was just given, yielded before its first word: on a CPU,
    reading them takes seconds, and a user can look at them meanwhile. ``again`` marks the
    passages of the second try after an unsupported reply (setting ``fallback``), so the
    wait it adds is explained."""

    hits: tuple[Hit, ...]
    again: bool = False


@dataclass(frozen=True)
class Citation:
    """A numbered source shown with an answer.

    ``n`` is the marker number as shown to the user ([n]); ``how`` is "marker" when the
    model wrote the marker and "attributed" when it was attached after generation.
    ``supported`` records whether the cited sentence was checked against the passage.
    """

    n: int
    hit: Hit
    how: str = "marker"
    supported: bool = True
    sentences: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()  # terms of the claim found in the passage


@dataclass(frozen=True)
class Answer:
    """The final result of one question."""

    question: str
    text: str
    refused: bool
    citations: tuple[Citation, ...] = ()
    retrieved: tuple[Hit, ...] = ()
    standalone_question: str | None = None  # the rewritten follow-up, when rewritten
    unsupported: tuple[str, ...] = ()  # answer sentences with no supporting passage
    refusal_reason: str | None = None  # "no_relevant_passages" | "model_declined" | ...
    notice: str | None = None  # e.g. "question truncated to 500 characters"
    timings: dict = field(default_factory=dict)  # retrieve_s, first_token_s, total_s, tokens, tokens_per_s
    model: dict = field(default_factory=dict)  # backend, model id, embedder id
    replies: tuple[str, ...] = ()  # what the model wrote, attempt by attempt, before any check
    reply_probs: tuple[tuple[float, ...], ...] = ()  # each reply's token probabilities, where known
