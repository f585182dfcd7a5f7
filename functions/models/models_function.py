"""ModelsFunction: ``GET /v1/models`` and ``GET /v1/models/{id}``, buffered (Mangum)."""

from __future__ import annotations

from mangum import Mangum

from gateway.app import create_app

app = create_app(["models"])
handler = Mangum(app, lifespan="off")
