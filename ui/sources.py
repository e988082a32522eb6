"""The sources panel beside the chat: the passages an answer cites, with the terms of
each claim highlighted, and the other retrieved passages collapsed.

Everything that comes from a document is HTML-escaped before any markup is added; the
only links out are each source's own arXiv page or http(s) URL.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

from rag.types import Answer, Citation, Hit

ARXIV_ABS = "https://arxiv.org/abs/"


def render_reading(hits: Sequence[Hit]) -> str:
    """The sources panel while the model reads: which passages it was given."""
    items = "".join(f"<li>{_source_heading(str(n), hit)}</li>" for n, hit in enumerate(hits, 1))
    return (
        '<div class="rag-sources rag-reading"><h4>Reading / 正在阅读</h4>'
        f"<ul>{items}</ul><p>The cited passages appear here when the answer is complete.</p></div>"
    )


def placeholder_sources(text: str) -> str:
    """The sources panel before there are passages to show: ``text`` in a dashed box."""
    return f'<div class="rag-sources rag-sources-empty">{html.escape(text)}</div>'


def highlight(text: str, terms: Iterable[str]) -> str:
    """Escape ``text`` and wrap every occurrence of ``terms`` (case-insensitive) in <mark>."""
    words = sorted({t for t in terms if t.strip()}, key=len, reverse=True)
    if not words:
        return html.escape(text)
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    out: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        out.append(f"<mark>{html.escape(match.group(0))}</mark>")
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def _source_heading(label: str, hit: Hit) -> str:
    chunk = hit.chunk
    parts = [f'<span class="rag-src-n">{html.escape(label)}</span>']
    parts.append(f'<span class="rag-src-title">{html.escape(chunk.title)}</span>')
    if chunk.page is not None:
        parts.append(f'<span class="rag-src-page">p. {chunk.page}</span>')
    link = _paper_link(hit)
    if link:
        parts.append(link)
    return " ".join(parts)


def _paper_link(hit: Hit) -> str:
    chunk = hit.chunk
    if chunk.arxiv_id:
        url = ARXIV_ABS + chunk.arxiv_id
        label = f"arXiv:{chunk.arxiv_id}"
    elif chunk.url and chunk.url.startswith(("https://", "http://")):
        url, label = chunk.url, "link"
    else:
        return ""
    return (
        f'<a class="rag-src-link" href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">'
        f"{html.escape(label)}</a>"
    )


def _citation_badges(citation: Citation) -> str:
    badges = []
    if citation.how == "attributed":
        badges.append(
            '<span class="rag-badge rag-attributed" title="The model did not write this marker; '
            'it was matched to the sentence after generation">attached after generation</span>'
        )
    if not citation.supported:
        badges.append(
            '<span class="rag-badge rag-unsupported" title="The cited sentence was not found in '
            'this passage">not supported by the passage</span>'
        )
    return " ".join(badges)


def _caption(hit: Hit) -> str:
    caption = hit.chunk.caption
    return f'<div class="rag-src-caption">{html.escape(caption)}</div>' if caption else ""


def render_citation(citation: Citation) -> str:
    """One cited passage of the sources panel, anchored at ``src-<n>``."""
    badges = _citation_badges(citation)
    return (
        f'<div class="rag-source" id="src-{citation.n}">'
        f'<div class="rag-src-head">{_source_heading(f"[{citation.n}]", citation.hit)}'
        f"{' ' + badges if badges else ''}</div>"
        f"{_caption(citation.hit)}"
        f'<div class="rag-src-text">{highlight(citation.hit.chunk.text, citation.evidence)}</div>'
        "</div>"
    )


def render_hit(hit: Hit) -> str:
    """A retrieved passage that no citation points at."""
    return (
        '<div class="rag-source rag-uncited">'
        f'<div class="rag-src-head">{_source_heading("·", hit)}'
        f' <span class="rag-src-score">score {hit.score:.3f}</span></div>'
        f"{_caption(hit)}"
        f'<div class="rag-src-text">{html.escape(hit.chunk.text)}</div>'
        "</div>"
    )


def render_sources(answer: Answer) -> str:
    """The sources panel: cited passages first, other retrieved passages collapsed."""
    cited_rows = {c.hit.row for c in answer.citations}
    others = [hit for hit in answer.retrieved if hit.row not in cited_rows]
    parts = ['<div class="rag-sources">']
    if answer.refused:
        parts.append("<h4>No passage answers this / 没有段落能回答这个问题</h4>")
        if others:
            parts.append(
                f"<details><summary>Closest passages / 最接近的段落 ({len(others)})</summary>"
                + "".join(render_hit(h) for h in others)
                + "</details>"
            )
        else:
            parts.append('<p class="rag-meta">No passage came close. / 没有相关段落。</p>')
        parts.append("</div>")
        return "".join(parts)
    if answer.citations:
        parts.append(f"<h4>Sources / 来源 ({len(answer.citations)})</h4>")
        parts.extend(render_citation(c) for c in sorted(answer.citations, key=lambda c: c.n))
    else:
        parts.append('<p class="rag-meta">The answer cites no passage. / 回答没有引用段落。</p>')
    if answer.unsupported:
        items = "".join(f"<li>{html.escape(s)}</li>" for s in answer.unsupported)
        parts.append(
            '<div class="rag-unsupported-list"><b>Sentences no passage supports / 没有依据的句子:</b>'
            f"<ul>{items}</ul></div>"
        )
    if others:
        parts.append(
            f"<details><summary>Other retrieved passages / 其他检索到的段落 ({len(others)})</summary>"
            + "".join(render_hit(h) for h in others)
            + "</details>"
        )
    parts.append("</div>")
    return "".join(parts)
