"""Tests for ingest.uploads (checks, names, storage) and ingest.library (background builds)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ingest.build import build_index
from ingest.corpus import load_corpus
from ingest.index import load_index
from ingest.library import BuildProgress, DocumentLibrary, UploadFolderError
from ingest.uploads import UploadRejected, check_upload, remove_upload, safe_name, store_upload
from tests.test_build import KeywordEmbedder, _write_corpus

GOOD = "# Zorblax-7\n\nThe Zorblax-7 transformer was trained by Kestrel Lab with 42 billion 参数.\n".encode()
WAIT_S = 60


def _library(tmp_path: Path, **kw) -> DocumentLibrary:
    corpus = _write_corpus(tmp_path / "corpus")
    build_index(corpus, tmp_path / "index", embedder=KeywordEmbedder(), progress=False)
    return DocumentLibrary(corpus, tmp_path / "index", embedder=KeywordEmbedder(), **kw)


def _blank_pdf() -> bytes:
    pypdf = pytest.importorskip("pypdf")
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name, expected",
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\evil.md", "evil.md"),
        (".hidden.txt", "hidden.txt"),
        ("GPT 论文 (final).PDF", "GPT-论文-final.pdf"),
        ("a/b/../c.html", "c.html"),
    ],
)
def test_a_file_name_never_leaves_the_upload_folder(name, expected, tmp_path):
    assert safe_name(name) == expected
    stored = store_upload(tmp_path / "uploads", name, b"text", "0" * 64)
    assert stored.path.parent == tmp_path / "uploads"
    assert stored.path.read_bytes() == b"text"


def test_a_name_without_usable_characters_is_refused():
    with pytest.raises(UploadRejected, match="no usable characters"):
        safe_name("../..")


def test_storing_the_same_name_twice_keeps_both(tmp_path):
    first = store_upload(tmp_path, "notes.txt", b"one", "a" * 64)
    second = store_upload(tmp_path, "notes.txt", b"two", "b" * 64)
    assert (first.name, second.name) == ("notes.txt", "notes-2.txt")
    assert first.path.read_bytes() == b"one"


def test_removing_outside_the_upload_folder_is_refused(tmp_path):
    uploads = tmp_path / "corpus" / "uploads"
    uploads.mkdir(parents=True)
    victim = tmp_path / "corpus" / "keep.txt"
    victim.write_text("keep me")
    with pytest.raises(UploadRejected, match="no such uploaded document"):
        remove_upload(uploads, "../keep.txt")
    assert victim.exists()


# --------------------------------------------------------------------------- checks


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("report.docx", b"PK\x03\x04 not a text", "wrong type .docx"),
        ("no-extension", b"text", "wrong type (no extension)"),
        ("empty.txt", b"", "the file is empty"),
        ("big.txt", b"x" * 2048, "too large (2 KB); the limit is 1 KB"),
        ("binary.txt", b"abc\x00def", "unreadable: looks like a binary file"),
        ("spaces.md", b"   \n\n  \t\n", "no text in the file"),
    ],
)
def test_a_bad_file_gets_a_one_line_reason(name, data, reason):
    with pytest.raises(UploadRejected) as caught:
        check_upload(name, data, known_hashes={}, max_bytes=1024)
    message = str(caught.value)
    assert message.startswith(name + ": ") and reason in message and "\n" not in message


def test_a_pdf_without_text_is_refused():
    with pytest.raises(UploadRejected, match="blank.pdf: .*(no extractable text|no text)"):
        check_upload("blank.pdf", _blank_pdf(), known_hashes={})


def test_a_copy_of_an_indexed_document_is_refused_by_hash(tmp_path):
    sha256 = check_upload("zorblax.md", GOOD, known_hashes={})
    with pytest.raises(UploadRejected, match="already indexed as zorblax.md"):
        check_upload("renamed.md", GOOD, known_hashes={sha256: "zorblax.md"})


# --------------------------------------------------------------------------- the library


def test_an_upload_is_indexed_titled_and_listed_with_its_chunks(tmp_path):
    swapped = []
    library = _library(tmp_path, on_new_index=swapped.append)
    stages: list[str] = []
    result = library.add([("../Zorblax notes.md", GOOD)])
    assert [s.name for s in result.stored] == ["Zorblax-notes.md"] and result.rejected == ()
    while not library.wait(0.01):
        stages.append(library.progress().stage)
    assert library.progress().stage == "done", library.progress()
    [doc] = library.documents()
    assert (doc.name, doc.title, doc.size) == ("Zorblax-notes.md", "Zorblax-7", len(GOOD))
    assert doc.chunks == 1
    # The new index was handed over, and it holds the upload as a citable document.
    [index] = swapped
    assert any(chunk.title == "Zorblax-7" and "42 billion" in chunk.text for chunk in index.chunks)
    assert set(stages) <= {"reading", "embedding", "writing", "done"}
    # A plain `rag rebuild` of the corpus keeps it.
    assert "Zorblax-7" in {d.title for d in load_corpus(tmp_path / "corpus").documents}


def test_a_rejected_upload_changes_nothing(tmp_path):
    library = _library(tmp_path, max_bytes=1024)
    before = load_index(tmp_path / "index").manifest["build_id"]
    result = library.add([("empty.txt", b""), ("slides.pptx", b"PK"), ("big.md", b"x" * 5000)])
    assert result.stored == () and len(result.rejected) == 3
    assert library.wait(WAIT_S) and library.progress() == BuildProgress()
    assert library.documents() == []
    assert load_index(tmp_path / "index").manifest["build_id"] == before
    assert not (tmp_path / "corpus" / "uploads").exists() or not any((tmp_path / "corpus" / "uploads").iterdir())


def test_the_same_file_twice_is_refused_the_second_time(tmp_path):
    library = _library(tmp_path)
    first = library.add([("a.md", GOOD), ("b.md", GOOD)])
    assert [s.name for s in first.stored] == ["a.md"]
    assert first.rejected == ("b.md: the same content is already indexed as a.md",)
    assert library.wait(WAIT_S)
    again = library.add([("c.md", GOOD)])
    assert again.rejected == ("c.md: the same content is already indexed as a.md",)


def test_removing_an_upload_drops_it_from_the_index(tmp_path):
    library = _library(tmp_path)
    library.add([("zorblax.md", GOOD)])
    assert library.wait(WAIT_S)
    library.remove("zorblax.md")
    assert library.wait(WAIT_S)
    assert library.documents() == []
    assert "Zorblax-7" not in {d["title"] for d in load_index(tmp_path / "index").documents.values()}


def test_a_failed_build_keeps_the_old_index_in_use(tmp_path):
    swapped = []
    library = _library(tmp_path, on_new_index=swapped.append)
    library._build_args["embedder"] = KeywordEmbedder(fail_after=0)  # crashes on the first batch
    before = load_index(tmp_path / "index").manifest["build_id"]
    library.add([("zorblax.md", GOOD)])
    assert library.wait(WAIT_S)
    progress = library.progress()
    assert progress.stage == "failed" and "the old index stays in use" in progress.line()
    assert swapped == [] and load_index(tmp_path / "index").manifest["build_id"] == before
    [doc] = library.documents()
    assert not doc.indexed


def test_the_upload_folder_must_be_inside_the_corpus(tmp_path):
    with pytest.raises(UploadFolderError):
        DocumentLibrary(tmp_path / "corpus", tmp_path / "index", upload_folder="../elsewhere")


def test_progress_lines_say_what_is_happening():
    assert "embedding passages 64 of 200" in BuildProgress("embedding", 64, 200).line()
    assert BuildProgress("reading").running and not BuildProgress("done", message="x").running


def test_a_file_over_the_limit_is_refused_by_its_size(tmp_path):
    library = _library(tmp_path, max_bytes=1024)
    (tmp_path / "big.md").write_bytes(b"x" * 3000)
    (tmp_path / "ok.md").write_bytes(GOOD)
    result = library.add_paths([tmp_path / "big.md", tmp_path / "ok.md"])
    assert result.rejected == ("big.md: too large (3 KB); the limit is 1 KB",)
    assert [s.name for s in result.stored] == ["ok.md"]
    assert library.wait(WAIT_S)
