"""Secrets that must never be printed: registered when learned, masked wherever text leaves the process."""

from __future__ import annotations

MASK = "[REDACTED]"
MIN_LENGTH = 6  # shorter values would mask ordinary words

_secrets: set[str] = set()


def register(*values: str | None) -> None:
    for value in values:
        if value and len(value) >= MIN_LENGTH:
            _secrets.add(value)


def redact(text: str) -> str:
    if not _secrets or not text:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text
