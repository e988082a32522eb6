import dataclasses

from hypothesis import given, strategies as st

from ingest.documents import Chunk
from rag.cite import Lexicon, cite, is_refusal, key_terms, parse_markers, split_sentences, strip_markers, support
from rag.echoes import drop_echoes
from rag.types import Hit


def hits(*texts):
    return [Hit(i, Chunk(doc_id=f"d{i}", title=f"T{i}", text=t, start=0, end=len(t)), 1.0) for i, t in enumerate(texts)]


def test_parse_markers_formats():
    assert parse_markers("A [1] b [2, 3]【4】[^5] [6-8]") == [1, 2, 3, 4, 5, 6, 7, 8]
    assert parse_markers("no markers here (2020)") == []


def test_split_sentences_keeps_trailing_marker_with_sentence():
    assert split_sentences("GPT-3 has 175B parameters. [1] It was released in 2020 [2].") == [
        "GPT-3 has 175B parameters.[1]",
        "It was released in 2020 [2].",
    ]
    assert split_sentences("GPT-3 有 1750 亿参数[1]。它于 2020 年发布[2]。") == ["GPT-3 有 1750 亿参数[1]。", "它于 2020 年发布[2]。"]


def test_initials_and_abbreviations_end_no_sentence():
    assert split_sentences("J. Devlin and T. B. Brown et al. wrote them [1]. E.g. BERT. Done.") == [
        "J. Devlin and T. B. Brown et al. wrote them [1].",
        "E.g. BERT.",
        "Done.",
    ]


def test_a_numbered_list_stays_a_list_and_its_labels_need_no_source():
    """A list item's "1." is no sentence and no claim: before, "1." stood alone, was cited
    to any passage with a 1 in it, and the items ran together on one line."""
    passages = hits("The Vector Institute and the Ethics of AI Lab are in Canada.", "Table 1 2 3: model scores")
    result = cite("The Canadian organisations are:\n1. Vector Institute\n2. Ethics of AI Lab", passages)
    assert result.text == "The Canadian organisations are:\n1. Vector Institute[1]\n2. Ethics of AI Lab[1]"
    assert [c.n for c in result.citations] == [1]
    reply = "根据资料,应用场景包括:\n\n1. 文本生成:LLM 非常适合生成连贯的文本。\n\n2. 问答系统:LLM 可以提供准确的答案。"
    passage = "LLM 的应用:文本生成:LLM 非常适合生成连贯的文本。问答系统:LLM 可以提供准确的答案。"
    assert cite(reply, hits(passage)).text.endswith(
        "\n1. 文本生成:LLM 非常适合生成连贯的文本[1]。\n2. 问答系统:LLM 可以提供准确的答案[1]。"
    )


def test_only_a_label_at_the_start_of_a_line_before_its_item_is_one():
    assert split_sentences("Items:\n1. GPT-3\n- BERT\n(3) T5") == ["Items:", "1. GPT-3", "- BERT", "(3) T5"]
    # A number that ends a sentence, or stands on its own line, is still the answer.
    assert split_sentences("It has 12. Layers follow.\n6.\nDone.") == ["It has 12.", "Layers follow.", "6.", "Done."]
    assert "6[1]" in cite("Layers:\n6.", hits("The encoder is a stack of N = 6 identical layers.")).text


def test_support_requires_numbers():
    score, evidence = support("GPT-3 有 1750 亿参数", "GPT-3 拥有 1750 亿个参数,是当时最大的模型")
    assert score >= 0.5 and "1750" in evidence
    assert support("GPT-3 有 1800 亿参数", "GPT-3 拥有 1750 亿个参数")[0] == 0.0


def test_a_number_is_backed_only_by_the_whole_number():
    """"17" is not in "175B", "2017" or "1.17": part of another number backs nothing."""
    for passage in ("GPT-3 has 175B parameters.", "GPT-3 came out after 2017.", "GPT-3 is 1.17 times larger."):
        assert support("GPT-3 has 17 billion parameters.", passage)[0] == 0.0
    for passage in ("GPT-3 has 17B parameters.", "GPT-3: 17, or 18,000 parameters"):
        assert support("GPT-3 has 17 billion parameters.", passage)[0] > 0.5
    assert support("GPT-4 supports 32,768 tokens.", "GPT-4 (32768 tokens)")[0] > 0.5


def test_a_number_written_alone_is_not_backed_by_the_same_digits_with_a_magnitude():
    """"15 亿" is 1.5 billion: it backs no "15 GPUs" (an unanswerable dev question got that
    answer, cited to "GPT-2 大幅跃升至 15 亿个参数")."""
    passage = "GPT-2(2019 年)大幅跃升至 15 亿个参数,而 GPT-3 拥有 1750 亿个参数。"
    for sentence in ("GPT-3 was trained on 15 GPUs.", "GPT-3 用了 15 块 GPU。"):
        assert support(sentence, passage)[0] == 0.0
    for written in ("15B", "15 billion", "15k", "15 万"):
        assert support("GPT-3 was trained on 15 GPUs.", f"GPT-3: {written} GPUs")[0] == 0.0
    assert support("GPT-3 was trained on 15 GPUs.", "GPT-3 was trained on 15 GPUs for 2 weeks.")[0] > 0.5
    assert support("GPT-2 has 15 亿 parameters.", passage)[0] > 0.5


def test_invalid_marker_removed_and_valid_one_checked():
    h = hits("GPT-3 拥有 1750 亿个参数。", "BERT 是编码器模型。")
    out = cite("GPT-3 有 1750 亿参数[1][7]。", h)
    assert out.text == "GPT-3 有 1750 亿参数[1]。"
    assert [c.n for c in out.citations] == [1]
    assert out.citations[0].supported and out.citations[0].how == "marker"
    assert out.unsupported == ()


def test_unmarked_sentence_gets_attributed_passage():
    h = hits("BERT 是编码器模型。", "GPT-3 拥有 1750 亿个参数。")
    out = cite("GPT-3 有 1750 亿参数。", h)
    assert out.text == "GPT-3 有 1750 亿参数[2]。"
    (c,) = out.citations
    assert c.n == 2 and c.how == "attributed" and c.supported


def test_a_citation_of_the_wrong_passage_moves_to_the_right_one():
    h = hits("BERT 是编码器模型。", "GPT-3 拥有 1750 亿个参数。")
    out = cite("GPT-3 有 1750 亿参数[1]。", h)
    assert out.text == "GPT-3 有 1750 亿参数[2]。"
    (c,) = out.citations
    assert c.n == 2 and c.how == "attributed" and c.supported and out.unsupported == ()


def test_a_claim_no_passage_supports_is_flagged():
    h = hits("BERT 是编码器模型。", "GPT-3 拥有 1750 亿个参数。")
    out = cite("GPT-3 有 1800 亿参数[1]。", h)
    assert out.citations[0].n == 1 and out.citations[0].supported is False
    assert out.unsupported == ("GPT-3 有 1800 亿参数。",)


def test_what_the_model_was_told_about_a_passage_supports_it_too():
    h = hits("本文为英文综述论文的翻译稿件。")
    header = "作者:赵鑫、周昆、李军毅等"
    assert cite("第一作者是赵鑫、周昆、李军毅等[1]。", h, headers=[header]).citations[0].supported
    assert not cite("第一作者是赵鑫、周昆、李军毅等[1]。", h).citations[0].supported


def test_only_what_the_answer_adds_to_the_question_needs_a_source():
    h = hits("BLOOM 的训练使用了混合精度。")
    restated = "混合精度训练这个技巧是在 BLOOM 模型上用的。"
    assert cite(restated, h, question="混合精度训练这个技巧是在哪个模型上用的?").citations[0].supported
    assert not cite(restated, h).citations  # without the question, most of its words are unsupported
    wrong = cite("混合精度训练这个技巧是在 GPT-2 模型上用的。", h, question="混合精度训练这个技巧是在哪个模型上用的?")
    assert not wrong.citations and wrong.unsupported
    wrong = cite("混合精度训练这个技巧是在 OPT 模型上用的。", h, question="混合精度训练这个技巧是在哪个模型上用的?")
    assert not wrong.citations and wrong.unsupported
    # Leaving the question's words out never makes a sentence less supported than before.
    h = hits("OpenAI 基于 GPT-3 的聊天机器人 ChatGPT 于 2022 年 11 月 30 日发布。")
    assert cite("根据资料[1], ChatGPT 是在 2022 年 11 月发布。", h, question="ChatGPT 是什么时候发布的?").citations[0].supported


def test_an_answer_whose_own_words_are_all_missing_is_unsupported():
    """A passage that only repeats the question ("Who built the statue of liberty?" in a
    paper's list of example prompts) backs none of what the answer adds."""
    h = hits("Example prompts: Who built the statue of liberty? How do I make a cake?")
    question = "Who built the Statue of Liberty?"
    made_up = cite("The Statue of Liberty was built by John Adams [1].", h, question=question, similarity=lambda a, b: 0.0)
    assert not made_up.citations[0].supported and made_up.unsupported
    h = hits("The Statue of Liberty was built by Gustave Eiffel and Auguste Bartholdi.")
    right = cite("The Statue of Liberty was built by Bartholdi [1].", h, question=question, similarity=lambda a, b: 0.0)
    assert right.citations[0].supported  # one added term found: scored as before
    # Half found, half invented: the name the passage never writes fails it.
    half = cite("The Statue of Liberty was built by Bartholdi and John Adams [1].", h, question=question,
                similarity=lambda a, b: 0.0)
    assert not half.citations[0].supported and half.unsupported


def test_the_question_asked_again_is_no_answer():
    """A reply that repeats the question, question word and all, answers nothing, however
    well its passage matches the question; an answer that adds the number, or picks one
    of the question's own options, still stands."""
    question = "Mixtral 8x7B 每处理一个 token 会激活几个专家?"
    h = hits("Mixtral 8x7B 每层有 8 个专家,每处理一个 token 会激活其中 2 个专家。")
    again = cite("根据资料,Mixtral 8x7B 每处理一个 token 会激活几个专家[1]。", h, question=question)
    assert again.unsupported and not any(c.supported for c in again.citations)
    assert not cite("Mixtral 8x7B 每处理一个 token 会激活 2 个专家[1]。", h, question=question).unsupported
    choice = cite("PaLM 的参数更多[1]。", hits("GPT-3 有 1750 亿参数,PaLM 的参数更多,有 5400 亿。"),
                  question="GPT-3 和 PaLM 哪个的参数更多?")
    assert choice.citations and choice.citations[0].supported


def test_a_plural_is_found_as_its_singular():
    h = hits("在 OpenAI 的早期,已经尝试使用循环神经网络(RNN)实现语言模型。")
    question = "What kind of network were OpenAI's early language-model attempts based on?"
    cited = cite("OpenAI's early language-model attempts were based on RNNs.", h, question=question)
    assert cited.citations and cited.citations[0].supported


def test_a_number_the_question_states_needs_no_source():
    """Restating "GLUE v2.0" from the question does not sink an answer whose passage
    only says "GLUE"; a number the answer adds still must be in the passage, and so must
    a number the question claims."""
    h = hits("We first pre-train on BooksCorpus, then fine-tune on GLUE.")
    question = "Which corpus was used before fine-tuning on GLUE v2.0?"
    answer = "They pre-train on BooksCorpus before fine-tuning on GLUE v2.0 [1]."
    assert cite(answer, h, question=question).citations[0].supported
    assert cite(answer, h).unsupported  # without the question, "2.0" has no source
    added = cite("They pre-train on BooksCorpus 2019 before fine-tuning on GLUE v2.0 [1].", h, question=question)
    assert not added.citations[0].supported and added.unsupported
    assert cite("GLUE v2.0 uses BooksCorpus [1].", hits("GLUE uses BooksCorpus."), question=question,
                similarity=lambda a, b: 0.0).citations[0].supported
    # Not when the passage gives that name another version: it is about something else.
    other = cite(answer, hits("We first pre-train on BooksCorpus, then fine-tune on GLUE v1.0."), question=question)
    assert not other.citations[0].supported and other.unsupported
    # A number that is not a name's is a claim, even when the question makes it.
    premise = cite("GLUE has 99 tasks [1].", hits("GLUE has nine tasks."), question="Does GLUE have 99 tasks?")
    assert not premise.citations[0].supported and premise.unsupported


def test_echoes_of_the_prompt_are_dropped():
    system = "Answer in English, for example: The model has 7 billion parameters [2]."
    headers = ["[1] 《A Survey of Large Language Models》(by Wayne Xin Zhao, Kun Zhou, Junyi Li et al.)",
               "[2] 《LLM 发展》"]
    passages = ["Scaling laws were studied.", "2017 年,Vaswani 等人在论文《Attention Is All You Need》中提出了 Transformer。"]
    assert drop_echoes("The model has 7 billion parameters [1].", [system], headers, passages) == ""
    assert drop_echoes("《A Survey of Large Language Models》 by Wayne Xin Zhao [1].", [system], headers, passages) == ""
    kept = "GPT-3 has 175 billion parameters [1]. The model has 7 billion parameters [2]."
    assert drop_echoes(kept, [system], headers, passages) == "GPT-3 has 175 billion parameters [1]."
    # A title the passage text itself names is an answer, not an echo.
    headers.append("[3] 《Attention Is All You Need》")
    assert drop_echoes("《Attention Is All You Need》[2]", [system], headers, passages) == "《Attention Is All You Need》[2]"
    # The instructions' marker placeholder copied into a reply goes; a bracketed term stays.
    zh = "每句话末尾用 [编号] 标出依据的资料,例如:某模型有 70 亿个参数[2]。"
    reply = "没有答案的问题放在 [CLS] token 上[1]。[编号]"
    assert drop_echoes(reply, [zh]) == "没有答案的问题放在 [CLS] token 上[1]。"
    assert drop_echoes("GPT-3 有 1750 亿个参数[编号]。", [zh]) == "GPT-3 有 1750 亿个参数。"
    assert drop_echoes(reply, [system]) == reply


def test_cross_lingual_support_through_similarity():
    h = hits("ChatGPT 于 2022 年 11 月发布。")
    out = cite("ChatGPT was released in November 2022 [1].", h, similarity=lambda a, b: 0.8)
    assert out.citations[0].supported
    out = cite("ChatGPT was released in November 2023 [1].", h, similarity=lambda a, b: 0.9)
    assert not out.citations[0].supported  # the number doesn't match, whatever the similarity


def test_a_translated_sentence_is_backed_by_the_passage_sentence_it_translates():
    source = "MoE 模型使用动态路由机制为每个输入仅激活模型参数的子集。"
    h = hits("LLM 的改进并非都需要更多计算。像 Mixtral 8x7B 这样的小型模型仍然可以提供令人印象深刻的性能。" + source)
    answer = "MoE is a dynamic routing mechanism that activates only a subset of the parameters for each input."
    # Close to the sentence it translates, far from the passage as a whole (USE: 0.71 and about 0.4).
    def similarity(a, b):
        return 0.71 if b == source else 0.4
    out = cite(answer, h, question="What is MoE?", similarity=similarity)
    assert out.citations and out.citations[0].supported and not out.unsupported
    # A sentence merely near one passage sentence is no translation of it.
    out = cite(answer, h, question="What is MoE?", similarity=lambda a, b: 0.64 if b == source else 0.4)
    assert not out.citations and out.unsupported


def test_the_digits_of_a_name_the_question_wrote_back_nothing():
    """"GPT-1" holds a 1 and "Word2Vec" a 2; restating the name is no number the passage
    backs, so what the sentence adds ("Paris", "Geoffrey Hinton") still needs a source."""
    h = hits("GPT-1(2018 年)最初有 1.17 亿个参数。")
    question = "How many parameters did GPT-1 start with?"
    made_up = cite("GPT-1 was trained in Paris [1].", h, question=question, similarity=lambda a, b: 0.0)
    assert not made_up.citations[0].supported and made_up.unsupported
    h = hits("Word2Vec 由 Tomas Mikolov 等人在 Google 提出。")
    question = "Who proposed Word2Vec?"
    assert not cite("Word2Vec was proposed by Geoffrey Hinton [1].", h, question=question).citations[0].supported
    assert cite("Word2Vec was proposed by Tomas Mikolov [1].", h, question=question).citations[0].supported


def test_a_name_the_passage_never_writes_is_not_backed_by_the_words_around_it():
    """Half a sentence's terms back it, so a backed year once carried an invented person
    ("Geoffrey Hinton ... in 2013") in the passage's own language."""
    h = hits("Word2Vec was proposed by Tomas Mikolov at Google in 2013.")
    question = "Who proposed Word2Vec?"
    invented = cite("Word2Vec was developed by Geoffrey Hinton in 2013 [1].", h, question=question)
    assert not invented.citations[0].supported and invented.unsupported
    said = cite("Word2Vec was developed by Tomas Mikolov at Google in 2013 [1].", h, question=question)
    assert said.citations[0].supported and not said.unsupported
    # The passage's title writes names too.
    titled = [Hit(0, Chunk(doc_id="d0", title="Mikolov et al.: Word2Vec", text="It was proposed at Google in 2013.",
                           start=0, end=34), 1.0)]
    assert cite("Word2Vec was proposed by Mikolov at Google in 2013 [1].", titled, question=question).citations[0].supported
    # A list gathers its names from several passages, and spacing may differ.
    h = hits("常用语料库按内容类型分为六组:书籍、CommonCrawl、维基百科、代码和其他。", "Corpora: Books, Common Crawl, Reddit links.")
    question = "训练 LLM 常用的语料库按内容类型被分成了哪几组?"
    listed = cite("语料库分为六组: Books、Commoncrawl、Reddit链接、维基百科、代码和其他[1]。", h, question=question)
    assert listed.citations[0].supported and not listed.unsupported
    invented = cite("语料库分为六组: Books、Commoncrawl、Twitter、维基百科、代码和其他[1]。", h, question=question)
    assert not invented.citations[0].supported


def test_a_name_the_passage_lacks_is_not_backed_by_meaning():
    """Names are written in Latin letters in Chinese text too: an English sentence close in
    meaning to a Chinese passage, but adding a name the passage never writes, is invented."""
    h = hits("GPT-1 是基于生成型的、仅解码器的 Transformer 架构开发的。")
    question = "How many parameters did GPT-1 start with?"
    invented = cite("GPT-1 is in Paris [1].", h, question=question, similarity=lambda a, b: 0.9)
    assert not invented.citations[0].supported and invented.unsupported
    # Backed by meaning (few of its words are in the passage), with a name the passage
    # writes ("Transformer") and a capital that only starts the sentence: it passes.
    said = "Generative decoder-only GPT-1 was developed on the Transformer architecture [1]."
    assert support(strip_markers(said), h[0].chunk.text, key_terms(question)[1])[0] < 0.5
    kept = cite(said, h, question=question, similarity=lambda a, b: 0.9)
    assert kept.citations[0].supported and not kept.unsupported


def test_refusal_phrases():
    assert is_refusal("抱歉,文档中没有找到这个问题的答案。")
    assert is_refusal("The passages do not contain this information.")
    assert not is_refusal("GPT-3 has 175 billion parameters [1].")


@given(st.lists(st.sampled_from(["GPT-3 有 1750 亿参数", "It uses attention", "[3]", "[1]", "。", ". ", "\n"]), max_size=12))
def test_cite_never_emits_markers_outside_passages(parts):
    h = hits("GPT-3 拥有 1750 亿个参数。", "Transformers use attention.")
    out = cite("".join(parts), h)
    for c in out.citations:
        assert 1 <= c.n <= 2
    assert all(n in (1, 2) for n in parse_markers(out.text))


def test_a_sentence_that_counts_another_measure_than_asked_backs_nothing():
    """True and in its passage, but not an answer: the question is refused, not answered
    beside the point."""
    h = hits("GPT-3 has 175 billion parameters and was trained on 300 billion tokens.")
    beside = cite("GPT-3 was trained on 175 billion parameters [1].", h, question="How many GPUs were used to train GPT-3?")
    assert not beside.citations[0].supported and beside.unsupported
    asked = cite("GPT-3 was trained on 300 billion tokens [1].", h, question="How many tokens was GPT-3 trained on?")
    assert asked.citations[0].supported and not asked.unsupported


def test_a_number_the_passage_gives_to_another_named_thing_backs_nothing():
    """Backed by its passage and about another model: refused, not answered. A sentence that
    names nothing, or names what was asked in another spelling, still backs the number."""
    other = hits("By contrast, GPT-3 has 175B parameters.")
    question = "How many parameters does T5-XXL have?"
    wrong = cite("The model has 175B parameters [1].", other, question=question)
    assert not wrong.citations[0].supported and wrong.unsupported
    zh = cite("T5-XXL 有 1750 亿参数[1]。", hits("相比之下,GPT-3 有 1750 亿参数。"), question="T5-XXL 有多少参数?")
    assert zh.unsupported
    spelled = cite("T5-XXL has 11B parameters [1].", hits("T5XXL has 11B parameters."), question=question)
    assert spelled.citations[0].supported and not spelled.unsupported
    unnamed = cite("40 contractors were hired [1].", hits("We first hire a team of 40 contractors (see Appendix B.1)."),
                   question="How many contractors labelled data for InstructGPT?")
    assert unnamed.citations[0].supported and not unnamed.unsupported
    # A name's version is no quantity: naming another model is the answer here.
    which = cite("Its recipe is close to GPT-3's [1].", hits("The recipe of ChatGPT is close to that of GPT-3."),
                 question="Which model is ChatGPT's recipe close to?")
    assert which.citations[0].supported and not which.unsupported


def test_a_number_backs_a_claim_only_near_what_the_claim_is_about():
    """A number elsewhere in the passage (here a footnote mark) is not the context window."""
    passage = ("OpenAI has also released APIs for GPT-4, including gpt-4 and gpt-4-32k. Overall, the "
               "choice depends on the application. The detailed usage is on their websites 17.")
    question = "How long is the context window of GPT-4?"
    far = cite("The context window of GPT-4 is 17 [1].", hits(passage), question=question)
    assert not far.citations[0].supported and far.unsupported
    near = cite("GPT-4 comes as gpt-4-32k [1].", hits(passage), question=question)
    assert near.citations[0].supported and not near.unsupported
    # Nor does meaning stand in for words when the number is far from them.
    loose = cite("Its window, said OpenAI's GPT-4 documentation, is 17 [1].", hits(passage), question=question,
                 similarity=lambda a, b: 0.9)
    assert not loose.citations[0].supported and loose.unsupported


def test_a_quantity_is_backed_in_the_other_language_s_magnitude():
    """"530 billion" is "5300亿", "117 million" is "1.17 亿": an English answer from a Chinese
    passage keeps its source. Another quantity, or the bare number, is not backed."""
    h = hits("如 Chinchilla,实现了 700 亿参数量性能超越 5300 亿参数量的 MT-NLG。")
    question = "How many parameters does MT-NLG have?"
    same = cite("MT-NLG has 530 billion parameters [1].", h, question=question, similarity=lambda a, b: 0.8)
    assert same.citations[0].supported and not same.unsupported
    other = cite("MT-NLG has 53 billion parameters [1].", h, question=question, similarity=lambda a, b: 0.8)
    assert not other.citations[0].supported and other.unsupported
    assert support("GPT-1 started with 117 million parameters.", "GPT-1 刚推出时有 1.17 亿个参数")[0] >= 0.5
    assert support("GPT-1 started with 117 parameters.", "GPT-1 刚推出时有 1.17 亿个参数")[0] == 0.0
    # The same digits with another magnitude are another quantity.
    assert support("MT-NLG has 5300 billion parameters.", "MT-NLG 有 5300 亿参数")[0] == 0.0
    assert support("GPT-3 has 17 billion parameters.", "GPT-3 有 17 亿参数")[0] == 0.0
    # Meaning stands in for words against the sentence that holds the number, not the
    # whole passage around it.
    long = hits("缩放法则指导模型大小。如 Chinchilla,实现了 700 亿参数量性能超越 5300 亿参数量的 MT-NLG。训练带来了挑战。")
    def close(a, b):
        return 0.7 if len(b) < 50 else 0.3
    said = "Megatron-Turing NLG, built by Microsoft and NVIDIA, has about 530 billion parameters [1]."
    assert cite(said, long, question=question, similarity=close).citations[0].supported


def test_a_passage_s_own_citation_markers_back_no_number():
    h = hits("通常,LLM 是在海量文本数据[32]上训练的,如 GPT-3[55]、PaLM[56] 和 LLaMA[57]。")
    made_up = cite("The context window of LLaMA is 57 [1].", h, question="How long is the context window of LLaMA?",
                   similarity=lambda a, b: 0.0)
    assert not made_up.citations[0].supported and made_up.unsupported
    stated = cite("LLaMA has 65B parameters [1].", hits("LLaMA[57] has 65B parameters [12, 13]."),
                  similarity=lambda a, b: 0.0)
    assert stated.citations[0].supported


def test_a_copied_citation_marker_is_no_claim_and_a_table_s_caption_is_evidence():
    h = hits("InstructGPT was trained with reinforcement learning from human feedback [61, 67].")
    copied = cite("InstructGPT used reinforcement learning from human feedback (61, 67) [1].", h,
                  similarity=lambda a, b: 0.0)
    assert copied.citations[0].supported
    other = cite("InstructGPT used reinforcement learning from human feedback (62) [1].", h, similarity=lambda a, b: 0.0)
    assert not other.citations[0].supported
    row = Chunk(doc_id="d0", title="T0", text="Transformer (4 layers) semi-supervised 92.7", start=0, end=44, role="table",
                context="Table 4: English constituency parsing (Results are on Section 23 of WSJ)\nParser Training WSJ 23 F1")
    answer = "The 4-layer Transformer reached an F1 of 92.7 on WSJ Section 23 [1]."
    assert cite(answer, [Hit(0, row, 1.0)], similarity=lambda a, b: 0.0).citations[0].supported
    bare = dataclasses.replace(row, context=None)
    assert not cite(answer, [Hit(0, bare, 1.0)], similarity=lambda a, b: 0.0).citations[0].supported


def test_a_list_of_constants_is_no_magnitude():
    """"A = 406.4, B = 410.7" states 406.4: with its comma dropped, "406.4 B" read as 406.4
    billion, and a right answer was refused."""
    passage = "拟合了一个类似的扩展法则,但具有不同的系数: 其中 E = 1.69, A = 406.4, B = 410.7,α = 0.34。"
    question = "常数 A 取值是多少?"
    assert cite("扩展法则的常数 A 是 406.4[1]。", hits(passage), question=question).citations[0].supported
    assert not cite("扩展法则的常数 A 是 410.7[1]。", hits(passage.replace("B = 410.7", "")), question=question).citations[0].supported
    # A thousands separator between digits is still no separator: "32,768" is 32768.
    assert support("GPT-4 的上下文是 32768 个 token", "GPT-4 支持 32,768 个 token 的上下文")[0] >= 0.5


def test_a_sentence_after_a_formula_stands_next_to_the_one_before_it():
    """A displayed formula's pieces are lines of their own in PDF text; the sentence that
    gives its constants is still next to the one that says what the formula is. A number
    inside the pieces has only its neighbours."""
    passage = "并拟合了一个类似\n的扩展法则,但具有不同的系数,如下所示:\nA\nB\nL(N, D) = E +\nN α +\nDβ ,\n(2)\n其中 E = 1.69, A = 406.4。\n通过在约束条件下优化损失。"
    question = "常数 A 取值是多少?"
    assert cite("扩展法则的常数 A 是 406.4[1]。", hits(passage), question=question).citations[0].supported
    pieces = "并拟合了一个类似\n的扩展法则,但具有不同的系数,如下所示:\nA\nB\nL(N, D) = E +\nCc ∼ 3.1 × 108\n(2)\n通过在约束条件下优化损失。"
    assert not cite("扩展法则的常数 A 是 3.1 × 108[1]。", hits(pieces), question=question).citations[0].supported


def test_a_lead_in_that_names_the_source_needs_no_source():
    """"资料[2] 中提到" and "根据资料[3]中的信息," say where, not what: the claim after them is
    checked, and the sentence is shown whole."""
    passage = "FFNNLM(2003,Bengio):将前 n-1 个词的向量拼接作为网络输入。"
    question = "前馈神经网络语言模型 FFNNLM 是哪一年提出的?"
    for lead in ("资料[1] 中提到 ", "根据资料[1]中的信息,", "根据资料[1],"):
        result = cite(f"{lead}FFNNLM 是在 2003 年提出的。", hits(passage), question=question)
        assert result.citations[0].supported and not result.unsupported, lead
        assert result.text.startswith(lead.replace("[1]", "").strip()), result.text
    english = cite("The passage states that FFNNLM was proposed in 2003 by Bengio [1].", hits(passage),
                   question="Who proposed FFNNLM, and when?")
    assert english.citations[0].supported
    # Words the lead-in does not cover still need their source.
    assert not cite("资料[1] 中提到 FFNNLM 是在 2003 年由谷歌提出的。", hits(passage), question=question).citations[0].supported


def test_a_sentence_that_stops_where_its_claim_should_be_states_nothing():
    passage = "人类专家在 SWAG 测试集上的准确率是 85.0,BERT-Large 是 86.3。"
    question = "人类专家在 SWAG 测试集上的成绩是多少?"
    result = cite("人类专家在 SWAG 测试集上的准确率是 [223]。", hits(passage), question=question)
    assert not any(c.supported for c in result.citations)
    assert cite("人类专家在 SWAG 测试集上的准确率是 85.0 [1]。", hits(passage), question=question).citations[0].supported


def test_a_number_from_a_passage_in_the_other_language_is_carried_by_its_words_translations():
    """An English claim's number, stated in a Chinese passage beside the dictionary's
    translations of at least half the claim's words, is backed there, whatever the cosine."""
    words = {"neural networks": ["神经网络"], "networks": ["网络"], "chips": ["芯片"]}

    def dictionary(phrase):  # as rag.glossary.Translator: a pair's own term, then its words'
        return [*words.get(phrase, []), *(t for w in phrase.split() if " " in phrase for t in words.get(w, []))]

    h = hits("早期最大的进步是神经网络,1943 年,数学家沃伦·麦卡洛克受人类大脑神经元的启发,首次提出了神经网络。")
    question = "In what year were neural networks first proposed?"

    def said(sentence, translate=dictionary, passages=h):
        return cite(sentence, passages, question=question, similarity=lambda a, b: 0.3, lexicon=Lexicon(translate=translate))

    assert said("In 1943, neural networks were first proposed [1].").citations[0].supported
    assert not said("In 1943, neural networks were first proposed [1].", translate=None).citations[0].supported
    assert not said("In 1950, neural networks were first proposed [1].").citations[0].supported
    # Words the passage does not hold, in any language, are not carried, nor is a word
    # credited with its neighbour's translation.
    assert not said("In 1943, the first quantum chips were built [1].").citations[0].supported
    assert not said("In 1943, quantum networks were first built [1].").citations[0].supported
    # Nor is a number far from every translated word.
    far = hits("神经网络是一种模型。\n它的结构很简单。\n后来有了很多变化。\n这一年是 1943 年。")
    assert not said("In 1943, neural networks were first proposed [1].", passages=far).citations[0].supported


def test_a_number_in_a_passage_in_the_other_language_is_placed_by_the_claims_translated_words():
    """A Chinese claim shares only Latin names with an English passage, and "PPO" stands
    sentences away from the 0.992 of the decay rate: the claim's words in English ("衰减",
    "decay") place the number as shared words do within one language."""
    h = hits("We train for 16 epochs. Training uses many GPUs. Moving averages of the weights are applied, with a "
             "decay rate of 0.992. No discount is applied when estimating the advantage. The PPO clip ratio is 0.2.")
    question = "InstructGPT 做 PPO 训练时,对权重做滑动平均的衰减率是多少?"

    def said(sentence, translate=lambda text: ["decay"] if "衰减" in text else []):
        return cite(sentence, h, question=question, similarity=lambda a, b: 0.6, lexicon=Lexicon(translate=translate))

    assert said("PPO 训练时,权重滑动平均的衰减率是 0.992 [1]。").citations[0].supported
    assert not said("PPO 训练时,权重滑动平均的衰减率是 0.992 [1]。", translate=None).citations[0].supported
    # A number beside none of the translated words is still not placed.
    assert not said("PPO 训练时,权重滑动平均的衰减率是 16 [1]。").citations[0].supported


def test_a_sentence_naming_nothing_asked_needs_a_document_that_names_it():
    """A verbatim sentence of the phrases paper answers no question on RAG: neither it nor
    its document names RAG. A paper's "we" still answers for it when the document names it."""
    question = "Which paper first introduced retrieval-augmented generation (RAG)?"
    verbatim = "The techniques introduced in this paper can be used also for training the CBOW model [1]."
    passage = hits("The techniques introduced in this paper can be used also for training the CBOW model.")
    unrelated = cite(verbatim, passage, question=question, lexicon=Lexicon(names_of={"d0": {"cbow", "skipgram"}}))
    assert not unrelated.citations[0].supported and unrelated.unsupported
    assert cite(verbatim, passage, question=question).citations[0].supported  # without names_of, as before
    named = cite(verbatim, passage, question=question, lexicon=Lexicon(names_of={"d0": {"cbow", "rag"}}))
    assert named.citations[0].supported
    # "We" in the InstructGPT paper: the document names InstructGPT elsewhere.
    hired = cite("The labelers came through Upwork or Scale AI [1].", hits("We hired labelers through Upwork and Scale AI."),
                 question="Through which platforms were InstructGPT's labelers hired?", lexicon=Lexicon(names_of={"d0": {"instructgpt"}}))
    assert hired.citations[0].supported and not hired.unsupported
    # A sentence that names what was asked is judged as before, whatever its document names.
    said = cite("RAG was introduced for training the CBOW model [1].", hits("RAG was introduced for training the CBOW model."),
                question=question, lexicon=Lexicon(names_of={"d0": {"cbow"}}))
    assert said.citations[0].supported


def test_a_marker_cut_off_by_the_token_limit_is_dropped():
    """A reply that stops inside a marker ("…参数[1") once failed its check on the number 1
    and showed the bracket; a marker put back after "系统[" read "系统[[1]"."""
    h = hits("GPT-3 has 175B parameters.", "检索增强生成 (RAG) 系统")
    question = "How many parameters does GPT-3 have?"
    for cut in ("[", "[1", "[1, ", "【2"):
        out = cite(f"GPT-3 has 175B parameters {cut}", h, question=question)
        assert out.text == "GPT-3 has 175B parameters[1]" and out.citations[0].supported
    assert cite("RAG 是检索增强生成 (RAG) 系统[", h, question="RAG 是什么?").text.endswith("系统[2]")
    # Only at the very end: a whole marker inside the reply is read as before.
    assert cite("GPT-3 has 175B parameters [1]. 检索增强生成 (RAG) 系统 [2]", h, question=question).text.count("[") == 2
