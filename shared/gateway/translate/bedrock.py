"""Anthropic <-> the LLM Gateway's Bedrock-style invoke surface (``/ai/gpt/v1/model/{model}/invoke``).

The body is Anthropic's own, so this is mostly pass-through. What is not: fields Bedrock does not
accept are left out (it answers "Extra inputs are not permitted"); thinking is put in the form the
serving model takes (Claude 4.6+ refuse ``enabled``, older ones ``adaptive``); a "plain" body leaves
out thinking, thinking history and betas, which older models on real orgs answer with a 502; and
answers are re-labelled with the gateway's message id and the model id the client asked for.
"""

from __future__ import annotations

from ..anthropic.events import complete_usage
from ..anthropic.request import MessagesRequest

ANTHROPIC_VERSION = "bedrock-2023-05-31"
# Top-level fields Bedrock's Anthropic schema accepts (besides messages/system/max_tokens).
PASSED_FIELDS = ("temperature", "top_p", "top_k", "tool_choice", "output_config")
TOOL_FIELDS = ("type", "name", "description", "input_schema", "cache_control")
# Betas Bedrock knows; others (Claude Code sends many) would be rejected upstream.
BEDROCK_BETAS = frozenset(
    {
        "interleaved-thinking-2025-05-14",
        "context-1m-2025-08-07",
        "fine-grained-tool-streaming-2025-05-14",
        "token-efficient-tools-2025-02-19",
        "output-128k-2025-02-19",
        "computer-use-2025-01-24",
    }
)


MIN_THINKING_BUDGET = 1024
# Share of max_tokens given to thinking when "adaptive" becomes "enabled", by the client's effort.
EFFORT_SHARE = {"low": 0.25, "medium": 0.5, "high": 0.8, "max": 0.9}


def thinking_for(request: MessagesRequest, adaptive_ok: bool) -> dict | None:
    """The thinking setting the serving model takes.

    ``adaptive`` exists from Claude 4.6; an older model serving a newer id (Claude Code sends adaptive
    for ``claude-opus-5-5``) gets ``enabled`` with a budget from the client's ``output_config.effort``,
    or no thinking when ``max_tokens`` leaves no room for the minimum budget.
    """
    thinking = request.thinking
    if thinking is None or thinking.get("type") != "adaptive" or adaptive_ok:
        return thinking
    config = request.body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    share = EFFORT_SHARE.get(effort if isinstance(effort, str) else "", 0.8)
    budget = min(max(int(request.max_tokens * share), MIN_THINKING_BUDGET), request.max_tokens - 1)
    if budget < MIN_THINKING_BUDGET:
        return None
    return {"type": "enabled", "budget_tokens": budget}


# Budget -> effort when "enabled" becomes adaptive: the thresholds SFCP uses against real orgs.
EFFORT_BY_BUDGET = ((2048, "low"), (8192, "medium"))
# Refused by the models while thinking: Anthropic's validation lets temperature 1 and top_p >= 0.95 through.
THINKING_SAMPLING = ("temperature", "top_p", "top_k")
THINKING_BLOCKS = frozenset({"thinking", "redacted_thinking"})
# Thinking as SFCP sends it to real orgs; newer fields (Claude Code's "display") may be unknown to Bedrock.
THINKING_FIELDS = ("type", "budget_tokens")


def effort_for_budget(budget: int) -> str:
    return next((effort for limit, effort in EFFORT_BY_BUDGET if budget <= limit), "high")


def adaptive_for(request: MessagesRequest) -> tuple[dict | None, dict | None]:
    """(thinking, output_config) for a model that takes only adaptive thinking; the effort comes from the
    client's own ``output_config.effort``, else from an ``enabled`` budget."""
    thinking = request.thinking
    config = request.body.get("output_config")
    if thinking is None or thinking.get("type") != "enabled":
        return thinking, config
    config = dict(config) if isinstance(config, dict) else {}
    if not isinstance(config.get("effort"), str):
        config["effort"] = effort_for_budget(int(thinking.get("budget_tokens") or 0))
    return {"type": "adaptive"}, config


def without_thinking_history(messages: list[dict]) -> list[dict]:
    """The history minus thinking and redacted_thinking blocks; turns left empty are dropped, and turns
    brought together by that are merged."""
    kept: list[dict] = []
    for message in messages:
        content = message["content"]
        if isinstance(content, list):
            content = [b for b in content if not (isinstance(b, dict) and b.get("type") in THINKING_BLOCKS)]
            if not content:
                continue
        if kept and kept[-1]["role"] == message["role"] and isinstance(content, list):
            kept[-1] = dict(kept[-1], content=[*kept[-1]["content"], *content])
        else:
            kept.append(dict(message, content=content))
    return kept


def carries_thinking(payload: dict) -> bool:
    """Does the body hold what older models on real orgs answer with a 502: thinking, thinking history, betas?"""
    if "thinking" in payload or payload.get("anthropic_beta"):
        return True
    return any(
        isinstance(block, dict) and block.get("type") in THINKING_BLOCKS
        for message in payload.get("messages", ())
        if isinstance(message.get("content"), list)
        for block in message["content"]
    )


def to_request(request: MessagesRequest, adaptive_thinking: bool = False, *, plain: bool = False) -> dict:
    """The invoke body. ``adaptive_thinking``: the model takes only adaptive thinking (Claude 4.6+).
    ``plain``: no thinking, no thinking history, no betas, for a model that has refused them."""
    body: dict = {"anthropic_version": ANTHROPIC_VERSION, "max_tokens": request.max_tokens}
    if request.system:
        body["system"] = request.system
    body["messages"] = without_thinking_history(request.messages) if plain else request.messages
    if request.stop_sequences:
        body["stop_sequences"] = request.stop_sequences
    for name in PASSED_FIELDS:
        value = request.body.get(name)
        if value is not None:
            body[name] = value
    if plain:
        thinking = None
    elif adaptive_thinking:
        thinking, config = adaptive_for(request)
        if config is not None:
            body["output_config"] = config
    else:
        thinking = thinking_for(request, adaptive_ok=False)
    if thinking is not None and thinking.get("type") != "disabled":  # the default: saying it risks a 502
        body["thinking"] = {k: v for k, v in thinking.items() if k in THINKING_FIELDS}
        for name in THINKING_SAMPLING:
            body.pop(name, None)
    if request.tools:
        body["tools"] = [
            # Anthropic-defined tools (computer_*, bash_*, ...) have required fields of their own: kept whole.
            {k: v for k, v in tool.items() if k in TOOL_FIELDS} if tool.get("type") in (None, "custom") else tool
            for tool in request.tools
        ]
    betas = [] if plain else [b for b in request.betas if b in BEDROCK_BETAS]
    if betas:
        body["anthropic_beta"] = betas
    return body


def relabel_message(body: dict, message_id: str, model: str) -> dict:
    """The backend's message with our id, the requested model, and complete usage."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": body.get("content") or [],
        "stop_reason": body.get("stop_reason") or "end_turn",
        "stop_sequence": body.get("stop_sequence"),
        "usage": complete_usage(body.get("usage")),
    }


def relabel_event(event: dict, message_id: str, model: str) -> dict:
    """One streamed event, relabelled; Bedrock's invocation metrics are dropped."""
    kind = event.get("type")
    if kind == "message_start":
        msg = dict(event.get("message") or {})
        msg.update(id=message_id, model=model, usage=complete_usage(msg.get("usage")))
        msg.setdefault("type", "message")
        msg.setdefault("role", "assistant")
        msg.setdefault("content", [])
        msg.setdefault("stop_reason", None)
        msg.setdefault("stop_sequence", None)
        return {"type": "message_start", "message": msg}
    if kind == "message_delta":
        usage = dict(event.get("usage") or {})
        usage.setdefault("output_tokens", 0)
        return {"type": "message_delta", "delta": event.get("delta") or {}, "usage": usage}
    if kind == "message_stop":
        return {"type": "message_stop"}
    return event
