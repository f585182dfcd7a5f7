"""Node.js clients under tests/clients/<name>: install the pinned packages, run ``client_checks.mjs``, read its
one JSON object of results."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

CLIENTS = Path(__file__).resolve().parents[1] / "clients"


def install(client: str, what: str) -> Path:
    """``npm ci`` from the lock file (``npm install`` without one); the path of ``node``. Skips without Node.js."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(f"Node.js is not installed (node: {node}, npm: {npm}); the {what} checks need it")
    directory = CLIENTS / client
    has_lock = (directory / "package-lock.json").exists()
    command = [npm, "ci" if has_lock else "install", "--no-audit", "--no-fund", "--prefer-offline"]
    done = subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return Path(node)


def run_checks(node: Path, client: str, args: list[str], home: Path, timeout: float) -> dict:
    """The checks' results, tagged so that a stale output can never pass; no ANTHROPIC_* variable leaks in."""
    tag = f"{client[:2]}{uuid.uuid4().hex[:10]}"
    directory = CLIENTS / client
    command = [str(node), str(directory / "client_checks.mjs"), *args, "--tag", tag]
    env = {"PATH": str(node.parent), "HOME": str(home), "NO_COLOR": "1"}
    done = subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"client_checks.mjs failed:\n{done.stderr}"
    data = json.loads(done.stdout)
    assert data["tag"] == tag
    return data
