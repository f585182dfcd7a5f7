"""The key store interface and the in-container cache in front of it.

Every store keeps the same three kinds of record (see ``model``); the authorizer and the local
gateway both look keys up through :class:`KeyCache`, so a warm check is a dict lookup and a hash.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable

from .model import USAGE_FIELDS, Developer, KeyRecord, Usage, hash_key


class KeyStore(ABC):
    @abstractmethod
    def get_key(self, key_hash: str) -> KeyRecord | None: ...

    @abstractmethod
    def put_key(self, record: KeyRecord) -> None: ...

    @abstractmethod
    def get_developer(self, owner: str) -> Developer | None: ...

    @abstractmethod
    def put_developer(self, developer: Developer) -> None: ...

    @abstractmethod
    def developers(self) -> list[Developer]: ...

    @abstractmethod
    def add_usage(self, owner: str, month: str, delta: dict[str, int]) -> Usage:
        """Adds ``delta`` (``USAGE_FIELDS``) atomically and returns the month's new totals."""

    @abstractmethod
    def get_usage(self, owner: str, month: str) -> Usage: ...

    def month_usage(self, month: str) -> list[Usage]:
        return [self.get_usage(d.owner, month) for d in self.developers()]

    def set_key_status(self, key_hash: str, status: str) -> None:
        record = self.get_key(key_hash)
        if record is not None:
            record.status = status
            self.put_key(record)


def usage_from(owner: str, month: str, item: dict[str, int]) -> Usage:
    return Usage(owner, month, **{name: int(item.get(name, 0)) for name in USAGE_FIELDS})


def presented_keys(headers: dict[str, str]) -> list[str]:
    """``x-api-key`` first, then ``Authorization: Bearer``: ``ANTHROPIC_API_KEY`` sends the first,
    ``ANTHROPIC_AUTH_TOKEN`` the second, ``apiKeyHelper`` both. Headers are lower-cased by the caller."""
    keys = []
    api_key = (headers.get("x-api-key") or "").strip()
    if api_key:
        keys.append(api_key)
    auth = headers.get("authorization") or ""
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        keys.append(auth[7:].strip())
    return keys


class KeyCache:
    """Key lookups, remembered in this container: found keys for ``ttl`` seconds (so a revoked key
    keeps working here for at most ``ttl``), unknown keys for ``negative_ttl`` (a flood of wrong
    keys costs one store read per key per ``negative_ttl``, and a new key works within it)."""

    MAX_ENTRIES = 10_000

    def __init__(
        self,
        store: KeyStore,
        ttl: float = 60.0,
        negative_ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self._clock = clock
        self._entries: dict[str, tuple[KeyRecord | None, float]] = {}
        self._lock = threading.Lock()

    def lookup(self, secret: str) -> KeyRecord | None:
        """The active key record for ``secret``, or None (unknown or revoked)."""
        digest = hash_key(secret)
        now = self._clock()
        entry = self._entries.get(digest)
        if entry is not None and entry[1] > now:
            return entry[0]
        record = self.store.get_key(digest)
        if record is not None and not record.active:
            record = None
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[digest] = (record, now + (self.ttl if record else self.negative_ttl))
        return record

    def first_match(self, candidates: Iterable[str]) -> tuple[KeyRecord, str] | None:
        """The first presented key that is active, with the secret that matched."""
        for secret in candidates:
            record = self.lookup(secret)
            if record is not None:
                return record, secret
        return None
