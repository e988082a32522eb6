"""A bilingual glossary read from the indexed text, to let keyword search cross languages.

Owns how a question's terms are carried into the other language. Chinese writers gloss
terms in parentheses: "自注意力(self-attention)", "Transformer(变换器)"; the chunks hold
hundreds of such pairs. An English question gets the Chinese terms of the English terms
it uses added to its keyword query, and a Chinese question the English ones, so BM25 can
read passages in the other language. Built when a retriever is made (no index change):
it costs a pass of two regular expressions over the Chinese chunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ingest.keyword import segment
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

    def expand(self, query: str) -> str:
        """``query`` followed by the translations of its glossary terms."""
        extra = self.translations(query)
        return f"{query} {' '.join(extra)}" if extra else query


def _alternation(terms, *, english: bool):
    """One regex for all ``terms``, longest first; English terms match whole words only."""
    if not terms:
        return None
    body = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])({body})(?![a-z0-9])" if english else body)
