"""``make run`` as a user starts it (``python -m gateway.local_server``, its own process, the built-in simulator)."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import anthropic
import pytest
from support.local_server import COMMAND, local_server_env, start_local_server, wait_until_healthy

from gateway.http_server import bind


@pytest.fixture
def served() -> Iterator[tuple[str, subprocess.Popen]]:
    with bind() as sock:  # a port free now, for the server to take
        port = sock.getsockname()[1]
    process = start_local_server(local_server_env(port))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, lambda: process.stdout.read() if process.stdout else "")
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
        result = subprocess.run(COMMAND, env=local_server_env(port), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port} (Address already in use)" in result.stderr
    assert "PORT=" in result.stderr
    assert "Traceback" not in result.stderr
