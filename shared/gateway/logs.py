"""Logging: one ``gateway`` logger, the request id on every line, secrets masked, JSON when deployed."""

from __future__ import annotations

import contextvars
import logging
import os
import sys

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


class RedactingFilter(logging.Filter):
    """Masks registered secrets in the message and the exception text, whatever the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redaction.redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redaction.redact(text)
        return True


def configure(json_output: bool | None = None, level: str | None = None) -> None:
    """Idempotent; JSON (Powertools' formatter) when running in Lambda unless told otherwise."""
    if getattr(log, "_gateway_configured", False):
        return
    json_output = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) if json_output is None else json_output
    handler = logging.StreamHandler(sys.stdout)
    if json_output:
        from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

        handler.setFormatter(LambdaPowertoolsFormatter(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "gateway")))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s%(request_tag)s"))
    handler.addFilter(RequestContextFilter())
    handler.addFilter(RedactingFilter())
    log.addHandler(handler)
    log.setLevel(level or os.environ.get("LOG_LEVEL", "INFO"))
    log.propagate = False
    log._gateway_configured = True  # type: ignore[attr-defined]
    logging.getLogger("httpx").setLevel(logging.WARNING)
