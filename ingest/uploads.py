"""Documents a user adds from the page: checking them, storing them, listing and removing them.

Owns the upload folder (``corpus/uploads`` unless configured otherwise). It lies inside
the corpus folder, so ``rag rebuild`` keeps what was uploaded. A file is accepted only
when it is of a supported type, not empty, not over the size limit, not a copy (by
content hash) of a document already there, and yields text; otherwise
:class:`UploadRejected` says why in one line and nothing is written. Stored names are
sanitised so that no name can leave the upload folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ingest.clean import clean_text
from ingest.documents import IngestError
from ingest.loaders import SUPPORTED_SUFFIXES, UnreadableFile, load_file

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# Uploaded names are cut to this many characters before the suffix.
_MAX_STEM = 80


class UploadRejected(IngestError):
    """An uploaded file was not added; the message is the one-line reason for the page."""


@dataclass(frozen=True)
class StoredUpload:
    """A file accepted into the upload folder: its stored name, path, size and hash."""

    name: str
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class UploadedDocument:
    """One file of the upload folder as the page lists it.

    ``title`` and ``chunks`` come from the index; both are ``None`` while the file
    is not indexed yet.
    """

    name: str
    size: int
    title: str | None
    chunks: int | None

    @property
    def indexed(self) -> bool:
        """Whether the index in use holds this file."""
        return self.chunks is not None


def safe_name(name: str) -> str:
    """A file name that stays in the upload folder: the last path part of ``name``,
    with only letters (Chinese kept), digits, ``-``, ``_`` and ``.``, no leading dot.

    Raises :class:`UploadRejected` when nothing usable is left.
    """
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", name))[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"[^\w\-]+", "-", stem).strip("-_.")[:_MAX_STEM].strip("-_.")
    suffix = re.sub(r"[^\w]+", "", suffix).lower()
    if not stem:
        raise UploadRejected(f"{name!r}: the file name has no usable characters; rename it and upload again")
    return f"{stem}.{suffix}" if suffix else stem


def check_upload(name: str, data: bytes, *, known_hashes: Mapping[str, str], max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The sha256 of an acceptable upload; raises :class:`UploadRejected` with the reason.

    ``known_hashes`` maps the sha256 of each document already there to its name, so a
    copy is refused by naming the original. The text check reads the file the way the
    index build will, so a file accepted here is one the build can use.
    """
    suffix = Path(safe_name(name)).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        allowed = ", ".join(SUPPORTED_SUFFIXES)
        raise UploadRejected(f"{name}: wrong type {suffix or '(no extension)'}; supported: {allowed}")
    if not data:
        raise UploadRejected(f"{name}: the file is empty")
    if len(data) > max_bytes:
        raise UploadRejected(f"{name}: too large ({_megabytes(len(data))}); the limit is {_megabytes(max_bytes)}")
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 in known_hashes:
        raise UploadRejected(f"{name}: the same content is already indexed as {known_hashes[sha256]}")
    _check_text(name, suffix, data)
    return sha256


def read_upload(path: Path, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of an uploaded file at ``path`` (shown as ``name``); a file over the limit
    is refused by its size, without reading it into memory."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UploadRejected(f"{name}: too large ({_megabytes(size)}); the limit is {_megabytes(max_bytes)}")
        return path.read_bytes()
    except OSError as exc:
        raise UploadRejected(f"{name}: unreadable: {exc.strerror or exc}") from None


def _check_text(name: str, suffix: str, data: bytes) -> None:
    """Raise :class:`UploadRejected` unless the file reads into some text."""
    # load_file reads a path, and the file is not accepted yet: read a private copy.
    with tempfile.TemporaryDirectory(prefix="rag-upload-") as tmp:
        probe = Path(tmp) / f"probe{suffix}"
        probe.write_bytes(data)
        try:
            raw = load_file(probe)
        except UnreadableFile as exc:
            reason = str(exc).replace(str(probe), "").lstrip(": ") or "cannot be read"
            raise UploadRejected(f"{name}: unreadable: {reason}") from None
    if not any(clean_text(page).strip() for page in raw.pages):
        what = "a PDF with no extractable text (a scan?)" if suffix == ".pdf" else "no text in the file"
        raise UploadRejected(f"{name}: {what}")


def store_upload(upload_dir: Path, name: str, data: bytes, sha256: str) -> StoredUpload:
    """Write an accepted upload into ``upload_dir`` under a sanitised, unused name.

    The file appears whole or not at all (written to a temporary file, then renamed), so
    a build running meanwhile never reads half a file.
    """
    upload_dir.mkdir(parents=True, exist_ok=True)
    target = _unused(upload_dir, safe_name(name))
    fd, tmp = tempfile.mkstemp(dir=upload_dir, prefix=".upload-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    logger.info("stored upload %s as %s", name, target)
    return StoredUpload(name=target.name, path=target, size=len(data), sha256=sha256)


def _unused(folder: Path, name: str) -> Path:
    """``folder / name``, or ``stem-2.ext``, ``stem-3.ext``… when that is taken."""
    candidate, stem, suffix, n = folder / name, Path(name).stem, Path(name).suffix, 2
    while candidate.exists():
        candidate, n = folder / f"{stem}-{n}{suffix}", n + 1
    return candidate


def upload_path(upload_dir: Path, name: str) -> Path:
    """The stored file called ``name``; raises :class:`UploadRejected` for any other path."""
    path = upload_dir / name
    if name != safe_name(name) or path.resolve().parent != upload_dir.resolve() or not path.is_file():
        raise UploadRejected(f"{name}: no such uploaded document")
    return path


def remove_upload(upload_dir: Path, name: str) -> None:
    """Delete the uploaded file ``name`` (the next index build drops its passages)."""
    upload_path(upload_dir, name).unlink()
    logger.info("removed upload %s", name)


def uploaded_files(upload_dir: Path) -> list[Path]:
    """The stored uploads, by name (temporary files of a write in progress excluded)."""
    if not upload_dir.is_dir():
        return []
    return sorted(
        p for p in upload_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SUPPORTED_SUFFIXES
    )


def known_hashes(upload_dir: Path, sources: Mapping[str, Mapping]) -> dict[str, str]:
    """sha256 -> name of every indexed source and every stored upload (indexed or not)."""
    known = {entry["sha256"]: Path(source).name for source, entry in sources.items() if entry.get("sha256")}
    for path in uploaded_files(upload_dir):
        known.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), path.name)
    return known


def describe_uploads(upload_dir: Path, sources: Mapping[str, Mapping], source_prefix: str) -> list[UploadedDocument]:
    """The stored uploads with their index title and chunk count where indexed.

    ``source_prefix`` is how the index names the upload folder (``corpus/uploads``).
    """
    listed = []
    for path in uploaded_files(upload_dir):
        entry = sources.get(f"{source_prefix}/{path.name}") or {}
        listed.append(UploadedDocument(path.name, path.stat().st_size, entry.get("title"), entry.get("chunks")))
    return listed


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 100 * 1024 else f"{size / 1024:.0f} KB"

