"""The web example in a real browser: headless Chromium, driven by selenium.

Needs the web extras (``pip install ".[web]"``) and Debian's ``chromium`` and
``chromium-driver`` packages (``/usr/bin/chromium``, ``/usr/bin/chromedriver``; other paths
through ``STREAMIFY_CHROMIUM`` / ``STREAMIFY_CHROMEDRIVER``).  Set
``STREAMIFY_WEB_SCREENSHOT=/tmp/web_example.png`` to keep screenshots of the page (live,
done and failed).  Missing parts skip these tests, unless ``STREAMIFY_REQUIRE_WEB=1``.
"""

from __future__ import annotations

import os

import pytest

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as missing:  # pragma: no cover - depends on the environment
    if os.environ.get("STREAMIFY_REQUIRE_WEB", "") not in ("", "0"):
        raise
    pytest.skip(
        f"selenium is not installed ({missing.name} is missing): pip install '.[web]'",
        allow_module_level=True,
    )

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from streamify import StreamListener
from tests.web_support import ANSWER, REPLY, REQUIRE_WEB, Gate, create_app, reply_chunks, serve

if TYPE_CHECKING:
    from collections.abc import Iterator

    from examples.web.app import Activity

pytestmark = [pytest.mark.web, pytest.mark.browser]

CHROMIUM = os.environ.get("STREAMIFY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("STREAMIFY_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOT = os.environ.get("STREAMIFY_WEB_SCREENSHOT")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-proxy-server",
    # Without these Chromium waits on network services it cannot reach (loopback only).
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=900,1000",
)
WAIT = 30.0  # seconds: the bound on every wait for the page (never reached when all is well)

QUESTION = "What is <b>6 \u00d7 7</b>?"
STATUS_LINES = [
    f"Starting assistant for {QUESTION!r}",
    "Calling tool search_web...",
    "Tool finished.",
    "Calling tool calculator...",
    "Tool finished.",
    "Asking the LM...",
    "The LM has answered.",
]
ITEM_LINES = [
    "step 1 of 3: looking things up",
    "step 2 of 3: 2 sources; the calculator says 42",
    "step 3 of 3: reading the reply",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the module, with a fresh profile, quit at the end."""
    chromium, chromedriver = shutil.which(CHROMIUM), shutil.which(CHROMEDRIVER)
    if chromium is None or chromedriver is None:
        reason = (
            f"needs Chromium ({CHROMIUM}) and chromedriver ({CHROMEDRIVER}): "
            "apt-get install chromium chromium-driver"
        )
        if REQUIRE_WEB:
            pytest.fail(reason)
        pytest.skip(reason)
    profile = tempfile.mkdtemp(prefix="streamify-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SE_OFFLINE", "true")  # selenium-manager must not download anything
            driver = webdriver.Chrome(options=options, service=Service(chromedriver))
        try:
            driver.set_page_load_timeout(WAIT)
            yield driver
        finally:
            driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def text(browser: webdriver.Chrome, element_id: str) -> str:
    """The exact text of an element (``textContent``: no whitespace normalisation)."""
    content = browser.execute_script(
        "return document.getElementById(arguments[0]).textContent", element_id
    )
    assert isinstance(content, str)
    return content


def lines(browser: webdriver.Chrome, kind: str) -> list[str]:
    return [li.text for li in browser.find_elements(By.CSS_SELECTOR, f"#status li.{kind}")]


def wait_for(browser: webdriver.Chrome, condition: Callable[[], bool], what: str) -> None:
    def check(_: Any) -> bool:
        return condition()

    WebDriverWait(browser, WAIT, poll_frequency=0.02).until(check, f"never happened: {what}")


def screenshot(browser: webdriver.Chrome, suffix: str) -> None:
    if SCREENSHOT:
        path = Path(SCREENSHOT)
        browser.save_screenshot(str(path.with_name(f"{path.stem}{suffix}{path.suffix}")))


@pytest.mark.timeout(90)
def test_page_shows_status_lines_tokens_and_answer_as_they_arrive(
    browser: webdriver.Chrome,
) -> None:
    chunks = reply_chunks()
    hold_at = (REPLY.index(ANSWER) + len(ANSWER) // 2) // len(chunks[0])
    listener = StreamListener("answer")
    shown_while_held = "".join(r.chunk for chunk in chunks[:hold_at] for r in listener.feed(chunk))
    assert 0 < len(shown_while_held) < len(ANSWER)

    gate = Gate(hold_at)
    with gate, serve(create_app(delay=0, pace=gate.pace)) as base:
        browser.get(f"{base}/")
        assert text(browser, "state") == "idle"
        question = browser.find_element(By.ID, "question")
        question.clear()
        question.send_keys(QUESTION)
        browser.find_element(By.ID, "go").click()

        # The LM is held mid-answer: the page already shows what was produced so far.
        wait_for(browser, lambda: text(browser, "tokens") == shown_while_held, "first tokens")
        assert gate.reached.is_set()
        assert text(browser, "state") == "streaming"
        assert text(browser, "answer") == ""
        assert lines(browser, "status") == STATUS_LINES[:-1]
        assert lines(browser, "item") == ITEM_LINES[:2]
        screenshot(browser, "-live")

        gate.open()
        wait_for(browser, lambda: text(browser, "state") == "done", "the [DONE] frame")
        assert text(browser, "tokens") == ANSWER
        assert text(browser, "answer") == ANSWER
        assert lines(browser, "status") == STATUS_LINES
        assert lines(browser, "item") == ITEM_LINES
        # The question's markup was shown as text, never parsed as HTML.
        assert browser.find_elements(By.CSS_SELECTOR, "#status b") == []
        assert browser.find_element(By.ID, "error").is_displayed() is False
        screenshot(browser, "")


@pytest.mark.timeout(90)
def test_page_shows_the_programs_error(browser: webdriver.Chrome) -> None:
    with serve(create_app(delay=0)) as base:
        browser.get(f"{base}/?question=Will+it+fail%3F&fail=1")
        wait_for(browser, lambda: text(browser, "state") == "error", "the error frame")
        assert text(browser, "error") == (
            "ConnectionError: the fake LM lost its connection half-way through"
        )
        assert browser.find_element(By.ID, "error").is_displayed()
        shown = text(browser, "tokens")
        assert shown and ANSWER.startswith(shown) and shown != ANSWER
        assert text(browser, "answer") == ""
        screenshot(browser, "-error")


@pytest.mark.timeout(90)
def test_leaving_the_page_cancels_the_program(browser: webdriver.Chrome) -> None:
    app = create_app(delay=0, tick=0.02)
    activity: Activity = app.state.activity
    with serve(app) as base:
        browser.get(f"{base}/?question=Tick&endless=1")
        wait_for(browser, lambda: len(lines(browser, "item")) >= 3, "three heartbeats")
        assert not activity.cancelled.is_set()

        browser.get("about:blank")  # the page goes away, and its EventSource with it
        assert activity.cancelled.wait(WAIT), "the program was not cancelled"
        assert activity.finished.wait(WAIT)
