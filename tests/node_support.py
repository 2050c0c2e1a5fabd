"""Node.js for the protocol tests: pinned npm packages in a cache, and node scripts to run.

The real clients of the ``"vercel-ui"`` and ``"ag-ui"`` protocols are npm packages (the AI
SDK's ``ai``, ``@ag-ui/client`` / ``@ag-ui/core``).  :func:`node_modules` installs the pinned
versions once into a cache outside the repo (``$XDG_CACHE_HOME/streamify-tests/node-<hash>``,
``~/.cache`` by default), under a file lock so two xdist workers never race, and skips the
install when the cache already holds exactly these versions.  :func:`run_node` runs a script
of ``tests/js/`` with that cache as its ``node_modules``, under a hard timeout.

Importing this module skips the importing test module when ``node`` or ``npm`` is missing,
unless ``STREAMIFY_REQUIRE_NODE=1`` (CI sets it) makes that an error.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

__all__ = ("PACKAGES", "REQUIRE_NODE", "SCRIPTS", "node_modules", "run_node")

REQUIRE_NODE = os.environ.get("STREAMIFY_REQUIRE_NODE", "") not in ("", "0")
"""Set by CI: a missing node or npm fails the protocol client tests instead of skipping."""

PACKAGES = {
    "ai": "5.0.277",  # AI SDK 5: the UI message stream protocol v1
    "@ai-sdk/react": "2.0.280",  # useChat for ai 5.0.277
    "react": "19.3.1",
    "react-dom": "19.3.1",
    "esbuild": "0.28.2",  # bundles the useChat page at test time
    "@ag-ui/client": "1.0.0",
    "@ag-ui/core": "1.0.0",
    "zod": "3.25.76",
}
"""The npm packages the protocol tests read with, pinned; one install serves every test."""

SCRIPTS = Path(__file__).parent / "js"
INSTALL_TIMEOUT = 300.0
RUN_TIMEOUT = 60.0

NODE = shutil.which("node")
NPM = shutil.which("npm")
if NODE is None or NPM is None:  # pragma: no cover - depends on the machine
    if REQUIRE_NODE:
        raise RuntimeError("STREAMIFY_REQUIRE_NODE=1 but node or npm is not on PATH")
    pytest.skip("node and npm are needed (apt-get install nodejs npm)", allow_module_level=True)


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "streamify-tests"


def node_modules(packages: dict[str, str] = PACKAGES) -> Path:
    """The prefix directory holding ``packages`` installed (installing them if needed)."""
    spec = json.dumps(packages, sort_keys=True)
    prefix = _cache_root() / f"node-{hashlib.sha256(spec.encode()).hexdigest()[:16]}"
    stamp = prefix / "installed.json"
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker installing: wait for it
        if stamp.exists() and stamp.read_text() == spec:
            return prefix
        (prefix / "package.json").write_text('{"private": true}\n')
        command = [str(NPM), "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]
        command += ["--loglevel=error", "--ignore-scripts"]
        command += [f"{name}@{version}" for name, version in packages.items()]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"npm install failed:\n{done.stdout}\n{done.stderr}")
        stamp.write_text(spec)
    return prefix


def run_node(script: str, *args: str, packages: dict[str, str] = PACKAGES) -> Any:
    """Run ``tests/js/<script>`` with ``args``; return the JSON it printed on its last line."""
    prefix = node_modules(packages)
    # An ES module resolves bare imports from its own directory upwards, so the script runs
    # from a copy inside the prefix (NODE_PATH is for CommonJS only).
    target = prefix / f".run-{os.getpid()}-{script}"
    shutil.copyfile(SCRIPTS / script, target)
    env = {**os.environ, "NODE_PATH": str(prefix / "node_modules")}
    env["SUPPRESS_TRANSFORMATION_WARNINGS"] = "true"
    try:
        done = subprocess.run(
            [str(NODE), str(target), *args],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            cwd=prefix,
            env=env,
            check=False,
        )
    finally:
        target.unlink()
    if done.returncode != 0:
        raise AssertionError(f"node {script} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])
