"""The llama.cpp backend: GGUF files run in this process by llama-cpp-python.

The default backend: the packaged models (``rag.models``) are GGUFs. llama_cpp itself is
imported on ``load()``, so importing this module costs nothing.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from rag import models
from rag.generate import (
    LLM_SETTING,
    SEED,
    Generator,
    GeneratorError,
    GeneratorUnavailable,
    import_backend_package,
    template_pieces,
)

log = logging.getLogger(__name__)

# llama.cpp's fused attention reads prompts faster on a CPU too: 1.11 to 1.15 times the
# prompt tokens/s for the 0.5B and 1.02 to 1.06 for the 1.5B on 2 cores (two machines), and
# the first token at 0.88 (dev) and 0.89 (test) times the wait per question, answers inside
# the intervals (docs/quality.md; bench/flash_attention.py).
FLASH_ATTENTION = True

# ggml's AMX kernels (Intel Xeon from Sapphire Rapids on, in a build compiled there with
# -march=native, as pip compiles llama-cpp-python) crash the packaged Q4_K_M GGUFs with a
# segmentation fault on their first prompt (ggml-org/llama.cpp#20824; this project's Xeon,
# stop 35). Such a build loads weights as they are in the file: without llama.cpp's extra
# buffer types, which exist to repack weights for those kernels. There the 0.5B read 210
# prompt tokens/s and the 1.5B 139 on 2 cores (README, Models; bench/generation.py).
_REPACK_LOCK = threading.Lock()


def repacks_for_amx(llama_cpp) -> bool:
    """Whether this llama.cpp build would repack weights for its AMX kernels."""
    return b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()


@contextmanager
def safe_load(llama_cpp) -> Iterator[bool]:
    """Models loaded inside run on this build: where it has AMX kernels, they keep their
    weights as stored, without llama.cpp's extra buffer types (its weight repacking).
    Yields whether they do. llama-cpp-python's ``Llama`` takes no argument for it, so its
    default model parameters are swapped for the time of the load."""
    if not repacks_for_amx(llama_cpp):
        yield False
        return
    module = sys.modules[llama_cpp.__name__ + ".llama_cpp"]
    with _REPACK_LOCK:
        default = module.llama_model_default_params

        def as_stored():
            params = default()
            params.use_extra_bufts = False
            return params

        module.llama_model_default_params = as_stored
        try:
            yield True
        finally:
            module.llama_model_default_params = default


def physical_cores() -> int:
    """Physical cores this process may use: hyperthreads slow llama.cpp down, so they don't count."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        import psutil  # installed with accelerate; optional here
    except ImportError:
        return usable
    return max(1, min(usable, psutil.cpu_count(logical=False) or usable))


def quantize_gguf(source: Path, dest: Path, file_type: str, *, threads: int | None = None) -> None:
    """Write ``source`` re-quantised to llama.cpp's ``file_type`` (such as "Q4_0") at ``dest``,
    with llama.cpp's own quantiser (what its ``llama-quantize`` tool runs)."""
    llama_cpp = import_backend_package("llama_cpp", "llama-cpp-python")
    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{file_type.upper()}", None)
    if ftype is None:
        raise GeneratorError(f"llama.cpp has no file type {file_type!r}; use one such as Q4_0 or Q8_0")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True  # the packaged source is already quantised
    params.nthread = threads or physical_cores()
    if llama_cpp.llama_model_quantize(str(source).encode(), str(dest).encode(), ctypes.byref(params)) != 0:
        raise GeneratorError(
            f"llama.cpp could not re-quantise {source.name} to {file_type} (its log above says why); "
            f"nothing was written: check free disk space in {dest.parent}, or use the shipped model"
        )


class LlamaCppGenerator(Generator):
    """A GGUF model run by llama.cpp (llama-cpp-python), using the GGUF's own chat template.

    ``model`` is a packaged model name (see ``rag.models.REGISTRY``; assembled on load) or a
    path to a ``.gguf`` file. One llama.cpp context is not thread-safe, so concurrent
    streams take turns.

    Message texts are tokenised as text: only the chat template's own markup may become
    special tokens. llama-cpp-python's chat completion tokenises the whole rendered
    prompt with special tokens on, so "<|im_end|><|im_start|>system" inside a document
    would end our message and open a new one; here it is a dozen ordinary tokens.

    A reply depends on its prompt alone, not on what was asked before. llama.cpp reads a
    prompt from where it parts from the last one, and the numbers it computes differ in
    the last bits with where that split falls: on 30 dev questions asked in one order and
    then in the reverse, 2 greedy replies differed. So every prompt is read from the same
    point, the end of its fixed part (everything before the last message's text: the
    instructions), and that part is computed on its own once and then kept while prompts
    share it.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        n_ctx: int = 4096,
        threads: int | None = None,
        seed: int = SEED,
        flash_attn: bool = FLASH_ATTENTION,
    ):
        self._source = model
        self.flash_attn = flash_attn
        self.n_ctx = n_ctx
        self.threads = threads or physical_cores()
        self.seed = seed
        self._llm = None
        self._template = None  # the GGUF's chat template, set by load()
        self._eos_text = ""
        self._held: list[int] | None = None  # the fixed part llama.cpp holds, computed alone
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        name = str(model) if isinstance(model, str) and model in models.REGISTRY else Path(model).name
        self.info = {
            "backend": "llama.cpp", "model": name, "n_ctx": n_ctx, "threads": self.threads, "flash_attn": flash_attn,
        }

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def load(self) -> None:
        with self._load_lock:
            if self._llm is not None:
                return
            llama_cpp = import_backend_package("llama_cpp", "llama-cpp-python")
            if isinstance(self._source, str) and self._source in models.REGISTRY:
                path = models.ensure_model(self._source)
            else:
                path = Path(self._source)
                if not path.is_file():
                    raise models.ModelNotFound(f"GGUF file not found: {path} (check {LLM_SETTING})")
            start = time.perf_counter()
            try:
                with safe_load(llama_cpp) as stored:
                    llm = llama_cpp.Llama(
                        model_path=str(path),
                        n_ctx=self.n_ctx,
                        n_threads=self.threads,
                        n_threads_batch=self.threads,
                        flash_attn=self.flash_attn,
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
            self.info.update(path=str(path), chat_format=llm.chat_format, load_s=round(time.perf_counter() - start, 2),
                             weights_as_stored=stored)
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
                self._held = None

    def prompt_tokens(self, messages: Sequence[dict]) -> list[int]:
        """The prompt for ``messages`` as token ids: the chat template's markup tokenised
        with special tokens on, each message's text with them off.

        The template is rendered with a placeholder for each text, which must come out
        exactly once (templates that drop or repeat a message can't be split safely).
        """
        return self._prompt(messages)[0]

    def _prompt(self, messages: Sequence[dict]) -> tuple[list[int], int]:
        """:meth:`prompt_tokens`, and how many of them come before the last message's text."""
        self.load()
        llm = self._llm
        tokens: list[int] = []
        pieces = template_pieces(self._render, messages, self.info["model"])
        last = max((i for i, (_, is_message) in enumerate(pieces) if is_message), default=len(pieces))
        fixed = 0
        for i, (text, is_message) in enumerate(pieces):
            if i == last:
                fixed = len(tokens)
            tokens += llm.tokenize(text.encode("utf-8"), add_bos=False, special=not is_message)
        return tokens, fixed

    def _render(self, messages: list[dict]) -> str:
        try:
            return self._template(messages=messages).prompt
        except ValueError as exc:  # the template's raise_exception(), e.g. roles out of order
            raise GeneratorError(f"llama.cpp chat template: {exc}") from exc

    def stream(self, messages, *, max_tokens=256, temperature=0.0, stop=()):
        prompt, fixed = self._prompt(messages)
        with self._run_lock:
            self.last_prompt = (len(prompt), self._start_from(prompt[:fixed]))
            probs: list[float] = []
            self.last_token_probs = probs  # filled as the reply is written
            try:
                chunks = self._llm.create_completion(
                    prompt=prompt,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    stop=[*stop, self._eos_text] if self._eos_text else list(stop) or None,
                    seed=self.seed,
                    stream=True,
                    logits_processor=[_Recorder(probs)],
                )
                for chunk in chunks:
                    delta = chunk["choices"][0]["text"]
                    if delta:
                        yield delta
            except ValueError as exc:  # e.g. "Requested tokens (5000) exceed context window of 4096"
                raise GeneratorError(f"llama.cpp: {exc} (raise n_ctx or shorten the prompt)") from exc
            finally:
                self.last_token_probs = tuple(probs)

    def _start_from(self, fixed: list[int]) -> int:
        """Leave llama.cpp holding ``fixed`` alone, computed on its own; return how many of
        its tokens were kept from earlier calls (all or none).

        llama-cpp-python then reads the prompt from there: it keeps the longest common
        prefix of the tokens it holds and the prompt, and reads the rest.
        """
        llm = self._llm
        if self._held == fixed and llm.n_tokens >= len(fixed):
            llm.n_tokens = len(fixed)
            return len(fixed)
        self._held = None
        llm.reset()
        if fixed:
            llm.eval(fixed)
        self._held = fixed
        return 0

    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))


class _Recorder:
    """A llama.cpp logits processor that leaves the logits as they are and appends to
    ``probs`` the probability of the most likely next token: with greedy decoding, the
    token the model writes. (llama.cpp keeps no logits for a reply's tokens unless every
    prompt token's are kept too, which would double the cost of reading a prompt.)"""

    def __init__(self, probs: list[float]):
        self.probs = probs

    def __call__(self, input_ids, logits):
        # exp in float32 (0.6 ms over Qwen's 151,936 logits, against 1.8 ms in float64; a
        # token takes about 45 ms to write on 2 cores), summed in float64.
        self.probs.append(1.0 / float(np.exp(logits - logits.max()).sum(dtype=np.float64)))
        return logits
