"""Driving the gateway with the real ``anthropic`` SDK, and reading what it sent Salesforce."""

from __future__ import annotations

import uuid

import anthropic

from support.stacks import STREAM_EVENT_TYPES, Stack

# Ways the SDK can send a request: plain JSON, ``create(stream=True)``, and the ``messages.stream`` helper.
MODES = ("json", "create_stream", "stream_helper")


def sdk_request(client: anthropic.Anthropic, mode: str, **params) -> None:
    """Send one request; in the streaming modes only the HTTP answer is awaited, never an event.

    So an error raised here arrived as a real HTTP status before the first byte of a stream:
    an ``event: error`` inside a 200 stream would not raise until the events are iterated.
    """
    params.setdefault("max_tokens", 50)
    if mode == "json":
        client.messages.create(**params)
    elif mode == "create_stream":
        client.messages.create(stream=True, **params).close()
    else:
        with client.messages.stream(**params):
            pass


def check_sdk_error(
    exc: anthropic.APIStatusError,
    cls: type,
    status: int,
    error_type: str,
    message: str | None = None,
    message_prefix: str | None = None,
) -> None:
    """The SDK's view of an error answer: class, status, envelope, message, request id."""
    assert type(exc) is cls, f"{type(exc).__name__} is not {cls.__name__}: {exc}"
    assert exc.status_code == status
    assert isinstance(exc.body, dict), exc.body
    assert exc.body["type"] == "error"
    assert exc.body["error"]["type"] == error_type
    if message is not None:
        assert exc.body["error"]["message"] == message
    if message_prefix is not None:
        assert exc.body["error"]["message"].startswith(message_prefix)
    assert exc.body["request_id"].startswith("req_")
    assert exc.request_id == exc.body["request_id"], "request-id header must be sent once, equal to body.request_id"


def ask(client: anthropic.Anthropic, stream: bool, **params):
    """One message, created or streamed; returns (final message, raw event dicts or None)."""
    if not stream:
        return client.messages.create(**params), None
    with client.messages.stream(**params) as s:
        events = [event.model_dump() for event in s if event.type in STREAM_EVENT_TYPES]
        final = s.get_final_message()
    return final, events


def marker() -> str:
    """A unique word to find this test's request among everything the simulator recorded."""
    return f"mk{uuid.uuid4().hex[:12]}"


def texts(message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def tool_uses(message) -> list:
    return [block for block in message.content if block.type == "tool_use"]


def backend_request_with(stack: Stack, needle: str) -> dict:
    """The one request the gateway sent to the simulator whose body contains ``needle``."""
    found = [r for r in stack.backend_requests() if needle in r["body"]]
    assert len(found) == 1, f"expected one backend request containing {needle!r}, found {len(found)}"
    return found[0]
