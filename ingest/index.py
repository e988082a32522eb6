"""The on-disk index: its format, writing it atomically, and reading it back.

Owns every file in the index directory; nothing else reads or writes them.

- ``manifest.json``: format version, embedder id and dimension, chunker settings, the
  version of the pipeline that made the documents (``ingest_version``), one entry per
  source file (content hash, document id, title, kind, extractor, pages,
  chunk count and rows), the documents, the cited papers (``references``), build time
  and counts. It is written last, so a directory with a manifest is complete.
- ``vectors.faiss``: a flat inner-product FAISS index over L2-normalised float32
  vectors, so scores are cosines. A chunk's row in it is the chunk's id; the vectors
  can be read back from it, so no second copy is kept.
- ``chunks.jsonl``: line ``i`` is the chunk in row ``i``.
- ``keyword/``: the BM25 index over :func:`ingest.keyword.tokenize` terms, in bm25s's
  own format; its document ``i`` is row ``i`` too.

The manifest holds the sha256 of every other file (``checksums``); :func:`load_index`
checks them, and the manifest's own structure, before it parses anything else, so a
damaged file is reported (with the command that fixes it) instead of served.

:func:`write_index` builds a new directory next to the old one and swaps it in with
renames, so a reader sees the old index or the new one, never a mix, and a build that
is killed leaves the old index loadable (the next write tidies up after it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ingest.documents import Chunk, ChunkerSettings, Document, IngestError
from ingest.embed import Embedder, EmbedderError, make_embedder
from ingest.keyword import TOKENIZER_VERSION, tokenize
from ingest.searchable import SearchIndex

logger = logging.getLogger(__name__)

# 2: the manifest holds a sha256 of every other file; a version-1 index has none, so it
# cannot be checked and is rebuilt. 3: chunks carry a role and a table's context.
FORMAT_VERSION = 3
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
CHUNKS = "chunks.jsonl"
KEYWORD_DIR = "keyword"
_REBUILD = "run `rag rebuild` to rebuild it"


class IndexMissing(IngestError):
    """There is no index where one was expected."""


class IndexMismatch(IngestError):
    """The index was built in a way this program or configuration cannot use."""


class IndexCorrupt(IngestError):
    """An index file is unreadable or disagrees with the others."""


class Index(SearchIndex):
    """A loaded index: chunks by row, dense and keyword search, and its manifest.

    ``documents`` maps doc_id to title, url, arxiv_id, kind, lang, source, pages and
    authors. Use :func:`load_index` to get one.
    """

    def __init__(self, path: Path, manifest: dict, chunks: list[Chunk], dense, keyword):
        self.path = path
        self.manifest = manifest
        self.chunks = chunks
        self.documents: dict[str, dict] = manifest["documents"]
        self._dense = dense
        self._keyword = keyword
        self._vectors: np.ndarray | None = None
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()

    def search_dense(self, query_vectors: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """The ``k`` rows nearest each query vector, as (row, cosine), best first.

        Query vectors must be L2-normalised, as :meth:`Embedder.embed` returns them.
        """
        queries = np.ascontiguousarray(np.atleast_2d(query_vectors), dtype=np.float32)
        k = min(k, self._dense.ntotal)
        if k <= 0:
            return [[] for _ in range(len(queries))]
        if queries.shape[1] != self._dense.d:
            raise IndexMismatch(
                f"query vectors have {queries.shape[1]} dimensions but the index at {self.path} has "
                f"{self._dense.d}: embed queries with the index's own embedder (Index.embedder())"
            )
        scores, rows = self._dense.search(queries, k)
        return [
            [(int(row), float(score)) for row, score in zip(row_ids, row_scores) if row >= 0]
            for row_ids, row_scores in zip(rows, scores)
        ]

    def search_keyword(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best BM25 matches for ``query`` as (row, score), best first.

        Rows that share no term with the query are never returned, so the list may be
        shorter than ``k`` (or empty).
        """
        if self._keyword is None or k <= 0:
            return []
        vocabulary = self._keyword.vocab_dict
        # Each distinct term counts once; terms the corpus never uses cannot score.
        terms = [t for t in dict.fromkeys(tokenize(query)) if t in vocabulary]
        if not terms:
            return []
        scores = self._keyword.get_scores(terms)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(row), float(scores[row])) for row in order if scores[row] > 0]

    def vocabulary(self) -> frozenset[str]:
        """The terms of the keyword index."""
        return frozenset(self._keyword.vocab_dict) if self._keyword is not None else frozenset()

    def embedder(self) -> Embedder:
        """The embedder this index was built with (from the manifest), made once."""
        with self._lock:
            if self._embedder is None:
                spec = self.manifest["embedder"]
                try:
                    embedder = make_embedder(spec["id"])
                except EmbedderError as exc:
                    raise IndexMismatch(
                        f"Index at {self.path} was built with embedder {spec['id']!r}, which cannot be "
                        f"made here ({exc}); install what it needs, or run `rag rebuild --embedder use-m3` "
                        "to rebuild the index with an embedder that is available."
                    ) from exc
                if embedder.dim != spec["dim"]:
                    raise IndexMismatch(
                        f"Index at {self.path} holds {spec['dim']}-dimensional vectors but embedder "
                        f"{spec['id']} now gives {embedder.dim}: {_REBUILD}."
                    )
                self._embedder = embedder
        return self._embedder

    def vectors(self) -> np.ndarray:
        """All vectors, row ``i`` for chunk ``i`` (read back from the FAISS index once)."""
        if self._vectors is None:
            self._vectors = self._dense.reconstruct_n(0, self._dense.ntotal)
        return self._vectors

    def vector(self, row: int) -> np.ndarray:
        """The unit vector of one chunk."""
        return self.vectors()[row]


def load_index(index_dir: Path, expect_embedder: str | None = None) -> Index:
    """Read the index in ``index_dir``.

    Raises :class:`IndexMissing` when there is none, :class:`IndexMismatch` when it was
    written by another format version, with another embedder than ``expect_embedder``,
    or with vectors whose dimension disagrees with the manifest, and
    :class:`IndexCorrupt` when a file is unreadable. Every message is one line that
    names the command that fixes it.
    """
    index_dir = Path(index_dir)
    for _attempt in range(5):
        where = _readable_dir(index_dir)
        started_as = _build_id(where)
        try:
            index = _load(index_dir, where, expect_embedder)
        except (IndexCorrupt, IndexMismatch):
            # Files vanishing mid-read mean a rebuild is swapping the directory: let it
            # finish, then read the new index. The same build failing again is real damage.
            _wait_for_writer(index_dir)
            if _build_id(_readable_dir(index_dir)) == started_as:
                raise
            continue
        # The files came from one build only if the build id did not change meanwhile.
        if _build_id(_readable_dir(index_dir)) == index.manifest.get("build_id"):
            return index
        logger.info("index %s was replaced while it was read; reading it again", index_dir)
    raise IndexCorrupt(f"Index at {index_dir} kept changing while it was read: try again when `rag rebuild` is done.")


def _readable_dir(index_dir: Path) -> Path:
    """``index_dir``, or the previous index when a build was killed mid-swap."""
    if not (index_dir / MANIFEST).is_file():
        backup = _backup_dir(index_dir)
        if (backup / MANIFEST).is_file():
            # A build was killed between its two renames: the previous index is intact.
            logger.warning("%s is mid-swap; reading the previous index from %s", index_dir, backup)
            return backup
        raise IndexMissing(f"No index at {index_dir}: run `rag rebuild` to build it.")
    return index_dir


def _build_id(where: Path) -> str | None:
    try:
        return json.loads((where / MANIFEST).read_text(encoding="utf-8")).get("build_id")
    except (OSError, ValueError, AttributeError):
        return None  # unreadable now: _load reports what is wrong


def _load(index_dir: Path, where: Path, expect_embedder: str | None) -> Index:
    manifest = _read_manifest(where, index_dir)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexMismatch(
            f"Index at {index_dir} has format version {version!r}, but this program reads version "
            f"{FORMAT_VERSION}: {_REBUILD}."
        )
    try:
        _check_manifest(manifest)
    except ValueError as exc:
        raise IndexCorrupt(f"Index at {index_dir} is damaged ({MANIFEST}: {exc}): {_REBUILD}.") from exc
    _verify_checksums(where, manifest["checksums"], index_dir)
    built_with = manifest["embedder"]["id"]
    if expect_embedder is not None:
        expected = make_embedder(expect_embedder).id
        if expected != built_with:
            raise IndexMismatch(
                f"Index at {index_dir} was built with embedder {built_with}, but {expected} is "
                f"configured: run `rag rebuild` to rebuild it with {expected}."
            )
    if manifest.get("keyword", {}).get("tokenizer_version") != TOKENIZER_VERSION:
        raise IndexMismatch(f"Index at {index_dir} has a keyword index from another tokenizer: {_REBUILD}.")

    chunks = _read_chunks(where / CHUNKS, index_dir)
    dense = _read_vectors(where / VECTORS, index_dir)
    if dense.d != manifest["embedder"]["dim"]:
        raise IndexMismatch(
            f"Index at {index_dir}: {VECTORS} holds {dense.d}-dimensional vectors, but its manifest says "
            f"{built_with} vectors have {manifest['embedder']['dim']} dimensions: {_REBUILD}."
        )
    keyword = _read_keyword(where / KEYWORD_DIR, index_dir) if manifest["keyword"]["terms"] else None
    sizes = {CHUNKS: len(chunks), VECTORS: dense.ntotal, MANIFEST: manifest["counts"]["chunks"]}
    if keyword is not None:
        sizes[KEYWORD_DIR] = _keyword_rows(keyword, index_dir)
    if len(set(sizes.values())) != 1:
        detail = ", ".join(f"{name} has {n}" for name, n in sizes.items())
        raise IndexCorrupt(f"Index at {index_dir} is damaged (row counts differ: {detail}): {_REBUILD}.")
    unknown = sorted({c.doc_id for c in chunks} - set(manifest["documents"]))
    if unknown:
        raise IndexCorrupt(
            f"Index at {index_dir} is damaged ({CHUNKS} has chunks of {len(unknown)} document(s) the "
            f"manifest does not describe, such as {unknown[0]!r}): {_REBUILD}."
        )
    return Index(index_dir, manifest, chunks, dense, keyword)


def write_index(
    index_dir: Path,
    *,
    documents: Sequence[Document],
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    embedder_id: str,
    chunker: ChunkerSettings,
    references: Sequence[dict] = (),
    ingest_version: int | None = None,
    progress: bool = False,
) -> dict:
    """Write a complete index for ``documents`` to ``index_dir``, replacing any old one.

    ``chunks`` must come grouped by document in the order of ``documents`` (each
    document's chunks consecutive), and ``vectors[i]`` must be the unit vector of
    ``chunks[i]``. Everything is written and fsynced in a new directory beside
    ``index_dir`` and then renamed into place. ``ingest_version`` is kept for the next
    build to compare (see :mod:`ingest.build`). Returns the manifest written.
    """
    index_dir = Path(index_dir)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(chunks):
        raise ValueError(f"{len(chunks)} chunks but vectors of shape {vectors.shape}")
    manifest = _manifest(documents, chunks, vectors.shape[1], embedder_id, chunker, references, ingest_version)

    index_dir.parent.mkdir(parents=True, exist_ok=True)
    with _write_lock(index_dir):
        _tidy_interrupted_write(index_dir)
        _refuse_foreign_directory(index_dir)
        staging = index_dir.parent / f".{index_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            _write_vectors(staging / VECTORS, vectors)
            _write_chunks(staging / CHUNKS, chunks)
            manifest["keyword"]["terms"] = _write_keyword(staging / KEYWORD_DIR, chunks, progress)
            _fsync_tree(staging)
            manifest["checksums"] = _checksums(staging)
            # The manifest goes last: its presence marks the directory as complete.
            _write_json(staging / MANIFEST, manifest)
            _fsync_dir(staging)
            _swap_in(staging, index_dir)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    logger.info("wrote index %s: %d chunks", index_dir, len(chunks))
    return manifest


def tidy_interrupted_write(index_dir: Path) -> None:
    """Finish or undo what a killed :func:`write_index` left beside ``index_dir``."""
    index_dir = Path(index_dir)
    if not index_dir.parent.is_dir():
        return
    with _write_lock(index_dir):
        _tidy_interrupted_write(index_dir)


# -- manifest ------------------------------------------------------------------------

def _manifest(
    documents: Sequence[Document],
    chunks: Sequence[Chunk],
    dim: int,
    embedder_id: str,
    chunker: ChunkerSettings,
    references: Sequence[dict],
    ingest_version: int | None,
) -> dict:
    rows = _rows_by_document(documents, chunks)
    sources: dict[str, dict] = {}
    described: dict[str, dict] = {}
    for doc in documents:
        start, end = rows[doc.doc_id]
        pages = len(doc.pages) or 1
        sources[doc.source] = {
            "sha256": doc.sha256,
            "doc_id": doc.doc_id,
            "title": doc.title,
            "kind": doc.kind,
            "extractor": doc.extractor,
            "pages": pages,
            "chunks": end - start,
            "rows": [start, end],
        }
        described[doc.doc_id] = {
            "title": doc.title,
            "url": doc.url,
            "arxiv_id": doc.arxiv_id,
            "kind": doc.kind,
            "lang": doc.lang,
            "source": doc.source,
            "origin": doc.origin,
            "pages": pages,
            "authors": list(doc.authors),
        }
    return {
        "format_version": FORMAT_VERSION,
        "embedder": {"id": embedder_id, "dim": int(dim)},
        "chunker": {"size": chunker.size, "overlap": chunker.overlap},
        "ingest_version": ingest_version,
        "keyword": {"library": "bm25s", "tokenizer_version": TOKENIZER_VERSION, "terms": 0},
        "sources": sources,
        "documents": described,
        "references": [dict(ref) for ref in references],
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "checksums": {},  # filled in once the files are written
        # Tells a reader whether all the files it read came from this one build.
        "build_id": uuid.uuid4().hex,
        "counts": {
            "documents": len(documents),
            "pages": sum(entry["pages"] for entry in sources.values()),
            "chunks": len(chunks),
        },
    }


def _rows_by_document(documents: Sequence[Document], chunks: Sequence[Chunk]) -> dict[str, tuple[int, int]]:
    """Each document's [start, end) rows; checks that chunks follow the documents' order."""
    rows: dict[str, tuple[int, int]] = {}
    row = 0
    for doc in documents:
        if doc.doc_id in rows:
            raise ValueError(f"document id {doc.doc_id!r} appears twice")
        start = row
        while row < len(chunks) and chunks[row].doc_id == doc.doc_id:
            row += 1
        rows[doc.doc_id] = (start, row)
    if row != len(chunks):
        raise ValueError(
            f"chunk {row} (of {chunks[row].doc_id!r}) is out of document order or has no document"
        )
    return rows


def chunk_rows(manifest: dict, source: str) -> tuple[int, int] | None:
    """The [start, end) rows a source's chunks occupy in an index, if it has that source."""
    entry = manifest.get("sources", {}).get(source)
    return tuple(entry["rows"]) if entry else None


# -- files -----------------------------------------------------------------------------

def _write_vectors(path: Path, vectors: np.ndarray) -> None:
    import faiss

    dense = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        dense.add(vectors)
    faiss.write_index(dense, str(path))


def _write_chunks(path: Path, chunks: Sequence[Chunk]) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for chunk in chunks:
            out.write(json.dumps(dataclasses.asdict(chunk), ensure_ascii=False) + "\n")


def _bm25s():
    import bm25s

    # bm25s sets its logger to DEBUG on import, which overrides the application's
    # level (the CLI printed "Building index from tokens"); let it inherit again.
    logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s


def _write_keyword(path: Path, chunks: Sequence[Chunk], progress: bool) -> int:
    """Write the BM25 index; returns its number of distinct terms (0: nothing written).

    Segmenting every chunk is the slow part of writing, so its bar is the write's bar.
    """
    from tqdm import tqdm

    bm25s = _bm25s()

    corpus = [tokenize(c.search_text) for c in tqdm(chunks, desc="writing index", unit="chunk", disable=not progress)]
    terms = len({t for tokens in corpus for t in tokens})
    if terms == 0:
        # bm25s cannot index a vocabulary of nothing; search_keyword then finds nothing.
        return 0
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    retriever.save(str(path), show_progress=False)
    return terms


def _write_json(path: Path, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as out:
        json.dump(data, out, ensure_ascii=False, indent=1)
        out.flush()
        os.fsync(out.fileno())


def _read_manifest(where: Path, index_dir: Path) -> dict:
    """The manifest as a JSON object; its fields are checked by :func:`_check_manifest`."""
    try:
        manifest = json.loads((where / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError(f"a JSON {type(manifest).__name__} instead of an object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise IndexCorrupt(f"Index at {index_dir} is damaged ({MANIFEST}: {_first_line(exc)}): {_REBUILD}.") from exc
    return manifest


def _check_manifest(manifest: dict) -> None:
    """Raise ValueError naming the first field of a current-format manifest that is not as written.

    Everything later code indexes into is checked here, so a hand-edited or truncated
    manifest is one clear error rather than a KeyError or TypeError somewhere in a search.
    """

    def table(value, name: str) -> dict:
        if not isinstance(value, dict):
            raise ValueError(f"{name} is not a table")
        return value

    def count(value, name: str, least: int = 0) -> int:
        # bool is an int to Python, and "512" or 512.0 would compare unequal to 512.
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} is {value!r}, not a whole number of at least {least}")
        return value

    embedder = table(manifest.get("embedder"), "embedder")
    if not isinstance(embedder.get("id"), str) or not embedder["id"].strip():
        raise ValueError(f"embedder.id is {embedder.get('id')!r}, not an embedder name")
    count(embedder.get("dim"), "embedder.dim", 1)
    chunker = table(manifest.get("chunker"), "chunker")
    count(chunker.get("size"), "chunker.size", 1)
    count(chunker.get("overlap"), "chunker.overlap")
    keyword = table(manifest.get("keyword"), "keyword")
    count(keyword.get("terms"), "keyword.terms")
    counts = table(manifest.get("counts"), "counts")
    count(counts.get("chunks"), "counts.chunks")
    documents = table(manifest.get("documents"), "documents")
    if count(counts.get("documents"), "counts.documents") != len(documents):
        raise ValueError(f"the documents table has {len(documents)} entries but counts.documents says {counts['documents']}")
    for doc_id, described in documents.items():
        table(described, f"documents.{doc_id}")
    sources = table(manifest.get("sources"), "sources")
    for source, entry in sources.items():
        where = f"sources[{source!r}]"
        table(entry, where)
        for key in ("sha256", "doc_id", "title", "kind", "extractor"):
            if not isinstance(entry.get(key), str):
                raise ValueError(f"{where}.{key} is missing")
        if entry["doc_id"] not in documents:
            raise ValueError(f"{where} names document {entry['doc_id']!r}, which the documents table lacks")
        count(entry.get("pages"), f"{where}.pages")
        rows = entry.get("rows")
        if not (isinstance(rows, list) and len(rows) == 2 and all(isinstance(r, int) for r in rows)):
            raise ValueError(f"{where}.rows is {rows!r}, not [start, end]")
    if not isinstance(manifest.get("references", []), list):
        raise ValueError("references is not a list")
    checksums = table(manifest.get("checksums"), "checksums")
    for name in (VECTORS, CHUNKS):
        if not isinstance(checksums.get(name), str):
            raise ValueError(f"checksums.{name} is missing")


def _checksums(directory: Path) -> dict[str, str]:
    """The sha256 of every file under ``directory``, by its path relative to it (``/`` separated)."""
    return {
        path.relative_to(directory).as_posix(): _sha256(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_checksums(where: Path, checksums: dict, index_dir: Path) -> None:
    """Raise IndexCorrupt unless every file the manifest lists has the bytes it was written with.

    Checked before any file is parsed: a flat FAISS file or a BM25 array with a few
    kilobytes overwritten still parses, and search would serve what the damage left.
    """
    for name, expected in checksums.items():
        path = where / name
        # A listed name that climbs out of the index is damage too, and is never opened.
        if ".." in Path(name).parts or Path(name).is_absolute():
            raise IndexCorrupt(f"Index at {index_dir} is damaged ({MANIFEST} lists {name!r}): {_REBUILD}.")
        try:
            actual = _sha256(path)
        except FileNotFoundError:
            raise IndexCorrupt(f"Index at {index_dir} is damaged ({name} is missing): {_REBUILD}.") from None
        except OSError as exc:
            raise IndexCorrupt(f"Index at {index_dir} is damaged ({name}: {exc.strerror or exc}): {_REBUILD}.") from exc
        if actual != expected:
            raise IndexCorrupt(
                f"Index at {index_dir} is damaged ({name} is not the file that was written: its checksum "
                f"differs): {_REBUILD}."
            )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read_chunks(path: Path, index_dir: Path) -> list[Chunk]:
    try:
        with open(path, encoding="utf-8") as lines:
            return [Chunk(**json.loads(line)) for line in lines if line.strip()]
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise IndexCorrupt(f"Index at {index_dir} is damaged ({CHUNKS}: {_first_line(exc)}): {_REBUILD}.") from exc


def _read_vectors(path: Path, index_dir: Path):
    import faiss

    if not path.is_file():
        raise IndexCorrupt(f"Index at {index_dir} is damaged ({VECTORS} is missing): {_REBUILD}.")
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:  # faiss reports unreadable files as RuntimeError
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise IndexCorrupt(f"Index at {index_dir} is damaged ({VECTORS}: {reason}): {_REBUILD}.") from exc


def _read_keyword(path: Path, index_dir: Path):
    bm25s = _bm25s()
    try:
        return bm25s.BM25.load(str(path), show_progress=False)
    # What bm25s raises for files it cannot parse (json, numpy and its own lookups).
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, EOFError) as exc:
        raise IndexCorrupt(f"Index at {index_dir} is damaged ({KEYWORD_DIR}/: {_first_line(exc)}): {_REBUILD}.") from exc


def _keyword_rows(keyword, index_dir: Path) -> int:
    """How many documents (rows) the loaded BM25 index says it holds."""
    try:
        return int(keyword.scores["num_docs"])
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorrupt(f"Index at {index_dir} is damaged ({KEYWORD_DIR}/ has no row count): {_REBUILD}.") from exc


# -- atomic replacement ---------------------------------------------------------------

def _backup_dir(index_dir: Path) -> Path:
    return index_dir.parent / f".{index_dir.name}.old"


def _swap_in(staging: Path, index_dir: Path) -> None:
    """Put the complete ``staging`` directory at ``index_dir``; the old one goes away.

    Two renames, because a directory cannot replace a non-empty one in one step: the
    old index becomes the backup, the new one takes its name. Killed between the two,
    :func:`load_index` reads the backup and the next write puts it back first.
    """
    backup = _backup_dir(index_dir)
    if index_dir.exists():
        os.replace(index_dir, backup)
    os.replace(staging, index_dir)
    _fsync_dir(index_dir.parent)
    if backup.exists():
        shutil.rmtree(backup)


def _tidy_interrupted_write(index_dir: Path) -> None:
    parent = index_dir.parent
    for leftover in parent.glob(f".{index_dir.name}.tmp-*"):
        logger.info("removing %s, left by an interrupted build", leftover)
        shutil.rmtree(leftover)
    backup = _backup_dir(index_dir)
    if backup.exists():
        if (index_dir / MANIFEST).is_file():
            logger.info("removing %s, the index an interrupted build replaced", backup)
            shutil.rmtree(backup)
        else:
            logger.warning("restoring %s from %s after an interrupted build", index_dir, backup)
            if index_dir.exists():
                shutil.rmtree(index_dir)
            os.replace(backup, index_dir)
            _fsync_dir(parent)


def _refuse_foreign_directory(index_dir: Path) -> None:
    """Never replace (and so delete) a directory that holds something other than an index."""
    if index_dir.is_dir() and not (index_dir / MANIFEST).is_file() and any(index_dir.iterdir()):
        raise IngestError(
            f"{index_dir} exists but holds no index (no {MANIFEST}); choose another index "
            "directory or empty that one"
        )
    if index_dir.exists() and not index_dir.is_dir():
        raise IngestError(f"{index_dir} is a file, not an index directory; choose another index directory")


@contextlib.contextmanager
def _write_lock(index_dir: Path) -> Iterator[None]:
    """One writer per index directory at a time (across processes, where flock exists)."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; concurrent builds are the user's to avoid
        yield
        return
    with open(index_dir.parent / f".{index_dir.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _wait_for_writer(index_dir: Path) -> None:
    """Return once no :func:`write_index` holds ``index_dir``'s lock (at once where there is none)."""
    try:
        import fcntl
    except ImportError:
        return
    try:
        handle = open(index_dir.parent / f".{index_dir.name}.lock")
    except OSError:
        return  # never written here, or not ours to read: nothing to wait for
    with handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync_tree(root: Path) -> None:
    for directory, _subdirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(directory))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:  # some platforms cannot open directories; renames stay atomic
        logger.debug("cannot open directory %s to fsync it: %s", path, exc)
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # not supported for directories on some filesystems
        logger.debug("cannot fsync directory %s: %s", path, exc)
    finally:
        os.close(fd)
