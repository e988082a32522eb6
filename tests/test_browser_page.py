"""The page's documents panel, model picker and 👍 / 👎 in a real headless browser.

The fast tests drive the page around the scripted fake assistant of ``test_browser`` and
an index built with a keyword embedder in tmp_path. ``test_real_upload_is_cited`` uploads
a file into a copy of ``corpus/`` and asks the real packaged model about it (minutes on a
2-core CPU).
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from tests.test_browser import (  # noqa: F401 - fixtures are found by name
    CHROMEDRIVER,
    CHROMIUM,
    FAKE_WAIT_S,
    REAL_WAIT_S,
    ROOT,
    FakeAssistant,
    _free_port,
    artifacts,
    ask,
    browser,
    last_bubble,
    last_bubble_text,
    open_page,
    screenshot,
    status_text,
    wait_until_answered,
)

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="chromium is not installed: apt-get install chromium chromium-driver (make browser)",
)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from ingest.build import build_index  # noqa: E402
from ingest.index import load_index  # noqa: E402
from ingest.library import DocumentLibrary  # noqa: E402
from rag.catalog import ModelChoice  # noqa: E402
from rag.feedback import export_questions, load_feedback  # noqa: E402
from rag.questionset import load_questions  # noqa: E402
from tests.test_build import KeywordEmbedder, _write_corpus  # noqa: E402
from ui.app import build_app, launch  # noqa: E402
from ui.extras import PageExtras  # noqa: E402
from ui.loader import AssistantLoader  # noqa: E402

ZORBLAX = (
    "# Zorblax-7 model card\n\n"
    "Zorblax-7 is a language model released by Kestrel Lab in 2031. "
    "Zorblax-7 has 42 billion parameters and was trained on 9 trillion tokens.\n"
)


class NamedFake(FakeAssistant):
    """The fake assistant, reporting ``name`` as its model; its model loads when ``gate`` opens."""

    def __init__(self, name: str, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.name, self.gate = name, gate

    def info(self) -> dict:
        return {**super().info(), "model": {"backend": "llama.cpp", "model": self.name}}

    def load_model(self) -> None:
        if self.gate is not None:
            assert self.gate.wait(FAKE_WAIT_S)


@pytest.fixture
def serve_page():
    """Start the page around an assistant (or loader) with extras; yields a function returning its URL."""
    apps = []

    def start(assistant, extras: PageExtras) -> str:
        app = build_app(assistant, extras=extras)
        apps.append(app)
        return launch(app, "127.0.0.1", _free_port(), block=False, quiet=True)

    try:
        yield start
    finally:
        for app in apps:
            app.close()


def _fake_library(tmp_path: Path) -> DocumentLibrary:
    corpus = _write_corpus(tmp_path / "corpus")
    build_index(corpus, tmp_path / "index", embedder=KeywordEmbedder(), progress=False)
    return DocumentLibrary(corpus, tmp_path / "index", embedder=KeywordEmbedder(), max_bytes=4096)


def upload(driver, *paths: Path) -> None:
    field = driver.find_element(By.CSS_SELECTOR, "#rag-upload input[type=file]")
    field.send_keys("\n".join(str(p) for p in paths))


def shown(driver, element_id: str) -> bool:
    """Whether the element is on the page and visible (Gradio re-creates hidden groups)."""
    found = driver.find_elements(By.ID, element_id)
    return bool(found) and found[0].is_displayed()


def text_of(driver, element_id: str) -> str:
    found = driver.find_elements(By.ID, element_id)
    return found[0].text if found else ""


# --------------------------------------------------------------------------- fake assistant


def test_a_bad_upload_gets_its_reason_and_changes_nothing(browser, serve_page, tmp_path, artifacts):
    library = _fake_library(tmp_path)
    before = load_index(tmp_path / "index").manifest["build_id"]
    bad = tmp_path / "incoming"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    (bad / "slides.pptx").write_bytes(b"PK\x03\x04")
    (bad / "huge.md").write_text("x" * 5000)
    open_page(browser, serve_page(FakeAssistant(), PageExtras(library=library)))
    assert "No documents added yet" in text_of(browser, "rag-docs")

    upload(browser, bad / "empty.txt", bad / "slides.pptx", bad / "huge.md")
    WebDriverWait(browser, FAKE_WAIT_S).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".rag-up-rejected")) == 3)
    reasons = [li.text for li in browser.find_elements(By.CSS_SELECTOR, ".rag-up-rejected")]
    assert reasons == [
        "empty.txt: the file is empty",
        "slides.pptx: wrong type .pptx; supported: .txt, .md, .html, .htm, .pdf",
        "huge.md: too large (5 KB); the limit is 4 KB",
    ]
    screenshot(browser, artifacts, "fake-bad-upload.png")
    assert "No documents added yet" in text_of(browser, "rag-docs")
    assert load_index(tmp_path / "index").manifest["build_id"] == before
    assert library.documents() == []


def test_switching_the_model_shows_the_banner_then_answers_with_it(browser, serve_page, artifacts):
    gate = threading.Event()
    extras = PageExtras(
        models=[ModelChoice("small-model", "the small one"), ModelChoice("large-model", "the large one")],
        switch_model=lambda assistant, spec: NamedFake(spec, gate),
        current_model="small-model",
    )
    try:
        open_page(browser, serve_page(NamedFake("small-model"), extras))
        assert "small-model" in text_of(browser, "rag-footer")
        picker = browser.find_element(By.ID, "rag-model")
        assert "first word: not measured" in picker.text
        picker.find_element(By.CSS_SELECTOR, "input[value='large-model']").click()
        WebDriverWait(browser, FAKE_WAIT_S).until(lambda d: "loading the model large-model" in text_of(d, "rag-banner"))
        ask(browser, "GPT-3 有多少参数?")  # waits for the model
        WebDriverWait(browser, FAKE_WAIT_S).until(lambda d: "loading the model" in last_bubble_text(d))
        screenshot(browser, artifacts, "fake-model-switch.png")
    finally:
        gate.set()
    assert "answered" in wait_until_answered(browser, FAKE_WAIT_S)
    WebDriverWait(browser, FAKE_WAIT_S).until(lambda d: "large-model" in text_of(d, "rag-footer"))
    assert "Ready" in text_of(browser, "rag-banner")


def test_a_thumbs_down_with_a_correction_lands_in_the_feedback_file(browser, serve_page, tmp_path, artifacts):
    feedback_file = tmp_path / "data" / "feedback.jsonl"
    open_page(browser, serve_page(FakeAssistant(), PageExtras(feedback_file=feedback_file)))
    ask(browser, "GPT-3 有多少参数?")
    assert "answered" in wait_until_answered(browser, FAKE_WAIT_S)
    browser.find_elements(By.CSS_SELECTOR, "#rag-chat button[aria-label='Dislike']")[-1].click()
    WebDriverWait(browser, FAKE_WAIT_S).until(lambda d: shown(d, "rag-fb-form"))
    source = browser.find_element(By.CSS_SELECTOR, "#rag-fb-source textarea, #rag-fb-source input")
    WebDriverWait(browser, FAKE_WAIT_S).until(lambda d: source.get_attribute("value") == "doc0")  # the first cited
    browser.find_element(By.CSS_SELECTOR, "#rag-fb-answer textarea, #rag-fb-answer input").send_keys("1750 亿")
    screenshot(browser, artifacts, "fake-feedback.png")
    browser.find_element(By.ID, "rag-fb-send").click()
    WebDriverWait(browser, FAKE_WAIT_S).until(lambda d: "correction was recorded" in text_of(d, "rag-fb-note"))
    assert not shown(browser, "rag-fb-form")

    [entry] = load_feedback(feedback_file)
    assert (entry.rating, entry.correction, entry.source) == ("down", "1750 亿", "doc0")
    assert entry.question == "GPT-3 有多少参数?" and entry.citations[0]["doc_id"] == "doc0"
    records, _ = export_questions([entry])
    out = tmp_path / "questions.jsonl"
    out.write_text(json.dumps(records[0], ensure_ascii=False) + "\n", encoding="utf-8")
    [question] = load_questions(out)
    assert question.answerable and question.answers == ("1750 亿",) and question.sources == ("doc0",)


# --------------------------------------------------------------------------- real assistant


def test_real_upload_is_indexed_then_cited(browser, serve_page, tmp_path, artifacts):
    """A copy of corpus/, the real embedder and packaged model: upload a file, ask about it."""
    from rag.answer import Assistant
    from rag.settings import Settings

    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    index_dir = tmp_path / "index"
    build_index(corpus, index_dir, progress=False)
    settings = Settings(corpus_dir=str(corpus), index_dir=str(index_dir))
    loader = AssistantLoader(lambda: Assistant.from_settings(settings))
    library = DocumentLibrary(
        corpus, index_dir, on_new_index=lambda index: loader.swap(lambda a: a.replaced(index=index))
    )
    card = tmp_path / "incoming" / "zorblax-7.md"
    card.parent.mkdir()
    card.write_text(ZORBLAX, encoding="utf-8")

    open_page(browser, serve_page(loader, PageExtras(library=library)))
    upload(browser, card)
    WebDriverWait(browser, REAL_WAIT_S).until(lambda d: "added zorblax-7.md" in text_of(d, "rag-upload-result"))
    WebDriverWait(browser, REAL_WAIT_S).until(lambda d: "index updated" in text_of(d, "rag-upload-progress"))
    row = browser.find_element(By.CSS_SELECTOR, "#rag-docs tbody tr")
    assert "Zorblax-7 model card" in row.text and "KB" in row.text and row.text.split()[-1].isdigit()
    screenshot(browser, artifacts, "real-upload.png")

    ask(browser, "How many parameters does Zorblax-7 have?")
    assert "answered" in wait_until_answered(browser, REAL_WAIT_S), status_text(browser)
    assert "42" in last_bubble(browser).text
    titles = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#rag-sources [id^='src-'] .rag-src-title")]
    assert "Zorblax-7 model card" in titles
