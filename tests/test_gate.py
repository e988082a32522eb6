from hypothesis import given, settings, strategies as st

from ingest.documents import Chunk
from rag.cite import cite
from rag.echoes import drop_echoes
from rag.gate import SentenceGate
from rag.types import Hit


def hits(*texts):
    return [Hit(i, Chunk(doc_id=f"d{i}", title=f"T{i}", text=t, start=0, end=len(t)), 1.0) for i, t in enumerate(texts)]


INSTRUCTIONS = "End each sentence with its passage number, for example: The model has 7 billion parameters [2]."


def checked(passages):
    """The check the pipeline uses: a sentence is shown as cite renders it, once a passage
    supports it and it is not an echo of the instructions."""

    def check(sentence):
        if not drop_echoes(sentence, [INSTRUCTIONS]):
            return None
        result = cite(sentence, passages)
        return result.text if any(c.supported for c in result.citations) else None

    return check


def stream(gate, pieces):
    shown = [gate.feed(piece) for piece in pieces]
    shown.append(gate.finish())
    return shown


def test_a_sentence_is_shown_once_complete_and_checked():
    gate = SentenceGate(checked(hits("GPT-3 has 175 billion parameters.", "BERT is an encoder.")))
    assert gate.feed("GPT-3 has 175 billion") == ""
    assert gate.feed(" parameters [1].") == ""  # a marker or another sentence may follow
    assert gate.feed(" BERT is") == "GPT-3 has 175 billion parameters[1]."
    assert gate.feed(" an encoder [2].") == ""
    assert gate.finish() == " BERT is an encoder[2]."
    assert gate.shown == "GPT-3 has 175 billion parameters[1]. BERT is an encoder[2]."


def test_a_marker_after_the_full_stop_stays_with_its_sentence():
    gate = SentenceGate(checked(hits("BERT 是编码器模型。", "GPT-3 拥有 1750 亿个参数。")))
    assert gate.feed("GPT-3 有 1750 亿个参数。") == ""
    assert gate.feed("【") == ""
    assert gate.feed("2】") == ""
    assert gate.feed("BERT") == "GPT-3 有 1750 亿个参数[2]。"


def test_an_echoed_instruction_is_never_shown_nor_anything_after_it():
    gate = SentenceGate(checked(hits("GPT-3 has 175 billion parameters.")))
    shown = stream(gate, ["The model has 7 billion parameters [1].", " GPT-3 has 175 billion parameters [1]."])
    assert "".join(shown) == ""  # the echo closed the gate; the final answer shows the rest


def test_a_reply_that_will_be_refused_shows_nothing():
    gate = SentenceGate(checked(hits("GPT-3 has 175 billion parameters.")))
    assert "".join(stream(gate, ["Sorry, the documents don't contain", " the answer to this question."])) == ""


def test_a_numbered_list_is_shown_item_by_item_on_lines_of_its_own():
    gate = SentenceGate(checked(hits("GPT-3 has 175 billion parameters.", "BERT is an encoder.")))
    shown = stream(gate, ["GPT-3 and BERT:\n\n1.", " GPT-3 has 175 billion parameters.\n", "2. BERT is an encoder."])
    assert "".join(shown) == gate.shown == "GPT-3 and BERT:[1]\n1. GPT-3 has 175 billion parameters[1].\n2. BERT is an encoder[2]."


def test_bare_markers_show_nothing():
    gate = SentenceGate(checked(hits("GPT-3 has 175 billion parameters.")))
    assert "".join(stream(gate, ["[", "1", "]"])) == ""


SENTENCES = st.sampled_from(
    [
        "GPT-3 has 175 billion parameters [1].",
        "BERT is an encoder [2].",
        "The model has 7 billion parameters [2].",
        "GPT-3 拥有 1750 亿个参数。[1]",
        "It was trained by J. Smith et al. in 2020 [3].",
        "Paris is nice.",
        "BERT 是编码器模型【2】。",
        "\n1. GPT-3 has 175 billion parameters [1].",
        "\n2. BERT 是编码器模型。",
    ]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(SENTENCES, min_size=1, max_size=4), st.lists(st.integers(1, 9), min_size=1, max_size=30))
def test_the_final_answer_begins_with_what_was_shown(sentences, cuts):
    passages = hits(
        "GPT-3 has 175 billion parameters. GPT-3 拥有 1750 亿个参数。",
        "BERT is an encoder. BERT 是编码器模型。",
        "The paper was written by J. Smith and others in 2020.",
    )
    reply = " ".join(sentences)
    pieces, at = [], 0
    for cut in cuts:
        pieces.append(reply[at : at + cut])
        at += cut
    pieces.append(reply[at:])
    gate = SentenceGate(checked(passages))
    shown = "".join(stream(gate, pieces))
    assert shown == gate.shown
    final = cite(drop_echoes(reply, [INSTRUCTIONS]), passages).text
    assert final.startswith(shown)
