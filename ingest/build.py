"""Building the index: load the corpus and papers, chunk, embed, write.

Owns the build pipeline and what a rebuild can skip. A source whose document is
unchanged (same content hash, id and title, hence the same chunks) keeps the vectors
it has in the previous index when that index was built with the same embedder and
chunker settings; only new or changed sources are embedded. Another embedder or other
chunker settings rebuild everything. The write itself is atomic (:mod:`ingest.index`).

Reading PDFs is the slow part of a rebuild, so an unchanged paper is not read at all:
when its bytes hash as before, the previous index was made by this
:data:`INGEST_VERSION` and the citation that names it is unchanged, its document,
chunks and vectors come from the previous index. Corpus files are cheap to read and
are always read, so edits to ``corpus/manifest.toml`` apply at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ingest.chunk import chunk_document
from ingest.corpus import load_corpus
from ingest.documents import Chunk, ChunkerSettings, Document, IngestError, LoadResult, Page, SkippedFile
from ingest.embed import DEFAULT_EMBEDDER, Embedder, make_embedder
from ingest.index import (
    IndexCorrupt,
    IndexMismatch,
    IndexMissing,
    chunk_rows,
    load_index,
    tidy_interrupted_write,
    write_index,
)

logger = logging.getLogger(__name__)

# Bump whenever a change to loading, cleaning, identifying or chunking can change what an
# unchanged file becomes: an index built by another version has every source read again.
INGEST_VERSION = 7  # 7: a table row read by pdfminer is one line; 6: a bibliography starts its own chunks


class DuplicateDocumentId(IngestError):
    """Two sources would get the same document id."""


@dataclass(frozen=True)
class BuildSummary:
    """What a build did, for the CLI: counts, skipped files, reuse and time per stage.

    ``seconds`` has the stages load (with opening the previous index), chunk, embed
    (with reading the previous index's vectors) and write (with building the keyword
    index); ``extractors`` maps each source to the extractor that read it (now or, for
    a paper not read again, before); ``unread`` counts the unchanged papers not read
    again; ``rebuilt_because`` says why nothing could be reused (``None`` when the
    previous index was reused where possible).
    """

    index_dir: str
    embedder: str
    chunker: ChunkerSettings
    documents: int
    articles: int
    papers: int
    pages: int
    chunks: int
    embedded: int
    reused: int
    references: int
    unread: int = 0
    skipped: tuple[SkippedFile, ...] = ()
    extractors: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    rebuilt_because: str | None = None

    def __str__(self) -> str:
        lines = [
            f"Index written to {self.index_dir} (embedder {self.embedder}, chunks of "
            f"{self.chunker.size} characters overlapping {self.chunker.overlap})",
            f"  documents: {self.documents} ({self.articles} articles, {self.papers} papers), "
            f"{self.pages} pages, {self.chunks} chunks, {self.references} cited papers found",
            f"  vectors:   {self.embedded} chunks embedded, {self.reused} reused from the previous index"
            + (f" (full rebuild: {self.rebuilt_because})" if self.rebuilt_because else ""),
        ]
        if self.unread:
            lines.append(f"  unchanged: {self.unread} paper(s) not read again")
        if self.skipped:
            lines.append(f"  skipped:   {len(self.skipped)} file(s)")
            lines.extend(f"    {s.path}: {s.reason}" for s in self.skipped)
        if self.extractors:
            lines.append("  sources:")
            width = max(len(source) for source in self.extractors)
            lines.extend(f"    {source:<{width}}  {how}" for source, how in self.extractors.items())
        stages = ", ".join(f"{stage} {s:.1f}s" for stage, s in self.seconds.items())
        lines.append(f"  time:      {stages} (total {sum(self.seconds.values()):.1f}s)")
        return "\n".join(lines)


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    *,
    embedder: str | Embedder = DEFAULT_EMBEDDER,
    chunker: ChunkerSettings = ChunkerSettings(),
    papers_dirs: Sequence[Path] = (),
    progress: bool = True,
    report: Callable[[str, int, int], None] | None = None,
) -> BuildSummary:
    """Build (or update) the index in ``index_dir`` from ``corpus_dir`` and the PDFs in ``papers_dirs``.

    Unchanged sources reuse their vectors from the previous index; the new index
    replaces the old one atomically, so a failed or killed build leaves the old one in
    place. ``embedder`` is a spec for :func:`ingest.embed.make_embedder` or an embedder
    itself. Raises :class:`ingest.corpus.EmptyCorpus` when the corpus has no documents.
    ``report(stage, done, total)`` hears where the build stands, for a progress line:
    stage "reading", then "embedding" with chunks done of total, then "writing".
    """
    report = report or _no_report
    index_dir = Path(index_dir)
    seconds: dict[str, float] = {}
    # A bad spec fails here, before any loading; models themselves load on first use.
    model = make_embedder(embedder) if isinstance(embedder, str) else embedder
    tidy_interrupted_write(index_dir)

    started = time.perf_counter()
    report("reading", 0, 0)
    previous, rebuilt_because = _previous_index(index_dir, model.id, chunker)
    unread: set[str] = set()
    documents, skipped, references = _load_documents(Path(corpus_dir), papers_dirs, previous, unread, progress)
    seconds["load"] = time.perf_counter() - started

    started = time.perf_counter()
    chunks_of = {
        doc.doc_id: _previous_chunks(previous, doc) if doc.source in unread else chunk_document(doc, chunker)
        for doc in documents
    }
    seconds["chunk"] = time.perf_counter() - started

    started = time.perf_counter()
    chunks = [chunk for doc in documents for chunk in chunks_of[doc.doc_id]]
    matrix, embedded = _vectors(documents, chunks_of, previous, model, progress, report)
    seconds["embed"] = time.perf_counter() - started

    started = time.perf_counter()
    report("writing", 0, 0)
    write_index(
        index_dir,
        documents=documents,
        chunks=chunks,
        vectors=matrix,
        embedder_id=model.id,
        chunker=chunker,
        references=references,
        ingest_version=INGEST_VERSION,
        progress=progress,
    )
    seconds["write"] = time.perf_counter() - started

    kinds = [doc.kind for doc in documents]
    return BuildSummary(
        index_dir=str(index_dir),
        embedder=model.id,
        chunker=chunker,
        documents=len(documents),
        articles=kinds.count("article"),
        papers=kinds.count("paper"),
        pages=sum(len(doc.pages) or 1 for doc in documents),
        chunks=len(chunks),
        embedded=embedded,
        reused=len(chunks) - embedded,
        references=len(references),
        unread=len(unread),
        skipped=skipped,
        extractors={doc.source: doc.extractor for doc in documents},
        seconds=seconds,
        rebuilt_because=rebuilt_because,
    )


def _load_documents(
    corpus_dir: Path, papers_dirs: Sequence[Path], previous, unread: set[str], progress: bool
) -> tuple[list[Document], tuple[SkippedFile, ...], list[dict]]:
    """The corpus documents then the papers, the files skipped, and the papers cited.

    The sources of papers taken from ``previous`` instead of being read are added to ``unread``.
    """
    from ingest.references import find_references, refs_to_dicts

    logger.info("loading the corpus in %s", corpus_dir)
    corpus = load_corpus(corpus_dir)
    # The articles' citations: what the papers are matched against, and the list
    # `rag papers` works from. Papers' own bibliographies would add hundreds of ids.
    references = find_references(corpus.documents)
    papers = LoadResult(documents=())
    if papers_dirs:
        from ingest.papers import load_papers

        reuse = _unchanged_papers(previous, references, unread)
        papers = load_papers([Path(d) for d in papers_dirs], references, progress=progress, reuse=reuse)
    documents = [*corpus.documents, *papers.documents]
    seen: dict[str, str] = {}
    for doc in documents:
        if doc.doc_id in seen:
            raise DuplicateDocumentId(
                f"document id {doc.doc_id!r} is used by both {seen[doc.doc_id]} and {doc.source}: "
                "give one of them another id in the corpus manifest"
            )
        seen[doc.doc_id] = doc.source
    return documents, (*corpus.skipped, *papers.skipped), refs_to_dicts(references)


def _no_report(stage: str, done: int, total: int) -> None:
    """The default ``report`` of :func:`build_index`: the tqdm bars say it already."""


def _embed_reporting(model: Embedder, texts: list[str], progress: bool, report) -> np.ndarray:
    """``model.embed(texts)``, in slices so that ``report`` hears "embedding n of m"."""
    report("embedding", 0, len(texts))
    if report is _no_report or len(texts) <= _REPORT_EVERY:
        fresh = model.embed(texts, progress=progress)
    else:
        parts = []
        for start in range(0, len(texts), _REPORT_EVERY):
            parts.append(model.embed(texts[start : start + _REPORT_EVERY], progress=progress))
            report("embedding", min(start + _REPORT_EVERY, len(texts)), len(texts))
        fresh = np.concatenate(parts)
    report("embedding", len(texts), len(texts))
    return fresh


# Chunks embedded between two progress reports: a few seconds of work on a 2-core CPU.
_REPORT_EVERY = 64


def _vectors(documents, chunks_of, previous, model: Embedder, progress: bool, report) -> tuple[np.ndarray, int]:
    """One vector per chunk, in document order, and how many had to be embedded."""
    reusable = [_reusable_vectors(previous, doc, chunks_of[doc.doc_id]) for doc in documents]
    to_embed = [c.search_text for doc, old in zip(documents, reusable) if old is None for c in chunks_of[doc.doc_id]]
    if to_embed or previous is None:
        logger.info("embedding %d chunks with %s", len(to_embed), model.id)
        fresh = _embed_reporting(model, to_embed, progress, report)
        dim = fresh.shape[1]
    else:  # everything reused: the model is not even loaded
        fresh, dim = None, previous.manifest["embedder"]["dim"]
    matrix = np.empty((sum(len(chunks_of[doc.doc_id]) for doc in documents), dim), dtype=np.float32)
    row = taken = 0
    for doc, old in zip(documents, reusable):
        n = len(chunks_of[doc.doc_id])
        if old is None:
            old, taken = fresh[taken : taken + n], taken + n
        matrix[row : row + n] = old
        row += n
    return matrix, len(to_embed)


def _previous_index(index_dir: Path, embedder_id: str, chunker: ChunkerSettings):
    """The previous index if its vectors can be reused, else ``None`` and the reason."""
    try:
        previous = load_index(index_dir)
    except IndexMissing:
        return None, "no previous index"
    except (IndexMismatch, IndexCorrupt) as exc:
        logger.warning("rebuilding everything: the previous index cannot be reused (%s)", exc)
        return None, "previous index unusable"
    built_with = previous.manifest["embedder"]["id"]
    if built_with != embedder_id:
        reason = f"embedder changed from {built_with} to {embedder_id}"
    elif previous.manifest["chunker"] != {"size": chunker.size, "overlap": chunker.overlap}:
        old = previous.manifest["chunker"]
        reason = (
            f"chunker changed from size {old['size']}/overlap {old['overlap']} "
            f"to {chunker.size}/{chunker.overlap}"
        )
    else:
        return previous, None
    logger.info("rebuilding everything: %s", reason)
    return None, reason


def _reusable_vectors(previous, doc: Document, chunks: list[Chunk]) -> np.ndarray | None:
    """The previous index's vectors for ``doc`` when its source and chunks are unchanged."""
    if previous is None:
        return None
    entry = previous.manifest["sources"].get(doc.source)
    if not entry or (entry["sha256"], entry["doc_id"], entry["title"]) != (doc.sha256, doc.doc_id, doc.title):
        return None
    start, end = chunk_rows(previous.manifest, doc.source)
    # Same bytes can still chunk differently (a new cleaning rule); compare to be sure.
    if previous.chunks[start:end] != chunks:
        return None
    return previous.vectors()[start:end]


def _unchanged_papers(previous, references, unread: set[str]):
    """The ``reuse`` hook of :func:`ingest.papers.load_papers`: a paper's document from
    ``previous`` when reading it again would make the same one, else ``None``.

    That holds when the file's bytes and :data:`INGEST_VERSION` are unchanged, and so is
    the citation that names and titles it. A paper whose file name does not carry its
    arXiv id is identified from its text, possibly by any cited title, so then every
    citation must be unchanged. Returns ``None`` (read everything) without a usable index.
    """
    if previous is None:
        return None
    if previous.manifest.get("ingest_version") != INGEST_VERSION:
        logger.info(
            "reading every paper again: the index was built by ingest version %s, this is %s",
            previous.manifest.get("ingest_version"),
            INGEST_VERSION,
        )
        return None
    from ingest.papers import parse_paper_filename
    from ingest.references import is_valid_arxiv_id

    cited_then = {ref["arxiv_id"]: ref.get("title") for ref in previous.manifest.get("references", [])}
    cited_now = {ref.arxiv_id: ref.title for ref in references}

    def reuse(path: Path, sha256: str) -> Document | None:
        entry = previous.manifest["sources"].get(str(path))
        if not entry or entry["kind"] != "paper" or entry["sha256"] != sha256:
            return None
        described = previous.documents[entry["doc_id"]]
        arxiv_id = described["arxiv_id"]
        if arxiv_id and not is_valid_arxiv_id(arxiv_id):
            return None  # a damaged record: read the PDF again rather than trust it
        if arxiv_id and arxiv_id == parse_paper_filename(path.name)[0]:
            if cited_then.get(arxiv_id) != cited_now.get(arxiv_id):
                return None
        elif cited_then != cited_now:
            return None
        unread.add(str(path))
        return _unread_document(str(path), entry, described)

    return reuse


def _unread_document(source: str, entry: dict, described: dict) -> Document:
    """The previous index's record of an unchanged PDF, standing in for reading it again.

    It has the document's metadata and page count but no text (the index keeps none):
    it is never chunked again, its chunks and vectors come from the previous index.
    """
    return Document(
        doc_id=entry["doc_id"],
        title=entry["title"],
        text="",
        source=source,
        sha256=entry["sha256"],
        lang=described["lang"],
        kind=entry["kind"],
        extractor=entry["extractor"],
        pages=tuple(Page(number=n, start=0, end=0) for n in range(1, entry["pages"] + 1)),
        url=described["url"],
        arxiv_id=described["arxiv_id"],
        authors=tuple(described["authors"]),
        origin=described.get("origin"),
    )


def _previous_chunks(previous, doc: Document) -> list[Chunk]:
    """``doc``'s chunks as the previous index holds them."""
    start, end = chunk_rows(previous.manifest, doc.source)
    return previous.chunks[start:end]
