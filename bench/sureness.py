"""Does the model's confidence tell its right answers from its wrong ones? Read a stored run.

Usage: python bench/sureness.py REPORT_DIR [--out PATH]

A full ``rag eval`` report keeps, for each reply, the probability the model gave each token
it wrote (llama.cpp; ``reply_probs``). This script takes each question's first reply that
was shown as the answer (answered on the first attempt, not refused) and scores it three
ways: the least likely token's probability, the same past the first two tokens (a reply's
opening words are a choice of phrasing, not of fact), and the geometric mean. For each it
prints the AUC (the chance that a right answer scores above a wrong one; 0.5 is no signal)
and how many right and wrong answers fall below each quartile: the answers a rule "ask
again below this" would send to a second model. No model runs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from scipy.stats import mannwhitneyu

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.report import load_report  # noqa: E402

SCORES: dict[str, Callable[[Sequence[float]], float]] = {
    "least likely token": lambda p: min(p),
    "least likely past the first two": lambda p: min(p[2:] or p),
    "geometric mean": lambda p: math.exp(sum(math.log(max(x, 1e-9)) for x in p) / len(p)),
}


def auc(higher: Sequence[float], lower: Sequence[float]) -> float | None:
    """The chance that a value of ``higher`` exceeds one of ``lower`` (ties count half):
    the Mann-Whitney U statistic over the number of pairs."""
    if not higher or not lower:
        return None
    return float(mannwhitneyu(higher, lower).statistic) / (len(higher) * len(lower))


def screen(rows) -> dict:
    """Each score's AUC and the right / wrong / unanswerable answers below each quartile."""
    shown = [r for r in rows if len(r.replies) == 1 and r.refused is False and r.reply_probs and r.reply_probs[0]]
    result = {"first replies shown": len(shown)}
    outcome = ["unanswerable" if not r.answerable else "right" if r.correct else "wrong" for r in shown]
    for name, score in SCORES.items():
        scored = list(zip((score(r.reply_probs[0]) for r in shown), outcome))
        right = [s for s, o in scored if o == "right"]
        wrong = [s for s, o in scored if o == "wrong"]
        values = sorted(s for s, _ in scored)
        below = {}
        for q in (0.25, 0.5, 0.75):
            cut = values[int(q * len(values))] if values else 0.0
            under = Counter(o for s, o in scored if s < cut)
            below[f"{q:.2f}"] = {"cut": round(cut, 4), **{o: under[o] for o in ("right", "wrong", "unanswerable")}}
        result[name] = {"auc": auc(right, wrong), "right": len(right), "wrong": len(wrong), "below": below}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    result = screen(load_report(args.report).rows)
    print(f"first replies shown: {result['first replies shown']}")
    for name in SCORES:
        r = result[name]
        auc_text = "–" if r["auc"] is None else f"{r['auc']:.3f}"
        quartiles = "; ".join(f"below {b['cut']}: {b['right']} right, {b['wrong']} wrong, {b['unanswerable']} unanswerable"
                              for b in r["below"].values())
        print(f"{name}: AUC right over wrong {auc_text} ({r['right']} right, {r['wrong']} wrong); {quartiles}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
