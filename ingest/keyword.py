"""Word tokens for the BM25 keyword index, used at build time and at query time alike.

Owns how text becomes index terms. Chinese runs are segmented by jieba in search mode
(a long word also yields its shorter words, so "预训练" matches "训练"; on the corpus
questions this put the passage with the answer in the top 5 more often, and higher,
than plain ``cut``); Latin runs become
lowercased words, and a compound such as "GPT-3" or "word2vec" yields both its joined
form and its parts, so "GPT-3", "gpt3" and "GPT 3" find each other. Punctuation and a
short list of Chinese and English function words are dropped.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata

from ingest.text import CJK, CJK_RE

logger = logging.getLogger(__name__)

# Bump when tokenize() changes what it returns: keyword indexes built with an older
# version must be rebuilt (the index manifest records it).
TOKENIZER_VERSION = 1

_WORD = rf"[^\W_{CJK}]"
# A CJK run, or a Latin/digit compound joined by - _ . ' (e.g. "gpt-3.5", "o'neil").
_RUN = re.compile(rf"[{CJK}]+|{_WORD}+(?:[-_.'’]{_WORD}+)*")
# The parts of a Latin compound: letter runs, and numbers with their decimal point.
_PART = re.compile(r"\d+(?:\.\d+)*|[^\W\d_]+")
_SEPARATORS = re.compile(r"[-_'’]|\.(?!\d)|(?<!\d)\.")

_ZH_STOPWORDS = frozenset(
    """
    的 了 着 过 是 在 和 与 及 或 而 也 都 就 又 还 并 但 则 即 等 之 其 这 那 这个 那个 这些 那些
    个 些 一个 一种 有 没有 不 被 把 将 对 从 以 由 于 为 为了 给 让 向 中 上 下 里 后 前 时
    我 你 他 她 它 我们 你们 他们 她们 它们 自己 什么 哪 哪些 哪个 谁 怎么 怎样 如何 为什么 多少
    吗 呢 吧 啊 呀 哦 嘛 么 请问 请 问 是否 能否 可以 会 能 要 所 该 此 因此 所以 因为 如果
    """.split()
)
_EN_STOPWORDS = frozenset(
    """
    a an the of to in on at by for from with without into onto about as and or but nor not
    is are was were be been being am do does did doing have has had having can could will
    would shall should may might must it its this that these those there here which what
    who whom whose when where why how than then so such also very just only i me my we our
    you your he him his she her they them their if else
    """.split()
)
STOPWORDS = _ZH_STOPWORDS | _EN_STOPWORDS

# Terms of the field that jieba's general dictionary splits apart ("预训练" -> 预 / 训练).
# As words, search-mode segmentation yields them and their parts, so both match.
DOMAIN_WORDS = (
    "预训练", "大语言模型", "大模型", "语言模型", "微调", "指令微调", "提示词", "思维链",
    "词向量", "词嵌入", "自注意力", "注意力机制", "强化学习", "上下文学习", "涌现能力",
    "神经网络", "多模态", "参数量", "奖励模型",
)

_segmenter_instance = None
_segmenter_lock = threading.Lock()


def _segmenter():
    """A private jieba tokenizer with the domain words, initialised once and quietly.

    Private, so the domain words do not change jieba for other code in the process;
    quiet, because jieba logs its dictionary loading to stderr.
    """
    global _segmenter_instance
    if _segmenter_instance is None:
        with _segmenter_lock:
            if _segmenter_instance is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                segmenter = jieba.Tokenizer()
                segmenter.initialize()
                for word in DOMAIN_WORDS:
                    segmenter.add_word(word)
                _segmenter_instance = segmenter
    return _segmenter_instance


def segment(text: str) -> list[str]:
    """Chinese text cut into words (jieba's accurate mode, with the domain words)."""
    return list(_segmenter().cut(text))


def tokenize(text: str) -> list[str]:
    """The BM25 terms of ``text``, in order, with repeats (term frequency counts).

    >>> tokenize("GPT-3 的参数")
    ['gpt3', 'gpt', '3', '参数']
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    tokens: list[str] = []
    for run in _RUN.findall(text):
        if CJK_RE.match(run):
            words = _segmenter().cut_for_search(run)
            tokens.extend(w for w in words if w not in STOPWORDS)
        else:
            tokens.extend(_latin_terms(run))
    return tokens


def _latin_terms(compound: str) -> list[str]:
    """The joined form of a compound ("gpt3.5") and, when it has several, its parts."""
    joined = _SEPARATORS.sub("", compound)
    parts = _PART.findall(compound)
    if len(parts) <= 1:
        return [] if joined in STOPWORDS else [joined]
    # Single letters ("b" of "175b", "s" of "it's") match too much to be worth keeping.
    kept = [p for p in parts if p not in STOPWORDS and (len(p) > 1 or p.isdigit())]
    return [joined, *kept] if joined not in STOPWORDS else kept
