"""The OAuth token endpoint: client credentials in, a signed JWT with ``iat``/``exp`` out, as Salesforce mints."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from .core import Simulator


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenMint:
    def __init__(self, secret: bytes, ttl_seconds: float) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds
        self.minted = 0

    def mint(self, subject: str, now: float | None = None) -> str:
        now = time.time() if now is None else now
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "tnk": "core/prod/sim"}).encode())
        payload = _b64(
            json.dumps(
                {
                    "iss": "salesforce-simulator",
                    "sub": subject,
                    "scp": "sfap_api api",
                    "iat": int(now),
                    "exp": int(now + self.ttl_seconds),
                    "jti": str(self.minted),
                }
            ).encode()
        )
        signing_input = f"{header}.{payload}"
        signature = _b64(hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest())
        self.minted += 1
        return f"{signing_input}.{signature}"

    def valid(self, token: str, now: float | None = None) -> bool:
        parts = token.split(".")
        if len(parts) != 3:
            return False
        expected = _b64(hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            return False
        try:
            exp = json.loads(_unb64(parts[1]))["exp"]
        except (ValueError, KeyError):
            return False
        return (time.time() if now is None else now) < exp


class OAuthEndpoint:
    """``POST /services/oauth2/token`` with the client-credentials grant."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def routes(self) -> list[Route]:
        return [Route("/services/oauth2/token", self.oauth_token, methods=["POST"])]

    async def oauth_token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        self.sim.oauth_calls += 1
        if self.sim.config.oauth_fail_status:
            body = {"error": "server_error", "error_description": "simulated OAuth outage"}
            return JSONResponse(body, self.sim.config.oauth_fail_status)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse(
                {"error": "unsupported_grant_type", "error_description": "grant type not supported"}, 400
            )
        config = self.sim.config
        if form.get("client_id") != config.client_id or form.get("client_secret") != config.client_secret:
            return JSONResponse({"error": "invalid_client", "error_description": "invalid client credentials"}, 400)
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "access_token": self.sim.mint.mint(self.sim.config.client_id),
                "signature": "c2ltdWxhdG9y",
                "token_format": "jwt",
                "scope": "sfap_api api",
                "instance_url": base,
                "id": f"{base}/id/00D000000000001/005000000000001",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "api_instance_url": base,
            }
        )
