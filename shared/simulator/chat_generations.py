"""The LLM Gateway's chat/generations: OpenAI-like messages, ``tool_invocations``, SSE ``generation`` events."""

from __future__ import annotations

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
from .model import Directives, Reply, count_tokens, directives, pieces, plan_reply, split_json
from .turns import plain_turn

FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ChatGenerations:
    """GPT and Gemini on ``/ai/gpt/v1/chat/generations[/stream]``."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

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
        for msg in messages:
            if msg.get("role") == "assistant" and "tool_calls" in msg:
                raise SalesforceError(400, "Unrecognized field tool_calls; use tool_invocations")
        # OpenAI's rule for function names, in tools and in the calls of earlier turns.
        calls = [c for m in messages if m.get("role") == "assistant" for c in m.get("tool_invocations") or []]
        for where, item in [("tools", t) for t in body.get("tools") or []] + [("tool_invocations", c) for c in calls]:
            name = (item.get("function") or {}).get("name")
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
        reply = plan_reply(
            turn,
            found,
            input_tokens=max(tokens, 1),
            tools_supported=bool(body.get("tools")),
            thinking_on=False,
            max_tokens=settings.get("max_tokens"),
            stop_sequences=settings.get("stop_sequences") or [],
        )
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
                        "parameters": {
                            "model": model,
                            "usage": {
                                "prompt_tokens": reply.input_tokens,
                                "completion_tokens": reply.output_tokens,
                                "total_tokens": reply.input_tokens + reply.output_tokens,
                            },
                        },
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
            return StreamingResponse(self._chat_frames(reply, found, model), media_type="text/event-stream")

        return await self.sim.handle(request, None, answer)

    async def _chat_frames(self, reply: Reply, found: Directives, model: str) -> AsyncIterator[bytes]:
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
            for n, fragment in enumerate(split_json(reply.tool[1])):
                call: dict = {"index": 0, "function": {"arguments": fragment}}
                if n == 0:
                    call.update(id=call_id, type="function", function={"name": reply.tool[0], "arguments": fragment})
                generation = {"role": "assistant", "content": "", "tool_invocations": [call]}
                frames.append(frame(dict(generation, parameters={"finish_reason": None})))
        usage = {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        }
        frames.append(
            frame(
                {"role": "assistant", "content": "", "parameters": {"finish_reason": self._finish(reply)}},
                {"model": model, "usage": usage},
            )
        )
        frames += [b'event: scoringCompleted\ndata: {"status":"completed"}\n\n', b"data: [DONE]\n\n"]
        error = b'event: error\ndata: {"errorCode":"INTERNAL_ERROR","message":"Simulated failure mid-stream"}\n\n'
        async for chunk in self.sim.play(frames, found, error, b"event: generation\ndata: {oops\n\n"):
            yield chunk
