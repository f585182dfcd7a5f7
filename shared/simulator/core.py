"""The simulator's shared plumbing: auth and header checks, the request log, pacing, faults, hang-ups."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from .config import SimulatorConfig
from .errors import SalesforceError
from .model import Directives
from .oauth import TokenMint

REQUIRED_HEADERS = {
    "x-sfdc-app-context": "EinsteinGPT",
    "x-client-feature-id": "ai-platform-models-connected-app",
}


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _after(delay: float, answer: Callable[[dict], Awaitable[Response]], body: dict) -> Response:
    if delay:
        await asyncio.sleep(delay)
    return await answer(body)



class Simulator:
    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.mint = TokenMint(self.config.signing_secret, self.config.token_ttl_seconds)
        self.requests: deque[dict] = deque(maxlen=200)  # what the gateway sent, for tests to inspect
        self.in_flight = 0
        self.streams_open = 0  # streamed answers still being sent; drops when the gateway hangs up
        self.abandoned = 0  # calls whose caller hung up before the answer was ready
        self.attempts: dict[str, int] = {}  # prompt -> calls seen, for [[error:CODE:first-N]]
        self.oauth_calls = 0  # token requests received, answered or not

    def check(self, request: Request, model: str | None) -> None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not self.mint.valid(auth[7:]):
            raise SalesforceError(self.config.invalid_token_status)
        for name, value in REQUIRED_HEADERS.items():
            if request.headers.get(name) != value:
                raise SalesforceError(400, f"Missing or invalid header {name}")
        if model is not None:
            self.check_model(model)

    async def read_body(self, request: Request, model: str | None) -> dict:
        raw = await request.body()
        self.requests.append(
            {
                "path": request.url.path,
                "headers": dict(request.headers),
                "body": raw.decode("utf-8", "replace"),
            }
        )
        self.check(request, model)
        try:
            body = json.loads(raw)
        except ValueError:
            raise SalesforceError(400, "Malformed JSON") from None
        if not isinstance(body, dict):
            raise SalesforceError(400, "Body must be an object")
        return body

    async def handle(
        self, request: Request, model: str | None, answer: Callable[[dict], Awaitable[Response]]
    ) -> Response:
        self.in_flight += 1
        try:
            body = await self.read_body(request, model)
            delay = self.config.slow_models.get(model or str(body.get("model")), 0.0)
            work = asyncio.ensure_future(_after(delay, answer, body))
            hangup = asyncio.ensure_future(_disconnected(request))
            await asyncio.wait({work, hangup}, return_when=asyncio.FIRST_COMPLETED)
            hangup.cancel()
            if not work.done():  # the gateway hung up while we were still thinking
                work.cancel()
                self.abandoned += 1
                return Response(status_code=499)
            return work.result()
        except SalesforceError as exc:
            return self.error_response(exc)
        finally:
            self.in_flight -= 1

    def error_response(self, exc: SalesforceError, status: int | None = None) -> Response:
        """The error in the configured shape (``SimulatorConfig.error_shape``)."""
        status, shape = status or exc.status, self.config.error_shape
        if shape == "text":
            return PlainTextResponse(exc.message, status, headers=exc.headers)
        body = {
            "list": [exc.body()],
            "oauth": {"error": exc.code.lower(), "error_description": exc.message},
            "openai": {"error": {"message": exc.message, "code": exc.code}},
            "message": {"message": exc.message},
        }.get(shape)
        return exc.response(status) if body is None else JSONResponse(body, status, headers=exc.headers)

    @staticmethod
    async def pause(found: Directives) -> None:
        if found.delay_ms:
            await asyncio.sleep(found.delay_ms / 1000)

    async def json_fault(self, found: Directives) -> Response | None:
        """A misbehaving 200 in place of a JSON answer, when a fault directive asks for one."""
        if found.stall_ms:
            await asyncio.sleep(found.stall_ms / 1000)
        if found.fault == "error-body-200":
            return self.error_response(SalesforceError(500, "Simulated error inside a 200"), status=200)
        if found.fault == "empty-body":
            return Response(b"", media_type="application/json")
        if found.fault == "malformed-json":
            return Response(b'{"generationDetails": {"generations": [', media_type="application/json")
        return None

    @staticmethod
    def stream_fault(found: Directives, media_type: str) -> Response | None:
        if found.fault == "error-body-200":
            return SalesforceError(503, "Simulated error inside a 200").response(status=200)
        if found.fault == "empty-body":
            return Response(b"", media_type=media_type)
        return None

    async def play(
        self, frames: list[bytes], found: Directives, error_frame: bytes, bad_frame: bytes
    ) -> AsyncIterator[bytes]:
        """Stream frames with the directives' pacing and faults."""
        self.streams_open += 1
        try:
            async for chunk in self._paced(frames, found, error_frame, bad_frame):
                yield chunk
        finally:
            self.streams_open -= 1

    async def _paced(
        self, frames: list[bytes], found: Directives, error_frame: bytes, bad_frame: bytes
    ) -> AsyncIterator[bytes]:
        await self.pause(found)
        middle = max(1, len(frames) // 2)
        for n, chunk in enumerate(frames):
            if n == middle:
                if found.fault == "drop-mid-stream":
                    raise ConnectionAbortedError("simulated connection drop")
                if found.fault == "exception-mid-stream":
                    yield error_frame
                    return
                if found.fault == "malformed-json":
                    yield bad_frame
                    return
                if found.stall_ms:
                    await asyncio.sleep(found.stall_ms / 1000)
            yield chunk
            await self.pause(found)

    async def stats(self, request: Request) -> Response:
        """Not Salesforce: the counters, for a load test in another process to check for leaks."""
        return JSONResponse(
            {"in_flight": self.in_flight, "streams_open": self.streams_open, "abandoned": self.abandoned}
        )

    def check_model(self, model: str) -> None:
        if not model.startswith("sfdc_ai__") or model in self.config.refused_models:
            raise SalesforceError(404, f"Model {model} not found")
