"""Echoes: answer sentences that only repeat the prompt around the passages.

A small model sometimes recites its instructions or a passage's header instead of
answering; the "small" model profile drops such sentences before citations are checked.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from rag.cite import join_sentences, split_sentences, strip_markers


def drop_echoes(
    answer: str, instructions: Sequence[str], headers: Sequence[str] = (), passages: Sequence[str] = ()
) -> str:
    """``answer`` without the sentences that only repeat the prompt around the passages.

    A small model sometimes recites its instructions ("The model has 7 billion
    parameters [2]. If the passages do not contain the answer, reply only: ...") or a
    passage's header (its title and authors) instead of answering. A header's words
    count as an answer only where the passage text says them too ("《Attention Is All
    You Need》" from a passage that names that paper). A bracketed word the instructions
    hold is their placeholder copied, not a marker: "[编号]" ("[number]") is taken out
    wherever it stands, while "[CLS]" stays.
    """
    answer = _BRACKETED.sub(lambda m: "" if any(m.group(1) in text for text in instructions) else m.group(0), answer)
    said = [_flat(text) for text in instructions]
    heads = [_flat(text) for text in headers]
    texts = [_flat(text) for text in passages]
    sentences = split_sentences(answer)
    kept = []
    for sentence in sentences:
        flat = _flat(strip_markers(sentence))
        if len(flat) >= 4 and (
            any(flat in text for text in said)
            or (any(flat in head for head in heads) and not any(flat in text for text in texts))
        ):
            continue
        kept.append(sentence)
    return join_sentences(kept) if len(kept) < len(sentences) else answer


# A bracketed word, not a number: "[编号]", "[CLS]".
_BRACKETED = re.compile(r"\s*(\[[^\]\d]{1,12}\]|【[^】\d]{1,12}】)")


def _flat(text: str) -> str:
    # Markers, spaces and punctuation out: "[2]" or a comma must not hide an echo.
    return re.sub(r"[\s\W_]+", "", strip_markers(unicodedata.normalize("NFKC", text).casefold()))
