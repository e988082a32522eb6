"""Retrieval: dense (FAISS), keyword (BM25) and their reciprocal-rank fusion.

A ``Retriever`` has one method, ``search(query, k) -> list[Hit]``; the query is a text or
a :class:`~rag.types.Query` that carries the question's vector, so a question is embedded
once however many steps use it. The hybrid retriever keeps each hit's cosine and BM25
score so the answering step can judge relevance.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from ingest.text import has_cjk
from rag.glossary import Translator
from rag.names import DocumentNames
from ingest.searchable import SearchIndex
from rag.types import Hit, Query

log = logging.getLogger(__name__)

# How much further (in cosine) a named document's best passage may be than the best
# anywhere before the name counts as mentioned in passing.
_PASSING_MARGIN = 0.1
# A table among BM25's first this many (per kind of document) counts as ranked there by
# both rankers (the ``table_depth`` setting): on dev, four answers in results tables
# reached the top 5 (answer hit@5 0.733 -> 0.767, none fell out); deeper lifted no more
# and cost a source.
TABLE_DEPTH = 5
# Within a document the question names, BM25's first this many count as ranked there by
# every ranking (the ``named_depth`` setting): scoped to one document, a keyword match is
# precise, while the embedder cannot place an author list, a table without numbers or a
# sentence asked about in the other language. On dev, five answers reached the top 5
# (answer hit@5 0.776 -> 0.819) and none fell out; 3 lifted no more.
NAMED_DEPTH = 2
# BM25's first passage (per kind of document) that scores at least this many times its
# second can count as ranked first by both rankers (the ``keyword_lead`` setting, off by
# default): a match that clear is precise, while the embedder may rank the passage
# hundreds deep. On dev, two answers reached the top 5 (answer hit@5 0.862 -> 0.879) and
# none fell out, and the relevance floor let the same unanswerable questions through;
# 1.25 lifted the same two, 1.3 to 2 one; 1.15 a third but let one more unanswerable
# question past the floor, and 1.1 also lost one. The 0.5B answered no more right with
# it (docs/quality.md, Retrieval), so it is offered, not on.
KEYWORD_LEAD = 1.2
# A question about references, a paper's title, authors or arXiv id is answered by a
# bibliography: then reference lists keep their full weight ("who is named as first
# author of the PaLM paper" in the evolution-tree article's reading list: on dev, two
# answers reached the top 5 and none fell out).
_ASKS_FOR_REFERENCES = re.compile(
    r"\b(?:cites?|cited|citing|citations?|references?|bibliography|reading list|further reading|arxiv|titles?|authors?)\b|"
    r"参考文献|参考资料|引用|引文|文献|推荐.{0,6}(?:论文|阅读)|论文列表|阅读列表|书单|标题|题目|作者",
    re.IGNORECASE,
)


class Retriever(ABC):
    """Finds the passages that best match a query."""

    @abstractmethod
    def search(self, query: str | Query, k: int) -> list[Hit]:
        """Return at most ``k`` hits, best first."""


def embedded(query: str | Query, index: SearchIndex) -> Query:
    """``query`` with its vector, embedded with the index's embedder unless it has one."""
    if isinstance(query, str):
        query = Query(query)
    if query.vector is not None:
        return query
    return Query(query.text, index.embedder().embed([query.text])[0])


class DenseRetriever(Retriever):
    """Cosine similarity between the query embedding and the chunk embeddings."""

    def __init__(self, index: SearchIndex):
        self.index = index

    def search(self, query: str | Query, k: int) -> list[Hit]:
        vector = embedded(query, self.index).vector
        ranked = self.index.search_dense(vector[None, :], k)[0]
        return [Hit(row, self.index.chunks[row], s, dense=s) for row, s in ranked]


class KeywordRetriever(Retriever):
    """BM25 over jieba/word tokens: precise on names, numbers and Chinese terms."""

    def __init__(self, index: SearchIndex):
        self.index = index

    def search(self, query: str | Query, k: int) -> list[Hit]:
        text = query if isinstance(query, str) else query.text
        return [Hit(row, self.index.chunks[row], s, keyword=s) for row, s in self.index.search_keyword(text, k)]


def rrf_fuse(
    rankings: Sequence[Sequence[tuple[int, float]]],
    weights: Sequence[float],
    rrf_k: int = 60,
) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: score(row) = sum_i w_i / (rrf_k + rank_i(row)), rank from 1.

    Ties are broken by the first ranking's order, then by row, so results are stable.
    """
    scores: dict[int, float] = {}
    first_seen: dict[int, tuple[int, int]] = {}
    for which, (ranking, weight) in enumerate(zip(rankings, weights)):
        for rank, (row, _score) in enumerate(ranking, start=1):
            scores[row] = scores.get(row, 0.0) + weight / (rrf_k + rank)
            first_seen.setdefault(row, (which, rank))
    return sorted(scores.items(), key=lambda item: (-item[1], first_seen[item[0]], item[0]))


class HybridRetriever(Retriever):
    """Dense and keyword candidates fused with RRF.

    The dense side carries cross-lingual questions (English question, Chinese passage);
    the keyword side carries exact names and numbers. BM25 cannot read a Chinese passage
    for a question without Chinese words, so such a passage is not punished for having
    no keyword rank: when it is closer to the question than every passage BM25 can read,
    its dense rank counts for both rankers. Without this, the answer to an English
    question in a Chinese article loses to any passage that merely shares an English word
    with the question (source hit@10 0.91 -> 0.92 on the question set, answer-in-passage
    hit@5 0.73 -> 0.76). The reverse case is left alone: a Chinese question's cosine to
    unrelated English text runs high, and its Latin names reach English passages anyway.
    Tables are blind to the embedder in the same way, so a table near the top of BM25's
    ranking keeps that rank on both sides (``table_depth``; 0 switches this off), and so
    do BM25's first passages inside a document the question names (``named_depth``) and
    optionally BM25's first passage when it leads the second by a clear margin
    (``keyword_lead``; 0, the default, switches this off).
    With ``balance_kinds`` each kind of document (articles, papers) is ranked on its own before fusion, so thousands of
    paper chunks can't crowd the few article chunks out of the candidates: on the
    project's question set this lifted source hit@5 from 0.76 to 0.88. The keyword query
    also carries the question's terms in the other language (``translator``; the index's
    glossary and dictionary when not given).
    """

    def __init__(
        self,
        index: SearchIndex,
        *,
        candidates: int = 30,
        rrf_k: int = 60,
        dense_weight: float = 1.0,
        keyword_weight: float = 1.0,
        balance_kinds: bool = True,
        route_weight: float = 1.0,
        references_weight: float = 0.5,
        translator: Translator | None = None,
        table_depth: int = TABLE_DEPTH,
        named_depth: int = NAMED_DEPTH,
        keyword_lead: float = 0.0,
    ):
        self.index = index
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.weights = (dense_weight, keyword_weight)
        kinds = [index.documents.get(c.doc_id, {}).get("kind", "article") for c in index.chunks]
        self.kind_of = kinds if balance_kinds and len(set(kinds)) > 1 else None
        self.lang_of = {doc_id: meta.get("lang") for doc_id, meta in index.documents.items()}
        self.route_weight = route_weight
        self.references_weight = references_weight
        self.table_depth = table_depth
        self.named_depth = named_depth
        self.keyword_lead = keyword_lead
        first_pages: dict[str, str] = {}
        for chunk in index.chunks:
            if chunk.page == 1 and index.documents.get(chunk.doc_id, {}).get("kind") == "paper":
                first_pages[chunk.doc_id] = first_pages.get(chunk.doc_id, "") + "\n" + chunk.text
        self.names = DocumentNames(index.documents, first_pages)
        self.rows_of: dict[str, list[int]] = {}
        for row, chunk in enumerate(index.chunks):
            self.rows_of.setdefault(chunk.doc_id, []).append(row)
        self.translator = translator or Translator.for_index(index)

    def _per_kind(self, ranking: list[tuple[int, float]]) -> list[list[tuple[int, float]]]:
        if self.kind_of is None:
            return [ranking[: self.candidates]]
        groups: dict[str, list[tuple[int, float]]] = {}
        for row, score in ranking:
            group = groups.setdefault(self.kind_of[row], [])
            if len(group) < self.candidates:
                group.append((row, score))
        return [groups[kind] for kind in sorted(groups)]

    def search(self, query: str | Query, k: int) -> list[Hit]:
        embedded_query = embedded(query, self.index)
        query, vector = embedded_query.text, embedded_query.vector[None, :]
        n = max(self.candidates, k)
        if self.kind_of is not None:
            n = max(n, 8 * self.candidates)  # deep enough that every kind fills its list
        dense = self.index.search_dense(vector, n)[0]
        keyword_query = self.translator.expand(query)
        keyword = self.index.search_keyword(keyword_query, n)
        dense_of = dict(dense)
        keyword_of = dict(keyword)
        rankings, weights = [], []
        for ranking, weight in ((dense, self.weights[0]), (keyword, self.weights[1])):
            for group in self._per_kind(ranking):
                rankings.append(group)
                weights.append(weight)
        dense_groups = rankings[: len(rankings) // 2]
        keyword_groups = rankings[len(rankings) // 2 :]
        routed = self._routed(query, keyword_query, vector[0], dense)
        inside_keyword: list[tuple[int, float]] = []
        if routed is not None:
            inside_dense, inside_keyword = routed
            rankings += [inside_dense, inside_keyword]
            weights += [self.weights[0] * self.route_weight, self.weights[1] * self.route_weight]
            dense_of.update(inside_dense)
            keyword_of.update(inside_keyword)
        fused = rrf_fuse(rankings, weights, self.rrf_k)
        fused = self._unblind(query, fused, dense_groups)
        fused = self._tables(fused, keyword_groups)
        fused = self._clear_leads(fused, keyword_groups)
        fused = self._named(fused, inside_keyword)
        fused = self._weigh_references(query, fused)[:k]
        missing = [row for row, _ in fused if row not in dense_of]
        if missing:
            # Keyword-only hits still get a cosine, so relevance is judged on one scale.
            dense_of.update({row: float(self.index.vector(row) @ vector[0]) for row in missing})
        return [
            Hit(row, self.index.chunks[row], score, dense=dense_of.get(row), keyword=keyword_of.get(row))
            for row, score in fused
        ]

    def _routed(self, query, keyword_query, vector, dense):
        """Rankings (dense, keyword) within the documents the question names, or ``None``.

        Each named document is ranked on its own, by cosine and by BM25, and the two
        rankings join the fusion: its best passages then lead. A name mentioned in
        passing is no filter: when the named document's closest passage is clearly
        further from the question than the closest anywhere, nothing is routed.
        """
        named = self.names.named(query)
        rows = [row for doc_id in named for row in self.rows_of.get(doc_id, ())]
        if not rows:
            return None
        cosines = np.array([float(self.index.vector(row) @ vector) for row in rows])
        order = np.argsort(-cosines, kind="stable")[: self.candidates]
        inside = [(rows[i], float(cosines[i])) for i in order]
        best_anywhere = dense[0][1] if dense else -1.0
        if inside[0][1] < best_anywhere - _PASSING_MARGIN:
            log.info("%s named in passing in %r: not routed", named, query)
            return None
        wanted = set(rows)
        keyword = [(row, s) for row, s in self.index.search_keyword(keyword_query, len(self.index.chunks)) if row in wanted]
        log.info("routed %r to %s", query, named)
        return inside, keyword[: self.candidates]

    def _weigh_references(self, query, fused):
        """Reference and reading lists count for less, unless the question is about references."""
        if self.references_weight == 1.0 or _ASKS_FOR_REFERENCES.search(query):
            return fused
        chunks = self.index.chunks
        weighed = [
            (row, score * self.references_weight if chunks[row].role == "references" else score)
            for row, score in fused
        ]
        return _resorted(fused, dict(weighed))

    def _tables(self, fused, keyword_groups):
        """A table that BM25 ranks near the top counts as ranked there by both rankers.

        Its rows are mostly names and numbers, which the embedder cannot place: the row
        "Generation 45.6%" under its caption "Distribution of use case categories from our
        API prompt dataset" is BM25's first for a question on that share but the
        embedder's 989th, so fusion left it out of the top 30.
        """
        if self.table_depth <= 0:
            return fused
        chunks = self.index.chunks
        tops = [group[: self.table_depth] for group in keyword_groups]
        return self._lifted(fused, tops, lambda row, _: chunks[row].role == "table")

    def _clear_leads(self, fused, keyword_groups):
        """BM25's first passage, when it scores ``keyword_lead`` times its second or more,
        counts as ranked first by both rankers.

        "…single-head attention is 0.9 BLEU worse than the best setting" is BM25's first
        passage for the question on single-head attention and the embedder's 61st, so
        fusion put it sixth, behind passages both rankers placed in their first twenty.
        """
        if self.keyword_lead <= 0:
            return fused
        leads = [group[:1] for group in keyword_groups if len(group) > 1 and group[0][1] >= self.keyword_lead * group[1][1]]
        return self._lifted(fused, leads, lambda row, _: True) if leads else fused

    def _named(self, fused, inside_keyword):
        """BM25's first passages inside a named document count as ranked there by every
        ranking, the document's own included.

        Scoped to the one document the question names, a keyword match is precise; the
        embedder cannot place the author list asked for by "《大语言模型综述》中文版的第一作者是谁?"
        (BM25's first in that document, the embedder's 220th of 1,393).
        """
        if self.named_depth <= 0 or not inside_keyword:
            return fused
        full = sum(self.weights) * (1 + self.route_weight)  # global and in-document rankings
        return self._lifted(fused, [inside_keyword[: self.named_depth]], lambda row, _: True, full)

    def _unblind(self, query, fused, dense_groups):
        """Lift Chinese passages BM25 could not read, for a question with no Chinese in it."""
        if has_cjk(query):
            return fused

        def blind(row):
            return self.lang_of.get(self.index.chunks[row].doc_id) == "zh"

        # Dense rank alone also puts the least bad of unrelated passages first: only a
        # passage closer than every passage BM25 could read is lifted.
        bar = max((cosine for group in dense_groups for row, cosine in group if not blind(row)), default=-1.0)
        return self._lifted(fused, dense_groups, lambda row, cosine: cosine >= bar and blind(row))

    def _lifted(self, fused, groups, lift, full=None):
        """``fused`` with each row that ``lift(row, score)`` picks in a one-sided ranking
        scored as if both rankers (or rankings of total weight ``full``) had put it at its
        rank there."""
        full = sum(self.weights) if full is None else full
        scores = dict(fused)
        for group in groups:
            for rank, (row, score) in enumerate(group, start=1):
                if lift(row, score):
                    scores[row] = max(scores[row], full / (self.rrf_k + rank))
        return _resorted(fused, scores)


def _resorted(fused: list[tuple[int, float]], scores: dict[int, float]) -> list[tuple[int, float]]:
    """The rows of ``fused`` ordered by their new ``scores``; ties keep the fused order."""
    order = {row: i for i, (row, _) in enumerate(fused)}
    return sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))
