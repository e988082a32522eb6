"""Splitting documents into retrievable chunks.

Owns where chunks start and end. A chunk is a run of whole sentences (Chinese and
English stops and line breaks, as ``ingest.text.sentence_breaks`` finds them) of at most
``settings.size`` characters, repeating about ``settings.overlap`` characters from the end
of the chunk before it. Chunks never cross a page, never start or end with whitespace, and
``doc.text[chunk.start:chunk.end] == chunk.text`` always holds. A sentence longer than
``size`` is cut at a clause break (,,、:; or a space) or, failing that, at ``size``.
Each chunk carries the section heading in force where it starts. A paper's front
matter (page 1 up to its abstract: title, authors, affiliations) is chunked on its own,
so a question about who wrote a paper finds the whole byline in one passage.
"""

from __future__ import annotations

import bisect
import logging
import re

from ingest.documents import Chunk, ChunkerSettings, Document, IngestError, Page
from ingest.structure import REFERENCES_LINE, Table, find_tables, is_bibliography
from ingest.text import CJK, LINE_BREAK, has_cjk, sentence_breaks

logger = logging.getLogger(__name__)

_CLAUSE_BREAK = re.compile(r"[,,、::;;]|\s")
# Stops, and line breaks after a stop or before a blank line, surely end a sentence; any
# other line break may be a hard wrap inside one (PDF text). A chunk ends at such a weak
# break only if no sure end lies in the last 40% of its window.
_PREFER_STRONG_FROM = 0.6

_BULLET = re.compile(r"^[•·▪◦●○■□\-*+>]\s*")
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+(\S.*?)\s*#*$")
_NUMBERED_HEADING = re.compile(
    r"^(?P<number>第[一二三四五六七八九十百零\d]+[章节篇部分]|[一二三四五六七八九十]+[、.]|"
    r"\d{1,2}(?:\.\d{1,2}){0,3})(?P<separator>[.、)]?\s*)(?P<body>\S.*)$"
)
_SENTENCE_PUNCT = re.compile(r"[。!?;,,;!?]|\.\s|\.$|[::]$")
_QUANTITY = re.compile(
    r"(?:万|亿|千|百|小时|分钟|天|年|月|日|个|种|倍|层|张|篇|条|次|tokens?\b|[KMGT]B\b|[KMB]\b)",
    re.IGNORECASE,
)
# An appendix heading, as papers number them after their references: "A Additional
# Details for BERT", "B.3 Labeler demographic data". Only after the references: before
# them, a line starting "A Transformer ..." is more likely a wrapped sentence.
_APPENDIX_HEADING = re.compile(r"^[A-H](?:\.\d{1,2}){0,3}\s+[A-Z][A-Za-z\-]*(?:\s+\S+){0,9}$")
_PDF_EXTRACTORS = ("pypdf", "pdfminer")
_ABSTRACT = re.compile(r"(?im)^[ \t]*(?:abstract\b|摘\s*要)")
_FRONT_MATTER_MAX = 3000  # an "Abstract" further into page 1 is not the paper's own


class ChunkingError(IngestError):
    """Chunker settings that cannot produce chunks."""


def chunk_document(doc: Document, settings: ChunkerSettings) -> list[Chunk]:
    """Split ``doc`` into chunks of at most ``settings.size`` characters.

    Chunks follow sentence boundaries, overlap by about ``settings.overlap`` characters
    (whole sentences where they fit, else from a clause break), never cross one of
    ``doc.pages`` (a document without pages is one page numbered ``None``), and carry the
    document's title, url, arxiv_id and lang plus the section heading where they start.
    """
    if settings.size < 1 or not 0 <= settings.overlap < settings.size:
        raise ChunkingError(
            f"chunk size must be >= 1 and 0 <= overlap < size (got size={settings.size}, "
            f"overlap={settings.overlap})"
        )
    pages = doc.pages or (Page(number=None, start=0, end=len(doc.text)),)
    headings = find_headings(doc.text, pdf=doc.extractor in _PDF_EXTRACTORS)
    heading_starts = [start for start, _ in headings]
    chunks: list[Chunk] = []
    pdf = doc.extractor in _PDF_EXTRACTORS
    for page, start, end in _sections(doc, pages):
        for start, end, table in _table_spans(doc.text, start, end, pdf):
            for start, end in chunk_spans(doc.text, start, end, settings.size, settings.overlap):
                found = bisect.bisect_right(heading_starts, start) - 1
                section = headings[found][1] if found >= 0 else None
                text = doc.text[start:end]
                if table is not None:
                    role = "table"
                else:
                    role = "references" if is_bibliography(text, section) else "text"
                chunks.append(
                    Chunk(
                        doc_id=doc.doc_id,
                        title=doc.title,
                        text=text,
                        start=start,
                        end=end,
                        page=page.number,
                        section=section,
                        url=doc.url,
                        arxiv_id=doc.arxiv_id,
                        lang=doc.lang,
                        role=role,
                        context=table.context if table is not None else None,
                    )
                )
    return chunks


def _table_spans(text: str, start: int, end: int, pdf: bool) -> list[tuple[int, int, Table | None]]:
    """``[start, end)`` cut around the tables in it: prose spans, and each table's rows on their own.

    A table's rows are chunked apart from the prose around them, so every row group is
    one chunk that carries the caption and header (only PDFs have tables found).
    """
    spans: list[tuple[int, int, Table | None]] = []
    pos = start
    for table in find_tables(text, start, end) if pdf else ():
        if text[pos : table.start].strip():
            spans.append((pos, table.start, None))
        spans.append((table.start, table.end, table))
        pos = table.end
    if pos == start or text[pos:end].strip():
        spans.append((pos, end, None))
    return spans


def _sections(doc: Document, pages) -> list[tuple[Page, int, int]]:
    """(page, start, end) spans to chunk: the pages, with a paper's page 1 split at its
    abstract and a PDF's page split where its bibliography begins, so that no chunk holds
    both the prose before and the list after "References". (An article's short reading
    list is left in the flow: what follows it, such as where the author posts updates,
    is prose.)"""
    pdf = doc.extractor in _PDF_EXTRACTORS
    out = []
    for i, page in enumerate(pages):
        cuts = [m.start() for m in REFERENCES_LINE.finditer(doc.text, page.start, page.end)] if pdf else []
        if i == 0 and doc.kind == "paper":
            found = _ABSTRACT.search(doc.text, page.start, min(page.end, page.start + _FRONT_MATTER_MAX))
            if found:
                cuts.append(found.start())
        bounds = [page.start, *sorted(c for c in cuts if doc.text[page.start : c].strip()), page.end]
        out += [(page, a, b) for a, b in zip(bounds, bounds[1:]) if a < b]
    return out


def chunk_spans(text: str, start: int, end: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """(start, end) offsets of the chunks of ``text[start:end]``; see the module docstring.

    Every span is trimmed of whitespace, at most ``size`` long, and starts after the
    previous span's start and no later than its end, so consecutive spans overlap by at
    most ``overlap`` characters and together cover every non-whitespace character.
    """
    breaks, strong = _sentence_breaks(text, start, end, size)
    spans: list[tuple[int, int]] = []
    pos = _skip_space(text, start, end)
    stop = pos
    while pos < end:
        stop = _chunk_end(text, pos, stop, end, size, breaks, strong)
        spans.append(_trim(text, pos, stop))
        if _skip_space(text, stop, end) >= end:
            break
        pos = _skip_space(text, _next_start(text, pos, stop, end, size, overlap, breaks), end)
    return spans


def _sentence_breaks(text: str, start: int, end: int, size: int) -> tuple[list[int], set[int]]:
    """Sorted offsets where a chunk may end, and the subset that ends a sentence for sure."""
    breaks: list[int] = []
    strong: set[int] = set()
    previous = start
    # A full stop after an abbreviation ends no sentence, but chunks have always been
    # allowed to end there (as at any stop): treating it otherwise would move a quarter
    # of the papers' chunk boundaries, and every index would need new vectors.
    for cut, kind in sentence_breaks(text, start, end):
        if kind == LINE_BREAK:
            # A blank line, or a line ending in punctuation, is a paragraph or sentence end.
            if text.startswith("\n", cut) or (cut - 2 >= start and text[cut - 2] in "。!?;.!?;:"):
                strong.add(cut)
        else:
            strong.add(cut)
        breaks.extend(_hard_breaks(text, previous, cut, size))
        breaks.append(cut)
        previous = cut
    breaks.extend(_hard_breaks(text, previous, end, size))
    breaks.append(end)
    strong.add(end)
    return sorted(set(breaks)), strong


def _hard_breaks(text: str, start: int, end: int, size: int) -> list[int]:
    """Cut points inside one sentence longer than ``size``: at the last clause break of
    each window when it lies in the window's second half, else at the window's end."""
    cuts: list[int] = []
    pos = start
    while end - pos > size:
        window_end = pos + size
        cut = window_end
        for index in range(window_end - 1, pos + size // 2, -1):
            if _CLAUSE_BREAK.match(text, index):
                cut = index + 1
                break
        cuts.append(cut)
        pos = cut
    return cuts


def _chunk_end(
    text: str, pos: int, previous_end: int, end: int, size: int, breaks: list[int], strong: set[int]
) -> int:
    """The furthest break after ``previous_end`` whose chunk from ``pos`` fits in ``size``,
    preferring a sentence end to a bare line break when one lies in the last part of the
    window."""
    first = bisect.bisect_right(breaks, max(pos, previous_end))
    fitting = []
    for candidate in breaks[first:]:
        if candidate - pos > size and _trimmed_len(text, pos, candidate) > size:
            break
        if _trimmed_len(text, pos, candidate) <= size:
            fitting.append(candidate)
    if not fitting:
        # Only whitespace is left before the next break, or the window starts inside a
        # long sentence whose hard break lies beyond it: cut at the size limit.
        return min(end, pos + size)
    for candidate in reversed(fitting):
        if candidate in strong and candidate - pos >= size * _PREFER_STRONG_FROM:
            return candidate
    return fitting[-1]


def _next_start(
    text: str, pos: int, stop: int, end: int, size: int, overlap: int, breaks: list[int]
) -> int:
    """Where the chunk after ``text[pos:stop]`` starts: the earliest sentence break in the
    last ``overlap`` characters (so the overlap is whole sentences) such that the next
    sentence still fits after it; else a clause break; else ``stop``."""
    if overlap <= 0:
        return stop
    after = bisect.bisect_right(breaks, stop)
    following = breaks[after] if after < len(breaks) else end
    # The next chunk must reach past ``stop`` to the end of the next sentence.
    budget = min(overlap, size - (_trim(text, stop, following)[1] - stop))
    if budget <= 0:
        return stop
    lowest = max(pos + 1, stop - budget)
    for candidate in breaks[bisect.bisect_left(breaks, lowest) : bisect.bisect_left(breaks, stop)]:
        if text[candidate:stop].strip():
            return candidate
    # The last sentence is longer than the overlap: start after a clause break inside it.
    for index in range(lowest, stop):
        if _CLAUSE_BREAK.match(text, index - 1) and text[index:stop].strip():
            return index
    return stop


def _skip_space(text: str, pos: int, end: int) -> int:
    while pos < end and text[pos].isspace():
        pos += 1
    return pos


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    start = _skip_space(text, start, end)
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _trimmed_len(text: str, start: int, end: int) -> int:
    trimmed_start, trimmed_end = _trim(text, start, end)
    return trimmed_end - trimmed_start


# --- section headings ------------------------------------------------------------------


def find_headings(text: str, *, pdf: bool = False) -> list[tuple[int, str]]:
    """(line start offset, heading text) for every line of ``text`` that looks like a heading.

    Markdown ``#`` headings, numbered headings ("1、INTRODUCTION", "2.1 Background",
    "第三章 训练") and a bibliography's own heading ("References", "参考文献") always
    count, and in PDF text the appendix headings after it ("A Additional Details", "B.3
    Labeler demographic data"). A short line without sentence punctuation counts too when
    a longer line, a list or another such line follows it; not in PDF text (``pdf=True``),
    where hard-wrapped fragments and table cells look just like that.
    """
    lines = [line.strip() for line in text.split("\n")]
    starts = []
    offset = 0
    for line in text.split("\n"):
        starts.append(offset + len(line) - len(line.lstrip()))
        offset += len(line) + 1
    # Index of the next non-blank line after each line.
    following = [len(lines)] * len(lines)
    upcoming = len(lines)
    for index in range(len(lines) - 1, -1, -1):
        following[index] = upcoming
        if lines[index]:
            upcoming = index
    headings: list[tuple[int, str]] = []
    after_references = False
    for index, line in enumerate(lines):
        heading = _heading_text(line)
        if REFERENCES_LINE.fullmatch(line):
            heading, after_references = line, True
        elif heading is None and pdf and after_references and _appendix_heading(line):
            heading = line
        if heading is None and _plain_heading(line):
            if pdf:
                accepted = False
            else:
                # Lines of articles are paragraphs, so a short one is a heading when what
                # follows is a paragraph (not shorter), a list or a subheading.
                after = lines[following[index]] if following[index] < len(lines) else ""
                accepted = after != "" and (
                    len(after) >= len(line) or _BULLET.match(after) is not None or _plain_heading(after)
                )
            heading = line if accepted else None
        if heading is not None:
            headings.append((starts[index], heading))
    return headings


def _heading_text(line: str) -> str | None:
    """The heading in a markdown or numbered heading line, else ``None``."""
    markdown = _MARKDOWN_HEADING.match(line)
    if markdown:
        return markdown.group(1)
    numbered = _NUMBERED_HEADING.match(line)
    if not numbered or len(line) > 60:
        return None
    body = numbered.group("body")
    # "1.3B 6B 175B" (a figure axis) is not a heading: the body must start with a word.
    if not re.match(rf"[A-Za-z]{{2}}|[{CJK}]", body) or _SENTENCE_PUNCT.search(body):
        return None
    # Quantities ("50 万", "37 小时", "21GB") and footnote links are not headings either.
    if _QUANTITY.match(body) or "://" in body or "www." in body:
        return None
    # A word glued to the number needs to be a real word ("3.1Publicly", not "21GB").
    glued = numbered.group("number")[-1].isdigit() and not numbered.group("separator")
    if glued and len(re.match(rf"[A-Za-z{CJK}]*", body).group()) < 4:
        return None
    if len(body.split()) > 10:
        return None
    return line


def _appendix_heading(line: str) -> bool:
    """A line that reads as an appendix heading: "A Additional Details for BERT", "B.3 …"."""
    return bool(_APPENDIX_HEADING.match(line)) and not _SENTENCE_PUNCT.search(line)


def _plain_heading(line: str) -> bool:
    # A question can be a heading ("什么是 LLM?"), so one final question mark is allowed.
    body = line[:-1] if line.endswith("?") else line
    if not body or _BULLET.match(body) or _SENTENCE_PUNCT.search(body):
        return False
    # It needs words: "2023年3月" or "Table 3 12.5" is not a heading.
    if len(re.findall(rf"[A-Za-z{CJK}]", body)) < len(body) / 2:
        return False
    if has_cjk(body):
        return len(body) <= 40
    return len(body) <= 60 and len(body.split()) <= 8
