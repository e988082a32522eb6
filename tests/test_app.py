"""The web page: it builds, serves, loads the assistant in the background and queues questions.

A scripted fake assistant stands in for the model; the server runs in-process on a free
port and is closed in ``finally``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from ingest.documents import Chunk, IngestError
from rag.types import Answer, Citation, Hit, RagError
from ui.access import LoginThrottle, parse_auth
from ui.answering import make_responder
from ui.app import EXAMPLES, build_app, launch, render_banner, render_info
from ui.errors import UIError
from ui.loader import AssistantLoader
from ui.pending import PendingQuestions

gr = pytest.importorskip("gradio")

TITLE = "GPT-3 论文"
INFO = {
    "model": {"backend": "scripted", "model": "fake-llm"},
    "embedder": "fake-embedder",
    "documents": 5,
    "chunks": 321,
    "built_at": "2026-01-01T00:00:00",
}
WAIT_S = 60


class FakeAssistant:
    """Answers every question with one citation, streamed in a few deltas.

    It records the largest number of answers it was ever asked to produce at once, so a
    test can check that the page never runs two generations together.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, list, dict]] = []
        self.running = 0
        self.max_running = 0
        self._lock = threading.Lock()

    def info(self) -> dict:
        return dict(INFO)

    def hold(self, question: str) -> None:
        """Called once the answer to ``question`` has begun; a subclass may block here."""

    def stream(self, question: str, history=(), **options) -> Iterator[object]:
        with self._lock:
            self.calls.append((question, list(history), options))
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            self.hold(question)
            text = f"Answer to {question} [1]"
            for word in text.split(" "):
                yield word + " "
            chunk = Chunk(doc_id="gpt3", title=TITLE, text=f"Passage about {question}.", start=0, end=10, page=3)
            hit = Hit(row=0, chunk=chunk, score=1.0)
            yield Answer(question=question, text=text, refused=False, citations=(Citation(n=1, hit=hit),), retrieved=(hit,))
        finally:
            with self._lock:
                self.running -= 1


class Gated(FakeAssistant):
    """Holds the answer to ``first`` until the test opens ``gate``: the model is busy for as
    long as the test needs, instead of for as long as a sleep happens to last."""

    def __init__(self, first: str) -> None:
        super().__init__()
        self.first = first
        self.first_started = threading.Event()
        self.gate = threading.Event()

    def hold(self, question: str) -> None:
        if question == self.first:
            self.first_started.set()
            assert self.gate.wait(WAIT_S)


def wait_until(condition, timeout_s: float = WAIT_S) -> None:
    """Poll ``condition`` until it holds; fail the test when it never does."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the page"
        threading.Event().wait(0.02)  # a poll interval: no outcome depends on its length


def queued(*questions: str) -> PendingQuestions:
    pending = PendingQuestions()
    for question in questions:
        pending.add(question)
    return pending


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served():
    """Start a page around a fake assistant; yields (url, assistant); always closes it."""
    started = []

    def start(assistant=None, **launch_kwargs):
        assistant = assistant or FakeAssistant()
        app = build_app(assistant)
        started.append(app)
        url = launch(app, "127.0.0.1", free_port(), block=False, quiet=True, **launch_kwargs)
        return url, assistant

    try:
        yield start
    finally:
        for app in started:
            app.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


# --------------------------------------------------------------------------- building


def test_blocks_build_with_examples_settings_and_no_analytics():
    import os

    app = build_app(FakeAssistant())
    assert isinstance(app, gr.Blocks)
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False" and app.analytics_enabled is False
    config = app.get_config_file()
    values = json.dumps([c.get("props", {}) for c in config["components"]], ensure_ascii=False, default=str)
    for example in EXAMPLES:
        assert example in values
    assert "top-k" in values and "passage budget" in values
    endpoints = {d.get("api_name") for d in config["dependencies"]}
    assert "ask" in endpoints


def test_generation_events_share_one_concurrency_slot():
    app = build_app(FakeAssistant())
    generation = [fn for fn in app.fns.values() if fn.concurrency_id == "generation"]
    assert len(generation) >= 2 + len(EXAMPLES)  # submit, button, every example
    assert all(fn.concurrency_limit == 1 for fn in generation)
    assert app._queue.max_size and app._queue.max_size > 8


# --------------------------------------------------------------------------- loading


def test_questions_wait_for_the_model_to_load_and_see_loading_state():
    release = threading.Event()

    def factory():
        release.wait(30)
        return FakeAssistant()

    loader = AssistantLoader(factory).start()
    assert "loading" in render_banner(loader.state())
    respond = make_responder(loader, poll_s=0.01)
    updates = respond(queued("Who proposed Word2Vec?"), [], 5, 800)
    messages, conversation, sources, status, waiting = next(updates)
    assert messages == conversation
    assert messages[-2] == {"role": "user", "content": "Who proposed Word2Vec?"}  # in the chat at once
    assert "rag-pending" in messages[-1]["content"] and "loading the index" in messages[-1]["content"]
    assert "loading" in status
    release.set()
    *_, (messages, _, sources, status, _) = list(updates)
    assert 'href="#src-1"' in messages[-1]["content"] and TITLE in sources
    assert loader.state().ready and "fake-llm" in render_info(loader.state().info)


def test_missing_index_shows_the_command_that_builds_it():
    message = "no index at data/index: run `rag rebuild` to build it"

    def factory():
        raise IngestError(message)

    loader = AssistantLoader(factory).start()
    assert loader.wait(10)
    assert loader.state().failed
    assert "rag rebuild" in render_banner(loader.state())
    *_, (messages, _, _, status, _) = list(make_responder(loader)(queued("GPT-3 有多少参数?"), [], None, None))
    assert "rag rebuild" in messages[-1]["content"] and "rag-error" in messages[-1]["content"]
    with pytest.raises(UIError):
        loader.assistant


def test_unexpected_load_failure_is_logged_and_summarised(caplog):
    def factory():
        raise RuntimeError("internal detail")

    loader = AssistantLoader(factory).start()
    loader.wait(10)
    banner = render_banner(loader.state())
    assert "server log" in banner and "internal detail" not in banner
    assert "internal detail" in caplog.text


def test_loader_calls_load_model_before_ready():
    class WithModel(FakeAssistant):
        loaded = False

        def load_model(self):
            self.loaded = True

    loader = AssistantLoader(WithModel).start()
    loader.wait(10)
    assert loader.state().ready and loader.assistant.loaded


def test_settings_reach_the_assistant_and_history_is_passed():
    fake = FakeAssistant()
    respond = make_responder(AssistantLoader(fake))
    *_, (messages, _, _, _, _) = list(respond(queued("first"), [], 3, 400))
    *_, (messages, _, _, _, _) = list(respond(queued("second"), messages, 7, 1200))
    assert fake.calls[0][2] == {"top_k": 3, "passage_budget": 400}
    assert fake.calls[1][2] == {"top_k": 7, "passage_budget": 1200}
    assert fake.calls[1][1] == [("first", "Answer to first [1]")]


def test_waiting_questions_are_answered_in_order_with_history():
    fake = FakeAssistant()
    pending = queued("first", "  ", "second")
    updates = make_responder(AssistantLoader(fake), skip="SKIP")(pending, [], 5, 800)
    _, _, _, _, waiting = next(updates)
    assert "second" in waiting  # shown as waiting while the first is answered
    *_, (messages, _, _, _, waiting) = list(updates)
    assert [q for q, _, _ in fake.calls] == ["first", "second"]
    assert fake.calls[1][1] == [("first", "Answer to first [1]")]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert waiting == "" and pending.waiting() == ()
    # a later step for the same session finds nothing waiting and changes nothing
    assert list(make_responder(AssistantLoader(fake), skip="SKIP")(pending, messages, 5, 800)) == [("SKIP",) * 5]


class Endless(FakeAssistant):
    """Streams until closed; ``closed`` tells the test the model would be free again."""

    def __init__(self):
        super().__init__()
        self.closed = threading.Event()

    def stream(self, question, history=(), **options):
        self.calls.append((question, list(history), options))
        try:
            while True:
                yield "blah "
        finally:
            self.closed.set()


@pytest.mark.parametrize("reason", ["stop", "clear"])
def test_stop_and_clear_end_the_answer_and_close_the_stream(reason):
    fake = Endless()
    pending = queued("endless", "never asked")
    updates = make_responder(AssistantLoader(fake), skip="SKIP")(pending, [], 5, 800)
    for _ in range(5):
        messages, *_ = next(updates)
    assert "blah" in messages[-1]["content"]
    pending.interrupt(reason)
    final = list(updates)
    assert len(final) == 1 and fake.closed.is_set()
    messages, conversation, sources, status, waiting = final[0]
    if reason == "stop":
        assert "stopped" in messages[-1]["content"] and "rag-typing" not in messages[-1]["content"]
        assert sources == "SKIP" and "stopped" in status
    else:
        assert messages == conversation == [] and status == ""
    assert pending.waiting() == () and [call[0] for call in fake.calls] == ["endless"]


# --------------------------------------------------------------------------- auth


def test_parse_auth():
    assert parse_auth(None) is None and parse_auth("") is None
    assert parse_auth("ann:s3:cret") == ("ann", "s3:cret")
    for bad in ("ann", ":pw", "ann:"):
        with pytest.raises(UIError):
            parse_auth(bad)


# --------------------------------------------------------------------------- serving


def test_page_is_served_on_localhost(served):
    url, _ = served()
    assert url.startswith("http://127.0.0.1:")
    status, body = get(url)
    assert status == 200 and "<html" in body.lower()
    status, config = get(url.rstrip("/") + "/config")
    assert status == 200 and "GPT-3 有多少参数?" in config


def test_basic_auth_protects_the_page(served):
    url, _ = served(auth=("ann", "secret"))
    status, _ = get(url.rstrip("/") + "/config")
    assert status == 401


def _login(url: str, user: str, password: str) -> int:
    data = urllib.parse.urlencode({"username": user, "password": password}).encode()
    request = urllib.request.Request(url.rstrip("/") + "/login", data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_repeated_failed_logins_lock_the_page_out(served):
    clock = type("Clock", (), {"now": 0.0, "__call__": lambda self: self.now})()
    url, _ = served(auth=LoginThrottle("ann", "secret", free_failures=2, base_lockout_s=30, clock=clock))
    assert _login(url, "ann", "secret") == 200
    assert [_login(url, "ann", "guess") for _ in range(2)] == [400, 400]
    assert _login(url, "ann", "secret") == 400  # locked out: even the right password waits
    clock.now += 30
    assert _login(url, "ann", "secret") == 200


def test_questions_sent_while_one_is_answered_wait_their_turn_and_all_get_their_answer(served):
    from gradio_client import Client
    from gradio_client.utils import Status

    url, fake = served(Gated("question 0"))
    client = Client(url, verbose=False)
    first = client.submit("question 0", [], 5, 800, api_name="/ask")
    assert fake.first_started.wait(WAIT_S)  # the model is now busy with the first question
    questions = [f"question {i}" for i in range(1, 8)]
    jobs = [client.submit(q, [], 5, 800, api_name="/ask") for q in questions]
    # While the first answer is being written, the seven others wait in line, each told
    # its place; none of them reaches the model (which can't run two at once). A second
    # question reaching the model ends the wait at once, and the test with it.
    wait_until(lambda: len(fake.calls) > 1 or all(job.status().code == Status.IN_QUEUE for job in jobs))
    assert sorted(job.status().rank for job in jobs) == list(range(7))
    assert [call[0] for call in fake.calls] == ["question 0"] and fake.running == 1
    fake.gate.set()
    results = [first.result(timeout=WAIT_S)] + [job.result(timeout=WAIT_S) for job in jobs]
    for question, result in zip(["question 0", *questions], results):
        assert result["question"] == question and result["answer"] == f"Answer to {question} [1]"
        assert result["citations"][0]["title"] == TITLE and result["citations"][0]["page"] == 3
        assert result["refused"] is False and "answered" in result["status"]
    assert sorted(call[0] for call in fake.calls) == ["question 0", *questions]
    assert fake.max_running == 1


def test_api_passes_history_and_reports_errors(served):
    from gradio_client import Client

    class Failing(FakeAssistant):
        def stream(self, question, history=(), **options):
            if question == "fail":
                raise RagError("the model file is missing; run `rag models`")
            yield from super().stream(question, history, **options)

    url, fake = served(Failing())
    client = Client(url, verbose=False)
    result = client.predict("follow-up", [["first", "an answer"]], 3, 500, api_name="/ask")
    assert result["answer"] == "Answer to follow-up [1]"
    assert fake.calls[-1][1:] == ([("first", "an answer")], {"top_k": 3, "passage_budget": 500})
    error = client.predict("fail", None, 5, 800, api_name="/ask")
    assert "rag models" in error["error"] and "answer" not in error
