"""OAuth 2.0 client credentials against the org's My Domain, with the JWT cached until near ``exp``."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import redaction
from ..anthropic.errors import GatewayError
from ..jsoncodec import loads
from .errors import backend_message

if TYPE_CHECKING:
    import httpx

    from .http import SalesforceHttp

DEFAULT_API_BASE = "https://api.salesforce.com"
REFRESH_MARGIN = 300.0  # seconds before exp; shortened for short-lived tokens
FALLBACK_LIFETIME = 1800.0  # Salesforce's default JWT timeout when exp cannot be read
FAILED_MINT_HOLD = 3.0  # seconds a failed mint is the answer for everyone, instead of a new attempt each


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
    refresh_at: float
    minted_at: float = 0.0  # the provider's clock when the gateway received it


def jwt_expiry(token: str) -> tuple[float, float] | None:
    """(iat, exp) from a JWT payload, without verifying it (Salesforce verifies it)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return float(payload.get("iat") or time.time()), float(payload["exp"])
    except (ValueError, KeyError, TypeError, AttributeError):  # AttributeError: a payload that is not an object
        return None


class TokenProvider:
    """Mints and caches the org JWT: one mint in flight, whose result every caller waiting for it shares.

    A mint that fails is remembered for ``FAILED_MINT_HOLD`` seconds and given to every caller in that time,
    so an OAuth outage costs Salesforce one call per hold, not one per waiting request. Nobody's wait cancels
    the mint: each caller bounds its own wait (``SalesforceClient`` by the request's deadline).
    """

    def __init__(
        self,
        http: SalesforceHttp,
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
        self._minting: asyncio.Future[AccessToken] | None = None
        self._failed: tuple[GatewayError, float] | None = None  # the last mint's error, until (monotonic)

    def cached(self, stale: str | None = None) -> AccessToken | None:
        """The cached token if it is fresh and not ``stale`` (rejected by Salesforce); no waiting."""
        token = self._token
        if token is not None and token.value != stale and self._clock() < token.refresh_at:
            return token
        return None

    def age(self, token: AccessToken) -> float:
        """Seconds since the gateway minted ``token``."""
        return self._clock() - token.minted_at

    async def get(self, *, stale: str | None = None) -> AccessToken:
        """The cached token, or a new one if it is near expiry or equals ``stale``."""
        token = self.cached(stale)
        if token is not None:
            return token
        failed = self._failed
        if failed is not None and time.monotonic() < failed[1]:
            error = failed[0]
            raise GatewayError(error.error_type, error.message, status=error.status, backend=True)
        minting = self._minting
        if minting is None or minting.get_loop() is not asyncio.get_running_loop():
            minting = self._minting = asyncio.ensure_future(self._mint())
            minting.add_done_callback(self._minted)
        return await asyncio.shield(minting)

    def _minted(self, minting: asyncio.Future[AccessToken]) -> None:
        if self._minting is minting:
            self._minting = None
        if minting.cancelled():
            return
        error = minting.exception()  # retrieved here: waiters have it already, nobody else needs a warning
        if error is None:
            self._token, self._failed = minting.result(), None
        elif isinstance(error, GatewayError):
            self._failed = (error, time.monotonic() + FAILED_MINT_HOLD)

    async def _mint(self) -> AccessToken:
        import httpx  # the transport has loaded it already; not at module import, for cold starts

        if self._credentials is None:
            try:
                self._credentials = await asyncio.to_thread(self._load_credentials)
            except GatewayError:  # already says what is wrong (settings.require_salesforce)
                raise
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
        except httpx.TimeoutException:
            raise GatewayError(
                "timeout_error", "Salesforce's OAuth endpoint did not answer in time", backend=True
            ) from None
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
        return AccessToken(value=value, api_base=api_base.rstrip("/"), refresh_at=exp - margin, minted_at=now)


def _oauth_failure(response: httpx.Response) -> str:
    """Salesforce's OAuth error text, in whatever shape it came; never echoes what we sent."""
    detail = backend_message(response.content)
    suffix = f": {detail}" if detail else ""
    return f"Salesforce authentication failed (HTTP {response.status_code}){suffix}"
