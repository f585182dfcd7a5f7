"""Reading the last user turn and a rough token count out of each surface's message shapes."""

from __future__ import annotations

from .model import Turn, count_tokens


def anthropic_text(content: object) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
    return []


def anthropic_turn(messages: list[dict]) -> Turn:
    for msg in reversed(messages):
        if msg.get("role") == "user":
            content = msg.get("content")
            blocks = content if isinstance(content, list) else []
            results = ["\n".join(anthropic_text(b.get("content"))) for b in blocks if b.get("type") == "tool_result"]
            return Turn(texts=[t for t in anthropic_text(content) if t], tool_results=results)
    return Turn()


def plain_turn(messages: list[dict]) -> Turn:
    """Last user turn in the ``{role, content: string}`` shapes; trailing ``tool`` turns are results."""
    results: list[str] = []
    for msg in reversed(messages):
        role = msg.get("role")
        if role == "tool":
            results.insert(0, str(msg.get("content", "")))
        elif role == "user":
            return Turn(texts=[str(msg.get("content", ""))], tool_results=results)
        elif results:
            break
    return Turn(tool_results=results)


def input_tokens(system: object, messages: list[dict]) -> int:
    total = sum(count_tokens(t) for t in anthropic_text(system))
    for msg in messages:
        content = msg.get("content")
        total += sum(count_tokens(t) for t in anthropic_text(content))
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    total += sum(count_tokens(t) for t in anthropic_text(block.get("content")))
    return max(total, 1)
