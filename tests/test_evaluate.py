"""Evaluation: metrics on hand-computed cases, the question-set loader's errors, and
reports from a scripted assistant (totals match rows, compare lists changes, chart written)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.documents import Chunk
from rag.evaluate import git_commit, run_eval, run_side_by_side
from rag.metrics import (
    answer_correct,
    answer_rank,
    citation_valid,
    hit_at,
    normalize,
    percentile,
    reciprocal_rank,
    source_rank,
    summarize,
    token_f1,
    tokens,
    paired_change,
    wilson,
)
from rag.questionset import QuestionSetError, SourceResolver, load_questions, select_split, split_of
from rag.report import ReportError, compare, load_report
from rag.types import Answer, Citation, Hit, RagError

REFUSAL = "抱歉,文档中没有找到这个问题的答案。"


def make_hit(row: int, doc_id: str, text: str, score: float = 1.0) -> Hit:
    return Hit(row=row, chunk=Chunk(doc_id=doc_id, title=doc_id, text=text, start=0, end=len(text)), score=score)


# -- metrics ----------------------------------------------------------------------------


def test_normalize_folds_width_case_space_and_punctuation():
    assert normalize("GPT-3 有 1750 亿 参数。") == "gpt3有1750亿参数"
    assert normalize("ＧＰＴ－３") == "gpt3"  # full-width forms fold to ASCII
    assert normalize("沃伦·麦卡洛克 (Warren McCulloch)") == "沃伦麦卡洛克warrenmcculloch"
    assert normalize("85 ± 3%") == "85±3"  # symbols stay, punctuation goes
    assert normalize("七十亿") == "七十亿"  # Chinese numerals are not converted


@settings(max_examples=500)
@given(st.text())
def test_normalize_is_idempotent_and_has_no_spaces(text):
    once = normalize(text)
    assert normalize(once) == once
    assert not any(ch.isspace() for ch in once)


def test_tokens_split_chinese_by_character_and_latin_by_word():
    assert tokens("GPT-3 有1750亿参数") == ["gpt", "3", "有", "1750", "亿", "参", "数"]
    assert tokens("The Cat, sat.") == ["the", "cat", "sat"]


def test_answer_correct_is_normalised_containment_of_any_answer():
    assert answer_correct("它有 1750亿 个参数", ["175B", "1750 亿"])
    assert answer_correct("It has 175b parameters.", ["175B"])
    assert not answer_correct("它有 175 亿个参数", ["1750 亿"])
    assert not answer_correct("anything", [])


def test_token_f1_exact_values():
    assert token_f1("the cat sat", ["cat sat down"]) == pytest.approx(2 / 3)  # p = r = 2/3
    assert token_f1("北京大学", ["北京"]) == pytest.approx(2 / 3)  # p = 2/4, r = 1
    assert token_f1("GPT-3 有 1750 亿参数", ["1750 亿", "nothing"]) == pytest.approx(4 / 9)  # best: p = 2/7, r = 1
    assert token_f1("abc", ["xyz"]) == 0.0
    assert token_f1("", ["x"]) == 0.0


def test_ranks_hits_and_reciprocal_rank():
    hits = [make_hit(0, "b", "nothing here"), make_hit(1, "a", "GPT-3 有 1750 亿参数"), make_hit(2, "a", "1750亿")]
    assert source_rank(hits, ["a"]) == 2
    assert source_rank(hits, ["z"]) is None
    assert answer_rank(hits, ["1750 亿"]) == 2
    assert answer_rank(hits, ["175B"]) is None
    assert [hit_at(2, k) for k in (1, 3)] == [False, True]
    assert not hit_at(None, 10)
    assert reciprocal_rank(2) == 0.5 and reciprocal_rank(None) == 0.0


def test_citation_is_valid_by_source_or_by_answer_text():
    from_source = Citation(n=1, hit=make_hit(0, "a", "unrelated"))
    with_answer = Citation(n=2, hit=make_hit(1, "b", "GPT-3 has 175B parameters"))
    neither = Citation(n=3, hit=make_hit(2, "b", "unrelated"))
    assert citation_valid(from_source, ["a"], ["175B"])
    assert citation_valid(with_answer, ["a"], ["175B"])
    assert not citation_valid(neither, ["a"], ["175B"])


def test_percentile_interpolates_linearly():
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 95) == pytest.approx(5.75)
    assert percentile([], 50) is None


def test_sources_resolve_by_id_origin_file_name_and_arxiv_id():
    resolver = SourceResolver({
        "llm-history": {"source": "articles/llm-history.txt", "origin": "000_ff27.txt", "arxiv_id": None},
        "attention": {"source": "papers/1706.03762.pdf", "arxiv_id": "1706.03762"},
        "survey-zh": {"source": "papers/2303.18223-zh.pdf", "arxiv_id": "2303.18223"},
        "survey": {"source": "papers/2303.18223.pdf", "arxiv_id": "2303.18223"},
    })
    assert resolver.resolve(["llm-history"]) == ("llm-history",)
    assert resolver.resolve(["000_ff27.txt"]) == ("llm-history",)
    assert resolver.resolve(["llm-history.txt"]) == ("llm-history",)
    assert resolver.resolve(["1706.03762"]) == ("attention",)
    assert resolver.resolve(["1706.03762v7"]) == ("attention",)
    assert resolver.resolve(["2303.18223"]) == ("survey", "survey-zh")
    assert resolver.resolve(["2005.14165", "nope.txt"]) == ()


# -- the question-set loader ------------------------------------------------------------

GOOD = {"id": "q1", "question": "GPT-3 有多少参数?", "lang": "zh", "answers": ["175B"],
        "sources": ["a"], "answerable": True, "kind": "number"}


def write_lines(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def line(**changes) -> str:
    record = {**GOOD, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not ...}, ensure_ascii=False)


def test_loader_reads_questions_and_ignores_unknown_fields(tmp_path):
    path = write_lines(tmp_path, line(note="extra field"), "", line(id="q2", answerable=False, answers=[], sources=[], kind="unanswerable"))
    questions = load_questions(path)
    assert [q.id for q in questions] == ["q1", "q2"]
    assert questions[0].answers == ("175B",) and questions[0].history == ()
    assert questions[1].answerable is False


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"id": "q2", "question": ', "questions.jsonl line 2: not valid JSON"),
        ('["a list"]', "questions.jsonl line 2: expected a JSON object, got list"),
        (line(id="q2", answers=...), "questions.jsonl line 2: missing field 'answers'"),
        (line(id="q2", answerable="yes"), "questions.jsonl line 2: field 'answerable' must be true or false, got \"yes\""),
        (line(id="q2", answers="175B"), "questions.jsonl line 2: field 'answers' must be a list of strings"),
        (line(id="q2", lang="fr"), "questions.jsonl line 2: field 'lang' must be \"zh\" or \"en\", got \"fr\""),
        (line(id=""), "questions.jsonl line 2: field 'id' must be a non-empty string"),
        (line(), "questions.jsonl line 2: duplicate id \"q1\" (first used on line 1)"),
        (line(id="q2", answers=[]), "questions.jsonl line 2: an answerable question needs at least one answer"),
        (line(id="q2", answerable=False), "questions.jsonl line 2: an unanswerable question must have empty"),
        (line(id="q2", answers=["。"]), "questions.jsonl line 2: answer \"。\" is empty"),
        (line(id="q2", history=[["only one"]]), "questions.jsonl line 2: field 'history' must be a list of [user, assistant]"),
        (line(id="q2", follows="q9"), "questions.jsonl line 2: 'follows' names \"q9\", which is not an earlier question"),
    ],
)
def test_loader_names_the_line_and_the_problem(tmp_path, bad_line, message):
    path = write_lines(tmp_path, line(), bad_line)
    with pytest.raises(QuestionSetError) as info:
        load_questions(path)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, RagError)


def test_loader_reports_a_missing_file(tmp_path):
    with pytest.raises(QuestionSetError, match="question set not found"):
        load_questions(tmp_path / "nope.jsonl")


def test_follows_builds_history_from_the_earlier_question(tmp_path):
    path = write_lines(
        tmp_path,
        line(),
        line(id="q2", question="它是哪年发布的?", answers=["2020"], kind="followup", follows="q1"),
        line(id="q3", question="那 GPT-2 呢?", answers=["1.5B"], kind="followup", follows="q2"),
        line(id="q4", question="Why?", answers=["x"], kind="followup", follows="q1", history=[["hi", "hello"]]),
    )
    q1, q2, q3, q4 = load_questions(path)
    assert q2.history == (("GPT-3 有多少参数?", "175B"),)
    assert q3.history == (("GPT-3 有多少参数?", "175B"), ("它是哪年发布的?", "2020"))
    assert q4.history == (("hi", "hello"),)  # an explicit history wins


# -- running a set through a scripted assistant -------------------------------------------

DOCUMENTS = {
    "a": {"title": "A", "source": "articles/a.txt", "origin": "000_a.txt"},
    "b": {"title": "B", "source": "articles/b.txt", "origin": "001_b.txt"},
    "c": {"title": "C", "source": "articles/c.txt"},
}
HIT_A = make_hit(1, "a", "GPT-3 有 1750 亿参数。", 0.9)
HIT_B = make_hit(0, "b", "Vaswani 等人在 2017 年提出 Transformer。", 0.8)
HIT_C = make_hit(2, "c", "无关的段落。", 0.1)

QUESTIONS = [
    {**GOOD, "id": "q1", "question": "GPT-3 有多少参数?", "answers": ["1750 亿", "175B"], "sources": ["000_a.txt"]},
    {**GOOD, "id": "q2", "question": "Who proposed the Transformer?", "lang": "en", "answers": ["Vaswani"],
     "sources": ["b"], "kind": "fact"},
    {**GOOD, "id": "q3", "question": "What BLEU did the Transformer get?", "lang": "en", "answers": ["28.4"],
     "sources": ["1706.03762"], "kind": "number"},
    {**GOOD, "id": "q4", "question": "GPT-5 哪年发布?", "answers": [], "sources": [], "answerable": False,
     "kind": "unanswerable"},
    {**GOOD, "id": "q5", "question": "What is the capital of Australia?", "lang": "en", "answers": [], "sources": [],
     "answerable": False, "kind": "unanswerable"},
    {**GOOD, "id": "q6", "question": "它的参数量呢?", "answers": ["175B"], "sources": ["a"], "kind": "followup",
     "follows": "q1"},
]
# question -> (hits, answer text, refused, cited hits); total_s of question i is i seconds
SCRIPT = {
    "GPT-3 有多少参数?": ([HIT_B, HIT_A, HIT_C], "GPT-3 有 1750亿 个参数[2]", False, [HIT_A]),
    "Who proposed the Transformer?": ([HIT_B, HIT_A], "It was Hinton.", False, [HIT_A]),
    "What BLEU did the Transformer get?": ([HIT_B], "28.4 BLEU", False, []),
    "GPT-5 哪年发布?": ([HIT_A], REFUSAL, True, []),
    "What is the capital of Australia?": ([HIT_C], "Canberra.", False, []),
    "它的参数量呢?": ([], REFUSAL, True, []),
    # A retrieval-only run searches the follow-up with the question before it (no model).
    "GPT-3 有多少参数? 它的参数量呢?": ([], REFUSAL, True, []),
}


class FakeIndex:
    documents = DOCUMENTS
    chunks = [HIT_B.chunk, HIT_A.chunk, HIT_C.chunk]
    manifest = {"format_version": 1, "embedder": {"id": "fake", "dim": 3}, "chunker": {"size": 500, "overlap": 80},
                "counts": {"documents": 3, "chunks": 3}, "built_at": "2026-01-01T00:00:00+00:00"}


class ScriptedRetriever:
    def __init__(self, script):
        self.script = script
        self.calls = []

    def search(self, query: str, k: int) -> list[Hit]:
        self.calls.append((query, k))
        return self.script[query][0][:k]


class ScriptedAssistant:
    """Answers from SCRIPT; records the history each question was asked with."""

    def __init__(self, script=SCRIPT):
        self.script = script
        self.index = FakeIndex()
        self.retriever = ScriptedRetriever(script)
        self.asked = []

    def info(self) -> dict:
        return {"model": {"backend": "scripted", "model": "fake"}, "embedder": "fake", "documents": 3, "chunks": 3}

    def ask(self, question: str, history=(), **options) -> Answer:
        self.asked.append((question, tuple(history), options))
        hits, text, refused, cited = self.script[question]
        n = len(self.asked)
        return Answer(
            question=question, text=text, refused=refused,
            refusal_reason="model_declined" if refused else None,
            citations=tuple(Citation(n=i + 1, hit=h) for i, h in enumerate(cited)),
            retrieved=tuple(hits),
            timings={"retrieve_s": n / 10, "first_token_s": n / 2, "total_s": float(n), "tokens": 10 * n,
                     "tokens_per_s": 10.0},
        )


@pytest.fixture
def question_file(tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS), encoding="utf-8")
    return path


def test_full_run_totals_are_exact(tmp_path, question_file):
    assistant = ScriptedAssistant()
    report = run_eval(assistant, question_file, out_dir=tmp_path / "r", settings={"top_k": 3}, progress=False)
    t = report.totals
    assert (t["questions"], t["answerable"], t["unanswerable"], t["scored"], t["source_missing"]) == (6, 4, 2, 3, 1)
    # scored: q1 (source rank 2, answer rank 2), q2 (1, 1) and q6 (nothing retrieved); q3's paper is not indexed
    assert t["retrieval_depth"] == 3
    assert t["hit@1"] == pytest.approx(1 / 3) and t["hit@3"] == pytest.approx(2 / 3)
    assert t["hit@5"] is None and t["hit@10"] is None  # deeper than anything retrieved
    assert t["answer_hit@1"] == pytest.approx(1 / 3) and t["answer_hit@3"] == pytest.approx(2 / 3)
    assert t["mrr"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert t["accuracy"] == pytest.approx(1 / 3)  # q1 right, q2 wrong, q6 refused
    # q1: 9 prediction tokens (gpt 3 有 1750 亿 个 参 数 2), gold 1750 亿 -> p 2/9, r 1, F1 4/11
    assert t["f1"] == pytest.approx(4 / 11 / 3)
    assert t["citation_precision"] == 0.5  # q1 cites its source, q2 cites a passage without the answer
    assert t["answers_with_valid_citation"] == 0.5
    assert t["refusal_accuracy"] == 0.5  # q4 refused, q5 answered "Canberra"
    assert t["false_refusal_rate"] == pytest.approx(1 / 3)  # q6
    assert t["total_s_p50"] == 3.5 and t["total_s_p95"] == pytest.approx(5.75)
    assert t["tokens_per_s_p50"] == 10.0
    rows = {r.id: r for r in report.rows}
    assert rows["q3"].source_missing and rows["q3"].correct is True  # recorded, just not scored
    assert rows["q1"].resolved == ("a",) and rows["q1"].doc_rank == 2
    assert rows["q6"].refusal_reason == "model_declined" and rows["q1"].refusal_reason is None


def test_followups_are_asked_with_their_history(tmp_path, question_file):
    assistant = ScriptedAssistant()
    run_eval(assistant, question_file, out_dir=tmp_path / "r", progress=False)
    asked = {q: h for q, h, _ in assistant.asked}
    assert asked["它的参数量呢?"] == (("GPT-3 有多少参数?", "1750 亿"),)
    assert asked["GPT-3 有多少参数?"] == ()


def test_report_files_and_recorded_run(tmp_path, question_file):
    out = tmp_path / "r"
    run_eval(ScriptedAssistant(), question_file, out_dir=out, settings={"top_k": 3, "llm": "fake"}, progress=False)
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    meta = data["meta"]
    assert meta["settings"] == {"top_k": 3, "llm": "fake"}
    assert meta["model"]["model"]["backend"] == "scripted"
    assert meta["index"]["embedder"]["id"] == "fake" and meta["index"]["counts"] == {"documents": 3, "chunks": 3}
    assert meta["index"]["built_at"] == "2026-01-01T00:00:00+00:00"
    assert meta["questions"]["path"] == str(question_file) and meta["questions"]["count"] == 6
    import hashlib

    assert meta["questions"]["sha256"] == hashlib.sha256(question_file.read_bytes()).hexdigest()
    assert meta["git_commit"] and meta["timestamp"]
    # totals and breakdowns in the file are the ones recomputed from its rows
    reloaded = load_report(out)
    assert data["totals"] == json.loads(json.dumps(reloaded.totals))
    assert data["groups"]["kind"]["unanswerable"]["refusal_accuracy"] == 0.5
    assert set(data["groups"]["lang"]) == {"zh", "en"}
    assert set(data["groups"]["scope"]) == {"article", "paper", "none"}
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "## By language" in markdown and "## By kind" in markdown and "## Worst questions" in markdown
    assert "### q2 (en, fact)" in markdown and "Vaswani 等人" in markdown  # its top passage is shown
    assert "Not scored, sources not in the index: q3" in markdown
    assert "refused=yes (model_declined)" in markdown
    assert load_report(out).rows[5].refusal_reason == data["rows"][5]["refusal_reason"]
    png = (out / "by_kind.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 1000


def test_summary_is_a_function_of_rows(tmp_path, question_file):
    report = run_eval(ScriptedAssistant(), question_file, out_dir=tmp_path / "r", progress=False)
    assert summarize(report.rows) == report.totals
    only_en = [r for r in report.rows if r.lang == "en"]
    assert report.by_lang["en"] == summarize(only_en, depth=3)
    # measured to the run's depth: the en questions retrieved at most 2 passages, the run 3
    assert report.by_lang["en"]["hit@3"] == 1.0 and summarize(only_en)["hit@3"] is None


def test_retrieval_only_uses_no_model(tmp_path, question_file):
    assistant = ScriptedAssistant()
    report = run_eval(assistant, question_file, out_dir=tmp_path / "r", retrieval_only=True, progress=False)
    assert assistant.asked == []
    assert assistant.retriever.calls[0] == ("GPT-3 有多少参数?", 10)
    assert ("GPT-3 有多少参数? 它的参数量呢?", 10) in assistant.retriever.calls
    t = report.totals
    assert t["accuracy"] is None and t["refusal_accuracy"] is None and t["citation_precision"] is None
    assert t["hit@1"] == pytest.approx(1 / 3) and t["mrr"] == pytest.approx(0.5)
    assert t["retrieve_s_p50"] is not None and t["total_s_p50"] is None
    assert report.meta["mode"] == "retrieval" and report.meta["top_k"] == 10
    assert (tmp_path / "r" / "by_kind.png").exists()


def test_compare_lists_changed_questions(tmp_path, question_file):
    run_eval(ScriptedAssistant(), question_file, out_dir=tmp_path / "a", settings={"top_k": 3}, progress=False)
    better = dict(SCRIPT)
    better["Who proposed the Transformer?"] = ([HIT_A, HIT_B], "Vaswani 等人[1]", False, [HIT_B])
    better["What is the capital of Australia?"] = ([HIT_C], REFUSAL, True, [])
    run_eval(ScriptedAssistant(better), question_file, out_dir=tmp_path / "b", settings={"top_k": 5}, progress=False)
    text = compare(tmp_path / "a", tmp_path / "b")
    assert "setting top_k: 3 -> 5" in text
    assert "| accuracy | 0.333 [0.06, 0.79] | 0.667 [0.21, 0.94] | +0.333 |" in text

    def section(title: str) -> str:
        start = text.index(f"## {title}")
        return text[start : text.index("\n## ", start + 1)]

    now_correct = section("Now correct (wrong -> correct): 1")
    # the flipped question with both answers side by side, A then B
    assert "### q2 (en, fact): Who proposed the Transformer?" in now_correct
    assert "| It was Hinton. | Vaswani 等人\\[1\\] |" in now_correct  # markers escaped: no link
    assert "## Now wrong (correct -> wrong): 0" in text
    now_refused = section("Now refused (answered -> refused): 1")
    assert "### q5" in now_refused and f"| Canberra. | {REFUSAL} (refused: model_declined) |" in now_refused
    assert "## Now answered (refused -> answered): 0" in text
    moved = text[text.index("## Retrieval changes: 1"):]
    assert "- q2 (en, fact) Who proposed the Transformer?: source rank 1 -> 2 (hit@1 yes -> no)" in moved
    paired = section("The same questions in A and B")
    # one question right in B only, none in A only: too few to tell from chance
    assert "| accuracy | 3 | 1 | 0 | +0.333 [-0.317, +0.333] | 1 | inside the interval |" in paired
    assert "| refusal_accuracy | 2 | 1 | 0 | +0.500 [-0.475, +0.500] | 1 | inside the interval |" in paired


def test_paired_change_tells_a_change_from_chance():
    def runs(only_b: int, only_a: int, neither: int) -> tuple[list[bool], list[bool]]:
        return [False] * only_b + [True] * only_a + [False] * neither, [True] * only_b + [False] * only_a + [False] * neither

    change = paired_change(*runs(9, 1, 106))
    assert (change.n, change.only_b, change.only_a) == (116, 9, 1)
    assert change.delta == pytest.approx(8 / 116)
    assert change.interval == (pytest.approx(0.0095, abs=1e-4), pytest.approx(0.0858, abs=1e-4))
    assert change.p == pytest.approx(22 / 1024) and change.real  # 2 * P(X >= 9), X ~ B(10, 1/2)
    chance = paired_change(*runs(7, 4, 105))
    assert chance.delta == pytest.approx(3 / 116) and chance.p == pytest.approx(1124 / 2048) and not chance.real
    worse = paired_change(*runs(1, 12, 103))
    assert worse.delta < 0 and worse.interval[1] < 0 and worse.real
    same = paired_change([True, False], [True, False])
    assert (same.delta, same.interval, same.p, same.real) == (0.0, (0.0, 0.0), 1.0, False)
    assert paired_change([], []) is None
    with pytest.raises(ValueError):
        paired_change([True], [True, False])


def test_wilson_interval_known_values():
    assert wilson(0, 0) is None
    low, high = wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson(10, 10)
    assert low == pytest.approx(0.7225, abs=1e-4) and high == 1.0
    low, high = wilson(62, 100)  # by hand: centre 0.61556, half-width 0.09347
    assert (low, high) == (pytest.approx(0.5221, abs=1e-4), pytest.approx(0.7090, abs=1e-4))


@settings(max_examples=200)
@given(st.integers(min_value=1, max_value=500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_holds_the_rate(pair):
    successes, n = pair
    low, high = wilson(successes, n)
    assert 0.0 <= low <= successes / n <= high <= 1.0


def test_every_rate_in_a_report_has_its_interval(tmp_path, question_file):
    report = run_eval(ScriptedAssistant(), question_file, out_dir=tmp_path / "r", progress=False)
    t = report.totals
    assert t["accuracy_ci"] == pytest.approx(wilson(1, 3))
    assert t["refusal_accuracy_ci"] == pytest.approx(wilson(1, 2))
    assert t["citation_precision_ci"] == pytest.approx(wilson(1, 2))  # 2 citations, 1 valid
    assert t["hit@5_ci"] is None  # hit@5 itself is not measurable at depth 3
    markdown = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "| accuracy | 0.333 [0.06, 0.79] |" in markdown


def test_list_questions_need_min_items_of_their_groups(tmp_path):
    items = [["TPU"], ["IPU", "IPUs"], ["量子计算", "quantum computing"]]
    path = write_lines(tmp_path, line(kind="list", answers=["TPU", "IPU", "IPUs", "量子计算", "quantum computing"],
                                      items=items, min_items=2))
    (question,) = load_questions(path)
    assert question.items == (("TPU",), ("IPU", "IPUs"), ("量子计算", "quantum computing")) and question.min_items == 2
    assert answer_correct("TPU 和 IPUs", question.answers, question.items, question.min_items)
    assert not answer_correct("只有 TPU", question.answers, question.items, question.min_items)
    assert not answer_correct("TPU, TPU v4", question.answers, question.items, question.min_items)  # one item twice


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"items": [["TPU"], []]}, "field 'items' must be a non-empty list"),
        ({"items": [["TPU"], ["IPU"]], "answers": ["TPU"]}, "must hold exactly the strings of 'items'"),
        ({"items": [["TPU"], ["IPU"]], "answers": ["TPU", "IPU"], "min_items": 3}, "'min_items' must be a whole number from 1 to 2"),
        ({"kind": "crosslingual"}, "field 'kind' must be one of fact, number, list, followup, unanswerable"),
    ],
)
def test_loader_rejects_bad_list_questions_and_kinds(tmp_path, changes, message):
    with pytest.raises(QuestionSetError, match=message):
        load_questions(write_lines(tmp_path, line(**changes)))


def test_split_is_fixed_by_id_and_keeps_conversations_together(tmp_path):
    ids = [f"q{i}" for i in range(400)]
    dev = [i for i in ids if split_of(i) == "dev"]
    assert 0.52 < len(dev) / len(ids) < 0.68  # about 60/40
    assert [split_of(i) for i in ids] == [split_of(i) for i in ids]  # a pure function of the id
    # a test-split conversation: its follow-ups are test questions whatever their own hash says
    root = next(i for i in ids if split_of(i) == "test")
    child = next(i for i in ids if split_of(i) == "dev" and i != root)
    path = write_lines(tmp_path, line(id=root), line(id=child, kind="followup", follows=root, question="那呢?"))
    questions = load_questions(path)
    assert [q.split for q in questions] == ["test", "test"]
    assert select_split(questions, "dev") == [] and len(select_split(questions, "all")) == 2
    with pytest.raises(QuestionSetError, match="unknown split 'train'"):
        select_split(questions, "train")


def test_a_conversation_can_be_pinned_to_test(tmp_path):
    dev_id = next(f"d{i}" for i in range(100) if split_of(f"d{i}") == "dev")
    path = write_lines(tmp_path, line(id=dev_id, split="test"), line(id="f1", kind="followup", follows=dev_id))
    assert [q.split for q in load_questions(path)] == ["test", "test"]
    with pytest.raises(QuestionSetError, match="line 2: a follow-up takes the split of the question it follows"):
        load_questions(write_lines(tmp_path, line(id=dev_id), line(id="f1", kind="followup", follows=dev_id, split="test")))
    with pytest.raises(QuestionSetError, match="line 1: field 'split' must be \"dev\" or \"test\""):
        load_questions(write_lines(tmp_path, line(split="train")))


def test_run_on_one_split_records_it(tmp_path):
    test_id = next(f"t{i}" for i in range(100) if split_of(f"t{i}") == "test")
    records = [*QUESTIONS, {**QUESTIONS[0], "id": test_id}]
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in records), encoding="utf-8")
    report = run_eval(ScriptedAssistant(), path, out_dir=tmp_path / "r", progress=False, split="test")
    assert [r.id for r in report.rows] == [test_id]  # q1..q6 are all dev (q6 follows q1)
    assert report.meta["split"] == "test" and report.meta["elapsed_s"] >= 0


def test_reports_show_untrusted_text_inert(tmp_path, question_file):
    """A model's Markdown image or HTML tag is shown as text in report.md, never loaded."""
    hostile = dict(SCRIPT)
    hostile["Who proposed the Transformer?"] = (
        [HIT_B], "![x][t] <img src=http://evil.example/a.png>\n\n[t]: http://evil.example/b.png", False, [])
    out = tmp_path / "r"
    run_eval(ScriptedAssistant(hostile), question_file, out_dir=out, progress=False)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "evil.example" in markdown  # the words are still there to read
    assert "![x][t]" not in markdown and "<img" not in markdown and "[t]:" not in markdown
    assert "!\\[x\\]\\[t\\] &lt;img" in markdown


def test_compare_needs_a_report(tmp_path):
    with pytest.raises(ReportError, match="no report.json in"):
        compare(tmp_path, tmp_path)


def test_git_commit_is_unknown_outside_a_repository(tmp_path):
    assert git_commit(tmp_path) == "unknown"
    assert len(git_commit()) == 40  # this checkout


def test_with_the_real_assistant(tmp_path):
    """The lead's Assistant over the shared fake index and a scripted model."""
    pytest.importorskip("ingest.keyword")
    from rag.answer import Assistant
    from rag.settings import Settings
    from tests.fakes import FakeIndex as SharedFakeIndex
    from tests.fakes import ScriptedGenerator

    index = SharedFakeIndex(["GPT-3 拥有 1750 亿个参数,于 2020 年发布。", "BERT 是仅编码器模型,由 Google 提出。"],
                            ["gpt-3", "参数", "bert", "google", "发布"])
    settings = Settings(min_dense=0.3, min_keyword_coverage=0.5, top_k=2, candidates=2)
    assistant = Assistant(index, settings, generator=ScriptedGenerator(["GPT-3 有 1750 亿个参数[1]。"]))
    path = write_lines(
        tmp_path,
        line(id="q1", question="GPT-3 有多少参数?", answers=["1750 亿"], sources=["doc0"]),
        line(id="q2", question="What is the capital of Australia?", lang="en", answers=[], sources=[],
             answerable=False, kind="unanswerable"),
    )
    report = run_eval(assistant, path, out_dir=tmp_path / "r", settings={"top_k": 2}, progress=False)
    assert report.totals["accuracy"] == 1.0 and report.totals["hit@1"] == 1.0
    assert report.totals["refusal_accuracy"] == 1.0 and report.totals["citation_precision"] == 1.0


def test_side_by_side_interleaves_questions_and_writes_a_report_per_setting(tmp_path, question_file):
    order = []

    class Recording(ScriptedAssistant):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def ask(self, question, history=(), **options):
            order.append((self.name, question))
            return super().ask(question, history, **options)

    a, b = Recording("a"), Recording("b")
    reports = run_side_by_side({"a": a, "b": b}, question_file, out_dir=tmp_path / "r",
                               settings={"a": {"llm": "x"}}, progress=False)
    # each question by a, then by b, before the next question
    assert [name for name, _ in order] == ["a", "b"] * len(QUESTIONS)
    assert [q for _, q in order][::2] == [q for _, q in order][1::2]
    assert set(reports) == {"a", "b"}
    for name in "ab":
        assert (tmp_path / "r" / name / "report.json").is_file()
        assert load_report(tmp_path / "r" / name).meta["side_by_side"] == ["a", "b"]
    # the same scripted answers: the same totals, from one run each
    assert reports["a"].totals["accuracy"] == reports["b"].totals["accuracy"] == pytest.approx(1 / 3)
    assert reports["a"].meta["settings"] == {"llm": "x"} and reports["b"].meta["settings"] == {}


def test_the_report_keeps_each_reply_s_token_probabilities(tmp_path, question_file):
    class Sure(ScriptedAssistant):
        def ask(self, question, history=(), **options):
            answer = super().ask(question, history, **options)
            return replace(answer, replies=("a", "b"), reply_probs=((0.123456, 1.0), (0.5,)))

    report = run_eval(Sure(), question_file, out_dir=tmp_path / "r", progress=False)
    assert {r.reply_probs for r in report.rows} == {((0.1235, 1.0), (0.5,))}  # rounded to 4 places
    assert load_report(tmp_path / "r").rows[0].reply_probs == ((0.1235, 1.0), (0.5,))


def test_read_tokens_are_the_prompt_less_the_reused_prefix(tmp_path, question_file):
    class Cached(ScriptedAssistant):
        def ask(self, question, history=(), **options):
            answer = super().ask(question, history, **options)
            return replace(answer, timings={**answer.timings, "prompt_tokens": 500, "reused_tokens": 380})

    report = run_eval(Cached(), question_file, out_dir=tmp_path / "r", progress=False)
    assert {r.read_tokens for r in report.rows} == {120}
    assert report.totals["read_tokens_p50"] == 120 and report.totals["prompt_tokens_p50"] == 500
    plain = run_eval(ScriptedAssistant(), question_file, out_dir=tmp_path / "p", progress=False)
    assert plain.totals["read_tokens_p50"] is None  # no prompt count, no read count
