"""Model profiles (rag/profiles.py) and the follow-up rules (rag/followup.py)."""

import dataclasses

import pytest

from rag.cite import REFUSAL_PATTERNS
from rag.followup import needs_rewrite, substitute_followup
from rag.profiles import DEFAULT, SMALL, UnknownProfile, is_refusal_sentence, profile_for
from rag.prompt import PROMPT_VARIANTS, REFUSAL, SYSTEM
from rag.settings import SettingsError, load_settings


@pytest.mark.parametrize("spec", ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", " qwen2.5-coder-0.5b "])
def test_packaged_small_models_get_the_small_profile(spec):
    assert profile_for(spec) is SMALL


@pytest.mark.parametrize(
    "spec", ["openai:http://127.0.0.1:8080/v1#llama", "hf:Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct",
             "/models/mistral-7b.Q4_K_M.gguf"]
)
def test_every_other_model_gets_the_default_profile(spec):
    assert profile_for(spec) is DEFAULT


def test_a_setting_names_a_profile_explicitly():
    assert profile_for("openai:http://h/v1#m", "small") is SMALL
    assert profile_for("qwen2.5-coder-0.5b", "default") is DEFAULT
    with pytest.raises(UnknownProfile):
        profile_for("qwen2.5-coder-0.5b", "huge")
    settings, _ = load_settings({"profile": "default"}, environ={})
    assert settings.profile == "default"
    with pytest.raises(SettingsError, match="profile"):
        load_settings({"profile": "huge"}, environ={})


def test_small_profile_keeps_the_workarounds_that_earn_their_place_and_todays_prompt():
    assert SMALL.drop_echoes and SMALL.followup_patterns
    assert not SMALL.retry_bare_markers  # no effect on dev (bench/quirks.py)
    assert SMALL.refusal_phrases is REFUSAL_PATTERNS  # a decline in other words is not asked again (reports/dev-s30)
    assert PROMPT_VARIANTS[SMALL.prompt] is SYSTEM
    assert "The model has 7 billion parameters [2]" in SYSTEM["en"] and "某模型有 70 亿个参数[2]" in SYSTEM["zh"]


def test_default_profile_shows_the_marker_format_without_an_example_fact():
    assert not (DEFAULT.retry_bare_markers or DEFAULT.drop_echoes or DEFAULT.followup_patterns)
    system = PROMPT_VARIANTS[DEFAULT.prompt]
    assert "7 billion" not in system["en"] and "70 亿" not in system["zh"]
    assert "[2]" in system["en"] and "[2]" in system["zh"]
    assert system["en"].endswith(REFUSAL["en"]) and system["zh"].endswith(REFUSAL["zh"])


def test_refusal_is_the_exact_sentence_the_prompt_asks_for():
    assert is_refusal_sentence(REFUSAL["en"])
    assert is_refusal_sentence("sorry the documents don’t contain the answer to this question [1]")
    assert is_refusal_sentence(REFUSAL["zh"] + "GPT-3 可能有 1750 亿参数。")  # its first sentence
    assert is_refusal_sentence("抱歉，文档中没有找到这个问题的答案")
    assert not is_refusal_sentence("GPT-4 was not provided with images [1].")
    assert not is_refusal_sentence("The passages do not contain this information.")
    assert not DEFAULT.is_refusal("GPT-4 was not provided with images [1].")
    assert not DEFAULT.is_refusal("The passages do not contain this information.")
    assert SMALL.is_refusal("The passages do not contain this information.")  # the 0.5B paraphrases
    assert not dataclasses.replace(SMALL, refusal_phrases=None).is_refusal("The passages do not contain this information.")


def test_a_refusal_phrase_the_question_holds_is_the_questions_words():
    question = "BERT 在 SQuAD 2.0 上微调时,没有答案的问题会把答案区间的起止位置都放在哪个特殊 token 上?"
    answer = "没有答案的问题会把答案区间的起止位置都放在 [CLS] token 上。"
    assert SMALL.is_refusal(answer) and not SMALL.is_refusal(answer, question)
    # Any phrase of its own still declines, and so does the refusal sentence.
    assert SMALL.is_refusal("资料中没有提到没有答案的问题放在哪里。", question)
    assert SMALL.is_refusal(REFUSAL["zh"], question) and DEFAULT.is_refusal(REFUSAL["zh"], question)


@pytest.mark.parametrize(
    "question",
    ["Who proposed Word2Vec?", "What is BERT?", "GPT-3 有多少参数?", "Transformer 的训练速度如何提升?",
     "Transformer 架构由哪篇论文提出,作者是谁"],
)
def test_a_short_question_that_asks_something_new_is_not_a_followup(question):
    assert not needs_rewrite(question)


@pytest.mark.parametrize(
    "question",
    ["那 GPT-2 呢?", "BERT 怎么样?", "效果如何?", "What about BERT?", "And T5?", "Who wrote it?",
     "它的作者是谁?", "Why?"],
)
def test_pointing_back_or_a_followup_shape_needs_a_rewrite(question):
    assert needs_rewrite(question)


def test_followup_patterns_come_from_the_profile():
    assert substitute_followup("那 GPT-2 呢?", "GPT-3 有多少参数?", SMALL.followup_patterns) == "GPT-2 有多少参数?"
    assert substitute_followup("那 GPT-2 呢?", "GPT-3 有多少参数?", DEFAULT.followup_patterns) is None
