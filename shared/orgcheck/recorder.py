"""An httpx transport that sees every exchange with Salesforce, for error texts and ``--record``.

It sits under the gateway's own ``SalesforceHttp``, so what it sees is exactly what the gateway sent
and got back. The OAuth exchange is never written (its form holds the secret, its answer the token);
every other exchange is written with no request headers but Salesforce's fixed ones, and with every
token, secret and client key it learned replaced, before anything reaches the disk.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from gateway import redaction
from gateway.salesforce.errors import backend_message

MASK = "[REDACTED]"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
OAUTH_PATH = "/services/oauth2/token"
# Request headers worth keeping: Salesforce's fixed ones. Authorization and anything else stay out.
SAFE_REQUEST_HEADERS = ("content-type", "x-sfdc-app-context", "x-client-feature-id")
DROPPED_RESPONSE_HEADERS = frozenset({"set-cookie", "authorization", "content-length", "transfer-encoding"})
SAFE_OAUTH_FIELDS = ("api_instance_url", "instance_url", "scope", "token_format", "token_type")


@dataclass
class Exchange:
    label: str
    method: str
    path: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: list[tuple[str, str]]
    response_body: bytes = b""

    @property
    def salesforce_text(self) -> str:
        """Salesforce's own words in an error answer, as it sent them."""
        return backend_message(self.response_body)


@dataclass
class Recorder(httpx.AsyncBaseTransport):
    inner: httpx.AsyncBaseTransport
    directory: Path | None = None
    secrets: set[str] = field(default_factory=set)
    label: str = "exchange"
    exchanges: list[Exchange] = field(default_factory=list)
    oauth: dict[str, str] = field(default_factory=dict)  # the token answer's harmless fields
    _written: int = 0

    def __post_init__(self) -> None:
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)

    def add_secrets(self, values: Iterable[str | None]) -> None:
        self.secrets.update(v for v in values if v and len(v) >= redaction.MIN_LENGTH)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith(OAUTH_PATH):
            await response.aread()
            self._learn_token(response)
            return response
        exchange = Exchange(
            self.label,
            request.method,
            request.url.path,
            {k: v for k, v in request.headers.items() if k.lower() in SAFE_REQUEST_HEADERS},
            body,
            response.status_code,
            list(response.headers.multi_items()),
        )
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_Tee(response.stream, exchange, self._finish),
            extensions=response.extensions,
            request=request,
        )

    def _learn_token(self, response: httpx.Response) -> None:
        try:
            data = json.loads(response.content)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        self.add_secrets([str(data.get("access_token") or ""), str(data.get("refresh_token") or "")])
        self.oauth = {k: str(data[k]) for k in SAFE_OAUTH_FIELDS if data.get(k)}

    def _finish(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)
        if self.directory is None:
            return
        self._written += 1
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", exchange.label).strip("-") or "exchange"
        path = self.directory / f"{self._written:04d}-{name}.json"
        path.write_text(json.dumps(self.redacted(exchange), indent=1, ensure_ascii=False) + "\n")

    def scrub(self, data: bytes) -> bytes:
        """Byte-exact apart from the masks (latin-1 maps bytes to characters one to one)."""
        text = data.decode("latin-1")
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return JWT.sub(MASK, redaction.redact(text)).encode("latin-1")

    def redacted(self, exchange: Exchange) -> dict:
        """The exchange as it is written: nothing in it that could authenticate anyone."""
        headers = {
            k.lower(): self.scrub(v.encode()).decode()
            for k, v in exchange.response_headers
            if k.lower() not in DROPPED_RESPONSE_HEADERS
        }
        return {
            "label": exchange.label,
            "request": {
                "method": exchange.method,
                "path": exchange.path,
                "headers": exchange.request_headers,
                **_body(self.scrub(exchange.request_body)),
            },
            "response": {"status": exchange.status, "headers": headers, **_body(self.scrub(exchange.response_body))},
        }

    async def aclose(self) -> None:
        await self.inner.aclose()


def _body(data: bytes) -> dict:
    """JSON as JSON, other text as text, binary (an AWS event stream) as base64."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {"body_base64": base64.b64encode(data).decode()}
    try:
        return {"json": json.loads(text)} if text.strip() else {"text": ""}
    except ValueError:
        return {"text": text}


class _Tee(httpx.AsyncByteStream):
    """Passes the body on as it arrives and keeps a copy; the exchange is complete when it closes."""

    def __init__(self, inner: httpx.AsyncByteStream, exchange: Exchange, done: Callable[[Exchange], None]) -> None:
        self._inner = inner
        self._exchange = exchange
        self._done = done
        self._chunks: list[bytes] = []
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._chunks.append(chunk)
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if not self._closed:
                self._closed = True
                self._exchange.response_body = b"".join(self._chunks)
                self._done(self._exchange)
