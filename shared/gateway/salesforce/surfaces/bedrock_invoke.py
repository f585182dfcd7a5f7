"""The LLM Gateway's Bedrock-style invoke: ``/ai/gpt/v1/model/{model}/invoke[-with-response-stream]``.

Anthropic-native bodies, so tools, images, thinking and real token streaming pass through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ...anthropic.errors import GatewayError
from ...translate import bedrock
from .. import eventstream
from ..errors import backend_message
from .base import Call, Surface


class BedrockInvokeSurface(Surface):
    name = "bedrock_invoke"
    description = "the Salesforce LLM Gateway (Bedrock invoke)"
    accepts = frozenset({"image", "document"})

    def _path(self, call: Call, suffix: str) -> str:
        return f"/ai/gpt/v1/model/{call.entry.salesforce_model}/{suffix}"

    async def create(self, call: Call) -> dict:
        payload = bedrock.to_request(call.request, call.entry.adaptive_thinking)
        body = await self.client.post_json(self._path(call, "invoke"), payload, call.context)
        if not isinstance(body, dict) or body.get("type") == "error" or "content" not in body:
            raise GatewayError("api_error", "Salesforce returned an answer without content", status=500, backend=True)
        return bedrock.relabel_message(body, call.message_id, call.model)

    async def stream(self, call: Call) -> AsyncIterator[dict]:
        path = self._path(call, "invoke-with-response-stream")
        payload = bedrock.to_request(call.request, call.entry.adaptive_thinking)
        async with self.client.post_stream(path, payload, call.context) as response:
            if not response.headers.get("content-type", "").startswith(eventstream.MEDIA_TYPE):
                # Seen under load: a 200 whose body is an error, not an event stream.
                detail = backend_message(await response.aread())
                raise GatewayError(
                    "overloaded_error", f"Salesforce answered without a stream: {detail or 'empty'}", backend=True
                )
            finished = started = False
            async for event in eventstream.decode(response.aiter_raw(), call.context):
                started = True
                relabelled = bedrock.relabel_event(event, call.message_id, call.model)
                finished = relabelled["type"] == "message_stop"
                yield relabelled
            if not started:
                raise GatewayError("overloaded_error", "Salesforce returned an empty stream", backend=True)
            if not finished:
                raise GatewayError(
                    "api_error", "Salesforce ended the stream before the message was complete", backend=True
                )
