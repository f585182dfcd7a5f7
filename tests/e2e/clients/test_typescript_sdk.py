"""The official TypeScript SDK (``@anthropic-ai/sdk``, pinned in tests/clients/typescript) against the gateway.

``npm ci`` installs the pinned SDK once per session; ``node client_checks.mjs`` then runs every check against
the session ``stack`` (and a second gateway that has ``GATEWAY_API_KEYS``, for authentication) and prints one
JSON object, asserted here against values derived from the inputs and from the Python SDK.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from support.node_clients import CLIENTS, install, run_checks
from support.stacks import start_stack

CLIENT_DIR = CLIENTS / "typescript"
MODEL = "claude-sonnet-4-5"
GOOD_KEY = "ts-good-key"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
REQUEST_ID = re.compile(r"^req_[A-Za-z0-9]+$")


def _pinned_version() -> str:
    return json.loads((CLIENT_DIR / "package.json").read_text())["dependencies"]["@anthropic-ai/sdk"]


@pytest.fixture(scope="session")
def typescript_sdk() -> Path:
    """node_modules with the pinned SDK, installed once per session."""
    return install("typescript", "TypeScript SDK")


@pytest.fixture(scope="module")
def keyed_stack():
    """A second simulator + gateway pair that requires a client key (like make_stack, for the module)."""
    built, servers = start_stack(env={"GATEWAY_API_KEYS": f"other-key,{GOOD_KEY}"})
    yield built
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def results(typescript_sdk: Path, stack, keyed_stack, tmp_path_factory) -> dict:
    args = [
        *("--base-url", stack.gateway_url, "--api-key", "test-key"),
        *("--auth-base-url", keyed_stack.gateway_url, "--auth-api-key", GOOD_KEY),
    ]
    return run_checks(typescript_sdk, "typescript", args, tmp_path_factory.mktemp("node-home"), timeout=180)


def ok(result: dict) -> dict:
    """A check's values; fails with the SDK error when the check threw instead."""
    assert "unexpected" not in result, f"check failed in the TypeScript SDK: {result['unexpected']}"
    return result


def test_pinned_sdk_version_is_the_one_that_ran(results):
    assert results["sdk_version"] == _pinned_version()
    lock = json.loads((CLIENT_DIR / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@anthropic-ai/sdk"]["version"] == _pinned_version()


def test_create_echoes_text(results):
    created, prompt = ok(results["create"]), results["prompts"]["create"]
    assert results["tag"] in prompt
    assert created["text"] == prompt
    assert created["id"].startswith("msg_")
    assert (created["type"], created["role"], created["model"]) == ("message", "assistant", MODEL)
    assert created["stop_reason"] == "end_turn"
    assert created["content_types"] == ["text"]
    assert created["usage"]["output_tokens"] == len(prompt.split())
    assert REQUEST_ID.match(created["request_id"])


def test_stream_final_message_and_text_deltas(results):
    streamed, prompt = ok(results["stream"]), results["prompts"]["stream"]
    assert streamed["text"] == streamed["final_text"] == prompt
    assert "".join(streamed["deltas"]) == prompt
    assert len(streamed["deltas"]) == len(prompt.split())  # the simulator streams word by word
    assert streamed["id"].startswith("msg_")
    assert streamed["stop_reason"] == "end_turn"
    types = streamed["event_types"]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert types.count("content_block_delta") == len(streamed["deltas"])
    assert streamed["usage"]["output_tokens"] == len(prompt.split())


@pytest.mark.parametrize("check", ["tool_stream", "tool_create"])
def test_tool_use(results, check):
    message, prompt = ok(results[check]), results["prompts"]["tool"]
    assert message["stop_reason"] == "tool_use"
    assert message["content_types"] == ["text", "tool_use"]
    assert message["text"] == prompt.split("[[")[0].strip()
    [tool_use] = message["tool_uses"]
    assert tool_use["id"].startswith("toolu_")
    assert tool_use["name"] == "get_weather"
    assert tool_use["input"] == {"city": "Paris"}


def test_tool_input_is_streamed_as_input_json(results):
    streamed = ok(results["tool_stream"])
    partials = streamed["input_json_partials"]
    assert len([p for p in partials if p]) > 1, f"tool input arrived in one piece: {partials}"
    assert json.loads("".join(partials)) == {"city": "Paris"}
    assert streamed["last_input_snapshot"] == {"city": "Paris"}


def test_count_tokens_matches_python_sdk(results, stack):
    counted = ok(results["count_tokens"])["input_tokens"]
    expected = (
        stack.client()
        .messages.count_tokens(
            model=MODEL, tools=[WEATHER_TOOL], messages=[{"role": "user", "content": results["prompts"]["count"]}]
        )
        .input_tokens
    )
    assert counted == expected > 0


def test_models_list_iterates_all_pages(results, stack):
    models = ok(results["models"])
    python_ids = [model.id for model in stack.client().models.list()]
    assert len(python_ids) > 2, "paging needs more than one page"
    assert models["ids"] == python_ids
    assert len(models["page_sizes"]) == math.ceil(len(python_ids) / 2)
    assert all(size <= 2 for size in models["page_sizes"]) and sum(models["page_sizes"]) == len(python_ids)
    assert models["retrieved_first"] == {"id": python_ids[0], "type": "model"}


def test_retry_after_429_succeeds_on_second_attempt(results, stack):
    retried, prompt = ok(results["retry"]), results["prompts"]["retry"]
    assert retried["text"] == prompt.split("[[")[0].strip()
    assert stack.simulator.attempts[prompt] == 2
    assert retried["elapsed_ms"] >= 900, "the SDK did not wait for Retry-After: 1"


@pytest.mark.parametrize(
    ("name", "cls", "status", "error_type"),
    [
        ("not_found", "NotFoundError", 404, "not_found_error"),
        ("not_found_stream", "NotFoundError", 404, "not_found_error"),
        ("bad_request", "BadRequestError", 400, "invalid_request_error"),
        ("rate_limit", "RateLimitError", 429, "rate_limit_error"),
        ("rate_limit_retry_after", "RateLimitError", 429, "rate_limit_error"),
        ("overloaded_stream", "OverloadedError", 529, "overloaded_error"),
        ("internal", "InternalServerError", 500, "api_error"),
        ("authentication", "AuthenticationError", 401, "authentication_error"),
        ("authentication_models", "AuthenticationError", 401, "authentication_error"),
    ],
)
def test_errors_surface_as_sdk_classes(results, name, cls, status, error_type):
    error = results["errors"][name]
    assert "unexpected" not in error, f"{name}: no error was raised: {error}"
    assert (error["class"], error["status"], error["type"]) == (cls, status, error_type)
    assert error["isAPIError"] is True


def test_error_details(results):
    errors = results["errors"]
    assert errors["not_found"]["message"] == "model: no-such-model"
    assert errors["rate_limit"]["retryAfter"] is None  # [[error:429:no-retry-after]]
    assert errors["rate_limit_retry_after"]["retryAfter"] == "1"


@pytest.mark.parametrize("name", ["not_found", "rate_limit", "internal", "authentication", "authentication_models"])
def test_errors_carry_one_request_id(results, name):
    request_id = results["errors"][name]["requestID"]
    assert request_id and REQUEST_ID.match(request_id), f"request-id header of the {name} error: {request_id!r}"


@pytest.mark.parametrize("check", ["auth_api_key", "auth_token"], ids=["x-api-key", "bearer"])
def test_right_key_is_accepted(results, check):
    message = ok(results[check])
    assert message["text"] == f"keyed {results['tag']}"
    assert message["id"].startswith("msg_")
