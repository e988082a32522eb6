"""What a query needs from an index, as one small interface.

``rag`` retrieves and answers through :class:`SearchIndex` only, so a test can stand in
a small in-memory index for the on-disk one (``ingest.index.Index``) and both are held
to the same members.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ingest.documents import Chunk
from ingest.embed import Embedder
from ingest.keyword import tokenize


class SearchIndex(ABC):
    """Chunks by row, their documents, dense and keyword search, and the build manifest.

    ``documents`` maps a doc_id to its metadata (title, kind, lang, authors, ...);
    ``chunks[row]`` is the chunk whose vector is row ``row``; ``manifest`` records how the
    index was built (embedder id and dimension, counts, build time).
    """

    documents: dict[str, dict]
    chunks: list[Chunk]
    manifest: dict

    @abstractmethod
    def embedder(self) -> Embedder:
        """The embedder the index was built with: queries must be embedded with it."""

    @abstractmethod
    def search_dense(self, query_vectors: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """The ``k`` rows nearest each (unit) query vector, as (row, cosine), best first."""

    @abstractmethod
    def search_keyword(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best keyword matches as (row, score), best first; no zero scores."""

    @abstractmethod
    def vector(self, row: int) -> np.ndarray:
        """The unit vector of chunk ``row``."""

    def vocabulary(self) -> frozenset[str]:
        """The terms keyword search can match (:func:`ingest.keyword.tokenize` of every chunk)."""
        return frozenset(term for chunk in self.chunks for term in tokenize(chunk.text))
