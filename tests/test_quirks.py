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


def _recorded(replies, **profile):
    assistant, gen = make(replies)
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
    assistant, _, resolver, row = _recorded(["资料中没有提到这个问题。"])
    assert row.refused and row.refusal_reason == "unsupported_answer"  # the exact sentence list does not know it
    on = quirks.replay(assistant, QUESTION, resolver, row,
                       dataclasses.replace(assistant.profile, refusal_phrases=quirks.REFUSAL_PATTERNS))
    assert on.refused and on.refusal_reason == "model_declined"
