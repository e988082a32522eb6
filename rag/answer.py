"""The answering pipeline: question -> (rewrite) -> retrieve -> judge relevance -> prompt ->
generate -> verify and cite -> ``Answer``.

``Assistant.stream`` yields text deltas as the model writes them and then exactly one
``Answer``; the CLI, the web page and the evaluator all consume that one generator. The
stages themselves live in :mod:`rag.pipeline`; what differs between models comes from
the assistant's :class:`~rag.profiles.ModelProfile`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator as Gen, Iterator, Mapping, Sequence, Set
from pathlib import Path
from typing import NamedTuple

from ingest.index import load_index
from ingest.searchable import SearchIndex
from rag import models
from rag import prompt as prompts
from rag.cite import Lexicon
from rag.followup import clean_rewrite, needs_rewrite, substitute_followup
from rag.generate import Generator, make_generator
from rag.glossary import Translator
from rag.pipeline import (
    Asked,
    CachedSimilarity,
    Generation,
    Prompt,
    QuestionError,
    Retrieved,
    Verdict,
    bare_markers,
    build_prompt,
    check_question,
    focus_passages,
    pick_evidence,
    generate,
    has_content,
    make_answer,
    narrowed,
    released,
    retrieve,
    sentence_check,
    timings,
    verify,
)
from rag.gate import SentenceGate
from rag.profiles import profile_for
from rag.relevance import judge_relevance, keyword_coverage, missing_names, versioned_names
from rag.rerank import SentenceReranker
from rag.retrieve import HybridRetriever, Retriever
from rag.subjects import document_names
from rag.settings import Settings
from rag.types import Answer, Reading

log = logging.getLogger(__name__)

# Imported by the evaluator and tests from here, where they were first defined.
__all__ = [
    "Assistant", "QuestionError", "has_content", "judge_relevance", "keyword_coverage", "missing_names",
    "needs_rewrite", "substitute_followup", "versioned_names",
]


class Prepared(NamedTuple):
    """What :meth:`Assistant.prepare` makes of a question before the model writes."""

    asked: Asked
    standalone: str
    rewrite_s: float
    retrieved: Retrieved
    prompt: Prompt | None  # None: nothing relevant was found, so the answer is a refusal


class Assistant:
    """Answers questions from an index with a generator; reusable across questions.

    The generator is created on first use (or by ``load_model``) and kept, so a second
    question does not reload the model. Generation is serialised with a lock because
    llama.cpp and a single GPU model can't serve two generations at once.
    """

    def __init__(
        self,
        index: SearchIndex,
        settings: Settings,
        *,
        generator: Generator | None = None,
        retriever: Retriever | None = None,
        fast_generator: Generator | None = None,
        fallback_generator: Generator | None = None,
        translator: Translator | None = None,
        names_of: Mapping[str, Set[str]] | None = None,
    ):
        self.index = index
        self.settings = settings
        self.profile = profile_for(settings.llm, settings.profile)
        # The question's terms in the other language: for keyword search and the floor.
        self.translator = translator or Translator.for_index(index)
        self.retriever = retriever or HybridRetriever(
            index,
            translator=self.translator,
            candidates=settings.candidates,
            rrf_k=settings.rrf_k,
            dense_weight=settings.dense_weight,
            keyword_weight=settings.keyword_weight,
            balance_kinds=bool(settings.balance_kinds),
            table_depth=settings.table_depth,
            named_depth=settings.named_depth,
            keyword_lead=settings.keyword_lead,
        )
        if retriever is None and settings.rerank_depth:
            self.retriever = SentenceReranker(self.retriever, index, depth=settings.rerank_depth)
        self.authors = {doc_id: tuple(meta.get("authors") or ()) for doc_id, meta in index.documents.items()}
        # The names each document uses (GPT-3, RAG): an answer that names none of what was
        # asked is evidence only from a document that does (rag.cite). Shared, like the
        # translator, by the assistants made from this one on the same index.
        self.names_of = names_of if names_of is not None else document_names(index)
        self._generator = generator
        self._fast: Assistant | None = None
        self._fast_generator = fast_generator  # for fast_llm; made on first use when None
        self._fallback: Assistant | None = None
        self._fallback_name: str | None = None  # fallback_llm resolved ("auto"), on first use
        self._fallback_generator = fallback_generator  # for fallback_llm; made on first use when None
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> "Assistant":
        """Load the index named by ``settings`` (the model loads lazily)."""
        return cls(load_index(Path(settings.index_dir)), settings)

    # -- model -------------------------------------------------------------------------
    @property
    def generator(self) -> Generator:
        """The generator, created on first use."""
        if self._generator is None:
            with self._load_lock:
                if self._generator is None:
                    s = self.settings
                    self._generator = make_generator(
                        s.llm,
                        device=None if s.device == "auto" else s.device,
                        dtype=None if s.dtype == "auto" else s.dtype,
                        n_ctx=s.n_ctx,
                        threads=s.threads or None,
                    )
        return self._generator

    def load_model(self) -> None:
        """Load the model now, and the model that answers again after an unsupported answer
        when that is another (the web page does this at start so no answer waits for a load)."""
        self.generator.load()
        if (helper := self._second_model()) is not None:
            helper.load_model()

    def model_specs(self) -> tuple[str, ...]:
        """The models this assistant answers with: ``llm``, then the one that answers again
        after an unsupported answer when that is another (what :meth:`load_model` loads)."""
        helper = self._second_model()
        return (self.settings.llm,) if helper is None else (self.settings.llm, helper.settings.llm)

    def _second_model(self) -> "Assistant | None":
        """The assistant with another model that answers again (setting ``fallback``), or None."""
        helper = self.fallback_assistant() if self.settings.fallback else self
        return None if helper is self else helper

    def replaced(self, *, index: SearchIndex | None = None, llm: str | None = None) -> "Assistant":
        """This assistant with another index or another model; the unchanged part is shared, not reloaded."""
        settings = self.settings if llm is None else self.settings.replace(llm=llm)
        return Assistant(
            self.index if index is None else index,
            settings,
            generator=self._generator if llm is None else None,
            retriever=self.retriever if index is None else None,
            translator=self.translator if index is None else None,
            names_of=self.names_of if index is None else None,
        )

    def fast_assistant(self) -> "Assistant":
        """This assistant with the fast model (``fast_llm``) on the fast evidence, created
        on first use and kept; it shares the index and the retriever."""
        with self._load_lock:
            if self._fast is None:
                s = self.settings
                fast = s.replace(llm=s.fast_llm, evidence_chars=s.fast_evidence_chars, fast=False, fast_llm="", fallback=False)
                self._fast = Assistant(self.index, fast, generator=self._fast_generator, retriever=self.retriever,
                                       translator=self.translator, names_of=self.names_of)
        return self._fast

    def fallback_assistant(self) -> "Assistant":
        """Who answers again after an unsupported answer: this assistant, or with
        ``fallback_llm`` naming another model, an assistant with that model (created on first
        use and kept; it shares the index and the retriever). "auto" names the packaged model
        registered as ``llm``'s second (:func:`rag.models.second_model`) and installed, if any."""
        s = self.settings
        if self._fallback_name is None:  # resolved once: "auto" looks for installed packages
            self._fallback_name = models.answers_again(s.llm, s.fallback_llm)
        name = self._fallback_name
        if not name:
            return self
        with self._load_lock:
            if self._fallback is None:
                other = s.replace(llm=name, fast=False, fast_llm="", fallback=False)
                self._fallback = Assistant(self.index, other, generator=self._fallback_generator, retriever=self.retriever,
                                           translator=self.translator, names_of=self.names_of)
        return self._fallback

    @property
    def model_loaded(self) -> bool:
        """Whether the model is in memory (answers come without a load first)."""
        return self._generator is not None and self._generator.loaded

    def info(self) -> dict:
        """What the footer and reports show: model, embedder, index size and age."""
        manifest = self.index.manifest
        model = dict(self._generator.info) if self._generator is not None else {"model": self.settings.llm}
        counts = manifest.get("counts", {})
        return {
            "model": model,
            "llm": self.settings.llm,
            "embedder": manifest.get("embedder", {}).get("id"),
            "documents": counts.get("documents", len(self.index.documents)),
            "chunks": counts.get("chunks", len(self.index.chunks)),
            "built_at": manifest.get("built_at"),
        }

    # -- answering ---------------------------------------------------------------------
    def ask(self, question: str, history: Sequence[tuple[str, str]] = (), **options) -> Answer:
        """Answer without streaming."""
        answer = None
        for item in self.stream(question, history, **options):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def stream(
        self,
        question: str,
        history: Sequence[tuple[str, str]] = (),
        *,
        top_k: int | None = None,
        passage_budget: int | None = None,
        fast: bool | None = None,
    ) -> Iterator[Reading | str | Answer]:
        """Yield the passages given to the model (``Reading``, unless retrieval found
        nothing usable; a second one when an unsupported reply is asked again), the answer
        text as it is generated, then the final ``Answer``.
        ``fast`` (default: the ``fast`` setting) answers from ``fast_evidence_chars`` of
        evidence picked across passages, for a shorter wait; with ``fast_llm`` set, by that
        model (see :meth:`fast_assistant`)."""
        s = self.settings
        fast = s.fast if fast is None else fast
        if fast and s.fast_llm and s.fast_llm != s.llm:
            yield from self.fast_assistant().stream(question, history, top_k=top_k, passage_budget=passage_budget)
            return
        started = time.perf_counter()

        def clock() -> float:
            return time.perf_counter() - started

        asked, standalone, rewrite_s, retrieved, prompt = self.prepare(
            question, history, top_k=top_k, passage_budget=passage_budget, fast=fast
        )
        if prompt is None:
            verdict = Verdict(prompts.REFUSAL[asked.lang], True, "no_relevant_passages")
            yield verdict.text
            timed = timings(retrieved, rewrite_s, clock())
            yield make_answer(asked, standalone, retrieved, verdict, timed, self._model_info())
            return
        yield Reading(prompt.hits)
        similarity = CachedSimilarity(self.index.embedder(), {retrieved.query.text: retrieved.query.vector})
        attempts = [(yield from self._generate(prompt, clock, similarity))]
        pointed = bare_markers(attempts[0].text, len(prompt.passages)) if self.profile.retry_bare_markers else []
        if pointed:
            # A reply of bare markers ("[2]") points at the answer without saying it: ask
            # once more with only the passages it pointed at.
            prompt = narrowed(prompt, pointed, self.authors)
            attempts.append((yield from self._generate(prompt, clock, similarity)))
        verdict = verify(attempts[-1].text, prompt, self.profile, similarity, self.lexicon)
        if self._falls_back(fast, attempts[-1], verdict.reason):
            # Nothing the reply said is in its passages (or, to another model, the model
            # declined), and nothing of it was shown: ask once more, from the fast evidence,
            # and check that reply the same way.
            helper, prompt = self.fallback_prompt(asked, standalone, top_k=top_k, passage_budget=passage_budget)
            yield Reading(prompt.hits, again=True)
            attempts.append((yield from helper._generate(prompt, clock, similarity)))
            verdict = verify(attempts[-1].text, prompt, helper.profile, similarity, self.lexicon)
        total = clock()
        timed = timings(retrieved, rewrite_s, total, attempts)
        yield make_answer(asked, standalone, retrieved, verdict, timed, self._model_info(), attempts)

    def prepare(
        self,
        question: str,
        history: Sequence[tuple[str, str]] = (),
        *,
        top_k: int | None = None,
        passage_budget: int | None = None,
        fast: bool | None = None,
    ) -> Prepared:
        """The stages before the model writes: check the question, rewrite a follow-up,
        retrieve, judge relevance and build the prompt (None when nothing relevant was
        found). Deterministic, so a stored reply can be checked again against the same
        prompt (``bench/quirks.py``). ``fast`` as in :meth:`stream`."""
        s = self.settings
        fast = s.fast if fast is None else fast
        started = time.perf_counter()
        asked = check_question(question, s.max_question_chars)
        standalone = self.standalone_question(asked.text, history) if history else asked.text
        rewrite_s = time.perf_counter() - started
        top_k = top_k or s.top_k
        evidence_chars = s.fast_evidence_chars if fast else s.evidence_chars
        # Evidence picked across passages draws on more of them than are judged or quoted whole.
        retrieved = retrieve(self.retriever, self.index.embedder(), standalone, max(top_k, s.evidence_passages) if evidence_chars else top_k)
        relevance = judge_relevance(standalone, retrieved.hits[:top_k], s.min_dense, s.min_keyword_coverage,
                                    s.min_dense_with_keywords, " ".join(self.translator.translations(standalone)))
        log.info("relevance %s for %r", relevance, standalone)
        prompt = self._prompt(asked, retrieved, top_k, passage_budget or s.passage_budget, evidence_chars) if relevance.ok else None
        return Prepared(asked, standalone, rewrite_s, retrieved, prompt)

    def _prompt(self, asked: Asked, retrieved: Retrieved, top_k: int, budget: int, evidence_chars: int) -> Prompt:
        """The prompt stage: focus the passages on the question (each passage cut to its
        best sentences, or with ``evidence_chars`` the best sentences across all retrieved
        passages), pack them, number them."""
        gen = self.generator
        hits = retrieved.hits
        s = self.settings
        if evidence_chars:
            picked = pick_evidence(retrieved.query, hits, self.index.embedder(), evidence_chars)
            hits = tuple(h for h in hits if h.row in picked)
        else:
            picked = focus_passages(retrieved.query, hits[:top_k], self.index.embedder(), s.focus_chars) if s.focus_chars else {}
            hits = hits[:top_k]
        quoted = prompts.select_passages(hits, budget, gen.count_tokens, focus=lambda h: picked.get(h.row, h.chunk.text))
        if s.best_last:
            quoted = quoted[::-1]  # numbered as shown: [1] is the last picked
        return build_prompt(retrieved.query.text, asked.lang, quoted, self.authors, self.profile.prompt,
                            question_first=s.question_first)

    def _generate(self, prompt: Prompt, clock: Callable[[], float], similarity: CachedSimilarity) -> Gen[str, None, Generation]:
        """The generate stage with this assistant's model, profile, settings and lock; what
        streams out is each sentence once checked (see :func:`rag.pipeline.released`)."""
        s = self.settings
        attempt = generate(self.generator, prompt, self.profile, max_tokens=s.max_new_tokens,
                           temperature=s.temperature, clock=clock, lock=self._generate_lock)
        check = sentence_check(prompt, self.profile, similarity, self.lexicon)
        return released(attempt, SentenceGate(check), clock)

    @property
    def lexicon(self) -> Lexicon:
        """What the answer check asks of the index: words' translations and documents' names."""
        return Lexicon(self.translator.translations, self.names_of)

    def fallback_prompt(self, asked: Asked, standalone: str, *, top_k: int | None = None,
                        passage_budget: int | None = None) -> tuple["Assistant", Prompt]:
        """Who answers again after an unsupported answer (:meth:`fallback_assistant`), and
        the prompt: the best sentences across more passages (``fast_evidence_chars``), a
        narrower view of the same documents. Deterministic, like :meth:`prepare`."""
        s = self.settings
        helper = self.fallback_assistant()
        top_k = top_k or s.top_k
        wider = retrieve(self.retriever, self.index.embedder(), standalone, max(top_k, s.evidence_passages))
        return helper, helper._prompt(asked, wider, top_k, passage_budget or s.passage_budget, s.fast_evidence_chars)

    def _falls_back(self, fast: bool, attempt: Generation, reason: str | None) -> bool:
        """Whether a refused reply is asked again (setting ``fallback``): an unsupported
        answer, and a decline when another model answers again (the same model declines
        again from other evidence: docs/quality.md, stops 33 and 53); not when the second
        try would be the first again, the same model on the same evidence (``--fast`` reads
        the fallback's evidence), and not once a sentence of it was shown (what streams is
        what stays). On dev, the 1.5B answered 7 of the 0.5B's 23 declined answerable
        questions right, and all 8 declined unanswerable ones were refused again."""
        s = self.settings
        if not s.fallback or reason not in ("unsupported_answer", "model_declined") or attempt.first_shown_at is not None:
            return False  # decided before the second model is looked up: most answers stand
        other = self.fallback_assistant() is not self
        if reason == "model_declined":
            return other
        same_evidence = fast or s.evidence_chars == s.fast_evidence_chars
        return other or not same_evidence

    def standalone_question(self, question: str, history: Sequence[tuple[str, str]]) -> str:
        """Rewrite a follow-up into a question that stands alone (for retrieval and the prompt)."""
        if not history or not needs_rewrite(question):
            return question
        previous = history[-1][0]
        substituted = substitute_followup(question, previous, self.profile.followup_patterns)
        if substituted:
            return substituted
        with self._generate_lock:
            rewritten = self.generator.complete(
                prompts.rewrite_messages(history, question), max_tokens=64, temperature=0.0
            )
        return clean_rewrite(rewritten, question, previous)

    def _model_info(self) -> dict:
        info = dict(self._generator.info) if self._generator is not None else {}
        info.setdefault("llm", self.settings.llm)
        info["embedder"] = self.index.manifest.get("embedder", {}).get("id")
        info["profile"] = self.profile.name
        return info
