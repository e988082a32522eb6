"""The ``rag`` command: the one place that wires ingest, rag and the web page together.

Library errors (``IngestError``, ``RagError``) and files that cannot be read become one
line on stderr and exit code 1; a bad command line is one line and exit code 2; nothing a
user can cause ends in a traceback (an unexpected error is one line and exit code 3, its
traceback logged with ``-v``). Questions and queries are cleaned of what a terminal or a
pipe can smuggle in (undecodable bytes, control characters) before they go anywhere (see
``ui.cli_text``). The ``Assistant`` is built here only (``_load_assistant``), also for the page.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path

from ingest.documents import IngestError
from rag.settings import Settings, describe, load_settings, paper_dirs
from rag.types import RagError
from ui.answer_json import answer_json, hit_json
from ui.cli_page import PAGE_COMMANDS, add_page_commands
from ui.cli_text import capped, fit_columns, one_line, snippet, stream_answer, user_text

log = logging.getLogger("rag")

EXIT_USER_ERROR = 1
EXIT_USAGE = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse prints the whole usage first)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index-dir", help="index directory (default data/index)")
    p.add_argument("--corpus-dir", help="corpus directory (default corpus)")
    p.add_argument("--config", help="settings file (default ./rag.toml or $RAG_CONFIG)")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")


def _add_answering(p: argparse.ArgumentParser) -> None:
    p.add_argument("--llm", help="qwen2.5-coder-0.5b (default), qwen2.5-coder-0.5b-q4_0 (faster, refuses less), qwen2.5-coder-1.5b (slower, more often right), FILE.gguf, HF id or dir, or openai:URL#MODEL")
    p.add_argument("--device", help="auto, cpu or cuda (transformers backend)")
    p.add_argument("--dtype", help="auto, bfloat16, float16 or float32 (transformers backend)")
    p.add_argument("--top-k", type=int, help="passages given to the model")
    p.add_argument("--passage-budget", type=int, help="tokens of passages in the prompt")
    p.add_argument("--max-new-tokens", type=int, help="longest answer in tokens")
    p.add_argument("--fast", action="store_true", default=None,
                   help="answer from less evidence, for a shorter wait (setting fast; fast_llm names another model for it)")


def _add_rebuild(sub) -> None:
    p = sub.add_parser("rebuild", help="(re)build the index from the corpus, incrementally")
    _add_common(p)
    p.add_argument("--papers-dir", action="append", default=[], metavar="DIR", help="also ingest the PDFs in DIR (repeatable)")
    p.add_argument("--embedder", help="use-m3 (default), minilm, or st:<model id or dir>")
    p.add_argument("--chunk-size", type=int, help="target chunk size in characters")
    p.add_argument("--chunk-overlap", type=int, help="overlap between chunks in characters")


def _add_search_ask_chat(sub) -> None:
    p = sub.add_parser("search", help="show the passages retrieved for a query")
    _add_common(p)
    p.add_argument("query")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("ask", help="answer one question with citations")
    _add_common(p)
    _add_answering(p)
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of streaming")

    p = sub.add_parser("chat", help="interactive multi-turn session in the terminal")
    _add_common(p)
    _add_answering(p)


def _add_serve(sub) -> None:
    p = sub.add_parser("serve", help="start the chat web page")
    _add_common(p)
    _add_answering(p)
    p.add_argument("--host", help="address to bind (default 127.0.0.1; anything else needs RAG_AUTH or --insecure)")
    p.add_argument("--port", type=int)
    p.add_argument(
        "--insecure", action="store_true",
        help="serve a non-loopback --host without RAG_AUTH: anyone who can reach it can use it",
    )
    p.add_argument("--share", choices=["never"], default="never", help="Gradio's public share link stays off")


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="score retrieval, answers, citations, refusals and latency")
    _add_common(p)
    _add_answering(p)
    p.add_argument("--questions", help="question set (JSONL; default corpus/questions.jsonl)")
    p.add_argument("--out", help="report directory (default reports/<timestamp>)")
    p.add_argument("--retrieval-only", action="store_true", help="no LLM: retrieval metrics only")
    p.add_argument("--split", choices=["dev", "test", "all"],
                   help="which questions: dev (tune on these), test (report these) or all; "
                        "default dev for the shipped set, all for a --questions file")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"), help="compare two report directories")


def _add_config_papers(sub) -> None:
    p = sub.add_parser("config", help="print the settings in force and where each came from")
    _add_common(p)
    _add_answering(p)

    p = sub.add_parser("papers", help="papers cited by the corpus")
    papers = p.add_subparsers(dest="papers_command", required=True)
    q = papers.add_parser("list", help="every cited paper with its status")
    _add_common(q)
    q.add_argument("--papers-dir", action="append", default=[], metavar="DIR")
    q = papers.add_parser("fetch", help="download missing papers from arXiv into the papers cache")
    _add_common(q)


def build_parser() -> argparse.ArgumentParser:
    """The ``rag`` command line: one subcommand per task."""
    parser = _Parser(prog="rag", description="Bilingual Q&A over the LLM-history corpus and its papers.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_rebuild, _add_search_ask_chat, _add_serve, _add_eval, _add_config_papers):
        add(sub)
    add_page_commands(sub, _add_common)
    return parser


def settings_from_args(args: argparse.Namespace) -> tuple[Settings, dict[str, str]]:
    """Command-line flags are the last layer over defaults, config file and environment."""
    flags = {
        name: getattr(args, name, None)
        for name in (
            "index_dir", "corpus_dir", "embedder", "chunk_size", "chunk_overlap", "llm", "device", "dtype",
            "top_k", "passage_budget", "max_new_tokens", "fast", "questions", "host", "port", "feedback_file",
        )
    }
    settings, origin = load_settings(flags, config_file=getattr(args, "config", None))
    extra = tuple(getattr(args, "papers_dir", None) or ())
    if extra:
        settings = settings.replace(papers_dirs=settings.papers_dirs + extra)
        origin["papers_dirs"] = "command line"
    return settings, origin


# -- commands ---------------------------------------------------------------------------
def cmd_rebuild(settings: Settings, args) -> int:
    from ingest.build import build_index
    from ingest.documents import ChunkerSettings

    for d in settings.papers_dirs:
        if not Path(d).is_dir():
            raise IngestError(f"--papers-dir {d}: no such directory")
    summary = build_index(
        Path(settings.corpus_dir),
        Path(settings.index_dir),
        embedder=settings.embedder,
        chunker=ChunkerSettings(settings.chunk_size, settings.chunk_overlap),
        papers_dirs=paper_dirs(settings),
        progress=True,
    )
    print(summary)
    return 0


def _load_assistant(settings: Settings):
    """The one place the ``Assistant`` is built: every command and the page get theirs here."""
    from rag.answer import Assistant

    return Assistant.from_settings(settings)


def cmd_search(settings: Settings, args) -> int:
    # Cut before anything loads: segmenting and embedding cost grows with the query.
    query = capped(user_text(args.query, "query"), settings.max_question_chars, "query")
    if not query.strip():
        raise RagError("The query is empty: type some words to search for.")
    assistant = _load_assistant(settings)
    hits = assistant.retriever.search(query, args.top_k or settings.top_k)
    if args.json:
        print(json.dumps([hit_json(h) for h in hits], ensure_ascii=False, indent=2))
        return 0
    for i, hit in enumerate(hits, 1):
        c = hit.chunk
        page = f" — page {c.page}" if c.page is not None else ""
        dense = f"{hit.dense:.3f}" if hit.dense is not None else "-"
        bm25 = f"{hit.keyword:.2f}" if hit.keyword is not None else "-"
        print(f"[{i}] {hit.score:.4f} (cosine {dense}, bm25 {bm25})  {c.title}{page}  #{hit.row}")
        if c.caption:
            print(f"    {snippet(c.caption, 300)}")
        print(f"    {snippet(c.text, 2000)}")
    return 0


def cmd_ask(settings: Settings, args) -> int:
    question = user_text(args.question, "question")
    assistant = _load_assistant(settings)
    if args.json:
        print(json.dumps(answer_json(assistant.ask(question)), ensure_ascii=False, indent=2))
        return 0
    stream_answer(assistant, question, ())
    return 0


def cmd_chat(settings: Settings, args) -> int:
    assistant = _load_assistant(settings)
    history: list[tuple[str, str]] = []
    if hasattr(sys.stdin, "reconfigure"):
        # Undecodable bytes arrive as surrogates (cleaned below) instead of ending the session.
        sys.stdin.reconfigure(errors="surrogateescape")
    print("Ask in Chinese or English; an empty line or Ctrl-D ends the session.")
    while True:
        try:
            line = input("> ")
        except EOFError:
            print()
            return 0
        if not line.strip():
            return 0
        question = user_text(line, "question").strip()
        try:
            answer = stream_answer(assistant, question, history)
        except (RagError, IngestError) as exc:
            # One bad question ends that answer, not the conversation.
            print(f"error: {one_line(exc)}", file=sys.stderr)
            continue
        if answer.standalone_question:
            print(f"(understood as: {answer.standalone_question})")
        history.append((question, answer.text))


def cmd_serve(settings: Settings, args) -> int:
    from ui.app import serve

    # The page creates the assistant in the background, after its access check passed.
    serve(settings, lambda: _load_assistant(settings), insecure=args.insecure)
    return 0


def cmd_eval(settings: Settings, args) -> int:
    from rag import evaluate
    from rag.questionset import load_questions, select_split
    from rag.report import compare

    if args.compare:
        print(compare(Path(args.compare[0]), Path(args.compare[1])))
        return 0
    questions = Path(settings.questions)
    split = args.split or ("all" if args.questions else "dev")
    chosen = select_split(load_questions(questions), split)[: args.limit or None]
    print(f"split {split}: {len(chosen)} questions from {questions}", flush=True)
    assistant = _load_assistant(settings)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path(settings.reports_dir) / f"{stamp}-{'retrieval' if args.retrieval_only else 'full'}"
    report = evaluate.run_eval(
        assistant, questions, out_dir=out, retrieval_only=args.retrieval_only,
        top_k=args.top_k, settings=asdict(settings), progress=True, split=split, limit=args.limit,
    )
    from rag.report import totals_rows

    for metric, value in totals_rows(report.totals):
        if value != "–":
            print(f"{metric:28} {value}")
    print(f"report: {out / 'report.md'}")
    return 0


def cmd_config(settings: Settings, origin: dict[str, str]) -> int:
    print(describe(settings, origin))
    return 0


def _references(settings: Settings):
    from ingest.index import IndexMissing, load_index
    from ingest.references import find_references, refs_from_dicts

    try:
        index = load_index(Path(settings.index_dir))
        return refs_from_dicts(index.manifest.get("references", [])), index
    except IndexMissing:
        from ingest.corpus import load_corpus

        return find_references(load_corpus(Path(settings.corpus_dir)).documents), None


def cmd_papers(settings: Settings, args) -> int:
    from ingest import papers

    refs, index = _references(settings)
    cache = Path(settings.papers_cache)
    if args.papers_command == "fetch":
        cache.mkdir(parents=True, exist_ok=True)
        # Papers already indexed from a --papers-dir are not downloaded again.
        known = {Path(d) for d in settings.papers_dirs}
        if index is not None:
            known |= {Path(src).parent for src, rec in index.manifest.get("sources", {}).items() if rec.get("kind") == "paper"}
        report = papers.fetch_papers(refs, cache, also_in=sorted(known), progress=True)
        print(report)
        print("Run `rag rebuild` to index the new papers.")
        return 0
    indexed: dict[str, list[tuple[str, str]]] = {}
    if index is not None:
        for doc_id, doc in sorted(index.documents.items(), key=lambda item: (len(item[0]), item[0])):
            if doc.get("arxiv_id"):
                label = doc_id.removeprefix("arxiv-")  # the id, or id-variant for a translation
                indexed.setdefault(doc["arxiv_id"], []).append((label, doc.get("title")))
    rows = papers.paper_status(refs, cache, [Path(d) for d in settings.papers_dirs], indexed)
    for row in rows:
        cited = ", ".join(row.cited_by)
        print(f"{row.label:<14} {row.status:<8} {fit_columns(row.title or '?', 70)}  cited by {cited}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rag`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Streamed answers and the page's URL must show up at once, even through a pipe; a
    # character the terminal's encoding lacks is shown as "?" rather than ending the command.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True, errors="replace")
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        settings, origin = settings_from_args(args)
        if args.command == "config":
            return cmd_config(settings, origin)
        handler = {
            "rebuild": cmd_rebuild, "search": cmd_search, "ask": cmd_ask, "chat": cmd_chat,
            "serve": cmd_serve, "eval": cmd_eval, "papers": cmd_papers,
            **PAGE_COMMANDS,
        }[args.command]
        return handler(settings, args)
    except (IngestError, RagError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # a file named on the command line or in the settings
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or one_line(exc)}{where}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last resort: a bug, reported in one line
        log.info("unexpected error", exc_info=True)
        print(
            f"error: unexpected {type(exc).__name__}: {one_line(exc)} (a bug; run again with -v for details)",
            file=sys.stderr,
        )
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
