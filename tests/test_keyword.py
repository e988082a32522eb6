"""Tests for ingest.keyword: the terms BM25 indexes and queries with."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from ingest.keyword import STOPWORDS, tokenize


def test_chinese_is_segmented_into_words_and_their_parts():
    tokens = tokenize("预训练语言模型的参数")
    assert {"预训练", "训练", "语言模型", "模型", "参数"} <= set(tokens)
    assert "的" not in tokens


def test_latin_words_are_lowercased_and_stopwords_dropped():
    assert tokenize("The Attention Is All You Need paper") == ["attention", "all", "need", "paper"]


def test_hyphenated_and_joined_spellings_share_a_term():
    for spelling in ("GPT-3", "gpt3", "GPT3", "Gpt-3", "ＧＰＴ－３"):
        assert "gpt3" in tokenize(spelling), spelling
    # "GPT 3" written apart still shares both parts with "GPT-3".
    assert {"gpt", "3"} <= set(tokenize("GPT 3")) & set(tokenize("GPT-3"))


def test_compounds_keep_their_joined_form_and_parts():
    assert tokenize("word2vec") == ["word2vec", "word", "2", "vec"]
    assert tokenize("175B") == ["175b", "175"]
    assert tokenize("GPT-3.5") == ["gpt3.5", "gpt", "3.5"]


def test_mixed_chinese_and_english_runs_are_split_apart():
    tokens = tokenize("GPT-3有多少参数?BERT用了Transformer")
    assert tokens == ["gpt3", "gpt", "3", "参数", "bert", "用", "transformer"]


def test_punctuation_only_gives_no_tokens():
    assert tokenize("，。!?…——「」()[] - . ") == []


def test_importing_and_first_use_print_nothing_to_stderr():
    # jieba announces its dictionary loading on stderr unless silenced.
    code = "from ingest.keyword import tokenize; tokenize('大语言模型')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr == ""


@given(st.text(max_size=200))
def test_tokens_are_nonempty_lowercase_and_never_stopwords(text):
    for token in tokenize(text):
        assert token
        assert token == token.casefold()
        assert token not in STOPWORDS
        assert not token.isspace()


@given(st.text(alphabet="abcXYZ019-. 的模型", max_size=60))
def test_tokenize_is_deterministic(text):
    assert tokenize(text) == tokenize(text)
