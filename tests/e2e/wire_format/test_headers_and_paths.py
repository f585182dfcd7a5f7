"""Headers and paths: ``request-id`` on every response, ``anthropic-version`` and ``Content-Type`` required,
``?beta=true`` and the SDK's beta client accepted (the query string is ignored)."""

from __future__ import annotations

import json

import pytest
from support.sdk import marker, texts
from support.stacks import SURFACE_MODELS
from support.wire import SONNET, assert_envelope, message_body, raw_client, user

SURFACES = list(SURFACE_MODELS)
surfaces = pytest.mark.parametrize("surface", SURFACES)


# --- request ids ----------------------------------------------------------------------------------

REQUEST_ID_CASES = [
    ("HEAD", "/", {}),
    ("GET", "/", {}),
    ("GET", "/health", {}),
    ("GET", "/v1/models", {}),
    ("GET", "/v1/models/claude-sonnet-4-5", {}),
    ("POST", "/v1/messages/count_tokens", {"json": {"model": SONNET, "messages": user("hi")}}),
    ("POST", "/v1/messages", {"json": message_body()}),
    ("POST", "/v1/messages", {"json": message_body(temperature=5)}),
    ("POST", "/v1/messages", {"json": message_body(messages=user("[[error:429]]"))}),
    ("GET", "/nowhere", {}),
    ("PUT", "/v1/messages", {}),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    REQUEST_ID_CASES,
    ids=[f"{m} {p} {i}" for i, (m, p, _) in enumerate(REQUEST_ID_CASES)],
)
def test_request_id_header_on_every_response(stack, method, path, kwargs):
    with stack.http() as http:
        response = http.request(method, path, **kwargs)
    values = response.headers.get_list("request-id")
    assert len(values) == 1, values
    assert values[0].startswith("req_")
    assert len(values[0]) > len("req_") + 10


def test_head_root(stack):
    with raw_client(stack, {}) as http:
        response = http.head("/")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["request-id"].startswith("req_")


def test_request_ids_are_unique(stack):
    with stack.http() as http:
        ids = {http.get("/v1/nothing-here").json()["request_id"] for _ in range(5)}
    assert len(ids) == 5


@surfaces
def test_request_ids_and_message_ids_are_unique(client, surface):
    prompt = "Unique ids please"
    first = client.messages.with_raw_response.create(
        model=SURFACE_MODELS[surface], max_tokens=50, messages=user(prompt)
    )
    second = client.messages.with_raw_response.create(
        model=SURFACE_MODELS[surface], max_tokens=50, messages=user(prompt)
    )
    assert first.headers["request-id"] != second.headers["request-id"]
    assert first.parse().id != second.parse().id


# --- anthropic-version and Content-Type -----------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/html"])
def test_wrong_content_type(stack, content_type):
    with stack.http() as http:
        response = http.post(
            "/v1/messages", content=json.dumps(message_body()).encode(), headers={"content-type": content_type}
        )
    assert_envelope(
        response, 400, "invalid_request_error", f"Content-Type must be application/json, not {content_type}"
    )


def test_json_content_type_with_charset_is_accepted(stack):
    with stack.http() as http:
        response = http.post(
            "/v1/messages",
            content=json.dumps(message_body()).encode(),
            headers={"content-type": "application/json; charset=utf-8"},
        )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize("version", [None, ""], ids=["absent", "empty"])
def test_missing_anthropic_version(stack, path, version):
    headers = {"x-api-key": "test-key"}
    if version is not None:
        headers["anthropic-version"] = version
    with raw_client(stack, headers) as http:
        response = http.post(path, json=message_body())
    assert_envelope(response, 400, "invalid_request_error", "anthropic-version: header is required")


# --- query strings are ignored --------------------------------------------------------------------


@pytest.mark.parametrize("surface", SURFACES)
def test_messages_with_beta_query(stack, surface):
    body = message_body(model=SURFACE_MODELS[surface], messages=user("beta path"))
    with stack.http(headers={"anthropic-beta": "interleaved-thinking-2025-05-14,some-unknown-beta"}) as http:
        response = http.post("/v1/messages?beta=true", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == "beta path"


def test_count_tokens_with_beta_query(stack):
    body = {"model": SONNET, "messages": user("count these four words")}
    with stack.http() as http:
        plain = http.post("/v1/messages/count_tokens", json=body)
        beta = http.post("/v1/messages/count_tokens?beta=true", json=body)
    assert beta.status_code == 200, beta.text
    assert isinstance(beta.json()["input_tokens"], int)
    assert beta.json()["input_tokens"] > 0
    assert beta.json() == plain.json()


def test_errors_with_beta_query(stack):
    with stack.http() as http:
        response = http.post("/v1/messages?beta=true", json=message_body(model="no-such-model"))
    assert_envelope(response, 404, "not_found_error", "model: no-such-model")


def test_sdk_beta_client_works(client):
    message = client.beta.messages.create(model=SONNET, max_tokens=50, messages=user("sdk beta"))
    assert message.content[0].text == "sdk beta"
    counted = client.beta.messages.count_tokens(model=SONNET, messages=user("sdk beta count"))
    assert counted.input_tokens > 0


@surfaces
def test_beta_client_and_beta_query_are_accepted(client, surface):
    prompt = f"Beta path {marker()}"
    raw = client.beta.messages.with_raw_response.create(
        model=SURFACE_MODELS[surface],
        max_tokens=100,
        messages=user(prompt),
        betas=["context-management-2025-06-27"],
        extra_query={"beta": "true"},  # what Claude Code sends; this SDK version no longer adds it
    )
    assert "beta=true" in str(raw.http_request.url)
    assert raw.headers["request-id"].startswith("req_")
    assert texts(raw.parse()) == prompt


@surfaces
def test_raw_beta_query_string_is_ignored(stack, surface):
    prompt = f"Raw beta query {marker()}"
    body = {"model": SURFACE_MODELS[surface], "max_tokens": 100, "messages": user(prompt)}
    with stack.http() as http:
        response = http.post("/v1/messages?beta=true", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["content"] == [{"type": "text", "text": prompt}]
    assert answer["model"] == SURFACE_MODELS[surface]
