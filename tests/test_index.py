"""Tests for ingest.index: the on-disk format, search, errors and atomic replacement."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ingest.documents import Chunk, ChunkerSettings, Document, IngestError, Page
from ingest.index import (
    CHUNKS,
    FORMAT_VERSION,
    MANIFEST,
    VECTORS,
    IndexCorrupt,
    IndexMismatch,
    IndexMissing,
    load_index,
    tidy_interrupted_write,
    write_index,
)


def _doc(doc_id: str, text: str, source: str | None = None, **kw) -> Document:
    return Document(
        doc_id=doc_id,
        title=kw.pop("title", doc_id.title()),
        text=text,
        source=source or f"corpus/{doc_id}.txt",
        sha256=kw.pop("sha256", f"sha-{doc_id}"),
        pages=kw.pop("pages", (Page(None, 0, len(text)),)),
        **kw,
    )


def _chunks(doc: Document, pieces: list[str]) -> list[Chunk]:
    out, pos = [], 0
    for piece in pieces:
        start = doc.text.index(piece, pos)
        out.append(Chunk(doc_id=doc.doc_id, title=doc.title, text=piece, start=start, end=start + len(piece),
                         url=doc.url, arxiv_id=doc.arxiv_id, lang=doc.lang))
        pos = start
    return out


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


ZH_TEXT = "Transformer 模型使用自注意力机制。BERT 是双向的预训练语言模型。"
EN_TEXT = "GPT-3 has 175B parameters. Word2vec learns word vectors from context."


@pytest.fixture
def small(tmp_path):
    """A two-document index with four chunks and hand-made 4-d vectors."""
    zh = _doc("zh-article", ZH_TEXT, url="https://example.com/zh")
    en = _doc("en-paper", EN_TEXT, kind="paper", lang="en", arxiv_id="2005.14165",
              authors=("Tom Brown",), extractor="pypdf",
              pages=(Page(1, 0, 27), Page(2, 28, len(EN_TEXT))))
    chunks = _chunks(zh, ["Transformer 模型使用自注意力机制。", "BERT 是双向的预训练语言模型。"])
    chunks += _chunks(en, ["GPT-3 has 175B parameters.", "Word2vec learns word vectors from context."])
    vectors = _unit(np.eye(4) + 0.1)
    index_dir = tmp_path / "index"
    write_index(index_dir, documents=[zh, en], chunks=chunks, vectors=vectors, embedder_id="use-m3",
                chunker=ChunkerSettings(100, 10),
                references=[{"arxiv_id": "1706.03762", "title": "Attention Is All You Need", "cited_by": ["zh-article"]}])
    return index_dir, chunks, vectors


def test_written_index_reads_back_exactly(small):
    index_dir, chunks, vectors = small
    index = load_index(index_dir)
    assert index.chunks == chunks
    np.testing.assert_array_equal(index.vectors(), vectors)
    np.testing.assert_array_equal(index.vector(2), vectors[2])
    assert sorted(p.name for p in index_dir.iterdir()) == sorted([MANIFEST, VECTORS, CHUNKS, "keyword"])
    assert not (index_dir / "vectors.npy").exists()


def test_manifest_records_format_embedder_chunker_sources_and_references(small):
    index_dir, _, _ = small
    manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["embedder"] == {"id": "use-m3", "dim": 4}
    assert manifest["chunker"] == {"size": 100, "overlap": 10}
    assert manifest["sources"]["corpus/en-paper.txt"] == {
        "sha256": "sha-en-paper", "doc_id": "en-paper", "title": "En-Paper", "kind": "paper",
        "extractor": "pypdf", "pages": 2, "chunks": 2, "rows": [2, 4],
    }
    assert manifest["documents"]["en-paper"] == {
        "title": "En-Paper", "url": None, "arxiv_id": "2005.14165", "kind": "paper", "lang": "en",
        "source": "corpus/en-paper.txt", "origin": None, "pages": 2, "authors": ["Tom Brown"],
    }
    assert manifest["references"][0]["arxiv_id"] == "1706.03762"
    assert manifest["counts"] == {"documents": 2, "pages": 3, "chunks": 4}
    assert manifest["built_at"]


def test_dense_search_matches_brute_force_on_seeded_data(tmp_path):
    rng = np.random.default_rng(7)
    n, dim = 300, 32
    vectors = _unit(rng.normal(size=(n, dim)))
    doc = _doc("d", "x" * n)
    chunks = [Chunk("d", "D", "x", i, i + 1) for i in range(n)]
    write_index(tmp_path / "ix", documents=[doc], chunks=chunks, vectors=vectors,
                embedder_id="use-m3", chunker=ChunkerSettings())
    index = load_index(tmp_path / "ix")
    queries = _unit(rng.normal(size=(5, dim)))
    results = index.search_dense(queries, 10)
    exact = queries @ vectors.T
    for q, hits in enumerate(results):
        expected_rows = np.argsort(-exact[q])[:10]
        assert [row for row, _ in hits] == expected_rows.tolist()
        np.testing.assert_allclose([s for _, s in hits], exact[q][expected_rows], rtol=1e-5)


def test_dense_search_clamps_k_and_accepts_one_vector(small):
    index_dir, _, vectors = small
    index = load_index(index_dir)
    hits = index.search_dense(vectors[1], 50)
    assert len(hits) == 1 and len(hits[0]) == 4
    assert hits[0][0][0] == 1 and hits[0][0][1] == pytest.approx(1.0, abs=1e-6)


def test_dense_search_with_wrong_dimension_is_a_clear_error(small):
    index = load_index(small[0])
    with pytest.raises(IndexMismatch, match="dimensions"):
        index.search_dense(np.ones((1, 7), dtype=np.float32), 3)


def test_keyword_search_finds_chinese_and_english_terms(small):
    index = load_index(small[0])
    assert index.search_keyword("什么是自注意力?", 5)[0][0] == 0
    assert index.search_keyword("预训练模型", 5)[0][0] == 1
    assert index.search_keyword("How many parameters does gpt3 have?", 5)[0][0] == 2
    assert [row for row, _ in index.search_keyword("word2vec", 5)] == [3]


def test_keyword_search_skips_unknown_terms_and_zero_scores(small):
    index = load_index(small[0])
    assert index.search_keyword("量子计算 blockchain", 5) == []
    assert index.search_keyword("的 the ?", 5) == []
    hits = index.search_keyword("BERT parameters", 5)
    assert {row for row, _ in hits} == {1, 2}
    assert all(score > 0 for _, score in hits)
    assert len(index.search_keyword("BERT parameters", 1)) == 1


def test_missing_index_names_the_rebuild_command(tmp_path):
    with pytest.raises(IndexMissing) as info:
        load_index(tmp_path / "nowhere")
    assert str(info.value) == f"No index at {tmp_path / 'nowhere'}: run `rag rebuild` to build it."


def _edit_manifest(index_dir: Path, change) -> None:
    path = index_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def _one_line_naming_rebuild(error: Exception) -> None:
    assert "\n" not in str(error)
    assert "`rag rebuild`" in str(error)


def test_other_format_version_is_a_mismatch(small):
    _edit_manifest(small[0], lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(IndexMismatch, match="format version") as info:
        load_index(small[0])
    _one_line_naming_rebuild(info.value)


def test_other_embedder_than_expected_is_a_mismatch(small):
    load_index(small[0], expect_embedder="use-m3")
    with pytest.raises(IndexMismatch, match="built with embedder use-m3, but minilm") as info:
        load_index(small[0], expect_embedder="minilm")
    _one_line_naming_rebuild(info.value)


def test_vectors_of_another_dimension_than_the_manifest_is_a_mismatch(small):
    _edit_manifest(small[0], lambda m: m["embedder"].update(dim=512))
    with pytest.raises(IndexMismatch, match="4-dimensional") as info:
        load_index(small[0])
    _one_line_naming_rebuild(info.value)


def test_embedder_from_the_manifest_must_give_the_stored_dimension(small):
    # The manifest names use-m3 (512-d) over 4-d vectors: making its embedder says so.
    index = load_index(small[0])
    with pytest.raises(IndexMismatch, match="512") as info:
        index.embedder()
    _one_line_naming_rebuild(info.value)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / MANIFEST).write_text("{not json", encoding="utf-8"),
        lambda d: (d / CHUNKS).write_text('{"doc_id": "x"}\n', encoding="utf-8"),
        lambda d: (d / CHUNKS).write_text((d / CHUNKS).read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8"),
        lambda d: (d / VECTORS).write_bytes(b"garbage" * 10),
        lambda d: (d / VECTORS).unlink(),
        lambda d: shutil.rmtree(d / "keyword"),
    ],
    ids=["manifest", "chunk-fields", "chunk-missing", "vectors-garbage", "vectors-missing", "keyword-missing"],
)
def test_damaged_files_are_one_line_ingest_errors(small, damage):
    damage(small[0])
    with pytest.raises(IndexCorrupt) as info:
        load_index(small[0])
    assert isinstance(info.value, IngestError)
    _one_line_naming_rebuild(info.value)


def test_chunks_out_of_document_order_are_refused(tmp_path):
    a, b = _doc("a", "aaa"), _doc("b", "bbb")
    chunks = [Chunk("b", "B", "bbb", 0, 3), Chunk("a", "A", "aaa", 0, 3)]
    with pytest.raises(ValueError, match="order"):
        write_index(tmp_path / "ix", documents=[a, b], chunks=chunks, vectors=_unit(np.eye(2)),
                    embedder_id="use-m3", chunker=ChunkerSettings())
    assert not (tmp_path / "ix").exists()


def _rewrite(index_dir: Path, text: str) -> None:
    doc = _doc("new", text)
    write_index(index_dir, documents=[doc], chunks=_chunks(doc, [text]), vectors=_unit([[1.0, 0, 0, 0]]),
                embedder_id="use-m3", chunker=ChunkerSettings())


def test_rewrite_replaces_the_index_and_leaves_nothing_behind(small):
    index_dir = small[0]
    _rewrite(index_dir, "new text")
    assert [c.text for c in load_index(index_dir).chunks] == ["new text"]
    assert sorted(p.name for p in index_dir.parent.iterdir()) == [".index.lock", "index"]


def test_leftover_staging_directory_is_ignored_then_removed(small):
    index_dir = small[0]
    leftover = index_dir.parent / ".index.tmp-deadbeef"
    leftover.mkdir()
    (leftover / CHUNKS).write_text("half written", encoding="utf-8")
    assert len(load_index(index_dir).chunks) == 4
    tidy_interrupted_write(index_dir)
    assert not leftover.exists()


def test_killed_between_renames_the_previous_index_still_loads_and_is_restored(small):
    index_dir = small[0]
    backup = index_dir.parent / ".index.old"
    os.replace(index_dir, backup)  # the state after the first of the two renames
    assert len(load_index(index_dir).chunks) == 4
    _rewrite(index_dir, "after the crash")
    assert [c.text for c in load_index(index_dir).chunks] == ["after the crash"]
    assert not backup.exists()


def test_killed_before_removing_the_backup_the_new_index_wins(small):
    index_dir = small[0]
    backup = index_dir.parent / ".index.old"
    shutil.copytree(index_dir, backup)
    _edit_manifest(backup, lambda m: m.update(built_at="old"))
    assert load_index(index_dir).manifest["built_at"] != "old"
    tidy_interrupted_write(index_dir)
    assert not backup.exists() and len(load_index(index_dir).chunks) == 4


def test_a_directory_that_is_not_an_index_is_never_replaced(tmp_path):
    precious = tmp_path / "documents"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work", encoding="utf-8")
    with pytest.raises(IngestError, match="holds no index"):
        _rewrite(precious, "oops")
    assert (precious / "thesis.txt").read_text(encoding="utf-8") == "years of work"


def test_reads_during_rewrites_always_see_one_whole_index(tmp_path):
    import threading

    index_dir = tmp_path / "index"
    versions = {n: [f"version {n} chunk {i}" for i in range(n)] for n in (2, 3)}

    def write(n):
        doc = _doc(f"v{n}", " ".join(versions[n]))
        write_index(index_dir, documents=[doc], chunks=_chunks(doc, versions[n]),
                    vectors=_unit(np.eye(4)[:n] + 0.1), embedder_id="use-m3", chunker=ChunkerSettings())

    write(2)
    done = threading.Event()

    def keep_rewriting():
        for i in range(30):
            write(3 if i % 2 == 0 else 2)
        done.set()

    writer = threading.Thread(target=keep_rewriting)
    writer.start()
    loads = 0
    while not done.is_set() or loads == 0:
        index = load_index(index_dir)
        n = index.manifest["counts"]["chunks"]
        assert [c.text for c in index.chunks] == versions[n]
        assert list(index.documents) == [f"v{n}"] and index.vectors().shape == (n, 4)
        loads += 1
    writer.join()


# --- damage of any kind is reported, never served --------------------------------------


def _overwrite_middle(path: Path, size: int = 4096) -> None:
    """4 KB of garbage inside a file (the size stays, so nothing but the bytes changed)."""
    data = bytearray(path.read_bytes())
    start = max(128, len(data) // 2 - size // 2)  # past the headers: the file still parses
    end = min(len(data), start + size)
    data[start:end] = bytes((i * 7 + 3) % 256 for i in range(end - start))
    path.write_bytes(bytes(data))


def _keyword_params(index_dir: Path) -> Path:
    return index_dir / "keyword" / "params.index.json"


@pytest.fixture
def wide(tmp_path):
    """An index whose vector and BM25 files are large enough to hide 4 KB of garbage in their data."""
    texts = [f"passage {i} about transformers w{i} t{i % 7} u{i % 11} v{i % 13} x{i % 17}" for i in range(400)]
    doc = _doc("wide", " ".join(texts))
    rng = np.random.default_rng(0)
    index_dir = tmp_path / "index"
    write_index(index_dir, documents=[doc], chunks=_chunks(doc, texts), vectors=_unit(rng.normal(size=(400, 16))),
                embedder_id="use-m3", chunker=ChunkerSettings())
    return index_dir


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: _overwrite_middle(d / VECTORS),
        lambda d: _overwrite_middle(max((d / "keyword").iterdir(), key=lambda p: p.stat().st_size)),
        lambda d: _keyword_params(d).write_text("{}", encoding="utf-8"),
        lambda d: _edit_manifest(d, lambda m: m.update(documents={})),
        lambda d: (d / MANIFEST).write_text("[]", encoding="utf-8"),
        lambda d: _edit_manifest(d, lambda m: m.pop("checksums")),
        lambda d: _edit_manifest(d, lambda m: m["checksums"].update({"../../etc/passwd": "0" * 64})),
        lambda d: _edit_manifest(d, lambda m: m["embedder"].update(dim="64")),
    ],
    ids=["faiss-4k", "bm25-4k", "params-empty", "documents-emptied", "manifest-list", "no-checksums",
         "checksum-escape", "dim-text"],
)
def test_any_damage_is_one_line_naming_rebuild(wide, damage):
    assert len(load_index(wide).search_keyword("transformers", 3)) == 3  # sound before
    damage(wide)
    with pytest.raises(IndexCorrupt) as info:
        load_index(wide)
    _one_line_naming_rebuild(info.value)
    assert "damaged" in str(info.value)


def test_the_manifest_records_a_checksum_of_every_other_file(small):
    import hashlib

    index_dir = small[0]
    checksums = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))["checksums"]
    files = sorted(p.relative_to(index_dir).as_posix() for p in index_dir.rglob("*") if p.is_file())
    assert sorted(checksums) == [f for f in files if f != MANIFEST]
    assert checksums[VECTORS] == hashlib.sha256((index_dir / VECTORS).read_bytes()).hexdigest()


def test_a_dimension_stored_as_text_says_what_is_wrong(small):
    _edit_manifest(small[0], lambda m: m["embedder"].update(dim="4"))
    with pytest.raises(IndexCorrupt, match=r"embedder\.dim is '4', not a whole number"):
        load_index(small[0])


def test_vectors_of_another_dimension_name_both_numbers_and_whose_they_are(small):
    _edit_manifest(small[0], lambda m: m["embedder"].update(dim=512))
    with pytest.raises(IndexMismatch) as info:
        load_index(small[0])
    assert "holds 4-dimensional vectors, but its manifest says use-m3 vectors have 512 dimensions" in str(info.value)


def test_an_unknown_embedder_in_the_manifest_names_the_fix(small):
    _edit_manifest(small[0], lambda m: m["embedder"].update(id="word-soup-9000"))
    index = load_index(small[0])
    with pytest.raises(IndexMismatch) as info:
        index.embedder()
    message = str(info.value)
    assert "'word-soup-9000'" in message and "unknown embedder" in message
    assert "`rag rebuild --embedder use-m3`" in message and "\n" not in message


def test_a_previous_format_without_checksums_must_be_rebuilt(small):
    _edit_manifest(small[0], lambda m: (m.pop("checksums"), m.update(format_version=1)))
    with pytest.raises(IndexMismatch, match="format version 1") as info:
        load_index(small[0])
    _one_line_naming_rebuild(info.value)
