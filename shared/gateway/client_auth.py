"""Client authentication and attribution: which developer is calling, and what their answer cost.

A developer is known from (first that applies):
1. the REQUEST authorizer's context (``requestContext.authorizer``), trusted only when
   ``GATEWAY_TRUST_AUTHORIZER`` is set, as the template does: API Gateway ran the authorizer already;
2. the key store (``GATEWAY_KEYS_FILE`` locally, ``KEYS_TABLE`` deployed), through an in-process cache;
3. ``GATEWAY_API_KEYS`` (comma-separated shared keys, compared in constant time, named ``env-key-N``).
With none of them configured (or an empty key file) every request passes, as ``make run`` always has.

The client's key stays here: nothing from these headers is ever forwarded to Salesforce or logged.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from .anthropic.errors import GatewayError
from .jsoncodec import loads
from .keys.budgets import Budgets
from .keys.local import FileKeyStore
from .keys.model import Identity
from .keys.store import KeyCache, KeyStore, presented_keys

__all__ = ["ApiKeyCheck", "presented_keys"]

log = logging.getLogger("gateway")

MISSING = "x-api-key header is required"  # Authorization: Bearer works too (the redactor masks that phrase)
INVALID = "invalid x-api-key"
SESSION_HEADER = "x-claude-code-session-id"


def authorizer_context(scope: dict, headers: dict[str, str]) -> dict | None:
    """``requestContext.authorizer`` from Mangum's event or the Lambda Web Adapter's context header."""
    event = scope.get("aws.event")
    if isinstance(event, dict):
        context = (event.get("requestContext") or {}).get("authorizer")
    else:
        raw = headers.get("x-amzn-request-context")
        try:
            context = (loads(raw) or {}).get("authorizer") if raw else None
        except (ValueError, AttributeError):
            return None
    return context if isinstance(context, dict) else None


def _int(value: object) -> int | None:
    try:
        return int(str(value)) or None
    except ValueError:
        return None


class ApiKeyCheck:
    def __init__(
        self,
        keys: tuple[str, ...] = (),
        store: KeyStore | None = None,
        *,
        trust_authorizer: bool = False,
        cache_ttl: float = 60.0,
        budgets: Budgets | None = None,
    ) -> None:
        self._keys = tuple(k.encode() for k in keys)
        self.store = store
        self.cache = KeyCache(store, ttl=cache_ttl) if store is not None else None
        self.trust_authorizer = trust_authorizer
        self.budgets = budgets or (Budgets(store, blocking=not isinstance(store, FileKeyStore)) if store else None)

    @property
    def enabled(self) -> bool:
        if self._keys or self.trust_authorizer:
            return True
        if isinstance(self.store, FileKeyStore):
            return not self.store.empty()
        return self.store is not None

    def _env_key(self, presented: list[str]) -> Identity | None:
        found = None
        for candidate in presented:
            raw = candidate.encode()
            for index, key in enumerate(self._keys, 1):  # compare against every key: timing says nothing
                if hmac.compare_digest(raw, key) and found is None:
                    found = Identity(f"env-key-{index}")
        return found

    def identify(self, headers: dict[str, str], scope: dict | None = None) -> Identity | GatewayError | None:
        """The caller's identity, an authentication error, or None when no keys are configured."""
        if self.trust_authorizer and scope is not None:
            context = authorizer_context(scope, headers)
            if context and context.get("developer"):
                return Identity(str(context["developer"]), _int(context.get("budget")))
        if not self.enabled:
            return None
        presented = presented_keys(headers)
        if not presented:
            return GatewayError("authentication_error", MISSING)
        if self.cache is not None:
            match = self.cache.first_match(presented)
            if match is not None:
                return Identity(match[0].owner, match[0].budget)
        return self._env_key(presented) or GatewayError("authentication_error", INVALID)

    def check(self, headers: dict[str, str], scope: dict | None = None) -> GatewayError | None:
        """None when the request may go on; the developer lands on ``scope["state"]`` and the sample."""
        found = self.identify(headers, scope)
        if isinstance(found, GatewayError):
            return found
        if scope is not None:
            state = scope.setdefault("state", {})
            state["developer"] = found
            sample = state.get("sample")
            if sample is not None:
                sample.developer = found.owner if found else None
                session = headers.get(SESSION_HEADER)
                sample.session_id = session[:128] if session else None
        return None

    async def check_budget(self, state: Any) -> None:
        """Before the Salesforce call: the over-budget error, if this developer's month is spent."""
        if self.budgets is not None:
            await self.budgets.check(getattr(state, "developer", None))

    async def settle(self, sample: Any) -> None:
        """After the answer's usage is known (before its last byte): add it to the developer's month."""
        if self.budgets is None or not getattr(sample, "developer", None) or getattr(sample, "settled", True):
            return
        sample.settled = True
        delta = {
            "input_tokens": sample.input_tokens or 0,
            "output_tokens": sample.output_tokens or 0,
            "cache_read_tokens": sample.cache_read_tokens or 0,
            "cache_creation_tokens": sample.cache_creation_tokens or 0,
        }
        if not any(delta.values()):
            return
        try:
            await self.budgets.record(sample.developer, {**delta, "requests": 1})
        except Exception as exc:  # the answer is good; a missed count must not turn it into an error
            log.error("usage not recorded for %s: %s: %s", sample.developer, type(exc).__name__, exc)
