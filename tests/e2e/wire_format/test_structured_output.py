"""Anthropic-side fidelity found by third-party clients: structured output (``output_config.format``) on every
surface, cumulative usage in every streamed ``message_delta``, and a simulator that treats tools as a real
model does (forced ``tool_choice``, declared tools only, JSON that fits the schema).

Through the real ``anthropic`` SDK (and raw SSE where the wire matters) against the session stack. The
simulator echoes the prompt into the strings of the JSON it generates, so expected values come from inputs.
"""

from __future__ import annotations

import json
import uuid

import jsonschema
import pytest
from support.stacks import STREAM_EVENT_TYPES, SURFACE_MODELS

MODELS = {"responses": "gpt-5.4", **SURFACE_MODELS}
STRUCTURED_SURFACES = ["bedrock_invoke", "chat_generations", "responses"]
BACKEND_PATHS = {
    "bedrock_invoke": "/ai/gpt/v1/model/",
    "chat_generations": "/ai/gpt/v1/chat/generations",
    "responses": "/ai/gpt/v1/responses",
    "models_api": "/einstein/platform/v1/models/",
}
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "role": {"type": "string", "enum": ["admin", "user"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "nickname": {"type": "string"},
    },
    "required": ["name", "age", "role", "tags"],
    "additionalProperties": False,
}
FORMAT = {"type": "json_schema", "schema": PERSON}
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CLOCK_TOOL = {
    "name": "get_time",
    "description": "The time in a time zone",
    "input_schema": {
        "type": "object",
        "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}, "precise": {"type": "boolean"}},
        "required": ["zone", "precise"],
    },
}
CLOCK_INPUT = {"zone": "CET", "precise": True}

streamed = pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])


def marker() -> str:
    return f"mk{uuid.uuid4().hex[:12]}"


def ask(client, stream: bool, **params):
    """(final message, raw event dicts or None), created or streamed."""
    if not stream:
        return client.messages.create(**params), None
    with client.messages.stream(**params) as s:
        events = [event.model_dump() for event in s if event.type in STREAM_EVENT_TYPES]
        return s.get_final_message(), events


def sent_body(stack, surface: str, word: str) -> dict:
    """The body the gateway sent Salesforce for the request carrying ``word``."""
    found = [r for r in stack.backend_requests(BACKEND_PATHS[surface]) if word in str(r["body"])]
    assert found, f"no {surface} request carried {word}"
    return json.loads(found[-1]["body"])


def parse_sse(raw: bytes) -> list[dict]:
    events = []
    for frame in raw.decode().replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].strip() for line in frame.split("\n") if line.startswith("data:")]
        if data:
            events.append(json.loads("".join(data)))
    return events


# --- structured output ------------------------------------------------------------------------------


@streamed
@pytest.mark.parametrize("surface", STRUCTURED_SURFACES)
def test_structured_output_is_json_text_that_fits_the_schema(client, surface, stream):
    prompt = f"Describe the admin {marker()}"
    message, events = ask(
        client,
        stream,
        model=MODELS[surface],
        max_tokens=400,
        messages=[{"role": "user", "content": prompt}],
        extra_body={"output_config": {"format": FORMAT}},
    )
    assert [b.type for b in message.content] == ["text"]
    answer = json.loads(message.content[0].text)
    jsonschema.validate(answer, PERSON)
    assert answer["name"] == prompt  # the simulator's strings carry the prompt: the answer is this request's
    assert message.stop_reason == "end_turn"
    if events is not None:  # streamed as Anthropic streams structured output: text deltas of one text block
        starts = [e for e in events if e["type"] == "content_block_start"]
        assert [(s["index"], s["content_block"]["type"]) for s in starts] == [(0, "text")]
        deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
        assert deltas and {d["type"] for d in deltas} == {"text_delta"}
        assert json.loads("".join(d["text"] for d in deltas)) == answer


def test_each_surface_is_asked_in_its_own_terms(stack, client):
    """Bedrock gets Anthropic's field, /responses ``text.format``, chat/generations a forced tool."""
    words = {}
    for surface in STRUCTURED_SURFACES:
        words[surface] = marker()
        client.messages.create(
            model=MODELS[surface],
            max_tokens=400,
            messages=[{"role": "user", "content": f"Who? {words[surface]}"}],
            extra_body={"output_config": {"format": FORMAT, "effort": "low"}},
        )
    bedrock = sent_body(stack, "bedrock_invoke", words["bedrock_invoke"])
    assert bedrock["output_config"]["format"] == FORMAT
    assert "tools" not in bedrock and "tool_choice" not in bedrock
    responses = sent_body(stack, "responses", words["responses"])
    assert responses["text"]["format"]["schema"] == PERSON
    chat = sent_body(stack, "chat_generations", words["chat_generations"])
    assert "output_config" not in chat and "text" not in chat
    [tool] = chat["tools"]
    assert tool["function"]["parameters"] == PERSON
    forced = chat["tool_config"]
    assert forced["mode"] in ("tool", "required")
    assert [t["name"] for t in forced["allowed_tools"]] == [tool["function"]["name"]]


def test_text_only_surface_refuses_structured_output_naming_models_that_can(stack, client):
    word = marker()
    for stream in (False, True):
        with pytest.raises(Exception) as caught:
            ask(
                client,
                stream,
                model=MODELS["models_api"],
                max_tokens=100,
                messages=[{"role": "user", "content": word}],
                extra_body={"output_config": {"format": FORMAT}},
            )
        error = caught.value
        assert getattr(error, "status_code", None) == 400, error
        message = error.body["error"]["message"]
        assert "output_config.format" in message and MODELS["models_api"] in message
        named = message.split("models that can: ")[1].split(", ")
        assert named and all(client.models.retrieve(m).id == m for m in named)
    assert not [r for r in stack.backend_requests() if word in str(r["body"])], "refused before Salesforce"


@pytest.mark.parametrize(
    ("output_config", "message"),
    [
        ({"format": "json"}, "output_config.format: Input should be a valid dictionary"),
        (
            {"format": {"type": "json", "schema": PERSON}},
            "output_config.format: Input tag 'json' found using 'type' does not match any of the expected tags: "
            "'json_schema'",
        ),
        ({"format": {"type": "json_schema"}}, "output_config.format.json_schema.schema: Field required"),
        (
            {"format": {"type": "json_schema", "schema": []}},
            "output_config.format.json_schema.schema: Input should be a valid dictionary",
        ),
    ],
    ids=["not-object", "wrong-type", "no-schema", "schema-not-object"],
)
@pytest.mark.parametrize("surface", ["bedrock_invoke", "chat_generations"])
def test_malformed_format_is_a_400_with_anthropics_words(stack, surface, output_config, message):
    word = marker()
    with stack.http() as http:
        response = http.post(
            "/v1/messages",
            json={
                "model": MODELS[surface],
                "max_tokens": 50,
                "messages": [{"role": "user", "content": word}],
                "output_config": output_config,
            },
        )
    assert response.status_code == 400
    assert response.json()["error"] == {"type": "invalid_request_error", "message": message}
    assert not [r for r in stack.backend_requests() if word in str(r["body"])]


@pytest.mark.parametrize("surface", ["bedrock_invoke", "chat_generations"])
def test_the_betas_top_level_output_format_works_too(stack, client, surface):
    word = marker()
    message = client.messages.create(
        model=MODELS[surface],
        max_tokens=400,
        messages=[{"role": "user", "content": word}],
        extra_body={"output_format": FORMAT, "output_config": {"effort": "low"}},
    )
    jsonschema.validate(json.loads(message.content[0].text), PERSON)
    body = sent_body(stack, surface, word)
    assert "output_format" not in body, "Bedrock refuses fields it does not know"
    if surface == "bedrock_invoke":
        assert body["output_config"] == {"effort": "low", "format": FORMAT}


@streamed
@pytest.mark.parametrize("surface", ["bedrock_invoke", "chat_generations"])
def test_tool_round_trip_then_structured_answer(client, surface, stream):
    """With tools and a schema the model may call the client's tools; its final answer is the JSON."""
    question = f"Weather for the admin? {marker()} [[tool:get_weather {{\"city\": \"Oslo\"}}]]"
    params = {
        "model": MODELS[surface],
        "max_tokens": 400,
        "tools": [WEATHER_TOOL],
        "extra_body": {"output_config": {"format": FORMAT}},
    }
    first, _ = ask(client, stream, messages=[{"role": "user", "content": question}], **params)
    [call] = [b for b in first.content if b.type == "tool_use"]
    assert (call.name, call.input, first.stop_reason) == ("get_weather", {"city": "Oslo"}, "tool_use")
    history = [
        {"role": "user", "content": question},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "4 degrees"}]},
    ]
    final, _ = ask(client, stream, messages=history, **params)
    assert [b.type for b in final.content] == ["text"]
    answer = json.loads(final.content[0].text)
    jsonschema.validate(answer, PERSON)
    assert answer["name"] == "Tool result: 4 degrees"
    assert final.stop_reason == "end_turn"


@streamed
@pytest.mark.parametrize("choice", [{"type": "tool", "name": "get_time"}, {"type": "any"}], ids=["tool", "any"])
@pytest.mark.parametrize("surface", ["bedrock_invoke", "chat_generations"])
def test_tool_use_the_client_forces_wins_over_the_schema(client, surface, stream, choice):
    message, _ = ask(
        client,
        stream,
        model=MODELS[surface],
        max_tokens=400,
        tools=[WEATHER_TOOL, CLOCK_TOOL],
        tool_choice=choice,
        messages=[{"role": "user", "content": f"Time? {marker()} [[tool:get_time {json.dumps(CLOCK_INPUT)}]]"}],
        extra_body={"output_config": {"format": FORMAT}},
    )
    [call] = message.content  # one of the client's tools, never the gateway's stand-in
    assert (call.type, call.name, message.stop_reason) == ("tool_use", "get_time", "tool_use")
    assert call.input == CLOCK_INPUT


# --- cumulative usage in message_delta --------------------------------------------------------------


@pytest.mark.parametrize("surface", [*STRUCTURED_SURFACES, "models_api"])
def test_streamed_message_delta_carries_cumulative_usage_equal_to_non_streamed(stack, surface):
    prompt = f"Count these words for me please {marker()}"
    body = {"model": MODELS[surface], "max_tokens": 200, "messages": [{"role": "user", "content": prompt}]}
    with stack.http() as http:
        created = http.post("/v1/messages", json=body).json()
        response = http.post("/v1/messages", json={**body, "stream": True})
    assert response.status_code == 200
    events = parse_sse(response.content)
    [delta] = [e for e in events if e["type"] == "message_delta"]
    usage = delta["usage"]
    fields = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
    assert set(fields) <= usage.keys()
    assert usage["input_tokens"] > 0
    assert {f: usage[f] for f in fields} == {f: created["usage"][f] for f in fields}
    assert usage["output_tokens"] == len(prompt.split())  # the simulator echoes the prompt word by word


@pytest.mark.parametrize("surface", STRUCTURED_SURFACES)
def test_sdk_final_usage_is_the_same_streamed_or_not(client, surface):
    params = {
        "model": MODELS[surface],
        "max_tokens": 400,
        "messages": [{"role": "user", "content": f"Usage check {marker()}"}],
        "extra_body": {"output_config": {"format": FORMAT}},
    }
    created, _ = ask(client, False, **params)
    streamed_message, _ = ask(client, True, **params)
    assert streamed_message.usage.model_dump() == created.usage.model_dump()
    assert created.usage.input_tokens > 0 and created.usage.output_tokens > 0


def test_a_slow_backend_still_gets_salesforces_input_count_into_message_delta(make_stack):
    """A backend slower than the grace period: the client gets our own message_start (with the gateway's
    estimate); the message_delta then carries the count Salesforce gave, as the JSON answer does."""
    slow = make_stack(env={"SF_MAX_RETRIES": "0", "STREAM_GRACE_SECONDS": "0.05"})
    prompt = f"Slow words {marker()} [[delay:100]]"
    body = {"model": MODELS["bedrock_invoke"], "max_tokens": 200, "messages": [{"role": "user", "content": prompt}]}
    with slow.http() as http:
        created = http.post("/v1/messages", json=body).json()
        events = parse_sse(http.post("/v1/messages", json={**body, "stream": True}).content)
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["message_start", "ping"], "the gateway committed to the stream before Salesforce answered"
    [delta] = [e for e in events if e["type"] == "message_delta"]
    assert delta["usage"]["input_tokens"] == created["usage"]["input_tokens"]
    assert delta["usage"]["output_tokens"] == created["usage"]["output_tokens"]


# --- the simulator treats tools as a real model does --------------------------------------------------


@streamed
@pytest.mark.parametrize("surface", ["bedrock_invoke", "chat_generations"])
def test_forced_tool_is_called_alone_with_input_that_fits_its_schema(client, surface, stream):
    message, _ = ask(
        client,
        stream,
        model=MODELS[surface],
        max_tokens=400,
        tools=[WEATHER_TOOL, CLOCK_TOOL],
        tool_choice={"type": "tool", "name": "get_time"},
        messages=[{"role": "user", "content": f"Weather? {marker()} [[tool:get_weather {{\"city\": \"Rome\"}}]]"}],
    )
    [call] = message.content  # the named tool only, no text before it
    assert (call.type, call.name) == ("tool_use", "get_time")
    jsonschema.validate(call.input, CLOCK_TOOL["input_schema"])


@streamed
@pytest.mark.parametrize("surface", ["bedrock_invoke", "chat_generations"])
def test_any_calls_some_declared_tool(client, surface, stream):
    message, _ = ask(
        client,
        stream,
        model=MODELS[surface],
        max_tokens=400,
        tools=[WEATHER_TOOL, CLOCK_TOOL],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": f"Anything {marker()}"}],
    )
    [call] = message.content
    assert call.type == "tool_use" and message.stop_reason == "tool_use"
    schema = {t["name"]: t["input_schema"] for t in (WEATHER_TOOL, CLOCK_TOOL)}[call.name]
    jsonschema.validate(call.input, schema)


@pytest.mark.parametrize(
    ("tools", "tool_choice"),
    [([CLOCK_TOOL], None), ([WEATHER_TOOL], {"type": "none"})],
    ids=["undeclared", "choice-none"],
)
def test_no_tool_call_the_request_does_not_allow(client, tools, tool_choice):
    prompt = f"Weather? {marker()}"
    extra = {"tool_choice": tool_choice} if tool_choice else {}
    message = client.messages.create(
        model=MODELS["bedrock_invoke"],
        max_tokens=200,
        tools=tools,
        messages=[{"role": "user", "content": f'{prompt} [[tool:get_weather {{"city": "Rome"}}]]'}],
        **extra,
    )
    assert [(b.type, b.text) for b in message.content] == [("text", prompt)]
    assert message.stop_reason == "end_turn"


# --- the pure parts: schema instances, and the forced call turned back into text ----------------------

SCHEMAS = {
    "nested-ref": {
        "type": "object",
        "$defs": {"Item": {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]}},
        "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 2}},
        "required": ["items"],
    },
    "nullable-anyof": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 5}]},
    "all-of": {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer", "minimum": 7}}, "required": ["a"]},
            {"type": "object", "properties": {"b": {"const": "fixed"}}, "required": ["b"]},
        ]
    },
    "bounds": {
        "type": "object",
        "properties": {
            "n": {"type": "number", "exclusiveMinimum": 2.5},
            "k": {"type": "integer", "maximum": -3},
            "s": {"type": "string", "minLength": 80},
        },
        "required": ["n", "k", "s"],
    },
    "formats": {
        "type": "object",
        "properties": {f: {"type": "string", "format": f} for f in ("date-time", "date", "email", "uri", "uuid")},
        "required": ["date-time", "date", "email", "uri", "uuid"],
    },
    "type-list": {"type": ["null", "boolean"]},
    "tuple": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "minItems": 2},
    "empty-array": {"type": "array", "items": {"type": "string"}, "maxItems": 0},
}


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_simulator_instances_fit_their_schema(name):
    from simulator.schemas import instance

    value = instance(SCHEMAS[name], "some reply text")
    jsonschema.validate(value, SCHEMAS[name], format_checker=jsonschema.FormatChecker())


def _stream(blocks: list[tuple[str, dict, list[dict]]], stop_reason: str) -> list[dict]:
    events: list[dict] = [{"type": "message_start", "message": {"usage": {"input_tokens": 3}}}]
    for index, (_, block, deltas) in enumerate(blocks):
        events.append({"type": "content_block_start", "index": index, "content_block": block})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
    events.append({"type": "message_delta", "delta": {"stop_reason": stop_reason}, "usage": {"output_tokens": 9}})
    return [*events, {"type": "message_stop"}]


def _rewrite(events: list[dict], name: str = "json_answer") -> list[dict]:
    from gateway.translate.structured import StructuredOutput

    rewriter = StructuredOutput(name).stream()
    return [out for event in events for out in rewriter.feed(event)]


def test_stray_text_before_the_forced_call_is_dropped_and_indexes_close_up():
    thinking = ("thinking", {"type": "thinking", "thinking": "", "signature": ""}, [{"type": "thinking_delta"}])
    text = ("text", {"type": "text", "text": ""}, [{"type": "text_delta", "text": "Sure: "}])
    ours = (
        "tool",
        {"type": "tool_use", "id": "toolu_1", "name": "json_answer", "input": {}},
        [{"type": "input_json_delta", "partial_json": p} for p in ("", '{"a":', " 1}")],
    )
    out = _rewrite(_stream([thinking, text, ours], "tool_use"))
    starts = [(e["index"], e["content_block"]["type"]) for e in out if e["type"] == "content_block_start"]
    assert starts == [(0, "thinking"), (1, "text")]
    assert [e["index"] for e in out if e["type"] == "content_block_stop"] == [0, 1]
    pieces = [e["delta"]["text"] for e in out if e["type"] == "content_block_delta" and e["index"] == 1]
    assert pieces == ['{"a":', " 1}"] and "Sure: " not in json.dumps(out)
    assert out[-2]["delta"]["stop_reason"] == "end_turn" and out[-2]["usage"] == {"output_tokens": 9}


def test_text_without_the_forced_call_is_kept_and_a_client_tool_call_passes():
    text = ("text", {"type": "text", "text": ""}, [{"type": "text_delta", "text": "Let me look."}])
    tool = (
        "tool",
        {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {}},
        [{"type": "input_json_delta", "partial_json": '{"city": "Oslo"}'}],
    )
    events = _stream([text, tool], "tool_use")
    assert _rewrite(events) == events  # nothing to turn back: the same stream, in the same order


def test_a_forced_call_whose_input_came_whole_in_its_start_event():
    ours = ("tool", {"type": "tool_use", "id": "toolu_3", "name": "json_answer_", "input": {"x": [1]}}, [])
    out = _rewrite(_stream([ours], "tool_use"), name="json_answer_")
    assert [e["delta"]["text"] for e in out if e["type"] == "content_block_delta"] == ['{"x":[1]}']


def test_the_finished_message_is_turned_back_the_same_way():
    from gateway.translate.structured import StructuredOutput

    message = {
        "content": [
            {"type": "text", "text": "Here you go"},
            {"type": "tool_use", "id": "toolu_4", "name": "json_answer", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use",
    }
    turned = StructuredOutput("json_answer").message(message)
    assert turned["content"] == [{"type": "text", "text": '{"a":1}'}]
    assert turned["stop_reason"] == "end_turn"
