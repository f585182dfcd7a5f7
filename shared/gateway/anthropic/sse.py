"""Server-sent event framing exactly as Anthropic frames it: ``event:`` line, one-line JSON data."""

from __future__ import annotations

from ..jsoncodec import dumps

# Headers every streaming response carries; X-Accel-Buffering stops nginx-like proxies buffering.
SSE_HEADERS = {
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
    "connection": "keep-alive",
}
SSE_MEDIA_TYPE = "text/event-stream"

PING = b'event: ping\ndata: {"type":"ping"}\n\n'


def frame(event: dict) -> bytes:
    """One SSE event; the event name is the payload's ``type``, as both SDKs require."""
    return b"event: " + event["type"].encode() + b"\ndata: " + dumps(event) + b"\n\n"
