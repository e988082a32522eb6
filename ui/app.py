"""The Gradio chat page: layout, event wiring, background loading of the assistant, launch.

It holds no answering or rendering logic: ``ui.chat`` renders every state of a question.
What this module owns is the page around it: the assistant is created in a background
thread at start so the page is usable (and says "loading the model…") while the model
loads; generation events share one queue slot because llama.cpp can't run two
generations at once; the server binds 127.0.0.1 unless told otherwise, refuses any
other address without a login (``RAG_AUTH``) unless ``insecure`` is said explicitly,
slows down repeated failed logins, never makes a share link and sends no analytics.
Gradio is imported lazily.
"""

from __future__ import annotations

import hmac
import html
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ingest.documents import IngestError
from rag.types import RagError
from ui.extras import PageExtras, add_extras, page_extras, panel_css
from ui.hosts import is_loopback
from ui.chat import (
    ChatUpdate,
    StreamingAssistant,
    chat_step,
    error_update,
    history_from_messages,
    inert_text,
    mark_stopped,
    one_line,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import gradio as gr

    from rag.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
AUTH_ENV = "RAG_AUTH"
# Questions waiting beyond this are refused with Gradio's "queue is full" message rather
# than waiting minutes behind a CPU model.
QUEUE_MAX_SIZE = 32
# All events that run the model share this concurrency group with a limit of one.
GENERATION_GROUP = "generation"

EXAMPLES = (
    "GPT-3 有多少参数?",
    "Transformer 是哪一年提出的?",
    "Who proposed Word2Vec?",
    "What is RLHF used for in ChatGPT?",
)
TITLE = "大模型发展史问答 · LLM history Q&A"
SOURCES_EMPTY = '<div class="rag-sources rag-sources-empty">Sources for the answer appear here. / 回答的来源会显示在这里。</div>'
SUBTITLE = (
    "Answers come only from the indexed articles and papers, each with numbered sources. "
    "答案只来自已索引的文章和论文，并附编号来源。"
)
CHAT_PLACEHOLDER = (
    "**Ask about the history of large language models** — in Chinese or English.  \n"
    "问一个关于大模型发展史的问题，中英文均可。每个回答都带有编号的来源。"
)


class UIError(RagError):
    """The web page can't start (bad RAG_AUTH, gradio missing, exposed without a login)."""


def _gradio():
    # Analytics off before gradio is first imported: it reads the variable at import.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        import gradio as gr
    except ImportError:
        raise UIError('the web page needs gradio: pip install "gradio>=6"') from None
    return gr


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class LoadState:
    """Where the background start of the assistant stands.

    ``phase`` is "loading_index", "loading_model", "ready" or "failed"; ``message`` is a
    one-line text for the page; ``info`` is ``assistant.info()`` once ready.
    """

    phase: str
    message: str
    seconds: float = 0.0
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """True when questions can be answered."""
        return self.phase == "ready"

    @property
    def failed(self) -> bool:
        """True when the assistant could not be created."""
        return self.phase == "failed"


class AssistantLoader:
    """Creates the assistant in a background thread, so the page serves while it loads.

    ``source`` is an assistant (used as is) or a zero-argument factory such as
    ``lambda: Assistant.from_settings(settings)``. An assistant with a ``load_model()``
    method has its model loaded here too, so the first question does not wait for it.
    Errors are kept and shown on the page: a ``RagError``/``IngestError`` with its one-line
    message (for a missing index, the command that builds it), anything else logged.
    """

    def __init__(self, source: StreamingAssistant | Callable[[], StreamingAssistant]) -> None:
        # A class is a factory too, although it has a ``stream`` attribute.
        is_assistant = hasattr(source, "stream") and not isinstance(source, type)
        self._factory = None if is_assistant else source
        self._assistant: StreamingAssistant | None = None if self._factory else source  # type: ignore[assignment]
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self._state = LoadState("loading_index", "loading the index… / 正在加载索引…")
        self._previous: StreamingAssistant | None = None  # kept while another model loads
        self._changes: list[Callable[[Any], Any]] = []  # swaps that arrived while loading
        if self._factory is None:
            self._state = self._ready_state()
            self._done.set()

    def start(self) -> "AssistantLoader":
        """Start loading in the background (once); returns self."""
        with self._lock:
            if self._thread is None and not self._done.is_set():
                self._started = time.monotonic()
                self._thread = threading.Thread(target=self._load, name="assistant-loader", daemon=True)
                self._thread.start()
        return self

    def _load(self) -> None:
        try:
            assistant = self._factory()  # type: ignore[misc]
            load_model = getattr(assistant, "load_model", None)
            if callable(load_model):
                if self._previous is None:  # a switch keeps its own message, naming the model
                    self._set("loading_model", "loading the model… / 正在加载模型…")
                load_model()
            with self._lock:
                for change in self._changes:
                    assistant = change(assistant)
                self._changes.clear()
            self._assistant, self._previous = assistant, None
            self._state = self._ready_state()
            log.info("assistant ready after %.1f s", self._state.seconds)
        except (RagError, IngestError) as exc:
            log.error("the assistant could not start: %s", exc)
            self._set("failed", one_line(str(exc)) or type(exc).__name__)
        except Exception:  # noqa: BLE001 - shown as a short error, traceback in the log
            log.exception("the assistant could not start")
            self._set("failed", "the assistant could not start; the details are in the server log")
        finally:
            self._done.set()

    def _set(self, phase: str, message: str) -> None:
        self._state = LoadState(phase, message, time.monotonic() - self._started)

    def _ready_state(self) -> LoadState:
        info_fn = getattr(self._assistant, "info", None)
        info = dict(info_fn()) if callable(info_fn) else {}
        return LoadState("ready", "ready / 就绪", time.monotonic() - self._started, info)

    def swap(self, change: Callable[[Any], Any]) -> None:
        """Replace the assistant by ``change(assistant)`` at once (a new index, say).

        While an assistant is still being created the change waits and applies to it. When
        the start failed (no index yet, say) the assistant is created again instead: the
        first index built from the page makes the page usable.
        """
        with self._lock:
            if self._done.is_set() and self._assistant is not None:
                self._assistant = change(self._assistant)
                self._state = self._ready_state()
            elif self._done.is_set() and self._previous is None and self._factory is not None:
                self._done.clear()
                self._started = time.monotonic()
                self._state = LoadState("loading_index", "loading the index… / 正在加载索引…")
                self._thread = threading.Thread(target=self._load, name="assistant-loader", daemon=True)
                self._thread.start()
            else:
                self._changes.append(change)
                if self._previous is not None:
                    self._previous = change(self._previous)

    def reload(self, change: Callable[[Any], Any], message: str) -> None:
        """Create ``change(assistant)`` in the background, such as the assistant with another
        model; questions wait for it and the banner shows ``message`` meanwhile.

        After a failed reload the last ready assistant is the one changed next time.
        Raises UIError while something is still loading.
        """
        with self._lock:
            current = self._assistant or self._previous
            if not self._done.is_set() or current is None:
                raise UIError("the model is still loading; pick again when it is ready")
            self._previous, self._assistant = current, None
            self._factory = lambda: change(current)
            self._done.clear()
            self._started = time.monotonic()
            self._state = LoadState("loading_model", message)
            self._thread = threading.Thread(target=self._load, name="assistant-loader", daemon=True)
            self._thread.start()

    def state(self) -> LoadState:
        """The current state; ``seconds`` counts up while loading."""
        state = self._state
        if not self._done.is_set():
            return LoadState(state.phase, state.message, time.monotonic() - self._started)
        return state

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading finished (ready or failed) or ``timeout`` passed."""
        return self._done.wait(timeout)

    @property
    def assistant(self) -> StreamingAssistant:
        """The assistant; raises UIError when it is not ready."""
        if self._assistant is None or not self._state.ready:
            raise UIError(self.state().message)
        return self._assistant


# --------------------------------------------------------------------------- rendering


def render_banner(state: LoadState) -> str:
    """The status banner at the top of the page."""
    if state.ready:
        return '<div class="rag-banner rag-ready">Ready — ask a question / 可以提问了</div>'
    if state.failed:
        return f'<div class="rag-banner rag-failed">Not ready / 无法回答: {html.escape(state.message)}</div>'
    hint = "the first start takes a few seconds; you can type your question meanwhile / 首次启动需要几秒钟"
    return (
        f'<div class="rag-banner rag-loading"><span class="rag-spinner"></span>{html.escape(state.message)} '
        f"({state.seconds:.0f} s) — {hint}</div>"
    )


def render_info(info: Mapping[str, Any]) -> str:
    """The footer: model, embedder and index size and age from ``assistant.info()``."""
    if not info:
        return '<div class="rag-footer">model and index: loading… / 加载中…</div>'
    model = info.get("model")
    if isinstance(model, Mapping):
        name = model.get("model") or info.get("llm") or "?"
        backend = model.get("backend")
        model_text = f"{name} ({backend})" if backend else str(name)
    else:
        model_text = str(model or info.get("llm") or "?")
    parts = [
        f"model {model_text}",
        f"embedder {info.get('embedder') or '?'}",
        f"{info.get('documents', '?')} documents, {info.get('chunks', '?')} passages",
    ]
    if info.get("built_at"):
        parts.append(f"index built {info['built_at']}")
    return '<div class="rag-footer">' + " · ".join(html.escape(str(p)) for p in parts) + "</div>"


def loading_bubble(state: LoadState) -> str:
    """The answer bubble of a question asked while the assistant is still starting."""
    return f'<span class="rag-notice rag-pending">{html.escape(state.message)}</span>'


def render_status(text: str) -> str:
    """The one-line status under the chat."""
    return f'<div class="rag-status">{html.escape(text)}</div>' if text else ""


# --------------------------------------------------------------------------- the page


def _user_message(question: str) -> dict[str, str]:
    return {"role": "user", "content": inert_text(question)}


def _assistant_message(markdown: str) -> dict[str, str]:
    return {"role": "assistant", "content": markdown}


class PendingQuestions:
    """One visitor's questions waiting to be answered, oldest first, and their Stop/Clear.

    One instance per browser session (it lives in a ``gr.State``). Sending a question only
    adds it here, at once; the queued answering step takes questions out in order, so a
    question typed while another is answered waits its turn instead of being dropped.
    ``interrupt`` (Stop, clearing the chat) forgets the waiting questions and tells the
    answering step to end the current answer at its next update.
    """

    def __init__(self) -> None:
        self._items: deque[str] = deque()
        self._lock = threading.Lock()
        self._epoch = 0
        self._reason: str | None = None
        self._answered: dict[int, Any] = {}  # chat message index -> what feedback needs

    def __deepcopy__(self, memo: dict) -> "PendingQuestions":
        # gr.State copies its value into every new session; a session starts with none waiting.
        return PendingQuestions()

    def add(self, question: str) -> None:
        """Queue ``question`` (blank ones are ignored)."""
        question = question.strip()
        if question:
            with self._lock:
                self._items.append(question)

    def take(self) -> tuple[str, int] | None:
        """The oldest waiting question and the current epoch (see ``interrupted``), or None."""
        with self._lock:
            return (self._items.popleft(), self._epoch) if self._items else None

    def interrupt(self, reason: str) -> None:
        """Forget the waiting questions and end the current answer ("stop" or "clear")."""
        with self._lock:
            self._items.clear()
            self._epoch += 1
            self._reason = reason
            if reason == "clear":
                self._answered.clear()

    def remember(self, index: int, record: Any) -> None:
        """Keep ``record`` (see ``make_responder``'s ``on_answer``) for the answer at chat ``index``."""
        with self._lock:
            self._answered[index] = record

    def answered(self, index: int) -> Any:
        """What was remembered for the answer at chat ``index``, or None."""
        with self._lock:
            return self._answered.get(index)

    def interrupted(self, epoch: int) -> str | None:
        """The reason of an interruption since ``epoch``, or None."""
        with self._lock:
            return self._reason if self._epoch != epoch else None

    def waiting(self) -> tuple[str, ...]:
        """The waiting questions, oldest first."""
        with self._lock:
            return tuple(self._items)


def render_waiting(questions: Sequence[str]) -> str:
    """The note under the question box listing questions that wait their turn."""
    if not questions:
        return ""
    items = "".join(f"<li>{html.escape(q)}</li>" for q in questions)
    return f'<div class="rag-waiting">Waiting for their turn / 排队中 ({len(questions)}):<ol>{items}</ol></div>'


def make_responder(loader: AssistantLoader, *, poll_s: float = 1.0, skip: Any = None, on_answer: Callable | None = None):
    """The answering step: answers this visitor's waiting questions, oldest first.

    ``respond(pending, conversation, top_k, passage_budget)`` yields values for (chat,
    conversation, sources, status, waiting note). Each question moves into the chat at
    once; a "loading the model…" bubble shows while the assistant starts; then the states
    of ``ui.chat.chat_step`` follow. ``conversation`` is the authoritative message list
    (the chat shows it): it is read when the step starts, so a question queued behind
    another one sees that answer in its history. ``skip`` is yielded for "no change"
    when nothing waits (Gradio's ``gr.skip()``). ``on_answer(assistant, answer, history,
    options)`` makes what ``pending`` remembers for each finished answer (for feedback).
    """

    def respond(pending: PendingQuestions, conversation: list | None, top_k: float | None, passage_budget: float | None):
        messages = list(conversation or [])
        answered_any = False
        while (taken := pending.take()) is not None:
            question, epoch = taken
            answered_any = True
            history = history_from_messages(messages)
            messages.append(_user_message(question))
            shown = [*messages]
            while not loader.wait(0):
                if reason := pending.interrupted(epoch):
                    yield interrupted_outputs(reason, shown, skip)
                    return
                state = loader.state()
                shown = [*messages, _assistant_message(loading_bubble(state))]
                status = render_status(f"{state.message} ({state.seconds:.0f} s)")
                yield shown, shown, SOURCES_EMPTY, status, render_waiting(pending.waiting())
                loader.wait(poll_s)
            state = loader.state()
            if state.failed:
                updates: Iterator[ChatUpdate] = iter([error_update(state.message)])
            else:
                options = {
                    "top_k": int(top_k) if top_k else None,
                    "passage_budget": int(passage_budget) if passage_budget else None,
                }
                updates = chat_step(loader.assistant, question, history, **options)
            for update in updates:
                if reason := pending.interrupted(epoch):
                    # Closing the chat step closes the assistant's stream: the model is free.
                    updates.close()  # type: ignore[attr-defined]
                    yield interrupted_outputs(reason, shown, skip)
                    return
                shown = [*messages, _assistant_message(update.answer_markdown)]
                if on_answer is not None and update.final and update.answer is not None:
                    pending.remember(len(shown) - 1, on_answer(loader.assistant, update.answer, history, options))
                yield shown, shown, update.sources_html, render_status(update.status), render_waiting(pending.waiting())
            messages = shown
        if not answered_any:
            # Another step already answered this session's questions.
            yield skip, skip, skip, skip, skip

    return respond


def interrupted_outputs(reason: str, shown: list, skip: Any) -> tuple:
    """(chat, conversation, sources, status, waiting) after Stop or Clear.

    Stop keeps what was written, marked as stopped (and the sources panel as it is);
    Clear empties everything.
    """
    if reason == "clear":
        return [], [], SOURCES_EMPTY, "", ""
    stopped = mark_stopped(shown)
    status = render_status("stopped / 已停止") if stopped != shown else skip
    return stopped, stopped, skip, status, ""


def answer_result(update: ChatUpdate) -> dict[str, Any]:
    """The API's answer to one question: plain fields rather than page markup."""
    answer = update.answer
    if answer is None:
        return {"error": update.error or update.status, "status": update.status}
    return {
        "question": answer.question,
        "answer": answer.text,
        "refused": answer.refused,
        "citations": [
            {
                "n": c.n,
                "title": c.hit.chunk.title,
                "page": c.hit.chunk.page,
                "arxiv_id": c.hit.chunk.arxiv_id,
                "url": c.hit.chunk.url,
                "how": c.how,
                "supported": c.supported,
            }
            for c in answer.citations
        ],
        "status": update.status,
    }


def make_api(loader: AssistantLoader, *, load_timeout_s: float = 900.0):
    """The ``/ask`` API endpoint: one question (and optional history) -> a result dict."""

    def ask(question: str, history: list[list[str]] | None = None, top_k: int = 5, passage_budget: int = 800) -> dict:
        """Answer one question from the documents; history is [[question, answer], ...]."""
        loader.wait(load_timeout_s)
        state = loader.state()
        if not state.ready:
            return {"error": state.message, "status": "error: " + state.message}
        pairs = [(str(q), str(a)) for q, a in (history or [])]
        final = None
        for final in chat_step(loader.assistant, question, pairs, top_k=top_k, passage_budget=passage_budget):
            pass
        assert final is not None  # chat_step always yields
        return answer_result(final)

    return ask


def build_app(
    assistant: StreamingAssistant | Callable[[], StreamingAssistant] | AssistantLoader,
    *,
    top_k: int = 5,
    passage_budget: int = 800,
    examples: Sequence[str] = EXAMPLES,
    title: str = TITLE,
    extras: PageExtras | None = None,
) -> "gr.Blocks":
    """Build the chat page around an assistant, a factory that creates one, or a loader.

    A factory runs in a background thread started here, so the page serves (and shows
    "loading the model…") while it works. ``top_k`` and ``passage_budget`` are the
    defaults of the settings sliders; each question passes the slider values to
    ``assistant.stream(question, history, top_k=..., passage_budget=...)``. Besides the
    page, the app has an ``/ask`` API endpoint (see ``make_api``). ``extras`` adds the
    document panel, the model picker and feedback on answers (see ``PageExtras``).
    """
    gr = _gradio()
    extras = extras or PageExtras()
    loader = assistant if isinstance(assistant, AssistantLoader) else AssistantLoader(assistant)
    loader.start()
    on_answer = None
    if extras.feedback_file is not None:
        from ui.feedback_panel import remember_answer as on_answer
    respond = make_responder(loader, skip=gr.skip(), on_answer=on_answer)

    def refresh():
        state = loader.state()
        done = state.ready or state.failed
        return render_banner(state), render_info(state.info), gr.Timer(active=not done)

    def send(question: str, pending: PendingQuestions):
        pending.add(question)
        return "", render_waiting(pending.waiting())

    def interrupt(reason: str):
        def handler(pending: PendingQuestions, conversation: list | None):
            pending.interrupt(reason)
            return interrupted_outputs(reason, list(conversation or []), gr.skip())

        return handler

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        # An instance, not the class: a callable State value is re-created by a page-load
        # event that can land after the first question was queued and drop it.
        pending = gr.State(PendingQuestions())
        conversation = gr.State([])
        gr.HTML(
            f'<div class="rag-header"><h1>{html.escape(title)}</h1>'
            f"<p>{html.escape(SUBTITLE)}</p></div>",
            js_on_load=None,
        )
        banner = gr.HTML(render_banner(loader.state()), elem_id="rag-banner", js_on_load=None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=360):
                chatbot = gr.Chatbot(
                    elem_id="rag-chat",
                    label="Chat",
                    show_label=False,
                    height=460,
                    placeholder=CHAT_PLACEHOLDER,
                    feedback_options=("Like", "Dislike") if extras.feedback_file is not None else None,
                    buttons=["copy"],
                    latex_delimiters=[],  # "$" in the articles is money and text, not maths
                )
                with gr.Row(elem_classes=["rag-examples"]):
                    example_buttons = [gr.Button(text, size="sm", variant="secondary", scale=0) for text in examples]
                with gr.Row(equal_height=True):
                    question = gr.Textbox(
                        elem_id="rag-question",
                        show_label=False,
                        placeholder="Ask in Chinese or English… / 用中文或英文提问…",
                        lines=1,
                        max_lines=4,
                        scale=6,
                        autofocus=True,
                    )
                    ask = gr.Button("提问 Ask", variant="primary", scale=0, min_width=120, elem_id="rag-ask")
                    stop = gr.Button("停止 Stop", variant="secondary", scale=0, min_width=120, elem_id="rag-stop")
                waiting = gr.HTML("", elem_id="rag-waiting", js_on_load=None)
                status = gr.HTML("", elem_id="rag-status", js_on_load=None)
                if extras.feedback_file is not None:
                    from ui.feedback_panel import add_feedback

                    add_feedback(gr, chatbot, pending, extras.feedback_file)
            with gr.Column(scale=2, min_width=300):
                sources = gr.HTML(SOURCES_EMPTY, elem_id="rag-sources", js_on_load=None)
        with gr.Accordion("Settings / 设置", open=False):
            top_k_slider = gr.Slider(
                1, 20, value=top_k, step=1, label="passages to retrieve (top-k) / 检索段落数"
            )
            budget_slider = gr.Slider(
                100, 4000, value=passage_budget, step=50,
                label="passage budget (tokens of passages in the prompt) / 提示中段落的 token 预算",
            )
        footer = gr.HTML(render_info(loader.state().info), elem_id="rag-footer", js_on_load=None, render=False)
        timer = gr.Timer(1.0)
        add_extras(gr, extras, loader, footer, timer, render_info)
        footer.render()

        # Sending only queues the question (instantly, outside the queue); the answering
        # step runs in the single generation slot and works through what is waiting.
        # "multiple": a question sent while an answer streams must not be dropped.
        answering = dict(
            fn=respond,
            inputs=[pending, conversation, top_k_slider, budget_slider],
            outputs=[chatbot, conversation, sources, status, waiting],
            concurrency_limit=1,
            concurrency_id=GENERATION_GROUP,
            show_progress="hidden",
            trigger_mode="multiple",
            api_name=False,
        )
        sending = dict(outputs=[question, waiting], queue=False, trigger_mode="multiple", api_name=False)
        question.submit(send, inputs=[question, pending], **sending).then(**answering)
        ask.click(send, inputs=[question, pending], **sending).then(**answering)
        for button, text in zip(example_buttons, examples):
            button.click(lambda p, text=text: send(text, p), inputs=[pending], **sending).then(**answering)
        # Stop and Clear act at once here, and the answering step, told through
        # ``pending``, ends the answer at its next update and closes the model's stream.
        # (Gradio's ``cancels`` would let updates already on their way overwrite this.)
        interrupt_io = dict(
            inputs=[pending, conversation],
            outputs=[chatbot, conversation, sources, status, waiting],
            queue=False,
            api_name=False,
        )
        stop.click(interrupt("stop"), **interrupt_io)
        chatbot.clear(interrupt("clear"), **interrupt_io)
        timer.tick(refresh, outputs=[banner, footer, timer], queue=False, show_progress="hidden", api_name=False)
        app.load(refresh, outputs=[banner, footer, timer], queue=False, show_progress="hidden", api_name=False)
        gr.api(make_api(loader), api_name="ask", concurrency_limit=1, concurrency_id=GENERATION_GROUP)
    app.queue(default_concurrency_limit=1, max_size=QUEUE_MAX_SIZE)
    return app


# --------------------------------------------------------------------------- launching


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``"user:password"`` (RAG_AUTH) -> ``("user", "password")``; empty -> None."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise UIError(f"{AUTH_ENV} must look like user:password")
    return user, password


def check_exposure(host: str, auth: tuple[str, str] | None, insecure: bool = False) -> None:
    """Refuse to serve ``host`` to other machines without a login, unless ``insecure``.

    On any address but loopback, the page and its ``/ask`` API answer whoever reaches the
    port; a warning in a log nobody reads did not stop that, so it takes a login or an
    explicit ``--insecure``.
    """
    if is_loopback(host) or auth is not None:
        return
    if not insecure:
        raise UIError(
            f"refusing to serve on {host} without a login: anyone who can reach it could use it. "
            f"Set {AUTH_ENV}=user:password, or pass --insecure to serve it open anyway"
        )
    log.warning("serving on %s without a login (--insecure): anyone who can reach it can use it", host)


class LoginThrottle:
    """The login check for the page: the ``RAG_AUTH`` user and password, with lockouts.

    Gradio calls it once per login attempt with (username, password). After
    ``free_failures`` failures in a row for a name, that name is locked out for
    ``base_lockout_s``, doubling with each further failure up to ``max_lockout_s``; an
    attempt during a lockout is refused without looking at the password, so guessing
    runs at a few tries a minute instead of hundreds a second. (Refused, not delayed:
    Gradio calls the check on its event loop, where a sleep would stall every visitor.)
    A success clears the count. Gradio does not tell the check who is asking, so the count is per name tried:
    the configured name, and one shared count for all others (so made-up names cannot
    fill memory). ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        user: str,
        password: str,
        *,
        free_failures: int = 5,
        base_lockout_s: float = 2.0,
        max_lockout_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._user = user.encode("utf-8")
        self._password = password.encode("utf-8")
        self.free_failures = free_failures
        self.base_lockout_s = base_lockout_s
        self.max_lockout_s = max_lockout_s
        self._clock = clock
        self._failures: dict[bool, int] = {}
        self._locked_until: dict[bool, float] = {}
        self._lock = threading.Lock()

    def __call__(self, username: str, password: str) -> bool:
        """True when the login is right and its name is not locked out."""
        name_ok = hmac.compare_digest(str(username).encode("utf-8", "replace"), self._user)
        password_ok = hmac.compare_digest(str(password).encode("utf-8", "replace"), self._password)
        key = name_ok  # the configured name, or "any other name"
        with self._lock:
            now = self._clock()
            if now < self._locked_until.get(key, float("-inf")):
                log.warning("login refused: too many failed attempts; locked for %.0f s more",
                            self._locked_until[key] - now)
                return False
            if name_ok and password_ok:
                self._failures.pop(key, None)
                return True
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            if failures >= self.free_failures:
                wait = min(self.max_lockout_s, self.base_lockout_s * 2 ** (failures - self.free_failures))
                self._locked_until[key] = now + wait
                log.warning("%d failed logins in a row: the next attempt waits %.0f s", failures, wait)
            return False

    def locked_for(self, username: str) -> float:
        """Seconds until ``username`` may try again (0 when it may now)."""
        key = hmac.compare_digest(str(username).encode("utf-8", "replace"), self._user)
        with self._lock:
            return max(0.0, self._locked_until.get(key, float("-inf")) - self._clock())


def launch(
    app: "gr.Blocks",
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    auth: tuple[str, str] | Callable[[str, str], bool] | None = None,
    *,
    block: bool = True,
    quiet: bool = False,
) -> str:
    """Serve ``app`` on ``host:port`` (127.0.0.1 unless told otherwise) and return its URL.

    ``auth`` is an optional (user, password) for basic login, checked by a
    :class:`LoginThrottle`, or a login check of its own. Never creates a share link.
    With ``block=False`` the server runs in a background thread; stop it with
    ``app.close()``.
    """
    _gradio()
    if not is_loopback(host):
        log.warning("serving on %s: the page is reachable from other machines", host)
    if isinstance(auth, tuple):
        auth = LoginThrottle(*auth)
    _, local_url, _ = app.launch(
        server_name=host,
        server_port=port,
        auth=auth,
        share=False,
        prevent_thread_lock=not block,
        quiet=quiet,
        show_error=False,
        ssr_mode=False,
        mcp_server=False,
        footer_links=[],
        css=PAGE_CSS + panel_css(),
    )
    return local_url


def serve(settings: "Settings", *, insecure: bool = False) -> None:
    """Start the page for ``rag serve``: load the assistant in the background and serve.

    The host and port come from ``settings``; basic auth from ``RAG_AUTH=user:password``.
    A host other than loopback needs that login, or ``insecure`` (see
    :func:`check_exposure`). Blocks until the server is stopped.
    """
    auth = parse_auth(os.environ.get(AUTH_ENV))
    check_exposure(settings.host, auth, insecure)
    from rag.answer import Assistant

    loader = AssistantLoader(lambda: Assistant.from_settings(settings))
    app = build_app(
        loader,
        top_k=settings.top_k,
        passage_budget=settings.passage_budget,
        extras=page_extras(settings, loader, auth),
    )
    launch(app, settings.host, settings.port, auth)


PAGE_CSS = """
.rag-header h1 { font-size: 1.5rem; margin: 0.2rem 0 0.1rem; }
.rag-header p { margin: 0; color: var(--body-text-color-subdued); font-size: 0.9rem; }
.rag-spinner, .rag-pending::before { display: inline-block; width: 0.7em; height: 0.7em; margin-right: 0.5em;
  border: 2px solid currentColor; border-right-color: transparent; border-radius: 50%;
  animation: rag-spin 0.8s linear infinite; vertical-align: -0.05em; content: ""; }
@keyframes rag-spin { to { transform: rotate(360deg); } }
.rag-banner { padding: 6px 12px; border-radius: 6px; font-size: 0.9rem; }
.rag-loading { background: rgba(59,130,246,0.12); color: var(--body-text-color); }
.rag-ready { background: rgba(34,197,94,0.12); color: var(--body-text-color); }
.rag-failed { background: rgba(220,38,38,0.14); color: #b91c1c; font-weight: 600; }
.rag-waiting { font-size: 0.85rem; color: var(--body-text-color-subdued); }
.rag-waiting ol { margin: 2px 0 0 1.2em; padding: 0; }
.rag-status { font-size: 0.85rem; color: var(--body-text-color-subdued); min-height: 1.2em; }
.rag-footer { font-size: 0.8rem; color: var(--body-text-color-subdued); text-align: center; padding: 6px 0; }
.rag-examples { gap: 6px !important; }
.rag-examples button { flex: 0 1 auto !important; font-weight: 400; }
a.rag-cite { font-size: 0.8em; font-weight: 600; text-decoration: none; vertical-align: super; padding: 0 1px; }
.rag-notice.rag-refusal, .rag-notice.rag-error, .rag-notice.rag-info { padding: 8px 12px; border-radius: 6px; font-size: 0.95rem; line-height: 1.5; }
.rag-notice.rag-refusal { border-left: 4px solid #f59e0b; background: rgba(245,158,11,0.14); font-weight: 600; }
.rag-notice.rag-error { border-left: 4px solid #dc2626; background: rgba(220,38,38,0.10); }
.rag-notice.rag-info { border-left: 4px solid #3b82f6; background: rgba(59,130,246,0.10); font-size: 0.9rem; }
.rag-meta, .rag-pending { color: var(--body-text-color-subdued); font-size: 0.85em; }
.rag-typing { animation: rag-blink 1s steps(2, start) infinite; }
@keyframes rag-blink { to { visibility: hidden; } }
#rag-sources { max-height: 640px; overflow-y: auto; }
.rag-sources h4 { margin: 0 0 6px; }
.rag-sources-empty { color: var(--body-text-color-subdued); padding: 12px; border: 1px dashed var(--border-color-primary); border-radius: 8px; }
.rag-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px; margin: 0 0 8px; scroll-margin-top: 8px; }
.rag-source:target { outline: 2px solid #f59e0b; background: rgba(245,158,11,0.08); }
.rag-src-head { font-size: 0.9em; margin-bottom: 4px; display: flex; flex-wrap: wrap; gap: 6px; align-items: baseline; }
.rag-src-n { font-weight: 700; }
.rag-src-title { font-weight: 600; }
.rag-src-page, .rag-src-score { color: var(--body-text-color-subdued); font-size: 0.9em; }
.rag-src-text { white-space: pre-wrap; font-size: 0.88em; line-height: 1.5; max-height: 16em; overflow-y: auto; }
.rag-src-text mark { background: rgba(250,204,21,0.55); color: inherit; padding: 0 1px; border-radius: 2px; }
.rag-badge { font-size: 0.75em; padding: 1px 6px; border-radius: 4px; }
.rag-attributed { background: rgba(99,102,241,0.15); }
.rag-unsupported { background: rgba(220,38,38,0.15); }
.rag-sources details { margin-top: 8px; }
.rag-sources summary { cursor: pointer; color: var(--body-text-color-subdued); }
.rag-unsupported-list { font-size: 0.85em; margin: 6px 0; }
"""
