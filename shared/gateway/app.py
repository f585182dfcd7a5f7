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
from .routes import ALL_GROUPS, routes_of
from .services import Services
from .settings import Settings
from .telemetry import Telemetry, from_environment


def _error_response(request: Request, error: GatewayError) -> Response:
    request.state.sample.error_type = error.error_type
    request.state.sample.backend_error = error.backend
    body = error.body(request.state.request_id)
    return JSONResponse(body, status_code=error.status, headers=error.response_headers())


def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return _error_response(request, exc)


def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 / 405 in Anthropic's envelope."""
    assert isinstance(exc, HTTPException)
    error_type = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    return _error_response(
        request, GatewayError(error_type, exc.detail, status=exc.status_code, headers=dict(exc.headers or {}))
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
    routes = routes_of(groups)

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
