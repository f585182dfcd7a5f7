"""The deterministic test model, independent of any surface's wire format.

- It echoes the last text block of the last user turn (directives removed); when that turn
  holds tool results it answers ``Tool result: `` and their text.
- ``[[tool:NAME {json}]]`` makes it call tool NAME with that input (surfaces with tools), if the request
  declares NAME. As a real model, it calls a forced tool (``tool_choice`` tool/any) and writes nothing before
  it, calls none under ``none``, and answers ``output_config.format`` with JSON that fits the schema
  (``schemas.instance``: its strings carry the reply text).
- ``[[error:CODE]]`` makes the surface answer with that HTTP status and a Salesforce error body
  (429 carries ``Retry-After: 1``; ``[[error:429:no-retry-after]]`` omits it); ``[[error:CODE:first-N]]``
  fails only the first N times the same prompt arrives, so client retries can succeed.
- ``[[delay:MS]]`` waits before answering and between streamed chunks.
- ``[[think]]`` adds a thinking block with a signature when thinking is on (Bedrock surface).
- ``[[stall:MS]]`` pauses once, halfway through a stream (or before a JSON answer).
- ``[[fault:NAME]]`` misbehaves as Salesforce has been seen to: ``error-body-200`` (a 200 whose body is an
  error), ``empty-body`` (a 200 with nothing in it: an empty stream), ``malformed-json``, ``drop-mid-stream``
  (the connection closes halfway), ``exception-mid-stream`` (an error event halfway through a 200 stream),
  ``overflow-in-stream`` (a Bedrock stream that is only a ``validationException`` saying the input is too long),
  ``limit-in-stream`` (a chat/generations stream that is only an ``event: error`` with ``LIMIT_EXCEEDED``),
  ``empty-answer`` (chat/generations: finish reason "stop" and no content at all).
It counts tokens as whitespace-separated words, and honours ``max_tokens`` and ``stop_sequences``
where the surface carries them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field

from .schemas import ToolRules, instance

# Every directive scan is linear in the prompt (a simulator that took seconds on an 80 KB prompt held
# up `make run`'s gateway): a directive's body never holds `[[` or `]]`, so each attempt stops at the
# next one and the attempts never overlap; possessive repeats (`*+`, `++`) never backtrack.
_BODY = r"(?:[^\[\]]++|\[(?!\[)|\](?!\]))*+"  # anything up to the next `[[` or `]]`
TOOL = re.compile(r"\[\[tool:([A-Za-z0-9_-]++)(" + _BODY + r")\]\]")  # group 2: whitespace, {json}, whitespace
ERROR = re.compile(r"\[\[error:(\d{3})(?::([a-z0-9-]+))?\]\]")
DELAY = re.compile(r"\[\[delay:(\d+)\]\]")
THINK = re.compile(r"\[\[think\]\]")
FAULT = re.compile(r"\[\[fault:([a-z0-9-]+)\]\]")
STALL = re.compile(r"\[\[stall:(\d+)\]\]")
ANY_DIRECTIVE = re.compile(r"\[\[(?:tool|error|delay|think|fault|stall)\b" + _BODY + r"\]\]")
PIECES = re.compile(r"\S+\s*")
SIGNING_KEY = b"simulator-thinking-signature"


def count_tokens(text: str) -> int:
    return len(text.split())


def pieces(text: str) -> list[str]:
    """The model's 'tokens': words with their trailing whitespace."""
    leading = text[: len(text) - len(text.lstrip())]
    found = PIECES.findall(text)
    if leading and found:
        found[0] = leading + found[0]
    return found


def sign(thinking: str) -> str:
    return base64.b64encode(hmac.new(SIGNING_KEY, thinking.encode(), hashlib.sha256).digest()).decode()


def signature_ok(thinking: str, signature: str) -> bool:
    if not isinstance(thinking, str) or not isinstance(signature, str):
        return False
    return hmac.compare_digest(sign(thinking).encode(), signature.encode("utf-8", "surrogatepass"))


@dataclass
class Turn:
    """The last user turn, reduced to what the model reacts to."""

    texts: list[str] = field(default_factory=list)
    tool_results: list[str] = field(default_factory=list)

    @property
    def all_text(self) -> str:
        return "\n".join(self.texts)


@dataclass
class Directives:
    error: int | None = None
    error_variant: str | None = None
    delay_ms: int = 0
    tool: tuple[str, dict] | None = None
    think: bool = False
    fault: str | None = None
    stall_ms: int = 0


def _tool_call(text: str) -> tuple[str, str] | None:
    """The first ``[[tool:NAME]]`` or ``[[tool:NAME {json}]]``: its name and JSON text ('' for none)."""
    for m in TOOL.finditer(text):
        raw = m.group(2).strip()
        if not raw or (raw.startswith("{") and raw.endswith("}")):
            return m.group(1), raw
    return None


def directives(turn: Turn) -> Directives:
    text = turn.all_text
    found = Directives()
    if m := ERROR.search(text):
        found.error, found.error_variant = int(m.group(1)), m.group(2)
    if m := DELAY.search(text):
        found.delay_ms = int(m.group(1))
    if call := _tool_call(text):
        name, raw = call
        try:
            arguments = json.loads(raw) if raw else {}
        except ValueError:
            arguments = {"raw": raw}
        found.tool = (name, arguments if isinstance(arguments, dict) else {"value": arguments})
    found.think = bool(THINK.search(text))
    if m := FAULT.search(text):
        found.fault = m.group(1)
    if m := STALL.search(text):
        found.stall_ms = int(m.group(1))
    return found


@dataclass
class Reply:
    thinking: str | None
    text: str
    tool: tuple[str, dict] | None
    stop_reason: str  # Anthropic vocabulary; surfaces translate it
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int


def reply_text(turn: Turn) -> str:
    if turn.tool_results:
        return "Tool result: " + "\n".join(turn.tool_results)
    last = turn.texts[-1] if turn.texts else ""
    return ANY_DIRECTIVE.sub("", last).strip()


def plan_reply(
    turn: Turn,
    found: Directives,
    *,
    input_tokens: int,
    tools_supported: bool,
    thinking_on: bool,
    max_tokens: int | None,
    stop_sequences: list[str],
    rules: ToolRules | None = None,
) -> Reply:
    text = reply_text(turn)
    rules = rules or ToolRules()
    tool = pick_tool(turn, found, rules, text) if tools_supported else None
    if tool is not None and rules.choice in ("any", "tool"):
        text = ""  # a forced call comes with nothing before it
    elif tool is None and rules.output_schema is not None:
        text = json.dumps(instance(rules.output_schema, text))  # structured output: JSON that fits the schema
    if not text and tool is None:
        text = "OK"
    thinking = f"The user wrote: {text}" if (found.think and thinking_on) else None
    stop_reason, stop_sequence = ("tool_use" if tool else "end_turn"), None
    cut = len(text) + 1
    for seq in stop_sequences:
        pos = text.find(seq) if seq else -1
        if pos != -1 and pos < cut:
            cut, stop_sequence = pos, seq
    if stop_sequence is not None:
        text, stop_reason, tool = text[:cut], "stop_sequence", None
    words = pieces(text)
    if max_tokens is not None and len(words) > max_tokens:
        text, stop_reason, stop_sequence, tool = "".join(words[:max_tokens]), "max_tokens", None, None
    output = count_tokens(text) + (count_tokens(json.dumps(tool[1])) + 1 if tool else 0)
    output += count_tokens(thinking) if thinking else 0
    return Reply(thinking, text, tool, stop_reason, stop_sequence, input_tokens, max(output, 1))


def pick_tool(turn: Turn, found: Directives, rules: ToolRules, text: str) -> tuple[str, dict] | None:
    """The call a real model makes: the forced tool; under ``any`` the directive's tool, else the last one
    declared; otherwise the directive's tool once per turn. Never a tool the request did not declare."""
    declared = rules.declared

    def call(name: str) -> tuple[str, dict]:
        if found.tool and found.tool[0] == name:
            return found.tool
        arguments = instance((declared or {}).get(name) or {"type": "object"}, text)
        return name, arguments if isinstance(arguments, dict) else {}

    if rules.choice == "tool" and rules.forced and (declared is None or rules.forced in declared):
        return call(rules.forced)
    if rules.choice == "any" and declared:
        usable = found.tool and found.tool[0] in declared and not turn.tool_results
        return call(found.tool[0] if usable and found.tool else list(declared)[-1])
    if rules.choice == "none" or not found.tool or turn.tool_results:
        return None
    return found.tool if declared is None or found.tool[0] in declared else None


def forced_call(turn: Turn, found: Directives, declared: dict[str, dict]) -> tuple[str, dict] | None:
    """The call a request that forces tool use gets (one declared name: that tool), with input that fits
    the tool's schema unless the directive gave it."""
    return pick_tool(turn, found, ToolRules(declared, "any"), reply_text(turn)) if declared else None


def split_json(arguments: dict) -> list[str]:
    """Tool input as the fragments a model streams: an empty first one, then about three pieces."""
    raw = json.dumps(arguments)
    third = max(1, len(raw) // 3)
    return ["", *(raw[i : i + third] for i in range(0, len(raw), third))]
