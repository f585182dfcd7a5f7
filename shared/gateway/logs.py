"""Logging: one ``gateway`` logger, the request id on every line, secrets masked, JSON when deployed."""

from __future__ import annotations

import contextvars
import logging
import os
import re
import sys
from typing import Any

from . import redaction

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

log = logging.getLogger("gateway")


class RequestContextFilter(logging.Filter):
    """Adds the gateway's request id and API Gateway's request id (correlation id) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = correlation_id_var.get()
        record.request_tag = f" [{record.request_id}]" if record.request_id else ""
        return True


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """``\\n``, ``\\x1b``...: a path like ``/v1/x%0A2026-12-01 INFO POST ...`` stays on its own line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _indented(traceback_text: str) -> str:
    """Every traceback line indented, so none can pass for a log line of its own."""
    return "\n".join("  " + escape_controls(line) for line in traceback_text.splitlines())


class RedactingFilter(logging.Filter):
    """Masks registered secrets and escapes control characters (client text reaches the logs through
    paths, headers and model ids), in the message and the exception text, whatever the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = escape_controls(redaction.redact(message))
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = _indented(redaction.redact(text))
        return True


def _json_formatter(service: str) -> logging.Formatter:
    """Powertools' formatter, with the traceback masked too (it formats the exception itself)."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class Formatter(LambdaPowertoolsFormatter):
        def formatException(self, ei: Any) -> str:
            return redaction.redact(super().formatException(ei))

    # serialize_stacktrace would add the exception's unmasked str(); the masked traceback says it all.
    return Formatter(service=service, serialize_stacktrace=False)


def configure(json_output: bool | None = None, level: str | None = None) -> None:
    """Idempotent; JSON (Powertools' formatter) when running in Lambda unless told otherwise."""
    if getattr(log, "_gateway_configured", False):
        return
    json_output = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) if json_output is None else json_output
    handler = logging.StreamHandler(sys.stdout)
    if json_output:
        handler.setFormatter(_json_formatter(os.environ.get("POWERTOOLS_SERVICE_NAME", "gateway")))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s%(request_tag)s"))
    handler.addFilter(RequestContextFilter())
    handler.addFilter(RedactingFilter())
    log.addHandler(handler)
    log.setLevel(level or os.environ.get("LOG_LEVEL", "INFO"))
    log.propagate = False
    log._gateway_configured = True  # type: ignore[attr-defined]
    logging.getLogger("httpx").setLevel(logging.WARNING)
