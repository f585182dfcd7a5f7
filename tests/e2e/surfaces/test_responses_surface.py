"""GPT-5.x on the LLM Gateway's ``/responses``, through the real ``anthropic`` SDK against the simulator.

The simulator's ``/responses`` behaves as real orgs were seen to (salesforce-evidence.md): ``max`` effort
is a 400, sampling fields are refused while reasoning, errors can arrive inside a 200 stream. Each test
also reads what the gateway sent (the simulator's request log), since the translation is the point.
"""

from __future__ import annotations

import json
import re
import uuid

import anthropic
import httpx
import pytest
from support.stacks import Stack

from gateway.anthropic.request import MessagesRequest
from gateway.catalog.model_map import ModelMap
from gateway.salesforce.errors import CallContext
from gateway.salesforce.surfaces.responses import typed_error
from gateway.translate import responses as rs
from simulator.app import SimulatorConfig

GPT = "gpt-5.4"
ALIAS = "sfdc_ai__DefaultGPT54"
PATH = "/ai/gpt/v1/responses"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TOOL_RESULT = "18 degrees and sunny"
streamed = pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])


def marker() -> str:
    return f"m{uuid.uuid4().hex[:10]}"


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def ask(client: anthropic.Anthropic, stream: bool, **params) -> anthropic.types.Message:
    params.setdefault("model", GPT)
    params.setdefault("max_tokens", 200)
    if not stream:
        return client.messages.create(**params)
    with client.messages.stream(**params) as s:
        return s.get_final_message()


def sent(stack: Stack, needle: str) -> dict:
    """The one body the gateway sent to /responses containing ``needle``."""
    found = [json.loads(r["body"]) for r in stack.backend_requests(PATH) if needle in r["body"]]
    assert len(found) == 1, f"expected one /responses call with {needle!r}, found {len(found)}"
    return found[0]


def text_of(message: anthropic.types.Message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


# --- plain answers ----------------------------------------------------------------------------------


@streamed
def test_plain_answer(stack, client, stream):
    prompt = f"Hello from {marker()} there"
    message = ask(client, stream, system="Be brief.", messages=user(prompt))
    assert text_of(message) == prompt
    assert message.model == GPT
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    body = sent(stack, prompt)
    assert body["model"] == ALIAS
    assert body["max_output_tokens"] == 200
    assert body.get("stream", False) is stream
    assert body["input"] == [
        {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Be brief."}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]},
    ]
    assert "reasoning" not in body


def test_stream_events_are_anthropic_events(stack):
    prompt = f"Wire check {marker()} with several words"
    body = {"model": GPT, "max_tokens": 100, "stream": True, "messages": user(prompt)}
    with stack.http() as http, http.stream("POST", "/v1/messages", json=body) as response:
        raw = response.read().decode()
    assert response.status_code == 200
    names = [line[7:] for line in raw.splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert names.count("content_block_delta") > 1  # the backend's deltas, passed on as they came
    assert "[DONE]" not in raw and "response." not in raw


# --- tools ------------------------------------------------------------------------------------------


@streamed
def test_tool_loop(stack, client, stream):
    word = marker()
    prompt = f'Weather please {word} [[tool:get_weather {{"city": "Paris"}}]]'
    first = ask(client, stream, tools=[WEATHER_TOOL], messages=user(prompt))
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert (call.name, call.input) == ("get_weather", {"city": "Paris"})
    assert call.id.startswith("toolu_")
    history = [
        *user(prompt),
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": TOOL_RESULT}]},
    ]
    second = ask(client, stream, tools=[WEATHER_TOOL], messages=history)
    assert text_of(second) == f"Tool result: {TOOL_RESULT}"
    assert second.stop_reason == "end_turn"

    bodies = [json.loads(r["body"]) for r in stack.backend_requests(PATH) if word in r["body"]]
    assert len(bodies) == 2
    assert bodies[0]["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": WEATHER_TOOL["input_schema"],
        }
    ]
    assert bodies[0]["tool_choice"] == "auto"
    items = bodies[1]["input"]
    function_call = next(i for i in items if i["type"] == "function_call")
    output = next(i for i in items if i["type"] == "function_call_output")
    assert function_call["name"] == "get_weather"
    assert json.loads(function_call["arguments"]) == {"city": "Paris"}
    assert output == {"type": "function_call_output", "call_id": function_call["call_id"], "output": TOOL_RESULT}


def test_tool_arguments_stream_as_input_json_deltas(client):
    prompt = f'Stream the call {marker()} [[tool:get_weather {{"city": "Paris", "unit": "celsius"}}]]'
    with client.messages.stream(model=GPT, max_tokens=200, tools=[WEATHER_TOOL], messages=user(prompt)) as s:
        deltas = [e.delta for e in s if e.type == "content_block_delta"]
        fragments = [d.partial_json for d in deltas if d.type == "input_json_delta"]
        final = s.get_final_message()
    assert len(fragments) > 1
    assert json.loads("".join(fragments)) == {"city": "Paris", "unit": "celsius"}
    assert final.content[-1].input == {"city": "Paris", "unit": "celsius"}


@streamed
def test_forced_tool_choice(stack, client, stream):
    prompt = f"Use the tool {marker()}"
    message = ask(
        client, stream, tools=[WEATHER_TOOL], tool_choice={"type": "tool", "name": "get_weather"}, messages=user(prompt)
    )
    assert [b.type for b in message.content] == ["tool_use"]
    assert message.content[0].name == "get_weather"
    assert sent(stack, prompt)["tool_choice"] == {"type": "function", "name": "get_weather"}


def test_tool_choice_any_and_no_parallel_calls(stack, client):
    prompt = f"Any tool {marker()}"
    choice = {"type": "any", "disable_parallel_tool_use": True}
    message = client.messages.create(
        model=GPT, max_tokens=100, tools=[WEATHER_TOOL], tool_choice=choice, messages=user(prompt)
    )
    assert message.stop_reason == "tool_use"
    body = sent(stack, prompt)
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is False


# --- reasoning --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("budget", "effort"), [(1024, "low"), (2048, "low"), (4000, "medium"), (12000, "high")])
def test_thinking_budget_becomes_reasoning_effort(stack, client, budget, effort):
    prompt = f"Think {marker()}"
    thinking = {"type": "enabled", "budget_tokens": budget}
    message = client.messages.create(model=GPT, max_tokens=budget + 500, thinking=thinking, messages=user(prompt))
    assert text_of(message) == prompt
    assert sent(stack, prompt)["reasoning"] == {"effort": effort}


@pytest.mark.parametrize(
    ("config", "expected"),
    [({"effort": "low"}, {"effort": "low"}), ({"effort": "max"}, {"effort": "xhigh"}), ({"effort": "none"}, None)],
)
@streamed
def test_output_config_effort(stack, client, config, expected, stream):
    """``max`` is what Claude clients send for the top effort; the backend refuses it and takes xhigh."""
    prompt = f"Effort {marker()}"
    message = ask(client, stream, thinking={"type": "adaptive"}, output_config=config, messages=user(prompt))
    assert text_of(message) == prompt
    assert sent(stack, prompt).get("reasoning") == expected


def test_sampling_fields_are_dropped_while_reasoning(stack, client):
    prompt = f"Sampling {marker()}"
    extra = {"temperature": 1, "top_p": 0.97}
    thinking = {"type": "enabled", "budget_tokens": 1024}
    client.messages.create(model=GPT, max_tokens=2000, thinking=thinking, messages=user(prompt), extra_body=extra)
    body = sent(stack, prompt)
    assert body["reasoning"] == {"effort": "low"}
    assert "temperature" not in body and "top_p" not in body

    plain = f"No reasoning {marker()}"
    client.messages.create(model=GPT, max_tokens=100, messages=user(plain), extra_body={"temperature": 0.3})
    assert sent(stack, plain)["temperature"] == 0.3  # passed on when nothing reasons


@streamed
def test_reasoning_tokens_are_output_tokens(client, stream):
    prompt = f"Count me {marker()}"
    plain = ask(client, stream, messages=user(prompt))
    reasoned = ask(client, stream, output_config={"effort": "high"}, messages=user(prompt))
    assert text_of(reasoned) == text_of(plain)
    assert reasoned.usage.output_tokens > plain.usage.output_tokens  # same text, plus the reasoning billed


def test_streamed_usage_equals_json_usage(client):
    prompt = f"Usage parity {marker()}"
    json_message = ask(client, False, output_config={"effort": "medium"}, messages=user(prompt))
    streamed_message = ask(client, True, output_config={"effort": "medium"}, messages=user(prompt))
    assert streamed_message.usage.input_tokens == json_message.usage.input_tokens
    assert streamed_message.usage.output_tokens == json_message.usage.output_tokens


def bearer(stack: Stack) -> dict[str, str]:
    token = stack.simulator.mint.mint("test")
    return {
        "authorization": f"Bearer {token}",
        "x-sfdc-app-context": "EinsteinGPT",
        "x-client-feature-id": "ai-platform-models-connected-app",
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"reasoning": {"effort": "max"}}, "Unexpected value 'max'"),
        ({"reasoning": {"effort": "low"}, "temperature": 0.5}, "Unsupported parameter: 'temperature'"),
        ({"stop": ["x"]}, "Unknown parameter: 'stop'"),
    ],
)
def test_simulator_refuses_what_real_orgs_refuse(stack, extra, message):
    """What the gateway's translation must avoid: sent as is, the simulated org answers 400."""
    body = {"model": ALIAS, "input": [{"type": "message", "role": "user", "content": "hi"}], **extra}
    response = httpx.post(stack.simulator_url + PATH, json=body, headers=bearer(stack))
    assert response.status_code == 400
    assert message in response.json()["message"]


# --- limits the surface cannot carry -----------------------------------------------------------------

COUNTING = "one two three four five six seven eight nine ten"


@streamed
def test_stop_sequences_are_applied_by_the_gateway(stack, client, stream):
    prompt = f"{COUNTING} {marker()}"
    message = ask(client, stream, stop_sequences=["ee fo"], messages=user(prompt))  # spans two streamed words
    assert text_of(message) == "one two thr"
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "ee fo")
    assert "stop" not in json.dumps(sent(stack, prompt))


@streamed
def test_tiny_max_tokens_is_applied_by_the_gateway(stack, client, stream):
    prompt = f"{COUNTING} {marker()}"
    message = ask(client, stream, max_tokens=3, messages=user(prompt))
    assert message.stop_reason == "max_tokens"
    assert text_of(message) and prompt.startswith(text_of(message)) and len(text_of(message)) < len(prompt)
    assert 0 < message.usage.output_tokens <= 3
    assert sent(stack, prompt)["max_output_tokens"] == rs.MIN_OUTPUT_TOKENS


@streamed
def test_max_tokens_reached_upstream(client, stream):
    words = " ".join(f"w{n}" for n in range(40))
    message = ask(client, stream, max_tokens=20, messages=user(words))
    assert message.stop_reason == "max_tokens"
    assert words.startswith(text_of(message).strip()) and text_of(message).strip() != words


@streamed
def test_structured_output_is_passed_natively(stack, client, stream):
    prompt = f"Structured {marker()}"
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["city", "days", "tags"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "schema": schema}
    message = ask(client, stream, output_config={"format": fmt}, messages=user(prompt))
    answer = json.loads(text_of(message))
    assert set(answer) == {"city", "days", "tags"}
    assert isinstance(answer["city"], str) and isinstance(answer["days"], int) and isinstance(answer["tags"], list)
    assert sent(stack, prompt)["text"]["format"]["schema"] == schema


@streamed
def test_images_are_refused_clearly(stack, client, stream):
    prompt = f"Image {marker()}"
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask(client, stream, messages=[{"role": "user", "content": [image, {"type": "text", "text": prompt}]}])
    assert "does not accept image content" in caught.value.message
    assert not stack.backend_requests(prompt)


# --- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["create", "helper"])
def test_rate_limit_inside_a_200_stream_is_a_429(client, mode):
    """Before any content, an ``error`` event still gets a real status: the SDK's retry logic sees a 429."""
    params = {"model": GPT, "max_tokens": 50, "messages": user(f"hi {marker()} [[fault:limit-in-stream]]")}
    with pytest.raises(anthropic.RateLimitError) as caught:
        if mode == "create":
            client.messages.create(stream=True, **params).close()
        else:
            with client.messages.stream(**params):
                pass
    assert caught.value.status_code == 429
    assert caught.value.body["error"]["type"] == "rate_limit_error"


def test_context_overflow_inside_a_200_stream_reads_as_anthropic_says_it(client):
    """Claude Code compacts on exactly this text; the backend's own numbers are not given, the map's are."""
    params = {"model": GPT, "max_tokens": 50, "messages": user(f"hi {marker()} [[fault:overflow-in-stream]]")}
    with pytest.raises(anthropic.BadRequestError) as caught, client.messages.stream(**params):
        pass
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    window = ModelMap.default().route(GPT).entry.context_window
    assert re.fullmatch(rf"prompt is too long: \d+ tokens > {window} maximum", caught.value.body["error"]["message"])


def test_failure_mid_stream_is_an_api_error_event(client):
    words = " ".join(f"word{n}" for n in range(12))
    received = []
    params = {"model": GPT, "max_tokens": 100, "messages": user(f"{words} [[fault:exception-mid-stream]]")}
    with pytest.raises(anthropic.APIStatusError) as caught, client.messages.stream(**params) as s:
        for event in s:
            if event.type == "content_block_delta":
                received.append(event.delta.text)
    assert received and words.startswith("".join(received).strip())
    assert caught.value.body["error"]["type"] == "api_error"
    assert "Simulated failure mid-stream" in caught.value.body["error"]["message"]


@pytest.mark.parametrize(
    ("directive", "cls", "status"),
    [("[[error:429]]", anthropic.RateLimitError, 429), ("[[error:500]]", anthropic.InternalServerError, 500)],
)
@streamed
def test_http_errors(client, directive, cls, status, stream):
    with pytest.raises(cls) as caught:
        ask(client, stream, messages=user(f"hi {marker()} {directive}"))
    assert caught.value.status_code == status


@pytest.mark.parametrize("fault", ["empty-body", "error-body-200", "empty-answer"])
@streamed
def test_empty_or_error_answers_are_retryable(client, fault, stream):
    with pytest.raises(anthropic.APIStatusError) as caught:
        ask(client, stream, messages=user(f"hi {marker()} [[fault:{fault}]]"))
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"


def test_a_model_the_org_refuses_is_not_found(make_stack):
    refusing = make_stack(sim_config=SimulatorConfig(refused_models=frozenset({ALIAS})))
    with pytest.raises(anthropic.NotFoundError) as caught:
        refusing.client().messages.create(model=GPT, max_tokens=50, messages=user("hi"))
    assert ALIAS in caught.value.message


# --- the translation on its own ---------------------------------------------------------------------


def request(**fields) -> MessagesRequest:
    base = {"body": {}, "model": GPT, "messages": user("hi"), "system": [], "max_tokens": 100}
    base.update(fields)
    if isinstance(base["messages"][0]["content"], str):
        base["messages"] = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    return MessagesRequest(**base)


def test_history_keeps_call_ids_and_drops_thinking():
    history = [
        {"role": "user", "content": [{"type": "text", "text": "go"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Calling."},
                {"type": "tool_use", "id": "toolu_call_abc", "name": "get_weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_call_abc", "content": "boom", "is_error": True},
                {"type": "text", "text": "and now?"},
            ],
        },
    ]
    items = rs.to_request(request(messages=history), ALIAS)["input"]
    assert [i["type"] for i in items] == ["message", "message", "function_call", "function_call_output", "message"]
    assert items[1]["content"] == [{"type": "output_text", "text": "Calling."}]
    assert items[2]["call_id"] == items[3]["call_id"] == "call_abc"  # Salesforce's own id again
    assert items[3]["output"] == "Error: boom"
    assert "hmm" not in json.dumps(items)


def test_argument_deltas_before_their_item_and_whole_text_again():
    translator = rs.StreamTranslator(request(), "msg_1", GPT, 5, lambda: "toolu_x")
    events = translator.feed("response.function_call_arguments.delta", {"output_index": 0, "delta": '{"a":'})
    assert events == []  # held until the item names the tool
    item = {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": ""}
    events = translator.feed("response.output_item.added", {"output_index": 0, "item": item})
    events += translator.feed("response.function_call_arguments.delta", {"output_index": 0, "delta": " 1}"})
    done = {"output_index": 0, "item": dict(item, arguments='{"a": 1}')}
    events += translator.feed("response.output_item.done", done)
    parts = [e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta"]
    assert "".join(parts) == '{"a": 1}'
    assert events[0]["content_block"]["id"] == "toolu_call_1"


OVERFLOW, LIMIT = "invalid_request_error", "rate_limit_error"


@pytest.mark.parametrize(
    ("kind", "data", "error_type"),
    [
        ("error", {"type": "error", "code": "rate_limit_exceeded", "message": "slow down"}, "rate_limit_error"),
        ("error", {"errorCode": "LIMIT_EXCEEDED", "message": "Too many requests"}, "rate_limit_error"),
        ("error", {"error": {"code": "server_error", "message": "oops"}}, "api_error"),
        ("response.failed", {"response": {"status": "failed", "error": {"code": "server_error"}}}, "api_error"),
        ("error", {"message": "Your input exceeds the context window", "code": "context_length_exceeded"}, OVERFLOW),
        ("error", {"status": 503, "message": "busy"}, "overloaded_error"),
        ("response.failed", {"response": {"error": "rate_limit_exceeded", "error_description": "later"}}, LIMIT),
    ],
)
def test_stream_errors_are_typed(kind, data, error_type):
    error = typed_error(kind, data, CallContext(GPT, ALIAS, 1000, 10))
    assert error.error_type == error_type


def test_cached_input_is_reported_as_cache_reads():
    raw = {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 60}, "output_tokens": 9}
    usage = rs.usage_of(raw, 1)
    assert (usage["input_tokens"], usage["cache_read_input_tokens"], usage["output_tokens"]) == (40, 60, 9)


def test_refusal_is_a_refusal_not_an_empty_answer():
    refusal = {"type": "message", "content": [{"type": "refusal", "refusal": "I can't help with that."}]}
    translator = rs.StreamTranslator(request(), "msg_1", GPT, 5, lambda: "toolu_x")
    message = rs.from_response({"status": "completed", "output": [refusal]}, translator)
    assert message["stop_reason"] == "refusal"
    assert message["content"] == [{"type": "text", "text": "I can't help with that."}]


def test_long_tool_names_round_trip():
    long_name = "mcp__a_server_with_a_long_name__" + "x" * 60
    tool = {"name": long_name, "input_schema": {"type": "object"}}
    sent_name = rs.to_request(request(tools=[tool]), ALIAS)["tools"][0]["name"]
    assert len(sent_name) <= 64 and sent_name != long_name
    call = {"type": "function_call", "call_id": "call_9", "name": sent_name, "arguments": '{"q": 1}'}
    translator = rs.StreamTranslator(request(), "msg_1", GPT, 5, lambda: "toolu_x", {sent_name: long_name})
    message = rs.from_response({"status": "completed", "output": [call]}, translator)
    assert message["content"][0]["name"] == long_name
    assert message["content"][0]["input"] == {"q": 1}
    assert message["stop_reason"] == "tool_use"
