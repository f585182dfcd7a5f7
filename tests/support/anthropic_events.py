"""Checks an Anthropic event sequence the way an SDK would read it, and rebuilds the message."""

from __future__ import annotations

import copy
import json

import pytest

BLOCK_DELTAS = {
    "text": {"text_delta"},
    "tool_use": {"input_json_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
}


def assemble(events: list[dict]) -> dict:
    """Check an Anthropic event sequence is well formed and rebuild the message it describes."""
    assert events, "no events"
    assert events[0]["type"] == "message_start"
    assert events[-1] == {"type": "message_stop"}
    message = copy.deepcopy(events[0]["message"])
    assert message["content"] == []
    assert message["stop_reason"] is None
    open_index: int | None = None
    json_parts: dict[int, list[str]] = {}
    deltas_seen = 0
    for event in events[1:-1]:
        kind = event["type"]
        assert deltas_seen == 0, f"{kind} after message_delta"
        if kind == "content_block_start":
            assert open_index is None, "a block started before the previous one stopped"
            assert event["index"] == len(message["content"]), "block indexes must be 0, 1, 2, ..."
            open_index = event["index"]
            message["content"].append(copy.deepcopy(event["content_block"]))
        elif kind == "content_block_delta":
            assert event["index"] == open_index, "delta for a block that is not open"
            block, delta = message["content"][open_index], event["delta"]
            assert delta["type"] in BLOCK_DELTAS.get(block["type"], set()), (block["type"], delta["type"])
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            else:
                json_parts.setdefault(open_index, []).append(delta["partial_json"])
        elif kind == "content_block_stop":
            assert event["index"] == open_index
            block = message["content"][open_index]
            if block["type"] == "tool_use":
                raw = "".join(json_parts.get(open_index, []))
                block["input"] = json.loads(raw) if raw else {}
            open_index = None
        elif kind == "message_delta":
            assert open_index is None, "message_delta while a block is open"
            deltas_seen += 1
            message["stop_reason"] = event["delta"]["stop_reason"]
            message["stop_sequence"] = event["delta"]["stop_sequence"]
            message["usage"] = dict(message["usage"], **event["usage"])
        elif kind != "ping":
            pytest.fail(f"unexpected event {kind}")
    assert deltas_seen == 1, "exactly one message_delta"
    return message
