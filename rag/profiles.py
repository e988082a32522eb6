"""Model profiles: what the answering pipeline does differently for one kind of model.

Owns every model-specific switch, so adding a model means choosing or writing a profile,
never editing the pipeline. The packaged small GGUF models (Qwen2.5-Coder 0.5B/1.5B) get
the "small" profile: the prompt with an example sentence, dropping sentences that echo
the prompt, refusals recognised by a phrase list, and follow-ups rewritten by pattern
instead of by the model. One more workaround can be switched on for a model that needs
it: a retry when the reply is only markers ("[2]"). Every other model gets
"default": the prompt without an example sentence and a refusal only when the reply is
the refusal sentence the prompt asks for.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rag import models
from rag.cite import REFUSAL_PATTERNS, split_sentences, strip_markers
from rag.followup import FOLLOWUP_PATTERNS
from rag.prompt import REFUSAL
from rag.types import RagError

AUTO = "auto"


class UnknownProfile(RagError):
    """A ``profile`` setting that names no profile."""


def _flat(text: str) -> str:
    """Text with markers, punctuation, whitespace and case taken out, for comparing sentences."""
    return re.sub(r"[\W_]+", "", strip_markers(unicodedata.normalize("NFKC", text).casefold()))


_REFUSAL_SENTENCES = frozenset(_flat(text) for text in REFUSAL.values())


def is_refusal_sentence(text: str) -> bool:
    """True when ``text``, or its first sentence, is the refusal sentence the prompt asks
    for (in either language), whatever its markers, punctuation, spacing and case."""
    sentences = split_sentences(text.strip())
    return _flat(text) in _REFUSAL_SENTENCES or bool(sentences and _flat(sentences[0]) in _REFUSAL_SENTENCES)


@dataclass(frozen=True)
class ModelProfile:
    """The model-specific behaviour of the answering pipeline.

    ``prompt`` names the system prompt variant (see ``rag.prompt.PROMPT_VARIANTS``);
    ``stop`` strings end generation; ``retry_bare_markers`` asks once more when the reply
    is only markers; ``drop_echoes`` removes sentences that repeat the prompt;
    ``refusal_phrases``, when set, recognises paraphrased refusals (else only the exact
    refusal sentence counts); ``followup_patterns`` rewrite a follow-up such as
    "那 X 呢" without a model call (none: the model rewrites every follow-up).
    """

    name: str
    prompt: str = "plain"
    stop: tuple[str, ...] = ()
    retry_bare_markers: bool = False
    drop_echoes: bool = False
    refusal_phrases: re.Pattern | None = None
    followup_patterns: tuple[re.Pattern, ...] = ()

    def is_refusal(self, text: str, question: str = "") -> bool:
        """True when the model says the passages don't hold the answer. A phrase of the
        list that ``question`` itself holds is the question's words, no decline: "没有答案"
        in "没有答案的问题会把起止位置放在 [CLS] 上" repeats "没有答案的问题…放在哪个 token 上?"."""
        if self.refusal_phrases is not None:
            asked = question.casefold()
            return any(m.group(0).casefold() not in asked for m in self.refusal_phrases.finditer(text))
        return is_refusal_sentence(text)


# Each workaround stays only while it still changes answers for the default model:
# ``python bench/quirks.py REPORT`` checks a run's stored replies again with each one off.
# On the dev split with the 0.5B (its Q4_0 copy, reports/dev-q4_0/quirks.json), dropping
# echoes kept one unanswerable question refused and citation precision at 0.83 (0.79
# without); the bare-marker retry changed no answer's correctness, so it is off; the
# follow-up patterns changed no answer but spare a model call per follow-up. The refusal
# phrase list was switched off when it changed nothing; since then an unsupported
# answer is asked again (the ``fallback`` setting), a refusal in the 0.5B's own words
# ("The passage does not contain the answer to this question.") was taken for an
# unsupported answer and asked again, and the second reply answered an unanswerable dev
# question with a quote (reports/dev-s30, p1-049). With the list, a decline is final: one
# unanswerable question more refused on that run's replay, no answer lost. (The list
# also takes "GPT-4 was not provided with images" for a decline, which matters only when
# no passage backs it: then it is refused either way.)
SMALL = ModelProfile(
    name="small",
    prompt="small",
    drop_echoes=True,
    refusal_phrases=REFUSAL_PATTERNS,
    followup_patterns=FOLLOWUP_PATTERNS,
)
DEFAULT = ModelProfile(name="default")
PROFILES = {p.name: p for p in (SMALL, DEFAULT)}
PROFILE_NAMES: Sequence[str] = (AUTO, *PROFILES)


def profile_for(llm_spec: str, name: str = AUTO) -> ModelProfile:
    """The profile named ``name``, or with "auto" the one for ``llm_spec``: "small" for the
    packaged GGUF models, "default" for every other model (transformers, an
    OpenAI-compatible server, another GGUF file)."""
    if name != AUTO:
        if name not in PROFILES:
            raise UnknownProfile(f"unknown model profile {name!r}: use one of {', '.join(PROFILE_NAMES)}")
        return PROFILES[name]
    return SMALL if llm_spec.strip() in models.REGISTRY else DEFAULT
