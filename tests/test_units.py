"""Unit tests of the gateway's pure modules: model map, token estimates, limits, translators,
the AWS event-stream decoder, error mapping, OAuth tokens and the Anthropic event builders.

Most tests need no network. The OAuth tests run real components (simulator, gateway, token
provider) on loopback, because refresh and re-mint behaviour only shows against a real mint.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
import json
import re
import struct
import time
import zlib
from collections.abc import AsyncIterator, Iterable

import anthropic
import pytest

from gateway.anthropic.errors import GatewayError
from gateway.anthropic.events import chunk_text, events_from_message, usage
from gateway.anthropic.validation import validate_count_tokens, validate_messages
from gateway.catalog.model_map import ModelMap, default_map_bytes
from gateway.catalog.verification import ModelVerifier
from gateway.salesforce.client import SalesforceClient
from gateway.salesforce.errors import CallContext, backend_message, map_status
from gateway.salesforce.eventstream import decode
from gateway.salesforce.oauth import jwt_expiry
from gateway.stores.base import VerificationCache
from gateway.token_estimate import count_request, image_size, image_tokens, text_tokens
from gateway.translate import bedrock, models_api
from gateway.translate import chat_generations as cg
from gateway.translate.bedrock import MIN_THINKING_BUDGET
from gateway.translate.limits import apply_limits
from simulator.app import SimulatorConfig
from simulator.eventstream import chunk_frame, encode_frame, exception_frame
from simulator.oauth import TokenMint

# --- shared helpers -----------------------------------------------------------------------------


def _png(width: int, height: int) -> bytes:
    """A complete, decodable greyscale PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = (b"\x00" + bytes(x % 256 for x in range(width))) * height
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _gif(width: int, height: int) -> bytes:
    """A minimal GIF89a: header, logical screen descriptor, one 1x1 image, trailer."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + image + b"\x3b"


def _jpeg(width: int, height: int, *, sof: int = 0xC0, app_padding: int = 0) -> bytes:
    """SOI, a JFIF APP0 (optionally an APP1 of ``app_padding`` bytes), a DQT-free SOF segment, EOI."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    app1 = b""
    if app_padding:
        app1 = b"\xff\xe1" + struct.pack(">H", app_padding + 2) + b"\xff" * app_padding
    components = b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    sof_segment = bytes([0xFF, sof]) + struct.pack(">HBHHB", 8 + len(components), 8, height, width, 3) + components
    return b"\xff\xd8" + app0 + app1 + sof_segment + b"\xff\xd9"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _request(**body) -> object:
    body.setdefault("model", "claude-sonnet-4-5")
    body.setdefault("max_tokens", 100)
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    betas = tuple(body.pop("betas", ()))
    return validate_messages(body, betas)


def _tool_ids() -> Iterable[str]:
    n = 0
    while True:
        n += 1
        yield f"toolu_generated{n}"


def _id_factory():
    ids = _tool_ids()
    return lambda: next(ids)


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}

BLOCK_DELTAS = {
    "text": {"text_delta"},
    "tool_use": {"input_json_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
}


def assemble(events: list[dict]) -> dict:
    """Check an Anthropic event sequence is well formed and rebuild the message it describes."""
    assert events, "no events"
    assert events[0]["type"] == "message_start"
    assert events[-1] == {"type": "message_stop"}
    message = copy.deepcopy(events[0]["message"])
    assert message["content"] == []
    assert message["stop_reason"] is None
    open_index: int | None = None
    json_parts: dict[int, list[str]] = {}
    deltas_seen = 0
    for event in events[1:-1]:
        kind = event["type"]
        assert deltas_seen == 0, f"{kind} after message_delta"
        if kind == "content_block_start":
            assert open_index is None, "a block started before the previous one stopped"
            assert event["index"] == len(message["content"]), "block indexes must be 0, 1, 2, ..."
            open_index = event["index"]
            message["content"].append(copy.deepcopy(event["content_block"]))
        elif kind == "content_block_delta":
            assert event["index"] == open_index, "delta for a block that is not open"
            block, delta = message["content"][open_index], event["delta"]
            assert delta["type"] in BLOCK_DELTAS.get(block["type"], set()), (block["type"], delta["type"])
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            else:
                json_parts.setdefault(open_index, []).append(delta["partial_json"])
        elif kind == "content_block_stop":
            assert event["index"] == open_index
            block = message["content"][open_index]
            if block["type"] == "tool_use":
                raw = "".join(json_parts.get(open_index, []))
                block["input"] = json.loads(raw) if raw else {}
            open_index = None
        elif kind == "message_delta":
            assert open_index is None, "message_delta while a block is open"
            deltas_seen += 1
            message["stop_reason"] = event["delta"]["stop_reason"]
            message["stop_sequence"] = event["delta"]["stop_sequence"]
            message["usage"] = dict(message["usage"], **event["usage"])
        elif kind != "ping":
            pytest.fail(f"unexpected event {kind}")
    assert deltas_seen == 1, "exactly one message_delta"
    return message


# --- token estimates -----------------------------------------------------------------------------


def test_text_tokens_empty_is_zero():
    assert text_tokens("") == 0


def test_text_tokens_monotonic_in_length():
    sample = "The quick brown fox jumps over the lazy dog; 日本語も少し。 Emoji 🎉 too! " * 20
    counts = [text_tokens(sample[:n]) for n in range(len(sample) + 1)]
    assert all(a <= b for a, b in itertools.pairwise(counts))
    assert counts[-1] > counts[len(sample) // 2] > counts[10]


@pytest.mark.parametrize("length", [1, 7, 36, 100, 1000, 10_000, 123_457])
def test_text_tokens_ascii_about_len_over_3_6(length):
    text = ("def f(x):\n    return x * 2  # comment\n" * (length // 38 + 1))[:length]
    assert abs(text_tokens(text) - length / 3.6) <= 1.5


def test_text_tokens_counts_non_ascii():
    cjk = "日本語のテキストを数える" * 10  # 120 three-byte characters
    assert len(cjk) - 1 <= text_tokens(cjk) <= len(cjk) + 2
    assert text_tokens(cjk) > 3 * text_tokens("a" * len(cjk))
    emoji = "🎉" * 50
    assert text_tokens(emoji) >= 50
    accented = "é" * 100
    assert text_tokens(accented) > text_tokens("e" * 100)
    mixed = "hello " * 10 + "мир " * 10
    assert text_tokens(mixed) > text_tokens("hello " * 10 + "mir " * 10)


def test_image_size_png():
    assert image_size(_b64(_png(200, 150))) == (200, 150)
    assert image_size(_b64(_png(1, 4097))) == (1, 4097)


def test_image_size_gif():
    assert image_size(_b64(_gif(320, 240))) == (320, 240)
    header_only = b"GIF87a" + struct.pack("<HH", 17, 1000) + b"\x00\x00\x00"
    assert image_size(_b64(header_only)) == (17, 1000)


@pytest.mark.parametrize("sof", [0xC0, 0xC2])
def test_image_size_jpeg(sof):
    assert image_size(_b64(_jpeg(640, 480, sof=sof))) == (640, 480)


def test_image_size_jpeg_skips_large_app_segment():
    assert image_size(_b64(_jpeg(1024, 768, app_padding=20_000))) == (1024, 768)


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xd9"])
def test_image_size_unknown(data):
    assert image_size(_b64(data)) is None


def test_image_size_reads_only_the_head_of_a_large_payload():
    big = _png(300, 300) + b"\x00" * 2_000_000
    assert image_size(_b64(big)) == (300, 300)


def test_image_tokens_rule():
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": _b64(_png(750, 100))}}
    assert image_tokens(block) == 100
    url = {"type": "image", "source": {"type": "url", "url": "https://example.com/x.png"}}
    assert image_tokens(url) > 0


def test_count_request_components_add_up():
    base = validate_count_tokens({"model": "m", "messages": [{"role": "user", "content": "hello there"}]})
    with_system = validate_count_tokens(
        {"model": "m", "system": "Be nice.", "messages": [{"role": "user", "content": "hello there"}]}
    )
    with_tools = validate_count_tokens(
        {"model": "m", "tools": [WEATHER_TOOL], "messages": [{"role": "user", "content": "hello there"}]}
    )
    assert 0 < count_request(base) < count_request(with_system)
    assert count_request(base) < count_request(with_tools)


def test_count_request_handles_a_megabyte():
    text = ("All work and no play makes Jack a dull boy. " * 30_000)[: 1024 * 1024]
    request = validate_count_tokens({"model": "m", "messages": [{"role": "user", "content": text}]})
    tokens = count_request(request)
    assert len(text) / 3.6 <= tokens <= len(text) / 3.6 + 100


# --- apply_limits --------------------------------------------------------------------------------


def test_limits_stop_sequence_before_budget():
    text, reason, seq = apply_limits("Hello world STOP and then more words", 1000, ["STOP"])
    assert (text, reason, seq) == ("Hello world ", "stop_sequence", "STOP")


def test_limits_earliest_stop_sequence_wins():
    text, reason, seq = apply_limits("one two three four", 1000, ["four", "two"])
    assert (text, reason, seq) == ("one ", "stop_sequence", "two")


def test_limits_budget_before_stop_sequence():
    source = "word " * 500 + "STOP tail"
    text, reason, seq = apply_limits(source, 10, ["STOP"])
    assert reason == "max_tokens"
    assert seq is None
    assert source.startswith(text)
    assert "STOP" not in text
    assert 0 < text_tokens(text) <= 10


def test_limits_neither():
    assert apply_limits("short answer", 1000, ["ZZZ"]) == ("short answer", "end_turn", None)
    assert apply_limits("short answer", 1000, []) == ("short answer", "end_turn", None)


def test_limits_budget_cut_is_the_longest_prefix_within_budget():
    """A model stopped at max_tokens has used its budget: no longer word-boundary prefix fits it."""
    source = "word " * 2000
    for budget in (10, 100, 1000):
        text, reason, _ = apply_limits(source, budget, [])
        assert reason == "max_tokens"
        longer = source[: len(text) + len("word ")]
        assert text_tokens(text) <= budget
        assert text_tokens(longer) > budget, (
            f"max_tokens={budget}: cut after {text_tokens(text)} tokens, but {text_tokens(longer)} would fit"
        )


# --- chat/generations translation ----------------------------------------------------------------


def _tool_conversation(**extra) -> object:
    return _request(
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
    body = cg.to_request(_request(model="gpt-5", top_p=0.5, top_k=7, messages=[{"role": "user", "content": "hi"}]), "X")
    assert body["generation_settings"] == {"max_tokens": 100, "top_p": 0.5, "top_k": 7}


def test_chat_to_request_minimal():
    body = cg.to_request(_request(model="gpt-5", messages=[{"role": "user", "content": "hi"}]), "sfdc_ai__X")
    assert body == {
        "model": "sfdc_ai__X",
        "messages": [{"role": "user", "content": "hi"}],
        "generation_settings": {"max_tokens": 100},
        "system_prompt_strategy": "use_model_parameter",
    }  # no tools, so no tool_config either


def test_chat_to_request_tool_result_blocks_content():
    request = _request(
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


# --- Bedrock translation -------------------------------------------------------------------------


def test_bedrock_to_request_filters_fields_and_betas():
    request = _request(
        model="claude-sonnet-4-5",
        max_tokens=4096,
        stream=True,
        system="You are Claude Code.",
        metadata={"user_id": "u-1"},
        context_management={"edits": [{"type": "clear_tool_uses_20250919"}]},
        thinking={"type": "enabled", "budget_tokens": 2048},
        stop_sequences=["\n\nHuman:"],
        tools=[dict(WEATHER_TOOL, defer_loading=True, cache_control={"type": "ephemeral"}, strict=True)],
        tool_choice={"type": "auto"},
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        betas=[
            "interleaved-thinking-2025-05-14",
            "claude-code-20250219",
            "context-management-2025-06-27",
            "fine-grained-tool-streaming-2025-05-14",
        ],
    )
    body = bedrock.to_request(request)
    assert body["anthropic_version"] == "bedrock-2023-05-31"
    for dropped in ("model", "stream", "metadata", "context_management"):
        assert dropped not in body
    assert body["max_tokens"] == 4096
    assert body["system"] == [{"type": "text", "text": "You are Claude Code."}]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["tool_choice"] == {"type": "auto"}
    assert body["stop_sequences"] == ["\n\nHuman:"]
    (tool,) = body["tools"]
    assert tool == dict(WEATHER_TOOL, cache_control={"type": "ephemeral"})
    assert body["anthropic_beta"] == ["interleaved-thinking-2025-05-14", "fine-grained-tool-streaming-2025-05-14"]
    assert set(body["anthropic_beta"]) <= bedrock.BEDROCK_BETAS
    json.dumps(body)  # serialisable as sent


def test_bedrock_to_request_no_betas_no_key():
    body = bedrock.to_request(_request(betas=["claude-code-20250219"], temperature=0.5, top_k=5))
    assert "anthropic_beta" not in body
    assert "tools" not in body
    assert "system" not in body
    assert body["temperature"] == 0.5
    assert body["top_k"] == 5


@pytest.mark.parametrize(
    ("max_tokens", "effort", "expected"),
    [
        (64000, "high", {"type": "enabled", "budget_tokens": 51200}),
        (64000, "medium", {"type": "enabled", "budget_tokens": 32000}),
        (64000, "low", {"type": "enabled", "budget_tokens": 16000}),
        (64000, None, {"type": "enabled", "budget_tokens": 51200}),
        (2000, "low", {"type": "enabled", "budget_tokens": 1024}),  # never under the minimum budget
        (1025, "high", {"type": "enabled", "budget_tokens": 1024}),  # and always under max_tokens
        (1024, "high", None),  # no room for thinking at all: none
    ],
)
def test_adaptive_thinking_becomes_a_budget_on_older_models(max_tokens, effort, expected):
    fields = {"output_config": {"effort": effort}} if effort else {}
    request = _request(model="claude-opus-4-5", max_tokens=max_tokens, thinking={"type": "adaptive"}, **fields)
    body = bedrock.to_request(request, adaptive_thinking=False)
    assert body.get("thinking") == expected
    if expected:
        assert MIN_THINKING_BUDGET <= expected["budget_tokens"] < max_tokens


def test_thinking_passes_unchanged_where_the_model_takes_it():
    adaptive = _request(model="claude-opus-4-5", max_tokens=4000, thinking={"type": "adaptive"})
    assert bedrock.to_request(adaptive, adaptive_thinking=True)["thinking"] == {"type": "adaptive"}
    enabled = _request(model="claude-opus-4-5", max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 2000})
    assert bedrock.to_request(enabled, adaptive_thinking=False)["thinking"] == {
        "type": "enabled",
        "budget_tokens": 2000,
    }
    disabled = _request(model="claude-opus-4-5", max_tokens=4000, thinking={"type": "disabled"})
    assert "thinking" not in bedrock.to_request(disabled, adaptive_thinking=False)  # the default; older models 502


def test_bedrock_relabel_events():
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_bdrk_123",
            "type": "message",
            "role": "assistant",
            "model": "claude-simulated",
            "content": [],
            "usage": {"input_tokens": 42, "output_tokens": 1},
        },
    }
    relabelled = bedrock.relabel_event(start, "msg_gateway", "claude-sonnet-4-5")
    msg = relabelled["message"]
    assert msg["id"] == "msg_gateway"
    assert msg["model"] == "claude-sonnet-4-5"
    assert msg["usage"]["input_tokens"] == 42
    assert msg["usage"]["cache_read_input_tokens"] == 0
    assert msg["stop_reason"] is None
    assert start["message"]["id"] == "msg_bdrk_123", "the backend event is not mutated"

    stop = {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 42}}
    assert bedrock.relabel_event(stop, "msg_gateway", "m") == {"type": "message_stop"}

    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {}}
    assert bedrock.relabel_event(delta, "msg_gateway", "m")["usage"]["output_tokens"] == 0

    block = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}
    assert bedrock.relabel_event(block, "msg_gateway", "m") == block


def test_bedrock_relabel_message():
    body = {
        "id": "msg_bdrk_1",
        "model": "claude-simulated",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    message = bedrock.relabel_message(body, "msg_gw", "claude-haiku-4-5")
    assert message["id"] == "msg_gw"
    assert message["model"] == "claude-haiku-4-5"
    assert message["content"] == body["content"]
    assert message["usage"]["output_tokens"] == 1
    assert message["stop_sequence"] is None


# --- AWS event stream ----------------------------------------------------------------------------


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _decode(data: bytes, size: int) -> list[dict]:
    async def run() -> list[dict]:
        return [event async for event in decode(_chunks(data, size))]

    return asyncio.run(run())


def _decode_until_error(data: bytes, size: int) -> tuple[list[dict], GatewayError]:
    received: list[dict] = []

    async def run() -> None:
        async for event in decode(_chunks(data, size)):
            received.append(event)

    with pytest.raises(GatewayError) as caught:
        asyncio.run(run())
    return received, caught.value


STREAM_EVENTS = [
    {"type": "message_start", "message": {"id": "msg_bdrk_1", "content": [], "usage": {"input_tokens": 3}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "héllo 🎉 "}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "world" * 300}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 3}},
]


@pytest.mark.parametrize("size", [1, 3, 7, 16, 100, 1_000_000])
def test_eventstream_round_trip(size):
    data = b"".join(chunk_frame(e) for e in STREAM_EVENTS)
    assert _decode(data, size) == STREAM_EVENTS


@pytest.mark.parametrize(
    ("exception", "error_type", "status"),
    [
        ("throttlingException", "rate_limit_error", 429),
        ("serviceUnavailableException", "overloaded_error", 529),
        ("modelTimeoutException", "timeout_error", 504),
        ("internalServerException", "api_error", 500),
        ("somethingNewException", "api_error", 500),
    ],
)
def test_eventstream_exception_frame(exception, error_type, status):
    data = chunk_frame(STREAM_EVENTS[0]) + exception_frame(exception, "Too many tokens, please wait.")
    received, error = _decode_until_error(data, 1)
    assert received == [STREAM_EVENTS[0]]
    assert error.error_type == error_type
    assert error.status == status
    assert "Too many tokens, please wait." in error.message


def test_eventstream_exception_with_a_message_that_is_not_text():
    headers = {":exception-type": "validationException", ":message-type": "exception"}
    data = encode_frame(headers, json.dumps({"message": {"detail": "nested"}}).encode())
    _, error = _decode_until_error(data, 5)
    assert error.error_type == "invalid_request_error"
    assert "nested" in error.message


def test_eventstream_validation_overflow_keeps_message():
    data = exception_frame("validationException", "prompt is too long: 210000 tokens > 200000 maximum")
    _, error = _decode_until_error(data, 5)
    assert error.error_type == "invalid_request_error"
    assert error.message == "prompt is too long: 210000 tokens > 200000 maximum"


@pytest.mark.parametrize("where", ["prelude", "payload", "message-crc"])
def test_eventstream_corrupt_bytes(where):
    frame = bytearray(chunk_frame(STREAM_EVENTS[1]))
    position = {"prelude": 5, "payload": len(frame) - 10, "message-crc": len(frame) - 1}[where]
    frame[position] ^= 0xFF
    data = chunk_frame(STREAM_EVENTS[0]) + bytes(frame)
    _, error = _decode_until_error(data, 1)
    assert error.error_type == "api_error"
    assert error.status == 500


def test_eventstream_frame_that_is_not_json():
    frame = encode_frame({":message-type": "event", ":event-type": "chunk"}, b"not json")
    _, error = _decode_until_error(frame, 4)
    assert error.error_type == "api_error"


def test_eventstream_ignores_non_event_frames():
    other = encode_frame({":message-type": "something-else"}, b"{}")
    data = other + chunk_frame(STREAM_EVENTS[0])
    assert _decode(data, 2) == [STREAM_EVENTS[0]]


# --- Salesforce error mapping --------------------------------------------------------------------

CTX = CallContext("claude-sonnet-4-5", "sfdc_ai__DefaultBedrockAnthropicClaude45Sonnet", 200_000, 1234)
SF_BODY = json.dumps({"errorCode": "X", "messageCode": "E1", "message": "Something happened"}).encode()
OVERFLOW_FORMAT = re.compile(r"^prompt is too long: \d+ tokens > \d+ maximum$")


def test_map_429_carries_retry_after():
    error = map_status(429, SF_BODY, {"Retry-After": "7", "retry-after-ms": "7000", "x-other": "1"}, CTX)
    assert error.error_type == "rate_limit_error"
    assert error.status == 429
    headers = {k.lower(): v for k, v in error.headers.items()}
    assert headers == {"retry-after": "7", "retry-after-ms": "7000"}
    assert map_status(429, b"", {}, CTX).headers == {}


@pytest.mark.parametrize("status", [503, 423])
def test_map_busy_is_overloaded(status):
    error = map_status(status, SF_BODY, {}, CTX)
    assert error.error_type == "overloaded_error"
    assert error.status == 529


def test_map_404_names_the_model():
    error = map_status(404, json.dumps([{"errorCode": "NOT_FOUND", "message": "Model gone"}]).encode(), {}, CTX)
    assert error.error_type == "not_found_error"
    assert error.status == 404
    assert "claude-sonnet-4-5" in error.message
    assert "Model gone" in error.message


@pytest.mark.parametrize(
    ("status", "error_type", "http"),
    [
        (401, "api_error", 500),
        (403, "permission_error", 403),
        (408, "timeout_error", 504),
        (504, "timeout_error", 504),
        (400, "invalid_request_error", 400),
        (500, "api_error", 500),
        (502, "api_error", 500),
    ],
)
def test_map_other_statuses(status, error_type, http):
    error = map_status(status, SF_BODY, {}, CTX)
    assert (error.error_type, error.status) == (error_type, http)


def test_map_401_does_not_echo_backend_text():
    error = map_status(401, b'{"message": "token abc.def.ghi invalid"}', {}, CTX)
    assert "abc.def.ghi" not in error.message


def test_map_overflow_with_numbers():
    body = json.dumps({"message": "prompt is too long: 250,000 tokens > 200,000 maximum"}).encode()
    error = map_status(400, body, {}, CTX)
    assert error.error_type == "invalid_request_error"
    assert error.status == 400
    assert error.message == "prompt is too long: 250000 tokens > 200000 maximum"


def test_map_overflow_salesforce_list_shape():
    body = json.dumps([{"errorCode": "INVALID_INPUT", "message": "Input is too long for requested model."}]).encode()
    error = map_status(400, body, {}, CTX)
    assert OVERFLOW_FORMAT.match(error.message), error.message
    assert error.message == "prompt is too long: 200001 tokens > 200000 maximum"
    bigger = CallContext("m", "sfdc_ai__X", 200_000, 250_000)
    assert map_status(400, body, {}, bigger).message == "prompt is too long: 250000 tokens > 200000 maximum"


def test_map_overflow_openai_shape():
    body = json.dumps(
        {
            "error": {
                "message": "This model's maximum context length is 128000 tokens. However, you requested 150000.",
                "type": "invalid_request_error",
                "code": "context_length_exceeded",
            }
        }
    ).encode()
    error = map_status(400, body, {}, CTX)
    assert error.error_type == "invalid_request_error"
    assert OVERFLOW_FORMAT.match(error.message), error.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (json.dumps([{"errorCode": "INVALID_INPUT", "message": "bad field x"}]), "bad field x"),
        (json.dumps({"errorCode": "E", "messageCode": "M", "message": "plain sf"}), "plain sf"),
        (json.dumps({"error": {"message": "openai style", "type": "invalid_request_error"}}), "openai style"),
        (json.dumps({"error": "invalid_grant", "error_description": "expired access"}), "expired access"),
        (json.dumps({"Message": "capitalised"}), "capitalised"),
        ("upstream connect error", "upstream connect error"),
        ("", ""),
    ],
)
def test_backend_message_shapes(body, expected):
    assert backend_message(body.encode()) == expected


def test_backend_message_is_bounded():
    assert len(backend_message(json.dumps({"message": "x" * 10_000}).encode())) <= 500
    assert len(backend_message(b"y" * 10_000)) <= 500


# --- OAuth -----------------------------------------------------------------------------------------


def _auth_token(request: dict) -> str:
    return request["headers"]["authorization"].removeprefix("Bearer ")


def test_jwt_expiry_parses_a_simulator_token():
    token = TokenMint(b"secret", 60).mint("client", now=1_700_000_000)
    assert jwt_expiry(token) == (1_700_000_000.0, 1_700_000_060.0)
    assert jwt_expiry("not-a-jwt") is None
    assert jwt_expiry("a.b.c") is None
    no_exp = "e30." + base64.urlsafe_b64encode(b'{"iat": 1}').decode().rstrip("=") + ".sig"
    assert jwt_expiry(no_exp) is None


def test_token_refreshed_before_expiry(make_stack):
    stack = make_stack(sim_config=SimulatorConfig(token_ttl_seconds=3))
    client = stack.client()
    mint = stack.simulator.mint

    client.messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=[{"role": "user", "content": "one"}])
    assert mint.minted == 1
    first_token = _auth_token(stack.backend_requests("/invoke")[-1])
    iat, exp = jwt_expiry(first_token)
    assert exp - iat == 3

    client.messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=[{"role": "user", "content": "two"}])
    assert mint.minted == 1, "a fresh token is reused"
    assert _auth_token(stack.backend_requests("/invoke")[-1]) == first_token

    # Past the refresh point (10% of a 3 s lifetime before exp) but, on time, still before exp.
    time.sleep(max(0.0, exp - 0.2 - time.time()))
    calls_before = len(stack.backend_requests("/invoke"))
    reply = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=20, messages=[{"role": "user", "content": "three"}]
    )
    assert reply.content[0].text == "three"
    sent = stack.backend_requests("/invoke")[calls_before:]
    assert len(sent) == 1, "refreshed proactively: no request went out with an expired token"
    assert mint.minted == 2
    assert _auth_token(sent[0]) != first_token
    assert jwt_expiry(_auth_token(sent[0]))[1] > exp


def test_remint_once_on_401(make_stack):
    """A token the gateway still trusts but Salesforce rejects (its signing key rotated): one re-mint, then success.

    Deterministic: long-lived tokens, so no token can expire on its way (a 1 s token minted late in a second
    sometimes did, and cost an extra mint under load); the rejection comes from the rotated key alone.
    """
    stack = make_stack()
    settings = stack.settings
    path = "/ai/gpt/v1/model/sfdc_ai__DefaultBedrockAnthropicClaude45Sonnet/invoke"
    payload = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "x"}],
    }
    first_mint = stack.simulator.mint
    rotated = TokenMint(b"rotated-signing-key", 1800)

    async def run() -> tuple[dict, dict]:
        sf = SalesforceClient(settings)
        try:
            first = await sf.post_json(path, dict(payload, messages=[{"role": "user", "content": "before"}]), CTX)
            stack.simulator.mint = rotated  # every token minted so far is now refused with a 401
            second = await sf.post_json(path, dict(payload, messages=[{"role": "user", "content": "after"}]), CTX)
        finally:
            await sf.aclose()
        return first, second

    first, second = asyncio.run(run())
    assert first["content"][0]["text"] == "before"
    assert second["content"][0]["text"] == "after"
    assert (first_mint.minted, rotated.minted) == (1, 1), "one mint, then exactly one re-mint"
    sent = stack.backend_requests(path)
    assert len(sent) == 3
    assert _auth_token(sent[0]) == _auth_token(sent[1]), "the cached token was tried first"
    assert _auth_token(sent[2]) != _auth_token(sent[1]), "then a new one"


def test_persistent_401_is_an_api_error_after_one_retry(make_stack):
    stack = make_stack(sim_config=SimulatorConfig(token_ttl_seconds=0))  # every token is already expired
    with pytest.raises(anthropic.InternalServerError) as caught:
        stack.client().messages.create(
            model="claude-sonnet-4-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 500
    assert caught.value.body["error"]["type"] == "api_error"
    assert len(stack.backend_requests("/invoke")) == 2, "one re-mint, no loop"
    assert stack.simulator.mint.minted == 2


def test_oauth_failure_is_a_500_without_the_secret(make_stack):
    secret = "wrong-secret-d41d8cd98f00b204"
    stack = make_stack(env={"SF_CLIENT_SECRET": secret})
    with pytest.raises(anthropic.InternalServerError) as caught:
        stack.client().messages.create(
            model="claude-sonnet-4-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
    error = caught.value
    assert error.status_code == 500
    assert error.body["error"]["type"] == "api_error"
    assert secret not in error.message
    assert secret not in error.response.text
    assert stack.simulator.mint.minted == 0
    assert stack.backend_requests() == []
    with stack.http() as http:
        response = http.post(
            "/v1/messages",
            json={"model": "gpt-4.1-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        )
    assert response.status_code == 500
    assert secret not in response.text
    assert secret not in str(dict(response.headers))


# --- events_from_message --------------------------------------------------------------------------


def _message(content: list[dict], stop_reason: str = "end_turn") -> dict:
    return {
        "id": "msg_01abc",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage(17, 42),
    }


@pytest.mark.parametrize(
    "content",
    [
        [{"type": "text", "text": "Hello!"}],
        [{"type": "text", "text": "  leading and trailing whitespace \n\n with\ttabs and 日本語 🎉  " * 20}],
        [
            {"type": "thinking", "thinking": "Let me think about this carefully. " * 10, "signature": "c2ln"},
            {"type": "text", "text": "I'll look that up."},
            {"type": "tool_use", "id": "toolu_01x", "name": "search", "input": {"q": "weather", "n": [1, 2]}},
        ],
        [{"type": "tool_use", "id": "toolu_01y", "name": "noop", "input": {}}],
        [{"type": "redacted_thinking", "data": "EmwKAhgB..."}, {"type": "text", "text": "done"}],
        [],
    ],
)
def test_events_from_message_round_trip(content):
    msg = _message(content, "tool_use" if content and content[-1]["type"] == "tool_use" else "end_turn")
    events = list(events_from_message(msg))
    rebuilt = assemble(events)
    assert rebuilt["content"] == msg["content"]
    assert rebuilt["id"] == msg["id"]
    assert rebuilt["model"] == msg["model"]
    assert rebuilt["stop_reason"] == msg["stop_reason"]
    assert rebuilt["usage"] == msg["usage"]
    assert events[0]["message"]["usage"]["output_tokens"] <= 1, "message_start reports no output yet"
    assert msg["content"] == content, "the message is not mutated"


def test_chunk_text_preserves_text():
    for text in ["", "a", "   ", "word " * 100, "no-spaces-" * 50, "line\nbreaks\n\n and  spaces "]:
        pieces = list(chunk_text(text))
        assert "".join(pieces) == text
        assert all(pieces)


# --- Models API answers ------------------------------------------------------------------------------

MODELS_API_ANSWERS = {
    "chat-generations with OpenAI-style usage": (
        {
            "generationDetails": {
                "generations": [{"role": "assistant", "content": "Hello"}],
                "parameters": {"usage": {"prompt_tokens": 7, "completion_tokens": 2}},
            }
        },
        ("Hello", 7, 2),
    ),
    "chat-generations with Salesforce's token-count names": (
        {
            "generationDetails": {
                "generations": [{"content": "Hi"}],
                "parameters": {"usage": {"inputTokenCount": 5, "outputTokenCount": 1}},
            }
        },
        ("Hi", 5, 1),
    ),
    "the /generations shape (generation.generatedText)": (
        {"id": "x", "generation": {"id": "g", "generatedText": "From generations"}},
        ("From generations", None, None),
    ),
    "counts that are not integers are unknown, not trusted": (
        {"generationDetails": {"generations": [{"content": "x"}], "parameters": {"usage": {"prompt_tokens": "7"}}}},
        ("x", None, None),
    ),
}


@pytest.mark.parametrize("shape", MODELS_API_ANSWERS)
def test_models_api_answer_shapes(shape):
    body, expected = MODELS_API_ANSWERS[shape]
    assert models_api.parse_response(body) == expected


class SlowCache(VerificationCache):
    """A verification store that answers in 0.3 s a read (DynamoDB from a cold container): all verified."""

    blocking = True

    def _read(self, key: str) -> tuple[bool, float] | None:
        time.sleep(0.3)
        return True, time.time() + 3600

    def _write(self, key: str, ok: bool, expires_at: float) -> None:
        raise AssertionError("nothing needed probing")


def test_the_listing_budget_is_for_probes_not_for_reading_the_cache():
    entries = ModelMap.from_json(default_map_bytes()).listed()

    async def never_probed(entry):
        raise AssertionError(f"{entry.id} was cached")

    verifier = ModelVerifier(SlowCache(), never_probed)
    # Slow cache reads (a few worker threads for a dozen models) take longer than the budget; all still count.
    listed = asyncio.run(verifier.available(entries, budget=0.1))
    assert listed == entries
