"""The parsed ``/v1/messages`` request that the translators read.

The client's body stays untouched in ``body``; the other fields are the normalised view
(string content as blocks, ``role: "system"`` turns moved into ``system``, same-role turns merged).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(slots=True)
class MessagesRequest:
    body: dict
    model: str
    messages: list[dict]
    system: list[dict]
    max_tokens: int
    stream: bool = False
    stop_sequences: list[str] = field(default_factory=list)
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    tools: list[dict] = field(default_factory=list)
    tool_choice: dict | None = None
    thinking: dict | None = None
    betas: tuple[str, ...] = ()

    @property
    def thinking_on(self) -> bool:
        return bool(self.thinking) and self.thinking.get("type") in ("enabled", "adaptive")

    def blocks(self) -> Iterator[dict]:
        """Every content block, including those nested inside tool results."""
        for msg in self.messages:
            for block in msg["content"]:
                yield block
                if block.get("type") == "tool_result" and isinstance(block.get("content"), list):
                    yield from (b for b in block["content"] if isinstance(b, dict))
