"""One request as the client sees it, and what Salesforce (the simulator) saw of it: the shared kit of the
fault, retry, slow-backend, disconnect and secret tests.

``raw_call`` reads an SSE answer event by event with arrival times, so a test can order what arrived when.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anthropic
import httpx
import pytest

from simulator.app import SimulatorConfig
from support.stacks import SURFACE_MODELS, Stack, start_stack, stop_all

SURFACES = list(SURFACE_MODELS)
STREAMING_SURFACES = ["bedrock_invoke", "chat_generations", "responses"]  # the Models API has no stream: it is emulated
VERSION = "2023-06-01"
WORDS = "alpha beta gamma delta epsilon"  # enough pieces that a mid-stream fault comes after some content


def body_for(surface: str, text: str, stream: bool, **extra) -> dict:
    body = {"model": SURFACE_MODELS[surface], "max_tokens": 100, "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    body.update(extra)
    return body


@dataclass
class Event:
    name: str
    data: dict
    at: float  # seconds since the request was sent


@dataclass
class Outcome:
    status: int
    headers: httpx.Headers
    elapsed: float
    raw: bytes = b""
    json: dict | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.events]

    @property
    def text(self) -> str:
        return "".join(
            e.data["delta"].get("text", "") for e in self.events if e.name == "content_block_delta"
        ) or "".join(b.get("text", "") for b in (self.json or {}).get("content", []))

    @property
    def error(self) -> dict:
        if self.json is not None:
            return self.json["error"]
        assert self.names[-1] == "error", self.names
        return self.events[-1].data["error"]


def raw_call(
    stack: Stack,
    body: dict,
    *,
    path: str = "/v1/messages",
    headers: dict[str, str] | None = None,
    timeout: float = 30,
    api_key: str = "test-key",
) -> Outcome:
    """One request with raw httpx; an SSE answer is read event by event with arrival times."""
    sent = {"x-api-key": api_key, "anthropic-version": VERSION, **(headers or {})}
    start = time.monotonic()
    with (
        httpx.Client(base_url=stack.gateway_url, headers=sent, timeout=timeout) as http,
        http.stream("POST", path, json=body) as response,
    ):
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            raw = response.read()
            return Outcome(response.status_code, response.headers, time.monotonic() - start, raw, json.loads(raw))
        events: list[Event] = []
        raw_lines: list[str] = []
        name, data = None, []
        for line in response.iter_lines():
            raw_lines.append(line)
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line and name is not None:
                events.append(Event(name, json.loads("\n".join(data)), time.monotonic() - start))
                name, data = None, []
        raw = "\n".join(raw_lines).encode()
        return Outcome(response.status_code, response.headers, time.monotonic() - start, raw, events=events)


def backend_calls(stack: Stack, word: str) -> int:
    """Model requests (not OAuth) the gateway sent that carry ``word``."""
    return sum(1 for r in stack.simulator.requests if word in r["body"] and "oauth2" not in r["path"])


def attempts(stack: Stack, word: str) -> int:
    """The simulator's own count of a prompt, kept for ``[[error:CODE:first-N]]`` directives."""
    return sum(n for prompt, n in stack.simulator.attempts.items() if word in prompt)


def assert_error(outcome: Outcome, status: int, error_type: str) -> dict:
    assert outcome.status == status, (outcome.status, outcome.raw[:500])
    assert outcome.json is not None, outcome.raw[:500]
    assert outcome.json["type"] == "error"
    assert outcome.json["error"]["type"] == error_type, outcome.json
    assert outcome.json["request_id"].startswith("req_")
    assert outcome.headers.get_list("request-id") == [outcome.json["request_id"]]
    return outcome.json["error"]


def assert_stream_error_after_content(outcome: Outcome, error_type: str) -> dict:
    """A committed 200 stream that carried some content, then ended with ``event: error``."""
    assert outcome.status == 200, outcome.raw[:500]
    names = outcome.names
    assert names[0] == "message_start", names
    assert names.count("message_start") == 1, names
    assert "content_block_delta" in names, names  # some content reached the client first
    assert names[-1] == "error", names
    assert "message_stop" not in names, names
    error = outcome.events[-1].data
    assert error["type"] == "error"
    assert error["error"]["type"] == error_type, error
    assert error["error"]["message"]
    return error["error"]


def sdk_call(stack: Stack, surface: str, text: str, stream: bool, **kwargs) -> anthropic.types.Message:
    client = stack.client(**kwargs)
    params = {"model": SURFACE_MODELS[surface], "max_tokens": 100, "messages": [{"role": "user", "content": text}]}
    if not stream:
        return client.messages.create(**params)
    with client.messages.stream(**params) as s:
        return s.get_final_message()


def sdk_stream_until_error(stack: Stack, surface: str, text: str) -> tuple[str, anthropic.APIStatusError]:
    """Iterate a stream with the SDK; return the text received before the error it raised."""
    client = stack.client()
    received = []
    params = {"model": SURFACE_MODELS[surface], "max_tokens": 100, "messages": [{"role": "user", "content": text}]}
    with pytest.raises(anthropic.APIStatusError) as caught, client.messages.stream(**params) as s:
        for event in s:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                received.append(event.delta.text)
    return "".join(received), caught.value


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> float | None:
    """Seconds until ``predicate()`` held, or None if it never did within ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(step)
    return None


class StackCache:
    """Stacks shared by the tests of one module, built on first use (cheaper than one per parametrized test):
    ``stacks("name", env, sim_config)`` returns the same stack for the same name."""

    def __init__(self) -> None:
        self.built: dict[str, Stack] = {}
        self.servers: list = []

    def __call__(self, name: str, env: dict[str, str], sim_config: SimulatorConfig | None = None) -> Stack:
        if name not in self.built:
            self.built[name], started = start_stack(env, sim_config)
            self.servers.extend(started)
        return self.built[name]

    def stop(self) -> None:
        stop_all(self.servers)
