"""The Salesforce client's manners, end to end through the anthropic SDK against the simulator:

1. retries that don't multiply: a 429 reaches Salesforce once per client attempt, with its Retry-After;
2. tolerance: Salesforce's words from any error shape, a 200 that carries an error is a retryable 529,
   a 404 on an old token re-mints once, tools to a model that cannot call them are a clear 400;
3. OAuth tokens: refreshed before they expire, re-minted once on a 401, a failed mint never shows the secret.
   These run on loopback because refresh and re-mint behaviour only shows against a real mint.

The pure parts (error mapping, retry sets) are tested in unit/salesforce/.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import anthropic
import httpx
import pytest
from support.stacks import SURFACE_MODELS, Stack, start_stack, stop_all

from gateway.catalog.model_map import ModelMap
from gateway.salesforce import client as sf_client
from gateway.salesforce.client import SalesforceClient
from gateway.salesforce.errors import CallContext
from gateway.salesforce.oauth import jwt_expiry
from simulator.app import SimulatorConfig
from simulator.oauth import TokenMint

CTX = CallContext("claude-x", "sfdc_ai__X", 200_000, 10)
# How each error shape the evidence reports begins, as the simulator sends it.
SHAPE_START = {
    "salesforce": '{"errorCode":',
    "list": '[{"errorCode":',
    "oauth": '{"error":"invalid_auth","error_description":',
    "openai": '{"error":{"message":',
    "message": '{"message":',
    "text": "Access bearer token is missing or invalid",
}
SHAPES = list(SHAPE_START)


def mark() -> str:
    return f"m{uuid.uuid4().hex[:12]}"


def model_calls(stack: Stack, word: str) -> int:
    return sum(1 for r in stack.simulator.requests if word in r["body"])


def ask(stack: Stack, text: str, model: str = "claude-sonnet-4-5", stream: bool = False, **kwargs):
    client = stack.client(**kwargs)
    params = {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": text}]}
    if not stream:
        return client.messages.create(**params)
    with client.messages.stream(**params) as s:
        return s.get_final_message()


@pytest.fixture(scope="module")
def stacks() -> Iterator:
    """Stacks by name, shared by this module's tests; every one with the gateway's default retry policy."""
    built: dict[str, Stack] = {}
    servers: list = []

    def get(name: str, env: dict[str, str] | None = None, sim_config: SimulatorConfig | None = None) -> Stack:
        if name not in built:
            built[name], started = start_stack(env, sim_config)
            servers.extend(started)
        return built[name]

    yield get
    stop_all(servers)


# --- 1. retries that don't multiply ------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_429_reaches_salesforce_once_per_client_attempt(stacks, stream):
    """The SDK retries a 429 twice, after Salesforce's Retry-After; Salesforce sees three calls, not nine."""
    stack = stacks("default")
    sent: list[httpx.Request] = []
    http_client = anthropic.DefaultHttpxClient(event_hooks={"request": [sent.append]})
    word = mark()
    with pytest.raises(anthropic.RateLimitError) as caught:
        ask(stack, f"{word} [[error:429]]", stream=stream, max_retries=2, http_client=http_client)
    assert len(sent) == 3  # the SDK's own attempts
    assert model_calls(stack, word) == len(sent)
    assert caught.value.response.headers["retry-after"] == "1"  # Salesforce's, passed through
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    assert "Too many requests" in caught.value.body["error"]["message"]  # Salesforce's words


def test_a_429_is_not_retried_even_with_more_retries_configured(stacks):
    stack = stacks("many-retries", {"SF_MAX_RETRIES": "3"})
    word = mark()
    with pytest.raises(anthropic.RateLimitError) as caught:
        ask(stack, f"{word} [[error:429]]")
    assert caught.value.response.headers["retry-after"] == "1"
    assert model_calls(stack, word) == 1
    word = mark()  # while a 5xx is still retried, up to the configured count
    with pytest.raises(anthropic.InternalServerError):
        ask(stack, f"{word} [[error:500]]")
    assert model_calls(stack, word) == 4


def test_a_5xx_before_the_first_byte_is_retried_once_by_default(stacks):
    stack = stacks("default")
    word = mark()
    assert ask(stack, f"{word} [[error:502:first-1]]").content[0].text == word
    assert model_calls(stack, word) == 2
    word = mark()
    with pytest.raises(anthropic.InternalServerError):
        ask(stack, f"{word} [[error:500]]")
    assert model_calls(stack, word) == 2  # one try, one retry, then the client's turn


# --- 2. tolerance: error shapes ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_salesforce_words_reach_the_client_from_any_error_shape(stacks, shape):
    stack = stacks(f"shape-{shape}", sim_config=SimulatorConfig(error_shape=shape))
    unauthenticated = httpx.post(f"{stack.simulator_url}/ai/gpt/v1/chat/generations", json={}, timeout=10)
    assert unauthenticated.text.startswith(SHAPE_START[shape]), unauthenticated.text  # the simulator obliges
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        ask(stack, "hi [[error:403]]")
    assert "User forbidden from accessing the resource" in caught.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask(stack, "hi [[error:400]]", model=SURFACE_MODELS["chat_generations"])
    assert caught.value.body["error"]["message"].endswith("Bad request"), caught.value.body


@pytest.mark.parametrize("surface", list(SURFACE_MODELS))
@pytest.mark.parametrize("shape", SHAPES)
def test_a_200_carrying_an_error_is_a_retryable_529(stacks, shape, surface):
    stack = stacks(f"shape-{shape}", sim_config=SimulatorConfig(error_shape=shape))
    word = mark()
    with pytest.raises(anthropic.APIStatusError) as caught:
        ask(stack, f"{word} [[fault:error-body-200]]", model=SURFACE_MODELS[surface])
    assert caught.value.status_code == 529, caught.value.body
    assert caught.value.body["error"]["type"] == "overloaded_error"
    assert "Simulated error inside a 200" in caught.value.body["error"]["message"]


# --- 2. tolerance: a 404 on an old token -------------------------------------------------------------


OLD = 2.0  # seconds: OLD_TOKEN_404_AGE in this test, long enough for the first requests to stay "young"


def test_a_404_on_an_old_token_remints_once(make_stack, monkeypatch):
    """A token the org no longer accepts answered with 404 (as SKILL reports for a token that is not an org JWT):
    on a token older than OLD_TOKEN_404_AGE one re-mint, then the answer; on a young one, a plain 404."""
    monkeypatch.setattr(sf_client, "OLD_TOKEN_404_AGE", OLD)
    stack = make_stack(sim_config=SimulatorConfig(invalid_token_status=404))
    assert ask(stack, "first").content[0].text == "first"
    first_mint = stack.simulator.mint
    stack.simulator.mint = rotated = TokenMint(b"rotated-signing-key", 1800)  # the cached token is now refused

    word = mark()  # a young token: the 404 is the model's, as Salesforce said it
    with pytest.raises(anthropic.NotFoundError):
        ask(stack, word)
    assert (model_calls(stack, word), rotated.minted) == (1, 0)

    time.sleep(OLD + 0.1)  # the token is now "old"
    word = mark()
    assert ask(stack, word).content[0].text == word
    assert (first_mint.minted, rotated.minted) == (1, 1)
    assert model_calls(stack, word) == 2  # the old token's 404, then the answer with a new token

    time.sleep(OLD + 0.1)  # a genuine 404 on an old token: one re-mint, then it stands
    word = mark()
    with pytest.raises(anthropic.NotFoundError) as caught:
        ask(stack, word, model="claude-opus-4-1")  # the simulated org refuses this model
    assert caught.value.body["error"]["type"] == "not_found_error"
    assert caught.value.response.headers.get("x-should-retry") == "false"
    assert (model_calls(stack, word), rotated.minted) == (2, 2)


# --- 2. tolerance: tools to a model that cannot call them --------------------------------------------

TOOL = {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {}}}


@pytest.mark.parametrize(
    "extra",
    [{"tools": [TOOL]}, {"tools": [TOOL], "tool_choice": {"type": "tool", "name": "get_weather"}}],
    ids=["tools", "forced"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_tools_to_a_text_only_model_are_a_clear_400(stack, extra, stream):
    text_only = SURFACE_MODELS["models_api"]
    before = len(stack.backend_requests())
    params = {"model": text_only, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}], **extra}
    client = stack.client()
    with pytest.raises(anthropic.BadRequestError) as caught:
        if stream:
            with client.messages.stream(**params) as s:
                s.get_final_message()
        else:
            client.messages.create(**params)
    error = caught.value.body["error"]
    assert error["type"] == "invalid_request_error"
    assert "cannot carry tools" in error["message"] and text_only in error["message"]
    able = [e.id for e in ModelMap.default().listed() if e.tools]
    named = error["message"].split("models that can: ")[1].split(", ")
    assert named and set(named) <= set(able)
    assert len(stack.backend_requests()) == before  # refused before Salesforce was asked


def test_tools_still_reach_a_model_that_can_call_them(stack):
    client = stack.client()
    message = client.messages.create(
        model=SURFACE_MODELS["bedrock_invoke"],
        max_tokens=50,
        tools=[TOOL],
        messages=[{"role": "user", "content": "hi"}],
    )
    assert message.content


# --- 3. OAuth tokens: refreshed before expiry, re-minted once on a 401 -------------------------------


def _auth_token(request: dict) -> str:
    return request["headers"]["authorization"].removeprefix("Bearer ")


def test_token_refreshed_before_expiry(make_stack):
    stack = make_stack(sim_config=SimulatorConfig(token_ttl_seconds=3))
    client = stack.client()
    mint = stack.simulator.mint

    client.messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=[{"role": "user", "content": "one"}])
    assert mint.minted == 1
    first_token = _auth_token(stack.backend_requests("/invoke")[-1])
    iat, exp = jwt_expiry(first_token)
    assert exp - iat == 3

    client.messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=[{"role": "user", "content": "two"}])
    assert mint.minted == 1, "a fresh token is reused"
    assert _auth_token(stack.backend_requests("/invoke")[-1]) == first_token

    # Past the refresh point (10% of a 3 s lifetime before exp) but, on time, still before exp.
    time.sleep(max(0.0, exp - 0.2 - time.time()))
    calls_before = len(stack.backend_requests("/invoke"))
    reply = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=20, messages=[{"role": "user", "content": "three"}]
    )
    assert reply.content[0].text == "three"
    sent = stack.backend_requests("/invoke")[calls_before:]
    assert len(sent) == 1, "refreshed proactively: no request went out with an expired token"
    assert mint.minted == 2
    assert _auth_token(sent[0]) != first_token
    assert jwt_expiry(_auth_token(sent[0]))[1] > exp


def test_remint_once_on_401(make_stack):
    """A token the gateway still trusts but Salesforce rejects (its signing key rotated): one re-mint, then success.

    Deterministic: long-lived tokens, so no token can expire on its way (a 1 s token minted late in a second
    sometimes did, and cost an extra mint under load); the rejection comes from the rotated key alone.
    """
    stack = make_stack()
    settings = stack.settings
    path = "/ai/gpt/v1/model/sfdc_ai__DefaultBedrockAnthropicClaude45Sonnet/invoke"
    payload = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "x"}],
    }
    first_mint = stack.simulator.mint
    rotated = TokenMint(b"rotated-signing-key", 1800)

    async def run() -> tuple[dict, dict]:
        sf = SalesforceClient(settings)
        try:
            first = await sf.post_json(path, dict(payload, messages=[{"role": "user", "content": "before"}]), CTX)
            stack.simulator.mint = rotated  # every token minted so far is now refused with a 401
            second = await sf.post_json(path, dict(payload, messages=[{"role": "user", "content": "after"}]), CTX)
        finally:
            await sf.aclose()
        return first, second

    first, second = asyncio.run(run())
    assert first["content"][0]["text"] == "before"
    assert second["content"][0]["text"] == "after"
    assert (first_mint.minted, rotated.minted) == (1, 1), "one mint, then exactly one re-mint"
    sent = stack.backend_requests(path)
    assert len(sent) == 3
    assert _auth_token(sent[0]) == _auth_token(sent[1]), "the cached token was tried first"
    assert _auth_token(sent[2]) != _auth_token(sent[1]), "then a new one"


def test_persistent_401_is_an_api_error_after_one_retry(make_stack):
    stack = make_stack(sim_config=SimulatorConfig(token_ttl_seconds=0))  # every token is already expired
    with pytest.raises(anthropic.InternalServerError) as caught:
        stack.client().messages.create(
            model="claude-sonnet-4-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 500
    assert caught.value.body["error"]["type"] == "api_error"
    assert len(stack.backend_requests("/invoke")) == 2, "one re-mint, no loop"
    assert stack.simulator.mint.minted == 2


def test_oauth_failure_is_a_500_without_the_secret(make_stack):
    secret = "wrong-secret-d41d8cd98f00b204"
    stack = make_stack(env={"SF_CLIENT_SECRET": secret})
    with pytest.raises(anthropic.InternalServerError) as caught:
        stack.client().messages.create(
            model="claude-sonnet-4-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
    error = caught.value
    assert error.status_code == 500
    assert error.body["error"]["type"] == "api_error"
    assert secret not in error.message
    assert secret not in error.response.text
    assert stack.simulator.mint.minted == 0
    assert stack.backend_requests() == []
    with stack.http() as http:
        response = http.post(
            "/v1/messages",
            json={"model": "gpt-4.1-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        )
    assert response.status_code == 500
    assert secret not in response.text
    assert secret not in str(dict(response.headers))
