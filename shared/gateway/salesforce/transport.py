"""The one pooled HTTP connection pool to Salesforce: httpx's transport, used directly.

``httpx.AsyncClient`` adds URL merging, cookie jars, auth flows and redirect handling to every call;
none of them apply here, and on a loopback benchmark they cost more than the rest of the gateway.
The transport (httpcore's pool) is httpx's own public interface one level down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from ..settings import Settings


class Transport:
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        # Keep as many idle connections as may be busy: a smaller keep-alive pool churns connections
        # (and httpcore's pool bookkeeping) under load.
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256, keepalive_expiry=60)
        self._transport = transport or httpx.AsyncHTTPTransport(limits=limits, trust_env=False, retries=0)
        self._urls: dict[str, httpx.URL] = {}
        self._timeout = httpx.Timeout(settings.sf_read_timeout, connect=settings.sf_connect_timeout).as_dict()

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        data: dict[str, Any] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """The response; its body is read unless ``stream``, in which case the caller closes it."""
        request = httpx.Request(
            method, self._url(url), headers=headers, content=content, data=data, extensions={"timeout": self._timeout}
        )
        response = await self._transport.handle_async_request(request)
        response.request = request
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response

    def _url(self, url: str) -> httpx.URL:
        """Parsed once per distinct URL: parsing is a visible share of a call's CPU."""
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) > 1024:
                self._urls.clear()
            parsed = self._urls[url] = httpx.URL(url)
        return parsed

    async def aclose(self) -> None:
        await self._transport.aclose()
