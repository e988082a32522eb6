"""Tests for ingest.corpus: the manifest, unlisted files, skipped files and make_document."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from ingest.corpus import EmptyCorpus, ManifestError, load_corpus, make_document, slugify
from ingest.documents import IngestError
from ingest.loaders import RawDocument

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO.parent / "shared" / "seeds"


def _manifest(corpus: Path, body: str) -> None:
    (corpus / "manifest.toml").write_text(body, encoding="utf-8")


def test_manifest_entries_unlisted_files_and_skips(tmp_path, caplog):
    corpus = tmp_path / "corpus"
    (corpus / "articles").mkdir(parents=True)
    (corpus / "articles" / "a.txt").write_text("简介\n大语言模型的正文。\n微信扫码\n", encoding="utf-8")
    (corpus / "Extra Notes.md").write_text("# Transformer Notes\n\nAttention is all you need.\n", encoding="utf-8")
    (corpus / "bad.txt").write_bytes(b"\x00\x01binary")
    (corpus / "README.md").write_text("# About this folder\n", encoding="utf-8")
    (corpus / "questions.jsonl").write_text("{}\n", encoding="utf-8")
    _manifest(
        corpus,
        """
[[documents]]
id = "llm-intro"
file = "articles/a.txt"
title = "大语言模型简介"
lang = "zh"
origin = "001_x.txt"
url = "https://example.org/a"

[[documents]]
id = "gone"
file = "articles/missing.txt"
title = "Missing"
""",
    )
    with caplog.at_level(logging.WARNING, logger="ingest.corpus"):
        result = load_corpus(corpus)

    by_id = {doc.doc_id: doc for doc in result.documents}
    assert list(by_id) == ["llm-intro", "extra-notes"]
    intro = by_id["llm-intro"]
    assert (intro.title, intro.lang, intro.kind, intro.origin, intro.url) == (
        "大语言模型简介", "zh", "article", "001_x.txt", "https://example.org/a",
    )  # fmt: skip
    assert intro.text == "简介\n大语言模型的正文。"  # cleaned: the QR prompt is gone
    assert intro.source == "corpus/articles/a.txt"
    assert intro.sha256 == hashlib.sha256((corpus / "articles" / "a.txt").read_bytes()).hexdigest()
    notes = by_id["extra-notes"]
    assert (notes.title, notes.lang, notes.extractor) == ("Transformer Notes", "en", "markdown")

    skipped = {Path(s.path).name: s.reason for s in result.skipped}
    assert set(skipped) == {"missing.txt", "bad.txt"}
    assert "not found" in skipped["missing.txt"] and "binary" in skipped["bad.txt"]
    assert "bad.txt" in caplog.text and "missing.txt" in caplog.text


def test_without_manifest_every_file_is_loaded_with_title_from_first_line(tmp_path):
    (tmp_path / "一篇文章.txt").write_text("\n\nLLM 的演变\n正文。\n", encoding="utf-8")
    (tmp_path / "one-article.txt").write_text("The history of LLMs\nText.\n", encoding="utf-8")
    result = load_corpus(tmp_path)
    assert [(d.doc_id, d.title, d.lang) for d in result.documents] == [
        ("one-article", "The history of LLMs", "en"),
        ("一篇文章", "LLM 的演变", "zh"),
    ]


def test_unlisted_ids_do_not_collide_with_manifest_ids(tmp_path):
    (tmp_path / "a.txt").write_text("A 文本。", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "A.txt").write_text("另一个 A。", encoding="utf-8")
    _manifest(tmp_path, '[[documents]]\nid = "a"\nfile = "a.txt"\ntitle = "A"\n')
    assert [d.doc_id for d in load_corpus(tmp_path).documents] == ["a", "a-2"]


def test_empty_corpus_raises_with_instructions(tmp_path):
    (tmp_path / "only.bin").write_bytes(b"\x00")
    with pytest.raises(EmptyCorpus, match=r"put \.txt/\.md/\.html/\.pdf files there") as info:
        load_corpus(tmp_path)
    assert isinstance(info.value, IngestError)
    assert "\n" not in str(info.value)
    with pytest.raises(EmptyCorpus, match="does not exist"):
        load_corpus(tmp_path / "nope")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[[documents]\nid=", "not valid TOML"),
        ('[[documents]]\nfile = "a.txt"\n', "needs a non-empty 'id'"),
        ('[[documents]]\nid = "a"\nfile = "a.txt"\n[[documents]]\nid = "a"\nfile = "b.txt"\n', "used twice"),
        ('[[documents]]\nid = "a"\nfile = "a.txt"\nlang = "fr"\n', "lang must be"),
        ('documents = "x"\n', "array of tables"),
    ],
)
def test_malformed_manifest(tmp_path, body, message):
    _manifest(tmp_path, body)
    with pytest.raises(ManifestError, match=message):
        load_corpus(tmp_path)


def test_make_document_cleans_pages_and_records_spans():
    header = "Running header of the paper"
    raw = RawDocument(
        pages=(f"{header}\n1\nFirst ﬁne page.", f"{header}\n2\n", f"{header}\n3\nThird page."),
        extractor="pypdf",
        title=None,
        sha256="ab" * 32,
    )
    doc = make_document(raw, doc_id="p", title="P", source="x.pdf", lang="en", kind="paper", arxiv_id="1")
    assert doc.text == "First fine page.\n\nThird page."
    assert [(p.number, doc.text[p.start : p.end]) for p in doc.pages] == [
        (1, "First fine page."), (2, ""), (3, "Third page."),
    ]  # fmt: skip
    assert (doc.extractor, doc.sha256, doc.kind, doc.arxiv_id) == ("pypdf", "ab" * 32, "paper", "1")


def test_make_document_text_file_has_one_unnumbered_page():
    raw = RawDocument(pages=("正文。\n",), extractor="text", title=None, sha256="0" * 64)
    doc = make_document(raw, doc_id="a", title="A", source="a.txt", lang="zh", kind="article")
    assert doc.pages[0].number is None and doc.text[doc.pages[0].start : doc.pages[0].end] == "正文。"


def test_slugify():
    assert slugify("Extra Notes (v2)") == "extra-notes-v2"
    assert slugify("大模型_简史") == "大模型-简史"


@pytest.mark.skipif(not (REPO / "corpus" / "manifest.toml").exists(), reason="no corpus in this checkout")
def test_project_corpus_loads_with_real_titles():
    result = load_corpus(REPO / "corpus")
    assert result.skipped == ()
    titles = {d.doc_id: d.title for d in result.documents}
    assert len(titles) == 5
    assert titles["llm-development-resources"] == "LLM 大语言模型发展及关键资源"
    assert not any(t in {"简介", "2023年3月", "微信扫码"} for t in titles.values())
    for doc in result.documents:
        assert doc.lang == "zh" and doc.origin and doc.origin.endswith(".txt")
        for junk in ("微信扫码", "添加红包", "二维码", "2024-12-21"):
            assert junk not in doc.text


@pytest.mark.skipif(not SEEDS.exists(), reason="../shared/seeds not available")
def test_corpus_articles_are_byte_copies_of_the_seeds():
    result = load_corpus(REPO / "corpus")
    for doc in result.documents:
        seed = SEEDS / doc.origin
        assert hashlib.sha256(seed.read_bytes()).hexdigest() == doc.sha256


# --- containment: only files the corpus folder holds are indexed ------------------------


@pytest.fixture
def escape_setup(tmp_path):
    """A corpus beside a secret file it must never read, and one honest article."""
    secret = tmp_path / "outside" / "STYLE.md"
    secret.parent.mkdir()
    secret.write_text("# Secret style guide\n\nNever index me: passwords live here.\n", encoding="utf-8")
    corpus = tmp_path / "project" / "corpus"
    (corpus / "articles").mkdir(parents=True)
    (corpus / "articles" / "ok.txt").write_text("GPT-3 有 1750 亿个参数。", encoding="utf-8")
    return corpus, secret


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink-file", "symlink-dir"])
def test_files_outside_the_corpus_are_skipped_with_a_reason(escape_setup, how, caplog):
    corpus, secret = escape_setup
    if how == "dotdot":
        _manifest(corpus, '[[documents]]\nid = "style"\nfile = "../../outside/STYLE.md"\n')
        expected = "climbs out"
    elif how == "absolute":
        _manifest(corpus, f'[[documents]]\nid = "style"\nfile = "{secret.as_posix()}"\n')
        expected = "absolute path"
    elif how == "symlink-file":
        (corpus / "articles" / "x.md").symlink_to(Path("..", "..", "..", "outside", "STYLE.md"))
        expected = "symlink"
    else:  # a listed file reached through a linked folder
        (corpus / "linked").symlink_to(secret.parent, target_is_directory=True)
        _manifest(corpus, '[[documents]]\nid = "style"\nfile = "linked/STYLE.md"\n')
        expected = "symlink"
    with caplog.at_level(logging.WARNING, logger="ingest.corpus"):
        result = load_corpus(corpus)
    assert [d.doc_id for d in result.documents] == ["ok"]
    assert not any("passwords" in d.text for d in result.documents)
    assert len(result.skipped) == 1
    reason = result.skipped[0].reason
    assert expected in reason and "\n" not in reason
    assert "skipping" in caplog.text


def test_links_and_dotdots_that_stay_inside_the_corpus_are_loaded(escape_setup):
    corpus, _ = escape_setup
    (corpus / "notes").mkdir()
    (corpus / "notes" / "real.md").write_text("# Notes\n\nBERT 是编码器。", encoding="utf-8")
    (corpus / "articles" / "alias.md").symlink_to(Path("..", "notes", "real.md"))
    _manifest(corpus, '[[documents]]\nid = "notes"\nfile = "articles/../notes/real.md"\n')
    result = load_corpus(corpus)
    assert [d.doc_id for d in result.documents] == ["notes", "ok"] and result.skipped == ()


def test_empty_and_blank_files_are_skipped_not_indexed(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.md").write_text("\n   \n\t\n", encoding="utf-8")
    (tmp_path / "only-markup.html").write_text("<html><script>var x = 1;</script></html>", encoding="utf-8")
    (tmp_path / "real.txt").write_text("Word2vec learns word vectors.", encoding="utf-8")
    _manifest(tmp_path, '[[documents]]\nid = "listed-empty"\nfile = "empty.txt"\n')
    result = load_corpus(tmp_path)
    assert [d.doc_id for d in result.documents] == ["real"]
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert set(reasons) == {"empty.txt", "blank.md", "only-markup.html"}
    assert all("no text" in r for r in reasons.values())
