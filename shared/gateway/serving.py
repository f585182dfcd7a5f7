"""Running ASGI apps under uvicorn on loopback: for ``make run``, the tests and the benchmark."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn


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
