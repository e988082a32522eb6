from rag.subjects import document_names, gives_to_another, names, without_versioned_names


def test_names_are_the_tokens_a_reader_takes_for_names():
    assert names("Did RoBERTa-large beat GPT-4, PaLM, T5 and word2vec with InstructGPT?") == {
        "robertalarge", "gpt4", "palm", "t5", "word2vec", "instructgpt"}


def test_metrics_units_references_and_plain_words_name_nothing():
    assert names("It reached 28.4 BLEU and 91.3 F1 on 8 GPUs with 40GB (see Appendix B.1), an LLM The Transformer") == set()


def test_a_versioned_name_is_no_quantity():
    assert without_versioned_names("GPT-3 has 175B parameters").split() == ["has", "175B", "parameters"]


def test_a_number_is_given_to_another_only_when_every_line_names_someone_else():
    subjects = {"robertalarge"}
    assert gives_to_another(["BERTLARGE contains 340M parameters."], subjects)
    assert not gives_to_another(["BERTLARGE contains 340M parameters.", "It has 340M parameters."], subjects)
    assert not gives_to_another(["RoBERTa-Large keeps 340M parameters."], subjects)
    assert not gives_to_another(["BERTLARGE contains 340M parameters."], set())
    assert not gives_to_another([], subjects)


def test_a_document_s_names_come_from_its_title_and_every_passage():
    from tests.fakes import FakeIndex

    index = FakeIndex(["GPT-3 has 175B parameters.", "We call the resulting models InstructGPT."], ["unused"],
                      titles=["Language models are few-shot learners (GPT-3)", "RLHF"])
    assert document_names(index) == {"doc0": {"gpt3"}, "doc1": {"instructgpt", "rlhf"}}
