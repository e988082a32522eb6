"""The chat step of the web page, free of any Gradio import.

This module owns turning one question into a stream of page states: it consumes
``Assistant.stream`` (text deltas, then exactly one :class:`~rag.types.Answer`) and renders
the answer bubble (citation markers as links into the sources panel) and a one-line
status; the sources panel itself is :mod:`ui.sources`.
It also converts chat history between Gradio's messages format and the contract's
``(user, assistant)`` pairs. ``ui.app`` only wires these functions into components, so
everything here is tested without a server.

Everything that comes from a document or from the model is HTML-escaped before any markup
is added: a passage containing ``<script>`` shows as text. Text that goes into a chat
bubble, which Gradio renders as Markdown, is made inert as Markdown too (see
:func:`inert_text`): model output can't load an image or link anywhere; the only links in
an answer are its citation markers, and the only links out are each source's own arXiv
or URL in the sources panel.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Protocol

from ingest.documents import IngestError
from rag.cite import MARKER, parse_markers
from rag.types import Answer, RagError, Reading
from ui.sources import placeholder_sources, render_reading, render_sources

log = logging.getLogger(__name__)

REFUSAL_NOTICE = "The documents don't contain the answer / 文档中没有找到答案"

# Elements of our own markup that carry no answer text (notices, status lines); they are
# dropped when the rendered bubble is turned back into history for the next question.
_SKIP_CLASSES = frozenset({"rag-notice", "rag-meta"})
_VOID_TAGS = frozenset({"br", "hr", "img", "input", "meta", "link", "wbr"})


class StreamingAssistant(Protocol):
    """What the chat step needs from ``rag.answer.Assistant``."""

    def stream(
        self, question: str, history: Sequence[tuple[str, str]] = (), **options: Any
    ) -> Iterator[Reading | str | Answer]:
        """Yield the passages being read (optional), text deltas, then exactly one final Answer."""


@dataclass(frozen=True)
class ChatUpdate:
    """One state of the page while a question is answered.

    ``answer_markdown`` is the assistant's chat bubble (Markdown with inline HTML),
    ``sources_html`` the sources panel, ``status`` a short line under the chat.
    ``final`` marks the last update of a question; ``answer`` is the Answer it came from
    (``None`` while streaming and on errors); ``error`` is the one-line error message of a
    failed question.
    """

    answer_markdown: str
    sources_html: str
    status: str
    final: bool = False
    answer: Answer | None = None
    error: str | None = None


# --------------------------------------------------------------------------- chat step


def chat_step(
    assistant: StreamingAssistant,
    question: str,
    history: Sequence[tuple[str, str]] = (),
    **options: Any,
) -> Iterator[ChatUpdate]:
    """Answer ``question`` and yield the page states as the answer streams.

    First a "searching…" state, then the partial answer as deltas arrive, then the final
    render (answer with linked citations, sources panel, timings). ``options`` (such as
    ``top_k`` and ``passage_budget``) are passed to ``assistant.stream``; ``None`` values
    are left out so the assistant's own defaults apply. Errors never escape: a
    ``RagError``/``IngestError`` becomes an error state with its one-line message, anything
    else is logged with its traceback and shown as a short error.
    """
    options = {key: value for key, value in options.items() if value is not None}
    question = question.strip()
    if not question:
        yield ChatUpdate(_notice("rag-error", "Please type a question. / 请输入问题。"), "", "waiting for a question", final=True)
        return

    partial: list[str] = []  # the deltas so far, kept in the bubble of a failed answer
    try:
        answered = yield from _answer_states(assistant, question, history, options, partial)
    except (RagError, IngestError) as exc:
        log.info("question failed: %s", exc)
        yield error_update(one_line(str(exc)) or type(exc).__name__, partial)
        return
    except Exception:  # noqa: BLE001 - the page must show a short error, not a traceback
        log.exception("unexpected error while answering %r", question)
        yield error_update("Something went wrong while answering; the details are in the server log.", partial)
        return
    if not answered:
        log.error("assistant stream ended without an Answer for %r", question)
        yield error_update("The assistant stopped without finishing the answer; the details are in the server log.", partial)


def _answer_states(
    assistant: StreamingAssistant, question: str, history: Sequence[tuple[str, str]], options: dict, partial: list[str]
) -> Generator[ChatUpdate, None, bool]:
    """The states of a question being answered; returns whether the final Answer came."""
    started = time.perf_counter()
    yield ChatUpdate(_SEARCHING, placeholder_sources("searching the documents…"), "searching… (on a CPU the first words can take a while)")
    reading = placeholder_sources("sources appear when the answer is complete")
    for item in assistant.stream(question, history, **options):
        if isinstance(item, Reading):
            reading = render_reading(item.hits)
            yield ChatUpdate(_READING, reading, READING_AGAIN if item.again else
                             f"reading {len(item.hits)} passages… (on a CPU the first words can take a while)")
        elif isinstance(item, Answer):
            elapsed = time.perf_counter() - started
            yield ChatUpdate(render_answer(item), render_sources(item), render_status(item, elapsed), final=True, answer=item)
            return True
        else:
            partial.append(item)
            yield ChatUpdate(render_answer_text("".join(partial)) + _TYPING, reading, "writing the answer…")
    return False


def error_update(message: str, partial: Sequence[str] = ()) -> ChatUpdate:
    """The final state for a failed question: what was written so far, then the message."""
    body = render_answer_text("".join(partial)) if partial else ""
    bubble = (body + "\n\n" if body else "") + _notice("rag-error", "Error / 错误: " + message)
    return ChatUpdate(bubble, "", "error: " + message, final=True, error=message)


def one_line(text: str) -> str:
    """``text`` with all whitespace runs (newlines included) collapsed to one space."""
    return " ".join(text.split())


# --------------------------------------------------------------------------- rendering


# After a reply the passages did not back, or a decline (held back, never shown): the
# second try's wait.
READING_AGAIN = "no answer the passages back yet; reading them again… / 尚未得到有依据的回答，正在重新阅读资料…"
# Until the first word the model is reading the passages too, which is most of the wait
# on a CPU; the text says so, so a long pause does not look like a hang.
_READING = '<span class="rag-notice rag-pending">reading the passages… / 正在阅读资料…</span>'
_SEARCHING = '<span class="rag-notice rag-pending">searching the documents and reading the passages… / 正在检索并阅读文档…</span>'
_TYPING = ' <span class="rag-notice rag-typing">▌</span>'


# Placeholders of an unfinished answer ("searching…", the typing caret, and the app's
# "loading the model…" bubble); our own markup, so never nested.
_PLACEHOLDER = re.compile(r'\s*<span class="rag-notice rag-(?:pending|typing)">[^<]*</span>')


def _notice(css_class: str, text: str) -> str:
    """A styled notice block; ``text`` is escaped here."""
    return f'<div class="rag-notice {css_class}">{_inert_markdown(html.escape(text))}</div>'


# What Markdown needs to link or load anything: brackets (inline and reference-style links
# and images, and the definitions they refer to) and the bare URLs and e-mail addresses
# that GFM turns into links. As character references they look the same on the page but
# are never markup (raw "<" is already escaped, so no HTML and no <autolink>).
_BRACKETS = {"[": "&#91;", "]": "&#93;"}
_AUTOLINK = re.compile(r"(?i)\b(?:(https?|ftp|mailto|file|data|javascript)(:)|(www)(\.))|(@)")


def _no_autolink(match: re.Match[str]) -> str:
    if match.group(5):
        return "&#64;"
    if match.group(1):
        return match.group(1) + "&#58;"
    return match.group(3) + "&#46;"


def inert_text(text: str) -> str:
    """``text`` escaped for a chat bubble so that it is shown, never interpreted: no HTML,
    and no Markdown link, image, reference definition or autolink, whatever it says.

    The page shows exactly ``text`` (character references decode to the same characters).
    """
    return _inert_markdown(html.escape(text, quote=False))


def _inert_markdown(escaped: str) -> str:
    """HTML-escaped text with no Markdown link, image or autolink left in it."""
    escaped = re.sub(r"[\[\]]", lambda m: _BRACKETS[m.group(0)], escaped)
    return _AUTOLINK.sub(_no_autolink, escaped)


def render_answer_text(text: str, known: Iterable[int] | None = None) -> str:
    """Make the model's ``text`` inert (:func:`inert_text`) and turn its citation markers
    into links.

    ``[n]`` (also ``[1, 2]`` and ``【n】``) becomes ``<a href="#src-n">[n]</a>``, pointing at
    the passage's anchor in the sources panel. With ``known`` given, only those numbers
    become links (a number the model invented stays plain text). These anchors are the
    only links model text can produce: a passage that talks the model into
    ``![x](https://tracker/...)`` or a reference-style image fetches nothing.
    """
    known_numbers = None if known is None else set(known)

    def link(match: re.Match[str]) -> str:
        numbers = parse_markers(match.group(0))
        parts = [
            f'<a class="rag-cite" href="#src-{n}">&#91;{n}&#93;</a>'
            if known_numbers is None or n in known_numbers
            else f"&#91;{n}&#93;"
            for n in numbers
        ]
        return "".join(parts)

    # Markers are found in the raw text and every piece around them is made inert on its own.
    out, last = [], 0
    for match in MARKER.finditer(text):
        out.append(inert_text(text[last : match.start()]))
        out.append(link(match))
        last = match.end()
    out.append(inert_text(text[last:]))
    return "".join(out)


def render_answer(answer: Answer) -> str:
    """The final chat bubble for ``answer``: the refusal notice, or the linked answer text."""
    parts: list[str] = []
    if answer.notice:
        parts.append(_notice("rag-info", answer.notice))
    if answer.refused:
        # The assistant's own refusal sentence says the same as the notice; one is enough.
        parts.append(_notice("rag-refusal", REFUSAL_NOTICE))
        parts.append('<span class="rag-notice rag-meta">The closest passages are listed under Sources.</span>')
        return "\n\n".join(parts)
    parts.append(render_answer_text(answer.text, known=(c.n for c in answer.citations)))
    if answer.standalone_question:
        parts.append(
            '<span class="rag-notice rag-meta">searched as: '
            f"{inert_text(answer.standalone_question)}</span>"
        )
    return "\n\n".join(parts)


def render_status(answer: Answer, elapsed_s: float) -> str:
    """One line under the chat: outcome, time and generation speed."""
    outcome = "refused: the documents don't contain the answer" if answer.refused else "answered"
    if answer.refused and answer.refusal_reason:
        outcome += f" ({answer.refusal_reason})"
    total = answer.timings.get("total_s", elapsed_s)
    bits = [outcome, f"{total:.1f} s"]
    speed = answer.timings.get("tokens_per_s")
    if speed:
        bits.append(f"{speed:.1f} tokens/s")
    first = answer.timings.get("first_token_s")
    if first is not None and not answer.refused:
        bits.append(f"first token {first:.1f} s")
    return " · ".join(bits)


# --------------------------------------------------------------------------- history


class _TextExtractor(HTMLParser):
    """Collects the text of rendered markup, skipping our notice and status elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._stack: list[bool] = []  # per open element: is it (inside) a skipped one?

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS:
            return
        classes = set((dict(attrs).get("class") or "").split())
        skipping = bool(self._stack and self._stack[-1]) or bool(classes & _SKIP_CLASSES)
        self._stack.append(skipping)

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID_TAGS and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self._stack and self._stack[-1]):
            self.parts.append(data)


def plain_text(rendered: str) -> str:
    """The answer text of a rendered bubble: markup and notices removed, entities decoded."""
    parser = _TextExtractor()
    parser.feed(rendered)
    parser.close()
    return "\n\n".join(p.strip() for p in "".join(parser.parts).split("\n\n") if p.strip())


def _content_text(content: Any) -> str:
    # Gradio gives message content as a string, or (for files and multimodal messages)
    # as a dict or a list of parts; only the text parts are history.
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        return str(content.get("text") or "") if content.get("type", "text") == "text" else ""
    if isinstance(content, Sequence):
        return "\n".join(t for t in (_content_text(part) for part in content) if t)
    return ""


def _message_fields(message: Any) -> tuple[str, Any]:
    if isinstance(message, Mapping):
        return str(message.get("role", "")), message.get("content")
    return str(getattr(message, "role", "")), getattr(message, "content", None)


def history_from_messages(messages: Sequence[Any] | None) -> list[tuple[str, str]]:
    """Gradio messages (dicts or ChatMessage objects) -> ``[(user, assistant), ...]``.

    Both sides are turned back into plain text (links, notices and escaping removed).
    Turns whose bubble holds no answer text (a bare refusal notice, an error, a question
    still being answered) are left out, so the model never sees a half conversation.
    """
    pairs: list[tuple[str, str]] = []
    question: str | None = None
    answer_parts: list[str] = []

    def flush() -> None:
        if question is not None:
            answer = "\n\n".join(p for p in answer_parts if p)
            if answer:
                pairs.append((question, answer))

    for message in messages or ():
        role, content = _message_fields(message)
        if role == "user":
            flush()
            question, answer_parts = plain_text(_content_text(content)), []
        elif role == "assistant" and question is not None:
            answer_parts.append(plain_text(_content_text(content)))
    flush()
    return pairs


def mark_stopped(messages: Sequence[Any]) -> list[Any]:
    """Messages with an unfinished last answer (cut off by Stop) marked as stopped.

    The "searching…"/typing placeholders are removed and a "stopped" notice added; a
    finished last answer is left alone.
    """
    messages = list(messages)
    if not messages:
        return messages
    role, content = _message_fields(messages[-1])
    text = _content_text(content)
    if role != "assistant" or not _PLACEHOLDER.search(text):
        return messages
    text = _PLACEHOLDER.sub("", text)
    text = (text.rstrip() + "\n\n" if text.strip() else "") + _notice("rag-info", "stopped / 已停止")
    messages[-1] = {"role": "assistant", "content": text}
    return messages


def messages_from_history(history: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """``[(user, assistant), ...]`` -> Gradio messages; the text is escaped, markers linked."""
    messages: list[dict[str, str]] = []
    for user, assistant in history:
        messages.append({"role": "user", "content": inert_text(user)})
        messages.append({"role": "assistant", "content": render_answer_text(assistant)})
    return messages
