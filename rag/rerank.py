"""Reranking: the fused candidates reordered by the one sentence of each that best
matches the question.

Hybrid retrieval scores a passage as a whole, so a passage that holds the answer in one
sentence among unrelated ones can rank below passages that touch the question's words
everywhere: on the question set's dev split, 15 of 116 answers stood at ranks 6 to 10.
The reranker scores every sentence of the top ``depth`` candidates (its share of the
question's keywords plus its cosine to the question) and fuses each passage's retrieval
rank with the rank of its best sentence, with equal weight, by reciprocal rank. The
sentence scores travel on each hit, so the prompt stage focuses passages without
embedding the same sentences again.

No cross-encoder is packaged for this machine; the question's own embedder does the
sentence scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ingest.embed import Embedder
from ingest.keyword import tokenize
from rag import prompt as prompts
from ingest.searchable import SearchIndex
from rag.retrieve import Retriever, embedded, rrf_fuse
from rag.types import Hit, Query


def sentence_scores(query: Query, groups: Sequence[Sequence[str]], embedder: Embedder) -> list[list[float]]:
    """How well each sentence (``groups[i]`` are passage i's) matches the question: its
    share of the question's keywords plus its cosine to the question's own vector, so
    cross-lingual questions still pick the right sentences."""
    wanted = set(tokenize(query.text))
    flat = [x for group in groups for x in group]
    cosines = iter(embedder.embed(flat) @ query.vector if flat else ())
    return [
        [(len(wanted & set(tokenize(x))) / len(wanted) if wanted else 0.0) + float(next(cosines)) for x in group]
        for group in groups
    ]


def scored_sentences(query: Query, hits: Sequence[Hit], embedder: Embedder) -> tuple[list[list[str]], list[list[float]]]:
    """Each hit's sentences (``prompt.split_passage``) and their scores, reusing the
    scores a reranker left on the hit."""
    groups = [prompts.split_passage(h.chunk.text) for h in hits]
    missing = [i for i, (h, g) in enumerate(zip(hits, groups)) if h.sentences is None or len(h.sentences) != len(g)]
    fresh = iter(sentence_scores(query, [groups[i] for i in missing], embedder))
    wanted = set(missing)
    return groups, [next(fresh) if i in wanted else list(h.sentences) for i, h in enumerate(hits)]


class SentenceReranker(Retriever):
    """Another retriever's top ``depth`` hits, reordered by retrieval rank fused with
    best-sentence rank; hits below ``depth`` keep their order after them."""

    def __init__(self, retriever: Retriever, index: SearchIndex, *, depth: int = 20, rrf_k: int = 60):
        self.retriever = retriever
        self.index = index
        self.depth = depth
        self.rrf_k = rrf_k

    def search(self, query: str | Query, k: int) -> list[Hit]:
        query = embedded(query, self.index)
        hits = self.retriever.search(query, max(k, self.depth))
        top = hits[: self.depth]
        _, scores = scored_sentences(query, top, self.index.embedder())
        best = [max(s, default=0.0) for s in scores]
        by_retrieval = [(i, 0.0) for i in range(len(top))]
        by_sentence = sorted(by_retrieval, key=lambda item: -best[item[0]])
        order = [i for i, _ in rrf_fuse([by_retrieval, by_sentence], [1.0, 1.0], self.rrf_k)]
        reranked = [replace(top[i], sentences=tuple(scores[i])) for i in order]
        return (reranked + hits[self.depth :])[:k]
