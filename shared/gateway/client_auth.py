"""Client authentication: ``x-api-key`` or ``Authorization: Bearer``, compared in constant time.

The client's key stays here: nothing from these headers is ever forwarded to Salesforce.
"""

from __future__ import annotations

import hmac

from .anthropic.errors import GatewayError


def presented_keys(headers: dict[str, str]) -> list[str]:
    keys = []
    api_key = headers.get("x-api-key")
    if api_key is not None:
        keys.append(api_key.strip())
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        keys.append(auth[7:].strip())
    return keys


class ApiKeyCheck:
    """With no configured keys every request passes (local development, or API Gateway checks keys)."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._keys = tuple(k.encode() for k in keys)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def check(self, headers: dict[str, str]) -> GatewayError | None:
        if not self._keys:
            return None
        presented = [k for k in presented_keys(headers) if k]
        if not presented:
            return GatewayError("authentication_error", "x-api-key header is required")
        matched = False
        for candidate in presented:
            raw = candidate.encode()
            for key in self._keys:  # compare against every key: timing says nothing about which
                matched |= hmac.compare_digest(raw, key)
        return None if matched else GatewayError("authentication_error", "invalid x-api-key")
