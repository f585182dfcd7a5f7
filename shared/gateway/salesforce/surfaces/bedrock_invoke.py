"""The LLM Gateway's Bedrock-style invoke: ``/ai/gpt/v1/model/{model}/invoke[-with-response-stream]``.

Anthropic-native bodies, so tools, images, thinking and real token streaming pass through. Real orgs refuse
thinking, thinking history and betas on older Claude models with a 502 "No user context has been created!":
such a refusal is retried once without them, within the request's deadline, and remembered for the model
(``catalog.learned``) so that later requests go without them from the start.
"""

from __future__ import annotations

import asyncio
import logging
import re
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from ...anthropic.errors import GatewayError
from ...catalog.learned import NO_THINKING
from ...telemetry import note_thinking_fallback
from ...translate import bedrock
from .. import eventstream
from ..bodies import MAX_ERROR_BODY, read_capped
from ..errors import NO_USER_CONTEXT, empty_answer, error_in_200
from .base import Call, Surface

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("gateway")

# Salesforce's answer to thinking on older models, and refusals that name thinking or a beta flag.
NAMES_THINKING = re.compile(r"thinking|anthropic_beta|\bbetas?\b", re.IGNORECASE)
NOT_ABOUT_THE_FLAGS = re.compile(r"signature", re.IGNORECASE)  # a forged thinking block is the client's error
REFUSAL_TYPES = frozenset({"invalid_request_error", "api_error"})
PRELUDE = 12  # an event-stream frame: total length, headers length, CRC32 of those 8 bytes


def refuses_thinking(error: GatewayError) -> bool:
    """Does Salesforce's answer say the model will not take thinking, thinking history or betas?"""
    if not error.backend or error.error_type in ("rate_limit_error", "timeout_error"):
        return False
    if NO_USER_CONTEXT.search(error.message):
        return True
    return (
        error.error_type in REFUSAL_TYPES
        and bool(NAMES_THINKING.search(error.message))
        and not NOT_ABOUT_THE_FLAGS.search(error.message)
    )


def is_event_stream(head: bytes) -> bool:
    """The AWS event-stream prelude: a plausible length and a matching CRC (when Content-Type is missing)."""
    if len(head) < PRELUDE:
        return False
    total = int.from_bytes(head[0:4], "big")
    return total >= 16 and zlib.crc32(head[0:8]) == int.from_bytes(head[8:12], "big")


class BedrockInvokeSurface(Surface):
    name = "bedrock_invoke"
    description = "the Salesforce LLM Gateway (Bedrock invoke)"
    accepts = frozenset({"image", "document"})
    anthropic_tools = True

    def _path(self, call: Call, suffix: str) -> str:
        return f"/ai/gpt/v1/model/{call.entry.salesforce_model}/{suffix}"

    async def _payloads(self, call: Call) -> tuple[dict, dict | None]:
        """The body to send first, and the plain one to retry with when the first is refused (None: no retry)."""
        entry = call.entry
        full = bedrock.to_request(call.request, entry.adaptive_thinking)
        if not bedrock.carries_thinking(full):
            return full, None
        plain = bedrock.to_request(call.request, entry.adaptive_thinking, plain=True)
        if await self.learned.holds(NO_THINKING, entry.salesforce_model):
            note_thinking_fallback()
            return plain, None
        return full, plain

    async def _learn(self, call: Call, error: GatewayError) -> None:
        note_thinking_fallback()
        model = call.entry.salesforce_model
        if await self.learned.learn(NO_THINKING, model):
            log.warning(
                "Salesforce model %s refused thinking, thinking history or betas (%s); requests to it go "
                "without them for the next %.0f s",
                model,
                error.message[:200],
                self.learned.cache.ttl,
            )

    def _remaining(self, started: float) -> float:
        remaining = started + self.client.deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise _deadline_error()
        return remaining

    async def _within(self, started: float, attempt: Callable[[], Awaitable[dict]]) -> dict:
        """The retry, in what is left of the request's deadline."""
        remaining = self._remaining(started)
        try:
            async with asyncio.timeout(remaining):
                return await attempt()
        except TimeoutError:
            raise _deadline_error() from None

    async def create(self, call: Call) -> dict:
        started = asyncio.get_running_loop().time()
        payload, plain = await self._payloads(call)
        path = self._path(call, "invoke")
        try:
            body = await self.client.post_json(path, payload, call.context)
        except GatewayError as exc:
            if plain is None or not refuses_thinking(exc):
                raise
            await self._learn(call, exc)
            body = await self._within(started, lambda: self.client.post_json(path, plain, call.context))
        if not isinstance(body, dict) or body.get("type") == "error" or "content" not in body:
            raise GatewayError("api_error", "Salesforce returned an answer without content", status=500, backend=True)
        return bedrock.relabel_message(body, call.message_id, call.model)

    async def stream(self, call: Call) -> AsyncIterator[dict]:
        started = asyncio.get_running_loop().time()
        payload, plain = await self._payloads(call)
        sent = False
        try:
            async for event in self._stream_once(call, payload):
                sent = True
                yield event
            return
        except GatewayError as exc:
            if sent or plain is None or not refuses_thinking(exc):
                raise
            await self._learn(call, exc)
        async for event in self._stream_once(call, plain, self._remaining(started)):
            yield event

    async def _stream_once(self, call: Call, payload: dict, within: float | None = None) -> AsyncIterator[dict]:
        path = self._path(call, "invoke-with-response-stream")
        async with AsyncExitStack() as stack:
            try:
                async with asyncio.timeout(within):  # a retry waits for its headers only as long as is left
                    response = await stack.enter_async_context(self.client.post_stream(path, payload, call.context))
            except TimeoutError:
                raise _deadline_error() from None
            finished = started = False
            async for event in eventstream.decode(self._frames(response, call), call.context):
                started = True
                relabelled = bedrock.relabel_event(event, call.message_id, call.model)
                finished = relabelled["type"] == "message_stop"
                yield relabelled
            if not started:
                raise empty_answer("stream")
            if not finished:
                raise GatewayError(
                    "api_error", "Salesforce ended the stream before the message was complete", backend=True
                )

    @staticmethod
    async def _frames(response: httpx.Response, call: Call) -> AsyncIterator[bytes]:
        """The raw event stream, known by its Content-Type or its framing; anything else in a 200 (seen under
        load: a JSON or text error) is Salesforce's error, typed as retryable."""
        chunks = response.aiter_raw()
        if response.headers.get("content-type", "").startswith(eventstream.MEDIA_TYPE):
            async for chunk in chunks:
                yield chunk
            return
        head = b""
        async for chunk in chunks:
            head += chunk  # at most a few chunks: the prelude is 12 bytes
            if len(head) >= PRELUDE:
                break
        if not head:
            return  # an empty stream: the caller says so
        if not is_event_stream(head):
            rest = await read_capped(chunks, MAX_ERROR_BODY - len(head))
            raise error_in_200(head + rest, call.context)
        yield head
        async for chunk in chunks:
            yield chunk


def _deadline_error() -> GatewayError:
    return GatewayError("timeout_error", "Salesforce did not answer within the gateway's deadline", backend=True)
