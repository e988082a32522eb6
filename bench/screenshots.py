"""Take the README's screenshots from a real run: the index in force (build it first with
``rag rebuild --papers-dir ../shared/papers``), the packaged model, headless Chromium.

    python -m bench.screenshots [--out docs] [--papers-dir ../shared/papers] [--question Q]

It serves the page as ``rag serve`` does (settings from defaults, rag.toml and RAG_*),
asks a question that is answered (``--question``) and one that is refused, uploads
``bench/upload-sample.md`` and shoots the page while it is indexed, shows the model
picker, then removes the upload again (the index is rebuilt without it). Times on the
page are this machine's, under whatever else it is running.
"""

from __future__ import annotations

import argparse
import socket
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from rag.settings import load_settings
from ui.app import AssistantLoader, build_app, launch
from ui.extras import page_extras

HERE = Path(__file__).resolve().parent
SAMPLE = HERE / "upload-sample.md"
WAIT_S = 900


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _browser(height: int) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size=1400,{height}", "--lang=en-US"):
        options.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService("/usr/bin/chromedriver"), options=options)


def _status(driver) -> str:
    return driver.find_element(By.ID, "rag-status").text


def _ask(driver, question: str, until: str) -> None:
    box = driver.find_element(By.CSS_SELECTOR, "#rag-question textarea")
    box.send_keys(question)
    box.send_keys(Keys.ENTER)
    WebDriverWait(driver, WAIT_S, poll_frequency=0.5).until(lambda d: until in _status(d))


def _shoot(driver, path: Path, element_id: str | None = None) -> None:
    if element_id:
        driver.execute_script("document.getElementById(arguments[0]).scrollIntoView({block: 'center'})", element_id)
    time.sleep(0.5)  # let the last update paint; the shot's content was waited for already
    if not driver.save_screenshot(str(path)):  # Selenium answers False instead of raising
        raise SystemExit(f"could not write {path}: check that its folder is writable")
    print("wrote", path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs")
    parser.add_argument("--papers-dir", action="append", default=[])
    parser.add_argument("--question", default="GPT-3 有多少参数?",
                        help="the question of the answer screenshot (the script waits until it is answered)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings, _ = load_settings({})
    if args.papers_dir:
        settings = settings.replace(papers_dirs=tuple(args.papers_dir))
    from rag.answer import Assistant

    loader = AssistantLoader(lambda: Assistant.from_settings(settings))
    extras = page_extras(settings, loader, None)
    app = build_app(loader, top_k=settings.top_k, passage_budget=settings.passage_budget, extras=extras)
    url = launch(app, "127.0.0.1", _free_port(), block=False, quiet=True)
    driver = _browser(1000)
    try:
        driver.get(url)
        WebDriverWait(driver, WAIT_S).until(lambda d: "Ready" in d.find_element(By.ID, "rag-banner").text)
        _ask(driver, args.question, "answered")
        _shoot(driver, out / "screenshot-answer.png")
        driver.find_element(By.CSS_SELECTOR, "#rag-chat button[aria-label='Clear']").click()
        _ask(driver, "2030 年世界杯的冠军是哪个国家?", "refused")
        _shoot(driver, out / "screenshot-refusal.png")

        driver.find_element(By.CSS_SELECTOR, "#rag-upload input[type=file]").send_keys(str(SAMPLE))
        WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(
            lambda d: "indexing" in d.find_element(By.ID, "rag-upload-progress").text
        )
        _shoot(driver, out / "screenshot-upload.png", "rag-docs-panel")
        WebDriverWait(driver, WAIT_S).until(lambda d: "index updated" in d.find_element(By.ID, "rag-upload-progress").text)
        _shoot(driver, out / "screenshot-model-picker.png", "rag-model")
    finally:
        driver.quit()
        extras.library.remove(SAMPLE.name)
        extras.library.wait(WAIT_S)
        app.close()


if __name__ == "__main__":
    main()
