"""Client authentication on every route of a keyed gateway: every wrong, missing or malformed key is a 401
``authentication_error`` that does not echo the key; a configured key is accepted as ``x-api-key`` or
``Authorization: Bearer`` (any case); the open paths need none."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import pytest
from support.outcomes import VERSION, body_for, sdk_call
from support.stacks import SURFACE_MODELS, Stack, start_stack, stop_all

KEY = "client-key-SECRET-7f3a"


@pytest.fixture(scope="module")
def keyed() -> Iterator[Stack]:
    built, servers = start_stack({"GATEWAY_API_KEYS": KEY, "SF_MAX_RETRIES": "0"})
    yield built
    stop_all(servers)


GUARDED = [
    ("POST", "/v1/messages", {"json": body_for("bedrock_invoke", "hi", False)}),
    ("POST", "/v1/messages", {"json": body_for("bedrock_invoke", "hi", True)}),
    (
        "POST",
        "/v1/messages/count_tokens",
        {"json": {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}},
    ),
    ("GET", "/v1/models", {}),
    ("GET", "/v1/models/claude-sonnet-4-5", {}),
    ("GET", "/v1/models/no-such-model", {}),
    ("GET", "/v1/unknown", {}),
    ("POST", "/v2/messages", {"json": {}}),
    ("DELETE", "/v1/messages", {}),
    ("GET", "/health/deep", {}),
]
NO_KEY = {"anthropic-version": VERSION}
BAD_KEYS = {
    "missing": {},
    "empty-x-api-key": {"x-api-key": ""},
    "bearer-without-token": {"authorization": "Bearer"},
    "wrong-x-api-key": {"x-api-key": KEY + "-nope"},
    "wrong-bearer": {"authorization": "Bearer nope"},
    "basic-auth": {"authorization": f"Basic {KEY}"},
    "prefix": {"x-api-key": KEY[:-1]},
}


@pytest.mark.parametrize("bad", list(BAD_KEYS))
@pytest.mark.parametrize(("method", "path", "kwargs"), GUARDED, ids=[f"{m} {p}" for m, p, _ in GUARDED])
def test_key_required(keyed, method, path, kwargs, bad):
    with httpx.Client(base_url=keyed.gateway_url, headers={**NO_KEY, **BAD_KEYS[bad]}, timeout=10) as http:
        response = http.request(method, path, **kwargs)
    assert response.status_code == 401, (response.status_code, response.text)
    body = response.json()
    assert body["error"]["type"] == "authentication_error"
    assert KEY not in response.text


@pytest.mark.parametrize("form", ["x-api-key", "bearer", "bearer-lowercase"])
@pytest.mark.parametrize(("method", "path", "kwargs"), GUARDED[:5], ids=[f"{m} {p}" for m, p, _ in GUARDED[:5]])
def test_key_accepted_in_both_header_forms(keyed, method, path, kwargs, form):
    headers = {
        "x-api-key": {"x-api-key": KEY},
        "bearer": {"authorization": f"Bearer {KEY}"},
        "bearer-lowercase": {"authorization": f"bearer {KEY}"},
    }[form]
    with httpx.Client(base_url=keyed.gateway_url, headers={**NO_KEY, **headers}, timeout=10) as http:
        response = http.request(method, path, **kwargs)
    assert response.status_code == 200, response.text


def test_unknown_path_with_key_is_404(keyed):
    with httpx.Client(base_url=keyed.gateway_url, headers={**NO_KEY, "x-api-key": KEY}, timeout=10) as http:
        assert http.get("/v1/unknown").status_code == 404


@pytest.mark.parametrize(("method", "path"), [("HEAD", "/"), ("GET", "/health")])
def test_open_paths(keyed, method, path):
    with httpx.Client(base_url=keyed.gateway_url, timeout=10) as http:
        assert http.request(method, path).status_code == 200


def test_sdk_auth_token_and_api_key(keyed, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert sdk_call(keyed, "bedrock_invoke", "hi", False, api_key=KEY).content[0].text == "hi"
    client = anthropic.Anthropic(base_url=keyed.gateway_url, auth_token=KEY, api_key=None, max_retries=0)
    message = client.messages.create(
        model=SURFACE_MODELS["chat_generations"], max_tokens=20, messages=[{"role": "user", "content": "yo"}]
    )
    assert message.content[0].text == "yo"
