"""KeyAuthorizer: the REQUEST authorizer in front of every route (see gateway/keys/authorizer.py).

Built at import, so the DynamoDB client and the key cache live as long as the container.
"""

from __future__ import annotations

from typing import Any

from gateway import logs
from gateway.keys.authorizer import Authorizer

logs.configure()  # refusals reach CloudWatch (Lambda's root logger would drop INFO), secrets masked
authorizer = Authorizer.from_env()


def handler(event: dict, context: Any) -> dict:
    return authorizer(event)
