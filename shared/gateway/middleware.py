"""The gateway's one ASGI middleware: request ids, client auth, version header, size limit,
telemetry, and the last-resort 500.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses pass through untouched and unbuffered.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .anthropic import ids
from .anthropic.errors import GatewayError, envelope_bytes, internal_error
from .client_auth import ApiKeyCheck
from .jsoncodec import loads
from .logs import correlation_id_var, request_id_var
from .routes import matched_route
from .telemetry import RequestSample, Telemetry, current_sample

log = logging.getLogger("gateway")

VERSION_REQUIRED_PREFIX = "/v1/messages"
CLIENT_CLOSED = 499  # nginx's "client closed request": logged and counted, never a 5xx


def error_response_parts(error: GatewayError, request_id: str) -> tuple[Message, Message]:
    headers = [(b"content-type", b"application/json"), (b"request-id", request_id.encode())]
    headers += [(k.lower().encode(), str(v).encode()) for k, v in error.response_headers().items()]
    body = envelope_bytes(error.error_type, error.message, request_id)
    return (
        {"type": "http.response.start", "status": error.status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


def correlation_id(scope: Scope, headers: dict[str, str]) -> str | None:
    """API Gateway's request id: from Mangum's event, or the Lambda Web Adapter's context header."""
    event = scope.get("aws.event")
    if isinstance(event, dict):
        return (event.get("requestContext") or {}).get("requestId")
    raw = headers.get("x-amzn-request-context")
    if raw:
        try:
            value = loads(raw).get("requestId")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None
    return None


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, auth: ApiKeyCheck, max_body_bytes: int, telemetry: Telemetry) -> None:
        self.app = app
        self.auth = auth
        self.max_body_bytes = max_body_bytes
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ids.request_id()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        route = matched_route(scope)  # the whole table: a function without /health still lets it through
        sample = RequestSample(route=route.name if route else "other", started=time.perf_counter())
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["sample"] = sample
        request_id_var.set(request_id)
        current_sample.set(sample)
        correlation_id_var.set(correlation_id(scope, headers))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                await self.auth.settle(sample)  # the developer's tokens, counted before the last byte
            if message["type"] == "http.response.start":
                sample.status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"request-id", request_id.encode())]
            elif sample.first_byte is None and message.get("body"):
                sample.first_byte = time.perf_counter()
            await send(message)

        try:
            try:
                refusal = self._refusal(scope, headers) if route is None or route.keyed else None
            except Exception:  # the key store itself failed (a corrupt key file, DynamoDB down)
                log.exception("client key check failed")
                refusal = internal_error()
            if refusal is not None:
                await self._send_error(refusal, request_id, sample, send)
                return
            try:
                await self.app(scope, receive, send_with_id)
            except ClientDisconnect:  # gone mid-upload: nobody to answer, and not our failure
                timed_out = state.get("request_timeout")  # set by http_server.py's body read timeout
                sample.status = sample.status or (408 if timed_out else CLIENT_CLOSED)
            except Exception:
                log.exception("unhandled error")
                if not sample.status:
                    await self._send_error(internal_error(), request_id, sample, send)
        finally:
            # A stream the client left has no last byte, but Salesforce already billed what it sent.
            try:
                await self.auth.settle(sample)
            except Exception:
                log.exception("usage accounting failed")
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    sample.status,
                    extra={
                        "route": sample.route,
                        "status": sample.status,
                        "latency_ms": round(sample.elapsed_ms(), 2),
                        "model": sample.model,
                        "error_type": sample.error_type,
                        "input_tokens": sample.input_tokens,
                        "output_tokens": sample.output_tokens,
                        "cache_read_tokens": sample.cache_read_tokens,
                        "cache_creation_tokens": sample.cache_creation_tokens,
                        "developer": sample.developer,  # the key's owner, never the key
                        "session_id": sample.session_id,  # x-claude-code-session-id
                    },
                )
            try:
                self.telemetry.record(sample)
            except Exception:
                log.exception("telemetry failed")

    @staticmethod
    async def _send_error(error: GatewayError, request_id: str, sample: RequestSample, send: Send) -> None:
        """An error response built here (it already carries the request-id header)."""
        sample.status, sample.error_type = error.status, error.error_type
        for part in error_response_parts(error, request_id):
            await send(part)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> GatewayError | None:
        denied = self.auth.check(headers, scope)  # also notes the developer
        if denied is not None:
            return denied
        if scope["method"] == "POST" and scope["path"].startswith(VERSION_REQUIRED_PREFIX):
            if not headers.get("anthropic-version"):
                return GatewayError("invalid_request_error", "anthropic-version: header is required")
            length = headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                return GatewayError("request_too_large", "Request exceeds the maximum allowed number of bytes.")
        return None
