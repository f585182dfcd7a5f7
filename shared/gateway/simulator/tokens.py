"""Signed JWT access tokens with ``iat``/``exp``, as Salesforce mints for client credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time


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
