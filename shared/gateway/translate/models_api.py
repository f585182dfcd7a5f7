"""Anthropic <-> the documented Models API (``/einstein/platform/v1/models/{model}/chat-generations``).

That surface takes ``{role, content: string}`` turns and nothing else: no generation settings,
no tools, no images, no streaming. Tool turns in the history are flattened to text, tool
definitions are ignored, and the caller applies ``max_tokens``/``stop_sequences`` afterwards.
"""

from __future__ import annotations

from ..anthropic.request import MessagesRequest
from .text import blocks_text

LOCALIZATION = {
    "defaultLocale": "en_US",
    "inputLocales": [{"locale": "en_US", "probability": 1.0}],
    "expectedLocales": ["en_US"],
}


def to_request(request: MessagesRequest) -> dict:
    turns: list[dict] = []
    system = blocks_text(request.system)
    if system:
        turns.append({"role": "system", "content": system})
    for msg in request.messages:
        text = blocks_text(msg["content"])
        if text:
            turns.append({"role": msg["role"], "content": text})
    return {"messages": turns, "localization": LOCALIZATION, "tags": {}}


def parse_response(body: dict) -> tuple[str, int | None, int | None]:
    """(text, prompt_tokens, completion_tokens); token counts are None when absent."""
    details = body.get("generationDetails") or {}
    generations = details.get("generations") or []
    text = ""
    if generations and isinstance(generations[0], dict):
        text = generations[0].get("content") or ""
    elif isinstance(body.get("generation"), dict):  # the /generations shape, seen on some orgs
        text = body["generation"].get("generatedText") or ""
    usage = (details.get("parameters") or {}).get("usage") or {}
    prompt = usage.get("prompt_tokens", usage.get("inputTokenCount"))
    completion = usage.get("completion_tokens", usage.get("outputTokenCount"))
    return text, _int_or_none(prompt), _int_or_none(completion)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
