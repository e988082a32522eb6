"""One visitor's questions waiting for the single generation slot, and their Stop/Clear."""

from __future__ import annotations

import html
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

class PendingQuestions:
    """One visitor's questions waiting to be answered, oldest first, and their Stop/Clear.

    One instance per browser session (it lives in a ``gr.State``). Sending a question only
    adds it here, at once; the queued answering step takes questions out in order, so a
    question typed while another is answered waits its turn instead of being dropped.
    ``interrupt`` (Stop, clearing the chat) forgets the waiting questions and tells the
    answering step to end the current answer at its next update.
    """

    def __init__(self) -> None:
        self._items: deque[str] = deque()
        self._lock = threading.Lock()
        self._epoch = 0
        self._reason: str | None = None
        self._answered: dict[int, Any] = {}  # chat message index -> what feedback needs

    def __deepcopy__(self, memo: dict) -> "PendingQuestions":
        # gr.State copies its value into every new session; a session starts with none waiting.
        return PendingQuestions()

    def add(self, question: str) -> None:
        """Queue ``question`` (blank ones are ignored)."""
        question = question.strip()
        if question:
            with self._lock:
                self._items.append(question)

    def take(self) -> tuple[str, int] | None:
        """The oldest waiting question and the current epoch (see ``interrupted``), or None."""
        with self._lock:
            return (self._items.popleft(), self._epoch) if self._items else None

    def interrupt(self, reason: str) -> None:
        """Forget the waiting questions and end the current answer ("stop" or "clear")."""
        with self._lock:
            self._items.clear()
            self._epoch += 1
            self._reason = reason
            if reason == "clear":
                self._answered.clear()

    def remember(self, index: int, record: Any) -> None:
        """Keep ``record`` (see ``make_responder``'s ``on_answer``) for the answer at chat ``index``."""
        with self._lock:
            self._answered[index] = record

    def answered(self, index: int) -> Any:
        """What was remembered for the answer at chat ``index``, or None."""
        with self._lock:
            return self._answered.get(index)

    def interrupted(self, epoch: int) -> str | None:
        """The reason of an interruption since ``epoch``, or None."""
        with self._lock:
            return self._reason if self._epoch != epoch else None

    def waiting(self) -> tuple[str, ...]:
        """The waiting questions, oldest first."""
        with self._lock:
            return tuple(self._items)


def render_waiting(questions: Sequence[str]) -> str:
    """The note under the question box listing questions that wait their turn."""
    if not questions:
        return ""
    items = "".join(f"<li>{html.escape(q)}</li>" for q in questions)
    return f'<div class="rag-waiting">Waiting for their turn / 排队中 ({len(questions)}):<ol>{items}</ol></div>'

