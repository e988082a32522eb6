"""Cited papers as documents: identify and title local PDFs, and say which cited papers are indexed.

This module owns two things:

* ``load_papers``: turn the PDFs in some folders into ``kind="paper"`` documents, each
  identified by its arXiv id (from the file name, the arXiv stamp on page 1, or a cited
  title found on page 1) and titled from the citing text, the PDF metadata or page 1;
* ``paper_status``: which cited papers are indexed, only on disk, or missing.

How paper files are named and how missing ones are fetched from arXiv is
``ingest.arxiv``'s; ``fetch_papers`` is importable from here too.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.arxiv import ARXIV_ABS_URL, local_papers, parse_paper_filename, pdf_files
from ingest.arxiv import fetch_papers as fetch_papers  # re-exported: `rag papers fetch` calls it from here
from ingest.corpus import NO_TEXT, make_document, outside_reason, slugify
from ingest.documents import Document, LoadResult, SkippedFile
from ingest.loaders import GARBLED_BELOW, RawDocument, UnreadableFile, load_file, looks_garbled, readable_ratio
from ingest.references import PaperRef, is_valid_arxiv_id, normalize_title, title_in_text
from ingest.text import CJK, detect_language

log = logging.getLogger(__name__)

# The stamp arXiv prints down the left margin of page 1: "arXiv:1706.03762v7 [cs.CL] 2 Aug 2023".
_STAMP_RE = re.compile(r"arXiv\s*:\s*(?P<id>\S+?)(?:v\d+)?\s*\[[a-zA-Z.\-]+\]")
# The title sits near the top of page 1; further down the page cites other papers.
_TITLE_ZONE_CHARS = 1200


# --- first pages ---------------------------------------------------------------------

def stamped_arxiv_id(first_page: str) -> str | None:
    """The id in an arXiv stamp (``arXiv:1706.03762v7 [cs.CL] 2 Aug 2023``) on page 1.

    The whole page is searched: extractors put the margin stamp first or last.
    """
    for match in _STAMP_RE.finditer(first_page):
        if is_valid_arxiv_id(match.group("id")):
            return match.group("id")
    return None


def match_reference(first_page: str, references: Sequence[PaperRef]) -> PaperRef | None:
    """The reference whose title heads ``first_page``; the longest title wins."""
    zone = first_page[:_TITLE_ZONE_CHARS]
    matches = [ref for ref in references if ref.title and title_in_text(ref.title, zone)]
    return max(matches, key=lambda ref: len(ref.title or ""), default=None)


def first_page_title(path: Path, first_page: str) -> str | None:
    """The title printed on page 1: the largest type (via pypdf), else the first title-like line.

    The large-type text is only believed when it also occurs in ``first_page`` (the
    loader's text), which rules out pypdf's output for fonts it cannot decode.
    """
    title = _largest_text_on_first_page(path)
    if title and readable_ratio(title) >= GARBLED_BELOW and title_in_text(title, first_page, fuzzy=1.0):
        return _tidy(title)
    for line in first_page.splitlines()[:30]:
        if _title_line(line.strip()):
            return _tidy(line)
    return None


def _tidy(title: str) -> str:
    # NFKC turns the ligatures of PDF fonts ("Efﬁcient") into letters.
    return " ".join(unicodedata.normalize("NFKC", title).split())


def _largest_text_on_first_page(path: Path) -> str | None:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    pieces: list[tuple[float, str]] = []

    def visit(text: str, cm: list, tm: list, _font: object, size: float) -> None:
        # Rendered height = font size scaled by the text and transformation matrices.
        scale = abs(tm[3] * cm[3] + tm[2] * cm[1]) or abs(tm[0] * cm[0]) or 1.0
        pieces.append((round(size * scale, 1), text))

    try:
        PdfReader(path).pages[0].extract_text(visitor_text=visit)
    except (PyPdfError, OSError, ValueError, KeyError, IndexError) as error:
        log.debug("no font sizes from %s: %s", path, error)
        return None
    sized = [(size, text) for size, text in pieces if len(re.findall(r"[^\W\d_]", text)) >= 3
             and not _STAMP_RE.search(text)]
    if not sized:
        return None
    largest = max(size for size, _text in sized)
    title = " ".join(" ".join(text.split()) for size, text in pieces if size == largest and text.strip())
    title = " ".join(title.split())
    # Large type that is most of the page is body text, not a title.
    if sum(len(text) for size, text in sized if size < largest) < len(title):
        return None
    return title if 4 <= len(title) <= 300 else None


_NOT_TITLE_RE = re.compile(r"(?i)copyright|licen[cs]e|permission|attribution|版权|©|arxiv\s*:|^\d+$|@|https?://")


def _title_line(line: str) -> bool:
    letters = re.findall(r"[^\W\d_]", line)
    return (
        len(letters) >= 4
        and len(line) <= 150
        and not _NOT_TITLE_RE.search(line)
        and not re.search(r"[。.;;,,]$", line)
    )


def printed_metadata_title(title: str | None, first_page: str) -> str | None:
    """The PDF's metadata title (already screened by ``ingest.loaders``) when page 1,
    if readable, prints it too; authoring tools leave stale titles behind."""
    if not title:
        return None
    title = _tidy(title)
    if first_page.strip() and not looks_garbled(first_page) and not title_in_text(title, first_page):
        return None
    return title


_AFFILIATION_RE = re.compile(
    r"(?i)universit|institut|college|school|department|laborator|\blab\b|research|\binc\b|"
    r"corporation|company|\bltd\b|center|centre|google|microsoft|openai|deepmind|facebook|meta ai|"
    r"\bai\b|brain|academy|foundation|@|\{|https?://"
)
_NAME_RE = re.compile(r"[A-ZÀ-ÖØ-ÞŁ][\w'’.-]*(?: [A-ZÀ-ÖØ-ÞŁ][\w'’.-]*){1,3}")
_MARKERS_RE = re.compile(r"[∗*†‡§¶♠♣♥♦⋆]+|\d+(?=\s|,|$)")
# "作者:赵鑫,周昆 *,…" or "Authors: …", running on until the next "label:" line.
_BYLINE_LABEL_RE = re.compile(r"(?i)^(?:作者|著者|authors?)\s*[:：]\s*")
_ANY_LABEL_RE = re.compile(r"^[^\s,，、:：]{1,12}\s*[:：]")
_ABSTRACT_RE = re.compile(r"(?i)abstract\b|摘要")  # the line that ends the byline
_CJK_NAME_RE = re.compile(rf"[{CJK}]{{2,4}}(?:[·•][{CJK}]{{1,8}})?")


def first_page_authors(first_page: str, title: str) -> tuple[str, ...]:
    """Author names from page 1, or ``()`` when any part of the byline is unclear.

    Three layouts are read: a labeled byline ("作者:赵鑫,周昆,…", "Authors: …"), one
    block per author (name, affiliation lines, e-mail), and a byline after the title
    listing names separated by commas, "and" or footnote marks. Anything else (names run
    together without separators) gives ``()``.
    """
    lines = [line.strip() for line in first_page.splitlines()]
    labeled = _labeled_byline(lines)
    if labeled is not None:
        return labeled
    start = _line_after_title(lines, title)
    if start is None:
        return ()
    end = next((i for i in range(start, len(lines)) if _ABSTRACT_RE.match(lines[i])), None)
    if end is None or end - start > 40:
        return ()
    byline = [line for line in lines[start:end] if line]
    emails = [i for i, line in enumerate(byline) if "@" in line]
    if len(emails) >= 2:
        # One block per author: the name is the block's first line, after the previous e-mail.
        firsts = [0] + [i + 1 for i in emails[:-1]]
        names = [_MARKERS_RE.sub(" ", byline[i]).strip() for i in firsts]
    else:
        kept = [line for line in byline if not _AFFILIATION_RE.search(line)]
        joined = " ".join(kept)
        names = [part.strip() for part in re.split(r",|\band\b|[∗*†‡§¶♠♣♥♦⋆]+|\s\d+(?=\s|,|$)", joined)]
    names = [" ".join(name.split()) for name in names if name and name.strip()]
    if not names or not all(_NAME_RE.fullmatch(name) and not _AFFILIATION_RE.search(name) for name in names):
        return ()
    return tuple(names)


def _labeled_byline(lines: Sequence[str]) -> tuple[str, ...] | None:
    """Names after a "作者:" / "Authors:" label before the abstract; ``None`` when there is no
    such label, ``()`` when one of its names does not look like a name."""
    for i, line in enumerate(lines[:40]):
        if _ABSTRACT_RE.match(line):
            return None
        label = _BYLINE_LABEL_RE.match(line)
        if not label:
            continue
        parts = [line[label.end():]]
        for more in lines[i + 1 : i + 6]:
            if not more or _ANY_LABEL_RE.match(more) or _ABSTRACT_RE.match(more):
                break
            parts.append(more)
        names = [_MARKERS_RE.sub(" ", name).strip() for name in re.split(r"[,，、;；]|\band\b", " ".join(parts))]
        names = [" ".join(name.split()) for name in names if name.strip()]
        if names and all(_CJK_NAME_RE.fullmatch(n) or _NAME_RE.fullmatch(n) for n in names):
            return tuple(names)
        return ()
    return None


def _line_after_title(lines: Sequence[str], title: str) -> int | None:
    wanted = _compact(title)
    for first in range(min(len(lines), 30)):
        joined = ""
        for last in range(first, min(len(lines), first + 4)):
            joined += _compact(lines[last])
            if wanted and wanted in joined and joined.startswith(wanted[:8]):
                return last + 1
    return None


def _compact(text: str) -> str:
    return normalize_title(text).replace(" ", "")


# --- loading -------------------------------------------------------------------------

def load_papers(
    dirs: Sequence[Path],
    references: Sequence[PaperRef] = (),
    *,
    progress: bool = False,
    reuse: Callable[[Path, str], Document | None] | None = None,
) -> LoadResult:
    """Load the PDFs directly inside ``dirs`` (in order) as ``kind="paper"`` documents.

    Each PDF is identified by the arXiv id in its file name, else by the arXiv stamp on
    page 1, else by a cited title heading page 1; an unidentified PDF is still loaded,
    with an id from its file name and no arXiv link. A second copy of the same paper
    (same bytes, or same id and variant) is skipped; so is an unreadable PDF, one with no
    text, and a symlink that leads out of its folder.

    ``reuse``, given a PDF's path and the sha256 of its bytes, may return the document an
    earlier load made of that file; it is taken as it is and the PDF is not read again.
    """
    from tqdm import tqdm

    by_id = {ref.arxiv_id: ref for ref in references}
    for directory in dirs:
        if not Path(directory).is_dir():
            log.info("no papers folder at %s", directory)
    found = [(path, Path(directory).resolve()) for directory in dirs for path in pdf_files(Path(directory))]
    documents: list[Document] = []
    skipped: list[SkippedFile] = []
    seen_hashes: dict[str, str] = {}
    seen_ids: dict[str, str] = {}
    for path, root in tqdm(found, desc="loading papers", unit="pdf", disable=not progress):
        if (escape := outside_reason(root, Path(path.name), path)) is not None:
            # A papers folder is trusted for the PDFs it holds, not for where its links lead.
            log.warning("skipping %s: %s", path, escape)
            skipped.append(SkippedFile(str(path), escape))
            continue
        try:
            document = reuse(path, _file_sha256(path)) if reuse else None
            raw = load_file(path) if document is None else None
        except UnreadableFile as error:
            skipped.append(SkippedFile(str(path), str(error)))
            continue
        sha256 = raw.sha256 if raw else document.sha256
        if sha256 in seen_hashes:
            skipped.append(SkippedFile(str(path), f"same file as {seen_hashes[sha256]}"))
            continue
        if raw:
            document = _paper_document(path, raw, references, by_id)
            if not document.text.strip():
                skipped.append(SkippedFile(str(path), NO_TEXT))
                continue
        if document.doc_id in seen_ids:
            copy_of = seen_ids[document.doc_id]
            skipped.append(SkippedFile(str(path), f"another copy of {document.doc_id} ({copy_of})"))
            continue
        unread = "" if raw else " (unchanged, not read again)"
        log.info("paper %s from %s: %s%s", document.doc_id, path.name, document.title, unread)
        seen_hashes[sha256] = str(path)
        seen_ids[document.doc_id] = str(path)
        documents.append(document)
    return LoadResult(documents=tuple(documents), skipped=tuple(skipped))


def _paper_document(path: Path, raw: RawDocument, references: Sequence[PaperRef], by_id: dict) -> Document:
    """Identify and title the paper read from ``path`` (see :func:`load_papers`)."""
    first_page = raw.pages[0] if raw.pages else ""
    arxiv_id, variant = parse_paper_filename(path.name)
    if arxiv_id is None:
        arxiv_id = stamped_arxiv_id(first_page)
    if arxiv_id is None and (ref := match_reference(first_page, references)):
        arxiv_id = ref.arxiv_id
    lang = detect_language("\n".join(raw.pages))
    title = _title(path, raw.title, first_page, by_id.get(arxiv_id or ""), lang)
    return make_document(
        raw,
        doc_id=_doc_id(arxiv_id, variant, path),
        title=title,
        source=str(path),
        lang=lang,
        kind="paper",
        url=ARXIV_ABS_URL + arxiv_id if arxiv_id else None,
        arxiv_id=arxiv_id,
        authors=first_page_authors(first_page, title),
        origin=path.name,
    )


def _file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise UnreadableFile(f"{path}: cannot read file: {error.strerror or error}") from error


def _doc_id(arxiv_id: str | None, variant: str | None, path: Path) -> str:
    if arxiv_id:
        return "arxiv-" + arxiv_id.replace("/", "-") + (f"-{variant}" if variant else "")
    return f"paper-{slugify(path.stem) or 'unnamed'}"


def _title(path: Path, metadata: str | None, first_page: str, ref: PaperRef | None, lang: str) -> str:
    def printed() -> str | None:
        return printed_metadata_title(metadata, first_page) or first_page_title(path, first_page)

    if ref and ref.title:
        # A translation (the Chinese survey) is shown under its own title, with the cited one.
        if detect_language(ref.title) != lang and (own := printed()) and detect_language(own) == lang:
            return f"{own} ({ref.title})"
        return ref.title
    return printed() or path.stem


# --- status --------------------------------------------------------------------------

@dataclass(frozen=True)
class PaperStatus:
    """One row of ``rag papers list``: a cited paper and whether it is indexed,
    ``cached`` (a PDF is on disk but not in the index) or ``missing``. An indexed paper
    gets a row per indexed document (a translation is a document of its own), named by
    ``label``: the arXiv id, plus the variant (``2303.18223-zh``)."""

    arxiv_id: str
    title: str | None
    cited_by: tuple[str, ...]
    status: str
    path: str | None = None
    label: str = ""


def paper_status(
    refs: Sequence[PaperRef],
    cache_dir: Path,
    papers_dirs: Sequence[Path],
    indexed: Mapping[str, Sequence[tuple[str, str]]],
) -> list[PaperStatus]:
    """Status rows for ``refs`` in their order: "indexed", "cached" or "missing".

    ``indexed`` maps an arXiv id to the (label, title) of each indexed document of it.
    """
    on_disk = local_papers([Path(cache_dir), *map(Path, papers_dirs)])
    rows = []
    for ref in refs:
        for label, title in indexed.get(ref.arxiv_id, ()):
            rows.append(PaperStatus(ref.arxiv_id, title or ref.title, ref.cited_by, "indexed", label=label))
        if ref.arxiv_id in indexed:
            continue
        path = on_disk.get(ref.arxiv_id)
        status = "cached" if path else "missing"
        rows.append(PaperStatus(ref.arxiv_id, ref.title, ref.cited_by, status, str(path) if path else None, ref.arxiv_id))
    return rows
