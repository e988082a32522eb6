"""What answering again would gain: one setting's answers, and where the answer check
refused them, another setting's answers to the same questions.

Usage: python bench/fallback.py FIRST_REPORT SECOND_REPORT [--reason unsupported_answer ...]

Both reports come from one ``bench/frontier.py`` run (the same questions on the same
machine). A reply depends only on its own prompt (``rag.llamacpp`` reads every prompt
from the end of its fixed instructions), so asking the second setting after the first
refused gives the second setting's recorded reply: this is the pipeline "answer; if the
check refuses the answer for one of ``--reason``, answer again with the second setting",
without running it. Its waits are estimated: a question answered again is shown the
second setting's answer after the whole first attempt (first shown = first total +
second first shown; total = both totals).

Prints accuracy, refusal accuracy, false refusals and citation precision with 95%
intervals for the first setting, the second and the fallback, how many questions were
answered again, and the questions that turned right or wrong.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.metrics import QuestionResult, is_right, summarize  # noqa: E402
from rag.report import load_report, with_interval  # noqa: E402

METRICS = ("accuracy", "refusal_accuracy", "false_refusal_rate", "citation_precision")


def fallback(first: QuestionResult, second: QuestionResult, reasons: set[str]) -> QuestionResult:
    """``first``, or ``second`` answered after it when the check refused ``first`` for one of ``reasons``."""
    if not (first.refused and first.refusal_reason in reasons):
        return first
    shown = first.total_s + second.first_shown_s if None not in (first.total_s, second.first_shown_s) else None
    total = first.total_s + second.total_s if None not in (first.total_s, second.total_s) else None
    return dataclasses.replace(second, first_token_s=first.first_token_s, first_shown_s=shown, total_s=total,
                               replies=first.replies + second.replies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", help="report directory of the setting that answers first")
    parser.add_argument("second", help="report directory of the setting that answers again")
    parser.add_argument("--reason", action="append", default=None,
                        help="refusal reason that triggers answering again (repeatable; default unsupported_answer)")
    args = parser.parse_args(argv)
    reasons = set(args.reason or ["unsupported_answer"])
    a, b = load_report(args.first), load_report(args.second)
    second = {r.id: r for r in b.rows}
    if {r.id for r in a.rows} != set(second):
        raise SystemExit("the two reports answer different questions: give two settings of one bench/frontier.py run")
    combined = [fallback(r, second[r.id], reasons) for r in a.rows]
    print(f"| {'run':<10} | " + " | ".join(METRICS) + " | first shown p50 | total p50 / p95 |")
    print("| --- " * (len(METRICS) + 3) + "|")
    for label, rows in (("first", a.rows), ("second", b.rows), ("fallback", combined)):
        t = summarize(rows)
        print(f"| {label:<10} | " + " | ".join(with_interval(t, m) for m in METRICS)
              + f" | {t['first_shown_s_p50']:.1f} s | {t['total_s_p50']:.1f} / {t['total_s_p95']:.1f} s |")
    again = [r for r, c in zip(a.rows, combined) if c is not r]
    print(f"answered again: {len(again)} of {len(a.rows)} ({', '.join(sorted(reasons))})")
    for label, turned in (("turned right", lambda x, y: not is_right(x) and is_right(y)),
                          ("turned wrong", lambda x, y: is_right(x) and not is_right(y))):
        ids = [x.id for x, y in zip(a.rows, combined) if turned(x, y)]
        print(f"{label}: {len(ids)} {' '.join(ids)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
