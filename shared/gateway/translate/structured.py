"""Structured output (``output_config.format``: a JSON schema the answer must fit) on every surface.

Bedrock invoke carries Anthropic's field as it is, ``/responses`` as ``text.format``. A surface with tools
but no such field gets a forced tool whose input schema is the client's schema; that call comes back as what
Anthropic would have sent, a text block holding the JSON (streamed as ``text_delta``). A surface without
tools has no way to hold an answer to a schema, so such a request is refused with a 400 that names the
models that can.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..anthropic import events as ev
from ..anthropic.errors import invalid_request
from ..anthropic.request import MessagesRequest
from ..jsoncodec import dumps_str

if TYPE_CHECKING:
    from ..catalog.model_map import ModelEntry, ModelMap

# Surfaces whose translation carries output_config.format (Bedrock as it is, /responses as text.format).
NATIVE_SURFACES = frozenset({"bedrock_invoke", "responses"})
TOOL_NAME = "json_answer"
TOOL_DESCRIPTION = "Give your final answer by calling this tool: its input is the answer, as JSON that fits the schema."


def output_schema(body: dict) -> dict | None:
    """The schema the client asked its answer to fit, checked as Anthropic checks it; None if none.
    Also reads the structured-outputs beta's top-level ``output_format``, which newer SDKs replaced."""
    config = body.get("output_config")
    fmt, path = (config.get("format") if isinstance(config, dict) else None), "output_config.format"
    if fmt is None and body.get("output_format") is not None:
        fmt, path = body["output_format"], "output_format"
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise invalid_request(f"{path}: Input should be a valid dictionary")
    if fmt.get("type") != "json_schema":
        raise invalid_request(
            f"{path}: Input tag '{fmt.get('type')}' found using 'type' does not match any of the expected tags: "
            "'json_schema'"
        )
    schema = fmt.get("schema")
    if schema is None:
        raise invalid_request(f"{path}.json_schema.schema: Field required")
    if not isinstance(schema, dict):
        raise invalid_request(f"{path}.json_schema.schema: Input should be a valid dictionary")
    return schema


def _without_format(body: dict) -> dict:
    """The body with the schema request taken out (``effort`` and other settings stay)."""
    out = {k: v for k, v in body.items() if k != "output_format"}
    config = out.get("output_config")
    if isinstance(config, dict) and "format" in config:
        rest = {k: v for k, v in config.items() if k != "format"}
        if rest:
            out["output_config"] = rest
        else:
            del out["output_config"]
    return out


def prepare(request: MessagesRequest, entry: ModelEntry, models: ModelMap) -> StructuredOutput | None:
    """Make ``request`` ask for a structured answer in the serving surface's terms (it is changed in
    place); the returned object turns the answer back. None when the answer needs no turning back.
    ``models`` names the models a refusal suggests instead."""
    schema = output_schema(request.body)
    if schema is None:
        return None
    if entry.surface in NATIVE_SURFACES:
        if not isinstance((request.body.get("output_config") or {}).get("format"), dict):  # the beta's field
            config = dict(request.body.get("output_config") or {}, format=request.body["output_format"])
            request.body = dict(_without_format(request.body), output_config=config)
        return None
    if not entry.tools:
        able = models.naming(lambda e: e.surface in NATIVE_SURFACES or e.tools)
        raise invalid_request(
            f"model {request.model} is served by a Salesforce API without tools, which cannot hold an answer to "
            f"a JSON schema (output_config.format); models that can: {', '.join(able)}"
        )
    request.body = _without_format(request.body)
    choice = request.tool_choice or {}
    if choice.get("type") in ("tool", "any"):  # the client forces one of its tools: the answer is a call, not text
        return None
    taken = {t.get("name") for t in request.tools}
    name = TOOL_NAME
    while name in taken:
        name += "_"
    tool = {"name": name, "description": TOOL_DESCRIPTION, "input_schema": schema}
    callable_tools = request.tools if choice.get("type") != "none" else []
    request.tools = [*request.tools, tool]
    if callable_tools:  # the model may still call the client's tools; its final answer is the JSON
        request.tool_choice = {"type": "any", "disable_parallel_tool_use": True}
    else:
        request.tool_choice = {"type": "tool", "name": name, "disable_parallel_tool_use": True}
    return StructuredOutput(name)


class StructuredOutput:
    """Turns the forced tool's call back into the JSON text Anthropic's structured output returns."""

    def __init__(self, tool_name: str) -> None:
        self.tool_name = tool_name

    def _ours(self, block: dict) -> bool:
        return block.get("type") == "tool_use" and block.get("name") == self.tool_name

    def message(self, msg: dict) -> dict:
        """The finished message: the call becomes a text block; stray text around it is dropped."""
        if not any(self._ours(b) for b in msg["content"]):
            return msg
        content = []
        for block in msg["content"]:
            if self._ours(block):
                content.append({"type": "text", "text": dumps_str(block.get("input") or {})})
            elif block.get("type") != "text":
                content.append(block)
        stop_reason = msg["stop_reason"]
        if stop_reason == "tool_use" and not any(b.get("type") == "tool_use" for b in content):
            stop_reason = "end_turn"
        return dict(msg, content=content, stop_reason=stop_reason)

    def stream(self) -> StreamRewriter:
        return StreamRewriter(self.tool_name)


class StreamRewriter:
    """The same for a stream, event by event. Text blocks are held until the next block shows whether
    the forced call follows (then they are dropped, as in the finished message); indexes are renumbered."""

    def __init__(self, tool_name: str) -> None:
        self.tool_name = tool_name
        self._index: dict[int, int] = {}  # backend index -> client index
        self._next = 0
        self._held: list[dict] = []  # a text block's events, backend indexes
        self._held_index: int | None = None
        self._ours: int | None = None  # backend index of the forced call
        self._ours_input: dict = {}
        self._ours_sent = False
        self._saw_ours = self._saw_other_tool = False

    def _open(self, backend_index: int) -> int:
        self._index[backend_index] = self._next
        self._next += 1
        return self._index[backend_index]

    def _flush(self) -> list[dict]:
        held, self._held, index = self._held, [], self._held_index
        self._held_index = None
        if not held or self._saw_ours or index is None:
            return []
        client_index = self._open(index)
        return [dict(e, index=client_index) for e in held]

    def feed(self, event: dict) -> list[dict]:
        kind = event.get("type")
        index = event.get("index")
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use" and block.get("name") == self.tool_name:
                self._saw_ours, self._ours = True, index
                self._ours_input = block.get("input") or {}
                out = self._flush()
                return [*out, ev.block_start(self._open(index), {"type": "text", "text": ""})]
            out = self._flush()
            if block.get("type") == "text":
                self._held, self._held_index = [event], index
                return out
            self._saw_other_tool |= block.get("type") == "tool_use"
            return [*out, dict(event, index=self._open(index))]
        if kind in ("content_block_delta", "content_block_stop"):
            if index == self._held_index:
                self._held.append(event)
                return []
            if index == self._ours:
                return self._our_event(event)
            if index in self._index:
                return [dict(event, index=self._index[index])]
            return []  # a block that was dropped
        if kind == "message_delta":
            out = self._flush()
            delta = event.get("delta") or {}
            if self._saw_ours and not self._saw_other_tool and delta.get("stop_reason") == "tool_use":
                event = dict(event, delta=dict(delta, stop_reason="end_turn"))
            return [*out, event]
        return [event]

    def _our_event(self, event: dict) -> list[dict]:
        client_index = self._index[self._ours] if self._ours is not None else 0
        if event["type"] == "content_block_delta":
            piece = (event.get("delta") or {}).get("partial_json") or ""
            if not piece:
                return []
            self._ours_sent = True
            return [ev.block_delta(client_index, {"type": "text_delta", "text": piece})]
        out = []
        if not self._ours_sent:  # the whole input came in the start event, or it is empty
            out.append(ev.block_delta(client_index, {"type": "text_delta", "text": dumps_str(self._ours_input)}))
        self._ours = None
        return [*out, ev.block_stop(client_index)]
