"""The relevance floor: whether retrieval found something worth answering from.

Owns the "judge" stage of answering: a question is answered only when a passage is close
to it in meaning, or by keywords, and no model name with a version that the question
asks about (GPT-5, Llama 3) is missing from every passage. A short question on a name
or a term the embedder cannot place ("What is RAG?": cosine 0.08 to the articles on RAG;
"什么是思维链?") is close when one passage holds all of its words, the name or the term
included; a question that writes a found document's title whole is about that document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.keyword import tokenize
from rag.names import title_forms, writes_title
from rag.subjects import folded, names, names_any
from rag.types import Hit

# Names with a digit (GPT-4, T5, Llama 2, word2vec, GPT-3.5, and with hyphenated parts
# DALL-E 3, Flan-T5): when a question names one that no retrieved passage mentions, the
# documents are about something else.
VERSIONED_NAME = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z]*(?:-[A-Za-z]+)*(?:[\-\s]?\d+(?:\.\d+)?[A-Za-z]*)(?![A-Za-z0-9])"
)
COMMON_CAPITALISED = frozenset(
    "who what when where which why how is are was were do does did can could should would will "
    "the a an in on of for and or please tell explain describe list give".split()
)
# Parts of a document, numbered as names are ("Table 1", "Figure 2", "Section 3"): they
# say where to look, not what is asked about, and a table's rows seldom repeat its number.
DOCUMENT_PARTS = frozenset(
    "table tables figure figures fig section sections sec eq eqn equation equations algorithm "
    "appendix chapter chapters page pages step steps stage stages phase phases part parts line "
    "lines row rows column columns example examples footnote lemma theorem listing".split()
)
_NAMES_A_DOCUMENT = r"['’]?s?\s*(?:paper|article|论文|文章)"
# "What is X?", "什么是X?", "X 是什么?": a question that asks what a term means.
_DEFINITION = (
    re.compile(r"^\s*(?:what\s+(?:is|are)|define)\s+(?:an?\s+|the\s+)?(?P<term>[^?]+?)\s*\??\s*$", re.IGNORECASE),
    re.compile(r"^\s*(?:那么?)?\s*(?:什么是|何为|何谓)\s*(?P<term>[^?？]+?)\s*[?？]?\s*$"),
    re.compile(r"^\s*(?:那么?)?\s*(?P<term>[^?？]+?)\s*(?:又|到底|究竟)?(?:是什么|指的是什么|是指什么)(?:意思)?\s*[?？]?\s*$"),
)
# A term is two to four words ("the Chinchilla scaling law") or three to twelve Chinese
# characters ("思维链", "检索增强生成"): one common word ("retrieval", "模型") says too
# little, and a longer phrase is a question of its own.
_TERM_WORDS = (2, 4)
_TERM_CHARS = (3, 12)


def versioned_names(question: str) -> list[str]:
    """Model names with a version in ``question``: GPT-5, gpt3, T5, Llama-3, Claude 3.

    A space may separate name and number only for a capitalised name and a short number,
    so "Which 70-billion" or "the 2022 World Cup" are not taken for names.
    """
    names = []
    for match in VERSIONED_NAME.finditer(question):
        name = match.group(0).strip()
        word = re.match(r"[A-Za-z]+", name).group(0)
        if len(word) < 2 or word.lower() in COMMON_CAPITALISED or word.lower() in DOCUMENT_PARTS:
            continue  # "v2", "p3" are too short to tell a name from noise; "Table 1" is no name
        if " " in name and not (word[0].isupper() and re.search(r"\s(\d{1,2})(?:\.\d+)?[A-Za-z]*$", name)):
            continue
        names.append(name)
    return names


def missing_names(question: str, passages: Sequence[str]) -> list[str]:
    """Versioned names in the question (GPT-5, Llama 3) that no passage mentions.

    "GPT3" matches "GPT-3" and "gpt 3", but "LLaMA 3" does not match "LLaMA (33B)": the
    version must not run on into more digits.
    """
    haystack = " ".join(passages).lower()
    missing = []
    for name in versioned_names(question):
        if re.search(re.escape(name) + _NAMES_A_DOCUMENT, question, re.IGNORECASE):
            continue  # "the word2vec paper" names where to look, not what is asked about
        word, version = re.match(r"([a-z]+)[\s\-_]*(.*)", name.lower()).groups()
        parts = [re.escape(word)] + [re.escape(p) for p in re.findall(r"[a-z]+|\d+(?:\.\d+)?", version)]
        pattern = r"(?<![a-z])" + r"[\s\-_(]*".join(parts) + r"(?![\d.]\d|\d)"
        if not re.search(pattern, haystack):
            missing.append(name)
    return missing


def keyword_coverage(question: str, passages: Sequence[str]) -> float:
    """Share of the question's keyword tokens that occur in the passages (0 when it has none)."""
    wanted = set(tokenize(question))
    if not wanted:
        return 0.0
    present: set[str] = set()
    for text in passages:
        present.update(tokenize(text))
    return len(wanted & present) / len(wanted)


def defined_term(question: str) -> str | None:
    """The term a "what is" question asks about ("什么是思维链?" -> "思维链", "What is the
    Chinchilla scaling law?" -> "Chinchilla scaling law"), or None for another question or
    a term too short or too long to be one."""
    for pattern in _DEFINITION:
        match = pattern.match(question)
        if match:
            term = match.group("term").strip()
            low, high = _TERM_WORDS if term.isascii() else _TERM_CHARS
            size = len(term.split()) if term.isascii() else len(term)
            return term if low <= size <= high else None
    return None


def named_whole(question: str, passages: Sequence[str], translated: str = "") -> bool:
    """One passage holds every keyword of ``question`` (or of its ``translated`` terms)
    and what the question asks about: a name (RAG, MoE: see :func:`rag.subjects.names`)
    or the term a "what is" question asks to define, written as the question writes it.

    The embedder places "What is RAG?" nowhere near the articles that explain RAG, nor
    "什么是思维链?" near the survey's passage on 思维链, while every word of each is in
    one of those passages. Words spread over several passages do not count: "Who won the
    2022 FIFA World Cup?" finds "FIFA" and "2022" in a reference list, but not "won" or
    "cup" there.
    """
    asked = names(question)
    term = defined_term(question)
    if term:
        asked.add(folded(term))
    if not asked:
        return False
    for text in passages:
        if names_any(text, asked) and max(keyword_coverage(question, [text]),
                                          keyword_coverage(translated, [text]) if translated else 0.0) >= 1.0:
            return True
    return False


def titled(question: str, hits: Sequence[Hit]) -> bool:
    """The question writes whole the title of a document that retrieval found: it asks
    about that document. "《Attention Is All You Need》的作者是谁?" is far in meaning from
    every passage of the paper (cosine 0.14), and "作者" is no word of its text."""
    titles = {form for h in hits for form in title_forms(h.chunk.title or "")}
    return writes_title(question, titles)


@dataclass(frozen=True)
class Relevance:
    """Why retrieval did or did not find something worth answering from."""

    ok: bool
    best_dense: float
    coverage: float
    missing: tuple[str, ...]


def judge_relevance(
    question: str,
    hits: Sequence[Hit],
    min_dense: float,
    min_coverage: float,
    min_dense_with_keywords: float = 0.0,
    translated: str = "",
) -> Relevance:
    """The relevance floor: a close passage by meaning or by keywords, and no unknown names.

    Passages close by keywords alone must still be ``min_dense_with_keywords`` close in
    meaning: a question that shares a year and a common word with a reference list
    ("Who won the 2022 FIFA World Cup?") is not about it. ``translated`` holds the
    question's terms in the other language (what keyword search also looked for): the
    passages cover the question by its own words or by those, whichever share is higher.
    A passage that holds every word of the question and the name or defined term it asks
    about is close whatever the embedder says (:func:`named_whole`), and so is a passage
    of a document whose title the question writes whole (:func:`titled`).
    """
    texts = [h.chunk.text for h in hits]
    best = max((h.dense for h in hits if h.dense is not None), default=0.0)
    coverage = keyword_coverage(question, texts)
    if translated:
        coverage = max(coverage, keyword_coverage(translated, texts))
    missing = tuple(missing_names(question, texts))
    close = (best >= min_dense or (coverage >= min_coverage and best >= min_dense_with_keywords)
             or named_whole(question, texts, translated) or titled(question, hits))
    ok = bool(hits) and close and not missing
    return Relevance(ok, float(best), coverage, missing)
