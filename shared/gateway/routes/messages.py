"""``POST /v1/messages``: validate, route, call the model's surface, answer as JSON or SSE."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..anthropic import ids
from ..anthropic.errors import GatewayError
from ..anthropic.sse import PING, SSE_HEADERS, SSE_MEDIA_TYPE, frame
from ..anthropic.validation import check_against_model, parse_betas, validate_messages
from ..salesforce.surfaces import Call
from ..telemetry import RequestSample
from ..tokens import count_request
from .body import read_json, services_of

log = logging.getLogger("gateway")


async def create_message(request: Request) -> Response:
    services = services_of(request)
    body = await read_json(request)
    parsed = validate_messages(body, parse_betas(request.headers.get("anthropic-beta")))
    route = services.model_map().route(parsed.model)
    check_against_model(parsed, parsed.model, route.entry.max_output_tokens)
    surface = services.surfaces[route.entry.surface]
    call = Call(parsed, route, ids.message_id(), count_request(parsed))
    surface.check(call)
    sample: RequestSample = request.state.sample
    sample.model = route.entry.id
    sent = time.perf_counter()
    if not parsed.stream:
        message = await surface.create(call)
        sample.backend_ms = (time.perf_counter() - sent) * 1000
        _count_usage(sample, message["usage"])
        return JSONResponse(message)
    events = surface.stream(call)
    try:
        first = await anext(events)  # failures up to here still get a real HTTP status
    except StopAsyncIteration:
        raise GatewayError("api_error", "Salesforce returned an empty answer", status=500, backend=True) from None
    sample.backend_ms = (time.perf_counter() - sent) * 1000
    return StreamingResponse(sse_body(first, events, sample), media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS)


def _count_usage(sample: RequestSample, usage: dict | None) -> None:
    if usage:
        sample.input_tokens = usage.get("input_tokens", sample.input_tokens)
        sample.output_tokens = usage.get("output_tokens", sample.output_tokens)


async def sse_body(first: dict, events: AsyncIterator[dict], sample: RequestSample) -> AsyncIterator[bytes]:
    """Frame events as they arrive; a failure after the first byte becomes ``event: error``."""
    pinged = False
    try:
        event = first
        while True:
            yield frame(event)
            kind = event["type"]
            if kind == "content_block_start" and not pinged:
                pinged = True
                yield PING
            elif kind == "message_start":
                _count_usage(sample, event["message"].get("usage"))
            elif kind == "message_delta":
                _count_usage(sample, event.get("usage"))
            event = await anext(events)
    except StopAsyncIteration:
        return
    except GatewayError as exc:
        sample.error_type, sample.backend_error = exc.error_type, exc.backend
        log.warning("stream failed: %s %s", exc.error_type, exc.message)
        yield frame({"type": "error", "error": {"type": exc.error_type, "message": exc.message}})
    except Exception:
        sample.error_type = "api_error"
        log.exception("stream failed")
        yield frame({"type": "error", "error": {"type": "api_error", "message": "Internal server error"}})
    finally:
        await events.aclose()
