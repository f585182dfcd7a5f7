"""What a request lets the test model do with tools and schemas, and answers that fit a JSON schema.

A real model calls only the tools a request declares, calls the forced one (``tool_choice``) and nothing
before it, and, asked for structured output, answers with JSON that fits the schema. ``ToolRules`` is
that part of a request in surface-neutral terms; ``instance`` builds the smallest answer a schema takes,
with the model's reply text in its strings so a test can see what went through.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 12  # recursive schemas stop here
STRING_FORMATS = {
    "date-time": "1970-01-01T00:00:00Z",
    "date": "1970-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "hostname": "example.com",
}


@dataclass(frozen=True)
class ToolRules:
    """``declared`` None means the request shape cannot say (any directive tool may be called)."""

    declared: dict[str, dict] | None = None  # tool name -> input schema
    choice: str = "auto"  # auto | any | tool | none
    forced: str | None = None  # the tool named by choice "tool"
    output_schema: dict | None = None


def anthropic_rules(body: dict) -> ToolRules:
    """From an Anthropic-shaped body (Bedrock invoke)."""
    declared = {
        t["name"]: t.get("input_schema") if isinstance(t.get("input_schema"), dict) else {}
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("name"), str)
    }
    choice = body.get("tool_choice") if isinstance(body.get("tool_choice"), dict) else {}
    kind = choice.get("type") if choice.get("type") in ("auto", "any", "tool", "none") else "auto"
    config = body.get("output_config") if isinstance(body.get("output_config"), dict) else {}
    fmt = config.get("format") if isinstance(config.get("format"), dict) else {}
    schema = fmt.get("schema") if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict) else None
    return ToolRules(declared, kind, choice.get("name") if kind == "tool" else None, schema)


def function_rules(tools: object, mode: object, allowed: object = None) -> ToolRules:
    """From OpenAI-style function tools and a mode (``auto``/``none``/``any``/``required``/``tool``), with the
    allowed tool names (a single name in ``tool``/``required`` mode forces that tool)."""
    declared: dict[str, dict] = {}
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if isinstance(tool, dict) and isinstance(tool.get("function"), dict) else tool
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            parameters = function.get("parameters")
            declared[function["name"]] = parameters if isinstance(parameters, dict) else {}
    names = [n for n in allowed if isinstance(n, str)] if isinstance(allowed, list) else []
    if mode in ("tool", "required", "any") and len(names) == 1:
        return ToolRules(declared, "tool", names[0])
    kind = {"required": "any", "any": "any", "tool": "any", "none": "none"}.get(mode if isinstance(mode, str) else "")
    return ToolRules(declared, kind or "auto")


def instance(schema: Any, text: str, root: dict | None = None, depth: int = 0) -> Any:
    """The smallest value ``schema`` accepts: required properties only, the first enum value or anyOf
    branch, minimum counts and bounds; strings carry ``text`` (fitted to length limits and formats)."""
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None if schema is False else text
    root = root if root is not None else schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, dict) else None
        return instance(target, text, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key) or [] if isinstance(o, dict)]
        if options:
            chosen = next((o for o in options if o.get("type") != "null"), options[0])
            return instance(chosen, text, root, depth + 1)
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        merged: dict = {}
        for part in schema["allOf"]:
            value = instance(part, text, root, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
            else:
                return value
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    return _typed(kind, schema, text, root, depth)


def _typed(kind: str, schema: dict, text: str, root: dict, depth: int) -> Any:
    if kind == "object":
        properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        required = [n for n in schema.get("required") or [] if isinstance(n, str)]
        return {name: instance(properties.get(name, {}), text, root, depth + 1) for name in required}
    if kind == "array":
        count = schema.get("minItems") if isinstance(schema.get("minItems"), int) else 1
        if isinstance(schema.get("maxItems"), int):
            count = min(count, schema["maxItems"])
        items = schema.get("items")
        if isinstance(schema.get("prefixItems"), list):
            prefix = [instance(s, text, root, depth + 1) for s in schema["prefixItems"]]
            return prefix[: max(count, len(prefix))]
        return [instance(items if isinstance(items, dict) else {}, text, root, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return _string(schema, text)


def _number(schema: dict, integer: bool) -> int | float:
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(schema.get("exclusiveMinimum"), int | float):
        low = schema["exclusiveMinimum"] + (1 if integer else 0.5)
    if isinstance(schema.get("exclusiveMaximum"), int | float):
        high = schema["exclusiveMaximum"] - (1 if integer else 0.5)
    value: int | float = 0
    if isinstance(low, int | float) and value < low:
        value = low
    if isinstance(high, int | float) and value > high:
        value = high
    return math.ceil(value) if integer else value


def _string(schema: dict, text: str) -> str:
    fmt = schema.get("format")
    value = STRING_FORMATS.get(fmt, text) if isinstance(fmt, str) else text
    low = schema.get("minLength") if isinstance(schema.get("minLength"), int) else 0
    high = schema.get("maxLength") if isinstance(schema.get("maxLength"), int) else None
    if len(value) < low:
        value += "x" * (low - len(value))
    return value[:high] if high is not None else value
