"""Language-model backends behind one small interface: stream a chat reply as text deltas.

``Generator.stream`` is the one method a backend must implement; ``complete`` is built on
it. Three backends, each in its own module that imports its heavy package only on load:
``rag.llamacpp`` for GGUF files (the default, a packaged Qwen2.5-Coder GGUF), ``rag.hf``
for any Hugging Face causal LM via transformers (hub id, local directory, or a GGUF
file), and ``rag.openai_server`` for any OpenAI-compatible HTTP server (vLLM, llama.cpp's
server). This module owns what they share (the interface, errors, the stop filter, the
chat-template splitter) and ``make_generator``, which turns a spec string into a backend
and keeps one per process, so a model loads once.

Loading is deferred to ``load()`` (called by the first ``stream``), so a UI can create the
generator at once, show "loading the model", and call ``load()`` itself.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag import models
from rag.types import RagError

if TYPE_CHECKING:  # the backend classes this module re-exports (see __getattr__)
    from rag.hf import TransformersGenerator
    from rag.llamacpp import LlamaCppGenerator
    from rag.openai_server import OpenAIGenerator

log = logging.getLogger(__name__)

SEED = 0
LLM_SETTING = "--llm / RAG_LLM"


class GeneratorError(RagError):
    """The model failed while generating (bad request, server error, decoding error)."""


class GeneratorUnavailable(RagError):
    """The model cannot be used: a package, a file or a server is missing."""


def import_backend_package(module: str, pip_name: str):
    """Import an optional heavy package, or raise GeneratorUnavailable naming the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise GeneratorUnavailable(f"this model backend needs {pip_name}: pip install {pip_name} ({exc})") from exc


class Generator(ABC):
    """A chat model. ``info`` describes it (at least ``backend`` and ``model``)."""

    info: dict
    #: (tokens, reused) of the last prompt: its length in tokens, and how many at its start
    #: were not read again because the backend still held them from the call before (a
    #: prefix cache; 0 where the backend has none or does not say).
    last_prompt: tuple[int, int] = (0, 0)
    #: The probability the model gave each token of its last reply, in order, as it wrote
    #: it (with greedy decoding, how sure it was of each); () where the backend does not say.
    last_token_probs: tuple[float, ...] = ()

    @abstractmethod
    def stream(
        self,
        messages: list[dict],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Iterator[str]:
        """Yield the reply to ``messages`` ([{"role", "content"}, ...]) as text deltas.

        ``temperature`` 0 is greedy decoding; generation ends at ``max_tokens`` tokens or
        before the first ``stop`` string (which is not part of the reply).
        """

    def complete(self, messages: list[dict], **kw) -> str:
        """The whole reply as one string (same arguments as ``stream``)."""
        return "".join(self.stream(messages, **kw))

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` takes in this model's vocabulary."""

    @property
    def loaded(self) -> bool:
        """Whether ``load()`` has finished (a first call may take seconds)."""
        return True

    def load(self) -> None:
        """Load the model now instead of on first use; idempotent."""


class StopFilter:
    """Cuts a stream of deltas before the first stop string to be complete.

    Text that could still grow into a stop string is held back until it is clear.
    """

    def __init__(self, stop: Sequence[str]):
        self.stop = [s for s in stop if s]
        self.pending = ""
        self.done = False

    def feed(self, delta: str) -> str:
        """The part of ``delta`` that is surely reply text (possibly with held-back text before it)."""
        if self.done:
            return ""
        if not self.stop:
            return delta
        text = self.pending + delta
        # The stop string that is complete first wins, as when reading one character at a
        # time; so the result does not depend on how the text was split into deltas.
        found = [(i + len(s), i) for s in self.stop if (i := text.find(s)) >= 0]
        if found:
            self.done, self.pending = True, ""
            return text[: min(found)[1]]
        hold = max((k for s in self.stop for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
        self.pending = text[len(text) - hold:] if hold else ""
        return text[: len(text) - hold]

    def flush(self) -> str:
        """Held-back text once the stream has ended without a stop string."""
        rest, self.pending = ("" if self.done else self.pending), ""
        return rest


# Stands in for a message's text while the chat template is rendered, so that the
# template's own markup and the message texts can be tokenised apart (private-use
# characters: no template writes them).
_SLOT = re.compile("\ue000(\\d+)\ue001")


def _slot(i: int) -> str:
    return f"\ue000{i}\ue001"


def template_pieces(
    render: Callable[[list[dict]], str], messages: Sequence[dict], model: str
) -> list[tuple[str, bool]]:
    """The chat prompt for ``messages`` cut into (text, is_message) pieces, in order: the
    template's own markup, then each message's text in its place.

    ``render`` applies the chat template to messages; it is called with a placeholder in
    place of each message's text. Raises GeneratorError unless the template placed each
    message exactly once (one that drops or repeats a message can't be split safely).
    Empty pieces are left out.
    """
    rendered = render([{**m, "content": _slot(i)} for i, m in enumerate(messages)])
    found = [int(m.group(1)) for m in _SLOT.finditer(rendered)]
    if sorted(found) != list(range(len(messages))):
        raise GeneratorError(
            f"the chat template of {model} does not place each message once; choose another model with {LLM_SETTING}"
        )
    pieces = [
        (str(messages[int(piece)]["content"]), True) if i % 2 else (piece, False)
        for i, piece in enumerate(_SLOT.split(rendered))
    ]
    return [(text, is_message) for text, is_message in pieces if text]


# The backends subclass Generator from this module, so they are imported when first asked
# for, not at the top: a module-level import both ways would run in a circle.
_BACKENDS = {
    "LlamaCppGenerator": "rag.llamacpp",
    "TransformersGenerator": "rag.hf",
    "OpenAIGenerator": "rag.openai_server",
}


def __getattr__(name: str):
    """The backend classes, importable from here: ``from rag.generate import OpenAIGenerator``."""
    if name in _BACKENDS:
        return getattr(importlib.import_module(_BACKENDS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_CACHE: dict[tuple, Generator] = {}
_CACHE_LOCK = threading.Lock()


def _build(spec: str, device, dtype, n_ctx, threads) -> Generator:
    from rag.hf import TransformersGenerator  # here, not at the top: see _BACKENDS
    from rag.llamacpp import LlamaCppGenerator
    from rag.openai_server import OpenAIGenerator

    if spec.startswith("openai:"):
        rest = spec.removeprefix("openai:")
        base_url, _, model = rest.partition("#")
        if not base_url.startswith(("http://", "https://")):
            raise GeneratorUnavailable(f"bad model spec '{spec}': expected openai:http://host:port/v1#model in {LLM_SETTING}")
        return OpenAIGenerator(base_url, model or None)
    if spec.startswith("hf:"):
        return TransformersGenerator(spec.removeprefix("hf:"), device=device, dtype=dtype)
    if spec in models.REGISTRY:
        model = models.REGISTRY[spec]
        if not models.model_path(model).is_file():
            models.locate_parts(model)  # fail now, not at the first question
        return LlamaCppGenerator(spec, n_ctx=n_ctx, threads=threads)
    if spec.lower().endswith(".gguf"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise models.ModelNotFound(f"GGUF file not found: {path} (check {LLM_SETTING})")
        return LlamaCppGenerator(path, n_ctx=n_ctx, threads=threads)
    return TransformersGenerator(spec, device=device, dtype=dtype)


def make_generator(
    spec: str = models.DEFAULT_MODEL,
    *,
    device: str | None = None,
    dtype: str | None = None,
    n_ctx: int = 4096,
    threads: int | None = None,
) -> Generator:
    """The generator for ``spec``, created once per process per set of arguments.

    spec: a packaged model name ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b") or a ``.gguf``
    path (llama.cpp); "openai:<base_url>#<model>" (HTTP, model optional); "hf:<id, dir or
    .gguf>" or any other id/dir (transformers). The model itself loads on ``load()`` or the
    first ``stream``; missing packages or files are reported here already.
    """
    spec = spec.strip()
    key = (spec, device, dtype, n_ctx, threads)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = _build(spec, device, dtype, n_ctx, threads)
            _CACHE[key].info["spec"] = spec
        return _CACHE[key]


def loaded_models() -> list[str]:
    """The specs of the generators in this process whose model is in memory."""
    with _CACHE_LOCK:
        return [key[0] for key, gen in _CACHE.items() if gen.loaded]


def release_generators(*keep: str) -> list[str]:
    """Forget every generator whose spec is not one of ``keep`` and free its model's memory.

    Returns the specs released. A generator still held elsewhere keeps working: it loads
    its model again on its next ``stream``.
    """
    kept = {spec.strip() for spec in keep}
    with _CACHE_LOCK:
        keys = [key for key in _CACHE if key[0] not in kept]
        released = [_CACHE.pop(key) for key in keys]
    for gen in released:
        unload = getattr(gen, "unload", None)
        if callable(unload):
            unload()
        log.info("released model %s", gen.info.get("spec"))
    return [key[0] for key in keys]
