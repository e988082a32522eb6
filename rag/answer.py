"""The answering pipeline: question -> (rewrite) -> retrieve -> judge relevance -> prompt ->
stream -> cite -> ``Answer``.

``Assistant.stream`` yields text deltas as the model writes them and then exactly one
``Answer``; the CLI, the web page and the evaluator all consume that one generator.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.text import count_cjk
from rag import prompt as prompts
from rag.cite import cite, drop_echoes, is_refusal, parse_markers, strip_markers
from rag.retrieve import HybridRetriever, Retriever
from rag.settings import Settings
from rag.types import Answer, Hit, RagError, Reading

log = logging.getLogger(__name__)


class QuestionError(RagError):
    """The question can't be answered as typed (empty, for instance)."""


# Names with a digit (GPT-4, T5, Llama 2, word2vec, GPT-3.5): when a question names one
# that no retrieved passage mentions, the documents are about something else.
_VERSIONED_NAME = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z]*(?:[\-\s]?\d+(?:\.\d+)?[A-Za-z]*)(?![A-Za-z0-9])")
_NAME = re.compile(r"(?<![A-Za-z0-9])[A-Z][A-Za-z0-9]*(?:[\-.][A-Za-z0-9]+)*(?![A-Za-z0-9])")
_FOLLOWUP_ONLY = [
    re.compile(r"^(?:那么?|还有)?\s*(?P<x>.+?)\s*(?:呢|怎么样|又如何|如何)\s*[?？。]?$"),
    re.compile(r"^(?:what|how)\s+about\s+(?P<x>.+?)\s*[?.]?$", re.IGNORECASE),
    re.compile(r"^and\s+(?P<x>.+?)\s*[?.]?$", re.IGNORECASE),
]
_COMMON_CAPITALISED = frozenset(
    "who what when where which why how is are was were do does did can could should would will "
    "the a an in on of for and or please tell explain describe list give".split()
)
_DEPENDENT = re.compile(
    r"它|它们|其|该|这个|那个|这些|那些|上面|前面|呢[?？]?$|\b(?:it|its|they|them|their|this|that|these|those|he|she|his|her)\b",
    re.IGNORECASE,
)


def has_content(text: str) -> bool:
    """True when ``text`` says something besides citation markers and punctuation."""
    return bool(re.search(r"\w", strip_markers(text)))


def versioned_names(question: str) -> list[str]:
    """Model names with a version in ``question``: GPT-5, gpt3, T5, Llama-3, Claude 3.

    A space may separate name and number only for a capitalised name and a short number,
    so "Which 70-billion" or "the 2022 World Cup" are not taken for names.
    """
    names = []
    for match in _VERSIONED_NAME.finditer(question):
        name = match.group(0).strip()
        word = re.match(r"[A-Za-z]+", name).group(0)
        if len(word) < 2 or word.lower() in _COMMON_CAPITALISED:
            continue  # "v2", "p3" are too short to tell a name from noise
        if " " in name and not (word[0].isupper() and re.search(r"\s(\d{1,2})(?:\.\d+)?[A-Za-z]*$", name)):
            continue
        names.append(name)
    return names


_NAMES_A_DOCUMENT = r"['’]?s?\s*(?:paper|article|论文|文章)"


def missing_names(question: str, passages: Sequence[str]) -> list[str]:
    """Versioned names in the question (GPT-5, Llama 3) that no passage mentions.

    "GPT3" matches "GPT-3" and "gpt 3", but "LLaMA 3" does not match "LLaMA (33B)": the
    version must not run on into more digits.
    """
    haystack = " ".join(passages).lower()
    missing = []
    for name in versioned_names(question):
        if re.search(re.escape(name) + _NAMES_A_DOCUMENT, question, re.IGNORECASE):
            continue  # "the word2vec paper" names where to look, not what is asked about
        word, version = re.match(r"([a-z]+)[\s\-_]*(.*)", name.lower()).groups()
        parts = [re.escape(word)] + [re.escape(p) for p in re.findall(r"[a-z]+|\d+(?:\.\d+)?", version)]
        pattern = r"(?<![a-z])" + r"[\s\-_(]*".join(parts) + r"(?![\d.]\d|\d)"
        if not re.search(pattern, haystack):
            missing.append(name)
    return missing


def keyword_coverage(question: str, passages: Sequence[str]) -> float:
    """Share of the question's keyword tokens that occur in the passages (0 when it has none)."""
    from ingest.keyword import tokenize

    wanted = set(tokenize(question))
    if not wanted:
        return 0.0
    present: set[str] = set()
    for text in passages:
        present.update(tokenize(text))
    return len(wanted & present) / len(wanted)


@dataclass(frozen=True)
class Relevance:
    """Why retrieval did or did not find something worth answering from."""

    ok: bool
    best_dense: float
    coverage: float
    missing: tuple[str, ...]


def judge_relevance(
    question: str, hits: Sequence[Hit], min_dense: float, min_coverage: float, min_dense_with_keywords: float = 0.0
) -> Relevance:
    """The relevance floor: a close passage by meaning or by keywords, and no unknown names.

    Passages close by keywords alone must still be ``min_dense_with_keywords`` close in
    meaning: a question that shares a year and a common word with a reference list
    ("Who won the 2022 FIFA World Cup?") is not about it.
    """
    texts = [h.chunk.text for h in hits]
    best = max((h.dense for h in hits if h.dense is not None), default=0.0)
    coverage = keyword_coverage(question, texts)
    missing = tuple(missing_names(question, texts))
    close = best >= min_dense or (coverage >= min_coverage and best >= min_dense_with_keywords)
    ok = bool(hits) and close and not missing
    return Relevance(ok, float(best), coverage, missing)


def substitute_followup(question: str, previous: str) -> str | None:
    """"那 GPT-2 呢?" after "GPT-3 有多少参数?" -> "GPT-2 有多少参数?" (None if no such pattern)."""
    q = question.strip()
    for pattern in _FOLLOWUP_ONLY:
        match = pattern.match(q)
        if not match:
            continue
        new = match.group("x").strip()
        if not _NAME.fullmatch(new) and not _VERSIONED_NAME.fullmatch(new):
            return None
        old = [
            m.group(0)
            for rx in (_NAME, _VERSIONED_NAME)
            for m in rx.finditer(previous)
            if m.group(0).lower() not in _COMMON_CAPITALISED and m.group(0) != new
        ]
        if not old:
            return None
        # The most name-like candidate: a version number, then several capitals (GPT-3, BERT).
        target = max(old, key=lambda o: (bool(re.search(r"\d", o)), sum(ch.isupper() for ch in o) > 1))
        return previous.replace(target, new, 1)
    return None


def needs_rewrite(question: str) -> bool:
    """Short or pronoun-bearing questions depend on the conversation."""
    q = question.strip()
    cjk = count_cjk(q)
    short = (cjk and len(q) <= 12) or (not cjk and len(q.split()) <= 4)
    return bool(short or _DEPENDENT.search(q))


class Assistant:
    """Answers questions from an index with a generator; reusable across questions.

    The generator is created on first use (or by ``load_model``) and kept, so a second
    question does not reload the model. Generation is serialised with a lock because
    llama.cpp and a single GPU model can't serve two generations at once.
    """

    def __init__(self, index, settings: Settings, *, generator=None, retriever: Retriever | None = None):
        self.index = index
        self.settings = settings
        self.retriever = retriever or HybridRetriever(
            index,
            candidates=settings.candidates,
            rrf_k=settings.rrf_k,
            dense_weight=settings.dense_weight,
            keyword_weight=settings.keyword_weight,
            balance_kinds=bool(settings.balance_kinds),
        )
        self.authors = {doc_id: tuple(meta.get("authors") or ()) for doc_id, meta in index.documents.items()}
        self._generator = generator
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> "Assistant":
        """Load the index named by ``settings`` (the model loads lazily)."""
        from ingest.index import load_index

        return cls(load_index(Path(settings.index_dir)), settings)

    # -- model -------------------------------------------------------------------------
    @property
    def generator(self):
        """The generator, created on first use."""
        if self._generator is None:
            with self._load_lock:
                if self._generator is None:
                    from rag.generate import make_generator

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
        """Load the model now (the web page does this at start so the first answer is quick)."""
        gen = self.generator
        load = getattr(gen, "load", None)
        if callable(load):
            load()

    def replaced(self, *, index=None, llm: str | None = None) -> "Assistant":
        """This assistant with another index or another model; the unchanged part is shared, not reloaded."""
        settings = self.settings if llm is None else self.settings.replace(llm=llm)
        return Assistant(
            self.index if index is None else index,
            settings,
            generator=self._generator if llm is None else None,
            retriever=self.retriever if index is None else None,
        )

    @property
    def model_loaded(self) -> bool:
        gen = self._generator
        return gen is not None and bool(getattr(gen, "loaded", True))

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
    ) -> Iterator[Reading | str | Answer]:
        """Yield the passages given to the model (``Reading``, unless retrieval found
        nothing usable), the answer text as it is generated, then the final ``Answer``."""
        s = self.settings
        top_k = top_k or s.top_k
        budget = passage_budget or s.passage_budget
        started = time.perf_counter()
        question, notice = self._check_question(question)
        lang = prompts.detect_language(question)

        standalone = self.standalone_question(question, history) if history else question
        retrieve_started = time.perf_counter()
        hits = self.retriever.search(standalone, top_k)
        retrieve_s = time.perf_counter() - retrieve_started
        relevance = judge_relevance(
            standalone, hits, s.min_dense, s.min_keyword_coverage, s.min_dense_with_keywords
        )
        log.info("relevance %s for %r", relevance, standalone)
        timings = {"rewrite_s": retrieve_started - started, "retrieve_s": retrieve_s}
        base = dict(
            question=question,
            retrieved=tuple(hits),
            standalone_question=standalone if standalone != question else None,
            notice=notice,
        )
        if not relevance.ok:
            text = prompts.REFUSAL[lang]
            yield text
            timings.update(first_token_s=time.perf_counter() - started, total_s=time.perf_counter() - started)
            yield Answer(text=text, refused=True, refusal_reason="no_relevant_passages",
                         timings=timings, model=self._model_info(), **base)
            return

        gen = self.generator
        focused = self.focus_passages(standalone, hits[:top_k]) if s.focus_chars else {}
        passages = prompts.select_passages(hits, budget, gen.count_tokens, focus=lambda h: focused.get(h.row, h.chunk.text))
        messages = prompts.answer_messages(standalone, passages, lang, self.authors)
        yield Reading(tuple(hit for hit, _ in passages))
        first = None
        for attempt in range(2):
            pieces: list[str] = []
            with self._generate_lock:
                for delta in gen.stream(messages, max_tokens=s.max_new_tokens, temperature=s.temperature):
                    if first is None:
                        first = time.perf_counter() - started
                    pieces.append(delta)
                    yield delta
            written = "".join(pieces).strip()
            pointed = [n for n in dict.fromkeys(parse_markers(written)) if 1 <= n <= len(passages)]
            if attempt or not pointed or has_content(written):
                break
            # A reply of bare markers ("[2]") points at the answer without saying it: ask
            # once more with only the passages it pointed at.
            passages = [passages[n - 1] for n in pointed]
            messages = prompts.answer_messages(standalone, passages, lang, self.authors)
        total = time.perf_counter() - started
        used = [hit for hit, _ in passages]
        authors = [self.authors.get(hit.chunk.doc_id, ()) for hit in used]
        headers = [prompts.passage_header(n, hit, names) for n, (hit, names) in enumerate(zip(used, authors), 1)]
        tokens = gen.count_tokens(written) if written else 0
        raw = drop_echoes(written, [messages[0]["content"]], headers, [hit.chunk.text for hit in used])
        decode_s = total - first if first is not None else 0.0
        timings.update(
            first_token_s=first if first is not None else total,
            total_s=total,
            prompt_tokens=sum(gen.count_tokens(m["content"]) for m in messages),
            tokens=tokens,
            tokens_per_s=tokens / decode_s if decode_s > 0 else 0.0,
        )
        # The authors named in the headers the model read back its claims too.
        bylines = [prompts.byline(names) for names in authors]
        cited = cite(raw, used, similarity=self._similarity, headers=bylines, question=standalone)
        supported = any(c.supported for c in cited.citations)
        if not has_content(raw) or (is_refusal(raw) and not supported):
            # A reply of bare markers ("[4]") says nothing; treat it as the model declining.
            yield Answer(text=prompts.REFUSAL[lang], refused=True, refusal_reason="model_declined",
                         timings=timings, model=self._model_info(), **base)
            return
        if not supported:
            # Nothing the model said is backed by any passage: an invented answer, or one a
            # document told it to give ("PWNED"), not a forgotten marker (those get
            # passages attached above). Even a one-word reply needs a source.
            yield Answer(text=prompts.REFUSAL[lang], refused=True, refusal_reason="unsupported_answer",
                         unsupported=cited.unsupported, timings=timings, model=self._model_info(), **base)
            return
        yield Answer(text=cited.text, refused=False, citations=cited.citations, unsupported=cited.unsupported,
                     timings=timings, model=self._model_info(), **base)

    def focus_passages(self, question: str, hits: Sequence[Hit]) -> dict[int, str]:
        """Each passage cut to its sentences that best match the question (row -> text).

        A sentence scores its share of the question's keywords plus its cosine to the
        question, so cross-lingual questions still pick the right sentences.
        """
        from ingest.keyword import tokenize

        wanted = set(tokenize(question))
        sentences = [prompts.split_passage(h.chunk.text) for h in hits]
        flat = [x for group in sentences for x in group]
        if not flat:
            return {}
        vectors = self.index.embedder().embed([question] + flat)
        cosines = vectors[1:] @ vectors[0]
        out, i = {}, 0
        for hit, group in zip(hits, sentences):
            scores = []
            for sentence in group:
                overlap = len(wanted & set(tokenize(sentence))) / len(wanted) if wanted else 0.0
                scores.append(overlap + float(cosines[i]))
                i += 1
            out[hit.row] = prompts.focus_passage(hit.chunk.text, scores, self.settings.focus_chars)
        return out

    def standalone_question(self, question: str, history: Sequence[tuple[str, str]]) -> str:
        """Rewrite a follow-up into a question that stands alone (for retrieval and the prompt)."""
        if not history or not needs_rewrite(question):
            return question
        previous = history[-1][0]
        substituted = substitute_followup(question, previous)
        if substituted:
            return substituted
        with self._generate_lock:
            rewritten = self.generator.complete(
                prompts.rewrite_messages(history, question), max_tokens=64, temperature=0.0
            )
        rewritten = rewritten.strip().splitlines()[0].strip(" \"'“”") if rewritten.strip() else ""
        rewritten = re.sub(r"^(standalone question|rewritten question|问题)\s*[:：]\s*", "", rewritten, flags=re.I)
        if 3 <= len(rewritten) <= 3 * len(question) + len(previous):
            return rewritten
        return f"{previous} {question}"

    def _check_question(self, question: str) -> tuple[str, str | None]:
        # Cleaned before retrieval too: a NUL or a forged control token in the question
        # changes what is retrieved and what the model reads.
        question = prompts.clean_untrusted(question or "", one_line=True)
        if not question:
            raise QuestionError("The question is empty: type a question in Chinese or English.")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            return question[:limit], f"The question was cut to its first {limit} characters."
        return question, None

    def _similarity(self, a: str, b: str) -> float:
        vectors = self.index.embedder().embed([a, b])
        return float(vectors[0] @ vectors[1])

    def _model_info(self) -> dict:
        info = dict(self._generator.info) if self._generator is not None else {}
        info.setdefault("llm", self.settings.llm)
        info["embedder"] = self.index.manifest.get("embedder", {}).get("id")
        return info
