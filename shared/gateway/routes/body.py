"""Reading a JSON request body within the size limit and the memory it may take to parse."""

from __future__ import annotations

from starlette.requests import Request

from ..anthropic.errors import GatewayError, invalid_request
from ..anthropic.validation import parse_json_object
from ..services import Services

# Every JSON value but a body's first opens with `{` or `[`, or follows `,` or `:`.
_VALUE_MARKS = (b"{", b"[", b",", b":")


def services_of(request: Request) -> Services:
    return request.app.state.services


def too_large() -> GatewayError:
    return GatewayError("request_too_large", "Request exceeds the maximum allowed number of bytes.")


def json_values_at_most(raw: bytes | bytearray) -> int:
    """An upper bound on the values a JSON text parses into, in a few ms for 32 MB.

    Marks inside strings count too, so prose or code only makes the bound looser, never too small;
    what it catches is millions of tiny values (``[{},{},...]``), each ~100 bytes once parsed."""
    return sum(raw.count(mark) for mark in _VALUE_MARKS)


async def read_json(request: Request) -> dict:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise invalid_request(f"Content-Type must be application/json, not {content_type}")
    settings = services_of(request).settings
    limit = settings.max_body_bytes
    raw = bytearray()  # one growing buffer: a list of chunks joined at the end held the body twice
    async for chunk in request.stream():
        if len(raw) + len(chunk) > limit:
            raise too_large()
        raw += chunk
    request.state.body_bytes = len(raw)
    values = json_values_at_most(raw)
    if values > settings.max_json_values:
        raise GatewayError(
            "request_too_large",
            f"Request body has too many JSON values to parse: up to {values} (at most {settings.max_json_values}).",
        )
    return parse_json_object(raw)
