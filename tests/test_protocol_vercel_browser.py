"""A ``useChat`` page (``@ai-sdk/react``) in headless Chromium shows a ``"vercel-ui"`` stream.

The page (``tests/js/chat_page.jsx``) is bundled at test time with esbuild from the pinned npm
packages of ``tests/node_support.py``, served with the endpoint by uvicorn, and loaded in
headless Chromium through selenium (set up as in ``tests/test_web_browser.py``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from streamify import protocol_headers, streaming_response

from .node_support import SCRIPTS, run_node
from .protocol_programs import ANSWER, FAILURE, program
from .test_web_browser import WAIT, browser, text
from .web_support import serve

if TYPE_CHECKING:
    from selenium import webdriver
    from starlette.requests import Request

__all__ = ("browser",)  # the fixture, shared with the example's browser test

pytestmark = [pytest.mark.web, pytest.mark.browser]

PAGE = '<!doctype html><meta charset="utf-8"><div id="root"></div><script src="/app.js"></script>'


def _bundle() -> bytes:
    with tempfile.TemporaryDirectory(prefix="streamify-page-") as where:
        out = Path(where) / "app.js"
        entry = str(SCRIPTS / "chat_page.jsx")
        run_node("bundle.mjs", entry, str(out))
        return out.read_bytes()


def _app(script: bytes, fail: bool) -> Starlette:
    ask = program()

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def app_js(request: Request) -> Response:
        return Response(script, media_type="text/javascript")

    async def chat(request: Request) -> Response:
        await request.json()  # useChat's {id, messages, trigger, ...}
        frames = streaming_response(ask("What is it?", fail=fail), protocol="vercel-ui")
        return StreamingResponse(frames, headers=protocol_headers("vercel-ui"))

    routes = [
        Route("/", page),
        Route("/app.js", app_js),
        Route("/api/chat", chat, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _settled(browser: webdriver.Chrome) -> str:
    WebDriverWait(browser, WAIT).until(lambda driver: text(driver, "state") in ("ready", "error"))
    return text(browser, "state")


def test_use_chat_shows_the_streamed_answer(browser: webdriver.Chrome) -> None:
    with serve(_app(_bundle(), fail=False)) as base:
        browser.get(base + "/")
        assert _settled(browser) == "ready", text(browser, "error")
        assert text(browser, "answer") == ANSWER
        parts = text(browser, "parts").split(",")
        assert {"step-start", "reasoning", "tool-search", "text", "data-status"} <= set(parts)
        assert browser.find_element(By.ID, "error").text == ""


def test_use_chat_shows_a_failing_program_as_its_error(browser: webdriver.Chrome) -> None:
    with serve(_app(_bundle(), fail=True)) as base:
        browser.get(base + "/")
        assert _settled(browser) == "error"
        assert text(browser, "error") == FAILURE
        assert ANSWER.startswith(text(browser, "answer"))
