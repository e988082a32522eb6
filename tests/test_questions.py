"""The shipped question set: its size and mix, and that every answer key is checked against
the sentence that states it.

Articles are loaded as ingestion loads them (corpus/manifest.toml, cleaned), so an answer
found only in web-page boilerplate fails. Papers are loaded from ../shared/papers by the
same loader `rag rebuild --papers-dir` uses; those checks skip when the folder is absent.
"""

from __future__ import annotations

import re
from collections import Counter
from difflib import SequenceMatcher
from pathlib import Path

import pytest

from ingest.corpus import load_corpus
from ingest.text import detect_language
from rag.metrics import normalize, tokens
from rag.questionset import load_questions

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "corpus" / "questions.jsonl"
PAPERS = ROOT.parent / "shared" / "papers"
ARXIV_SOURCE = re.compile(r"^(arxiv-)?(\d{4}\.\d{4,5})(-[a-z]+)?$")
FAMILY_MINIMUM = 30


@pytest.fixture(scope="module")
def questions():
    return load_questions(QUESTIONS)


@pytest.fixture(scope="module")
def raw_articles() -> dict[str, str]:
    """Cleaned text of each corpus article by document id, as the index holds it."""
    return {doc.doc_id: doc.text for doc in load_corpus(ROOT / "corpus").documents}


@pytest.fixture(scope="module")
def articles(raw_articles) -> dict[str, str]:
    """The same texts normalised the way answers are matched."""
    return {doc_id: normalize(text) for doc_id, text in raw_articles.items()}


@pytest.fixture(scope="module")
def papers() -> dict[str, str]:
    """Normalised text of each local paper by document id (arxiv-<id>, arxiv-<id>-zh)."""
    if not PAPERS.is_dir():
        pytest.skip("../shared/papers is not available")
    from ingest.papers import load_papers

    return {doc.doc_id: normalize(doc.text) for doc in load_papers([PAPERS]).documents}


def _doc_ids(source: str, known: dict[str, str]) -> list[str]:
    """The documents a source names: an article id, a paper id, or a bare arXiv id (every version)."""
    if source in known:
        return [source]
    match = ARXIV_SOURCE.match(source)
    if not match:
        return []
    return [d for d in known if ARXIV_SOURCE.match(d) and ARXIV_SOURCE.match(d).group(2) == match.group(2)
            and (match.group(3) is None or d.endswith(match.group(3)))]


def _one_edit(a: str, b: str) -> bool:
    """Whether a and b differ by exactly one inserted, deleted or replaced character."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return a[i + 1 :] == b[i + 1 :] or a[i:] == b[i + 1 :] or a[i + 1 :] == b[i:]


def test_one_edit_spots_spelling_variants():
    assert _one_edit("mistral7b", "mistal7b") and _one_edit("grey", "gray")
    assert not _one_edit("gpt4", "gpt4") and not _one_edit("175b", "17b5x")


def test_set_size_and_every_family_has_thirty(questions):
    """250+ questions, and at least 30 in each family the evaluation reports on."""
    families: Counter[str] = Counter()
    for q in questions:
        if q.answerable and q.scope == "article":
            families[f"article-{q.lang}"] += 1
        if q.scope == "paper":
            families["paper"] += 1
            families[f"paper-{q.lang}"] += 1
        families[q.kind] += 1
        families["unanswerable-any"] += not q.answerable
    assert len(questions) >= 250
    for family in ("article-zh", "article-en", "paper", "number", "list", "followup", "unanswerable-any"):
        assert families[family] >= FAMILY_MINIMUM, (family, families[family])
    assert families["paper-zh"] >= 5  # Chinese questions about English papers


def test_dev_and_test_splits_are_about_sixty_forty(questions):
    dev = sum(q.split == "dev" for q in questions)
    assert 0.5 <= dev / len(questions) <= 0.7
    for kind in ("fact", "number", "list", "followup", "unanswerable"):
        assert {q.split for q in questions if q.kind == kind} == {"dev", "test"}, kind


def test_languages_match_the_question_text(questions):
    for q in questions:
        assert detect_language(q.question) == q.lang, q.id


def test_answerable_questions_quote_their_evidence(questions):
    for q in questions:
        if q.answerable:
            assert q.evidence and q.evidence_doc, f"{q.id}: no evidence"
            assert any(normalize(a) in normalize(q.evidence) for a in q.answers), f"{q.id}: no key in its evidence"
        else:
            assert not q.answers and not q.sources


def test_keys_are_not_given_away_by_the_question(questions):
    for q in questions:
        for answer in q.answers:
            assert normalize(answer) not in normalize(q.question), (q.id, answer)
            assert not (normalize(answer).isdigit() and len(normalize(answer)) <= 2), (q.id, answer, "bare short number")


def test_article_evidence_is_in_the_article(questions, articles):
    for q in questions:
        if q.answerable and q.evidence_doc in articles:
            assert normalize(q.evidence) in articles[q.evidence_doc], f"{q.id}: evidence not in {q.evidence_doc}"


def test_article_sources_hold_a_key(questions, articles):
    for q in questions:
        for source in q.sources:
            if source in articles:
                assert any(normalize(a) in articles[source] for a in q.answers), f"{q.id}: no answer in {source}"
            else:
                assert ARXIV_SOURCE.match(source), f"{q.id}: {source!r} is neither an article nor an arXiv paper"


def test_paper_evidence_and_keys_are_in_the_corpus(questions, articles, papers):
    everything = {**articles, **papers}
    corpus = "".join(everything.values())
    for q in questions:
        if not q.answerable:
            continue
        evidence_docs = _doc_ids(q.evidence_doc, everything)
        assert any(normalize(q.evidence) in everything[d] for d in evidence_docs), f"{q.id}: evidence not in {q.evidence_doc}"
        for source in q.sources:
            docs = _doc_ids(source, everything)
            assert docs, f"{q.id}: source {source!r} is not a local document"
            assert any(normalize(a) in everything[d] for d in docs for a in q.answers), f"{q.id}: no answer in {source}"
        found = [normalize(a) for a in q.answers if normalize(a) in corpus]
        for answer in q.answers:
            # a key is in the corpus, or is a one-letter spelling fix of one that is ("Mistral" for "Mistal")
            assert normalize(answer) in found or any(_one_edit(normalize(answer), f) for f in found), (
                f"{q.id}: key {answer!r} occurs nowhere in the corpus")


def test_paper_questions_quote_a_paper(questions, articles):
    """A question only papers answer takes its evidence from a paper, and no article states it."""
    for q in questions:
        if q.answerable and q.scope == "paper":
            assert ARXIV_SOURCE.match(q.evidence_doc), q.id
            assert all(normalize(q.evidence) not in text for text in articles.values()), q.id


def test_followups_carry_history_and_follow_an_earlier_question(questions):
    ids = [q.id for q in questions]
    by_id = {q.id: q for q in questions}
    for q in questions:
        if q.kind == "followup":
            assert q.history and q.follows in ids[: ids.index(q.id)], q.id
            assert q.history[-1][0] == by_id[q.follows].question, q.id
            assert q.split == by_id[q.follows].split, q.id


def test_questions_are_not_copied_from_the_text(questions, raw_articles):
    """No question shares a run of 12+ tokens (CJK characters or words) with an article it cites."""
    texts = {doc_id: tokens(text) for doc_id, text in raw_articles.items()}
    for q in questions:
        asked = tokens(q.question)
        for source in q.sources:
            if source in texts:
                text = texts[source]
                match = SequenceMatcher(None, asked, text, autojunk=False).find_longest_match(0, len(asked), 0, len(text))
                assert match.size < 12, (q.id, asked[match.a : match.a + match.size])
