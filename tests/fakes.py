"""Fakes with predictable results for tests: an index, an embedder and a scripted model.

Each subclasses the real base class (``SearchIndex``, ``Embedder``, ``Generator``), so the
shared code on those bases (batching, normalisation, ``complete``) runs in tests too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import numpy as np

from ingest.documents import Chunk
from ingest.embed import Embedder
from ingest.searchable import SearchIndex
from rag.generate import Generator


class KeywordEmbedder(Embedder):
    """One-hot over a fixed vocabulary: cosine = shared vocabulary words, exactly.

    ``calls`` lists every text embedded, so a test can see what was embedded twice.
    """

    id = "fake-keywords"

    def __init__(self, vocabulary: Sequence[str]):
        self.vocabulary = [w.lower() for w in vocabulary]
        self.dim = len(self.vocabulary)
        self.calls: list[str] = []

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        self.calls.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            low = text.lower()
            for j, word in enumerate(self.vocabulary):
                if word in low:
                    out[i, j] = 1.0
        return out


class FakeIndex(SearchIndex):
    """A small in-memory index: keyword one-hot vectors and word-overlap keyword search."""

    def __init__(self, texts: Sequence[str], vocabulary: Sequence[str], titles: Sequence[str] | None = None):
        self.chunks = [
            Chunk(doc_id=f"doc{i}", title=(titles[i] if titles else f"Doc {i}"), text=t, start=0, end=len(t))
            for i, t in enumerate(texts)
        ]
        self._embedder = KeywordEmbedder(vocabulary)
        self.vectors = self._embedder.embed(list(texts))
        self._embedder.calls.clear()  # only what queries embed is of interest
        self.manifest = {"embedder": {"id": self._embedder.id, "dim": self._embedder.dim},
                         "counts": {"documents": len(texts), "chunks": len(texts)}, "built_at": "2026-01-01T00:00:00"}
        self.documents = {c.doc_id: {"title": c.title} for c in self.chunks}

    def embedder(self) -> KeywordEmbedder:
        return self._embedder

    def vector(self, row: int) -> np.ndarray:
        return self.vectors[row]

    def search_dense(self, query_vectors: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        scores = np.atleast_2d(query_vectors) @ self.vectors.T
        out = []
        for row in scores:
            order = np.argsort(-row, kind="stable")[:k]
            out.append([(int(i), float(row[i])) for i in order if row[i] > 0])
        return out

    def search_keyword(self, query: str, k: int) -> list[tuple[int, float]]:
        words = set(re.findall(r"\w+", query.lower()))
        scored = []
        for row, chunk in enumerate(self.chunks):
            n = len(words & set(re.findall(r"\w+", chunk.text.lower())))
            if n:
                scored.append((row, float(n)))
        return sorted(scored, key=lambda x: (-x[1], x[0]))[:k]


class ScriptedGenerator(Generator):
    """Replies with scripted texts in order (streamed two characters at a time).

    ``calls`` holds the messages of each call and ``stops`` the stop strings it was given.
    """

    def __init__(self, replies: Sequence[str], probs: Sequence[Sequence[float]] = ()):
        self.replies = list(replies)
        self.probs = [list(p) for p in probs]  # per reply, each piece's probability, as llama.cpp reports
        self.calls: list[list[dict]] = []
        self.stops: list[tuple[str, ...]] = []
        self.info = {"backend": "scripted", "model": "fake"}

    def stream(self, messages, *, max_tokens: int = 256, temperature: float = 0.0, stop=()) -> Iterator[str]:
        self.calls.append(messages)
        self.stops.append(tuple(stop))
        reply = self.replies.pop(0) if self.replies else ""
        probs = self.probs.pop(0) if self.probs else []
        written: list[float] = []
        self.last_token_probs = written
        for n, i in enumerate(range(0, len(reply), 2)):
            if n < len(probs):
                written.append(probs[n])
            yield reply[i : i + 2]
        self.last_token_probs = tuple(written)

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 2)
