"""``GET /v1/models`` (paginated, verified models only) and ``GET /v1/models/{id}``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..anthropic.errors import invalid_request, model_not_found
from ..responses import JSONResponse
from .body import services_of

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
LISTING_BUDGET = 2.0  # seconds of model probes per listing; Claude Code's discovery waits 3 s in all
LOOKUP_BUDGET = 10.0  # seconds one model's probe may take; then a retryable 503 while the probe goes on


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise invalid_request("limit: Input should be a valid integer") from None
    if not 1 <= value <= MAX_LIMIT:
        raise invalid_request(f"limit: Input should be between 1 and {MAX_LIMIT}")
    return value


def page(items: list[dict], limit: int, after_id: str | None, before_id: str | None) -> dict:
    """Anthropic's cursor page: ``after_id`` pages forward, ``before_id`` backward."""
    if after_id and before_id:
        raise invalid_request("Only one of after_id and before_id may be given")
    ids = [item["id"] for item in items]
    if after_id:
        if after_id not in ids:
            raise invalid_request(f"after_id: {after_id} is not a model in this list")
        start = ids.index(after_id) + 1
        chosen, has_more = items[start : start + limit], start + limit < len(items)
    elif before_id:
        if before_id not in ids:
            raise invalid_request(f"before_id: {before_id} is not a model in this list")
        end = ids.index(before_id)
        start = max(0, end - limit)
        chosen, has_more = items[start:end], start > 0
    else:
        chosen, has_more = items[:limit], limit < len(items)
    return {
        "data": chosen,
        "has_more": has_more,
        "first_id": chosen[0]["id"] if chosen else None,
        "last_id": chosen[-1]["id"] if chosen else None,
    }


async def list_models(request: Request) -> Response:
    services = services_of(request)
    params = request.query_params
    limit = _limit(params.get("limit"))
    entries = await services.verifier.available((await services.model_map()).listed(), budget=LISTING_BUDGET)
    items = [entry.info() for entry in entries]
    return JSONResponse(page(items, limit, params.get("after_id") or None, params.get("before_id") or None))


async def retrieve_model(request: Request) -> Response:
    services = services_of(request)
    model_id = request.path_params["model_id"]
    entry = (await services.model_map()).find(model_id)
    # Bounded like a listing: a hung Salesforce (or OAuth) is a 503 in seconds, not a wait for the whole deadline.
    if entry is None or not await services.verifier.is_available(entry, budget=LOOKUP_BUDGET):
        raise model_not_found(model_id)
    exact = model_id == entry.id or model_id in entry.aliases
    return JSONResponse(entry.info() if exact else entry.info(model_id))
