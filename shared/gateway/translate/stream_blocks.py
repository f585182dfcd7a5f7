"""What the stream translators of the OpenAI-like surfaces share: the message they speak for, the one
content block open at a time, and when an answer counts as empty."""

from __future__ import annotations

from ..anthropic import events as ev


def says_nothing(produced: bool, stop_reason: str | None) -> bool:
    """The one rule for an empty answer: nothing generated and nothing says why (no limit, no filter, no
    stop sequence). Salesforce sends these under load; the adapters make them a retryable 529."""
    return not produced and stop_reason == "end_turn"


class BlockStream:
    """Anthropic content blocks opened and closed in order, one open at a time."""

    def __init__(self, message_id: str, model: str, input_estimate: int) -> None:
        self.message_id, self.model, self.input_tokens = message_id, model, input_estimate
        self._index = -1  # the last block's index
        self._open: object = None  # "text", or the surface's key for the open tool block

    @property
    def produced(self) -> bool:
        """A content block exists."""
        return self._index >= 0

    def start(self) -> dict:
        start = ev.message(self.message_id, self.model, [], None, None, ev.usage(self.input_tokens, 1))
        return {"type": "message_start", "message": start}

    def _close(self) -> list[dict]:
        if self._open is None:
            return []
        self._open = None
        return [ev.block_stop(self._index)]

    def _open_block(self, key: object, block: dict) -> list[dict]:
        """Close the open block and start ``block`` under ``key``."""
        out = self._close()
        self._index += 1
        self._open = key
        out.append(ev.block_start(self._index, block))
        return out

    def _text_delta(self, text: str) -> list[dict]:
        """``text`` in the open text block, opening one if a tool block (or none) is open."""
        out = self._open_block("text", {"type": "text", "text": ""}) if self._open != "text" else []
        out.append(ev.block_delta(self._index, {"type": "text_delta", "text": text}))
        return out
