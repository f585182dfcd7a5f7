"""Relaying a backend event stream to a client: keep-alive pings, early status, disconnects.

The backend's events are pulled by a pump task into a small bounded queue, so the HTTP side can
wait with a timeout and send ``ping`` while Salesforce is silent (API Gateway and Claude Code close
idle streams). Until ``grace`` seconds pass, nothing is sent, so a failure still gets a real HTTP
status; after that the stream is committed with a ``message_start`` of our own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from starlette.types import Receive

from ..anthropic import events as ev
from ..anthropic.errors import GatewayError, internal_error
from ..anthropic.sse import PING, frame
from ..salesforce.errors import empty_answer
from ..telemetry import RequestSample

log = logging.getLogger("gateway")

T = TypeVar("T")
_END = object()
DRAIN_SECONDS = 2.0  # after message_stop, how long the backend may take to close its stream


class ClientDisconnected(Exception):
    """The client went away before the answer started; there is no one to answer."""


class BackendStream:
    def __init__(self, events: AsyncIterator[dict], keepalive: float) -> None:
        self.keepalive = keepalive
        self._events = events
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=64)
        self._pump = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            async for event in self._events:
                await self._queue.put(event)
            await self._queue.put(_END)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed to the consumer, which decides how the client learns of it
            await self._queue.put(exc)
        finally:
            await self._events.aclose()

    async def next(self, timeout: float | None) -> object:
        """The next event, ``_END``, or raises; TimeoutError when nothing came within ``timeout``."""
        async with asyncio.timeout(timeout):
            item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    async def aclose(self, drain: float = 0.0) -> None:
        """Stop the backend call: at once when the client left, or, after a complete answer, once the
        backend has closed its stream (at most ``drain`` seconds), so the connection goes back to the pool
        in a clean state instead of being cut mid-read.

        Shielded: when the client disconnects, Starlette cancels the response task repeatedly, and an
        unshielded wait would pass each cancellation on into the pump's own cleanup, leaving the
        Salesforce connection open and checked out of the pool."""
        if drain and not self._pump.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._pump), drain)
        if not self._pump.done():
            self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.shield(self._pump)

    async def first(self, grace: float, receive: Receive) -> dict | None:
        """The first event if it comes within ``grace`` seconds; None if the backend is still silent.
        Raises ClientDisconnected (and stops the backend call) if the client leaves meanwhile."""
        try:
            item = await unless_disconnected(receive, self.next(grace))
        except TimeoutError:
            return None
        except BaseException:  # the client left, or the backend failed: either way, stop the call
            await self.aclose()
            raise
        if item is _END:
            await self.aclose()
            raise empty_answer()  # the backend's stream ended before its first event
        assert isinstance(item, dict)
        return item

    async def sse(self, first: dict | None, placeholder: dict | None, sample: RequestSample) -> AsyncIterator[bytes]:
        """SSE bytes for the client. With ``first`` None the stream opens on ``placeholder``
        (our own message_start) and the backend's message_start is dropped when it comes."""
        pinged = False
        synthetic = first is None
        complete = False
        start_usage: dict | None = placeholder["message"].get("usage") if placeholder else None
        try:
            if synthetic:
                assert placeholder is not None
                yield frame(placeholder) + PING
            event: object = first
            while True:
                if event is None:
                    try:
                        event = await self.next(self.keepalive)
                    except TimeoutError:
                        yield PING  # Salesforce is silent; keep the client and API Gateway from giving up
                        continue
                if event is _END:
                    return
                assert isinstance(event, dict)
                kind = event["type"]
                if kind == "message_stop":  # the answer is complete: nothing after it, not even a ping
                    complete = True
                    yield frame(event)
                    return
                if kind == "message_start":
                    start_usage = event["message"].get("usage")  # the backend's count wins over our estimate
                    count_usage(sample, start_usage)
                    if synthetic:
                        event = None
                        continue
                elif kind == "message_delta":
                    event = dict(event, usage=ev.delta_usage(event.get("usage"), start_usage))
                    count_usage(sample, event["usage"])
                yield frame(event)
                if kind == "content_block_start" and not pinged:
                    pinged = True
                    yield PING
                event = None
        except GatewayError as exc:
            sample.error_type, sample.backend_error = exc.error_type, exc.backend
            log.warning("stream failed: %s %s", exc.error_type, exc.message)
            yield frame(exc.event())
        except Exception:
            sample.error_type = "api_error"
            log.exception("stream failed")
            yield frame(internal_error().event())
        finally:
            await self.aclose(drain=DRAIN_SECONDS if complete else 0.0)


async def rewritten(events: AsyncIterator[dict], feed: Callable[[dict], list[dict]]) -> AsyncIterator[dict]:
    """``events`` passed through ``feed`` (which may hold, drop or change them); closes ``events`` when done."""
    try:
        async for event in events:
            for out in feed(event):
                yield out
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


def placeholder_start(message_id: str, model: str, input_tokens: int) -> dict:
    """The message_start sent when the backend is too slow to wait for its own."""
    return ev.message_start(ev.message(message_id, model, [], None, None, ev.usage(input_tokens, 1)))


def count_usage(sample: RequestSample, usage: dict | None) -> None:
    if usage:
        sample.input_tokens = usage.get("input_tokens", sample.input_tokens)
        sample.output_tokens = usage.get("output_tokens", sample.output_tokens)
        sample.cache_read_tokens = usage.get("cache_read_input_tokens", sample.cache_read_tokens)
        sample.cache_creation_tokens = usage.get("cache_creation_input_tokens", sample.cache_creation_tokens)


async def until_disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(receive: Receive, work: Awaitable[T]) -> T:
    """Await ``work``; if the client leaves first, cancel it and raise ClientDisconnected."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(until_disconnected(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        raise ClientDisconnected
    return task.result()
