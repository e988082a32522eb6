"""The page's answering step and its ``/ask`` API, free of any Gradio import.

The answering step takes one visitor's waiting questions in order and yields what the
page shows for each: the question in the chat at once, a "loading the model…" bubble
while the assistant starts, then the states of :func:`ui.chat.chat_step`. Stop and Clear
reach it through :class:`~ui.pending.PendingQuestions` and end the answer at its next
update, closing the model's stream. ``ui.app`` wires these functions into components.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ui.answer_json import answer_json
from ui.chat import ChatUpdate, chat_step, error_update, history_from_messages, inert_text, mark_stopped
from ui.loader import AssistantLoader, LoadState
from ui.pending import PendingQuestions, render_waiting

SOURCES_EMPTY = '<div class="rag-sources rag-sources-empty">Sources for the answer appear here. / 回答的来源会显示在这里。</div>'

# What the step yields: (chat, conversation, sources, status, waiting note).
Outputs = tuple[Any, Any, Any, Any, Any]


def loading_bubble(state: LoadState) -> str:
    """The answer bubble of a question asked while the assistant is still starting."""
    return f'<span class="rag-notice rag-pending">{html.escape(state.message)}</span>'


def render_status(text: str) -> str:
    """The one-line status under the chat."""
    return f'<div class="rag-status">{html.escape(text)}</div>' if text else ""


def _user_message(question: str) -> dict[str, str]:
    return {"role": "user", "content": inert_text(question)}


def _assistant_message(markdown: str) -> dict[str, str]:
    return {"role": "assistant", "content": markdown}


def interrupted_outputs(reason: str, shown: list, skip: Any) -> Outputs:
    """(chat, conversation, sources, status, waiting) after Stop or Clear.

    Stop keeps what was written, marked as stopped (and the sources panel as it is);
    Clear empties everything.
    """
    if reason == "clear":
        return [], [], SOURCES_EMPTY, "", ""
    stopped = mark_stopped(shown)
    status = render_status("stopped / 已停止") if stopped != shown else skip
    return stopped, stopped, skip, status, ""


@dataclass(frozen=True)
class _Turn:
    """One question being answered: what the chat held before it, and its place in line."""

    question: str
    epoch: int
    messages: list
    history: list[tuple[str, str]]
    options: dict[str, int | None]


@dataclass(frozen=True)
class _AnsweringStep:
    loader: AssistantLoader
    poll_s: float
    skip: Any
    on_answer: Callable | None

    def run(self, pending: PendingQuestions, conversation: list | None, top_k: float | None,
            passage_budget: float | None, fast: bool | None = None) -> Iterator[Outputs]:
        messages = list(conversation or [])
        options = {"top_k": int(top_k) if top_k else None,
                   "passage_budget": int(passage_budget) if passage_budget else None}
        if fast is not None:
            options["fast"] = bool(fast)
        answered_any = False
        while (taken := pending.take()) is not None:
            answered_any = True
            question, epoch = taken
            turn = _Turn(question, epoch, [*messages, _user_message(question)], history_from_messages(messages), options)
            shown, stopped = yield from self._wait_for_loader(pending, turn)
            if not stopped:
                shown, stopped = yield from self._answer(pending, turn, shown)
            if stopped:
                return
            messages = shown
        if not answered_any:
            # Another step already answered this session's questions.
            yield self.skip, self.skip, self.skip, self.skip, self.skip

    def _wait_for_loader(self, pending: PendingQuestions, turn: _Turn):
        """Show "loading…" until the assistant is ready or failed; returns (shown, stopped)."""
        shown = [*turn.messages]
        while not self.loader.wait(0):
            if reason := pending.interrupted(turn.epoch):
                yield interrupted_outputs(reason, shown, self.skip)
                return shown, True
            state = self.loader.state()
            shown = [*turn.messages, _assistant_message(loading_bubble(state))]
            status = render_status(f"{state.message} ({state.seconds:.0f} s)")
            yield shown, shown, SOURCES_EMPTY, status, render_waiting(pending.waiting())
            self.loader.wait(self.poll_s)
        return shown, False

    def _updates(self, turn: _Turn) -> Iterator[ChatUpdate]:
        state = self.loader.state()
        if state.failed:
            yield error_update(state.message)
            return
        yield from chat_step(self.loader.assistant, turn.question, turn.history, **turn.options)

    def _answer(self, pending: PendingQuestions, turn: _Turn, shown: list):
        """Show the chat step's states of ``turn``; returns (shown, stopped)."""
        updates = self._updates(turn)
        for update in updates:
            if reason := pending.interrupted(turn.epoch):
                # Closing the chat step closes the assistant's stream: the model is free.
                updates.close()
                yield interrupted_outputs(reason, shown, self.skip)
                return shown, True
            shown = [*turn.messages, _assistant_message(update.answer_markdown)]
            if self.on_answer is not None and update.final and update.answer is not None:
                record = self.on_answer(self.loader.assistant, update.answer, turn.history, turn.options)
                pending.remember(len(shown) - 1, record)
            yield shown, shown, update.sources_html, render_status(update.status), render_waiting(pending.waiting())
        return shown, False


def make_responder(loader: AssistantLoader, *, poll_s: float = 1.0, skip: Any = None, on_answer: Callable | None = None):
    """The answering step: answers this visitor's waiting questions, oldest first.

    ``respond(pending, conversation, top_k, passage_budget)`` yields values for (chat,
    conversation, sources, status, waiting note). Each question moves into the chat at
    once; a "loading the model…" bubble shows while the assistant starts; then the states
    of ``ui.chat.chat_step`` follow. ``conversation`` is the authoritative message list
    (the chat shows it): it is read when the step starts, so a question queued behind
    another one sees that answer in its history. ``skip`` is yielded for "no change"
    when nothing waits (Gradio's ``gr.skip()``). ``on_answer(assistant, answer, history,
    options)`` makes what ``pending`` remembers for each finished answer (for feedback).
    """
    step = _AnsweringStep(loader, poll_s, skip, on_answer)

    def respond(pending: PendingQuestions, conversation: list | None, top_k: float | None,
                passage_budget: float | None, fast: bool | None = None):
        yield from step.run(pending, conversation, top_k, passage_budget, fast)

    return respond


def answer_result(update: ChatUpdate) -> dict[str, Any]:
    """The API's answer to one question: the fields of ``rag ask --json`` and the status line."""
    if update.answer is None:
        return {"error": update.error or update.status, "status": update.status}
    return {**answer_json(update.answer), "status": update.status}


def make_api(loader: AssistantLoader, *, load_timeout_s: float = 900.0):
    """The ``/ask`` API endpoint: one question (and optional history) -> a result dict."""

    def ask(question: str, history: list[list[str]] | None = None, top_k: int = 5, passage_budget: int = 800,
            fast: bool | None = None) -> dict:
        """Answer one question from the documents; history is [[question, answer], ...]."""
        loader.wait(load_timeout_s)
        state = loader.state()
        if not state.ready:
            return {"error": state.message, "status": "error: " + state.message}
        pairs = [(str(q), str(a)) for q, a in (history or [])]
        *_, final = chat_step(loader.assistant, question, pairs, top_k=top_k, passage_budget=passage_budget, fast=fast)
        return answer_result(final)

    return ask
