"""Running ASGI apps under uvicorn on loopback: for ``make run``, the tests and the benchmark."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import uvicorn

from .anthropic.errors import envelope_bytes

log = logging.getLogger("gateway")
LINGER_SECONDS = 1.0  # after refusing a request, how long its remaining bytes are read and dropped


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this; without it a response written as headers + body waits ~40 ms for
    # the client's delayed ACK (Nagle) whenever uvicorn is handed a socket instead of a host and port.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def server(app: Any, sock: socket.socket, **options: Any) -> tuple[uvicorn.Server, socket.socket]:
    config = uvicorn.Config(
        app,
        log_level=options.pop("log_level", "warning"),
        lifespan=options.pop("lifespan", "on"),
        timeout_graceful_shutdown=options.pop("timeout_graceful_shutdown", 2),
        proxy_headers=options.pop("proxy_headers", False),
        **options,
    )
    return uvicorn.Server(config), sock


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What keeps one client from holding the server: ``make run`` on a shared machine is reachable by
    anyone who can reach its port, and uvicorn bounds neither header size nor header and body read time."""

    max_header_bytes: int = 64 * 1024  # request line and headers; past it, 431
    header_timeout: float = 10.0  # seconds from connecting (or a request's first byte) to its last header
    body_timeout: float = 60.0  # seconds from the last header to the last body byte: 1 byte/s cannot hold
    keep_alive: float = 5.0  # seconds an idle keep-alive connection stays open
    max_concurrency: int = 1000  # connections and requests at once; past it uvicorn answers 503

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerLimits:
        env = os.environ if env is None else env
        default = cls()

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            return float(raw) if raw not in (None, "") else default

        return cls(
            max_header_bytes=int(number("HTTP_MAX_HEADER_BYTES", default.max_header_bytes)),
            header_timeout=number("HTTP_HEADER_TIMEOUT_SECONDS", default.header_timeout),
            body_timeout=number("HTTP_BODY_TIMEOUT_SECONDS", default.body_timeout),
            keep_alive=number("HTTP_KEEPALIVE_SECONDS", default.keep_alive),
            max_concurrency=int(number("HTTP_MAX_CONCURRENCY", default.max_concurrency)),
        )

    def uvicorn_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "limit_concurrency": self.max_concurrency,
            "timeout_keep_alive": self.keep_alive,
            "h11_max_incomplete_event_size": self.max_header_bytes,  # h11's own cap, when it is the parser
        }
        guarded = guarded_protocol(self)
        if guarded is not None:
            options["http"] = guarded
        return options


def _error_response(status: int, error_type: str, message: str) -> bytes:
    body = envelope_bytes(error_type, message, None)
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def guarded_protocol(limits: ServerLimits) -> type | None:
    """uvicorn's httptools protocol with the header cap and the read timeouts; None without httptools
    (uvicorn then uses h11, which caps headers itself but has no read timeouts)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return None

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        """Counts a request's head as it arrives (httptools buffers a header until it ends, so counting
        parsed headers would be too late) and arms one timer at a time: head, then body."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_bytes = 0  # what arrived while the head was incomplete (httptools holds it)
            self._header_bytes = 0  # the head as parsed: request line and headers
            self._in_head = True
            self._refused = False
            self._timer: asyncio.TimerHandle | None = None
            self._arm(limits.header_timeout, self._head_timed_out)

        def _arm(self, delay: float, callback: Callable[[], None]) -> None:
            self._disarm()
            if delay > 0:
                self._timer = self.loop.call_later(delay, callback)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._in_head:
                self._head_bytes += len(data)
            super().data_received(data)
            if self._in_head and self._head_bytes > limits.max_header_bytes and not self._refused:
                self._headers_too_large()

        def _headers_too_large(self) -> None:
            self._refuse(431, "request_too_large", f"Request headers exceed {limits.max_header_bytes} bytes.")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._header_bytes = 0
            if self._timer is None:
                self._arm(limits.header_timeout, self._head_timed_out)

        def on_url(self, url: bytes) -> None:
            self._header_bytes += len(url)
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_bytes += len(name) + len(value) + 4
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_head = False
            if self._header_bytes > limits.max_header_bytes:  # a whole oversize head in one read
                self._headers_too_large()
                return
            self._arm(limits.body_timeout, self._body_timed_out)
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            if not self._refused:
                super().on_body(body)

        def on_message_complete(self) -> None:
            self._disarm()
            self._in_head, self._head_bytes = True, 0
            if not self._refused:
                super().on_message_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _head_timed_out(self) -> None:
            self._timer = None
            if self._head_bytes == 0:  # connected and said nothing: just hang up
                self.transport.close()
                return
            message = f"Request headers not received within {limits.header_timeout:g} s."
            self._refuse(408, "invalid_request_error", message)

        def _body_timed_out(self) -> None:
            """The app is (or was) reading this body; if it has not answered, the 408 is its answer."""
            self._timer = None
            self._refused = True
            cycle = self.cycle
            message = f"Request body not received within {limits.body_timeout:g} s."
            if cycle is not None and not cycle.response_started:
                cycle.scope["state"]["request_timeout"] = True  # the middleware logs 408, not 499
                self.transport.write(_error_response(408, "invalid_request_error", message))
            log.info("408 from %s: %s", self.client, message)
            self.transport.close()  # the app's receive() now reports a disconnect; its sends are dropped

        def _refuse(self, status: int, error_type: str, message: str) -> None:
            """A request head refused: an Anthropic-shaped error unless the previous response is still
            going out (pipelining), then the connection closed."""
            self._refused = True
            self._disarm()
            cycle = self.cycle
            log.info("%s from %s: %s", status, self.client, message)
            if cycle is not None and not cycle.response_complete:
                self.transport.close()
                return
            self.transport.write(_error_response(status, error_type, message))
            # Half-close and drain what is still coming for a moment: closing with unread bytes sends a
            # reset, which can destroy the answer before the client reads it.
            if self.transport.can_write_eof():
                self.transport.write_eof()
                self.loop.call_later(LINGER_SECONDS, self.transport.close)
            else:
                self.transport.close()

    return GuardedHttpToolsProtocol


class ServerThread:
    """A uvicorn server on a real loopback socket, in a background thread with its own loop."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self.sock = bind(host, port)
        self.host, self.port = self.sock.getsockname()[:2]
        self.server, _ = server(app, self.sock, **options)
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"uvicorn:{self.port}")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
