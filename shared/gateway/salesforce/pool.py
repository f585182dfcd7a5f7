"""Pooled HTTP/1.1 connections to Salesforce: asyncio protocols, httptools' parser, httpx's interface.

httpx's own transport (httpcore over anyio and h11) spends ~280 µs of CPU on one loopback call on
these machines, half of the gateway's budget for a whole request; this pool spends ~80 µs. It is an
``httpx.AsyncBaseTransport``, so requests, responses, content decoding and exceptions stay httpx's
and nothing above it can tell the difference (``SF_HTTP_POOL=httpx`` switches back). It speaks what
Salesforce needs and no more: HTTP/1.1 with keep-alive over TLS or TCP; no proxies, no HTTP/2, no HEAD.
"""

from __future__ import annotations

import asyncio
import select
import ssl
import time
from collections import deque
from typing import Any

import httptools
import httpx

Origin = tuple[bytes, str, int]

READ_HIGH_WATER = 256 * 1024  # buffered body bytes beyond this wait in the socket, not in memory


def _expire(waiter: asyncio.Future, error: type[httpx.TimeoutException]) -> None:
    if not waiter.done():
        what = "take the request" if error is httpx.WriteTimeout else "send data"
        waiter.set_exception(error(f"Salesforce did not {what} in time"))


def _illegal(value: bytes) -> bool:
    return b"\r" in value or b"\n" in value or b"\0" in value


class Connection(asyncio.Protocol):
    """One socket carrying one exchange at a time; callbacks fill state, ``wait`` hands it over."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.error: BaseException | None = None
        self.idle_since = 0.0
        self._waiter: asyncio.Future | None = None
        self._writable: asyncio.Future | None = None
        self.reading_paused = False
        self.reset()

    def reset(self) -> None:
        if self.reading_paused and self.transport is not None and not self.closed:
            self.transport.resume_reading()  # a body closed unread may have paused the socket
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_complete = False
        self.interim = False
        self.complete = False
        self.reusable = False
        self.close_delimited = False
        self.received = False
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.reading_paused = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is not None and self.error is None:
            self.error = exc
        elif self.head_complete and self.close_delimited and exc is None:
            self.complete = True  # a body without length or chunks ends where the socket does
        self._wake()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = httpx.RemoteProtocolError(f"malformed HTTP response from Salesforce ({exc})")
            self.close()
        self._wake()

    def eof_received(self) -> bool:
        return False  # close the socket; connection_lost follows

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self.complete:  # bytes after the whole response: neither this answer's nor the next one's
            raise ValueError("data after the response")

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.head_complete:  # trailer fields are not headers
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # 103 Early Hints and the like: skipped, as httpx's transport does
            self.headers = []
            self.reason = b""
            self.interim = True
            return
        self.status = status
        names = {name.lower() for name, _ in self.headers}
        self.close_delimited = b"content-length" not in names and b"transfer-encoding" not in names
        self.head_complete = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > READ_HIGH_WATER and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        self.complete = True
        self.reusable = self.parser.should_keep_alive()

    # used by the pool and the response stream

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Until the socket has news (data, the message's end, its closing), or ReadTimeout."""
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, _expire, waiter, httpx.ReadTimeout) if timeout is not None else None
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def drain(self, timeout: float | None) -> None:
        """Until the kernel takes more of the request, or WriteTimeout."""
        writable = self._writable
        if writable is None or writable.done():
            return
        loop = asyncio.get_running_loop()
        timer = loop.call_later(timeout, _expire, writable, httpx.WriteTimeout) if timeout is not None else None
        try:
            await writable
        finally:
            if timer is not None:
                timer.cancel()

    def usable(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Fit for a new request after idling: open, silent, on this event loop, nothing waiting to be read.

        A server's close can sit in the socket before the loop has run ``connection_lost`` (a busy loop,
        or a load balancer's idle timeout firing just now); httpcore checks the socket the same way.
        A new event loop (a Lambda handler running each invocation in its own) also rules a connection out.
        """
        transport = self.transport
        if self.closed or self.received or self.loop is not loop or transport is None or transport.is_closing():
            return False
        sock = transport.get_extra_info("socket")
        if sock is None:
            return True
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def take(self) -> bytes:
        data = b"".join(self.chunks) if len(self.chunks) > 1 else self.chunks[0]
        self.chunks.clear()
        self.buffered = 0
        if self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = False
            self.transport.resume_reading()
        return data

    def failure(self, before_response: bool) -> httpx.TransportError:
        if isinstance(self.error, httpx.TransportError):
            return self.error
        if isinstance(self.error, OSError):
            return httpx.ReadError(f"connection to Salesforce failed: {self.error}")
        if before_response:
            return httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    def close(self) -> None:
        self.closed = True
        if self.transport is not None and not self.loop.is_closed():
            self.transport.close()


class ResponseStream(httpx.AsyncByteStream):
    """The body as it arrives; closing hands the connection back to the pool, or closes it mid-body."""

    def __init__(self, pool: ConnectionPool, connection: Connection, read_timeout: float | None) -> None:
        self._pool = pool
        self._connection = connection
        self._read_timeout = read_timeout
        self._released = False

    async def __aiter__(self) -> Any:
        connection = self._connection
        while True:
            if connection.chunks:
                yield connection.take()
            elif connection.complete:
                return
            elif connection.closed or connection.error is not None:
                raise connection.failure(before_response=False)
            else:
                await connection.wait(self._read_timeout)

    async def aclose(self) -> None:
        if not self._released:
            self._released = True
            self._pool.release(self._connection)


class ConnectionPool(httpx.AsyncBaseTransport):
    """Keep-alive connections per origin, reused newest first, at most ``max_connections`` in use."""

    def __init__(
        self,
        *,
        max_connections: int = 256,
        max_idle: int = 256,
        keepalive_expiry: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._max_idle = max_idle
        self._keepalive_expiry = keepalive_expiry
        self._ssl_context = ssl_context
        self._idle: dict[Origin, list[Connection]] = {}
        self._idle_count = 0
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout") or {}
        await self._acquire(timeouts.get("pool"))
        try:
            connection = self._reuse(self._origin(request.url)) or await self._connect(
                request.url, timeouts.get("connect")
            )
            try:
                await self._send(connection, request, timeouts.get("write"))
                read_timeout = timeouts.get("read")
                while not connection.head_complete:
                    if connection.closed or connection.error is not None:
                        raise connection.failure(before_response=True)
                    await connection.wait(read_timeout)
            except BaseException:
                connection.close()
                raise
        except BaseException:
            self._slots.release()
            raise
        return httpx.Response(
            connection.status,
            headers=connection.headers,
            stream=ResponseStream(self, connection, read_timeout),
            extensions={
                "http_version": b"HTTP/" + connection.parser.get_http_version().encode("ascii"),
                "reason_phrase": connection.reason,
            },
        )

    def release(self, connection: Connection) -> None:
        """Back to the idle list if the exchange finished cleanly, else closed; the slot is freed."""
        self._slots.release()
        if not (connection.complete and connection.reusable and not connection.closed):
            connection.close()
            return
        if self._closed or self._idle_count >= self._max_idle:
            connection.close()
            return
        connection.reset()
        connection.idle_since = time.monotonic()
        self._idle.setdefault(connection.origin, []).append(connection)
        self._idle_count += 1

    async def aclose(self) -> None:
        """Closes the idle connections now and those in use when they are released."""
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        self._idle_count = 0

    async def _acquire(self, timeout: float | None) -> None:
        if not self._slots.locked():
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no free connection to Salesforce in time") from None

    @staticmethod
    def _origin(url: httpx.URL) -> Origin:
        scheme = url.raw_scheme
        return scheme, url.host, url.port or (443 if scheme == b"https" else 80)

    def _reuse(self, origin: Origin) -> Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        now = time.monotonic()
        while idle and now - idle[0].idle_since > self._keepalive_expiry:  # oldest first, wherever they are
            idle.pop(0).close()
            self._idle_count -= 1
        loop = asyncio.get_running_loop()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if connection.usable(loop):
                return connection
            connection.close()
        return None

    async def _connect(self, url: httpx.URL, timeout: float | None) -> Connection:
        scheme, host, port = origin = self._origin(url)
        if scheme not in (b"http", b"https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme.decode()!r}")
        context = self._tls() if scheme == b"https" else None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(
                    lambda: Connection(origin), host, port, ssl=context, server_hostname=host if context else None
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection to {host}:{port} in time") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port} ({exc})") from None
        return connection

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            import certifi  # httpx's own CA bundle, so verification matches httpx's transport

            self._ssl_context = ssl.create_default_context(cafile=certifi.where())
        return self._ssl_context

    @staticmethod
    async def _send(connection: Connection, request: httpx.Request, timeout: float | None) -> None:
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        headers = request.headers.raw
        if any(_illegal(name) or _illegal(value) for name, value in headers):
            raise httpx.LocalProtocolError("illegal header name or value (CR, LF or NUL)")
        chunked = any(name.lower() == b"transfer-encoding" for name, _ in headers)
        lines = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), request.url.raw_path)]
        lines.extend(b"%s: %s\r\n" % pair for pair in headers)
        lines.append(b"\r\n")
        if chunked:
            lines.append(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n")
        elif body:
            lines.append(body)
        if connection.closed or connection.transport is None:
            raise connection.failure(before_response=True)
        connection.transport.write(b"".join(lines))
        await connection.drain(timeout)
