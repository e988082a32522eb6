"""Citation discovery: arXiv ids, their titles, and merging across documents."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.documents import Document
from ingest.references import (
    BadReferences,
    PaperRef,
    find_arxiv_ids,
    find_references,
    is_valid_arxiv_id,
    normalize_title,
    refs_from_dicts,
    refs_to_dicts,
    title_in_text,
)

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def doc(doc_id: str, text: str, title: str = "") -> Document:
    return Document(doc_id=doc_id, title=title or doc_id, text=text, source=f"{doc_id}.txt", sha256="0")


def refs_by_id(*documents: Document) -> dict[str, PaperRef]:
    return {ref.arxiv_id: ref for ref in find_references(documents)}


# --- ids -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("doi: 10.48550/arXiv.1706.03762.", ["1706.03762"]),
        ("https://doi.org/10.48550/ARXIV.2005.14165", ["2005.14165"]),
        ("论文:https://arxiv.org/abs/2304.13712", ["2304.13712"]),
        ("see https://arxiv.org/abs/1706.03762v7 for details", ["1706.03762"]),
        ("http://arxiv.org/pdf/1810.04805v2.pdf", ["1810.04805"]),
        ("https://arxiv.org/pdf/2203.02155", ["2203.02155"]),
        ("arXiv:1706.03762v7 [cs.CL] 2 Aug 2023", ["1706.03762"]),
        ("arXiv preprint arXiv:1301.3781, 2013", ["1301.3781"]),
        ("[3] Brown et al., 2005.14165", ["2005.14165"]),
        ("• Wei et al. 2109.01652v5", ["2109.01652"]),
        ("论文 2303.18223 的中文版", ["2303.18223"]),
        ("arXiv:cs/0501001v2 and https://arxiv.org/abs/hep-th/9901001", ["cs/0501001", "hep-th/9901001"]),
        ("https://arxiv.org/abs/math.GT/0309136", ["math.GT/0309136"]),
        # Duplicates collapse, first appearance first.
        ("arXiv:2005.14165 then arXiv:1706.03762 then arxiv.org/abs/2005.14165v4", ["2005.14165", "1706.03762"]),
    ],
)
def test_finds_arxiv_ids_in_dois_urls_and_bare_form(text: str, expected: list[str]) -> None:
    assert find_arxiv_ids(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "更新时间: 2023.03",  # a date, too short anyway
        "2023.0315 的论文",  # month 23
        "paper version 1.2.3456",  # a version number
        "arXiv 1234.5678 paper",  # month 34
        "arXiv: 1912.1234",  # from 1501 on, ids have five digits after the dot
        "arXiv: 1201.12345",  # before 1501, four
        "arXiv: 0612.1234",  # before the new scheme (April 2007)
        "arxiv.org/abs/1706.037621",  # runs on into more digits
        "论文 2005.14165.3",  # a dotted number, not an id
        "当前余额 2005.14165 前往充值",  # a bare number on a line that is not about papers
        "arXiv: cs/9913001",  # month 13
    ],
)
def test_rejects_dates_decimals_and_impossible_ids(text: str) -> None:
    assert find_arxiv_ids(text) == []


yymm = st.integers(min_value=7, max_value=29).flatmap(
    lambda year: st.integers(min_value=4 if year == 7 else 1, max_value=12).map(lambda month: f"{year:02d}{month:02d}")
)
new_ids = yymm.flatmap(
    lambda ym: st.integers(min_value=1, max_value=9999 if int(ym) < 1501 else 99999).map(
        lambda n: f"{ym}.{n:04d}" if int(ym) < 1501 else f"{ym}.{n:05d}"
    )
)
surroundings = st.text(alphabet="论文参考 abcXYZ,;()《》:", max_size=20)


@given(arxiv_id=new_ids, version=st.integers(min_value=0, max_value=12), before=surroundings, after=surroundings,
       form=st.sampled_from(["10.48550/arXiv.{}", "https://arxiv.org/abs/{}", "arxiv.org/pdf/{}.pdf", "arXiv:{}", "arXiv: {}"]))
def test_any_valid_id_in_a_marked_form_is_found_without_its_version(
    arxiv_id: str, version: int, before: str, after: str, form: str
) -> None:
    versioned = arxiv_id + (f"v{version}" if version else "")
    assert is_valid_arxiv_id(arxiv_id)
    assert find_arxiv_ids(f"{before} {form.format(versioned)} {after}") == [arxiv_id]


@given(st.text(alphabet="0123456789./:年月日号", max_size=40))
def test_dates_and_numbers_without_paper_context_are_never_ids(text: str) -> None:
    # No letters, spaces or brackets: neither a paper-ish line nor a reference-list item.
    assert find_arxiv_ids(text) == []


@given(st.text(max_size=200))
def test_every_found_id_is_valid(text: str) -> None:
    assert all(is_valid_arxiv_id(arxiv_id) for arxiv_id in find_arxiv_ids(text))


# --- titles --------------------------------------------------------------------------

def test_title_from_chinese_reference_line_with_doi() -> None:
    text = (
        "LLM 必读论文\n"
        "  • [3]A. Vaswani等, 《Attention Is All You Need》. arXiv, 2017年12月5日. doi: 10.48550/arXiv.1706.03762.\n"
        "  • [5]T. B. Brown等, 《Language Models are Few-Shot Learners》. arXiv, 2020年7月22日. doi: 10.48550/arXiv.2005.14165.\n"
    )
    refs = refs_by_id(doc("a", text))
    assert refs["1706.03762"].title == "Attention Is All You Need"
    assert refs["2005.14165"].title == "Language Models are Few-Shot Learners"


@pytest.mark.parametrize(
    ("line", "title"),
    [
        ("A. Vaswani, N. Shazeer, et al. Attention is all you need. arXiv preprint arXiv:1706.03762, 2017.",
         "Attention is all you need"),
        ("Attention Is All You Need. arXiv:1706.03762", "Attention Is All You Need"),
        ("- [Attention Is All You Need](https://arxiv.org/abs/1706.03762)", "Attention Is All You Need"),
        ('Vaswani et al. "Attention Is All You Need", NeurIPS 2017, https://arxiv.org/abs/1706.03762v7',
         "Attention Is All You Need"),
        ("• Attention Is All You Need, 2017, https://arxiv.org/pdf/1706.03762.pdf", "Attention Is All You Need"),
        # Prose before an id is not a title.
        ("the details are in the paper arXiv:1706.03762", None),
        ("论文:https://arxiv.org/abs/1706.03762", None),
    ],
)
def test_title_on_the_id_line(line: str, title: str | None) -> None:
    assert refs_by_id(doc("a", line))["1706.03762"].title == title


def test_title_on_a_line_before_a_bare_link() -> None:
    text = (
        "论文:https://arxiv.org/abs/2304.13712\n\nGithub(相关资源):https://github.com/x/y\n\n"
        "论文内容简介(Harnessing the Power of LLMs in Practice: A Survey on ChatGPT and Beyond\n\n"
        "论文地址:https://arxiv.org/abs/2304.13712\n\n趋势\n"
    )
    [ref] = find_references([doc("tree", text)])
    assert ref == PaperRef("2304.13712", "Harnessing the Power of LLMs in Practice: A Survey on ChatGPT and Beyond", ("tree",))


def test_title_on_the_line_after_a_paper_label() -> None:
    text = "相关论文:\nAttention Is All You Need\nhttps://arxiv.org/abs/1706.03762\n\n正文从这里开始。\n"
    assert refs_by_id(doc("a", text))["1706.03762"].title == "Attention Is All You Need"


def test_nearby_line_that_cites_its_own_id_is_not_borrowed() -> None:
    text = "Attention Is All You Need. arXiv:1706.03762\nhttps://arxiv.org/abs/2005.14165\n"
    refs = refs_by_id(doc("a", text))
    assert refs["1706.03762"].title == "Attention Is All You Need"
    assert refs["2005.14165"].title is None


def test_title_given_on_the_id_line_beats_one_from_a_neighbouring_line() -> None:
    nearby = doc("a", "Some Other Heading Words Here\nhttps://arxiv.org/abs/1706.03762\n")
    on_line = doc("b", "《Attention Is All You Need》 arXiv:1706.03762")
    assert refs_by_id(nearby, on_line)["1706.03762"].title == "Attention Is All You Need"


def test_normalize_title_ignores_case_punctuation_and_width() -> None:
    assert normalize_title("BERT: Pre-training of  Deep\nTransformers") == "bert pre training of deep transformers"
    assert normalize_title("ＢＥＲＴ：Pre‐training") == "bert pre training"


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("Provided proper attribution...\nAttention Is All You Need\nAshish Vaswani", True),
        ("AttentionIsAllYouNeed\nAshish Vaswani", True),  # spaces lost in extraction
        ("Attention Is All\nYou Need", True),
        ("Attention Is Al You Need", True),  # a dropped letter: fuzzy match
        ("Attention Is Not What You Need At All", False),
        ("Language Models are Few-Shot Learners", False),
    ],
)
def test_title_in_text_tolerates_extraction_noise(page: str, expected: bool) -> None:
    assert title_in_text("Attention Is All You Need", page) is expected


# --- merging -------------------------------------------------------------------------

def test_merges_across_documents_in_document_order() -> None:
    first = doc("first", "《Attention Is All You Need》. doi: 10.48550/arXiv.1706.03762")
    second = doc("second", "arXiv:2005.14165 and https://arxiv.org/abs/1706.03762v5")
    refs = find_references([second, first])
    assert [ref.arxiv_id for ref in refs] == ["2005.14165", "1706.03762"]
    assert refs[1] == PaperRef("1706.03762", "Attention Is All You Need", ("second", "first"))


def test_title_only_mention_counts_as_citation() -> None:
    listing = doc("listing", "  • [3]A. Vaswani等, 《Attention Is All You Need》. arXiv. doi: 10.48550/arXiv.1706.03762.")
    prose = doc("prose", "Transformer 模型于 2017 年在开创性的论文《Attention is All You Need》中引入。")
    unrelated = doc("unrelated", "注意力是你所需要的一切吗?不一定。")
    titled = doc("titled", "这篇笔记没有提到标题。", title="《Attention Is All You Need》阅读笔记")
    ref = refs_by_id(prose, listing, unrelated, titled)["1706.03762"]
    assert ref.cited_by == ("prose", "listing", "titled")


def test_short_titles_are_not_matched_in_other_documents() -> None:
    listing = doc("listing", "《GPT-4》 arXiv:2303.08774")
    prose = doc("prose", "GPT-4 是一个多模态模型。")
    assert refs_by_id(listing, prose)["2303.08774"].cited_by == ("listing",)


def test_a_papers_own_stamp_is_not_a_citation_and_gives_no_title() -> None:
    paper = Document(doc_id="p", title="Some Paper", source="p.pdf", sha256="0", kind="paper", arxiv_id="2101.00001",
                     text="Goals of the Paper\narXiv:2101.00001v2 [cs.CL] 4 Jan 2021\n"
                          "Section Heading Words\narXiv:2101.00002v1 [cs.LG] 5 Jan 2021\n")
    assert find_references([paper]) == [PaperRef("2101.00002", None, ("p",))]


def test_no_documents_no_references() -> None:
    assert find_references([]) == []


# --- storage -------------------------------------------------------------------------

refs_strategy = st.lists(
    st.builds(PaperRef, arxiv_id=new_ids, title=st.none() | st.text(max_size=30),
              cited_by=st.lists(st.text(min_size=1, max_size=10), max_size=3).map(tuple)),
    max_size=5,
)


@given(refs_strategy)
def test_refs_round_trip_through_dicts(refs: list[PaperRef]) -> None:
    assert refs_from_dicts(refs_to_dicts(refs)) == refs


@pytest.mark.parametrize(
    "item",
    [{"title": "x", "cited_by": []}, {"arxiv_id": "1706.03762", "cited_by": "abc"}, {"arxiv_id": 1, "cited_by": []}, "1706.03762"],
)
def test_malformed_stored_references_raise(item: object) -> None:
    with pytest.raises(BadReferences):
        refs_from_dicts([item])


# --- the real corpus -----------------------------------------------------------------

def corpus_documents() -> list[Document]:
    if not (CORPUS / "manifest.toml").exists():
        pytest.skip("corpus/manifest.toml not present")
    from ingest.corpus import load_corpus

    return list(load_corpus(CORPUS).documents)


def test_finds_the_papers_the_corpus_cites() -> None:
    refs = {ref.arxiv_id: ref for ref in find_references(corpus_documents())}
    expected_titles = {
        "1301.3781": "Efficient Estimation of Word Representations in Vector Space",
        "1310.4546": "Distributed Representations of Words and Phrases and their Compositionality",
        "1706.03762": "Attention Is All You Need",
        "1810.04805": "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
        "2005.14165": "Language Models are Few-Shot Learners",
        "2109.01652": "Finetuned Language Models Are Zero-Shot Learners",
        "2203.02155": "Training language models to follow instructions with human feedback",
        "2303.18223": "A Survey of Large Language Models",
        "2304.13712": "Harnessing the Power of LLMs in Practice: A Survey on ChatGPT and Beyond",
    }
    assert {arxiv_id: refs[arxiv_id].title for arxiv_id in expected_titles} == expected_titles
    # Cited by title only: the evolution article names the Transformer paper without an id,
    # the reading list names GPT-3 and FLAN, the survey notes carry the survey's title.
    assert "llm-evolution-and-future" in refs["1706.03762"].cited_by
    assert "llm-evolution-tree" in refs["2005.14165"].cited_by
    assert "llm-evolution-tree" in refs["2109.01652"].cited_by
    assert "llm-survey-notes" in refs["2303.18223"].cited_by


@pytest.mark.parametrize("bad", ["../../etc/passwd", "1706.03762/../x", "not-an-id", "2023.0315"])
def test_stored_references_with_an_id_that_is_no_arxiv_id_are_refused(bad):
    with pytest.raises(BadReferences, match="not an arXiv id") as info:
        refs_from_dicts([{"arxiv_id": bad, "title": "x", "cited_by": ["a"]}])
    assert "`rag rebuild`" in str(info.value)
