"""The chat step and its rendering, driven by a scripted fake assistant (no server)."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.documents import Chunk, IngestError
from rag.types import Answer, Citation, Hit, RagError, Reading
from ui.chat import (
    REFUSAL_NOTICE,
    ChatUpdate,
    chat_step,
    mark_stopped,
    history_from_messages,
    messages_from_history,
    plain_text,
    render_answer_text,
)
from ui.sources import highlight


class IndexMissing(IngestError):
    """Stands in for ingest.index.IndexMissing: any IngestError the assistant raises."""


def make_hit(row: int, title: str, text: str, *, page=None, arxiv_id=None, url=None, score=0.5) -> Hit:
    chunk = Chunk(doc_id=f"d{row}", title=title, text=text, start=0, end=len(text), page=page, arxiv_id=arxiv_id, url=url)
    return Hit(row=row, chunk=chunk, score=score)


GPT3 = make_hit(0, "GPT-3 论文", "GPT-3 has 175 billion parameters.", page=4, arxiv_id="2005.14165")
HISTORY = make_hit(1, "大模型简史", "Transformer 于 2017 年提出。")
UNCITED = make_hit(2, "Unrelated article", "Nothing about parameters here.")


class FakeAssistant:
    """Yields scripted items; records what it was asked."""

    def __init__(self, items: Sequence[object], fail: BaseException | None = None) -> None:
        self.items = list(items)
        self.fail = fail
        self.calls: list[tuple[str, list[tuple[str, str]], dict]] = []

    def stream(self, question: str, history=(), **options) -> Iterator[object]:
        self.calls.append((question, list(history), options))
        yield from self.items
        if self.fail is not None:
            raise self.fail


def cited_answer(**overrides) -> Answer:
    fields = dict(
        question="GPT-3 有多少参数?",
        text="GPT-3 有 1750 亿参数 [1]。Transformer 于 2017 年提出 [2]。",
        refused=False,
        citations=(
            Citation(n=1, hit=GPT3, evidence=("175 billion", "parameters")),
            Citation(n=2, hit=HISTORY, how="attributed", evidence=("2017",)),
        ),
        retrieved=(GPT3, HISTORY, UNCITED),
        timings={"total_s": 2.5, "tokens_per_s": 12.0},
    )
    fields.update(overrides)
    return Answer(**fields)


def run(assistant, question="GPT-3 有多少参数?", history=(), **options) -> list[ChatUpdate]:
    return list(chat_step(assistant, question, history, **options))


def test_stream_goes_searching_then_partial_then_final():
    answer = cited_answer()
    updates = run(FakeAssistant(["GPT-3 有 ", "1750 亿参数 [1", "]。", answer]))
    assert "searching" in updates[0].status
    assert "searching" in updates[0].answer_markdown
    partials = [u.answer_markdown for u in updates[1:-1]]
    assert len(partials) == 3
    assert partials[0].startswith("GPT-3 有")
    # a half-written marker is not a link yet; once closed it is
    assert 'href="#src-1"' not in partials[1]
    assert 'href="#src-1"' in partials[2]
    assert not any(u.final for u in updates[:-1])
    final = updates[-1]
    assert final.final and final.answer is answer
    assert "answered" in final.status and "2.5 s" in final.status


def test_passages_being_read_show_before_the_first_word_and_stay_until_the_end():
    answer = cited_answer()
    updates = run(FakeAssistant([Reading((GPT3, HISTORY)), "GPT-3 有 ", answer]))
    reading = updates[1]
    assert "reading 2 passages" in reading.status and not reading.final
    assert "正在阅读" in reading.sources_html and GPT3.chunk.title in reading.sources_html
    assert HISTORY.chunk.title in reading.sources_html and UNCITED.chunk.title not in reading.sources_html
    assert updates[2].sources_html == reading.sources_html  # still shown while the answer streams
    assert updates[-1].final and "正在阅读" not in updates[-1].sources_html


def test_a_second_try_shows_its_passages_and_says_why_the_wait_goes_on():
    answer = cited_answer()
    updates = run(FakeAssistant([Reading((GPT3, HISTORY)), Reading((HISTORY,), again=True), "GPT-3 有 ", answer]))
    first, second = updates[1], updates[2]
    assert "reading 2 passages" in first.status and "reading them again" in second.status and not second.final
    assert GPT3.chunk.title in first.sources_html and GPT3.chunk.title not in second.sources_html
    assert updates[3].sources_html == second.sources_html and updates[-1].final


def test_markers_link_to_source_anchors_with_titles_pages_and_arxiv():
    final = run(FakeAssistant([cited_answer()]))[-1]
    # The brackets are character references: shown as [1], never Markdown link syntax.
    assert '<a class="rag-cite" href="#src-1">&#91;1&#93;</a>' in final.answer_markdown
    assert '<a class="rag-cite" href="#src-2">&#91;2&#93;</a>' in final.answer_markdown
    sources = final.sources_html
    # every link in the answer has its anchor in the panel
    for n in re.findall(r'href="#src-(\d+)"', final.answer_markdown):
        assert f'id="src-{n}"' in sources
    first = sources[sources.index('id="src-1"') :]
    assert "GPT-3 论文" in first and "p. 4" in first
    assert 'href="https://arxiv.org/abs/2005.14165"' in first
    assert "<mark>175 billion</mark>" in first and "<mark>parameters</mark>" in first


def test_attributed_and_unsupported_citations_are_marked():
    answer = cited_answer(
        citations=(
            Citation(n=1, hit=GPT3, supported=False),
            Citation(n=2, hit=HISTORY, how="attributed"),
        )
    )
    sources = run(FakeAssistant([answer]))[-1].sources_html
    one = sources[sources.index('id="src-1"') : sources.index('id="src-2"')]
    two = sources[sources.index('id="src-2"') :]
    assert "not supported" in one and "attached after generation" not in one
    assert "attached after generation" in two


def test_a_cited_table_shows_its_caption_once_and_escaped():
    rows = "Use-case (%)\nGeneration 45.6%\nOpen QA 12.4%"
    chunk = Chunk(doc_id="d5", title="InstructGPT", text=rows, start=0, end=len(rows), page=6, role="table",
                  context="Table 1: Use <b>case</b> categories.\nUse-case (%)")
    table = Hit(row=5, chunk=chunk, score=0.5)
    answer = cited_answer(text="Generation is 45.6% [1].", citations=(Citation(n=1, hit=table, evidence=("45.6%",)),),
                          retrieved=(table,))
    sources = run(FakeAssistant([answer]))[-1].sources_html
    caption = sources[sources.index('class="rag-src-caption"') : sources.index('class="rag-src-text"')]
    assert "Table 1: Use &lt;b&gt;case&lt;/b&gt; categories." in caption
    assert "Use-case (%)" not in caption  # the rows already start with the header
    assert "<mark>45.6%</mark>" in sources
    # A row group further down the table has no header of its own: the caption brings it.
    later = Chunk(doc_id="d5", title="InstructGPT", text="Chat 8.4%", start=0, end=9, role="table",
                  context="Table 1: Use case categories.\nUse-case (%)")
    assert later.caption == "Table 1: Use case categories.\nUse-case (%)"
    assert GPT3.chunk.caption == ""


def test_uncited_passages_are_collapsed():
    sources = run(FakeAssistant([cited_answer()]))[-1].sources_html
    details = sources[sources.index("<details>") :]
    assert "Unrelated article" in details
    assert "GPT-3 论文" not in details  # cited passages are not repeated
    assert "<details open" not in sources


def test_marker_without_a_citation_stays_plain_text():
    answer = cited_answer(text="Made up [7] and real [1].")
    bubble = run(FakeAssistant([answer]))[-1].answer_markdown
    assert 'href="#src-7"' not in bubble and "Made up [7] and real [1]." in plain_text(bubble)
    assert 'href="#src-1"' in bubble


def test_grouped_and_fullwidth_markers_become_links():
    out = render_answer_text("见【1】和 [2, 3]。", known={1, 2, 3})
    for n in (1, 2, 3):
        assert f'href="#src-{n}"' in out


def test_every_marker_cite_reads_becomes_a_link():
    # The page links exactly what rag.cite counts as a citation: ranges and footnote marks too.
    out = render_answer_text("A [1-3]. B [^4].", known={1, 2, 3, 4})
    assert [f'href="#src-{n}"' in out for n in (1, 2, 3, 4)] == [True] * 4
    assert "[1-3]" not in plain_text(out) and "^" not in plain_text(out)


SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_document_and_model_html_is_escaped():
    evil_hit = make_hit(5, f"Title {SCRIPT}", f"passage {SCRIPT} end", url="javascript:alert(1)")
    answer = Answer(
        question="q",
        text=f"model says {SCRIPT} [1]",
        refused=False,
        citations=(Citation(n=1, hit=evil_hit, evidence=("script",)),),
        retrieved=(evil_hit, make_hit(6, SCRIPT, SCRIPT)),
        unsupported=(SCRIPT,),
        standalone_question=SCRIPT,
        notice=SCRIPT,
    )
    updates = run(FakeAssistant([SCRIPT, answer]))
    for update in updates:
        for rendered in (update.answer_markdown, update.sources_html):
            assert "<script" not in rendered.lower()
            assert "<img" not in rendered.lower()
    final = updates[-1]
    assert "&lt;script&gt;" in final.answer_markdown
    assert "&lt;" in final.sources_html
    assert "javascript:" not in final.sources_html  # a non-http url gets no link


def test_refusal_shows_notice_and_collapsed_closest_passages():
    answer = Answer(
        question="Who won the 2030 World Cup?",
        text="",
        refused=True,
        retrieved=(GPT3, UNCITED),
        refusal_reason="no_relevant_passages",
    )
    final = run(FakeAssistant([answer]))[-1]
    assert html.escape(REFUSAL_NOTICE, quote=True) in final.answer_markdown
    assert "rag-refusal" in final.answer_markdown
    assert "refused" in final.status and "no_relevant_passages" in final.status
    assert "<details>" in final.sources_html
    closest = final.sources_html[final.sources_html.index("<details>") :]
    assert "GPT-3 论文" in closest and "Unrelated article" in closest


@pytest.mark.parametrize(
    "error", [RagError("the model file is missing; run `rag models`"), IndexMissing("no index at data/index; run `rag rebuild`")]
)
def test_user_fixable_errors_show_their_one_line_message(error):
    final = run(FakeAssistant([], fail=error))[-1]
    assert final.final
    assert str(error) in html.unescape(final.answer_markdown)
    assert "rag-error" in final.answer_markdown
    assert "error" in final.status


def test_unexpected_error_is_logged_not_shown(caplog):
    final = run(FakeAssistant(["partial answer"], fail=ZeroDivisionError("secret detail")))[-1]
    assert "partial answer" in final.answer_markdown  # what was written stays visible
    assert "rag-error" in final.answer_markdown
    assert "Traceback" not in final.answer_markdown and "secret detail" not in final.answer_markdown
    assert "ZeroDivisionError" in caplog.text  # the traceback went to the log


def test_stream_without_answer_is_an_error():
    final = run(FakeAssistant(["half"]))[-1]
    assert final.final and "rag-error" in final.answer_markdown


def test_empty_question_does_not_call_the_assistant():
    fake = FakeAssistant([cited_answer()])
    updates = run(fake, question="   ")
    assert fake.calls == [] and updates[-1].final


def test_options_are_passed_and_none_left_out():
    fake = FakeAssistant([cited_answer()])
    run(fake, history=[("q0", "a0")], top_k=3, passage_budget=None)
    question, history, options = fake.calls[0]
    assert question == "GPT-3 有多少参数?" and history == [("q0", "a0")]
    assert options == {"top_k": 3}


def test_history_round_trips_through_rendered_messages():
    final = run(FakeAssistant([cited_answer()]))[-1]
    refusal = run(FakeAssistant([Answer(question="x", text="", refused=True)]))[-1]
    messages = [
        {"role": "user", "content": "GPT-3 有多少参数?"},
        {"role": "assistant", "content": final.answer_markdown},
        {"role": "user", "content": "Who won?"},
        {"role": "assistant", "content": refusal.answer_markdown},
        {"role": "user", "content": html.escape("a <b> question")},
        {"role": "assistant", "content": [{"type": "text", "text": "plain"}]},
        {"role": "user", "content": "still answering"},
        {"role": "assistant", "content": run(FakeAssistant([]))[0].answer_markdown},
    ]
    assert history_from_messages(messages) == [
        ("GPT-3 有多少参数?", "GPT-3 有 1750 亿参数 [1]。Transformer 于 2017 年提出 [2]。"),
        ("a <b> question", "plain"),
    ]


def test_history_accepts_message_objects_and_none():
    class Message:
        def __init__(self, role, content):
            self.role, self.content = role, content

    assert history_from_messages(None) == []
    assert history_from_messages([Message("user", "q"), Message("assistant", "a")]) == [("q", "a")]


text_without_markers = st.text(alphabet=st.characters(blacklist_characters="[]【】"), max_size=200)


@given(st.lists(st.tuples(text_without_markers, text_without_markers), max_size=4))
def test_messages_from_history_round_trips(pairs):
    expected = [(plain_text(html.escape(u)), plain_text(html.escape(a))) for u, a in pairs]
    expected = [(u, a) for u, a in expected if a]
    assert history_from_messages(messages_from_history(pairs)) == expected


@given(st.text(max_size=200), st.lists(st.text(min_size=1, max_size=5), max_size=4))
def test_highlight_keeps_the_text_and_escapes_it(text, terms):
    out = highlight(text, terms)
    assert html.unescape(out.replace("<mark>", "").replace("</mark>", "")) == text
    assert "<" not in out.replace("<mark>", "").replace("</mark>", "")


def test_mark_stopped_replaces_placeholders_and_keeps_finished_answers():
    partial = run(FakeAssistant(["GPT-3 has ", "175B"]))[2].answer_markdown
    searching = run(FakeAssistant([]))[0].answer_markdown
    for bubble, kept in ((partial, "175B"), (searching, "")):
        messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": bubble}]
        stopped = mark_stopped(messages)[-1]["content"]
        assert "stopped" in stopped and "rag-typing" not in stopped and "rag-pending" not in stopped
        assert kept in stopped
    finished = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "done [1]"}]
    assert mark_stopped(finished) == finished
    assert mark_stopped([]) == []


def test_error_updates_carry_the_message():
    final = run(FakeAssistant([], fail=RagError("no model")))[-1]
    assert final.error == "no model" and final.answer is None
    assert run(FakeAssistant([cited_answer()]))[-1].error is None


def test_model_text_makes_no_markdown_links_or_images():
    text = "see ![x](https://tracker.example/p.png) and [click](javascript:alert(1)) [1](x)"
    out = render_answer_text(text, known={1})
    assert "](" not in out
    assert 'href="#src-1"' in out  # a real marker still links
    assert plain_text(out) == text


# Model output a passage could talk the model into: every way Markdown loads or links.
HOSTILE_MARKDOWN = "\n".join(
    [
        "GPT-3 cost 4.6M [1]. ![x][t] and ![y](https://t.example/p.png) and [z][1]",
        "[t]: http://host/img.png",
        "[1]: http://host/one.png",
        "![a][1] ![b][9] see http://host/a.png www.evil.example a@b.example <http://x.example>",
        '<img src="http://h/x.png"> &#91;x&#93;(http://h/y.png) HTTPS://UP.example ftp://f.example',
    ]
)


def _links_and_images(rendered_html: str) -> tuple[list[str], list[str]]:
    hrefs = re.findall(r"<a\b[^>]*\bhref=\"([^\"]*)\"", rendered_html)
    images = re.findall(r"<img\b[^>]*>", rendered_html, flags=re.IGNORECASE)
    return hrefs, images


def test_hostile_model_markdown_renders_no_image_and_no_outside_link():
    markdown_it = pytest.importorskip("markdown_it")
    bubble = render_answer_text(HOSTILE_MARKDOWN, known={1})
    hrefs, images = _links_and_images(markdown_it.MarkdownIt("commonmark").render(bubble))
    assert images == [] and set(hrefs) == {"#src-1"}
    assert plain_text(bubble) == HOSTILE_MARKDOWN  # the user still sees what the model wrote


def _gradio_markdown() -> Path | None:
    """Gradio's own Markdown code (marked, GFM), as its server bundle ships it."""
    gradio = pytest.importorskip("gradio")
    chunks = Path(gradio.__file__).parent / "templates" / "node" / "build" / "server" / "chunks"
    found = sorted(chunks.glob("markdown-code-*.js"))
    return found[0] if found and shutil.which("node") else None


def test_hostile_model_markdown_loads_nothing_in_gradios_own_renderer(tmp_path):
    source = _gradio_markdown()
    if source is None:
        pytest.skip("node or gradio's markdown bundle is not available")
    code = source.read_text(encoding="utf-8")
    factory = re.search(r"function (\w+)\(\{header_links:", code)
    exported = re.search(r"export \{ (\w+) as u \};", code)
    if not (factory and exported):
        pytest.skip("gradio's markdown bundle changed shape")
    bundle = tmp_path / "chunks"
    shutil.copytree(source.parent, bundle)
    (bundle / source.name).write_text(
        code.replace(exported.group(0), f"export {{ {exported.group(1)} as u, {factory.group(1)} as create }};"),
        encoding="utf-8",
    )
    script = bundle / "render.mjs"
    script.write_text(
        f"import {{ create }} from './{source.name}';\nimport fs from 'fs';\n"
        "const md = create({header_links: false, line_breaks: true, latex_delimiters: []});\n"
        "console.log(await md.parse(fs.readFileSync(0, 'utf8')));\n",
        encoding="utf-8",
    )

    def render(markdown: str) -> str:
        done = subprocess.run(["node", str(script)], input=markdown, capture_output=True, text=True, check=True)
        return done.stdout

    # Without our escaping the same text would load an image and link out: the test can fail.
    hrefs, images = _links_and_images(render(HOSTILE_MARKDOWN))
    assert images and any(h.startswith("http") for h in hrefs)
    hrefs, images = _links_and_images(render(render_answer_text(HOSTILE_MARKDOWN, known={1})))
    assert images == [] and set(hrefs) == {"#src-1"}
