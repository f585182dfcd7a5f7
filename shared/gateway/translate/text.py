"""Flattening Anthropic content to plain text, for surfaces that only carry strings."""

from __future__ import annotations

from ..jsoncodec import dumps_spaced


def block_text(block: dict) -> str:
    kind = block.get("type")
    if kind == "text":
        return block.get("text", "")
    if kind == "tool_use":
        return f"[tool call {block.get('name')}: {dumps_spaced(block.get('input', {}))}]"
    if kind == "tool_result":
        content = block.get("content")
        inner = content if isinstance(content, str) else blocks_text(content or [])
        label = "tool error" if block.get("is_error") else "tool result"
        return f"[{label}: {inner}]"
    if kind == "document":
        source = block.get("source") or {}
        if source.get("type") == "text":
            data = source.get("data", "")
            return data if isinstance(data, str) else ""
        if source.get("type") == "content":
            content = source.get("content")
            return content if isinstance(content, str) else blocks_text(content or [])
    return ""  # thinking and other non-text blocks carry nothing a text-only model can use


def blocks_text(blocks: list) -> str:
    return "\n\n".join(t for t in (block_text(b) for b in blocks if isinstance(b, dict)) if t)


def tool_result_text(block: dict) -> str:
    content = block.get("content")
    return content if isinstance(content, str) else blocks_text(content or [])
