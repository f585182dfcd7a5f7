"""Client authentication (``x-api-key`` / ``Authorization: Bearer``) against configured keys, and the client's
key never forwarded: Salesforce sees only the bearer token it minted."""

from __future__ import annotations

import base64
import json

import anthropic
import pytest
from support.sdk import check_sdk_error, texts
from support.stacks import SURFACE_MODELS
from support.wire import KEYS, SONNET, VERSION, assert_envelope, message_body, raw_client, user

BEDROCK = SURFACE_MODELS["bedrock_invoke"]
CLIENT_SECRET = "client-secret-key-123"


def b64url_json(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture
def keyed(make_stack):
    """A gateway that accepts only ``key-one`` and ``key-two``."""
    return make_stack(env={"GATEWAY_API_KEYS": KEYS})


ACCEPTED_KEYS = {
    "x-api-key": {"x-api-key": "key-one"},
    "bearer": {"authorization": "Bearer key-two"},
    "bearer-lowercase-scheme": {"authorization": "bearer key-one"},
    "both-match": {"x-api-key": "key-one", "authorization": "Bearer key-one"},
    "x-api-key-wrong-bearer-right": {"x-api-key": "nope", "authorization": "Bearer key-one"},
    "x-api-key-right-bearer-wrong": {"x-api-key": "key-two", "authorization": "Bearer nope"},
}


@pytest.mark.parametrize("headers", ACCEPTED_KEYS.values(), ids=ACCEPTED_KEYS.keys())
def test_key_accepted(keyed, headers):
    with raw_client(keyed, {"anthropic-version": VERSION, **headers}) as http:
        response = http.post("/v1/messages", json=message_body(messages=user("authorised")))
        models = http.get("/v1/models")
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == "authorised"
    assert models.status_code == 200, models.text
    # The client's key stays at the gateway: Salesforce never sees it.
    sent = keyed.backend_requests()[-1]
    assert "key-one" not in json.dumps(sent["headers"])
    assert "key-two" not in json.dumps(sent["headers"])


REFUSED_KEYS = {
    "missing": ({}, "x-api-key header is required"),
    "empty-x-api-key": ({"x-api-key": ""}, "x-api-key header is required"),
    "bearer-without-token": ({"authorization": "Bearer"}, "x-api-key header is required"),
    "basic-scheme": ({"authorization": "Basic key-one"}, "x-api-key header is required"),
    "wrong-x-api-key": ({"x-api-key": "wrong"}, "invalid x-api-key"),
    "wrong-bearer": ({"authorization": "Bearer wrong"}, "invalid x-api-key"),
    "both-wrong": ({"x-api-key": "wrong", "authorization": "Bearer also-wrong"}, "invalid x-api-key"),
    "prefix-of-key": ({"x-api-key": "key-on"}, "invalid x-api-key"),
    "key-list-as-key": ({"x-api-key": KEYS}, "invalid x-api-key"),
}


@pytest.mark.parametrize(("headers", "message"), REFUSED_KEYS.values(), ids=REFUSED_KEYS.keys())
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens"), ("GET", "/v1/models"), ("GET", "/v1/models/x")],
)
def test_key_refused(keyed, method, path, headers, message):
    with raw_client(keyed, {"anthropic-version": VERSION, **headers}) as http:
        response = http.request(method, path, json=message_body() if method == "POST" else None)
    assert_envelope(response, 401, "authentication_error", message)
    assert keyed.backend_requests() == []


@pytest.mark.parametrize(("method", "path"), [("HEAD", "/"), ("GET", "/"), ("GET", "/health"), ("HEAD", "/health")])
def test_open_paths_need_no_key(keyed, method, path):
    with raw_client(keyed, {}) as http:
        response = http.request(method, path)
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")


def test_models_list_requires_key(keyed):
    with raw_client(keyed, {}) as http:
        assert_envelope(http.get("/v1/models"), 401, "authentication_error", "x-api-key header is required")
    with raw_client(keyed, {"x-api-key": "key-two"}) as http:
        response = http.get("/v1/models")
    assert response.status_code == 200
    assert response.json()["data"]


def test_sdk_with_auth_token(keyed, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    client = keyed.client(api_key=None, auth_token="key-two")
    message = client.messages.create(model=SONNET, max_tokens=50, messages=user("bearer works"))
    assert message.content[0].text == "bearer works"
    assert [m.id for m in client.models.list()]
    with client.messages.stream(model=SONNET, max_tokens=50, messages=user("bearer streams")) as stream:
        assert stream.get_final_text() == "bearer streams"


def test_sdk_with_api_key(keyed):
    client = keyed.client(api_key="key-one")
    message = client.messages.create(model=SONNET, max_tokens=50, messages=user("key works"))
    assert message.content[0].text == "key works"


def test_sdk_with_wrong_auth_token(keyed, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    client = keyed.client(api_key=None, auth_token="not-a-key")
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.create(model=SONNET, max_tokens=50, messages=user("hi"))
    check_sdk_error(
        caught.value, anthropic.AuthenticationError, 401, "authentication_error", message="invalid x-api-key"
    )


def test_no_keys_configured_accepts_any_key(stack):
    with raw_client(stack, {"anthropic-version": VERSION, "x-api-key": "anything-at-all"}) as http:
        assert http.post("/v1/messages", json=message_body()).status_code == 200
    with raw_client(stack, {"anthropic-version": VERSION}) as http:
        assert http.post("/v1/messages", json=message_body()).status_code == 200


# --- nothing secret is forwarded ------------------------------------------------------------------


@pytest.mark.parametrize("credential", ["api_key", "auth_token"])
def test_client_key_never_reaches_salesforce(make_stack, credential):
    keyed = make_stack(env={"GATEWAY_API_KEYS": CLIENT_SECRET})
    client = keyed.client(**{"api_key": None, credential: CLIENT_SECRET})
    for surface, model in SURFACE_MODELS.items():
        message = client.messages.create(model=model, max_tokens=50, messages=user(f"Secret check {surface}"))
        assert texts(message) == f"Secret check {surface}"
        with client.messages.stream(model=model, max_tokens=50, messages=user(f"Secret stream {surface}")) as s:
            assert s.get_final_text() == f"Secret stream {surface}"

    sent = keyed.backend_requests()
    assert len(sent) == 2 * len(SURFACE_MODELS)
    for request in sent:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert CLIENT_SECRET not in request["body"]
        assert not any(CLIENT_SECRET in v for v in headers.values()), f"client key forwarded in {request['path']}"
        assert "x-api-key" not in headers
        assert headers["x-sfdc-app-context"] == "EinsteinGPT"
        assert headers["x-client-feature-id"] == "ai-platform-models-connected-app"
        scheme, _, token = headers["authorization"].partition(" ")
        assert scheme == "Bearer"
        header, payload, signature = token.split(".")
        assert b64url_json(header)["typ"] == "JWT"
        assert b64url_json(payload)["exp"] > b64url_json(payload)["iat"]
        assert signature
        assert keyed.simulator.mint.valid(token), "the bearer token is not one Salesforce minted"


def test_wrong_client_key_is_refused_before_salesforce(make_stack):
    keyed = make_stack(env={"GATEWAY_API_KEYS": CLIENT_SECRET})
    client = keyed.client(api_key="not-the-key")
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.create(model=BEDROCK, max_tokens=50, messages=user("Should not pass"))
    assert keyed.backend_requests() == []
