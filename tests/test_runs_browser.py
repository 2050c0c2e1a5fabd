"""The web example's page in headless Chromium, on runs: it resumes after a dropped connection.

The app is started with ``cut_after``: the server ends the first connection to each run's
events after that many events, as a proxy or a network change would.  The page's
``EventSource`` reconnects with ``Last-Event-ID`` and must show the whole answer exactly once,
while the program on the server ran once.  Same set-up as ``tests/test_web_browser.py``,
whose ``browser`` fixture and helpers are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from streamify import StreamListener
from tests import test_web_browser
from tests.test_web_browser import ITEM_LINES, QUESTION, STATUS_LINES, lines, text, wait_for
from tests.web_support import ANSWER, REPLY, Gate, create_app, reply_chunks, serve

if TYPE_CHECKING:
    from selenium import webdriver

    from examples.web.app import Activity

pytestmark = [pytest.mark.web, pytest.mark.browser]

browser = test_web_browser.browser
"""The ``browser`` fixture: one headless Chromium for the module."""

CUT_AFTER = 10
"""Events the server sends on a run's first connection before it drops it."""


@pytest.mark.timeout(90)
def test_page_resumes_a_run_after_the_server_cut_its_connection_mid_answer(
    browser: webdriver.Chrome,
) -> None:
    chunks = reply_chunks()
    hold_at = (REPLY.index(ANSWER) + 3 * len(ANSWER) // 4) // len(chunks[0])
    listener = StreamListener("answer")
    held_tokens = [r.chunk for chunk in chunks[:hold_at] for r in listener.feed(chunk)]
    shown_while_held = "".join(held_tokens)
    before_answer = len(STATUS_LINES) - 1 + len(ITEM_LINES) - 1  # events before the first token
    # The cut falls among the answer's tokens, before the program is held: the page resumes
    # while the program is still running.
    assert before_answer < CUT_AFTER < before_answer + len(held_tokens)

    gate = Gate(hold_at)
    app = create_app(delay=0, pace=gate.pace, cut_after=CUT_AFTER)
    activity: Activity = app.state.activity
    with gate, serve(app) as base:
        browser.get(f"{base}/")
        question = browser.find_element("id", "question")
        question.clear()
        question.send_keys(QUESTION)
        browser.find_element("id", "go").click()

        wait_for(browser, lambda: text(browser, "tokens") == shown_while_held, "resumed tokens")
        assert gate.reached.is_set()
        assert len(app.state.cut) == 1, "the server did not cut the connection"
        assert lines(browser, "status") == STATUS_LINES[:-1]
        assert lines(browser, "item") == ITEM_LINES[:2]

        gate.open()
        wait_for(browser, lambda: text(browser, "state") == "done", "the end of the run")
        assert text(browser, "tokens") == ANSWER  # each token once: none lost, none twice
        assert text(browser, "answer") == ANSWER
        assert lines(browser, "status") == STATUS_LINES
        assert lines(browser, "item") == ITEM_LINES
        assert browser.execute_script("return source === null"), "the EventSource is open"
        assert activity.asked == 1  # the program ran once


@pytest.mark.timeout(90)
def test_plain_stream_page_closes_its_event_source_at_the_end(
    browser: webdriver.Chrome,
) -> None:
    app = create_app(delay=0)
    activity: Activity = app.state.activity
    with serve(app) as base:
        browser.get(f"{base}/?plain=1&question=Once")
        wait_for(browser, lambda: text(browser, "state") == "done", "the [DONE] frame")
        assert text(browser, "answer") == ANSWER
        # Closed at the end: an EventSource left open would reconnect and run the program again.
        assert browser.execute_script("return source === null")
        assert activity.asked == 1
        assert app.state.runs is not None and not app.state.cut
