"""Reading a JSON request body within the size limit."""

from __future__ import annotations

from starlette.requests import Request

from ..anthropic.errors import GatewayError, invalid_request
from ..anthropic.validation import parse_json_object
from ..services import Services


def services_of(request: Request) -> Services:
    return request.app.state.services


async def read_json(request: Request) -> dict:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise invalid_request(f"Content-Type must be application/json, not {content_type}")
    limit = services_of(request).settings.max_body_bytes
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise GatewayError("request_too_large", "Request exceeds the maximum allowed number of bytes.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    request.state.body_bytes = len(raw)
    return parse_json_object(raw)
