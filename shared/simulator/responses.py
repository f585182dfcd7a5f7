"""The LLM Gateway's ``/ai/gpt/v1/responses``: OpenAI Responses shapes for GPT-5.x, JSON or ``response.*`` SSE.

As real orgs answer (salesforce-evidence.md, "/responses"): effort none/low/medium/high/xhigh is accepted and
anything else, ``max`` included, is a 400 ``Unexpected value 'max'``; sampling fields are refused while
reasoning; errors can arrive inside a 200 stream as ``error`` or ``response.failed``; there is no ``[DONE]``.
Shapes the evidence does not show are refused as OpenAI's Responses API refuses them (unknown parameters,
nested ``function`` tools, assistant ``input_text``, an output with no matching call).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .core import Simulator
from .errors import SalesforceError, error_for
from .model import Directives, Reply, Turn, count_tokens, directives, pieces, plan_reply, split_json
from .schemas import instance

EFFORTS = ("none", "low", "medium", "high", "xhigh")
REASONING_TOKENS = {"none": 0, "low": 4, "medium": 8, "high": 16, "xhigh": 32}  # deterministic, by effort
FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
PARAMETERS = frozenset(
    {
        "model", "input", "instructions", "max_output_tokens", "reasoning", "tools", "tool_choice",
        "parallel_tool_calls", "temperature", "top_p", "stream", "text", "store", "include", "metadata",
        "previous_response_id", "truncation", "user", "service_tier", "top_logprobs", "prompt_cache_key",
        "safety_identifier", "background", "max_tool_calls",
    }
)  # fmt: skip
ROLES = "'assistant', 'system', 'developer', 'user'"
ITEM_TYPES = "'message', 'function_call', 'function_call_output'"
OVERFLOW_TEXT = "Your input exceeds the context window of this model. Please adjust your input and try again."
BAD_FRAME = b"event: response.output_text.delta\ndata: {oops\n\n"
PART_TYPES = {"user": ("input_text",), "system": ("input_text",), "developer": ("input_text",)}


def _bad(message: str) -> SalesforceError:
    return SalesforceError(400, message)


def _texts(item: dict, role: str) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(f"Invalid type for 'input[].content': expected a string or an array, got {type(content).__name__}")
    allowed = PART_TYPES.get(role, ("output_text", "refusal"))
    out = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in allowed:
            supported = " and ".join(f"'{a}'" for a in allowed)
            raise _bad(f"Invalid value: '{kind}'. Supported values are: {supported}.")
        out.append(str(part.get("text", "")))
    return "\n\n".join(t for t in out if t)


def read_input(items: list) -> tuple[Turn, int]:
    """The last user turn (with the tool outputs that end the conversation) and the input's word count."""
    calls: set[str] = set()
    flat: list[tuple[str, str]] = []  # (kind, text), kind: user / assistant / system / call / output
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise _bad(f"Invalid type for 'input[{n}]': expected an object")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise _bad(f"Invalid value: '{role}'. Supported values are: {ROLES}.")
            flat.append(("system" if role == "developer" else role, _texts(item, role)))
        elif kind == "function_call":
            for field in ("call_id", "name", "arguments"):
                if not isinstance(item.get(field), str):
                    raise _bad(f"Missing required parameter: 'input[{n}].{field}'.")
            calls.add(item["call_id"])
            flat.append(("call", item["arguments"]))
        elif kind == "function_call_output":
            if item.get("call_id") not in calls:
                raise _bad(f"No tool call found for function call output with call_id {item.get('call_id')}.")
            flat.append(("output", str(item.get("output", ""))))
        else:
            raise _bad(f"Invalid value: '{kind}'. Supported values are: {ITEM_TYPES}.")
    texts: list[str] = []
    results: list[str] = []
    for kind, text in reversed(flat):
        if kind == "output":
            results.insert(0, text)
        elif kind == "user" and not texts and text:
            texts = [text]
        elif kind in ("assistant", "user") or (kind == "system" and (texts or results)):
            break
    return Turn(texts=texts, tool_results=results), max(sum(count_tokens(t) for _, t in flat), 1)


@dataclass
class Answer:
    reply: Reply
    found: Directives
    model: str
    effort: str | None
    reasoning_tokens: int


class Responses:
    """GPT-5.x on ``/ai/gpt/v1/responses``."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def routes(self) -> list[Route]:
        return [Route("/ai/gpt/v1/responses", self.respond, methods=["POST"])]

    def _answer(self, body: dict) -> Answer:
        for name in body:
            if name not in PARAMETERS:
                raise _bad(f"Unknown parameter: '{name}'.")
        model = body.get("model")
        if not isinstance(model, str):
            raise _bad("Missing required parameter: 'model'.")
        self.sim.check_model(model)
        raw = body.get("input")
        items = [{"type": "message", "role": "user", "content": raw}] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not items:
            raise _bad("Missing required parameter: 'input'.")
        turn, tokens = read_input(items)
        effort = (body.get("reasoning") or {}).get("effort")
        if effort is not None and effort not in EFFORTS:
            raise _bad(f"Unexpected value '{effort}'")
        reasoning = REASONING_TOKENS.get(effort or "none", 0)
        for name in ("temperature", "top_p"):
            if reasoning and body.get(name) is not None:
                raise _bad(f"Unsupported parameter: '{name}' is not supported with this model.")
        declared = self._tool_names(body.get("tools"))
        choice = body.get("tool_choice", "auto")
        forced = choice.get("name") if isinstance(choice, dict) else None
        if forced is not None and forced not in declared:
            raise _bad(f"Tool choice '{forced}' not found in 'tools' parameter.")
        found = directives(turn)
        if error := error_for(found, turn, self.sim.attempts):
            raise error
        if found.tool and (found.tool[0] not in declared or choice == "none"):
            found.tool = None  # a model never calls a tool it was not given
        if forced is not None:
            found.tool = (forced, found.tool[1] if found.tool and found.tool[0] == forced else {})
        elif choice == "required" and declared and not found.tool:
            found.tool = (sorted(declared)[0], {})
        limit = body.get("max_output_tokens")
        reply = plan_reply(
            turn,
            found,
            input_tokens=tokens,
            tools_supported=bool(declared),
            thinking_on=False,
            max_tokens=max(limit - reasoning, 0) if isinstance(limit, int) else None,
            stop_sequences=[],
        )
        if reply.tool and (forced or choice == "required"):
            reply = replace(reply, text="")  # a forced call comes with no text before it
        fmt = (body.get("text") or {}).get("format") or {}
        if fmt.get("type") == "json_schema" and not reply.tool and reply.stop_reason == "end_turn":
            text = json.dumps(instance(fmt.get("schema"), reply.text))
            reply = replace(reply, text=text, output_tokens=max(count_tokens(text), 1))
        if found.fault == "empty-answer":
            reply = replace(reply, text="", tool=None, stop_reason="end_turn", output_tokens=0)
        return Answer(reply, found, model, effort, reasoning)

    @staticmethod
    def _tool_names(tools: object) -> set[str]:
        names = set()
        for n, tool in enumerate(tools if isinstance(tools, list) else []):
            if not isinstance(tool, dict) or tool.get("type") != "function":
                raise _bad(f"Invalid value for 'tools[{n}].type'.")
            name = tool.get("name")
            if not isinstance(name, str):
                raise _bad(f"Missing required parameter: 'tools[{n}].name'.")
            if not FUNCTION_NAME.fullmatch(name):
                raise _bad(f"Invalid 'tools[{n}].name': string does not match pattern '^[a-zA-Z0-9_-]{{1,64}}$'.")
            names.add(name)
        return names

    @staticmethod
    def _items(answer: Answer) -> list[dict]:
        reply = answer.reply
        items: list[dict] = []
        if answer.reasoning_tokens:
            items.append({"id": f"rs_{uuid.uuid4().hex}", "type": "reasoning", "summary": []})
        if reply.text:
            text = {"type": "output_text", "text": reply.text, "annotations": []}
            items.append(
                {"id": f"msg_{uuid.uuid4().hex}", "type": "message", "status": "completed", "role": "assistant",
                 "content": [text]}
            )  # fmt: skip
        if reply.tool:
            items.append(
                {"id": f"fc_{uuid.uuid4().hex}", "type": "function_call", "status": "completed",
                 "call_id": f"call_{uuid.uuid4().hex[:24]}", "name": reply.tool[0],
                 "arguments": json.dumps(reply.tool[1])}
            )  # fmt: skip
        return items

    @staticmethod
    def _response(answer: Answer, output: list[dict], status: str | None = None) -> dict:
        reply, reasoning = answer.reply, answer.reasoning_tokens
        incomplete = reply.stop_reason == "max_tokens"
        output_tokens = (reply.output_tokens if reply.text or reply.tool else 0) + reasoning
        return {
            "id": f"resp_{uuid.uuid4().hex}",
            "object": "response",
            "created_at": int(time.time()),
            "status": status or ("incomplete" if incomplete else "completed"),
            "model": answer.model,
            "output": output,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete and not status else None,
            "reasoning": {"effort": answer.effort},
            "usage": {
                "input_tokens": reply.input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": reasoning},
                "total_tokens": reply.input_tokens + output_tokens,
            },
        }

    async def respond(self, request: Request) -> Response:
        async def answer(body: dict) -> Response:
            result = self._answer(body)
            if body.get("stream") is True:
                return self._stream(result)
            await self.sim.pause(result.found)
            if fault := await self.sim.json_fault(result.found):
                return fault
            return JSONResponse(self._response(result, self._items(result)))

        return await self.sim.handle(request, None, answer)

    def _stream(self, answer: Answer) -> Response:
        found = answer.found
        if fault := self.sim.stream_fault(found, "text/event-stream"):
            return fault
        opening = [
            event("response.created", response=self._response(answer, [], status="in_progress")),
            event("response.in_progress", response=self._response(answer, [], status="in_progress")),
        ]
        if found.fault == "limit-in-stream":  # a 200 stream whose only answer is a rate-limit error
            error = event("error", code="rate_limit_exceeded", message="Too many requests for the server to handle")
            return Response(b"".join([*opening, error]), media_type="text/event-stream")
        if found.fault == "overflow-in-stream":  # OpenAI's own words, as a failed response
            failure = {"code": "context_length_exceeded", "message": OVERFLOW_TEXT}
            failed = event("response.failed", response=self._response(answer, [], status="failed") | {"error": failure})
            return Response(b"".join([*opening, failed]), media_type="text/event-stream")
        return StreamingResponse(self._events(answer, opening), media_type="text/event-stream")

    async def _events(self, answer: Answer, frames: list[bytes]) -> AsyncIterator[bytes]:
        output = self._items(answer)
        for index, item in enumerate(output):
            added = dict(item, content=[]) if item["type"] == "message" else item
            if item["type"] == "function_call":
                added = dict(item, arguments="")
            frames.append(event("response.output_item.added", output_index=index, item=added))
            ref = {"item_id": item["id"], "output_index": index}
            if item["type"] == "message":
                text = item["content"][0]["text"]
                part = {"type": "output_text", "text": "", "annotations": []}
                frames.append(event("response.content_part.added", **ref, content_index=0, part=part))
                frames += [event("response.output_text.delta", **ref, content_index=0, delta=p) for p in pieces(text)]
                frames.append(event("response.output_text.done", **ref, content_index=0, text=text))
                frames.append(event("response.content_part.done", **ref, content_index=0, part=item["content"][0]))
            elif item["type"] == "function_call":
                fragments = [f for f in split_json(answer.reply.tool[1]) if f] if answer.reply.tool else []
                frames += [event("response.function_call_arguments.delta", **ref, delta=f) for f in fragments]
                frames.append(event("response.function_call_arguments.done", **ref, arguments=item["arguments"]))
            frames.append(event("response.output_item.done", output_index=index, item=item))
        final = self._response(answer, output)
        kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        frames.append(event(kind, response=final))
        failure = {"code": "server_error", "message": "Simulated failure mid-stream"}
        failed = event("response.failed", response=dict(final, status="failed", error=failure))
        async for chunk in self.sim.play(frames, answer.found, failed, BAD_FRAME):
            yield chunk


def event(kind: str, **fields: object) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()
