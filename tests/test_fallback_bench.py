"""bench/fallback.py: a second setting's answer where the check refused the first's."""

import importlib.util
from pathlib import Path

from rag.metrics import QuestionResult, is_right

_spec = importlib.util.spec_from_file_location("fallback", Path(__file__).resolve().parents[1] / "bench" / "fallback.py")
fallback = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fallback)


def _row(**fields):
    base = dict(id="q1", question="GPT-3 有多少参数?", lang="zh", kind="number", answerable=True, answers=("1750",),
                sources=("doc0",), resolved=("doc0",), source_missing=False, n_retrieved=5, doc_rank=1,
                answer_rank=1, passages=(), first_token_s=1.0, first_shown_s=2.0, total_s=3.0)
    return QuestionResult(**{**base, **fields})


def test_a_refused_unsupported_answer_takes_the_second_answer_after_the_first_attempt():
    first = _row(refused=True, refusal_reason="unsupported_answer", correct=False, replies=("GPT-3 有 7 亿参数[1]。",))
    second = _row(refused=False, correct=True, first_shown_s=1.5, total_s=2.5, replies=("GPT-3 有 1750 亿个参数[1]。",))
    row = fallback.fallback(first, second, {"unsupported_answer"})
    assert row.correct and not row.refused
    assert (row.first_token_s, row.first_shown_s, row.total_s) == (1.0, 4.5, 5.5)
    assert row.replies == first.replies + second.replies


def test_an_answer_or_another_refusal_reason_stays_the_first():
    second = _row(refused=False, correct=True)
    answered = _row(refused=False, correct=False)
    declined = _row(refused=True, refusal_reason="model_declined", correct=False)
    assert fallback.fallback(answered, second, {"unsupported_answer"}) is answered
    assert fallback.fallback(declined, second, {"unsupported_answer"}) is declined
    assert fallback.fallback(declined, second, {"model_declined"}) is not declined
    assert not is_right(declined) and is_right(_row(answerable=False, refused=True))
