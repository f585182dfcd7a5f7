"""Store interfaces. Caching lives here, in the base, so every store gets it the same way."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable

from ..routing.model_map import ModelMap


class ModelMapSource(ABC):
    """Loads the model map, re-reading the backing store at most every ``max_age`` seconds."""

    def __init__(self, max_age: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self._clock = clock
        self._cached: ModelMap | None = None
        self._raw: str | bytes | None = None
        self._loaded_at = 0.0

    @abstractmethod
    def _fetch(self) -> str | bytes:
        """The raw JSON document from the backing store."""

    def get(self) -> ModelMap:
        now = self._clock()
        if self._cached is None or now - self._loaded_at >= self.max_age:
            raw = self._fetch()
            if self._cached is None or raw != self._raw:  # re-parse only when the document changed
                self._cached = ModelMap.from_json(raw)
                self._raw = raw
            self._loaded_at = now
        return self._cached


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
