"""Anthropic <-> the LLM Gateway's ``/ai/gpt/v1/chat/generations`` surface (GPT, Gemini, ...).

Requests take the shapes Salesforce's own clients send (salesforce-evidence.md, chat/generations):
``system_prompt_strategy: "use_model_parameter"``, ``generation_settings``, function ``tools``,
``tool_config`` (never OpenAI's ``tool_choice``), assistant ``tool_invocations`` with ``id`` and
``function`` only (an extra ``type``/``index`` gets the history refused) and ``role: "tool"`` turns
with ``tool_call_id`` and ``tool_call_name``. Answers are read in every shape seen: usage in snake or
camel case, streams ended by ``[DONE]`` or ``DONE``; :class:`StreamTranslator` turns frames into events.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from ..anthropic import events as ev
from ..anthropic.errors import invalid_request
from ..anthropic.request import MessagesRequest
from ..jsoncodec import dumps_spaced, loads
from .stream_blocks import BlockStream, says_nothing
from .text import block_text, tool_result_text
from .tool_arguments import parse_arguments

FINISH_REASONS = {
    "stop": "end_turn",
    "end_turn": "end_turn",
    "length": "max_tokens",
    "max_tokens": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "tool_use": "tool_use",
    "content_filter": "refusal",
}
# Anthropic tool_choice -> tool_config.mode, in the vocabulary of Salesforce's own client (CODEY).
TOOL_MODES = {"auto": "auto", "any": "any", "tool": "tool", "none": "none"}
STREAM_END = frozenset({"[DONE]", "DONE"})  # SFCP sees the first, CODEY also accepts the bare word
# Usage counts under every name seen: OpenAI's, Bedrock Claude's (CODEY), the documented API's (MIMIT).
INPUT_KEYS = ("prompt_tokens", "input_tokens", "inputTokens", "inputTokenCount")
OUTPUT_KEYS = ("completion_tokens", "output_tokens", "outputTokens", "outputTokenCount", "generated_tokens")
FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what OpenAI-style function names may be


def upstream_name(name: str) -> str:
    """The tool's name as sent upstream: itself when OpenAI-style backends accept it; otherwise (Claude
    Code's MCP tools run past 64 characters) a shortened, deterministic stand-in."""
    if FUNCTION_NAME.match(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:55] + "_" + digest


def original_names(request: MessagesRequest) -> dict[str, str]:
    """Upstream name -> the client's name, for every tool name this request can see come back."""
    names = {t["name"] for t in request.tools if isinstance(t.get("name"), str)}
    for msg in request.messages:
        if msg["role"] == "assistant":
            names.update(b["name"] for b in msg["content"] if b.get("type") == "tool_use")
    return {short: n for n in names if (short := upstream_name(n)) != n}


def is_stream_end(data: str) -> bool:
    """The stream's last frame, in either form seen upstream."""
    return data.strip() in STREAM_END


def to_request(request: MessagesRequest, salesforce_model: str) -> dict:
    turns: list[dict] = []
    system = "\n\n".join(b.get("text", "") for b in request.system if b.get("text"))
    if system:
        turns.append({"role": "system", "content": system})
    called: dict[str, str] = {}  # tool_use id -> the name it was called by upstream, for tool_call_name
    for msg in request.messages:
        if msg["role"] == "assistant":
            turns.append(_assistant_turn(msg["content"]))
            called.update({b["id"]: upstream_name(b["name"]) for b in msg["content"] if b.get("type") == "tool_use"})
            continue
        texts = []
        for block in msg["content"]:
            if block.get("type") == "tool_result":
                turns.append(_tool_turn(block, called.get(block["tool_use_id"])))
            else:
                text = block_text(block)
                if text:
                    texts.append(text)
        if texts:
            turns.append({"role": "user", "content": "\n\n".join(texts)})
    if not any(t["role"] != "system" for t in turns):
        raise invalid_request("messages: nothing in this conversation is text the chat/generations surface can carry")
    settings: dict = {"max_tokens": request.max_tokens}
    if request.temperature is not None:
        settings["temperature"] = request.temperature
    if request.stop_sequences:
        settings["stop_sequences"] = request.stop_sequences
    if request.top_p is not None:  # top_p and top_k sit beside max_tokens in CODEY's generation_settings
        settings["top_p"] = request.top_p
    if request.top_k is not None:
        settings["top_k"] = request.top_k
    body: dict = {
        "model": salesforce_model,
        "messages": turns,
        "generation_settings": settings,
        "system_prompt_strategy": "use_model_parameter",
    }
    custom_tools = [t for t in request.tools if t.get("type") in (None, "custom")]
    if custom_tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": upstream_name(t["name"]),
                    "description": t.get("description", ""),
                    "parameters": t.get("input_schema") or {"type": "object"},
                },
            }
            for t in custom_tools
        ]
        body["tool_config"] = _tool_config(request.tool_choice or {"type": "auto"})
    return body


def _tool_config(choice: dict) -> dict:
    """Forced tool use in the one form the evidence shows (CODEY's ``tool_config``), sent only with tools."""
    config: dict = {"mode": TOOL_MODES[choice["type"]]}
    if choice["type"] == "tool":
        config["allowed_tools"] = [{"type": "function", "name": upstream_name(choice["name"])}]
    if choice.get("disable_parallel_tool_use") and choice["type"] != "none":
        config["parallel_calls"] = False
    return config


def _tool_turn(block: dict, name: str | None) -> dict:
    turn = {"role": "tool", "content": tool_result_text(block), "tool_call_id": block["tool_use_id"]}
    if name:
        turn["tool_call_name"] = name
    return turn


def _assistant_turn(blocks: list[dict]) -> dict:
    text = "\n\n".join(b.get("text", "") for b in blocks if b.get("type") == "text" and b.get("text"))
    turn: dict = {"role": "assistant", "content": text}
    calls = [
        {  # no "type" or "index": with them Salesforce refuses the tool turns that follow (SFCP)
            "id": b["id"],
            "function": {
                "name": upstream_name(b["name"]),
                "arguments": dumps_spaced(b.get("input", {})),
            },
        }
        for b in blocks
        if b.get("type") == "tool_use"
    ]
    if calls:
        turn["tool_invocations"] = calls
    return turn


def tool_id(raw: object, fallback: str) -> str:
    """Salesforce's call id with Anthropic's ``toolu_`` prefix, which some clients assume."""
    value = str(raw) if raw else fallback
    return value if value.startswith("toolu_") else "toolu_" + value


def _generation(body: dict) -> tuple[dict, dict]:
    details = body.get("generation_details") or body.get("generationDetails")
    details = details if isinstance(details, dict) else {}
    generations = details.get("generations")
    first = generations[0] if isinstance(generations, list) and generations else None
    parameters = details.get("parameters")
    return (first if isinstance(first, dict) else {}), (parameters if isinstance(parameters, dict) else {})


def _own_parameters(generation: dict) -> dict:
    parameters = generation.get("parameters")
    return parameters if isinstance(parameters, dict) else {}


def _count(places: list[object], keys: tuple[str, ...]) -> int | None:
    for place in places:
        if isinstance(place, dict):
            for key in keys:
                value = place.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    return value
    return None


def _usage_numbers(body: dict, generation: dict, parameters: dict) -> tuple[int | None, int | None]:
    """Input and output tokens from wherever they appear: the details' or the generation's parameters,
    a ``usage`` object in either, or the body's own ``usage``."""
    own = _own_parameters(generation)
    places = [parameters.get("usage"), parameters, own.get("usage"), own, body.get("usage")]
    return _count(places, INPUT_KEYS), _count(places, OUTPUT_KEYS)


def _is_json(text: str) -> bool:
    try:
        loads(text)
    except ValueError:
        return False
    return True


def _name(upstream: str, names: dict[str, str] | None) -> str:
    return names.get(upstream, upstream) if names else upstream


def _stop_reason(finish: str | None, saw_tool: bool) -> str:
    """``tool_use`` exactly when a tool_use block exists: a client told to run a tool that is not there
    stalls (seen as ``finish_reason: tool_calls`` with no tool call)."""
    if saw_tool:
        return "tool_use"
    reason = FINISH_REASONS.get(finish or "stop", "end_turn")
    return "end_turn" if reason == "tool_use" else reason


def from_response(
    body: dict,
    message_id: str,
    model: str,
    input_estimate: int,
    new_tool_id: Callable[[], str],
    names: dict[str, str] | None = None,
) -> dict:
    generation, parameters = _generation(body)
    content: list[dict] = []
    text = generation.get("content") or ""
    if text:
        content.append({"type": "text", "text": text})
    for call in generation.get("tool_invocations") or []:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": tool_id(call.get("id"), new_tool_id()),
                "name": _name(function.get("name", ""), names),
                "input": parse_arguments(function.get("arguments")),
            }
        )
    finish = _own_parameters(generation).get("finish_reason")
    stop_reason = _stop_reason(finish, any(b["type"] == "tool_use" for b in content))
    prompt, completion = _usage_numbers(body, generation, parameters)
    usage = ev.usage(prompt if prompt is not None else input_estimate, completion or 0)
    return ev.message(message_id, model, content, stop_reason, None, usage)


class StreamTranslator(BlockStream):
    """Turns chat/generations stream frames into Anthropic events, one request at a time."""

    def __init__(
        self,
        message_id: str,
        model: str,
        input_estimate: int,
        new_tool_id: Callable[[], str],
        names: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message_id, model, input_estimate)
        self._names = names
        self.output_tokens = 0
        self._new_tool_id = new_tool_id
        self._tools: dict[object, int] = {}
        self._ids: dict[str, object] = {}  # tool call id -> its key, for fragments that carry only the id
        self._arguments: dict[object, list[str]] = {}  # argument pieces sent so far, per tool (joined on demand)
        self._sent_length: dict[object, int] = {}
        self._saw_tool = False
        self._finish: str | None = None

    def empty(self) -> bool:
        """Nothing generated and nothing said why (no length limit, no filter): a failed answer."""
        return says_nothing(self.produced, _stop_reason(self._finish, False))

    def feed(self, frame: dict) -> list[dict]:
        out: list[dict] = []
        generation, parameters = _generation(frame)
        prompt, completion = _usage_numbers(frame, generation, parameters)
        if prompt is not None:
            self.input_tokens = prompt
        if completion is not None:
            self.output_tokens = completion
        text = generation.get("content")
        if text:
            out += self._text_delta(text)
        for position, call in enumerate(generation.get("tool_invocations") or []):
            out += self._tool_fragment(position, call)
        finish = _own_parameters(generation).get("finish_reason")
        if finish:
            self._finish = finish
        return out

    def _tool_key(self, position: int, call: dict) -> object:
        """Which tool a fragment belongs to: its index, else its id; a fragment with neither continues the
        tool being streamed, unless it names a tool of its own (a new call, e.g. the second in a frame)."""
        if call.get("index") is not None:
            return ("index", call["index"])
        if call.get("id"):
            return self._ids.get(call["id"], ("id", call["id"]))
        open_tool = self._open if self._open not in (None, "text") else None
        if open_tool is not None and position == 0:
            named = bool((call.get("function") or {}).get("name"))
            # A name on a fragment means a new call only once the open one's arguments are whole JSON
            # (some upstreams repeat the name on every fragment).
            if not named or not self._whole_json(open_tool):
                return open_tool
        return ("anonymous", self._index + 1)

    def _tool_fragment(self, position: int, call: dict) -> list[dict]:
        out: list[dict] = []
        key = self._tool_key(position, call)
        function = call.get("function") or {}
        if key not in self._tools:
            self._saw_tool = True
            if call.get("id"):
                self._ids[call["id"]] = key
            block = {
                "type": "tool_use",
                "id": tool_id(call.get("id"), self._new_tool_id()),
                "name": _name(function.get("name", ""), self._names),
                "input": {},
            }
            out += self._open_block(key, block)
            self._tools[key] = self._index
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            arguments = dumps_spaced(arguments)
        if not arguments or self._open != key:
            return out
        sent_length = self._sent_length.get(key, 0)
        # A cumulative snapshot, or the whole text again at the end: only a piece at least as long as what was
        # sent can be one, so the pieces are joined only then (joining on every piece would be quadratic).
        if sent_length and len(arguments) >= sent_length and arguments.startswith(self._sent(key)):
            arguments = arguments[sent_length:]
        if arguments:
            self._arguments.setdefault(key, []).append(arguments)
            self._sent_length[key] = sent_length + len(arguments)
            out.append(ev.block_delta(self._index, {"type": "input_json_delta", "partial_json": arguments}))
        return out

    def _sent(self, key: object) -> str:
        pieces = self._arguments.get(key, [])
        if len(pieces) > 1:
            pieces[:] = ["".join(pieces)]
        return pieces[0] if pieces else ""

    def _whole_json(self, key: object) -> bool:
        """Are the arguments so far whole JSON? Parsed only when the last piece closes an object."""
        pieces = self._arguments.get(key)
        return bool(pieces) and pieces[-1].rstrip().endswith("}") and _is_json(self._sent(key))

    def finish(self) -> list[dict]:
        stop_reason = _stop_reason(self._finish, self._saw_tool)
        usage = ev.usage(self.input_tokens, self.output_tokens)
        return [*self._close(), ev.message_delta(stop_reason, None, usage), ev.MESSAGE_STOP]
