"""OAuth 2.0 client credentials against the org's My Domain, with the JWT cached until near ``exp``."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import redaction
from ..anthropic.errors import GatewayError

if TYPE_CHECKING:
    import httpx

    from .transport import Transport

DEFAULT_API_BASE = "https://api.salesforce.com"
REFRESH_MARGIN = 300.0  # seconds before exp; shortened for short-lived tokens
FALLBACK_LIFETIME = 1800.0  # Salesforce's default JWT timeout when exp cannot be read


@dataclass(frozen=True, slots=True)
class Credentials:
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)

    def __str__(self) -> str:  # never print the secret, whatever formats this object
        return f"Credentials(token_url={self.token_url!r}, client_id=***)"


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str
    api_base: str
    expires_at: float
    refresh_at: float


def jwt_expiry(token: str) -> tuple[float, float] | None:
    """(iat, exp) from a JWT payload, without verifying it (Salesforce verifies it)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return float(payload.get("iat") or time.time()), float(payload["exp"])
    except (ValueError, KeyError, TypeError):
        return None


class TokenProvider:
    """Mints and caches the org JWT. Concurrent callers share one mint."""

    def __init__(
        self,
        http: Transport,
        credentials: Callable[[], Credentials],
        api_base_override: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``credentials`` is called at the first mint (it may read Secrets Manager), then kept."""
        self._http = http
        self._load_credentials = credentials
        self._credentials: Credentials | None = None
        self._api_base_override = api_base_override
        self._clock = clock
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()

    async def get(self, *, stale: str | None = None) -> AccessToken:
        """The cached token, or a new one if it is near expiry or equals ``stale`` (rejected by a 401)."""
        token = self._token
        if token is not None and token.value != stale and self._clock() < token.refresh_at:
            return token
        async with self._lock:
            token = self._token
            if token is None or token.value == stale or self._clock() >= token.refresh_at:
                token = self._token = await self._mint()
            return token

    async def _mint(self) -> AccessToken:
        import httpx  # the transport has loaded it already; not at module import, for cold starts

        if self._credentials is None:
            try:
                self._credentials = await asyncio.to_thread(self._load_credentials)
            except Exception as exc:
                raise GatewayError(
                    "api_error",
                    f"Salesforce credentials could not be loaded ({type(exc).__name__})",
                    status=500,
                    backend=True,
                ) from None
        creds = self._credentials
        redaction.register(creds.client_secret)
        form = {"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": creds.client_secret}
        try:
            response = await self._http.send("POST", creds.token_url, data=form)
        except httpx.HTTPError as exc:
            raise GatewayError(
                "api_error", f"Salesforce OAuth endpoint unreachable: {type(exc).__name__}", status=500, backend=True
            ) from None
        if response.status_code != 200:
            raise GatewayError("api_error", _oauth_failure(response), status=500, backend=True)
        try:
            body = response.json()
            value = body["access_token"]
        except (ValueError, KeyError, TypeError):
            raise GatewayError(
                "api_error", "Salesforce OAuth endpoint returned no access token", status=500, backend=True
            ) from None
        redaction.register(value)
        now = self._clock()
        times = jwt_expiry(value)
        iat, exp = times if times else (now, now + FALLBACK_LIFETIME)
        margin = min(REFRESH_MARGIN, max(0.0, (exp - iat) * 0.1))
        api_base = self._api_base_override or body.get("api_instance_url") or DEFAULT_API_BASE
        return AccessToken(value=value, api_base=api_base.rstrip("/"), expires_at=exp, refresh_at=exp - margin)


def _oauth_failure(response: httpx.Response) -> str:
    """Salesforce's OAuth error code and description; never echoes what we sent."""
    try:
        body = response.json()
        detail = body.get("error_description") or body.get("error") or ""
    except ValueError:
        detail = ""
    suffix = f": {detail}" if detail else ""
    return f"Salesforce authentication failed (HTTP {response.status_code}){suffix}"
