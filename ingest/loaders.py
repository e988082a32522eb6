"""Reading source files into raw text: decoding, HTML text extraction and PDF text layers.

This module owns the step from bytes on disk to a :class:`RawDocument` (raw page texts,
which extractor produced them, a title when the file carries one, and the hash of the
bytes). It applies no cleaning; ``ingest.clean`` does that.

PDFs are read with pypdf, which is fast. Some PDFs (e.g. Chinese LaTeX output built with
xdvipdfmx) embed fonts without a Unicode map; pypdf then returns symbols from random
scripts. :func:`looks_garbled` spots that and the whole file is read again with
pdfminer.six, which decodes those fonts through their CMaps.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from ingest.documents import IngestError
from ingest.structure import is_caption
from ingest.text import has_cjk, is_cjk

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")

# Below this share of readable characters a text layer is treated as garbage. Real text
# from the seven development PDFs scores >= 0.98 per file; the Chinese survey read by
# pypdf scores 0.32 on its first pages and 0.72 overall (its reference pages are Latin).
GARBLED_BELOW = 0.9
# Enough characters to judge a text layer early, before extracting every page.
_SAMPLE_CHARS = 2000
# pdfminer returns each cell of a table without ruling lines as a line of its own. On a
# page with a table caption, three or more narrow lines (under this share of the page's
# width, at most _CELL_HEIGHT points tall) whose tops lie within _ROW_SLACK points of
# each other are one row, read left to right.
_CELL_WIDTH = 0.3
_CELL_HEIGHT = 15.0
_ROW_SLACK = 2.0


class UnreadableFile(IngestError):
    """A source file that cannot be turned into text; the message says why."""


@dataclass(frozen=True)
class RawDocument:
    """Text as extracted from one file, before cleaning.

    ``pages`` has one entry per PDF page and a single entry for other files.
    ``extractor`` is "text", "markdown", "html", "pypdf" or "pdfminer".
    ``title`` comes from PDF metadata, the HTML ``<title>`` or a markdown ``#`` heading.
    ``sha256`` hashes the file's bytes.
    """

    pages: tuple[str, ...]
    extractor: str
    title: str | None
    sha256: str


def load_file(path: Path) -> RawDocument:
    """Read ``path`` (.txt, .md, .html, .htm or .pdf) into a :class:`RawDocument`.

    Raises :class:`UnreadableFile` with the reason when the file cannot be read, is not
    text in a known encoding, or is a corrupt, encrypted or empty PDF.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableFile(
            f"{path}: unsupported file type {suffix or '(none)'}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot read file: {exc.strerror or exc}") from exc
    sha256 = hashlib.sha256(data).hexdigest()
    if suffix == ".pdf":
        pages, extractor, title = _load_pdf(data, path)
        return RawDocument(pages=pages, extractor=extractor, title=title, sha256=sha256)
    if suffix in (".html", ".htm"):
        text, title = html_to_text(decode_text(data, path, declared=_declared_charset(data)))
        return RawDocument(pages=(text,), extractor="html", title=title, sha256=sha256)
    text = decode_text(data, path)
    if suffix == ".md":
        title = _markdown_title(text)
        return RawDocument(pages=(text,), extractor="markdown", title=title, sha256=sha256)
    return RawDocument(pages=(text,), extractor="text", title=None, sha256=sha256)


# --- text files ------------------------------------------------------------------------


def decode_text(data: bytes, path: Path | str = "<bytes>", declared: str | None = None) -> str:
    """Decode text bytes: a BOM if present, else UTF-8, a declared charset, GB18030.

    A few undecodable bytes in otherwise UTF-8 text become U+FFFD rather than failing
    the file; binary data (NUL bytes, or mostly undecodable) raises :class:`UnreadableFile`.
    """
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                raise UnreadableFile(f"{path}: has a {codec} byte-order mark but is not {codec} text") from exc
    if b"\x00" in data:
        raise UnreadableFile(f"{path}: looks like a binary file, not text (contains NUL bytes)")
    # Valid UTF-8 is almost never anything else, so it beats a declared charset (pages
    # labelled iso-8859-1 are often UTF-8); GB18030 covers older Chinese pages and files.
    codecs = ["utf-8", "gb18030"]
    if declared and declared not in codecs:
        codecs.insert(1, declared)
    for codec in codecs:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    text = data.decode("utf-8", errors="replace")
    if text.count("\ufffd") > max(3, len(text) // 100):
        raise UnreadableFile(f"{path}: not text in UTF-8 or GB18030 (too many undecodable bytes)")
    logger.warning("%s: replaced %d undecodable bytes", path, text.count("\ufffd"))
    return text


def _markdown_title(text: str) -> str | None:
    front = re.match(r"\A---\n(.*?)\n---\n", text, re.DOTALL)
    if front:
        found = re.search(r"^title:\s*[\"']?(.+?)[\"']?\s*$", front.group(1), re.MULTILINE)
        if found:
            return found.group(1)
    heading = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
    return heading.group(1) if heading else None


# --- HTML ------------------------------------------------------------------------------


def _declared_charset(data: bytes) -> str | None:
    found = re.search(rb"<meta[^>]+charset\s*=\s*[\"']?([A-Za-z0-9_-]+)", data[:4096], re.IGNORECASE)
    if not found:
        return None
    name = found.group(1).decode("ascii").lower()
    # Pages labelled gb2312/gbk are routinely GB18030 (a superset); utf8 is utf-8.
    return {"gb2312": "gb18030", "gbk": "gb18030", "utf8": "utf-8"}.get(name, name)


class _HTMLText(HTMLParser):
    """Collects visible text, one line per block element, skipping non-content elements."""

    SKIP = {"script", "style", "nav", "noscript", "template", "svg", "head", "footer", "aside", "form", "button"}
    BLOCK = {
        "p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
        "tr", "table", "section", "article", "header", "main", "blockquote", "pre", "hr",
        "figure", "figcaption", "caption", "address", "details", "summary",
    }  # fmt: skip
    VOID = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self.h1_parts: list[str] = []
        self._skip_depth = 0
        self._pre_depth = 0
        self._in_title = False
        self._in_h1 = False
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in self.VOID:
            if tag in self.BLOCK and not self._skip_depth:
                self.parts.append("\n")
            return
        self._stack.append(tag)
        if tag in self.SKIP:
            self._skip_depth += 1
        if tag == "pre":
            self._pre_depth += 1
        if tag == "h1":
            self._in_h1 = True
        if tag in self.BLOCK and not self._skip_depth:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag not in self._stack:
            return  # stray end tag: browsers ignore it too
        # Close everything opened after it (HTML in the wild leaves <p>, <li> open).
        while self._stack:
            opened = self._stack.pop()
            if opened in self.SKIP:
                self._skip_depth -= 1
            if opened == "pre":
                self._pre_depth -= 1
            if opened == "h1":
                self._in_h1 = False
            if opened in self.BLOCK and not self._skip_depth:
                self.parts.append("\n")
            if opened == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
            return
        if self._skip_depth:
            return
        if not self._pre_depth:
            data = re.sub(r"\s+", " ", data)
        self.parts.append(data)
        if self._in_h1:
            self.h1_parts.append(data)


def html_to_text(html: str) -> tuple[str, str | None]:
    """Return the visible text of ``html`` (block elements on their own lines) and its title.

    Scripts, styles, navigation, footers, asides and forms are dropped.
    The title is the ``<title>`` text, else the first ``<h1>``, else ``None``.
    """
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    text = re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip("\n")
    title = " ".join("".join(parser.title_parts).split()) or " ".join("".join(parser.h1_parts).split())
    return text, title or None


# --- PDF -------------------------------------------------------------------------------


def readable_ratio(text: str) -> float:
    """Share of non-space characters in ``text`` that belong to scripts real documents use.

    Counted as readable: printable ASCII, Latin letters with diacritics, Greek, CJK
    ideographs, kana, Hangul syllables, CJK and general punctuation, full-width forms.
    Text with no non-space characters scores 1.0 (nothing to judge).
    """
    total = readable = 0
    for ch in text:
        if ch.isspace():
            continue
        total += 1
        code = ord(ch)
        if (
            (0x20 < code < 0x7F)
            or 0xC0 <= code <= 0x24F
            or 0x370 <= code <= 0x3FF
            or 0x2000 <= code <= 0x206F
            or 0x3000 <= code <= 0x30FF
            or 0xAC00 <= code <= 0xD7AF
            or 0xFF00 <= code <= 0xFFEF
            or is_cjk(ch)
        ):
            readable += 1
    return readable / total if total else 1.0


def looks_garbled(text: str) -> bool:
    """Whether a PDF text layer is garbage (fonts without a Unicode map).

    Such text is mostly symbols scattered over unrelated scripts (Arabic, Oriya, Tibetan,
    Hangul jamo, private use) or control characters; real Chinese or English is not.
    Fewer than 50 non-space characters are not enough to judge and count as not garbled.
    """
    if sum(1 for ch in text if not ch.isspace()) < 50:
        return False
    return readable_ratio(text) < GARBLED_BELOW


def meaningful_pdf_title(title: object) -> str | None:
    """Return a PDF metadata title if it looks like a real title, else ``None``.

    Authoring tools often leave file names ("paper.dvi", "figure.eps"), "untitled" or
    "Microsoft Word - x.docx" there.
    """
    if not isinstance(title, str):
        return None
    title = " ".join(title.replace("\x00", "").split())
    title = re.sub(r"^Microsoft (?:Word|PowerPoint) - ", "", title)
    if len(title) < 4 or readable_ratio(title) < GARBLED_BELOW:
        return None
    if re.search(r"\.(?:eps|pdf|dvi|tex|docx?|pptx?|ps|indd|odt|rtf)$", title, re.IGNORECASE):
        return None
    if title.lower() in {"untitled", "title", "no title", "unknown"}:
        return None
    # One token without spaces ("paper_v3") is a file name, unless it is Chinese.
    if " " not in title and not has_cjk(title):
        return None
    return title


def _load_pdf(data: bytes, path: Path) -> tuple[tuple[str, ...], str, str | None]:
    """Pages, extractor name and title of a PDF."""
    try:
        import pypdf
        from pypdf.errors import DependencyError, FileNotDecryptedError
    except ImportError as exc:  # pragma: no cover - pypdf is a core dependency
        raise UnreadableFile(f"{path}: reading PDFs needs pypdf: pip install pypdf") from exc
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many "encrypted" PDFs only restrict printing and open with an empty password.
            try:
                opened = reader.decrypt("")
            except DependencyError as exc:
                raise UnreadableFile(
                    f"{path}: encrypted PDF; decrypting it needs: pip install cryptography"
                ) from exc
            if not opened:
                raise UnreadableFile(f"{path}: encrypted PDF that needs a password")
        count = len(reader.pages)
    except UnreadableFile:
        raise
    except FileNotDecryptedError as exc:
        raise UnreadableFile(f"{path}: encrypted PDF that needs a password") from exc
    # pypdf raises many exception types on damaged files (its own, ValueError, KeyError,
    # struct and zlib errors...); each means "not a readable PDF", reported as such.
    except Exception as exc:
        raise UnreadableFile(f"{path}: not a readable PDF ({type(exc).__name__}: {exc})") from exc
    if count == 0:
        raise UnreadableFile(f"{path}: PDF has no pages")

    try:
        title = meaningful_pdf_title(reader.metadata.title if reader.metadata else None)
    except Exception as exc:  # damaged metadata should not cost us the text
        logger.debug("%s: unreadable PDF metadata: %s", path, exc)
        title = None

    pages = _pypdf_pages(reader, path)
    if pages is not None and "".join(pages).strip() and not looks_garbled("".join(pages)):
        return tuple(pages), "pypdf", title
    logger.info("%s: pypdf text is empty, garbled or failed; reading it with pdfminer.six", path)
    mined = _pdfminer_pages(data, path)
    if not "".join(mined).strip():
        raise UnreadableFile(f"{path}: PDF has no text layer (scanned images?); run OCR on it first")
    if looks_garbled("".join(mined)):
        logger.warning("%s: text still looks garbled after pdfminer.six; indexing it anyway", path)
    return tuple(mined), "pdfminer", title


def _pypdf_pages(reader, path: Path) -> list[str] | None:
    """Text of every page via pypdf, or ``None`` as soon as the text looks garbled."""
    pages: list[str] = []
    sampled = False
    for number, page in enumerate(reader.pages, start=1):
        try:
            pages.append(page.extract_text() or "")
        # Same reason as in _load_pdf: a damaged page raises arbitrary exception types.
        except Exception as exc:
            logger.info("%s: pypdf failed on page %d (%s: %s)", path, number, type(exc).__name__, exc)
            return None
        if not sampled and sum(len(p) for p in pages) >= _SAMPLE_CHARS:
            sampled = True
            if looks_garbled("".join(pages)):
                return None  # skip extracting the rest; pdfminer reads the file again
    return pages


def _pdfminer_pages(data: bytes, path: Path) -> list[str]:
    try:
        from pdfminer.high_level import extract_pages
        from pdfminer.layout import LAParams, LTChar, LTTextBox, LTTextLine
    except ImportError as exc:
        raise UnreadableFile(f"{path}: reading this PDF needs pdfminer.six: pip install pdfminer.six") from exc

    def lines_of(container):
        for element in container:
            if isinstance(element, LTTextLine):
                yield element
            elif isinstance(element, LTTextBox):
                yield from lines_of(element)

    def line_text(line) -> str:
        # Rotated glyphs are watermarks and margin stamps, not body text.
        return "".join(
            item.get_text()
            for item in line
            if not (isinstance(item, LTChar) and abs(item.matrix[1]) > 1e-3)
        )

    pages: list[str] = []
    try:
        # boxes_flow=None skips pdfminer's box ordering, which is slow (x3 here) and
        # interleaves the two columns of the Chinese survey; _reading_order does it instead.
        for page in extract_pages(io.BytesIO(data), laparams=LAParams(boxes_flow=None)):
            lines = [
                (line.x0, line.x1, line.y0, line.y1, text.rstrip("\n"))
                for line in lines_of(page)
                if (text := line_text(line)).strip()
            ]
            pages.append("\n".join(_reading_order(_table_rows(lines, page.width), page.width)))
    # pdfminer, like pypdf, raises many exception types on damaged input.
    except Exception as exc:
        raise UnreadableFile(f"{path}: not a readable PDF ({type(exc).__name__}: {exc})") from exc
    return pages


def _table_rows(lines: list[tuple[float, float, float, float, str]], width: float) -> list[tuple[float, float, float, str]]:
    """The page's lines as (x0, x1, top, text), with the cells of each table row joined.

    ``lines`` holds (x0, x1, bottom, top, text). pdfminer reads the cells of the Chinese
    survey's tables (no ruling lines) as separate lines, so "GPT-3 [55]", "2020 年 05 月
    175" and "3000 亿 tokens" came out one under another, far from the model they
    describe. Only a page with a table caption is touched, and only narrow lines that
    share their top with two or more others are joined: prose in two columns has two
    wide lines at the same height, never three narrow ones.
    """
    if not any(is_caption(text) for *_, text in lines):
        return [(x0, x1, top, text) for x0, x1, _bottom, top, text in lines]

    def cell(line) -> bool:
        x0, x1, bottom, top, _text = line
        return x1 - x0 < width * _CELL_WIDTH and top - bottom <= _CELL_HEIGHT

    order = sorted(range(len(lines)), key=lambda i: (-lines[i][3], lines[i][0]))
    joined: list[tuple[float, float, float, str]] = []
    used: set[int] = set()
    for i in order:
        if i in used:
            continue
        x0, x1, _bottom, top, text = lines[i]
        row = [j for j in order if j not in used and cell(lines[j]) and abs(lines[j][3] - top) <= _ROW_SLACK] if cell(lines[i]) else []
        if len(row) < 3:
            joined.append((x0, x1, top, text))
            used.add(i)
            continue
        row.sort(key=lambda j: lines[j][0])
        used.update(row)
        joined.append((lines[row[0]][0], max(lines[j][1] for j in row), top, " ".join(lines[j][4].strip() for j in row)))
    return joined


def _reading_order(lines: list[tuple[float, float, float, str]], width: float) -> list[str]:
    """Order text lines of one page for reading: top to bottom, and in two-column parts
    the whole left column before the right one.

    ``lines`` holds (x0, x1, top, text). A line crossing the middle of the page (a title,
    an abstract, a wide table) ends the two-column part above it.
    """
    middle, slack = width / 2, width * 0.02
    ordered: list[str] = []
    left: list[str] = []
    right: list[str] = []
    for x0, x1, _top, text in sorted(lines, key=lambda line: (-line[2], line[0])):
        if x1 <= middle + slack:
            left.append(text)
        elif x0 >= middle - slack:
            right.append(text)
        else:
            ordered += left + right + [text]
            left, right = [], []
    return ordered + left + right
