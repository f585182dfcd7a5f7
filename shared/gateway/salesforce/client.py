"""The one pooled HTTP client to Salesforce: auth headers, one re-mint on 401, status mapping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from ..anthropic.errors import GatewayError
from ..settings import Settings
from .errors import CallContext, map_status, transport_error
from .oauth import Credentials, TokenProvider

# Required on every Models API and LLM Gateway call ("reserved for future use" in the spec).
SALESFORCE_HEADERS = {
    "x-sfdc-app-context": "EinsteinGPT",
    "x-client-feature-id": "ai-platform-models-connected-app",
    "content-type": "application/json",
}

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def build_http(settings: Settings) -> httpx.AsyncClient:
    timeout = httpx.Timeout(settings.sf_read_timeout, connect=settings.sf_connect_timeout)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=60)
    return httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False)


class SalesforceClient:
    def __init__(
        self,
        settings: Settings,
        credentials: Callable[[], Credentials] | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.http = http or build_http(settings)
        self.tokens = TokenProvider(
            self.http, credentials or settings.credentials, api_base_override=settings.sf_api_base_url
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _send(self, path: str, payload: Any, ctx: CallContext, stream: bool) -> httpx.Response:
        content = payload if isinstance(payload, bytes) else _encode(payload).encode()
        stale: str | None = None
        for _attempt in range(2):
            token = await self.tokens.get(stale=stale)
            headers = dict(SALESFORCE_HEADERS, authorization=f"Bearer {token.value}")
            request = self.http.build_request("POST", token.api_base + path, content=content, headers=headers)
            try:
                response = await self.http.send(request, stream=stream)
            except httpx.HTTPError as exc:
                raise transport_error(exc) from None
            if response.status_code == 401 and stale is None:
                await response.aclose()
                stale = token.value
                continue
            if response.status_code >= 400:
                try:
                    body = await response.aread()
                except httpx.HTTPError:
                    body = b""
                finally:
                    await response.aclose()
                raise map_status(response.status_code, body, dict(response.headers), ctx)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def post_json(self, path: str, payload: Any, ctx: CallContext) -> Any:
        """POST and return the parsed JSON answer."""
        response = await self._send(path, payload, ctx, stream=False)
        try:
            return response.json()
        except ValueError:
            raise GatewayError(
                "api_error", "Salesforce returned a body that is not JSON", status=500, backend=True
            ) from None

    @asynccontextmanager
    async def post_stream(self, path: str, payload: Any, ctx: CallContext) -> AsyncIterator[httpx.Response]:
        """POST and hand over the open response once its status is known to be good."""
        response = await self._send(path, payload, ctx, stream=True)
        try:
            yield response
        finally:
            await response.aclose()
