"""chat/generations end to end, as Salesforce's own clients call it (salesforce-evidence.md, chat/generations).

The real ``anthropic`` SDK drives the gateway in front of the simulator, which follows the evidence: OpenAI-style
tool history is a 400, ``tool_config`` steers tool use, streams carry scoring events and end with ``[DONE]`` or
``DONE``, and Bedrock Claude models count usage in camel case. Each stack here pins one stream end, so every test
runs against both. What the gateway sent is read back from the simulator's request log.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import anthropic
import httpx
import pytest
from support.stacks import Stack, start_stack, stop_all

from simulator.app import SimulatorConfig

GPT = "gpt-4.1-mini"
CLAUDE = "claude-opus-4-5-chat"  # a Bedrock Claude on chat/generations, as NGA calls Opus 4.5
CLAUDE_ALIAS = "sfdc_ai__DefaultBedrockAnthropicClaude45Opus"
MODEL_MAP = {
    "models": [
        {"id": GPT, "salesforce_model": "sfdc_ai__DefaultGPT41Mini", "surface": "chat_generations", "tools": True},
        {"id": CLAUDE, "salesforce_model": CLAUDE_ALIAS, "surface": "chat_generations", "tools": True},
    ],
    "patterns": [],
}
CHAT = "/ai/gpt/v1/chat/generations"
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CLOCK = {"name": "get_time", "description": "The time in a zone", "input_schema": {"type": "object"}}
TOOL_HISTORY_REFUSAL = "messages with role 'tool' must be a response to a preceding message with tool_calls"

streamed = pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
both_models = pytest.mark.parametrize("model", [GPT, CLAUDE])


@pytest.fixture(scope="module", params=["[DONE]", "DONE"])
def chat(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack whose chat/generations streams all end with one marker."""
    path = tmp_path_factory.mktemp("map") / "model_map.json"
    path.write_text(json.dumps(MODEL_MAP))
    built, servers = start_stack(
        {"SF_MAX_RETRIES": "0", "MODEL_MAP_PATH": str(path)}, SimulatorConfig(chat_stream_ends=(request.param,))
    )
    yield built
    stop_all(servers)


def marker() -> str:
    return f"mk{uuid.uuid4().hex[:12]}"


def ask(client: anthropic.Anthropic, stream: bool, **params):
    if not stream:
        return client.messages.create(**params)
    with client.messages.stream(**params) as s:
        return s.get_final_message()


def sent_bodies(stack: Stack, word: str) -> list[dict]:
    """The bodies the gateway sent to chat/generations whose text holds ``word``, oldest first."""
    return [json.loads(r["body"]) for r in stack.backend_requests(CHAT) if word in r["body"]]


def simulator_post(stack: Stack, path: str, body: dict) -> httpx.Response:
    """Straight to the simulator with a token it minted: its answer as Salesforce would send it."""
    headers = {
        "authorization": f"Bearer {stack.simulator.mint.mint('tests')}",
        "x-sfdc-app-context": "EinsteinGPT",
        "x-client-feature-id": "ai-platform-models-connected-app",
    }
    return httpx.post(stack.simulator_url + path, json=body, headers=headers, timeout=30)


# --- the tool loop ------------------------------------------------------------------------------


@both_models
@streamed
def test_tool_loop_second_request_carries_salesforce_shaped_history(chat, model, stream):
    word = marker()
    client = chat.client()
    prompt = f"Weather? {word} [[tool:get_weather {{\"city\": \"Paris\"}}]]"
    params = {"model": model, "max_tokens": 200, "system": "Be brief.", "tools": [WEATHER, CLOCK]}
    first = ask(client, stream, messages=[{"role": "user", "content": prompt}], **params)
    assert first.stop_reason == "tool_use"
    (call,) = [b for b in first.content if b.type == "tool_use"]
    assert (call.name, call.input) == ("get_weather", {"city": "Paris"})

    history = [
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "22 degrees"}]},
    ]
    second = ask(client, stream, messages=history, **params)
    assert [b.type for b in second.content] == ["text"]
    assert second.content[0].text == "Tool result: 22 degrees"

    body = sent_bodies(chat, word)[-1]
    assert body["system_prompt_strategy"] == "use_model_parameter"
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assistant, tool = body["messages"][2:4]
    (invocation,) = assistant["tool_invocations"]
    assert set(invocation) == {"id", "function"}, "no type or index: real orgs refuse the tool turn after them"
    assert set(invocation["function"]) == {"name", "arguments"}
    assert json.loads(invocation["function"]["arguments"]) == {"city": "Paris"}
    assert tool == {
        "role": "tool",
        "content": "22 degrees",
        "tool_call_id": invocation["id"],
        "tool_call_name": "get_weather",
    }
    assert body["tool_config"] == {"mode": "auto"}
    assert "tool_choice" not in body


def test_simulator_refuses_openai_style_tool_history(chat):
    """What the old request shape met on real orgs: the same history with ``type``/``index`` or ``tool_calls``."""
    invocation = {"id": "call_1", "function": {"name": "get_weather", "arguments": "{}"}}
    tool = {"role": "tool", "content": "22 degrees", "tool_call_id": "call_1", "tool_call_name": "get_weather"}

    def body(assistant: dict, answer: dict = tool) -> dict:
        history = [{"role": "user", "content": "Weather?"}, {"role": "assistant", "content": "", **assistant}, answer]
        return {"model": "sfdc_ai__DefaultGPT41Mini", "messages": history, "generation_settings": {"max_tokens": 50}}

    accepted = simulator_post(chat, CHAT, body({"tool_invocations": [invocation]}))
    assert accepted.status_code == 200
    assert accepted.json()["generation_details"]["generations"][0]["content"] == "Tool result: 22 degrees"
    for refused in (
        body({"tool_invocations": [dict(invocation, type="function")]}),
        body({"tool_invocations": [dict(invocation, index=0)]}),
        body({"tool_calls": [dict(invocation, type="function")]}),
        body({"tool_invocations": [invocation]}, {k: v for k, v in tool.items() if k != "tool_call_id"}),
    ):
        answer = simulator_post(chat, CHAT, refused)
        assert answer.status_code == 400
        assert answer.json()["message"] == TOOL_HISTORY_REFUSAL


# --- forced tool choice ---------------------------------------------------------------------------


@streamed
@pytest.mark.parametrize(
    ("choice", "config", "called"),
    [
        (
            {"type": "tool", "name": "get_time"},
            {"mode": "tool", "allowed_tools": [{"type": "function", "name": "get_time"}]},
            "get_time",
        ),
        ({"type": "any"}, {"mode": "any"}, "get_weather"),
        ({"type": "none"}, {"mode": "none"}, None),
    ],
    ids=["tool", "any", "none"],
)
def test_tool_choice_reaches_salesforce_as_tool_config(chat, stream, choice, config, called):
    word = marker()
    prompt = f"Weather? {word} [[tool:get_weather {{\"city\": \"Oslo\"}}]]"
    message = ask(
        chat.client(),
        stream,
        model=GPT,
        max_tokens=200,
        tools=[WEATHER, CLOCK],
        tool_choice=choice,
        messages=[{"role": "user", "content": prompt}],
    )
    (body,) = sent_bodies(chat, word)
    assert body["tool_config"] == config
    assert "tool_choice" not in body
    if called is None:  # the model may not call a tool, although the prompt asks for one
        assert [b.type for b in message.content] == ["text"]
        assert message.stop_reason == "end_turn"
    else:  # the allowed tool only, and nothing before it
        assert [(b.type, b.name) for b in message.content] == [("tool_use", called)]
        assert message.stop_reason == "tool_use"


def test_no_tool_config_without_tools(chat):
    word = marker()
    message = chat.client().messages.create(
        model=GPT, max_tokens=50, messages=[{"role": "user", "content": f"Plain {word}"}]
    )
    assert message.content[0].text == f"Plain {word}"
    (body,) = sent_bodies(chat, word)
    assert "tool_config" not in body and "tools" not in body and "tool_choice" not in body
    assert body["system_prompt_strategy"] == "use_model_parameter"


# --- stream ends and usage ------------------------------------------------------------------------


@both_models
def test_stream_ends_cleanly_on_either_marker(chat, model):
    (end,) = chat.simulator.config.chat_stream_ends
    word = marker()
    body = {
        "model": MODEL_MAP["models"][[GPT, CLAUDE].index(model)]["salesforce_model"],
        "messages": [{"role": "user", "content": f"Raw {word}"}],
        "generation_settings": {"max_tokens": 50},
    }
    raw = simulator_post(chat, CHAT + "/stream", body).text
    frames = [f for f in raw.split("\n\n") if f.strip()]
    assert frames[-1].splitlines()[-1] == f"data: {end}", "the simulator ends as this stack is configured"
    assert any(f.startswith("event: scores") for f in frames)

    with chat.client().messages.stream(
        model=model, max_tokens=50, messages=[{"role": "user", "content": f"Streamed {word}"}]
    ) as s:
        types = [event.type for event in s]
        final = s.get_final_message()
    assert final.content[0].text == f"Streamed {word}"
    assert final.stop_reason == "end_turn"
    assert types[0] == "message_start" and types[-1] == "message_stop"


@both_models
@streamed
def test_usage_is_salesforces_count_in_either_case(chat, model, stream):
    """Claude on chat/generations counts in camel case, GPT in snake case; both reach the client as counted,
    not as the gateway's own estimate (the simulator counts words, the gateway does not)."""
    word = marker()
    text = f"Count {word} " + "lorem ipsum-dolor sit amet " * 30
    message = ask(chat.client(), stream, model=model, max_tokens=500, messages=[{"role": "user", "content": text}])
    (sent,) = sent_bodies(chat, word)
    counted = simulator_post(chat, CHAT, sent).json()["generation_details"]["parameters"]["usage"]
    if model == CLAUDE:
        assert set(counted) == {"inputTokens", "outputTokens", "totalTokens"}
        expected = (counted["inputTokens"], counted["outputTokens"])
    else:
        assert set(counted) == {"prompt_tokens", "completion_tokens", "total_tokens"}
        expected = (counted["prompt_tokens"], counted["completion_tokens"])
    assert (message.usage.input_tokens, message.usage.output_tokens) == expected
    assert expected[1] > 0
