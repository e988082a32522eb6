"""Tests for ingest.clean: what cleaning removes, what it keeps, and that it is idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.clean import clean_text, remove_running_lines

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "articles"

# A made-up page in the shape of the blog/WeChat pages users paste in: real headings and
# paragraphs, with widgets, payment panels, ads and a related-articles list around them.
REAL_LINES = [
    "简介",
    "大语言模型(LLM)是一种大规模预训练神经网络语言模型。",
    "趋势",
    "仅解码器模型在语言模型的发展中逐渐占主导地位。",
    "在广告和营销领域,LLM 可以生成广告文案。",  # mentions 广告 inside a real sentence
    "云服务商为训练提供了大量 GPU。",  # weak ad word, no boilerplate nearby
    "2023年3月",  # a lone date under the title is real metadata
    "1、INTRODUCTION",
    "3.2 Commonly Used Corpora",
    "Attention Is All You Need",
    "有关 LLM 优质信息源的持续更新,请关注我的 GitHub 仓库:https://github.com/x/y",
]
BOILERPLATE_LINES = [
    "微信扫码",
    "我要投稿",
    "长按识别二维码,关注公众号",
    "点击阅读原文",
    "感觉有帮助的朋友,欢迎点赞、在看、分享三连",
    "• 12",
    "收藏",
    "觉得还不错? 一键收藏",
    "添加红包",
    "红包金额最低5元",
    "使用余额支付",
    "标签:",
    "更新时间:",
    "20230730-001",
    "版权声明:本文为博主原创文章,转载请附上原文出处链接",
    "Share this article",
]


def _page(*blocks: list[str]) -> str:
    return "\n".join(line for block in blocks for line in block)


def test_fixture_boilerplate_lines_are_removed_and_real_lines_kept():
    text = _page(
        BOILERPLATE_LINES[:3],
        REAL_LINES[:4],
        BOILERPLATE_LINES[3:9],
        REAL_LINES[4:8],
        BOILERPLATE_LINES[9:],
        REAL_LINES[8:],
    )
    cleaned_lines = clean_text(text).split("\n")
    assert cleaned_lines == REAL_LINES


def test_ad_block_goes_only_next_to_other_boilerplate():
    ad = ["53AI,企业落地应用大模型首选服务商", "产品:大模型应用平台+智能体定制开发+落地咨询服务"]
    related = ["2024-12-21", "昨天,Google 发布了两个重磅的 AI 生成模型", "2024-12-21",
               "Gemini 2.0重磅来袭!", "2024-12-20", "2024-05-28"]
    text = _page(["结语", "LLM 是现代技术的奇迹。"], ad, related)
    assert clean_text(text) == "结语\nLLM 是现代技术的奇迹。"
    # The same ad words inside an article, away from any widget, stay.
    assert clean_text("\n".join(["正文。", ad[1], "正文。"])) == "\n".join(["正文。", ad[1], "正文。"])


def test_poll_options_wedged_between_widgets_are_removed():
    text = _page(
        ["正文的最后一段。"],
        ["“相关推荐”对你有帮助么?", "非常没帮助", "没帮助", "一般", "有帮助", "提交"],
    )
    assert clean_text(text) == "正文的最后一段。"


def test_short_line_between_boilerplate_and_content_is_kept():
    # A heading directly after a widget is still a heading.
    assert clean_text("我要投稿\nLLM 的起源:NLP 和神经网络\n这是正文。") == (
        "LLM 的起源:NLP 和神经网络\n这是正文。"
    )


def test_long_lines_are_never_removed():
    line = "扫码" + "大语言模型的发展经历了统计语言模型、神经语言模型、预训练语言模型和大语言模型四个阶段。" * 2
    assert clean_text(line) == line


def test_nfkc_and_whitespace():
    raw = "\ufeffThe \ufb01rst  model\u3000（GPT）：\t好\r\n\r\n\r\n\r\n下一段  \n"
    assert clean_text(raw) == "The first model (GPT): 好\n\n下一段"


def test_pdf_hyphenation_and_soft_wraps_are_repaired():
    raw = "Pre-trained lan-\nguage models are\ntrained on large corpora.\nThe state-of-\nthe-art model."
    assert clean_text(raw) == (
        "Pre-trained language models are trained on large corpora.\nThe state-of-\nthe-art model."
    )


def test_chinese_lines_are_not_joined():
    assert clean_text("语言模型的演进\n语言模型的定义") == "语言模型的演进\n语言模型的定义"


@pytest.mark.parametrize(
    ("name", "gone", "kept"),
    [
        ("llm-evolution-tree.txt", ["添加红包", "扫码支付", "一键收藏", "非常没帮助"], ["趋势", "开源社区的工作"]),
        ("llm-evolution-and-future.txt", ["微信扫码", "我要投稿", "2024-12-21", "首选服务商"], ["结语", "LLM 的起源"]),
        ("llm-background-techniques-challenges.txt", ["二维码"], ["简介", "合并其它数据模态"]),
        ("llm-development-resources.txt", ["标签:", "20230730-001"], ["参考资料", "LLM 核心人物"]),
    ],
)
def test_seed_articles(name, gone, kept):
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    cleaned = clean_text(path.read_text(encoding="utf-8"))
    for text in gone:
        assert text not in cleaned
    for text in kept:
        assert text in cleaned


_ALPHABET = st.sampled_from(
    list("ab Z.-,\n\n\t ") + ["ﬁ", "\u3000", "。", "?", "扫码", "红包", "点赞", "2024-12-21", "正文", "\r\n", "\u200b", "e\u0301"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=60).map("".join))
def test_idempotent_on_adversarial_text(text):
    once = clean_text(text)
    assert clean_text(once) == once


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_idempotent_on_any_text(text):
    once = clean_text(text)
    assert clean_text(once) == once
    assert once == once.strip()
    assert "\n\n\n" not in once


def test_running_headers_and_page_numbers_are_removed():
    header = "本文所有文字、图片、表格版权为 RUC AI Box 所有,出版发表使用需求必须征得本文作者同意。"
    pages = [f"{header}\n{n}\n正文第 {n} 页。\nTable {n}" for n in range(1, 5)]
    assert remove_running_lines(pages) == [f"正文第 {n} 页。\nTable {n}" for n in range(1, 5)]


def test_running_lines_need_three_pages():
    pages = ["Header\n1\nText one.", "Header\n2\nText two."]
    assert remove_running_lines(pages) == pages
