"""The sentence reranker: a passage whose one sentence answers the question rises above
passages that only touch it, and its sentence scores are reused by the prompt stage."""

import pytest

from ingest.documents import Chunk
from rag.answer import Assistant
from rag.pipeline import focus_passages, pick_evidence
from rag.rerank import SentenceReranker
from rag.retrieve import HybridRetriever, Retriever
from rag.settings import Settings, SettingsError, load_settings
from rag.types import Hit, Query
from tests.fakes import FakeIndex, KeywordEmbedder, ScriptedGenerator

VOCAB = ["gpt", "parameters", "bert", "encoder", "attention", "google"]
QUESTION = "How many parameters does GPT-3 have?"
# In the order the first-stage retriever returns them; the answer stands third.
TEXTS = [
    "Google builds many things.",
    "BERT is an encoder.",
    "Some history first. GPT-3 has 175 billion parameters.",
    "GPT uses attention.",
    "Parameters are learned.",
]


class Fixed(Retriever):
    """Returns the same hits, in the same order, for every query."""

    def __init__(self, texts):
        self.hits = [
            Hit(row, Chunk(doc_id=f"d{row}", title=f"T{row}", text=t, start=0, end=len(t)), 1.0 / (row + 1))
            for row, t in enumerate(texts)
        ]

    def search(self, query, k):
        return self.hits[:k]


def test_the_passage_whose_one_sentence_answers_rises_to_the_top():
    assert [h.row for h in Fixed(TEXTS).search(QUESTION, 5)][2] == 2  # third before reranking
    reranker = SentenceReranker(Fixed(TEXTS), FakeIndex(TEXTS, VOCAB), depth=5)
    hits = reranker.search(QUESTION, 5)
    assert hits[0].row == 2
    assert sorted(h.row for h in hits) == [0, 1, 2, 3, 4]  # reordered, nothing lost or added


def test_hits_below_the_depth_keep_their_order_and_carry_no_scores():
    hits = SentenceReranker(Fixed(TEXTS), FakeIndex(TEXTS, VOCAB), depth=2).search(QUESTION, 5)
    assert [h.row for h in hits[2:]] == [2, 3, 4]
    assert all(h.sentences is not None for h in hits[:2])
    assert all(h.sentences is None for h in hits[2:])


def test_the_prompt_stage_reuses_the_rerankers_sentence_scores():
    index = FakeIndex(TEXTS, VOCAB)
    embedder = index.embedder()
    query = Query(QUESTION, embedder.embed([QUESTION])[0])
    hits = SentenceReranker(Fixed(TEXTS), index, depth=5).search(query, 5)
    assert len(hits[0].sentences) == 2  # one score per sentence of the answer passage
    embedder.calls.clear()
    focused = focus_passages(query, hits, embedder, max_chars=40)
    picked = pick_evidence(query, hits, embedder, max_chars=40)
    assert embedder.calls == []  # nothing embedded twice
    assert "175 billion" in focused[2]
    assert "175 billion" in picked[2]


def test_unreranked_hits_are_still_scored_for_the_prompt():
    embedder = KeywordEmbedder(VOCAB)
    query = Query(QUESTION, embedder.embed([QUESTION])[0])
    hits = Fixed(TEXTS).search(query, 5)
    embedder.calls.clear()
    picked = pick_evidence(query, hits, embedder, max_chars=40)
    assert "175 billion" in picked[2]
    assert "GPT-3 has 175 billion parameters." in embedder.calls


def test_the_assistant_reranks_only_when_the_setting_asks():
    index = FakeIndex(TEXTS, VOCAB)
    model = ScriptedGenerator([])
    reranking = Assistant(index, Settings(rerank_depth=20), generator=model).retriever
    assert isinstance(reranking, SentenceReranker) and reranking.depth == 20
    assert isinstance(Assistant(index, Settings(), generator=model).retriever, HybridRetriever)


def test_a_depth_below_top_k_is_a_one_line_error():
    with pytest.raises(SettingsError, match="rerank_depth"):
        load_settings({"rerank_depth": 3, "top_k": 5}, environ={})
    assert load_settings({"rerank_depth": 0}, environ={})[0].rerank_depth == 0
