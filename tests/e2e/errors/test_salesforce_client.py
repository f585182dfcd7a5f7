"""The Salesforce client's manners, end to end through the anthropic SDK against the simulator:

1. retries that don't multiply: a 429 reaches Salesforce once per client attempt, with its Retry-After;
2. tolerance: Salesforce's words from any error shape, a 200 that carries an error is a retryable 529,
   a 404 on an old token re-mints once, tools to a model that cannot call them are a clear 400.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import anthropic
import httpx
import pytest
from conftest import SURFACE_MODELS, Stack, start_stack, stop_all

from gateway.anthropic.errors import GatewayError
from gateway.catalog.model_map import ModelMap
from gateway.salesforce import client as sf_client
from gateway.salesforce.errors import CallContext, backend_message, error_in_200, is_error_body, map_status
from gateway.salesforce.retry import CLIENT_RETRY_STATUSES, GATEWAY_RETRY_STATUSES, RetryPolicy
from gateway.settings import Settings
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


def test_default_policy_retries_once_and_never_a_429():
    assert Settings.from_env({}).sf_max_retries == 1
    assert RetryPolicy().max_retries == 1
    assert not GATEWAY_RETRY_STATUSES & CLIENT_RETRY_STATUSES
    assert 429 in CLIENT_RETRY_STATUSES
    assert {500, 502, 503, 504} <= GATEWAY_RETRY_STATUSES


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


def test_retry_after_headers_pass_through_on_busy_answers():
    for status in (429, 503):
        error = map_status(status, b"{}", {"Retry-After-Ms": "1500", "x-other": "1"}, CTX)
        assert error.headers == {"retry-after-ms": "1500"}, status


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


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([{"errorCode": "A", "message": "first"}, {"errorCode": "B", "message": "second"}], "first; second"),
        ({"errors": [{"message": "nested"}]}, "nested"),
        ({"error": {"error": {"message": "deep"}}}, "deep"),
        ({"error": "server_error"}, "server_error"),
        ("a json string", "a json string"),
        ({"detail": "fastapi style"}, "fastapi style"),
    ],
)
def test_backend_message_more_shapes(body, expected):
    assert backend_message(json.dumps(body).encode()) == expected


ANSWERS = {
    "bedrock": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "usage": {}},
    "chat_generations": {"id": "1", "generation_details": {"generations": [{"content": "x"}]}},
    "models_api": {"id": "1", "generationDetails": {"generations": [{"content": "x"}]}},
    "responses": {"id": "resp_1", "status": "completed", "output": [], "error": None},
}


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_real_answers_are_not_taken_for_errors(answer):
    assert not is_error_body(ANSWERS[answer])


@pytest.mark.parametrize(
    "body",
    [
        {"errorCode": "X", "message": "m"},
        [{"errorCode": "X", "message": "m"}],
        {"error": "server_error", "error_description": "d"},
        {"error": {"message": "m"}},
        {"message": "upstream timed out", "code": 504},
        {"type": "error", "error": {"type": "api_error", "message": "m"}},
        "busy",
    ],
)
def test_error_bodies_are_recognised(body):
    assert is_error_body(body)


def test_an_overflow_inside_a_200_keeps_claude_codes_text():
    body = json.dumps({"errorCode": "BAD_ARGUMENT", "message": "prompt is too long: 250000 tokens > 200000 maximum"})
    error = error_in_200(body.encode(), CTX)
    assert isinstance(error, GatewayError)
    assert (error.status, error.message) == (400, "prompt is too long: 250000 tokens > 200000 maximum")


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
