"""BackendStream, driven by a fake backend: the first event within the grace, an empty answer, a client that
leaves, keep-alive pings, a placeholder message_start, and failures mid-stream as an ``event: error``.

Every test checks the backend's iterator was closed: an unclosed one holds a Salesforce connection.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from gateway.anthropic.errors import GatewayError
from gateway.routes.streaming import BackendStream, ClientDisconnected, placeholder_start
from gateway.telemetry import RequestSample

START = {"type": "message_start", "message": {"id": "msg_b", "content": [], "usage": {"input_tokens": 42}}}
ANSWER = [
    START,
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 3},
    },
    {"type": "message_stop"},
]


class FakeBackend:
    """An async iterator of events with a pause before each, optionally failing at the end; records aclose()."""

    def __init__(self, events: list[dict], pause: float = 0.0, fail: Exception | None = None) -> None:
        self.events, self.pause, self.fail = events, pause, fail
        self.sent = 0
        self.closed = False

    def __aiter__(self) -> AsyncIterator[dict]:
        return self

    async def __anext__(self) -> dict:
        await asyncio.sleep(self.pause)
        if self.sent < len(self.events):
            self.sent += 1
            return self.events[self.sent - 1]
        if self.fail is not None:
            raise self.fail
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.closed = True


async def connected() -> dict:
    """An ASGI receive for a client that stays."""
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def disconnected() -> dict:
    return {"type": "http.disconnect"}


def sample() -> RequestSample:
    return RequestSample(route="messages", started=0.0)


def parse(chunks: list[bytes]) -> list[dict]:
    """The JSON payloads of the SSE frames, in order."""
    frames = b"".join(chunks).split(b"\n\n")
    return [json.loads(f.split(b"\ndata: ", 1)[1]) for f in frames if f]


async def relay(backend: FakeBackend, grace: float, keepalive: float = 5.0, placeholder: dict | None = None):
    stream = BackendStream(backend, keepalive)
    first = await stream.first(grace, connected)
    record = sample()
    chunks = [chunk async for chunk in stream.sse(first, placeholder, record)]
    return parse(chunks), record


def test_first_event_within_the_grace_then_the_rest_with_one_ping():
    backend = FakeBackend([*ANSWER, {"type": "never sent"}])
    events, record = asyncio.run(relay(backend, grace=5.0))
    assert [e["type"] for e in events] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    usage = events[-2]["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (42, 3)  # input counts repeated for clients
    assert (record.input_tokens, record.output_tokens) == (42, 3)
    assert backend.closed


def test_silent_backend_gets_pings_and_a_placeholder_start():
    backend = FakeBackend(ANSWER, pause=0.1)
    placeholder = placeholder_start("msg_gateway", "claude-sonnet-4-5", 7)
    events, _ = asyncio.run(relay(backend, grace=0.01, keepalive=0.02, placeholder=placeholder))
    starts = [e for e in events if e["type"] == "message_start"]
    assert [s["message"]["id"] for s in starts] == ["msg_gateway"], "the backend's own start is dropped"
    assert events[0] == placeholder
    assert events[1]["type"] == "ping"
    kinds = [e["type"] for e in events]
    assert kinds.count("ping") > 2, "pings while the backend is silent, not only the one after the first block"
    (delta,) = [e for e in events if e["type"] == "message_delta"]
    assert delta["usage"]["input_tokens"] == 42, "the backend's count wins over the estimate"
    assert kinds[-1] == "message_stop"
    assert backend.closed


def test_first_is_none_while_the_backend_is_silent():
    backend = FakeBackend(ANSWER, pause=3600)

    async def run() -> dict | None:
        stream = BackendStream(backend, keepalive=5.0)
        first = await stream.first(0.01, connected)
        await stream.aclose()
        return first

    assert asyncio.run(run()) is None
    assert backend.closed


def test_an_empty_answer_is_overloaded_before_anything_is_sent():
    backend = FakeBackend([])

    async def run() -> None:
        await BackendStream(backend, keepalive=5.0).first(5.0, connected)

    with pytest.raises(GatewayError) as caught:
        asyncio.run(run())
    assert (caught.value.error_type, caught.value.status) == ("overloaded_error", 529)
    assert caught.value.backend
    assert backend.closed


def test_a_client_that_leaves_stops_the_backend_call():
    backend = FakeBackend(ANSWER, pause=3600)

    async def run() -> None:
        await BackendStream(backend, keepalive=5.0).first(60.0, disconnected)

    with pytest.raises(ClientDisconnected):
        asyncio.run(run())
    assert backend.closed
    assert backend.sent == 0


def test_a_backend_failure_before_the_first_event_is_raised_for_a_real_status():
    backend = FakeBackend([], fail=GatewayError("rate_limit_error", "Too many requests", backend=True))

    async def run() -> None:
        await BackendStream(backend, keepalive=5.0).first(5.0, connected)

    with pytest.raises(GatewayError) as caught:
        asyncio.run(run())
    assert caught.value.status == 429
    assert backend.closed


@pytest.mark.parametrize(
    ("failure", "error_type", "text"),
    [
        (GatewayError("overloaded_error", "Salesforce busy", backend=True), "overloaded_error", "Salesforce busy"),
        (RuntimeError("secret-internals /var/task"), "api_error", "Internal server error"),
    ],
)
def test_a_failure_mid_stream_is_an_error_event(failure, error_type, text):
    backend = FakeBackend(ANSWER[:3], fail=failure)
    events, record = asyncio.run(relay(backend, grace=5.0))
    assert [e["type"] for e in events][:4] == ["message_start", "content_block_start", "ping", "content_block_delta"]
    assert events[-1] == {"type": "error", "error": {"type": error_type, "message": text}}
    assert "secret-internals" not in json.dumps(events)
    assert record.error_type == error_type
    assert backend.closed
