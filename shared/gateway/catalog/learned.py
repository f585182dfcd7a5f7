"""What the gateway learns about a Salesforce model from its answers, kept in the verification store.

A real org may refuse what the catalog says a model takes (older Claude models answer thinking, thinking
history and betas with a 502 "No user context has been created!"). Once learned, the fact is written to the
verification store (DynamoDB when deployed, memory locally), with that store's TTL, so every container skips
the failing attempt until the fact expires and is tried again. Reads are remembered in-process for a short
while: a request does not pay a store round trip each time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ..stores.base import VerificationCache

log = logging.getLogger("gateway")

# A fact's key prefix in the verification store; verification's own keys are "{surface}/{model}".
PREFIX = "learned"
# Salesforce model refuses thinking / thinking history / betas: requests to it go without them.
NO_THINKING = "no-thinking"
RECHECK_SECONDS = 60.0  # how long this process trusts what it read from the store


class LearnedFacts:
    def __init__(
        self, cache: VerificationCache, recheck: float = RECHECK_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.cache = cache
        self.recheck = recheck
        self._clock = clock
        self._known: dict[str, tuple[bool, float]] = {}  # key -> (fact holds, trusted until)
        self._logged: set[str] = set()

    @staticmethod
    def key(fact: str, salesforce_model: str) -> str:
        return f"{PREFIX}/{fact}/{salesforce_model}"

    async def holds(self, fact: str, salesforce_model: str) -> bool:
        """Has the gateway learned ``fact`` about the model (and not yet forgotten it)? A store that cannot
        answer counts as "not learned": the request is tried as the client asked."""
        key = self.key(fact, salesforce_model)
        now = self._clock()
        known = self._known.get(key)
        if known is not None and known[1] > now:
            return known[0]
        try:
            found = await self._call(self.cache.get, key)
        except Exception as exc:
            log.warning("learned facts: store read failed (%s)", type(exc).__name__)
            found = None
        holds = bool(found)
        self._known[key] = (holds, now + self.recheck)
        return holds

    async def learn(self, fact: str, salesforce_model: str) -> bool:
        """Remember ``fact`` for the store's TTL; True the first time this process learns it (to log once)."""
        key = self.key(fact, salesforce_model)
        self._known[key] = (True, self._clock() + self.recheck)
        try:
            await self._call(self.cache.put, key, True)
        except Exception as exc:
            log.warning("learned facts: store write failed (%s)", type(exc).__name__)
        first = key not in self._logged
        self._logged.add(key)
        return first

    async def _call(self, method: Callable, *args: object) -> object:
        if self.cache.blocking:
            return await asyncio.to_thread(method, *args)
        return method(*args)
