"""arXiv: paper file names, and fetching against a local HTTP server that stands in for arxiv.org."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ingest.arxiv import FetchFailed, OfflineError, fetch_papers, paper_filename, parse_paper_filename, verify_paper_pdf
from ingest.references import PaperRef
from tests.test_papers import ATTENTION, FEW_SHOT, paper_pdf

INTERVAL = 0.3  # seconds between requests in tests: small, but large against scheduling jitter


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
