"""Several settings on the same questions in one run: accuracy against time to first token.

Usage: python bench/frontier.py --setting NAME:KEY=VALUE,KEY=VALUE ... [--split test] [--out DIR]

Each ``--setting`` is a name and setting overrides (as in ``rag.toml``; a name with no
overrides, such as ``default:``, is the settings in force). Every question is answered by each setting in turn
(``rag.evaluate.run_side_by_side``), so the timing ratios compare like with like: the same
questions, the same run, the same machine. Writes one report per setting into
``DIR/<name>/`` and prints one table, with each first-token p50 as a ratio of the first
setting's.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.answer import Assistant  # noqa: E402
from rag.evaluate import run_side_by_side  # noqa: E402
from rag.report import with_interval  # noqa: E402
from rag.settings import load_settings  # noqa: E402


def parse_setting(text: str) -> tuple[str, dict[str, str]]:
    """``"fast:fast=true,llm=qwen2.5-coder-1.5b"`` -> ``("fast", {"fast": "true", "llm": ...})``."""
    name, _, rest = text.partition(":")
    overrides = {}
    for pair in filter(None, rest.split(",")):
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise SystemExit(f"--setting {text!r}: write NAME:KEY=VALUE,KEY=VALUE")
        overrides[key.strip()] = value.strip()
    if not name.strip():
        raise SystemExit(f"--setting {text!r}: give it a name before the colon")
    return name.strip(), overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", action="append", required=True, help="NAME:KEY=VALUE,... (repeatable)")
    parser.add_argument("--split", default="dev", choices=("dev", "test", "all"))
    parser.add_argument("--questions", default="corpus/questions.jsonl")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", default="reports/frontier")
    args = parser.parse_args(argv)
    chosen = dict(parse_setting(text) for text in args.setting)
    settings = {}
    assistants = {}
    for name, overrides in chosen.items():
        # Values arrive as text, like RAG_<NAME> variables: coerced by the same rules.
        settings[name], _ = load_settings(environ={f"RAG_{k.upper()}": v for k, v in overrides.items()})
        assistants[name] = Assistant.from_settings(settings[name])
        assistants[name].load_model()
    reports = run_side_by_side(
        assistants, args.questions, out_dir=args.out, split=args.split, limit=args.limit,
        settings={name: asdict(s) for name, s in settings.items()},
    )
    columns = ("accuracy", "refusal_accuracy", "false_refusal_rate", "citation_precision")
    print("| setting | " + " | ".join(columns) + " | prompt tokens p50 | first token p50 / p95 | ratio | total p50 |")
    print("|" + " --- |" * (len(columns) + 5))
    first = None
    for name, report in reports.items():
        t = report.totals
        first = first or t["first_token_s_p50"]
        rates = " | ".join(with_interval(t, c) for c in columns)
        print(f"| {name} | {rates} | {t['prompt_tokens_p50']:.0f} ({t['read_tokens_p50']:.0f} read) | {t['first_token_s_p50']:.1f} / "
              f"{t['first_token_s_p95']:.1f} s | {t['first_token_s_p50'] / first:.2f}× | {t['total_s_p50']:.1f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
