"""What a question asks to be counted, and what an answer's numbers count.

"How many GPUs were used to train GPT-3?" asks for a count of GPUs; "GPT-3 was trained
on 175 billion parameters" answers with a count of parameters. Each sentence can be true
and backed by its passage, and still not answer. The answer check (``rag.cite``) asks
:func:`answers_another_measure` of each sentence, so such a sentence backs nothing and
a question the documents can't answer is refused instead of answered beside the point.

Only measures that both questions and answers name in plain words are known (model size,
tokens, hardware, money, time spans). A question that names none of them, or a number
written without a unit ("175B", "2K"), is never judged.
"""

from __future__ import annotations

import re

from ingest.text import NUMBER, without_digit_commas

# measure: (what a question names when it asks for it, the unit an answer writes after a number)
_MEASURES = {
    "parameters": (r"parameters?|params|参数", r"parameters?|params|参数"),
    "tokens": (
        r"tokens?|词元|context (?:window|length)|上下文|sequence length|序列长度",
        r"tokens?|词元",
    ),
    "hardware": (r"gpus?|tpus?|chips?|芯片|显卡|accelerators?|加速器", r"gpus?|tpus?|chips?|芯片|显卡|accelerators?|加速器"),
    "money": (r"money|dollars?|usd|美元|多少钱|费用|price|价格", r"dollars?|usd|美元|元"),
    "time": (r"\b(?:days|hours|weeks|months)\b|天数|小时", r"days?|hours?|weeks?|months?|years?|天|小时|周|个月|年"),
}
# Asking for a time span names no unit: "How long did training take?", "训练了多久?"
_ASKED_WITHOUT_UNIT = {"time": r"how long (?:did|does|do|would|will|had|has|have|was|were)\b|多长时间|多久|耗时"}
_NAMES = {m: re.compile(q, re.IGNORECASE) for m, (q, _) in _MEASURES.items()}


def _asking(names: str) -> str:
    """The asking phrases for a measure: "how much money", "how many TPU v4 chips",
    "多少块 GPU", "上下文长度是多少"."""
    return (
        rf"how (?:many|much|long|large|big)\s+(?:[\w-]+\s+){{0,3}}?(?:{names})"
        rf"|多少\s*[个台块张颗名]?\s*(?:{names})|(?:{names})[^，。？?,]{{0,6}}?(?:是多少|有多少|多大|多长|多少)"
    )


# A question can name other measures as context ("How much money did it cost to pre-train
# BERT on Cloud TPUs?"); the one it asks for is the one in its asking phrase.
_ASKS = {
    m: re.compile("|".join(filter(None, (_asking(q), _ASKED_WITHOUT_UNIT.get(m)))), re.IGNORECASE)
    for m, (q, _) in _MEASURES.items()
}
# A number's magnitude word, so that "530 billion", "530B" and "5300 亿" are one quantity.
_MAGNITUDES = {"万亿": 10**12, "亿": 10**8, "百万": 10**6, "万": 10**4, "千": 10**3, "trillion": 10**12,
               "billion": 10**9, "million": 10**6, "thousand": 10**3, "hundred": 100,
               "t": 10**12, "b": 10**9, "m": 10**6, "k": 10**3}
_MAGNITUDE_WORD = rf"\s*(?:{'|'.join(_MAGNITUDES)})(?![a-z])"
_MAGNITUDE = rf"(?:\s*(?:{'|'.join(_MAGNITUDES)}))?"
_QUANTITY = re.compile(rf"(?<![\d.])(\d+(?:\.\d+)?)\s*({'|'.join(_MAGNITUDES)})(?![a-z])")
_CLASSIFIER = r"(?:\s*[个台块张颗名])?"
# Up to two words between a number and its unit: "16 Cloud TPUs", "6144 TPU v4 chips".
_BETWEEN = r"(?:\s+[a-z][\w.-]*){0,2}?"
_COUNTS = {
    m: re.compile(
        rf"(?<![\w.]){NUMBER.pattern}{_MAGNITUDE}{_CLASSIFIER}{_BETWEEN}\s*(?:{unit})(?![a-z])",
        re.IGNORECASE,
    )
    for m, (_, unit) in _MEASURES.items()
}
# "2018 年", "in 2018 years": a date, not a time span.
_YEAR = re.compile(r"(?:1[89]|20)\d\d(?!\d)\s*(?:年|years?)")
_MONEY_SIGN = re.compile(rf"[$¥€£]\s*{NUMBER.pattern}")


def quantities(normalized: str) -> dict[str, set[int]]:
    """Each number of a normalised (casefolded) text written with a magnitude, and the
    quantities it stands for: "1.17 亿" -> {"1.17": {117000000}}, "530b" -> {"530":
    {530000000000}}."""
    out: dict[str, set[int]] = {}
    for number, magnitude in _QUANTITY.findall(without_digit_commas(normalized)):
        out.setdefault(number, set()).add(round(float(number) * _MAGNITUDES[magnitude]))
    return out


def stated_alone(number: str, normalized: str) -> bool:
    """Whether a normalised text states ``number`` as a whole number without a magnitude
    word after it: "15" is in "15 layers" and "15 GPUs", not in "15 亿" (1.5 billion),
    "2015" or "1.15"."""
    return bool(re.search(rf"(?<![\d.]){re.escape(number)}(?!\d|\.\d)(?!{_MAGNITUDE_WORD})", normalized))


def asked_measures(question: str) -> set[str]:
    """The measures ``question`` asks for ("how many GPUs": hardware); when no asking
    phrase names one, every measure it names."""
    asked = {m for m, pattern in _ASKS.items() if pattern.search(question)}
    return asked or {m for m, pattern in _NAMES.items() if pattern.search(question)}


def counted_measures(sentence: str) -> set[str]:
    """The measures a number in ``sentence`` is written with ("175 billion parameters")."""
    found = {
        m for m, pattern in _COUNTS.items()
        if any(m != "time" or not _YEAR.match(hit.group()) for hit in pattern.finditer(sentence))
    }
    if _MONEY_SIGN.search(sentence):
        found.add("money")
    return found


def answers_another_measure(sentence: str, question: str) -> bool:
    """``sentence`` counts only something ``question`` does not ask about: "55 billion
    parameters" for "How long is the context window of LLaMA 3?"."""
    counted = counted_measures(sentence)
    if not counted:
        return False
    asked = asked_measures(question)
    return bool(asked) and not (asked & counted)
