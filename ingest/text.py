"""Text rules that ingest and rag share: which characters are Chinese, which language a
text is in, where sentences end, and how the hard-wrapped lines of PDF text join up again.

Ingest is the lowest layer that uses them, so they live here and rag imports them (never
the other way round). Everything here is a pure function of strings and cheap to import.
Citation markers are not here: only answers carry them, so they belong to ``rag.cite``.
"""

from __future__ import annotations

import re

# Han ideographs as the body of a regex character class (put it inside [...] to combine
# it with other characters): CJK Unified Ideographs, Extension A and the compatibility
# ideographs. This is what "a Chinese character" means everywhere in ingest and rag.
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_RE = re.compile(f"[{CJK}]")
# Han plus Japanese kana and Hangul syllables: for the one place that only needs "a script
# written without spaces, one character per token" (answer-metric tokens), whatever the
# language.
CJK_WITH_KANA_HANGUL = "\u3040-\u30ff" + CJK + "\uac00-\ud7af"

_LATIN_WORD = re.compile(r"[A-Za-z]+")
# A number as written, with its decimal point or thousands separators: "175", "1.5", "32,768".
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_DIGIT_COMMA = re.compile(r"(?<=\d),(?=\d)")

# What only a question says: "几个", "多少", "哪家", "what"; not "的" or "是", which answers
# say too (lowercase English: callers fold case where they need to).
QUESTION_WORD = re.compile(r"什么|哪(?!怕)|谁|几(?!乎)|多少|怎么|如何|为何|\b(?:how|what|which|who|whom|whose|when|where|why)\b")


def without_digit_commas(text: str) -> str:
    """``text`` with the thousands separators between digits removed ("32,768" -> "32768"),
    and every other comma kept: "A = 406.4, B = 410.7" must not become "406.4 B", which
    reads as 406.4 billion."""
    return _DIGIT_COMMA.sub("", text)


def is_cjk(ch: str) -> bool:
    """Whether the one character ``ch`` is a Chinese (Han) character."""
    return CJK_RE.fullmatch(ch) is not None


def has_cjk(text: str) -> bool:
    """Whether ``text`` has at least one Chinese character."""
    return CJK_RE.search(text) is not None


def count_cjk(text: str) -> int:
    """How many Chinese characters ``text`` has."""
    return len(CJK_RE.findall(text))


def detect_language(text: str) -> str:
    """``"zh"`` when ``text`` has Chinese characters and at least as many of them as Latin
    words, else ``"en"``.

    Words, not letters, are weighed against characters: a Chinese question that names
    "Super-NaturalInstructions" or a paper title is still Chinese. The one rule for a
    question (which language to answer in), a document and a feedback entry.
    """
    cjk = count_cjk(text)
    return "zh" if cjk and cjk >= len(_LATIN_WORD.findall(text)) else "en"


# --- sentences -----------------------------------------------------------------------

# A run of stops ends a sentence wherever it is (Chinese puts no space after 。!?; and
# NFKC turns the full-width ones into ASCII); an English full stop needs whitespace or the
# end of the text after it ("3.5", "e.g.x" and URLs do not split). Closing quotes and
# brackets stay with their sentence. A line break is a break of its own kind.
_SENTENCE_END = re.compile(r"(?P<stop>(?:[。！？!?；;…]+|\.(?=\s|$))[\"'”’」』)）\]]*)|\n")
# A full stop after an initial or an abbreviation ("J. Devlin", "et al.", "e.g.") ends no sentence.
_NOT_AN_END = re.compile(r"(?:\b[A-Z]|(?i:\bet al|\be\.g|\bi\.e|\bvs|\bfig|\beq|\bno))\.$")
_ABBREVIATION_CHARS = 7  # the longest text _NOT_AN_END looks at ("et al.")

# The kinds of break :func:`sentence_breaks` finds.
STOP = "stop"
LINE_BREAK = "line break"
ABBREVIATION = "abbreviation"  # a full stop that ends an initial or an abbreviation, not a sentence


def sentence_breaks(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, str]]:
    """Each offset in ``text[start:end]`` right after a stop or a line break, with its kind.

    ``STOP``: Chinese or English end punctuation, with any closing quotes or brackets
    after it; it ends a sentence. ``ABBREVIATION``: a full stop after an initial or an
    abbreviation ("J. Devlin", "et al.", "e.g."); it ends none. ``LINE_BREAK``: whether
    it ends a sentence or is a PDF's hard wrap is for the caller to judge. A stop at the
    very end of the text is listed like any other.
    """
    end = len(text) if end is None else end
    found: list[tuple[int, str]] = []
    for match in _SENTENCE_END.finditer(text, start, end):
        stop = match.group("stop")
        if stop is None:
            kind = LINE_BREAK
        elif stop.startswith(".") and _NOT_AN_END.search(
            text, max(0, match.start() - _ABBREVIATION_CHARS), match.start() + 1
        ):
            kind = ABBREVIATION
        else:
            kind = STOP
        found.append((match.end(), kind))
    return found


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, whitespace-trimmed, blank ones dropped: it is cut at every
    ``STOP`` and ``LINE_BREAK`` of :func:`sentence_breaks` (not after abbreviations)."""
    sentences: list[str] = []
    previous = 0
    cuts = [cut for cut, kind in sentence_breaks(text) if kind != ABBREVIATION]
    for cut in [*cuts, len(text)]:
        piece = text[previous:cut].strip()
        if piece:
            sentences.append(piece)
        previous = cut
    return sentences


# --- PDF line wraps ------------------------------------------------------------------

# "lan-\nguage" -> "language": a lowercase word part, a hyphen at the end of a line and
# a lowercase continuation. Compounds already containing a hyphen ("state-of-\nthe-art")
# are left alone, since there the hyphen is probably real.
_HYPHEN_BREAK = re.compile(r"(?<![\w-])([A-Za-z]*[a-z])-\n([a-z])")
# An English line that stops mid-sentence and a next line that starts in lowercase.
_SOFT_WRAP = re.compile(r"(?<=[A-Za-z0-9,)\]])\n(?=[a-z])")
# A line that ends with one of these is closed: a sentence, a label or a quotation ends there.
_CLOSED = re.compile(r"[。！？!?；;.:：…\"”’)）]\s*$")
WRAP_COLUMNS = 30  # a line this wide without a closing stop is a PDF's hard wrap, not a heading


def columns(line: str) -> int:
    """How wide ``line`` is on the page: a Chinese character is two columns wide."""
    return len(line) + count_cjk(line)


def join_wrapped_lines(text: str, *, wide: int | None = None) -> str:
    """``text`` with the hard line wraps of PDF text undone; lines are trimmed of whitespace.

    Always, since they are sure: a word hyphenated at a line end is whole again
    ("lan-\\nguage"), and an English line that stops mid-sentence runs on into a next line
    that starts in lowercase. With ``wide`` (a number of :func:`columns`, usually
    ``WRAP_COLUMNS``) also every line at least that wide that ends without a closing stop
    runs on into the next non-blank line, with no space between Chinese characters; blank
    lines are dropped then.

    Ingest (``clean_text``) applies only the sure rules: in articles a line is a paragraph
    or a heading, and the width rule would merge them. Splitting a passage into sentences
    at query time adds the width rule: it also mends Chinese PDF lines and English lines
    wrapped before a capital or a number.
    """
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    text = _SOFT_WRAP.sub(" ", text)
    if wide is None:
        return text
    lines: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if lines and columns(lines[-1]) >= wide and not _CLOSED.search(lines[-1]):
            joiner = "" if is_cjk(line[0]) and is_cjk(lines[-1][-1]) else " "
            lines[-1] += joiner + line
        else:
            lines.append(line)
    return "\n".join(lines)
