"""chat/generations translation: requests in Salesforce's vocabulary, answers and streams back to Anthropic."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest
from support.anthropic_events import assemble
from support.builders import WEATHER_TOOL, messages_request

from gateway.translate import chat_generations as cg


def _tool_ids() -> Iterable[str]:
    n = 0
    while True:
        n += 1
        yield f"toolu_generated{n}"


def _id_factory():
    ids = _tool_ids()
    return lambda: next(ids)


def _tool_conversation(**extra) -> object:
    return messages_request(
        model="gpt-4.1-mini",
        system="Be brief.",
        max_tokens=321,
        temperature=0.25,
        stop_sequences=["END"],
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "What's the weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_abc", "name": "get_weather", "input": {"city": "Paris"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_abc", "content": "Sunny, 24C"},
                    {"type": "text", "text": "Thanks!"},
                ],
            },
        ],
        **extra,
    )


def test_chat_to_request_turns():
    body = cg.to_request(_tool_conversation(), "sfdc_ai__DefaultGPT41Mini")
    assert body["model"] == "sfdc_ai__DefaultGPT41Mini"
    turns = body["messages"]
    assert turns[0] == {"role": "system", "content": "Be brief."}
    assert turns[1] == {"role": "user", "content": "What's the weather in Paris?"}
    assistant = turns[2]
    assert assistant["role"] == "assistant"
    assert assistant["content"] == "Let me check."
    assert "tool_calls" not in assistant
    (call,) = assistant["tool_invocations"]
    # Salesforce's own shape: with OpenAI's "type"/"index" real orgs refuse the tool turn that follows.
    assert set(call) == {"id", "function"}
    assert call["id"] == "toolu_abc"
    assert set(call["function"]) == {"name", "arguments"}
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert turns[3] == {
        "role": "tool",
        "content": "Sunny, 24C",
        "tool_call_id": "toolu_abc",
        "tool_call_name": "get_weather",
    }
    assert turns[4] == {"role": "user", "content": "Thanks!"}
    assert len(turns) == 5
    assert body["system_prompt_strategy"] == "use_model_parameter"
    assert "tool_choice" not in body


def test_chat_to_request_settings_and_tools():
    body = cg.to_request(_tool_conversation(tool_choice={"type": "any"}), "sfdc_ai__DefaultGPT41Mini")
    assert body["generation_settings"] == {"max_tokens": 321, "temperature": 0.25, "stop_sequences": ["END"]}
    (tool,) = body["tools"]
    assert tool == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": WEATHER_TOOL["input_schema"],
        },
    }
    assert body["tool_config"] == {"mode": "any"}
    assert "tool_choice" not in body


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        (None, {"mode": "auto"}),
        ({"type": "auto"}, {"mode": "auto"}),
        ({"type": "none"}, {"mode": "none"}),
        ({"type": "any", "disable_parallel_tool_use": True}, {"mode": "any", "parallel_calls": False}),
        (
            {"type": "tool", "name": "get_weather"},
            {"mode": "tool", "allowed_tools": [{"type": "function", "name": "get_weather"}]},
        ),
    ],
)
def test_chat_to_request_tool_config_in_codeys_vocabulary(choice, config):
    extra = {"tool_choice": choice} if choice else {}
    body = cg.to_request(_tool_conversation(**extra), "sfdc_ai__DefaultGPT41Mini")
    assert body["tool_config"] == config
    assert "tool_choice" not in body


def test_chat_to_request_sampling_beside_max_tokens():
    request = messages_request(model="gpt-5", top_p=0.5, top_k=7, messages=[{"role": "user", "content": "hi"}])
    body = cg.to_request(request, "X")
    assert body["generation_settings"] == {"max_tokens": 100, "top_p": 0.5, "top_k": 7}


def test_chat_to_request_minimal():
    body = cg.to_request(messages_request(model="gpt-5", messages=[{"role": "user", "content": "hi"}]), "sfdc_ai__X")
    assert body == {
        "model": "sfdc_ai__X",
        "messages": [{"role": "user", "content": "hi"}],
        "generation_settings": {"max_tokens": 100},
        "system_prompt_strategy": "use_model_parameter",
    }  # no tools, so no tool_config either


def test_chat_to_request_tool_result_blocks_content():
    request = messages_request(
        model="gpt-5",
        messages=[
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "t", "input": {}}]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "42"}]}
                ],
            },
        ],
    )
    body = cg.to_request(request, "sfdc_ai__X")
    assert body["messages"][-1] == {"role": "tool", "content": "42", "tool_call_id": "toolu_1", "tool_call_name": "t"}
    assert body["messages"][1]["tool_invocations"][0]["function"]["arguments"] == "{}"


def test_chat_from_response_tool_invocations():
    body = {
        "id": "gen-1",
        "generation_details": {
            "generations": [
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_invocations": [
                        {
                            "id": "call_abc",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        },
                        {"type": "function", "function": {"name": "get_time", "arguments": {"tz": "CET"}}},
                        {"id": "toolu_kept", "type": "function", "function": {"name": "noop", "arguments": ""}},
                    ],
                    "parameters": {"finish_reason": "tool_calls"},
                }
            ],
            "parameters": {"usage": {"prompt_tokens": 12, "completion_tokens": 7}},
        },
    }
    message = cg.from_response(body, "msg_1", "gpt-4.1-mini", 99, _id_factory())
    assert message["id"] == "msg_1"
    assert message["model"] == "gpt-4.1-mini"
    assert message["role"] == "assistant"
    assert message["stop_reason"] == "tool_use"
    text, first, second, third = message["content"]
    assert text == {"type": "text", "text": "Checking."}
    assert first == {"type": "tool_use", "id": "toolu_call_abc", "name": "get_weather", "input": {"city": "Paris"}}
    assert second["id"].startswith("toolu_")
    assert second["input"] == {"tz": "CET"}
    assert third["id"] == "toolu_kept"
    assert third["input"] == {}
    assert message["usage"]["input_tokens"] == 12
    assert message["usage"]["output_tokens"] == 7


@pytest.mark.parametrize(
    ("finish", "expected"),
    # "tool_calls" with no tool call: a client told to run a tool that is not there would stall.
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal"), ("tool_calls", "end_turn")],
)
def test_chat_from_response_finish_reasons(finish, expected):
    body = {"generation_details": {"generations": [{"content": "x", "parameters": {"finish_reason": finish}}]}}
    message = cg.from_response(body, "msg_1", "gpt-5", 5, _id_factory())
    assert message["stop_reason"] == expected
    assert message["usage"]["input_tokens"] == 5  # the estimate when Salesforce reports none


# Where and under which names chat/generations answers have been seen to count tokens.
CHAT_USAGE_SHAPES = {
    "OpenAI's names in the details' usage": {"parameters": {"usage": {"prompt_tokens": 12, "completion_tokens": 7}}},
    "Bedrock Claude's camel case (CODEY)": {"parameters": {"usage": {"inputTokens": 12, "outputTokens": 7}}},
    "the documented API's token counts (MIMIT)": {
        "parameters": {"usage": {"inputTokenCount": 12, "outputTokenCount": 7}}
    },
    "in the generation's own parameters (xgen)": {
        "generations": [{"content": "x", "parameters": {"prompt_tokens": 12, "generated_tokens": 7}}]
    },
    "in a usage object of the generation's parameters": {
        "generations": [{"content": "x", "parameters": {"usage": {"inputTokens": 12, "outputTokens": 7}}}]
    },
}


@pytest.mark.parametrize("shape", CHAT_USAGE_SHAPES)
def test_chat_usage_read_in_every_shape(shape):
    details = {"generations": [{"content": "x"}], **CHAT_USAGE_SHAPES[shape]}
    message = cg.from_response({"generation_details": details}, "msg_1", "gpt-5", 99, _id_factory())
    assert (message["usage"]["input_tokens"], message["usage"]["output_tokens"]) == (12, 7)
    translator = cg.StreamTranslator("msg_stream", "gpt-5", 99, _id_factory())
    translator.feed({"generation_details": details})
    final = translator.finish()[-2]["usage"]
    assert (final["input_tokens"], final["output_tokens"]) == (12, 7)


@pytest.mark.parametrize(("data", "end"), [("[DONE]", True), ("DONE", True), (" DONE\n", True), ('{"a": 1}', False)])
def test_chat_stream_end_in_either_form(data, end):
    assert cg.is_stream_end(data) is end


def _frame(content: str = "", calls: list | None = None, finish: str | None = None, usage_: dict | None = None):
    generation: dict = {"role": "assistant", "content": content, "parameters": {"finish_reason": finish}}
    if calls is not None:
        generation["tool_invocations"] = calls
    parameters = {"usage": usage_} if usage_ else {}
    return {"id": "g", "generation_details": {"generations": [generation], "parameters": parameters}}


def _translate(frames: list[dict]) -> list[dict]:
    translator = cg.StreamTranslator("msg_stream", "gpt-4.1-mini", 11, _id_factory())
    events = [translator.start()]
    for frame in frames:
        events += translator.feed(frame)
    return events + translator.finish()


def test_stream_translator_keeps_parallel_calls_without_index_or_id_apart():
    frames = [
        _frame(
            calls=[
                {"function": {"name": "a", "arguments": '{"x": 1}'}},
                {"function": {"name": "b", "arguments": '{"y": 2}'}},
            ]
        ),
        _frame(calls=[{"function": {"name": "c", "arguments": '{"z": 3}'}}]),  # a new call: the open one is whole
        _frame(finish="tool_calls"),
    ]
    message = assemble(_translate(frames))
    assert [(b["name"], b["input"]) for b in message["content"]] == [("a", {"x": 1}), ("b", {"y": 2}), ("c", {"z": 3})]


def test_stream_translator_tool_calls_finish_without_a_tool_is_end_turn():
    events = _translate([_frame("Nothing to call."), _frame(finish="tool_calls")])
    assert [e["type"] for e in events if e["type"].startswith("content_block")] == [
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
    ]
    assert events[-2]["delta"]["stop_reason"] == "end_turn"


@pytest.mark.parametrize(
    ("frames", "empty"), [([], True), ([_frame(finish="stop")], True), ([_frame(finish="length")], False)]
)
def test_stream_translator_knows_an_empty_answer_from_a_cut_one(frames, empty):
    translator = cg.StreamTranslator("msg_stream", "gpt-4.1-mini", 11, _id_factory())
    for frame in frames:
        translator.feed(frame)
    assert translator.empty() is empty


def test_stream_translator_text_and_tool():
    frames = [
        _frame("Let me "),
        _frame("check."),
        _frame(calls=[{"index": 0, "id": "call_9", "type": "function", "function": {"name": "get_weather"}}]),
        _frame(calls=[{"index": 0, "function": {"arguments": '{"ci'}}]),
        _frame(calls=[{"index": 0, "function": {"arguments": 'ty": "Pa'}}]),
        _frame(calls=[{"index": 0, "function": {"arguments": 'ris"}'}}]),
        _frame(finish="tool_calls", usage_={"prompt_tokens": 20, "completion_tokens": 9}),
    ]
    events = _translate(frames)
    message = assemble(events)
    assert message["id"] == "msg_stream"
    assert message["model"] == "gpt-4.1-mini"
    assert message["content"][0] == {"type": "text", "text": "Let me check."}
    tool = message["content"][1]
    assert tool["type"] == "tool_use"
    assert tool["id"] == "toolu_call_9"
    assert tool["name"] == "get_weather"
    assert tool["input"] == {"city": "Paris"}
    partial = "".join(
        e["delta"]["partial_json"] for e in events if e.get("delta", {}).get("type") == "input_json_delta"
    )
    assert json.loads(partial) == {"city": "Paris"}
    assert message["stop_reason"] == "tool_use"
    assert message["usage"]["input_tokens"] == 20
    assert message["usage"]["output_tokens"] == 9


def test_stream_translator_two_tools_in_a_row():
    frames = [
        _frame(calls=[{"index": 0, "id": "call_a", "function": {"name": "one", "arguments": ""}}]),
        _frame(calls=[{"index": 0, "function": {"arguments": '{"n": 1}'}}]),
        _frame(calls=[{"index": 1, "id": "call_b", "function": {"name": "two", "arguments": '{"n":'}}]),
        _frame(calls=[{"index": 1, "function": {"arguments": " 2}"}}]),
        _frame(finish="tool_calls"),
    ]
    message = assemble(_translate(frames))
    assert [(b["name"], b["input"]) for b in message["content"]] == [("one", {"n": 1}), ("two", {"n": 2})]
    assert [b["id"] for b in message["content"]] == ["toolu_call_a", "toolu_call_b"]


# Upstream shapes of streamed tool arguments besides OpenAI's (index on every fragment): the gateway must
# hand the SDK one tool with whole, valid JSON whichever it gets (peers' trap: "tool input arrives empty").
TOOL_ARGUMENT_SHAPES = {
    "id on the first fragment only": [
        _frame(calls=[{"id": "call_a", "function": {"name": "Read", "arguments": ""}}]),
        _frame(calls=[{"function": {"arguments": '{"file_path": '}}]),
        _frame(calls=[{"function": {"arguments": '"/tmp/a"}'}}]),
    ],
    "id on every fragment": [
        _frame(calls=[{"id": "call_a", "function": {"name": "Read", "arguments": '{"file_path": '}}]),
        _frame(calls=[{"id": "call_a", "function": {"arguments": '"/tmp/a"}'}}]),
    ],
    "cumulative snapshots": [
        _frame(calls=[{"index": 0, "id": "call_a", "function": {"name": "Read", "arguments": '{"file_'}}]),
        _frame(calls=[{"index": 0, "function": {"arguments": '{"file_path": "/tm'}}]),
        _frame(calls=[{"index": 0, "function": {"arguments": '{"file_path": "/tmp/a"}'}}]),
    ],
    "deltas, then the whole arguments again at the end": [
        _frame(calls=[{"index": 0, "id": "call_a", "function": {"name": "Read", "arguments": '{"file_path": '}}]),
        _frame(calls=[{"index": 0, "function": {"arguments": '"/tmp/a"}'}}]),
        _frame(calls=[{"index": 0, "function": {"arguments": '{"file_path": "/tmp/a"}'}}]),
    ],
    "arguments only at the end, as an object": [
        _frame(calls=[{"index": 0, "id": "call_a", "function": {"name": "Read"}}]),
        _frame(calls=[{"index": 0, "function": {"arguments": {"file_path": "/tmp/a"}}}]),
    ],
}


TOOL_ARGUMENT_SHAPES["the name repeated on every fragment"] = [
    _frame(calls=[{"id": "call_a", "function": {"name": "Read", "arguments": '{"file_path": '}}]),
    _frame(calls=[{"function": {"name": "Read", "arguments": '"/tmp/a"}'}}]),
]


@pytest.mark.parametrize("shape", TOOL_ARGUMENT_SHAPES)
def test_stream_translator_tool_argument_shapes(shape):
    message = assemble(_translate([*TOOL_ARGUMENT_SHAPES[shape], _frame(finish="tool_calls")]))
    assert message["content"] == [
        {"type": "tool_use", "id": "toolu_call_a", "name": "Read", "input": {"file_path": "/tmp/a"}}
    ]
    assert message["stop_reason"] == "tool_use"


def test_stream_translator_text_only():
    frames = [_frame("Hel"), _frame("lo"), _frame(finish="stop", usage_={"prompt_tokens": 3, "completion_tokens": 2})]
    message = assemble(_translate(frames))
    assert message["content"] == [{"type": "text", "text": "Hello"}]
    assert message["stop_reason"] == "end_turn"
    assert message["usage"]["output_tokens"] == 2


def test_stream_translator_length_finish():
    message = assemble(_translate([_frame("cut"), _frame(finish="length")]))
    assert message["stop_reason"] == "max_tokens"


def test_fragments_that_repeat_the_tool_name_cost_linear_time():
    """Some upstreams repeat the name on every fragment; deciding whether each one starts a new call must not
    re-parse the arguments so far every time. Compared as a ratio of two sizes in one run."""
    import gc
    import time

    def run(pieces: int) -> float:
        text = '"' + "y" * 40 + '",'
        frames = [_frame(calls=[{"function": {"name": "write", "arguments": '{"lines": ['}}])]
        frames += [_frame(calls=[{"function": {"name": "write", "arguments": text}}]) for _ in range(pieces)]
        frames.append(_frame(calls=[{"function": {"name": "write", "arguments": '"end"]}'}}], finish="tool_calls"))
        gc.collect()
        gc.disable()  # a collection landing in one run but not the other is noise, not cost
        try:
            started = time.perf_counter()
            events = _translate(frames)
            elapsed = time.perf_counter() - started
        finally:
            gc.enable()
        (tool,) = [b for b in assemble(events)["content"] if b["type"] == "tool_use"]
        assert len(tool["input"]["lines"]) == pieces + 1
        return elapsed

    run(200)  # warm
    small, large = min(run(1500) for _ in range(3)), min(run(6000) for _ in range(3))
    assert large / small < 8, (small, large)  # quadratic would be ~16
