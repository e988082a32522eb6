"""`rag docs list` and `rag feedback export`: what the page added and what users flagged."""

from __future__ import annotations

import json

from ingest.build import build_index
from rag.feedback import feedback_for, record_feedback, with_correction
from rag.questionset import load_questions
from tests.test_build import KeywordEmbedder, _write_corpus
from tests.test_feedback import _answer
from ui.cli import main


def test_docs_list_shows_size_and_passages_and_marks_uploads(tmp_path, capsys):
    corpus = _write_corpus(tmp_path / "corpus")
    (corpus / "uploads").mkdir()
    (corpus / "uploads" / "zorblax.md").write_text("# Zorblax-7\n\nZorblax-7 has 42 billion parameters.\n")
    build_index(corpus, tmp_path / "index", embedder=KeywordEmbedder(), progress=False)
    assert main(["docs", "list", "--corpus-dir", str(corpus), "--index-dir", str(tmp_path / "index")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    [added] = [line for line in lines if "Zorblax-7" in line]
    assert added.startswith("added") and "1 passages" in added and "KB" in added
    assert sum(line.startswith("article") for line in lines) == 3


def test_feedback_export_writes_questions_rag_eval_accepts(tmp_path, capsys):
    feedback_file = tmp_path / "feedback.jsonl"
    entry = feedback_for(_answer(), "down")
    record_feedback(feedback_file, entry)
    record_feedback(feedback_file, with_correction(entry, correction="1750 亿", source="llm-development-resources"))
    record_feedback(feedback_file, feedback_for(_answer("Who proposed Word2Vec?", "Mikolov"), "up"))
    out = tmp_path / "flagged.jsonl"
    assert main(["feedback", "export", "--feedback-file", str(feedback_file), "--out", str(out)]) == 0
    assert "1 question(s) exported; 1 rating(s) left out" in capsys.readouterr().err
    [question] = load_questions(out)
    assert question.answers == ("1750 亿",) and question.sources == ("llm-development-resources",)


def test_feedback_export_without_a_file_is_one_line(tmp_path, capsys):
    assert main(["feedback", "export", "--feedback-file", str(tmp_path / "none.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no feedback file") and err.count("\n") == 1
