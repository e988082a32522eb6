"""Creating the assistant in a background thread, so the page serves (and says
"loading the model…") while it loads; swapping in a new index or model later."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ingest.documents import IngestError
from rag.types import RagError
from ui.chat import StreamingAssistant, one_line
from ui.errors import UIError

log = logging.getLogger(__name__)

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

    ``source`` is an assistant (used as is) or a zero-argument factory (the CLI
    passes one that builds the ``Assistant`` from the settings). An assistant with a ``load_model()``
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
                self._run_in_background()
        return self

    def _run_in_background(self) -> None:
        # The caller holds the lock.
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._load, name="assistant-loader", daemon=True)
        self._thread.start()

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
                self._state = LoadState("loading_index", "loading the index… / 正在加载索引…")
                self._run_in_background()
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
            self._state = LoadState("loading_model", message)
            self._run_in_background()

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

