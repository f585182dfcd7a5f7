"""The LLM Gateway's chat/generations: OpenAI-like messages, ``tool_invocations``, SSE ``generation`` events.

As the evidence reports it (salesforce-evidence.md, chat/generations): tool history is read only in
Salesforce's shape (assistant ``tool_invocations`` with ``id`` and ``function``; ``tool`` turns with
``tool_call_id``), otherwise the tool turns answer nothing and the call is a 400; ``tool_config.mode``
steers tool use; streams carry scoring events and end with ``[DONE]`` or ``DONE``; Bedrock Claude models
report usage in camel case.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .core import Simulator
from .errors import SalesforceError, error_for
from .model import Directives, Reply, Turn, count_tokens, directives, forced_call, pieces, plan_reply, split_json
from .schemas import function_rules
from .turns import plain_turn

FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# What real orgs answer when the tool turns follow OpenAI-style history (SFCP, verified).
TOOL_HISTORY = "messages with role 'tool' must be a response to a preceding message with tool_calls"


def _readable(call: object) -> bool:
    """An invocation in the shape Salesforce reads back: ``id`` and ``function`` and nothing OpenAI adds."""
    return (
        isinstance(call, dict)
        and bool(call.get("id"))
        and isinstance(call.get("function"), dict)
        and not {"type", "index"} & call.keys()
    )


def check_tool_history(messages: list[dict]) -> None:
    """Each run of ``tool`` turns must follow an assistant turn whose invocations were read."""
    answering = False
    for msg in messages:
        role = msg.get("role")
        if role == "assistant":
            calls = msg.get("tool_invocations")
            answering = (
                "tool_calls" not in msg and isinstance(calls, list) and bool(calls) and all(map(_readable, calls))
            )
        elif role == "tool":
            if not answering or not msg.get("tool_call_id"):
                raise SalesforceError(400, TOOL_HISTORY)
        else:
            answering = False


def _declared(body: dict) -> list[str]:
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    names = [(t.get("function") or {}).get("name") for t in tools if isinstance(t, dict)]
    return [n for n in names if isinstance(n, str)]


def _forced_tool(body: dict, found: Directives, turn: Turn) -> tuple[str, dict] | None:
    """The call ``tool_config`` demands (mode ``tool``/``any``): the directive's tool when allowed, else the
    last allowed one (input from its schema); None when the model may choose."""
    config = body.get("tool_config") if isinstance(body.get("tool_config"), dict) else {}
    declared = _declared(body)
    if config.get("mode") not in ("tool", "any") or not declared:
        return None
    entries = config.get("allowed_tools") if isinstance(config.get("allowed_tools"), list) else []
    allowed = [e.get("name") for e in entries if isinstance(e, dict) and e.get("name") in declared] or declared
    if found.tool and found.tool[0] in allowed:
        return found.tool
    schemas = function_rules(body.get("tools"), "auto").declared or {}
    return forced_call(turn, found, {name: schemas.get(name, {}) for name in allowed})  # input fits the schema


def usage_body(model: str, reply: Reply) -> dict:
    """Bedrock Claude models count in camel case (CODEY), the others as OpenAI does."""
    total = reply.input_tokens + reply.output_tokens
    if "Anthropic" in model:
        return {"inputTokens": reply.input_tokens, "outputTokens": reply.output_tokens, "totalTokens": total}
    return {"prompt_tokens": reply.input_tokens, "completion_tokens": reply.output_tokens, "total_tokens": total}


class ChatGenerations:
    """GPT and Gemini on ``/ai/gpt/v1/chat/generations[/stream]``."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._streams = itertools.count()  # picks each stream's end marker in turn

    def routes(self) -> list[Route]:
        return [
            Route("/ai/gpt/v1/chat/generations", self.generate, methods=["POST"]),
            Route("/ai/gpt/v1/chat/generations/stream", self.stream, methods=["POST"]),
        ]

    def _chat_reply(self, body: dict) -> tuple[Reply, Directives, str]:
        model = body.get("model")
        if not isinstance(model, str):
            raise SalesforceError(400, "model is required")
        self.sim.check_model(model)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise SalesforceError(400, "messages is required")
        if not all(isinstance(m, dict) for m in messages):
            raise SalesforceError(400, "messages must be objects")
        check_tool_history(messages)
        # OpenAI's rule for function names, in tools and in the calls of earlier turns.
        calls = [c for m in messages if m.get("role") == "assistant" for c in m.get("tool_invocations") or []]
        for where, item in [("tools", t) for t in body.get("tools") or []] + [("tool_invocations", c) for c in calls]:
            function = item.get("function") if isinstance(item, dict) else None
            name = function.get("name") if isinstance(function, dict) else None
            if not isinstance(name, str) or not FUNCTION_NAME.fullmatch(name):
                raise SalesforceError(
                    400, f"Invalid '{where}.function.name': string does not match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
                )
        settings = body.get("generation_settings") or {}
        turn = plain_turn([m for m in messages if m.get("role") != "system"])
        found = directives(turn)
        if error := error_for(found, turn, self.sim.attempts):
            raise error
        tokens = sum(count_tokens(str(m.get("content") or "")) for m in messages)
        config = body.get("tool_config") if isinstance(body.get("tool_config"), dict) else {}
        mode = config.get("mode", "auto") if body.get("tools") else "none"
        reply = plan_reply(
            turn,
            found,
            input_tokens=max(tokens, 1),
            # The model calls only tools the request declares, and none when tool_config says so.
            tools_supported=mode != "none" and bool(found.tool) and found.tool[0] in _declared(body),
            thinking_on=False,
            max_tokens=settings.get("max_tokens"),
            stop_sequences=settings.get("stop_sequences") or [],
        )
        if forced := _forced_tool(body, found, turn):  # the tool and nothing before it
            output = count_tokens(json.dumps(forced[1])) + 1
            reply = replace(reply, text="", tool=forced, stop_reason="tool_use", stop_sequence=None)
            reply = replace(reply, output_tokens=output)
        if found.fault == "empty-answer":  # "stop" with nothing generated, as OpenAI-style upstreams do
            reply = replace(reply, text="", tool=None, stop_reason="end_turn", output_tokens=0)
        return reply, found, model

    @staticmethod
    def _finish(reply: Reply) -> str:
        return {"tool_use": "tool_calls", "max_tokens": "length"}.get(reply.stop_reason, "stop")

    async def generate(self, request: Request) -> Response:
        async def answer(body: dict) -> Response:
            reply, found, model = self._chat_reply(body)
            await self.sim.pause(found)
            if fault := await self.sim.json_fault(found):
                return fault
            generation: dict = {
                "role": "assistant",
                "content": reply.text,
                "parameters": {"finish_reason": self._finish(reply)},
            }
            if reply.tool:
                generation["tool_invocations"] = [
                    {
                        "id": f"call_{uuid.uuid4().hex[:20]}",
                        "type": "function",
                        "function": {"name": reply.tool[0], "arguments": json.dumps(reply.tool[1])},
                    }
                ]
            return JSONResponse(
                {
                    "id": str(uuid.uuid4()),
                    "generation_details": {
                        "generations": [generation],
                        "parameters": {"model": model, "usage": usage_body(model, reply)},
                    },
                }
            )

        return await self.sim.handle(request, None, answer)

    async def stream(self, request: Request) -> Response:
        async def answer(body: dict) -> Response:
            reply, found, model = self._chat_reply(body)
            if fault := self.sim.stream_fault(found, "text/event-stream"):
                return fault
            if found.fault == "limit-in-stream":  # a 200 stream whose first event is a rate-limit error
                error = json.dumps(SalesforceError(429).body())
                return Response(f"event: error\ndata: {error}\n\n", media_type="text/event-stream")
            ends = self.sim.config.chat_stream_ends or ("[DONE]",)
            end = ends[next(self._streams) % len(ends)]
            return StreamingResponse(self._chat_frames(reply, found, model, end), media_type="text/event-stream")

        return await self.sim.handle(request, None, answer)

    async def _chat_frames(self, reply: Reply, found: Directives, model: str, end: str) -> AsyncIterator[bytes]:
        generation_id = str(uuid.uuid4())

        def frame(generation: dict, parameters: dict | None = None) -> bytes:
            data = {
                "id": generation_id,
                "generation_details": {"generations": [generation], "parameters": parameters or {}},
            }
            return f"event: generation\ndata: {json.dumps(data)}\n\n".encode()

        frames = [b'event: scoringStarted\ndata: {"status":"started"}\n\n']
        frames += [
            frame({"role": "assistant", "content": piece, "parameters": {"finish_reason": None}})
            for piece in pieces(reply.text)
        ]
        if reply.tool:
            call_id = f"call_{uuid.uuid4().hex[:20]}"
            by_id = "Anthropic" in model  # fragments joined by id (CODEY's Claude) or by index (SFCP's GPT)
            for n, fragment in enumerate(split_json(reply.tool[1])):
                call: dict = {"id": call_id} if by_id else {"index": 0}
                call["function"] = {"arguments": fragment}
                if n == 0:
                    call.update(id=call_id, type="function", function={"name": reply.tool[0], "arguments": fragment})
                generation = {"role": "assistant", "content": "", "tool_invocations": [call]}
                frames.append(frame(dict(generation, parameters={"finish_reason": None})))
        frames.append(
            frame(
                {"role": "assistant", "content": "", "parameters": {"finish_reason": self._finish(reply)}},
                {"model": model, "usage": usage_body(model, reply)},
            )
        )
        frames += [
            b'event: scores\ndata: {"scores":[{"name":"toxicity","score":0.0}]}\n\n',
            b'event: scoringCompleted\ndata: {"status":"completed"}\n\n',
            b"event: generation\ndata: [DONE]\n\n" if end == "[DONE]" else f"data: {end}\n\n".encode(),
        ]
        error = b'event: error\ndata: {"errorCode":"INTERNAL_ERROR","message":"Simulated failure mid-stream"}\n\n'
        async for chunk in self.sim.play(frames, found, error, b"event: generation\ndata: {oops\n\n"):
            yield chunk
