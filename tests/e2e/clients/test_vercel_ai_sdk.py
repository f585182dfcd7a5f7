"""The Vercel AI SDK (``ai`` + ``@ai-sdk/anthropic``, pinned in tests/clients/vercel) against the gateway.

``npm ci`` installs the pinned packages once per session; ``node client_checks.mjs`` runs every check on a
Claude model (Bedrock invoke) and a GPT model (chat/generations) and prints one JSON object, asserted here:
text, stream, a tool round trip (``generateText``/``streamText`` running the tool), and structured output
(``generateObject`` and ``Output.object``, which send ``output_config.format``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.node_clients import CLIENTS, install, run_checks
from support.stacks import SURFACE_MODELS

CLIENT_DIR = CLIENTS / "vercel"
MODELS = [SURFACE_MODELS["bedrock_invoke"], SURFACE_MODELS["chat_generations"]]
PACKAGES = ("ai", "@ai-sdk/anthropic")
models = pytest.mark.parametrize("model", MODELS)


@pytest.fixture(scope="session")
def vercel_sdk() -> Path:
    """node_modules with the pinned packages, installed once per session."""
    return install("vercel", "Vercel AI SDK")


@pytest.fixture(scope="module")
def results(vercel_sdk: Path, stack, tmp_path_factory) -> dict:
    args = [*("--base-url", stack.gateway_url, "--api-key", "test-key"), *("--models", ",".join(MODELS))]
    return run_checks(vercel_sdk, "vercel", args, tmp_path_factory.mktemp("node-home"), timeout=300)


def ok(result: dict) -> dict:
    """A check's values; fails with the SDK's error when the check threw instead."""
    assert "unexpected" not in result, f"check failed in the Vercel AI SDK: {result['unexpected']}"
    return result


def test_pinned_versions_are_the_ones_that_ran(results):
    pinned = json.loads((CLIENT_DIR / "package.json").read_text())["dependencies"]
    lock = json.loads((CLIENT_DIR / "package-lock.json").read_text())["packages"]
    for name in PACKAGES:
        assert results["versions"][name] == pinned[name] == lock[f"node_modules/{name}"]["version"]


@models
def test_generate_text(results, model):
    checks = results[model]
    text, prompt = ok(checks["text"]), checks["prompts"]["text"]
    assert text["text"] == prompt
    assert text["finishReason"] == "stop"
    assert text["usage"]["output"] == len(prompt.split())
    assert text["usage"]["input"] > 0


@models
def test_stream_text_in_pieces_with_usage_equal_to_generate(results, model):
    checks = results[model]
    streamed, prompt = ok(checks["stream"]), checks["prompts"]["stream"]
    assert len(streamed["chunks"]) > 1 and "".join(streamed["chunks"]) == streamed["text"] == prompt
    assert streamed["finishReason"] == "stop"
    assert streamed["usage"] == streamed["generatedUsage"]
    assert streamed["usage"]["input"] > 0 and streamed["usage"]["output"] == len(prompt.split())


@models
@pytest.mark.parametrize("check", ["tool", "tool_stream"])
def test_tool_round_trip(results, model, check):
    checks = results[model]
    run, prompt = ok(checks[check]), checks["prompts"]["tool"]
    first, second = run["steps"]
    assert first["finishReason"] == "tool-calls"
    [call] = first["toolCalls"]
    assert (call["name"], call["input"]) == ("get_weather", {"city": "Oslo"})
    assert call["id"].startswith("toolu_")
    assert first["toolResults"] == [{"name": "get_weather", "output": "4 degrees in Oslo"}]
    assert first["text"] == prompt.split("[[")[0].strip()
    assert second["finishReason"] == "stop" and not second["toolCalls"]
    assert run["text"] == second["text"] == "Tool result: 4 degrees in Oslo"


@models
@pytest.mark.parametrize("check", ["object", "output_object", "output_format", "output_object_stream"])
def test_structured_output(results, model, check):
    checks = results[model]
    answer = ok(checks[check])
    person = answer["object"]
    prompt = checks["prompts"]["format" if check == "output_format" else "object"]
    assert person["name"] == prompt  # the simulator writes the prompt into its strings
    assert person["role"] in ("admin", "user")
    assert isinstance(person["age"], int) and isinstance(person["tags"], list)
    assert answer["usage"]["input"] > 0 and answer["usage"]["output"] > 0
    if check == "output_object_stream":
        assert answer["partials"] >= 1
        assert answer["usage"] == ok(checks["output_object"])["usage"]


def test_structured_output_reached_salesforce_as_a_schema(results, stack):
    """``output_config.format`` reached Bedrock as it is and chat/generations as the gateway's forced tool;
    on a model it does not know, the SDK's default is a forced tool of its own, which passes as any tool."""
    claude, gpt = MODELS

    def bodies(path: str, prompt: str) -> list[dict]:
        found = [json.loads(r["body"]) for r in stack.backend_requests(path) if prompt in str(r["body"])]
        assert found, f"no request to {path} carried {prompt!r}"
        return found

    for prompt in (results[claude]["prompts"]["object"], results[claude]["prompts"]["format"]):
        for body in bodies("/invoke", prompt):
            assert body["output_config"]["format"]["type"] == "json_schema"
            assert set(body["output_config"]["format"]["schema"]["required"]) == {"name", "age", "role", "tags"}
    for body in bodies("/chat/generations", results[gpt]["prompts"]["format"]):
        [forced] = body["tool_config"]["allowed_tools"]
        [schema] = [t["function"]["parameters"] for t in body["tools"] if t["function"]["name"] == forced["name"]]
        assert set(schema["required"]) == {"name", "age", "role", "tags"}
    for body in bodies("/chat/generations", results[gpt]["prompts"]["object"]):
        assert [t["function"]["name"] for t in body["tools"]] == ["json"]
