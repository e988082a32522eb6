"""The shared text rules: Chinese characters, language, sentences and PDF line wraps."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.text import (
    ABBREVIATION,
    CJK_WITH_KANA_HANGUL,
    LINE_BREAK,
    STOP,
    WRAP_COLUMNS,
    columns,
    count_cjk,
    detect_language,
    has_cjk,
    is_cjk,
    join_wrapped_lines,
    sentence_breaks,
    split_sentences,
)


@pytest.mark.parametrize("ch", ["中", "\u3400", "\u4db5", "\u9fa5", "\uf900"])  # basic, Ext-A, compatibility
def test_han_ideographs_are_chinese_characters(ch):
    assert is_cjk(ch) and has_cjk(f"GPT {ch}")


@pytest.mark.parametrize("ch", ["A", "。", ",", "あ", "カ", "한", "\u4dc0"])  # ䷀ is a hexagram, not a character
def test_punctuation_kana_and_hangul_are_not(ch):
    assert not is_cjk(ch) and not has_cjk(ch)


def test_the_wider_class_adds_kana_and_hangul():
    assert re.fullmatch(f"[{CJK_WITH_KANA_HANGUL}]+", "中あカ한") and not re.search(f"[{CJK_WITH_KANA_HANGUL}]", "A。")


def test_count_cjk():
    assert count_cjk("GPT-3 有 1750 亿参数。") == 4 and count_cjk("no Chinese") == 0


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("大型语言模型 (Large Language Models, LLMs) 是近年来自然语言处理(NLP)领域的重要进展", "zh"),
        ("We introduce a new language representation model called BERT.", "en"),
        ("BERT 模型", "zh"),
        ("", "en"),
        # Many Latin letters, few words: a Chinese question all the same (the letter-share
        # rule ingest used to have called these two English).
        ("Super-NaturalInstructions(Tk-INSTRUCT)那篇工作涵盖了多少个 NLP 任务?", "zh"),
        ("《Efficient Estimation of Word Representations in Vector Space》(word2vec 论文)提出了哪两种新的模型结构?", "zh"),
        ("What does 预训练 mean in the BERT paper?", "en"),
        ("これはペンです", "en"),  # kana only: no Chinese characters
    ],
)
def test_detect_language(text, lang):
    assert detect_language(text) == lang


def test_sentences_end_at_chinese_and_english_stops():
    assert split_sentences("GPT-3 有 1750 亿参数。它于 2020 年发布!对吗?是的;好。") == [
        "GPT-3 有 1750 亿参数。",
        "它于 2020 年发布!",
        "对吗?",
        "是的;",
        "好。",
    ]
    assert split_sentences("Training took 3.5 days. See arxiv.org/abs/1706.03762 now! Really?! Yes") == [
        "Training took 3.5 days.",
        "See arxiv.org/abs/1706.03762 now!",
        "Really?!",
        "Yes",
    ]


def test_no_sentence_ends_after_an_initial_or_an_abbreviation():
    assert split_sentences("J. Devlin and T. B. Brown et al. wrote them. E.g. BERT, i.e. an encoder. See Fig. 3.") == [
        "J. Devlin and T. B. Brown et al. wrote them.",
        "E.g. BERT, i.e. an encoder.",
        "See Fig. 3.",
    ]
    # A lowercase letter before the stop is no initial, and a line break still ends a line.
    assert split_sentences("It has a. Then b.\nMikolov et al.\n[2013]") == ["It has a.", "Then b.", "Mikolov et al.", "[2013]"]


def test_closing_quotes_and_brackets_stay_with_their_sentence():
    assert split_sentences("输出“你母亲怎么样?”否则,输出“你能详细说明一下吗?”") == [
        "输出“你母亲怎么样?”",
        "否则,输出“你能详细说明一下吗?”",
    ]
    assert split_sentences("(This is one!) And “this is two?” Three…… 四") == [
        "(This is one!)",
        "And “this is two?”",
        "Three……",
        "四",
    ]


def test_sentence_breaks_say_what_kind_each_break_is():
    text = "Brown et al. wrote it.\nNext"
    breaks = sentence_breaks(text)
    assert [(text[:cut][-6:], kind) for cut, kind in breaks] == [
        ("et al.", ABBREVIATION),
        ("te it.", STOP),
        ("e it.\n", LINE_BREAK),
    ]
    # Within a window: the stop at its end is found, nothing outside it.
    assert sentence_breaks(text, 6, 12) == [(12, ABBREVIATION)]


@given(st.text(alphabet="ab .。!?\n\"”JeEtal", max_size=60))
def test_sentences_are_the_text_in_order(text):
    sentences = split_sentences(text)
    assert all(s and s == s.strip() for s in sentences)
    assert "".join("".join(sentences).split()) == "".join(text.split())  # nothing lost or added
    pos = 0
    for s in sentences:  # each one is a piece of the text, after the one before it
        pos = text.index(s, pos) + len(s)


def test_columns_count_chinese_characters_twice():
    assert columns("中文ab") == 6


def test_sure_wraps_are_joined_and_nothing_else():
    text = "Word2vec learns lan-\nguage vectors from\nlarge corpora.\nTable 1\n语言本质上是一种由语法规则支配的复杂\n的人类表达系统。\nstate-of-\nthe-art"
    assert join_wrapped_lines(text) == (
        "Word2vec learns language vectors from large corpora.\nTable 1\n"
        "语言本质上是一种由语法规则支配的复杂\n的人类表达系统。\nstate-of-\nthe-art"
    )


def test_wide_lines_without_a_stop_run_on():
    text = (
        "6 Results\n"
        "The big transformer model outperforms the best previously reported models by more than 2.0\n"
        "BLEU, a new state of the art.\n\n"
        "语言本质上是一种由语法规则支配的复杂\n的人类表达系统。\n"
        "Transformer (big) 28.4\n41.8"
    )
    assert join_wrapped_lines(text, wide=WRAP_COLUMNS).split("\n") == [
        "6 Results",  # short: a heading, not a wrap
        "The big transformer model outperforms the best previously reported models by more than 2.0 "
        "BLEU, a new state of the art.",
        "语言本质上是一种由语法规则支配的复杂的人类表达系统。",  # no space between Chinese characters
        "Transformer (big) 28.4",
        "41.8",
    ]


@given(st.text(alphabet="ab A.-\n 中。", max_size=80))
def test_joining_only_removes_line_breaks_and_spaces(text):
    joined = join_wrapped_lines(text, wide=8)
    assert "".join(ch for ch in joined if ch not in " \n-") == "".join(ch for ch in text if ch not in " \n-")
