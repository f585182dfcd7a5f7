"""Request validation with Anthropic's own error texts.

Strict where the real API is strict about shape (so a client's bug surfaces the same way),
lenient where a gateway should be: unknown fields are ignored, never rejected.
Messages follow the pydantic-style ``field.N.sub: reason`` paths the real API uses.
"""

from __future__ import annotations

import re
from typing import Any

from ..jsoncodec import loads
from .errors import GatewayError, invalid_request
from .request import MessagesRequest

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
ROLES = ("user", "assistant", "system")
TOOL_CHOICES = ("auto", "any", "tool", "none")
THINKING_TYPES = ("enabled", "disabled", "adaptive")
DOCUMENT_SOURCES = ("base64", "text", "content", "url", "file")
MAX_MESSAGES = 100_000
_PAIRING_HELP = "Each `tool_use` block must have a corresponding `tool_result` block in the next message."
_ORPHAN_HELP = "Each `tool_result` block must have a corresponding `tool_use` block in the previous message."


def parse_json_object(raw: bytes | bytearray) -> dict:
    if not raw or raw.isspace():  # not raw.strip(): that copies the body
        raise invalid_request("Request body is empty; expected a JSON object")
    try:
        body = loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_request(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise invalid_request("Request body must be a JSON object")
    return body


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _require(body: dict, name: str) -> Any:
    if name not in body or body[name] is None:
        raise invalid_request(f"{name}: Field required")
    return body[name]


def _text_blocks(value: Any, path: str) -> list[dict]:
    """``system`` and similar: a string or a list of text blocks."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "text", "text": value}] if value else []
    if not isinstance(value, list):
        raise invalid_request(f"{path}: Input should be a valid string or a list of text blocks")
    for i, block in enumerate(value):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise invalid_request(f"{path}.{i}: Input should be a text block with a string `text`")
    return value


def _check_block(block: Any, path: str, role: str) -> None:
    if not isinstance(block, dict):
        raise invalid_request(f"{path}: Input should be a valid dictionary")
    kind = block.get("type")
    if not isinstance(kind, str):
        raise invalid_request(f"{path}.type: Field required")
    if kind == "text":
        text = block.get("text")
        if not isinstance(text, str):
            raise invalid_request(f"{path}.text: Input should be a valid string")
        if not text:
            raise invalid_request("messages: text content blocks must be non-empty")
    elif kind == "image":
        source = block.get("source")
        if not isinstance(source, dict) or source.get("type") not in ("base64", "url", "file"):
            raise invalid_request(f"{path}.source: Input should be a base64, url or file image source")
        if source["type"] == "base64" and not isinstance(source.get("data"), str):
            raise invalid_request(f"{path}.source.data: Field required")
    elif kind == "tool_use":
        if role != "assistant":
            raise invalid_request(f"{path}: `tool_use` blocks are only allowed in assistant messages")
        if not isinstance(block.get("id"), str) or not block["id"]:
            raise invalid_request(f"{path}.id: Field required")
        if not isinstance(block.get("name"), str):
            raise invalid_request(f"{path}.name: Field required")
        if not isinstance(block.get("input"), dict):
            raise invalid_request(f"{path}.input: Input should be a valid dictionary")
    elif kind == "tool_result":
        if role != "user":
            raise invalid_request(f"{path}: `tool_result` blocks are only allowed in user messages")
        if not isinstance(block.get("tool_use_id"), str):
            raise invalid_request(f"{path}.tool_use_id: Field required")
        content = block.get("content")
        if content is not None and not isinstance(content, str | list):
            raise invalid_request(f"{path}.content: Input should be a valid string or list")
        if isinstance(content, list):
            for j, inner in enumerate(content):
                _check_block(inner, f"{path}.content.{j}", "user")
    elif kind == "document":
        source = block.get("source")
        if not isinstance(source, dict) or source.get("type") not in DOCUMENT_SOURCES:
            raise invalid_request(f"{path}.source: Input should be a base64, text, content, url or file source")
        if source["type"] in ("base64", "text") and not isinstance(source.get("data"), str):
            raise invalid_request(f"{path}.source.data: Input should be a valid string")
        if source["type"] == "content" and not isinstance(source.get("content"), str | list):
            raise invalid_request(f"{path}.source.content: Input should be a valid string or list")
        if isinstance(source.get("content"), list):
            for j, inner in enumerate(source["content"]):
                _check_block(inner, f"{path}.source.content.{j}", role)
    elif kind == "thinking":
        if not isinstance(block.get("signature"), str):
            raise invalid_request(f"{path}.thinking.signature: Field required")
        if not isinstance(block.get("thinking"), str):
            raise invalid_request(f"{path}.thinking.thinking: Field required")
    # Other block types (document, redacted_thinking, search_result, server tool blocks, future
    # types) pass through; the surface decides whether it can carry them.


def _messages(raw: Any) -> tuple[list[dict], list[dict]]:
    """Validate ``messages``; return (normalised messages, system blocks found inside them)."""
    if not isinstance(raw, list):
        raise invalid_request("messages: Input should be a valid list")
    if not raw:
        raise invalid_request("messages: at least one message is required")
    if len(raw) > MAX_MESSAGES:
        raise invalid_request(f"messages: List should have at most {MAX_MESSAGES} items")
    merged: list[dict] = []
    extra_system: list[dict] = []
    last = len(raw) - 1
    for n, msg in enumerate(raw):
        path = f"messages.{n}"
        if not isinstance(msg, dict):
            raise invalid_request(f"{path}: Input should be a valid dictionary")
        role = msg.get("role")
        if role not in ROLES:
            raise invalid_request(f"{path}.role: Input should be 'user', 'assistant' or 'system'")
        content = msg.get("content")
        if content is None:
            raise invalid_request(f"{path}.content: Field required")
        if isinstance(content, str):
            blocks = [{"type": "text", "text": content}] if content else []
        elif isinstance(content, list):
            blocks = content
        else:
            raise invalid_request(f"{path}.content: Input should be a valid string or list")
        if not blocks and not (n == last and role == "assistant"):
            raise invalid_request(
                f"{path}: all messages must have non-empty content except for the optional final assistant message"
            )
        for m, block in enumerate(blocks):
            _check_block(block, f"{path}.content.{m}", "user" if role == "system" else role)
        if role == "system":
            extra_system.extend(b for b in blocks if b.get("type") == "text")
            continue
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"].extend(blocks)  # in place: a copy per turn made 30k turns quadratic
            merged[-1]["_index"].append(n)
        else:
            merged.append({"role": role, "content": list(blocks), "_index": [n]})
    if not merged:
        raise invalid_request("messages: at least one user or assistant message is required")
    _check_tool_pairing(merged)
    for msg in merged:
        del msg["_index"]
    return merged, extra_system


def _check_tool_pairing(merged: list[dict]) -> None:
    seen: set[str] = set()
    for k, msg in enumerate(merged):
        if msg["role"] == "assistant":
            ids = [b["id"] for b in msg["content"] if b.get("type") == "tool_use"]
            for tool_id in ids:
                if tool_id in seen:
                    raise invalid_request("messages: `tool_use` ids must be unique")
                seen.add(tool_id)
            if not ids or k == len(merged) - 1:
                continue
            following = merged[k + 1]
            answered = {b.get("tool_use_id") for b in following["content"] if b.get("type") == "tool_result"}
            missing = [i for i in ids if i not in answered]
            if missing:
                raise invalid_request(
                    f"messages.{msg['_index'][-1]}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}. {_PAIRING_HELP}"
                )
        else:
            previous = merged[k - 1] if k else None
            offered = {b.get("id") for b in previous["content"] if b.get("type") == "tool_use"} if previous else set()
            position = msg["_index"][-1]
            for m, block in enumerate(msg["content"]):
                if block.get("type") == "tool_result" and block.get("tool_use_id") not in offered:
                    raise invalid_request(
                        f"messages.{position}.content.{m}: unexpected `tool_use_id` found in `tool_result` "
                        f"blocks: {block.get('tool_use_id')}. {_ORPHAN_HELP}"
                    )


def _tools(raw: Any) -> list[dict]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_request("tools: Input should be a valid list")
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict):
            raise invalid_request(f"tools.{i}: Input should be a valid dictionary")
        kind = tool.get("type")
        if kind is not None and not isinstance(kind, str):
            raise invalid_request(f"tools.{i}.type: Input should be a valid string")
        if kind not in (None, "custom"):  # server tools (web_search_..., bash_...) are typed and schema-less
            if not isinstance(tool.get("name"), str):
                raise invalid_request(f"tools.{i}.{kind}.name: Input should be a valid string")
            continue
        if not isinstance(tool.get("description", ""), str):
            raise invalid_request(f"tools.{i}.custom.description: Input should be a valid string")
        name = tool.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            raise invalid_request(f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise invalid_request(f"tools.{i}.custom.input_schema: Field required")
    return raw


def _check_tag(raw: Any, field: str, tags: tuple[str, ...]) -> None:
    """A tagged union: an object whose ``type`` is one of ``tags``."""
    if not isinstance(raw, dict) or raw.get("type") not in tags:
        expected = ", ".join(f"'{tag}'" for tag in tags)
        raise invalid_request(
            f"{field}: Input tag found using 'type' does not match any of the expected tags: {expected}"
        )


def _tool_choice(raw: Any, tools: list[dict]) -> dict | None:
    if raw is None:
        return None
    _check_tag(raw, "tool_choice", TOOL_CHOICES)
    if raw["type"] == "tool":
        if not isinstance(raw.get("name"), str):
            raise invalid_request("tool_choice.tool.name: Field required")
        if raw["name"] not in {t.get("name") for t in tools}:
            raise invalid_request(f"tool_choice.tool.name: Tool '{raw['name']}' not found in tools")
    return raw


INTERLEAVED_THINKING = "interleaved-thinking-2025-05-14"  # lets the budget exceed max_tokens (it spans turns)


def _thinking(raw: Any, max_tokens: int, interleaved: bool = False) -> dict | None:
    if raw is None:
        return None
    _check_tag(raw, "thinking", THINKING_TYPES)
    if raw["type"] == "enabled":
        budget = raw.get("budget_tokens")
        if budget is None:
            raise invalid_request("thinking.enabled.budget_tokens: Field required")
        if not _is_int(budget):
            raise invalid_request("thinking.enabled.budget_tokens: Input should be a valid integer")
        if budget < 1024:
            raise invalid_request("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if budget >= max_tokens and not interleaved:
            raise invalid_request(
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation "
                "at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
            )
    return raw


def _number(body: dict, name: str, low: float, high: float | None) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if not _is_number(value):
        raise invalid_request(f"{name}: Input should be a valid number")
    if value < low or (high is not None and value > high):
        raise invalid_request(
            f"{name}: range: {low:g}..{high:g}" if high is not None else f"{name}: must be >= {low:g}"
        )
    return value


def _common(body: dict) -> tuple[str, list[dict], list[dict], list[dict]]:
    """Fields shared by ``/v1/messages`` and ``count_tokens``: model, messages, system, tools."""
    model = _require(body, "model")
    if not isinstance(model, str) or not model:
        raise invalid_request("model: Input should be a valid string")
    messages, hoisted = _messages(_require(body, "messages"))
    system = _text_blocks(body.get("system"), "system") + hoisted
    tools = _tools(body.get("tools"))
    return model, messages, system, tools


def parse_betas(header: str | None) -> tuple[str, ...]:
    if not header:
        return ()
    return tuple(b.strip() for b in header.split(",") if b.strip())


def validate_messages(body: dict, betas: tuple[str, ...] = ()) -> MessagesRequest:
    model, messages, system, tools = _common(body)
    max_tokens = _require(body, "max_tokens")
    if not _is_int(max_tokens):
        raise invalid_request("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        raise invalid_request("max_tokens: Input should be greater than or equal to 1")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise invalid_request("stream: Input should be a valid boolean")
    stops = body.get("stop_sequences") or []
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise invalid_request("stop_sequences: Input should be a valid list of strings")
    temperature = _number(body, "temperature", 0.0, 1.0)
    top_p = _number(body, "top_p", 0.0, 1.0)
    top_k = body.get("top_k")
    if top_k is not None and (not _is_int(top_k) or top_k < 0):
        raise invalid_request("top_k: Input should be a non-negative integer")
    for name in ("metadata", "output_config"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            raise invalid_request(f"{name}: Input should be a valid dictionary")
    tool_choice = _tool_choice(body.get("tool_choice"), tools)
    thinking = _thinking(body.get("thinking"), max_tokens, INTERLEAVED_THINKING in betas)
    request = MessagesRequest(
        body=body,
        model=model,
        messages=messages,
        system=system,
        max_tokens=max_tokens,
        stream=stream,
        stop_sequences=[s for s in stops if s],
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        tools=tools,
        tool_choice=tool_choice,
        thinking=thinking,
        betas=betas,
    )
    if request.thinking_on:
        _check_thinking_sampling(request)
    return request


def _check_thinking_sampling(request: MessagesRequest) -> None:
    if request.temperature is not None and request.temperature != 1:
        raise invalid_request("`temperature` may only be set to 1 when thinking is enabled or in adaptive mode")
    if request.top_k is not None:
        raise invalid_request("`top_k` may not be set when thinking is enabled or in adaptive mode")
    if request.top_p is not None and request.top_p < 0.95:
        raise invalid_request("`top_p` must be between 0.95 and 1 when thinking is enabled or in adaptive mode")
    if request.tool_choice and request.tool_choice.get("type") in ("any", "tool"):
        raise invalid_request("Thinking may not be enabled when tool_choice forces tool use.")


def validate_count_tokens(body: dict) -> MessagesRequest:
    """count_tokens takes no ``max_tokens``; sampling fields are ignored rather than rejected."""
    model, messages, system, tools = _common(body)
    return MessagesRequest(body=body, model=model, messages=messages, system=system, max_tokens=1, tools=tools)


def fit_to_model(request: MessagesRequest, model_id: str, max_output: int, clamp: bool) -> None:
    """Refuse ``max_tokens`` above the model's limit, with Anthropic's text; or, for an id routed by
    pattern (a newer model than the one serving it), lower it to the serving model's limit, since the
    client asked for what the newer model allows."""
    if request.max_tokens <= max_output:
        return
    if clamp:
        request.max_tokens = max_output
        if request.thinking and request.thinking.get("type") == "enabled":
            budget = request.thinking.get("budget_tokens", 0)
            if budget >= max_output:
                request.thinking = dict(request.thinking, budget_tokens=max(1024, max_output // 2))
        return
    if request.max_tokens > max_output:
        raise GatewayError(
            "invalid_request_error",
            f"max_tokens: {request.max_tokens} > {max_output}, which is the maximum allowed number of "
            f"output tokens for {model_id}",
        )
