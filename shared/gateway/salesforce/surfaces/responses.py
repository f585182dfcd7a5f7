"""The LLM Gateway's ``/ai/gpt/v1/responses`` for GPT-5.x: the path real orgs serve with tools and reasoning.

``stream: true`` gives ``response.*`` server-sent events and no ``[DONE]``; failures can arrive inside a
200 as an ``error`` or ``response.failed`` event, and become Anthropic errors of the type they stand for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ...anthropic import ids
from ...anthropic.errors import GatewayError
from ...jsoncodec import dumps, loads
from ...translate import responses as rs
from ...translate.chat_generations import original_names
from ..bodies import read_error_body
from ..errors import CallContext, empty_answer, map_status, not_a_stream, stream_error
from ..sse import read_events
from .base import Call, Surface

PATH = "/ai/gpt/v1/responses"


STATUS_KEYS = ("status", "statusCode", "http_status", "http_status_code")


def error_body(kind: str, data: dict) -> tuple[int | None, bytes]:
    """An ``error`` / ``response.failed`` event (or a failed JSON answer) as the HTTP status it names, if
    any, and a Salesforce-style error body: OpenAI's fields, Salesforce's, or a bare string."""
    holder = data.get("response") if kind == "response.failed" and isinstance(data.get("response"), dict) else data
    inner = holder.get("error")
    if isinstance(inner, str):
        inner = {"code": inner, "message": holder.get("error_description") or holder.get("message") or inner}
    elif not isinstance(inner, dict):
        inner = holder if kind == "error" else {}  # OpenAI's error event carries its fields on the event
    code = inner.get("errorCode") or inner.get("code") or (inner.get("type") if inner is not holder else "")
    message = inner.get("message") or holder.get("message") or code or kind
    status = next((v for k in STATUS_KEYS if isinstance(v := inner.get(k), int) and 400 <= v < 600), None)
    body = {"errorCode": str(code).upper() or "STREAM_ERROR", "message": str(message)}
    return status, dumps(body)


def typed_error(kind: str, data: dict, ctx: CallContext) -> GatewayError:
    status, body = error_body(kind, data)
    return map_status(status, body, {}, ctx) if status is not None else stream_error(body, ctx)


class ResponsesSurface(Surface):
    name = "responses"
    description = "the Salesforce LLM Gateway (/responses)"

    def _translator(self, call: Call) -> rs.StreamTranslator:
        request, names = call.request, original_names(call.request)
        return rs.StreamTranslator(request, call.message_id, call.model, call.input_estimate, ids.tool_use_id, names)

    async def create(self, call: Call) -> dict:
        payload = rs.to_request(call.request, call.entry.salesforce_model)
        body = await self.client.post_json(PATH, payload, call.context)
        if not isinstance(body, dict):
            raise GatewayError("api_error", "Salesforce returned an unexpected answer", status=500, backend=True)
        if body.get("status") == "failed" or (isinstance(body.get("error"), (dict, str)) and body.get("error")):
            raise typed_error("response.failed", {"response": body}, call.context)
        translator = self._translator(call)
        message = rs.from_response(body, translator)
        if translator.empty():  # seen on this path (SFCP checks for it)
            raise empty_answer()
        return message

    async def stream(self, call: Call) -> AsyncIterator[dict]:
        payload = rs.to_request(call.request, call.entry.salesforce_model, stream=True)
        translator = self._translator(call)
        ctx = call.context
        async with self.client.post_stream(PATH, payload, ctx) as response:
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                raise not_a_stream(await read_error_body(response))
            started = False
            final: dict | None = None
            async for name, data in read_events(response):
                try:
                    frame = loads(data)
                except ValueError:
                    raise GatewayError(
                        "api_error", "Salesforce sent a stream event that is not JSON", backend=True
                    ) from None
                if not isinstance(frame, dict):
                    continue
                kind = name if name != "message" else str(frame.get("type", ""))
                if kind in rs.ERROR_EVENTS:  # before the first event this becomes a real HTTP status
                    raise typed_error(kind, frame, ctx)
                if kind in rs.TERMINAL_EVENTS:
                    final = frame.get("response") if isinstance(frame.get("response"), dict) else frame
                    break
                events = translator.feed(kind, frame)
                if events and not started:  # message_start waits for content: an early error keeps its status
                    started = True
                    yield translator.start()
                for event in events:
                    yield event
            if final is None:
                if not started:
                    raise empty_answer("stream")
                raise GatewayError("api_error", "Salesforce ended the stream before it was complete", backend=True)
            if final.get("status") == "failed":
                raise typed_error("response.failed", {"response": final}, ctx)
            closing = translator.finish(final)
            if not started and translator.empty():
                raise empty_answer()
            if not started:
                yield translator.start()
            for event in closing:
                yield event
