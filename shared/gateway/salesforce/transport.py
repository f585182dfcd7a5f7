"""The one pooled HTTP connection pool to Salesforce: httpx's transport, used directly.

``httpx.AsyncClient`` adds URL merging, cookie jars, auth flows and redirect handling to every call;
none of them apply here, and on a loopback benchmark they cost more than the rest of the gateway.
The transport (httpcore's pool) is httpx's own public interface one level down.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from ..settings import Settings


# httpcore's pool matches every waiting request against every connection on each change, so its cost
# grows with the square of the connections in one pool (at 200 concurrent calls it was most of the
# gateway's CPU). Several small pools, used in turn, keep that square small.
POOLS = 8
CONNECTIONS_PER_POOL = 32


class Transport:
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        # As many idle connections as busy ones: a smaller keep-alive pool churns connections under load.
        limits = httpx.Limits(
            max_connections=CONNECTIONS_PER_POOL, max_keepalive_connections=CONNECTIONS_PER_POOL, keepalive_expiry=60
        )
        self._pools = (
            [transport]
            if transport
            else [httpx.AsyncHTTPTransport(limits=limits, trust_env=False, retries=0) for _ in range(POOLS)]
        )
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
