"""Anthropic message and stream-event builders shared by every surface.

A surface that only returns a finished message streams it through :func:`events_from_message`,
so streamed and non-streamed answers carry the same text by construction.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..jsoncodec import dumps_str

_CHUNK = re.compile(r"\S*\s*")
# Emulated streams send text in pieces of about this many characters.
CHUNK_CHARS = 24


def usage(input_tokens: int, output_tokens: int, **extra: Any) -> dict:
    """Usage with every field Claude Code's context meter reads."""
    out = {
        "input_tokens": int(input_tokens),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": int(output_tokens),
        "service_tier": "standard",
    }
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def complete_usage(raw: dict | None) -> dict:
    """Fill in the usage fields a backend left out (SDKs crash on a missing ``output_tokens``)."""
    raw = dict(raw or {})
    base = usage(raw.pop("input_tokens", 0) or 0, raw.pop("output_tokens", 0) or 0)
    base.update({k: v for k, v in raw.items() if v is not None})
    return base


# The input-side counts Anthropic repeats, cumulative, in every streamed message_delta.
INPUT_USAGE = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def delta_usage(delta: dict | None, start: dict | None) -> dict:
    """A message_delta's usage as Anthropic sends it: the input counts of message_start (unless the backend
    repeated them itself) with the delta's output count. Clients that read input tokens from the delta
    (LangChain) would otherwise record 0 for every streamed call."""
    out = {name: int((start or {}).get(name) or 0) for name in INPUT_USAGE}
    out.update({k: v for k, v in (delta or {}).items() if v is not None})
    out.setdefault("output_tokens", 0)
    return out


def message(
    message_id: str,
    model: str,
    content: list[dict],
    stop_reason: str | None,
    stop_sequence: str | None,
    usage_: dict,
) -> dict:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage_,
    }


def message_start(msg: dict) -> dict:
    start = dict(msg, content=[], stop_reason=None, stop_sequence=None)
    start["usage"] = dict(msg["usage"], output_tokens=min(1, msg["usage"].get("output_tokens", 0) or 1))
    return {"type": "message_start", "message": start}


def block_start(index: int, block: dict) -> dict:
    return {"type": "content_block_start", "index": index, "content_block": block}


def block_delta(index: int, delta: dict) -> dict:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def block_stop(index: int) -> dict:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str | None, stop_sequence: str | None, usage_: dict) -> dict:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
        "usage": usage_,
    }


MESSAGE_STOP = {"type": "message_stop"}


def chunk_text(text: str, size: int = CHUNK_CHARS) -> Iterator[str]:
    """Split text at word boundaries into pieces of roughly ``size`` characters."""
    piece = ""
    for word in _CHUNK.findall(text):
        piece += word
        if len(piece) >= size:
            yield piece
            piece = ""
    if piece:
        yield piece


def events_from_message(msg: dict) -> Iterator[dict]:
    """The stream a finished message would have produced, block by block."""
    yield message_start(msg)
    for index, block in enumerate(msg["content"]):
        kind = block["type"]
        if kind == "text":
            yield block_start(index, {"type": "text", "text": ""})
            for piece in chunk_text(block["text"]):
                yield block_delta(index, {"type": "text_delta", "text": piece})
        elif kind == "tool_use":
            yield block_start(index, {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}})
            yield block_delta(index, {"type": "input_json_delta", "partial_json": dumps_str(block["input"])})
        elif kind == "thinking":
            yield block_start(index, {"type": "thinking", "thinking": "", "signature": ""})
            for piece in chunk_text(block["thinking"]):
                yield block_delta(index, {"type": "thinking_delta", "thinking": piece})
            yield block_delta(index, {"type": "signature_delta", "signature": block.get("signature", "")})
        else:  # redacted_thinking and other whole blocks arrive complete in the start event
            yield block_start(index, block)
        yield block_stop(index)
    yield message_delta(msg["stop_reason"], msg["stop_sequence"], msg["usage"])
    yield MESSAGE_STOP
