"""The gateway's own retries, through real sockets: which statuses, how many, Retry-After left to the client's
SDK, a 429 never retried here, and never once a stream has sent bytes."""

from __future__ import annotations

import time

import pytest
from support.outcomes import (
    STREAMING_SURFACES,
    SURFACES,
    WORDS,
    assert_error,
    assert_stream_error_after_content,
    attempts,
    backend_calls,
    body_for,
    raw_call,
    sdk_call,
)
from support.sdk import marker
from support.stacks import Stack


@pytest.fixture
def retrying(module_stacks) -> Stack:
    """The default retry policy: one retry of a 5xx or refused connection, none of a 429."""
    return module_stacks("retrying", {})


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("surface", SURFACES)
def test_retry_then_success(retrying, surface, stream):
    word = marker()
    message = sdk_call(retrying, surface, f"{word} [[error:503:first-1]]", stream)
    assert message.content[0].text == word
    assert attempts(retrying, word) == 2
    assert backend_calls(retrying, word) == 2


@pytest.mark.parametrize("code", [500, 502, 504])
def test_retryable_statuses(retrying, code):
    word = marker()
    assert sdk_call(retrying, "bedrock_invoke", f"{word} [[error:{code}:first-1]]", False).content[0].text == word
    assert attempts(retrying, word) == 2


@pytest.mark.parametrize(("code", "status"), [(408, 504), (423, 529), (429, 429)])
def test_statuses_left_to_the_client(retrying, code, status):
    """Rate limits, busy and timeout answers go straight back: the client's SDK retries them itself."""
    word = marker()
    outcome = raw_call(retrying, body_for("bedrock_invoke", f"{word} [[error:{code}:first-1]]", False))
    assert outcome.status == status, outcome.raw[:300]
    assert attempts(retrying, word) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_retry_after_is_honoured(retrying, stream):
    """The gateway passes the 429 and its Retry-After on; the SDK's own retry waits it out, then succeeds."""
    word = marker()
    start = time.monotonic()
    message = sdk_call(retrying, "chat_generations", f"{word} [[error:429:first-1]]", stream, max_retries=1)
    assert message.content[0].text == word
    assert time.monotonic() - start >= 0.95  # Retry-After: 1
    assert attempts(retrying, word) == 2  # one per client attempt


@pytest.mark.parametrize("code", [400, 404])
@pytest.mark.parametrize("surface", SURFACES)
def test_client_errors_are_not_retried(retrying, surface, code):
    word = marker()
    outcome = raw_call(retrying, body_for(surface, f"{word} [[error:{code}:first-3]]", False))
    assert_error(outcome, code, "invalid_request_error" if code == 400 else "not_found_error")
    assert attempts(retrying, word) == 1
    outcome = raw_call(retrying, body_for(surface, f"{word} plain [[error:{code}]]", True))
    assert outcome.status == code
    assert backend_calls(retrying, f"{word} plain") == 1


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("surface", SURFACES)
def test_retries_exhausted(retrying, surface, stream):
    word = marker()
    outcome = raw_call(retrying, body_for(surface, f"{word} [[error:503:first-5]]", stream))
    assert_error(outcome, 529, "overloaded_error")
    assert attempts(retrying, word) == 2  # one try and the default single retry


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_429_never_retried_by_the_gateway(module_stacks, stream):
    """Even with retries configured, a 429 goes back at once with its Retry-After: no waiting here."""
    built = module_stacks("many-retries", {"SF_MAX_RETRIES": "5"})
    word = marker()
    outcome = raw_call(built, body_for("bedrock_invoke", f"{word} [[error:429:first-5]]", stream))
    assert_error(outcome, 429, "rate_limit_error")
    assert outcome.headers.get("retry-after") == "1"
    assert attempts(built, word) == 1


@pytest.mark.parametrize("fault", ["drop-mid-stream", "exception-mid-stream"])
@pytest.mark.parametrize("surface", STREAMING_SURFACES)
def test_stream_not_retried_after_bytes(retrying, surface, fault):
    word = marker()
    outcome = raw_call(retrying, body_for(surface, f"{WORDS} {word} [[fault:{fault}]]", True))
    assert_stream_error_after_content(outcome, "api_error")
    assert backend_calls(retrying, word) == 1
