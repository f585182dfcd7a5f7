"""The one app factory: the local server and every Lambda function are built here, from route groups."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from . import logs
from .anthropic.errors import GatewayError
from .middleware import GatewayMiddleware
from .responses import JSONResponse
from .routes import ALL_GROUPS, ROUTE_GROUPS
from .services import Services
from .settings import Settings
from .telemetry import Telemetry, from_environment


def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    request.state.sample.error_type = exc.error_type
    request.state.sample.backend_error = exc.backend
    return JSONResponse(exc.body(request.state.request_id), status_code=exc.status, headers=exc.response_headers())


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error_type = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    request.state.sample.error_type = error_type
    error = GatewayError(error_type, exc.detail, status=exc.status_code, headers=dict(exc.headers or {}))
    return JSONResponse(
        error.body(request.state.request_id), status_code=error.status, headers=error.response_headers()
    )


def create_app(
    groups: Iterable[str] = ALL_GROUPS,
    *,
    settings: Settings | None = None,
    services: Services | None = None,
    telemetry: Telemetry | None = None,
) -> Starlette:
    logs.configure()
    settings = settings or (services.settings if services else Settings.from_env())
    services = services or Services.from_settings(settings)
    unknown = set(groups) - set(ROUTE_GROUPS)
    if unknown:
        raise ValueError(f"unknown route groups: {sorted(unknown)}")
    routes = [route for name in groups for route in ROUTE_GROUPS[name]]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await services.aclose()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                GatewayMiddleware,
                auth=services.auth,
                max_body_bytes=settings.max_body_bytes,
                telemetry=telemetry or from_environment(),
            )
        ],
        exception_handlers={GatewayError: _gateway_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # /v1/messages/ is a 404, not a redirect that exposes our host
    app.state.services = services
    return app
