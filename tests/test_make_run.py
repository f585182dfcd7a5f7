"""``make run`` as a user starts it (``python -m gateway.local_server``, its own process, the built-in simulator)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest

from gateway.http_server import bind

ROOT = Path(__file__).resolve().parents[1]


def _env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "MODEL_MAP", "GATEWAY_API_KEYS"))}
    return {**env, "PYTHONPATH": str(ROOT / "shared"), "PORT": str(port), "LOG_LEVEL": "INFO"}


@pytest.fixture
def served() -> Iterator[tuple[str, subprocess.Popen]]:
    with bind() as sock:  # a port free now, for the server to take
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.local_server"],
        env=_env(port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"make run did not start: {process.stdout.read() if process.stdout else ''}")
            time.sleep(0.05)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_make_run_answers_the_sdk_on_the_simulator_and_logs_no_secret(served):
    url, process = served
    client = anthropic.Anthropic(base_url=url, api_key="any-key-locally", max_retries=0)
    message = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "Hello, Salesforce"}]
    )
    assert message.content[0].text == "Hello, Salesforce"
    with client.messages.stream(
        model="claude-opus-5-5", max_tokens=64, messages=[{"role": "user", "content": "streamed hello"}]
    ) as stream:
        assert stream.get_final_text() == "streamed hello"
    process.terminate()
    output, _ = process.communicate(timeout=15)
    assert "built-in simulator" in output
    assert f"ANTHROPIC_BASE_URL={url}" in output
    assert "POST /v1/messages 200" in output
    assert "Traceback" not in output
    assert "simulator-client-secret" not in output and "Bearer ey" not in output


def test_make_run_on_a_taken_port_says_so_without_a_traceback():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "gateway.local_server"], env=_env(port), capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port} (Address already in use)" in result.stderr
    assert "PORT=" in result.stderr
    assert "Traceback" not in result.stderr
