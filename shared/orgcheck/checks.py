"""The checks, each an Anthropic request sent through the gateway's own validation, routing and surface.

Nothing here speaks Salesforce's wire formats: the surfaces do, exactly as they do behind
``/v1/messages``, so a PASS says the gateway's translation works against the org.
The prompts carry the simulator's directives (``[[tool:…]]``, ``[[think]]``) so the same run passes
against the simulator; a real model reads them as harmless text next to a plain instruction.
"""

from __future__ import annotations

import base64
import contextlib
import json
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.anthropic import ids
from gateway.anthropic.validation import fit_to_model, validate_messages
from gateway.catalog.model_map import ModelEntry, ModelMap
from gateway.jsoncodec import dumps
from gateway.salesforce.surfaces import Call, Surface

CHECKS = ("plain", "stream", "tools", "thinking", "image")
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


class CheckFailed(Exception):
    """The org answered, but not as a working model would (no text, no tool call)."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    thinking: str  # "none" | "enabled" | "adaptive"
    tools: bool
    images: bool


def capabilities(entry: ModelEntry) -> Capabilities:
    """What the model map says the entry can do (the loader fills in the surface's defaults)."""
    return Capabilities(entry.thinking, entry.tools, entry.images)


def skip_reason(check: str, caps: Capabilities) -> str | None:
    if check == "tools" and not caps.tools:
        return "the model map says this model takes no tools"
    if check == "thinking" and caps.thinking == "none":
        return "the model map says this model does not think"
    if check == "image" and not caps.images:
        return "the model map says this model takes no images"
    return None


class Gateway:
    """The gateway's path for one request, minus HTTP: validate, route, fit, check, call the surface."""

    def __init__(self, model_map: ModelMap, surfaces: dict[str, Surface]) -> None:
        self.model_map = model_map
        self.surfaces = surfaces

    def prepare(self, body: dict) -> tuple[Surface, Call]:
        request = validate_messages(body)
        route = self.model_map.route(request.model)
        fit_to_model(request, request.model, route.entry.max_output_tokens, clamp=route.by_pattern)
        surface = self.surfaces[route.entry.surface]
        call = Call(request, route, ids.message_id(), body_bytes=len(dumps(body)))
        surface.check(call)
        return surface, call

    async def create(self, body: dict) -> dict:
        surface, call = self.prepare(body)
        return await surface.create(call)

    async def stream(self, body: dict) -> list[dict]:
        surface, call = self.prepare(dict(body, stream=True))
        async with contextlib.aclosing(surface.stream(call)) as events:
            return [event async for event in events]


def text_of(message: dict) -> str:
    return "".join(b.get("text", "") for b in message.get("content", []) if b.get("type") == "text").strip()


def snippet(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return json.dumps(flat if len(flat) <= width else flat[: width - 1] + "…", ensure_ascii=False)


def _answer(message: dict) -> str:
    text = text_of(message)
    if not text:
        raise CheckFailed(f"no text in the answer (stop_reason {message.get('stop_reason')})")
    return text


def _user(content: str | list[dict]) -> dict:
    return {"role": "user", "content": content}


async def plain(gw: Gateway, model: str, caps: Capabilities) -> str:
    body = {"model": model, "max_tokens": 64, "messages": [_user("Reply with the single word: pong")]}
    return snippet(_answer(await gw.create(body)))


async def stream(gw: Gateway, model: str, caps: Capabilities) -> str:
    body = {"model": model, "max_tokens": 64, "messages": [_user("Count from 1 to 5, separated by spaces.")]}
    events = await gw.stream(body)
    kinds = [e.get("type") for e in events]
    if not kinds or kinds[0] != "message_start" or kinds[-1] != "message_stop":
        raise CheckFailed(f"the stream did not run from message_start to message_stop: {kinds[:3]}…{kinds[-2:]}")
    deltas = [e["delta"].get("text", "") for e in events if (e.get("delta") or {}).get("type") == "text_delta"]
    if not "".join(deltas).strip():
        raise CheckFailed("the stream carried no text")
    return f"{len(deltas)} text deltas, {snippet(''.join(deltas))}"


async def tools(gw: Gateway, model: str, caps: Capabilities) -> str:
    ask = _user(
        'Use the get_weather tool to look up the weather in Paris. [[tool:get_weather {"city": "Paris"}]]'
    )
    body = {"model": model, "max_tokens": 512, "tools": [WEATHER_TOOL], "messages": [ask]}
    first = await gw.create(body)
    calls = [b for b in first.get("content", []) if b.get("type") == "tool_use"]
    if not calls:
        raise CheckFailed(
            f"the model answered without calling get_weather (stop_reason {first.get('stop_reason')}): "
            f"{snippet(text_of(first))}"
        )
    if first.get("stop_reason") != "tool_use":
        raise CheckFailed(f"a tool call with stop_reason {first.get('stop_reason')}, not tool_use")
    call = calls[0]
    result = {"type": "tool_result", "tool_use_id": call["id"], "content": "18 degrees C and sunny"}
    body["messages"] = [ask, {"role": "assistant", "content": first["content"]}, _user([result])]
    second = await gw.create(body)
    return f"{call['name']}({json.dumps(call.get('input'))}) then {snippet(_answer(second))}"


async def thinking(gw: Gateway, model: str, caps: Capabilities) -> str:
    setting = {"type": "adaptive"} if caps.thinking == "adaptive" else {"type": "enabled", "budget_tokens": 1024}
    ask = _user("What is 17 * 23? Answer with the number only. [[think]]")
    body = {"model": model, "max_tokens": 2048, "thinking": setting, "messages": [ask]}
    first = await gw.create(body)
    answer = _answer(first)
    if not any(b.get("type") in ("thinking", "redacted_thinking") for b in first.get("content", [])):
        return f"{setting['type']}: answered without a thinking block, {snippet(answer)}"
    # The turn Claude Code sends next: the thinking block goes back in the history.
    body["messages"] = [ask, {"role": "assistant", "content": first["content"]}, _user("Add 1 to it.")]
    second = await gw.create(body)
    return f"{setting['type']}: thinking block, then a turn with it in history: {snippet(_answer(second))}"


def red_square_png(size: int = 8) -> bytes:
    """A tiny valid PNG, built here rather than shipped as a file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


async def image(gw: Gateway, model: str, caps: Capabilities) -> str:
    picture = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(red_square_png()).decode()},
    }
    ask = _user([picture, {"type": "text", "text": "What colour is this square? Answer in one word."}])
    return snippet(_answer(await gw.create({"model": model, "max_tokens": 64, "messages": [ask]})))


RUNNERS: dict[str, Callable[[Gateway, str, Capabilities], Awaitable[str]]] = {
    "plain": plain,
    "stream": stream,
    "tools": tools,
    "thinking": thinking,
    "image": image,
}
