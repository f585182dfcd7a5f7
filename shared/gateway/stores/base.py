"""Store interfaces. Caching lives here, in the base, so every store gets it the same way."""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

from ..catalog.model_map import ModelMap

log = logging.getLogger("gateway")

RETRY_AFTER_FAILED_REFRESH = 30.0  # seconds a stale map is kept after its store failed to answer


class ModelMapSource(ABC):
    """Loads the model map, re-reading the backing store at most every ``max_age`` seconds.

    A refresh that fails keeps the map already loaded (Salesforce routing should not stop because
    SSM hiccupped); only the very first load has nothing to fall back on.
    """

    # True for stores that do network I/O: ``aget`` runs their fetch in a worker thread.
    blocking = False

    def __init__(self, max_age: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self._clock = clock
        self._cached: ModelMap | None = None
        self._raw: str | bytes | None = None
        self._loaded_at = 0.0
        self._pending: asyncio.Future[ModelMap] | None = None  # the read under way, shared by its callers

    @abstractmethod
    def _fetch(self) -> str | bytes:
        """The raw JSON document from the backing store."""

    def _fresh(self) -> ModelMap | None:
        if self._cached is not None and self._clock() - self._loaded_at < self.max_age:
            return self._cached
        return None

    def _store(self, fetch: Callable[[], str | bytes]) -> ModelMap:
        now = self._clock()
        try:
            raw = fetch()
            if self._cached is None or raw != self._raw:  # re-parse only when the document changed
                parsed = ModelMap.from_json(raw)  # a bad document is a failed refresh too
                self._cached, self._raw = parsed, raw
        except Exception as exc:
            if self._cached is None:
                raise
            log.warning("model map: refresh failed (%s: %s); keeping the map loaded before", type(exc).__name__, exc)
            self._loaded_at = now - self.max_age + RETRY_AFTER_FAILED_REFRESH
            return self._cached
        self._loaded_at = now
        return self._cached

    def get(self) -> ModelMap:
        return self._fresh() or self._store(self._fetch)

    async def aget(self) -> ModelMap:
        """As ``get``, without blocking the event loop on the store; concurrent callers share one read,
        and its failure: a store that is down is asked once, not once per waiting request."""
        cached = self._fresh()
        if cached is not None:
            return cached
        if not self.blocking:
            return self._store(self._fetch)
        pending = self._pending
        if pending is None or pending.get_loop() is not asyncio.get_running_loop():
            pending = self._pending = asyncio.ensure_future(asyncio.to_thread(self._store, self._fetch))
            pending.add_done_callback(self._read_done)
        return await asyncio.shield(pending)

    def _read_done(self, read: asyncio.Future) -> None:
        if self._pending is read:
            self._pending = None
        if not read.cancelled():
            read.exception()  # retrieved: every waiter has it already


class VerificationCache(ABC):
    """Remembers whether a Salesforce model answered its probe, for ``ttl`` seconds."""

    # True for stores that do network I/O: callers run them in a worker thread.
    blocking = False

    def __init__(self, ttl: float = 3600.0, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self._clock = clock

    @abstractmethod
    def _read(self, key: str) -> tuple[bool, float] | None:
        """(ok, expires_at) or None."""

    @abstractmethod
    def _write(self, key: str, ok: bool, expires_at: float) -> None: ...

    def get(self, key: str) -> bool | None:
        found = self._read(key)
        if found is None:
            return None
        ok, expires_at = found
        return ok if expires_at > self._clock() else None

    def put(self, key: str, ok: bool, ttl: float | None = None) -> None:
        self._write(key, ok, self._clock() + (self.ttl if ttl is None else ttl))
