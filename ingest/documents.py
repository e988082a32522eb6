"""Plain data types that cross module borders during ingestion and retrieval."""

from __future__ import annotations

from dataclasses import dataclass, field


class IngestError(Exception):
    """Base class for errors a user can fix (bad corpus, bad index, bad settings)."""


@dataclass(frozen=True)
class Page:
    """A span of a document's cleaned text that came from one source page.

    ``number`` is the 1-based PDF page, or ``None`` for documents without pages.
    ``text[start:end]`` of the owning document is this page's text.
    """

    number: int | None
    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """One cleaned source document, ready to be chunked.

    ``text`` is the cleaned (NFKC, boilerplate-free) text; every chunk and page offset
    refers to it. ``sha256`` hashes the raw source bytes, so a rebuild can tell whether
    the source changed without cleaning it again.
    """

    doc_id: str
    title: str
    text: str
    source: str  # path of the source file, relative to its root where possible
    sha256: str
    lang: str = "zh"  # "zh" | "en"
    kind: str = "article"  # "article" | "paper"
    extractor: str = "text"  # "text" | "markdown" | "html" | "pypdf" | "pdfminer"
    pages: tuple[Page, ...] = ()
    url: str | None = None
    arxiv_id: str | None = None
    authors: tuple[str, ...] = ()
    origin: str | None = None  # original file name recorded in the corpus manifest


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage. ``document.text[start:end] == text`` always holds.

    Its row in the index is its id: no second id table exists.
    """

    doc_id: str
    title: str
    text: str
    start: int
    end: int
    page: int | None = None
    section: str | None = None
    url: str | None = None
    arxiv_id: str | None = None
    lang: str = "zh"
    # "text", "table" (rows of a captioned table) or "references" (a bibliography or
    # reading list, weighed down at retrieval); see ingest.structure.
    role: str = "text"
    context: str | None = None  # a table's caption and header, read with each row group

    @property
    def caption(self) -> str:
        """A table's caption and header, less the header its rows already start with; ""
        for prose. Shown with the rows, which mean little without it."""
        if self.role != "table" or not self.context:
            return ""
        caption, _, header = self.context.partition("\n")
        return caption if header and self.text.startswith(header) else self.context

    @property
    def search_text(self) -> str:
        """What is embedded and keyword-indexed: the text, after its context when it has one."""
        return f"{self.context}\n{self.text}" if self.context else self.text


@dataclass(frozen=True)
class ChunkerSettings:
    """Chunk size and overlap, in characters. Stored in the index manifest."""

    size: int = 500
    overlap: int = 80


@dataclass(frozen=True)
class SkippedFile:
    """A source that could not be read, and why (shown in the build summary)."""

    path: str
    reason: str


@dataclass(frozen=True)
class LoadResult:
    documents: tuple[Document, ...]
    skipped: tuple[SkippedFile, ...] = field(default_factory=tuple)
