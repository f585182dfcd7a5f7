"""Anthropic event builders: a whole message replayed as a well-formed stream, text chunking."""

from __future__ import annotations

import pytest
from support.anthropic_events import assemble

from gateway.anthropic.events import chunk_text, events_from_message, usage


def _message(content: list[dict], stop_reason: str = "end_turn") -> dict:
    return {
        "id": "msg_01abc",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage(17, 42),
    }


@pytest.mark.parametrize(
    "content",
    [
        [{"type": "text", "text": "Hello!"}],
        [{"type": "text", "text": "  leading and trailing whitespace \n\n with\ttabs and 日本語 🎉  " * 20}],
        [
            {"type": "thinking", "thinking": "Let me think about this carefully. " * 10, "signature": "c2ln"},
            {"type": "text", "text": "I'll look that up."},
            {"type": "tool_use", "id": "toolu_01x", "name": "search", "input": {"q": "weather", "n": [1, 2]}},
        ],
        [{"type": "tool_use", "id": "toolu_01y", "name": "noop", "input": {}}],
        [{"type": "redacted_thinking", "data": "EmwKAhgB..."}, {"type": "text", "text": "done"}],
        [],
    ],
)
def test_events_from_message_round_trip(content):
    msg = _message(content, "tool_use" if content and content[-1]["type"] == "tool_use" else "end_turn")
    events = list(events_from_message(msg))
    rebuilt = assemble(events)
    assert rebuilt["content"] == msg["content"]
    assert rebuilt["id"] == msg["id"]
    assert rebuilt["model"] == msg["model"]
    assert rebuilt["stop_reason"] == msg["stop_reason"]
    assert rebuilt["usage"] == msg["usage"]
    assert events[0]["message"]["usage"]["output_tokens"] <= 1, "message_start reports no output yet"
    assert msg["content"] == content, "the message is not mutated"


def test_chunk_text_preserves_text():
    for text in ["", "a", "   ", "word " * 100, "no-spaces-" * 50, "line\nbreaks\n\n and  spaces "]:
        pieces = list(chunk_text(text))
        assert "".join(pieces) == text
        assert all(pieces)
