"""Tests for ingest.build: incremental rebuilds, full rebuilds, failures and the summary."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from ingest.build import BuildSummary, build_index
from ingest.corpus import EmptyCorpus
from ingest.documents import ChunkerSettings
from ingest.embed import Embedder
from ingest.index import load_index

VOCABULARY = ["transformer", "注意力", "bert", "gpt", "参数", "word2vec", "rlhf", "对齐"]


class KeywordEmbedder(Embedder):
    """One-hot over a fixed vocabulary, so cosine counts shared words exactly; counts calls."""

    def __init__(self, embedder_id: str = "fake-keywords", fail_after: int | None = None):
        self.id = embedder_id
        self.dim = len(VOCABULARY) + 1  # the last axis keeps texts without any word nonzero
        self.texts: list[str] = []
        self.fail_after = fail_after

    def embed_batch(self, texts):
        if self.fail_after is not None and len(self.texts) + len(texts) > self.fail_after:
            raise RuntimeError("embedder crashed halfway")
        self.texts.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            low = text.lower()
            out[i, :-1] = [word in low for word in VOCABULARY]
            out[i, -1] = 0.5
        return out


ARTICLES = {
    "transformer": (
        "Transformer 与注意力",
        "Transformer 架构完全基于注意力机制。\n\n" + "自注意力让模型并行处理整个序列。" * 6,
    ),
    "gpt": ("GPT 的参数", "GPT-3 有 1750 亿个参数。\n\n" + "参数规模的增长带来了涌现能力。" * 6),
    "word2vec": ("Word vectors", "Word2vec learns word vectors from their context. " * 8),
}


def _write_corpus(corpus: Path, articles=ARTICLES) -> Path:
    (corpus / "articles").mkdir(parents=True, exist_ok=True)
    entries = []
    for doc_id, (title, text) in articles.items():
        (corpus / "articles" / f"{doc_id}.txt").write_text(text, encoding="utf-8")
        lang = "en" if doc_id == "word2vec" else "zh"
        entries.append(f'[[documents]]\nid = "{doc_id}"\nfile = "articles/{doc_id}.txt"\n'
                       f'title = "{title}"\nlang = "{lang}"\n')
    (corpus / "manifest.toml").write_text("\n".join(entries), encoding="utf-8")
    return corpus


@pytest.fixture
def corpus(tmp_path):
    return _write_corpus(tmp_path / "corpus")


SMALL = ChunkerSettings(size=60, overlap=10)


def _build(corpus, index_dir, embedder, chunker=SMALL) -> BuildSummary:
    return build_index(corpus, index_dir, embedder=embedder, chunker=chunker, progress=False)


def test_build_writes_every_chunk_with_its_vector(corpus, tmp_path):
    embedder = KeywordEmbedder()
    summary = _build(corpus, tmp_path / "index", embedder)
    index = load_index(tmp_path / "index")
    assert summary.documents == 3 and summary.articles == 3 and summary.papers == 0
    assert summary.chunks == len(index.chunks) == len(embedder.texts) > 3
    assert summary.embedded == summary.chunks and summary.reused == 0
    assert summary.rebuilt_because == "no previous index"
    assert [c.text for c in index.chunks] == embedder.texts
    # Row i holds chunk i's vector: the one-hot words of its own text.
    for row, chunk in enumerate(index.chunks):
        expected = KeywordEmbedder().embed([chunk.text])[0]
        np.testing.assert_allclose(index.vector(row), expected, atol=1e-6)
    assert set(index.documents) == set(ARTICLES)
    assert index.manifest["embedder"] == {"id": "fake-keywords", "dim": len(VOCABULARY) + 1}
    assert summary.extractors == {f"corpus/articles/{d}.txt": "text" for d in ARTICLES}


def test_dense_search_over_a_built_index_has_exact_precision(corpus, tmp_path):
    embedder = KeywordEmbedder()
    _build(corpus, tmp_path / "index", embedder)
    index = load_index(tmp_path / "index")
    query = embedder.embed(["word2vec"])
    relevant = {row for row, c in enumerate(index.chunks) if "word2vec" in c.text.lower()}
    assert len(relevant) >= 2
    hits = index.search_dense(query, len(relevant))[0]
    assert {row for row, _ in hits} == relevant  # precision@|relevant| is exactly 1


def test_keyword_search_over_a_built_index_finds_chinese_and_english(corpus, tmp_path):
    _build(corpus, tmp_path / "index", KeywordEmbedder())
    index = load_index(tmp_path / "index")
    row, _ = index.search_keyword("自注意力是怎么回事?", 3)[0]
    assert index.chunks[row].doc_id == "transformer"
    row, _ = index.search_keyword("GPT3 参数", 3)[0]
    assert index.chunks[row].doc_id == "gpt"
    row, _ = index.search_keyword("how does Word2Vec learn?", 3)[0]
    assert index.chunks[row].doc_id == "word2vec"


def test_unchanged_rebuild_embeds_nothing_and_keeps_vectors(corpus, tmp_path):
    _build(corpus, tmp_path / "index", KeywordEmbedder())
    before = load_index(tmp_path / "index").vectors().copy()
    again = KeywordEmbedder()
    summary = _build(corpus, tmp_path / "index", again)
    assert again.texts == []
    assert summary.embedded == 0 and summary.reused == summary.chunks
    assert summary.rebuilt_because is None
    np.testing.assert_array_equal(load_index(tmp_path / "index").vectors(), before)


def test_changed_file_reembeds_only_that_file(corpus, tmp_path):
    _build(corpus, tmp_path / "index", KeywordEmbedder())
    (corpus / "articles" / "gpt.txt").write_text("GPT-4 的参数没有公开。RLHF 用于对齐。", encoding="utf-8")
    embedder = KeywordEmbedder()
    summary = _build(corpus, tmp_path / "index", embedder)
    index = load_index(tmp_path / "index")
    gpt_texts = [c.text for c in index.chunks if c.doc_id == "gpt"]
    assert embedder.texts == gpt_texts == ["GPT-4 的参数没有公开。RLHF 用于对齐。"]
    assert summary.embedded == 1 and summary.reused == summary.chunks - 1
    # Reused rows moved with their documents and still hold their own vectors.
    for row, chunk in enumerate(index.chunks):
        np.testing.assert_allclose(index.vector(row), KeywordEmbedder().embed([chunk.text])[0], atol=1e-6)


def test_new_title_reembeds_that_document(corpus, tmp_path):
    _build(corpus, tmp_path / "index", KeywordEmbedder())
    manifest = corpus / "manifest.toml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("Word vectors", "Word2vec"), encoding="utf-8")
    embedder = KeywordEmbedder()
    _build(corpus, tmp_path / "index", embedder)
    assert embedder.texts and all("word2vec" in t.lower() for t in embedder.texts)
    assert load_index(tmp_path / "index").documents["word2vec"]["title"] == "Word2vec"


def test_removed_file_leaves_the_index(corpus, tmp_path):
    _build(corpus, tmp_path / "index", KeywordEmbedder())
    del_articles = {k: v for k, v in ARTICLES.items() if k != "gpt"}
    (corpus / "articles" / "gpt.txt").unlink()
    _write_corpus(corpus, del_articles)
    summary = _build(corpus, tmp_path / "index", KeywordEmbedder())
    index = load_index(tmp_path / "index")
    assert "gpt" not in index.documents and all(c.doc_id != "gpt" for c in index.chunks)
    assert summary.embedded == 0


def test_chunker_change_rebuilds_everything(corpus, tmp_path):
    _build(corpus, tmp_path / "index", KeywordEmbedder())
    embedder = KeywordEmbedder()
    summary = _build(corpus, tmp_path / "index", embedder, chunker=ChunkerSettings(size=80, overlap=0))
    assert summary.embedded == summary.chunks == len(embedder.texts)
    assert "chunker changed" in summary.rebuilt_because
    assert load_index(tmp_path / "index").manifest["chunker"] == {"size": 80, "overlap": 0}


def test_embedder_change_rebuilds_everything(corpus, tmp_path):
    _build(corpus, tmp_path / "index", KeywordEmbedder())
    embedder = KeywordEmbedder("fake-keywords-v2")
    summary = _build(corpus, tmp_path / "index", embedder)
    assert summary.embedded == summary.chunks
    assert summary.rebuilt_because == "embedder changed from fake-keywords to fake-keywords-v2"


def test_embedder_failing_halfway_leaves_the_old_index(corpus, tmp_path):
    index_dir = tmp_path / "index"
    _build(corpus, index_dir, KeywordEmbedder())
    old = load_index(index_dir)
    for name in ARTICLES:
        path = corpus / "articles" / f"{name}.txt"
        path.write_text(path.read_text(encoding="utf-8") + "\n\n新增的一段。", encoding="utf-8")
    with pytest.raises(RuntimeError, match="halfway"):
        _build(corpus, index_dir, KeywordEmbedder("fake-keywords", fail_after=5))
    after = load_index(index_dir)
    assert after.chunks == old.chunks
    assert after.manifest == old.manifest
    np.testing.assert_array_equal(after.vectors(), old.vectors())
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".index")) in ([], [".index.lock"])


def test_empty_corpus_raises_the_loaders_error(tmp_path):
    (tmp_path / "corpus").mkdir()
    with pytest.raises(EmptyCorpus):
        _build(tmp_path / "corpus", tmp_path / "index", KeywordEmbedder())
    assert not (tmp_path / "index").exists()


def test_summary_reads_as_a_report(corpus, tmp_path):
    (corpus / "broken.pdf").write_bytes(b"not a pdf")
    summary = _build(corpus, tmp_path / "index", KeywordEmbedder())
    text = str(summary)
    assert f"{summary.chunks} chunks" in text
    assert "3 articles, 0 papers" in text
    assert "broken.pdf" in text and len(summary.skipped) == 1
    assert "corpus/articles/gpt.txt" in text
    for stage in ("load", "chunk", "embed", "write"):
        assert stage in summary.seconds and f"{stage} " in text


def test_real_corpus_with_the_default_embedder(tmp_path):
    """End to end: the project's corpus/ with use-m3, then an instant unchanged rebuild."""
    corpus = Path(__file__).resolve().parents[1] / "corpus"
    if not (corpus / "manifest.toml").is_file():
        pytest.skip("corpus/ is not in this checkout")
    summary = build_index(corpus, tmp_path / "index", progress=False)
    assert summary.embedder == "use-m3" and summary.embedded == summary.chunks > 20
    index = load_index(tmp_path / "index", expect_embedder="use-m3")
    query = index.embedder().embed(["GPT-3 的参数规模有多大?"])
    rows = [row for row, _ in index.search_dense(query, 5)[0]]
    assert any("1750" in index.chunks[row].text or "175B" in index.chunks[row].text for row in rows)
    again = build_index(corpus, tmp_path / "index", progress=False)
    assert again.embedded == 0 and again.reused == summary.chunks


PAPER = Path(__file__).resolve().parents[2] / "shared" / "papers" / "1310.4546.pdf"


@pytest.mark.skipif(not PAPER.is_file(), reason="../shared/papers is not on this machine")
def test_papers_are_indexed_after_the_articles_and_reused_on_rebuild(corpus, tmp_path):
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / PAPER.name).write_bytes(PAPER.read_bytes())
    first = build_index(corpus, tmp_path / "index", embedder=KeywordEmbedder(), chunker=ChunkerSettings(),
                        papers_dirs=[papers], progress=False)
    index = load_index(tmp_path / "index")
    assert (first.articles, first.papers) == (3, 1)
    paper = index.documents["arxiv-1310.4546"]
    assert paper["kind"] == "paper" and paper["url"] == "https://arxiv.org/abs/1310.4546" and paper["pages"] == 9
    assert index.chunks[-1].arxiv_id == "1310.4546" and index.chunks[0].arxiv_id is None
    again = build_index(corpus, tmp_path / "index", embedder=KeywordEmbedder(), chunker=ChunkerSettings(),
                        papers_dirs=[papers], progress=False)
    assert again.embedded == 0 and again.reused == first.chunks


@pytest.mark.skipif(not PAPER.is_file(), reason="../shared/papers is not on this machine")
def test_an_article_and_a_paper_with_one_id_is_an_error(tmp_path):
    from ingest.build import DuplicateDocumentId

    corpus = _write_corpus(tmp_path / "corpus", {"arxiv-1310.4546": ("Notes", "关于词向量的笔记。")})
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / PAPER.name).write_bytes(PAPER.read_bytes())
    with pytest.raises(DuplicateDocumentId, match="arxiv-1310.4546"):
        build_index(corpus, tmp_path / "index", embedder=KeywordEmbedder(), papers_dirs=[papers], progress=False)
    assert not (tmp_path / "index").exists()


@pytest.fixture
def pdf_reads(monkeypatch):
    """Papers load from text files posing as PDFs ("\\f" between pages); lists the files read."""
    from ingest import papers
    from ingest.loaders import RawDocument

    read: list[str] = []

    def load_file(path):
        read.append(Path(path).name)
        data = Path(path).read_bytes()
        pages = tuple(data.decode("utf-8").split("\f"))
        return RawDocument(pages=pages, extractor="pypdf", title=None, sha256=hashlib.sha256(data).hexdigest())

    monkeypatch.setattr(papers, "load_file", load_file)
    return read


def _write_papers(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "1706.03762.pdf").write_text(
        "Attention Is All You Need\n\nThe Transformer relies on attention alone.\f"
        + "Self-attention relates positions of one sequence. " * 4, encoding="utf-8")
    (folder / "1810.04805.pdf").write_text(
        "BERT: Pre-training of Deep Bidirectional Transformers\n\nBERT reads text both ways.\f"
        + "Masked language modelling pre-trains BERT. " * 4, encoding="utf-8")
    return folder


def _build_with_papers(corpus, tmp_path, embedder=None) -> BuildSummary:
    return build_index(corpus, tmp_path / "index", embedder=embedder or KeywordEmbedder(), chunker=SMALL,
                       papers_dirs=[tmp_path / "papers"], progress=False)


def test_unchanged_papers_are_not_read_again(corpus, tmp_path, pdf_reads):
    _write_papers(tmp_path / "papers")
    first = _build_with_papers(corpus, tmp_path)
    before = load_index(tmp_path / "index")
    assert sorted(pdf_reads) == ["1706.03762.pdf", "1810.04805.pdf"] and first.unread == 0
    pdf_reads.clear()
    embedder = KeywordEmbedder()
    again = _build_with_papers(corpus, tmp_path, embedder)
    after = load_index(tmp_path / "index")
    assert pdf_reads == [] and again.unread == 2 and "2 paper(s) not read again" in str(again)
    assert embedder.texts == [] and again.reused == again.chunks == first.chunks
    assert after.chunks == before.chunks and after.documents == before.documents
    assert after.manifest["sources"] == before.manifest["sources"]
    np.testing.assert_array_equal(after.vectors(), before.vectors())
    assert again.pages == first.pages and again.extractors == first.extractors


def test_a_changed_paper_is_read_again_alone(corpus, tmp_path, pdf_reads):
    papers = _write_papers(tmp_path / "papers")
    _build_with_papers(corpus, tmp_path)
    pdf_reads.clear()
    (papers / "1810.04805.pdf").write_text("BERT: Pre-training of Deep Bidirectional Transformers\n\nRevised.",
                                           encoding="utf-8")
    embedder = KeywordEmbedder()
    summary = _build_with_papers(corpus, tmp_path, embedder)
    index = load_index(tmp_path / "index")
    assert pdf_reads == ["1810.04805.pdf"] and summary.unread == 1
    assert embedder.texts == [c.text for c in index.chunks if c.doc_id == "arxiv-1810.04805"]
    assert any("Revised." in text for text in embedder.texts)
    for row, chunk in enumerate(index.chunks):
        np.testing.assert_allclose(index.vector(row), KeywordEmbedder().embed([chunk.text])[0], atol=1e-6)


def test_another_ingest_version_reads_every_paper_again(corpus, tmp_path, pdf_reads, monkeypatch):
    import ingest.build

    _write_papers(tmp_path / "papers")
    _build_with_papers(corpus, tmp_path)
    pdf_reads.clear()
    monkeypatch.setattr(ingest.build, "INGEST_VERSION", ingest.build.INGEST_VERSION + 1)
    summary = _build_with_papers(corpus, tmp_path)
    assert sorted(pdf_reads) == ["1706.03762.pdf", "1810.04805.pdf"] and summary.unread == 0
    assert load_index(tmp_path / "index").manifest["ingest_version"] == ingest.build.INGEST_VERSION


def test_a_new_cited_title_reads_that_paper_again(corpus, tmp_path, pdf_reads):
    _write_papers(tmp_path / "papers")
    _build_with_papers(corpus, tmp_path)
    assert load_index(tmp_path / "index").documents["arxiv-1706.03762"]["title"] == "Attention Is All You Need"
    pdf_reads.clear()
    article = corpus / "articles" / "transformer.txt"
    article.write_text(article.read_text(encoding="utf-8") + "\n\n参考文献:\n《Attention Please》 arXiv:1706.03762\n",
                       encoding="utf-8")
    _build_with_papers(corpus, tmp_path)
    assert pdf_reads == ["1706.03762.pdf"]
    index = load_index(tmp_path / "index")
    assert index.documents["arxiv-1706.03762"]["title"] == "Attention Please"
    assert {c.title for c in index.chunks if c.doc_id == "arxiv-1706.03762"} == {"Attention Please"}
