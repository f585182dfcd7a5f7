"""Per-request telemetry: structured logs and CloudWatch metrics (EMF through Powertools).

Locally nothing is emitted beyond plain logs; a deployment sets ``POWERTOOLS_METRICS_NAMESPACE``
and every request flushes one small set of EMF blobs to stdout, which CloudWatch turns into the
metrics the dashboard reads (``METRICS``). Powertools is imported only when enabled.
"""

from __future__ import annotations

import os
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

SERVICE = "sf-anthropic-gateway"
# Metric name -> (unit, dimension names besides "service"). The dashboard reads exactly these.
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Requests": ("Count", ("Route",)),
    "Latency": ("Milliseconds", ("Route",)),
    "TimeToFirstByte": ("Milliseconds", ("Route",)),
    "BackendLatency": ("Milliseconds", ("Model",)),
    "InputTokens": ("Count", ("Model",)),
    "OutputTokens": ("Count", ("Model",)),
    "Errors": ("Count", ("ErrorType",)),
    "BackendErrors": ("Count", ()),  # one series, so the alarm can divide it by Requests
    "ColdStart": ("Count", ()),
    # Requests sent without thinking / thinking history / betas because the model refused them (a 502).
    "ThinkingFallbacks": ("Count", ("Model",)),
    # Per developer (the key's owner, never the key): one series per developer and metric.
    "DeveloperRequests": ("Count", ("Developer",)),
    "DeveloperTokens": ("Count", ("Developer",)),
}


@dataclass(slots=True)
class RequestSample:
    """What one request did; the HTTP layer fills it in as it learns each part."""

    route: str
    started: float
    status: int = 0
    first_byte: float | None = None
    error_type: str | None = None
    backend_error: bool = False
    model: str | None = None
    backend_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    thinking_fallback: bool = False
    developer: str | None = None  # the key's owner (client_auth), never the key
    session_id: str | None = None  # Claude Code's x-claude-code-session-id
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    settled: bool = False  # usage added to the developer's month (client_auth.settle)

    @property
    def total_tokens(self) -> int:
        """What a token budget counts: input + output + cache reads and writes."""
        parts = (self.input_tokens, self.output_tokens, self.cache_read_tokens, self.cache_creation_tokens)
        return sum(p or 0 for p in parts)

    def elapsed_ms(self, at: float | None = None) -> float:
        return ((at if at is not None else time.perf_counter()) - self.started) * 1000


# The sample of the request being served, for the layers below the HTTP one (the middleware sets it).
current_sample: ContextVar[RequestSample | None] = ContextVar("current_sample", default=None)


def note_thinking_fallback() -> None:
    """The request being served went to Salesforce without the thinking it asked for."""
    sample = current_sample.get()
    if sample is not None:
        sample.thinking_fallback = True


class Telemetry:
    """Emits nothing; the deployment uses :class:`EmfTelemetry`."""

    def record(self, sample: RequestSample) -> None:
        return None


class EmfTelemetry(Telemetry):
    def __init__(self, namespace: str) -> None:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        self._single_metric = single_metric
        self._units = {"Count": MetricUnit.Count, "Milliseconds": MetricUnit.Milliseconds}
        self.namespace = namespace
        self._cold = True

    def _emit(self, name: str, value: float, **dimensions: str) -> None:
        unit, _dims = METRICS[name]
        with self._single_metric(
            name=name,
            unit=self._units[unit],
            value=value,
            namespace=self.namespace,
            default_dimensions={"service": SERVICE},
        ) as metric:
            for key, dim_value in dimensions.items():
                metric.add_dimension(name=key, value=dim_value)

    def record(self, sample: RequestSample) -> None:
        if self._cold:
            self._cold = False
            self._emit("ColdStart", 1)
        route = sample.route
        self._emit("Requests", 1, Route=route)
        self._emit("Latency", sample.elapsed_ms(), Route=route)
        if sample.first_byte is not None:
            self._emit("TimeToFirstByte", sample.elapsed_ms(sample.first_byte), Route=route)
        if sample.model:
            if sample.backend_ms is not None:
                self._emit("BackendLatency", sample.backend_ms, Model=sample.model)
            if sample.input_tokens is not None:
                self._emit("InputTokens", sample.input_tokens, Model=sample.model)
            if sample.output_tokens is not None:
                self._emit("OutputTokens", sample.output_tokens, Model=sample.model)
            if sample.thinking_fallback:
                self._emit("ThinkingFallbacks", 1, Model=sample.model)
        if sample.developer:
            self._emit("DeveloperRequests", 1, Developer=sample.developer)
            if sample.total_tokens:
                self._emit("DeveloperTokens", sample.total_tokens, Developer=sample.developer)
        if sample.error_type:
            self._emit("Errors", 1, ErrorType=sample.error_type)
            if sample.backend_error:
                self._emit("BackendErrors", 1)


def from_environment(env: Any = None) -> Telemetry:
    env = os.environ if env is None else env
    namespace = env.get("POWERTOOLS_METRICS_NAMESPACE")
    return EmfTelemetry(namespace) if namespace else Telemetry()
