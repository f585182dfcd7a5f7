"""``SIMULATOR_REPLAY=DIR``: answer requests recorded by ``make check-org ARGS="--record DIR"`` as the org did.

A request is matched by method, path and its body with the per-run fields left out (ids and signatures,
which differ between runs), and answered with the recorded status, headers and body. Several recordings
of one request are served in the order recorded, the last one again after that. Anything unmatched, or
sent without a valid simulator token, falls through to the normal simulator. ``GET /simulator/replay``
says how many requests were answered from the recording.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .core import Simulator

log = logging.getLogger("simulator")

# Fields whose values differ from run to run: tool call ids and thinking signatures come from the answers.
VARYING = frozenset({"id", "tool_use_id", "tool_call_id", "call_id", "signature"})
HOP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "date", "server"})


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VARYING}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def normalise(body: bytes | str | dict | list) -> str:
    """The body as matched: JSON re-serialised with sorted keys and without per-run fields; text as is."""
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            return body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return json.dumps(_strip(body), sort_keys=True, separators=(",", ":"))


def _body(part: dict) -> bytes:
    if "json" in part:
        return json.dumps(part["json"], ensure_ascii=False).encode()
    if "body_base64" in part:
        return base64.b64decode(part["body_base64"])
    return str(part.get("text", "")).encode()


@dataclass
class Recorded:
    status: int
    headers: dict[str, str]
    body: bytes

    def response(self) -> Response:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        return Response(self.body, status_code=self.status, headers=headers)


@dataclass
class Recordings:
    answers: dict[tuple[str, str, str], list[Recorded]] = field(default_factory=dict)
    served: dict[tuple[str, str, str], int] = field(default_factory=dict)
    paths: set[tuple[str, str]] = field(default_factory=set)
    hits: int = 0
    misses: int = 0

    @classmethod
    def load(cls, directory: Path) -> Recordings:
        """Every exchange in ``directory``; a missing directory or a file that is no exchange is an error now,
        not a silent fall-through to the simulator later."""
        if not directory.is_dir():
            raise ValueError(f"SIMULATOR_REPLAY: {directory} is not a directory")
        found = cls()
        for path in sorted(directory.glob("*.json")):
            try:
                doc = json.loads(path.read_text())
                request, response = doc["request"], doc["response"]
                key = (request["method"].upper(), request["path"], normalise(_body(request)))
                recorded = Recorded(int(response["status"]), dict(response.get("headers") or {}), _body(response))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"SIMULATOR_REPLAY: {path.name} is not a recorded exchange ({exc!r})") from None
            found.answers.setdefault(key, []).append(recorded)
            found.paths.add(key[:2])
        log.info("Simulator: replaying %d recorded exchange(s) from %s", len(found), directory)
        return found

    def __len__(self) -> int:
        return sum(len(v) for v in self.answers.values())

    def answer(self, method: str, path: str, body: bytes) -> Recorded | None:
        key = (method.upper(), path, normalise(body))
        recorded = self.answers.get(key)
        if not recorded:
            return None
        turn = self.served.get(key, 0)
        self.served[key] = turn + 1
        return recorded[min(turn, len(recorded) - 1)]


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _again(body: bytes, receive: Receive) -> Receive:
    """The body once more for the simulator behind, then the connection's own messages (disconnects)."""
    sent = False

    async def replay_receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay_receive


class ReplayMiddleware:
    def __init__(self, app: ASGIApp, sim: Simulator, recordings: Recordings) -> None:
        self.app = app
        self.sim = sim
        self.recordings = recordings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if (method, path) == ("GET", "/simulator/replay"):
            stats = {"recorded": len(self.recordings), "hits": self.recordings.hits, "misses": self.recordings.misses}
            await JSONResponse(stats)(scope, receive, send)
            return
        if (method, path) not in self.recordings.paths:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        headers = Headers(scope=scope)
        auth = headers.get("authorization", "")
        recorded = None
        if auth.startswith("Bearer ") and self.sim.mint.valid(auth[7:]):  # a real org checks its token too
            recorded = self.recordings.answer(method, path, body)
        if recorded is None:
            self.recordings.misses += 1
            await self.app(scope, _again(body, receive), send)
            return
        self.recordings.hits += 1
        self.sim.requests.append(
            {"path": path, "headers": dict(headers), "body": body.decode("utf-8", "replace"), "replayed": True}
        )
        await recorded.response()(scope, receive, send)
