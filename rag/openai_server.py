"""The OpenAI-compatible backend: a model served over HTTP (vLLM, llama.cpp's server).

For models too large for this process. The openai package is imported on ``load()``, so
importing this module costs nothing.
"""

from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit

from rag.generate import (
    LLM_SETTING,
    SEED,
    Generator,
    GeneratorError,
    GeneratorUnavailable,
    import_backend_package,
)


class OpenAIGenerator(Generator):
    """A model behind an OpenAI-compatible chat-completions server (vLLM, llama.cpp server).

    ``base_url`` is the API root (``http://host:port/v1``; ``/v1`` is added when the URL has
    no path). ``model`` defaults to the first model the server lists. The API key comes
    from $OPENAI_API_KEY (local servers accept any).
    """

    def __init__(self, base_url: str, model: str | None = None, *, timeout: float = 60.0):
        if not urlsplit(base_url).path.strip("/"):
            base_url = base_url.rstrip("/") + "/v1"
        self.base_url = base_url
        self.timeout = timeout
        self._model = model
        self._client = None
        self._load_lock = threading.Lock()
        self._tokenize_url: str | None = None
        self.info = {"backend": "openai", "model": model, "base_url": base_url}

    @property
    def loaded(self) -> bool:
        return self._client is not None and self._model is not None

    def _unreachable(self, exc: Exception) -> GeneratorUnavailable:
        return GeneratorUnavailable(
            f"cannot reach the model server at {self.base_url} ({type(exc).__name__}); "
            f"start it or choose another model with {LLM_SETTING}"
        )

    def load(self) -> None:
        with self._load_lock:
            if self.loaded:
                return
            openai = import_backend_package("openai", "openai")
            client = self._client or openai.OpenAI(
                base_url=self.base_url,
                api_key=os.environ.get("OPENAI_API_KEY") or "none",
                timeout=self.timeout,
                max_retries=1,
            )
            if self._model is None:
                try:
                    listed = [m.id for m in client.models.list()]
                except openai.APIConnectionError as exc:
                    raise self._unreachable(exc) from exc
                except openai.APIStatusError as exc:
                    raise GeneratorUnavailable(
                        f"model server at {self.base_url} refused to list models (HTTP {exc.status_code}); "
                        f"name the model in {LLM_SETTING} as openai:<url>#<model>"
                    ) from exc
                if not listed:
                    raise GeneratorUnavailable(f"model server at {self.base_url} serves no model")
                self._model = listed[0]
                self.info["model"] = self._model
            self._client = client

    def stream(self, messages, *, max_tokens=256, temperature=0.0, stop=()):
        self.load()
        openai = import_backend_package("openai", "openai")
        try:
            response = self._client.chat.completions.create(
                model=self._model,
                messages=list(messages),
                max_tokens=max_tokens,
                temperature=temperature,
                stop=list(stop) or None,
                seed=SEED,
                stream=True,
            )
            for chunk in response:
                if chunk.choices and (delta := chunk.choices[0].delta.content):
                    yield delta
        except openai.APIConnectionError as exc:
            raise self._unreachable(exc) from exc
        except openai.APIStatusError as exc:
            raise GeneratorError(f"model server at {self.base_url} answered HTTP {exc.status_code}: {exc.message}") from exc

    def count_tokens(self, text: str) -> int:
        """Exact count from the server's tokenize endpoint when it has one, else an estimate.

        llama-cpp-python serves /extras/tokenize, vLLM and llama.cpp's server /tokenize;
        the estimate (one token per CJK character, one per 3 other bytes) errs high.
        """
        self.load()
        import httpx  # installed with openai

        root = self.base_url.rstrip("/").removesuffix("/v1")
        candidates = [self._tokenize_url] if self._tokenize_url else [f"{root}/extras/tokenize", f"{root}/tokenize"]
        body = {"input": text, "content": text, "prompt": text, "model": self._model}
        for url in candidates:
            try:
                reply = httpx.post(url, json=body, timeout=self.timeout)
            except httpx.HTTPError as exc:
                raise self._unreachable(exc) from exc
            if reply.status_code == 200 and isinstance(reply.json().get("tokens"), list):
                self._tokenize_url = url
                return len(reply.json()["tokens"])
        cjk = sum(1 for ch in text if "\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff")
        rest = len(text.encode("utf-8")) - 3 * cjk
        return cjk + -(-rest // 3)
