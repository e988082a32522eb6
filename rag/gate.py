"""What streams is what stays: an answer reaches the reader one checked sentence at a time.

A model's reply is checked after it is written (citations, echoes of the prompt,
refusals). Streamed as it comes, a reply that the check then refuses, or a sentence that
only repeats the instructions, would appear and be withdrawn. :class:`SentenceGate` holds
each sentence until it is complete and checked, then releases it in the form the final
answer will show it (markers validated), so the final answer always begins with what the
reader has already seen. The delay is at most one sentence.

Pure logic over strings; the check is the caller's (see ``rag.answer``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from rag.cite import join_sentences, split_sentences, strip_markers

# A sentence is complete once the text after it has begun another one: a letter, a Han
# character or a quote, not just a citation marker that may still belong to it ("。[1]").
_STARTED = re.compile(r"[^\W\d_]")


class SentenceGate:
    """Releases a streamed reply sentence by sentence, each only after ``check`` passes it.

    ``check(sentence)`` returns the sentence as the final answer will show it, or ``None``
    to hold it. Sentences are released in order: the first one held closes the gate, and
    the rest of the reply is then left to the final answer (shown in full once checked as
    a whole, or replaced by a refusal; either way nothing shown is taken back).
    """

    def __init__(self, check: Callable[[str], str | None]):
        self._check = check
        self._text = ""
        self._done = 0  # sentences of ``_text`` already decided
        self._shown: list[str] = []
        self._open = True

    @property
    def shown(self) -> str:
        """Everything released so far, as the reader sees it."""
        return join_sentences(self._shown)

    def feed(self, delta: str) -> str:
        """Add a piece of the reply; return the text to show now ("" when nothing is ready)."""
        self._text += delta
        if not self._open:
            return ""
        sentences = split_sentences(self._text)
        # The last sentence may still grow; so may the one before it while what follows
        # is only the start of a marker that belongs to it ("…参数。[").
        ready = len(sentences) - (1 if sentences and _started(sentences[-1]) else 2)
        complete = sentences[: max(ready, 0)]
        return self._release(complete)

    def finish(self) -> str:
        """The reply has ended: decide its last sentence; return the text to show now."""
        if not self._open:
            return ""
        return self._release(split_sentences(self._text))

    def _release(self, complete: list[str]) -> str:
        before = self.shown
        for sentence in complete[self._done :]:
            self._done += 1
            shown = self._check(sentence)
            if shown is None or not strip_markers(shown).strip():
                self._open = False
                break
            self._shown.append(shown)
        after = self.shown
        return after[len(before) :]


def _started(part: str) -> bool:
    """True when ``part`` has begun a sentence: it holds a letter, not only markers or digits."""
    return bool(_STARTED.search(strip_markers(part)))
