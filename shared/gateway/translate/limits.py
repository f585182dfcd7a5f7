"""``max_tokens`` and ``stop_sequences`` applied to finished text, for surfaces that cannot carry them."""

from __future__ import annotations

import re

from ..token_estimate import text_tokens

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
    """End of the longest prefix, cut at a word boundary, whose estimate fits in ``max_tokens``."""
    if text_tokens(text) <= max_tokens:
        return len(text)
    ends = [m.end() for m in _PIECES.finditer(text)]
    low, high = 0, len(ends) - 1  # the estimate grows with the prefix: binary search the last end that fits
    best = 0
    while low <= high:
        middle = (low + high) // 2
        if text_tokens(text[: ends[middle]]) <= max_tokens:
            best, low = ends[middle], middle + 1
        else:
            high = middle - 1
    return best
