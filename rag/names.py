"""Which indexed documents a question names: by title, short name, arXiv id or 《…》.

Owns the names a document answers to. They are all taken from the index: the title and
its parts, the words of the document id ("llm-evolution-tree" gives the English
"evolution tree" to a Chinese article), the arXiv id, the name a paper's abstract gives
what it presents ("called negative sampling", "We call the resulting models
InstructGPT"), and for a Chinese version of a paper "中文版"/"Chinese". A question names
a document when it uses a naming word ("article", "paper", "survey", 文章, 论文, 综述,
《…》, a quoted title, an arXiv id) or writes a document's title whole ("Who wrote
Attention Is All You Need?"), and shares with one document's names more than with
any other: each shared word counts by how few documents use it, so "evolution tree"
picks one article where "LLM" picks none. A question that says "article" (文章) names
one of the articles when an article's name matches well enough.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping

from ingest.keyword import tokenize
from ingest.text import count_cjk, detect_language

_CUE = re.compile(
    r"\b(?:articles?|papers?|surveys?|posts?|blogs?|notes|report|write-?up|arxiv)\b|"
    r"文章|论文|综述|笔记|一文|文中|原文|《[^》]+》|\b\d{4}\.\d{4,5}\b|"
    r"(?<!\w)['\"“‘][^'\"”’]{12,}['\"”’]",  # a quoted title
    re.IGNORECASE,
)
_ARXIV_ID = re.compile(r"\b\d{4}\.\d{4,5}\b")
# "the background article", "那篇文章": the question names an article. Users also call an
# article on a paper "the paper", so "paper" narrows nothing.
_ARTICLE = re.compile(r"\b(?:articles?|blogs?|write-?up)\b|文章|一文", re.IGNORECASE)
# A title written whole is a naming of its own, without "paper" or marks ("Which three
# criteria does Attention Is All You Need use …?"), once it is this long (a Chinese
# character counts half a word): "BERT" alone is a model, and "Large Language Models" a
# topic, not a title.
_TITLE_WORDS = 4
# Words that name what kind of thing a document is, not which one: every document has them.
_GENERIC_WORDS = "article paper arxiv 文章 论文"
_MIN_SCORE = 1.2  # a word only two of a dozen documents share (log 6 = 1.8) passes; "llm" does not
# The name a paper gives what it presents, in its abstract: "a simple alternative to the
# hierarchical softmax called negative sampling", "We call the resulting models
# InstructGPT", "We propose a new simple network architecture, the Transformer". Readers
# name the paper by it ("the negative sampling paper", "the InstructGPT paper").
_SELF_NAME = re.compile(
    r"(?:\bcalled|\bdubbed|\b(?i:we)\s+call\s+(?:it|them|this\s+\w+|the\s+resulting\s+\w+))\s+(?:the\s+)?"
    r"(?P<name>[A-Z][\w\-]{1,30}|[a-z]{3,}\s[a-z]{3,}(?=[\s,.;]))"
    r"|\b(?:propose|present|introduce)\s+(?:a\s+|an\s+)?[^,.;]{0,50},\s+the\s+(?P<apposed>[A-Z][\w\-]{1,30})"
)
_ABSTRACT = re.compile(r"\bAbstract\b(.*?)(?:\bIntroduction\b|$)", re.DOTALL | re.IGNORECASE)


@functools.cache
def _generic() -> frozenset[str]:
    """The tokens of ``_GENERIC_WORDS``, made on first use: tokenizing loads jieba (seconds)."""
    return frozenset(tokenize(_GENERIC_WORDS))


def self_names(first_page: str) -> list[str]:
    """The names a paper's abstract gives what it presents ("negative sampling",
    "InstructGPT", "Transformer"); the whole page stands in for an abstract without heading."""
    found = _ABSTRACT.search(first_page)
    abstract = " ".join((found.group(1) if found else first_page).split())
    return list(dict.fromkeys(m.group("name") or m.group("apposed") for m in _SELF_NAME.finditer(abstract)))


def _flat(text: str) -> str:
    return " ".join(text.casefold().split())


def title_forms(title: str) -> list[str]:
    """``title``, and its head before a colon ("LLM 的演变与未来"), as a question may write
    them whole: case and spacing folded, each at least ``_TITLE_WORDS`` long."""
    forms = dict.fromkeys(_flat(form) for form in (title, re.split(r"[:：]", title)[0]))
    return [form for form in forms
            if len(re.findall(r"[a-z0-9]+", form)) + count_cjk(form) / 2 >= _TITLE_WORDS]


def writes_title(question: str, titles) -> bool:
    """Whether ``question`` writes one of ``titles`` (forms from :func:`title_forms`) whole."""
    flat = _flat(question)
    return any(title in flat for title in titles)


class DocumentNames:
    """The names of an index's documents, and which of them a question names."""

    def __init__(self, documents: Mapping[str, Mapping], first_pages: Mapping[str, str] | None = None):
        """``first_pages`` maps a paper's doc_id to the text of its first page, where its
        abstract names what it presents (see :func:`self_names`)."""
        self.names: dict[str, set[str]] = {}
        self.lang: dict[str, str | None] = {}
        self.kind: dict[str, str] = {}
        self.titles: set[str] = set()  # the documents' titles as a question may write them whole
        first_pages = first_pages or {}
        for doc_id, meta in documents.items():
            words = [meta.get("title") or "", re.sub(r"^arxiv-", "", doc_id).replace("-", " ")]
            words += self_names(first_pages.get(doc_id, ""))
            if meta.get("kind") == "paper" and meta.get("lang") == "zh":
                words.append("中文版 Chinese")
            names = set(tokenize(" ".join(words))) - _generic()
            if meta.get("arxiv_id"):
                names.add(meta["arxiv_id"])
            self.names[doc_id] = names
            self.lang[doc_id] = meta.get("lang")
            self.kind[doc_id] = meta.get("kind") or "article"
            self.titles.update(title_forms(meta.get("title") or ""))
        df: dict[str, int] = {}
        for names in self.names.values():
            for word in names:
                df[word] = df.get(word, 0) + 1
        n = max(len(self.names), 1)
        self.weight = {word: math.log(n / count) for word, count in df.items()}

    def named(self, question: str) -> tuple[str, ...]:
        """The documents ``question`` names (best first; several only on a tie), or ``()``.

        Ties go to documents in the question's language ("the survey" in English is the
        English survey); an arXiv id names every version of that paper.
        """
        if not _CUE.search(question) and not writes_title(question, self.titles):
            return ()
        words = set(tokenize(question))
        words.update(_ARXIV_ID.findall(question))
        scores = {
            doc_id: sum(self.weight[w] for w in words & names) for doc_id, names in self.names.items()
        }
        if _ARTICLE.search(question):
            # "The resources article" ties the resources article with the word2vec paper
            # on one word each; the question says which kind it means.
            articles = {d: score for d, score in scores.items() if self.kind[d] == "article"}
            if max(articles.values(), default=0.0) >= _MIN_SCORE:
                scores = articles
        best = max(scores.values(), default=0.0)
        if best < _MIN_SCORE:
            return ()
        top = [doc_id for doc_id, score in scores.items() if score >= best - 1e-9]
        lang = detect_language(question)
        same = [doc_id for doc_id in top if self.lang[doc_id] == lang]
        return tuple(same or top)
