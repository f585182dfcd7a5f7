"""When to try a Salesforce call again: retryable statuses only, before any byte reached the client,
exponential backoff with full jitter, ``Retry-After`` honoured when it is short enough."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# 401 is not here: it is answered by re-minting the token once, not by waiting.
RETRYABLE_STATUSES = frozenset({408, 423, 429, 500, 502, 503, 504})


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds); HTTP dates and junk count as absent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = lowered.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) * scale
        except ValueError:
            continue
        if value >= 0:
            return value
    return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 2
    base_delay: float = 0.25
    max_delay: float = 4.0
    max_retry_after: float = 20.0  # a longer Retry-After is passed to the client instead of waited out

    def delay(
        self, retries_done: int, retry_after: float | None, rng: Callable[[], float] = random.random
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up now."""
        if retries_done >= self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return rng() * min(self.max_delay, self.base_delay * 2**retries_done)
