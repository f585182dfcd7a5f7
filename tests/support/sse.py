"""Anthropic's server-sent events as tests read them: raw frames, event dicts, and the stream grammar."""

from __future__ import annotations

import json

import pytest


def sse_frames(raw: bytes) -> list[tuple[str, dict]]:
    """Split a raw SSE body into (event name, data) pairs, insisting on Anthropic's exact framing."""
    text = raw.decode("utf-8")
    assert text.endswith("\n\n"), text[-200:]
    events = []
    for frame in text[:-2].split("\n\n"):
        lines = frame.split("\n")
        assert len(lines) == 2, f"an event is exactly one event: line and one data: line: {frame!r}"
        assert lines[0].startswith("event: "), frame
        assert lines[1].startswith("data: "), frame
        name, data = lines[0][len("event: ") :], json.loads(lines[1][len("data: ") :])
        assert data["type"] == name, frame
        events.append((name, data))
    return events


def sse_events(text: str) -> list[dict]:
    """Anthropic SSE frames as event dicts; each frame's ``event:`` name must equal its ``type``."""
    out = []
    for frame in text.split("\n\n"):
        if not frame.strip():
            continue
        name, data = None, []
        for line in frame.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        event = json.loads("\n".join(data))
        assert name == event["type"], f"event name {name!r} does not match payload type {event['type']!r}"
        out.append(event)
    return out


def check_event_order(events: list[dict]) -> list[dict]:
    """Assert Anthropic's stream grammar; return the content_block_start events in order.

    message_start first, then blocks 0, 1, 2... each opened, filled and closed before the next,
    then message_delta carrying usage.output_tokens, then message_stop last. ``ping`` may appear.
    """
    events = [e for e in events if e["type"] != "ping"]
    assert events, "empty stream"
    assert events[0]["type"] == "message_start"
    assert events[-1]["type"] == "message_stop"
    assert events[-2]["type"] == "message_delta"
    assert isinstance(events[-2]["usage"]["output_tokens"], int)
    assert events[-2]["usage"]["output_tokens"] > 0
    starts: list[dict] = []
    open_index: int | None = None
    for event in events[1:-2]:
        kind = event["type"]
        if kind == "content_block_start":
            assert open_index is None, f"block {event['index']} opened while {open_index} is open"
            assert event["index"] == len(starts), f"block index {event['index']}, expected {len(starts)}"
            open_index = event["index"]
            starts.append(event)
        elif kind in ("content_block_delta", "content_block_stop"):
            assert event["index"] == open_index, f"{kind} for block {event['index']}, open is {open_index}"
            if kind == "content_block_stop":
                open_index = None
        else:
            pytest.fail(f"unexpected event {kind} inside the message: {event}")
    assert open_index is None, "a block was never closed"
    return starts


def deltas(events: list[dict], delta_type: str, index: int | None = None) -> list[dict]:
    return [
        e["delta"]
        for e in events
        if e["type"] == "content_block_delta"
        and e["delta"]["type"] == delta_type
        and (index is None or e["index"] == index)
    ]


def sse_text(events: list[dict]) -> str:
    return "".join(d["text"] for d in deltas(events, "text_delta"))
