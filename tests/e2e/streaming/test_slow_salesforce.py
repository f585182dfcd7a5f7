"""A slow Salesforce: the gateway commits to a stream with its own message_start once the grace has passed,
keeps the client's connection alive with pings, ends a committed stream with ``event: error`` when Salesforce
then fails, and answers a failure within the grace with a real HTTP status.

Timing is asserted by order (what arrived before what) and relative to the simulator's configured delay.
"""

from __future__ import annotations

import concurrent.futures

import anthropic
import pytest
from support.outcomes import SURFACES, body_for, raw_call, sdk_call, sdk_stream_until_error
from support.sdk import marker
from support.stacks import SURFACE_MODELS, Stack


@pytest.fixture
def slow(module_stacks) -> Stack:
    """Commits to a stream after 0.3 s of backend silence and pings every 0.2 s after that."""
    return module_stacks(
        "slow", {"SF_MAX_RETRIES": "0", "STREAM_GRACE_SECONDS": "0.3", "STREAM_KEEPALIVE_SECONDS": "0.2"}
    )


# Salesforce's silence before its first byte: well past the 0.3 s grace, so the commit comes while it is silent
# whatever the machine's load adds, and several 0.2 s keep-alives long. The Models API answers once (JSON);
# the streaming surfaces pause before every chunk too, so a shorter pace keeps the test short.
SLOW_DELAY = {"models_api": 1200, "bedrock_invoke": 800, "chat_generations": 800, "responses": 800}


@pytest.mark.parametrize("surface", SURFACES)
def test_slow_backend_commits_early_and_pings(slow, surface):
    word = marker()
    text = f"{word} [[delay:{SLOW_DELAY[surface]}]]"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        sdk = pool.submit(sdk_call, slow, surface, text, True)
        outcome = raw_call(slow, body_for(surface, text, True))
        message = sdk.result()
    assert message.content[0].text == word  # the SDK reads the committed stream, pings and all
    assert message.id.startswith("msg_")

    assert outcome.status == 200
    names = outcome.names
    assert names[0] == "message_start" and names.count("message_start") == 1, names
    silence = SLOW_DELAY[surface] / 1000
    start = outcome.events[0]
    assert start.at < silence, start.at  # committed before Salesforce said anything
    assert start.data["message"]["id"].startswith("msg_")
    assert start.data["message"]["usage"]["input_tokens"] >= 1
    first_block = names.index("content_block_start")
    assert outcome.events[first_block].at >= silence  # the content came after Salesforce's silence...
    assert names[1:first_block] and set(names[1:first_block]) == {"ping"}, names  # ...with only pings before it
    gaps = [b.at - a.at for a, b in zip(outcome.events, outcome.events[1:], strict=False)]
    assert max(gaps) < silence, gaps  # each of Salesforce's pauses was broken up by pings
    assert outcome.text == word
    assert names[-1] == "message_stop", f"events after message_stop: {names[names.index('message_stop') :]}"


@pytest.mark.parametrize(
    ("surface", "directives", "error_type"),
    [
        ("bedrock_invoke", "[[fault:exception-mid-stream]]", "api_error"),
        ("chat_generations", "[[fault:exception-mid-stream]]", "api_error"),
        ("models_api", "[[fault:error-body-200]]", "overloaded_error"),
        ("models_api", "[[fault:malformed-json]]", "api_error"),
    ],
)
def test_error_after_commit_ends_the_stream(slow, surface, directives, error_type):
    """The backend fails after the stream was committed (placeholder message_start sent): ``event: error``."""
    silence = SLOW_DELAY[surface] / 1000
    text = f"{marker()} [[delay:{SLOW_DELAY[surface]}]] {directives}"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        sdk = pool.submit(sdk_stream_until_error, slow, surface, text)
        outcome = raw_call(slow, body_for(surface, text, True))
        _, exc = sdk.result()
    assert exc.body["error"]["type"] == error_type

    assert outcome.status == 200
    names = outcome.names
    assert names[0] == "message_start" and names.count("message_start") == 1, names
    assert outcome.events[0].at < silence  # committed before Salesforce said anything
    assert names[1] == "ping"
    assert names[-1] == "error" and "message_stop" not in names, names
    assert outcome.events[-1].data["error"]["type"] == error_type


@pytest.mark.parametrize("surface", SURFACES)
def test_error_within_grace_gets_http_status(slow, surface):
    client = slow.client()
    params = {"model": SURFACE_MODELS[surface], "max_tokens": 50, "messages": [{"role": "user", "content": "x"}]}
    params["messages"][0]["content"] = "hi [[error:503]]"
    with pytest.raises(anthropic.OverloadedError), client.messages.stream(**params):
        pass  # raised on entry: the HTTP status, before any event
    params["messages"][0]["content"] = "hi [[error:429]]"
    with pytest.raises(anthropic.RateLimitError) as caught, client.messages.stream(**params):
        pass
    assert caught.value.response.headers["retry-after"] == "1"
