"""`rag ask --json` and the page's `/ask` API give an answer as the same JSON fields."""

from __future__ import annotations

import json

import ui.cli
from ingest.documents import Chunk
from rag.types import Answer, Citation, Hit
from ui.answering import make_api
from ui.cli import main
from ui.loader import AssistantLoader

GPT3 = Hit(
    row=7,
    chunk=Chunk(doc_id="arxiv-2005.14165", title="Language Models are Few-Shot Learners", text="GPT-3 has 175 billion parameters.",
                start=0, end=33, page=4, arxiv_id="2005.14165", url="https://arxiv.org/abs/2005.14165"),
    score=0.91234567, dense=0.8, keyword=3.5,
)
OTHER = Hit(row=2, chunk=Chunk(doc_id="history", title="大模型简史", text="Transformer 于 2017 年提出。", start=0, end=20), score=0.2)
ANSWER = Answer(
    question="How many parameters does it have?",
    text="GPT-3 has 175 billion parameters [1].",
    refused=False,
    citations=(Citation(n=1, hit=GPT3, evidence=("175 billion",)),),
    retrieved=(GPT3, OTHER),
    standalone_question="How many parameters does GPT-3 have?",
    unsupported=("An unsupported sentence.",),
    notice="question truncated to 500 characters",
    timings={"total_s": 1.234567, "tokens": 12},
    model={"backend": "scripted", "model": "fake-llm"},
)


class Scripted:
    """Gives the same finished answer streamed (the page) or at once (the CLI)."""

    def stream(self, question, history=(), **options):
        yield "GPT-3 has 175 billion parameters [1]."
        yield ANSWER

    def ask(self, question, history=()):
        return ANSWER


def test_cli_json_and_api_give_the_same_answer_fields(monkeypatch, capsys):
    monkeypatch.setattr(ui.cli, "_load_assistant", lambda settings: Scripted())
    assert main(["ask", "--json", ANSWER.question]) == 0
    from_cli = json.loads(capsys.readouterr().out)
    from_api = make_api(AssistantLoader(Scripted()))(ANSWER.question)
    assert "answered" in from_api.pop("status")  # the page's status line comes on top
    assert json.loads(json.dumps(from_api, ensure_ascii=False)) == from_cli
    # The fields either used to lack are there for both.
    [citation] = from_cli["citations"]
    assert citation["arxiv_id"] == "2005.14165" and citation["url"] == GPT3.chunk.url
    assert citation["evidence"] == ["175 billion"] and citation["chunk_id"] == 7 and citation["supported"] is True
    assert [h["title"] for h in from_cli["retrieved"]] == [GPT3.chunk.title, OTHER.chunk.title]
    assert from_cli["standalone_question"] == ANSWER.standalone_question
    assert from_cli["timings"] == {"total_s": 1.2346, "tokens": 12}


def test_a_table_passage_carries_its_caption_in_json():
    from ui.answer_json import citation_json, hit_json

    rows = "Use-case (%)\nGeneration 45.6%"
    table = Hit(row=3, chunk=Chunk(doc_id="arxiv-2203.02155", title="InstructGPT", text=rows, start=0, end=len(rows),
                                   role="table", context="Table 1: Use case categories.\nUse-case (%)"), score=0.5)
    assert hit_json(table)["caption"] == "Table 1: Use case categories."
    assert citation_json(Citation(n=1, hit=table))["caption"] == "Table 1: Use case categories."
    assert hit_json(GPT3)["caption"] == ""
