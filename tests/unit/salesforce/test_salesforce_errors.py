"""Salesforce errors mapped to Anthropic's: statuses, Retry-After, context overflow, Salesforce's words from
any shape, and errors that arrive inside a 200."""

from __future__ import annotations

import json
import re

import pytest

from gateway.anthropic.errors import GatewayError
from gateway.salesforce.errors import CallContext, backend_message, error_in_200, is_error_body, map_status

CTX = CallContext("claude-sonnet-4-5", "sfdc_ai__DefaultBedrockAnthropicClaude45Sonnet", 200_000, 1234)
SF_BODY = json.dumps({"errorCode": "X", "messageCode": "E1", "message": "Something happened"}).encode()
SMALL_CTX = CallContext("claude-x", "sfdc_ai__X", 200_000, 10)  # a request estimated at 10 tokens
OVERFLOW_FORMAT = re.compile(r"^prompt is too long: \d+ tokens > \d+ maximum$")


def test_map_429_carries_retry_after():
    error = map_status(429, SF_BODY, {"Retry-After": "7", "retry-after-ms": "7000", "x-other": "1"}, CTX)
    assert error.error_type == "rate_limit_error"
    assert error.status == 429
    headers = {k.lower(): v for k, v in error.headers.items()}
    assert headers == {"retry-after": "7", "retry-after-ms": "7000"}
    assert map_status(429, b"", {}, CTX).headers == {}


@pytest.mark.parametrize("status", [503, 423])
def test_map_busy_is_overloaded(status):
    error = map_status(status, SF_BODY, {}, CTX)
    assert error.error_type == "overloaded_error"
    assert error.status == 529


def test_map_404_names_the_model():
    error = map_status(404, json.dumps([{"errorCode": "NOT_FOUND", "message": "Model gone"}]).encode(), {}, CTX)
    assert error.error_type == "not_found_error"
    assert error.status == 404
    assert "claude-sonnet-4-5" in error.message
    assert "Model gone" in error.message


@pytest.mark.parametrize(
    ("status", "error_type", "http"),
    [
        (401, "api_error", 500),
        (403, "permission_error", 403),
        (408, "timeout_error", 504),
        (504, "timeout_error", 504),
        (400, "invalid_request_error", 400),
        (500, "api_error", 500),
        (502, "api_error", 500),
    ],
)
def test_map_other_statuses(status, error_type, http):
    error = map_status(status, SF_BODY, {}, CTX)
    assert (error.error_type, error.status) == (error_type, http)


def test_map_401_does_not_echo_backend_text():
    error = map_status(401, b'{"message": "token abc.def.ghi invalid"}', {}, CTX)
    assert "abc.def.ghi" not in error.message


def test_map_overflow_with_numbers():
    body = json.dumps({"message": "prompt is too long: 250,000 tokens > 200,000 maximum"}).encode()
    error = map_status(400, body, {}, CTX)
    assert error.error_type == "invalid_request_error"
    assert error.status == 400
    assert error.message == "prompt is too long: 250000 tokens > 200000 maximum"


def test_map_overflow_salesforce_list_shape():
    body = json.dumps([{"errorCode": "INVALID_INPUT", "message": "Input is too long for requested model."}]).encode()
    error = map_status(400, body, {}, CTX)
    assert OVERFLOW_FORMAT.match(error.message), error.message
    assert error.message == "prompt is too long: 200001 tokens > 200000 maximum"
    bigger = CallContext("m", "sfdc_ai__X", 200_000, 250_000)
    assert map_status(400, body, {}, bigger).message == "prompt is too long: 250000 tokens > 200000 maximum"


def test_map_overflow_openai_shape():
    body = json.dumps(
        {
            "error": {
                "message": "This model's maximum context length is 128000 tokens. However, you requested 150000.",
                "type": "invalid_request_error",
                "code": "context_length_exceeded",
            }
        }
    ).encode()
    error = map_status(400, body, {}, CTX)
    assert error.error_type == "invalid_request_error"
    assert OVERFLOW_FORMAT.match(error.message), error.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (json.dumps([{"errorCode": "INVALID_INPUT", "message": "bad field x"}]), "bad field x"),
        (json.dumps({"errorCode": "E", "messageCode": "M", "message": "plain sf"}), "plain sf"),
        (json.dumps({"error": {"message": "openai style", "type": "invalid_request_error"}}), "openai style"),
        (json.dumps({"error": "invalid_grant", "error_description": "expired access"}), "expired access"),
        (json.dumps({"Message": "capitalised"}), "capitalised"),
        ("upstream connect error", "upstream connect error"),
        ("", ""),
    ],
)
def test_backend_message_shapes(body, expected):
    assert backend_message(body.encode()) == expected


def test_backend_message_is_bounded():
    assert len(backend_message(json.dumps({"message": "x" * 10_000}).encode())) <= 500
    assert len(backend_message(b"y" * 10_000)) <= 500


# --- Retry-After, more message shapes, errors inside a 200 -------------------------------------------


def test_retry_after_headers_pass_through_on_busy_answers():
    for status in (429, 503):
        error = map_status(status, b"{}", {"Retry-After-Ms": "1500", "x-other": "1"}, SMALL_CTX)
        assert error.headers == {"retry-after-ms": "1500"}, status


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
    error = error_in_200(body.encode(), SMALL_CTX)
    assert isinstance(error, GatewayError)
    assert (error.status, error.message) == (400, "prompt is too long: 250000 tokens > 200000 maximum")
