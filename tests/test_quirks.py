"""bench/quirks.py: stored replies checked again with one workaround of the profile off."""

import dataclasses
import importlib.util
from pathlib import Path

from rag.metrics import score_question
from rag.questionset import Question, SourceResolver
from tests.test_answer import make

_spec = importlib.util.spec_from_file_location("quirks", Path(__file__).resolve().parents[1] / "bench" / "quirks.py")
quirks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(quirks)

QUESTION = Question(id="q1", question="GPT-3 有多少参数?", lang="zh", answers=("1750",), sources=("doc0",),
                    answerable=True, kind="number")


def _recorded(replies, settings=None, **profile):
    assistant, gen = make(replies, **(settings or {}))
    assistant.profile = dataclasses.replace(assistant.profile, **profile)
    answer = assistant.ask(QUESTION.question)
    resolver = SourceResolver(assistant.index.documents)
    row = score_question(QUESTION, resolver.resolve(QUESTION.sources), answer.retrieved, answer, answer.timings)
    return assistant, gen, resolver, row


def test_replay_as_recorded_gives_the_recorded_answer_without_the_model():
    assistant, gen, resolver, row = _recorded(["[1]", "GPT-3 有 1750 亿个参数[1]。"], retry_bare_markers=True)
    calls = len(gen.calls)
    again = quirks.replay(assistant, QUESTION, resolver, row, assistant.profile)
    assert (again.answer, again.correct, again.replies) == (row.answer, True, ())
    assert len(gen.calls) == calls


def test_without_the_bare_marker_retry_the_first_reply_is_final():
    assistant, _, resolver, row = _recorded(["[1]", "GPT-3 有 1750 亿个参数[1]。"], retry_bare_markers=True)
    off = quirks.replay(assistant, QUESTION, resolver, row, dataclasses.replace(assistant.profile, retry_bare_markers=False))
    assert off.refused and not off.correct
    assert quirks.flips([row], [off]) == (0, 1)


def test_without_echo_dropping_a_recited_example_stays_in_the_answer():
    assistant, _, resolver, row = _recorded(["GPT-3 有 1750 亿个参数[1]。某模型有 70 亿个参数[2]。"])
    assert "70 亿" not in row.answer
    off = quirks.replay(assistant, QUESTION, resolver, row, dataclasses.replace(assistant.profile, drop_echoes=False))
    assert "70 亿" in off.answer


def test_a_phrase_list_the_profile_lacks_is_replayed_turned_on():
    assistant, _, resolver, row = _recorded(["资料中没有提到这个问题。"], refusal_phrases=None)
    assert row.refused and row.refusal_reason == "unsupported_answer"  # the exact sentence list does not know it
    on = quirks.replay(assistant, QUESTION, resolver, row,
                       dataclasses.replace(assistant.profile, refusal_phrases=quirks.REFUSAL_PATTERNS))
    assert on.refused and on.refusal_reason == "model_declined"


def test_bare_retry_answers_again_only_the_bare_marker_replies_with_the_retry_on():
    assistant, gen, resolver, row = _recorded(["[1]", "GPT-3 有 1750 亿个参数[1]。"])
    assert row.refused and row.replies == ("[1]",)  # the retry is off: the bare reply was final
    other = dataclasses.replace(row, id="q2", replies=("GPT-3 有 1750 亿个参数[1]。",))
    questions = {"q1": QUESTION, "q2": dataclasses.replace(QUESTION, id="q2")}
    gen.replies = ["[1]", "GPT-3 有 1750 亿个参数[1]。"]
    calls = len(gen.calls)
    rows = quirks.answered_again(assistant, dataclasses.replace(assistant.profile, retry_bare_markers=True), questions,
                                 resolver, [row, other], [row, other], quirks.is_bare)
    assert rows[0].correct and rows[0].replies == ("[1]", "GPT-3 有 1750 亿个参数[1]。")
    assert rows[1] is other and len(gen.calls) == calls + 2
    assert not assistant.profile.retry_bare_markers  # the assistant's own profile is back


def test_a_fallback_reply_is_replayed_against_the_fallback_prompt_without_the_model():
    assistant, gen, resolver, row = _recorded(["GPT-3 有 7 亿个参数[1]。", "GPT-3 有 1750 亿个参数[1]。"],
                                              {"fallback": True, "fast_evidence_chars": 20})
    assert row.correct and len(row.replies) == 2  # the first was unsupported; the fallback's reply stands
    calls = len(gen.calls)
    again = quirks.replay(assistant, QUESTION, resolver, row, assistant.profile)
    assert (again.answer, again.correct) == (row.answer, True) and len(gen.calls) == calls


def test_changed_lists_only_the_answers_that_replay_otherwise():
    assistant, _, resolver, row = _recorded(["GPT-3 有 1750 亿个参数[1]。某模型有 70 亿个参数[2]。"])
    same = quirks.replay(assistant, QUESTION, resolver, row, assistant.profile)
    off = quirks.replay(assistant, QUESTION, resolver, row, dataclasses.replace(assistant.profile, drop_echoes=False))
    assert quirks.changed([row], [same]) == []
    [line] = quirks.changed([row], [off])
    assert line.startswith("q1: right -> ") and "70 亿" in line.split("now: ")[1] and "70 亿" not in line.split("now: ")[0]
