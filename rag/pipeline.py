"""The stages of answering one question, each a function over plain data.

question -> retrieve -> judge -> prompt -> generate -> verify and cite -> answer.
:meth:`rag.answer.Assistant.stream` chains them; each is tested on its own with fakes.
What differs between models (prompt variant, stop strings, retries, echo dropping,
refusal recognition) comes from a :class:`~rag.profiles.ModelProfile`, never from the
model's name.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator as Gen, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace

import numpy as np

from ingest.embed import Embedder
from rag import prompt as prompts
from rag.cite import Lexicon, cite, parse_markers, strip_markers
from rag.echoes import drop_echoes
from rag.gate import SentenceGate
from rag.generate import Generator
from rag.profiles import ModelProfile
from rag.rerank import scored_sentences
from rag.retrieve import Retriever
from rag.types import Answer, Citation, Hit, Query, RagError


class QuestionError(RagError):
    """The question can't be answered as typed (empty, for instance)."""


def has_content(text: str) -> bool:
    """True when ``text`` says something besides citation markers and punctuation."""
    return bool(re.search(r"\w", strip_markers(text)))


# -- question ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Asked:
    """A question as typed, cleaned and cut to length, with its language."""

    text: str
    lang: str
    notice: str | None = None


def check_question(question: str, max_chars: int) -> Asked:
    """The question cleaned like untrusted text and cut to ``max_chars``.

    Cleaned before retrieval too: a NUL or a forged control token in the question
    changes what is retrieved and what the model reads.
    """
    text = prompts.clean_untrusted(question or "", one_line=True)
    if not text:
        raise QuestionError("The question is empty: type a question in Chinese or English.")
    notice = None
    if len(text) > max_chars:
        text, notice = text[:max_chars], f"The question was cut to its first {max_chars} characters."
    return Asked(text, prompts.detect_language(text), notice)


# -- retrieve ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Retrieved:
    """The question as searched (with its one vector), the hits, and how long it took."""

    query: Query
    hits: tuple[Hit, ...]
    seconds: float


def retrieve(retriever: Retriever, embedder: Embedder, text: str, k: int) -> Retrieved:
    """Embed ``text`` once and search with it: every later step reuses the vector."""
    started = time.perf_counter()
    query = Query(text, embedder.embed([text])[0])
    hits = tuple(retriever.search(query, k))
    return Retrieved(query, hits, time.perf_counter() - started)


# -- prompt ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Passage:
    """One passage as the model reads it: its hit, quoted text, header line and byline."""

    hit: Hit
    text: str
    header: str
    byline: str


@dataclass(frozen=True)
class Prompt:
    """The chat messages for one attempt and the passages they number ([1] = passages[0])."""

    question: str
    lang: str
    variant: str
    passages: tuple[Passage, ...]
    messages: tuple[dict, ...]
    question_first: bool = False  # the question also stands before the passages

    @property
    def hits(self) -> tuple[Hit, ...]:
        return tuple(p.hit for p in self.passages)


def focus_passages(query: Query, hits: Sequence[Hit], embedder: Embedder, max_chars: int) -> dict[int, str]:
    """Each passage cut to its sentences that best match the question (row -> text)."""
    _, scores = scored_sentences(query, hits, embedder)
    return {hit.row: prompts.focus_passage(hit.chunk.text, row, max_chars) for hit, row in zip(hits, scores)}


def pick_evidence(query: Query, hits: Sequence[Hit], embedder: Embedder, max_chars: int) -> dict[int, str]:
    """The best sentences across all ``hits`` within ``max_chars`` in all (row -> text),
    instead of a fixed share of each passage; passages with nothing picked are left out."""
    groups, scores = scored_sentences(query, hits, embedder)
    keep = prompts.pick_sentences(groups, scores, max_chars)
    return {hit.row: " ".join(group[j] for j in kept) for hit, group, kept in zip(hits, groups, keep) if kept}


def build_prompt(
    question: str, lang: str, quoted: Sequence[tuple[Hit, str]], authors: Mapping[str, Sequence[str]], variant: str,
    *, question_first: bool = False,
) -> Prompt:
    """Number the (hit, quoted text) pairs, build each header and byline once, and write
    the messages with the ``variant`` system prompt (``question_first``: see
    :func:`rag.prompt.render_messages`)."""
    passages = []
    for n, (hit, text) in enumerate(quoted, 1):
        names = authors.get(hit.chunk.doc_id, ())
        passages.append(Passage(hit, text, prompts.passage_header(n, hit, names), prompts.byline(names)))
    messages = prompts.render_messages(
        question, [(p.header, p.text) for p in passages], lang, variant=variant, question_first=question_first
    )
    return Prompt(question, lang, variant, tuple(passages), tuple(messages), question_first)


def narrowed(prompt: Prompt, numbers: Sequence[int], authors: Mapping[str, Sequence[str]]) -> Prompt:
    """The prompt again with only the passages ``numbers`` (1-based), renumbered."""
    quoted = [(prompt.passages[n - 1].hit, prompt.passages[n - 1].text) for n in numbers]
    return build_prompt(prompt.question, prompt.lang, quoted, authors, prompt.variant, question_first=prompt.question_first)


# -- generate ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Generation:
    """One attempt's reply: its text, token count, when its first token came (seconds on
    the caller's clock; None without tokens) and how long it took after that."""

    text: str
    tokens: int
    first_token_at: float | None
    decode_s: float
    first_shown_at: float | None = None  # when the reader saw its first checked sentence
    prompt_tokens: int = 0
    reused_tokens: int = 0  # of the prompt's, held by the backend from the call before (not read again)
    token_probs: tuple[float, ...] = ()  # how sure the model was of each token it wrote (() unknown)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.decode_s if self.decode_s > 0 else 0.0


def generate(
    gen: Generator,
    prompt: Prompt,
    profile: ModelProfile,
    *,
    max_tokens: int,
    temperature: float,
    clock: Callable[[], float],
    lock: AbstractContextManager | None = None,
) -> Gen[str, None, Generation]:
    """Stream one attempt's deltas; return its :class:`Generation` (``clock`` times it)."""
    pieces: list[str] = []
    first = None
    with lock or nullcontext():
        for delta in gen.stream(list(prompt.messages), max_tokens=max_tokens, temperature=temperature, stop=profile.stop):
            if first is None:
                first = clock()
            pieces.append(delta)
            yield delta
    end = clock()
    text = "".join(pieces).strip()
    prompt_tokens, reused = gen.last_prompt
    if not prompt_tokens:  # a backend that does not say: the messages' own tokens
        prompt_tokens = sum(gen.count_tokens(m["content"]) for m in prompt.messages)
    return Generation(text, gen.count_tokens(text) if text else 0, first, end - first if first is not None else 0.0,
                      prompt_tokens=prompt_tokens, reused_tokens=reused, token_probs=tuple(gen.last_token_probs))


def bare_markers(text: str, passages: int) -> list[int]:
    """The passages a reply of bare markers ("[2]") points at; [] for a reply that says something."""
    if has_content(text):
        return []
    return [n for n in dict.fromkeys(parse_markers(text)) if 1 <= n <= passages]


def released(attempt: Gen[str, None, Generation], gate: SentenceGate, clock: Callable[[], float]) -> Gen[str, None, Generation]:
    """The attempt's deltas held back by ``gate``: only checked sentences come out, so
    nothing the reader sees is withdrawn when the whole reply is checked (see
    :mod:`rag.gate`). Returns the attempt's :class:`Generation` with its first-shown time."""
    first_shown = generation = None
    while generation is None:
        try:
            shown = gate.feed(next(attempt))
        except StopIteration as done:
            generation, shown = done.value, gate.finish()
        if shown:
            first_shown = first_shown if first_shown is not None else clock()
            yield shown
    return replace(generation, first_shown_at=first_shown)


# -- verify and cite ---------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """What the checked reply amounts to: shown text and citations, or a refusal and why."""

    text: str
    refused: bool
    reason: str | None = None
    citations: tuple[Citation, ...] = ()
    unsupported: tuple[str, ...] = ()


class CachedSimilarity:
    """Cosine between two texts, each embedded at most once (cache by text).

    Seeded with the question's vector, so the question is never embedded again.
    """

    def __init__(self, embedder: Embedder, known: Mapping[str, np.ndarray] | None = None):
        self.embedder = embedder
        self.vectors: dict[str, np.ndarray] = dict(known or {})

    def vector(self, text: str) -> np.ndarray:
        """The unit vector of ``text``."""
        if text not in self.vectors:
            self.vectors[text] = self.embedder.embed([text])[0]
        return self.vectors[text]

    def __call__(self, a: str, b: str) -> float:
        return float(self.vector(a) @ self.vector(b))


def verify(reply: str, prompt: Prompt, profile: ModelProfile, similarity: Callable[[str, str], float],
           lexicon: Lexicon = Lexicon()) -> Verdict:
    """Check the reply against its passages: a refusal, an unsupported answer, or a cited
    one (``lexicon``: words' translations, for claims in the other language than their
    passage, and the names each document uses; see :func:`rag.cite.cite`)."""
    if profile.drop_echoes:
        texts = [p.hit.chunk.text for p in prompt.passages]
        reply = drop_echoes(reply, [prompt.messages[0]["content"]], [p.header for p in prompt.passages], texts)

    def refuses(text: str) -> bool:
        return profile.is_refusal(text, prompt.question)

    # The authors named in the headers the model read back its claims too.
    cited = cite(reply, prompt.hits, similarity=similarity, headers=[p.byline for p in prompt.passages],
                 question=prompt.question, refusal=refuses, lexicon=lexicon)
    supported = any(c.supported for c in cited.citations)
    if not has_content(reply) or (refuses(reply) and not supported):
        # A reply of bare markers ("[4]") says nothing; treat it as the model declining.
        return Verdict(prompts.REFUSAL[prompt.lang], True, "model_declined")
    if not supported:
        # Nothing the model said is backed by any passage: an invented answer, or one a
        # document told it to give ("PWNED"), not a forgotten marker (those get
        # passages attached above). Even a one-word reply needs a source.
        return Verdict(prompts.REFUSAL[prompt.lang], True, "unsupported_answer", unsupported=cited.unsupported)
    return Verdict(cited.text, False, None, cited.citations, cited.unsupported)


def sentence_check(prompt: Prompt, profile: ModelProfile, similarity: Callable[[str, str], float],
                   lexicon: Lexicon = Lexicon()) -> Callable[[str], str | None]:
    """The gate's check for one sentence of a reply: how the answer will show it, or None
    while it would not stand as an answer on its own (an echo, a refusal, unsupported)."""

    def check(sentence: str) -> str | None:
        verdict = verify(sentence, prompt, profile, similarity, lexicon)
        return None if verdict.refused else verdict.text

    return check


# -- answer ------------------------------------------------------------------------------
def timings(
    retrieved: Retrieved, rewrite_s: float, total_s: float, attempts: Sequence[Generation] = ()
) -> dict:
    """The timings an ``Answer`` reports (seconds from the start of the question).

    The first token is the first the user saw, from any attempt; prompt tokens are those of
    all attempts; tokens and tokens/s are those of the attempt that is kept, over its own
    decoding time (after a retry or a fallback, the first attempt's time is not the kept
    reply's).
    """
    timed = {"rewrite_s": rewrite_s, "retrieve_s": retrieved.seconds}
    timed["first_token_s"] = next((g.first_token_at for g in attempts if g.first_token_at is not None), total_s)
    # Without a sentence shown early, the reader sees the answer when it is complete.
    timed["first_shown_s"] = next((g.first_shown_at for g in attempts if g.first_shown_at is not None), total_s)
    timed["total_s"] = total_s
    if attempts:
        kept = attempts[-1]
        # Prompt tokens count every attempt's prompt: each one was read before its reply.
        timed.update(prompt_tokens=sum(g.prompt_tokens for g in attempts), reused_tokens=sum(g.reused_tokens for g in attempts),
                     tokens=kept.tokens, tokens_per_s=kept.tokens_per_s)
    return timed


def make_answer(
    asked: Asked, standalone: str, retrieved: Retrieved, verdict: Verdict, timed: dict, model: dict,
    attempts: Sequence[Generation] = (),
) -> Answer:
    """The final ``Answer`` of one question (``attempts``: the model's raw replies, kept
    so that each check can be replayed on them, as ``bench/quirks.py`` does)."""
    return Answer(
        question=asked.text,
        text=verdict.text,
        refused=verdict.refused,
        citations=verdict.citations,
        retrieved=retrieved.hits,
        standalone_question=standalone if standalone != asked.text else None,
        unsupported=verdict.unsupported,
        refusal_reason=verdict.reason,
        notice=asked.notice,
        timings=timed,
        model=model,
        replies=tuple(g.text for g in attempts),
        reply_probs=tuple(g.token_probs for g in attempts),
    )
