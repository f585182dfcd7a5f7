"""Secrets that must never be printed: registered when learned, masked wherever text leaves the process.

Two maskings, for two kinds of text:
- ``redact``: registered secrets and credential-shaped text (``Bearer ...``, ``access_token=...``), for
  what Salesforce says (error bodies, stream exceptions) and for every log line. Upstream text is cut to
  length only afterwards (``clip``), so a token straddling the cut is never half-printed.
- ``mask_credentials``: the credential shapes alone, for messages that may echo the client's own words
  (a model id, a tool id). Replacing a client's string because it *equals* a secret would tell the
  client it guessed one, so those are never compared with the registered secrets.
"""

from __future__ import annotations

import re

MASK = "[REDACTED]"
MIN_LENGTH = 6  # shorter values would mask ordinary words

_secrets: set[str] = set()
_ordered: list[str] = []  # longest first, so a secret containing another is masked whole

_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=!*%-]+")
_KEYED = re.compile(
    r"(?i)\b(access_token|refresh_token|id_token|client_secret|api[_-]?key|authorization)"
    r"(\"?\s*[:=]\s*\"?)(?!bearer\b)([^\"&\s,;}]+)"
)


def register(*values: str | None) -> None:
    global _ordered
    for value in values:
        if value and len(value) >= MIN_LENGTH and value not in _secrets:
            _secrets.add(value)
            _ordered = sorted(_secrets, key=len, reverse=True)


def mask_credentials(text: str) -> str:
    """Credential-shaped text only: the same answer whatever secrets the gateway holds."""
    if not text or not isinstance(text, str):
        return text
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _KEYED.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


def redact(text: str) -> str:
    if not text:
        return text
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return mask_credentials(text)


def clip(text: str, limit: int) -> str:
    """Masked first, then cut: the order that cannot leave part of a secret behind."""
    return redact(text)[:limit]
