"""The one way out to Salesforce: an httpx transport, used directly.

``httpx.AsyncClient`` adds URL merging, cookie jars, auth flows and redirect handling to every call;
none of them apply here, and on a loopback benchmark they cost more than the rest of the gateway.
The transport is the gateway's own connection pool (``pool.py``), or httpx's standard one
(httpcore) with ``SF_HTTP_POOL=httpx`` or where httptools is not installed.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from ..settings import Settings


MAX_CONNECTIONS = 256
KEEPALIVE_EXPIRY = 60.0
# httpcore's pool matches every waiting request against every connection on each change, so its cost
# grows with the square of the connections in one pool (at 200 concurrent calls it was most of the
# gateway's CPU). Several small pools, used in turn, keep that square small.
HTTPCORE_POOLS = 8


def default_pools(choice: str) -> list[httpx.AsyncBaseTransport]:
    if choice != "httpx":
        try:
            from .pool import ConnectionPool
        except ImportError:  # no httptools on this platform
            pass
        else:
            # As many idle connections as busy ones: a smaller keep-alive pool churns connections under load.
            return [
                ConnectionPool(
                    max_connections=MAX_CONNECTIONS, max_idle=MAX_CONNECTIONS, keepalive_expiry=KEEPALIVE_EXPIRY
                )
            ]
    per_pool = MAX_CONNECTIONS // HTTPCORE_POOLS
    limits = httpx.Limits(
        max_connections=per_pool, max_keepalive_connections=per_pool, keepalive_expiry=KEEPALIVE_EXPIRY
    )
    return [httpx.AsyncHTTPTransport(limits=limits, trust_env=False, retries=0) for _ in range(HTTPCORE_POOLS)]


class Transport:
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._pools = [transport] if transport else default_pools(settings.sf_http_pool)
        self._turn = itertools.cycle(self._pools)
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
        response = await next(self._turn).handle_async_request(request)
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
        for pool in self._pools:
            await pool.aclose()
