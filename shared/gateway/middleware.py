"""The gateway's one ASGI middleware: request ids, client auth, version header, size limit, last-resort 500.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses pass through untouched and unbuffered.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .anthropic import ids
from .anthropic.errors import GatewayError, envelope_bytes
from .client_auth import ApiKeyCheck

log = logging.getLogger("gateway")

# Paths that answer without a key: Claude Code's HEAD / probe and the readiness check.
OPEN_PATHS = frozenset({"/", "/health"})
VERSION_REQUIRED_PREFIX = "/v1/messages"


def error_response_parts(error: GatewayError, request_id: str) -> tuple[Message, Message]:
    headers = [(b"content-type", b"application/json"), (b"request-id", request_id.encode())]
    headers += [(k.lower().encode(), str(v).encode()) for k, v in error.headers.items()]
    body = envelope_bytes(error.error_type, error.message, request_id)
    return (
        {"type": "http.response.start", "status": error.status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, auth: ApiKeyCheck, max_body_bytes: int) -> None:
        self.app = app
        self.auth = auth
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ids.request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), (b"request-id", request_id.encode())]
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            for part in error_response_parts(refusal, request_id):
                await send(part)
            return
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"request_id": request_id})
            if not started:
                error = GatewayError("api_error", "Internal server error")
                for part in error_response_parts(error, request_id):
                    await send(part)

    def _refusal(self, scope: Scope) -> GatewayError | None:
        path = scope["path"]
        if path in OPEN_PATHS:
            return None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        denied = self.auth.check(headers)
        if denied is not None:
            return denied
        if scope["method"] == "POST" and path.startswith(VERSION_REQUIRED_PREFIX):
            if not headers.get("anthropic-version"):
                return GatewayError("invalid_request_error", "anthropic-version: header is required")
            length = headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                return GatewayError("request_too_large", "Request exceeds the maximum allowed number of bytes.")
        return None
