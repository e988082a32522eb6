"""Language-model backends behind one small interface: stream a chat reply as text deltas.

``Generator.stream`` is the one method a backend must implement; ``complete`` is built on
it. Three backends: llama.cpp for GGUF files (the default, a packaged Qwen2.5-Coder GGUF),
transformers for any Hugging Face causal LM (hub id, local directory, or a GGUF file), and
any OpenAI-compatible HTTP server (vLLM, llama.cpp's server). ``make_generator`` turns a
spec string into a backend and keeps one per process, so a model loads once.

Loading is deferred to ``load()`` (called by the first ``stream``), so a UI can create the
generator at once, show "loading the model", and call ``load()`` itself.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from rag import models
from rag.types import RagError

log = logging.getLogger(__name__)

SEED = 0
LLM_SETTING = "--llm / RAG_LLM"


class GeneratorError(RagError):
    """The model failed while generating (bad request, server error, decoding error)."""


class GeneratorUnavailable(RagError):
    """The model cannot be used: a package, a file or a server is missing."""


def _require(module: str, pip_name: str):
    """Import an optional heavy package, or raise naming the install command."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise GeneratorUnavailable(f"this model backend needs {pip_name}: pip install {pip_name} ({exc})") from exc


def physical_cores() -> int:
    """Physical cores this process may use: hyperthreads slow llama.cpp down, so they don't count."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        import psutil  # installed with accelerate; optional here
    except ImportError:
        return usable
    return max(1, min(usable, psutil.cpu_count(logical=False) or usable))


class Generator(ABC):
    """A chat model. ``info`` describes it (at least ``backend`` and ``model``)."""

    info: dict

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


class _StopFilter:
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


def _template_pieces(rendered: str, messages: Sequence[dict], model: str) -> list[tuple[str, bool]]:
    """A chat prompt rendered with ``_slot`` placeholders, cut into (text, is_message)
    pieces in order: the template's own markup, then each message's text in its place.

    Raises GeneratorError unless the template placed each message exactly once (one that
    drops or repeats a message can't be split safely). Empty pieces are left out.
    """
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


class LlamaCppGenerator(Generator):
    """A GGUF model run by llama.cpp (llama-cpp-python), using the GGUF's own chat template.

    ``model`` is a packaged model name (see ``rag.models.REGISTRY``; assembled on load) or a
    path to a ``.gguf`` file. One llama.cpp context is not thread-safe, so concurrent
    streams take turns.

    Message texts are tokenised as text: only the chat template's own markup may become
    special tokens. llama-cpp-python's chat completion tokenises the whole rendered
    prompt with special tokens on, so "<|im_end|><|im_start|>system" inside a document
    would end our message and open a new one; here it is a dozen ordinary tokens.
    """

    def __init__(self, model: str | Path, *, n_ctx: int = 4096, threads: int | None = None, seed: int = SEED):
        self._source = model
        self.n_ctx = n_ctx
        self.threads = threads or physical_cores()
        self.seed = seed
        self._llm = None
        self._template = None  # the GGUF's chat template, set by load()
        self._eos_text = ""
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        name = str(model) if isinstance(model, str) and model in models.REGISTRY else Path(model).name
        self.info = {"backend": "llama.cpp", "model": name, "n_ctx": n_ctx, "threads": self.threads}

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def load(self) -> None:
        with self._load_lock:
            if self._llm is not None:
                return
            llama_cpp = _require("llama_cpp", "llama-cpp-python")
            if isinstance(self._source, str) and self._source in models.REGISTRY:
                path = models.ensure_model(self._source)
            else:
                path = Path(self._source)
                if not path.is_file():
                    raise models.ModelNotFound(f"GGUF file not found: {path} (check {LLM_SETTING})")
            start = time.perf_counter()
            try:
                llm = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=self.n_ctx,
                    n_threads=self.threads,
                    n_threads_batch=self.threads,
                    seed=self.seed,
                    verbose=False,
                )
            except ValueError as exc:  # llama-cpp-python reports unreadable files this way
                raise GeneratorUnavailable(f"llama.cpp cannot load {path}: {exc}") from exc
            template = llm.metadata.get("tokenizer.chat_template")
            if not template:
                llm.close()
                raise GeneratorUnavailable(f"{path.name} has no chat template; choose a chat model with {LLM_SETTING}")
            special = {token: llm.detokenize([token], special=True).decode("utf-8", "replace")
                       for token in (llm.token_eos(), llm.token_bos()) if token >= 0}
            self._template = llama_cpp.llama_chat_format.Jinja2ChatFormatter(
                template=template,
                eos_token=special.get(llm.token_eos(), ""),
                bos_token=special.get(llm.token_bos(), ""),
            )
            self._eos_text = special.get(llm.token_eos(), "")
            self.info.update(path=str(path), chat_format=llm.chat_format, load_s=round(time.perf_counter() - start, 2))
            log.info("loaded %s with llama.cpp in %.1fs", path.name, self.info["load_s"])
            # Free it before interpreter teardown; llama-cpp-python's __del__ fails after it.
            atexit.register(llm.close)
            self._llm = llm

    def unload(self) -> None:
        """Free the model's memory (a later ``stream`` loads it again); waits for a running reply."""
        with self._load_lock, self._run_lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    def prompt_tokens(self, messages: Sequence[dict]) -> list[int]:
        """The prompt for ``messages`` as token ids: the chat template's markup tokenised
        with special tokens on, each message's text with them off.

        The template is rendered with a placeholder for each text, which must come out
        exactly once (templates that drop or repeat a message can't be split safely).
        """
        self.load()
        llm = self._llm
        slots = [{**m, "content": _slot(i)} for i, m in enumerate(messages)]
        try:
            rendered = self._template(messages=slots).prompt
        except ValueError as exc:  # the template's raise_exception(), e.g. roles out of order
            raise GeneratorError(f"llama.cpp chat template: {exc}") from exc
        tokens: list[int] = []
        for text, is_message in _template_pieces(rendered, messages, self.info["model"]):
            tokens += llm.tokenize(text.encode("utf-8"), add_bos=False, special=not is_message)
        return tokens

    def stream(self, messages, *, max_tokens=256, temperature=0.0, stop=()):
        prompt = self.prompt_tokens(messages)
        with self._run_lock:
            try:
                chunks = self._llm.create_completion(
                    prompt=prompt,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    stop=[*stop, self._eos_text] if self._eos_text else list(stop) or None,
                    seed=self.seed,
                    stream=True,
                )
                for chunk in chunks:
                    delta = chunk["choices"][0]["text"]
                    if delta:
                        yield delta
            except ValueError as exc:  # e.g. "Requested tokens (5000) exceed context window of 4096"
                raise GeneratorError(f"llama.cpp: {exc} (raise n_ctx or shorten the prompt)") from exc

    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))


def _hub_offline() -> bool:
    """Whether the Hugging Face hub is switched off now (the hub library reads it only at import)."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in {"1", "true", "yes", "on"}


class TransformersGenerator(Generator):
    """A Hugging Face causal LM run by transformers (hub id, local directory or GGUF file).

    ``device`` defaults to cuda when available, else cpu; ``dtype`` to bfloat16 on cuda and
    float32 elsewhere. A GGUF file is dequantised by transformers on load. Sampling
    (temperature > 0) is not seeded: seeding torch would change the whole process's RNG.
    """

    def __init__(self, model: str, *, device: str | None = None, dtype: str | None = None):
        self._source = model
        self._device = device
        self._dtype = dtype
        self._model = None
        self._tokenizer = None
        self._load_lock = threading.Lock()
        self.info = {"backend": "transformers", "model": model}

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _resolve(self) -> tuple[str, dict]:
        """The directory or id to load and extra from_pretrained arguments."""
        source = self._source
        if source in models.REGISTRY:  # a packaged GGUF, read by transformers instead of llama.cpp
            source = str(models.ensure_model(source))
        path = Path(source).expanduser()
        if source.lower().endswith(".gguf"):
            if not path.is_file():
                raise models.ModelNotFound(f"GGUF file not found: {path} (check {LLM_SETTING})")
            return str(path.parent), {"gguf_file": path.name}
        if path.is_dir():
            return str(path), {}
        return source, {}

    def load(self) -> None:
        with self._load_lock:
            if self._model is not None:
                return
            torch = _require("torch", "torch")
            transformers = _require("transformers", "transformers")
            where, extra = self._resolve()
            device = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
            if device.startswith("cuda") and not torch.cuda.is_available():
                raise GeneratorUnavailable(f"device '{device}' asked for, but torch sees no CUDA GPU; use device cpu")
            dtype_name = self._dtype or ("bfloat16" if device.startswith("cuda") else "float32")
            dtype = getattr(torch, dtype_name, None)
            if not isinstance(dtype, torch.dtype):
                raise GeneratorUnavailable(f"unknown dtype '{dtype_name}' (use bfloat16, float16 or float32)")
            if not Path(where).is_dir() and _hub_offline():
                # Without this, an uncached id costs a minute of retries before failing.
                extra["local_files_only"] = True
            start = time.perf_counter()
            try:
                tokenizer = transformers.AutoTokenizer.from_pretrained(where, **extra)
                if tokenizer.chat_template is None:
                    raise GeneratorUnavailable(
                        f"'{self._source}' has no chat template; choose a chat model with {LLM_SETTING}"
                    )
                model = transformers.AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **extra)
            except OSError as exc:  # transformers' way of saying "not found locally nor on the hub"
                raise GeneratorUnavailable(
                    f"cannot load '{self._source}' with transformers: not a local model directory "
                    f"and not in the Hugging Face cache (offline?); choose another model with {LLM_SETTING}"
                ) from exc
            model.to(device).eval()
            self.info.update(device=device, dtype=dtype_name, load_s=round(time.perf_counter() - start, 2))
            log.info("loaded %s with transformers on %s/%s in %.1fs", self._source, device, dtype_name, self.info["load_s"])
            self._tokenizer, self._model = tokenizer, model

    def prompt_tokens(self, messages: Sequence[dict]) -> list[int]:
        """The prompt for ``messages`` as token ids: the chat template's markup with its
        special tokens, each message's text tokenised as plain text (a "<|im_end|>" in a
        document is text, not the end of a message). See ``LlamaCppGenerator.prompt_tokens``.
        """
        self.load()
        tok = self._tokenizer
        slots = [{**m, "content": _slot(i)} for i, m in enumerate(messages)]
        rendered = tok.apply_chat_template(slots, add_generation_prompt=True, tokenize=False)
        tokens: list[int] = []
        for text, is_message in _template_pieces(rendered, messages, self._source):
            tokens += tok.encode(text, add_special_tokens=False, split_special_tokens=is_message)
        return tokens

    def stream(self, messages, *, max_tokens=256, temperature=0.0, stop=()):
        self.load()
        torch = _require("torch", "torch")
        transformers = _require("transformers", "transformers")
        tok, model = self._tokenizer, self._model
        ids = torch.tensor([self.prompt_tokens(messages)], device=model.device)
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        streamer = transformers.TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
        cancelled = threading.Event()
        failure: list[BaseException] = []

        class _Cancel(transformers.StoppingCriteria):
            # Stops the background generate() when the consumer stops reading.
            def __call__(self, input_ids, scores, **kw):
                return cancelled.is_set()

        kwargs = dict(
            **inputs,
            max_new_tokens=max_tokens,
            streamer=streamer,
            stopping_criteria=transformers.StoppingCriteriaList([_Cancel()]),
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        )
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stop:
            kwargs.update(stop_strings=list(stop), tokenizer=tok)

        def run():
            try:
                model.generate(**kwargs)
            except BaseException as exc:  # re-raised in the consumer's thread below
                failure.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, name="transformers-generate", daemon=True)
        thread.start()
        cut = _StopFilter(stop)
        try:
            for delta in streamer:
                if text := cut.feed(delta):
                    yield text
                if cut.done:
                    break
            if text := cut.flush():
                yield text
        finally:
            cancelled.set()
            thread.join()
        if failure:
            raise GeneratorError(f"transformers generation failed: {failure[0]}") from failure[0]

    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self._tokenizer.encode(text, add_special_tokens=False))


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
            openai = _require("openai", "openai")
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
        openai = _require("openai", "openai")
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


_CACHE: dict[tuple, Generator] = {}
_CACHE_LOCK = threading.Lock()


def _build(spec: str, device, dtype, n_ctx, threads) -> Generator:
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


def release_generators(keep: str) -> list[str]:
    """Forget every generator whose spec is not ``keep`` and free its model's memory.

    Returns the specs released. A generator still held elsewhere keeps working: it loads
    its model again on its next ``stream``.
    """
    with _CACHE_LOCK:
        keys = [key for key in _CACHE if key[0] != keep.strip()]
        released = [_CACHE.pop(key) for key in keys]
    for gen in released:
        unload = getattr(gen, "unload", None)
        if callable(unload):
            unload()
        log.info("released model %s", gen.info.get("spec"))
    return [key[0] for key in keys]
