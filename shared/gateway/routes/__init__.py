"""The routing table: which URL does what, under which name it is counted, and whether it needs a key.
Each module holds one endpoint family."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from starlette.routing import Match, Route
from starlette.types import Scope

from . import count_tokens, health, messages, models


class GatewayRoute(Route):
    """A Starlette route that also states its telemetry name (the ``Route`` dimension) and whether it
    answers without a key (Claude Code's ``HEAD /`` and warm-up probe, the readiness check)."""

    def __init__(
        self, path: str, endpoint: Callable[..., Any], *, name: str, methods: list[str], keyed: bool = True
    ) -> None:
        super().__init__(path, endpoint, methods=methods, name=name)
        self.keyed = keyed


ROUTE_GROUPS: dict[str, list[GatewayRoute]] = {
    "messages": [GatewayRoute("/v1/messages", messages.create_message, name="messages", methods=["POST"])],
    "count_tokens": [
        GatewayRoute("/v1/messages/count_tokens", count_tokens.count_tokens, name="count_tokens", methods=["POST"])
    ],
    "models": [
        GatewayRoute("/v1/models", models.list_models, name="models", methods=["GET"]),
        GatewayRoute("/v1/models/{model_id:path}", models.retrieve_model, name="models", methods=["GET"]),
    ],
    "health": [
        GatewayRoute("/", health.root, name="health", methods=["GET", "HEAD"], keyed=False),
        GatewayRoute("/health", health.ready, name="health", methods=["GET", "HEAD"], keyed=False),
        GatewayRoute("/api/hello", health.ready, name="health", methods=["GET", "HEAD"], keyed=False),  # Claude Code
    ],
}
ALL_GROUPS = tuple(ROUTE_GROUPS)
ALL_ROUTES: tuple[GatewayRoute, ...] = tuple(route for group in ROUTE_GROUPS.values() for route in group)


def matched_route(scope: Scope, routes: Sequence[GatewayRoute] = ALL_ROUTES) -> GatewayRoute | None:
    """The route a request is for: its path and method, else its path alone (a 405 is still counted under
    the route's name and still needs a key); None for a path no route serves."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


def routes_of(groups: Iterable[str]) -> list[GatewayRoute]:
    unknown = set(groups) - set(ROUTE_GROUPS)
    if unknown:
        raise ValueError(f"unknown route groups: {sorted(unknown)}")
    return [route for name in groups for route in ROUTE_GROUPS[name]]
