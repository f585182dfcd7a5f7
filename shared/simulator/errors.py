"""Salesforce's error bodies and the ``[[error:CODE]]`` directive that asks for one."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from .model import Directives, Turn

ERROR_TEXT = {
    400: ("INVALID_INPUT", "Bad request"),
    401: ("INVALID_AUTH", "Access bearer token is missing or invalid"),
    403: ("FORBIDDEN", "User forbidden from accessing the resource"),
    404: ("NOT_FOUND", "Resource not found"),
    408: ("TIMEOUT", "Request timed out"),
    413: ("PAYLOAD_TOO_LARGE", "Request entity too large"),
    423: ("NOT_FOUND", "Server is busy and cannot process the request at this time"),
    429: ("LIMIT_EXCEEDED", "Too many requests for the server to handle"),
    500: ("INTERNAL_ERROR", "Internal server error"),
    502: ("BAD_GATEWAY", "Bad gateway"),
    503: ("INTERNAL_ERROR", "Service is unavailable"),
    504: ("GATEWAY_TIMEOUT", "Gateway timeout"),
}


class SalesforceError(Exception):
    def __init__(self, status: int, message: str | None = None, headers: dict[str, str] | None = None) -> None:
        code, default = ERROR_TEXT.get(status, ("ERROR", "Error"))
        super().__init__(message or default)
        self.status, self.code, self.message, self.headers = status, code, message or default, headers or {}

    def body(self) -> dict:
        return {"errorCode": self.code, "messageCode": f"E{self.status:05d}", "message": self.message}

    def response(self, status: int | None = None) -> Response:
        return JSONResponse(self.body(), status_code=status or self.status, headers=self.headers)


def error_for(found: Directives, turn: Turn, attempts: dict[str, int]) -> SalesforceError | None:
    if found.error is None:
        return None
    variant = found.error_variant or ""
    if variant.startswith("first-"):
        key = turn.all_text
        attempts[key] = attempts.get(key, 0) + 1
        if attempts[key] > int(variant[6:] or 0):
            return None
    headers = {"Retry-After": "1"} if found.error == 429 and found.error_variant != "no-retry-after" else {}
    return SalesforceError(found.error, headers=headers)


