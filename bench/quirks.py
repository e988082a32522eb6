"""Do the small models' workarounds still earn their place? Check stored replies again
with each one turned off.

Usage: python bench/quirks.py REPORT_DIR [--followups] [--out PATH]

A full ``rag eval`` report keeps each question's raw replies, attempt by attempt. This
script rebuilds each question's prompt with the report's own settings (the stages before
the model writes are deterministic: ``Assistant.prepare``) and runs the answer check on
the stored reply again: once under the model's profile as the code has it now (which
tells whether the profile has changed since the run), and once with each workaround that
profile uses turned off (and the refusal phrase list turned on, when it does without it):

- ``drop_echoes``: sentences that repeat the prompt are no longer dropped;
- ``refusal_phrases``: only the exact refusal sentence counts as a refusal, not the list
  of phrases a small model paraphrases it with;
- ``retry_bare_markers``: a reply of bare markers ("[2]") is final, not asked again (the
  first attempt's reply is checked; the model is not called).

No model writes, so a row's difference from the replay under today's profile is that
workaround's alone. (A retry or a fallback the run did not make cannot be replayed: there
is no second reply. A fallback reply the run made, after an answer the check refused as
unsupported or a decline, is checked against the fallback's prompt: setting ``fallback``.)
The follow-up patterns change the question that retrieval sees, so they cannot be
replayed: ``--followups`` answers the report's follow-up questions again with the
patterns off (the model rewrites every follow-up), which does call the model. Likewise
``--bare-retry``, for a profile without the retry, answers again the questions whose
reply was bare markers with the retry on (two model calls each; the first reply comes out
as recorded, since a reply depends only on its prompt).

Prints one table (accuracy, refusal accuracy, false refusals, citation precision, with
95% Wilson intervals, and how many questions turned right or wrong) and writes it as
JSON to ``--out``. With ``--changed``, first lists each question whose answer the code as
it is now gives otherwise than the run recorded (after a change to the answer check: what
it changed, without asking the model again).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.answer import Assistant  # noqa: E402
from rag.cite import REFUSAL_PATTERNS, parse_markers  # noqa: E402
from rag.metrics import QuestionResult, is_right, score_question, summarize  # noqa: E402
from rag.pipeline import CachedSimilarity, Verdict, bare_markers, has_content, make_answer, narrowed, verify  # noqa: E402
from rag.prompt import REFUSAL  # noqa: E402
from rag.questionset import SourceResolver, load_questions  # noqa: E402
from rag.report import load_report, with_interval  # noqa: E402
from rag.settings import Settings, load_settings  # noqa: E402

TURNED_OFF = {
    "drop_echoes": {"drop_echoes": False},
    "refusal_phrases": {"refusal_phrases": None},
    "retry_bare_markers": {"retry_bare_markers": False},
}
METRICS = ("accuracy", "refusal_accuracy", "false_refusal_rate", "citation_precision")


def replay(assistant: Assistant, question, resolver: SourceResolver, recorded: QuestionResult, profile) -> QuestionResult:
    """The question scored with ``recorded``'s replies checked again under ``profile``."""
    asked, standalone, _, retrieved, prompt = assistant.prepare(question.question, question.history)
    resolved = resolver.resolve(question.sources)
    if prompt is None or not recorded.replies:
        verdict = Verdict(REFUSAL[asked.lang], True, "no_relevant_passages")
    else:
        similarity = CachedSimilarity(assistant.index.embedder(), {retrieved.query.text: retrieved.query.vector})
        replies = list(recorded.replies)
        reply = replies.pop(0)
        pointed = bare_markers(reply, len(prompt.passages))
        if pointed and assistant.profile.retry_bare_markers and replies:  # the run asked again
            retried = replies.pop(0)
            if profile.retry_bare_markers:  # the retry's prompt: only the passages pointed at
                prompt, reply = narrowed(prompt, pointed, assistant.authors), retried
        verdict = verify(reply, prompt, profile, similarity, assistant.lexicon)
        if replies and verdict.reason in ("unsupported_answer", "model_declined"):  # the run's fallback reply
            helper, prompt = assistant.fallback_prompt(asked, standalone)
            verdict = verify(replies[0], prompt, profile if helper is assistant else helper.profile, similarity,
                             assistant.lexicon)
    answer = make_answer(asked, standalone, retrieved, verdict, {}, {})
    return score_question(question, resolved, retrieved.hits, answer, {})


def flips(before: list[QuestionResult], after: list[QuestionResult]) -> tuple[int, int]:
    """(turned right, turned wrong): answerable questions by correctness, unanswerable by refusal."""
    pairs = list(zip(before, after))
    return (sum(not is_right(a) and is_right(b) for a, b in pairs),
            sum(is_right(a) and not is_right(b) for a, b in pairs))


def is_bare(row: QuestionResult) -> bool:
    """Whether the row's first reply was bare markers ("[2]")."""
    return bool(row.replies) and not has_content(row.replies[0]) and bool(parse_markers(row.replies[0]))


def answered_again(assistant: Assistant, profile, questions, resolver: SourceResolver, recorded, replayed, chosen) -> list:
    """``replayed`` with the rows that ``chosen`` picks from ``recorded`` answered again by
    the model under ``profile``."""
    base, assistant.profile = assistant.profile, profile
    try:
        rows = []
        for r, again in zip(recorded, replayed):
            if chosen(r):
                question = questions[r.id]
                answer = assistant.ask(question.question, question.history)
                again = score_question(question, resolver.resolve(question.sources), answer.retrieved, answer, answer.timings)
            rows.append(again)
        return rows
    finally:
        assistant.profile = base


def changed(recorded: list[QuestionResult], replayed: list[QuestionResult]) -> list[str]:
    """One line per question whose replayed answer differs from the recorded one: its id,
    its verdict then and now (right, wrong, refused), and both answers on one line each."""
    def verdict(row: QuestionResult) -> str:
        return "refused" if row.refused else "right" if is_right(row) else "wrong"

    def flat(text: str) -> str:
        return " ".join(text.split())

    return [
        f"{a.id}: {verdict(a)} -> {verdict(b)}\n  was: {flat(a.answer)}\n  now: {flat(b.answer)}"
        for a, b in zip(recorded, replayed)
        if a.answer != b.answer
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="a full `rag eval` report directory (its rows keep the raw replies)")
    parser.add_argument("--followups", action="store_true", help="also answer follow-ups again with the patterns off (calls the model)")
    parser.add_argument("--bare-retry", action="store_true",
                        help="also answer bare-marker replies again with the retry on (calls the model)")
    parser.add_argument("--changed", action="store_true", help="list the answers the code as it is now gives otherwise")
    parser.add_argument("--out", help="write the table as JSON here")
    args = parser.parse_args(argv)
    report = load_report(args.report)
    if report.meta.get("mode") != "full" or not any(r.replies for r in report.rows):
        raise SystemExit(f"{args.report}: not a full eval report with raw replies; run `rag eval` (this version) first")
    # The run's own settings, coerced and checked as any settings are (a setting removed
    # since the run is dropped); not this shell's RAG_* variables.
    names = {f.name for f in dataclasses.fields(Settings)}
    settings, _ = load_settings({k: v for k, v in (report.meta.get("settings") or {}).items() if k in names}, environ={})
    assistant = Assistant.from_settings(settings)
    questions = {q.id: q for q in load_questions(report.meta["questions"]["path"])}
    resolver = SourceResolver(assistant.index.documents)
    recorded = list(report.rows)
    base = assistant.profile
    today = f"replayed, {base.name} profile as now"
    variants = {today: base}
    for name, off in TURNED_OFF.items():
        if getattr(base, name):
            variants[f"no {name}"] = dataclasses.replace(base, **off)
    if base.refusal_phrases is None:
        variants["with refusal_phrases"] = dataclasses.replace(base, refusal_phrases=REFUSAL_PATTERNS)
    results = {"recorded": recorded}
    for label, profile in variants.items():
        results[label] = [replay(assistant, questions[r.id], resolver, r, profile) for r in recorded]
    same = sum(a.answer == b.answer for a, b in zip(recorded, results[today]))
    print(f"{args.report}: {same} of {len(recorded)} answers replay as recorded under the {base.name} profile as it is now")
    if args.changed:
        print("\n".join(changed(recorded, results[today])))
    if args.followups and base.followup_patterns:
        results["no followup_patterns"] = answered_again(
            assistant, dataclasses.replace(base, followup_patterns=()), questions, resolver, recorded,
            results[today], lambda r: bool(questions[r.id].history))
    if args.bare_retry and not base.retry_bare_markers:
        results["with retry_bare_markers"] = answered_again(
            assistant, dataclasses.replace(base, retry_bare_markers=True), questions, resolver, recorded,
            results[today], is_bare)
    table = {}
    print(f"| {'check':<34} | " + " | ".join(METRICS) + " | turned right / wrong | against |")
    print("| --- " * (len(METRICS) + 3) + "|")
    for label, rows in results.items():
        totals = summarize(rows)
        against = "recorded" if label in ("recorded", today) else today
        right, wrong = flips(results[against], rows)
        table[label] = {**{m: totals.get(m) for m in METRICS}, "turned_right": right, "turned_wrong": wrong, "against": against}
        cells = [with_interval(totals, m) for m in METRICS]
        print(f"| {label:<34} | " + " | ".join(cells) + f" | {right} / {wrong} | {against} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"report": args.report, "variants": table}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
