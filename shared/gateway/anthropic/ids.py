"""Ids in Anthropic's format: a prefix, then ``01`` and 22 base58 characters."""

from __future__ import annotations

import os

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def new_id(prefix: str) -> str:
    raw = os.urandom(22)
    return prefix + "01" + "".join(_ALPHABET[b % 58] for b in raw)


def message_id() -> str:
    return new_id("msg_")


def tool_use_id() -> str:
    return new_id("toolu_")


def request_id() -> str:
    return new_id("req_")
