"""Whose number it is: the named things a question asks about, and passage sentences that
give a number to something else.

"How many parameters does T5-XXL have?" answered "175B parameters", cited to "GPT-3 has
175B parameters", is backed by its passage and about another model. The
answer check (``rag.cite``) asks :func:`gives_to_another` of each sentence that states a
number, so such a sentence backs nothing and the question is refused, or answered from
the sentence that does name what was asked.

A name is a Latin token a reader takes for one: two or more capitals (BERT, PaLM,
RoBERTa), letters with a digit (GPT-4, T5, word2vec), or a capital inside a word
(InstructGPT, DistBelief). Metrics, units and a field's acronyms (F1, BLEU, GPU, LLM) name
no subject, nor do references ("B.1"). Names compare without case, hyphens or dots, and a
passage sentence names a subject when its text holds the subject's letters anywhere
("BERT-large" in "BERTLARGE"). A sentence naming nothing is anyone's: "We hire 40
contractors" stays evidence for a question on InstructGPT. Chinese names are not read.
Any name counts as someone else's, a GPU's or a dataset's too ("64 V100 GPUs" for a
question on InstructGPT); replayed on twelve stored dev runs, this lost no right answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_TOKEN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)*")
# Metrics, units and acronyms of the field: they say what is counted, not whose it is.
_NO_SUBJECT = frozenset(
    "f1 bleu rouge rougel em wer ppl acc nlp llm plm ai api gpu tpu cpu phd url http https gb tb mb kb".split()
)
_SEPARATORS = re.compile(r"[-_.\s]")


def folded(text: str) -> str:
    """``text`` as names compare: lower case, without hyphens, dots, underscores or spaces."""
    return _SEPARATORS.sub("", text.lower())


def _key(token: str) -> str | None:
    """The name a token stands for, folded ("GPT-4" -> "gpt4"), or None for no name."""
    token = token.rstrip(".")
    capitals = sum(ch.isupper() for ch in token)
    has_digit = any(ch.isdigit() for ch in token)
    if not (capitals >= 2 or has_digit or re.search(r"[a-z][A-Z]", token)):
        return None
    key = folded(token)
    letters = re.sub(r"\d", "", key)
    if len(letters) < 2 and not re.fullmatch(r"[A-Z]\d+", token):
        return None  # "B.1" is a reference, "T5" a model
    if {key, letters, letters.removesuffix("s")} & _NO_SUBJECT:
        return None
    return key


def names(text: str) -> set[str]:
    """The names in ``text``, folded: "RoBERTa-large vs GPT-4 (F1)" -> {"robertalarge", "gpt4"}."""
    return {key for token in _TOKEN.findall(text) if (key := _key(token))}


def document_names(index) -> dict[str, frozenset[str]]:
    """The names each document of ``index`` uses, in its title or any passage (doc_id -> names)."""
    found: dict[str, set[str]] = {}
    for chunk in index.chunks:
        found.setdefault(chunk.doc_id, names(chunk.title or "")).update(names(chunk.text))
    return {doc_id: frozenset(keys) for doc_id, keys in found.items()}


def without_versioned_names(text: str) -> str:
    """``text`` with names that carry a digit blanked out: the "4" of GPT-4 is no quantity."""
    return _TOKEN.sub(lambda m: " " if _key(m.group()) and any(ch.isdigit() for ch in m.group()) else m.group(), text)


def names_any(text: str, subjects: set[str]) -> bool:
    """Whether ``text`` holds the letters of any of ``subjects`` (folded names, see
    :func:`names`): "BERT-large" is in "BERTLARGE"."""
    flat = folded(text)
    return any(subject in flat for subject in subjects)


def gives_to_another(lines: Sequence[str], subjects: set[str]) -> bool:
    """Whether every one of ``lines`` (the passage sentences that hold an answer's number)
    names something and none of them names one of ``subjects`` (the question's names)."""
    if not subjects or not lines:
        return False
    for line in lines:
        if not names(line) or names_any(line, subjects):
            return False
    return True
