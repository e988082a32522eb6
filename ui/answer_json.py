"""An answer as plain JSON fields: one shape for ``rag ask --json`` and the page's ``/ask`` API."""

from __future__ import annotations

from typing import Any

from rag.types import Answer, Citation, Hit


def hit_json(hit: Hit) -> dict[str, Any]:
    """A retrieved passage: where it comes from, its scores and its text (``rag search --json``);
    ``caption`` is a table's caption (empty for prose)."""
    c = hit.chunk
    return {"doc_id": c.doc_id, "chunk_id": hit.row, "title": c.title, "page": c.page,
            "score": round(hit.score, 6), "dense": hit.dense, "keyword": hit.keyword, "text": c.text,
            "caption": c.caption}


def citation_json(citation: Citation) -> dict[str, Any]:
    """A numbered source of an answer, with how it was attached and whether it was verified."""
    c = citation.hit.chunk
    return {"n": citation.n, "doc_id": c.doc_id, "title": c.title, "page": c.page, "chunk_id": citation.hit.row,
            "arxiv_id": c.arxiv_id, "url": c.url, "text": c.text, "caption": c.caption, "how": citation.how,
            "supported": citation.supported, "evidence": list(citation.evidence)}


def answer_json(answer: Answer) -> dict[str, Any]:
    """The documented ``rag ask --json`` object, also what the ``/ask`` API returns."""
    return {
        "question": answer.question,
        "standalone_question": answer.standalone_question,
        "answer": answer.text,
        "refused": answer.refused,
        "refusal_reason": answer.refusal_reason,
        "notice": answer.notice,
        "citations": [citation_json(c) for c in answer.citations],
        "unsupported": list(answer.unsupported),
        "retrieved": [hit_json(h) for h in answer.retrieved],
        "timings": {k: round(v, 4) if isinstance(v, float) else v for k, v in answer.timings.items()},
        "model": answer.model,
    }
