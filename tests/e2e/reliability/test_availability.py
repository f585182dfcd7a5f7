"""Hostile or unlucky input must not freeze the gateway or leak through it (issue 13), end to end on loopback:
work that grows linearly with the body, a parse that cannot amplify memory without bound, Salesforce's
words masked before they are cut, no secret oracle, and a simulator whose directive scan stays linear.

Costs are compared as ratios between two sizes within one run (never absolute times): linear work at
four times the size takes about four times as long; the quadratic code this replaced took sixteen.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from support.stacks import SURFACE_MODELS, Stack

from gateway.app import create_app
from gateway.http_server import ServerThread
from gateway.settings import Settings

BEDROCK_MODEL = SURFACE_MODELS["bedrock_invoke"]
JSON = {"content-type": "application/json"}


def turns_body(turns: int, blocks: int = 5) -> bytes:
    """Consecutive user turns: the shape whose merging used to copy the growing list once per turn."""
    content = [{"type": "text", "text": f"block {j} of a long conversation"} for j in range(blocks)]
    messages = [{"role": "user", "content": content} for _ in range(turns)]
    return json.dumps({"model": BEDROCK_MODEL, "messages": messages}).encode()


def best_of(rounds: int, call: Callable[[], None]) -> float:
    """The fastest of a few runs: the least disturbed by whatever else the machine is doing."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def test_count_tokens_cost_grows_linearly_with_the_number_of_turns(stack: Stack):
    small, large = turns_body(10_000), turns_body(40_000)
    counts: dict[int, int] = {}

    def count(body: bytes) -> Callable[[], None]:
        def call() -> None:
            response = http.post("/v1/messages/count_tokens", content=body, headers=JSON)
            assert response.status_code == 200, response.text
            counts[len(body)] = response.json()["input_tokens"]

        return call

    with stack.http() as http:
        count(small)()  # warm-up: the first call pays for the token mint and the model map
        t_small = best_of(3, count(small))
        t_large = best_of(3, count(large))
    assert counts[len(large)] > 3 * counts[len(small)]  # it did count all of them
    assert t_large / t_small < 8, f"10k turns {t_small:.3f} s, 40k turns {t_large:.3f} s"


def test_a_body_of_millions_of_tiny_values_is_refused_before_it_is_parsed(stack: Stack):
    # 3 million `{}` in a field the gateway ignores: 9 MB on the wire, ~300 MB once parsed.
    body = b'{"model":"%s","messages":[{"role":"user","content":"hi"}],"x":[' % BEDROCK_MODEL.encode()
    body += b"{}," * 3_000_000 + b"{}]}"
    with stack.http() as http:
        refused = http.post("/v1/messages/count_tokens", content=body, headers=JSON)
        fine = http.post(
            "/v1/messages/count_tokens",
            content=body.replace(b"{}," * 3_000_000, b"{}," * 100_000),
            headers=JSON,
        )
    assert refused.status_code == 413, refused.text
    error = refused.json()["error"]
    assert error["type"] == "request_too_large"
    assert "too many JSON values" in error["message"] and "2000000" in error["message"]
    assert fine.status_code == 200, fine.text  # the same shape, smaller: parsed and counted


# --- what Salesforce says, masked before it is cut; what the client says, never compared with a secret ------

TOKEN = "00Dfake!AQ.masked-before-truncation-token"


def echoing_salesforce() -> Starlette:
    """A stand-in Salesforce whose every error echoes the caller's credentials, the way a misconfigured
    proxy might: the access token at offset 483 (where a cut at 500 would leave 17 of its characters) and a
    lower-case ``bearer`` with a token the gateway never learned."""

    async def token(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return JSONResponse({"access_token": TOKEN, "instance_url": base, "api_instance_url": base})

    async def anything(request: Request) -> Response:
        await request.body()
        text = "x" * 460 + " Authorization: Bearer " + request.headers.get("authorization", "").split()[-1]
        text += " retried with bearer unlearnedtoken123456 and access_token=plainsecret99"
        return JSONResponse({"message": text}, status_code=400)

    return Starlette(
        routes=[
            Route("/services/oauth2/token", token, methods=["POST"]),
            Route("/{path:path}", anything, methods=["GET", "POST"]),
        ]
    )


@pytest.fixture
def echoing_stack():
    upstream = ServerThread(echoing_salesforce()).start()
    settings = Settings.from_env(
        {
            "SF_TOKEN_URL": f"{upstream.url}/services/oauth2/token",
            "SF_CLIENT_ID": "echo-client",
            "SF_CLIENT_SECRET": "echo-client-secret-value",
            "SF_MAX_RETRIES": "0",
        }
    )
    gateway = ServerThread(create_app(settings=settings)).start()
    yield gateway.url
    gateway.stop()
    upstream.stop()


def test_salesforce_error_text_is_masked_before_it_is_cut_and_bearer_matches_any_case(echoing_stack):
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    body = {"model": BEDROCK_MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(f"{echoing_stack}/v1/messages", json=body, headers=headers, timeout=30)
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "xxxxxxxxxx" in message, message  # Salesforce's words did reach the client...
    assert "00Df" not in message and "AQ." not in message  # ...but not a single character of the token
    assert "Authorization: Bearer [REDACTED]" in message, message[-60:]


def test_lower_case_bearer_and_keyed_tokens_are_masked_in_salesforce_text():
    from gateway.salesforce.errors import backend_message

    text = backend_message(b'{"message": "denied: bearer unlearnedtoken123456, access_token=plainsecret99"}')
    assert "unlearnedtoken123456" not in text and "plainsecret99" not in text
    assert text == "denied: bearer [REDACTED], access_token=[REDACTED]"


def test_a_client_string_equal_to_a_secret_comes_back_as_sent(make_stack):
    """A model id the client chose is echoed verbatim whether or not it equals a secret the gateway holds:
    answering ``[REDACTED]`` for exactly the secret would confirm a guess."""
    keyed = make_stack(env={"GATEWAY_API_KEYS": "first-client-key-123,second-client-key-456"})
    secrets = ["second-client-key-456", keyed.settings.sf_client_secret]
    headers = {"x-api-key": "first-client-key-123"}
    with keyed.http(headers=headers) as http:
        answers = {}
        for guess in [*secrets, "an-ordinary-wrong-guess"]:
            body = {"model": guess, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
            response = http.post("/v1/messages", json=body)
            answers[guess] = (response.status_code, response.json()["error"]["message"].replace(guess, "<guess>"))
    assert len(set(answers.values())) == 1, answers  # the same answer, secret or not
    assert "[REDACTED]" not in json.dumps(answers)


# --- the simulator's directive scan --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "unit",
    ["[[tool:x {", "[[tool:x", "[[error", "[[tool:x {" + "a" * 50 + "} "],
    ids=["open-tool-json", "unclosed-tool", "unclosed-directive", "json-without-close"],
)
def test_the_simulator_scans_a_hostile_prompt_in_linear_time(stack: Stack, unit: str):
    """Each prompt repeats a directive opening that never closes; the regexes they replaced retried
    each opening to the end of the prompt (an 80 KB one took seconds and held `make run`'s loop)."""

    def ask(size: int) -> Callable[[], None]:
        prompt = unit * (size // len(unit))

        def call() -> None:
            body = {"model": BEDROCK_MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": prompt}]}
            response = http.post("/v1/messages", json=body)
            assert response.status_code == 200, response.text

        return call

    with stack.http() as http:
        ask(1000)()
        t_small = best_of(3, ask(40_000))
        t_large = best_of(3, ask(160_000))
    assert t_large / t_small < 8, f"40 KB {t_small:.3f} s, 160 KB {t_large:.3f} s"
