"""Find the arXiv papers a set of documents cites, from the documents' own text.

This module owns citation discovery: arXiv ids in DOIs (``10.48550/arXiv.1706.03762``),
in arxiv.org ``abs``/``pdf`` links, after ``arXiv:`` and, with sanity checks, bare ids on
reference-list lines; the titles the text gives next to those ids; and title-only
mentions (``《Attention Is All You Need》``) of papers another document identifies. It also
owns the plain-dict form in which references are stored in the index manifest, and the
title normalisation and matching that ``ingest.papers`` uses to check a PDF's first page.

Nothing here knows any particular paper: everything comes from the text.
"""

from __future__ import annotations

import difflib
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ingest.documents import Document, IngestError
from ingest.text import CJK, has_cjk

log = logging.getLogger(__name__)


class BadReferences(IngestError):
    """Stored references (e.g. in an index manifest) are not in the expected form."""


@dataclass(frozen=True)
class PaperRef:
    """An arXiv paper cited by the corpus.

    ``arxiv_id`` is the bare id without version (``1706.03762``, ``cs/0501001``);
    ``title`` is the title the citing text gives, if any; ``cited_by`` lists the ids of
    the citing documents in corpus order.
    """

    arxiv_id: str
    title: str | None
    cited_by: tuple[str, ...]


# --- arXiv ids -----------------------------------------------------------------------

# New-style ids (April 2007 on): YYMM.NNNN until 2014, YYMM.NNNNN from 1501.
_NEW_ID = r"\d{4}\.\d{4,5}"
# Old-style ids: archive[.SUBJ]/YYMMNNN, e.g. cs/0501001, math.GT/0309136, hep-th/9901001.
_OLD_ID = r"[a-z]+(?:-[a-z]+)?(?:\.[A-Z]{2})?/\d{7}"
# The id must not run on into more digits ("1706.037621" is no id).
_VERSION = r"(?!\d)(?:v\d+)?"

# Forms that say "this is arXiv" themselves, so the id needs only the format checks.
_MARKED_ID_RES = (
    # DOI: 10.48550/arXiv.1706.03762
    re.compile(rf"10\.48550/arxiv\.(?P<id>{_NEW_ID}|{_OLD_ID}){_VERSION}", re.IGNORECASE),
    # arxiv.org/abs/1706.03762v7, arxiv.org/pdf/1706.03762v7.pdf, export.arxiv.org/...
    re.compile(
        rf"arxiv\.org/(?:abs|pdf|html|format)/(?P<id>{_NEW_ID}|{_OLD_ID}){_VERSION}",
        re.IGNORECASE,
    ),
    # arXiv:1706.03762v7, arXiv: cs/0501001
    re.compile(rf"\barxiv\s*[:：]\s*(?P<id>{_NEW_ID}|{_OLD_ID}){_VERSION}", re.IGNORECASE),
)
# A bare new-style id, not part of a longer number, a dotted version or a DOI/URL path.
# ASCII classes on purpose: a Chinese character right before or after an id is fine.
_BARE_ID_RE = re.compile(
    rf"(?<![A-Za-z0-9_./-])(?P<id>{_NEW_ID}){_VERSION}(?![A-Za-z0-9_.]*\d)(?!/)"
)
# A bare id is believed only on a line that talks about papers or is a reference-list item.
_PAPERISH_LINE_RE = re.compile(
    r"arxiv|\babs\b|\bpdf\b|\bdoi\b|preprint|paper|论文|文献|参考", re.IGNORECASE
)
_LIST_ITEM_RE = re.compile(r"^\s*(?:\[\d+\]|\d+[.)]\s|[•·*\-–]\s)")


def is_valid_arxiv_id(arxiv_id: str) -> bool:
    """Whether ``arxiv_id`` (without version) has a possible arXiv date and number width.

    New-style ids start with a real year and month (0704 on) and use four digits after
    the dot until 1412 and five from 1501; old-style ids carry a 1991-2007 date. This is
    what keeps dates (``2023.0315``) and decimals (``1234.5678``) out.
    """
    if "/" in arxiv_id:
        match = re.fullmatch(r"[a-z]+(?:-[a-z]+)?(?:\.[A-Z]{2})?/(\d{2})(\d{2})\d{3}", arxiv_id)
        if not match:
            return False
        year, month = int(match.group(1)), int(match.group(2))
        return (year >= 91 or year <= 7) and 1 <= month <= 12
    match = re.fullmatch(r"(\d{2})(\d{2})\.(\d{4,5})", arxiv_id)
    if not match:
        return False
    yymm = int(match.group(1) + match.group(2))
    month = int(match.group(2))
    if not 1 <= month <= 12 or yymm < 704:
        return False
    return len(match.group(3)) == (4 if yymm < 1501 else 5)


def find_arxiv_ids(text: str) -> list[str]:
    """Return the distinct arXiv ids (bare, version stripped) in ``text``, in order of appearance."""
    found = [(start, arxiv_id) for start, _end, arxiv_id in _id_spans(text)]
    return list(dict.fromkeys(arxiv_id for _start, arxiv_id in sorted(found)))


def _id_spans(line: str) -> list[tuple[int, int, str]]:
    """(start, end, id) of every arXiv id in one line, marked forms first, bare ids guarded."""
    spans: list[tuple[int, int, str]] = []
    for pattern in _MARKED_ID_RES:
        for match in pattern.finditer(line):
            if is_valid_arxiv_id(match.group("id")) and not _overlaps(spans, match.span()):
                spans.append((match.start(), match.end(), match.group("id")))
    if _PAPERISH_LINE_RE.search(line) or _LIST_ITEM_RE.match(line):
        for match in _BARE_ID_RE.finditer(line):
            if is_valid_arxiv_id(match.group("id")) and not _overlaps(spans, match.span()):
                spans.append((match.start(), match.end(), match.group("id")))
    return sorted(spans)


def _overlaps(spans: Sequence[tuple[int, int, str]], span: tuple[int, int]) -> bool:
    return any(start < span[1] and span[0] < end for start, end, _ in spans)


# --- titles --------------------------------------------------------------------------

def normalize_title(title: str) -> str:
    """Casefolded NFKC words joined by single spaces; punctuation and hyphens become spaces.

    ``"BERT: Pre-training of Deep ..."`` and ``"bert pre training of deep ..."`` normalise
    alike, so titles copied with different case or punctuation still match.
    """
    text = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(re.findall(r"[^\W_]+", text))


def _compact(text: str) -> str:
    # PDF text often loses spaces ("AttentionIsAllYouNeed") or splits words at line
    # ends ("Bidirec-\ntional"), so first-page matching compares letters and digits only.
    return normalize_title(text).replace(" ", "")


def title_in_text(title: str, text: str, *, fuzzy: float = 0.9) -> bool:
    """Whether ``title`` appears in ``text`` (exactly after normalisation, or fuzzily).

    Exact: the title's letters and digits occur contiguously in the text's. Fuzzy: some
    run of the text's words as long as the title has a difflib ratio of at least
    ``fuzzy`` with it (a dropped word or a ligature extracted wrongly).
    """
    wanted = normalize_title(title)
    if not wanted:
        return False
    if _compact(title) in _compact(text):
        return True
    words = normalize_title(text).split()
    width = len(wanted.split())
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(wanted)
    for size in {max(1, width - 1), width, width + 1}:
        for start in range(0, max(1, len(words) - size + 1)):
            matcher.set_seq1(" ".join(words[start : start + size]))
            if matcher.real_quick_ratio() >= fuzzy and matcher.quick_ratio() >= fuzzy:
                if matcher.ratio() >= fuzzy:
                    return True
    return False


def _is_title_like(text: str) -> bool:
    """A plausible paper title: a few words of letters, not a link, label or author list."""
    text = text.strip()
    words = re.findall(r"[^\W\d_]{2,}", text)
    if "://" in text or "www." in text or len(text) > 300:
        return False
    if has_cjk(text):
        # A Chinese title in 《》 is two or more characters of text.
        return len(re.findall(rf"[{CJK}A-Za-z]", text)) >= 2
    if len(words) < 2 or re.search(r"\bet al\b", text):
        return False
    return not re.fullmatch(r"(?i)(arxiv|paper|preprint|doi|pdf|abs)[\s\W]*", text)


# Titles in quotes or book-title marks, or markdown link text.
_QUOTED_TITLE_RES = (
    re.compile(r"《(?P<title>[^《》]+)》"),
    re.compile(r"[\"“](?P<title>[^\"“”]{6,300})[\"”]"),
    re.compile(r"\[(?P<title>[^\[\]]{6,300})\]\("),
)
# The longest run of Latin-script words on a line (a title inside Chinese text).
_LATIN_RUN_RE = re.compile(r"[A-Za-z][A-Za-z0-9'’\-:,;.?!&()/ ]*[A-Za-z0-9?!)]")


def _title_on_line(line: str, id_start: int, prev_end: int = 0) -> str | None:
    """The title a line gives for the id starting at ``id_start``, if it gives one.

    Quoted or 《》 titles win, the nearest one before the id first; otherwise the
    ``Authors. Title. arXiv:...`` shape gives the sentence just before the id. Text
    before ``prev_end`` belongs to the line's previous id and is not looked at.
    """
    segment = line[prev_end:]
    id_start -= prev_end
    quoted: list[tuple[int, str]] = []
    for pattern in _QUOTED_TITLE_RES:
        for match in pattern.finditer(segment):
            title = match.group("title").strip(" .,;:")
            if _is_title_like(title):
                quoted.append((match.start(), title))
    if quoted:
        before = [item for item in quoted if item[0] < id_start]
        return (max(before) if before else min(quoted))[1]
    head = segment[:id_start]
    is_item = bool(_LIST_ITEM_RE.match(head))
    head = _LIST_ITEM_RE.sub("", head)
    # Drop what introduces the id: "arXiv preprint arXiv:", "doi:", "https://".
    head = re.sub(r"(?i)(\barxiv\s*preprint|\barxiv|\bdoi|\bpreprint|https?://(www\.|export\.)?)"
                  r"[\s:：.,]*$", "", head.rstrip())
    ends_sentence = bool(re.search(r"[.,:;–-]\s*$|\(\s*$", head))
    head = head.rstrip(" .,;:(–-")
    sentences = [s.strip() for s in re.split(r"(?<=[a-z0-9?!)])\.\s+", head) if s.strip()]
    if not sentences or len(sentences) > 3:
        return None
    candidate = _strip_venue(sentences[-1].strip(" ,;:"))
    if not re.fullmatch(r"[A-Za-z0-9'’\-:,;?!&()/ ]+", candidate) or not _is_title_like(candidate):
        return None
    # Without a separator before the id, only a list item or a title-cased phrase is
    # taken as a title: "see the paper arXiv:..." is prose, not a title.
    if ends_sentence or is_item or _is_title_cased(candidate):
        return candidate
    return None


_VENUE_TAIL_RE = re.compile(r",\s*[^,]*(?:\b(?:19|20)\d{2}\b|\barxiv\b|\bpaper\b)[^,]*$", re.IGNORECASE)


def _strip_venue(text: str) -> str:
    # Reading lists append ", NeurIPS 2020" or ", Arxiv 2021, Paper" to the title.
    while (match := _VENUE_TAIL_RE.search(text)) and _is_title_like(text[: match.start()]):
        text = text[: match.start()].rstrip()
    return text


def _is_title_cased(text: str) -> bool:
    long_words = [w for w in re.findall(r"[A-Za-z]+", text) if len(w) >= 4]
    return bool(long_words) and sum(w[0].isupper() for w in long_words) >= 0.75 * len(long_words)


def _title_near(lines: Sequence[str], index: int, reach: int = 2) -> str | None:
    """A title on a nearby line, for an id line that gives none (``论文地址: <url>``).

    Looks up to ``reach`` non-empty lines before, then after, skipping lines that cite
    an id of their own (they belong to another reference). The title is the line's
    longest Latin-script run, and must make up most of the line.
    """
    def neighbours(step: int) -> Iterable[str]:
        seen, position = 0, index + step
        while 0 <= position < len(lines) and seen < reach:
            if lines[position].strip():
                seen += 1
                yield lines[position]
            position += step

    for step in (-1, 1):
        for line in neighbours(step):
            if _id_spans(line) or "://" in line:
                continue
            quoted = _title_on_line(line, len(line))
            if quoted and re.search(r"[《\"“\[]", line):
                return quoted
            runs = [m.group(0).strip() for m in _LATIN_RUN_RE.finditer(_LIST_ITEM_RE.sub("", line))]
            if not runs:
                continue
            run = max(runs, key=len)
            visible = len(re.sub(r"\s", "", line))
            if len(run.split()) >= 3 and _is_title_like(run) and len(re.sub(r"\s", "", run)) >= 0.6 * visible:
                return run.strip(" .,;:")
    return None


# --- references ----------------------------------------------------------------------

_STAMP_LINE_RE = re.compile(r"arxiv\s*:\s*\S+\s*\[[a-z.\-]+\]", re.IGNORECASE)
# How sure a title is: given on the id's own line, or taken from a neighbouring line.
_ON_LINE, _NEARBY = 2, 1
# Titles shorter than this are too generic to find a paper by in other documents' text.
_MIN_TITLE_WORDS = 3


def find_references(documents: Sequence[Document]) -> list[PaperRef]:
    """Return the arXiv papers the documents cite, merged across documents.

    Ids come from DOIs, arxiv.org links, ``arXiv:`` ids and guarded bare ids. A title is
    taken from the id's line (``《title》``, quotes, ``Title. arXiv:...``) or a nearby line.
    A document whose title or text names a known title without an id
    (``《Attention Is All You Need》``, a reading list) also counts as citing that paper. ``cited_by`` follows the order
    of ``documents``; the list follows first appearance.
    """
    order: dict[str, int] = {}
    citing: dict[str, set[str]] = {}
    titles: dict[str, tuple[int, str]] = {}
    for document in documents:
        lines = _document_lines(document)
        for index, line in enumerate(lines):
            prev_end = 0
            for start, end, arxiv_id in _id_spans(line):
                if arxiv_id == document.arxiv_id:
                    continue  # a paper's own arXiv stamp is no citation
                order.setdefault(arxiv_id, len(order))
                citing.setdefault(arxiv_id, set()).add(document.doc_id)
                title = _title_on_line(line, start, prev_end)
                prev_end = end
                rank = _ON_LINE
                if title is None and not _STAMP_LINE_RE.search(line):
                    # A margin stamp ("arXiv:2101.00001v2 [cs.CL] 4 Jan 2021") has no title near it.
                    title, rank = _title_near(lines, index), _NEARBY
                if title and rank > titles.get(arxiv_id, (0, ""))[0]:
                    titles[arxiv_id] = (rank, title)
    # Title-only mentions: a document naming a paper that some document identified.
    for document in documents:
        text = " " + normalize_title("\n".join(_document_lines(document))) + " "
        for arxiv_id, (_rank, title) in titles.items():
            wanted = normalize_title(title)
            if len(wanted.split()) >= _MIN_TITLE_WORDS and f" {wanted} " in text:
                if document.doc_id not in citing[arxiv_id]:
                    log.debug("%s names %r (%s) without its id", document.doc_id, title, arxiv_id)
                    citing[arxiv_id].add(document.doc_id)
    doc_order = {document.doc_id: i for i, document in enumerate(documents)}
    return [
        PaperRef(
            arxiv_id=arxiv_id,
            title=titles[arxiv_id][1] if arxiv_id in titles else None,
            cited_by=tuple(sorted(citing[arxiv_id], key=doc_order.__getitem__)),
        )
        for arxiv_id in sorted(order, key=order.__getitem__)
    ]


def _document_lines(document: Document) -> list[str]:
    # The title counts as text: a note titled "《A Survey of ...》阅读笔记" cites that survey.
    return unicodedata.normalize("NFKC", f"{document.title}\n{document.text}").splitlines()


def refs_to_dicts(refs: Iterable[PaperRef]) -> list[dict]:
    """Plain JSON-ready dicts for storing references (the index manifest's ``references``)."""
    return [
        {"arxiv_id": ref.arxiv_id, "title": ref.title, "cited_by": list(ref.cited_by)}
        for ref in refs
    ]


def refs_from_dicts(items: Iterable[Mapping]) -> list[PaperRef]:
    """Inverse of :func:`refs_to_dicts`; raises :class:`BadReferences` on malformed items."""
    refs = []
    for item in items:
        try:
            arxiv_id, title, cited_by = item["arxiv_id"], item.get("title"), item["cited_by"]
        except (KeyError, TypeError, AttributeError) as error:
            raise BadReferences(f"stored reference {item!r} lacks arxiv_id or cited_by") from error
        if not isinstance(arxiv_id, str) or not (title is None or isinstance(title, str)):
            raise BadReferences(f"stored reference {item!r} has a non-text id or title")
        if isinstance(cited_by, str) or not all(isinstance(d, str) for d in cited_by):
            raise BadReferences(f"stored reference {item!r} has cited_by that is not a list of ids")
        # The id becomes a file name and a URL (`rag papers fetch`): a damaged or edited
        # manifest must not be able to name "../../x" or another host's path.
        if not is_valid_arxiv_id(arxiv_id):
            raise BadReferences(
                f"stored reference has {arxiv_id!r}, which is not an arXiv id: run `rag rebuild` to rebuild the index"
            )
        refs.append(PaperRef(arxiv_id=arxiv_id, title=title, cited_by=tuple(cited_by)))
    return refs
