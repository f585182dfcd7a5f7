"""The routing table: which URL does what. Each module holds one endpoint family."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from . import count_tokens, health, messages, models

ROUTE_GROUPS: dict[str, list[BaseRoute]] = {
    "messages": [Route("/v1/messages", messages.create_message, methods=["POST"])],
    "count_tokens": [Route("/v1/messages/count_tokens", count_tokens.count_tokens, methods=["POST"])],
    "models": [
        Route("/v1/models", models.list_models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", models.retrieve_model, methods=["GET"]),
    ],
    "health": [
        Route("/", health.root, methods=["GET", "HEAD"]),
        Route("/health", health.ready, methods=["GET", "HEAD"]),
        Route("/api/hello", health.ready, methods=["GET", "HEAD"]),
    ],
}
ALL_GROUPS = tuple(ROUTE_GROUPS)
