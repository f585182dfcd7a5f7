"""The non-streaming answer on every surface: Anthropic's message shape, usage passed through, and
``stop_reason``/``stop_sequence`` as ``max_tokens`` and ``stop_sequences`` decide.

The simulator echoes the last user text (directives removed), so expected values are derived from the input.
"""

from __future__ import annotations

import pytest
from support.sdk import ask, marker, texts
from support.stacks import SURFACE_MODELS
from support.wire import STOP_REASONS, message_body, user

SURFACES = list(SURFACE_MODELS)
COUNTING = "one two three four five six"

surfaces = pytest.mark.parametrize("surface", SURFACES)
streamed = pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])


@pytest.mark.parametrize("surface", SURFACES)
def test_message_shape(stack, surface):
    with stack.http() as http:
        response = http.post(
            "/v1/messages", json=message_body(model=SURFACE_MODELS[surface], messages=user("shape check"))
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert response.headers.get_list("request-id")[0].startswith("req_")
    body = response.json()
    assert body["id"].startswith("msg_")
    assert body["type"] == "message"
    assert body["role"] == "assistant"
    assert body["model"] == SURFACE_MODELS[surface]
    assert body["content"] == [{"type": "text", "text": "shape check"}]
    assert body["stop_reason"] in STOP_REASONS
    assert "stop_sequence" in body
    assert body["stop_sequence"] is None
    for key in ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        assert isinstance(body["usage"][key], int), key
    assert body["usage"]["input_tokens"] > 0
    assert body["usage"]["output_tokens"] > 0


# chat/generations reports only finish_reason "stop", never which sequence matched, so it is left out.
@pytest.mark.parametrize("surface", ["bedrock_invoke", "models_api"])
def test_stop_sequence_is_reported(stack, surface):
    body = message_body(
        model=SURFACE_MODELS[surface], messages=user("one two STOP three"), stop_sequences=["STOP"], max_tokens=100
    )
    with stack.http() as http:
        response = http.post("/v1/messages", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["stop_reason"] == "stop_sequence"
    assert response.json()["stop_sequence"] == "STOP"


@surfaces
def test_create_echoes_text_with_anthropic_shape(client, surface):
    prompt = f"Echo this sentence back {marker()} please"
    raw = client.messages.with_raw_response.create(model=SURFACE_MODELS[surface], max_tokens=100, messages=user(prompt))
    assert raw.headers["request-id"].startswith("req_")
    message = raw.parse()
    assert message.type == "message"
    assert message.role == "assistant"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == prompt
    assert message.id.startswith("msg_")
    assert message.model == SURFACE_MODELS[surface]
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0
    # The simulator counts whitespace-separated words; the gateway must pass its counts through.
    assert message.usage.output_tokens == len(prompt.split())
    assert message.usage.input_tokens == len(prompt.split())


# --- max_tokens and stop_sequences ----------------------------------------------------------------


@surfaces
@streamed
def test_max_tokens_cuts_the_answer(client, surface, stream):
    model = SURFACE_MODELS[surface]
    full, _ = ask(client, stream, model=model, max_tokens=100, messages=user(COUNTING))
    assert texts(full) == COUNTING
    cut, _ = ask(client, stream, model=model, max_tokens=3, messages=user(COUNTING))
    assert cut.stop_reason == "max_tokens"
    assert cut.stop_sequence is None
    assert texts(cut)
    assert COUNTING.startswith(texts(cut))
    assert len(texts(cut)) < len(COUNTING)
    assert 0 < cut.usage.output_tokens <= 3


@surfaces
@streamed
def test_stop_sequence_cuts_the_answer(client, surface, stream):
    message, _ = ask(
        client, stream, model=SURFACE_MODELS[surface], max_tokens=100, stop_sequences=["four"], messages=user(COUNTING)
    )
    assert texts(message) == COUNTING[: COUNTING.index("four")]
    if surface == "chat_generations":
        return  # the stop sequence is applied upstream but not reported back on this surface
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "four"


@surfaces
def test_earliest_stop_sequence_wins(client, surface):
    message = client.messages.create(
        model=SURFACE_MODELS[surface], max_tokens=100, stop_sequences=["five", "three"], messages=user(COUNTING)
    )
    assert texts(message) == COUNTING[: COUNTING.index("three")]
    if surface != "chat_generations":
        assert message.stop_sequence == "three"


@surfaces
def test_stop_sequence_absent_from_text_changes_nothing(client, surface):
    message = client.messages.create(
        model=SURFACE_MODELS[surface], max_tokens=100, stop_sequences=["seven"], messages=user(COUNTING)
    )
    assert texts(message) == COUNTING
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None


@pytest.mark.parametrize("mode", ["json", "stream"])
def test_an_empty_answer_cut_by_a_stop_sequence_is_a_normal_answer(client, mode):
    """A stop sequence that matches at the very start leaves nothing, legitimately: no 529 then."""
    params = {
        "model": SURFACE_MODELS["chat_generations"],
        "max_tokens": 50,
        "messages": user("Halt right there"),
        "stop_sequences": ["Halt"],
    }
    if mode == "json":
        message = client.messages.create(**params)
    else:
        with client.messages.stream(**params) as stream:
            message = stream.get_final_message()
    assert message.content == []
    assert message.stop_reason == "end_turn"  # chat/generations says only "stop" (see docs/clients.md)
