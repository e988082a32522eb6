"""Tests for ingest.keyword: the terms BM25 indexes and queries with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


# Built, searched and printed by a fresh interpreter, so each run has its own hash seed.
KEYWORD_RUN = """
import json, sys
from pathlib import Path
import numpy as np
from ingest.documents import Chunk, ChunkerSettings, Document, Page
from ingest.index import load_index, write_index
from ingest.keyword import tokenize

texts, queries, where = json.loads(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3])
docs = [Document(doc_id=f"d{i}", title=f"D{i}", text=t, source=f"d{i}.txt", sha256=str(i),
                 pages=(Page(None, 0, len(t)),)) for i, t in enumerate(texts)]
chunks = [Chunk(doc_id=d.doc_id, title=d.title, text=d.text, start=0, end=len(d.text)) for d in docs]
write_index(where, documents=docs, chunks=chunks, vectors=np.eye(len(texts)), embedder_id="none",
            chunker=ChunkerSettings(100, 10))
index = load_index(where)
print(json.dumps({"tokens": [tokenize(t) for t in texts + queries],
                  "hits": [index.search_keyword(q, 3) for q in queries]}))
"""
TEXTS = [
    "GPT-3 有 1750 亿参数,是 OpenAI 在 2020 年发布的大语言模型。",
    "Transformer 模型使用自注意力机制;BERT 是双向的预训练语言模型。",
    "Word2vec learns word vectors from context. GPT-3 has 175B parameters.",
    "指令微调和思维链提示让大模型更好地遵循指令。",
]
QUERIES = ["GPT-3 有多少参数?", "什么是自注意力机制", "How does word2vec learn vectors?", "思维链"]


def _keyword_run(tmp_path, hash_seed: str) -> dict:
    """Terms and BM25 hits for TEXTS and QUERIES, from an index written by a fresh process."""
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    args = [json.dumps(TEXTS), json.dumps(QUERIES), str(tmp_path / f"index-{hash_seed}")]
    result = subprocess.run([sys.executable, "-c", KEYWORD_RUN, *args], capture_output=True, text=True,
                            check=True, env=env, cwd=Path(__file__).resolve().parents[1])
    return json.loads(result.stdout)


def test_terms_and_keyword_ranking_are_the_same_in_every_process(tmp_path):
    # Set and dict orders of strings change with the hash seed between processes, never within
    # one; an index built by one process is searched by another, so they must agree.
    first, second = _keyword_run(tmp_path, "1"), _keyword_run(tmp_path, "2")
    assert first == second
    assert first["tokens"] == [tokenize(t) for t in TEXTS + QUERIES]
    # Each query finds the passage about it first.
    assert [hits[0][0] for hits in first["hits"]] == [0, 1, 2, 3]
