"""The LLM Gateway's Bedrock-style invoke: Anthropic bodies in, Anthropic JSON or AWS event-stream out.

Thinking follows the evidence (salesforce-evidence.md, Bedrock invoke): the Claude 4.6+ aliases take only
``adaptive`` (``enabled`` is a 400) and no sampling fields while thinking; older models answer thinking,
thinking history blocks and ``anthropic_beta`` with a 502 "No user context has been created!" (unless
``SimulatorConfig.older_models_refuse_thinking`` is off). Usage is Anthropic's own snake_case.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from . import eventstream
from .core import Simulator
from .errors import SalesforceError, error_for
from .model import Directives, Reply, directives, pieces, plan_reply, sign, signature_ok, split_json
from .schemas import anthropic_rules
from .turns import anthropic_turn, input_tokens

THINKING_BLOCKS = ("thinking", "redacted_thinking")
NO_USER_CONTEXT = "No user context has been created!"
ENABLED_REFUSED = (
    "thinking.type.enabled is not supported for this model. "
    "Use thinking.type.adaptive and output_config.effort to control thinking behavior."
)


class BedrockInvoke:
    """Claude on ``/ai/gpt/v1/model/{model}/invoke[-with-response-stream]``."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def routes(self) -> list[Route]:
        return [
            Route("/ai/gpt/v1/model/{model}/invoke", self.invoke, methods=["POST"]),
            Route("/ai/gpt/v1/model/{model}/invoke-with-response-stream", self.stream, methods=["POST"]),
        ]

    def _reply(self, body: dict, model: str) -> tuple[Reply, Directives]:
        if body.get("anthropic_version") != "bedrock-2023-05-31":
            raise SalesforceError(400, "anthropic_version: must be bedrock-2023-05-31")
        for forbidden in ("model", "stream"):
            if forbidden in body:
                raise SalesforceError(400, f"{forbidden}: Extra inputs are not permitted")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not isinstance(body.get("max_tokens"), int):
            raise SalesforceError(400, "messages and max_tokens are required")
        self._check_thinking(body, messages, model)
        turn = anthropic_turn(messages)
        found = directives(turn)
        if error := error_for(found, turn, self.sim.attempts):
            raise error
        thinking = body.get("thinking") or {}
        reply = plan_reply(
            turn,
            found,
            input_tokens=input_tokens(body.get("system"), messages),
            tools_supported=True,
            thinking_on=thinking.get("type") in ("enabled", "adaptive"),
            max_tokens=body["max_tokens"],
            stop_sequences=body.get("stop_sequences") or [],
            rules=anthropic_rules(body),  # declared tools, tool_choice, output_config.format
        )
        return reply, found

    def _check_thinking(self, body: dict, messages: list, model: str) -> None:
        """Thinking as real orgs take it (salesforce-evidence.md, Bedrock invoke): Claude 4.6+ only adaptive,
        without sampling fields; older models answer thinking, thinking history and betas with a 502."""
        blocks = [
            b for m in messages if isinstance(m.get("content"), list) for b in m["content"] if isinstance(b, dict)
        ]
        history = any(b.get("type") in THINKING_BLOCKS for b in blocks)
        thinking = body.get("thinking")
        adaptive_only = model in self.sim.config.adaptive_thinking_models
        refuses = not adaptive_only and self.sim.config.older_models_refuse_thinking
        if refuses and (thinking is not None or history or body.get("anthropic_beta")):
            raise SalesforceError(502, NO_USER_CONTEXT)
        for block in blocks:
            if block.get("type") == "thinking" and not signature_ok(
                block.get("thinking", ""), block.get("signature", "")
            ):
                raise SalesforceError(400, "Invalid `signature` in `thinking` block")
        kind = thinking.get("type") if isinstance(thinking, dict) else None
        if kind == "enabled" and adaptive_only:
            raise SalesforceError(400, ENABLED_REFUSED)
        if kind == "adaptive" and not adaptive_only:
            raise SalesforceError(
                400,
                "thinking.type: Input tag 'adaptive' found using 'type' does not match any of the expected tags: "
                "'disabled', 'enabled'",
            )
        if kind in ("enabled", "adaptive"):
            for name in ("temperature", "top_p", "top_k"):
                if name in body:
                    raise SalesforceError(400, f"`{name}` may not be set when thinking is enabled or in adaptive mode")

    @staticmethod
    def _content(reply: Reply, tool_id: str) -> list[dict]:
        content: list[dict] = []
        if reply.thinking:
            content.append({"type": "thinking", "thinking": reply.thinking, "signature": sign(reply.thinking)})
        if reply.text:
            content.append({"type": "text", "text": reply.text})
        if reply.tool:
            content.append({"type": "tool_use", "id": tool_id, "name": reply.tool[0], "input": reply.tool[1]})
        return content

    async def invoke(self, request: Request) -> Response:
        async def answer(body: dict) -> Response:
            reply, found = self._reply(body, request.path_params["model"])
            await self.sim.pause(found)
            if fault := await self.sim.json_fault(found):
                return fault
            return JSONResponse(
                {
                    "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-simulated",
                    "content": self._content(reply, f"toolu_bdrk_{uuid.uuid4().hex[:24]}"),
                    "stop_reason": reply.stop_reason,
                    "stop_sequence": reply.stop_sequence,
                    "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
                }
            )

        return await self.sim.handle(request, request.path_params["model"], answer)

    async def stream(self, request: Request) -> Response:
        async def answer(body: dict) -> Response:
            reply, found = self._reply(body, request.path_params["model"])
            if fault := self.sim.stream_fault(found, eventstream.MEDIA_TYPE):
                return fault
            if found.fault == "overflow-in-stream":  # Bedrock's own words, as the stream's only frame
                frame = eventstream.exception_frame("validationException", "Input is too long for requested model.")
                return Response(frame, media_type=eventstream.MEDIA_TYPE)
            return StreamingResponse(self._frames(reply, found), media_type=eventstream.MEDIA_TYPE)

        return await self.sim.handle(request, request.path_params["model"], answer)

    async def _frames(self, reply: Reply, found: Directives) -> AsyncIterator[bytes]:
        events: list[dict] = [
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-simulated",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": reply.input_tokens, "output_tokens": 1},
                },
            }
        ]
        for index, block in enumerate(self._content(reply, f"toolu_bdrk_{uuid.uuid4().hex[:24]}")):
            if block["type"] == "thinking":
                events.append(
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                    }
                )
                events += [
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "thinking_delta", "thinking": p},
                    }
                    for p in pieces(block["thinking"])
                ]
                events.append(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "signature_delta", "signature": block["signature"]},
                    }
                )
            elif block["type"] == "text":
                events.append(
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    }
                )
                events += [
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": p},
                    }
                    for p in pieces(block["text"])
                ]
            else:
                events.append({"type": "content_block_start", "index": index, "content_block": dict(block, input={})})
                events += [
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": p},
                    }
                    for p in split_json(block["input"])
                ]
            events.append({"type": "content_block_stop", "index": index})
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence},
                "usage": {"output_tokens": reply.output_tokens},
            }
        )
        events.append(
            {
                "type": "message_stop",
                "amazon-bedrock-invocationMetrics": {
                    "inputTokenCount": reply.input_tokens,
                    "outputTokenCount": reply.output_tokens,
                    "invocationLatency": 1,
                    "firstByteLatency": 1,
                },
            }
        )
        error = eventstream.exception_frame("modelStreamErrorException", "Simulated failure mid-stream")
        bad = eventstream.encode_frame(
            {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}, b'{"bytes": "e30'
        )
        async for chunk in self.sim.play([eventstream.chunk_frame(e) for e in events], found, error, bad):
            yield chunk
