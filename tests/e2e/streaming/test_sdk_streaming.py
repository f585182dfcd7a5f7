"""Streams read by the real SDK, sync and async, on every surface: the same answer as ``create``, in
Anthropic's event order, with usage counted."""

from __future__ import annotations

import asyncio

import pytest
from support.sdk import marker, texts
from support.sse import check_event_order, sse_text
from support.stacks import STREAM_EVENT_TYPES, SURFACE_MODELS
from support.wire import user

ALL_SURFACES = list(SURFACE_MODELS)

# A conversation with history; the simulator answers with the last user text.
CONVERSATION = [
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Please repeat: streamed and non-streamed answers must match, word for word."},
]
CONVERSATION_ANSWER = CONVERSATION[-1]["content"]

surfaces = pytest.mark.parametrize("surface", ALL_SURFACES)


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


# --- the async client ------------------------------------------------------------------------------


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
