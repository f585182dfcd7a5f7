"""Every SDK error class, reached with the real ``anthropic`` SDK, JSON and streaming, on every surface.

Salesforce's failures (simulated by ``[[error:N]]`` and ``[[fault:...]]`` directives) reach the client as the
status and error type Anthropic would send, before the first byte of a stream.
"""

from __future__ import annotations

import re

import anthropic
import pytest
from support.sdk import MODES, check_sdk_error, sdk_request
from support.stacks import SURFACE_MODELS
from support.wire import KEYS, MAX_BODY, SONNET, user

SURFACES = list(SURFACE_MODELS)


@pytest.fixture
def keyed(make_stack):
    """A gateway that accepts only ``key-one`` and ``key-two``."""
    return make_stack(env={"GATEWAY_API_KEYS": KEYS})


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
