"""Reading server-sent events from Salesforce's chat/generations stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx


async def read_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(event name, data) pairs; multi-line data is joined with newlines, as the SSE spec says."""
    name, data = "message", []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield name, "\n".join(data)
