"""bench/sureness.py: does the model's confidence tell right answers from wrong ones."""

import importlib.util
from pathlib import Path

import pytest

from rag.metrics import QuestionResult

_spec = importlib.util.spec_from_file_location("sureness", Path(__file__).resolve().parents[1] / "bench" / "sureness.py")
sureness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sureness)


def _row(n, probs, correct=True, refused=False, answerable=True, replies=("GPT-3 有 1750 亿个参数[1]。",)):
    return QuestionResult(id=f"q{n}", question="GPT-3 有多少参数?", lang="zh", kind="number", answerable=answerable,
                          answers=("1750",), sources=("doc0",), resolved=("doc0",), source_missing=False, n_retrieved=5,
                          doc_rank=1, answer_rank=1, passages=(), refused=refused, correct=correct if answerable else None,
                          replies=replies, reply_probs=(probs,))


def test_auc_is_the_chance_a_right_answer_scores_higher():
    assert sureness.auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert sureness.auc([0.1], [0.9]) == 0.0 and sureness.auc([0.5], [0.5]) == 0.5
    assert sureness.auc([], [0.5]) is None


def test_only_first_replies_shown_are_screened():
    rows = [
        _row(1, (0.1, 0.9, 0.95, 0.9)),  # right, sure past its opening word
        _row(2, (0.9, 0.9, 0.2, 0.9), correct=False),  # wrong, in doubt at its third token
        _row(3, (0.1,), refused=True, correct=False),  # refused: not shown
        _row(4, (0.1,), replies=("a", "b")),  # asked again: its first reply was not shown
        _row(5, (0.2, 0.9, 0.9), answerable=False),  # an unanswerable question answered
    ]
    result = sureness.screen(rows)
    assert result["first replies shown"] == 3
    assert result["least likely past the first two"]["auc"] == 1.0
    assert result["least likely token"]["auc"] == 0.0  # the right answer's opening word was the least sure
    assert result["geometric mean"]["right"] == 1 and result["geometric mean"]["wrong"] == 1
    below = result["least likely token"]["below"]["0.75"]
    assert below == {"cut": pytest.approx(0.2), "right": 1, "wrong": 0, "unanswerable": 0}
