"""The Python SDK's client-side machinery against the gateway, with the sync AND the async client.

Stream helpers (``text_stream``, ``get_final_message``, ``get_final_text``, the event iterator and its
snapshots), ``with_raw_response``, automatic retries that honour ``retry-after``, and every error class
with ``max_retries=0``. Each prompt carries a unique word, so the simulator's per-prompt attempt counter
(``[[error:429:first-N]]``) starts fresh in every test and its value is this test's alone.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from support.stacks import SURFACE_MODELS

BEDROCK = SURFACE_MODELS["bedrock_invoke"]
TOOL_SURFACES = ["bedrock_invoke", "chat_generations"]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
WEATHER_INPUT = {"city": "Paris"}
REQUEST_ID = re.compile(r"^req_[A-Za-z0-9]+$")
RETRY_AFTER_SECONDS = 1.0  # what the simulator sends with a 429
GOOD_KEY = "py-good-key"

kinds = pytest.mark.parametrize("kind", ["sync", "async"])
modes = pytest.mark.parametrize("mode", ["create", "stream"])
surfaces = pytest.mark.parametrize("surface", list(SURFACE_MODELS))
tool_surfaces = pytest.mark.parametrize("surface", TOOL_SURFACES)


def unique(words: str) -> str:
    """The prompt text with a unique word appended."""
    return f"{words} mk{uuid.uuid4().hex[:12]}"


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def echo(prompt: str) -> str:
    """What the simulator answers to a prompt: its text without [[directives]]."""
    return re.sub(r"\[\[.*?\]\]", "", prompt).strip()


def params(prompt: str, model: str = BEDROCK, **extra) -> dict:
    return {"model": model, "max_tokens": 256, "messages": user(prompt), **extra}


def text_of(message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


# --- one call, with either client, created or streamed ------------------------------------------------------


def run(kind: str, make_client: Callable[..., Any], mode: str, request: dict, **client_kwargs):
    """``messages.create`` or ``messages.stream(...).get_final_message()``, with a sync or an async client."""
    if kind == "sync":
        with make_client("sync", **client_kwargs) as client:
            if mode == "create":
                return client.messages.create(**request)
            with client.messages.stream(**request) as stream:
                return stream.get_final_message()

    async def go():
        async with make_client("async", **client_kwargs) as client:
            if mode == "create":
                return await client.messages.create(**request)
            async with client.messages.stream(**request) as stream:
                return await stream.get_final_message()

    return asyncio.run(go())


def clients_of(stack) -> Callable[..., Any]:
    def make(kind: str, **kwargs):
        return stack.client(**kwargs) if kind == "sync" else stack.async_client(**kwargs)

    return make


# --- stream helpers ----------------------------------------------------------------------------------------


def _collect_text_stream(kind: str, stack, request: dict) -> tuple[list[str], str, Any, str | None]:
    """(text_stream pieces, get_final_text(), get_final_message(), stream.request_id)."""
    if kind == "sync":
        with stack.client() as client, client.messages.stream(**request) as stream:
            pieces = list(stream.text_stream)
            return pieces, stream.get_final_text(), stream.get_final_message(), stream.request_id

    async def go():
        async with stack.async_client() as client, client.messages.stream(**request) as stream:
            pieces = [piece async for piece in stream.text_stream]
            return pieces, await stream.get_final_text(), await stream.get_final_message(), stream.request_id

    return asyncio.run(go())


def _collect_events(kind: str, stack, request: dict) -> tuple[list, Any]:
    """(every event the stream helper yields, get_final_message())."""
    if kind == "sync":
        with stack.client() as client, client.messages.stream(**request) as stream:
            return list(stream), stream.get_final_message()

    async def go():
        async with stack.async_client() as client, client.messages.stream(**request) as stream:
            return [event async for event in stream], await stream.get_final_message()

    return asyncio.run(go())


@kinds
@surfaces
def test_text_stream_and_final_helpers(stack, kind, surface):
    prompt = unique("Stream these words one at a time")
    pieces, final_text, final, request_id = _collect_text_stream(kind, stack, params(prompt, SURFACE_MODELS[surface]))
    assert "".join(pieces) == final_text == text_of(final) == prompt
    assert len(pieces) > 1, "text arrived in one piece"
    assert final.id.startswith("msg_")
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == len(prompt.split())
    assert REQUEST_ID.match(request_id or "")


@kinds
def test_stream_events_and_snapshots(stack, kind):
    prompt = unique("Events carry snapshots")
    events, final = _collect_events(kind, stack, params(prompt))
    types = [event.type for event in events]
    assert types[0] == "message_start"
    assert types[-1] == "message_stop"
    assert "message_delta" in types
    assert types.index("content_block_start") < types.index("text") < types.index("content_block_stop")

    texts = [event for event in events if event.type == "text"]
    running = ""
    for event in texts:  # each text event's snapshot is the text so far
        running += event.text
        assert event.snapshot == running
    assert running == prompt
    assert len(texts) == len(prompt.split())
    assert len(texts) == types.count("content_block_delta")

    [stop] = [event for event in events if event.type == "content_block_stop"]
    assert stop.content_block.type == "text" and stop.content_block.text == prompt
    [message_stop] = [event for event in events if event.type == "message_stop"]
    assert text_of(message_stop.message) == prompt
    assert message_stop.message.id == final.id and final.id.startswith("msg_")
    [delta] = [event for event in events if event.type == "message_delta"]
    assert delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens == final.usage.output_tokens == len(prompt.split())


@kinds
@tool_surfaces
def test_stream_tool_input_json_events(stack, kind, surface):
    question = unique("What is the weather in Paris?")
    prompt = f"{question} [[tool:get_weather {json.dumps(WEATHER_INPUT)}]]"
    events, final = _collect_events(kind, stack, params(prompt, SURFACE_MODELS[surface], tools=[WEATHER_TOOL]))
    partials = [event for event in events if event.type == "input_json"]
    assert len([event for event in partials if event.partial_json]) > 1, "tool input arrived in one piece"
    assert json.loads("".join(event.partial_json for event in partials)) == WEATHER_INPUT
    assert partials[-1].snapshot == WEATHER_INPUT
    stops = [event.content_block for event in events if event.type == "content_block_stop"]
    [tool_block] = [block for block in stops if block.type == "tool_use"]
    assert tool_block.input == WEATHER_INPUT
    assert final.stop_reason == "tool_use"
    [tool_use] = [block for block in final.content if block.type == "tool_use"]
    assert tool_use.id.startswith("toolu_") and tool_use.id == tool_block.id
    assert (tool_use.name, tool_use.input) == ("get_weather", WEATHER_INPUT)
    assert text_of(final) == question


# --- with_raw_response -------------------------------------------------------------------------------------


def _raw_create(kind: str, stack, request: dict):
    """(headers, parsed message) through ``messages.with_raw_response.create``."""
    if kind == "sync":
        with stack.client() as client:
            raw = client.messages.with_raw_response.create(**request)
            return raw.headers, raw.parse(), raw.status_code

    async def go():
        async with stack.async_client() as client:
            raw = await client.messages.with_raw_response.create(**request)
            return raw.headers, await raw.parse(), raw.status_code  # the async response parses asynchronously

    return asyncio.run(go())


@kinds
def test_with_raw_response(stack, kind):
    prompt = unique("Raw response please")
    headers, message, status = _raw_create(kind, stack, params(prompt))
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    request_id = headers["request-id"]
    assert REQUEST_ID.match(request_id), request_id
    assert isinstance(message, anthropic.types.Message)
    assert text_of(message) == prompt
    assert message.id.startswith("msg_")
    assert message._request_id == request_id


@kinds
def test_with_raw_response_count_tokens_and_models(stack, kind):
    count_request = {"model": BEDROCK, "messages": user("one two three")}
    if kind == "sync":
        with stack.client() as client:
            counted = client.messages.with_raw_response.count_tokens(**count_request)
            models = client.models.with_raw_response.list(limit=2)
            tokens, page = counted.parse(), models.parse()
    else:

        async def go():
            async with stack.async_client() as client:
                counted = await client.messages.with_raw_response.count_tokens(**count_request)
                models = await client.models.with_raw_response.list(limit=2)
                return counted, models, await counted.parse(), await models.parse()

        counted, models, tokens, page = asyncio.run(go())
    assert REQUEST_ID.match(counted.headers["request-id"])
    assert REQUEST_ID.match(models.headers["request-id"])
    assert tokens.input_tokens == stack.client().messages.count_tokens(**count_request).input_tokens > 0
    assert len(page.data) == 2 and page.has_more


# --- automatic retries -------------------------------------------------------------------------------------


def _retry_counts(kind: str) -> tuple[list[str], dict]:
    """A list that fills with the x-stainless-retry-count of every request, and the client kwargs for it."""
    seen: list[str] = []

    def hook(request) -> None:
        seen.append(request.headers.get("x-stainless-retry-count"))

    async def async_hook(request) -> None:
        hook(request)

    if kind == "sync":
        http_client = anthropic.DefaultHttpxClient(event_hooks={"request": [hook]})
    else:
        http_client = anthropic.DefaultAsyncHttpxClient(event_hooks={"request": [async_hook]})
    return seen, {"http_client": http_client}


@kinds
@modes
def test_retry_after_429_succeeds_and_waits_retry_after(stack, kind, mode):
    prompt = unique("Retry me once") + " [[error:429:first-1]]"
    seen, client_kwargs = _retry_counts(kind)
    started = time.perf_counter()
    message = run(kind, clients_of(stack), mode, params(prompt), max_retries=2, **client_kwargs)
    elapsed = time.perf_counter() - started
    assert text_of(message) == echo(prompt)
    assert message.id.startswith("msg_")
    assert stack.simulator.attempts[prompt] == 2  # one 429, one success
    assert seen == ["0", "1"]  # the SDK's own count of its retries
    # Without retry-after the SDK would wait 0.5 s at most (0.375-0.5 s with jitter) before the first retry.
    assert elapsed >= RETRY_AFTER_SECONDS * 0.9, f"retried after {elapsed:.2f}s, before Retry-After: 1"


@kinds
@modes
def test_429_without_retries_raises_rate_limit_error(stack, kind, mode):
    prompt = unique("Do not retry me") + " [[error:429:first-1]]"
    seen, client_kwargs = _retry_counts(kind)
    with pytest.raises(anthropic.RateLimitError) as info:
        run(kind, clients_of(stack), mode, params(prompt), max_retries=0, **client_kwargs)
    assert info.value.status_code == 429
    assert info.value.type == "rate_limit_error"
    assert info.value.response.headers["retry-after"] == "1"
    assert stack.simulator.attempts[prompt] == 1
    assert seen == ["0"]
    # The simulator failed only the first attempt: the same prompt now succeeds.
    assert text_of(run(kind, clients_of(stack), mode, params(prompt))) == echo(prompt)
    assert stack.simulator.attempts[prompt] == 2


# --- every error class, max_retries=0 ------------------------------------------------------------------------

ERROR_CASES = {
    # name: (SDK class, HTTP status, error type, request)
    "bad_request": (anthropic.BadRequestError, 400, "invalid_request_error", {"messages": []}),
    "authentication": (anthropic.AuthenticationError, 401, "authentication_error", {}),
    "permission": (anthropic.PermissionDeniedError, 403, "permission_error", {"directive": "[[error:403]]"}),
    "not_found": (anthropic.NotFoundError, 404, "not_found_error", {"model": "no-such-model"}),
    "rate_limit": (anthropic.RateLimitError, 429, "rate_limit_error", {"directive": "[[error:429]]"}),
    "internal": (anthropic.InternalServerError, 500, "api_error", {"directive": "[[error:500]]"}),
    "overloaded": (anthropic.OverloadedError, 529, "overloaded_error", {"directive": "[[error:503]]"}),
}


@kinds
@modes
@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_error_classes(stack, make_stack, kind, mode, case):
    cls, status, error_type, spec = ERROR_CASES[case]
    prompt = unique(f"Fail with {case}") + " " + spec.get("directive", "")
    request = params(prompt, spec.get("model", BEDROCK))
    if "messages" in spec:
        request["messages"] = spec["messages"]
    target, client_kwargs = stack, {}
    if case == "authentication":
        target, client_kwargs = make_stack(env={"GATEWAY_API_KEYS": GOOD_KEY}), {"api_key": "wrong-key"}
    with pytest.raises(anthropic.APIStatusError) as info:
        run(kind, clients_of(target), mode, request, max_retries=0, **client_kwargs)
    error = info.value
    assert type(error) is cls, f"{type(error).__name__} instead of {cls.__name__}"
    assert (error.status_code, error.type) == (status, error_type)
    assert error.api_message
    assert isinstance(error.body, dict) and error.body["type"] == "error"
    assert REQUEST_ID.match(error.request_id or ""), f"request-id header: {error.request_id!r}"
    if "directive" in spec:
        assert stack.simulator.attempts.get(prompt.strip(), 0) in (0, 1)  # never retried
