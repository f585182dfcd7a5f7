"""What a key is: a random secret handed out once, stored only as its SHA-256, owned by one developer.

A fast hash is enough: the secrets are 238-bit random strings, not passwords, so there is nothing to
brute-force; a slow hash would only slow every authorizer cache miss.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import string
from dataclasses import asdict, dataclass

# API Gateway key values must be 20-128 characters; alphanumerics only keeps every client and shell happy.
SECRET_PREFIX = "sfgw"
_ALPHABET = string.ascii_letters + string.digits
_SECRET_LENGTH = 40
ACTIVE, REVOKED = "active", "revoked"


def new_secret() -> str:
    return SECRET_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_SECRET_LENGTH))


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def valid_owner(name: str) -> bool:
    """Owner names appear in metric dimensions, usage-plan names and log lines: keep them plain."""
    return 0 < len(name) <= 64 and all(c.isalnum() or c in "._-@" for c in name)


@dataclass(slots=True)
class KeyRecord:
    """One key as stored (item ``key#<hash>``): never the secret itself."""

    key_hash: str
    owner: str
    status: str = ACTIVE
    api_key_id: str | None = None  # the developer's API Gateway key (deployed stages only)
    budget: int | None = None  # monthly tokens; a copy of the developer's, so one read authorizes
    created: str = ""
    hint: str = ""  # the secret's first characters, so a developer can tell keys apart in `list`

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


@dataclass(slots=True)
class Developer:
    """One developer (item ``dev#<owner>``): limits, budget and their current key."""

    owner: str
    status: str = ACTIVE
    key_hash: str | None = None
    api_key_id: str | None = None
    usage_plan_id: str | None = None  # their own plan when they have their own rate/burst/quota
    budget: int | None = None
    rate: float | None = None
    burst: int | None = None
    quota: int | None = None  # requests per month (their own usage plan)
    created: str = ""
    revoked: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(slots=True)
class Usage:
    """One developer's tokens in one calendar month (UTC), item ``usage#<owner>#<YYYY-MM>``."""

    owner: str
    month: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    requests: int = 0

    @property
    def tokens(self) -> int:
        """What a budget counts: input + output + cache reads and writes."""
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_creation_tokens


USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "requests")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def month_of(when: dt.datetime | None = None) -> str:
    return (when or dt.datetime.now(dt.UTC)).strftime("%Y-%m")


def month_reset(month: str) -> str:
    """The first day of the next month: when a monthly budget starts again."""
    year, mon = (int(part) for part in month.split("-"))
    year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return f"{year:04d}-{mon:02d}-01"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling, as the request path knows it: from the authorizer's context or a key lookup."""

    owner: str
    budget: int | None = None
