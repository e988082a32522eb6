"""The page's own error type, shared by the loader, the access checks and the page."""

from __future__ import annotations

from rag.types import RagError


class UIError(RagError):
    """The web page can't start or can't answer yet (bad RAG_AUTH, gradio missing,
    exposed without a login, the model still loading)."""
