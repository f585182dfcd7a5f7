"""Where Salesforce errors become Anthropic errors.

Salesforce answers with ``{"errorCode","messageCode","message"}`` (sometimes in a list), the
Bedrock-style surface with ``{"message"}`` or Anthropic's own envelope, chat/generations with
OpenAI-like ``{"error":{...}}``. All of them map to Anthropic's type by HTTP status, except a
context overflow, which must read exactly ``prompt is too long: N tokens > M maximum`` because
Claude Code parses that text to drive auto-compaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .. import redaction
from ..anthropic.errors import GatewayError
from ..jsoncodec import loads

_OVERFLOW = re.compile(
    r"prompt is too long|context[ _]length|context window|maximum context|too many (?:input )?tokens"
    r"|input is too long|exceeds? the (?:model'?s? )?(?:maximum|context)",
    re.IGNORECASE,
)
_NUMBERS = re.compile(r"(\d[\d,]*)\s*tokens?\s*>\s*(\d[\d,]*)")
MAX_DETAIL = 500


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the error mapper needs to know about the call that failed."""

    model: str
    salesforce_model: str
    context_window: int
    input_tokens: int | Callable[[], int]  # a count, or how to make one: only an error needs it

    def input_token_count(self) -> int:
        return self.input_tokens() if callable(self.input_tokens) else self.input_tokens


def _error_object(text: str | bytes) -> dict | None:
    """The error body as an object, when it is one (Salesforce sometimes wraps it in a list)."""
    try:
        data = loads(text)
    except ValueError:
        return None
    if isinstance(data, list) and data:
        data = data[0]
    return data if isinstance(data, dict) else None


def backend_message(body: bytes) -> str:
    """The human-readable message in any of the error shapes Salesforce surfaces use: ``errorCode``/``message``
    (alone or a list of them), OAuth's ``error``/``error_description``, ``{"error": {"message"}}``, a bare
    ``message``, or plain text; several messages in a list are joined."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = loads(text)
    except ValueError:
        return redaction.clip(text, MAX_DETAIL)
    found = _messages(data, 0)
    return redaction.clip("; ".join(dict.fromkeys(found)) if found else text, MAX_DETAIL)


_MESSAGE_KEYS = ("message", "Message", "errorMessage", "error_description", "detail")


def _messages(data: object, depth: int) -> list[str]:
    if isinstance(data, str):
        return [data] if data else []
    if depth > 3:
        return []
    if isinstance(data, list):
        return [m for item in data[:10] for m in _messages(item, depth + 1)]
    if not isinstance(data, dict):
        return []
    for key in _MESSAGE_KEYS:
        if isinstance(data.get(key), str) and data[key]:
            return [data[key]]
    for key in ("error", "errors"):
        found = _messages(data.get(key), depth + 1)
        if found:
            return found
    return []


# Keys that only an error body has, and keys an error envelope may have besides its message.
_ERROR_KEYS = ("errorCode", "error", "errors", "error_description")
_ENVELOPE_KEYS = frozenset({*_MESSAGE_KEYS, "messageCode", "code", "status", "statusCode", "requestId", "timestamp"})


def is_error_body(data: object) -> bool:
    """Whether a parsed 200 answer is in fact an error (seen under load), in any of the shapes errors take."""
    if isinstance(data, str):
        return True
    if isinstance(data, list):
        return bool(data) and all(is_error_body(item) for item in data)
    if not isinstance(data, dict):
        return False
    if data.get("type") == "error" or any(data.get(key) for key in _ERROR_KEYS):
        return True
    return bool(data) and data.keys() <= _ENVELOPE_KEYS and bool(_messages(data, 0))


def empty_answer(what: str = "answer") -> GatewayError:
    """Salesforce answered with nothing (seen under load): a retryable 529, never an empty turn that the
    client would send back and have refused ("all messages must have non-empty content")."""
    return GatewayError("overloaded_error", f"Salesforce returned an empty {what}", backend=True)


def not_a_stream(body: bytes) -> GatewayError:
    """A streamed call answered with something else (a JSON or text error in a 200): retryable, as above."""
    detail = backend_message(body)
    return GatewayError("overloaded_error", f"Salesforce answered without a stream: {detail or 'empty'}", backend=True)


def error_in_200(body: bytes, ctx: CallContext) -> GatewayError:
    """A 200 that carries an error: retryable (529), unless it says the prompt does not fit."""
    detail = backend_message(body)
    if is_overflow(detail):
        return map_status(400, body, {}, ctx)
    return GatewayError(
        "overloaded_error", f"Salesforce answered with an error: {detail or 'empty answer'}", backend=True
    )


# Salesforce's 502 to thinking, thinking history or betas on older Claude models: the same request fails the
# same way again, so it is not retried as such (the Bedrock surface retries it once without those flags).
NO_USER_CONTEXT = re.compile(r"no user context", re.IGNORECASE)


def repeats_on_retry(status: int, body: bytes) -> bool:
    """A 5xx that names a property of the request itself, not a passing fault: retrying it as is cannot help."""
    return status >= 500 and bool(NO_USER_CONTEXT.search(backend_message(body)))


def is_overflow(detail: str) -> bool:
    """Any of the ways Salesforce's backends say the prompt does not fit the context window."""
    return bool(_OVERFLOW.search(detail))


def overflow_error(ctx: CallContext, detail: str = "") -> GatewayError:
    found = _NUMBERS.search(detail)
    if found:
        used, limit = (int(g.replace(",", "")) for g in found.groups())
    else:
        limit = ctx.context_window
        used = max(ctx.input_token_count(), limit + 1)
    return GatewayError("invalid_request_error", f"prompt is too long: {used} tokens > {limit} maximum")


def map_status(status: int, body: bytes, headers: dict[str, str], ctx: CallContext) -> GatewayError:
    error = _map_status(status, body, headers, ctx)
    error.backend = True
    return error


def _map_status(status: int, body: bytes, headers: dict[str, str], ctx: CallContext) -> GatewayError:
    detail = backend_message(body)
    if status in (400, 413, 422) and is_overflow(detail):
        return overflow_error(ctx, detail)
    # The client waits as long as Salesforce asked before its own retry: the gateway does not retry a 429.
    retry = {k.lower(): v for k, v in headers.items() if k.lower() in ("retry-after", "retry-after-ms")}
    if status == 429:
        return GatewayError(
            "rate_limit_error", f"Salesforce rate limit reached: {detail or 'too many requests'}", headers=retry
        )
    if status in (423, 503):
        return GatewayError("overloaded_error", f"Salesforce is overloaded: {detail or 'server busy'}", headers=retry)
    if status == 404:
        return GatewayError(
            "not_found_error",
            f"model: {ctx.model} (Salesforce model {ctx.salesforce_model} is not available: {detail or 'not found'})",
        )
    if status == 401:
        return GatewayError("api_error", "Salesforce rejected the gateway's credentials", status=500)
    if status == 403:
        return GatewayError("permission_error", f"Salesforce denied access: {detail or 'forbidden'}")
    if status == 413:
        return GatewayError("request_too_large", f"Salesforce rejected the request size: {detail}")
    if status in (408, 504):
        return GatewayError("timeout_error", f"Salesforce timed out: {detail or 'gateway timeout'}")
    if 400 <= status < 500:
        return GatewayError("invalid_request_error", detail or f"Salesforce rejected the request (HTTP {status})")
    return GatewayError("api_error", f"Salesforce error (HTTP {status}): {detail or 'internal error'}", status=500)


def transport_error(exc: BaseException) -> GatewayError:
    """A failure with no HTTP answer at all (refused, reset, timed out)."""
    import httpx  # loaded already by whoever raised exc; imported here to keep this module light

    if isinstance(exc, httpx.TimeoutException):
        return GatewayError("timeout_error", "Salesforce did not answer in time", backend=True)
    return GatewayError("api_error", f"Salesforce is unreachable ({type(exc).__name__})", status=500, backend=True)


def _error_code(body: bytes) -> str:
    data = _error_object(body) or {}
    inner = data.get("error")
    code = data.get("errorCode") or (inner.get("code") if isinstance(inner, dict) else "")
    return str(code or "").upper()


def stream_error(body: bytes, ctx: CallContext) -> GatewayError:
    """An error sent as a stream event, with no HTTP status to go by: the status its code and text stand
    for is mapped like any other, so a rate limit or a busy backend inside the stream's grace period still
    reaches the client as 429 / 529, and an overflow with Claude Code's text."""
    detail = backend_message(body)
    code, lowered = _error_code(body), detail.lower()
    if is_overflow(detail):
        return map_status(400, body, {}, ctx)
    if "LIMIT_EXCEEDED" in code or "RATE_LIMIT" in code or "too many requests" in lowered:
        return map_status(429, body, {}, ctx)
    if code in ("SERVICE_UNAVAILABLE", "SERVER_BUSY", "OVERLOADED") or "busy" in lowered or "unavailable" in lowered:
        return map_status(503, body, {}, ctx)
    return GatewayError("api_error", f"Salesforce stream error: {detail or 'unknown'}", backend=True)
