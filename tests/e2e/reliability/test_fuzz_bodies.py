"""Property-based fuzzing of request bodies over real HTTP (Hypothesis): near-valid Messages and count_tokens
bodies with mutations, streaming bodies, lone surrogates, and raw bytes (broken JSON, deep nesting, chunked).

Every request goes to the session ``stack`` through one reused ``httpx.Client``; every answer must hold the
properties in ``support.fuzz`` (a request id, never a 5xx, Anthropic's error envelope or a well-formed answer).
Runs are derandomized (the same cases every run). The module prints how many requests it sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from support.fuzz import MIN_REQUESTS, Stats, Wire, check_answer, fuzz_settings, reporting
from support.fuzz_inputs import (
    DEPTHS,
    JSON_HEADERS,
    JUNK,
    MODELS,
    SURROGATE_TEXT,
    asks_for_nothing,
    bodies,
    encode,
    mutated,
)
from support.stacks import Stack

STATS = Stats()
MESSAGES_PATHS = st.sampled_from(["/v1/messages", "/v1/messages?beta=true"])
COUNT_PATHS = st.sampled_from(["/v1/messages/count_tokens", "/v1/messages/count_tokens?beta=true"])


@pytest.fixture(scope="module", autouse=True)
def fuzz_report(request: pytest.FixtureRequest) -> Iterator[None]:
    with reporting(request, STATS):
        yield


@pytest.fixture(scope="module")
def wire(stack: Stack) -> Iterator[Wire]:
    with Wire(stack.gateway_url, STATS) as opened:
        yield opened


@fuzz_settings(800)
@given(body=mutated(bodies()), style=st.integers(0, 2), path=MESSAGES_PATHS)
def test_messages_bodies(wire: Wire, body: dict, style: int, path: str) -> None:
    raw = encode(body, style)
    assume(asks_for_nothing(raw))
    check_answer(wire.send("POST", path, content=raw, headers=JSON_HEADERS))


@fuzz_settings(200)
@given(body=mutated(bodies(stream_percent=100)), path=MESSAGES_PATHS)
def test_streaming_bodies(wire: Wire, body: dict, path: str) -> None:
    body["stream"] = True
    raw = encode(body, 1)
    assume(asks_for_nothing(raw))
    check_answer(wire.send("POST", path, content=raw, headers=JSON_HEADERS))


@fuzz_settings(500)
@given(body=mutated(bodies(count_tokens=True)), style=st.integers(0, 2), path=COUNT_PATHS)
def test_count_tokens_bodies(wire: Wire, body: dict, style: int, path: str) -> None:
    raw = encode(body, style)
    assume(asks_for_nothing(raw))
    check_answer(wire.send("POST", path, content=raw, headers=JSON_HEADERS))


@st.composite
def surrogate_bodies(draw: st.DrawFn) -> dict:
    """A valid body with one lone surrogate in one field the gateway reads or echoes."""
    bad = draw(SURROGATE_TEXT)
    body: dict = {
        "model": draw(st.sampled_from(MODELS)),
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}],
    }
    spot = draw(st.sampled_from(["message", "block", "system", "model", "stop", "tool_choice", "tool_description"]))
    if spot == "message":
        body["messages"][0]["content"] = bad
    elif spot == "block":
        body["messages"][0]["content"] = [{"type": "text", "text": "hi"}, {"type": "text", "text": bad}]
    elif spot == "system":
        body["system"] = bad
    elif spot == "model":
        body["model"] = bad
    elif spot == "stop":
        body["stop_sequences"] = [bad]
    elif spot == "tool_choice":
        body["tools"] = [{"name": "get_weather", "input_schema": {"type": "object"}}]
        body["tool_choice"] = {"type": "tool", "name": bad}
    else:
        body["tools"] = [{"name": "get_weather", "description": bad, "input_schema": {"type": "object"}}]
    body["stream"] = draw(st.booleans())
    return body


@fuzz_settings(100)
@given(body=surrogate_bodies(), count=st.booleans())
def test_lone_surrogates(wire: Wire, body: dict, count: bool) -> None:
    raw = encode(body, 0)  # ``\udXXX`` escapes: valid JSON that decodes to a lone surrogate
    assume(asks_for_nothing(raw))
    path = "/v1/messages/count_tokens" if count else "/v1/messages"
    check_answer(wire.send("POST", path, content=raw, headers=JSON_HEADERS))


def _nested(depth: int, opener: str) -> bytes:
    closer = {"[": "]", '{"a":': "}"}[opener]
    return (opener * depth + "1" + closer * depth).encode()


RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    st.just(b""),
    st.sampled_from([b" ", b"\n\t", b"null", b"[]", b"{}", b'"text"', b"1", b"true", b"NaN", b"-Infinity"]),
    st.sampled_from([b"\xff\xfe{}", b'{"model":"\xc3\x28"}', b"\xef\xbb\xbf{}", b'{"a":1', b"{'a':1}", b"{}{}"]),
    st.sampled_from([b"1" * 5000, b'{"max_tokens":' + b"9" * 5000 + b"}", b'{"max_tokens":1e99999}']),
    st.builds(_nested, DEPTHS, st.sampled_from(["[", '{"a":'])),
    JUNK.filter(lambda v: not isinstance(v, dict)).map(lambda v: json.dumps(v).encode()),
    st.builds(lambda raw, cut: raw[:cut], mutated(bodies()).map(lambda b: json.dumps(b).encode()), st.integers(0, 60)),
)


@fuzz_settings(400)
@given(raw=RAW_BODIES, path=st.sampled_from(["/v1/messages", "/v1/messages/count_tokens"]), chunked=st.booleans())
def test_raw_bodies(wire: Wire, raw: bytes, path: str, chunked: bool) -> None:
    assume(asks_for_nothing(raw))
    content: bytes | Iterator[bytes] = iter([raw[:7], raw[7:]]) if chunked else raw
    check_answer(wire.send("POST", path, content=content, headers=JSON_HEADERS))


def test_fuzz_bodies_sent_enough_requests() -> None:
    """Runs last in this module: the properties above held over a real number of requests."""
    assert STATS.requests >= MIN_REQUESTS, f"only {STATS.requests} requests were sent"
