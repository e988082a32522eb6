"""The page's moving parts without a browser: swapping in a new index, switching the model,
remembering answers for feedback, the upload policy, and freeing a model's memory."""

from __future__ import annotations

import threading

import pytest

from ingest.library import AddResult
from ingest.uploads import StoredUpload, UploadedDocument
from rag import generate
from tests.test_app import FakeAssistant, queued
from ui.answering import make_responder
from ui.errors import UIError
from ui.loader import AssistantLoader
from ui.upload_panel import render_documents, render_result, upload_policy

WAIT_S = 10


class Versioned(FakeAssistant):
    """A fake assistant that knows which index and model it was made with."""

    def __init__(self, index: str = "index-1", model: str = "small", gate: threading.Event | None = None):
        super().__init__()
        self.index_name, self.model, self.gate = index, model, gate

    def info(self) -> dict:
        return {"model": {"model": self.model}, "documents": self.index_name}

    def load_model(self) -> None:
        if self.gate is not None:
            assert self.gate.wait(WAIT_S)


def test_a_new_index_is_swapped_in_at_once():
    loader = AssistantLoader(Versioned())
    loader.swap(lambda a: Versioned("index-2", a.model))
    assert loader.assistant.index_name == "index-2" and loader.state().ready
    assert loader.state().info["documents"] == "index-2"  # the footer shows the new size


def test_the_first_index_built_from_the_page_starts_a_page_that_had_none():
    indexes = []

    def factory():
        if not indexes:
            raise UIError("no index at data/index: run `rag rebuild` to build it")
        return Versioned(indexes[-1])

    loader = AssistantLoader(factory).start()
    assert loader.wait(WAIT_S) and loader.state().failed
    indexes.append("index-from-upload")
    loader.swap(lambda a: a)  # what the document library calls once its build is done
    assert loader.wait(WAIT_S) and loader.state().ready
    assert loader.assistant.index_name == "index-from-upload"


def test_a_model_switch_loads_in_the_background_and_questions_wait():
    gate = threading.Event()
    loader = AssistantLoader(Versioned())
    loader.reload(lambda a: Versioned(a.index_name, "large", gate), "loading the model large…")
    state = loader.state()
    assert state.phase == "loading_model" and state.message == "loading the model large…"
    with pytest.raises(UIError, match="still loading"):
        loader.reload(lambda a: a, "again")
    # An index built meanwhile is not lost: it applies to the model being loaded.
    loader.swap(lambda a: Versioned("index-2", a.model, a.gate))
    gate.set()
    assert loader.wait(WAIT_S) and loader.state().ready
    assert (loader.assistant.model, loader.assistant.index_name) == ("large", "index-2")


def test_a_failed_switch_can_be_retried_from_the_last_ready_assistant():
    loader = AssistantLoader(Versioned())

    def broken(assistant):
        raise UIError("model 'huge' is not installed")

    loader.reload(broken, "loading the model huge…")
    assert loader.wait(WAIT_S) and loader.state().failed and "not installed" in loader.state().message
    loader.reload(lambda a: Versioned(a.index_name, "small-again"), "loading…")
    assert loader.wait(WAIT_S) and loader.assistant.model == "small-again"


def test_each_answer_is_remembered_for_feedback_under_its_chat_index():
    seen = []

    def on_answer(assistant, answer, history, options):
        seen.append((answer.question, list(history), options))
        return answer.question

    pending = queued("first?", "second?")
    *_, (messages, *_rest) = list(make_responder(AssistantLoader(FakeAssistant()), on_answer=on_answer)(pending, [], 3, 400))
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert pending.answered(1) == "first?" and pending.answered(3) == "second?"
    assert pending.answered(0) is None  # a question is not an answer
    assert seen[1][1][0][0] == "first?" and seen[0][2] == {"top_k": 3, "passage_budget": 400}
    pending.interrupt("clear")
    assert pending.answered(1) is None


@pytest.mark.parametrize(
    "enabled, host, auth, offered",
    [
        (True, "127.0.0.1", None, True),
        (True, "0.0.0.0", ("user", "pw"), True),
        (True, "0.0.0.0", None, False),
        (True, "127.0.0.2", None, True),  # the same loopback rule as the server's
        (True, "[::1]", None, True),
        (True, "example.org", None, False),
        (False, "127.0.0.1", None, False),
    ],
)
def test_uploads_need_the_login_beyond_loopback_and_can_be_switched_off(enabled, host, auth, offered):
    assert (upload_policy(enabled, host, auth) is None) == offered


def test_the_document_list_and_result_escape_names():
    listing = render_documents([UploadedDocument("<b>x</b>.md", 2048, "Title <i>", 3), UploadedDocument("y.md", 10, None, None)])
    assert "&lt;b&gt;x&lt;/b&gt;.md" in listing and "2.0 KB" in listing and ">3<" in listing and "indexing…" in listing
    result = render_result(AddResult((StoredUpload("a.md", None, 1, "0"),), ("<x>.exe: wrong type .exe",)))
    assert "added a.md" in result and "&lt;x&gt;.exe: wrong type" in result


class Unloadable:
    def __init__(self, spec: str):
        self.info = {"spec": spec}
        self.unloaded = False

    @property
    def loaded(self) -> bool:
        return not self.unloaded

    def unload(self) -> None:
        self.unloaded = True


def test_releasing_generators_frees_all_but_those_kept(monkeypatch):
    small, large, other = Unloadable("small"), Unloadable("large"), Unloadable("other")
    monkeypatch.setattr(generate, "_CACHE", {("small", None): small, ("large", None): large, ("other", None): other})
    assert generate.loaded_models() == ["small", "large", "other"]
    assert generate.release_generators("large", "other") == ["small"]
    assert small.unloaded and not large.unloaded and generate.loaded_models() == ["large", "other"]
    assert generate.release_generators("large") == ["other"] and generate.loaded_models() == ["large"]


def test_the_fast_switch_reaches_the_assistant_with_each_question():
    assistant = FakeAssistant()
    list(make_responder(AssistantLoader(assistant))(queued("quick?"), [], 5, 800, True))
    list(make_responder(AssistantLoader(assistant))(queued("slow?"), [], 5, 800, False))
    assert [(q, o.get("fast")) for q, _, o in assistant.calls] == [("quick?", True), ("slow?", False)]
