"""Tools and images per surface: tool calls and results on the surfaces that carry them, a clear 400 where a
surface cannot (tools on models_api, images off Bedrock), history begun on Claude replayed anywhere, and long
MCP tool names shortened for OpenAI-style backends."""

from __future__ import annotations

import base64
import json

import anthropic
import pytest
from support.builders import png
from support.sdk import ask, backend_request_with, marker, texts, tool_uses
from support.sse import check_event_order, deltas
from support.stacks import STREAM_EVENT_TYPES, SURFACE_MODELS
from support.wire import WEATHER_TOOL, user

ALL_SURFACES = list(SURFACE_MODELS)
TOOL_SURFACES = ["bedrock_invoke", "chat_generations", "responses"]
TEXT_ONLY_SURFACES = ["models_api"]
BEDROCK = SURFACE_MODELS["bedrock_invoke"]
# Thinking as sent: Claude 4.6+ take it (adaptive); older models refuse it on real orgs (see test_thinking.py).
THINKING_MODEL = "claude-sonnet-4-6"
THINKING = {"type": "enabled", "budget_tokens": 1024}

WEATHER_INPUT = {"city": "Paris"}
WEATHER_QUESTION = "What is the weather in Paris?"
WEATHER_PROMPT = f"{WEATHER_QUESTION} [[tool:get_weather {json.dumps(WEATHER_INPUT)}]]"
TOOL_RESULT = "22 degrees"
PNG = png(4, 4)

surfaces = pytest.mark.parametrize("surface", ALL_SURFACES)
tool_surfaces = pytest.mark.parametrize("surface", TOOL_SURFACES)
streamed = pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])


def image_message(text: str) -> list[dict]:
    data = base64.b64encode(PNG).decode()
    return [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}},
                {"type": "text", "text": text},
            ],
        }
    ]


# --- tool use -------------------------------------------------------------------------------------


@tool_surfaces
def test_tool_use_create(client, surface):
    message = client.messages.create(
        model=SURFACE_MODELS[surface], max_tokens=200, tools=[WEATHER_TOOL], messages=user(WEATHER_PROMPT)
    )
    assert message.stop_reason == "tool_use"
    calls = tool_uses(message)
    assert len(calls) == 1
    assert calls[0].id.startswith("toolu_")
    assert calls[0].name == WEATHER_TOOL["name"]
    assert calls[0].input == WEATHER_INPUT
    assert texts(message) == WEATHER_QUESTION
    assert message.content[-1].type == "tool_use"


@tool_surfaces
def test_tool_use_stream_sends_input_json_deltas(client, surface):
    params = {
        "model": SURFACE_MODELS[surface],
        "max_tokens": 200,
        "tools": [WEATHER_TOOL],
        "messages": user(WEATHER_PROMPT),
    }
    with client.messages.stream(**params) as stream:
        events = [e.model_dump() for e in stream if e.type in STREAM_EVENT_TYPES]
        final = stream.get_final_message()
    starts = check_event_order(events)
    assert [s["content_block"]["type"] for s in starts] == ["text", "tool_use"]
    tool_start = starts[1]["content_block"]
    assert tool_start["id"].startswith("toolu_")
    assert tool_start["name"] == "get_weather"
    fragments = deltas(events, "input_json_delta", index=starts[1]["index"])
    assert len(fragments) >= 1
    assert json.loads("".join(f["partial_json"] for f in fragments)) == WEATHER_INPUT
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    assert final.stop_reason == "tool_use"
    calls = tool_uses(final)
    assert len(calls) == 1
    assert calls[0].id == tool_start["id"]
    assert calls[0].input == WEATHER_INPUT
    assert texts(final) == WEATHER_QUESTION


@tool_surfaces
@streamed
def test_tool_loop_returns_tool_result(client, surface, stream):
    model = SURFACE_MODELS[surface]
    first, _ = ask(client, stream, model=model, max_tokens=200, tools=[WEATHER_TOOL], messages=user(WEATHER_PROMPT))
    (call,) = tool_uses(first)
    history = [
        *user(WEATHER_PROMPT),
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": TOOL_RESULT}]},
    ]
    second, _ = ask(client, stream, model=model, max_tokens=200, tools=[WEATHER_TOOL], messages=history)
    assert texts(second) == f"Tool result: {TOOL_RESULT}"
    assert tool_uses(second) == []
    assert second.stop_reason == "end_turn"


@tool_surfaces
def test_tool_result_as_block_list(client, surface):
    """tool_result content as a list of text blocks reaches the model as text too."""
    model = SURFACE_MODELS[surface]
    first = client.messages.create(model=model, max_tokens=200, tools=[WEATHER_TOOL], messages=user(WEATHER_PROMPT))
    (call,) = tool_uses(first)
    result = {"type": "tool_result", "tool_use_id": call.id, "content": [{"type": "text", "text": TOOL_RESULT}]}
    history = [
        *user(WEATHER_PROMPT),
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [result]},
    ]
    second = client.messages.create(model=model, max_tokens=200, tools=[WEATHER_TOOL], messages=history)
    assert texts(second) == f"Tool result: {TOOL_RESULT}"


@tool_surfaces
@streamed
def test_tool_call_without_text_is_a_single_block(client, surface, stream):
    prompt = f"[[tool:get_weather {json.dumps(WEATHER_INPUT)}]]"
    message, events = ask(
        client, stream, model=SURFACE_MODELS[surface], max_tokens=200, tools=[WEATHER_TOOL], messages=user(prompt)
    )
    assert [b.type for b in message.content] == ["tool_use"]
    assert message.content[0].input == WEATHER_INPUT
    assert message.stop_reason == "tool_use"
    if events is not None:
        starts = check_event_order(events)
        assert [(s["index"], s["content_block"]["type"]) for s in starts] == [(0, "tool_use")]


@surfaces
def test_bedrock_history_replays_on_every_surface(client, surface):
    """A conversation begun on Claude (thinking + tool call) continues on any surface."""
    prompt = f"{WEATHER_PROMPT} [[think]]"
    first = client.messages.create(
        model=THINKING_MODEL, max_tokens=2048, thinking=THINKING, tools=[WEATHER_TOOL], messages=user(prompt)
    )
    assert [b.type for b in first.content] == ["thinking", "text", "tool_use"]
    history = [
        *user(prompt),
        {"role": "assistant", "content": first.content},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": first.content[2].id, "content": TOOL_RESULT}],
        },
    ]
    tools = [WEATHER_TOOL] if surface in TOOL_SURFACES else []  # a text-only surface refuses tools (400)
    reply = client.messages.create(model=SURFACE_MODELS[surface], max_tokens=200, tools=tools, messages=history)
    assert tool_uses(reply) == []
    if surface in TOOL_SURFACES:
        assert texts(reply) == f"Tool result: {TOOL_RESULT}"
    else:  # text only: the tool turns arrive flattened to text, and the echo carries the result
        assert TOOL_RESULT in texts(reply)


@pytest.mark.parametrize("surface", TEXT_ONLY_SURFACES)
@streamed
def test_tools_on_text_only_surface_are_refused(client, surface, stream):
    """Not silently ignored: a clear 400 naming models that can call tools (e2e/errors/test_salesforce_client.py)."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask(
            client,
            stream,
            model=SURFACE_MODELS[surface],
            max_tokens=200,
            tools=[WEATHER_TOOL],
            messages=user(WEATHER_PROMPT),
        )
    assert "cannot carry tools" in caught.value.body["error"]["message"]


MCP_TOOL = {
    "name": "mcp__salesforce-dx-mcp-server__retrieve_metadata_from_the_connected_org_by_type",
    "description": "A Claude Code MCP tool: 79 characters, more than OpenAI-style backends take (64)",
    "input_schema": {"type": "object", "properties": {"type": {"type": "string"}}},
}


@streamed
def test_long_mcp_tool_names_reach_gpt_shortened_and_come_back_whole(stack, client, stream):
    """OpenAI-style backends take function names of at most 64 characters (Anthropic: 128); Claude Code's
    MCP tools run longer. The model sees a stand-in; the client sees its own name, then sends it back."""
    from gateway.translate.chat_generations import upstream_name

    model, short = SURFACE_MODELS["chat_generations"], upstream_name(MCP_TOOL["name"])
    assert short != MCP_TOOL["name"] and len(short) <= 64
    prompt = f'Which objects? [[tool:{short} {{"type": "ApexClass"}}]]'
    first, _ = ask(client, stream, model=model, max_tokens=200, tools=[MCP_TOOL], messages=user(prompt))
    (call,) = tool_uses(first)
    assert call.name == MCP_TOOL["name"]
    assert call.input == {"type": "ApexClass"}
    history = [
        *user(prompt),
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "3 classes"}]},
    ]
    second, _ = ask(client, stream, model=model, max_tokens=200, tools=[MCP_TOOL], messages=history)
    assert texts(second) == "Tool result: 3 classes"
    sent = [json.loads(r["body"]) for r in stack.backend_requests("/ai/gpt/v1/chat/generations")][-2:]
    assert all(t["function"]["name"] == short for body in sent for t in body["tools"])
    assert MCP_TOOL["name"] not in json.dumps(sent), "the long name never reaches Salesforce"


# --- images ---------------------------------------------------------------------------------------


@streamed
def test_image_goes_to_bedrock(stack, client, stream):
    prompt = f"Describe this image {marker()}"
    message, _ = ask(client, stream, model=BEDROCK, max_tokens=100, messages=image_message(prompt))
    assert texts(message) == prompt
    sent = json.loads(backend_request_with(stack, prompt)["body"])
    image = sent["messages"][-1]["content"][0]
    assert image["type"] == "image"
    assert base64.b64decode(image["source"]["data"]) == PNG


@pytest.mark.parametrize("surface", ["models_api", "chat_generations"])
@streamed
def test_image_to_surface_without_images_is_refused(stack, client, surface, stream):
    prompt = f"Describe this image {marker()}"
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask(client, stream, model=SURFACE_MODELS[surface], max_tokens=100, messages=image_message(prompt))
    assert caught.value.status_code == 400
    assert "does not accept image content" in caught.value.message
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert caught.value.request_id.startswith("req_")
    assert caught.value.body["request_id"] == caught.value.request_id
    assert not [r for r in stack.backend_requests() if prompt in r["body"]], "refused request reached Salesforce"


SERVER_TOOL = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}


@pytest.mark.parametrize("surface", ["chat_generations", "responses"])
def test_anthropic_defined_tools_are_refused_clearly_where_they_would_be_lost(stack, client, surface):
    """OpenAI-style backends carry only custom tools: a web_search tool would vanish, so it is a 400 naming it,
    and Salesforce is never asked."""
    text = f"search please {marker()}"
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model=SURFACE_MODELS[surface], max_tokens=50, tools=[WEATHER_TOOL, SERVER_TOOL], messages=user(text)
        )
    assert "web_search_20250305" in caught.value.body["error"]["message"]
    assert not [r for r in stack.backend_requests() if text in r["body"]]


def test_anthropic_defined_tools_reach_bedrock_whole(stack, client):
    text = f"search please {marker()}"
    client.messages.create(model=BEDROCK, max_tokens=50, tools=[WEATHER_TOOL, SERVER_TOOL], messages=user(text))
    (sent,) = [json.loads(r["body"]) for r in stack.backend_requests("/ai/gpt/v1/model/") if text in r["body"]]
    assert SERVER_TOOL in sent["tools"]
