"""AWS event-stream decoding for ``invoke-with-response-stream``, with botocore's parser.

Each ``event`` frame carries ``{"bytes": "<base64 Anthropic event JSON>"}``; an ``exception``
frame carries the Bedrock exception type in its headers and a ``{"message"}`` payload.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

from .. import redaction
from ..anthropic.errors import GatewayError
from ..jsoncodec import loads
from .errors import CallContext, is_overflow, overflow_error

MEDIA_TYPE = "application/vnd.amazon.eventstream"

# Bedrock exception types -> Anthropic error types.
EXCEPTION_TYPES = {
    "throttlingException": "rate_limit_error",
    "serviceUnavailableException": "overloaded_error",
    "modelNotReadyException": "overloaded_error",
    "validationException": "invalid_request_error",
    "modelTimeoutException": "timeout_error",
    "internalServerException": "api_error",
    "modelStreamErrorException": "api_error",
}


def exception_error(exception_type: str, payload: bytes, ctx: CallContext | None = None) -> GatewayError:
    try:
        message = redaction.clip(str(loads(payload).get("message") or exception_type), 500)
    except (ValueError, AttributeError):
        message = redaction.clip(payload.decode("utf-8", "replace"), 500) or exception_type
    error_type = EXCEPTION_TYPES.get(exception_type, "api_error")
    if error_type == "invalid_request_error" and is_overflow(message):
        # Claude Code compacts only on Anthropic's exact "prompt is too long: N tokens > M maximum".
        error = overflow_error(ctx, message) if ctx else GatewayError("invalid_request_error", message)
        error.backend = True
        return error
    return GatewayError(error_type, f"Salesforce stream error ({exception_type}): {message}", backend=True)


async def decode(chunks: AsyncIterator[bytes], ctx: CallContext | None = None) -> AsyncIterator[dict]:
    """Anthropic events from raw event-stream bytes, as soon as each frame is complete."""
    from botocore.eventstream import EventStreamBuffer, ParserError  # lazy: keeps cold start light

    buffer = EventStreamBuffer()
    async for chunk in chunks:
        buffer.add_data(chunk)
        try:
            messages = list(buffer)
        except ParserError as exc:
            raise GatewayError(
                "api_error", f"Salesforce sent a corrupt event stream ({type(exc).__name__})", backend=True
            ) from None
        for message in messages:
            kind = message.headers.get(":message-type")
            if kind == "exception" or kind == "error":
                name = message.headers.get(":exception-type") or message.headers.get(":error-code") or "unknown"
                raise exception_error(str(name), message.payload, ctx)
            if kind != "event":
                continue
            try:
                envelope = loads(message.payload)
                yield loads(base64.b64decode(envelope["bytes"]))
            except (ValueError, KeyError, TypeError):
                raise GatewayError(
                    "api_error", "Salesforce sent an event-stream frame that is not JSON", backend=True
                ) from None
