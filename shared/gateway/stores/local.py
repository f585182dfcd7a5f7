"""Local stores for ``make run``: the model map from a JSON file, verification in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..catalog.model_map import default_map_bytes
from .base import ModelMapSource, VerificationCache


class FileModelMapSource(ModelMapSource):
    def __init__(self, path: str | Path | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = Path(path) if path else None

    def _fetch(self) -> str | bytes:
        if self.path is None:
            return default_map_bytes()
        return self.path.read_bytes()


class MemoryVerificationCache(VerificationCache):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._items: dict[str, tuple[bool, float]] = {}

    def _read(self, key: str) -> tuple[bool, float] | None:
        return self._items.get(key)

    def _write(self, key: str, ok: bool, expires_at: float) -> None:
        self._items[key] = (ok, expires_at)
