"""Recognising the parts of a document that are not running prose: tables and bibliographies.

Owns two judgements the chunker records on each chunk (``Chunk.role``):

- **Tables.** pypdf extracts a PDF table row by row, one line per row, in reading
  order; what a row loses is what gives it meaning: the caption ("Table 1: ...") and the
  header row. :func:`find_tables` finds each captioned table on a page (caption above or
  below the rows, as papers do both), so the chunker can chunk its rows on their own and
  carry the caption and header with every row group (``Chunk.context``). pdfplumber was
  measured as the alternative: on the survey's booktabs tables (no ruling lines) its
  cells come out split mid-word ("Si\\n(B", "ze\\n)") at 0.05-0.5 s a page, while
  pypdf's lines keep each row whole.
- **Bibliographies.** Reference lists and reading lists (runs of titles, venues, years,
  "Paper •") share many words with any question about a paper, and outranked the prose
  that answers it. :func:`is_bibliography` marks them, so retrieval can weigh them down
  unless a question asks about references.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# "Table 3: Variations ...", "TABLE 3" (caption on the next line), "表 3 ..." (Chinese).
_CAPTION = re.compile(r"^[ \t]*(?:TABLE|Table|表)[ \t]*(?:\d{1,2}|[IVX]{1,4})\b(?![.,]?\d)[:.]?")
_CELL_TOKEN = re.compile(r"\d|^[✓✗×\-–—%*†‡]+$|^\(cid:\d+\)$")
_SENTENCE = re.compile(r"[.。]\s*$")
_MAX_ROWS = 60  # longer runs are page layout, not one table
_MAX_CAPTION_LINES = 4
_MAX_HEADER_LINES = 2


@dataclass(frozen=True)
class Table:
    """A table found in a document's text: ``text[start:end]`` holds its header and rows.

    ``caption`` is the caption's text (possibly several lines joined) and ``header`` the
    header line(s); both are repeated with every chunk of the rows.
    """

    start: int
    end: int
    caption: str
    header: str

    @property
    def context(self) -> str:
        """What a chunk of this table's rows is read with: caption, then header."""
        return f"{self.caption}\n{self.header}".strip()


def is_caption(line: str) -> bool:
    """Whether ``line`` opens a table caption ("Table 3: ...", "TABLE 3", "表 3 ...")."""
    return bool(_CAPTION.match(line))


def _cells(tokens: list[str]) -> int:
    """How many of a line's tokens read as table cells (a number or a mark)."""
    return sum(1 for t in tokens if _CELL_TOKEN.search(t))


def _row_like(line: str) -> bool:
    """A line that reads as a table row: short cells, many numbers or marks, not a sentence."""
    s = line.strip()
    if not s or len(s) > 120:
        return False
    tokens = s.split()
    cells = _cells(tokens)
    if cells / len(tokens) >= 0.25 and not (len(tokens) > 12 and _SENTENCE.search(s)):
        return True
    # A long label and one value ("Indigenous / Native American / Alaskan Native 0.0%").
    if len(s) <= 60 and _CELL_TOKEN.search(tokens[-1]) and not _SENTENCE.search(s):
        return True
    # Label cells on a line of their own ("Closed", "Company executives"), and a survey
    # table's questions ("What is your nationality?").
    return (len(tokens) <= 5 and len(s) <= 50 and not _SENTENCE.search(s)) or (s.endswith("?") and len(s) <= 60)


def _cell_row(line: str) -> bool:
    """A line that is mostly cells ("GPT-3 [55] 2020 年 05 月 175 - - - 3000 亿 tokens"):
    three tokens or more, at least half of them numbers or marks. A reference entry or a
    reading-list item has a year or two among many words."""
    tokens = line.split()
    return len(tokens) >= 3 and _cells(tokens) * 2 >= len(tokens)


def _short_row(line: str) -> bool:
    """A short line with a number in it ("Male 50.0%"): a row, never the rest of a caption
    that has no full stop ("Table 12: Labeler demographic data")."""
    tokens = line.split()
    cells = _cells(tokens)
    return 0 < len(tokens) <= 6 and cells >= 1 and cells / len(tokens) >= 0.25


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each line of ``text[start:end]``, without the newline."""
    spans, pos = [], start
    while pos < end:
        stop = text.find("\n", pos, end)
        stop = end if stop < 0 else stop
        spans.append((pos, stop))
        pos = stop + 1
    return spans


def _run(text: str, lines: list[tuple[int, int]], first: int, step: int) -> list[int]:
    """Indices of the row-like lines from ``first`` on (``step`` 1 forward, -1 back)."""
    run: list[int] = []
    i = first
    while 0 <= i < len(lines) and len(run) < _MAX_ROWS:
        line = text[lines[i][0] : lines[i][1]]
        if not _row_like(line) or _CAPTION.match(line):
            break
        run.append(i)
        i += step
    return run


def find_tables(text: str, start: int = 0, end: int | None = None) -> list[Table]:
    """The captioned tables in ``text[start:end]`` (one page), in order.

    A caption line ("Table 2: ...") starts a caption that runs to its first full stop
    (at most four lines). The rows are the row-like lines right after the caption, or,
    when fewer than two follow it, right before it (a caption under its table). The
    header is the first line of the table, or the lines between the caption and the
    first row. A caption without rows next to it (a mention in prose) is no table.
    """
    end = len(text) if end is None else end
    lines = _lines(text, start, end)
    tables: list[Table] = []
    taken = -1  # last line used by a table: a table never starts inside another
    i = 0
    while i < len(lines):
        line = text[lines[i][0] : lines[i][1]]
        if not _CAPTION.match(line) or i <= taken:
            i += 1
            continue
        last = i
        while not _SENTENCE.search(text[lines[last][0] : lines[last][1]]) and last - i < _MAX_CAPTION_LINES - 1:
            following = text[lines[last + 1][0] : lines[last + 1][1]] if last + 1 < len(lines) else ""
            if not following or _CAPTION.match(following) or _short_row(following):
                break
            last += 1
        caption = " ".join(text[a:b].strip() for a, b in lines[i : last + 1])
        # Caption above: header lines (not row-like, e.g. "Model") then rows.
        header_end = last + 1
        while header_end < len(lines) and header_end - last <= _MAX_HEADER_LINES:
            if _row_like(text[lines[header_end][0] : lines[header_end][1]]):
                break
            header_end += 1
        below = _run(text, lines, header_end, 1)
        if len(below) >= 2:
            first, final = last + 1, below[-1]
            header_lines = lines[last + 1 : header_end] or [lines[below[0]]]
        else:
            above = _run(text, lines, i - 1, -1)
            above = [j for j in above if j > taken]
            if len(above) < 2:
                i = last + 1
                continue
            first, final = min(above), max(above)
            header_lines = [lines[first]]
        header = " ".join(text[a:b].strip() for a, b in header_lines)
        tables.append(Table(lines[first][0], lines[final][1], caption, header))
        taken = max(final, last)
        i = taken + 1
    return tables


# Marks of a citation: a year, a venue, "arXiv", "et al.", "Paper •", "In Proceedings".
_CITATION_MARK = re.compile(
    r"\b(?:19|20)\d\d[a-z]?\b|\barxiv\b|\bet al\.|\bpaper\s*•|•\s*paper\b|\bblog post\b|\bin proceedings\b|"
    r"\b(?:neurips|nips|icml|iclr|acl|emnlp|naacl|coling|aaai|ijcai|cvpr|iccv|eccv|tacl|jmlr|corr)\b|"
    r"\bproc\.|\bpp\.\s*\d|\bvol\.\s*\d|\bpreprint\b|\bconference\b|\btransactions\b",
    re.IGNORECASE,
)
# A line that is only a bibliography's heading: "References", "REFERENCES", "参考文献".
REFERENCES_LINE = re.compile(r"(?im)^[ \t]*(?:references|bibliography|参考文献|参考资料)[ \t]*$")
_REFERENCE_HEADING = re.compile(r"^\s*(?:references?|bibliography|参考文献|参考资料|引用)\b", re.IGNORECASE)
# An author as a bibliography writes one: "Böhm, F.", "Brown, T. B.", "T. Mikolov", "G.E. Hinton".
_AUTHOR = re.compile(r"\b[A-Z][\w'’\-]+, (?:[A-Z]\.[ \-]?){1,3}|\b(?:[A-Z]\.[ \-]?){1,3}[A-Z][a-z][\w'’\-]+")
# A numbered entry starting a line: "[12] A. Vaswani, ..." (or "[12]" alone, the name below).
_ENTRY = re.compile(r"(?m)^[ \t]*\[\d{1,3}\](?:[ \t]|$)")


# A list item: "• Title, Arxiv 2023 Paper", "- ...", "[12] ...", "3. ...".
_ITEM = re.compile(r"^\s*(?:[•·▪●\-*]|\[\d{1,3}\]|\d{1,3}[.)])\s")
_MIN_ITEMS = 3
_ITEMS_SHARE = 0.6


def is_bibliography(text: str, section: str | None = None) -> bool:
    """Whether a passage is a reference or reading list rather than prose.

    Under a "References" heading a passage is one when it cites at all: a citation mark,
    a numbered entry ("[12]") or an author written as bibliographies write them ("Brown,
    T. B.", "T. Mikolov"). Elsewhere it must be dense with citation marks (years, venues,
    "arXiv", "et al.", "Paper •"): at least five, and one every 60 characters; or it must be
    mostly a list whose items each cite (three items or more, holding 60% of its text or
    more). A reading list under a Chinese subheading ("BERT风格的语言模型 ... • BERT:
    Pre-training ..., 2018, Paper") has too few marks per character for the first test
    and is caught by the second. Prose that cites a few papers stays prose.
    """
    marks = len(_CITATION_MARK.findall(text))
    if section and _REFERENCE_HEADING.match(section):
        return bool(marks or _ENTRY.search(text) or _AUTHOR.search(text))
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and sum(map(_cell_row, lines)) >= _ITEMS_SHARE * len(lines):
        return False  # table rows whose dates read as citation years
    if marks >= 5 and marks * 60 >= len(text):
        return True
    items = [line for line in lines if _ITEM.match(line) and _CITATION_MARK.search(line)]
    return len(items) >= _MIN_ITEMS and sum(map(len, items)) >= _ITEMS_SHARE * sum(map(len, lines))
