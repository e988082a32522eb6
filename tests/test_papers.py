"""Papers: identifying, titling and loading PDFs, and which cited papers are indexed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.arxiv import local_papers
from ingest.papers import first_page_authors, load_papers, paper_status
from ingest.references import PaperRef

SHARED_PAPERS = Path(__file__).resolve().parents[2] / "shared" / "papers"


def make_pdf(lines: list[str], *, title: str | None = None) -> bytes:
    """A one-page PDF: the first line in 20 pt Helvetica, the rest in 10 pt."""
    ops = ["BT"]
    y = 740
    for i, line in enumerate(lines):
        size = 20 if i == 0 else 10
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"/F1 {size} Tf 1 0 0 1 72 {y} Tm ({escaped}) Tj")
        y -= size + 8
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    info = f"<< /Title ({title}) >>".encode("latin-1") if title else b"<< >>"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        info,
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def paper_pdf(title: str, arxiv_id: str | None = None) -> bytes:
    lines = [title, "Ada Lovelace, Alan Turing", "Abstract", "We study things at some length. " * 2]
    if arxiv_id:
        lines.append(f"arXiv:{arxiv_id}v2 [cs.CL] 1 Jan 2021")
    return make_pdf(lines)


ATTENTION = PaperRef("1706.03762", "Attention Is All You Need", ("a",))
FEW_SHOT = PaperRef("2005.14165", "Language Models are Few-Shot Learners", ("a", "b"))


# --- first pages ---------------------------------------------------------------------

def test_authors_from_blocks_and_bylines_and_none_when_unclear() -> None:
    blocks = "Great Title Here\nAda Lovelace∗\nGoogle Brain\nada@example.com\nAlan Turing\nUniversity of X\nalan@x.org\nAbstract\n"
    byline = "Great Title Here\nAda Lovelace, Alan Turing* and\nGrace Hopper\nAbstract—text"
    run_together = "Great Title Here\nAda Lovelace Alan Turing Grace Hopper Edsger Dijkstra\nAbstract"
    no_abstract = "Great Title Here\nAda Lovelace\n"
    assert first_page_authors(blocks, "Great Title Here") == ("Ada Lovelace", "Alan Turing")
    assert first_page_authors(byline, "Great Title Here") == ("Ada Lovelace", "Alan Turing", "Grace Hopper")
    assert first_page_authors(run_together, "Great Title Here") == ()
    assert first_page_authors(no_abstract, "Great Title Here") == ()


def test_labeled_bylines_give_authors_in_either_language() -> None:
    chinese = ("大语言模型综述\n作者:赵鑫,周昆 *,李军毅 *,唐天一,\n杨晨,欧阳修\n中文校对:胡译文,邓欣\n"
               "摘要—自从 20 世纪 50 年代图灵测试被提出以来……")
    english = "Some Title\nAuthors: Ada Lovelace, Alan Turing and Grace Hopper\nAbstract\nWe study."
    # The label finds the byline even when the title printed on the page is not the one known.
    assert first_page_authors(chinese, "A Survey (translated)") == ("赵鑫", "周昆", "李军毅", "唐天一", "杨晨", "欧阳修")
    assert first_page_authors(english, "Some Title") == ("Ada Lovelace", "Alan Turing", "Grace Hopper")
    assert first_page_authors("标题\n作者:某某大学计算机学院\n摘要", "标题") == ()  # not a name: nothing


# --- status --------------------------------------------------------------------------

def test_paper_status_rows(tmp_path: Path) -> None:
    cache, mine = tmp_path / "cache", tmp_path / "mine"
    cache.mkdir()
    mine.mkdir()
    (mine / "2005.14165.pdf").write_bytes(b"%PDF-")
    (cache / "2303.18223-zh.pdf").write_bytes(b"%PDF-")  # a translation is not the paper itself
    survey = PaperRef("2303.18223", "A Survey of Large Language Models", ("a",))
    rows = paper_status([ATTENTION, FEW_SHOT, survey], cache, [mine], indexed={"1706.03762": [("1706.03762", None)]})
    assert [(row.label, row.status) for row in rows] == [
        ("1706.03762", "indexed"), ("2005.14165", "cached"), ("2303.18223", "missing")]
    assert rows[0].title == ATTENTION.title  # the reference's title when the index has none
    assert rows[1].cited_by == ("a", "b") and rows[1].path == str(mine / "2005.14165.pdf")
    assert local_papers([cache, mine]) == {"2005.14165": mine / "2005.14165.pdf"}


def test_each_indexed_version_of_a_paper_gets_its_own_row(tmp_path: Path) -> None:
    survey = PaperRef("2303.18223", "A Survey of Large Language Models", ("a",))
    indexed = {"2303.18223": [("2303.18223", "A Survey of Large Language Models"), ("2303.18223-zh", "大语言模型综述")]}
    rows = paper_status([survey], tmp_path, [], indexed=indexed)
    assert [(row.label, row.status, row.title) for row in rows] == [
        ("2303.18223", "indexed", "A Survey of Large Language Models"),
        ("2303.18223-zh", "indexed", "大语言模型综述"),
    ]


# --- loading -------------------------------------------------------------------------

def test_load_papers_identifies_pdfs_by_name_stamp_and_title(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "1706.03762v7.pdf").write_bytes(paper_pdf("Attention Is All You Need"))
    (first / "stamped.pdf").write_bytes(paper_pdf("A Stamped Paper About Things", arxiv_id="2101.00001"))
    (first / "few shot.pdf").write_bytes(paper_pdf("Language Models are Few-Shot Learners"))
    (first / "Mystery Notes.pdf").write_bytes(paper_pdf("Notes On Something Uncited"))
    (first / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (second / "1706.03762.pdf").write_bytes(paper_pdf("Attention Is All You Need") + b"\n% another copy\n")
    (second / "notes.txt").write_text("not a pdf")

    result = load_papers([first, second], [ATTENTION, FEW_SHOT])
    docs = {doc.doc_id: doc for doc in result.documents}
    assert set(docs) == {"arxiv-1706.03762", "arxiv-2101.00001", "arxiv-2005.14165", "paper-mystery-notes"}
    assert docs["arxiv-1706.03762"].title == "Attention Is All You Need"
    assert docs["arxiv-1706.03762"].url == "https://arxiv.org/abs/1706.03762"
    assert docs["arxiv-1706.03762"].authors == ("Ada Lovelace", "Alan Turing")
    assert docs["arxiv-2101.00001"].title == "A Stamped Paper About Things"
    assert docs["arxiv-2005.14165"].arxiv_id == "2005.14165"
    mystery = docs["paper-mystery-notes"]
    assert (mystery.arxiv_id, mystery.url, mystery.title) == (None, None, "Notes On Something Uncited")
    assert all(doc.kind == "paper" and doc.lang == "en" for doc in docs.values())
    assert {Path(s.path).name for s in result.skipped} == {"broken.pdf", "1706.03762.pdf"}


def test_load_papers_prefers_a_real_metadata_title_over_page_lines(tmp_path: Path) -> None:
    (tmp_path / "x.pdf").write_bytes(make_pdf(["Conference 2021", "The Real Title Of It", "Abstract"],
                                              title="The Real Title Of It"))
    (tmp_path / "y.pdf").write_bytes(make_pdf(["Printed Title Of Y", "Abstract"], title="figure1.eps"))
    docs = {doc.doc_id: doc for doc in load_papers([tmp_path]).documents}
    assert docs["paper-x"].title == "The Real Title Of It"
    assert docs["paper-y"].title == "Printed Title Of Y"


def test_load_papers_over_the_shared_papers() -> None:
    if not SHARED_PAPERS.is_dir():
        pytest.skip("../shared/papers not present")
    result = load_papers([SHARED_PAPERS])
    docs = {doc.doc_id: doc for doc in result.documents}
    assert len(docs) == 7 and not result.skipped
    assert {doc.arxiv_id for doc in docs.values()} == {
        "1301.3781", "1310.4546", "1706.03762", "1810.04805", "2203.02155", "2303.18223"}
    assert docs["arxiv-1706.03762"].title == "Attention Is All You Need"
    assert docs["arxiv-1706.03762"].authors[0] == "Ashish Vaswani"
    assert docs["arxiv-1301.3781"].title == "Efficient Estimation of Word Representations in Vector Space"
    chinese = docs["arxiv-2303.18223-zh"]
    assert chinese.lang == "zh" and chinese.url == "https://arxiv.org/abs/2303.18223"
    assert "大语言模型" in chinese.text[:2000] and "大语言模型综述" in chinese.title
    assert docs["arxiv-2303.18223"].lang == "en"


def test_a_pdf_linked_from_outside_its_papers_folder_is_skipped(tmp_path: Path) -> None:
    papers = tmp_path / "papers"
    papers.mkdir()
    elsewhere = tmp_path / "private" / "1706.03762.pdf"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(paper_pdf("Attention Is All You Need"))
    (papers / "1706.03762.pdf").symlink_to(elsewhere)
    (papers / "2005.14165.pdf").write_bytes(paper_pdf("Language Models are Few-Shot Learners"))
    result = load_papers([papers], [ATTENTION, FEW_SHOT])
    assert [d.doc_id for d in result.documents] == ["arxiv-2005.14165"]
    assert len(result.skipped) == 1 and "symlink" in result.skipped[0].reason
