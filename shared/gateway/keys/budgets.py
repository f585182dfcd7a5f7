"""Monthly token budgets: checked before a request goes to Salesforce, counted after its usage is known.

The check reads the month's counter at most every ``ttl`` seconds per container (each count refreshes
it), so a developer can overshoot by what is in flight; the count itself is an atomic add, never lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ..anthropic.errors import GatewayError
from .model import Identity, Usage, month_of, month_reset
from .store import KeyStore


def over_budget(identity: Identity, usage: Usage) -> GatewayError:
    """429 with ``x-should-retry: false``: the SDKs and Claude Code show it at once and do not retry
    (a retry cannot help before the reset); the message names the budget and the reset date."""
    reset = month_reset(usage.month)
    return GatewayError(
        "rate_limit_error",
        f"Monthly token budget reached for developer {identity.owner}: {usage.tokens:,} of "
        f"{identity.budget:,} tokens used in {usage.month} (input + output + cache). "
        f"It resets on {reset} at 00:00 UTC; ask the gateway's administrator to raise it.",
        headers={"x-should-retry": "false"},
    )


class Budgets:
    def __init__(
        self,
        store: KeyStore,
        ttl: float = 5.0,
        blocking: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.blocking = blocking  # True: store calls go to a worker thread (network I/O)
        self._clock = clock
        self._seen: dict[str, tuple[Usage, float]] = {}

    async def _call(self, fn: Callable, *args: object) -> Usage:
        return await asyncio.to_thread(fn, *args) if self.blocking else fn(*args)

    async def check(self, identity: Identity | None) -> None:
        """Raises the over-budget error when the developer's month is spent."""
        if identity is None or not identity.budget:
            return
        month = month_of()
        seen = self._seen.get(identity.owner)
        if seen is None or seen[1] <= self._clock() or seen[0].month != month:
            usage = await self._call(self.store.get_usage, identity.owner, month)
            self._seen[identity.owner] = (usage, self._clock() + self.ttl)
        else:
            usage = seen[0]
        if usage.tokens >= identity.budget:
            raise over_budget(identity, usage)

    async def record(self, owner: str, delta: dict[str, int]) -> Usage:
        usage = await self._call(self.store.add_usage, owner, month_of(), delta)
        self._seen[owner] = (usage, self._clock() + self.ttl)
        return usage
