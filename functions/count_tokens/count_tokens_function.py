"""CountTokensFunction: ``POST /v1/messages/count_tokens``, buffered (Mangum)."""

from __future__ import annotations

from mangum import Mangum

from gateway.app import create_app

app = create_app(["count_tokens"])
handler = Mangum(app, lifespan="off")
