"""The page's 👍 / 👎 on each answer and the short correction form a 👎 opens.

Wiring only: what is recorded and how it becomes questions is :mod:`rag.feedback`.
A 👍 or 👎 is appended to the feedback file at once; the form's correction (the right
answer and its source, or "the documents can't answer this") is appended as a later line
of the same entry.
"""

# No "from __future__ import annotations": Gradio reads the gr.LikeData hint of ``rated``
# at run time to pass the event data.
import html
from dataclasses import replace
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rag.feedback import Feedback, FeedbackError, feedback_for, record_feedback, with_correction
from rag.types import Answer


def remember_answer(assistant: Any, answer: Answer, history: Sequence[tuple[str, str]], options: Mapping) -> Feedback:
    """The ``on_answer`` hook of ``ui.app.make_responder``: a 👍 entry ready to be rated.

    It carries the settings the answer was made with and the build id of the index in use.
    """
    manifest = getattr(getattr(assistant, "index", None), "manifest", None) or {}
    return feedback_for(
        answer,
        "up",
        history=history,
        settings={k: v for k, v in options.items() if v is not None},
        index_build_id=manifest.get("build_id"),
    )


def _note(text: str, kind: str = "ok") -> str:
    return f'<div class="rag-fb-note rag-fb-{kind}">{html.escape(text)}</div>' if text else ""


def _rating(liked: Any) -> str:
    # Gradio reports the built-in thumbs as True/False, named options as their label.
    return "up" if liked is True or liked == "Like" else "down"


def _source_hint(feedback: Feedback) -> str:
    return str(feedback.citations[0].get("doc_id") or "") if feedback.citations else ""


def _add_form(gr: Any) -> tuple[Any, ...]:
    """The hidden correction form and the note under it: (form, correction, source,
    unanswerable, send, close, note)."""
    with gr.Group(visible=False, elem_id="rag-fb-form") as form:
        gr.Markdown("**What is the right answer? / 正确答案是什么？**")
        with gr.Row(equal_height=True):
            correction = gr.Textbox(
                label="right answer / 正确答案", elem_id="rag-fb-answer", scale=3,
                placeholder="e.g. 1750 亿 / 175 billion",
            )
            source = gr.Textbox(
                label="source (document id, file name or arXiv id) / 来源", elem_id="rag-fb-source", scale=2,
            )
        unanswerable = gr.Checkbox(
            label="the documents can't answer this / 文档无法回答这个问题", elem_id="rag-fb-unanswerable"
        )
        with gr.Row():
            send = gr.Button("Send correction / 提交", variant="primary", elem_id="rag-fb-send", scale=0)
            close = gr.Button("Close / 关闭", variant="secondary", elem_id="rag-fb-close", scale=0)
    note = gr.HTML("", elem_id="rag-fb-note", js_on_load=None)
    return form, correction, source, unanswerable, send, close, note


def add_feedback(gr: Any, chatbot: Any, pending: Any, feedback_file: Path) -> None:
    """Add the correction form under the chat and wire the chat's 👍 / 👎 to ``feedback_file``."""
    current = gr.State(None)  # the entry the open form corrects
    form, correction, source, unanswerable, send, close, note = _add_form(gr)

    def rated(pending_questions: Any, data: gr.LikeData):
        index = data.index if isinstance(data.index, int) else data.index[0]
        entry = pending_questions.answered(index)
        if entry is None:
            return gr.Group(visible=False), _note("only answers can be rated", "error"), None, gr.skip(), gr.skip(), gr.skip()
        rating = _rating(data.liked)
        entry = replace(entry, rating=rating)
        try:
            record_feedback(feedback_file, entry)
        except FeedbackError as exc:
            return gr.Group(visible=False), _note(str(exc), "error"), None, gr.skip(), gr.skip(), gr.skip()
        if rating == "up":
            return gr.Group(visible=False), _note("thanks — recorded 👍 / 已记录"), None, gr.skip(), gr.skip(), gr.skip()
        return (
            gr.Group(visible=True), _note("recorded 👎 — you can add the right answer below / 已记录，可在下方补充正确答案"),
            entry, "", _source_hint(entry), False,
        )

    def corrected(entry: Feedback | None, text: str, where: str, no_answer: bool):
        if entry is None:
            return gr.Group(visible=False), _note("rate an answer with 👎 first", "error"), None
        try:
            fixed = with_correction(entry, correction=text, source=where, unanswerable=no_answer)
            record_feedback(feedback_file, fixed)
        except FeedbackError as exc:
            return gr.Group(visible=True), _note(str(exc), "error"), entry
        return gr.Group(visible=False), _note("thanks — your correction was recorded / 已记录更正"), None

    chatbot.like(
        rated, inputs=[pending], outputs=[form, note, current, correction, source, unanswerable],
        queue=False, api_name=False,
    )
    send.click(
        corrected, inputs=[current, correction, source, unanswerable], outputs=[form, note, current],
        queue=False, api_name=False,
    )
    close.click(lambda: (gr.Group(visible=False), "", None), outputs=[form, note, current], queue=False, api_name=False)


FEEDBACK_CSS = """
.rag-fb-note { font-size: 0.85rem; }
.rag-fb-ok { color: var(--body-text-color-subdued); }
.rag-fb-error { color: #b91c1c; font-weight: 600; }
"""
