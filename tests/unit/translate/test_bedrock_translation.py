"""Bedrock translation: the invoke body (fields, betas, thinking) and relabelled events and messages."""

from __future__ import annotations

import json

import pytest
from support.builders import WEATHER_TOOL, messages_request

from gateway.translate import bedrock
from gateway.translate.bedrock import MIN_THINKING_BUDGET


def test_bedrock_to_request_filters_fields_and_betas():
    request = messages_request(
        model="claude-sonnet-4-5",
        max_tokens=4096,
        stream=True,
        system="You are Claude Code.",
        metadata={"user_id": "u-1"},
        context_management={"edits": [{"type": "clear_tool_uses_20250919"}]},
        thinking={"type": "enabled", "budget_tokens": 2048},
        stop_sequences=["\n\nHuman:"],
        tools=[dict(WEATHER_TOOL, defer_loading=True, cache_control={"type": "ephemeral"}, strict=True)],
        tool_choice={"type": "auto"},
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        betas=[
            "interleaved-thinking-2025-05-14",
            "claude-code-20250219",
            "context-management-2025-06-27",
            "fine-grained-tool-streaming-2025-05-14",
        ],
    )
    body = bedrock.to_request(request)
    assert body["anthropic_version"] == "bedrock-2023-05-31"
    for dropped in ("model", "stream", "metadata", "context_management"):
        assert dropped not in body
    assert body["max_tokens"] == 4096
    assert body["system"] == [{"type": "text", "text": "You are Claude Code."}]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["tool_choice"] == {"type": "auto"}
    assert body["stop_sequences"] == ["\n\nHuman:"]
    (tool,) = body["tools"]
    assert tool == dict(WEATHER_TOOL, cache_control={"type": "ephemeral"})
    assert body["anthropic_beta"] == ["interleaved-thinking-2025-05-14", "fine-grained-tool-streaming-2025-05-14"]
    assert set(body["anthropic_beta"]) <= bedrock.BEDROCK_BETAS
    json.dumps(body)  # serialisable as sent


def test_bedrock_to_request_no_betas_no_key():
    body = bedrock.to_request(messages_request(betas=["claude-code-20250219"], temperature=0.5, top_k=5))
    assert "anthropic_beta" not in body
    assert "tools" not in body
    assert "system" not in body
    assert body["temperature"] == 0.5
    assert body["top_k"] == 5


@pytest.mark.parametrize(
    ("max_tokens", "effort", "expected"),
    [
        (64000, "high", {"type": "enabled", "budget_tokens": 51200}),
        (64000, "medium", {"type": "enabled", "budget_tokens": 32000}),
        (64000, "low", {"type": "enabled", "budget_tokens": 16000}),
        (64000, None, {"type": "enabled", "budget_tokens": 51200}),
        (2000, "low", {"type": "enabled", "budget_tokens": 1024}),  # never under the minimum budget
        (1025, "high", {"type": "enabled", "budget_tokens": 1024}),  # and always under max_tokens
        (1024, "high", None),  # no room for thinking at all: none
    ],
)
def test_adaptive_thinking_becomes_a_budget_on_older_models(max_tokens, effort, expected):
    fields = {"output_config": {"effort": effort}} if effort else {}
    request = messages_request(model="claude-opus-4-5", max_tokens=max_tokens, thinking={"type": "adaptive"}, **fields)
    body = bedrock.to_request(request, adaptive_thinking=False)
    assert body.get("thinking") == expected
    if expected:
        assert MIN_THINKING_BUDGET <= expected["budget_tokens"] < max_tokens


def test_thinking_passes_unchanged_where_the_model_takes_it():
    adaptive = messages_request(model="claude-opus-4-5", max_tokens=4000, thinking={"type": "adaptive"})
    assert bedrock.to_request(adaptive, adaptive_thinking=True)["thinking"] == {"type": "adaptive"}
    enabled = messages_request(
        model="claude-opus-4-5", max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 2000}
    )
    assert bedrock.to_request(enabled, adaptive_thinking=False)["thinking"] == {
        "type": "enabled",
        "budget_tokens": 2000,
    }
    disabled = messages_request(model="claude-opus-4-5", max_tokens=4000, thinking={"type": "disabled"})
    assert "thinking" not in bedrock.to_request(disabled, adaptive_thinking=False)  # the default; older models 502


def test_bedrock_relabel_events():
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_bdrk_123",
            "type": "message",
            "role": "assistant",
            "model": "claude-simulated",
            "content": [],
            "usage": {"input_tokens": 42, "output_tokens": 1},
        },
    }
    relabelled = bedrock.relabel_event(start, "msg_gateway", "claude-sonnet-4-5")
    msg = relabelled["message"]
    assert msg["id"] == "msg_gateway"
    assert msg["model"] == "claude-sonnet-4-5"
    assert msg["usage"]["input_tokens"] == 42
    assert msg["usage"]["cache_read_input_tokens"] == 0
    assert msg["stop_reason"] is None
    assert start["message"]["id"] == "msg_bdrk_123", "the backend event is not mutated"

    stop = {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 42}}
    assert bedrock.relabel_event(stop, "msg_gateway", "m") == {"type": "message_stop"}

    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {}}
    assert bedrock.relabel_event(delta, "msg_gateway", "m")["usage"]["output_tokens"] == 0

    block = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}
    assert bedrock.relabel_event(block, "msg_gateway", "m") == block


def test_bedrock_relabel_message():
    body = {
        "id": "msg_bdrk_1",
        "model": "claude-simulated",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    message = bedrock.relabel_message(body, "msg_gw", "claude-haiku-4-5")
    assert message["id"] == "msg_gw"
    assert message["model"] == "claude-haiku-4-5"
    assert message["content"] == body["content"]
    assert message["usage"]["output_tokens"] == 1
    assert message["stop_sequence"] is None


def test_anthropic_defined_tools_keep_their_own_fields():
    """A computer-use tool without its display size is refused by Bedrock: typed tools pass whole."""
    computer = {"type": "computer_20250124", "name": "computer", "display_width_px": 1024, "display_height_px": 768}
    request = messages_request(tools=[computer, dict(WEATHER_TOOL, strict=True)], betas=["computer-use-2025-01-24"])
    body = bedrock.to_request(request)
    assert body["tools"] == [computer, WEATHER_TOOL]
    assert body["anthropic_beta"] == ["computer-use-2025-01-24"]
