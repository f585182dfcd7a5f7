"""Wire-level helpers: request builders, Anthropic's error envelope, raw clients and sockets."""

from __future__ import annotations

import json
import socket

import httpx

from support.stacks import SURFACE_MODELS, Stack

VERSION = "2023-06-01"
MAX_BODY = 32 * 1024 * 1024  # the gateway's request body limit
SONNET = SURFACE_MODELS["bedrock_invoke"]  # claude-sonnet-4-5: 64000 output tokens
KEYS = "key-one,key-two"  # GATEWAY_API_KEYS for a keyed stack
STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def message_body(**fields) -> dict:
    """A valid /v1/messages body; a field set to ``None`` is removed."""
    body = {"model": SONNET, "max_tokens": 100, "messages": user("hi")}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def big_body() -> bytes:
    """A valid JSON body just over the 32 MB limit."""
    head = json.dumps(message_body(messages=user("x"))).encode()
    filler = b"a" * (MAX_BODY + 1024)
    return head.replace(b'"x"', b'"' + filler + b'"')


def raw_client(stack: Stack, headers: dict[str, str]) -> httpx.Client:
    """An httpx client sending only the headers given (no default key, no default version)."""
    return httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=30)


def assert_envelope(response: httpx.Response, status: int, error_type: str, message: str | None = None) -> dict:
    """Anthropic's error envelope, with the request id in the body and in exactly one header."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == "application/json"
    body = response.json()
    assert set(body) == {"type", "error", "request_id"}, body
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    if message is not None:
        assert body["error"]["message"] == message
    assert body["request_id"].startswith("req_")
    assert response.headers.get_list("request-id") == [body["request_id"]], (
        "request-id header must be sent once, equal to body.request_id"
    )
    return body


def read_head(sock: socket.socket) -> bytes:
    """Read a blocking socket until the end of the response headers, or until the peer closes.

    For requests httpx will not send (a Content-Length the body never honours): the status line
    and headers are all such a test needs, and waiting for more would wait for the timeout.
    """
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer
