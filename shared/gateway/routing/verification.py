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
        cached = await self._cache_get(self.key(entry))
        return cached if cached is not None else await self._verify(entry)

    async def _verify(self, entry: ModelEntry) -> bool:
        """Probe, once per model however many callers ask at once, and remember a definite answer."""
        key = self.key(entry)
        pending = self._inflight.get(key)
        if pending is not None:
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

        The cache is read first, outside any budget. With a ``budget`` (seconds), models whose probe has not
        answered by then are left out of this answer: Claude Code gives model discovery 3 s, and one slow
        Salesforce model must not cost it the whole list. Their probes go on while the process runs (under
        uvicorn at once; in a Lambda container during its next invocations), so a later listing has them.
        """
        cached = await asyncio.gather(*(self._cache_get(self.key(e)) for e in entries))
        probes = {i: asyncio.ensure_future(self._verify(e)) for i, e in enumerate(entries) if cached[i] is None}
        done: set = set()
        if probes:
            done, pending = await asyncio.wait(probes.values(), timeout=budget)
            for probe in pending:
                self._background.add(probe)
                probe.add_done_callback(self._forget)
        answers = [c if c is not None else (probes[i] in done and probes[i].result()) for i, c in enumerate(cached)]
        return [e for e, ok in zip(entries, answers, strict=True) if ok]

    def _forget(self, probe: asyncio.Future) -> None:
        self._background.discard(probe)
        if not probe.cancelled():
            probe.exception()  # retrieved: a late failure is not worth a "never retrieved" warning

    async def _cache_get(self, key: str) -> bool | None:
        if self.cache.blocking:
            return await asyncio.to_thread(self.cache.get, key)
        return self.cache.get(key)

    async def _cache_put(self, key: str, ok: bool, ttl: float | None) -> None:
        if self.cache.blocking:
            await asyncio.to_thread(self.cache.put, key, ok, ttl)
        else:
            self.cache.put(key, ok, ttl)
