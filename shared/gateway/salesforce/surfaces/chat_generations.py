"""The LLM Gateway's ``/ai/gpt/v1/chat/generations`` (and ``/stream``) for non-Claude models."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ...anthropic import ids
from ...anthropic.errors import GatewayError
from ...jsoncodec import loads
from ...translate import chat_generations as cg
from ...translate.stream_blocks import says_nothing
from ..bodies import read_error_body
from ..errors import empty_answer, not_a_stream, stream_error
from ..sse import read_events
from .base import Call, Surface

SCORING_EVENTS = frozenset({"scores", "scoringStarted", "scoringCompleted"})


class ChatGenerationsSurface(Surface):
    name = "chat_generations"
    description = "the Salesforce LLM Gateway (chat/generations)"

    async def create(self, call: Call) -> dict:
        payload = cg.to_request(call.request, call.entry.salesforce_model)
        body = await self.client.post_json("/ai/gpt/v1/chat/generations", payload, call.context)
        if not isinstance(body, dict):
            raise GatewayError("api_error", "Salesforce returned an unexpected answer", status=500, backend=True)
        names = cg.original_names(call.request)
        message = cg.from_response(body, call.message_id, call.model, call.input_estimate, ids.tool_use_id, names)
        if says_nothing(bool(message["content"]), message["stop_reason"]) and not call.request.stop_sequences:
            # Seen upstream: "stop" with nothing generated. With stop sequences an empty answer is
            # legitimate: one matched at the start (Salesforce applies them, and "stop" says so).
            raise empty_answer()
        return message

    async def stream(self, call: Call) -> AsyncIterator[dict]:
        payload = cg.to_request(call.request, call.entry.salesforce_model)
        names = cg.original_names(call.request)
        translator = cg.StreamTranslator(call.message_id, call.model, call.input_estimate, ids.tool_use_id, names)
        async with self.client.post_stream("/ai/gpt/v1/chat/generations/stream", payload, call.context) as response:
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                raise not_a_stream(await read_error_body(response))
            started = done = False
            async for name, data in read_events(response):
                if cg.is_stream_end(data):  # "[DONE]" or "DONE", named "generation" or not
                    done = True
                    break
                if name in SCORING_EVENTS:
                    continue  # the trust layer's scores: nothing for the client, and not always JSON
                try:
                    frame = loads(data)
                except ValueError:
                    raise GatewayError(
                        "api_error", "Salesforce sent a stream frame that is not JSON", backend=True
                    ) from None
                if name == "error" or (isinstance(frame, dict) and "errorCode" in frame):
                    raise stream_error(data.encode(), call.context)
                if name not in ("generation", "message") or not isinstance(frame, dict):
                    continue  # scoringStarted / scores / scoringCompleted and future events
                events = translator.feed(frame)
                if events and not started:  # message_start waits for content: an empty answer is still a 529
                    started = True
                    yield translator.start()
                for event in events:
                    yield event
            if not started and translator.empty() and not call.request.stop_sequences:
                raise empty_answer()
            if not done:
                raise GatewayError("api_error", "Salesforce ended the stream before it was complete", backend=True)
            if not started:
                yield translator.start()  # e.g. max_tokens reached before any text
            for event in translator.finish():
                yield event
