"""Anthropic <-> the LLM Gateway's ``/ai/gpt/v1/responses`` (OpenAI Responses shapes, GPT-5.x models).

Requests become ``input`` items (``message``, ``function_call``, ``function_call_output``) with flat
function tools and ``reasoning.effort``; answers come back as ``output`` items or ``response.*`` stream
events, which :class:`StreamTranslator` turns into Anthropic events. The surface has no stop sequences,
so they are applied here, and it refuses ``max_output_tokens`` below 16 on OpenAI's side, so smaller
limits are applied here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..anthropic import events as ev
from ..anthropic.errors import invalid_request
from ..anthropic.request import MessagesRequest
from ..jsoncodec import dumps_spaced
from .chat_generations import tool_id, upstream_name
from .limits import apply_limits
from .stream_blocks import BlockStream, says_nothing
from .text import block_text, tool_result_text
from .tool_arguments import parse_arguments

MIN_OUTPUT_TOKENS = 16  # OpenAI's floor for max_output_tokens; the gateway's own probe asks for 1
# The client's effort in the backend's words: "max" is refused ("Unexpected value 'max'"), xhigh is its top.
EFFORTS = {"max": "xhigh"}
ADAPTIVE_EFFORT = "high"  # Anthropic's default effort when adaptive thinking names none
SYSTEM_ROLE = "system"  # sent as an input message, as the verified client (SFCP) does; not `instructions`
TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
INCOMPLETE = {"max_output_tokens": "max_tokens", "content_filter": "refusal"}
TERMINAL_EVENTS = ("response.completed", "response.incomplete", "response.done")
ERROR_EVENTS = ("error", "response.failed")
TEXT_PARTS = ("output_text", "text", "refusal")


def budget_effort(budget: int) -> str:
    """A thinking budget as an effort, with the thresholds the verified client uses."""
    return "low" if budget <= 2048 else "medium" if budget <= 8192 else "high"


def reasoning_effort(request: MessagesRequest) -> str | None:
    """The effort to ask for, or None for no reasoning field at all ("none" is left out, as the verified
    client does "so the backend doesn't reject it")."""
    config = request.body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    if isinstance(effort, str) and effort:
        return None if effort == "none" else EFFORTS.get(effort, effort)
    thinking = request.thinking or {}
    if thinking.get("type") == "enabled":
        return budget_effort(int(thinking.get("budget_tokens") or 0))
    if thinking.get("type") == "adaptive":
        return ADAPTIVE_EFFORT
    return None


def output_format(request: MessagesRequest) -> dict | None:
    """Structured output (``output_config.format``, or the older ``output_format``) as ``text.format``."""
    config = request.body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    fmt = fmt if isinstance(fmt, dict) else request.body.get("output_format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        return None
    # Not strict: OpenAI's strict mode refuses schemas Anthropic accepts (optional properties, defaults).
    return {"format": {"type": "json_schema", "name": str(fmt.get("name") or "output"), "schema": fmt["schema"]}}


def upstream_call_id(tool_use_id: str) -> str:
    """The backend's own call id again, when the gateway prefixed it with ``toolu_``."""
    rest = tool_use_id.removeprefix("toolu_")
    return rest if rest.startswith(("call_", "fc_")) else tool_use_id


def _user_items(blocks: list[dict]) -> list[dict]:
    items: list[dict] = []
    parts = []
    for block in blocks:
        if block.get("type") == "tool_result":
            output = tool_result_text(block)
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": upstream_call_id(str(block.get("tool_use_id", ""))),
                    "output": f"Error: {output}" if block.get("is_error") else output,
                }
            )
        elif text := block_text(block):
            parts.append({"type": "input_text", "text": text})
    if parts:
        items.append({"type": "message", "role": "user", "content": parts})
    return items


def _assistant_items(blocks: list[dict]) -> list[dict]:
    """Text and calls in the order the model produced them: adjacent text joins one message, so text written
    after a call stays after it in the history."""
    items: list[dict] = []
    texts: list[str] = []

    def flush() -> None:
        if texts:
            text = "".join(texts)
            items.append({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]})
            texts.clear()

    for block in blocks:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            texts.append(block["text"])
        elif kind == "tool_use":
            flush()
            items.append(
                {
                    "type": "function_call",
                    "call_id": upstream_call_id(str(block.get("id", ""))),
                    "name": upstream_name(str(block.get("name", ""))),
                    "arguments": dumps_spaced(block.get("input", {})),
                }
            )
    flush()
    return items  # thinking blocks stay behind: the backend cannot check their signatures


def to_request(request: MessagesRequest, salesforce_model: str, stream: bool = False) -> dict:
    items: list[dict] = []
    system = "\n\n".join(b.get("text", "") for b in request.system if b.get("text"))
    if system:
        items.append({"type": "message", "role": SYSTEM_ROLE, "content": [{"type": "input_text", "text": system}]})
    for msg in request.messages:
        items += _assistant_items(msg["content"]) if msg["role"] == "assistant" else _user_items(msg["content"])
    if not any(item.get("role") != SYSTEM_ROLE for item in items):
        raise invalid_request("messages: nothing in this conversation is content the /responses surface can carry")
    body: dict[str, Any] = {
        "model": salesforce_model,
        "input": items,
        "max_output_tokens": max(request.max_tokens, MIN_OUTPUT_TOKENS),
    }
    effort = reasoning_effort(request)
    if effort is not None:
        body["reasoning"] = {"effort": effort}
    else:  # reasoning refuses sampling fields; without it they pass
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
    tools = [t for t in request.tools if t.get("type") in (None, "custom")]
    if tools:
        body["tools"] = [
            {
                "type": "function",
                "name": upstream_name(t["name"]),
                "description": t.get("description", ""),
                "parameters": t.get("input_schema") or {"type": "object", "properties": {}},
            }
            for t in tools
        ]
        choice = request.tool_choice or {"type": "auto"}
        kind = choice.get("type", "auto")
        body["tool_choice"] = (
            {"type": "function", "name": upstream_name(choice["name"])} if kind == "tool" else TOOL_CHOICES[kind]
        )
        if choice.get("disable_parallel_tool_use"):
            body["parallel_tool_calls"] = False
    text = output_format(request)
    if text is not None:
        body["text"] = text
    if stream:
        body["stream"] = True
    return body


def local_budget(request: MessagesRequest) -> int | None:
    """``max_tokens`` when the backend cannot be asked for it (below its floor), else None."""
    return request.max_tokens if request.max_tokens < MIN_OUTPUT_TOKENS else None


def usage_of(raw: object, input_estimate: int) -> dict:
    """Anthropic usage: reasoning tokens are part of ``output_tokens`` (billed as output), cached input
    is reported as cache reads and left out of ``input_tokens``, as Anthropic counts it."""
    raw = raw if isinstance(raw, dict) else {}
    prompt = raw.get("input_tokens", raw.get("prompt_tokens"))
    output = raw.get("output_tokens", raw.get("completion_tokens")) or 0
    reasoning = (raw.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
    cached = (raw.get("input_tokens_details") or {}).get("cached_tokens") or 0
    prompt = int(prompt) if isinstance(prompt, int) else input_estimate
    return ev.usage(max(prompt - cached, 0), max(int(output), int(reasoning)), cache_read_input_tokens=cached)


def stop_reason_of(response: dict, saw_tool: bool) -> str:
    """``tool_use`` exactly when a tool_use block exists; otherwise why the backend stopped."""
    if saw_tool:
        return "tool_use"
    reason = (response.get("incomplete_details") or {}).get("reason")
    if reason in INCOMPLETE:
        return INCOMPLETE[reason]
    return "max_tokens" if response.get("status") == "incomplete" else "end_turn"


def _item_text(item: dict) -> str:
    parts = item.get("content")
    if isinstance(parts, str):
        return parts
    parts = [p for p in parts or [] if isinstance(p, dict)]
    return "".join(str(p.get("text") or p.get("refusal") or "") for p in parts if p.get("type") in TEXT_PARTS)


def from_response(body: dict, translator: StreamTranslator) -> dict:
    """The finished Anthropic message, built by the stream translator so both paths cut text alike."""
    events: list[dict] = []
    for index, item in enumerate(body.get("output") or []):
        if isinstance(item, dict):
            events += translator.feed("response.output_item.done", {"output_index": index, "item": item})
    events += translator.finish(body)
    content: list[dict] = []
    for event in events:
        if event["type"] == "content_block_start":
            content.append(dict(event["content_block"]))
        elif event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
            content[-1]["text"] += event["delta"]["text"]
        elif event["type"] == "content_block_delta":
            content[-1]["_json"] = content[-1].get("_json", "") + event["delta"]["partial_json"]
    for block in content:
        if block["type"] == "tool_use":
            block["input"] = parse_arguments(block.pop("_json", ""))
    final = events[-2]  # message_delta, then message_stop
    reason, sequence = final["delta"]["stop_reason"], final["delta"]["stop_sequence"]
    return ev.message(translator.message_id, translator.model, content, reason, sequence, final["usage"])


class StreamTranslator(BlockStream):
    """Turns ``response.*`` events into Anthropic events, one request at a time."""

    def __init__(
        self,
        request: MessagesRequest,
        message_id: str,
        model: str,
        input_estimate: int,
        new_tool_id: Callable[[], str],
        names: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message_id, model, input_estimate)
        self._new_tool_id, self._names = new_tool_id, names
        self._stops = request.stop_sequences
        self._hold = max((len(s) for s in self._stops), default=1) - 1
        self._budget = local_budget(request)
        self._pending = ""  # text held back: it may begin a stop sequence, or must fit a local budget
        self._stopped: tuple[str, str | None] | None = None  # (stop_reason, stop_sequence) decided here
        self._tools: dict[int, int] = {}  # output index -> block index
        self._texts: set[int] = set()  # output indexes whose text has been taken (deltas or whole)
        self._sent: dict[int, str] = {}  # arguments sent so far, per output index
        self._early: dict[int, str] = {}  # argument deltas that came before their item
        self._stop_reason = "end_turn"
        self._refused = False  # the model declined (a refusal part): Anthropic's "refusal" stop reason

    def _emit_text(self, text: str) -> list[dict]:
        return self._text_delta(text) if text else []

    def _text(self, output_index: int, delta: str) -> list[dict]:
        """Release text, holding back what may be the start of a stop sequence."""
        self._texts.add(output_index)
        if self._stopped or not delta:
            return []
        self._pending += delta
        if self._budget is not None:
            return []  # a tiny answer: cut at the end, by the gateway's own count
        found = min(((self._pending.find(s), s) for s in self._stops if s in self._pending), default=None)
        if found is not None:
            position, sequence = found
            text, self._pending = self._pending[:position], ""
            self._stopped = ("stop_sequence", sequence)
            return self._emit_text(text)
        cut = max(len(self._pending) - self._hold, 0)
        text, self._pending = self._pending[:cut], self._pending[cut:]
        return self._emit_text(text)

    def _flush(self) -> list[dict]:
        text, self._pending = self._pending, ""
        if self._budget is not None and text and not self._stopped:
            text, reason, sequence = apply_limits(text, self._budget, self._stops)
            if reason != "end_turn":
                self._stopped = (reason, sequence)
        return self._emit_text(text)

    def _arguments(self, output_index: int, text: str, whole: bool = False) -> list[dict]:
        """Argument text for an open tool block; the whole text again (a done event) sends only what is new."""
        sent = self._sent.get(output_index, "")
        if whole:
            if not text.startswith(sent):
                return []
            text = text[len(sent) :]
        if not text or self._open != output_index:
            return []
        self._sent[output_index] = sent + text
        return [ev.block_delta(self._index, {"type": "input_json_delta", "partial_json": text})]

    def _tool(self, output_index: int, item: dict) -> list[dict]:
        if self._stopped or output_index in self._tools:
            return []
        out = self._flush()
        if self._stopped:  # the text before it ended the answer
            return out
        block = {
            "type": "tool_use",
            "id": tool_id(item.get("call_id") or item.get("id"), self._new_tool_id()),
            "name": (self._names or {}).get(name := str(item.get("name", "")), name),
            "input": {},
        }
        out += self._open_block(output_index, block)
        self._tools[output_index] = self._index
        early = self._early.pop(output_index, "")
        return out + (self._arguments(output_index, early) if early else [])

    def feed(self, kind: str, data: dict) -> list[dict]:
        """Anthropic events for one backend event; terminal and error events are the caller's."""
        index = data.get("output_index")
        index = index if isinstance(index, int) else -1
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            self._refused = self._refused or kind == "response.refusal.delta"
            return self._text(index, str(data.get("delta") or ""))
        if kind == "response.output_text.done" and index not in self._texts:
            return self._text(index, str(data.get("text") or ""))
        if kind in ("response.output_item.added", "response.output_item.done"):
            item = data.get("item") if isinstance(data.get("item"), dict) else {}
            if item.get("type") == "function_call":
                out = self._tool(index, item)
                arguments = item.get("arguments")
                if isinstance(arguments, str) and index in self._tools:
                    out += self._arguments(index, arguments, whole=True)
                return out
            if item.get("type") == "message" and kind.endswith(".done") and index not in self._texts:
                parts = item.get("content") if isinstance(item.get("content"), list) else []
                self._refused = self._refused or any(isinstance(p, dict) and p.get("type") == "refusal" for p in parts)
                return self._text(index, _item_text(item))  # whole text with no deltas (and JSON answers)
            return []
        if kind in ("response.function_call_arguments.delta", "response.function_call_arguments.done"):
            text = data.get("delta") if kind.endswith(".delta") else data.get("arguments")
            if not isinstance(text, str) or not text or self._stopped:
                return []
            if index not in self._tools:
                self._early[index] = text if kind.endswith(".done") else self._early.get(index, "") + text
                return []
            return self._arguments(index, text, whole=kind.endswith(".done"))
        return []  # reasoning items, content parts, in-progress notices and future events

    def empty(self) -> bool:
        """After finish: nothing generated and no reason given (no limit, no stop sequence), a failed answer."""
        return says_nothing(self.produced, self._stop_reason)

    def finish(self, response: dict) -> list[dict]:
        out = self._flush()
        out += self._close()
        if self._stopped:
            stop_reason, sequence = self._stopped
        else:
            stop_reason, sequence = stop_reason_of(response, bool(self._tools)), None
            stop_reason = "refusal" if self._refused and stop_reason == "end_turn" else stop_reason
        self._stop_reason = stop_reason
        usage = usage_of(response.get("usage"), self.input_tokens)
        if self._budget is not None:  # the client asked for fewer tokens than the backend could be told
            usage["output_tokens"] = max(1, min(usage["output_tokens"], self._budget))
        return [*out, ev.message_delta(stop_reason, sequence, usage), ev.MESSAGE_STOP]
