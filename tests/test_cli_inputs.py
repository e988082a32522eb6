"""Whatever a user types, pipes or puts in the corpus, `rag` answers with at most one line
of error and an exit code, never a traceback.

A fake index, embedder and scripted model stand in for the real ones (tests/fakes.py), so
the fuzzing stays fast; hypothesis keeps the number of examples small (2 CPU cores).
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import ingest.build
import ingest.index
import ui.cli
from ingest.documents import Chunk, ChunkerSettings, Document
from ingest.index import write_index
from rag.answer import Assistant
from rag.settings import Settings
from rag.types import Query
from tests.fakes import FakeIndex, KeywordEmbedder, ScriptedGenerator
from ui.cli import main
from ui.cli_text import clean_input

TEXTS = ["GPT-3 拥有 1750 亿个参数,于 2020 年发布。", "BERT 是仅编码器模型,由 Google 提出。"]
VOCAB = ["gpt-3", "参数", "bert", "编码器", "google", "发布"]
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class RecordingRetriever:
    def __init__(self, inner):
        self.inner, self.queries = inner, []

    def search(self, query, k):
        self.queries.append(query.text if isinstance(query, Query) else query)
        return self.inner.search(query, k)


@pytest.fixture
def fake_assistant(monkeypatch):
    """`rag search/ask/chat` answer from a two-passage fake index with a scripted model."""
    made = []

    def load(settings):
        assistant = Assistant(FakeIndex(TEXTS, VOCAB), settings,
                              generator=ScriptedGenerator(["GPT-3 有 1750 亿个参数[1]。"] * 20))
        assistant.retriever = RecordingRetriever(assistant.retriever)
        made.append(assistant)
        return assistant

    monkeypatch.setattr(ui.cli, "_load_assistant", load)
    return made


@pytest.fixture
def fake_embedder(monkeypatch):
    """Building and reading an index use the keyword embedder, whatever the settings say."""
    def make(spec="fake-keywords"):
        return KeywordEmbedder(VOCAB)

    monkeypatch.setattr(ingest.build, "make_embedder", make)
    monkeypatch.setattr(ingest.index, "make_embedder", make)


def assert_only_clean_text_reached_the_library(made) -> None:
    # Real embedders and llama.cpp encode the text as UTF-8: a lone surrogate fails there.
    for assistant in made:
        for query in assistant.retriever.queries:
            query.encode("utf-8")
            assert "\x00" not in query


def assert_at_most_one_error_line(err: str) -> None:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert all(line.startswith(("note: ", "error: ")) for line in lines), lines
    assert sum(line.startswith("error: ") for line in lines) <= 1


# Text as it can reach the CLI: any code point (lone surrogates and NUL included), bytes
# that are not UTF-8 (as Python decodes a command line), and very long strings.
any_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=80),
    st.binary(max_size=80).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.tuples(st.text(min_size=1, max_size=4), st.integers(2_000, 30_000)).map(lambda t: t[0] * t[1]),
)


@FUZZ
@given(query=any_text, as_json=st.booleans())
def test_search_never_ends_in_a_traceback(fake_assistant, capsys, query, as_json):
    capsys.readouterr()
    code = main(["search", *(["--json"] if as_json else []), "--", query])
    out, err = capsys.readouterr()
    assert code in (0, 1)
    assert_at_most_one_error_line(err)
    assert_only_clean_text_reached_the_library(fake_assistant)
    if code == 0 and as_json:
        assert isinstance(json.loads(out), list)


@FUZZ
@given(question=any_text, as_json=st.booleans())
def test_ask_never_ends_in_a_traceback(fake_assistant, capsys, question, as_json):
    capsys.readouterr()
    code = main(["ask", *(["--json"] if as_json else []), "--", question])
    out, err = capsys.readouterr()
    assert code in (0, 1)
    assert_at_most_one_error_line(err)
    assert_only_clean_text_reached_the_library(fake_assistant)
    if code == 0 and as_json:
        assert isinstance(json.loads(out)["answer"], str)
    if code == 1:
        assert "empty" in err  # the only question refused outright: one with nothing in it


def _one_chat_line(data: bytes) -> bool:
    # Python reads \r as a line end too, and an all-space line ends the session.
    return b"\n" not in data and b"\r" not in data and bool(data.decode("utf-8", "surrogateescape").strip())


@FUZZ
@given(lines=st.lists(st.binary(min_size=1, max_size=60).filter(_one_chat_line), max_size=4))
@example(lines=[b">", b"!"])
def test_chat_survives_any_piped_line(fake_assistant, capsys, monkeypatch, lines):
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\n".join(lines) + b"\n"), encoding="utf-8"))
    assert main(["chat"]) == 0  # every line was read; the session ended at end of input
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert all(line.startswith(("note: ", "error: ")) for line in err.splitlines())
    # One prompt per line read, plus the one answered by end of input; a question may
    # itself hold "> ", and is echoed back in "(understood as: …)", which is not a prompt.
    prompts = "\n".join(line for line in out.splitlines() if not line.startswith("(understood as: "))
    assert prompts.count("> ") == len(lines) + 1
    assert_only_clean_text_reached_the_library(fake_assistant)


def test_chat_goes_on_after_an_undecodable_line(fake_assistant, capsys, monkeypatch):
    piped = b"\xff\xfe\xfa broken\n" + "GPT-3 有多少参数?\n".encode("utf-8")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(piped), encoding="utf-8"))
    assert main(["chat"]) == 0
    out, err = capsys.readouterr()
    assert "1750" in out  # the second question was answered
    assert err.splitlines()[0].startswith("note: the question held undecodable bytes")


def test_a_huge_query_is_cut_with_a_note(capsys, monkeypatch):
    assistant = Assistant(FakeIndex(TEXTS, VOCAB), Settings(), generator=ScriptedGenerator([]))
    assistant.retriever = recorder = RecordingRetriever(assistant.retriever)
    monkeypatch.setattr(ui.cli, "_load_assistant", lambda settings: assistant)
    assert main(["search", "GPT-3 参数 " * 5_000]) == 0
    out, err = capsys.readouterr()
    assert err == "note: the query was cut to its first 500 characters\n"
    assert [len(q) for q in recorder.queries] == [500]
    assert out.startswith("[1] ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GPT-3 有多少参数?", ("GPT-3 有多少参数?", False)),
        ("caf\udcc3\udca9", ("café", True)),  # UTF-8 bytes that came through surrogateescape
        ("bad \udcff byte", ("bad \ufffd byte", True)),
        ("lone \ud800 surrogate", ("lone \ufffd\ufffd\ufffd surrogate", True)),
        ("nul\x00 and esc\x1b[31m", ("nul  and esc [31m", True)),
        ("tabs\tand\nnewlines", ("tabs\tand\nnewlines", False)),
    ],
)
def test_clean_input(text, expected):
    assert clean_input(text) == expected


# --- files: random bytes in the corpus --------------------------------------------------

# Random bytes, and text with random characters (which files of any encoding may hold).
content = st.one_of(
    st.binary(max_size=1500),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=600).map(lambda t: t.encode("utf-8")),
    st.text(st.characters(codec="gb18030", exclude_categories=("Cs",)), max_size=300).map(lambda t: t.encode("gb18030")),
)
pdf_content = st.one_of(content, content.map(lambda b: b"%PDF-1.4\n" + b))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(txt=content, md=content, html=content, pdf=pdf_content)
def test_rebuild_and_search_over_random_files_never_end_in_a_traceback(fake_embedder, capsys, txt, md, html, pdf):
    with tempfile.TemporaryDirectory() as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        corpus.mkdir()
        for name, data in (("a.txt", txt), ("b.md", md), ("c.html", html), ("d.pdf", pdf)):
            (corpus / name).write_bytes(data)
        capsys.readouterr()
        code = main(["rebuild", "--corpus-dir", str(corpus), "--index-dir", str(index)])
        err = capsys.readouterr().err
        assert code in (0, 1) and "Traceback" not in err
        if code == 1:  # nothing readable: the one error line is the last
            assert err.splitlines()[-1].startswith("error: no loadable documents")
            return
        code = main(["search", "GPT-3 参数", "--index-dir", str(index)])
        assert code == 0
        assert_at_most_one_error_line(capsys.readouterr().err)


# --- a damaged index, seen from the command line ----------------------------------------


def _small_index(index_dir: Path) -> None:
    text = "GPT-3 拥有 1750 亿个参数。"
    doc = Document(doc_id="gpt", title="GPT", text=text, source="corpus/gpt.txt", sha256="x")
    vectors = KeywordEmbedder(VOCAB).embed([text])
    write_index(index_dir, documents=[doc], chunks=[Chunk("gpt", "GPT", text, 0, len(text))],
                vectors=vectors, embedder_id="fake-keywords", chunker=ChunkerSettings())


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / "manifest.json").write_text("[]", encoding="utf-8"),
        lambda d: (d / "keyword" / "params.index.json").write_text("{}", encoding="utf-8"),
        lambda d: (d / "vectors.faiss").write_bytes((d / "vectors.faiss").read_bytes()[:-8] + b"\x7f" * 8),
    ],
    ids=["manifest-list", "params-empty", "vectors-tail"],
)
def test_a_damaged_index_is_one_line_naming_rebuild(fake_embedder, tmp_path, capsys, damage):
    _small_index(tmp_path / "index")
    assert main(["search", "GPT-3", "--index-dir", str(tmp_path / "index")]) == 0
    capsys.readouterr()
    damage(tmp_path / "index")
    for command in (["search", "GPT-3"], ["ask", "GPT-3?"]):
        assert main([*command, "--index-dir", str(tmp_path / "index")]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "damaged" in err and "`rag rebuild`" in err


@pytest.mark.parametrize(
    "argv",
    [["search"], ["search", "x", "--top-k", "many"], ["nonsense"], ["serve", "--port", "eighty"]],
)
def test_a_bad_command_line_is_one_line_and_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "--help`" in err


def test_a_missing_file_named_on_the_command_line_is_one_line(capsys, tmp_path):
    assert main(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")


def test_fast_flag_reaches_the_assistant_settings(fake_assistant, capsys):
    assert main(["ask", "GPT-3 有多少参数?", "--fast"]) == 0
    assert main(["ask", "GPT-3 有多少参数?"]) == 0
    assert [a.settings.fast for a in fake_assistant] == [True, False]
    assert "1750" in capsys.readouterr().out


def test_a_cited_table_prints_its_caption_before_its_rows(capsys):
    from ingest.documents import Chunk
    from rag.types import Answer, Citation, Hit
    from ui.cli_text import print_sources

    chunk = Chunk(doc_id="d", title="InstructGPT", text="Use-case (%)\nGeneration 45.6%", start=0, end=28,
                  page=6, role="table", context="Table 1: Use case categories.\nUse-case (%)")
    hit = Hit(row=0, chunk=chunk, score=0.5)
    print_sources(Answer(question="q", text="45.6% [1].", refused=False, citations=(Citation(n=1, hit=hit),),
                         retrieved=(hit,)))
    assert "[1] InstructGPT — page 6 — Table 1: Use case categories. | Use-case (%) Generation 45.6%" in capsys.readouterr().out


def test_ask_says_on_stderr_why_the_wait_goes_on_when_a_reply_is_asked_again(capsys):
    from rag.types import Answer, Reading
    from ui.cli_text import stream_answer

    class Asked:
        def stream(self, question, history):
            yield Reading(())
            yield Reading((), again=True)
            yield "GPT-3 有 1750 亿个参数。"
            yield Answer(question=question, text="GPT-3 有 1750 亿个参数。", refused=False)

    stream_answer(Asked(), "GPT-3 有多少参数?", [])
    out, err = capsys.readouterr()
    assert "reading them again" in err and "reading them again" not in out and "1750" in out
    assert err.count("\n") == 1  # the first reading says nothing: only the second try's wait is explained
