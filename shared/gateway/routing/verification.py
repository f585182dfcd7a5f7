"""Model verification: ``/v1/models`` lists only models whose Salesforce model answered a probe.

Definite answers are cached (a refusal for less time than a success); a probe that says
nothing (rate limit, outage) is not cached, and the model is left out until it answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..stores.base import VerificationCache
from .model_map import ModelEntry

Probe = Callable[[ModelEntry], Awaitable[bool | None]]


class ModelVerifier:
    def __init__(self, cache: VerificationCache, probe: Probe, refusal_ttl: float = 300.0) -> None:
        self.cache = cache
        self._probe = probe
        self.refusal_ttl = refusal_ttl
        self._inflight: dict[str, asyncio.Future[bool]] = {}
        self._background: set[asyncio.Future] = set()  # probes that outlived a listing's budget

    @staticmethod
    def key(entry: ModelEntry) -> str:
        return f"{entry.surface}/{entry.salesforce_model}"

    async def is_available(self, entry: ModelEntry) -> bool:
        key = self.key(entry)
        cached = await self._cache_get(key)
        if cached is not None:
            return cached
        pending = self._inflight.get(key)
        if pending is not None:  # one probe per model, however many callers ask at once
            return await asyncio.shield(pending)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            answer = await self._probe(entry)
            if answer is not None:
                await self._cache_put(key, answer, None if answer else self.refusal_ttl)
            future.set_result(bool(answer))
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, the loop need not log it
            raise
        finally:
            del self._inflight[key]
        return future.result()

    async def available(self, entries: list[ModelEntry], budget: float | None = None) -> list[ModelEntry]:
        """The entries that answer, in the given order; distinct models are probed concurrently.

        With a ``budget`` (seconds), models whose probe has not answered by then are left out of this
        answer while their probes go on, so the next listing has them: Claude Code gives model discovery
        3 s, and one slow Salesforce model must not cost it the whole list.
        """
        checks = [asyncio.ensure_future(self.is_available(e)) for e in entries]
        if not checks:
            return []
        done, pending = await asyncio.wait(checks, timeout=budget)
        for check in pending:
            self._background.add(check)
            check.add_done_callback(self._forget)
        return [e for e, check in zip(entries, checks, strict=True) if check in done and check.result()]

    def _forget(self, check: asyncio.Future) -> None:
        self._background.discard(check)
        if not check.cancelled():
            check.exception()  # retrieved: a late failure is not worth a "never retrieved" warning

    async def _cache_get(self, key: str) -> bool | None:
        if self.cache.blocking:
            return await asyncio.to_thread(self.cache.get, key)
        return self.cache.get(key)

    async def _cache_put(self, key: str, ok: bool, ttl: float | None) -> None:
        if self.cache.blocking:
            await asyncio.to_thread(self.cache.put, key, ok, ttl)
        else:
            self.cache.put(key, ok, ttl)
