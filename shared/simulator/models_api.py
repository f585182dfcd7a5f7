"""The documented Models API: ``/einstein/platform/v1/models/{model}/chat-generations``."""

from __future__ import annotations

import time
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .core import Simulator
from .errors import SalesforceError, error_for
from .model import count_tokens, directives, plan_reply
from .turns import plain_turn


class ModelsApi:
    """Text-only chat with Salesforce's camelCase answer shape."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def routes(self) -> list[Route]:
        return [
            Route("/einstein/platform/v1/models/{model}/chat-generations", self.chat, methods=["POST"]),
        ]

    async def chat(self, request: Request) -> Response:
        model = request.path_params["model"]

        async def answer(body: dict) -> Response:
            messages = body.get("messages")
            if not isinstance(messages, list) or not all(isinstance(m.get("content"), str) for m in messages):
                raise SalesforceError(400, "messages must be a list of {role, content: string}")
            turn = plain_turn([m for m in messages if m.get("role") != "system"])
            found = directives(turn)
            if error := error_for(found, turn, self.sim.attempts):
                raise error
            await self.sim.pause(found)
            if fault := await self.sim.json_fault(found):
                return fault
            tokens = sum(count_tokens(m["content"]) for m in messages)
            reply = plan_reply(
                turn,
                found,
                input_tokens=tokens,
                tools_supported=False,
                thinking_on=False,
                max_tokens=None,
                stop_sequences=[],
            )
            return JSONResponse(
                {
                    "id": str(uuid.uuid4()),
                    "generationDetails": {
                        "generations": [
                            {
                                "id": str(uuid.uuid4()),
                                "role": "assistant",
                                "content": reply.text,
                                "timestamp": int(time.time()),
                                "parameters": {"finish_reason": "stop", "index": 0},
                                "contentQuality": {"scanToxicity": {"isDetected": False, "categories": []}},
                            }
                        ],
                        "parameters": {
                            "provider": "bedrock",
                            "model": model,
                            "object": "chat.completion",
                            "usage": {
                                "prompt_tokens": reply.input_tokens,
                                "completion_tokens": reply.output_tokens,
                                "total_tokens": reply.input_tokens + reply.output_tokens,
                            },
                        },
                    },
                }
            )

        return await self.sim.handle(request, model, answer)
