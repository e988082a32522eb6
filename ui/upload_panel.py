"""The page's document panel: add files, watch them being indexed, list and remove them.

Wiring only: checking, storing and indexing are :class:`ingest.library.DocumentLibrary`'s.
Whether the panel is offered at all is :func:`upload_policy`'s call.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ingest.documents import IngestError
from ingest.library import AddResult, DocumentLibrary
from ingest.uploads import UploadedDocument
from ui.hosts import is_loopback


def upload_policy(enabled: bool, host: str, auth: object | None) -> str | None:
    """Why the page offers no upload (None when it does).

    Off by the ``uploads`` setting, and off when the page is reachable beyond loopback
    without a login: adding documents changes what every visitor is answered from.
    """
    if not enabled:
        return "uploads are switched off (setting uploads = 0)"
    if not is_loopback(host) and auth is None:
        return "uploads need a login when the page is served beyond this machine (set RAG_AUTH=user:password)"
    return None


def render_result(result: AddResult) -> str:
    """One line per file: added, or the reason it was refused."""
    lines = [f'<li class="rag-up-ok">added {html.escape(s.name)} / 已添加</li>' for s in result.stored]
    lines += [f'<li class="rag-up-rejected">{html.escape(reason)}</li>' for reason in result.rejected]
    return f'<ul class="rag-up-result">{"".join(lines)}</ul>' if lines else ""


def render_documents(documents: Sequence[UploadedDocument]) -> str:
    """The table of added documents: name, title, size and passages (or "indexing…")."""
    if not documents:
        return '<div class="rag-docs rag-docs-empty">No documents added yet. / 还没有添加文档。</div>'
    rows = "".join(
        "<tr>"
        f"<td>{html.escape(d.name)}</td><td>{html.escape(d.title or '…')}</td>"
        f'<td class="rag-num">{d.size / 1024:.1f} KB</td>'
        f'<td class="rag-num">{d.chunks if d.indexed else "indexing… / 索引中"}</td>'
        "</tr>"
        for d in documents
    )
    head = "<tr><th>file</th><th>title</th><th>size</th><th>passages</th></tr>"
    return f'<table class="rag-docs"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def render_progress(line: str, running: bool) -> str:
    """The progress line under the upload box."""
    if not line:
        return ""
    spinner = '<span class="rag-spinner"></span>' if running else ""
    return f'<div class="rag-up-progress">{spinner}{html.escape(line)}</div>'


def _add_layout(gr: Any, library: DocumentLibrary, limit_mb: int) -> tuple[Any, ...]:
    """The panel's components: (files, result, progress, listing, choice, remove)."""
    with gr.Accordion("Documents / 文档", open=True, elem_id="rag-docs-panel"):
        files = gr.File(
            file_count="multiple", type="filepath", elem_id="rag-upload", height=120,
            label=f"Add documents: .txt .md .html .pdf, up to {limit_mb} MB each / 添加文档",
        )
        result = gr.HTML("", elem_id="rag-upload-result", js_on_load=None)
        progress = gr.HTML("", elem_id="rag-upload-progress", js_on_load=None)
        listing = gr.HTML(render_documents(library.documents()), elem_id="rag-docs", js_on_load=None)
        with gr.Row(equal_height=True):
            choice = gr.Dropdown(
                [d.name for d in library.documents()], value=None, label="remove a document you added / 删除文档",
                elem_id="rag-remove-choice", scale=3,
            )
            remove = gr.Button("Remove / 删除", variant="secondary", elem_id="rag-remove", scale=0, min_width=100)
    return files, result, progress, listing, choice, remove


def add_upload_panel(gr: Any, library: DocumentLibrary, limit_mb: int, on_change: Callable[[], Any], footer: Any) -> None:
    """The "Documents" section: an upload box, a progress line, the list and a remove control.

    ``on_change()`` renders ``footer`` again (the index's size) once a build is done.
    """
    files, result, progress, listing, choice, remove = _add_layout(gr, library, limit_mb)
    timer = gr.Timer(1.0, active=False)

    def state_outputs():
        p = library.progress()
        documents = library.documents()
        names = [d.name for d in documents]
        return (
            render_progress(p.line(), p.running), render_documents(documents),
            gr.Dropdown(choices=names, value=None), on_change(), gr.Timer(active=p.running),
        )

    def uploaded(paths: list[str] | None):
        if not paths:
            return (gr.skip(), "", *state_outputs())
        added = library.add_paths([Path(p) for p in paths])
        return (None, render_result(added), *state_outputs())

    def removed(name: str | None):
        if not name:
            return ("", *state_outputs())
        try:
            library.remove(name)
        except IngestError as exc:
            return (f'<ul class="rag-up-result"><li class="rag-up-rejected">{html.escape(str(exc))}</li></ul>', *state_outputs())
        return (f'<ul class="rag-up-result"><li class="rag-up-ok">removed {html.escape(name)} / 已删除</li></ul>', *state_outputs())

    watched = [progress, listing, choice, footer, timer]
    files.upload(uploaded, inputs=[files], outputs=[files, result, *watched], queue=False, api_name=False)
    remove.click(removed, inputs=[choice], outputs=[result, *watched], queue=False, api_name=False)
    timer.tick(state_outputs, outputs=watched, queue=False, show_progress="hidden", api_name=False)


UPLOAD_CSS = """
.rag-up-result { margin: 0; padding-left: 1.2em; font-size: 0.85rem; }
.rag-up-rejected { color: #b91c1c; font-weight: 600; }
.rag-up-progress { font-size: 0.85rem; color: var(--body-text-color-subdued); }
table.rag-docs { width: 100%; font-size: 0.85rem; border-collapse: collapse; }
table.rag-docs th, table.rag-docs td { text-align: left; padding: 2px 6px; border-bottom: 1px solid var(--border-color-primary); }
table.rag-docs .rag-num { text-align: right; white-space: nowrap; }
.rag-docs-empty { font-size: 0.85rem; color: var(--body-text-color-subdued); }
"""
