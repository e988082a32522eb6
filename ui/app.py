"""The Gradio chat page: layout, event wiring and launch.

It holds no answering or rendering logic: ``ui.answering`` is the answering step,
``ui.chat`` renders every state of a question, ``ui.loader`` creates the assistant in the
background, ``ui.pending`` holds each visitor's waiting questions, ``ui.access`` decides
who may reach the page and ``ui.style`` is its style sheet. What this module owns is the
page around them: generation events share one queue slot because llama.cpp can't run two
generations at once; the server binds 127.0.0.1 unless told otherwise, never makes a
share link and sends no analytics. Gradio is imported lazily.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ui.access import AUTH_ENV, LoginThrottle, check_exposure, parse_auth
from ui.answering import SOURCES_EMPTY, interrupted_outputs, make_api, make_responder
from ui.chat import StreamingAssistant
from ui.errors import UIError
from ui.extras import PageExtras, add_extras, page_extras
from ui.loader import AssistantLoader, LoadState
from ui.pending import PendingQuestions, render_waiting
from ui.style import page_css

if TYPE_CHECKING:  # pragma: no cover - typing only
    import gradio as gr

    from rag.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
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
SUBTITLE = (
    "Answers come only from the indexed articles and papers, each with numbered sources. "
    "答案只来自已索引的文章和论文，并附编号来源。"
)
CHAT_PLACEHOLDER = (
    "**Ask about the history of large language models** — in Chinese or English.  \n"
    "问一个关于大模型发展史的问题，中英文均可。每个回答都带有编号的来源。"
)


def _gradio():
    # Analytics off before gradio is first imported: it reads the variable at import.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        import gradio as gr
    except ImportError:
        raise UIError('the web page needs gradio: pip install "gradio>=6"') from None
    return gr


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


# --------------------------------------------------------------------------- the page


@dataclass(frozen=True)
class _Chat:
    """The components of the chat column that events read or write."""

    chatbot: Any
    question: Any
    ask: Any
    stop: Any
    examples: list[tuple[Any, str]]
    waiting: Any
    status: Any


def _add_header(gr: Any, title: str, loader: AssistantLoader) -> Any:
    """The title and subtitle; returns the loading banner under them."""
    gr.HTML(
        f'<div class="rag-header"><h1>{html.escape(title)}</h1><p>{html.escape(SUBTITLE)}</p></div>',
        js_on_load=None,
    )
    return gr.HTML(render_banner(loader.state()), elem_id="rag-banner", js_on_load=None)


def _add_question_row(gr: Any) -> tuple[Any, Any, Any]:
    """The question box with its Ask and Stop buttons."""
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
    return question, ask, stop


def _add_chat_column(gr: Any, examples: Sequence[str], extras: PageExtras, pending: Any) -> _Chat:
    """The chat, the example questions, the question row, the waiting note and status."""
    with_feedback = extras.feedback_file is not None
    chatbot = gr.Chatbot(
        elem_id="rag-chat",
        label="Chat",
        show_label=False,
        height=460,
        placeholder=CHAT_PLACEHOLDER,
        feedback_options=("Like", "Dislike") if with_feedback else None,
        buttons=["copy"],
        latex_delimiters=[],  # "$" in the articles is money and text, not maths
    )
    with gr.Row(elem_classes=["rag-examples"]):
        buttons = [(gr.Button(text, size="sm", variant="secondary", scale=0), text) for text in examples]
    question, ask, stop = _add_question_row(gr)
    waiting = gr.HTML("", elem_id="rag-waiting", js_on_load=None)
    status = gr.HTML("", elem_id="rag-status", js_on_load=None)
    if with_feedback:
        from ui.feedback_panel import add_feedback

        add_feedback(gr, chatbot, pending, extras.feedback_file)
    return _Chat(chatbot, question, ask, stop, buttons, waiting, status)


def _add_settings(gr: Any, top_k: int, passage_budget: int, fast: bool) -> tuple[Any, Any, Any]:
    """The settings accordion: the fast switch, top-k and passage budget sliders."""
    with gr.Accordion("Settings / 设置", open=False):
        fast_box = gr.Checkbox(value=fast, label="Fast answers: less evidence, a shorter wait / 快速回答:证据更少,等待更短")
        top_k_slider = gr.Slider(1, 20, value=top_k, step=1, label="passages to retrieve (top-k) / 检索段落数")
        budget_slider = gr.Slider(
            100, 4000, value=passage_budget, step=50,
            label="passage budget (tokens of passages in the prompt) / 提示中段落的 token 预算",
        )
    return top_k_slider, budget_slider, fast_box


def _wire_questions(gr: Any, chat: _Chat, pending: Any, conversation: Any, sources: Any, respond: Callable, sliders) -> None:
    """Sending, answering, Stop and Clear."""

    def send(question: str, waiting: PendingQuestions):
        waiting.add(question)
        return "", render_waiting(waiting.waiting())

    def interrupt(reason: str):
        def handler(waiting: PendingQuestions, messages: list | None):
            waiting.interrupt(reason)
            return interrupted_outputs(reason, list(messages or []), gr.skip())

        return handler

    outputs = [chat.chatbot, conversation, sources, chat.status, chat.waiting]
    # Sending only queues the question (instantly, outside the queue); the answering
    # step runs in the single generation slot and works through what is waiting.
    # "multiple": a question sent while an answer streams must not be dropped.
    answering = dict(
        fn=respond, inputs=[pending, conversation, *sliders], outputs=outputs,
        concurrency_limit=1, concurrency_id=GENERATION_GROUP, show_progress="hidden",
        trigger_mode="multiple", api_name=False,
    )
    sending = dict(outputs=[chat.question, chat.waiting], queue=False, trigger_mode="multiple", api_name=False)
    chat.question.submit(send, inputs=[chat.question, pending], **sending).then(**answering)
    chat.ask.click(send, inputs=[chat.question, pending], **sending).then(**answering)
    for button, text in chat.examples:
        button.click(lambda p, text=text: send(text, p), inputs=[pending], **sending).then(**answering)
    # Stop and Clear act at once here, and the answering step, told through
    # ``pending``, ends the answer at its next update and closes the model's stream.
    # (Gradio's ``cancels`` would let updates already on their way overwrite this.)
    interrupt_io = dict(inputs=[pending, conversation], outputs=outputs, queue=False, api_name=False)
    chat.stop.click(interrupt("stop"), **interrupt_io)
    chat.chatbot.clear(interrupt("clear"), **interrupt_io)


def _wire_status(gr: Any, app: Any, loader: AssistantLoader, banner: Any, footer: Any, timer: Any) -> None:
    """The banner and footer follow the loader until it is ready or failed."""

    def refresh():
        state = loader.state()
        done = state.ready or state.failed
        return render_banner(state), render_info(state.info), gr.Timer(active=not done)

    quiet = dict(outputs=[banner, footer, timer], queue=False, show_progress="hidden", api_name=False)
    timer.tick(refresh, **quiet)
    app.load(refresh, **quiet)


def build_app(
    assistant: StreamingAssistant | Callable[[], StreamingAssistant] | AssistantLoader,
    *,
    top_k: int = 5,
    passage_budget: int = 800,
    fast: bool = False,
    examples: Sequence[str] = EXAMPLES,
    title: str = TITLE,
    extras: PageExtras | None = None,
) -> "gr.Blocks":
    """Build the chat page around an assistant, a factory that creates one, or a loader.

    A factory runs in a background thread started here, so the page serves (and shows
    "loading the model…") while it works. ``top_k``, ``passage_budget`` and ``fast`` are
    the defaults of the settings; each question passes their values to
    ``assistant.stream(question, history, top_k=..., passage_budget=..., fast=...)``. Besides the
    page, the app has an ``/ask`` API endpoint (see ``ui.answering.make_api``). ``extras`` adds the
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

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        # An instance, not the class: a callable State value is re-created by a page-load
        # event that can land after the first question was queued and drop it.
        pending = gr.State(PendingQuestions())
        conversation = gr.State([])
        banner = _add_header(gr, title, loader)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=360):
                chat = _add_chat_column(gr, examples, extras, pending)
            with gr.Column(scale=2, min_width=300):
                sources = gr.HTML(SOURCES_EMPTY, elem_id="rag-sources", js_on_load=None)
        sliders = _add_settings(gr, top_k, passage_budget, fast)
        footer = gr.HTML(render_info(loader.state().info), elem_id="rag-footer", js_on_load=None, render=False)
        timer = gr.Timer(1.0)
        add_extras(gr, extras, loader, footer, timer, render_info)
        footer.render()
        _wire_questions(gr, chat, pending, conversation, sources, respond, sliders)
        _wire_status(gr, app, loader, banner, footer, timer)
        gr.api(make_api(loader), api_name="ask", concurrency_limit=1, concurrency_id=GENERATION_GROUP)
    app.queue(default_concurrency_limit=1, max_size=QUEUE_MAX_SIZE)
    return app


# --------------------------------------------------------------------------- launching


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
    :class:`~ui.access.LoginThrottle`, or a login check of its own. Never creates a share
    link. Whether ``host`` may be served at all is :func:`~ui.access.check_exposure`'s
    call, made by :func:`serve` before anything loads. With ``block=False`` the server
    runs in a background thread; stop it with ``app.close()``.
    """
    _gradio()
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
        css=page_css(),
    )
    return local_url


def serve(settings: "Settings", make_assistant: Callable[[], StreamingAssistant], *, insecure: bool = False) -> None:
    """Start the page for ``rag serve``: create the assistant in the background and serve.

    ``make_assistant`` is the assistant factory the CLI wired; it runs in the background
    once the page is up. The host and port come from ``settings``; basic auth from
    ``RAG_AUTH=user:password``. A host other than loopback needs that login, or
    ``insecure`` (see :func:`~ui.access.check_exposure`). Blocks until the server is stopped.
    """
    auth = parse_auth(os.environ.get(AUTH_ENV))
    check_exposure(settings.host, auth, insecure)
    loader = AssistantLoader(make_assistant)
    app = build_app(
        loader,
        top_k=settings.top_k,
        passage_budget=settings.passage_budget,
        fast=settings.fast,
        extras=page_extras(settings, loader, auth),
    )
    launch(app, settings.host, settings.port, auth)
