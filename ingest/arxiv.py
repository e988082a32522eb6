"""arXiv papers as files: how a paper's file is named, and fetching missing ones from arXiv.

A paper file is named ``<arxiv id>.pdf`` (``/`` in old-style ids becomes ``_``),
optionally with a version (``1706.03762v7.pdf``) or a variant (``2303.18223-zh.pdf``).
``fetch_papers`` downloads the cited papers that no folder holds yet into a cache folder,
politely (one request every few seconds, retries with backoff, resumable) and carefully
(only a PDF whose first page shows the cited title is kept). Reading papers as documents
is ``ingest.papers``'s.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

from ingest.documents import IngestError
from ingest.loaders import looks_garbled
from ingest.references import PaperRef, find_arxiv_ids, is_valid_arxiv_id, title_in_text

log = logging.getLogger(__name__)

ARXIV_PDF_URL = "https://arxiv.org/pdf/"
ARXIV_ABS_URL = "https://arxiv.org/abs/"
USER_AGENT = "llm-history-rag/0.1 (fetches the arXiv papers a small corpus cites; python-urllib)"
PDF_MAGIC = b"%PDF-"

# 1706.03762, 1706.03762v7, 2303.18223-zh, cs_0501001v2, hep-th_9901001
_FILENAME_RE = re.compile(
    r"(?P<id>\d{4}\.\d{4,5}|[a-z]+(?:-[a-z]+)?(?:\.[A-Z]{2})?_\d{7})"
    r"(?:v(?P<version>\d+))?(?:[-_. ](?P<variant>[A-Za-z0-9][A-Za-z0-9_-]*))?"
)


class OfflineError(IngestError):
    """arXiv could not be reached at all; ``missing`` lists the ids still needed."""

    def __init__(self, missing: Sequence[str], cache_dir: Path):
        self.missing = tuple(missing)
        super().__init__(
            f"arXiv is unreachable (offline?): {len(self.missing)} papers missing: "
            f"{', '.join(self.missing)}. Put their PDFs (named <arxiv id>.pdf) in {cache_dir} "
            "or pass --papers-dir DIR."
        )


class FetchFailed(IngestError):
    """One paper could not be fetched (HTTP error, not a PDF, not the cited paper)."""


# --- naming --------------------------------------------------------------------------

def paper_filename(arxiv_id: str) -> str:
    """The file name a paper is cached under: ``1706.03762.pdf``, ``cs_0501001.pdf``.

    Raises :class:`FetchFailed` for anything that is not an arXiv id, so no id read from
    elsewhere (an index manifest) can name a file outside the cache.
    """
    if not is_valid_arxiv_id(arxiv_id):
        raise FetchFailed(f"{arxiv_id!r} is not an arXiv id; not used as a file name")
    return arxiv_id.replace("/", "_") + ".pdf"


def parse_paper_filename(name: str) -> tuple[str | None, str | None]:
    """(arxiv id, variant) that a PDF's file name carries, or (None, None).

    ``1706.03762v7.pdf`` -> ("1706.03762", None); ``2303.18223-zh.pdf`` ->
    ("2303.18223", "zh"); ``cs_0501001.pdf`` -> ("cs/0501001", None).
    """
    stem = name[:-4] if name.lower().endswith(".pdf") else name
    match = _FILENAME_RE.fullmatch(stem)
    if not match:
        return None, None
    arxiv_id = match.group("id").replace("_", "/")
    if not is_valid_arxiv_id(arxiv_id):
        return None, None
    variant = match.group("variant")
    return arxiv_id, variant.lower() if variant else None


def local_papers(dirs: Sequence[Path]) -> dict[str, Path]:
    """arXiv id -> first PDF named by that id (variants such as ``-zh`` excluded) in ``dirs``."""
    found: dict[str, Path] = {}
    for directory in dirs:
        for path in pdf_files(directory):
            arxiv_id, variant = parse_paper_filename(path.name)
            if arxiv_id and variant is None:
                found.setdefault(arxiv_id, path)
    return found


def pdf_files(directory: Path) -> list[Path]:
    """The PDF files directly inside ``directory``, sorted by name (none if it is no folder)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() == ".pdf")


# --- fetching ------------------------------------------------------------------------

@dataclass(frozen=True)
class FetchReport:
    """What ``fetch_papers`` did: ids fetched, ids already on disk, and ids that failed, with why."""

    fetched: tuple[str, ...] = ()
    present: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        text = f"papers: {len(self.fetched)} fetched, {len(self.present)} already present"
        if self.failed:
            text += f", {len(self.failed)} failed: " + "; ".join(f"{i} ({why})" for i, why in self.failed)
        return text


class _Unreachable(Exception):
    """A connection-level failure (DNS, refused, reset, timeout): no HTTP answer came."""


class _Retryable(Exception):
    """A failure worth another try (5xx, 429, a transfer cut short); ``delay`` from Retry-After."""

    def __init__(self, message: str, delay: float = 0.0):
        super().__init__(message)
        self.delay = delay


class _RateLimiter:
    """Spaces request starts at least ``interval`` seconds apart (arXiv asks for 3 s)."""

    def __init__(self, interval: float):
        self.interval = interval
        self.last: float | None = None

    def wait(self, at_least: float = 0.0) -> None:
        if self.last is not None:
            pause = self.last + max(self.interval, at_least) - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        self.last = time.monotonic()


def fetch_papers(
    refs: Sequence[PaperRef],
    cache_dir: Path,
    *,
    base_url: str = ARXIV_PDF_URL,
    min_interval_s: float = 3.0,
    retries: int = 3,
    timeout_s: float = 30,
    user_agent: str = USER_AGENT,
    also_in: Sequence[Path] = (),
    progress: bool = False,
) -> FetchReport:
    """Download into ``cache_dir`` each cited paper that neither it nor ``also_in`` holds.

    Requests ``<base_url><arxiv id>`` (``base_url`` is for tests' local servers), one
    start every ``min_interval_s`` seconds, retrying 5xx/429/cut-short transfers up to
    ``retries`` times with exponential backoff and resuming partial ``.part`` files with
    a Range request. A download is kept only if it is a PDF whose page 1 shows the cited
    title (or, for untitled references, the paper's arXiv stamp). If the very first
    request gets no answer at all, raises :class:`OfflineError` at once; every other
    failure is reported in the returned :class:`FetchReport`.
    """
    from tqdm import tqdm

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    on_disk = local_papers([cache_dir, *map(Path, also_in)])
    wanted = list({ref.arxiv_id: ref for ref in refs}.values())
    present = tuple(ref.arxiv_id for ref in wanted if ref.arxiv_id in on_disk)
    missing = [ref for ref in wanted if ref.arxiv_id not in on_disk]
    fetcher = _Fetcher(base_url, min_interval_s, retries, timeout_s, user_agent)
    fetched: list[str] = []
    failed: list[tuple[str, str]] = []
    for position, ref in enumerate(tqdm(missing, desc="fetching papers", unit="paper", disable=not progress)):
        try:
            fetcher.fetch(ref, cache_dir)
        except _Unreachable as error:
            if not fetcher.answered:
                log.debug("first request failed: %s", error)
                raise OfflineError([r.arxiv_id for r in missing[position:]], cache_dir) from error
            failed.append((ref.arxiv_id, str(error)))
        except FetchFailed as error:
            failed.append((ref.arxiv_id, str(error)))
        else:
            fetched.append(ref.arxiv_id)
            log.info("fetched %s into %s", ref.arxiv_id, cache_dir)
    return FetchReport(fetched=tuple(fetched), present=present, failed=tuple(failed))


class _Fetcher:
    """Downloads one paper at a time; remembers whether the server ever answered."""

    def __init__(self, base_url: str, interval: float, retries: int, timeout_s: float, user_agent: str):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.limiter = _RateLimiter(interval)
        self.interval = interval
        self.retries = retries
        self.timeout_s = timeout_s
        self.user_agent = user_agent
        self.answered = False

    def fetch(self, ref: PaperRef, cache_dir: Path) -> Path:
        target = cache_dir / paper_filename(ref.arxiv_id)
        part = target.with_name(target.name + ".part")
        url = self.base_url + ref.arxiv_id
        backoff = 0.0
        for attempt in range(self.retries + 1):
            self.limiter.wait(backoff)
            try:
                self._transfer(url, part)
                break
            except _Retryable as error:
                if attempt == self.retries:
                    raise FetchFailed(f"{error} (gave up after {attempt + 1} tries)") from error
                backoff = max(error.delay, self.interval * 2 ** (attempt + 1))
                log.warning("%s: %s; retrying in %.0f s", ref.arxiv_id, error, backoff)
        try:
            verify_paper_pdf(part, ref)
        except FetchFailed:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, target)
        return target

    def _transfer(self, url: str, part: Path) -> None:
        """GET ``url`` into ``part``, continuing a partial file with a Range request."""
        have = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": self.user_agent}
        if have:
            headers["Range"] = f"bytes={have}-"
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                self.answered = True
                resumed = have > 0 and response.status == 206
                expected = _expected_size(response, have if resumed else 0)
                with open(part, "ab" if resumed else "wb") as out:
                    while chunk := response.read(1 << 16):
                        out.write(chunk)
        except urllib.error.HTTPError as error:
            self.answered = True
            if error.code == 416:
                # The partial file does not fit what the server has: start over.
                part.unlink(missing_ok=True)
                raise _Retryable("HTTP 416: partial download discarded") from error
            if error.code == 429 or error.code >= 500:
                raise _Retryable(f"HTTP {error.code} {error.reason}", _retry_after(error.headers)) from error
            raise FetchFailed(f"HTTP {error.code} {error.reason} for {url}") from error
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            if not self.answered:
                raise _Unreachable(f"{url}: {getattr(error, 'reason', error)}") from error
            raise _Retryable(f"connection failed: {getattr(error, 'reason', error)}") from error
        except (http.client.HTTPException, OSError) as error:
            raise _Retryable(f"transfer failed: {error}") from error
        size = part.stat().st_size
        if expected is not None and size < expected:
            # The connection closed early; keep the part so the next try resumes it.
            raise _Retryable(f"transfer cut short at {size} of {expected} bytes")


def _expected_size(response: http.client.HTTPResponse, offset: int) -> int | None:
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _retry_after(headers: object) -> float:
    value = headers.get("Retry-After") if headers is not None else None  # type: ignore[union-attr]
    if not value:
        return 0.0
    if value.strip().isdigit():
        return min(float(value), 120.0)
    try:
        return min(max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0), 120.0)
    except (TypeError, ValueError):
        return 0.0


def verify_paper_pdf(path: Path, ref: PaperRef) -> None:
    """Raise :class:`FetchFailed` unless ``path`` is a PDF whose page 1 is ``ref``'s paper.

    Page 1 must show the cited title (normalised, fuzzy), or, when the citation gave no
    title, carry the paper's arXiv id.
    """
    with open(path, "rb") as handle:
        head = handle.read(len(PDF_MAGIC))
    if head != PDF_MAGIC:
        raise FetchFailed(f"not a PDF (starts with {head!r})")
    first_page = _first_page_text(path)
    if ref.title:
        if not title_in_text(ref.title, first_page):
            raise FetchFailed(f"wrong paper: page 1 does not show the title {ref.title!r}")
    elif ref.arxiv_id not in find_arxiv_ids(first_page):
        raise FetchFailed(f"wrong paper: page 1 does not carry arXiv:{ref.arxiv_id}")


def _first_page_text(path: Path) -> str:
    """Page 1's text via pypdf, or pdfminer.six when pypdf's text is not readable."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        text = reader.pages[0].extract_text() if reader.pages else ""
    except (PyPdfError, OSError, ValueError, KeyError, IndexError) as error:
        raise FetchFailed(f"not a readable PDF: {error}") from error
    if text.strip() and not looks_garbled(text):
        return text
    from pdfminer.high_level import extract_text
    from pdfminer.pdfparser import PDFSyntaxError

    try:
        return extract_text(str(path), page_numbers=[0], maxpages=1)
    except (PDFSyntaxError, OSError, ValueError, KeyError) as error:
        raise FetchFailed(f"not a readable PDF: {error}") from error
