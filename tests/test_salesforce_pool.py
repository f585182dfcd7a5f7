"""The gateway's own HTTP/1.1 connection pool (``gateway.salesforce.pool``) against real sockets.

Every test runs scripted asyncio servers on 127.0.0.1: well-behaved ones parse requests with httptools'
request parser, misbehaving ones write exactly the bytes a broken or slow Salesforce would. The pool is
driven only through its httpx interface (``handle_async_request`` and the response stream), so what is
asserted is what the gateway above it would see: bytes on the wire, connections opened and closed,
httpx's exceptions.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import random
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httptools
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.salesforce.pool import READ_HIGH_WATER, ConnectionPool
from gateway.salesforce.transport import default_pools

T = TypeVar("T")

# --- scripted servers ---------------------------------------------------------------------------


@dataclass
class Received:
    """One request exactly as the server parsed it off the wire (body de-chunked by httptools)."""

    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        values = [value for key, value in self.headers if key.lower() == name]
        return values[0] if values else None


class _RequestParser:
    """httptools callbacks; one parser per connection, so consecutive keep-alive requests parse in turn."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.done: deque[Received] = deque()
        self.on_message_begin()

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.done.append(Received(self.parser.get_method(), self.url, self.headers, bytes(self.body)))


class Peer:
    """One accepted connection as the server sees it: read requests, write raw bytes, watch for EOF."""

    def __init__(self, server: Server, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.index = index
        self.reader = reader
        self.writer = writer
        self.requests: list[Received] = []
        self.saw_eof = asyncio.Event()
        self._parser = _RequestParser()

    async def request(self) -> Received | None:
        """The next whole request, or None once the client has closed the connection."""
        while not self._parser.done:
            data = await self.reader.read(65536)
            if not data:
                self.saw_eof.set()
                return None
            self._parser.parser.feed_data(data)
        received = self._parser.done.popleft()
        self.requests.append(received)
        self.server.requests.append(received)
        return received

    async def until_eof(self) -> None:
        """Discard anything further until the client closes its side."""
        while await self.reader.read(65536):
            pass
        self.saw_eof.set()

    def send(self, data: bytes) -> None:
        self.writer.write(data)


Handler = Callable[[Peer], Awaitable[None]]


class Server:
    """An asyncio server on 127.0.0.1 that runs ``handler`` per connection and remembers every peer."""

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self._handler = handler
        self._ssl = ssl_context
        self.host = host
        self.peers: list[Peer] = []
        self.requests: list[Received] = []
        self.errors: list[BaseException] = []
        self._tasks: set[asyncio.Task] = set()

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self._ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        if self.errors and exc_info[0] is None:
            raise self.errors[0]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = Peer(self, len(self.peers), reader, writer)
        self.peers.append(peer)
        try:
            await self._handler(peer)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the test is over
        except BaseException as exc:  # a broken script: fail the test instead of logging it
            self.errors.append(exc)
        finally:
            writer.close()

    def url(self, target: str = "/") -> str:
        scheme = "https" if self._ssl else "http"
        return f"{scheme}://{self.host}:{self.port}{target}"


def _response(body: bytes = b"", status: bytes = b"200 OK", headers: Iterable[bytes] = ()) -> bytes:
    """A complete HTTP/1.1 response with a Content-Length."""
    head = [b"HTTP/1.1 " + status, b"Content-Length: %d" % len(body), *headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _echo_target(request: Received) -> bytes:
    return _response(b"you asked for " + request.target, headers=[b"Content-Type: text/plain"])


def _serve(respond: Callable[[Received], bytes]) -> Handler:
    """A well-behaved keep-alive server: answer each request with ``respond(request)``."""

    async def handler(peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            peer.send(respond(request))
            await peer.writer.drain()

    return handler


# --- client helpers -----------------------------------------------------------------------------


def _request(
    method: str,
    url: str,
    *,
    content: bytes | AsyncIterator[bytes] | None = None,
    headers: dict[str, str] | None = None,
    read: float = 5.0,
    write: float = 5.0,
    pool: float = 5.0,
) -> httpx.Request:
    """A request built the way the gateway's ``Transport.send`` builds it, with its timeouts."""
    timeout = httpx.Timeout(5, connect=2, read=read, write=write, pool=pool)
    return httpx.Request(
        method, httpx.URL(url), headers=headers, content=content, extensions={"timeout": timeout.as_dict()}
    )


async def _fetch(pool: httpx.AsyncBaseTransport, request: httpx.Request) -> tuple[httpx.Response, bytes]:
    """One whole exchange, body read and response closed, as ``Transport.send(stream=False)`` does."""
    response = await pool.handle_async_request(request)
    try:
        body = await response.aread()
    finally:
        await response.aclose()
    return response, body


def _run(main: Callable[[], Coroutine[Any, Any, T]], limit: float = 10.0) -> T:
    """Run one test's coroutine on a fresh loop; a hang fails the test instead of the whole run."""

    async def bounded() -> T:
        return await asyncio.wait_for(main(), limit)

    return asyncio.run(bounded())


async def _eventually(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll ``condition`` while the loop runs; socket closes are only seen a few iterations later."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


# --- keep-alive and the request on the wire -----------------------------------------------------


def test_sequential_requests_share_one_connection_and_arrive_verbatim() -> None:
    async def main() -> None:
        async with Server(_serve(_echo_target)) as server:
            pool = ConnectionPool()
            plan = [
                ("POST", "/services/data/v62.0/x?model=a%20b&n=1", b'{"prompt": "hi"}'),
                ("PUT", "/other/path?q", b"second body, different length"),
                ("GET", "/third", b""),
            ]
            sent: list[httpx.Request] = []
            try:
                for index, (method, target, body) in enumerate(plan):
                    request = _request(method, server.url(target), content=body, headers={"X-Trace": f"call-{index}"})
                    sent.append(request)
                    response, data = await _fetch(pool, request)
                    assert response.status_code == 200
                    assert data == b"you asked for " + target.encode()
                    assert response.headers["content-type"] == "text/plain"
            finally:
                await pool.aclose()

        assert len(server.peers) == 1, "keep-alive should carry all three requests on one connection"
        assert len(server.requests) == 3
        for received, request, (method, target, body) in zip(server.requests, sent, plan, strict=True):
            assert received.method == method.encode()
            assert received.target == target.encode()
            assert received.body == body
            assert received.headers == request.headers.raw  # every header, in order, nothing added
            assert received.header(b"host") == f"127.0.0.1:{server.port}".encode()
            assert received.header(b"x-trace") == request.headers["x-trace"].encode()
            if body:
                assert received.header(b"content-length") == str(len(body)).encode()

    _run(main)


# --- response bodies ----------------------------------------------------------------------------


def test_chunked_body_is_decoded_and_connection_reused() -> None:
    pieces = [b"first piece;", b"x" * 5000, b";last"]

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in pieces:
                peer.send(b"%x\r\n%s\r\n" % (len(piece), piece))
                await peer.writer.drain()
                await asyncio.sleep(0.01)  # separate reads on the client side
            peer.send(b"0\r\n\r\n")

    async def main() -> None:
        async with Server(handler) as server:
            pool = ConnectionPool()
            try:
                for _ in range(2):
                    response, body = await _fetch(pool, _request("GET", server.url("/chunks")))
                    assert response.status_code == 200
                    assert body == b"".join(pieces)
            finally:
                await pool.aclose()
        assert len(server.peers) == 1, "a properly terminated chunked body leaves the connection reusable"

    _run(main)


def test_gzip_content_encoding_is_decoded_by_httpx() -> None:
    plain = b'{"answer": "' + b"compressible " * 500 + b'"}'
    compressed = gzip.compress(plain)

    async def main() -> None:
        respond = _serve(lambda _: _response(compressed, headers=[b"Content-Encoding: gzip"]))
        async with Server(respond) as server:
            pool = ConnectionPool()
            try:
                response, body = await _fetch(pool, _request("GET", server.url()))
            finally:
                await pool.aclose()
        assert body == plain
        assert response.num_bytes_downloaded == len(compressed) < len(plain)

    _run(main)


def test_close_delimited_body_is_read_to_eof_and_connection_not_reused() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        if peer.index == 0:
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ")
            await peer.writer.drain()
            await asyncio.sleep(0.02)
            peer.send(b"part two")
            await peer.writer.drain()
            return  # closing the socket ends the body
        peer.send(_response(b"fresh connection"))
        await peer.until_eof()

    async def main() -> None:
        async with Server(handler) as server:
            pool = ConnectionPool()
            try:
                first, first_body = await _fetch(pool, _request("GET", server.url()))
                _, second_body = await _fetch(pool, _request("GET", server.url()))
            finally:
                await pool.aclose()
        assert first.status_code == 200
        assert first_body == b"part one, part two"
        assert second_body == b"fresh connection"
        assert len(server.peers) == 2

    _run(main)


def test_no_content_response_without_length_completes_and_is_reused() -> None:
    """A 204 has no body by definition: waiting for EOF here would hang the call."""

    async def handler(peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            peer.send(b"HTTP/1.1 204 No Content\r\n\r\n" if request.target == b"/empty" else _echo_target(request))

    async def main() -> None:
        async with Server(handler) as server:
            pool = ConnectionPool()
            try:
                empty, empty_body = await _fetch(pool, _request("DELETE", server.url("/empty"), read=1.0))
                full, full_body = await _fetch(pool, _request("GET", server.url("/next")))
            finally:
                await pool.aclose()
        assert (empty.status_code, empty_body) == (204, b"")
        assert (full.status_code, full_body) == (200, b"you asked for /next")
        assert len(server.peers) == 1

    _run(main)


# --- when connections end -----------------------------------------------------------------------


def test_connection_close_response_is_not_reused_and_is_closed_by_the_client() -> None:
    async def handler(peer: Peer) -> None:
        request = await peer.request()
        assert request is not None
        if peer.index == 0:
            peer.send(_response(b"goodbye", headers=[b"Connection: close"]))
            await peer.until_eof()  # the server keeps it open: the client must be the one to close
            return
        peer.send(_echo_target(request))
        await peer.until_eof()

    async def main() -> None:
        async with Server(handler) as server:
            pool = ConnectionPool()
            try:
                _, first = await _fetch(pool, _request("GET", server.url("/one")))
                _, second = await _fetch(pool, _request("GET", server.url("/two")))
                assert await _eventually(server.peers[0].saw_eof.is_set), "the client left the connection open"
            finally:
                await pool.aclose()
        assert first == b"goodbye"
        assert second == b"you asked for /two"
        assert len(server.peers) == 2
        assert [len(peer.requests) for peer in server.peers] == [1, 1]

    _run(main)


def test_server_closing_an_idle_connection_leads_to_a_fresh_one() -> None:
    async def handler(peer: Peer) -> None:
        request = await peer.request()
        assert request is not None
        peer.send(_echo_target(request))  # keep-alive by default in HTTP/1.1 ...
        await peer.writer.drain()
        await asyncio.sleep(0.02)  # ... then the server's idle timeout closes it

    async def main() -> None:
        async with Server(handler) as server:
            pool = ConnectionPool()
            try:
                _, first = await _fetch(pool, _request("GET", server.url("/one")))
                await asyncio.sleep(0.1)
                _, second = await _fetch(pool, _request("GET", server.url("/two")))
            finally:
                await pool.aclose()
        assert (first, second) == (b"you asked for /one", b"you asked for /two")
        assert len(server.peers) == 2

    _run(main)


def test_idle_connection_on_which_the_server_spoke_is_not_reused() -> None:
    """Servers announce idle timeouts with an unsolicited 408 before closing; that socket is spent."""

    async def handler(peer: Peer) -> None:
        request = await peer.request()
        assert request is not None
        peer.send(_echo_target(request))
        if peer.index == 0:
            await asyncio.sleep(0.02)
            peer.send(_response(b"idle too long", status=b"408 Request Timeout", headers=[b"Connection: close"]))
        await peer.until_eof()

    async def main() -> None:
        async with Server(handler) as server:
            pool = ConnectionPool()
            try:
                _, first = await _fetch(pool, _request("GET", server.url("/one")))
                await asyncio.sleep(0.1)
                second, body = await _fetch(pool, _request("GET", server.url("/two")))
            finally:
                await pool.aclose()
        assert first == b"you asked for /one"
        assert (second.status_code, body) == (200, b"you asked for /two")
        assert len(server.peers) == 2

    _run(main)


def test_connections_idle_longer_than_keepalive_expiry_are_replaced() -> None:
    async def main() -> None:
        async with Server(_serve(_echo_target)) as server:
            pool = ConnectionPool(keepalive_expiry=0.05)
            try:
                await _fetch(pool, _request("GET", server.url("/one")))
                await _fetch(pool, _request("GET", server.url("/two")))  # within expiry: reused
                await asyncio.sleep(0.15)
                _, body = await _fetch(pool, _request("GET", server.url("/three")))
                assert await _eventually(server.peers[0].saw_eof.is_set), "the expired connection stayed open"
            finally:
                await pool.aclose()
        assert body == b"you asked for /three"
        assert [len(peer.requests) for peer in server.peers] == [2, 1]

    _run(main)


def test_connections_beyond_max_idle_are_closed_not_kept() -> None:
    async def main() -> None:
        async with Server(_serve(_echo_target)) as server:
            pool = ConnectionPool(max_idle=0)
            try:
                _, first = await _fetch(pool, _request("GET", server.url("/one")))
                assert await _eventually(server.peers[0].saw_eof.is_set), "a connection over max_idle stayed open"
                _, second = await _fetch(pool, _request("GET", server.url("/two")))
            finally:
                await pool.aclose()
        assert (first, second) == (b"you asked for /one", b"you asked for /two")
        assert [len(peer.requests) for peer in server.peers] == [1, 1]

    _run(main)


# --- failures become httpx's exceptions ---------------------------------------------------------


def test_server_closing_without_answer_is_remote_protocol_error_and_frees_the_slot() -> None:
    async def handler(peer: Peer) -> None:
        request = await peer.request()
        assert request is not None
        if peer.index == 0:
            return  # read the request, then hang up
        peer.send(_echo_target(request))
        await peer.until_eof()

    async def main() -> None:
        async with Server(handler) as server:
            pool = ConnectionPool(max_connections=1)
            try:
                with pytest.raises(httpx.RemoteProtocolError):
                    await pool.handle_async_request(_request("POST", server.url("/a"), content=b"{}"))
                _, body = await _fetch(pool, _request("POST", server.url("/b"), content=b"{}", pool=0.5))
            finally:
                await pool.aclose()
        assert body == b"you asked for /b"
        assert len(server.peers) == 2

    _run(main)


def test_truncated_body_is_remote_protocol_error_while_reading() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"y" * 10)
        await peer.writer.drain()

    async def main() -> None:
        async with Server(handler) as server:
            pool = ConnectionPool()
            try:
                response = await pool.handle_async_request(_request("GET", server.url()))
                assert response.status_code == 200
                received: list[bytes] = []
                with pytest.raises(httpx.RemoteProtocolError):
                    async for chunk in response.aiter_raw():
                        received.append(chunk)
                await response.aclose()
            finally:
                await pool.aclose()
        assert b"".join(received) == b"y" * 10

    _run(main)


def test_malformed_status_line_is_remote_protocol_error() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(b"HTTP/1.1 two-hundred OK\r\nContent-Length: 2\r\n\r\nok")
        await peer.until_eof()

    async def main() -> None:
        async with Server(handler) as server:
            pool = ConnectionPool()
            try:
                with pytest.raises(httpx.RemoteProtocolError):
                    await pool.handle_async_request(_request("GET", server.url()))
                assert await _eventually(server.peers[0].saw_eof.is_set), "the garbled connection stayed open"
            finally:
                await pool.aclose()

    _run(main)


def test_connection_refused_is_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the socket is closed

    async def main() -> None:
        pool = ConnectionPool(max_connections=1)
        with pytest.raises(httpx.ConnectError):
            await pool.handle_async_request(_request("GET", f"http://127.0.0.1:{port}/"))
        with pytest.raises(httpx.ConnectError):  # the slot came back: a PoolTimeout here would mean a leak
            await pool.handle_async_request(_request("GET", f"http://127.0.0.1:{port}/", pool=0.2))

    _run(main)


def test_unsupported_scheme_is_rejected() -> None:
    async def main() -> None:
        pool = ConnectionPool()
        with pytest.raises(httpx.UnsupportedProtocol):
            await pool.handle_async_request(_request("GET", "ftp://127.0.0.1:21/"))

    _run(main)


# --- timeouts -----------------------------------------------------------------------------------


def test_no_response_head_in_time_is_read_timeout() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.until_eof()  # never answers

    async def main() -> float:
        async with Server(handler) as server:
            pool = ConnectionPool()
            try:
                started = time.monotonic()
                with pytest.raises(httpx.ReadTimeout):
                    await pool.handle_async_request(_request("GET", server.url(), read=0.2))
                elapsed = time.monotonic() - started
                assert await _eventually(server.peers[0].saw_eof.is_set), "the timed-out connection stayed open"
            finally:
                await pool.aclose()
        return elapsed

    elapsed = _run(main)
    assert 0.15 < elapsed < 1.5


def test_silence_in_mid_body_is_read_timeout() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await peer.until_eof()

    async def main() -> tuple[bytes, float]:
        async with Server(handler) as server:
            pool = ConnectionPool()
            try:
                response = await pool.handle_async_request(_request("GET", server.url(), read=0.2))
                received = b""
                started = time.monotonic()
                with pytest.raises(httpx.ReadTimeout):
                    async for chunk in response.aiter_raw():
                        received += chunk
                elapsed = time.monotonic() - started
                await response.aclose()
                assert await _eventually(server.peers[0].saw_eof.is_set), "the half-read connection stayed open"
            finally:
                await pool.aclose()
        return received, elapsed

    received, elapsed = _run(main)
    assert received == b"abc"
    assert 0.15 < elapsed < 1.5


def test_request_body_the_server_does_not_read_is_write_timeout() -> None:
    async def handler(peer: Peer) -> None:
        await asyncio.sleep(5)  # accepts, never reads

    async def main() -> None:
        async with Server(handler) as server:
            pool = ConnectionPool(max_connections=1)
            try:
                body = bytes(64 * 1024 * 1024)  # far more than the kernel's socket buffers take
                with pytest.raises(httpx.WriteTimeout):
                    await pool.handle_async_request(_request("POST", server.url(), content=body, write=0.2))
                with pytest.raises(httpx.ReadTimeout):  # the slot is free again; this one fails on its own
                    await pool.handle_async_request(_request("GET", server.url(), read=0.05, pool=0.2))
            finally:
                await pool.aclose()

    _run(main)


# --- the connection limit -----------------------------------------------------------------------


def test_max_connections_makes_requests_wait_then_pool_timeout() -> None:
    async def main() -> None:
        async with Server(_serve(_echo_target)) as server:
            pool = ConnectionPool(max_connections=1)
            try:
                first = await pool.handle_async_request(_request("GET", server.url("/first")))  # open, unread
                started = time.monotonic()
                with pytest.raises(httpx.PoolTimeout):
                    await pool.handle_async_request(_request("GET", server.url("/refused"), pool=0.1))
                assert 0.08 < time.monotonic() - started < 1.0

                waiting = asyncio.create_task(pool.handle_async_request(_request("GET", server.url("/second"))))
                await asyncio.sleep(0.1)
                assert not waiting.done(), "a second request went out while the only slot was taken"
                assert [r.target for r in server.requests] == [b"/first"]

                assert await first.aread() == b"you asked for /first"
                await first.aclose()
                second = await asyncio.wait_for(waiting, 1.0)
                assert await second.aread() == b"you asked for /second"
                await second.aclose()
            finally:
                await pool.aclose()
        assert len(server.peers) == 1
        assert [r.target for r in server.requests] == [b"/first", b"/second"]

    _run(main)


# --- cancellation -------------------------------------------------------------------------------


def test_cancelled_mid_body_frees_the_slot_and_closes_the_connection() -> None:
    async def handler(peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            if peer.index == 0:
                peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"z" * 100)
                await peer.until_eof()
                return
            peer.send(_echo_target(request))

    async def main() -> None:
        async with Server(handler) as server:
            pool = ConnectionPool(max_connections=1)
            first_chunk = asyncio.Event()

            async def stream() -> None:
                response = await pool.handle_async_request(_request("GET", server.url("/stream")))
                try:
                    async for _ in response.aiter_raw():
                        first_chunk.set()
                finally:
                    await response.aclose()

            try:
                task = asyncio.create_task(stream())
                await asyncio.wait_for(first_chunk.wait(), 2)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                _, body = await _fetch(pool, _request("GET", server.url("/next"), pool=0.5))
                assert await _eventually(server.peers[0].saw_eof.is_set), "the half-read connection stayed open"
            finally:
                await pool.aclose()
        assert body == b"you asked for /next"
        assert len(server.peers) == 2
        assert [len(peer.requests) for peer in server.peers] == [1, 1]

    _run(main)


def test_cancelled_while_waiting_for_the_head_frees_the_slot_and_closes_the_connection() -> None:
    """Here no response exists yet for the caller to close: the pool itself must clean up."""

    async def handler(peer: Peer) -> None:
        request = await peer.request()
        assert request is not None
        if peer.index == 0:
            await peer.until_eof()  # never answers
            return
        peer.send(_echo_target(request))
        await peer.until_eof()

    async def main() -> None:
        async with Server(handler) as server:
            pool = ConnectionPool(max_connections=1)
            try:
                task = asyncio.create_task(pool.handle_async_request(_request("GET", server.url("/slow"))))
                assert await _eventually(lambda: len(server.requests) == 1)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                _, body = await _fetch(pool, _request("GET", server.url("/next"), pool=0.5))
                assert await _eventually(server.peers[0].saw_eof.is_set), "the abandoned connection stayed open"
            finally:
                await pool.aclose()
        assert body == b"you asked for /next"
        assert len(server.peers) == 2

    _run(main)


# --- flow control -------------------------------------------------------------------------------


def test_large_body_stays_in_the_socket_while_the_reader_pauses() -> None:
    size = 32 * 1024 * 1024

    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        peer.send(bytes(size))  # all at once: whatever the client does not take stays in this buffer
        await peer.until_eof()

    async def main() -> tuple[int, int]:
        async with Server(handler) as server:
            pool = ConnectionPool()
            try:
                response = await pool.handle_async_request(_request("GET", server.url()))
                chunks = response.aiter_raw()
                total = len(await chunks.__anext__())
                await asyncio.sleep(0.3)  # a slow consumer: 32 MB over loopback takes a few ms
                backlog = server.peers[0].writer.transport.get_write_buffer_size()
                async for chunk in chunks:
                    total += len(chunk)
                await response.aclose()
            finally:
                await pool.aclose()
        return backlog, total

    backlog, total = _run(main)
    assert total == size
    # Loopback kernel buffers hold a few MB; a client that kept reading into memory would leave ~0 here.
    assert backlog > size // 2, f"only {backlog} bytes waited at the server: the client buffered the rest"


def test_large_response_closed_unread_leaves_a_working_connection() -> None:
    """A finished response whose last bytes pushed the buffer past READ_HIGH_WATER, closed without reading
    it (an error body the caller does not want), returns its connection to the pool; the next call on that
    connection must still get its answer."""

    async def handler(peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            if request.target != b"/big":
                peer.send(_response(b"small answer"))
                continue
            head, tail = b"b" * (READ_HIGH_WATER - 100), b"t" * 1100
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(head) + len(tail), head))
            await peer.writer.drain()
            await asyncio.sleep(0.05)  # the client buffers all of this, still under the high-water mark
            peer.send(tail)  # this read crosses it: reading pauses, and the message is complete

    async def main() -> None:
        async with Server(handler) as server:
            pool = ConnectionPool()
            try:
                big_response = await pool.handle_async_request(_request("GET", server.url("/big")))
                await asyncio.sleep(0.1)  # the whole body has arrived
                await big_response.aclose()
                response, body = await _fetch(pool, _request("GET", server.url("/small"), read=0.5))
            finally:
                await pool.aclose()
        assert (response.status_code, body) == (200, b"small answer")

    _run(main)


# --- request bodies -----------------------------------------------------------------------------


def test_large_request_body_arrives_intact() -> None:
    body = random.Random(7).randbytes(5 * 1024 * 1024)

    async def main() -> None:
        respond = _serve(lambda request: _response(b"%d" % len(request.body)))
        async with Server(respond) as server:
            pool = ConnectionPool()
            try:
                _, answer = await _fetch(pool, _request("POST", server.url("/upload"), content=body))
            finally:
                await pool.aclose()
        assert answer == b"%d" % len(body)
        [received] = server.requests
        assert received.header(b"content-length") == b"%d" % len(body)
        assert received.body == body

    _run(main)


def test_streaming_request_body_is_sent_chunked_and_arrives_whole() -> None:
    pieces = [b'{"messages": [', b'{"role": "user", "content": "' + b"w" * 70000 + b'"}', b"]}"]

    async def generate() -> AsyncIterator[bytes]:
        for piece in pieces:
            await asyncio.sleep(0)
            yield piece

    async def main() -> None:
        respond = _serve(lambda request: _response(b"%d" % len(request.body)))
        async with Server(respond) as server:
            pool = ConnectionPool()
            try:
                request = _request("POST", server.url("/stream-in"), content=generate())
                assert request.headers["transfer-encoding"] == "chunked"
                _, answer = await _fetch(pool, request)
                _, after = await _fetch(pool, _request("POST", server.url("/after"), content=b"tail"))
            finally:
                await pool.aclose()
        assert answer == b"%d" % len(b"".join(pieces))
        assert after == b"4"
        first, second = server.requests
        assert first.header(b"transfer-encoding") == b"chunked"
        assert first.header(b"content-length") is None
        assert first.body == b"".join(pieces)
        assert second.body == b"tail"  # the chunked framing ended exactly where it should
        assert len(server.peers) == 1

    _run(main)


# --- TLS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key (EC: quick to make)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def _tls_server_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    return context


def test_tls_with_a_trusting_context_keeps_alive_over_https(tls_files: tuple[Path, Path]) -> None:
    async def main() -> None:
        server_context = _tls_server_context(tls_files)
        async with Server(_serve(_echo_target), ssl_context=server_context, host="localhost") as server:
            pool = ConnectionPool(ssl_context=ssl.create_default_context(cafile=str(tls_files[0])))
            try:
                first, body = await _fetch(pool, _request("POST", server.url("/secure?x=1"), content=b"secret"))
                _, again = await _fetch(pool, _request("GET", server.url("/again")))
            finally:
                await pool.aclose()
        assert (first.status_code, body) == (200, b"you asked for /secure?x=1")
        assert again == b"you asked for /again"
        assert server.requests[0].body == b"secret"
        assert server.requests[0].header(b"host") == f"localhost:{server.port}".encode()
        assert len(server.peers) == 1

    _run(main)


def test_tls_with_the_default_context_rejects_a_self_signed_certificate(tls_files: tuple[Path, Path]) -> None:
    async def main() -> None:
        server_context = _tls_server_context(tls_files)
        async with Server(_serve(_echo_target), ssl_context=server_context, host="localhost") as server:
            pool = ConnectionPool()
            try:
                with pytest.raises(httpx.ConnectError) as caught:
                    await pool.handle_async_request(_request("GET", server.url()))
            finally:
                await pool.aclose()
        assert "certificate" in str(caught.value).lower()
        assert server.requests == []

    _run(main)


# --- choosing the pool --------------------------------------------------------------------------


def test_default_pools_give_httpx_or_own_pool_with_the_same_answer() -> None:
    def respond(request: Received) -> bytes:
        payload = b"%s %s %s" % (request.method, request.target, request.body)
        return _response(payload, status=b"201 Created", headers=[b"X-Echo: yes"])

    async def main() -> list[tuple[int, bytes, str]]:
        httpx_pools, own_pools = default_pools("httpx"), default_pools("pool")
        assert httpx_pools and all(isinstance(pool, httpx.AsyncHTTPTransport) for pool in httpx_pools)
        assert len(own_pools) == 1 and isinstance(own_pools[0], ConnectionPool)
        answers = []
        async with Server(_serve(respond)) as server:
            try:
                for pool in (httpx_pools[0], own_pools[0]):
                    request = _request("POST", server.url("/same?q=1"), content=b'{"same": true}')
                    response, body = await _fetch(pool, request)
                    answers.append((response.status_code, body, response.headers["x-echo"]))
            finally:
                for each in (*httpx_pools, *own_pools):
                    await each.aclose()
        return answers

    via_httpx, via_own = _run(main)
    assert via_httpx == via_own == (201, b'POST /same?q=1 {"same": true}', "yes")


def test_interim_1xx_response_is_skipped_like_httpx_does() -> None:
    """RFC 9110 §15.2: a client must accept 1xx responses it did not ask for and wait for the final one."""

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            peer.send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
            await peer.writer.drain()
            await asyncio.sleep(0.02)
            peer.send(_response(b"the final answer"))

    async def main() -> list[tuple[int, bytes]]:
        answers = []
        async with Server(handler) as server:
            for pool in (httpx.AsyncHTTPTransport(retries=0), ConnectionPool()):
                try:
                    response, body = await _fetch(pool, _request("GET", server.url()))
                finally:
                    await pool.aclose()
                answers.append((response.status_code, body))
        return answers

    via_httpx, via_own = _run(main)
    assert via_httpx == (200, b"the final answer")
    assert via_own == via_httpx


# --- concurrency --------------------------------------------------------------------------------


def test_concurrent_requests_each_get_their_own_answer() -> None:
    delay = 0.1

    async def handler(peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            await asyncio.sleep(delay)
            peer.send(_response(b"answer to " + request.body))

    async def main() -> tuple[list[bytes], float, int]:
        async with Server(handler) as server:
            pool = ConnectionPool()
            try:
                started = time.monotonic()
                results = await asyncio.gather(
                    *(
                        _fetch(pool, _request("POST", server.url(f"/c/{i}"), content=b"request %d" % i))
                        for i in range(50)
                    )
                )
                elapsed = time.monotonic() - started
            finally:
                await pool.aclose()
        return [body for _, body in results], elapsed, len(server.peers)

    bodies, elapsed, connections = _run(main)
    assert bodies == [b"answer to request %d" % i for i in range(50)]
    assert connections <= 50
    assert elapsed < 50 * delay / 2, "the requests were served one after another, not concurrently"


# --- found in review: stale sockets, stray bytes, trailers, header injection, response attributes --------


def test_a_close_waiting_in_the_socket_rules_the_connection_out_even_before_the_loop_sees_it() -> None:
    """The server (in its own thread) closes each connection after answering; the client's loop is blocked
    until that close has happened, so it is still unread in the socket when the next request comes."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    closed: list[threading.Event] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            done = threading.Event()
            closed.append(done)

            def answer_once(conn: socket.socket = conn, done: threading.Event = done) -> None:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                else:
                    conn.sendall(_response(b"ok"))
                    time.sleep(0.02)
                conn.close()
                done.set()

            threading.Thread(target=answer_once, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()

    async def main() -> list[int]:
        pool = ConnectionPool()
        statuses = []
        try:
            for _ in range(3):
                await _fetch(pool, _request("GET", f"http://127.0.0.1:{port}/first"))
                # The loop is blocked (no callbacks run) until the server has closed the connection.
                assert closed[-1].wait(5), "the server thread did not close its connection"
                time.sleep(0.02)
                response, body = await _fetch(pool, _request("GET", f"http://127.0.0.1:{port}/second"))
                statuses.append(response.status_code)
                assert body == b"ok"
                await asyncio.sleep(0.1)  # this one's close is seen by the loop before the next round
        finally:
            await pool.aclose()
        return statuses

    try:
        assert _run(main) == [200, 200, 200]
        assert len(accepted) == 6, "every second request needs a fresh connection"
    finally:
        listener.close()


def test_bytes_after_a_complete_response_do_not_leak_into_it_or_the_next() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        # A proxy's stray answer glued to the real one, in the same write.
        peer.send(_response(b"hello") + _response(b"idle", b"408 Request Timeout", [b"Connection: close"]))
        await peer.until_eof()

    async def main() -> None:
        async with Server(handler) as server:
            pool = ConnectionPool()
            try:
                response, body = await _fetch(pool, _request("GET", server.url("/a")))
                assert (response.status_code, body) == (200, b"hello")
                assert response.headers.get_list("content-length") == ["5"]
                assert await _eventually(server.peers[0].saw_eof.is_set), "a connection with stray bytes is closed"
                response, body = await _fetch(pool, _request("GET", server.url("/b")))
                assert len(server.peers) == 2
            finally:
                await pool.aclose()

    _run(main)


def test_trailer_fields_are_not_response_headers() -> None:
    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            peer.send(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                b"Trailer: X-Checksum\r\n\r\n"
                b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nContent-Type: application/evil\r\n\r\n"
            )

    async def main() -> None:
        async with Server(handler) as server:
            pool = ConnectionPool()
            try:
                for _ in range(2):
                    response, body = await _fetch(pool, _request("GET", server.url()))
                    assert body == b"hello"
                    assert response.headers.get_list("content-type") == ["text/plain"]
                    assert "x-checksum" not in response.headers
            finally:
                await pool.aclose()
        assert len(server.peers) == 1

    _run(main)


@pytest.mark.parametrize("value", ["Bearer abc\r\nX-Injected: 1", "a\nb", "nul\0byte"])
def test_header_values_that_would_split_the_request_are_refused(value: str) -> None:
    async def main() -> None:
        async with Server(_serve(_echo_target)) as server:
            pool = ConnectionPool(max_connections=1)
            try:
                request = _request("GET", server.url(), headers={"x-ok": "fine"})
                request.headers._list.append((b"authorization", b"authorization", value.encode()))
                with pytest.raises(httpx.LocalProtocolError):
                    await _fetch(pool, request)
                response, _ = await _fetch(pool, _request("GET", server.url()))  # the slot came back
                assert response.status_code == 200
            finally:
                await pool.aclose()
        assert all(r.header(b"x-injected") is None for r in server.requests)
        assert len(server.requests) == 1

    _run(main)


def test_http_version_and_reason_phrase_come_from_the_wire() -> None:
    answers = iter(
        [
            b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.1 299 Custom Thing\r\nContent-Length: 0\r\n\r\n",
        ]
    )

    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(next(answers))
        await peer.writer.drain()

    async def main() -> None:
        async with Server(handler) as server:
            pool = ConnectionPool()
            try:
                first, body = await _fetch(pool, _request("GET", server.url()))
                second, _ = await _fetch(pool, _request("GET", server.url()))
            finally:
                await pool.aclose()
        assert (first.http_version, first.reason_phrase, body) == ("HTTP/1.0", "OK", b"ok")
        assert (second.http_version, second.status_code, second.reason_phrase) == ("HTTP/1.1", 299, "Custom Thing")

    _run(main)


def test_expired_idle_connections_are_closed_even_below_newer_ones() -> None:
    async def main() -> None:
        async with Server(_serve(_echo_target)) as server:
            pool = ConnectionPool(keepalive_expiry=1.0)
            try:
                # Three connections at once, then idle; after that, one request at a time keeps reusing the
                # newest, so the two below it would idle past their expiry unseen. Delays only add idle time:
                # the older ones are expired at the last call whatever the machine's load, and the newest has
                # 0.4 s to spare.
                held = [await pool.handle_async_request(_request("GET", server.url())) for _ in range(3)]
                for response in held:
                    await response.aread()
                    await response.aclose()
                await asyncio.sleep(0.6)
                await _fetch(pool, _request("GET", server.url()))  # the newest, renewed
                await asyncio.sleep(0.6)  # the two older ones are now 1.2 s idle, the newest 0.6 s
                await _fetch(pool, _request("GET", server.url()))
                assert len(server.peers) == 3, "the newest connection was fresh enough to reuse"
                closed = await _eventually(lambda: sum(not p.saw_eof.is_set() for p in server.peers) == 1)
                still_open = sum(not p.saw_eof.is_set() for p in server.peers)
                assert closed, f"{still_open} connections still open; only the newest idle one should be"
            finally:
                await pool.aclose()

    _run(main)


def test_a_connection_released_after_the_pool_closed_is_closed_too() -> None:
    async def main() -> None:
        async with Server(_serve(_echo_target)) as server:
            pool = ConnectionPool()
            response = await pool.handle_async_request(_request("GET", server.url()))
            await pool.aclose()
            await response.aread()
            await response.aclose()
            assert await _eventually(server.peers[0].saw_eof.is_set), "released into a closed pool, yet kept open"

    _run(main)
