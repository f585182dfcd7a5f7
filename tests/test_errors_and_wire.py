"""Errors and wire format, proved through the real server on loopback.

A. every SDK error class, reached with the real ``anthropic`` SDK, JSON and streaming, on every surface;
B. the error envelope (JSON, ``request_id``, ``request-id`` header) for every kind of error;
C. request validation with Anthropic's own texts, body limits, and leniency about unknown fields;
D. client authentication (``x-api-key`` / ``Authorization: Bearer``) with configured keys;
E. the SSE wire format, byte by byte, on every surface;
F. the non-streaming message shape and the ``request-id`` header on every response;
G. query strings (``?beta=true``) are ignored.
"""

from __future__ import annotations

import json
import re
import socket
import time
from urllib.parse import urlsplit

import anthropic
import httpx
import pytest
from conftest import STREAM_EVENT_TYPES, SURFACE_MODELS

SURFACES = list(SURFACE_MODELS)
SONNET = SURFACE_MODELS["bedrock_invoke"]  # claude-sonnet-4-5: 64000 output tokens
VERSION = "2023-06-01"
# Ways the SDK can send a request: plain JSON, ``create(stream=True)``, and the ``messages.stream`` helper.
MODES = ("json", "create_stream", "stream_helper")
MAX_BODY = 32 * 1024 * 1024
KEYS = "key-one,key-two"
STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


# --- helpers ----------------------------------------------------------------------------------------


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


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


def assert_envelope(response: httpx.Response, status: int, error_type: str, message: str | None = None) -> dict:
    """Anthropic's error envelope, with the request id in the body and in exactly one header."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == "application/json"
    body = response.json()
    assert set(body) == {"type", "error", "request_id"}, body
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    if message is not None:
        assert body["error"]["message"] == message
    assert body["request_id"].startswith("req_")
    assert response.headers.get_list("request-id") == [body["request_id"]], (
        "request-id header must be sent once, equal to body.request_id"
    )
    return body


def raw_client(stack, headers: dict[str, str]) -> httpx.Client:
    """An httpx client sending only the headers given (no default key, no default version)."""
    return httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=30)


def message_body(**fields) -> dict:
    """A valid /v1/messages body; a field set to ``None`` is removed."""
    body = {"model": SONNET, "max_tokens": 100, "messages": user("hi")}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def big_body() -> bytes:
    """A valid JSON body just over the 32 MB limit."""
    head = json.dumps(message_body(messages=user("x"))).encode()
    filler = b"a" * (MAX_BODY + 1024)
    return head.replace(b'"x"', b'"' + filler + b'"')


def parse_sse(raw: bytes) -> list[tuple[str, dict]]:
    """Split a raw SSE body into (event name, data) pairs, insisting on Anthropic's framing."""
    text = raw.decode("utf-8")
    assert text.endswith("\n\n"), text[-200:]
    events = []
    for frame in text[:-2].split("\n\n"):
        lines = frame.split("\n")
        assert len(lines) == 2, f"an event is exactly one event: line and one data: line: {frame!r}"
        assert lines[0].startswith("event: "), frame
        assert lines[1].startswith("data: "), frame
        name, data = lines[0][len("event: ") :], json.loads(lines[1][len("data: ") :])
        assert data["type"] == name, frame
        events.append((name, data))
    return events


@pytest.fixture
def keyed(make_stack):
    """A gateway that accepts only ``key-one`` and ``key-two``."""
    return make_stack(env={"GATEWAY_API_KEYS": KEYS})


# --- A. SDK error classes ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("surface", SURFACES)
def test_bad_request_error(client, surface, mode):
    with pytest.raises(anthropic.BadRequestError) as caught:
        sdk_request(client, mode, model=SURFACE_MODELS[surface], messages=user("hi"), extra_body={"temperature": 2})
    check_sdk_error(
        caught.value, anthropic.BadRequestError, 400, "invalid_request_error", message="temperature: range: 0..1"
    )


@pytest.mark.parametrize("mode", MODES)
def test_authentication_error(keyed, mode):
    client = keyed.client(api_key="wrong-key")
    with pytest.raises(anthropic.AuthenticationError) as caught:
        sdk_request(client, mode, model=SONNET, messages=user("hi"))
    check_sdk_error(
        caught.value, anthropic.AuthenticationError, 401, "authentication_error", message="invalid x-api-key"
    )


@pytest.mark.parametrize("mode", MODES)
def test_not_found_error_unknown_model(client, mode):
    with pytest.raises(anthropic.NotFoundError) as caught:
        sdk_request(client, mode, model="no-such-model", messages=user("hi"))
    check_sdk_error(caught.value, anthropic.NotFoundError, 404, "not_found_error", message="model: no-such-model")


@pytest.mark.parametrize("mode", MODES)
def test_not_found_error_salesforce_refuses_model(stack, client, mode):
    """claude-opus-4-1 is in the model map, but the simulated org answers 404 for its Salesforce model."""
    with pytest.raises(anthropic.NotFoundError) as caught:
        sdk_request(client, mode, model="claude-opus-4-1", messages=user("hi"))
    check_sdk_error(
        caught.value, anthropic.NotFoundError, 404, "not_found_error", message_prefix="model: claude-opus-4-1 "
    )
    assert "DefaultBedrockAnthropicClaude41Opus" in stack.backend_requests()[-1]["path"]  # Salesforce said 404


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("surface", SURFACES)
def test_rate_limit_error_carries_retry_after(client, surface, mode):
    with pytest.raises(anthropic.RateLimitError) as caught:
        sdk_request(client, mode, model=SURFACE_MODELS[surface], messages=user("hi [[error:429]]"))
    check_sdk_error(caught.value, anthropic.RateLimitError, 429, "rate_limit_error")
    assert caught.value.response.headers["retry-after"] == "1"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("surface", SURFACES)
def test_rate_limit_error_without_retry_after(client, surface, mode):
    with pytest.raises(anthropic.RateLimitError) as caught:
        sdk_request(client, mode, model=SURFACE_MODELS[surface], messages=user("hi [[error:429:no-retry-after]]"))
    check_sdk_error(caught.value, anthropic.RateLimitError, 429, "rate_limit_error")
    assert "retry-after" not in caught.value.response.headers


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("surface", SURFACES)
def test_internal_server_error(client, surface, mode):
    with pytest.raises(anthropic.InternalServerError) as caught:
        sdk_request(client, mode, model=SURFACE_MODELS[surface], messages=user("hi [[error:500]]"))
    check_sdk_error(caught.value, anthropic.InternalServerError, 500, "api_error")


@pytest.mark.parametrize("code", [503, 423])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("surface", SURFACES)
def test_overloaded_error(client, surface, mode, code):
    with pytest.raises(anthropic.OverloadedError) as caught:
        sdk_request(client, mode, model=SURFACE_MODELS[surface], messages=user(f"hi [[error:{code}]]"))
    check_sdk_error(caught.value, anthropic.OverloadedError, 529, "overloaded_error")


@pytest.mark.parametrize("mode", ["create_stream", "stream_helper"])
def test_context_overflow_inside_a_bedrock_stream_reads_as_anthropic_says_it(client, mode):
    """Bedrock reports an overflow in the stream as "Input is too long for requested model."; Claude Code
    compacts only on Anthropic's "prompt is too long: N tokens > M maximum", so the gateway rewrites it."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        sdk_request(client, mode, model=SONNET, messages=user("long history [[fault:overflow-in-stream]]"))
    check_sdk_error(caught.value, anthropic.BadRequestError, 400, "invalid_request_error")
    message = caught.value.body["error"]["message"]
    used, limit = re.fullmatch(r"prompt is too long: (\d+) tokens > (\d+) maximum", message).groups()
    assert int(limit) == 200_000 and int(used) > int(limit)


@pytest.mark.parametrize("mode", ["create_stream", "stream_helper"])
def test_rate_limit_sent_as_a_stream_event_is_a_429(client, mode):
    """chat/generations reports some failures as an ``event: error`` in a 200 stream: typed by its errorCode,
    within the stream's grace period it is a real 429 the SDK can back off from, not a 500."""
    with pytest.raises(anthropic.RateLimitError) as caught:
        sdk_request(
            client, mode, model=SURFACE_MODELS["chat_generations"], messages=user("hi [[fault:limit-in-stream]]")
        )
    check_sdk_error(caught.value, anthropic.RateLimitError, 429, "rate_limit_error")
    assert "Too many requests" in caught.value.body["error"]["message"]


@pytest.mark.parametrize("mode", MODES)
def test_an_empty_answer_is_a_retryable_529_not_an_empty_turn(client, mode):
    """An upstream "stop" with nothing generated would become an assistant turn with no content, which the
    client sends back and has refused; a 529 makes it retry instead."""
    with pytest.raises(anthropic.OverloadedError) as caught:
        sdk_request(client, mode, model=SURFACE_MODELS["chat_generations"], messages=user("hi [[fault:empty-answer]]"))
    check_sdk_error(caught.value, anthropic.OverloadedError, 529, "overloaded_error")
    assert caught.value.body["error"]["message"] == "Salesforce returned an empty answer"


def test_request_too_large_error(client):
    with pytest.raises(anthropic.RequestTooLargeError) as caught:
        client.messages.create(model=SONNET, max_tokens=50, messages=user("a" * (MAX_BODY + 1024)))
    check_sdk_error(caught.value, anthropic.RequestTooLargeError, 413, "request_too_large")


# --- B. the error envelope --------------------------------------------------------------------------

# (id, method, path, request kwargs, status, error type)
ENVELOPE_CASES = [
    ("validation", "POST", "/v1/messages", {"json": message_body(temperature=2)}, 400, "invalid_request_error"),
    ("unknown-model", "POST", "/v1/messages", {"json": message_body(model="no-such-model")}, 404, "not_found_error"),
    (
        "refused-model",
        "POST",
        "/v1/messages",
        {"json": message_body(model="claude-opus-4-1")},
        404,
        "not_found_error",
    ),
    (
        "backend-429",
        "POST",
        "/v1/messages",
        {"json": message_body(messages=user("x [[error:429]]"))},
        429,
        "rate_limit_error",
    ),
    ("backend-500", "POST", "/v1/messages", {"json": message_body(messages=user("x [[error:500]]"))}, 500, "api_error"),
    (
        "backend-503",
        "POST",
        "/v1/messages",
        {"json": message_body(messages=user("x [[error:503]]"))},
        529,
        "overloaded_error",
    ),
    (
        "backend-423-stream",
        "POST",
        "/v1/messages",
        {"json": message_body(messages=user("x [[error:423]]"), stream=True)},
        529,
        "overloaded_error",
    ),
    (
        "count-tokens-validation",
        "POST",
        "/v1/messages/count_tokens",
        {"json": {"model": SONNET}},
        400,
        "invalid_request_error",
    ),
    ("unknown-path", "GET", "/v1/nothing-here", {}, 404, "not_found_error"),
    ("unknown-post-path", "POST", "/v2/messages", {"json": message_body()}, 404, "not_found_error"),
    ("unknown-model-info", "GET", "/v1/models/no-such-model", {}, 404, "not_found_error"),
    ("wrong-method-messages", "GET", "/v1/messages", {}, 405, "invalid_request_error"),
    ("wrong-method-models", "DELETE", "/v1/models/claude-sonnet-4-5", {}, 405, "invalid_request_error"),
    ("bad-limit", "GET", "/v1/models?limit=abc", {}, 400, "invalid_request_error"),
    (
        "wrong-content-type",
        "POST",
        "/v1/messages",
        {"content": b"hi", "headers": {"content-type": "text/plain"}},
        400,
        "invalid_request_error",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "error_type"),
    [case[1:] for case in ENVELOPE_CASES],
    ids=[case[0] for case in ENVELOPE_CASES],
)
def test_error_envelope(stack, method, path, kwargs, status, error_type):
    with stack.http() as http:
        response = http.request(method, path, **kwargs)
    assert_envelope(response, status, error_type)


def test_unknown_path_and_wrong_method_messages(stack):
    with stack.http() as http:
        assert_envelope(http.get("/v1/nothing-here"), 404, "not_found_error", "Not Found")
        wrong = assert_envelope(http.get("/v1/messages"), 405, "invalid_request_error", "Method Not Allowed")
        assert wrong["request_id"]


def test_envelope_for_middleware_refusals(stack, keyed):
    """Errors raised before routing (auth, version header, size) use the same envelope."""
    with raw_client(keyed, {"anthropic-version": VERSION}) as http:
        assert_envelope(http.post("/v1/messages", json=message_body()), 401, "authentication_error")
    with raw_client(stack, {"x-api-key": "k"}) as http:
        assert_envelope(http.post("/v1/messages", json=message_body()), 400, "invalid_request_error")
    with stack.http() as http:
        response = http.post("/v1/messages", content=big_body(), headers={"content-type": "application/json"})
        assert_envelope(response, 413, "request_too_large")


def test_request_ids_are_unique(stack):
    with stack.http() as http:
        ids = {http.get("/v1/nothing-here").json()["request_id"] for _ in range(5)}
    assert len(ids) == 5


# --- C. validation texts ----------------------------------------------------------------------------

_TOOL_USE = {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}}
_TOOL_RESULT = {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "sunny"}
_PAIRING = "Each `tool_use` block must have a corresponding `tool_result` block in the next message."
_ORPHAN = "Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
_BUDGET_DOCS = (
    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
)

# (id, body, exact message)
VALIDATION_CASES = [
    ("missing-model", message_body(model=None), "model: Field required"),
    ("missing-max-tokens", {"model": SONNET, "messages": user("hi")}, "max_tokens: Field required"),
    ("missing-messages", {"model": SONNET, "max_tokens": 10}, "messages: Field required"),
    ("empty-messages", message_body(messages=[]), "messages: at least one message is required"),
    (
        "invalid-role",
        message_body(messages=[{"role": "robot", "content": "hi"}]),
        "messages.0.role: Input should be 'user', 'assistant' or 'system'",
    ),
    (
        "empty-text-block",
        message_body(messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}]),
        "messages: text content blocks must be non-empty",
    ),
    (
        "empty-content",
        message_body(
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": []},
                {"role": "user", "content": "again"},
            ]
        ),
        "messages.1: all messages must have non-empty content except for the optional final assistant message",
    ),
    (
        "empty-string-content",
        message_body(messages=[{"role": "user", "content": ""}]),
        "messages.0: all messages must have non-empty content except for the optional final assistant message",
    ),
    (
        "bad-tool-name",
        message_body(tools=[{"name": "bad name!", "input_schema": {"type": "object"}}]),
        "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
    ),
    (
        "tool-use-without-result",
        message_body(
            messages=[
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [_TOOL_USE]},
                {"role": "user", "content": "never mind"},
            ],
            tools=[WEATHER_TOOL],
        ),
        f"messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_01A. {_PAIRING}",
    ),
    (
        "orphan-tool-result",
        message_body(
            messages=[
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": "Let me think."},
                {"role": "user", "content": [_TOOL_RESULT]},
            ],
            tools=[WEATHER_TOOL],
        ),
        f"messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_01A. {_ORPHAN}",
    ),
    (
        "duplicate-tool-use-ids",
        message_body(
            messages=[
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [_TOOL_USE]},
                {"role": "user", "content": [_TOOL_RESULT]},
                {"role": "assistant", "content": [_TOOL_USE]},
                {"role": "user", "content": [_TOOL_RESULT]},
            ],
            tools=[WEATHER_TOOL],
        ),
        "messages: `tool_use` ids must be unique",
    ),
    (
        "thinking-budget-too-small",
        message_body(max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 1023}),
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
    ),
    (
        "thinking-budget-equals-max-tokens",
        message_body(max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 2048}),
        _BUDGET_DOCS,
    ),
    (
        "thinking-budget-above-max-tokens",
        message_body(max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 4000}),
        _BUDGET_DOCS,
    ),
    (
        "temperature-with-thinking",
        message_body(max_tokens=4000, temperature=0.5, thinking={"type": "enabled", "budget_tokens": 1024}),
        "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode",
    ),
    (
        "top-k-with-thinking",
        message_body(max_tokens=4000, top_k=5, thinking={"type": "enabled", "budget_tokens": 1024}),
        "`top_k` may not be set when thinking is enabled or in adaptive mode",
    ),
    (
        "top-p-below-0.95-with-thinking",
        message_body(max_tokens=4000, top_p=0.9, thinking={"type": "enabled", "budget_tokens": 1024}),
        "`top_p` must be between 0.95 and 1 when thinking is enabled or in adaptive mode",
    ),
    (
        "forced-tool-with-thinking",
        message_body(
            max_tokens=4000,
            tools=[WEATHER_TOOL],
            tool_choice={"type": "any"},
            thinking={"type": "enabled", "budget_tokens": 1024},
        ),
        "Thinking may not be enabled when tool_choice forces tool use.",
    ),
    (
        "output-config-not-an-object",
        message_body(max_tokens=4000, output_config="high", thinking={"type": "adaptive"}),
        "output_config: Input should be a valid dictionary",
    ),
    ("temperature-out-of-range", message_body(temperature=2), "temperature: range: 0..1"),
    (
        "max-tokens-above-model-limit",
        message_body(max_tokens=64001),
        "max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-5",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"), [case[1:] for case in VALIDATION_CASES], ids=[case[0] for case in VALIDATION_CASES]
)
def test_validation_message(stack, body, message):
    with stack.http() as http:
        response = http.post("/v1/messages", json=body)
    assert_envelope(response, 400, "invalid_request_error", message)


def test_interleaved_thinking_lets_the_budget_exceed_max_tokens(stack):
    """With the interleaved-thinking beta the budget spans the whole turn, tool calls included, so Anthropic
    drops the budget < max_tokens rule; Claude Code sends that beta."""
    body = message_body(max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 4000})
    with stack.http() as http:
        plain = http.post("/v1/messages", json=body)
        interleaved = http.post(
            "/v1/messages",
            json=body,
            headers={"anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"},
        )
    assert_envelope(plain, 400, "invalid_request_error", _BUDGET_DOCS)
    assert interleaved.status_code == 200, interleaved.text
    assert interleaved.json()["type"] == "message"


@pytest.mark.parametrize("stream", [False, True])
def test_a_prompt_over_the_context_window_is_refused_before_salesforce(make_stack, stream):
    """The gateway's own estimate catches a prompt that cannot fit, with the text Claude Code compacts on."""
    built = make_stack()
    words = "lorem ipsum dolor sit amet " * 40_000  # ~1.1 MB: well over Sonnet 4.5's 200,000 tokens
    with built.http() as http:
        response = http.post("/v1/messages", json=message_body(messages=user(words), stream=stream))
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    used, limit = re.fullmatch(r"prompt is too long: (\d+) tokens > (\d+) maximum", message).groups()
    assert int(limit) == 200_000 and int(used) > int(limit)
    assert built.backend_requests("/ai/gpt/v1/model/") == [], "Salesforce was not asked"


def test_max_tokens_at_model_limit_passes_validation(stack):
    """The limit is inclusive: 64000 on claude-sonnet-4-5 is accepted (the counterpart of 64001)."""
    with stack.http() as http:
        response = http.post("/v1/messages", json=message_body(max_tokens=64000))
    assert response.status_code == 200, response.text


# (id, raw body, message prefix)
RAW_BODY_CASES = [
    ("malformed-json", b'{"model": "claude-sonnet-4-5", ', "Request body is not valid JSON"),
    ("non-object-body", b'[{"model": "claude-sonnet-4-5"}]', "Request body must be a JSON object"),
    ("string-body", b'"hello"', "Request body must be a JSON object"),
    ("empty-body", b"", "Request body is empty; expected a JSON object"),
]


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize(
    ("raw", "prefix"), [case[1:] for case in RAW_BODY_CASES], ids=[case[0] for case in RAW_BODY_CASES]
)
def test_unparseable_body(stack, path, raw, prefix):
    with stack.http() as http:
        response = http.post(path, content=raw, headers={"content-type": "application/json"})
    body = assert_envelope(response, 400, "invalid_request_error")
    assert body["error"]["message"].startswith(prefix)


# count_tokens validates the fields it shares with /v1/messages.
COUNT_TOKENS_CASES = [
    ("missing-model", {"messages": user("hi")}, "model: Field required"),
    ("missing-messages", {"model": SONNET}, "messages: Field required"),
    ("empty-messages", {"model": SONNET, "messages": []}, "messages: at least one message is required"),
    (
        "bad-tool-name",
        {"model": SONNET, "messages": user("hi"), "tools": [{"name": "a b", "input_schema": {}}]},
        "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"), [case[1:] for case in COUNT_TOKENS_CASES], ids=[case[0] for case in COUNT_TOKENS_CASES]
)
def test_count_tokens_validation_message(stack, body, message):
    with stack.http() as http:
        response = http.post("/v1/messages/count_tokens", json=body)
    assert_envelope(response, 400, "invalid_request_error", message)


def test_count_tokens_unknown_model_is_404(stack):
    with stack.http() as http:
        response = http.post("/v1/messages/count_tokens", json={"model": "no-such-model", "messages": user("hi")})
    assert_envelope(response, 404, "not_found_error", "model: no-such-model")


def test_validation_errors_never_reach_salesforce(make_stack):
    fresh = make_stack()
    with fresh.http() as http:
        for _, body, _ in VALIDATION_CASES:
            assert http.post("/v1/messages", json=body).status_code == 400
    assert fresh.backend_requests() == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/html"])
def test_wrong_content_type(stack, content_type):
    with stack.http() as http:
        response = http.post(
            "/v1/messages", content=json.dumps(message_body()).encode(), headers={"content-type": content_type}
        )
    assert_envelope(
        response, 400, "invalid_request_error", f"Content-Type must be application/json, not {content_type}"
    )


def test_json_content_type_with_charset_is_accepted(stack):
    with stack.http() as http:
        response = http.post(
            "/v1/messages",
            content=json.dumps(message_body()).encode(),
            headers={"content-type": "application/json; charset=utf-8"},
        )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize("version", [None, ""], ids=["absent", "empty"])
def test_missing_anthropic_version(stack, path, version):
    headers = {"x-api-key": "test-key"}
    if version is not None:
        headers["anthropic-version"] = version
    with raw_client(stack, headers) as http:
        response = http.post(path, json=message_body())
    assert_envelope(response, 400, "invalid_request_error", "anthropic-version: header is required")


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_body_over_limit_with_content_length(stack, path):
    started = time.monotonic()
    with stack.http() as http:
        response = http.post(path, content=big_body(), headers={"content-type": "application/json"})
    assert_envelope(response, 413, "request_too_large")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_body_over_limit_chunked(stack, path):
    """Without Content-Length the gateway counts the bytes as they arrive."""
    raw = big_body()

    def chunks():
        for start in range(0, len(raw), 1 << 20):
            yield raw[start : start + (1 << 20)]

    started = time.monotonic()
    with stack.http() as http:
        response = http.post(path, content=chunks(), headers={"content-type": "application/json"})
    assert_envelope(response, 413, "request_too_large")
    assert time.monotonic() - started < 5


def test_declared_content_length_over_limit_is_refused_before_the_body(stack):
    """A Content-Length above the limit is refused at once, without waiting for 33 MB that never come."""
    url = urlsplit(stack.gateway_url)
    request = (
        f"POST /v1/messages HTTP/1.1\r\nHost: {url.hostname}\r\nx-api-key: k\r\n"
        f"anthropic-version: {VERSION}\r\ncontent-type: application/json\r\n"
        f"content-length: {MAX_BODY + 1}\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"request-id: req_" in answer.lower()


def test_body_at_limit_is_not_refused_for_size(stack):
    """Just under 32 MB is read in full: the answer is about the content, not the size."""
    head = json.dumps(message_body(model="no-such-model", messages=user("x"))).encode()
    raw = head.replace(b'"x"', b'"' + b"a" * (MAX_BODY - len(head) - 16) + b'"')
    assert len(raw) <= MAX_BODY
    with stack.http() as http:
        response = http.post("/v1/messages/count_tokens", content=raw, headers={"content-type": "application/json"})
    assert_envelope(response, 404, "not_found_error", "model: no-such-model")


@pytest.mark.parametrize("surface", SURFACES)
def test_unknown_top_level_fields_are_ignored(stack, surface):
    body = message_body(
        model=SURFACE_MODELS[surface],
        messages=user("lenient please"),
        some_future_option={"nested": [1, 2, 3]},
        inference_geo="us",
        another_unknown_flag=True,
    )
    with stack.http() as http:
        response = http.post("/v1/messages", json=body)
        counted = http.post("/v1/messages/count_tokens", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == "lenient please"
    assert counted.status_code == 200, counted.text


# --- D. client authentication ------------------------------------------------------------------------

ACCEPTED_KEYS = {
    "x-api-key": {"x-api-key": "key-one"},
    "bearer": {"authorization": "Bearer key-two"},
    "bearer-lowercase-scheme": {"authorization": "bearer key-one"},
    "both-match": {"x-api-key": "key-one", "authorization": "Bearer key-one"},
    "x-api-key-wrong-bearer-right": {"x-api-key": "nope", "authorization": "Bearer key-one"},
    "x-api-key-right-bearer-wrong": {"x-api-key": "key-two", "authorization": "Bearer nope"},
}


@pytest.mark.parametrize("headers", ACCEPTED_KEYS.values(), ids=ACCEPTED_KEYS.keys())
def test_key_accepted(keyed, headers):
    with raw_client(keyed, {"anthropic-version": VERSION, **headers}) as http:
        response = http.post("/v1/messages", json=message_body(messages=user("authorised")))
        models = http.get("/v1/models")
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == "authorised"
    assert models.status_code == 200, models.text
    # The client's key stays at the gateway: Salesforce never sees it.
    sent = keyed.backend_requests()[-1]
    assert "key-one" not in json.dumps(sent["headers"])
    assert "key-two" not in json.dumps(sent["headers"])


REFUSED_KEYS = {
    "missing": ({}, "x-api-key header is required"),
    "empty-x-api-key": ({"x-api-key": ""}, "x-api-key header is required"),
    "bearer-without-token": ({"authorization": "Bearer"}, "x-api-key header is required"),
    "basic-scheme": ({"authorization": "Basic key-one"}, "x-api-key header is required"),
    "wrong-x-api-key": ({"x-api-key": "wrong"}, "invalid x-api-key"),
    "wrong-bearer": ({"authorization": "Bearer wrong"}, "invalid x-api-key"),
    "both-wrong": ({"x-api-key": "wrong", "authorization": "Bearer also-wrong"}, "invalid x-api-key"),
    "prefix-of-key": ({"x-api-key": "key-on"}, "invalid x-api-key"),
    "key-list-as-key": ({"x-api-key": KEYS}, "invalid x-api-key"),
}


@pytest.mark.parametrize(("headers", "message"), REFUSED_KEYS.values(), ids=REFUSED_KEYS.keys())
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens"), ("GET", "/v1/models"), ("GET", "/v1/models/x")],
)
def test_key_refused(keyed, method, path, headers, message):
    with raw_client(keyed, {"anthropic-version": VERSION, **headers}) as http:
        response = http.request(method, path, json=message_body() if method == "POST" else None)
    assert_envelope(response, 401, "authentication_error", message)
    assert keyed.backend_requests() == []


@pytest.mark.parametrize(("method", "path"), [("HEAD", "/"), ("GET", "/"), ("GET", "/health"), ("HEAD", "/health")])
def test_open_paths_need_no_key(keyed, method, path):
    with raw_client(keyed, {}) as http:
        response = http.request(method, path)
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")


def test_models_list_requires_key(keyed):
    with raw_client(keyed, {}) as http:
        assert_envelope(http.get("/v1/models"), 401, "authentication_error", "x-api-key header is required")
    with raw_client(keyed, {"x-api-key": "key-two"}) as http:
        response = http.get("/v1/models")
    assert response.status_code == 200
    assert response.json()["data"]


def test_sdk_with_auth_token(keyed, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    client = keyed.client(api_key=None, auth_token="key-two")
    message = client.messages.create(model=SONNET, max_tokens=50, messages=user("bearer works"))
    assert message.content[0].text == "bearer works"
    assert [m.id for m in client.models.list()]
    with client.messages.stream(model=SONNET, max_tokens=50, messages=user("bearer streams")) as stream:
        assert stream.get_final_text() == "bearer streams"


def test_sdk_with_api_key(keyed):
    client = keyed.client(api_key="key-one")
    message = client.messages.create(model=SONNET, max_tokens=50, messages=user("key works"))
    assert message.content[0].text == "key works"


def test_sdk_with_wrong_auth_token(keyed, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    client = keyed.client(api_key=None, auth_token="not-a-key")
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.create(model=SONNET, max_tokens=50, messages=user("hi"))
    check_sdk_error(
        caught.value, anthropic.AuthenticationError, 401, "authentication_error", message="invalid x-api-key"
    )


def test_no_keys_configured_accepts_any_key(stack):
    with raw_client(stack, {"anthropic-version": VERSION, "x-api-key": "anything-at-all"}) as http:
        assert http.post("/v1/messages", json=message_body()).status_code == 200
    with raw_client(stack, {"anthropic-version": VERSION}) as http:
        assert http.post("/v1/messages", json=message_body()).status_code == 200


# --- E. SSE wire format ------------------------------------------------------------------------------

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
    events = parse_sse(raw)  # every event: one event: line, one data: line, data.type == event name
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
    _, start = parse_sse(raw)[0]
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
    for name, data in parse_sse(raw):
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
    events = parse_sse(raw)
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
    names = [name for name, _ in parse_sse(raw)]
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


# --- F. non-streaming response shape and request-id everywhere --------------------------------------


@pytest.mark.parametrize("surface", SURFACES)
def test_message_shape(stack, surface):
    with stack.http() as http:
        response = http.post(
            "/v1/messages", json=message_body(model=SURFACE_MODELS[surface], messages=user("shape check"))
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert response.headers.get_list("request-id")[0].startswith("req_")
    body = response.json()
    assert body["id"].startswith("msg_")
    assert body["type"] == "message"
    assert body["role"] == "assistant"
    assert body["model"] == SURFACE_MODELS[surface]
    assert body["content"] == [{"type": "text", "text": "shape check"}]
    assert body["stop_reason"] in STOP_REASONS
    assert "stop_sequence" in body
    assert body["stop_sequence"] is None
    for key in ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        assert isinstance(body["usage"][key], int), key
    assert body["usage"]["input_tokens"] > 0
    assert body["usage"]["output_tokens"] > 0


# chat/generations reports only finish_reason "stop", never which sequence matched, so it is left out.
@pytest.mark.parametrize("surface", ["bedrock_invoke", "models_api"])
def test_stop_sequence_is_reported(stack, surface):
    body = message_body(
        model=SURFACE_MODELS[surface], messages=user("one two STOP three"), stop_sequences=["STOP"], max_tokens=100
    )
    with stack.http() as http:
        response = http.post("/v1/messages", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["stop_reason"] == "stop_sequence"
    assert response.json()["stop_sequence"] == "STOP"


REQUEST_ID_CASES = [
    ("HEAD", "/", {}),
    ("GET", "/", {}),
    ("GET", "/health", {}),
    ("GET", "/v1/models", {}),
    ("GET", "/v1/models/claude-sonnet-4-5", {}),
    ("POST", "/v1/messages/count_tokens", {"json": {"model": SONNET, "messages": user("hi")}}),
    ("POST", "/v1/messages", {"json": message_body()}),
    ("POST", "/v1/messages", {"json": message_body(temperature=5)}),
    ("POST", "/v1/messages", {"json": message_body(messages=user("[[error:429]]"))}),
    ("GET", "/nowhere", {}),
    ("PUT", "/v1/messages", {}),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    REQUEST_ID_CASES,
    ids=[f"{m} {p} {i}" for i, (m, p, _) in enumerate(REQUEST_ID_CASES)],
)
def test_request_id_header_on_every_response(stack, method, path, kwargs):
    with stack.http() as http:
        response = http.request(method, path, **kwargs)
    values = response.headers.get_list("request-id")
    assert len(values) == 1, values
    assert values[0].startswith("req_")
    assert len(values[0]) > len("req_") + 10


def test_head_root(stack):
    with raw_client(stack, {}) as http:
        response = http.head("/")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["request-id"].startswith("req_")


# --- G. query strings are ignored --------------------------------------------------------------------


@pytest.mark.parametrize("surface", SURFACES)
def test_messages_with_beta_query(stack, surface):
    body = message_body(model=SURFACE_MODELS[surface], messages=user("beta path"))
    with stack.http(headers={"anthropic-beta": "interleaved-thinking-2025-05-14,some-unknown-beta"}) as http:
        response = http.post("/v1/messages?beta=true", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == "beta path"


@pytest.mark.parametrize("surface", SURFACES)
def test_streaming_with_beta_query(stack, surface):
    response, raw = stream_raw(stack, surface, path="/v1/messages?beta=true")
    assert response.status_code == 200
    names = [name for name, _ in parse_sse(raw)]
    assert names[0] == "message_start"
    assert names[-1] == "message_stop"


def test_count_tokens_with_beta_query(stack):
    body = {"model": SONNET, "messages": user("count these four words")}
    with stack.http() as http:
        plain = http.post("/v1/messages/count_tokens", json=body)
        beta = http.post("/v1/messages/count_tokens?beta=true", json=body)
    assert beta.status_code == 200, beta.text
    assert isinstance(beta.json()["input_tokens"], int)
    assert beta.json()["input_tokens"] > 0
    assert beta.json() == plain.json()


def test_errors_with_beta_query(stack):
    with stack.http() as http:
        response = http.post("/v1/messages?beta=true", json=message_body(model="no-such-model"))
    assert_envelope(response, 404, "not_found_error", "model: no-such-model")


def test_sdk_beta_client_works(client):
    message = client.beta.messages.create(model=SONNET, max_tokens=50, messages=user("sdk beta"))
    assert message.content[0].text == "sdk beta"
    counted = client.beta.messages.count_tokens(model=SONNET, messages=user("sdk beta count"))
    assert counted.input_tokens > 0


@pytest.mark.parametrize("mode", ["json", "stream"])
def test_an_empty_answer_cut_by_a_stop_sequence_is_a_normal_answer(client, mode):
    """A stop sequence that matches at the very start leaves nothing, legitimately: no 529 then."""
    params = {
        "model": SURFACE_MODELS["chat_generations"],
        "max_tokens": 50,
        "messages": user("Halt right there"),
        "stop_sequences": ["Halt"],
    }
    if mode == "json":
        message = client.messages.create(**params)
    else:
        with client.messages.stream(**params) as stream:
            message = stream.get_final_message()
    assert message.content == []
    assert message.stop_reason == "end_turn"  # chat/generations says only "stop" (see docs/clients.md)
