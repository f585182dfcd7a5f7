"""A client that goes away takes the Salesforce call with it: a slow JSON call, a stream still in its grace,
and a stream halfway through.

The observable is the simulator's own: it counts the calls whose caller hung up before the answer was ready
(``abandoned``), and the streams still being sent (``streams_open``).
"""

from __future__ import annotations

import httpx
import pytest
from support.outcomes import (
    STREAMING_SURFACES,
    SURFACES,
    VERSION,
    WORDS,
    backend_calls,
    body_for,
    raw_call,
    sdk_call,
    wait_until,
)
from support.sdk import marker

# How long the simulator stays silent before answering: far beyond the client's 0.3 s patience and whatever a
# loaded machine adds to the gateway's hang-up, so "hung up before the answer" is decided by order, not by a clock.
SILENCE_MS = 5000
PACE_MS = 300  # the mid-stream test's pause before every chunk: the rest of its answer takes ten pauses or more


@pytest.mark.parametrize("surface", SURFACES)
def test_disconnect_cancels_json_call(make_stack, surface):
    """The client gives up on a slow JSON call: the gateway hangs up on Salesforce too."""
    built = make_stack(env={"SF_MAX_RETRIES": "0"})
    sdk_call(built, surface, "warm up", False)
    word = marker()
    with pytest.raises(httpx.ReadTimeout):
        raw_call(built, body_for(surface, f"{word} [[delay:{SILENCE_MS}]]", False), timeout=0.3)
    # The simulator notices when its caller hangs up before the answer is ready; after that it never would.
    gone_after = wait_until(lambda: built.simulator.abandoned == 1, timeout=SILENCE_MS / 1000)
    assert gone_after is not None, "the gateway kept its Salesforce call running after the client left"
    assert backend_calls(built, word) == 1


@pytest.mark.parametrize("surface", SURFACES)
def test_disconnect_in_stream_grace_cancels_call(make_stack, surface):
    """The client leaves while the gateway still waits for the first event (default 10 s grace)."""
    built = make_stack(env={"SF_MAX_RETRIES": "0"})
    sdk_call(built, surface, "warm up", False)
    word = marker()
    with pytest.raises(httpx.ReadTimeout):
        raw_call(built, body_for(surface, f"{word} [[delay:{SILENCE_MS}]]", True), timeout=0.3)
    simulator = built.simulator

    def hung_up() -> bool:
        # models_api answers JSON (the simulator sees its caller hang up); the others stream (it ends).
        return simulator.abandoned == 1 if surface == "models_api" else simulator.streams_open == 0

    gone_after = wait_until(hung_up, timeout=SILENCE_MS / 1000)  # a stream's own end is several silences away
    assert gone_after is not None, "the gateway kept its Salesforce call running after the client left"


@pytest.mark.parametrize("surface", STREAMING_SURFACES)
def test_disconnect_mid_stream_cancels_call(make_stack, surface):
    built = make_stack(env={"SF_MAX_RETRIES": "0", "STREAM_GRACE_SECONDS": "0.3", "STREAM_KEEPALIVE_SECONDS": "0.2"})
    sdk_call(built, surface, "warm up", False)
    word = marker()
    headers = {"x-api-key": "test-key", "anthropic-version": VERSION}
    body = body_for(surface, f"{WORDS} {WORDS} {word} [[delay:{PACE_MS}]]", True)
    simulator = built.simulator
    with (
        httpx.Client(base_url=built.gateway_url, headers=headers, timeout=10) as http,
        http.stream("POST", "/v1/messages", json=body) as response,
    ):
        assert response.status_code == 200
        open_while_reading = None
        for line in response.iter_lines():
            if line.startswith("event: content_block_delta"):
                open_while_reading = simulator.streams_open
                # The same counter over HTTP, as `make load` reads it from the simulator's own process.
                stats_while_reading = httpx.get(f"{built.simulator_url}/simulator/stats").json()
                break  # leaving the loop closes the client's connection
    assert open_while_reading == 1  # the backend stream was open while the client read
    assert stats_while_reading["streams_open"] == 1
    # The client is gone; the rest of the answer would take ten pauses or more at this pace. The simulator's
    # stream ends sooner only when the gateway hangs up on it: wait at most half that.
    gone_after = wait_until(lambda: simulator.streams_open == 0, timeout=5 * PACE_MS / 1000)
    assert gone_after is not None, "the Salesforce stream stayed open after the client left"
    assert httpx.get(f"{built.simulator_url}/simulator/stats").json()["streams_open"] == 0
    assert backend_calls(built, word) == 1
