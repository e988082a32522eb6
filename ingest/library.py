"""The documents a user adds and removes while the page runs, and the background builds
that put them into the index.

Owns the order of things: an upload is checked and stored (:mod:`ingest.uploads`), then
the index is brought up to date by :func:`ingest.build.build_index`, the same incremental
build as ``rag rebuild``, in one background thread. Until that build has swapped the new
index in (atomically, by :mod:`ingest.index`) the old index stays in use; a failed build
leaves it in place. ``on_new_index`` hears of each new index so the answering side can
switch to it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.build import build_index
from ingest.documents import ChunkerSettings, IngestError
from ingest.embed import DEFAULT_EMBEDDER, Embedder
from ingest.index import Index, IndexMissing, load_index
from ingest.uploads import (
    DEFAULT_MAX_BYTES,
    StoredUpload,
    UploadedDocument,
    UploadRejected,
    check_upload,
    describe_uploads,
    known_hashes,
    read_upload,
    remove_upload,
    store_upload,
)

logger = logging.getLogger(__name__)

DEFAULT_UPLOAD_FOLDER = "uploads"


class UploadFolderError(IngestError):
    """The configured upload folder is not inside the corpus folder."""


@dataclass(frozen=True)
class BuildProgress:
    """Where the background index build stands.

    ``stage`` is "idle", "reading", "embedding", "writing", "done" or "failed"; ``done``
    of ``total`` counts chunks while embedding; ``message`` is the last result or error.
    """

    stage: str = "idle"
    done: int = 0
    total: int = 0
    message: str = ""

    @property
    def running(self) -> bool:
        """Whether a build is under way."""
        return self.stage in ("reading", "embedding", "writing")

    def line(self) -> str:
        """The one-line progress text for the page."""
        if self.stage == "reading":
            return "indexing: reading the documents… / 正在读取文档…"
        if self.stage == "embedding":
            return f"indexing: embedding passages {self.done} of {self.total}… / 正在向量化 {self.done}/{self.total}"
        if self.stage == "writing":
            return "indexing: writing the new index… / 正在写入索引…"
        return self.message


@dataclass(frozen=True)
class AddResult:
    """What an upload did: the files stored (and being indexed) and those refused, with why."""

    stored: tuple[StoredUpload, ...] = ()
    rejected: tuple[str, ...] = ()  # one line each: "name: reason"


class DocumentLibrary:
    """Adds, lists and removes uploaded documents and keeps the index up to date.

    ``upload_folder`` is a folder inside ``corpus_dir`` (so a plain ``rag rebuild`` keeps
    the uploads). ``papers_dirs``, ``embedder`` and ``chunker`` must be what ``rag
    rebuild`` uses, so a build here reuses every unchanged vector and drops nothing.
    """

    def __init__(
        self,
        corpus_dir: Path,
        index_dir: Path,
        *,
        upload_folder: str = DEFAULT_UPLOAD_FOLDER,
        papers_dirs: Sequence[Path] = (),
        embedder: str | Embedder = DEFAULT_EMBEDDER,
        chunker: ChunkerSettings = ChunkerSettings(),
        max_bytes: int = DEFAULT_MAX_BYTES,
        on_new_index: Callable[[Index], None] | None = None,
    ) -> None:
        self.corpus_dir = Path(corpus_dir)
        self.index_dir = Path(index_dir)
        self.upload_dir = self.corpus_dir / upload_folder
        if not self.upload_dir.resolve().is_relative_to(self.corpus_dir.resolve()) or not upload_folder.strip("./"):
            raise UploadFolderError(f"upload folder {upload_folder!r} must be a folder inside {self.corpus_dir}")
        self.source_prefix = (Path(self.corpus_dir.name) / upload_folder).as_posix()
        self.max_bytes = max_bytes
        self._build_args = dict(papers_dirs=tuple(papers_dirs), embedder=embedder, chunker=chunker, progress=False)
        self._on_new_index = on_new_index
        self._lock = threading.Lock()  # one add or remove at a time, and the fields below
        self._progress = BuildProgress()
        self._sources: dict | None = None
        self._wanted = False  # another build is needed after the running one
        self._idle = threading.Event()
        self._idle.set()

    # -- what is there --------------------------------------------------------------
    def _indexed_sources(self) -> dict:
        if self._sources is None:
            try:
                self._sources = dict(load_index(self.index_dir).manifest["sources"])
            except IndexMissing:
                self._sources = {}
        return self._sources

    def documents(self) -> list[UploadedDocument]:
        """The uploaded documents, with title and chunk count once indexed."""
        with self._lock:
            sources = self._indexed_sources()
        return describe_uploads(self.upload_dir, sources, self.source_prefix)

    def progress(self) -> BuildProgress:
        """Where the background build stands."""
        return self._progress

    # -- changing it ----------------------------------------------------------------
    def add(self, files: Sequence[tuple[str, bytes]]) -> AddResult:
        """Check and store each (name, content); start indexing what was stored.

        A refused file changes nothing; its reason is in ``rejected``, in upload order.
        Two copies of one file in the same upload keep the first.
        """
        return self._add([(name, lambda data=data: data) for name, data in files])

    def add_paths(self, paths: Sequence[Path]) -> AddResult:
        """:meth:`add` for files on disk, each under its own file name; one over the size
        limit is refused without being read."""
        return self._add([(p.name, lambda p=p: read_upload(p, p.name, self.max_bytes)) for p in map(Path, paths)])

    def _add(self, files: Sequence[tuple[str, Callable[[], bytes]]]) -> AddResult:
        stored: list[StoredUpload] = []
        rejected: list[str] = []
        with self._lock:
            known = known_hashes(self.upload_dir, self._indexed_sources())
            for name, read in files:
                try:
                    data = read()
                    sha256 = check_upload(name, data, known_hashes=known, max_bytes=self.max_bytes)
                except UploadRejected as exc:
                    rejected.append(str(exc))
                    continue
                upload = store_upload(self.upload_dir, name, data, sha256)
                known[sha256] = upload.name
                stored.append(upload)
        if stored:
            self._request_build()
        return AddResult(tuple(stored), tuple(rejected))

    def remove(self, name: str) -> None:
        """Delete the uploaded document ``name`` and rebuild without it."""
        with self._lock:
            remove_upload(self.upload_dir, name)
        self._request_build()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no build runs or is waiting (True), or ``timeout`` passed (False)."""
        return self._idle.wait(timeout)

    # -- the background build -------------------------------------------------------
    def _request_build(self) -> None:
        with self._lock:
            self._wanted = True
            if not self._idle.is_set():
                return  # the running build starts another when it ends
            self._idle.clear()
            self._progress = BuildProgress("reading")
        threading.Thread(target=self._run_builds, name="index-build", daemon=True).start()

    def _run_builds(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    self._idle.set()
                    return
                self._wanted = False
            self._build_once()

    def _paper_dirs(self) -> tuple[Path, ...]:
        """The configured paper folders and those the index in use took papers from, so
        that a build started from the page keeps every paper even when the page was
        started without ``--papers-dir``."""
        dirs = list(self._build_args["papers_dirs"])
        for source, entry in self._indexed_sources().items():
            folder = Path(source).parent
            in_corpus = source.startswith(self.corpus_dir.name + "/")  # read with the corpus anyway
            if entry.get("kind") == "paper" and not in_corpus and folder not in dirs and folder.is_dir():
                dirs.append(folder)
        return tuple(dirs)

    def _report(self, stage: str, done: int, total: int) -> None:
        self._progress = BuildProgress(stage, done, total)

    def _build_once(self) -> None:
        try:
            with self._lock:
                papers = self._paper_dirs()
            summary = build_index(
                self.corpus_dir, self.index_dir, report=self._report, **{**self._build_args, "papers_dirs": papers}
            )
            index = load_index(self.index_dir)
            with self._lock:
                self._sources = dict(index.manifest["sources"])
            if self._on_new_index is not None:
                self._on_new_index(index)
        except IngestError as exc:
            logger.error("index build failed: %s", exc)
            self._progress = BuildProgress("failed", message=f"indexing failed, the old index stays in use: {exc}")
            return
        except Exception:  # noqa: BLE001 - the page gets one line, the log the traceback
            logger.exception("index build failed")
            self._progress = BuildProgress(
                "failed", message="indexing failed, the old index stays in use; the details are in the server log"
            )
            return
        self._progress = BuildProgress(
            "done",
            message=f"index updated: {summary.documents} documents, {summary.chunks} passages "
            f"({summary.embedded} newly embedded) / 索引已更新",
        )


@dataclass(frozen=True)
class IndexedDocument:
    """One document of the index as ``rag docs list`` shows it; ``size`` is None when its file is gone."""

    source: str
    title: str
    kind: str
    chunks: int
    size: int | None
    uploaded: bool


def indexed_documents(index_dir: Path, corpus_dir: Path, upload_folder: str = DEFAULT_UPLOAD_FOLDER) -> list[IndexedDocument]:
    """Every document in the index with its size on disk and chunk count, uploads marked.

    Raises :class:`ingest.index.IndexMissing` (naming ``rag rebuild``) without an index.
    """
    corpus_dir = Path(corpus_dir)
    uploads = (Path(corpus_dir.name) / upload_folder).as_posix() + "/"
    listed = []
    for source, entry in load_index(Path(index_dir)).manifest["sources"].items():
        # Corpus sources are named from the corpus folder's parent, papers as given.
        path = next((p for p in (corpus_dir.parent / source, Path(source)) if p.is_file()), None)
        listed.append(
            IndexedDocument(
                source=source,
                title=entry["title"],
                kind=entry["kind"],
                chunks=int(entry["chunks"]),
                size=path.stat().st_size if path else None,
                uploaded=source.startswith(uploads),
            )
        )
    return listed
