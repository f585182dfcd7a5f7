"""LangChain's ``ChatAnthropic`` (langchain-anthropic, pinned in pyproject.toml) pointed at the gateway.

Text, stream, a tool round trip and structured output (LangChain's ``json_schema`` method, which sends
``output_config.format``), on a Claude model (Bedrock invoke: the format passes as it is) and a GPT model
(chat/generations: the gateway's forced tool). LangChain reads streamed input tokens from ``message_delta``,
so streamed usage equal to non-streamed usage shows the delta carries them.
"""

from __future__ import annotations

import uuid
from typing import Literal

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field
from support.stacks import SURFACE_MODELS

MODELS = [SURFACE_MODELS["bedrock_invoke"], SURFACE_MODELS["chat_generations"]]
models = pytest.mark.parametrize("model", MODELS)


class Person(BaseModel):
    """A person, as the model describes them."""

    name: str = Field(description="Full name")
    age: int
    role: Literal["admin", "user"]
    tags: list[str]


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"4 degrees in {city}"


def marker() -> str:
    return f"mk{uuid.uuid4().hex[:12]}"


def chat(stack, model: str, **kwargs) -> ChatAnthropic:
    return ChatAnthropic(
        model=model,
        anthropic_api_url=stack.gateway_url,
        anthropic_api_key="test-key",
        max_retries=0,
        max_tokens=400,
        **kwargs,
    )


def streamed(llm, messages) -> AIMessage:
    """The stream's chunks added up, as LangChain users do."""
    total = None
    for chunk in llm.stream(messages):
        total = chunk if total is None else total + chunk
    assert total is not None, "no chunks"
    return total


@models
def test_text(stack, model):
    prompt = f"Hello from LangChain {marker()}"
    answer = chat(stack, model).invoke(prompt)
    assert answer.text == prompt
    assert answer.response_metadata["stop_reason"] == "end_turn"
    assert answer.usage_metadata["output_tokens"] == len(prompt.split())


@models
def test_stream_comes_in_pieces_with_the_same_text_and_usage(stack, model):
    prompt = f"Streaming through LangChain, word after word {marker()}"
    llm = chat(stack, model)
    pieces = [chunk.text for chunk in llm.stream(prompt) if chunk.text]
    assert len(pieces) > 1 and "".join(pieces) == prompt
    whole = llm.invoke(prompt)
    total = streamed(llm, prompt)
    assert total.text == whole.text == prompt
    assert total.usage_metadata["input_tokens"] > 0, "LangChain reads streamed input tokens from message_delta"
    assert total.usage_metadata == whole.usage_metadata


@models
@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_tool_round_trip(stack, model, stream):
    llm = chat(stack, model).bind_tools([get_weather])
    question = HumanMessage(f"Weather in Oslo? {marker()} [[tool:get_weather {{\"city\": \"Oslo\"}}]]")
    first = streamed(llm, [question]) if stream else llm.invoke([question])
    [call] = first.tool_calls
    assert (call["name"], call["args"]) == ("get_weather", {"city": "Oslo"})
    assert call["id"].startswith("toolu_")
    result = ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])
    second = streamed(llm, [question, first, result]) if stream else llm.invoke([question, first, result])
    assert second.text == "Tool result: 4 degrees in Oslo"
    assert not second.tool_calls


@models
def test_structured_output_with_the_json_schema_method(stack, model):
    prompt = f"Describe an admin {marker()}"
    structured = chat(stack, model).with_structured_output(Person, method="json_schema", include_raw=True)
    result = structured.invoke(prompt)
    assert result["parsing_error"] is None
    person = result["parsed"]
    assert isinstance(person, Person)
    assert person.name == prompt  # the simulator writes the prompt into the strings it generates
    assert person.role in ("admin", "user")
    assert result["raw"].usage_metadata["input_tokens"] > 0


@models
def test_structured_output_streamed(stack, model):
    prompt = f"Describe a user {marker()}"
    structured = chat(stack, model).with_structured_output(Person, method="json_schema")
    parts = list(structured.stream(prompt))
    assert parts and isinstance(parts[-1], Person)
    assert parts[-1].name == prompt


def test_structured_output_sends_output_config_format(stack):
    """What LangChain puts on the wire, seen where the gateway hands it to Salesforce (Bedrock invoke)."""
    import json

    word = marker()
    chat(stack, SURFACE_MODELS["bedrock_invoke"]).with_structured_output(Person, method="json_schema").invoke(word)
    [sent] = [r for r in stack.backend_requests("/invoke") if word in str(r["body"])]
    body = json.loads(sent["body"])
    fmt = body["output_config"]["format"]
    assert fmt["type"] == "json_schema"
    assert set(fmt["schema"]["required"]) == {"name", "age", "role", "tags"}
