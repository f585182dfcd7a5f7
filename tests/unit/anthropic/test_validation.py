"""Request validation called directly: the normalised request it builds and the edge cases it refuses.

The HTTP tests show each refusal reaches the client as a 400; these pin what the parser itself decides.
"""

from __future__ import annotations

import pytest

from gateway.anthropic.errors import GatewayError
from gateway.anthropic.validation import (
    fit_to_model,
    parse_betas,
    parse_json_object,
    validate_count_tokens,
    validate_messages,
)

TOOL = {"name": "lookup", "input_schema": {"type": "object"}}


def body(**fields) -> dict:
    fields.setdefault("model", "claude-sonnet-4-5")
    fields.setdefault("max_tokens", 100)
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return fields


def refused(message_part: str, raw: dict, betas: tuple[str, ...] = ()) -> None:
    with pytest.raises(GatewayError) as caught:
        validate_messages(raw, betas)
    assert caught.value.error_type == "invalid_request_error"
    assert caught.value.status == 400
    assert message_part in caught.value.message, caught.value.message


def test_turns_are_normalised_without_touching_the_body():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "two"}]},
        {"role": "assistant", "content": ""},  # an empty final assistant turn is a prefill slot
    ]
    raw = body(system="Top.", messages=messages, unknown_field={"ignored": True})
    request = validate_messages(raw)
    assert request.system == [{"type": "text", "text": "Top."}, {"type": "text", "text": "Be brief."}]
    assert request.messages == [
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": []},
    ]
    assert request.body is raw
    assert raw["messages"][1] == {"role": "user", "content": "one"}, "the client's body is not rewritten"


def test_defaults_and_cleanups():
    request = validate_messages(body(stream=None, stop_sequences=["", "END"]))
    assert request.stream is False
    assert request.stop_sequences == ["END"]
    assert (request.temperature, request.top_p, request.top_k, request.thinking) == (None, None, None, None)


@pytest.mark.parametrize(
    ("fields", "message_part"),
    [
        ({"max_tokens": True}, "max_tokens: Input should be a valid integer"),  # a bool is not a count
        ({"max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
        ({"model": ""}, "model: Input should be a valid string"),
        ({"messages": []}, "messages: at least one message is required"),
        ({"messages": [{"role": "system", "content": "only"}]}, "at least one user or assistant message"),
        ({"messages": [{"role": "user", "content": ""}]}, "messages.0: all messages must have non-empty content"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
        ({"temperature": 1.5}, "temperature: range: 0..1"),
        ({"temperature": "0.5"}, "temperature: Input should be a valid number"),
        ({"top_k": -1}, "top_k: Input should be a non-negative integer"),
        ({"stream": "yes"}, "stream: Input should be a valid boolean"),
        ({"stop_sequences": "END"}, "stop_sequences: Input should be a valid list of strings"),
        ({"tools": [{"name": "has space", "input_schema": {}}]}, "tools.0.custom.name"),
        ({"tools": [TOOL], "tool_choice": {"type": "tool", "name": "other"}}, "Tool 'other' not found in tools"),
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice: Input tag found using 'type' does not match"),
    ],
)
def test_edge_cases_refused_with_anthropics_text(fields, message_part):
    refused(message_part, body(**fields))


def test_tool_pairing_is_checked_on_the_merged_turns_with_the_clients_indexes():
    use = {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}
    paired = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "text", "text": "calling"}]},
        {"role": "assistant", "content": [use]},  # merged with the turn before
        {"role": "user", "content": [result]},
    ]
    assert validate_messages(body(tools=[TOOL], messages=paired)).messages[1]["content"][1] == use
    unanswered = [*paired[:3], {"role": "user", "content": "no result"}]
    refused("messages.2: `tool_use` ids were found without `tool_result` blocks", body(messages=unanswered))
    orphan = [{"role": "user", "content": [result]}]
    refused("messages.0.content.0: unexpected `tool_use_id`", body(messages=orphan))
    repeated = [*paired, {"role": "assistant", "content": [use]}]
    refused("`tool_use` ids must be unique", body(messages=repeated))


def test_thinking_budget_and_sampling_rules():
    thinking = {"type": "enabled", "budget_tokens": 2048}
    refused("`max_tokens` must be greater than `thinking.budget_tokens`", body(max_tokens=2048, thinking=thinking))
    interleaved = validate_messages(body(max_tokens=2048, thinking=thinking), ("interleaved-thinking-2025-05-14",))
    assert interleaved.thinking == thinking  # the budget may span turns with interleaved thinking
    refused("greater than or equal to 1024", body(max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 10}))
    refused("`temperature` may only be set to 1", body(max_tokens=4096, thinking=thinking, temperature=0.5))
    refused("`top_k` may not be set", body(max_tokens=4096, thinking={"type": "adaptive"}, top_k=5))
    forced = {"type": "any"}
    refused("tool_choice forces tool use", body(max_tokens=4096, thinking=thinking, tools=[TOOL], tool_choice=forced))
    assert validate_messages(body(max_tokens=4096, thinking=thinking, temperature=1)).thinking_on


def test_count_tokens_needs_no_max_tokens_and_ignores_sampling():
    raw = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 7, "tool_choice": "junk"}
    request = validate_count_tokens(raw)
    assert request.messages == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert request.temperature is None
    with pytest.raises(GatewayError, match="messages: Field required"):
        validate_count_tokens({"model": "m"})


@pytest.mark.parametrize(
    ("raw", "message_part"),
    [
        (b"", "Request body is empty"),
        (b" \n\t", "Request body is empty"),
        (b"{not json", "Request body is not valid JSON"),
        (b"[1, 2]", "Request body must be a JSON object"),
        (b"\xff\xfe", "Request body is not valid JSON"),
    ],
)
def test_bodies_that_are_not_json_objects(raw, message_part):
    with pytest.raises(GatewayError) as caught:
        parse_json_object(raw)
    assert message_part in caught.value.message
    assert parse_json_object(b' {"a": 1} ') == {"a": 1}


def test_betas_header_is_split_and_trimmed():
    assert parse_betas(None) == ()
    assert parse_betas(" a-1 , ,b-2,") == ("a-1", "b-2")


def test_fit_to_model_refuses_or_clamps():
    request = validate_messages(body(max_tokens=10_000, thinking={"type": "enabled", "budget_tokens": 9000}))
    with pytest.raises(GatewayError, match="max_tokens: 10000 > 8192"):
        fit_to_model(request, "claude-x", 8192, clamp=False)
    fit_to_model(request, "claude-x", 8192, clamp=True)  # a newer id served by an older model
    assert request.max_tokens == 8192
    assert request.thinking == {"type": "enabled", "budget_tokens": 4096}
