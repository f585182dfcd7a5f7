"""Salesforce misbehaves before or during an answer, and the client sees why: each failure status, broken and
empty answers, a stream that breaks halfway, and silence longer than the read timeout, on every surface,
streaming or not, through raw HTTP and the SDK.

Timing is asserted only relative to how long the simulator stays silent.
"""

from __future__ import annotations

import concurrent.futures

import anthropic
import pytest
from support.outcomes import (
    STREAMING_SURFACES,
    SURFACES,
    WORDS,
    assert_error,
    assert_stream_error_after_content,
    backend_calls,
    body_for,
    raw_call,
    sdk_call,
    sdk_stream_until_error,
)
from support.sdk import marker
from support.stacks import Stack


@pytest.fixture
def timeouts(module_stacks) -> Stack:
    """Salesforce read timeout 0.4 s; the stream grace (1.5 s) is longer, so early timeouts get an HTTP status."""
    env = {
        "SF_MAX_RETRIES": "0",
        "SF_READ_TIMEOUT": "0.4",
        "STREAM_GRACE_SECONDS": "1.5",
        "STREAM_KEEPALIVE_SECONDS": "0.2",
    }
    return module_stacks("timeouts", env)


STATUS_FAULTS = [
    # directive, HTTP status the client gets, Anthropic error type
    ("[[error:429]]", 429, "rate_limit_error"),
    ("[[error:429:no-retry-after]]", 429, "rate_limit_error"),
    ("[[error:500]]", 500, "api_error"),
    ("[[error:503]]", 529, "overloaded_error"),
    ("[[error:423]]", 529, "overloaded_error"),
    ("[[fault:error-body-200]]", 529, "overloaded_error"),
    ("[[fault:empty-body]]", 529, "overloaded_error"),
]
SDK_CLASS = {
    429: anthropic.RateLimitError,
    500: anthropic.InternalServerError,
    504: anthropic.GatewayTimeoutError,
    529: anthropic.OverloadedError,
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize(("directive", "status", "error_type"), STATUS_FAULTS, ids=[f[0] for f in STATUS_FAULTS])
def test_backend_fault_status(stack, surface, stream, directive, status, error_type):
    """Each failure before the first event reaches the client as a real HTTP status, streaming or not."""
    word = marker()
    outcome = raw_call(stack, body_for(surface, f"hi {word} {directive}", stream))
    assert_error(outcome, status, error_type)
    if directive == "[[error:429]]":
        assert outcome.headers.get("retry-after") == "1"  # Salesforce sent it: forwarded
    else:
        assert "retry-after" not in outcome.headers  # Salesforce did not: none invented
    assert backend_calls(stack, word) == 1  # SF_MAX_RETRIES=0: no retries here

    with pytest.raises(anthropic.APIStatusError) as caught:
        sdk_call(stack, surface, f"hi {word} {directive}", stream)
    assert type(caught.value) is SDK_CLASS[status], repr(caught.value)
    assert caught.value.body["error"]["type"] == error_type


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("surface", SURFACES)
def test_malformed_json(stack, surface, stream):
    """A broken answer: 500 api_error before the first event; ``event: error`` once content has been sent."""
    word = marker()
    outcome = raw_call(stack, body_for(surface, f"{WORDS} {word} [[fault:malformed-json]]", stream))
    if stream and surface in STREAMING_SURFACES:
        assert_stream_error_after_content(outcome, "api_error")
    else:
        error = assert_error(outcome, 500, "api_error")
        assert "malformed" in error["message"].lower()
    assert backend_calls(stack, word) == 1


@pytest.mark.parametrize("fault", ["drop-mid-stream", "exception-mid-stream", "malformed-json"])
@pytest.mark.parametrize("surface", STREAMING_SURFACES)
def test_mid_stream_failure(stack, surface, fault):
    """Salesforce fails halfway: the client has partial content, then ``event: error``, never message_stop."""
    word = marker()
    text = f"{WORDS} {word} [[fault:{fault}]]"
    outcome = raw_call(stack, body_for(surface, text, True))
    assert_stream_error_after_content(outcome, "api_error")
    assert WORDS.startswith(outcome.text.strip()), outcome.text
    assert backend_calls(stack, word) == 1

    received, exc = sdk_stream_until_error(stack, surface, text)
    assert received and WORDS.startswith(received.strip()), received
    assert exc.body["error"]["type"] == "api_error"


SILENCE_MS = 4000  # how long the simulator stays silent in the timeout tests: 10x SF_READ_TIMEOUT


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("surface", SURFACES)
def test_timeout_before_first_byte(timeouts, surface, stream):
    """Salesforce silent for longer than SF_READ_TIMEOUT before anything: 504 timeout_error, promptly.

    The simulator would answer after 4 s, ten times the 0.4 s read timeout: an answer in under half that
    came from the gateway's read timeout, whatever the machine's load adds to it.
    """
    text = f"hi {marker()} [[delay:{SILENCE_MS}]]"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        sdk = pool.submit(sdk_call, timeouts, surface, text, stream)
        outcome = raw_call(timeouts, body_for(surface, text, stream))
        with pytest.raises(anthropic.GatewayTimeoutError):
            sdk.result()
    error = assert_error(outcome, 504, "timeout_error")
    assert "Salesforce" in error["message"]
    assert outcome.elapsed < SILENCE_MS / 1000 / 2, outcome.elapsed  # the read timeout, not the simulator's answer


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("surface", SURFACES)
def test_timeout_mid_answer(timeouts, surface, stream):
    """A stall longer than SF_READ_TIMEOUT: mid-stream it ends the stream with a timeout_error event;
    before a JSON answer (and the Models API's emulated stream) it is an HTTP 504. The stall is ten read timeouts
    long: an answer in under half of it came from the gateway's read timeout."""
    word = marker()
    outcome = raw_call(timeouts, body_for(surface, f"{WORDS} {word} [[stall:{SILENCE_MS}]]", stream))
    if stream and surface in STREAMING_SURFACES:
        assert_stream_error_after_content(outcome, "timeout_error")
    else:
        assert_error(outcome, 504, "timeout_error")
    assert outcome.elapsed < SILENCE_MS / 1000 / 2, outcome.elapsed  # the read timeout, not the stall's end
    assert backend_calls(timeouts, word) == 1
