"""The chat page in a real headless browser (Debian's chromium + chromium-driver).

The fast tests drive the page around a scripted fake assistant with a deterministic cited
answer. ``test_real_assistant_end_to_end`` builds an index from ``corpus/`` in tmp_path
and answers with the real packaged model (minutes on a 2-core CPU). Screenshots go to
``$TEST_ARTIFACTS`` when set, else to tmp_path; ``TEST_ARTIFACTS=docs pytest
tests/test_browser.py -k real`` refreshes the screenshots in docs/.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.documents import Chunk
from rag.types import Answer, Citation, Hit

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="chromium is not installed: apt-get install chromium chromium-driver (make browser)",
)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install selenium")
pytest.importorskip("gradio", reason='gradio is not installed: pip install "gradio>=6"')

from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from ui.app import build_app, launch  # noqa: E402

FAKE_WAIT_S = 60
REAL_WAIT_S = 600
TITLE = "LLM 大语言模型发展及关键资源"
PAPER_TITLE = "Language Models are Few-Shot Learners"
# A passage that would run script if the page rendered document text as HTML.
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'


def _hit(row: int, title: str, text: str, **chunk_fields) -> Hit:
    chunk = Chunk(doc_id=f"doc{row}", title=title, text=text, start=0, end=len(text), **chunk_fields)
    return Hit(row=row, chunk=chunk, score=1.0 / (row + 1))


ARTICLE = _hit(
    0,
    TITLE,
    "2020 年 OpenAI 发布了 GPT-3，参数规模达到 1750 亿，展示了强大的少样本（few-shot）学习能力。"
    f"网页中的代码示例：{HOSTILE}",
)
PAPER = _hit(
    1,
    PAPER_TITLE,
    "We train GPT-3, an autoregressive language model with 175 billion parameters, "
    "10x more than any previous non-sparse language model.",
    page=1,
    arxiv_id="2005.14165",
)
OTHER = _hit(2, "大语言模型(LLM)的进化树", "BERT 采用双向 Transformer 编码器，通过随机遮盖词语进行预训练。")


class FakeAssistant:
    """A deterministic cited answer, streamed word by word; refuses World Cup questions.

    A question containing "endless" streams until the page stops it; ``stopped`` is set
    when that stream is closed (the real model would be free again).
    """

    def __init__(self) -> None:
        self.stopped = threading.Event()

    def info(self) -> dict:
        return {
            "model": {"backend": "llama.cpp", "model": "qwen2.5-coder-0.5b-instruct-q4_k_m"},
            "embedder": "use-m3",
            "documents": 12,
            "chunks": 1480,
            "built_at": "2026-01-01T12:00:00",
        }

    def stream(self, question: str, history=(), **options) -> Iterator[object]:
        if "World Cup" in question or "世界杯" in question:
            yield "Sorry, the documents don't contain the answer to this question."
            yield Answer(
                question=question, text="", refused=True, retrieved=(OTHER, ARTICLE),
                refusal_reason="no_relevant_passages", timings={"total_s": 0.4},
            )
            return
        if "endless" in question:
            try:
                for _ in range(6000):  # ten minutes at most
                    time.sleep(0.1)
                    yield "blah "
            finally:
                self.stopped.set()
        text = "GPT-3 有 1750 亿个参数 [1]，论文称其比以往任何非稀疏语言模型大 10 倍 [2]。"
        if "list" in question:  # a numbered list, as rag.cite lays one out
            text = "Two models:\n1. GPT-3 has 175 billion parameters [1].\n2. It is 10x larger than any previous model [2]."
        for piece in text.split(" "):
            time.sleep(0.05)
            yield piece + " "
        yield Answer(
            question=question,
            text=text,
            refused=False,
            citations=(
                Citation(n=1, hit=ARTICLE, evidence=("GPT-3", "1750 亿")),
                Citation(n=2, hit=PAPER, how="attributed", evidence=("175 billion", "10x")),
            ),
            retrieved=(ARTICLE, PAPER, OTHER),
            timings={"total_s": 3.2, "first_token_s": 0.9, "tokens_per_s": 18.5},
        )


# --------------------------------------------------------------------------- fixtures


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def artifacts(tmp_path) -> Path:
    folder = Path(os.environ.get("TEST_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--window-size=1400,1000", "--lang=en-US",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page():
    """Start the page around an assistant (or factory); yields a function returning its URL."""
    apps = []

    def start(assistant) -> str:
        app = build_app(assistant)
        apps.append(app)
        return launch(app, "127.0.0.1", _free_port(), block=False, quiet=True)

    try:
        yield start
    finally:
        for app in apps:
            app.close()


# --------------------------------------------------------------------------- helpers


def open_page(driver, url: str) -> None:
    driver.get(url)
    WebDriverWait(driver, FAKE_WAIT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#rag-question textarea"))


def ask(driver, question: str) -> None:
    box = driver.find_element(By.CSS_SELECTOR, "#rag-question textarea")
    box.send_keys(question)
    box.send_keys(Keys.ENTER)


def status_text(driver) -> str:
    return driver.find_element(By.ID, "rag-status").text


def wait_until_answered(driver, timeout: float) -> str:
    """Wait (bounded) for the final status line; returns it."""
    finished = ("answered", "refused", "error")
    try:
        WebDriverWait(driver, timeout, poll_frequency=0.2).until(
            lambda d: any(word in status_text(d) for word in finished)
        )
    except TimeoutException:
        pytest.fail(f"no answer within {timeout} s; status: {status_text(driver)!r}")
    return status_text(driver)


def last_bubble(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#rag-chat .message-row")[-1]


def last_bubble_text(driver) -> str:
    """The last chat bubble's text, "" while the chat is empty (safe inside a wait)."""
    rows = driver.find_elements(By.CSS_SELECTOR, "#rag-chat .message-row")
    return rows[-1].text if rows else ""


def clear_chat(driver) -> None:
    """Empty the chat with its own clear (bin) button, for a clean screenshot."""
    driver.find_element(By.CSS_SELECTOR, "#rag-chat button[aria-label='Clear']").click()
    WebDriverWait(driver, 10).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#rag-chat .message-row"))


def screenshot(driver, artifacts: Path, name: str) -> Path:
    time.sleep(0.3)  # let the last streamed update paint
    path = artifacts / name
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    return path


# --------------------------------------------------------------------------- fake assistant


def test_streamed_answer_links_citations_to_titled_sources(browser, page, artifacts):
    open_page(browser, page(FakeAssistant()))
    ask(browser, "GPT-3 有多少参数?")
    assert "answered" in wait_until_answered(browser, FAKE_WAIT_S)

    links = last_bubble(browser).find_elements(By.CSS_SELECTOR, "a.rag-cite")
    assert [link.text for link in links] == ["[1]", "[2]"]
    sources = browser.find_element(By.ID, "rag-sources")
    first = sources.find_element(By.ID, "src-1")
    assert TITLE in first.text
    second = sources.find_element(By.ID, "src-2")
    assert PAPER_TITLE in second.text and "p. 1" in second.text and "attached after generation" in second.text
    arxiv = second.find_element(By.CSS_SELECTOR, "a.rag-src-link")
    assert arxiv.get_attribute("href") == "https://arxiv.org/abs/2005.14165"
    assert [m.text for m in first.find_elements(By.TAG_NAME, "mark")] == ["GPT-3", "1750 亿"]

    # The document's markup shows as text and never runs.
    assert "<script>window.__pwned=1</script>" in first.text
    assert browser.execute_script("return window.__pwned") is None

    screenshot(browser, artifacts, "fake-answer.png")

    # A marker jumps to its passage in the same tab.
    links[1].click()
    WebDriverWait(browser, 10).until(lambda d: d.execute_script("return location.hash") == "#src-2")
    assert browser.execute_script("return document.getElementById('src-2').matches(':target')")
    assert len(browser.window_handles) == 1


def test_a_numbered_list_answer_is_shown_as_a_list(browser, page):
    open_page(browser, page(FakeAssistant()))
    ask(browser, "Give me a list of two models")
    assert "answered" in wait_until_answered(browser, FAKE_WAIT_S)
    items = last_bubble(browser).find_elements(By.CSS_SELECTOR, "ol li")
    assert [item.text for item in items] == [
        "GPT-3 has 175 billion parameters [1].", "It is 10x larger than any previous model [2].",
    ]
    assert [link.text for item in items for link in item.find_elements(By.CSS_SELECTOR, "a.rag-cite")] == ["[1]", "[2]"]


def test_refusal_is_a_visible_notice_with_closest_passages(browser, page, artifacts):
    open_page(browser, page(FakeAssistant()))
    ask(browser, "Who won the 2030 World Cup?")
    assert "refused" in wait_until_answered(browser, FAKE_WAIT_S)
    bubble = last_bubble(browser)
    assert "文档中没有找到答案" in bubble.text and "don't contain the answer" in bubble.text
    closest = browser.find_element(By.CSS_SELECTOR, "#rag-sources details")
    assert closest.get_attribute("open") is None  # collapsed
    closest.find_element(By.TAG_NAME, "summary").click()
    assert "进化树" in closest.text
    screenshot(browser, artifacts, "fake-refusal.png")


def test_first_visit_shows_loading_then_answers(browser, page, artifacts):
    release = threading.Event()

    def slow_factory():
        release.wait(FAKE_WAIT_S)
        return FakeAssistant()

    try:
        open_page(browser, page(slow_factory))
        banner = browser.find_element(By.ID, "rag-banner")
        assert "loading" in banner.text
        ask(browser, "Transformer 是哪一年提出的?")
        WebDriverWait(browser, FAKE_WAIT_S).until(lambda d: "loading the" in last_bubble_text(d))
        screenshot(browser, artifacts, "fake-loading.png")
    finally:
        release.set()
    assert "answered" in wait_until_answered(browser, FAKE_WAIT_S)
    WebDriverWait(browser, FAKE_WAIT_S).until(lambda d: "Ready" in d.find_element(By.ID, "rag-banner").text)
    assert "qwen2.5-coder" in browser.find_element(By.ID, "rag-footer").text


def test_stop_ends_the_answer_and_frees_the_model(browser, page):
    fake = FakeAssistant()
    open_page(browser, page(fake))
    ask(browser, "an endless answer, please")
    WebDriverWait(browser, FAKE_WAIT_S).until(lambda d: "blah blah" in last_bubble_text(d))
    browser.find_element(By.ID, "rag-stop").click()
    WebDriverWait(browser, FAKE_WAIT_S).until(lambda d: "stopped" in last_bubble_text(d))
    assert fake.stopped.wait(FAKE_WAIT_S)
    # The single generation slot is free again: the next question is answered.
    ask(browser, "GPT-3 有多少参数?")
    WebDriverWait(browser, FAKE_WAIT_S).until(lambda d: "1750" in last_bubble_text(d))
    assert "answered" in wait_until_answered(browser, FAKE_WAIT_S)


def test_question_sent_while_answering_waits_and_is_answered_next(browser, page):
    open_page(browser, page(FakeAssistant()))
    ask(browser, "GPT-3 有多少参数?")
    WebDriverWait(browser, FAKE_WAIT_S).until(lambda d: "GPT-3" in last_bubble_text(d))
    ask(browser, "Who won the 2030 World Cup?")  # while the first answer streams
    # The box is cleared by a round trip to the server, so allow it a moment.
    WebDriverWait(browser, FAKE_WAIT_S).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#rag-question textarea").get_attribute("value") == ""
    )
    WebDriverWait(browser, FAKE_WAIT_S).until(lambda d: "refused" in status_text(d))
    rows = browser.find_elements(By.CSS_SELECTOR, "#rag-chat .message-row")
    assert [r.text.splitlines()[0] for r in rows[::2]] == ["GPT-3 有多少参数?", "Who won the 2030 World Cup?"]
    assert "1750" in rows[1].text and "文档中没有找到答案" in rows[3].text
    assert browser.find_element(By.ID, "rag-waiting").text == ""


def test_example_question_is_asked_on_click(browser, page):
    open_page(browser, page(FakeAssistant()))
    example = next(b for b in browser.find_elements(By.TAG_NAME, "button") if b.text == "Who proposed Word2Vec?")
    example.click()
    assert "answered" in wait_until_answered(browser, FAKE_WAIT_S)
    user_bubbles = browser.find_elements(By.CSS_SELECTOR, "#rag-chat .message-row.user-row")
    assert user_bubbles and "Who proposed Word2Vec?" in user_bubbles[-1].text


# --------------------------------------------------------------------------- real assistant


def test_real_assistant_end_to_end(browser, page, artifacts, tmp_path):
    """Index built from corpus/ in tmp_path, the packaged model, a real question and a refusal."""
    build = pytest.importorskip("ingest.build", reason="ingest/build.py is not written yet")
    answer = pytest.importorskip("rag.answer", reason="rag/answer.py is not written yet")
    from rag.settings import Settings

    index_dir = tmp_path / "index"
    build.build_index(ROOT / "corpus", index_dir, progress=False)
    settings = Settings(corpus_dir=str(ROOT / "corpus"), index_dir=str(index_dir))
    from ingest.index import load_index

    manifest_titles = {doc["title"] for doc in load_index(index_dir).documents.values()}

    open_page(browser, page(lambda: answer.Assistant.from_settings(settings)))
    ask(browser, "GPT-3 有多少参数?")
    assert "answered" in wait_until_answered(browser, REAL_WAIT_S)
    bubble = last_bubble(browser)
    assert "1750" in bubble.text or "175" in bubble.text
    sources = browser.find_element(By.ID, "rag-sources")
    cited = sources.find_elements(By.CSS_SELECTOR, "[id^='src-'] .rag-src-title")
    assert cited and any(title.text in manifest_titles for title in cited)
    for link in bubble.find_elements(By.CSS_SELECTOR, "a.rag-cite"):
        assert sources.find_elements(By.ID, link.get_attribute("href").rsplit("#", 1)[1])
    screenshot(browser, artifacts, "screenshot-answer.png")

    clear_chat(browser)
    ask(browser, "2030 年世界杯的冠军是哪个国家?")
    WebDriverWait(browser, REAL_WAIT_S).until(lambda d: "refused" in status_text(d))
    assert "文档中没有找到答案" in last_bubble(browser).text
    screenshot(browser, artifacts, "screenshot-refusal.png")
