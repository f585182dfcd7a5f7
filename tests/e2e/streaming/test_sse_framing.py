"""The SSE wire format, byte by byte, on every surface: headers, one ``event:`` and one ``data:`` line per
event, message_start usage, blocks in order, message_delta, and the ping after the first block start."""

from __future__ import annotations

import httpx
import pytest
from support.sse import check_event_order, sse_events, sse_frames, sse_text
from support.stacks import STREAM_EVENT_TYPES, SURFACE_MODELS
from support.wire import STOP_REASONS, WEATHER_TOOL, user

SURFACES = list(SURFACE_MODELS)
surfaces = pytest.mark.parametrize("surface", SURFACES)


# What each surface can produce at most, and the blocks that must come back, in order.
STREAM_REQUESTS = {
    "bedrock_invoke": (
        {
            "model": "claude-sonnet-4-6",  # takes thinking; older models refuse it on real orgs (test_thinking.py)
            "max_tokens": 4000,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "tools": [WEATHER_TOOL],
            "messages": user('hello there [[think]] [[tool:get_weather {"city": "Paris"}]]'),
        },
        ["thinking", "text", "tool_use"],
    ),
    "chat_generations": (
        {
            "max_tokens": 400,
            "tools": [WEATHER_TOOL],
            "messages": user('hello there [[tool:get_weather {"city": "Paris"}]]'),
        },
        ["text", "tool_use"],
    ),
    "responses": (
        {
            "max_tokens": 400,
            "tools": [WEATHER_TOOL],
            "messages": user('hello there [[tool:get_weather {"city": "Paris"}]]'),
        },
        ["text", "tool_use"],
    ),
    "models_api": (
        {"max_tokens": 400, "messages": user("hello there, this is a somewhat longer text to stream in pieces")},
        ["text"],
    ),
}
DELTA_FOR_BLOCK = {
    "text": {"text_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
    "tool_use": {"input_json_delta"},
}


def stream_raw(stack, surface: str, path: str = "/v1/messages") -> tuple[httpx.Response, bytes]:
    params, _ = STREAM_REQUESTS[surface]
    body = {"model": SURFACE_MODELS[surface], "stream": True, **params}
    with stack.http() as http, http.stream("POST", path, json=body) as response:
        raw = response.read()
    return response, raw


@pytest.mark.parametrize("surface", SURFACES)
def test_sse_headers(stack, surface):
    response, _ = stream_raw(stack, surface)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == "text/event-stream"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    # httpx asked for gzip (Accept-Encoding); a compressed event stream is held back by proxies and clients.
    assert "gzip" in response.request.headers["accept-encoding"]
    assert "content-encoding" not in response.headers
    assert response.headers.get_list("request-id")[0].startswith("req_")
    assert len(response.headers.get_list("request-id")) == 1


@pytest.mark.parametrize("surface", SURFACES)
def test_sse_framing(stack, surface):
    _, raw = stream_raw(stack, surface)
    assert b"[DONE]" not in raw
    events = sse_frames(raw)  # every event: one event: line, one data: line, data.type == event name
    names = [name for name, _ in events]
    assert names[0] == "message_start"
    assert names[-1] == "message_stop"
    assert names.count("message_start") == 1
    assert names.count("message_stop") == 1
    assert "ping" in names
    assert set(names) <= STREAM_EVENT_TYPES | {"ping"}


@pytest.mark.parametrize("surface", SURFACES)
def test_sse_message_start_usage(stack, surface):
    _, raw = stream_raw(stack, surface)
    _, start = sse_frames(raw)[0]
    message = start["message"]
    assert message["id"].startswith("msg_")
    assert message["type"] == "message"
    assert message["role"] == "assistant"
    assert message["content"] == []
    assert message["model"] == STREAM_REQUESTS[surface][0].get("model", SURFACE_MODELS[surface])
    assert isinstance(message["usage"]["input_tokens"], int)
    assert message["usage"]["input_tokens"] > 0
    assert isinstance(message["usage"]["output_tokens"], int)


@pytest.mark.parametrize("surface", SURFACES)
def test_sse_content_blocks_in_order_without_interleaving(stack, surface):
    _, expected_types = STREAM_REQUESTS[surface]
    _, raw = stream_raw(stack, surface)
    started: list[str] = []
    deltas: dict[int, int] = {}
    open_index: int | None = None
    for name, data in sse_frames(raw):
        if name == "content_block_start":
            assert open_index is None, f"block {data['index']} started while block {open_index} is open"
            assert data["index"] == len(started), f"indexes must be 0, 1, 2... in start order: {data}"
            started.append(data["content_block"]["type"])
            open_index = data["index"]
        elif name == "content_block_delta":
            assert data["index"] == open_index, data
            assert data["delta"]["type"] in DELTA_FOR_BLOCK[started[open_index]], data
            deltas[open_index] = deltas.get(open_index, 0) + 1
        elif name == "content_block_stop":
            assert data["index"] == open_index, data
            open_index = None
        elif name in ("message_delta", "message_stop"):
            assert open_index is None, f"{name} while block {open_index} is open"
    assert started == expected_types
    assert sorted(deltas) == list(range(len(started)))  # every block got at least one delta


@pytest.mark.parametrize("surface", SURFACES)
def test_sse_message_delta(stack, surface):
    _, raw = stream_raw(stack, surface)
    events = sse_frames(raw)
    names = [name for name, _ in events]
    deltas = [data for name, data in events if name == "message_delta"]
    assert deltas
    last_stop = max(i for i, name in enumerate(names) if name == "content_block_stop")
    first_delta = names.index("message_delta")
    assert first_delta > last_stop
    for delta in deltas:
        assert isinstance(delta["usage"]["output_tokens"], int)
        assert delta["usage"]["output_tokens"] > 0
        assert "stop_reason" in delta["delta"]
        assert "stop_sequence" in delta["delta"]
    assert deltas[-1]["delta"]["stop_reason"] in STOP_REASONS


@pytest.mark.parametrize("surface", SURFACES)
def test_sse_ping_follows_first_block_start(stack, surface):
    _, raw = stream_raw(stack, surface)
    names = [name for name, _ in sse_frames(raw)]
    first_start = names.index("content_block_start")
    assert names.index("ping") == first_start + 1


@pytest.mark.parametrize("surface", SURFACES)
def test_sse_is_read_by_the_sdk(client, surface):
    """The same streams, read by the real SDK, give a complete message."""
    params, expected_types = STREAM_REQUESTS[surface]
    with client.messages.stream(**{"model": SURFACE_MODELS[surface], **params}) as stream:
        assert stream.request_id.startswith("req_")
        final = stream.get_final_message()
    assert [block.type for block in final.content] == expected_types
    assert final.stop_reason in STOP_REASONS
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("surface", SURFACES)
def test_streaming_with_beta_query(stack, surface):
    response, raw = stream_raw(stack, surface, path="/v1/messages?beta=true")
    assert response.status_code == 200
    names = [name for name, _ in sse_frames(raw)]
    assert names[0] == "message_start"
    assert names[-1] == "message_stop"


@surfaces
def test_stream_wire_format(stack, surface):
    """Raw SSE: event names match payload types, a ping follows the first block start."""
    body = {"model": SURFACE_MODELS[surface], "max_tokens": 100, "stream": True, "messages": user("Wire level check")}
    with stack.http() as http:
        response = http.post("/v1/messages", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["request-id"].startswith("req_")
    events = sse_events(response.text)
    check_event_order(events)
    kinds = [e["type"] for e in events]
    assert kinds.index("ping") == kinds.index("content_block_start") + 1
    assert sse_text(events) == "Wire level check"
