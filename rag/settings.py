"""The one settings object: defaults -> config file -> environment -> command-line flags.

``load_settings`` also returns where each value came from, so ``rag config`` can show a
user what is in force and why.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from rag.types import RagError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ENV_PREFIX = "RAG_"
CONFIG_ENV = "RAG_CONFIG"
DEFAULT_CONFIG_FILE = "rag.toml"


class SettingsError(RagError):
    """A config file, environment variable or flag holds a value that can't be used."""


@dataclass(frozen=True)
class Settings:
    """Everything a user can tune. Paths are relative to the working directory."""

    # Where things live.
    corpus_dir: str = "corpus"
    index_dir: str = "data/index"
    papers_cache: str = "data/papers"
    papers_dirs: tuple[str, ...] = ()
    questions: str = "corpus/questions.jsonl"
    # Ingestion. The embedder is only read at build time: queries use the index's own.
    embedder: str = "use-m3"
    chunk_size: int = 500
    chunk_overlap: int = 80
    # Retrieval.
    top_k: int = 5
    candidates: int = 30
    # 10 put more answers in the dev top 5 (0.73 -> 0.80, paired +9/-1) but the 0.5B
    # answered no more right and the floor let 3 more unanswerable questions through: 60
    # stays (docs/quality.md, Retrieval). The reranker keeps its own constant.
    rrf_k: int = 60
    dense_weight: float = 1.0
    keyword_weight: float = 1.5
    balance_kinds: int = 1  # rank articles and papers separately before fusion
    # A table among BM25's first table_depth passages keeps that rank on the dense side too
    # (its numbers mean nothing to the embedder); 0 switches this off (docs/quality.md, Retrieval).
    table_depth: int = 5
    # In a document the question names, BM25's first named_depth passages count as ranked
    # there by every ranking; 0 switches this off (docs/quality.md, Retrieval).
    named_depth: int = 2
    # >0: BM25's first passage, when it scores keyword_lead times its second or more, counts
    # as ranked first by both rankers. 1.2 put two more dev answers in the top 5 (0.862 ->
    # 0.879, none out) but the 0.5B answered none more right (0.457 -> 0.431): off
    # (docs/quality.md, Retrieval).
    keyword_lead: float = 0.0
    # >0: the top rerank_depth passages reranked by their best sentence. On dev it put
    # more answers in the top 5 (0.73 -> 0.80) but the 0.5B answered no more right (0.30
    # against 0.34) and refused fewer unanswerable questions (0.59 against 0.77): off
    # (docs/quality.md, Retrieval).
    rerank_depth: int = 0
    min_dense: float = 0.28  # chosen with rag eval: no false refusals on the question set
    min_keyword_coverage: float = 0.45
    # Retuned for routing, tables and the glossary: keyword matches alone let two dev
    # near-misses through; this bar refuses them (dev unanswerables refused 8/27, was 7).
    min_dense_with_keywords: float = 0.15
    # Generation.
    # The 1.5B answers more right but waits 1.6 to 2.4 times as long for
    # the first word on 2 cores (docs/quality.md): the 0.5B stays the default, as shipped.
    # Its Q4_0 copy waits 0.72 times as long but answered 13 of 24 unanswerable test
    # questions it should have refused, against 7 (docs/quality.md).
    llm: str = "qwen2.5-coder-0.5b"
    device: str = "auto"
    dtype: str = "auto"
    n_ctx: int = 4096
    threads: int = 0  # 0: one per physical core
    passage_budget: int = 800  # tokens of passages in the prompt
    focus_chars: int = 240  # each passage cut to its best sentences within this many characters (0: whole)
    evidence_chars: int = 0  # >0: the best sentences across evidence_passages passages, this many characters in all
    evidence_passages: int = 10
    question_first: bool = False  # also state the question before the passages (it always follows them)
    best_last: bool = False  # the best passage last, next to the question (packing still picks best-first)
    fast: bool = False  # answer with fast_llm from fast_evidence_chars, for a shorter wait
    fast_llm: str = ""  # "": the llm itself
    # Chosen on dev among 400/450/500 characters, each answered in turn with the default
    # in one run: the only one at no more than half the default's first-token wait (0.48
    # times; 450: 0.51, 500: 0.54), as many answers right as 450 and more than 500, more
    # unanswerable questions refused than either (docs/quality.md).
    fast_evidence_chars: int = 400
    # When the answer check refuses an answer as unsupported (nothing it says is in its
    # passages) and nothing was shown yet, ask once more from the fast evidence, by
    # fallback_llm ("": the llm itself; "auto": the packaged 1.5B after the packaged 0.5B,
    # else the llm itself, see rag.models.second_model). Dev, 116 answerable: +3 right, -0;
    # 7 fewer false refusals; unanswerable refused the same; first shown p50 the same. Test,
    # looked at once: +4 / -0, 2 more of 24 unanswerable answered, first shown p50 1.16x.
    # The 1.5B as the second model, dev 240 (stop 49): +6 / -0 more, unanswerable refused
    # the same, the same first-token wait (docs/quality.md). Another model (not the llm
    # itself) also answers again after a decline: dev +7 / -0 more, every re-asked
    # unanswerable question refused again (stop 54).
    fallback: bool = True
    fallback_llm: str = "auto"
    max_new_tokens: int = 256
    temperature: float = 0.0
    max_question_chars: int = 500
    # Model profile (rag/profiles.py): "auto" picks "small" for the packaged GGUF models
    # and "default" for any other model; "small" or "default" forces one.
    profile: str = "auto"
    # Web page.
    host: str = "127.0.0.1"
    port: int = 7860
    uploads: int = 1  # 0: the page offers no upload (a file can still be put in the corpus folder)
    upload_folder: str = "uploads"  # inside corpus_dir, so `rag rebuild` keeps the uploads
    upload_max_mb: int = 20
    feedback_file: str = "data/feedback.jsonl"
    reports_dir: str = "reports"  # where `rag eval` writes; the model picker reads it

    def replace(self, **changes: Any) -> "Settings":
        """Return a copy with ``changes`` applied (values are not re-validated)."""
        return dataclasses.replace(self, **changes)


def _coerce(name: str, kind: type | str, value: Any) -> Any:
    """Convert a config/env/flag value to the field's type, or raise SettingsError."""
    kind_name = kind if isinstance(kind, str) else kind.__name__
    try:
        if kind_name == "int":
            return int(value)
        if kind_name == "float":
            return float(value)
        if kind_name == "bool":
            return _boolean(value)
        if kind_name.startswith("tuple"):
            if isinstance(value, str):
                return tuple(p for p in value.split(os.pathsep) if p)
            return tuple(str(v) for v in value)
        return str(value)
    except (TypeError, ValueError):
        raise SettingsError(f"setting {name}={value!r} is not a valid {kind_name}") from None


_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off", ""})


def _boolean(value: Any) -> bool:
    """A switch from TOML (true), the environment ("1", "yes", "off") or a flag (True)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ValueError(value)


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Settings, dict[str, str]]:
    """Build the settings in force and a map of field name -> where its value came from.

    Order (later wins): defaults, the config file (``$RAG_CONFIG`` or ``./rag.toml``),
    ``RAG_<NAME>`` environment variables, then ``overrides`` (command-line flags; ``None``
    values are ignored).
    """
    environ = os.environ if environ is None else environ
    types = {f.name: f.type for f in fields(Settings)}
    values: dict[str, Any] = {}
    origin = {name: "default" for name in types}

    path = Path(config_file or environ.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path}: not valid TOML ({exc}); fix or remove the file") from None
        for key, value in data.items():
            if key not in types:
                raise SettingsError(f"{path}: unknown setting {key!r}; `rag config` lists the valid ones")
            values[key] = _coerce(key, types[key], value)
            origin[key] = f"config file {path}"
    elif config_file is not None or CONFIG_ENV in environ:
        raise SettingsError(f"config file {path} does not exist")

    for name, kind in types.items():
        env_name = ENV_PREFIX + name.upper()
        if env_name in environ:
            values[name] = _coerce(env_name, kind, environ[env_name])
            origin[name] = f"environment {env_name}"

    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name not in types:
            raise SettingsError(f"unknown setting {name!r}")
        values[name] = _coerce(name, types[name], value)
        origin[name] = "command line"

    settings = Settings(**values)
    _validate(settings)
    return settings, origin


def _validate(s: Settings) -> None:
    problems = []
    if s.top_k < 1:
        problems.append("top_k must be at least 1")
    if s.candidates < s.top_k:
        problems.append("candidates must be at least top_k")
    if s.table_depth < 0:
        problems.append("table_depth must be 0 (off) or more")
    if s.named_depth < 0:
        problems.append("named_depth must be 0 (off) or more")
    if s.keyword_lead != 0 and s.keyword_lead < 1:
        problems.append("keyword_lead must be 0 (off) or at least 1")
    if s.rerank_depth and s.rerank_depth < s.top_k:
        problems.append("rerank_depth must be 0 (off) or at least top_k")
    if s.chunk_size < 50 or not 0 <= s.chunk_overlap < s.chunk_size:
        problems.append("chunk_size must be >= 50 and 0 <= chunk_overlap < chunk_size")
    if s.passage_budget < 50:
        problems.append("passage_budget must be at least 50 tokens")
    if s.focus_chars < 0 or s.evidence_chars < 0:
        problems.append("focus_chars and evidence_chars must be 0 (off) or more")
    if s.fast_evidence_chars < 1:
        problems.append("fast_evidence_chars must be at least 1")
    if s.evidence_passages < 1:
        problems.append("evidence_passages must be at least 1")
    if s.max_question_chars < 10:
        problems.append("max_question_chars must be at least 10")
    if s.profile not in ("auto", "small", "default"):
        problems.append("profile must be auto, small or default")
    if s.upload_max_mb < 1:
        problems.append("upload_max_mb must be at least 1")
    if problems:
        raise SettingsError("; ".join(problems))


def describe(settings: Settings, origin: Mapping[str, str]) -> str:
    """Render the settings in force, one per line, with where each came from."""
    width = max(len(f.name) for f in fields(Settings))
    lines = []
    for f in fields(Settings):
        value = getattr(settings, f.name)
        shown = os.pathsep.join(value) if isinstance(value, tuple) else value
        lines.append(f"{f.name:<{width}}  {shown!s:<28}  ({origin.get(f.name, 'default')})")
    return "\n".join(lines)


def paper_dirs(settings: Settings) -> list[Path]:
    """Directories whose PDFs go into the index: the user's and the papers cache."""
    dirs = [Path(d) for d in settings.papers_dirs]
    cache = Path(settings.papers_cache)
    if cache.is_dir():
        dirs.append(cache)
    return dirs
