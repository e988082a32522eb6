"""The optional parts of the page (documents, model picker, feedback) and how ``rag serve``
fills them from the settings.

Wiring only: each part is built by its own module (``ui.upload_panel``,
``ui.model_panel``, ``ui.feedback_panel``) around library objects from ``ingest`` and
``rag``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.settings import paper_dirs

if TYPE_CHECKING:  # pragma: no cover - typing only
    from rag.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageExtras:
    """The optional parts of the page.

    ``library`` (an ``ingest.library.DocumentLibrary``) adds the document panel: upload,
    progress, list, remove. ``models`` (``rag.catalog.ModelChoice``) and
    ``switch_model(assistant, spec) -> assistant`` add the model picker, with
    ``current_model`` picked. ``feedback_file`` adds 👍 / 👎 on answers and the correction form.
    """

    library: Any = None
    upload_limit_mb: int = 20
    models: Sequence[Any] = ()
    switch_model: Callable[[Any, str], Any] | None = None
    current_model: str = ""
    feedback_file: Path | None = None


def add_extras(
    gr: Any, extras: PageExtras, loader: Any, footer: Any, timer: Any, render_info: Callable[[Mapping], str]
) -> None:
    """Add the model picker and the document panel side by side (feedback sits under the
    chat, see ``build_app``)."""
    with gr.Row(equal_height=False):
        if extras.models and extras.switch_model is not None:
            from ui.model_panel import add_model_picker

            with gr.Column(scale=2, min_width=300):
                add_model_picker(gr, loader, extras.models, extras.switch_model, extras.current_model, timer)
        if extras.library is not None:
            from ui.upload_panel import add_upload_panel

            with gr.Column(scale=3, min_width=360):
                add_upload_panel(
                    gr, extras.library, extras.upload_limit_mb, lambda: render_info(loader.state().info), footer
                )


def panel_css() -> str:
    """The style sheet of the optional parts."""
    from ui.feedback_panel import FEEDBACK_CSS
    from ui.model_panel import MODEL_CSS
    from ui.upload_panel import UPLOAD_CSS

    return FEEDBACK_CSS + MODEL_CSS + UPLOAD_CSS


def page_extras(settings: "Settings", loader: Any, auth: tuple[str, str] | None) -> PageExtras:
    """The document panel, model picker and feedback for ``rag serve``, from ``settings``.

    A new index built after an upload is swapped into ``loader``'s assistant: the next
    question is answered from it, one being answered finishes on the old one.
    """
    from ingest.documents import ChunkerSettings
    from ingest.library import DocumentLibrary
    from rag.catalog import assistant_with_model, model_choices
    from ui.upload_panel import upload_policy

    library = None
    off = upload_policy(bool(settings.uploads), settings.host, auth)
    if off is None:
        library = DocumentLibrary(
            Path(settings.corpus_dir),
            Path(settings.index_dir),
            upload_folder=settings.upload_folder,
            papers_dirs=paper_dirs(settings),
            embedder=settings.embedder,
            chunker=ChunkerSettings(settings.chunk_size, settings.chunk_overlap),
            max_bytes=settings.upload_max_mb * 1024 * 1024,
            on_new_index=lambda index: loader.swap(lambda assistant: assistant.replaced(index=index)),
        )
    else:
        log.warning("no upload on the page: %s", off)
    return PageExtras(
        library=library,
        upload_limit_mb=settings.upload_max_mb,
        models=model_choices(settings.llm, settings.reports_dir, asdict(settings)),
        switch_model=assistant_with_model,
        current_model=settings.llm,
        feedback_file=Path(settings.feedback_file),
    )
