"""Which answering models a user can pick, and what the last evaluation measured for each.

Owns the model menu: the packaged models whose part packages are installed, plus the one
``--llm`` names. Each comes with its typical first-token wait and its accuracy from the
newest full ``rag eval`` report on the test split for that model, run with the page's
answering settings, under ``reports/``; where there is none, nothing is made up ("not
measured"). Also decides whether a second model fits in memory beside the first, or the
first must be freed before loading.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rag import models

log = logging.getLogger(__name__)

# A loaded GGUF needs about its file size plus the context and scratch buffers.
_MEMORY_FACTOR = 1.3
_MEMORY_SPARE = 1024**3  # left for the embedder, the index and the page

# The settings that shape an answer besides the model: retrieval, the evidence, the prompt,
# the second try. A run with other values measured another assistant ("the 1.5B on 400
# characters"), not the model as the page runs it.
ANSWERING = (
    "embedder", "top_k", "candidates", "rrf_k", "dense_weight", "keyword_weight", "balance_kinds", "table_depth",
    "named_depth", "keyword_lead", "rerank_depth", "min_dense", "min_keyword_coverage", "min_dense_with_keywords", "passage_budget",
    "focus_chars", "evidence_chars", "evidence_passages", "question_first", "best_last", "fallback", "fallback_llm",
    "max_new_tokens", "temperature", "profile",
)


@dataclass(frozen=True)
class Measured:
    """What a ``rag eval`` run on the test split measured for one model."""

    first_token_s: float | None
    accuracy: float | None
    questions: int
    report: str  # the report's directory
    timestamp: str


@dataclass(frozen=True)
class ModelChoice:
    """One model a user can pick: its ``spec`` (what ``--llm`` takes) and measurements."""

    spec: str
    description: str
    measured: Measured | None = None
    size: int | None = None  # bytes of its weights, where known

    def label(self) -> str:
        """One line for the picker: name, typical first-word wait, test accuracy."""
        m = self.measured
        if m is None:
            numbers = "first word: not measured · test accuracy: not measured"
        else:
            wait = f"~{m.first_token_s:.1f} s" if m.first_token_s is not None else "not measured"
            accuracy = f"{m.accuracy:.0%} of {m.questions}" if m.accuracy is not None else "not measured"
            numbers = f"first word {wait} · test accuracy {accuracy} ({m.timestamp[:10]})"
        return f"{self.spec} — {self.description} · {numbers}"


def installed_models(extra: Iterable[str] = ()) -> list[str]:
    """Specs of the packaged models whose parts are installed, then ``extra`` (the ``--llm``)."""
    found = []
    for name, model in models.REGISTRY.items():
        try:
            models.locate_parts(model)
        except models.ModelNotFound:
            continue
        found.append(name)
    for spec in extra:
        if spec and spec not in found:
            found.append(spec)
    return found


def newest_test_run(reports_dir: Path | str, spec: str, like: Mapping[str, object] | None = None) -> Measured | None:
    """The newest full test-split evaluation of ``spec`` under ``reports_dir``, or None.

    A report counts when its ``meta.mode`` is "full", ``meta.split`` is "test" (not a
    ``--limit`` part of it), its model was asked for as ``spec``, it did not run with
    the ``fast`` setting (whose answers come from ``fast_llm``) and, given the settings in
    force as ``like``, it ran with their :data:`ANSWERING` values (a setting the report
    does not record is not held against it). Reports of a side-by-side run
    (``bench/frontier.py``) lie one folder deeper. Unreadable reports are skipped with a
    warning.
    """
    best: Measured | None = None
    folder = Path(reports_dir)
    for path in sorted([*folder.glob("*/report.json"), *folder.glob("*/*/report.json")]):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("skipping report %s: %s", path, exc)
            continue
        meta, totals = data.get("meta") or {}, data.get("totals") or {}
        model = meta.get("model") or {}
        if meta.get("mode") != "full" or meta.get("split") != "test" or model.get("llm") != spec:
            continue
        ran = meta.get("settings") or {}
        if ran.get("fast") or _answered_otherwise(_resolved(ran, spec), _resolved(like or {}, spec)):
            continue
        found = Measured(
            first_token_s=totals.get("first_token_s_p50"),
            accuracy=totals.get("accuracy"),
            questions=int(totals.get("scored") or 0),
            report=str(path.parent),
            timestamp=str(meta.get("timestamp") or ""),
        )
        if best is None or found.timestamp > best.timestamp:
            best = found
    return best


def _resolved(settings: Mapping[str, object], spec: str) -> Mapping[str, object]:
    """``settings`` with ``fallback_llm`` naming the model that answers again for ``spec``
    ("" for ``spec`` itself), so that "auto" and the model it stands for compare equal."""
    if not isinstance(settings.get("fallback_llm"), str):
        return settings
    return {**settings, "fallback_llm": models.answers_again(spec, settings["fallback_llm"])}


def _answered_otherwise(ran: Mapping[str, object], like: Mapping[str, object]) -> bool:
    """Whether a run's settings differ from ``like`` in an answering setting both record."""
    return any(key in ran and key in like and ran[key] != like[key] for key in ANSWERING)


def model_choices(current: str, reports_dir: Path | str = "reports",
                  like: Mapping[str, object] | None = None) -> list[ModelChoice]:
    """The picker's entries: the installed models and ``current``, each with its measurements
    (from runs with ``like``'s answering settings, see :func:`newest_test_run`)."""
    choices = []
    for spec in installed_models([current]):
        packaged = models.REGISTRY.get(spec)
        description = packaged.description if packaged else "named by --llm"
        choices.append(ModelChoice(spec, description, newest_test_run(reports_dir, spec, like), weights_size(spec)))
    return choices


def weights_size(spec: str) -> int | None:
    """Bytes of the model's weights: the packaged size or the GGUF file's; None if unknown."""
    if spec in models.REGISTRY:
        return models.REGISTRY[spec].size
    path = Path(spec)
    return path.stat().st_size if path.suffix == ".gguf" and path.is_file() else None


def available_memory() -> int | None:
    """Bytes of memory free for a new model (MemAvailable), or None where unknown."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return int(psutil.virtual_memory().available)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def fits_beside(specs: str | Iterable[str], *, available: int | None = None) -> bool:
    """Whether the models ``specs`` not yet in memory can be loaded while the models in
    memory stay there.

    Unknown sizes or unknown free memory answer False: then only the models asked for are kept.
    """
    from rag.generate import loaded_models

    wanted = [specs] if isinstance(specs, str) else list(specs)
    loaded = set(loaded_models())
    sizes = [weights_size(spec) for spec in wanted if spec not in loaded]
    free = available if available is not None else available_memory()
    if None in sizes or free is None:
        return False
    return sum(size * _MEMORY_FACTOR for size in sizes) + _MEMORY_SPARE <= free


def assistant_with_model(assistant, spec: str):
    """``assistant`` answering with the model ``spec``; the index is shared, not reloaded.

    The new assistant's models are ``spec`` and, with the default's second try, the model
    that answers again (:meth:`rag.answer.Assistant.model_specs`). Other models in memory
    are freed first unless those fit beside them, so only the models in use are kept unless
    memory allows more. They load on the assistant's ``load_model()``.
    """
    from rag.generate import release_generators

    switched = assistant.replaced(llm=spec)
    needed = switched.model_specs()
    if not fits_beside(needed):
        released = release_generators(*needed)
        log.info("freed %s to make room for %s", ", ".join(released) or "nothing", " and ".join(needed))
    return switched
