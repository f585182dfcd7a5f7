"""Outages are bounded and said as outages, end to end over loopback:

- the request's deadline (SF_DEADLINE_SECONDS) binds every wait before the first byte, the OAuth mint
  included: a token URL that accepts and never answers gives each waiting request a timely 504, not a queue;
- one mint in flight, its failure shared by every waiter and held for a few seconds;
- "Salesforce could not be asked" is never "this model does not exist": GET /v1/models/{id} is a retryable
  5xx, GET /v1/models the last known good list or a 5xx, never an empty 200.

Timing is asserted only relative to the deadline setting.
"""

from __future__ import annotations

import concurrent.futures
import time

import anthropic
import pytest
from support.sockets import silent_server
from support.stacks import Stack

from gateway.salesforce import oauth
from simulator.app import SimulatorConfig
from simulator.oauth import TokenMint

DEADLINE = 1.5  # SF_DEADLINE_SECONDS in these tests; the read timeout is far longer
SECRET = "sf-secret-outage-5e1f"


def timed(call) -> tuple[float, BaseException | object]:
    start = time.monotonic()
    try:
        result = call()
    except BaseException as exc:
        result = exc
    return time.monotonic() - start, result


def at_once(calls: list) -> list[tuple[float, BaseException | object]]:
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(timed, calls))


def ask(stack: Stack, text: str = "hi", stream: bool = False, model: str = "claude-sonnet-4-5"):
    def call():
        client = stack.client()
        params = {"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": text}]}
        if not stream:
            return client.messages.create(**params)
        with client.messages.stream(**params) as s:
            return s.get_final_message()

    return call


def get(stack: Stack, path: str):
    def call():
        with stack.http() as http:
            return http.get(path)

    return call


def test_hung_token_url_gives_every_waiting_request_a_timely_504(make_stack):
    with silent_server() as silent:
        stack = make_stack(
            env={
                "SF_TOKEN_URL": f"http://127.0.0.1:{silent.port}/services/oauth2/token",
                "SF_DEADLINE_SECONDS": str(DEADLINE),
                "SF_READ_TIMEOUT": str(DEADLINE * 20),
            },
            sim_config=SimulatorConfig(client_secret=SECRET),
        )
        outcomes = at_once([ask(stack), ask(stack), ask(stack, stream=True)])
        for elapsed, result in outcomes:
            assert isinstance(result, anthropic.GatewayTimeoutError), repr(result)
            assert result.body["error"]["type"] == "timeout_error"
            assert "OAuth" in result.body["error"]["message"]
            assert SECRET not in result.response.text
            assert DEADLINE * 0.9 <= elapsed < DEADLINE * 2, elapsed  # by the deadline, not N x the read timeout
        assert len(silent.accepted) == 1  # one mint in flight, shared by all three

        # Meanwhile model verification cannot ask Salesforce: that is an outage, not "no such model".
        (elapsed, one), (_, listing) = at_once([get(stack, "/v1/models/claude-sonnet-4-5"), get(stack, "/v1/models")])
        assert one.status_code == 503, one.text
        assert one.json()["error"]["type"] == "api_error"
        assert one.headers.get("x-should-retry") != "false"
        assert elapsed < DEADLINE * 2, elapsed
        assert listing.status_code == 503, listing.text  # nothing known yet: an error, never an empty list
        assert len(silent.accepted) == 1
        assert not stack.simulator.requests  # no model call went out without a token


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "claude-3-7-sonnet-latest"])  # invoke; the Models API
def test_deadline_binds_a_silent_salesforce(make_stack, model):
    """Salesforce silent before its answer (a JSON call; the Models API's emulated stream is one too)."""
    stack = make_stack(env={"SF_DEADLINE_SECONDS": str(DEADLINE), "SF_READ_TIMEOUT": str(DEADLINE * 20)})
    for stream in (False, True) if model == "claude-3-7-sonnet-latest" else (False,):
        elapsed, result = timed(ask(stack, "hi [[delay:10000]]", stream, model))
        assert isinstance(result, anthropic.GatewayTimeoutError), repr(result)
        assert "deadline" in result.body["error"]["message"]
        assert elapsed < DEADLINE * 2, elapsed


def test_failing_token_url_shares_one_failure_and_holds_it(make_stack):
    """Three requests during an OAuth outage: one token request, Salesforce's words for all three, no secret;
    requests right after get the same answer without asking again, until the hold has passed."""
    stack = make_stack(sim_config=SimulatorConfig(client_secret=SECRET))
    stack.simulator.config.oauth_fail_status = 500
    outcomes = at_once([ask(stack), ask(stack), ask(stack, stream=True)])
    for _, result in outcomes:
        assert isinstance(result, anthropic.InternalServerError), repr(result)
        assert "simulated OAuth outage" in result.body["error"]["message"]  # Salesforce's error_description
        assert SECRET not in result.response.text
    assert stack.simulator.oauth_calls == 1

    stack.simulator.config.oauth_fail_status = None  # the outage ends; the gateway does not know yet
    _, held = timed(ask(stack))
    assert isinstance(held, anthropic.InternalServerError), repr(held)
    assert stack.simulator.oauth_calls == 1  # held: not asked again
    time.sleep(oauth.FAILED_MINT_HOLD)
    assert ask(stack, "back")().content[0].text == "back"
    assert stack.simulator.oauth_calls == 2


TTL = 2  # MODEL_VERIFICATION_TTL, seconds


def test_listing_during_an_outage_is_the_last_known_good_list(make_stack, monkeypatch):
    """Verified models expire from the cache; then Salesforce cannot be asked (token refused, OAuth down):
    the listing is what the store last knew, retrieving a model is a retryable 503, never a 404."""
    monkeypatch.setattr(oauth, "FAILED_MINT_HOLD", 0.0)
    stack = make_stack(env={"MODEL_VERIFICATION_TTL": str(TTL)})
    with stack.http() as http:
        known = http.get("/v1/models", params={"limit": 1000})
        assert known.status_code == 200
        known_ids = [m["id"] for m in known.json()["data"]]
        assert known_ids
        time.sleep(TTL + 0.1)  # every verification has expired
        stack.simulator.mint = TokenMint(b"rotated", 1800)  # the cached token is refused...
        stack.simulator.config.oauth_fail_status = 503  # ...and no new one can be had
        requests_before = len(stack.simulator.requests)
        during = http.get("/v1/models", params={"limit": 1000})
        one = http.get(f"/v1/models/{known_ids[0]}")
        assert len(stack.simulator.requests) > requests_before  # Salesforce was asked again, and failed
        assert during.status_code == 200, during.text
        # Probes that outlived the first listing's budget (a loaded machine) may have added models since.
        assert set(known_ids) <= {m["id"] for m in during.json()["data"]}
        assert one.status_code == 503, one.text
        assert one.headers.get("x-should-retry") != "false"

        stack.simulator.config.oauth_fail_status = None  # back: the model is retrievable again
        assert http.get(f"/v1/models/{known_ids[0]}").status_code == 200


def test_a_refusal_is_still_not_found(stack):
    """Salesforce's own 404 keeps meaning "no such model": the simulated org refuses Claude Opus 4.1."""
    with stack.http() as http:
        response = http.get("/v1/models/claude-opus-4-1")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"
    assert response.headers["x-should-retry"] == "false"


def test_concurrent_first_requests_share_one_mint(make_stack):
    stack = make_stack()
    outcomes = at_once([ask(stack, f"w{i}") for i in range(6)])
    assert all(not isinstance(r, BaseException) for _, r in outcomes), outcomes
    assert stack.simulator.oauth_calls == 1
    assert stack.simulator.mint.minted == 1


def test_a_model_lookup_is_bounded_though_the_deadline_is_long(make_stack, monkeypatch):
    """With the default deadline (minutes) and a token URL that never answers, GET /v1/models/{id} is a 503
    within its own lookup budget; the probe goes on in the background."""
    from gateway.routes import models

    monkeypatch.setattr(models, "LOOKUP_BUDGET", DEADLINE)
    with silent_server() as silent:
        stack = make_stack(
            env={"SF_TOKEN_URL": f"http://127.0.0.1:{silent.port}/services/oauth2/token", "SF_DEADLINE_SECONDS": "600"}
        )
        elapsed, one = timed(get(stack, "/v1/models/claude-sonnet-4-6"))
        assert one.status_code == 503, one.text
        assert one.headers.get("x-should-retry") != "false"
        assert DEADLINE * 0.9 <= elapsed < DEADLINE * 4, elapsed  # the lookup budget, not the 600 s deadline
