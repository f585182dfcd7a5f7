"""The simulator's HTTP app: the OAuth endpoint and the three model surfaces, in Salesforce's formats."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from . import eventstream
from .model import (
    Directives,
    Reply,
    Turn,
    count_tokens,
    directives,
    pieces,
    plan_reply,
    sign,
    signature_ok,
    split_json,
)
from .tokens import TokenMint

REQUIRED_HEADERS = {
    "x-sfdc-app-context": "EinsteinGPT",
    "x-client-feature-id": "ai-platform-models-connected-app",
}
ERROR_TEXT = {
    400: ("INVALID_INPUT", "Bad request"),
    401: ("INVALID_AUTH", "Access bearer token is missing or invalid"),
    403: ("FORBIDDEN", "User forbidden from accessing the resource"),
    404: ("NOT_FOUND", "Resource not found"),
    408: ("TIMEOUT", "Request timed out"),
    413: ("PAYLOAD_TOO_LARGE", "Request entity too large"),
    423: ("NOT_FOUND", "Server is busy and cannot process the request at this time"),
    429: ("LIMIT_EXCEEDED", "Too many requests for the server to handle"),
    500: ("INTERNAL_ERROR", "Internal server error"),
    502: ("BAD_GATEWAY", "Bad gateway"),
    503: ("INTERNAL_ERROR", "Service is unavailable"),
    504: ("GATEWAY_TIMEOUT", "Gateway timeout"),
}


@dataclass
class SimulatorConfig:
    client_id: str = "simulator-client-id"
    client_secret: str = "simulator-client-secret"
    token_ttl_seconds: float = 1800.0
    # Salesforce model names the simulated org refuses (404), to make verification visible.
    refused_models: frozenset[str] = frozenset({"sfdc_ai__DefaultBedrockAnthropicClaude41Opus"})
    signing_secret: bytes = field(default_factory=lambda: uuid.uuid4().bytes)
    # When set, the OAuth endpoint fails with this HTTP status (tests flip it at run time).
    oauth_fail_status: int | None = None
    # Bedrock models that take thinking {"type": "adaptive"} (Claude 4.6 and later); the others refuse it.
    adaptive_thinking_models: frozenset[str] = frozenset()
    # Salesforce model name -> seconds every call to it takes before anything else happens.
    slow_models: dict[str, float] = field(default_factory=dict)


class SalesforceError(Exception):
    def __init__(self, status: int, message: str | None = None, headers: dict[str, str] | None = None) -> None:
        code, default = ERROR_TEXT.get(status, ("ERROR", "Error"))
        super().__init__(message or default)
        self.status, self.code, self.message, self.headers = status, code, message or default, headers or {}

    def body(self) -> dict:
        return {"errorCode": self.code, "messageCode": f"E{self.status:05d}", "message": self.message}

    def response(self, status: int | None = None) -> Response:
        return JSONResponse(self.body(), status_code=status or self.status, headers=self.headers)


def _error_for(found: Directives, turn: Turn, attempts: dict[str, int]) -> SalesforceError | None:
    if found.error is None:
        return None
    variant = found.error_variant or ""
    if variant.startswith("first-"):
        key = turn.all_text
        attempts[key] = attempts.get(key, 0) + 1
        if attempts[key] > int(variant[6:] or 0):
            return None
    headers = {"Retry-After": "1"} if found.error == 429 and found.error_variant != "no-retry-after" else {}
    return SalesforceError(found.error, headers=headers)


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _anthropic_text(content: object) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
    return []


def _anthropic_turn(messages: list[dict]) -> Turn:
    for msg in reversed(messages):
        if msg.get("role") == "user":
            content = msg.get("content")
            blocks = content if isinstance(content, list) else []
            results = ["\n".join(_anthropic_text(b.get("content"))) for b in blocks if b.get("type") == "tool_result"]
            return Turn(texts=[t for t in _anthropic_text(content) if t], tool_results=results)
    return Turn()


def _plain_turn(messages: list[dict]) -> Turn:
    """Last user turn in the ``{role, content: string}`` shapes; trailing ``tool`` turns are results."""
    results: list[str] = []
    for msg in reversed(messages):
        role = msg.get("role")
        if role == "tool":
            results.insert(0, str(msg.get("content", "")))
        elif role == "user":
            return Turn(texts=[str(msg.get("content", ""))], tool_results=results)
        elif results:
            break
    return Turn(tool_results=results)


def _input_tokens(system: object, messages: list[dict]) -> int:
    total = sum(count_tokens(t) for t in _anthropic_text(system))
    for msg in messages:
        content = msg.get("content")
        total += sum(count_tokens(t) for t in _anthropic_text(content))
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    total += sum(count_tokens(t) for t in _anthropic_text(block.get("content")))
    return max(total, 1)


async def _after(delay: float, answer: Callable[[dict], Awaitable[Response]], body: dict) -> Response:
    if delay:
        await asyncio.sleep(delay)
    return await answer(body)


FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Simulator:
    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.mint = TokenMint(self.config.signing_secret, self.config.token_ttl_seconds)
        self.requests: deque[dict] = deque(maxlen=200)  # what the gateway sent, for tests to inspect
        self.in_flight = 0
        self.streams_open = 0  # streamed answers still being sent; drops when the gateway hangs up
        self.abandoned = 0  # calls whose caller hung up before the answer was ready
        self.attempts: dict[str, int] = {}  # prompt -> calls seen, for [[error:CODE:first-N]]

    # --- plumbing -------------------------------------------------------------------------------
    def _check(self, request: Request, model: str | None) -> None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not self.mint.valid(auth[7:]):
            raise SalesforceError(401)
        for name, value in REQUIRED_HEADERS.items():
            if request.headers.get(name) != value:
                raise SalesforceError(400, f"Missing or invalid header {name}")
        if model is not None and (not model.startswith("sfdc_ai__") or model in self.config.refused_models):
            raise SalesforceError(404, f"Model {model} not found")

    async def _body(self, request: Request, model: str | None) -> dict:
        raw = await request.body()
        self.requests.append(
            {
                "path": request.url.path,
                "headers": dict(request.headers),
                "body": raw.decode("utf-8", "replace"),
            }
        )
        self._check(request, model)
        try:
            body = json.loads(raw)
        except ValueError:
            raise SalesforceError(400, "Malformed JSON") from None
        if not isinstance(body, dict):
            raise SalesforceError(400, "Body must be an object")
        return body

    async def _handle(
        self, request: Request, model: str | None, answer: Callable[[dict], Awaitable[Response]]
    ) -> Response:
        self.in_flight += 1
        try:
            body = await self._body(request, model)
            delay = self.config.slow_models.get(model or str(body.get("model")), 0.0)
            work = asyncio.ensure_future(_after(delay, answer, body))
            hangup = asyncio.ensure_future(_disconnected(request))
            await asyncio.wait({work, hangup}, return_when=asyncio.FIRST_COMPLETED)
            hangup.cancel()
            if not work.done():  # the gateway hung up while we were still thinking
                work.cancel()
                self.abandoned += 1
                return Response(status_code=499)
            return work.result()
        except SalesforceError as exc:
            return exc.response()
        finally:
            self.in_flight -= 1

    @staticmethod
    async def _pause(found: Directives) -> None:
        if found.delay_ms:
            await asyncio.sleep(found.delay_ms / 1000)

    @staticmethod
    async def _json_fault(found: Directives) -> Response | None:
        """A misbehaving 200 in place of a JSON answer, when a fault directive asks for one."""
        if found.stall_ms:
            await asyncio.sleep(found.stall_ms / 1000)
        if found.fault == "error-body-200":
            return SalesforceError(500, "Simulated error inside a 200").response(status=200)
        if found.fault == "empty-body":
            return Response(b"", media_type="application/json")
        if found.fault == "malformed-json":
            return Response(b'{"generationDetails": {"generations": [', media_type="application/json")
        return None

    @staticmethod
    def _stream_fault(found: Directives, media_type: str) -> Response | None:
        if found.fault == "error-body-200":
            return SalesforceError(503, "Simulated error inside a 200").response(status=200)
        if found.fault == "empty-body":
            return Response(b"", media_type=media_type)
        return None

    async def _play(
        self, frames: list[bytes], found: Directives, error_frame: bytes, bad_frame: bytes
    ) -> AsyncIterator[bytes]:
        """Stream frames with the directives' pacing and faults."""
        self.streams_open += 1
        try:
            async for chunk in self._paced(frames, found, error_frame, bad_frame):
                yield chunk
        finally:
            self.streams_open -= 1

    async def _paced(
        self, frames: list[bytes], found: Directives, error_frame: bytes, bad_frame: bytes
    ) -> AsyncIterator[bytes]:
        await self._pause(found)
        middle = max(1, len(frames) // 2)
        for n, chunk in enumerate(frames):
            if n == middle:
                if found.fault == "drop-mid-stream":
                    raise ConnectionAbortedError("simulated connection drop")
                if found.fault == "exception-mid-stream":
                    yield error_frame
                    return
                if found.fault == "malformed-json":
                    yield bad_frame
                    return
                if found.stall_ms:
                    await asyncio.sleep(found.stall_ms / 1000)
            yield chunk
            await self._pause(found)

    async def stats(self, request: Request) -> Response:
        """Not Salesforce: the counters, for a load test in another process to check for leaks."""
        return JSONResponse(
            {"in_flight": self.in_flight, "streams_open": self.streams_open, "abandoned": self.abandoned}
        )

    # --- OAuth ----------------------------------------------------------------------------------
    async def oauth_token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if self.config.oauth_fail_status:
            body = {"error": "server_error", "error_description": "simulated OAuth outage"}
            return JSONResponse(body, self.config.oauth_fail_status)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse(
                {"error": "unsupported_grant_type", "error_description": "grant type not supported"}, 400
            )
        if form.get("client_id") != self.config.client_id or form.get("client_secret") != self.config.client_secret:
            return JSONResponse({"error": "invalid_client", "error_description": "invalid client credentials"}, 400)
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "access_token": self.mint.mint(self.config.client_id),
                "signature": "c2ltdWxhdG9y",
                "token_format": "jwt",
                "scope": "sfap_api api",
                "instance_url": base,
                "id": f"{base}/id/00D000000000001/005000000000001",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "api_instance_url": base,
            }
        )

    # --- documented Models API ------------------------------------------------------------------
    async def models_api_chat(self, request: Request) -> Response:
        model = request.path_params["model"]

        async def answer(body: dict) -> Response:
            messages = body.get("messages")
            if not isinstance(messages, list) or not all(isinstance(m.get("content"), str) for m in messages):
                raise SalesforceError(400, "messages must be a list of {role, content: string}")
            turn = _plain_turn([m for m in messages if m.get("role") != "system"])
            found = directives(turn)
            if error := _error_for(found, turn, self.attempts):
                raise error
            await self._pause(found)
            if fault := await self._json_fault(found):
                return fault
            tokens = sum(count_tokens(m["content"]) for m in messages)
            reply = plan_reply(
                turn,
                found,
                input_tokens=tokens,
                tools_supported=False,
                thinking_on=False,
                max_tokens=None,
                stop_sequences=[],
            )
            return JSONResponse(
                {
                    "id": str(uuid.uuid4()),
                    "generationDetails": {
                        "generations": [
                            {
                                "id": str(uuid.uuid4()),
                                "role": "assistant",
                                "content": reply.text,
                                "timestamp": int(time.time()),
                                "parameters": {"finish_reason": "stop", "index": 0},
                                "contentQuality": {"scanToxicity": {"isDetected": False, "categories": []}},
                            }
                        ],
                        "parameters": {
                            "provider": "bedrock",
                            "model": model,
                            "object": "chat.completion",
                            "usage": {
                                "prompt_tokens": reply.input_tokens,
                                "completion_tokens": reply.output_tokens,
                                "total_tokens": reply.input_tokens + reply.output_tokens,
                            },
                        },
                    },
                }
            )

        return await self._handle(request, model, answer)

    # --- LLM Gateway: Bedrock-style invoke --------------------------------------------------------
    def _bedrock_reply(self, body: dict, model: str) -> tuple[Reply, Directives]:
        if body.get("anthropic_version") != "bedrock-2023-05-31":
            raise SalesforceError(400, "anthropic_version: must be bedrock-2023-05-31")
        for forbidden in ("model", "stream"):
            if forbidden in body:
                raise SalesforceError(400, f"{forbidden}: Extra inputs are not permitted")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not isinstance(body.get("max_tokens"), int):
            raise SalesforceError(400, "messages and max_tokens are required")
        for msg in messages:
            content = msg.get("content")
            for block in content if isinstance(content, list) else []:
                if block.get("type") == "thinking" and not signature_ok(
                    block.get("thinking", ""), block.get("signature", "")
                ):
                    raise SalesforceError(400, "Invalid `signature` in `thinking` block")
        turn = _anthropic_turn(messages)
        found = directives(turn)
        if error := _error_for(found, turn, self.attempts):
            raise error
        thinking = body.get("thinking") or {}
        if thinking.get("type") == "adaptive" and model not in self.config.adaptive_thinking_models:
            raise SalesforceError(
                400,
                "thinking.type: Input tag 'adaptive' found using 'type' does not match any of the expected tags: "
                "'disabled', 'enabled'",
            )
        reply = plan_reply(
            turn,
            found,
            input_tokens=_input_tokens(body.get("system"), messages),
            tools_supported=True,
            thinking_on=thinking.get("type") in ("enabled", "adaptive"),
            max_tokens=body["max_tokens"],
            stop_sequences=body.get("stop_sequences") or [],
        )
        return reply, found

    @staticmethod
    def _bedrock_content(reply: Reply, tool_id: str) -> list[dict]:
        content: list[dict] = []
        if reply.thinking:
            content.append({"type": "thinking", "thinking": reply.thinking, "signature": sign(reply.thinking)})
        if reply.text:
            content.append({"type": "text", "text": reply.text})
        if reply.tool:
            content.append({"type": "tool_use", "id": tool_id, "name": reply.tool[0], "input": reply.tool[1]})
        return content

    async def bedrock_invoke(self, request: Request) -> Response:
        async def answer(body: dict) -> Response:
            reply, found = self._bedrock_reply(body, request.path_params["model"])
            await self._pause(found)
            if fault := await self._json_fault(found):
                return fault
            return JSONResponse(
                {
                    "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-simulated",
                    "content": self._bedrock_content(reply, f"toolu_bdrk_{uuid.uuid4().hex[:24]}"),
                    "stop_reason": reply.stop_reason,
                    "stop_sequence": reply.stop_sequence,
                    "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
                }
            )

        return await self._handle(request, request.path_params["model"], answer)

    async def bedrock_stream(self, request: Request) -> Response:
        async def answer(body: dict) -> Response:
            reply, found = self._bedrock_reply(body, request.path_params["model"])
            if fault := self._stream_fault(found, eventstream.MEDIA_TYPE):
                return fault
            if found.fault == "overflow-in-stream":  # Bedrock's own words, as the stream's only frame
                frame = eventstream.exception_frame("validationException", "Input is too long for requested model.")
                return Response(frame, media_type=eventstream.MEDIA_TYPE)
            return StreamingResponse(self._bedrock_frames(reply, found), media_type=eventstream.MEDIA_TYPE)

        return await self._handle(request, request.path_params["model"], answer)

    async def _bedrock_frames(self, reply: Reply, found: Directives) -> AsyncIterator[bytes]:
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
        for index, block in enumerate(self._bedrock_content(reply, f"toolu_bdrk_{uuid.uuid4().hex[:24]}")):
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
        async for chunk in self._play([eventstream.chunk_frame(e) for e in events], found, error, bad):
            yield chunk

    # --- LLM Gateway: chat/generations ------------------------------------------------------------
    def _chat_reply(self, body: dict) -> tuple[Reply, Directives, str]:
        model = body.get("model")
        if not isinstance(model, str):
            raise SalesforceError(400, "model is required")
        self._check_model(model)
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
        turn = _plain_turn([m for m in messages if m.get("role") != "system"])
        found = directives(turn)
        if error := _error_for(found, turn, self.attempts):
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

    def _check_model(self, model: str) -> None:
        if not model.startswith("sfdc_ai__") or model in self.config.refused_models:
            raise SalesforceError(404, f"Model {model} not found")

    @staticmethod
    def _finish(reply: Reply) -> str:
        return {"tool_use": "tool_calls", "max_tokens": "length"}.get(reply.stop_reason, "stop")

    async def chat_generations(self, request: Request) -> Response:
        async def answer(body: dict) -> Response:
            reply, found, model = self._chat_reply(body)
            await self._pause(found)
            if fault := await self._json_fault(found):
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

        return await self._handle(request, None, answer)

    async def chat_generations_stream(self, request: Request) -> Response:
        async def answer(body: dict) -> Response:
            reply, found, model = self._chat_reply(body)
            if fault := self._stream_fault(found, "text/event-stream"):
                return fault
            if found.fault == "limit-in-stream":  # a 200 stream whose first event is a rate-limit error
                error = json.dumps(SalesforceError(429).body())
                return Response(f"event: error\ndata: {error}\n\n", media_type="text/event-stream")
            return StreamingResponse(self._chat_frames(reply, found, model), media_type="text/event-stream")

        return await self._handle(request, None, answer)

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
        async for chunk in self._play(frames, found, error, b"event: generation\ndata: {oops\n\n"):
            yield chunk


def create_simulator_app(config: SimulatorConfig | None = None) -> Starlette:
    sim = Simulator(config)
    app = Starlette(
        routes=[
            Route("/services/oauth2/token", sim.oauth_token, methods=["POST"]),
            Route("/einstein/platform/v1/models/{model}/chat-generations", sim.models_api_chat, methods=["POST"]),
            Route("/ai/gpt/v1/model/{model}/invoke", sim.bedrock_invoke, methods=["POST"]),
            Route("/ai/gpt/v1/model/{model}/invoke-with-response-stream", sim.bedrock_stream, methods=["POST"]),
            Route("/ai/gpt/v1/chat/generations", sim.chat_generations, methods=["POST"]),
            Route("/ai/gpt/v1/chat/generations/stream", sim.chat_generations_stream, methods=["POST"]),
            Route("/simulator/stats", sim.stats, methods=["GET"]),
        ]
    )
    app.state.simulator = sim
    return app
