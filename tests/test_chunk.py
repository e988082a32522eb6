"""Tests for ingest.chunk: offsets, coverage, sizes, overlap, pages and section headings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.chunk import ChunkingError, chunk_document, chunk_spans, find_headings
from ingest.documents import ChunkerSettings, Document, Page


def _doc(text: str, pages: tuple[Page, ...] = (), extractor: str = "text", kind: str = "article") -> Document:
    return Document(
        kind=kind,
        doc_id="d1",
        title="Title",
        text=text,
        source="corpus/d1.txt",
        sha256="0" * 64,
        lang="zh",
        extractor=extractor,
        pages=pages,
        url="https://example.org/d1",
        arxiv_id="1706.03762",
    )


# Text made of the pieces that matter to the chunker: CJK and English sentences, clause
# breaks, long runs without any break, spaces and newlines.
_PIECES = st.sampled_from(
    ["大语言模型", "。", ",", "!", "?", ";", "The model", ". ", "e.g.", "3.5", " ", "\n", "\n\n",
     "x" * 37, "长" * 23, "、", ":", "\t", "”", "\nAbstract", "\n摘要"]
)  # fmt: skip
_TEXT = st.lists(_PIECES, max_size=120).map("".join)
_SETTINGS = st.integers(min_value=1, max_value=120).flatmap(
    lambda size: st.tuples(st.just(size), st.integers(min_value=0, max_value=size - 1))
)


def _pages_for(text: str, cuts: list[int]) -> tuple[Page, ...]:
    bounds = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    return tuple(Page(number=i + 1, start=a, end=b) for i, (a, b) in enumerate(zip(bounds, bounds[1:])))


@settings(max_examples=400, deadline=None)
@given(_TEXT, _SETTINGS, st.lists(st.integers(min_value=0), max_size=3), st.sampled_from(["article", "paper"]))
def test_chunk_invariants(text, size_overlap, cuts, kind):
    size, overlap = size_overlap
    pages = _pages_for(text, cuts)
    doc = _doc(text, pages, kind=kind)
    chunks = chunk_document(doc, ChunkerSettings(size=size, overlap=overlap))
    for page in pages:
        on_page = [c for c in chunks if c.page == page.number]
        covered = set()
        for chunk in on_page:
            # Offsets slice the source exactly, inside the page, trimmed, within size.
            assert text[chunk.start : chunk.end] == chunk.text
            assert page.start <= chunk.start < chunk.end <= page.end
            assert chunk.text == chunk.text.strip()
            assert len(chunk.text) <= size
            covered.update(range(chunk.start, chunk.end))
        # Every non-whitespace character of the page is in some chunk.
        assert all(i in covered for i in range(page.start, page.end) if not text[i].isspace())
        for before, after in zip(on_page, on_page[1:]):
            # Chunks advance, leave no gap and overlap by at most ``overlap``.
            assert before.start < after.start
            assert after.start <= before.end or text[before.end : after.start].isspace()
            assert before.end - after.start <= overlap
            if overlap == 0:
                assert after.start >= before.end


def test_overlap_is_made_of_whole_sentences():
    sentences = [f"这是第{i}句话,讲的是语言模型的历史。" for i in range(40)]
    text = "".join(sentences)
    chunks = chunk_document(_doc(text), ChunkerSettings(size=100, overlap=40))
    assert len(chunks) > 5
    for before, after in zip(chunks, chunks[1:]):
        shared = text[after.start : before.end]
        assert 0 < len(shared) <= 40
        # The shared text is the last whole sentence(s) of the previous chunk.
        assert shared.endswith("。") and text[after.start - 1] == "。"
    assert all(chunk.text.endswith("。") for chunk in chunks)


def test_english_sentences_split_after_period_and_space_only():
    text = "GPT-3 has 175B parameters (3.5x more). It was trained on 300B tokens. Done."
    spans = chunk_spans(text, 0, len(text), size=40, overlap=0)
    assert [text[a:b] for a, b in spans] == [
        "GPT-3 has 175B parameters (3.5x more).",
        "It was trained on 300B tokens. Done.",
    ]


def test_long_sentence_is_split_hard_at_clause_breaks_within_size():
    text = "模型" * 10 + "," + "参数" * 30 + "。"
    spans = chunk_spans(text, 0, len(text), size=30, overlap=0)
    pieces = [text[a:b] for a, b in spans]
    assert "".join(pieces) == text
    assert all(len(p) <= 30 for p in pieces)
    assert pieces[0] == "模型" * 10 + ","


def test_chunks_never_cross_pages_and_record_page_numbers():
    page1 = "第一页的内容。" * 10
    page2 = "第二页的内容。" * 10
    text = page1 + "\n\n" + page2
    pages = (Page(1, 0, len(page1)), Page(2, len(page1) + 2, len(text)))
    chunks = chunk_document(_doc(text, pages, extractor="pdfminer"), ChunkerSettings(size=1000, overlap=100))
    assert [(c.page, c.text) for c in chunks] == [(1, page1), (2, page2)]


def test_a_papers_front_matter_is_a_chunk_of_its_own():
    front = "Attention Is All You Need\nAshish Vaswani, Noam Shazeer\nGoogle Brain\n"
    page1 = front + "Abstract\nThe dominant sequence transduction models are based on recurrent networks. " * 3
    pages = (Page(1, 0, len(page1)),)
    paper = chunk_document(_doc(page1, pages, extractor="pypdf", kind="paper"), ChunkerSettings(size=1000, overlap=100))
    assert [c.text for c in paper] == [front.strip(), page1[len(front):].strip()]
    assert all(c.page == 1 for c in paper)
    article = chunk_document(_doc(page1, pages, kind="article"), ChunkerSettings(size=1000, overlap=100))
    assert len(article) == 1  # only papers have front matter


def test_document_without_pages_is_one_page_numbered_none():
    chunks = chunk_document(_doc("第一句。第二句。"), ChunkerSettings(size=100, overlap=0))
    assert [(c.page, c.text) for c in chunks] == [(None, "第一句。第二句。")]


def test_chunk_carries_document_fields():
    (chunk,) = chunk_document(_doc("一句话。"), ChunkerSettings())
    assert (chunk.doc_id, chunk.title, chunk.url, chunk.arxiv_id, chunk.lang) == (
        "d1", "Title", "https://example.org/d1", "1706.03762", "zh",
    )  # fmt: skip


def test_empty_and_blank_documents_have_no_chunks():
    assert chunk_document(_doc(""), ChunkerSettings()) == []
    assert chunk_document(_doc(" \n\n "), ChunkerSettings()) == []


def test_bad_settings_raise():
    with pytest.raises(ChunkingError):
        chunk_document(_doc("text"), ChunkerSettings(size=100, overlap=100))


def test_sections_follow_headings():
    text = "\n".join(
        [
            "简介",
            "AI大模型是人工智能预训练大模型的简称。" * 3,
            "1、INTRODUCTION",
            "研究人员发现,扩展模型规模可以提高性能。" * 3,
            "## Markdown heading",
            "More text here. " * 5,
        ]
    )
    chunks = chunk_document(_doc(text), ChunkerSettings(size=70, overlap=0))
    sections = {c.text[:6]: c.section for c in chunks}
    assert sections["简介\nAI大"] == "简介"
    assert sections["1、INTR"] == "1、INTRODUCTION"
    # A chunk's section is the heading in force where it starts.
    assert chunks[-1].text.startswith("More text") and chunks[-1].section == "Markdown heading"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("什么是大语言模型", True),
        ("什么是 LLM?", True),
        ("2.1 Background", True),
        ("3.1Publicly Available Model Checkpoints or APIs", True),
        ("第三章 训练", True),
        ("1.Technically, language modeling (LM)", False),
        ("4. Large language models (LLM).", False),
        ("1.3B 6B 175B", False),
        ("2023年3月", False),
        ("• 美国", False),
        ("利用计算器获得精确计算能力。", False),
    ],
)
def test_heading_detection(line, expected):
    text = f"{line}\n这是一段足够长的正文,用来说明上面的行后面跟着的是段落内容。"
    assert bool(find_headings(text)) == expected


def test_pdf_wrapped_fragments_are_not_headings():
    text = "语言是人类表达和交流的突出能力,它在儿童早期发展\n并在一生中不断演变\n这是下一行的内容比较长一些。\n1 引言\n正文。"
    assert [h for _, h in find_headings(text, pdf=True)] == ["1 引言"]


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_heading_offsets_point_at_their_line(text):
    for start, heading in find_headings(text):
        assert start == 0 or text[start - 1].isspace()
        assert text.startswith(heading, start) or text.startswith("#", start)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("3.2.1 Scaled Dot-Product Attention", True),
        ("3.1 公开可用的模型检查点或 API", True),
        ("1 万亿 tokens", False),  # table cells and quantities
        ("50 万", False),
        ("21GB", False),
        ("37 小时 ✓", False),
        ("15. https://openai.com/research/learning-from-human-", False),  # a footnote
        ("Attention Is All You Need", False),  # plain lines are not headings in PDFs
    ],
)
def test_pdf_heading_detection(line, expected):
    text = f"上一页的最后一行\n\n{line}\nThe following line of body text is longer than the heading."
    assert bool(find_headings(text, pdf=True)) == expected


def test_a_chunk_may_still_end_after_an_abbreviation():
    # "et al." ends no sentence (ingest.text), but chunks have always been cut there;
    # keeping that cut keeps every built index's chunks, and so its vectors, valid.
    text = "The skip-gram model was proposed by Mikolov et al. It learns word vectors quickly."
    spans = chunk_spans(text, 0, len(text), size=60, overlap=0)
    assert text[spans[0][0] : spans[0][1]] == "The skip-gram model was proposed by Mikolov et al."
