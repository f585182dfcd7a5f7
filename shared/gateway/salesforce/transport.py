"""The one way out to Salesforce: httpx's own transport (httpcore), used directly.

``httpx.AsyncClient`` adds URL merging, cookie jars, auth flows and redirect handling to every call;
none of them apply here, and on a loopback benchmark they cost more than the rest of the gateway.
Lambda containers serve one request at a time, so one pool with keep-alive is all a call needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from ..settings import Settings


MAX_CONNECTIONS = 256
KEEPALIVE_EXPIRY = 60.0


def default_transport() -> httpx.AsyncBaseTransport:
    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS, keepalive_expiry=KEEPALIVE_EXPIRY
    )
    return httpx.AsyncHTTPTransport(limits=limits, trust_env=False, retries=0)


class Transport:
    """Requests built once per call with the gateway's timeouts, sent on one httpx transport."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport or default_transport()
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
