"""Follow-up questions: which depend on the conversation, and how to make them stand alone.

Owns the "question" stage's rewrite rules. A question needs rewriting when it points
back ("它的作者是谁", "who wrote it") or has the shape of a follow-up ("那 GPT-2 呢?",
"What about BERT?", "And T5?"); a short question that merely asks something new ("Who
proposed Word2Vec?") does not. A follow-up that swaps one name for another can be
rewritten by pattern, without a model call (see :func:`substitute_followup`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ingest.keyword import tokenize
from ingest.text import NUMBER, QUESTION_WORD, has_cjk
from rag.relevance import COMMON_CAPITALISED, VERSIONED_NAME

_NAME = re.compile(r"(?<![A-Za-z0-9])[A-Z][A-Za-z0-9]*(?:[\-.][A-Za-z0-9]+)*(?![A-Za-z0-9])")
# "那 X 呢", "what about X", "and X?": the previous question, asked about X.
FOLLOWUP_PATTERNS = (
    re.compile(r"^(?:那么?|还有)?\s*(?P<x>.+?)\s*(?:呢|怎么样|又如何|如何)\s*[?？。]?$"),
    re.compile(r"^(?:what|how)\s+about\s+(?P<x>.+?)\s*[?.]?$", re.IGNORECASE),
    re.compile(r"^and\s+(?P<x>.+?)\s*[?.]?$", re.IGNORECASE),
)
# "for the PaLM paper", "about the GPT-2 model": the name is what the follow-up swaps in.
_FRAMED_NAME = re.compile(
    r"^(?:(?:for|about|with|on|in)\s+)?(?:the\s+)?(?P<name>\S+?)(?:\s+(?:paper|model|article|one))?$", re.IGNORECASE
)
_DEPENDENT = re.compile(
    r"它|它们|其|该|这个|那个|这些|那些|上面|前面|呢[?？]?$|\b(?:it|its|they|them|their|this|that|these|those|he|she|his|her)\b",
    re.IGNORECASE,
)
# Chinese follow-ups are short: "BERT 怎么样?", "效果如何?". A longer question that ends
# in 如何 ("Transformer 的训练速度如何?") asks something of its own.
_SHORT_ZH_FOLLOWUP = re.compile(r"^(?:那么?|还有)|(?:呢|怎么样|又如何|如何)\s*[?？。]?$")
_SHORT_ZH = 12  # characters
_BARE_QUESTION_WORD = re.compile(r"^(?:why|how|when|where|who|what)\s*(?:so|then|exactly)?\s*[?.!]*$", re.IGNORECASE)


def needs_rewrite(question: str) -> bool:
    """True when ``question`` depends on the conversation: a pronoun or demonstrative that
    points back, a follow-up shape ("what about X", "and X?"), a short Chinese question
    ending in 呢/怎么样/如何, or a bare "Why?"."""
    q = question.strip()
    if _DEPENDENT.search(q) or _BARE_QUESTION_WORD.match(q):
        return True
    if has_cjk(q):
        return len(q) <= _SHORT_ZH and bool(_SHORT_ZH_FOLLOWUP.search(q))
    return any(pattern.match(q) for pattern in FOLLOWUP_PATTERNS[1:])


def substitute_followup(question: str, previous: str, patterns: Sequence[re.Pattern] = FOLLOWUP_PATTERNS) -> str | None:
    """"那 GPT-2 呢?" after "GPT-3 有多少参数?" -> "GPT-2 有多少参数?" (None if no such pattern)."""
    q = question.strip()
    for pattern in patterns:
        match = pattern.match(q)
        if not match:
            continue
        new = _FRAMED_NAME.sub(r"\g<name>", match.group("x").strip())
        if not _NAME.fullmatch(new) and not VERSIONED_NAME.fullmatch(new):
            return None
        old = [
            m.group(0)
            for rx in (_NAME, VERSIONED_NAME)
            for m in rx.finditer(previous)
            if m.group(0).lower() not in COMMON_CAPITALISED and m.group(0) != new
        ]
        if not old:
            return None
        # The most name-like candidate: a version number, then several capitals (GPT-3, BERT).
        target = max(old, key=lambda o: (bool(re.search(r"\d", o)), sum(ch.isupper() for ch in o) > 1))
        return previous.replace(target, new, 1)
    return None


def clean_rewrite(rewritten: str, question: str, previous: str) -> str:
    """The model's rewrite as a question: its first line without quotes or a label, or
    the previous question and this one together when the rewrite is empty, rambles or is
    no rewrite (see :func:`_rewrites`)."""
    rewritten = rewritten.strip().splitlines()[0].strip(" \"'“”") if rewritten.strip() else ""
    # The labels of the rewrite prompt (rag.prompt.rewrite_messages), echoed: "Last question: 那 RAG 是什么?"
    rewritten = re.sub(r"^(?:(?:standalone|rewritten|last) question|问题)\s*[:：]\s*", "", rewritten, flags=re.I)
    if 3 <= len(rewritten) <= 3 * len(question) + len(previous) and _rewrites(rewritten, question, previous):
        return rewritten
    return joined(question, previous)


def joined(question: str, previous: str) -> str:
    """A follow-up searched without a rewrite: the previous question, then this one."""
    return f"{previous} {question}"


def _rewrites(rewritten: str, question: str, previous: str) -> bool:
    """Whether a small model's rewrite is the follow-up made to stand alone. It is not when
    it still points back ("How much worse was it?"), when it is the previous question
    again, when it holds a number neither question holds (then it is an answer: "62B",
    "10年"), when it is no question at all ("编码器模型" for "那仅编码器模型呢?"), or when
    it keeps fewer than a third of the follow-up's own terms: "How many sentence pairs are in
    the English-German dataset?" for "And how big was the English-French training set?"
    is the previous question reworded, and answers it."""
    if needs_rewrite(rewritten) or _plain(rewritten) == _plain(previous):
        return False
    asked = set(NUMBER.findall(question)) | set(NUMBER.findall(previous))
    if not set(NUMBER.findall(rewritten)) <= asked:
        return False
    if not (rewritten.rstrip().endswith(("?", "？")) or QUESTION_WORD.search(rewritten.lower())):
        return False
    own = set(tokenize(question))
    return 3 * len(own & set(tokenize(rewritten))) >= len(own)


def _plain(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).lower()
