"""``HEAD /`` and ``HEAD /api/hello`` (Claude Code's connectivity probes) and the readiness path."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..responses import JSONResponse


async def root(request: Request) -> Response:
    return JSONResponse({"name": "sf-anthropic-gateway", "status": "ok"})


async def ready(request: Request) -> Response:
    return JSONResponse({"status": "ok"})
