"""What the ``rag`` command takes in from a terminal and prints back to it.

Questions and queries are cleaned of what a terminal or a pipe can smuggle in
(undecodable bytes, control characters) before they go anywhere; answers are printed as
they stream, then their checked text and sources.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Sequence

from rag.types import Answer, Reading
from ui.chat import READING_AGAIN

# Control characters other than tab and newline: a NUL or an escape sequence in a
# question only garbles the prompt and the terminal the answer is printed to.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_input(text: str) -> tuple[str, bool]:
    """``text`` as valid Unicode without control characters, and whether anything changed.

    Bytes that were not UTF-8 reach Python as lone surrogates (from the command line and
    from a pipe); they are decoded again as UTF-8 with U+FFFD for what cannot be read, so
    they can be printed, logged and embedded like any other text.
    """
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates that stand for no byte (typed as escapes)
        data = text.encode("utf-8", "surrogatepass")
    cleaned = _CONTROL.sub(" ", data.decode("utf-8", "replace"))
    return cleaned, cleaned != text


def user_text(text: str, what: str) -> str:
    """``text`` cleaned (see :func:`clean_input`), with a one-line note on stderr when it changed."""
    cleaned, changed = clean_input(text)
    if changed:
        print(f"note: the {what} held undecodable bytes or control characters; they were replaced", file=sys.stderr)
    return cleaned


def capped(text: str, limit: int, what: str) -> str:
    """``text`` cut to ``limit`` characters, with a one-line note on stderr when it was longer."""
    if len(text) <= limit:
        return text
    print(f"note: the {what} was cut to its first {limit} characters", file=sys.stderr)
    return text[:limit]


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (a message may quote a multi-line file or answer)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def snippet(text: str, width: int = 160) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def fit_columns(text: str, columns: int) -> str:
    """``text`` cut or padded to ``columns`` terminal columns (a Chinese character takes two)."""
    out, used = [], 0
    for ch in text:
        width = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        if used + width > columns:
            break
        out.append(ch)
        used += width
    return "".join(out) + " " * (columns - used)


def print_sources(answer: Answer) -> None:
    """The notice and the numbered sources of ``answer``, each flagged when not verified."""
    if answer.notice:
        print(f"note: {answer.notice}")
    if answer.refused:
        return
    for c in answer.citations:
        chunk = c.hit.chunk
        page = f" — page {chunk.page}" if chunk.page is not None else ""
        link = f" — {chunk.url}" if chunk.url else ""
        flag = "" if c.supported else " (not verified)"
        flag += " (attributed)" if c.how == "attributed" else ""
        caption = chunk.caption  # a table's rows mean little without it
        text = f"{snippet(caption, 80)} | {snippet(chunk.text)}" if caption else snippet(chunk.text)
        print(f"[{c.n}] {chunk.title}{page}{link}{flag} — {text}")
    if answer.unsupported:
        print(f"warning: {len(answer.unsupported)} sentence(s) have no supporting passage")


def stream_answer(assistant, question: str, history: Sequence[tuple[str, str]]) -> Answer:
    """Print the answer to ``question`` as it streams, then its checked text and sources."""
    streamed: list[str] = []
    answer = None
    for item in assistant.stream(question, history):
        if isinstance(item, Answer):
            answer = item
        elif isinstance(item, Reading) and item.again:  # nothing was shown: say why the wait goes on
            print(READING_AGAIN, file=sys.stderr, flush=True)
        elif isinstance(item, str):
            streamed.append(item)
            print(item, end="", flush=True)
    assert answer is not None
    shown = "".join(streamed)
    if answer.text.startswith(shown):
        # The rest was held back until the whole reply was checked (a refusal, when
        # nothing could be shown): it continues what is on screen, nothing is taken back.
        print(answer.text[len(shown):])
    else:
        print()
        label = "Refused" if answer.refused else "With sources checked"
        print(f"\n{label}: {answer.text}")
    print()
    print_sources(answer)
    return answer
