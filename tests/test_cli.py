"""The `rag` command end to end: real corpus, real embedder, and one real answer from the
packaged model; errors a user can cause are one line and exit code 1."""

import json
from pathlib import Path

import pytest

from ui.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "index"
    assert main(["rebuild", "--corpus-dir", str(ROOT / "corpus"), "--index-dir", str(out)]) == 0
    return out


def test_search_prints_titles_and_scores(index_dir, capsys):
    assert main(["search", "进化树图中仅解码器模型用什么颜色表示?", "--index-dir", str(index_dir), "--top-k", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[1] ") and "进化树" in out.splitlines()[0] and "蓝色" in out


def test_search_json(index_dir, capsys):
    assert main(["search", "Who proposed Word2Vec?", "--index-dir", str(index_dir), "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits and {"doc_id", "chunk_id", "title", "page", "score", "text"} <= set(hits[0])


def test_ask_json_answers_with_a_citation(index_dir, capsys):
    assert main(["ask", "GPT-3 有多少参数?", "--index-dir", str(index_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"question", "answer", "refused", "citations", "retrieved", "timings", "model"}
    assert not out["refused"] and "1750" in out["answer"]
    assert out["citations"] and all({"n", "doc_id", "title", "page", "chunk_id", "text", "url"} <= set(c) for c in out["citations"])
    assert out["timings"]["total_s"] >= out["timings"]["first_token_s"] > 0


def test_ask_refuses_off_topic_question(index_dir, capsys):
    assert main(["ask", "GPT-5 是哪一年发布的?", "--index-dir", str(index_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["refused"] and out["citations"] == []


def test_user_errors_are_one_line(tmp_path, index_dir, capsys):
    assert main(["ask", "hi", "--index-dir", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rag rebuild" in err
    assert main(["ask", "   ", "--index-dir", str(index_dir)]) == 1
    assert "empty" in capsys.readouterr().err
    assert main(["ask", "x", "--index-dir", str(index_dir), "--top-k", "0"]) == 1
    assert "top_k" in capsys.readouterr().err
    assert main(["rebuild", "--corpus-dir", str(tmp_path), "--index-dir", str(tmp_path / "i")]) == 1
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["ask", "GPT-3?", "--index-dir", str(index_dir), "--llm", str(tmp_path / "missing.gguf")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.gguf" in err


def test_config_shows_sources(capsys, monkeypatch):
    monkeypatch.setenv("RAG_TOP_K", "7")
    assert main(["config", "--passage-budget", "600"]) == 0
    out = capsys.readouterr().out
    assert "environment RAG_TOP_K" in out and "command line" in out


def test_papers_list_shows_every_cited_paper_and_each_indexed_version(tmp_path, capsys):
    from tests.test_papers import paper_pdf

    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "1706.03762.pdf").write_bytes(paper_pdf("Attention Is All You Need"))
    (papers / "1706.03762-zh.pdf").write_bytes(paper_pdf("Attention Is All You Need, translated"))
    index = ["--corpus-dir", str(ROOT / "corpus"), "--index-dir", str(tmp_path / "index"), "--papers-dir", str(papers)]
    assert main(["rebuild", *index]) == 0
    capsys.readouterr()
    assert main(["papers", "list", *index]) == 0
    rows = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()}
    assert rows["1706.03762"] == rows["1706.03762-zh"] == "indexed"
    assert rows["2005.14165"] == "missing"  # GPT-3: cited by the articles, no PDF here
    assert len(rows) >= 10
