import pytest

from rag.measures import answers_another_measure, asked_measures, counted_measures


@pytest.mark.parametrize(
    "question, measures",
    [
        ("How many GPUs were used to train GPT-3?", {"hardware"}),
        ("How long is the context window of LLaMA 3?", {"tokens"}),
        ("GPT-3 的上下文长度是多少?", {"tokens"}),
        ("训练 PaLM 用了多少块 TPU 芯片?", {"hardware"}),
        ("训练 GPT-3 用了多长时间?", {"time"}),
        # The asking phrase decides; the other measures are context.
        ("How much money did it cost to pre-train BERT-Large on Cloud TPUs?", {"money"}),
        ("How long did training the big model take on 8 P100 GPUs?", {"time"}),
        # No asking phrase names a measure: every measure named counts as asked.
        ("Which model was trained on 300B tokens with 175B parameters?", {"tokens", "parameters"}),
        ("Who proposed Word2Vec?", set()),
    ],
)
def test_the_measure_a_question_asks_for(question, measures):
    assert asked_measures(question) == measures


@pytest.mark.parametrize(
    "sentence, measures",
    [
        ("GPT-3 was trained on 15 亿 parameters.", {"parameters"}),
        ("GPT-3 有 1750 亿个参数。", {"parameters"}),
        ("It was pre-trained on 16 Cloud TPUs (64 TPU chips total).", {"hardware"}),
        ("PaLM used 6144 TPU v4 chips.", {"hardware"}),
        ("It cost $4.6 million.", {"money"}),
        ("Training took 3.5 days on 8 GPUs.", {"time", "hardware"}),
        ("训练了 3 年。", {"time"}),
        # A year is a date, not a time span; a bare number or size has no unit.
        ("他们在 2018 年发布了第一个 GPT 模型。", set()),
        ("GPT-3 has 175B.", set()),
        ("The context window is 2K.", set()),
    ],
)
def test_the_measure_an_answer_counts(sentence, measures):
    assert counted_measures(sentence) == measures


def test_an_answer_that_counts_another_measure_does_not_answer():
    assert answers_another_measure("The context window of LLaMA 3 is 55 billion parameters.", "How long is the context window of LLaMA 3?")
    assert answers_another_measure("BERT-Large was pre-trained on 16 Cloud TPUs.", "How much money did it cost to pre-train BERT-Large on Cloud TPUs?")
    # The asked measure among others, a bare number, or a question that names no measure: not judged.
    assert not answers_another_measure("GPT-3, with 175 billion parameters, was trained on 1,024 GPUs.", "How many GPUs were used to train GPT-3?")
    assert not answers_another_measure("The context window of GPT-4 Turbo is 17.", "How long is the context window of GPT-4 Turbo?")
    assert not answers_another_measure("GPT-3 has 175 billion parameters.", "What is GPT-3?")
