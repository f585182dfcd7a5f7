"""``POST /v1/messages/count_tokens``: the gateway's own estimate; Salesforce has no tokenizer endpoint."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..anthropic.validation import validate_count_tokens
from ..responses import JSONResponse
from ..token_estimate import count_request
from .body import read_json, services_of


async def count_tokens(request: Request) -> Response:
    parsed = validate_count_tokens(await read_json(request))
    (await services_of(request).model_map()).route(parsed.model)  # an unknown model is a 404, as on Anthropic
    return JSONResponse({"input_tokens": count_request(parsed)})
