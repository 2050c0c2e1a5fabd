"""A real ``redis-server`` for the tests: started on a free loopback port in a temp directory.

``redis_server()`` runs one without persistence (``--save "" --appendonly no``) and stops it on
exit.  Without ``redis-server`` on the PATH or the ``redis`` package, ``require_redis()`` skips
the calling test, unless ``STREAMIFY_REQUIRE_REDIS=1`` (CI sets it) makes that a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ("REQUIRE_REDIS", "RedisServer", "free_port", "redis_server", "require_redis")

REQUIRE_REDIS = os.environ.get("STREAMIFY_REQUIRE_REDIS", "") not in ("", "0")
"""Set by CI: a missing redis-server or redis package fails the Redis tests."""

START_TIMEOUT = 10.0


def require_redis() -> str:
    """The path of ``redis-server``; skips (or fails, with ``STREAMIFY_REQUIRE_REDIS=1``) when
    it or the ``redis`` package is missing."""
    server = shutil.which("redis-server")
    try:
        import redis  # noqa: F401
    except ImportError:
        missing = "the redis package (pip install '.[test]')"
    else:
        missing = "" if server else "redis-server (apt-get install redis-server)"
    if missing:
        if REQUIRE_REDIS:
            pytest.fail(f"STREAMIFY_REQUIRE_REDIS=1 but {missing} is missing")
        pytest.skip(f"{missing} is missing")
    assert server is not None
    return server


def free_port() -> int:
    """A loopback port nothing listens on (free when asked; the server binds it at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process: ``url``, ``port``; :meth:`stop` ends it."""

    def __init__(self, executable: str, port: int, directory: str) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process = subprocess.Popen(
            [
                executable,
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", directory,
                "--daemonize", "no",
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while not _ping(port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {port}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server and wait for its process to end."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """Run a fresh ``redis-server`` for the block (skips or fails as :func:`require_redis`)."""
    executable = require_redis()
    with tempfile.TemporaryDirectory(prefix="streamify-redis-") as directory:
        server = RedisServer(executable, free_port(), directory)
        try:
            yield server
        finally:
            server.stop()
