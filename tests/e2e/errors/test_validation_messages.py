"""Request validation answers with Anthropic's own texts, on /v1/messages and count_tokens, and never
reaches Salesforce."""

from __future__ import annotations

import re

import pytest
from support.wire import SONNET, WEATHER_TOOL, assert_envelope, message_body, user

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
