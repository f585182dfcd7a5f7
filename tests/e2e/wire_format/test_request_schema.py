"""The whole request schema is accepted on every surface: documented fields, fields only the gateway
understands (kept from Salesforce), unknown future fields, and the request Claude Code actually sends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.sdk import backend_request_with, marker, texts
from support.sse import check_event_order, sse_events, sse_text
from support.stacks import SURFACE_MODELS
from support.wire import WEATHER_TOOL, message_body, user

SURFACES = list(SURFACE_MODELS)
TEXT_ONLY_SURFACES = ["models_api"]
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "claude_code"

surfaces = pytest.mark.parametrize("surface", SURFACES)
streamed = pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])


def system_text_sent(surface: str, body: dict) -> str:
    """The system prompt as the gateway sent it to the surface."""
    if surface == "bedrock_invoke":
        system = body.get("system") or []
        return "\n".join(b["text"] for b in system) if isinstance(system, list) else system
    if "input" in body:  # /responses: input items, the system prompt as a system message
        parts = [i["content"] for i in body["input"] if i.get("role") == "system"]
        return "\n".join(p["text"] for content in parts for p in content)
    return "\n".join(m["content"] for m in body["messages"] if m["role"] == "system")


def claude_code_request() -> tuple[dict, dict]:
    """The captured Claude Code body, and its headers minus transport and the redacted key."""
    body = json.loads((FIXTURES / "messages_request.json").read_text())
    captured = json.loads((FIXTURES / "messages_request.headers.json").read_text())
    skip = {"host", "content-length", "connection", "accept-encoding", "x-api-key"}
    headers = {k: v for k, v in captured["headers"].items() if k.lower() not in skip}
    headers["x-api-key"] = "test-key"
    return body, headers


def last_user_texts(body: dict) -> list[str]:
    last = next(m for m in reversed(body["messages"]) if m["role"] == "user")
    content = last["content"]
    if isinstance(content, str):
        return [content]
    return [b["text"] for b in content if b.get("type") == "text"]


def expected_echo(body: dict, surface: str) -> str:
    """What the simulator echoes for this body on this surface.

    Anthropic-native bodies keep blocks apart, so the answer is the last text block of the last
    user message. Text-only surfaces carry one string per turn: the blocks joined by blank lines.
    """
    if surface == "bedrock_invoke":
        return last_user_texts(body)[-1]
    return "\n\n".join(last_user_texts(body)).strip()


# --- every field of the schema --------------------------------------------------------------------

SYSTEM_TEXT = "You are terse and accurate."
SCHEMA_CASES: dict[str, dict] = {
    "system_string": {"system": SYSTEM_TEXT},
    "system_blocks_cache_control": {
        "system": [{"type": "text", "text": SYSTEM_TEXT, "cache_control": {"type": "ephemeral"}}]
    },
    "system_role_message": {"extra_messages": [{"role": "system", "content": SYSTEM_TEXT}]},
    "metadata": {"metadata": {"user_id": "user-1234"}},
    "tool_choice": {"tools": [WEATHER_TOOL], "tool_choice": {"type": "auto"}},
    "context_management": {"extra_body": {"context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]}}},
    "output_config": {"output_config": {"effort": "high"}},
    "unknown_future_field": {"extra_body": {"future_field_2099": {"enabled": True, "level": 3}}},
    # This SDK version no longer takes sampling parameters as arguments; older clients still send them.
    "temperature_top_p_top_k": {"extra_body": {"temperature": 0.5, "top_p": 0.9, "top_k": 40}},
    "everything": {
        "system": [{"type": "text", "text": SYSTEM_TEXT, "cache_control": {"type": "ephemeral"}}],
        "extra_messages": [{"role": "system", "content": "Also: be kind."}],
        "metadata": {"user_id": "user-1234"},
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "auto"},
        "output_config": {"effort": "medium"},
        "extra_body": {
            "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
            "future_field_2099": {"enabled": True},
        },
    },
}


@surfaces
@pytest.mark.parametrize("case", SCHEMA_CASES)
def test_request_schema_is_accepted(stack, client, surface, case):
    params = dict(SCHEMA_CASES[case])
    if surface in TEXT_ONLY_SURFACES:  # tools there are a 400 (test_tools_on_text_only_surface_are_refused)
        params.pop("tools", None)
        params.pop("tool_choice", None)
    extra_messages = params.pop("extra_messages", [])
    prompt = f"Schema case {case} {marker()}"
    messages = [
        {"role": "user", "content": [{"type": "text", "text": prompt, "cache_control": {"type": "ephemeral"}}]},
        *extra_messages,
    ]
    message = client.messages.create(model=SURFACE_MODELS[surface], max_tokens=100, messages=messages, **params)
    assert texts(message) == prompt
    assert message.stop_reason == "end_turn"

    sent = json.loads(backend_request_with(stack, prompt)["body"])
    expected_system = [SYSTEM_TEXT] if "system" in params else []
    expected_system += [m["content"] for m in extra_messages]
    for text in expected_system:
        assert text in system_text_sent(surface, sent)
    # Fields only the gateway understands never reach Salesforce.
    for name in ("future_field_2099", "context_management", "metadata"):
        assert name not in sent


@pytest.mark.parametrize("surface", SURFACES)
def test_unknown_top_level_fields_are_ignored(stack, surface):
    body = message_body(
        model=SURFACE_MODELS[surface],
        messages=user("lenient please"),
        some_future_option={"nested": [1, 2, 3]},
        inference_geo="us",
        another_unknown_flag=True,
    )
    with stack.http() as http:
        response = http.post("/v1/messages", json=body)
        counted = http.post("/v1/messages/count_tokens", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == "lenient please"
    assert counted.status_code == 200, counted.text


# --- the captured Claude Code request -------------------------------------------------------------


def test_claude_code_request_streams_the_answer(stack):
    body, headers = claude_code_request()
    assert body["stream"] is True
    with stack.http(headers=headers) as http:
        response = http.post("/v1/messages?beta=true", content=json.dumps(body))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    starts = check_event_order(events)
    assert [s["content_block"]["type"] for s in starts] == ["text"]
    assert events[0]["message"]["model"] == body["model"]
    assert events[0]["message"]["id"].startswith("msg_")
    assert sse_text(events) == expected_echo(body, "bedrock_invoke")
    assert events[-2]["delta"]["stop_reason"] == "end_turn"


def test_claude_code_request_without_stream_returns_json(stack):
    body, headers = claude_code_request()
    body["stream"] = False
    with stack.http(headers=headers) as http:
        response = http.post("/v1/messages?beta=true", content=json.dumps(body))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert answer["type"] == "message"
    assert answer["model"] == body["model"]
    assert answer["content"] == [{"type": "text", "text": expected_echo(body, "bedrock_invoke")}]
    assert answer["stop_reason"] == "end_turn"


@surfaces
@streamed
def test_claude_code_request_on_every_surface(stack, surface, stream):
    body, headers = claude_code_request()
    model = SURFACE_MODELS[surface]
    with stack.http(headers=headers) as http:
        # Like a client would, keep max_tokens within what the model says it can produce.
        limit = http.get(f"/v1/models/{model}").json()["max_tokens"]
        body.update(model=model, stream=stream, max_tokens=min(body["max_tokens"], limit))
        response = http.post("/v1/messages?beta=true", content=json.dumps(body))
    if surface in TEXT_ONLY_SURFACES:  # Claude Code always sends tools: a clear 400, not tools silently lost
        assert response.status_code == 400, response.text
        assert "cannot carry tools" in response.json()["error"]["message"]
        return
    assert response.status_code == 200, response.text
    if stream:
        events = sse_events(response.text)
        starts = check_event_order(events)
        assert [s["content_block"]["type"] for s in starts] == ["text"]
        assert sse_text(events) == expected_echo(body, surface)
    else:
        answer = response.json()
        assert answer["model"] == model
        assert answer["content"] == [{"type": "text", "text": expected_echo(body, surface)}]
