"""Tests for rag.feedback: recording 👍 / 👎 and turning corrections into question-set lines."""

from __future__ import annotations

import json

import pytest

from ingest.documents import Chunk
from rag.feedback import (
    FeedbackError,
    export_questions,
    feedback_for,
    load_feedback,
    record_feedback,
    with_correction,
)
from rag.questionset import load_questions
from rag.types import Answer, Citation, Hit


def _answer(question: str = "GPT-3 有多少参数?", text: str = "GPT-3 有 1000 亿个参数 [1]。") -> Answer:
    chunk = Chunk(doc_id="llm-development-resources", title="LLM 发展", text="GPT-3 有 1750 亿参数", start=0, end=12)
    return Answer(
        question=question, text=text, refused=False,
        citations=(Citation(n=1, hit=Hit(row=3, chunk=chunk, score=0.9)),),
        model={"backend": "llama.cpp", "model": "qwen2.5-coder-0.5b"},
    )


def test_a_rating_is_appended_with_what_is_needed_to_ask_again(tmp_path):
    path = tmp_path / "data" / "feedback.jsonl"
    entry = feedback_for(_answer(), "up", history=[("a", "b")], settings={"top_k": 5}, index_build_id="build-1")
    record_feedback(path, entry)
    [line] = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["rating"] == "up" and record["question"] == "GPT-3 有多少参数?"
    assert record["citations"] == [{"n": 1, "doc_id": "llm-development-resources", "title": "LLM 发展", "page": None}]
    assert record["model"]["model"] == "qwen2.5-coder-0.5b" and record["settings"] == {"top_k": 5}
    assert record["index_build_id"] == "build-1" and record["history"] == [["a", "b"]] and record["time"]


def test_a_correction_replaces_the_earlier_line_of_the_same_answer(tmp_path):
    path = tmp_path / "feedback.jsonl"
    entry = feedback_for(_answer(), "down")
    record_feedback(path, entry)
    record_feedback(path, with_correction(entry, correction="1750 亿", source="llm-development-resources"))
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2
    [loaded] = load_feedback(path)
    assert (loaded.rating, loaded.correction, loaded.source) == ("down", "1750 亿", "llm-development-resources")


def test_export_makes_lines_the_question_set_loader_accepts(tmp_path):
    path = tmp_path / "feedback.jsonl"
    wrong = feedback_for(_answer(), "down")
    record_feedback(path, with_correction(wrong, correction="1750 亿", source="llm-development-resources"))
    invented = feedback_for(_answer("Who won the 2030 World Cup?", "Brazil won it [1]."), "down")
    record_feedback(path, with_correction(invented, unanswerable=True))
    record_feedback(path, feedback_for(_answer("Who proposed Word2Vec?", "Mikolov [1]."), "up"))
    record_feedback(path, feedback_for(_answer("什么是 RLHF?", "不知道"), "down"))  # no correction given
    records, left_out = export_questions(load_feedback(path))
    assert left_out == 2
    out = tmp_path / "questions.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    fixed, unanswerable = load_questions(out)
    assert (fixed.answerable, fixed.kind, fixed.lang) == (True, "number", "zh")
    assert fixed.answers == ("1750 亿",) and fixed.sources == ("llm-development-resources",)
    assert (unanswerable.answerable, unanswerable.kind, unanswerable.answers) == (False, "unanswerable", ())
    assert unanswerable.lang == "en"


def test_a_correction_after_a_conversation_keeps_its_history(tmp_path):
    entry = feedback_for(_answer("那 GPT-2 呢?", "15 亿"), "down", history=[("GPT-3 有多少参数?", "1750 亿")])
    path = tmp_path / "q.jsonl"
    [record], _ = export_questions([with_correction(entry, correction="15 亿参数", source="gpt2")])
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    [question] = load_questions(path)
    assert question.kind == "followup" and question.history == (("GPT-3 有多少参数?", "1750 亿"),)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"correction": "1750 亿"}, "name the document"),
        ({"correction": "  ", "source": "x"}, "write the right answer"),
        ({"correction": "1750 亿", "source": "x", "unanswerable": True}, "not both"),
    ],
)
def test_an_incomplete_correction_says_what_is_missing(kw, message):
    with pytest.raises(FeedbackError, match=message):
        with_correction(feedback_for(_answer(), "down"), **kw)


def test_a_damaged_feedback_file_names_the_line(tmp_path):
    path = tmp_path / "feedback.jsonl"
    record_feedback(path, feedback_for(_answer(), "up"))
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    with pytest.raises(FeedbackError, match="feedback.jsonl line 2"):
        load_feedback(path)
    with pytest.raises(FeedbackError, match="nothing was rated yet"):
        load_feedback(tmp_path / "missing.jsonl")


def test_an_unwritable_feedback_file_is_a_feedback_error(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(FeedbackError, match="can't write the feedback file"):
        record_feedback(blocker / "feedback.jsonl", feedback_for(_answer(), "up"))
