"""``POST /v1/messages``: validate, route, call the model's surface, answer as JSON or SSE."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..anthropic import ids
from ..anthropic.errors import GatewayError
from ..anthropic.sse import PING, SSE_HEADERS, SSE_MEDIA_TYPE, frame
from ..anthropic.validation import check_against_model, parse_betas, validate_messages
from ..salesforce.surfaces import Call
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
    if not parsed.stream:
        return JSONResponse(await surface.create(call))
    events = surface.stream(call)
    try:
        first = await anext(events)  # failures up to here still get a real HTTP status
    except StopAsyncIteration:
        raise GatewayError("api_error", "Salesforce returned an empty answer", status=500) from None
    return StreamingResponse(
        sse_body(first, events, request.state.request_id), media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS
    )


async def sse_body(first: dict, events: AsyncIterator[dict], request_id: str) -> AsyncIterator[bytes]:
    """Frame events as they arrive; a failure after the first byte becomes ``event: error``."""
    pinged = False
    try:
        event = first
        while True:
            yield frame(event)
            if not pinged and event["type"] == "content_block_start":
                pinged = True
                yield PING
            event = await anext(events)
    except StopAsyncIteration:
        return
    except GatewayError as exc:
        log.warning("stream failed: %s %s", exc.error_type, exc.message, extra={"request_id": request_id})
        yield frame({"type": "error", "error": {"type": exc.error_type, "message": exc.message}})
    except Exception:
        log.exception("stream failed", extra={"request_id": request_id})
        yield frame({"type": "error", "error": {"type": "api_error", "message": "Internal server error"}})
    finally:
        await events.aclose()
