"""The key store in one JSON file, for ``make run`` and tests: the same records as DynamoDB.

Writers (the gateway adding usage, ``python -m gateway.keys``) take an exclusive ``flock`` on a
sidecar lock file and replace the file atomically, so readers always see a whole document and two
processes adding usage at once both count.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from .model import USAGE_FIELDS, Developer, KeyRecord, Usage
from .store import KeyStore, usage_from

_EMPTY: dict[str, dict] = {"keys": {}, "developers": {}, "usage": {}}


def _load(cls: type, data: dict) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


class FileKeyStore(KeyStore):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._thread_lock = threading.Lock()
        self._doc: dict[str, dict] = {k: {} for k in _EMPTY}
        self._stamp: tuple[int, int] | None = None

    def _read(self) -> dict[str, dict]:
        """The document, re-read only when the file changed (a stat per call)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {k: {} for k in _EMPTY}
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            doc = json.loads(self.path.read_text() or "{}")
            self._doc = {k: dict(doc.get(k) or {}) for k in _EMPTY}
            self._stamp = stamp
        return self._doc

    @contextlib.contextmanager
    def _writing(self) -> Iterator[dict[str, dict]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._stamp = None  # another process may have written since our last read
                doc = self._read()
                yield doc
                fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
                with os.fdopen(fd, "w") as out:
                    json.dump(doc, out, indent=1, sort_keys=True)
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.path)
                self._stamp = None
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _update(self, change: Callable[[dict[str, dict]], Any]) -> Any:
        with self._writing() as doc:
            return change(doc)

    def get_key(self, key_hash: str) -> KeyRecord | None:
        data = self._read()["keys"].get(key_hash)
        return _load(KeyRecord, {"key_hash": key_hash, **data}) if data else None

    def put_key(self, record: KeyRecord) -> None:
        item = {k: v for k, v in asdict(record).items() if k != "key_hash" and v is not None}
        self._update(lambda doc: doc["keys"].__setitem__(record.key_hash, item))

    def get_developer(self, owner: str) -> Developer | None:
        data = self._read()["developers"].get(owner)
        return _load(Developer, data) if data else None

    def put_developer(self, developer: Developer) -> None:
        self._update(lambda doc: doc["developers"].__setitem__(developer.owner, developer.to_dict()))

    def developers(self) -> list[Developer]:
        return [_load(Developer, d) for _, d in sorted(self._read()["developers"].items())]

    def add_usage(self, owner: str, month: str, delta: dict[str, int]) -> Usage:
        def add(doc: dict[str, dict]) -> Usage:
            item = doc["usage"].setdefault(f"{owner}#{month}", {})
            for name in USAGE_FIELDS:
                if delta.get(name):
                    item[name] = int(item.get(name, 0)) + int(delta[name])
            return usage_from(owner, month, item)

        return self._update(add)

    def get_usage(self, owner: str, month: str) -> Usage:
        return usage_from(owner, month, self._read()["usage"].get(f"{owner}#{month}", {}))

    def empty(self) -> bool:
        """No key was ever created here: ``make run`` then accepts any key, as it always has."""
        return not self._read()["keys"]
