"""Reading a body that is an error, not an answer: a misbehaving 200 (or 4xx/5xx) may be endless."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

MAX_ERROR_BODY = 64 * 1024  # an error's text is cut to a few hundred characters; never hold more than this


async def read_capped(chunks: AsyncIterator[bytes], limit: int = MAX_ERROR_BODY) -> bytes:
    """At most ``limit`` bytes from ``chunks``, joined once (no copy per chunk)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(parts)[:limit]


async def read_error_body(response: httpx.Response, limit: int = MAX_ERROR_BODY) -> bytes:
    if response.is_stream_consumed:  # a body read whole already (a call that was not a stream)
        return response.content[:limit]
    return await read_capped(response.aiter_raw(), limit)
