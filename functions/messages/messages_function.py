"""MessagesFunction: ``POST /v1/messages``, streamed through the Lambda Web Adapter.

``run.sh`` serves ``app`` with uvicorn; ``handler`` is a buffered Mangum entry for direct invocation
with an API Gateway event (``sam local invoke -e events/messages.json`` and the tests).
"""

from __future__ import annotations

from typing import Any

from gateway.app import create_app

app = create_app(["messages", "health"])
_handler: Any = None


def handler(event: dict, context: Any) -> dict:
    global _handler
    if _handler is None:
        from mangum import Mangum

        _handler = Mangum(app, lifespan="off")
    return _handler(event, context)
