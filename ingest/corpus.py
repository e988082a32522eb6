"""The corpus folder: its manifest, and turning raw files into cleaned documents.

Owns ``corpus/manifest.toml`` (its format is documented at the top of that file) and
:func:`make_document`, the one place where raw page texts become a :class:`Document`
with cleaned text and page spans. Files in the corpus folder that the manifest does not
list are loaded too, so a user can drop a file in and rebuild.
"""

from __future__ import annotations

import logging
import re
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from ingest.clean import clean_text, remove_running_lines
from ingest.documents import Document, IngestError, LoadResult, Page, SkippedFile
from ingest.loaders import SUPPORTED_SUFFIXES, RawDocument, UnreadableFile, load_file
from ingest.text import detect_language

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.toml"
_PDF_EXTRACTORS = ("pypdf", "pdfminer")
# Why a file that reads fine but says nothing is skipped: a document of no chunks can
# never be found, and the build summary would count it as indexed.
NO_TEXT = "no text (the file is empty, or nothing is left once markup and boilerplate are removed)"


class ManifestError(IngestError):
    """corpus/manifest.toml cannot be used as it is; the message says where and why."""


class EmptyCorpus(IngestError):
    """The corpus folder holds no document that could be loaded."""


def make_document(
    raw: RawDocument,
    *,
    doc_id: str,
    title: str,
    source: str,
    lang: str,
    kind: str,
    url: str | None = None,
    arxiv_id: str | None = None,
    authors: Sequence[str] = (),
    origin: str | None = None,
) -> Document:
    """Clean each page of ``raw`` and join them into one :class:`Document`.

    Pages are joined with a blank line; each gets a :class:`Page` span (1-based page
    numbers for PDFs, ``None`` for single-page text files). For PDFs, running headers,
    footers and bare page numbers are removed as well (see
    :func:`ingest.clean.remove_running_lines`).
    """
    is_pdf = raw.extractor in _PDF_EXTRACTORS
    cleaned = [clean_text(page) for page in raw.pages]
    if is_pdf:
        cleaned = remove_running_lines(cleaned)
    parts: list[str] = []
    pages: list[Page] = []
    offset = 0
    for number, text in enumerate(cleaned, start=1):
        if text and parts:
            parts.append("\n\n")
            offset += 2
        # An empty page keeps its number with an empty span, so page numbers stay true.
        pages.append(Page(number=number if is_pdf else None, start=offset, end=offset + len(text)))
        parts.append(text)
        offset += len(text)
    return Document(
        doc_id=doc_id,
        title=title,
        text="".join(parts),
        source=source,
        sha256=raw.sha256,
        lang=lang,
        kind=kind,
        extractor=raw.extractor,
        pages=tuple(pages),
        url=url,
        arxiv_id=arxiv_id,
        authors=tuple(authors),
        origin=origin,
    )


def slugify(name: str) -> str:
    """A readable id from a file name: lowercase words (Chinese kept) joined by hyphens."""
    words = re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", name).casefold())
    return "-".join(words)


def load_corpus(corpus_dir: Path) -> LoadResult:
    """Load every document of ``corpus_dir``: the manifest's entries first, then the other files.

    Entries whose file is missing, files that cannot be read or hold no text, and files
    that lie outside ``corpus_dir`` (an absolute path, a ``..`` or a symlink leading
    out: see :func:`outside_reason`) are skipped with the reason (and a warning in the log). Files not in the manifest get an id from their file
    name, a title from their metadata or first line and a detected language. README files
    are taken to describe the folder and are not loaded. Raises :class:`EmptyCorpus` when
    nothing could be loaded and :class:`ManifestError` for a malformed manifest.
    """
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise EmptyCorpus(
            f"corpus folder {corpus_dir} does not exist: create it and put .txt/.md/.html/.pdf files in it"
        )
    entries = read_manifest(corpus_dir / MANIFEST_NAME)
    documents: list[Document] = []
    skipped: list[SkippedFile] = []
    used_ids: set[str] = set()
    listed: set[Path] = set()

    root = corpus_dir.resolve()
    for entry in entries:
        path = corpus_dir / entry["file"]
        if (escape := outside_reason(root, Path(entry["file"]), path)) is not None:
            _skip(skipped, path, f"listed in {MANIFEST_NAME} as {entry['id']!r} but {escape}")
            continue
        listed.add(path.resolve())
        if not path.is_file():
            _skip(skipped, path, f"listed in {MANIFEST_NAME} as {entry['id']!r} but not found")
            continue
        try:
            raw = load_file(path)
        except UnreadableFile as exc:
            _skip(skipped, path, str(exc))
            continue
        document = make_document(
            raw,
            doc_id=entry["id"],
            title=entry.get("title") or _fallback_title(raw, path),
            source=_source(corpus_dir, path),
            lang=entry.get("lang") or detect_language("".join(raw.pages)),
            kind=entry.get("kind", "article"),
            url=entry.get("url"),
            arxiv_id=entry.get("arxiv_id"),
            authors=tuple(entry.get("authors", ())),
            origin=entry.get("origin"),
        )
        if not document.text.strip():
            _skip(skipped, path, NO_TEXT)
            continue
        documents.append(document)
        used_ids.add(entry["id"])

    for path in _unlisted_files(corpus_dir, listed):
        if (escape := outside_reason(root, path.relative_to(corpus_dir), path)) is not None:
            _skip(skipped, path, escape)
            continue
        try:
            raw = load_file(path)
        except UnreadableFile as exc:
            _skip(skipped, path, str(exc))
            continue
        doc_id = _unique(slugify(path.stem) or "doc-" + raw.sha256[:8], used_ids)
        document = make_document(
            raw,
            doc_id=doc_id,
            title=_fallback_title(raw, path),
            source=_source(corpus_dir, path),
            lang=detect_language("".join(raw.pages)),
            kind="article",
            origin=path.name,
        )
        if not document.text.strip():
            _skip(skipped, path, NO_TEXT)
            continue
        used_ids.add(doc_id)
        logger.info("%s is not in %s; loading it as %r", path, MANIFEST_NAME, doc_id)
        documents.append(document)

    if not documents:
        reason = f" ({len(skipped)} skipped: see the log)" if skipped else ""
        raise EmptyCorpus(
            f"no loadable documents in {corpus_dir}{reason}: put .txt/.md/.html/.pdf files there "
            f"and list them in {corpus_dir / MANIFEST_NAME}"
        )
    return LoadResult(documents=tuple(documents), skipped=tuple(skipped))


def read_manifest(path: Path) -> list[dict]:
    """The ``[[documents]]`` entries of a corpus manifest, checked; ``[]`` if there is none."""
    if not path.is_file():
        logger.info("no %s; loading every file in %s", path.name, path.parent)
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: not valid TOML: {exc}") from exc
    entries = data.get("documents", [])
    if not isinstance(entries, list):
        raise ManifestError(f"{path}: 'documents' must be an array of tables ([[documents]])")
    seen: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: entry {number}"
        if not isinstance(entry, dict):
            raise ManifestError(f"{where} is not a table")
        for key in ("id", "file"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ManifestError(f"{where} needs a non-empty {key!r}")
        if entry["id"] in seen:
            raise ManifestError(f"{where}: id {entry['id']!r} is used twice")
        seen.add(entry["id"])
        if entry.get("lang", "zh") not in ("zh", "en"):
            raise ManifestError(f"{where}: lang must be \"zh\" or \"en\", not {entry['lang']!r}")
        if entry.get("kind", "article") not in ("article", "paper"):
            raise ManifestError(f"{where}: kind must be \"article\" or \"paper\", not {entry['kind']!r}")
    return entries


def outside_reason(root: Path, named: Path, path: Path) -> str | None:
    """Why ``path`` (named ``named`` by a manifest or found in a folder) is not inside ``root``.

    ``root`` must already be resolved. An absolute name, a ``..`` that climbs out, or a
    symlink (of the file or of a folder on its way) that leads out of ``root`` each give
    a one-line reason; ``None`` means the file really is inside. Indexing a file means
    its text can be searched and quoted back, so only files the corpus folder holds are
    read, whatever the manifest or a link says.
    """
    if named.is_absolute():
        return f"{named} is an absolute path; name files relative to the corpus folder"
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        return f"its path cannot be resolved ({exc})"
    if resolved.is_relative_to(root):
        return None
    if ".." in named.parts:
        return f"{named} climbs out of {root} with '..'"
    return f"it is a symlink that leads out of {root} (to {resolved})"


def _unlisted_files(corpus_dir: Path, listed: set[Path]) -> list[Path]:
    found = []
    for path in sorted(corpus_dir.rglob("*")):
        relative = path.relative_to(corpus_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if not path.is_file() or path.suffix.lower() not in SUPPORTED_SUFFIXES:
            continue
        if path.stem.lower() == "readme" or path.resolve() in listed:
            continue
        found.append(path)
    return found


def _fallback_title(raw: RawDocument, path: Path) -> str:
    if raw.title:
        return raw.title
    for line in clean_text(raw.pages[0] if raw.pages else "").split("\n"):
        line = line.lstrip("#").strip()
        if line:
            return line[:100]
    return path.stem


def _source(corpus_dir: Path, path: Path) -> str:
    """The path as a user would type it from the project root: corpus/articles/x.txt."""
    try:
        return (Path(corpus_dir.name) / path.relative_to(corpus_dir)).as_posix()
    except ValueError:  # a manifest entry pointing outside the folder
        return path.as_posix()


def _unique(doc_id: str, used: set[str]) -> str:
    candidate, n = doc_id, 2
    while candidate in used:
        candidate, n = f"{doc_id}-{n}", n + 1
    return candidate


def _skip(skipped: list[SkippedFile], path: Path, reason: str) -> None:
    logger.warning("skipping %s: %s", path, reason)
    skipped.append(SkippedFile(path=str(path), reason=reason))
