"""``max_tokens`` and ``stop_sequences`` applied to finished text, for surfaces that cannot carry them."""

from __future__ import annotations

import re

from ..tokens import text_tokens

_PIECES = re.compile(r"\S+\s*|\s+")


def apply_limits(text: str, max_tokens: int, stop_sequences: list[str]) -> tuple[str, str, str | None]:
    """Cut text as a model would have stopped: (text, stop_reason, stop_sequence)."""
    stop_at, matched = len(text) + 1, None
    for seq in stop_sequences:
        pos = text.find(seq)
        if pos != -1 and pos < stop_at:
            stop_at, matched = pos, seq
    budget_end = _budget_end(text, max_tokens)
    if matched is not None and stop_at <= budget_end:
        return text[:stop_at], "stop_sequence", matched
    if budget_end < len(text):
        return text[:budget_end], "max_tokens", None
    return text, "end_turn", None


def _budget_end(text: str, max_tokens: int) -> int:
    """Index where ``max_tokens`` estimated tokens end."""
    if text_tokens(text) <= max_tokens:
        return len(text)
    used = 0
    for piece in _PIECES.finditer(text):
        used += text_tokens(piece.group())
        if used > max_tokens:
            return piece.start()
    return len(text)
