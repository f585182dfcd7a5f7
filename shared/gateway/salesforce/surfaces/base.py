"""The surface interface: send an Anthropic request to one Salesforce API, get Anthropic back.

One module per surface, picked by the model map entry's ``surface``; adding a surface is
adding a module and registering it in ``__init__``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ...anthropic import ids
from ...anthropic.errors import GatewayError, invalid_request
from ...anthropic.request import MessagesRequest
from ...catalog.learned import LearnedFacts
from ...catalog.model_map import ModelEntry, ModelMap, ModelRoute
from ...stores.local import MemoryVerificationCache
from ...token_estimate import count_request
from ..errors import CallContext

if TYPE_CHECKING:
    from ..client import SalesforceClient

PROBE_TEXT = "ping"
OVERHEAD_BOUND = 4096  # tools preamble, per-message and per-tool overheads, with room to spare


@dataclass(slots=True)
class Call:
    """One client request on its way to Salesforce."""

    request: MessagesRequest
    route: ModelRoute
    message_id: str
    body_bytes: int = 0  # size of the client's JSON body: bounds the token count without computing it
    _estimate: int | None = None

    @property
    def input_estimate(self) -> int:
        """The gateway's token count of the request, computed on first use (most calls never need it)."""
        if self._estimate is None:
            self._estimate = count_request(self.request)
        return self._estimate

    def may_exceed(self, window: int) -> bool:
        """False when the body is too small to hold ``window`` tokens: every estimated token needs at
        least a byte of JSON, apart from fixed overheads far smaller than a context window."""
        return self.body_bytes == 0 or self.body_bytes + OVERHEAD_BOUND >= window

    @property
    def entry(self) -> ModelEntry:
        return self.route.entry

    @property
    def model(self) -> str:
        return self.route.requested

    @property
    def context(self) -> CallContext:
        return CallContext(
            self.route.requested, self.entry.salesforce_model, self.entry.context_window, lambda: self.input_estimate
        )


class Surface(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    # Content block types this surface can carry besides text and tool blocks.
    accepts: ClassVar[frozenset[str]] = frozenset()
    # Whether Anthropic-defined tools (web_search_*, bash_*, computer_*, ...) reach the model as such.
    anthropic_tools: ClassVar[bool] = False

    def __init__(self, client: SalesforceClient, learned: LearnedFacts | None = None) -> None:
        self.client = client
        # What the gateway has learned about Salesforce models (shared by the surfaces, kept in the store).
        self.learned = learned or LearnedFacts(MemoryVerificationCache())

    def check(self, call: Call, models: ModelMap | None = None) -> None:
        """Refuse content the surface would silently lose (an image to a text-only API, tools to a model
        that cannot call them); ``models``, the loaded map, names the models that could serve it instead."""
        request = call.request
        forced = (request.tool_choice or {}).get("type") in ("any", "tool")
        if (request.tools or forced) and not call.entry.tools:
            able = models.naming(lambda e: e.tools) if models else []
            hint = f"; models that can: {', '.join(able)}" if able else ""
            raise invalid_request(f"model {call.model} is served by {self.description}, which cannot carry tools{hint}")
        if not self.anthropic_tools:
            for tool in request.tools or ():
                if tool.get("type") not in (None, "custom"):
                    raise invalid_request(
                        f"tools: {tool.get('type')} is an Anthropic-defined tool; model {call.model} is served by "
                        f"{self.description}, which carries only custom tools (name, description, input_schema)"
                    )
        for block in request.blocks():
            kind = block.get("type")
            binary_document = kind == "document" and (block.get("source") or {}).get("type") not in (
                "text",
                "content",
            )
            if (kind == "image" or binary_document) and kind not in self.accepts:
                raise invalid_request(
                    f"model {call.model} is served by {self.description}, which does not accept {kind} content"
                )
        if call.may_exceed(call.entry.context_window) and call.input_estimate > call.entry.context_window:
            raise GatewayError(
                "invalid_request_error",
                f"prompt is too long: {call.input_estimate} tokens > {call.entry.context_window} maximum",
            )

    @abstractmethod
    async def create(self, call: Call) -> dict:
        """The finished Anthropic message."""

    @abstractmethod
    def stream(self, call: Call) -> AsyncIterator[dict]:
        """Anthropic stream events; raises GatewayError before the first event if the call fails."""

    async def probe(self, entry: ModelEntry) -> bool | None:
        """Does the Salesforce model answer? None when the answer says nothing (busy, rate-limited)."""
        request = MessagesRequest(
            body={},
            model=entry.id,
            messages=[{"role": "user", "content": [{"type": "text", "text": PROBE_TEXT}]}],
            system=[],
            max_tokens=1,
        )
        call = Call(request, ModelRoute(entry.id, entry), ids.message_id(), _estimate=1)
        try:
            await self.create(call)
        except GatewayError as exc:
            if exc.status in (400, 403, 404):
                return False
            return None
        return True
