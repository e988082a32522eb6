"""The transformers backend: any Hugging Face causal LM (hub id, local directory or GGUF file).

For models llama.cpp can't run, and for a GPU. torch and transformers are imported on
``load()``, so importing this module costs nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from rag import models
from rag.generate import (
    LLM_SETTING,
    Generator,
    GeneratorError,
    GeneratorUnavailable,
    StopFilter,
    import_backend_package,
    template_pieces,
)

log = logging.getLogger(__name__)


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
            torch = import_backend_package("torch", "torch")
            transformers = import_backend_package("transformers", "transformers")
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
        tokens: list[int] = []
        render = partial(tok.apply_chat_template, add_generation_prompt=True, tokenize=False)
        for text, is_message in template_pieces(render, messages, self._source):
            tokens += tok.encode(text, add_special_tokens=False, split_special_tokens=is_message)
        return tokens

    def stream(self, messages, *, max_tokens=256, temperature=0.0, stop=()):
        self.load()
        torch = import_backend_package("torch", "torch")
        transformers = import_backend_package("transformers", "transformers")
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
        cut = StopFilter(stop)
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
