"""The ``rag docs`` and ``rag feedback`` commands: what the page added and what its users flagged.

Registered by ``ui.cli``, which turns their errors into one line and an exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ui.cli_text import fit_columns

if TYPE_CHECKING:  # pragma: no cover - typing only
    from rag.settings import Settings


def add_page_commands(sub, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``docs list`` and ``feedback export`` to the ``rag`` parser's subcommands."""
    p = sub.add_parser("docs", help="the indexed documents, including those added from the page")
    docs = p.add_subparsers(dest="docs_command", required=True)
    q = docs.add_parser("list", help="every indexed document with its size and passages")
    add_common(q)

    p = sub.add_parser("feedback", help="what users said about answers on the page")
    feedback = p.add_subparsers(dest="feedback_command", required=True)
    q = feedback.add_parser("export", help="turn 👎 with corrections into question-set lines for `rag eval --questions`")
    add_common(q)
    q.add_argument("--feedback-file", help="feedback JSONL (default data/feedback.jsonl)")
    q.add_argument("--out", help="write the questions here instead of to stdout")


def cmd_docs(settings: "Settings", args) -> int:
    """Print every indexed document: "added" (from the page) or its kind, size, passages, title, source."""
    from ingest.library import indexed_documents

    for doc in indexed_documents(Path(settings.index_dir), Path(settings.corpus_dir), settings.upload_folder):
        size = f"{doc.size / 1024:,.1f} KB" if doc.size is not None else "missing"
        mark = "added" if doc.uploaded else doc.kind
        print(f"{mark:<8} {size:>10} {doc.chunks:>5} passages  {fit_columns(doc.title, 60)}  {doc.source}")
    return 0


def cmd_feedback(settings: "Settings", args) -> int:
    """Write the question-set lines made from the feedback file to ``--out`` or stdout."""
    from rag.feedback import export_questions, load_feedback

    records, left_out = export_questions(load_feedback(Path(settings.feedback_file)))
    lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    if args.out:
        Path(args.out).write_text(lines, encoding="utf-8")
    else:
        sys.stdout.write(lines)
    print(
        f"{len(records)} question(s) exported; {left_out} rating(s) left out (👍, or 👎 without a correction)"
        + (f"; run: rag eval --questions {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    return 0


PAGE_COMMANDS = {"docs": cmd_docs, "feedback": cmd_feedback}
