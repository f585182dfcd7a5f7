"""The AWS event-stream decoder: frames split anywhere, exception frames, corrupt bytes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from gateway.anthropic.errors import GatewayError
from gateway.salesforce.eventstream import decode
from simulator.eventstream import chunk_frame, encode_frame, exception_frame


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _decode(data: bytes, size: int) -> list[dict]:
    async def run() -> list[dict]:
        return [event async for event in decode(_chunks(data, size))]

    return asyncio.run(run())


def _decode_until_error(data: bytes, size: int) -> tuple[list[dict], GatewayError]:
    received: list[dict] = []

    async def run() -> None:
        async for event in decode(_chunks(data, size)):
            received.append(event)

    with pytest.raises(GatewayError) as caught:
        asyncio.run(run())
    return received, caught.value


STREAM_EVENTS = [
    {"type": "message_start", "message": {"id": "msg_bdrk_1", "content": [], "usage": {"input_tokens": 3}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "héllo 🎉 "}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "world" * 300}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 3}},
]


@pytest.mark.parametrize("size", [1, 3, 7, 16, 100, 1_000_000])
def test_eventstream_round_trip(size):
    data = b"".join(chunk_frame(e) for e in STREAM_EVENTS)
    assert _decode(data, size) == STREAM_EVENTS


@pytest.mark.parametrize(
    ("exception", "error_type", "status"),
    [
        ("throttlingException", "rate_limit_error", 429),
        ("serviceUnavailableException", "overloaded_error", 529),
        ("modelTimeoutException", "timeout_error", 504),
        ("internalServerException", "api_error", 500),
        ("somethingNewException", "api_error", 500),
    ],
)
def test_eventstream_exception_frame(exception, error_type, status):
    data = chunk_frame(STREAM_EVENTS[0]) + exception_frame(exception, "Too many tokens, please wait.")
    received, error = _decode_until_error(data, 1)
    assert received == [STREAM_EVENTS[0]]
    assert error.error_type == error_type
    assert error.status == status
    assert "Too many tokens, please wait." in error.message


def test_eventstream_exception_with_a_message_that_is_not_text():
    headers = {":exception-type": "validationException", ":message-type": "exception"}
    data = encode_frame(headers, json.dumps({"message": {"detail": "nested"}}).encode())
    _, error = _decode_until_error(data, 5)
    assert error.error_type == "invalid_request_error"
    assert "nested" in error.message


def test_eventstream_validation_overflow_keeps_message():
    data = exception_frame("validationException", "prompt is too long: 210000 tokens > 200000 maximum")
    _, error = _decode_until_error(data, 5)
    assert error.error_type == "invalid_request_error"
    assert error.message == "prompt is too long: 210000 tokens > 200000 maximum"


@pytest.mark.parametrize("where", ["prelude", "payload", "message-crc"])
def test_eventstream_corrupt_bytes(where):
    frame = bytearray(chunk_frame(STREAM_EVENTS[1]))
    position = {"prelude": 5, "payload": len(frame) - 10, "message-crc": len(frame) - 1}[where]
    frame[position] ^= 0xFF
    data = chunk_frame(STREAM_EVENTS[0]) + bytes(frame)
    _, error = _decode_until_error(data, 1)
    assert error.error_type == "api_error"
    assert error.status == 500


def test_eventstream_frame_that_is_not_json():
    frame = encode_frame({":message-type": "event", ":event-type": "chunk"}, b"not json")
    _, error = _decode_until_error(frame, 4)
    assert error.error_type == "api_error"


def test_eventstream_ignores_non_event_frames():
    other = encode_frame({":message-type": "something-else"}, b"{}")
    data = other + chunk_frame(STREAM_EVENTS[0])
    assert _decode(data, 2) == [STREAM_EVENTS[0]]
