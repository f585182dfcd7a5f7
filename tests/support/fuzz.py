"""Fuzzing the running gateway over real HTTP: sending, counting, and the properties every answer must hold.

For every response:
- it carries a ``request-id: req_...`` header;
- it is not a 5xx;
- a non-2xx body is Anthropic's envelope ``{"type":"error","error":{"type":T,"message":"..."},
  "request_id":"req_..."}`` with T in ``STATUS_BY_TYPE`` and the status ``STATUS_BY_TYPE[T]``
  (405 is allowed with ``invalid_request_error`` for a wrong method);
- a 2xx stream is well-formed SSE in Anthropic's event order; a 2xx JSON answer has the right shape.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from hypothesis import HealthCheck, Phase, reject, settings
from hypothesis import event as note_event

from gateway.anthropic.errors import STATUS_BY_TYPE

MIN_REQUESTS = 500  # per fuzz module: the properties held over a real number of requests


def fuzz_settings(examples: int) -> settings:
    """Derandomized (the same cases every run), without Hypothesis' slow "explain" phase."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        print_blob=True,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),  # no slow "explain"
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# --- sending and counting ----------------------------------------------------------------------------


@dataclass
class Stats:
    """What one fuzz module sent: requests, their statuses, and how many each test sent."""

    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    tests: Counter = field(default_factory=Counter)


@dataclass
class Answer:
    method: str
    path: str
    status: int
    headers: httpx.Headers
    body: bytes

    def describe(self) -> str:
        return f"{self.method} {self.path} -> {self.status} {self.body[:400]!r}"


class Wire:
    """One reused client; every request is counted, and every body is read to the end."""

    def __init__(self, base_url: str, stats: Stats) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(60, connect=10))
        self.stats = stats

    def send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | Iterator[bytes] | None = None,
        headers: dict | list | None = None,
        params: dict | None = None,
    ) -> Answer:
        for attempt in (1, 2):
            try:
                with self.client.stream(method, path, content=content, headers=headers, params=params) as response:
                    body = response.read()
                break
            except httpx.LocalProtocolError:
                reject()  # httpx itself refuses to send this (an illegal header value): nothing reached the gateway
            except httpx.TransportError as exc:
                # A connection the server closed after an earlier answer; a second failure is this input's.
                assert attempt == 1, f"{method} {path}: the connection failed twice: {exc!r}"
                assert not isinstance(content, Iterator), f"{method} {path}: the connection failed: {exc!r}"
        self.stats.requests += 1
        self.stats.statuses[response.status_code] += 1
        self.stats.tests[os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" ")[0]] += 1
        note_event(f"status {response.status_code}")
        return Answer(method, path, response.status_code, response.headers, body)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def reporting(request: pytest.FixtureRequest, stats: Stats) -> Iterator[None]:
    """Prints the request count at the end; the gateway's per-request INFO lines are muted meanwhile."""
    gateway_log = logging.getLogger("gateway")
    level = gateway_log.level
    gateway_log.setLevel(logging.WARNING)
    # After the gateway's server thread has hit a RecursionError, CPython 3.11.7 can fail to re-parse a test
    # file ("SystemError: AST constructor recursion depth mismatch") when pytest renders a failure in its
    # default style, hiding the falsifying example; the native style does not parse source.
    options = request.config.option
    tbstyle = getattr(options, "tbstyle", None)
    if tbstyle == "auto":
        options.tbstyle = "native"
    started = time.perf_counter()
    try:
        yield
    finally:
        if tbstyle == "auto":
            options.tbstyle = tbstyle
        gateway_log.setLevel(level)
    elapsed = time.perf_counter() - started
    statuses = dict(sorted(stats.statuses.items()))
    line = f"fuzz: {stats.requests} requests, {len(statuses)} distinct statuses: {statuses} in {elapsed:.1f}s"
    line += "\nfuzz: requests per test: " + ", ".join(f"{name}={n}" for name, n in stats.tests.items())
    plugins = request.config.pluginmanager
    capture, reporter = plugins.get_plugin("capturemanager"), plugins.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)
    else:  # pragma: no cover - pytest without capture or terminal reporter
        print(line)


# --- the properties ----------------------------------------------------------------------------------


def check_answer(answer: Answer) -> None:
    request_id = answer.headers.get("request-id")
    assert request_id and request_id.startswith("req_"), f"no request-id header: {answer.describe()}"
    assert answer.status < 500, f"5xx for a request that asked for no backend failure: {answer.describe()}"
    if 200 <= answer.status < 300:
        if answer.method == "HEAD":
            return
        if answer.headers.get("content-type", "").startswith("text/event-stream"):
            check_sse(answer)
        elif answer.method == "POST" and answer.path.startswith("/v1/messages/count_tokens"):
            data = json.loads(answer.body)
            assert isinstance(data.get("input_tokens"), int) and data["input_tokens"] >= 0, answer.describe()
        elif answer.method == "POST" and answer.path.startswith("/v1/messages"):
            check_message(json.loads(answer.body), answer)
        return
    if answer.method == "HEAD":
        return  # no body to look at
    try:
        data = json.loads(answer.body)
    except ValueError:
        raise AssertionError(f"non-2xx answer is not an Anthropic error envelope: {answer.describe()}") from None
    assert isinstance(data, dict) and data.get("type") == "error", f"not an error envelope: {answer.describe()}"
    error = data.get("error")
    assert isinstance(error, dict), f"no error object: {answer.describe()}"
    kind, message = error.get("type"), error.get("message")
    assert kind in STATUS_BY_TYPE, f"unknown error type {kind!r}: {answer.describe()}"
    assert isinstance(message, str) and message, f"empty error message: {answer.describe()}"
    assert data.get("request_id") == request_id, f"request_id differs from the header: {answer.describe()}"
    wrong_method = answer.status == 405 and kind == "invalid_request_error"
    assert answer.status == STATUS_BY_TYPE[kind] or wrong_method, (
        f"status {answer.status} does not match error type {kind}: {answer.describe()}"
    )


def check_message(data: object, answer: Answer) -> None:
    assert isinstance(data, dict), answer.describe()
    assert data.get("type") == "message" and data.get("role") == "assistant", answer.describe()
    assert isinstance(data.get("id"), str) and data["id"].startswith("msg_"), answer.describe()
    assert isinstance(data.get("content"), list), answer.describe()
    usage = data.get("usage")
    assert isinstance(usage, dict), answer.describe()
    assert isinstance(usage.get("input_tokens"), int) and isinstance(usage.get("output_tokens"), int), answer.describe()


DELTA_FOR_BLOCK = {
    "text": {"text_delta", "citations_delta"},
    "tool_use": {"input_json_delta"},
    "server_tool_use": {"input_json_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
}


def sse_events(raw: bytes) -> list[dict]:
    text = raw.decode("utf-8")
    assert text.endswith("\n\n"), f"stream does not end with a blank line: {text[-200:]!r}"
    events = []
    for chunk in text[:-2].split("\n\n"):
        name = data = None
        for line in chunk.split("\n"):
            if line.startswith(":"):
                continue  # a comment (keep-alive)
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                assert data is None, f"more than one data line in one event: {chunk!r}"
                data = value
        assert name and data is not None, f"event without an event: or data: line: {chunk!r}"
        payload = json.loads(data)
        assert isinstance(payload, dict) and payload.get("type") == name, f"type differs from event name: {chunk!r}"
        events.append(payload)
    return events


def check_sse(answer: Answer) -> None:
    events = [e for e in sse_events(answer.body) if e["type"] != "ping"]
    kinds = [e["type"] for e in events]
    assert "error" not in kinds, f"error event in a stream nobody asked to fail: {answer.describe()}"
    assert kinds and kinds[0] == "message_start", f"stream does not open with message_start: {kinds}"
    assert kinds[-1] == "message_stop" and kinds.count("message_stop") == 1, f"bad stream end: {kinds}"
    assert kinds.count("message_start") == 1, f"more than one message_start: {kinds}"
    assert isinstance(events[0]["message"]["usage"]["input_tokens"], int), events[0]
    open_block: tuple[int, str] | None = None
    next_index = 0
    json_parts: list[str] = []
    for event in events[1:-1]:
        kind = event["type"]
        if kind == "content_block_start":
            assert open_block is None, f"block {next_index} starts while another is open: {kinds}"
            assert event["index"] == next_index, f"block index {event['index']} != {next_index}"
            open_block, json_parts = (next_index, event["content_block"]["type"]), []
            next_index += 1
        elif kind == "content_block_delta":
            assert open_block is not None and event["index"] == open_block[0], f"delta outside its block: {event}"
            allowed = DELTA_FOR_BLOCK.get(open_block[1])
            assert allowed is None or event["delta"]["type"] in allowed, f"{event['delta']['type']} in {open_block}"
            if event["delta"]["type"] == "input_json_delta":
                json_parts.append(event["delta"]["partial_json"])
        elif kind == "content_block_stop":
            assert open_block is not None and event["index"] == open_block[0], f"stop outside its block: {event}"
            if json_parts:
                assert isinstance(json.loads("".join(json_parts)), dict), f"tool input is not a JSON object: {event}"
            open_block = None
        elif kind == "message_delta":
            assert open_block is None, f"message_delta while block {open_block} is open"
            assert isinstance(event["usage"]["output_tokens"], int), event
    assert open_block is None, f"block {open_block} never stopped"
    assert "message_delta" in kinds, f"no message_delta: {kinds}"
