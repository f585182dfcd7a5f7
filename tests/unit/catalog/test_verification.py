"""Model verification: the listing budget bounds probes, not reads of the verification cache."""

from __future__ import annotations

import asyncio
import time

from gateway.catalog.model_map import ModelMap, default_map_bytes
from gateway.catalog.verification import ModelVerifier
from gateway.stores.base import VerificationCache


class SlowCache(VerificationCache):
    """A verification store that answers in 0.3 s a read (DynamoDB from a cold container): all verified."""

    blocking = True

    def _read(self, key: str) -> tuple[bool, float] | None:
        time.sleep(0.3)
        return True, time.time() + 3600

    def _write(self, key: str, ok: bool, expires_at: float) -> None:
        raise AssertionError("nothing needed probing")


def test_the_listing_budget_is_for_probes_not_for_reading_the_cache():
    entries = ModelMap.from_json(default_map_bytes()).listed()

    async def never_probed(entry):
        raise AssertionError(f"{entry.id} was cached")

    verifier = ModelVerifier(SlowCache(), never_probed)
    # Slow cache reads (a few worker threads for a dozen models) take longer than the budget; all still count.
    listed = asyncio.run(verifier.available(entries, budget=0.1))
    assert listed == entries
