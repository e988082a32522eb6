"""Papers: naming, identification, loading PDFs, and fetching against a local HTTP server."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ingest.papers import (
    FetchFailed,
    OfflineError,
    fetch_papers,
    first_page_authors,
    load_papers,
    local_papers,
    paper_filename,
    paper_status,
    parse_paper_filename,
    verify_paper_pdf,
)
from ingest.references import PaperRef

SHARED_PAPERS = Path(__file__).resolve().parents[2] / "shared" / "papers"
INTERVAL = 0.3  # seconds between requests in tests: small, but large against scheduling jitter


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


# --- a local stand-in for arxiv.org --------------------------------------------------

class PaperServer:
    """Serves PDFs at /pdf/<id>; ``plans[id]`` scripts the first answers ("503", "404",
    "truncate", "drop", "html"); every request is recorded with its arrival time."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.plans: dict[str, list[str]] = {}
        self.requests: list[tuple[float, str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                arxiv_id = self.path.removeprefix("/pdf/")
                server.requests.append((time.monotonic(), arxiv_id, self.headers.get("Range")))
                plan = server.plans.get(arxiv_id) or ["ok"]
                action = plan.pop(0) if len(plan) > 1 or plan[0] != "ok" else "ok"
                body = server.files.get(arxiv_id)
                if action in ("503", "404") or body is None:
                    self.send_response(404 if action == "404" or body is None else 503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif action == "drop":
                    self.close_connection = True
                elif action == "html":
                    page = b"<html><body>Please solve this captcha</body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                elif action == "truncate":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                else:
                    start = int(re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "bytes=0-")).group(1))
                    self.send_response(206 if start else 200)
                    if start:
                        self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                    self.send_header("Content-Type", "application/pdf")
                    self.send_header("Content-Length", str(len(body) - start))
                    self.end_headers()
                    self.wfile.write(body[start:])

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/pdf/"

    def paths(self) -> list[str]:
        return [arxiv_id for _t, arxiv_id, _r in self.requests]


@pytest.fixture
def server() -> Iterator[PaperServer]:
    paper_server = PaperServer()
    thread = threading.Thread(target=paper_server.httpd.serve_forever, daemon=True)
    thread.start()
    yield paper_server
    paper_server.httpd.shutdown()
    paper_server.httpd.server_close()


def fetch(refs: list[PaperRef], cache: Path, server: PaperServer, **kw: object):
    return fetch_papers(refs, cache, base_url=server.base_url, min_interval_s=INTERVAL, timeout_s=5, **kw)


ATTENTION = PaperRef("1706.03762", "Attention Is All You Need", ("a",))
FEW_SHOT = PaperRef("2005.14165", "Language Models are Few-Shot Learners", ("a", "b"))


# --- naming --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("1706.03762.pdf", ("1706.03762", None)),
        ("1706.03762v7.pdf", ("1706.03762", None)),
        ("2303.18223-zh.pdf", ("2303.18223", "zh")),
        ("2303.18223v1-ZH.PDF", ("2303.18223", "zh")),
        ("cs_0501001v2.pdf", ("cs/0501001", None)),
        ("attention.pdf", (None, None)),
        ("2023.0315.pdf", (None, None)),  # a date, not an id
        ("1706.03762 (1).pdf", (None, None)),
    ],
)
def test_parse_paper_filename(name: str, expected: tuple[str | None, str | None]) -> None:
    assert parse_paper_filename(name) == expected


def test_paper_filename_round_trips_old_style_ids() -> None:
    assert paper_filename("cs/0501001") == "cs_0501001.pdf"
    assert parse_paper_filename(paper_filename("cs/0501001")) == ("cs/0501001", None)


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


# --- fetching ------------------------------------------------------------------------

def test_fetches_missing_papers_one_request_per_interval(server: PaperServer, tmp_path: Path) -> None:
    third = PaperRef("cs/0501001", "An Old Style Paper On Things", ("b",))
    server.files = {"1706.03762": paper_pdf("Attention Is All You Need"),
                    "2005.14165": paper_pdf("Language Models are Few-Shot Learners"),
                    "cs/0501001": paper_pdf(third.title or "")}
    report = fetch([ATTENTION, FEW_SHOT, third], tmp_path / "cache", server)
    assert report.fetched == ("1706.03762", "2005.14165", "cs/0501001") and not report.failed
    assert (tmp_path / "cache" / "1706.03762.pdf").read_bytes() == server.files["1706.03762"]
    assert (tmp_path / "cache" / "cs_0501001.pdf").read_bytes() == server.files["cs/0501001"]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "1706.03762.pdf", "2005.14165.pdf", "cs_0501001.pdf"]
    # Three requests: the first gap includes loading pypdf, the later ones would be
    # milliseconds apart without the rate limit.
    times = [t for t, _id, _range in server.requests]
    # Lower bound only (minus jitter between client and server clocks): never faster than asked.
    assert all(later - earlier >= 0.8 * INTERVAL for earlier, later in zip(times, times[1:]))


def test_papers_already_on_disk_are_not_requested(server: PaperServer, tmp_path: Path) -> None:
    cache, elsewhere = tmp_path / "cache", tmp_path / "mine"
    cache.mkdir()
    elsewhere.mkdir()
    (cache / "1706.03762.pdf").write_bytes(paper_pdf("Attention Is All You Need"))
    (elsewhere / "2005.14165v3.pdf").write_bytes(paper_pdf("Language Models are Few-Shot Learners"))
    report = fetch([ATTENTION, FEW_SHOT], cache, server, also_in=[elsewhere])
    assert report.present == ("1706.03762", "2005.14165") and report.fetched == ()
    assert server.requests == []


def test_retries_after_a_server_error(server: PaperServer, tmp_path: Path) -> None:
    server.files = {"1706.03762": paper_pdf("Attention Is All You Need")}
    server.plans = {"1706.03762": ["503", "ok"]}
    report = fetch([ATTENTION], tmp_path, server)
    assert report.fetched == ("1706.03762",)
    assert server.paths() == ["1706.03762", "1706.03762"]
    (first, _, _), (second, _, _) = server.requests
    assert second - first >= 0.8 * 2 * INTERVAL  # backoff doubles the interval


def test_gives_up_after_the_retries_and_goes_on(server: PaperServer, tmp_path: Path) -> None:
    server.files = {"1706.03762": paper_pdf("Attention Is All You Need"),
                    "2005.14165": paper_pdf("Language Models are Few-Shot Learners")}
    server.plans = {"1706.03762": ["503"] * 10}
    report = fetch([ATTENTION, FEW_SHOT], tmp_path, server, retries=2)
    assert report.fetched == ("2005.14165",)
    [(arxiv_id, reason)] = report.failed
    assert arxiv_id == "1706.03762" and "503" in reason and "3 tries" in reason
    assert server.paths().count("1706.03762") == 3
    assert not (tmp_path / "1706.03762.pdf").exists()


def test_not_found_is_reported_without_retrying(server: PaperServer, tmp_path: Path) -> None:
    report = fetch([ATTENTION], tmp_path, server)
    assert report.failed[0][0] == "1706.03762" and "404" in report.failed[0][1]
    assert server.paths() == ["1706.03762"]
    assert "1 failed: 1706.03762 (HTTP 404" in str(report)


def test_wrong_pdf_is_rejected_and_removed(server: PaperServer, tmp_path: Path) -> None:
    server.files = {"1706.03762": paper_pdf("Deep Residual Learning for Image Recognition")}
    report = fetch([ATTENTION], tmp_path, server)
    [(arxiv_id, reason)] = report.failed
    assert arxiv_id == "1706.03762" and "wrong paper" in reason
    assert list(tmp_path.iterdir()) == []


def test_html_instead_of_pdf_is_rejected(server: PaperServer, tmp_path: Path) -> None:
    server.files = {"1706.03762": paper_pdf("Attention Is All You Need")}
    server.plans = {"1706.03762": ["html"]}
    report = fetch([ATTENTION], tmp_path, server)
    assert "not a PDF" in report.failed[0][1]
    assert list(tmp_path.iterdir()) == []


def test_untitled_reference_needs_the_arxiv_stamp(server: PaperServer, tmp_path: Path) -> None:
    server.files = {"2101.00001": paper_pdf("Some Paper", arxiv_id="2101.00001"),
                    "2101.00002": paper_pdf("Some Other Paper")}
    refs = [PaperRef("2101.00001", None, ("a",)), PaperRef("2101.00002", None, ("a",))]
    report = fetch(refs, tmp_path, server)
    assert report.fetched == ("2101.00001",)
    assert report.failed[0][0] == "2101.00002" and "arXiv:2101.00002" in report.failed[0][1]


def test_resumes_a_partial_download_with_a_range_request(server: PaperServer, tmp_path: Path) -> None:
    body = paper_pdf("Attention Is All You Need")
    server.files = {"1706.03762": body}
    (tmp_path / "1706.03762.pdf.part").write_bytes(body[:100])
    assert fetch([ATTENTION], tmp_path, server).fetched == ("1706.03762",)
    assert server.requests[0][2] == "bytes=100-"
    assert (tmp_path / "1706.03762.pdf").read_bytes() == body
    assert not (tmp_path / "1706.03762.pdf.part").exists()


def test_a_transfer_cut_short_is_resumed(server: PaperServer, tmp_path: Path) -> None:
    body = paper_pdf("Attention Is All You Need")
    server.files = {"1706.03762": body}
    server.plans = {"1706.03762": ["truncate", "ok"]}
    assert fetch([ATTENTION], tmp_path, server).fetched == ("1706.03762",)
    assert [r for _t, _id, r in server.requests] == [None, f"bytes={len(body) // 2}-"]
    assert (tmp_path / "1706.03762.pdf").read_bytes() == body


def test_a_dropped_connection_after_the_server_answered_is_retried(server: PaperServer, tmp_path: Path) -> None:
    server.files = {"1706.03762": paper_pdf("Attention Is All You Need"),
                    "2005.14165": paper_pdf("Language Models are Few-Shot Learners")}
    server.plans = {"2005.14165": ["drop", "ok"]}
    report = fetch([ATTENTION, FEW_SHOT], tmp_path, server)
    assert report.fetched == ("1706.03762", "2005.14165")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_offline_stops_at_once_with_one_line_naming_the_missing_ids(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(OfflineError) as caught:
        fetch_papers([ATTENTION, FEW_SHOT], cache, base_url=f"http://127.0.0.1:{closed_port()}/pdf/",
                     min_interval_s=INTERVAL, timeout_s=5)
    message = str(caught.value)
    assert message == (
        "arXiv is unreachable (offline?): 2 papers missing: 1706.03762, 2005.14165. "
        f"Put their PDFs (named <arxiv id>.pdf) in {cache} or pass --papers-dir DIR."
    )
    assert caught.value.missing == ("1706.03762", "2005.14165")
    assert list(cache.iterdir()) == []


def test_verify_accepts_the_cited_paper_despite_case_and_hyphens(tmp_path: Path) -> None:
    path = tmp_path / "p.pdf"
    path.write_bytes(paper_pdf("BERT: Pre-training of Deep Bidirectional Transformers"))
    verify_paper_pdf(path, PaperRef("1810.04805", "Bert: pre training of deep bidirectional transformers", ()))
    with pytest.raises(FetchFailed, match="wrong paper"):
        verify_paper_pdf(path, ATTENTION)


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


# --- ids from elsewhere never become paths ---------------------------------------------

@pytest.mark.parametrize("bad", ["../../etc/passwd", "1706.03762/../../x", "..", "1706.03762?x=1", ""])
def test_a_bad_id_never_becomes_a_file_name(bad: str, tmp_path: Path) -> None:
    with pytest.raises(FetchFailed, match="not an arXiv id"):
        paper_filename(bad)
    # fetch_papers reports it as failed and writes nothing, without asking the server.
    report = fetch_papers([PaperRef(bad, "Evil", ("a",))], tmp_path / "cache",
                          base_url="http://127.0.0.1:9/pdf/", min_interval_s=0, timeout_s=1)
    assert report.fetched == () and len(report.failed) == 1 and "not an arXiv id" in report.failed[0][1]
    assert list((tmp_path / "cache").iterdir()) == []


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
