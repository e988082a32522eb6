"""Retrieval across documents and languages: routing by name, reference lists, the glossary, the floor."""

import numpy as np
import pytest

from ingest.documents import Chunk
from rag.answer import judge_relevance
from rag.relevance import defined_term
from rag.evaluate import model_free_standalone
from rag.glossary import Dictionary, Glossary, Translator
from rag.names import DocumentNames, self_names
from rag.retrieve import KEYWORD_LEAD, HybridRetriever
from rag.types import Hit
from tests.fakes import FakeIndex

DOCUMENTS = {
    "arxiv-1310.4546": {"title": "Distributed Representations of Words and Phrases and their Compositionality",
                        "arxiv_id": "1310.4546", "kind": "paper", "lang": "en"},
    "llm-evolution-tree": {"title": "大语言模型(LLM)的进化树", "kind": "article", "lang": "zh"},
    "llm-evolution-and-future": {"title": "LLM 的演变与未来", "kind": "article", "lang": "zh"},
    "arxiv-2303.18223": {"title": "A Survey of Large Language Models", "arxiv_id": "2303.18223",
                         "kind": "paper", "lang": "en"},
    "arxiv-2303.18223-zh": {"title": "大语言模型综述", "arxiv_id": "2303.18223", "kind": "paper", "lang": "zh"},
}


def test_a_document_is_named_by_title_short_name_arxiv_id_or_book_title_marks():
    names = DocumentNames(DOCUMENTS)
    assert names.named("How many examples does the test set in 'Distributed Representations of Words and "
                       "Phrases' contain?") == ("arxiv-1310.4546",)
    assert names.named("In the phrases paper, which token is closest?") == ("arxiv-1310.4546",)
    assert names.named("What does arXiv 1310.4546 report?") == ("arxiv-1310.4546",)
    assert names.named("What does the evolution-tree article say about Meta?") == ("llm-evolution-tree",)
    assert names.named("《LLM 的演变与未来》里举了哪些模型?") == ("llm-evolution-and-future",)
    # The same survey in two languages: the question's language decides; "中文版" names the translation.
    assert names.named("According to the survey, how many layers does PaLM have?") == ("arxiv-2303.18223",)
    assert names.named("中文版综述里 PaLM 有多少层?") == ("arxiv-2303.18223-zh",)


def test_a_paper_is_named_by_what_its_abstract_calls_what_it_presents():
    documents = {
        **DOCUMENTS,
        "arxiv-1810.04805": {"title": "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
                             "kind": "paper", "lang": "en"},
        "arxiv-2203.02155": {"title": "Training language models to follow instructions with human feedback",
                             "kind": "paper", "lang": "en"},
    }
    first_pages = {
        "arxiv-1310.4546": "Abstract\nWe also describe a simple alternative to the hierarchical softmax called negative\n"
                           "sampling. 1 Introduction\nDistributed representations of words called word vectors ...",
        "arxiv-2203.02155": "Training language models ...\nAbstract\nWe call the resulting models InstructGPT. In human "
                            "evaluations ...",
    }
    assert self_names(first_pages["arxiv-1310.4546"]) == ["negative sampling"]  # not what the introduction calls things
    assert self_names("Abstract We propose a new simple network architecture, the Transformer, based solely on attention.") == ["Transformer"]
    question = "In the negative sampling paper, how many negative samples are recommended for small training datasets?"
    assert DocumentNames(documents).named(question) != ("arxiv-1310.4546",)  # "training" named two other papers
    named = DocumentNames(documents, first_pages)
    assert named.named(question) == ("arxiv-1310.4546",)
    assert named.named("According to the InstructGPT paper, how many labelers were hired?") == ("arxiv-2203.02155",)
    assert DocumentNames(documents).named("According to the InstructGPT paper, how many labelers were hired?") == ()


def test_a_question_that_says_article_names_an_article():
    documents = {
        **DOCUMENTS,
        "llm-development-resources": {"title": "LLM 大语言模型发展及关键资源", "kind": "article", "lang": "zh"},
        "arxiv-1301.3781": {"title": "Efficient Estimation of Word Representations in Vector Space",
                            "arxiv_id": "1301.3781", "kind": "paper", "lang": "en"},
    }
    names = DocumentNames(documents)
    # one word each ("resources", "word"): the tie went to the paper in the question's language
    question = "The resources article says the word2vec papers are the origin of which learning approach?"
    assert names.named(question) == ("llm-development-resources",)
    # without "article" the tie goes to the paper in the question's language, as before
    assert names.named(question.replace("resources article", "resources page")) == ("arxiv-1301.3781",)
    # "paper" narrows nothing: readers call an article about a paper "the paper"
    assert names.named("What does the evolution-tree paper say about Meta?") == ("llm-evolution-tree",)
    # an article named by nothing but generic words leaves the papers in play
    assert names.named("Which article explains Distributed Representations of Words and Phrases?") == ("arxiv-1310.4546",)


def test_no_document_is_named_without_a_naming_word_or_by_generic_words():
    names = DocumentNames(DOCUMENTS)
    assert names.named("How are words and phrases represented?") == ()  # no "paper", "article", 《》
    assert names.named("Which paper came first?") == ()  # a naming word, but no document's name


def test_a_title_written_whole_names_its_document_without_a_naming_word():
    documents = {**DOCUMENTS, "arxiv-1706.03762": {"title": "Attention Is All You Need", "arxiv_id": "1706.03762",
                                                    "kind": "paper", "lang": "en"},
                 "bert": {"title": "BERT", "kind": "paper", "lang": "en"},
                 "llm": {"title": "Large Language Models", "kind": "article", "lang": "en"}}
    names = DocumentNames(documents)
    assert names.named("Which three criteria does Attention Is All You Need use?") == ("arxiv-1706.03762",)
    assert names.named("who wrote attention  is all you need") == ("arxiv-1706.03762",)  # case and spacing folded
    assert names.named("LLM 的演变与未来里举了哪些模型?") == ("llm-evolution-and-future",)  # a Chinese title's head
    assert names.named("Is attention all you need?") == ()  # the words, not the title
    assert names.named("What is BERT?") == ()  # a one-word title is a model's name, not a naming
    assert names.named("Which large language models are open?") == ()  # three words are a topic


def _routing_index():
    texts = [
        "reference list: distributed representations of words and phrases, phrase analogy, 2013",  # other doc
        "the phrase analogy test set has 3218 examples",  # the named paper
        "phrase analogy results and examples in the related work",  # another document
    ]
    index = FakeIndex(texts, ["phrase", "analogy", "examples", "test"])
    index.chunks = [
        Chunk(doc_id=d, title=d, text=t, start=0, end=len(t), role=r)
        for d, t, r in zip(["llm-evolution-tree", "arxiv-1310.4546", "llm-evolution-and-future"], texts,
                           ["references", "text", "text"])
    ]
    index.documents = {d: DOCUMENTS[d] for d in ("llm-evolution-tree", "arxiv-1310.4546", "llm-evolution-and-future")}
    return index


def test_a_question_naming_a_paper_searches_that_paper_first():
    index = _routing_index()
    question = "How many examples does the phrase analogy test set in the 'Distributed Representations' paper contain?"
    plain = HybridRetriever(index, candidates=3, references_weight=1.0)
    plain.names.named = lambda q: ()
    routed = HybridRetriever(index, candidates=3, references_weight=1.0)
    assert plain.search(question, 3)[0].row != 1
    assert routed.search(question, 3)[0].row == 1


def test_a_name_mentioned_in_passing_is_no_filter():
    index = _routing_index()
    # The named paper holds nothing close to the question: its passage must not be lifted.
    index.vectors = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    index.embedder = lambda: type("E", (), {"embed": staticmethod(lambda texts: np.array([[0.0, 1.0]], dtype=np.float32))})()
    hybrid = HybridRetriever(index, candidates=3, references_weight=1.0)
    hits = hybrid.search("Unlike the phrases paper, what related work discusses the results?", 3)
    assert hits[0].row != 1


def test_reference_lists_do_not_outrank_prose_unless_references_are_asked_for():
    index = _routing_index()
    index.documents = {d: {**m, "title": "x"} for d, m in index.documents.items()}  # nothing named
    weighed = HybridRetriever(index, candidates=3)
    unweighed = HybridRetriever(index, candidates=3, references_weight=1.0)
    question = "phrase analogy 2013 representations"
    assert unweighed.search(question, 3)[0].row == 0
    assert weighed.search(question, 3)[0].row != 0
    assert weighed.search("Which references on phrase analogy 2013 representations are there?", 3)[0].row == 0
    # A paper's authors are what a reference list gives: an author question keeps its weight too.
    assert weighed.search("Who are the authors of phrase analogy 2013 representations?", 3)[0].row == 0
    assert weighed.search("phrase analogy 2013 representations 的第一作者是谁?", 3)[0].row == 0


def _table_index(table_role: str):
    texts = [
        "the share of each use case in the prompt dataset, discussed below",
        "prompt dataset collection",
        "Table 1: use case share of the prompt dataset. Generation 45.6% Open QA 12.4%",
    ]
    index = FakeIndex(texts, ["unused"])
    index.chunks = [Chunk(doc_id=c.doc_id, title=c.title, text=c.text, start=0, end=len(c.text), role=role)
                    for c, role in zip(index.chunks, ["text", "text", table_role])]
    # The embedder cannot place the table's numbers: it is nowhere in the dense ranking.
    index.vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    index.embedder = lambda: type("E", (), {"embed": staticmethod(lambda texts: np.array([[1.0, 0.0]], dtype=np.float32))})()
    return index


def test_a_table_that_keywords_rank_first_is_not_sunk_by_its_cosine():
    question = "What share of the prompt dataset is Generation?"
    assert HybridRetriever(_table_index("table"), candidates=3).search(question, 3)[0].row == 2
    assert HybridRetriever(_table_index("table"), candidates=3, table_depth=0).search(question, 3)[0].row == 0
    # Only tables: prose with the same ranks keeps its fused rank.
    assert HybridRetriever(_table_index("text"), candidates=3).search(question, 3)[0].row == 0


def _lead_index():
    texts = [
        "single head attention is 0.9 BLEU worse than the best setting",
        "model variations: the best setting of the base model",
        "attention heads of the base model",
        "variations of the base model",
    ]
    index = FakeIndex(texts, ["unused"])
    # The embedder places the answer last: its number and terms mean little to it.
    index.vectors = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    index.embedder = lambda: type("E", (), {"embed": staticmethod(lambda texts: np.array([[1.0, 0.0]], dtype=np.float32))})()
    return index


def test_a_clear_keyword_lead_counts_as_ranked_first_by_both_rankers():
    question = "how much worse was single head attention than the best setting"  # 8 words against 3
    assert HybridRetriever(_lead_index(), candidates=4, keyword_lead=KEYWORD_LEAD).search(question, 4)[0].row == 0
    assert HybridRetriever(_lead_index(), candidates=4).search(question, 4)[0].row != 0  # off by default
    # A first place shared with another passage (5 words each) is no clear lead.
    tie = "single head attention of the base model worse"
    assert HybridRetriever(_lead_index(), candidates=4, keyword_lead=KEYWORD_LEAD).search(tie, 4)[0].row != 0


def test_keyword_lead_is_a_setting_that_reaches_the_retriever():
    from rag.answer import Assistant
    from rag.settings import Settings, SettingsError, load_settings
    from tests.fakes import ScriptedGenerator

    assert Assistant(_lead_index(), Settings(), generator=ScriptedGenerator([])).retriever.keyword_lead == 0
    assert Assistant(_lead_index(), Settings(keyword_lead=1.2), generator=ScriptedGenerator([])).retriever.keyword_lead == 1.2
    assert load_settings({}, environ={"RAG_KEYWORD_LEAD": "1.5"})[0].keyword_lead == 1.5
    with pytest.raises(SettingsError, match="keyword_lead"):
        load_settings({"keyword_lead": 0.5}, environ={})


def _named_index():
    texts = [
        "first author: Wayne Xin Zhao; A Survey of Large Language Models",  # the named survey's author list
        "the survey reviews large language models",  # the named survey's prose
        "models are large",  # the named survey's prose
        "the first author of a survey of large language models",  # another document
    ]
    index = FakeIndex(texts, ["unused"])
    docs = ["arxiv-2303.18223"] * 3 + ["llm-evolution-tree"]
    index.chunks = [Chunk(doc_id=d, title=d, text=t, start=0, end=len(t)) for d, t in zip(docs, texts)]
    index.documents = {d: DOCUMENTS[d] for d in set(docs)}
    # The embedder cannot place a list of names: the author list is far from the question.
    index.vectors = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    index.embedder = lambda: type("E", (), {"embed": staticmethod(lambda texts: np.array([[1.0, 0.0]], dtype=np.float32))})()
    return index


def test_inside_a_named_document_the_best_keyword_match_is_not_sunk_by_its_cosine():
    question = "Who is the first author of 'A Survey of Large Language Models'?"
    assert HybridRetriever(_named_index(), candidates=4).search(question, 2)[0].row == 0
    assert 0 not in [h.row for h in HybridRetriever(_named_index(), candidates=4, named_depth=0).search(question, 2)]
    # Only inside the named document: the same keyword match elsewhere gains nothing.
    assert HybridRetriever(_named_index(), candidates=4).search("Who is the first author of it?", 4)[0].row != 0


def test_the_glossary_pairs_terms_glossed_in_parentheses():
    glossary = Glossary.from_texts([
        "Transformer 的主要特点是其自注意力(self-attention)机制。",
        "扩展法则(Scaling Laws)描述了性能与规模的关系。",
        "RLHF(基于人类反馈的强化学习)让模型对齐。",
        "no Chinese here (none)",
    ])
    assert glossary.translations("What does self-attention compute?") == ["自注意力"]
    assert glossary.translations("What do scaling laws predict?") == ["扩展法则"]
    assert glossary.translations("自注意力有什么用?") == ["self-attention"]
    assert "none" not in glossary.zh_of


def test_an_english_question_reaches_a_chinese_passage_through_the_glossary():
    texts = ["注意力机制之一是自注意力(self-attention),它并行处理整个序列。", "attention is used by many models"]
    index = FakeIndex(texts, ["nothing-shared"])
    for c, lang in zip(index.chunks, ["zh", "en"]):
        index.documents[c.doc_id] = {"kind": "article", "lang": lang}
    index.chunks = [Chunk(doc_id=c.doc_id, title=c.title, text=c.text, start=0, end=len(c.text), lang=lang)
                    for c, lang in zip(index.chunks, ["zh", "en"])]
    index.search_keyword = lambda q, k: [(0, 2.0)] if "自注意力" in q else [(1, 1.0)]
    question = "Why can self-attention process a sequence in parallel?"
    assert HybridRetriever(index, candidates=2).search(question, 1)[0].row == 0
    no_glossary = Translator.for_index(index, glossary=False)
    assert HybridRetriever(index, candidates=2, translator=no_glossary).search(question, 1)[0].row == 1


def test_the_dictionary_translates_the_words_the_corpus_uses_and_no_vague_ones():
    pairs = [("公司", "company"), ("企业", "company"), ("领先", "lead"), ("领导", "lead"), ("铅", "lead"),
             ("数据", "data"), ("资料", "data"), ("材料", "data"), ("神经网络", "neural network")]
    vocabulary = {"公司", "领先", "数据", "资料", "材料", "神经网络", "company", "lead", "neural", "network"}
    dictionary = Dictionary(pairs, vocabulary)
    # "企业", "领导" and "铅" are not in the corpus; "data" has three Chinese words in it: too vague.
    assert dictionary.translations("Which company kept the lead in data?") == ["公司", "领先"]
    assert dictionary.translations("What are neural networks?") == ["神经网络"]  # a pair, and a plural
    assert dictionary.translations("哪家公司一直领先?") == ["company", "lead"]
    # A Chinese word is vague by all its senses, not only those the corpus uses.
    vague = Dictionary([("根据", "basis"), ("根据", "foundation"), ("根据", "according to"), ("作者", "author")],
                       {"basis", "foundation", "according", "author", "根据", "作者"})
    assert vague.translations("根据作者的说明") == ["author"]


def test_the_dictionary_is_cc_cedict_from_the_installed_package():
    dictionary = Dictionary.for_vocabulary({"公司", "领先", "company", "参数", "parameter"})
    assert "公司" in dictionary.translations("Which company has kept the lead?")
    assert dictionary.translations("GPT-3 有多少参数?") == ["parameter"]
    assert dictionary.translations("哪家公司?") == []  # company, firm, corporation, incorporated: too vague


def test_an_english_question_reaches_a_chinese_passage_through_the_dictionary():
    texts = ["OpenAI 公司一直保持领先地位。", "the lead of a company in an English passage"]
    index = FakeIndex(texts, ["nothing-shared"])
    index.documents = {"doc0": {"kind": "article", "lang": "zh"}, "doc1": {"kind": "article", "lang": "en"}}
    index.search_keyword = lambda q, k: [(0, 2.0)] if "公司" in q else [(1, 1.0)]
    index.vocabulary = lambda: frozenset({"公司", "领先"})
    question = "Which company has kept the lead?"
    assert HybridRetriever(index, candidates=2).search(question, 1)[0].row == 0
    no_dictionary = Translator.for_index(index, dictionary=False)
    assert HybridRetriever(index, candidates=2, translator=no_dictionary).search(question, 1)[0].row == 1


def test_the_floor_needs_some_closeness_in_meaning_besides_shared_keywords():
    chunk = Chunk(doc_id="d", title="d", text="FIFA 2022 World models, a reference list", start=0, end=40)
    hits = [Hit(0, chunk, 0.1, dense=0.06)]
    question = "Who won the 2022 FIFA World Cup?"
    assert judge_relevance(question, hits, 0.28, 0.45).ok  # the old floor let it through
    assert not judge_relevance(question, hits, 0.28, 0.45, min_dense_with_keywords=0.15).ok
    close = [Hit(0, chunk, 0.1, dense=0.2)]
    assert judge_relevance(question, close, 0.28, 0.45, min_dense_with_keywords=0.15).ok


def test_the_floor_counts_the_question_s_words_in_the_other_language():
    chunk = Chunk(doc_id="d", title="d", text="Noam proposed scaled dot-product attention and multi-head attention.",
                  start=0, end=70)
    hits = [Hit(0, chunk, 0.1, dense=0.23)]
    question = "是谁提出了缩放点积注意力?"
    assert not judge_relevance(question, hits, 0.28, 0.45, 0.15).ok  # no word of the question is in the passage
    assert judge_relevance(question, hits, 0.28, 0.45, 0.15, translated="scaling dot product").ok
    assert not judge_relevance(question, [Hit(0, chunk, 0.1, dense=0.1)], 0.28, 0.45, 0.15, translated="dot product").ok


def test_a_document_name_is_not_an_unknown_name_to_refuse():
    chunk = Chunk(doc_id="d", title="d", text="The CBOW and Skip-gram architectures are proposed.", start=0, end=50)
    hits = [Hit(0, chunk, 0.1, dense=0.5)]
    assert judge_relevance("Which two architectures does the word2vec paper propose?", hits, 0.28, 0.45).ok
    assert not judge_relevance("Which two architectures does word2vec propose?", hits, 0.28, 0.45).ok


def test_a_retrieval_only_follow_up_is_searched_with_the_question_before_it():
    history = (("OpenAI 是什么时候发布 GPT-3 的?", "2020 年 5 月"),)
    assert model_free_standalone("那 GPT-2 呢?", history) == "OpenAI 是什么时候发布 GPT-2 的?"
    assert model_free_standalone("它的参数量有多大?", history) == "OpenAI 是什么时候发布 GPT-3 的? 它的参数量有多大?"
    assert model_free_standalone("GPT-3 有多少参数?", ()) == "GPT-3 有多少参数?"


def test_named_depth_is_a_setting_that_reaches_the_retriever():
    from rag.answer import Assistant
    from rag.settings import Settings, SettingsError, load_settings
    from tests.fakes import ScriptedGenerator

    index = _named_index()
    assert Assistant(index, Settings(named_depth=0), generator=ScriptedGenerator([])).retriever.named_depth == 0
    with pytest.raises(SettingsError, match="named_depth"):
        load_settings({"named_depth": -1}, environ={})


def test_table_depth_is_a_setting_that_reaches_the_retriever():
    from rag.answer import Assistant
    from rag.settings import Settings, SettingsError, load_settings
    from tests.fakes import ScriptedGenerator

    index = _table_index("table")
    assert Assistant(index, Settings(table_depth=0), generator=ScriptedGenerator([])).retriever.table_depth == 0
    with pytest.raises(SettingsError, match="table_depth"):
        load_settings({"table_depth": -1}, environ={})


def test_a_question_on_a_name_is_close_when_one_passage_holds_every_word_of_it():
    # The embedder cannot place "RAG" (cosine 0.08 to the article that explains it).
    rag = Chunk(doc_id="d", title="d", text="RAG 系统通过在生成过程中从大型外部数据库检索相关信息来增强 LLM。", start=0, end=40)
    assert judge_relevance("What is RAG?", [Hit(0, rag, 0.1, dense=0.08)], 0.28, 0.45, 0.15).ok
    # The same words spread over two passages are no such passage.
    named = Chunk(doc_id="d", title="d", text="RAG systems retrieve passages.", start=0, end=30)
    proposed = Chunk(doc_id="e", title="e", text="The method was proposed in 2020.", start=0, end=32)
    spread = [Hit(0, named, 0.1, dense=0.08), Hit(1, proposed, 0.1, dense=0.05)]
    assert not judge_relevance("Who proposed RAG?", spread, 0.28, 0.45, 0.15).ok
    # Every word in one passage but no name asked about: the embedder's word stands.
    plain = Chunk(doc_id="d", title="d", text="Retrieval systems retrieve passages.", start=0, end=36)
    assert not judge_relevance("What is retrieval?", [Hit(0, plain, 0.1, dense=0.08)], 0.28, 0.45, 0.15).ok
    # A versioned name no passage mentions still refuses.
    assert not judge_relevance("What is RAG 2?", [Hit(0, rag, 0.1, dense=0.08)], 0.28, 0.45, 0.15).ok


def test_a_question_that_writes_a_found_document_s_title_whole_is_about_it():
    # "《Attention Is All You Need》的作者是谁?" is at cosine 0.14 from the paper; "作者" is no word of it.
    paper = Chunk(doc_id="arxiv-1706.03762", title="Attention Is All You Need",
                  text="The dominant sequence transduction models are based on recurrent networks.", start=0, end=74)
    hits = [Hit(0, paper, 0.1, dense=0.14)]
    assert judge_relevance("《Attention Is All You Need》的作者是谁?", hits, 0.28, 0.45, 0.15).ok
    assert not judge_relevance("《Attention》的作者是谁?", hits, 0.28, 0.45, 0.15).ok  # not the title whole
    other = Chunk(doc_id="d", title="LLM 的演变与未来", text=paper.text, start=0, end=74)
    assert not judge_relevance("《Attention Is All You Need》的作者是谁?", [Hit(0, other, 0.1, dense=0.14)], 0.28, 0.45, 0.15).ok


def test_a_question_asking_what_a_term_is_is_close_when_one_passage_holds_the_term():
    # "什么是思维链?" sits at cosine 0.1 from the survey's passage that defines 思维链.
    cot = Chunk(doc_id="d", title="d", text="思维链是一种改进的提示策略,旨在提高 LLM 在复杂推理任务中的性能。", start=0, end=36)
    assert defined_term("什么是思维链?") == defined_term("思维链是什么?") == "思维链"
    assert judge_relevance("什么是思维链?", [Hit(0, cot, 0.1, dense=0.1)], 0.28, 0.45, 0.15).ok
    law = Chunk(doc_id="d", title="d", text="The Chinchilla scaling law allocates compute to data and size.", start=0, end=62)
    assert judge_relevance("What is the Chinchilla scaling law?", [Hit(0, law, 0.1, dense=0.1)], 0.28, 0.45, 0.15).ok
    # The term's words apart in the passage are not the term.
    apart = Chunk(doc_id="d", title="d", text="The law of scaling was measured on Chinchilla.", start=0, end=46)
    assert not judge_relevance("What is the Chinchilla scaling law?", [Hit(0, apart, 0.1, dense=0.1)], 0.28, 0.45, 0.15).ok
    # Not a question on what a term is, or a term of one common word or a whole phrase.
    assert defined_term("Who proposed the Transformer?") is None
    assert defined_term("What is retrieval?") is None and defined_term("什么是模型?") is None
    assert defined_term("What is the recipe for a good sourdough bread?") is None
