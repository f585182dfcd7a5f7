"""POST /v1/messages through the real ``anthropic`` SDK (and raw HTTP where the wire matters).

Every test drives the running local gateway in front of the Salesforce simulator. The simulator
echoes the last user text (directives removed), so expected values are derived from the input.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import uuid
import zlib
from pathlib import Path

import anthropic
import pytest
from conftest import STREAM_EVENT_TYPES, SURFACE_MODELS

# --------------------------------------------------------------------------------------------------
# Constants and helpers
# --------------------------------------------------------------------------------------------------

ALL_SURFACES = list(SURFACE_MODELS)
TOOL_SURFACES = ["bedrock_invoke", "chat_generations", "responses"]
TEXT_ONLY_SURFACES = ["models_api"]
BEDROCK = SURFACE_MODELS["bedrock_invoke"]
# Thinking as sent: Claude 4.6+ take it (adaptive); older models refuse it on real orgs (see test_thinking.py).
THINKING_MODEL = "claude-sonnet-4-6"

FIXTURES = Path(__file__).parent / "fixtures" / "claude_code"

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
WEATHER_INPUT = {"city": "Paris"}
WEATHER_QUESTION = "What is the weather in Paris?"
WEATHER_PROMPT = f"{WEATHER_QUESTION} [[tool:get_weather {json.dumps(WEATHER_INPUT)}]]"
TOOL_RESULT = "22 degrees"

THINKING = {"type": "enabled", "budget_tokens": 1024}
THINK_QUESTION = "Consider the meaning of seven"
THINK_PROMPT = f"{THINK_QUESTION} [[think]]"

COUNTING = "one two three four five six"

# A conversation with history; the simulator answers with the last user text.
CONVERSATION = [
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Please repeat: streamed and non-streamed answers must match, word for word."},
]
CONVERSATION_ANSWER = CONVERSATION[-1]["content"]

surfaces = pytest.mark.parametrize("surface", ALL_SURFACES)
tool_surfaces = pytest.mark.parametrize("surface", TOOL_SURFACES)
streamed = pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def marker() -> str:
    """A unique word to find this test's request among everything the simulator recorded."""
    return f"mk{uuid.uuid4().hex[:12]}"


def texts(message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def tool_uses(message) -> list:
    return [block for block in message.content if block.type == "tool_use"]


def ask(client: anthropic.Anthropic, stream: bool, **params):
    """One message, created or streamed; returns (final message, raw event dicts or None)."""
    if not stream:
        return client.messages.create(**params), None
    with client.messages.stream(**params) as s:
        events = [event.model_dump() for event in s if event.type in STREAM_EVENT_TYPES]
        final = s.get_final_message()
    return final, events


def check_event_order(events: list[dict]) -> list[dict]:
    """Assert Anthropic's stream grammar; return the content_block_start events in order.

    message_start first, then blocks 0, 1, 2... each opened, filled and closed before the next,
    then message_delta carrying usage.output_tokens, then message_stop last. ``ping`` may appear.
    """
    events = [e for e in events if e["type"] != "ping"]
    assert events, "empty stream"
    assert events[0]["type"] == "message_start"
    assert events[-1]["type"] == "message_stop"
    assert events[-2]["type"] == "message_delta"
    assert isinstance(events[-2]["usage"]["output_tokens"], int)
    assert events[-2]["usage"]["output_tokens"] > 0
    starts: list[dict] = []
    open_index: int | None = None
    for event in events[1:-2]:
        kind = event["type"]
        if kind == "content_block_start":
            assert open_index is None, f"block {event['index']} opened while {open_index} is open"
            assert event["index"] == len(starts), f"block index {event['index']}, expected {len(starts)}"
            open_index = event["index"]
            starts.append(event)
        elif kind in ("content_block_delta", "content_block_stop"):
            assert event["index"] == open_index, f"{kind} for block {event['index']}, open is {open_index}"
            if kind == "content_block_stop":
                open_index = None
        else:
            pytest.fail(f"unexpected event {kind} inside the message: {event}")
    assert open_index is None, "a block was never closed"
    return starts


def deltas(events: list[dict], delta_type: str, index: int | None = None) -> list[dict]:
    return [
        e["delta"]
        for e in events
        if e["type"] == "content_block_delta"
        and e["delta"]["type"] == delta_type
        and (index is None or e["index"] == index)
    ]


def parse_sse(text: str) -> list[dict]:
    """Anthropic SSE frames as event dicts; each frame's ``event:`` name must equal its ``type``."""
    out = []
    for frame in text.split("\n\n"):
        if not frame.strip():
            continue
        name, data = None, []
        for line in frame.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        event = json.loads("\n".join(data))
        assert name == event["type"], f"event name {name!r} does not match payload type {event['type']!r}"
        out.append(event)
    return out


def sse_text(events: list[dict]) -> str:
    return "".join(d["text"] for d in deltas(events, "text_delta"))


def backend_request_with(stack, needle: str) -> dict:
    """The one request the gateway sent to the simulator whose body contains ``needle``."""
    found = [r for r in stack.backend_requests() if needle in r["body"]]
    assert len(found) == 1, f"expected one backend request containing {needle!r}, found {len(found)}"
    return found[0]


def system_text_sent(surface: str, body: dict) -> str:
    """The system prompt as the gateway sent it to the surface."""
    if surface == "bedrock_invoke":
        system = body.get("system") or []
        return "\n".join(b["text"] for b in system) if isinstance(system, list) else system
    if "input" in body:  # /responses: input items, the system prompt as a system message
        parts = [i["content"] for i in body["input"] if i.get("role") == "system"]
        return "\n".join(p["text"] for content in parts for p in content)
    return "\n".join(m["content"] for m in body["messages"] if m["role"] == "system")


def png(width: int = 4, height: int = 4) -> bytes:
    """A valid RGB PNG, built by hand."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff\x80\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def image_message(text: str) -> list[dict]:
    data = base64.b64encode(png()).decode()
    return [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}},
                {"type": "text", "text": text},
            ],
        }
    ]


def b64url_json(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def claude_code_request() -> tuple[dict, dict]:
    """The captured Claude Code body, and its headers minus transport and the redacted key."""
    body = json.loads((FIXTURES / "messages_request.json").read_text())
    captured = json.loads((FIXTURES / "messages_request.headers.json").read_text())
    skip = {"host", "content-length", "connection", "accept-encoding", "x-api-key"}
    headers = {k: v for k, v in captured["headers"].items() if k.lower() not in skip}
    headers["x-api-key"] = "test-key"
    return body, headers


def last_user_texts(body: dict) -> list[str]:
    last = next(m for m in reversed(body["messages"]) if m["role"] == "user")
    content = last["content"]
    if isinstance(content, str):
        return [content]
    return [b["text"] for b in content if b.get("type") == "text"]


def expected_echo(body: dict, surface: str) -> str:
    """What the simulator echoes for this body on this surface.

    Anthropic-native bodies keep blocks apart, so the answer is the last text block of the last
    user message. Text-only surfaces carry one string per turn: the blocks joined by blank lines.
    """
    if surface == "bedrock_invoke":
        return last_user_texts(body)[-1]
    return "\n\n".join(last_user_texts(body)).strip()


# --------------------------------------------------------------------------------------------------
# 1. create on every surface
# --------------------------------------------------------------------------------------------------


@surfaces
def test_create_echoes_text_with_anthropic_shape(client, surface):
    prompt = f"Echo this sentence back {marker()} please"
    raw = client.messages.with_raw_response.create(model=SURFACE_MODELS[surface], max_tokens=100, messages=user(prompt))
    assert raw.headers["request-id"].startswith("req_")
    message = raw.parse()
    assert message.type == "message"
    assert message.role == "assistant"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == prompt
    assert message.id.startswith("msg_")
    assert message.model == SURFACE_MODELS[surface]
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0
    # The simulator counts whitespace-separated words; the gateway must pass its counts through.
    assert message.usage.output_tokens == len(prompt.split())
    assert message.usage.input_tokens == len(prompt.split())


@surfaces
def test_request_ids_and_message_ids_are_unique(client, surface):
    prompt = "Unique ids please"
    first = client.messages.with_raw_response.create(
        model=SURFACE_MODELS[surface], max_tokens=50, messages=user(prompt)
    )
    second = client.messages.with_raw_response.create(
        model=SURFACE_MODELS[surface], max_tokens=50, messages=user(prompt)
    )
    assert first.headers["request-id"] != second.headers["request-id"]
    assert first.parse().id != second.parse().id


# --------------------------------------------------------------------------------------------------
# 2. streaming on every surface
# --------------------------------------------------------------------------------------------------


@surfaces
def test_stream_matches_create(client, surface):
    params = {
        "model": SURFACE_MODELS[surface],
        "max_tokens": 200,
        "system": "Answer plainly.",
        "messages": CONVERSATION,
    }
    created = client.messages.create(**params)
    assert texts(created) == CONVERSATION_ANSWER

    with client.messages.stream(**params) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
        assert stream.request_id.startswith("req_")
    assert "".join(pieces) == texts(created)
    assert len(pieces) > 1, "the answer should arrive in more than one piece"
    assert [b.model_dump() for b in final.content] == [b.model_dump() for b in created.content]
    assert final.id.startswith("msg_")
    assert final.id != created.id
    assert final.model == SURFACE_MODELS[surface]
    assert final.stop_reason == created.stop_reason == "end_turn"
    assert final.usage.output_tokens == created.usage.output_tokens
    assert final.usage.input_tokens == created.usage.input_tokens


@surfaces
def test_stream_event_order(client, surface):
    params = {"model": SURFACE_MODELS[surface], "max_tokens": 200, "messages": CONVERSATION}
    with client.messages.stream(**params) as stream:
        events = [e.model_dump() for e in stream if e.type in STREAM_EVENT_TYPES]
        final = stream.get_final_message()
    starts = check_event_order(events)
    assert [s["content_block"]["type"] for s in starts] == ["text"]
    start = events[0]["message"]
    assert start["id"] == final.id
    assert start["model"] == SURFACE_MODELS[surface]
    assert start["content"] == []
    assert start["usage"]["input_tokens"] > 0
    assert events[-2]["delta"]["stop_reason"] == "end_turn"
    assert events[-2]["usage"]["output_tokens"] == final.usage.output_tokens == len(CONVERSATION_ANSWER.split())
    assert sse_text(events) == CONVERSATION_ANSWER


@surfaces
def test_stream_wire_format(stack, surface):
    """Raw SSE: event names match payload types, a ping follows the first block start."""
    body = {"model": SURFACE_MODELS[surface], "max_tokens": 100, "stream": True, "messages": user("Wire level check")}
    with stack.http() as http:
        response = http.post("/v1/messages", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["request-id"].startswith("req_")
    events = parse_sse(response.text)
    check_event_order(events)
    kinds = [e["type"] for e in events]
    assert kinds.index("ping") == kinds.index("content_block_start") + 1
    assert sse_text(events) == "Wire level check"


# --------------------------------------------------------------------------------------------------
# 3. tool use
# --------------------------------------------------------------------------------------------------


@tool_surfaces
def test_tool_use_create(client, surface):
    message = client.messages.create(
        model=SURFACE_MODELS[surface], max_tokens=200, tools=[WEATHER_TOOL], messages=user(WEATHER_PROMPT)
    )
    assert message.stop_reason == "tool_use"
    calls = tool_uses(message)
    assert len(calls) == 1
    assert calls[0].id.startswith("toolu_")
    assert calls[0].name == WEATHER_TOOL["name"]
    assert calls[0].input == WEATHER_INPUT
    assert texts(message) == WEATHER_QUESTION
    assert message.content[-1].type == "tool_use"


@tool_surfaces
def test_tool_use_stream_sends_input_json_deltas(client, surface):
    params = {
        "model": SURFACE_MODELS[surface],
        "max_tokens": 200,
        "tools": [WEATHER_TOOL],
        "messages": user(WEATHER_PROMPT),
    }
    with client.messages.stream(**params) as stream:
        events = [e.model_dump() for e in stream if e.type in STREAM_EVENT_TYPES]
        final = stream.get_final_message()
    starts = check_event_order(events)
    assert [s["content_block"]["type"] for s in starts] == ["text", "tool_use"]
    tool_start = starts[1]["content_block"]
    assert tool_start["id"].startswith("toolu_")
    assert tool_start["name"] == "get_weather"
    fragments = deltas(events, "input_json_delta", index=starts[1]["index"])
    assert len(fragments) >= 1
    assert json.loads("".join(f["partial_json"] for f in fragments)) == WEATHER_INPUT
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    assert final.stop_reason == "tool_use"
    calls = tool_uses(final)
    assert len(calls) == 1
    assert calls[0].id == tool_start["id"]
    assert calls[0].input == WEATHER_INPUT
    assert texts(final) == WEATHER_QUESTION


@tool_surfaces
@streamed
def test_tool_loop_returns_tool_result(client, surface, stream):
    model = SURFACE_MODELS[surface]
    first, _ = ask(client, stream, model=model, max_tokens=200, tools=[WEATHER_TOOL], messages=user(WEATHER_PROMPT))
    (call,) = tool_uses(first)
    history = [
        *user(WEATHER_PROMPT),
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": TOOL_RESULT}]},
    ]
    second, _ = ask(client, stream, model=model, max_tokens=200, tools=[WEATHER_TOOL], messages=history)
    assert texts(second) == f"Tool result: {TOOL_RESULT}"
    assert tool_uses(second) == []
    assert second.stop_reason == "end_turn"


@tool_surfaces
def test_tool_result_as_block_list(client, surface):
    """tool_result content as a list of text blocks reaches the model as text too."""
    model = SURFACE_MODELS[surface]
    first = client.messages.create(model=model, max_tokens=200, tools=[WEATHER_TOOL], messages=user(WEATHER_PROMPT))
    (call,) = tool_uses(first)
    result = {"type": "tool_result", "tool_use_id": call.id, "content": [{"type": "text", "text": TOOL_RESULT}]}
    history = [
        *user(WEATHER_PROMPT),
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [result]},
    ]
    second = client.messages.create(model=model, max_tokens=200, tools=[WEATHER_TOOL], messages=history)
    assert texts(second) == f"Tool result: {TOOL_RESULT}"


@tool_surfaces
@streamed
def test_tool_call_without_text_is_a_single_block(client, surface, stream):
    prompt = f"[[tool:get_weather {json.dumps(WEATHER_INPUT)}]]"
    message, events = ask(
        client, stream, model=SURFACE_MODELS[surface], max_tokens=200, tools=[WEATHER_TOOL], messages=user(prompt)
    )
    assert [b.type for b in message.content] == ["tool_use"]
    assert message.content[0].input == WEATHER_INPUT
    assert message.stop_reason == "tool_use"
    if events is not None:
        starts = check_event_order(events)
        assert [(s["index"], s["content_block"]["type"]) for s in starts] == [(0, "tool_use")]


@surfaces
def test_bedrock_history_replays_on_every_surface(client, surface):
    """A conversation begun on Claude (thinking + tool call) continues on any surface."""
    prompt = f"{WEATHER_PROMPT} [[think]]"
    first = client.messages.create(
        model=THINKING_MODEL, max_tokens=2048, thinking=THINKING, tools=[WEATHER_TOOL], messages=user(prompt)
    )
    assert [b.type for b in first.content] == ["thinking", "text", "tool_use"]
    history = [
        *user(prompt),
        {"role": "assistant", "content": first.content},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": first.content[2].id, "content": TOOL_RESULT}],
        },
    ]
    tools = [WEATHER_TOOL] if surface in TOOL_SURFACES else []  # a text-only surface refuses tools (400)
    reply = client.messages.create(model=SURFACE_MODELS[surface], max_tokens=200, tools=tools, messages=history)
    assert tool_uses(reply) == []
    if surface in TOOL_SURFACES:
        assert texts(reply) == f"Tool result: {TOOL_RESULT}"
    else:  # text only: the tool turns arrive flattened to text, and the echo carries the result
        assert TOOL_RESULT in texts(reply)


@pytest.mark.parametrize("surface", TEXT_ONLY_SURFACES)
@streamed
def test_tools_on_text_only_surface_are_refused(client, surface, stream):
    """Not silently ignored: a clear 400 naming models that can call tools (tests/test_salesforce_client.py)."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask(
            client,
            stream,
            model=SURFACE_MODELS[surface],
            max_tokens=200,
            tools=[WEATHER_TOOL],
            messages=user(WEATHER_PROMPT),
        )
    assert "cannot carry tools" in caught.value.body["error"]["message"]


# --------------------------------------------------------------------------------------------------
# 4. thinking (bedrock_invoke)
# --------------------------------------------------------------------------------------------------


def test_thinking_create_gives_signed_thinking_block(client):
    message = client.messages.create(
        model=THINKING_MODEL, max_tokens=2048, thinking=THINKING, messages=user(THINK_PROMPT)
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    thinking = message.content[0]
    assert thinking.signature
    assert THINK_QUESTION in thinking.thinking
    assert message.content[1].text == THINK_QUESTION
    assert message.stop_reason == "end_turn"


def test_thinking_stream_gives_thinking_and_signature_deltas(client):
    with client.messages.stream(
        model=THINKING_MODEL, max_tokens=2048, thinking=THINKING, messages=user(THINK_PROMPT)
    ) as stream:
        events = [e.model_dump() for e in stream if e.type in STREAM_EVENT_TYPES]
        final = stream.get_final_message()
    starts = check_event_order(events)
    assert [s["content_block"]["type"] for s in starts] == ["thinking", "text"]
    thinking_pieces = deltas(events, "thinking_delta", index=0)
    signatures = deltas(events, "signature_delta", index=0)
    assert thinking_pieces
    assert len(signatures) == 1
    assert signatures[0]["signature"]
    assert final.content[0].type == "thinking"
    assert final.content[0].thinking == "".join(p["thinking"] for p in thinking_pieces)
    assert final.content[0].signature == signatures[0]["signature"]
    assert final.content[1].text == THINK_QUESTION


def test_three_blocks_stream_in_index_order(client):
    """thinking + text + tool_use: blocks 0, 1, 2, each closed before the next opens."""
    prompt = f"{WEATHER_PROMPT} [[think]]"
    with client.messages.stream(
        model=THINKING_MODEL, max_tokens=2048, thinking=THINKING, tools=[WEATHER_TOOL], messages=user(prompt)
    ) as stream:
        events = [e.model_dump() for e in stream if e.type in STREAM_EVENT_TYPES]
        final = stream.get_final_message()
    starts = check_event_order(events)
    assert [s["index"] for s in starts] == [0, 1, 2]
    assert [s["content_block"]["type"] for s in starts] == ["thinking", "text", "tool_use"]
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[2].input == WEATHER_INPUT
    assert final.stop_reason == "tool_use"


@streamed
def test_thinking_block_round_trips(stack, client, stream):
    first, _ = ask(
        client, stream, model=THINKING_MODEL, max_tokens=2048, thinking=THINKING, messages=user(THINK_PROMPT)
    )
    thinking = first.content[0]
    assert thinking.type == "thinking"
    follow_up = f"And now say this {marker()}"
    history = [*user(THINK_PROMPT), {"role": "assistant", "content": first.content}, *user(follow_up)]
    second, _ = ask(client, stream, model=THINKING_MODEL, max_tokens=2048, thinking=THINKING, messages=history)
    assert texts(second) == follow_up
    # The signed block reached the backend unchanged (and the simulator verified the signature).
    sent = json.loads(backend_request_with(stack, follow_up)["body"])
    assistant = [m for m in sent["messages"] if m["role"] == "assistant"][-1]
    assert assistant["content"][0] == {
        "type": "thinking",
        "thinking": thinking.thinking,
        "signature": thinking.signature,
    }


@streamed
def test_tampered_thinking_signature_is_rejected(client, stream):
    first = client.messages.create(
        model=THINKING_MODEL, max_tokens=2048, thinking=THINKING, messages=user(THINK_PROMPT)
    )
    thinking = first.content[0]
    forged = base64.b64encode(b"\x00" * 32).decode()
    assert forged != thinking.signature
    tampered = {"type": "thinking", "thinking": thinking.thinking, "signature": forged}
    history = [
        *user(THINK_PROMPT),
        {"role": "assistant", "content": [tampered, {"type": "text", "text": texts(first)}]},
        *user("Next"),
    ]
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask(client, stream, model=THINKING_MODEL, max_tokens=2048, thinking=THINKING, messages=history)
    assert caught.value.status_code == 400
    assert "signature" in str(caught.value)


@streamed
def test_adaptive_thinking_is_accepted(client, stream):
    message, _ = ask(
        client,
        stream,
        model=THINKING_MODEL,
        max_tokens=2048,
        thinking={"type": "adaptive"},
        messages=user(THINK_PROMPT),
    )
    assert message.content[0].type == "thinking"
    assert message.content[0].signature
    assert texts(message) == THINK_QUESTION


@pytest.mark.parametrize("surface", ["models_api", "chat_generations"])
def test_thinking_on_surfaces_without_it_still_answers(client, surface):
    message = client.messages.create(
        model=SURFACE_MODELS[surface], max_tokens=2048, thinking=THINKING, messages=user(THINK_PROMPT)
    )
    assert [b.type for b in message.content] == ["text"]
    assert texts(message) == THINK_QUESTION


# --------------------------------------------------------------------------------------------------
# 5. max_tokens and stop_sequences
# --------------------------------------------------------------------------------------------------


@surfaces
@streamed
def test_max_tokens_cuts_the_answer(client, surface, stream):
    model = SURFACE_MODELS[surface]
    full, _ = ask(client, stream, model=model, max_tokens=100, messages=user(COUNTING))
    assert texts(full) == COUNTING
    cut, _ = ask(client, stream, model=model, max_tokens=3, messages=user(COUNTING))
    assert cut.stop_reason == "max_tokens"
    assert cut.stop_sequence is None
    assert texts(cut)
    assert COUNTING.startswith(texts(cut))
    assert len(texts(cut)) < len(COUNTING)
    assert 0 < cut.usage.output_tokens <= 3


@surfaces
@streamed
def test_stop_sequence_cuts_the_answer(client, surface, stream):
    message, _ = ask(
        client, stream, model=SURFACE_MODELS[surface], max_tokens=100, stop_sequences=["four"], messages=user(COUNTING)
    )
    assert texts(message) == COUNTING[: COUNTING.index("four")]
    if surface == "chat_generations":
        return  # the stop sequence is applied upstream but not reported back on this surface
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "four"


@surfaces
def test_earliest_stop_sequence_wins(client, surface):
    message = client.messages.create(
        model=SURFACE_MODELS[surface], max_tokens=100, stop_sequences=["five", "three"], messages=user(COUNTING)
    )
    assert texts(message) == COUNTING[: COUNTING.index("three")]
    if surface != "chat_generations":
        assert message.stop_sequence == "three"


@surfaces
def test_stop_sequence_absent_from_text_changes_nothing(client, surface):
    message = client.messages.create(
        model=SURFACE_MODELS[surface], max_tokens=100, stop_sequences=["seven"], messages=user(COUNTING)
    )
    assert texts(message) == COUNTING
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None


# --------------------------------------------------------------------------------------------------
# 6. the whole request schema is accepted
# --------------------------------------------------------------------------------------------------

SYSTEM_TEXT = "You are terse and accurate."
SCHEMA_CASES: dict[str, dict] = {
    "system_string": {"system": SYSTEM_TEXT},
    "system_blocks_cache_control": {
        "system": [{"type": "text", "text": SYSTEM_TEXT, "cache_control": {"type": "ephemeral"}}]
    },
    "system_role_message": {"extra_messages": [{"role": "system", "content": SYSTEM_TEXT}]},
    "metadata": {"metadata": {"user_id": "user-1234"}},
    "tool_choice": {"tools": [WEATHER_TOOL], "tool_choice": {"type": "auto"}},
    "context_management": {"extra_body": {"context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]}}},
    "output_config": {"output_config": {"effort": "high"}},
    "unknown_future_field": {"extra_body": {"future_field_2099": {"enabled": True, "level": 3}}},
    # This SDK version no longer takes sampling parameters as arguments; older clients still send them.
    "temperature_top_p_top_k": {"extra_body": {"temperature": 0.5, "top_p": 0.9, "top_k": 40}},
    "everything": {
        "system": [{"type": "text", "text": SYSTEM_TEXT, "cache_control": {"type": "ephemeral"}}],
        "extra_messages": [{"role": "system", "content": "Also: be kind."}],
        "metadata": {"user_id": "user-1234"},
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "auto"},
        "output_config": {"effort": "medium"},
        "extra_body": {
            "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
            "future_field_2099": {"enabled": True},
        },
    },
}


@surfaces
@pytest.mark.parametrize("case", SCHEMA_CASES)
def test_request_schema_is_accepted(stack, client, surface, case):
    params = dict(SCHEMA_CASES[case])
    if surface in TEXT_ONLY_SURFACES:  # tools there are a 400 (test_tools_on_text_only_surface_are_refused)
        params.pop("tools", None)
        params.pop("tool_choice", None)
    extra_messages = params.pop("extra_messages", [])
    prompt = f"Schema case {case} {marker()}"
    messages = [
        {"role": "user", "content": [{"type": "text", "text": prompt, "cache_control": {"type": "ephemeral"}}]},
        *extra_messages,
    ]
    message = client.messages.create(model=SURFACE_MODELS[surface], max_tokens=100, messages=messages, **params)
    assert texts(message) == prompt
    assert message.stop_reason == "end_turn"

    sent = json.loads(backend_request_with(stack, prompt)["body"])
    expected_system = [SYSTEM_TEXT] if "system" in params else []
    expected_system += [m["content"] for m in extra_messages]
    for text in expected_system:
        assert text in system_text_sent(surface, sent)
    # Fields only the gateway understands never reach Salesforce.
    for name in ("future_field_2099", "context_management", "metadata"):
        assert name not in sent


@surfaces
def test_beta_client_and_beta_query_are_accepted(client, surface):
    prompt = f"Beta path {marker()}"
    raw = client.beta.messages.with_raw_response.create(
        model=SURFACE_MODELS[surface],
        max_tokens=100,
        messages=user(prompt),
        betas=["context-management-2025-06-27"],
        extra_query={"beta": "true"},  # what Claude Code sends; this SDK version no longer adds it
    )
    assert "beta=true" in str(raw.http_request.url)
    assert raw.headers["request-id"].startswith("req_")
    assert texts(raw.parse()) == prompt


@surfaces
def test_raw_beta_query_string_is_ignored(stack, surface):
    prompt = f"Raw beta query {marker()}"
    body = {"model": SURFACE_MODELS[surface], "max_tokens": 100, "messages": user(prompt)}
    with stack.http() as http:
        response = http.post("/v1/messages?beta=true", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["content"] == [{"type": "text", "text": prompt}]
    assert answer["model"] == SURFACE_MODELS[surface]


# --------------------------------------------------------------------------------------------------
# 7. the captured Claude Code request
# --------------------------------------------------------------------------------------------------


def test_claude_code_request_streams_the_answer(stack):
    body, headers = claude_code_request()
    assert body["stream"] is True
    with stack.http(headers=headers) as http:
        response = http.post("/v1/messages?beta=true", content=json.dumps(body))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    starts = check_event_order(events)
    assert [s["content_block"]["type"] for s in starts] == ["text"]
    assert events[0]["message"]["model"] == body["model"]
    assert events[0]["message"]["id"].startswith("msg_")
    assert sse_text(events) == expected_echo(body, "bedrock_invoke")
    assert events[-2]["delta"]["stop_reason"] == "end_turn"


def test_claude_code_request_without_stream_returns_json(stack):
    body, headers = claude_code_request()
    body["stream"] = False
    with stack.http(headers=headers) as http:
        response = http.post("/v1/messages?beta=true", content=json.dumps(body))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert answer["type"] == "message"
    assert answer["model"] == body["model"]
    assert answer["content"] == [{"type": "text", "text": expected_echo(body, "bedrock_invoke")}]
    assert answer["stop_reason"] == "end_turn"


@surfaces
@streamed
def test_claude_code_request_on_every_surface(stack, surface, stream):
    body, headers = claude_code_request()
    model = SURFACE_MODELS[surface]
    with stack.http(headers=headers) as http:
        # Like a client would, keep max_tokens within what the model says it can produce.
        limit = http.get(f"/v1/models/{model}").json()["max_tokens"]
        body.update(model=model, stream=stream, max_tokens=min(body["max_tokens"], limit))
        response = http.post("/v1/messages?beta=true", content=json.dumps(body))
    if surface in TEXT_ONLY_SURFACES:  # Claude Code always sends tools: a clear 400, not tools silently lost
        assert response.status_code == 400, response.text
        assert "cannot carry tools" in response.json()["error"]["message"]
        return
    assert response.status_code == 200, response.text
    if stream:
        events = parse_sse(response.text)
        starts = check_event_order(events)
        assert [s["content_block"]["type"] for s in starts] == ["text"]
        assert sse_text(events) == expected_echo(body, surface)
    else:
        answer = response.json()
        assert answer["model"] == model
        assert answer["content"] == [{"type": "text", "text": expected_echo(body, surface)}]


# --------------------------------------------------------------------------------------------------
# 8. the async client
# --------------------------------------------------------------------------------------------------


@surfaces
def test_async_client_create_and_stream(stack, surface):
    model = SURFACE_MODELS[surface]
    prompt = f"Async hello {marker()} world"

    async def run() -> tuple:
        async with stack.async_client() as client:
            created = await client.messages.create(model=model, max_tokens=100, messages=user(prompt))
            async with client.messages.stream(model=model, max_tokens=100, messages=user(prompt)) as stream:
                pieces = [piece async for piece in stream.text_stream]
                final = await stream.get_final_message()
        return created, pieces, final

    created, pieces, final = asyncio.run(run())
    assert texts(created) == prompt
    assert created.id.startswith("msg_")
    assert created.model == model
    assert "".join(pieces) == prompt
    assert texts(final) == prompt
    assert final.stop_reason == "end_turn"


def test_async_client_concurrent_requests(stack):
    prompts = {surface: f"Concurrent {surface} {marker()}" for surface in ALL_SURFACES}

    async def run() -> dict:
        async with stack.async_client() as client:
            answers = await asyncio.gather(
                *(
                    client.messages.create(model=SURFACE_MODELS[s], max_tokens=100, messages=user(p))
                    for s, p in prompts.items()
                )
            )
        return dict(zip(prompts, answers, strict=True))

    for surface, message in asyncio.run(run()).items():
        assert texts(message) == prompts[surface]
        assert message.model == SURFACE_MODELS[surface]


# --------------------------------------------------------------------------------------------------
# 9. images
# --------------------------------------------------------------------------------------------------


@streamed
def test_image_goes_to_bedrock(stack, client, stream):
    prompt = f"Describe this image {marker()}"
    message, _ = ask(client, stream, model=BEDROCK, max_tokens=100, messages=image_message(prompt))
    assert texts(message) == prompt
    sent = json.loads(backend_request_with(stack, prompt)["body"])
    image = sent["messages"][-1]["content"][0]
    assert image["type"] == "image"
    assert base64.b64decode(image["source"]["data"]) == png()


@pytest.mark.parametrize("surface", ["models_api", "chat_generations"])
@streamed
def test_image_to_surface_without_images_is_refused(stack, client, surface, stream):
    prompt = f"Describe this image {marker()}"
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask(client, stream, model=SURFACE_MODELS[surface], max_tokens=100, messages=image_message(prompt))
    assert caught.value.status_code == 400
    assert "does not accept image content" in caught.value.message
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert caught.value.request_id.startswith("req_")
    assert caught.value.body["request_id"] == caught.value.request_id
    assert not [r for r in stack.backend_requests() if prompt in r["body"]], "refused request reached Salesforce"


# --------------------------------------------------------------------------------------------------
# 10. nothing secret is forwarded
# --------------------------------------------------------------------------------------------------

CLIENT_SECRET = "client-secret-key-123"


@pytest.mark.parametrize("credential", ["api_key", "auth_token"])
def test_client_key_never_reaches_salesforce(make_stack, credential):
    keyed = make_stack(env={"GATEWAY_API_KEYS": CLIENT_SECRET})
    client = keyed.client(**{"api_key": None, credential: CLIENT_SECRET})
    for surface, model in SURFACE_MODELS.items():
        message = client.messages.create(model=model, max_tokens=50, messages=user(f"Secret check {surface}"))
        assert texts(message) == f"Secret check {surface}"
        with client.messages.stream(model=model, max_tokens=50, messages=user(f"Secret stream {surface}")) as s:
            assert s.get_final_text() == f"Secret stream {surface}"

    sent = keyed.backend_requests()
    assert len(sent) == 2 * len(SURFACE_MODELS)
    for request in sent:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert CLIENT_SECRET not in request["body"]
        assert not any(CLIENT_SECRET in v for v in headers.values()), f"client key forwarded in {request['path']}"
        assert "x-api-key" not in headers
        assert headers["x-sfdc-app-context"] == "EinsteinGPT"
        assert headers["x-client-feature-id"] == "ai-platform-models-connected-app"
        scheme, _, token = headers["authorization"].partition(" ")
        assert scheme == "Bearer"
        header, payload, signature = token.split(".")
        assert b64url_json(header)["typ"] == "JWT"
        assert b64url_json(payload)["exp"] > b64url_json(payload)["iat"]
        assert signature
        assert keyed.simulator.mint.valid(token), "the bearer token is not one Salesforce minted"


def test_wrong_client_key_is_refused_before_salesforce(make_stack):
    keyed = make_stack(env={"GATEWAY_API_KEYS": CLIENT_SECRET})
    client = keyed.client(api_key="not-the-key")
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.create(model=BEDROCK, max_tokens=50, messages=user("Should not pass"))
    assert keyed.backend_requests() == []


MCP_TOOL = {
    "name": "mcp__salesforce-dx-mcp-server__retrieve_metadata_from_the_connected_org_by_type",
    "description": "A Claude Code MCP tool: 79 characters, more than OpenAI-style backends take (64)",
    "input_schema": {"type": "object", "properties": {"type": {"type": "string"}}},
}


@streamed
def test_long_mcp_tool_names_reach_gpt_shortened_and_come_back_whole(stack, client, stream):
    """OpenAI-style backends take function names of at most 64 characters (Anthropic: 128); Claude Code's
    MCP tools run longer. The model sees a stand-in; the client sees its own name, then sends it back."""
    from gateway.translate.chat_generations import upstream_name

    model, short = SURFACE_MODELS["chat_generations"], upstream_name(MCP_TOOL["name"])
    assert short != MCP_TOOL["name"] and len(short) <= 64
    prompt = f'Which objects? [[tool:{short} {{"type": "ApexClass"}}]]'
    first, _ = ask(client, stream, model=model, max_tokens=200, tools=[MCP_TOOL], messages=user(prompt))
    (call,) = tool_uses(first)
    assert call.name == MCP_TOOL["name"]
    assert call.input == {"type": "ApexClass"}
    history = [
        *user(prompt),
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "3 classes"}]},
    ]
    second, _ = ask(client, stream, model=model, max_tokens=200, tools=[MCP_TOOL], messages=history)
    assert texts(second) == "Tool result: 3 classes"
    sent = [json.loads(r["body"]) for r in stack.backend_requests("/ai/gpt/v1/chat/generations")][-2:]
    assert all(t["function"]["name"] == short for body in sent for t in body["tools"])
    assert MCP_TOOL["name"] not in json.dumps(sent), "the long name never reaches Salesforce"
