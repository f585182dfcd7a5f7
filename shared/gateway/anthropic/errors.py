"""The Anthropic error envelope and the exception every layer raises to produce it."""

from __future__ import annotations

from ..jsoncodec import dumps
from ..redaction import mask_credentials

# Anthropic's error types and the HTTP status each one is served with.
STATUS_BY_TYPE: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


# What the SDKs retry by themselves: 408, 409, 429 and every 5xx (529 included).
RETRYABLE_STATUSES = frozenset({408, 409, 429})


class GatewayError(Exception):
    """An error the client must see in Anthropic's shape.

    Raised anywhere (validation, routing, backend mapping); the HTTP layer turns it into
    a JSON response before the first byte, or an ``event: error`` once a stream has begun.
    """

    def __init__(
        self,
        error_type: str,
        message: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        backend: bool = False,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        # Not redact(): a client's own string that equals a secret must come back as sent (no oracle);
        # Salesforce's words are masked where they enter (salesforce/errors.py backend_message).
        self.message = mask_credentials(message)
        self.backend = backend  # raised because Salesforce failed, not because the client did
        self.status = status or STATUS_BY_TYPE.get(error_type, 500)
        self.headers = headers or {}

    def response_headers(self) -> dict[str, str]:
        """The error's own headers, plus ``x-should-retry: false`` where retrying cannot help:
        the SDKs (and Claude Code, which retries a 401 for minutes otherwise) read it first."""
        if self.status < 500 and self.status not in RETRYABLE_STATUSES:
            return {"x-should-retry": "false", **self.headers}
        return self.headers

    def body(self, request_id: str | None) -> dict:
        return envelope(self.error_type, self.message, request_id)

    def event(self) -> dict:
        return error_event(self.error_type, self.message)


def error_event(error_type: str, message: str) -> dict:
    """The error as Anthropic sends it: the ``event: error`` payload, and the core of every envelope."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


def envelope(error_type: str, message: str, request_id: str | None) -> dict:
    """The JSON body of every error response (the app, the middleware, the HTTP server's own refusals)."""
    return {**error_event(error_type, message), "request_id": request_id}


def envelope_bytes(error_type: str, message: str, request_id: str | None) -> bytes:
    return dumps(envelope(error_type, message, request_id))


def internal_error() -> GatewayError:
    """What a client sees of a failure of our own: never the exception itself."""
    return GatewayError("api_error", "Internal server error")


def invalid_request(message: str) -> GatewayError:
    return GatewayError("invalid_request_error", message)


def model_not_found(model: object) -> GatewayError:
    return GatewayError("not_found_error", f"model: {model}")
