"""The documented Models API: ``POST /einstein/platform/v1/models/{model}/chat-generations``.

Text only, no streaming, no generation settings. Streaming is emulated by chunking the
finished text; ``max_tokens`` and ``stop_sequences`` are applied to the text that came back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ...anthropic import events as ev
from ...token_estimate import text_tokens
from ...translate import models_api
from ...translate.limits import apply_limits
from .base import Call, Surface


class ModelsApiSurface(Surface):
    name = "models_api"
    description = "the Salesforce Models API (text only)"

    async def create(self, call: Call) -> dict:
        path = f"/einstein/platform/v1/models/{call.entry.salesforce_model}/chat-generations"
        body = await self.client.post_json(path, models_api.to_request(call.request), call.context)
        raw_text, prompt, completion = models_api.parse_response(body if isinstance(body, dict) else {})
        request = call.request
        text, stop_reason, stop_sequence = apply_limits(raw_text, request.max_tokens, request.stop_sequences)
        if completion is None or text != raw_text:
            completion = text_tokens(text)
        usage = ev.usage(prompt if prompt is not None else call.input_estimate, completion)
        content = [{"type": "text", "text": text}] if text else []
        return ev.message(call.message_id, call.model, content, stop_reason, stop_sequence, usage)

    async def stream(self, call: Call) -> AsyncIterator[dict]:
        message = await self.create(call)
        for event in ev.events_from_message(message):
            yield event
