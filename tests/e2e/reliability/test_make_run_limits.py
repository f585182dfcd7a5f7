"""``make run`` left running on a shared machine: headers capped, slow clients timed out, concurrency bounded,
memory per request bounded, and log lines that a client can neither forge nor fill with tracebacks.

Each test drives ``python -m gateway.local_server`` in its own process over raw sockets, as an attacker would, and
reads what that process logged.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from support import sockets
from support.local_server import local_server_env, start_local_server, wait_until_healthy
from support.sockets import read_all

from gateway.http_server import bind

LIMITS = {
    "HTTP_MAX_HEADER_BYTES": "16384",
    "HTTP_HEADER_TIMEOUT_SECONDS": "1.5",
    "HTTP_BODY_TIMEOUT_SECONDS": "1.5",
    "HTTP_MAX_CONCURRENCY": "8",
}


@dataclass
class Served:
    url: str
    port: int
    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_log(self, text: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return self.output()
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not logged; got:\n{self.output()}")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with bind() as sock:
        port = sock.getsockname()[1]
    process = start_local_server(local_server_env(port, **LIMITS))
    result = Served(f"http://127.0.0.1:{port}", port, process)
    reader = threading.Thread(target=lambda: result.lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_until_healthy(result.url, process, result.output)
        yield result
    finally:
        process.terminate()
        process.wait(timeout=15)
        assert "Traceback" not in result.output(), result.output()


def connect(served: Served) -> socket.socket:
    return sockets.connect(served.port)


HEAD = (
    "POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\n"
    "anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
)


def test_an_oversize_header_is_refused_with_431(served: Served):
    with connect(served) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 200_000 + b"\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b'"type":"request_too_large"' in answer and b"connection: close" in answer


def test_many_small_headers_add_up_to_the_cap(served: Served):
    headers = "".join(f"x-h{i}: {'v' * 100}\r\n" for i in range(400))  # 400 headers, ~44 KB
    with connect(served) as sock:
        sock.sendall(f"GET /health HTTP/1.1\r\nhost: x\r\n{headers}\r\n".encode())
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert httpx.get(f"{served.url}/health", headers={"x-ok": "v" * 1000}).status_code == 200  # normal ones pass


def test_headers_trickled_a_byte_at_a_time_are_cut_off(served: Served):
    with connect(served) as sock:
        started = time.monotonic()
        answer = b""
        try:
            for byte in HEAD.encode():  # each byte is progress; the deadline still holds
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            pass
        answer = read_all(sock)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"Request headers not received within 1.5 s" in answer
    assert elapsed < len(HEAD) * 0.1, "closed before the head could finish"


def test_a_body_that_stops_coming_is_timed_out_and_logged_as_408(served: Served):
    with connect(served) as sock:
        sock.sendall(f"{HEAD}content-length: 100000\r\n\r\n".encode() + b'{"model": "claude-sonnet-4-5"')
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"Request body not received within 1.5 s" in answer
    output = served.wait_for_log("POST /v1/messages 408")
    assert "POST /v1/messages 499" not in output.split("Request body not received")[-1]


def test_a_connection_that_says_nothing_is_closed(served: Served):
    with connect(served) as sock:
        started = time.monotonic()
        assert read_all(sock) == b""
    assert time.monotonic() - started < 10


def test_connections_beyond_the_limit_get_503(served: Served):
    idle = [connect(served) for _ in range(int(LIMITS["HTTP_MAX_CONCURRENCY"]))]
    try:
        time.sleep(0.2)
        response = httpx.get(f"{served.url}/health")
        assert response.status_code == 503
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 5
    while httpx.get(f"{served.url}/health").status_code != 200:  # and served again once they are gone
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_a_client_that_hangs_up_mid_upload_is_a_499_at_info_without_a_traceback(served: Served):
    for _ in range(3):
        with connect(served) as sock:
            sock.sendall(f"{HEAD}content-length: 1000000\r\n\r\n".encode() + b'{"model": "x", "messages": [' * 100)
            time.sleep(0.2)
    output = served.wait_for_log("INFO POST /v1/messages 499")
    assert "Traceback" not in output and "ClientDisconnect" not in output
    assert "POST /v1/messages 500" not in output


def test_a_path_cannot_forge_a_log_line(served: Served):
    forged = "2026-12-01 00:00:00,000 INFO POST /v1/messages 200 [req_forged]"
    with connect(served) as sock:
        path = "/v1/x%0A" + forged.replace(" ", "%20") + "%0D%1B[2J"
        sock.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\nconnection: close\r\n\r\n".encode())
        assert read_all(sock).startswith(b"HTTP/1.1 404 ")
    output = served.wait_for_log("req_forged")
    assert not any(line.startswith(forged) for line in output.splitlines())
    assert "GET /v1/x\\n2026-12-01 00:00:00,000 INFO POST /v1/messages 200 [req_forged]\\r\\x1b[2J 404" in output


def test_memory_for_millions_of_tiny_values_stays_a_small_multiple_of_the_body(served: Served):
    """11 million ``{}`` in an ignored field (33 MB, under the 32 MiB limit) took 1 GB to parse; refused
    before parsing, the request costs about the body it read."""
    body = b'{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"x":['
    body += b"{}," * (11_000_000 - 1) + b"{}]}"
    assert len(body) <= 32 * 1024 * 1024
    before = served.peak_rss_mb()
    response = httpx.post(
        f"{served.url}/v1/messages",
        content=body,
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 413, response.text
    assert "too many JSON values" in response.json()["error"]["message"]
    grown = served.peak_rss_mb() - before
    assert grown < 3 * len(body) / 2**20, f"peak RSS grew {grown:.0f} MB for a {len(body) / 2**20:.0f} MB body"
