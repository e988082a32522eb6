"""The shipped question set: its shape, and that every accepted answer occurs in a source.

Articles are read through corpus/manifest.toml and cleaned as ingestion cleans them, so an
answer found only in web-page boilerplate fails. Papers are read from ../shared/papers
(pypdf first, pdfminer.six page by page when pypdf's text lacks the answer, as for the
Chinese survey whose fonts pypdf can't decode); those checks skip when the folder is absent.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

import pytest

from ingest.clean import clean_text
from rag.evaluate import load_questions, normalize, tokens

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "corpus" / "questions.jsonl"
MANIFEST = ROOT / "corpus" / "manifest.toml"
PAPERS = ROOT.parent / "shared" / "papers"
ARXIV_ID = re.compile(r"^\d{4}\.\d{4,5}$")
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def questions():
    return load_questions(QUESTIONS)


@pytest.fixture(scope="module")
def article_texts() -> dict[str, str]:
    """Cleaned text of each manifest article, under its id and its origin name."""
    manifest = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))
    texts = {}
    for doc in manifest["documents"]:
        text = clean_text((MANIFEST.parent / doc["file"]).read_text(encoding="utf-8"))
        texts[doc["id"]] = text
        if doc.get("origin"):
            texts[doc["origin"]] = text
    return texts


@pytest.fixture(scope="module")
def articles(article_texts) -> dict[str, str]:
    """The same texts normalised the way answers are matched."""
    return {name: normalize(text) for name, text in article_texts.items()}


@lru_cache(maxsize=None)
def _pypdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return normalize("\n".join(page.extract_text() or "" for page in PdfReader(path).pages))


@lru_cache(maxsize=None)
def _pdfminer_page(path: Path, number: int) -> str:
    from pdfminer.high_level import extract_text

    return normalize(extract_text(path, page_numbers=[number]))


def _page_count(path: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(path).pages)


def paper_contains(arxiv_id: str, *answers: str) -> bool:
    """Whether any local PDF of the paper (e.g. 2303.18223.pdf, 2303.18223-zh.pdf) holds one of the answers."""
    wanted = [normalize(a) for a in answers]
    pdfs = sorted(PAPERS.glob(f"{arxiv_id}.pdf")) + sorted(PAPERS.glob(f"{arxiv_id}-*.pdf"))
    if any(w in _pypdf_text(pdf) for pdf in pdfs for w in wanted):
        return True
    # page by page across the PDFs, so an answer near the front of one is found quickly
    pages = {pdf: _page_count(pdf) for pdf in pdfs}
    return any(
        w in _pdfminer_page(pdf, n)
        for n in range(max(pages.values(), default=0))
        for pdf in pdfs
        if n < pages[pdf]
        for w in wanted
    )


def test_set_size_and_mix(questions):
    kinds = Counter(q.kind for q in questions)
    article_zh = [q for q in questions if q.lang == "zh" and q.sources and not any(ARXIV_ID.match(s) for s in q.sources)]
    paper = [q for q in questions if q.sources and all(ARXIV_ID.match(s) for s in q.sources)]
    assert len(questions) >= 70
    assert len(article_zh) >= 28
    assert kinds["crosslingual"] >= 15
    assert len(paper) >= 12 and {q.lang for q in paper} == {"zh", "en"}
    assert sum(not q.answerable for q in questions) >= 10
    assert kinds["followup"] >= 3


def test_languages_match_the_question_text(questions):
    for q in questions:
        has_cjk = bool(CJK.search(q.question))
        assert has_cjk == (q.lang == "zh"), q.id


def test_sources_name_manifest_articles_or_arxiv_ids(questions, articles):
    for q in questions:
        for source in q.sources:
            assert source in articles or ARXIV_ID.match(source), (q.id, source)


def test_unanswerable_questions_have_no_answers_or_sources(questions):
    unanswerable = [q for q in questions if not q.answerable]
    assert unanswerable and all(q.answers == () and q.sources == () for q in unanswerable)
    assert all(q.answers and q.sources for q in questions if q.answerable)


def test_followups_carry_history_and_follow_an_earlier_question(questions):
    ids = [q.id for q in questions]
    followups = [q for q in questions if q.kind == "followup"]
    for q in followups:
        assert q.history, q.id
        assert q.follows in ids[: ids.index(q.id)], q.id
    # a pair: the conversation the follow-up continues ends with the question it follows
    by_id = {q.id: q for q in questions}
    assert all(q.history[-1][0] == by_id[q.follows].question for q in followups)


def test_every_cited_article_holds_an_answer(questions, articles):
    for q in questions:
        for source in q.sources:
            if source in articles:
                assert any(normalize(a) in articles[source] for a in q.answers), f"{q.id}: no answer in {source}"


def test_answers_of_article_questions_occur_in_a_cited_article(questions, articles):
    for q in questions:
        if not q.sources or any(ARXIV_ID.match(s) for s in q.sources):
            continue  # papers: test_paper_answers_occur_in_a_source
        for answer in q.answers:
            assert any(normalize(answer) in articles[s] for s in q.sources), f"{q.id}: {answer!r} is in none of {q.sources}"


def test_cited_papers_are_cited_by_the_articles(questions, articles):
    """Paper questions are about papers the articles cite (their arXiv ids occur in an article)."""
    cited = " ".join(articles.values())
    for q in questions:
        for source in q.sources:
            if ARXIV_ID.match(source):
                assert normalize(source) in cited, (q.id, source)


def test_paper_questions_need_the_paper(questions, articles):
    """At least one accepted answer of a paper-only question is in no article at all."""
    for q in questions:
        if q.sources and all(ARXIV_ID.match(s) for s in q.sources):
            assert any(all(normalize(a) not in t for t in articles.values()) for a in q.answers), q.id


@pytest.mark.skipif(not PAPERS.is_dir(), reason="../shared/papers is not available")
def test_paper_answers_occur_in_a_source(questions, articles):
    """Each cited paper holds an answer, and each answer is in a cited article or paper."""
    for q in questions:
        papers = [s for s in q.sources if ARXIV_ID.match(s)]
        if not papers:
            continue
        for paper in papers:
            assert paper_contains(paper, *q.answers), f"{q.id}: no answer in {paper}"
        for answer in q.answers:
            in_article = any(normalize(answer) in articles[s] for s in q.sources if s in articles)
            assert in_article or any(paper_contains(p, answer) for p in papers), f"{q.id}: {answer!r} is in none of {q.sources}"


def test_questions_are_not_copied_from_the_text(questions, article_texts):
    """No question shares a run of 12+ tokens (CJK characters or words) with an article it cites."""
    texts = {name: tokens(text) for name, text in article_texts.items()}
    for q in questions:
        asked = tokens(q.question)
        for source in q.sources:
            if source in texts:
                text = texts[source]
                match = SequenceMatcher(None, asked, text, autojunk=False).find_longest_match(0, len(asked), 0, len(text))
                assert match.size < 12, (q.id, asked[match.a : match.a + match.size])
