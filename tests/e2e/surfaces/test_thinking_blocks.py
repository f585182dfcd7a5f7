"""Thinking through the SDK: signed thinking blocks on Bedrock (created, streamed, replayed, tampered with),
adaptive thinking, and the surfaces without thinking that still answer."""

from __future__ import annotations

import base64
import json

import anthropic
import pytest
from support.sdk import ask, backend_request_with, marker, texts
from support.sse import check_event_order, deltas
from support.stacks import STREAM_EVENT_TYPES, SURFACE_MODELS
from support.wire import WEATHER_TOOL, user

# Thinking as sent: Claude 4.6+ take it (adaptive); older models refuse it on real orgs (see test_thinking.py).
THINKING_MODEL = "claude-sonnet-4-6"
THINKING = {"type": "enabled", "budget_tokens": 1024}
THINK_QUESTION = "Consider the meaning of seven"
THINK_PROMPT = f"{THINK_QUESTION} [[think]]"
WEATHER_INPUT = {"city": "Paris"}
WEATHER_PROMPT = f"What is the weather in Paris? [[tool:get_weather {json.dumps(WEATHER_INPUT)}]]"

streamed = pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])


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
