"""What the gateway retries itself, and what it leaves to the client.

Every Anthropic SDK retries 408, 429 and 5xx on its own (2 times by default; Claude Code 10 times), so a
gateway that retries them too multiplies the calls a struggling Salesforce sees (3 x 11 = 33 for one 429).
A rate limit or a busy answer therefore goes straight back with Salesforce's ``Retry-After``; only a failure
that is likely one bad node or connection (a refused connection, a 5xx before the first byte) is tried again
here, once by default (``SF_MAX_RETRIES``), with jitter.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# Tried again here (up to SF_MAX_RETRIES): a 5xx before any byte reached the client.
GATEWAY_RETRY_STATUSES = frozenset({500, 502, 503, 504})
# Never tried again here: the client's own retry handles them, after the Retry-After passed on to it.
CLIENT_RETRY_STATUSES = frozenset({408, 423, 429})
# 401 is in neither: it is answered by re-minting the token once, not by waiting.


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
    max_retries: int = 1
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
