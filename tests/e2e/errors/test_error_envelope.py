"""Anthropic's error envelope (JSON, ``request_id``, one ``request-id`` header) for every kind of error,
including the refusals before routing: client key, version header, and the 32 MB body limit."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
from support.wire import (
    KEYS,
    MAX_BODY,
    SONNET,
    VERSION,
    assert_envelope,
    big_body,
    message_body,
    raw_client,
    read_head,
    user,
)


@pytest.fixture
def keyed(make_stack):
    """A gateway that accepts only ``key-one`` and ``key-two``."""
    return make_stack(env={"GATEWAY_API_KEYS": KEYS})


# --- every kind of error -------------------------------------------------------------------------

# (id, method, path, request kwargs, status, error type)
ENVELOPE_CASES = [
    ("validation", "POST", "/v1/messages", {"json": message_body(temperature=2)}, 400, "invalid_request_error"),
    ("unknown-model", "POST", "/v1/messages", {"json": message_body(model="no-such-model")}, 404, "not_found_error"),
    (
        "refused-model",
        "POST",
        "/v1/messages",
        {"json": message_body(model="claude-opus-4-1")},
        404,
        "not_found_error",
    ),
    (
        "backend-429",
        "POST",
        "/v1/messages",
        {"json": message_body(messages=user("x [[error:429]]"))},
        429,
        "rate_limit_error",
    ),
    ("backend-500", "POST", "/v1/messages", {"json": message_body(messages=user("x [[error:500]]"))}, 500, "api_error"),
    (
        "backend-503",
        "POST",
        "/v1/messages",
        {"json": message_body(messages=user("x [[error:503]]"))},
        529,
        "overloaded_error",
    ),
    (
        "backend-423-stream",
        "POST",
        "/v1/messages",
        {"json": message_body(messages=user("x [[error:423]]"), stream=True)},
        529,
        "overloaded_error",
    ),
    (
        "count-tokens-validation",
        "POST",
        "/v1/messages/count_tokens",
        {"json": {"model": SONNET}},
        400,
        "invalid_request_error",
    ),
    ("unknown-path", "GET", "/v1/nothing-here", {}, 404, "not_found_error"),
    ("unknown-post-path", "POST", "/v2/messages", {"json": message_body()}, 404, "not_found_error"),
    ("unknown-model-info", "GET", "/v1/models/no-such-model", {}, 404, "not_found_error"),
    ("wrong-method-messages", "GET", "/v1/messages", {}, 405, "invalid_request_error"),
    ("wrong-method-models", "DELETE", "/v1/models/claude-sonnet-4-5", {}, 405, "invalid_request_error"),
    ("bad-limit", "GET", "/v1/models?limit=abc", {}, 400, "invalid_request_error"),
    (
        "wrong-content-type",
        "POST",
        "/v1/messages",
        {"content": b"hi", "headers": {"content-type": "text/plain"}},
        400,
        "invalid_request_error",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "error_type"),
    [case[1:] for case in ENVELOPE_CASES],
    ids=[case[0] for case in ENVELOPE_CASES],
)
def test_error_envelope(stack, method, path, kwargs, status, error_type):
    with stack.http() as http:
        response = http.request(method, path, **kwargs)
    assert_envelope(response, status, error_type)


def test_unknown_path_and_wrong_method_messages(stack):
    with stack.http() as http:
        assert_envelope(http.get("/v1/nothing-here"), 404, "not_found_error", "Not Found")
        wrong = assert_envelope(http.get("/v1/messages"), 405, "invalid_request_error", "Method Not Allowed")
        assert wrong["request_id"]


def test_envelope_for_middleware_refusals(stack, keyed):
    """Errors raised before routing (auth, version header, size) use the same envelope."""
    with raw_client(keyed, {"anthropic-version": VERSION}) as http:
        assert_envelope(http.post("/v1/messages", json=message_body()), 401, "authentication_error")
    with raw_client(stack, {"x-api-key": "k"}) as http:
        assert_envelope(http.post("/v1/messages", json=message_body()), 400, "invalid_request_error")
    with stack.http() as http:
        response = http.post("/v1/messages", content=big_body(), headers={"content-type": "application/json"})
        assert_envelope(response, 413, "request_too_large")


# --- the body limit ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_body_over_limit_with_content_length(stack, path):
    started = time.monotonic()
    with stack.http() as http:
        response = http.post(path, content=big_body(), headers={"content-type": "application/json"})
    assert_envelope(response, 413, "request_too_large")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_body_over_limit_chunked(stack, path):
    """Without Content-Length the gateway counts the bytes as they arrive."""
    raw = big_body()

    def chunks():
        for start in range(0, len(raw), 1 << 20):
            yield raw[start : start + (1 << 20)]

    started = time.monotonic()
    with stack.http() as http:
        response = http.post(path, content=chunks(), headers={"content-type": "application/json"})
    assert_envelope(response, 413, "request_too_large")
    assert time.monotonic() - started < 5


def test_declared_content_length_over_limit_is_refused_before_the_body(stack):
    """A Content-Length above the limit is refused at once, without waiting for 33 MB that never come."""
    url = urlsplit(stack.gateway_url)
    request = (
        f"POST /v1/messages HTTP/1.1\r\nHost: {url.hostname}\r\nx-api-key: k\r\n"
        f"anthropic-version: {VERSION}\r\ncontent-type: application/json\r\n"
        f"content-length: {MAX_BODY + 1}\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(request)
        answer = read_head(sock)
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"request-id: req_" in answer.lower()


def test_body_at_limit_is_not_refused_for_size(stack):
    """Just under 32 MB is read in full: the answer is about the content, not the size."""
    head = json.dumps(message_body(model="no-such-model", messages=user("x"))).encode()
    raw = head.replace(b'"x"', b'"' + b"a" * (MAX_BODY - len(head) - 16) + b'"')
    assert len(raw) <= MAX_BODY
    with stack.http() as http:
        response = http.post("/v1/messages/count_tokens", content=raw, headers={"content-type": "application/json"})
    assert_envelope(response, 404, "not_found_error", "model: no-such-model")
