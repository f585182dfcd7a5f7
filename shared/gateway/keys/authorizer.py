"""The Lambda REQUEST authorizer: a presented key -> its developer, and their API Gateway key.

API Gateway calls it on every request (no identity sources, result TTL 0: with identity sources on one
header, a client sending only the other would be refused before the authorizer runs; ``apiKeyHelper``
sends both, ``ANTHROPIC_AUTH_TOKEN`` only Bearer, ``ANTHROPIC_API_KEY`` only x-api-key). Caching is
here instead, in the container (``KeyCache``): a warm check is a SHA-256 and a dict lookup, and a
revoked key stops working within ``KEY_CACHE_SECONDS`` (60 s by default).

The secret a developer holds *is* their API Gateway key value, so ``usageIdentifierKey`` is the key they
presented: their usage plan throttles and quotas them, and no table holds a key in clear.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from .dynamodb import DynamoDBKeyStore
from .store import KeyCache, KeyStore, presented_keys

log = logging.getLogger("gateway.authorizer")


class Unauthorized(Exception):
    """Raised with the exact message "Unauthorized": API Gateway answers 401 (its UNAUTHORIZED response)."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


class Authorizer:
    def __init__(
        self,
        store: KeyStore,
        ttl: float = 60.0,
        negative_ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache = KeyCache(store, ttl=ttl, negative_ttl=negative_ttl, clock=clock)

    @classmethod
    def from_env(cls, env: Any = None) -> Authorizer:
        env = os.environ if env is None else env
        store = DynamoDBKeyStore(env["KEYS_TABLE"])
        store.connect()  # the client (~0.3 s of botocore loading) during init, not in the first request
        return cls(
            store,
            ttl=float(env.get("KEY_CACHE_SECONDS") or 60),
            negative_ttl=float(env.get("KEY_NEGATIVE_CACHE_SECONDS") or 5),
        )

    def __call__(self, event: dict) -> dict:
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items() if v is not None}
        candidates = presented_keys(headers)
        match = self.cache.first_match(candidates)
        if match is None:
            # The key itself is never logged; which headers came is enough to help.
            log.info("refused: %s", "unknown or revoked key" if candidates else "no x-api-key or Bearer token")
            raise Unauthorized
        record, secret = match
        return {
            "principalId": record.owner,
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}],
            },
            # Reaches the functions as requestContext.authorizer (values become strings).
            "context": {"developer": record.owner, "budget": int(record.budget or 0)},
            "usageIdentifierKey": secret,
        }
