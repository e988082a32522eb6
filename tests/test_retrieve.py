import numpy as np

from rag.retrieve import DenseRetriever, HybridRetriever, KeywordRetriever, rrf_fuse
from tests.fakes import FakeIndex


def test_rrf_fuse_exact_scores():
    dense = [(1, 0.9), (2, 0.8), (3, 0.1)]
    keyword = [(3, 12.0), (1, 5.0)]
    fused = dict(rrf_fuse([dense, keyword], [1.0, 1.0], rrf_k=60))
    assert fused[1] == 1 / 61 + 1 / 62
    assert fused[3] == 1 / 63 + 1 / 61
    assert fused[2] == 1 / 62


def test_rrf_fuse_orders_by_score_and_respects_weights():
    dense = [(1, 0.9), (2, 0.8)]
    keyword = [(2, 3.0), (1, 1.0)]
    assert [r for r, _ in rrf_fuse([dense, keyword], [1.0, 1.0])] == [1, 2]  # tie -> dense order
    assert [r for r, _ in rrf_fuse([dense, keyword], [1.0, 2.0])] == [2, 1]


def _index():
    texts = [
        "GPT-3 has 175 billion parameters",
        "BERT is an encoder model",
        "Word2Vec was proposed by Mikolov at Google",
        "Transformers use attention",
    ]
    return FakeIndex(texts, ["gpt", "parameters", "bert", "encoder", "word2vec", "google", "attention"])


def test_hybrid_finds_what_each_side_finds():
    index = _index()
    hybrid = HybridRetriever(index, candidates=4)
    assert hybrid.search("How many parameters has GPT-3?", 1)[0].row == 0
    # Dense-only term ("google") and keyword-only word ("Mikolov") both reach the same chunk.
    assert DenseRetriever(index).search("google", 1)[0].row == 2
    assert KeywordRetriever(index).search("mikolov", 1)[0].row == 2
    hit = hybrid.search("mikolov google", 1)[0]
    assert hit.row == 2 and hit.dense is not None and hit.keyword is not None


def test_keyword_only_hits_get_a_cosine():
    index = _index()
    hit = HybridRetriever(index, candidates=4).search("mikolov", 1)[0]
    assert hit.row == 2
    assert hit.dense == 0.0  # computed, not missing: relevance is judged on one scale


def test_kind_balancing_keeps_articles_in_view():
    texts = ["attention paper one", "attention paper two", "attention paper three", "attention article"]
    index = FakeIndex(texts, ["attention", "paper", "article"])
    for i, c in enumerate(index.chunks):
        index.documents[c.doc_id] = {"kind": "article" if i == 3 else "paper"}
    balanced = HybridRetriever(index, candidates=2, keyword_weight=1.0)
    plain = HybridRetriever(index, candidates=2, keyword_weight=1.0, balance_kinds=False)
    # Three paper chunks outrank the article on both sides; balanced fusion still shows it first-tier.
    assert 3 not in [h.row for h in plain.search("attention paper article", 2)]
    assert 3 in [h.row for h in balanced.search("attention paper article", 2)]


def _cross_lingual_index():
    texts = ["Meta开源了它开发的所有语言模型。", "参考文献: Language Models are Few-Shot Learners", "our company trains models"]
    index = FakeIndex(texts, ["company", "models"])
    index.vectors = np.array([[0.8, 0.6], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)  # cosines set by hand
    for c, lang in zip(index.chunks, ["zh", "zh", "en"]):
        index.documents[c.doc_id] = {"kind": "article", "lang": lang}
    return index


def test_a_passage_bm25_cannot_read_is_not_punished_for_missing_keywords():
    index = _cross_lingual_index()
    hybrid = HybridRetriever(index, candidates=3, keyword_weight=1.5)
    # Closest in meaning, but BM25 sees no English word in it: it still comes first.
    assert [h.row for h in hybrid.search("Which company open-sourced all of its models?", 3)][0] == 0
    # Plain RRF would rank it last, behind passages that merely share an English word.
    plain = rrf_fuse([[(0, 0.99), (1, 0.7), (2, 0.7)], [(1, 1.0), (2, 1.0)]], [1.0, 1.5])
    assert plain[-1][0] == 0


def test_only_passages_closer_than_every_readable_one_are_lifted():
    index = _cross_lingual_index()
    index.vectors[2] = [0.7071, 0.7071]  # the English passage is now the closest of all
    hybrid = HybridRetriever(index, candidates=3, keyword_weight=1.5)
    assert hybrid.search("Which company open-sourced all of its models?", 3)[0].row == 2
    assert hybrid.search("Which company open-sourced all of its models?", 3)[-1].row == 0
