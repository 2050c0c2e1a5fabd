"""Test harness: every ``async def`` test runs in a fresh event loop with asyncio debug mode on.

No plugin is needed: ``pytest_pyfunc_call`` drives coroutine tests with ``asyncio.run(...,
debug=True)``, and ``PYTHONASYNCIODEBUG=1`` puts every other loop (a sync consumer's private
loop, say) in debug mode too.  Warnings are errors (see ``pyproject.toml``), every test has a
timeout, and a test that leaves a thread of its own running fails.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import threading
from typing import TYPE_CHECKING, Any

import hypothesis  # noqa: F401  (imported before any gc.freeze: see _collect_garbage)
import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator


def pytest_configure(config: pytest.Config) -> None:
    # Every event loop is in debug mode, including the private loops of sync consumers and
    # the loops tests create themselves (asyncio reads this when a loop is created).
    os.environ["PYTHONASYNCIODEBUG"] = "1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--runslow", action="store_true", default=False, help="also run tests marked slow"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow (.ci/run does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs: dict[str, Any] = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(function(**kwargs), debug=True)
    return True


def _foreign_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [
        thread
        for thread in threading.enumerate()
        if thread not in before
        and thread.is_alive()
        and not thread.name.startswith("streamify-worker")
    ]


_collected_module: list[object] = [None]


def _collect_garbage(module: object) -> None:
    """Run the test's garbage's finalizers now, in a collection that skips older objects.

    What survives a collection is frozen (``gc.freeze``), so the next test's collection
    walks only the objects made since: a full collection over the whole heap after every
    test was most of the suite's time.  The first test of each module unfreezes first, so
    garbage that older objects became is collected at least once per module, and the
    session ends unfrozen (``pytest_sessionfinish``).  ``gc.get_referrers`` does not see
    frozen objects: hypothesis, whose import checks a referrer that way (trio's hook), is
    imported before anything is frozen.
    """
    if module is not _collected_module[0]:
        _collected_module[0] = module
        gc.unfreeze()
    gc.collect()
    gc.freeze()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    gc.unfreeze()


@pytest.fixture(autouse=True)
def _no_stray_threads(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a non-pool thread running (event loop threads included)."""
    before = set(threading.enumerate())
    yield
    _collect_garbage(request.node.module)
    stray = _foreign_threads(before)
    for thread in stray:
        thread.join(timeout=2.0)
    stray = _foreign_threads(before)
    assert not stray, f"threads left running after the test: {stray}"
