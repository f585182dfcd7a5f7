"""``make run`` as a user starts it: ``python -m gateway.local_server`` in its own process, on the built-in
simulator, with none of the caller's Salesforce, model map, key or HTTP-limit settings."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "gateway.local_server"]


def local_server_env(port: int, **extra: str) -> dict[str, str]:
    """This process's environment without settings that would point the server elsewhere, on ``port``."""
    inherited = ("SF_", "MODEL_MAP", "GATEWAY_API_KEYS", "HTTP_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    return {**env, "PYTHONPATH": str(ROOT / "shared"), "PORT": str(port), "LOG_LEVEL": "INFO", **extra}


def start_local_server(env: dict[str, str]) -> subprocess.Popen:
    """The server with its output (stderr included) on a text pipe."""
    return subprocess.Popen(COMMAND, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_until_healthy(url: str, process: subprocess.Popen, output: Callable[[], str], timeout: float = 30) -> None:
    """Poll ``/health`` until it answers 200; fail with what the server printed if it exits or never does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"make run did not start: {output()}")
        time.sleep(0.05)
