"""The page's model picker: the installed models, each with what ``rag eval`` measured.

Wiring only: the menu comes from :mod:`rag.catalog`, the switch itself (freeing the old
model when both don't fit in memory) from the ``switch`` function given. Picking a model
reloads the assistant in the background, and the page's loading banner shows it.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from rag.catalog import ModelChoice
from rag.types import RagError


def _note(text: str) -> str:
    return f'<div class="rag-model-note">{html.escape(text)}</div>' if text else ""


def add_model_picker(
    gr: Any,
    loader: Any,
    choices: Sequence[ModelChoice],
    switch: Callable[[Any, str], Any],
    current: str,
    timer: Any,
) -> None:
    """A radio list of ``choices``; picking one calls ``loader.reload`` with ``switch(assistant, spec)``.

    ``timer`` is the page's banner timer, started again so the banner follows the load.
    """
    picker = gr.Radio(
        choices=[(choice.label(), choice.spec) for choice in choices],
        value=current,
        label="Model / 模型 (typical wait for the first word on this machine, accuracy on the test questions)",
        elem_id="rag-model",
    )
    note = gr.HTML("", elem_id="rag-model-note", js_on_load=None)

    def pick(spec: str):
        message = f"loading the model {spec}… / 正在加载模型 {spec}…"
        try:
            loader.reload(lambda assistant: switch(assistant, spec), message)
        except RagError as exc:  # UIError: still loading
            return _note(str(exc)), gr.Timer(active=True)
        return _note(f"switching to {spec}; questions wait until it is loaded / 正在切换模型"), gr.Timer(active=True)

    picker.input(pick, inputs=[picker], outputs=[note, timer], queue=False, show_progress="hidden", api_name=False)


MODEL_CSS = """
.rag-model-note { font-size: 0.85rem; color: var(--body-text-color-subdued); }
"""
