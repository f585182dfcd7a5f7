"""Model verification: ``/v1/models`` lists only models whose Salesforce model answered a probe.

Definite answers are cached (a refusal for less time than a success). A probe that says nothing
(timeout, outage, rate limit, OAuth failure) is not cached and never taken for "does not exist":
retrieving that model is a retryable 503, and the listing falls back on what the verification
store last knew (expired entries included), or is a 503 too, never an empty list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..anthropic.errors import GatewayError
from ..stores.base import VerificationCache
from .model_map import ModelEntry

Probe = Callable[[ModelEntry], Awaitable[bool | None]]


def unverifiable(what: str) -> GatewayError:
    """Salesforce could not be asked (it did not answer, or the gateway could not authenticate): retryable."""
    return GatewayError(
        "api_error",
        f"{what}: Salesforce did not answer the gateway's availability check (timeout, outage or authentication"
        " failure); try again",
        status=503,
        backend=True,
    )


class ModelVerifier:
    def __init__(self, cache: VerificationCache, probe: Probe, refusal_ttl: float = 300.0) -> None:
        self.cache = cache
        self._probe = probe
        self.refusal_ttl = refusal_ttl
        self._inflight: dict[str, asyncio.Future[bool | None]] = {}
        self._background: set[asyncio.Future] = set()  # probes that outlived a listing's budget

    @staticmethod
    def key(entry: ModelEntry) -> str:
        return f"{entry.surface}/{entry.salesforce_model}"

    async def is_available(self, entry: ModelEntry, budget: float | None = None) -> bool:
        """What Salesforce said; a retryable error when it could not be asked within ``budget`` seconds (the
        probe goes on, so the next lookup has its answer)."""
        cached = await self._cache_get(self.key(entry))
        if cached is not None:
            return cached
        probe = asyncio.ensure_future(self._verify(entry))
        done, _ = await asyncio.wait({probe}, timeout=budget)
        if not done:
            self._background.add(probe)
            probe.add_done_callback(self._forget)
            raise unverifiable(f"model: {entry.id}")
        answer = probe.result()
        if answer is None:
            raise unverifiable(f"model: {entry.id}")
        return answer

    async def _verify(self, entry: ModelEntry) -> bool | None:
        """Probe, once per model however many callers ask at once, and remember a definite answer."""
        key = self.key(entry)
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bool | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            answer = await self._probe(entry)
            if answer is not None:
                await self._cache_put(key, answer, None if answer else self.refusal_ttl)
            future.set_result(answer)
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
        answered by then count as not asked: Claude Code gives model discovery 3 s, and one slow Salesforce
        model must not cost it the whole list. Their probes go on while the process runs (under uvicorn at
        once; in a Lambda container during its next invocations), so a later listing has them. A model that
        could not be asked is listed as the store last knew it; if that leaves nothing, it is an error.
        """
        cached = await asyncio.gather(*(self._cache_get(self.key(e)) for e in entries))
        probes = {i: asyncio.ensure_future(self._verify(e)) for i, e in enumerate(entries) if cached[i] is None}
        done: set = set()
        if probes:
            done, pending = await asyncio.wait(probes.values(), timeout=budget)
            for probe in pending:
                self._background.add(probe)
                probe.add_done_callback(self._forget)
        answers = [
            c if c is not None else _answer(probes[i]) if probes[i] in done else None for i, c in enumerate(cached)
        ]
        unknown = [i for i, answer in enumerate(answers) if answer is None]
        if unknown:
            known = await asyncio.gather(*(self._last_known(self.key(entries[i])) for i in unknown))
            for i, last in zip(unknown, known, strict=True):
                answers[i] = last
        listed = [e for e, ok in zip(entries, answers, strict=True) if ok]
        if not listed and unknown:
            raise unverifiable("models")
        return listed

    def _forget(self, probe: asyncio.Future) -> None:
        self._background.discard(probe)
        if not probe.cancelled():
            probe.exception()  # retrieved: a late failure is not worth a "never retrieved" warning

    async def _cache_get(self, key: str) -> bool | None:
        if self.cache.blocking:
            return await asyncio.to_thread(self.cache.get, key)
        return self.cache.get(key)

    async def _last_known(self, key: str) -> bool | None:
        """The store's last answer for ``key``, expired or not: better than nothing while Salesforce is silent."""
        read = self.cache._read  # the raw read: it does not drop expired entries
        try:
            found = await asyncio.to_thread(read, key) if self.cache.blocking else read(key)
        except Exception:  # the store failing too leaves nothing to fall back on, which is said as a 503
            return None
        return found[0] if found else None

    async def _cache_put(self, key: str, ok: bool, ttl: float | None) -> None:
        if self.cache.blocking:
            await asyncio.to_thread(self.cache.put, key, ok, ttl)
        else:
            self.cache.put(key, ok, ttl)


def _answer(probe: asyncio.Future) -> bool | None:
    """A finished probe's answer; one that failed outright could not ask either."""
    return None if probe.cancelled() or probe.exception() is not None else probe.result()
