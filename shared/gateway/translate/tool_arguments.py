"""Tool input from an OpenAI-style ``arguments`` string (chat/generations and ``/responses`` send them so)."""

from __future__ import annotations

from ..jsoncodec import loads


def parse_arguments(raw: object) -> dict:
    """Tool input from the arguments string; text that is not a JSON object is kept, not lost."""
    if isinstance(raw, dict):
        return raw
    try:
        parsed = loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except ValueError:
        return {"_raw_arguments": raw}
    return parsed if isinstance(parsed, dict) else {"value": parsed}
