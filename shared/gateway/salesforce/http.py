"""The one way out to Salesforce: httpx's own transport (httpcore), used directly.

``httpx.AsyncClient`` adds URL merging, cookie jars, auth flows and redirect handling to every call;
none of them apply here, and on a loopback benchmark they cost more than the rest of the gateway.
A Lambda container serves one request at a time; the local server may serve hundreds at once, and httpcore's
pool matches every waiting request against every connection on each change, so its CPU grows with the square
of the connections in one pool (at 200 concurrent calls it was most of the gateway's CPU). A few small
transports taken in turn keep that square small.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from ..settings import Settings


MAX_CONNECTIONS = 256
KEEPALIVE_EXPIRY = 60.0
SHARDS = 32


def default_transports() -> list[httpx.AsyncBaseTransport]:
    per_shard = MAX_CONNECTIONS // SHARDS
    limits = httpx.Limits(
        max_connections=per_shard, max_keepalive_connections=per_shard, keepalive_expiry=KEEPALIVE_EXPIRY
    )
    tls = httpx.create_ssl_context()  # one for all shards: building one (certifi's roots) is a cold-start cost
    return [httpx.AsyncHTTPTransport(verify=tls, limits=limits, trust_env=False, retries=0) for _ in range(SHARDS)]


class SalesforceHttp:
    """Requests built once per call with the gateway's timeouts, sent on httpx transports in turn."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transports = [transport] if transport else default_transports()
        self._turn = itertools.cycle(self._transports)
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
        for transport in self._transports:
            await transport.aclose()
