"""``POST /v1/messages``: validate, route, call the model's surface, answer as JSON or SSE."""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..anthropic import ids
from ..anthropic.sse import SSE_HEADERS, SSE_MEDIA_TYPE
from ..anthropic.validation import fit_to_model, parse_betas, validate_messages
from ..responses import JSONResponse
from ..salesforce.surfaces import Call
from ..telemetry import RequestSample
from ..translate import structured
from .body import read_json, services_of
from .streaming import (
    BackendStream,
    ClientDisconnected,
    count_usage,
    placeholder_start,
    rewritten,
    unless_disconnected,
)

log = logging.getLogger("gateway")


async def create_message(request: Request) -> Response:
    services = services_of(request)
    body = await read_json(request)
    parsed = validate_messages(body, parse_betas(request.headers.get("anthropic-beta")))
    models = await services.model_map()
    route = models.route(parsed.model)
    fit_to_model(parsed, parsed.model, route.entry.max_output_tokens, clamp=route.by_pattern)
    shaped = structured.prepare(parsed, route.entry, models)  # output_config.format, per surface
    surface = services.surfaces[route.entry.surface]
    call = Call(parsed, route, ids.message_id(), body_bytes=request.state.body_bytes)
    surface.check(call, models)
    sample: RequestSample = request.state.sample
    sample.model = route.entry.id
    await services.auth.check_budget(request.state)  # over the developer's monthly tokens: 429, no retry
    sent = time.perf_counter()
    settings = services.settings
    if not parsed.stream:
        try:
            message = await unless_disconnected(request.receive, surface.create(call))
        except ClientDisconnected:
            return Response(status_code=499)  # nobody is listening; the backend call was cancelled
        sample.backend_ms = (time.perf_counter() - sent) * 1000
        count_usage(sample, message["usage"])
        return JSONResponse(shaped.message(message) if shaped else message)
    events = surface.stream(call)
    stream = BackendStream(rewritten(events, shaped.stream().feed) if shaped else events, settings.stream_keepalive)
    try:
        first = await stream.first(settings.stream_grace, request.receive)  # failures here get a real status
    except ClientDisconnected:
        return Response(status_code=499)
    sample.backend_ms = (time.perf_counter() - sent) * 1000
    # Our own message_start only when the backend has not sent its own yet (it needs a token count).
    placeholder = placeholder_start(call.message_id, call.model, call.input_estimate) if first is None else None
    return StreamingResponse(stream.sse(first, placeholder, sample), media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS)
