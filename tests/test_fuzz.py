"""Property-based fuzzing of the running gateway over real HTTP (Hypothesis).

Every request goes to the session ``stack`` (the gateway on loopback in front of the simulator)
through one reused ``httpx.Client``; the client-key properties use one extra keyed stack built
here. Inputs are mostly near-valid Messages / count_tokens bodies with mutations (wrong types,
missing fields, junk blocks, odd tools, odd numbers, unicode and control characters), plus raw
bytes, header sets, methods, paths and query strings. Generated text never contains ``[[``, so
no input can ask the simulator for an error, a delay or a fault.

Properties, for every response:
- it carries a ``request-id: req_...`` header;
- it is not a 5xx;
- a non-2xx body is Anthropic's envelope ``{"type":"error","error":{"type":T,"message":"..."},
  "request_id":"req_..."}`` with T in ``STATUS_BY_TYPE`` and the status ``STATUS_BY_TYPE[T]``
  (405 is allowed with ``invalid_request_error`` for a wrong method);
- a 2xx stream is well-formed SSE in Anthropic's event order; a 2xx JSON answer has the right shape.

Runs are derandomized (the same cases every run). The module prints how many requests it sent.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import os
import string
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
from conftest import SURFACE_MODELS, Stack, start_stack
from hypothesis import HealthCheck, Phase, assume, given, reject, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from gateway.anthropic.errors import STATUS_BY_TYPE
from simulator.model import ANY_DIRECTIVE

VERSION = "2023-06-01"
CLIENT_KEYS = ("fuzz-key-one", "fuzz-key-two")
OPEN_PATHS = ("/", "/health")
MIN_REQUESTS = 500


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        print_blob=True,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),  # no slow "explain"
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# --- sending and counting ----------------------------------------------------------------------------

STATS: dict = {"requests": 0, "statuses": Counter(), "tests": Counter(), "started": None}


@dataclass
class Answer:
    method: str
    path: str
    status: int
    headers: httpx.Headers
    body: bytes

    def describe(self) -> str:
        return f"{self.method} {self.path} -> {self.status} {self.body[:400]!r}"


class Wire:
    """One reused client; every request is counted, and every body is read to the end."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(60, connect=10))

    def send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | Iterator[bytes] | None = None,
        headers: dict | list | None = None,
        params: dict | None = None,
    ) -> Answer:
        for attempt in (1, 2):
            try:
                with self.client.stream(method, path, content=content, headers=headers, params=params) as response:
                    body = response.read()
                break
            except httpx.LocalProtocolError:
                reject()  # httpx itself refuses to send this (an illegal header value): nothing reached the gateway
            except httpx.TransportError as exc:
                # A connection the server closed after an earlier answer; a second failure is this input's.
                assert attempt == 1, f"{method} {path}: the connection failed twice: {exc!r}"
                assert not isinstance(content, Iterator), f"{method} {path}: the connection failed: {exc!r}"
        STATS["requests"] += 1
        STATS["statuses"][response.status_code] += 1
        STATS["tests"][os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" ")[0]] += 1
        note_event(f"status {response.status_code}")
        return Answer(method, path, response.status_code, response.headers, body)

    def close(self) -> None:
        self.client.close()


@pytest.fixture(scope="module", autouse=True)
def fuzz_report(request: pytest.FixtureRequest) -> Iterator[None]:
    """Prints the request count at the end; the gateway's per-request INFO lines are muted meanwhile."""
    gateway_log = logging.getLogger("gateway")
    level = gateway_log.level
    gateway_log.setLevel(logging.WARNING)
    # After the gateway's server thread has hit a RecursionError, CPython 3.11.7 can fail to re-parse this
    # file ("SystemError: AST constructor recursion depth mismatch") when pytest renders a failure in its
    # default style, hiding the falsifying example; the native style does not parse source.
    options = request.config.option
    tbstyle = getattr(options, "tbstyle", None)
    if tbstyle == "auto":
        options.tbstyle = "native"
    STATS["started"] = time.perf_counter()
    yield
    if tbstyle == "auto":
        options.tbstyle = tbstyle
    gateway_log.setLevel(level)
    elapsed = time.perf_counter() - STATS["started"]
    statuses = dict(sorted(STATS["statuses"].items()))
    line = f"fuzz: {STATS['requests']} requests, {len(statuses)} distinct statuses: {statuses} in {elapsed:.1f}s"
    line += "\nfuzz: requests per test: " + ", ".join(f"{name}={n}" for name, n in STATS["tests"].items())
    plugins = request.config.pluginmanager
    capture, reporter = plugins.get_plugin("capturemanager"), plugins.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)
    else:  # pragma: no cover - pytest without capture or terminal reporter
        print(line)


@pytest.fixture(scope="module")
def wire(stack: Stack) -> Iterator[Wire]:
    opened = Wire(stack.gateway_url)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def keyed_wire() -> Iterator[Wire]:
    """A second pair (simulator + gateway) that requires one of ``CLIENT_KEYS``."""
    built, servers = start_stack({"SF_MAX_RETRIES": "0", "GATEWAY_API_KEYS": ",".join(CLIENT_KEYS)})
    opened = Wire(built.gateway_url)
    yield opened
    opened.close()
    for server in servers:
        server.stop()


# --- the properties -----------------------------------------------------------------------------------


def check_answer(answer: Answer) -> None:
    request_id = answer.headers.get("request-id")
    assert request_id and request_id.startswith("req_"), f"no request-id header: {answer.describe()}"
    assert answer.status < 500, f"5xx for a request that asked for no backend failure: {answer.describe()}"
    if 200 <= answer.status < 300:
        if answer.method == "HEAD":
            return
        if answer.headers.get("content-type", "").startswith("text/event-stream"):
            check_sse(answer)
        elif answer.method == "POST" and answer.path.startswith("/v1/messages/count_tokens"):
            data = json.loads(answer.body)
            assert isinstance(data.get("input_tokens"), int) and data["input_tokens"] >= 0, answer.describe()
        elif answer.method == "POST" and answer.path.startswith("/v1/messages"):
            check_message(json.loads(answer.body), answer)
        return
    if answer.method == "HEAD":
        return  # no body to look at
    try:
        data = json.loads(answer.body)
    except ValueError:
        raise AssertionError(f"non-2xx answer is not an Anthropic error envelope: {answer.describe()}") from None
    assert isinstance(data, dict) and data.get("type") == "error", f"not an error envelope: {answer.describe()}"
    error = data.get("error")
    assert isinstance(error, dict), f"no error object: {answer.describe()}"
    kind, message = error.get("type"), error.get("message")
    assert kind in STATUS_BY_TYPE, f"unknown error type {kind!r}: {answer.describe()}"
    assert isinstance(message, str) and message, f"empty error message: {answer.describe()}"
    assert data.get("request_id") == request_id, f"request_id differs from the header: {answer.describe()}"
    wrong_method = answer.status == 405 and kind == "invalid_request_error"
    assert answer.status == STATUS_BY_TYPE[kind] or wrong_method, (
        f"status {answer.status} does not match error type {kind}: {answer.describe()}"
    )


def check_message(data: object, answer: Answer) -> None:
    assert isinstance(data, dict), answer.describe()
    assert data.get("type") == "message" and data.get("role") == "assistant", answer.describe()
    assert isinstance(data.get("id"), str) and data["id"].startswith("msg_"), answer.describe()
    assert isinstance(data.get("content"), list), answer.describe()
    usage = data.get("usage")
    assert isinstance(usage, dict), answer.describe()
    assert isinstance(usage.get("input_tokens"), int) and isinstance(usage.get("output_tokens"), int), answer.describe()


DELTA_FOR_BLOCK = {
    "text": {"text_delta", "citations_delta"},
    "tool_use": {"input_json_delta"},
    "server_tool_use": {"input_json_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
}


def sse_events(raw: bytes) -> list[dict]:
    text = raw.decode("utf-8")
    assert text.endswith("\n\n"), f"stream does not end with a blank line: {text[-200:]!r}"
    events = []
    for chunk in text[:-2].split("\n\n"):
        name = data = None
        for line in chunk.split("\n"):
            if line.startswith(":"):
                continue  # a comment (keep-alive)
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                assert data is None, f"more than one data line in one event: {chunk!r}"
                data = value
        assert name and data is not None, f"event without an event: or data: line: {chunk!r}"
        payload = json.loads(data)
        assert isinstance(payload, dict) and payload.get("type") == name, f"type differs from event name: {chunk!r}"
        events.append(payload)
    return events


def check_sse(answer: Answer) -> None:
    events = [e for e in sse_events(answer.body) if e["type"] != "ping"]
    kinds = [e["type"] for e in events]
    assert "error" not in kinds, f"error event in a stream nobody asked to fail: {answer.describe()}"
    assert kinds and kinds[0] == "message_start", f"stream does not open with message_start: {kinds}"
    assert kinds[-1] == "message_stop" and kinds.count("message_stop") == 1, f"bad stream end: {kinds}"
    assert kinds.count("message_start") == 1, f"more than one message_start: {kinds}"
    assert isinstance(events[0]["message"]["usage"]["input_tokens"], int), events[0]
    open_block: tuple[int, str] | None = None
    next_index = 0
    json_parts: list[str] = []
    for event in events[1:-1]:
        kind = event["type"]
        if kind == "content_block_start":
            assert open_block is None, f"block {next_index} starts while another is open: {kinds}"
            assert event["index"] == next_index, f"block index {event['index']} != {next_index}"
            open_block, json_parts = (next_index, event["content_block"]["type"]), []
            next_index += 1
        elif kind == "content_block_delta":
            assert open_block is not None and event["index"] == open_block[0], f"delta outside its block: {event}"
            allowed = DELTA_FOR_BLOCK.get(open_block[1])
            assert allowed is None or event["delta"]["type"] in allowed, f"{event['delta']['type']} in {open_block}"
            if event["delta"]["type"] == "input_json_delta":
                json_parts.append(event["delta"]["partial_json"])
        elif kind == "content_block_stop":
            assert open_block is not None and event["index"] == open_block[0], f"stop outside its block: {event}"
            if json_parts:
                assert isinstance(json.loads("".join(json_parts)), dict), f"tool input is not a JSON object: {event}"
            open_block = None
        elif kind == "message_delta":
            assert open_block is None, f"message_delta while block {open_block} is open"
            assert isinstance(event["usage"]["output_tokens"], int), event
    assert open_block is None, f"block {open_block} never stopped"
    assert "message_delta" in kinds, f"no message_delta: {kinds}"


# --- strategies: text, numbers, junk ------------------------------------------------------------------

ODD_STRINGS = [
    "",
    " ",
    "\x00",
    "\t\r\n",
    "\u202e\u200b\ufeff",
    "\U0001f469\u200d\U0001f4bb",
    "\U0001d54f\U0001d536\U0001d537",
    "\\u0000",
    '"quoted"',
    "null",
    "ça va? ✓",
    "a" * 300,
    "word " * 400,
]


def no_directive(text: str) -> bool:
    return "[[" not in text


# Any code point but lone surrogates (those have their own test), with control characters.
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
    st.text(string.printable, max_size=30),
    st.sampled_from(ODD_STRINGS),
).filter(no_directive)
NONEMPTY_TEXT = TEXT.filter(bool)
# Text that holds at least one lone surrogate (JSON allows ``\ud800``; JavaScript clients send them).
SURROGATE_TEXT = st.builds(
    lambda head, surrogate, tail: head + surrogate + tail,
    st.text(string.ascii_letters + " ", max_size=8),
    st.characters(categories=("Cs",)),
    st.text(st.characters(exclude_characters="["), max_size=8),
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and +-Infinity too: Python's JSON reads and writes them
    st.sampled_from([0, -1, 1, 1023, 1024, 2**31, 2**63, 10**30, -(10**30), 0.5, -0.0, 1.0, 1e308, 1e-308]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JUNK = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=10,
)
JUNK_DICT = st.dictionaries(TEXT, JUNK, max_size=4)

MODELS = list(SURFACE_MODELS.values())
ODD_MODELS = [
    "claude-sonnet-4-5-20250929",
    "claude-3-7-sonnet-20250219",
    "claude-opus-4-1",
    "claude-haiku-4-5",
    "claude-nope-9",
    "gpt-4.1-mini-latest",
    " claude-sonnet-4-5",
    "CLAUDE-SONNET-4-5",
    "claude-sonnet-4-5/../x",
]
ODD_MODEL = st.one_of(st.sampled_from(ODD_MODELS), TEXT, JUNK)
ODD_MAX_TOKENS = st.one_of(NUMBERS, SCALARS, st.sampled_from([0, 8193, 64001, 10**9]))

PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
B64 = st.one_of(st.just(PNG_1X1), st.binary(max_size=48).map(lambda b: base64.b64encode(b).decode()), TEXT)
CACHE_CONTROL = st.one_of(st.sampled_from([{"type": "ephemeral"}, {"type": "ephemeral", "ttl": "1h"}]), JUNK)


# --- strategies: content blocks, conversations, tools, bodies -----------------------------------------

TEXT_BLOCK = st.fixed_dictionaries(
    {"type": st.just("text"), "text": NONEMPTY_TEXT},
    optional={"cache_control": CACHE_CONTROL, "citations": st.one_of(st.none(), JUNK)},
)
IMAGE_SOURCE = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.just("base64"),
            "media_type": st.sampled_from(["image/png", "image/jpeg", "image/gif", "image/webp", "text/plain"]),
            "data": B64,
        }
    ),
    st.fixed_dictionaries({"type": st.just("url"), "url": st.one_of(st.just("https://example.com/a.png"), TEXT)}),
    st.fixed_dictionaries({"type": st.just("file"), "file_id": TEXT}),
    JUNK,
)
IMAGE_BLOCK = st.fixed_dictionaries({"type": st.just("image"), "source": IMAGE_SOURCE})
DOCUMENT_SOURCE = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "media_type": st.just("text/plain"), "data": TEXT}),
    st.fixed_dictionaries({"type": st.just("content"), "content": st.one_of(TEXT, st.lists(TEXT_BLOCK, max_size=2))}),
    st.fixed_dictionaries({"type": st.just("base64"), "media_type": st.just("application/pdf"), "data": B64}),
    st.fixed_dictionaries({"type": st.just("url"), "url": st.just("https://example.com/a.pdf")}),
    st.fixed_dictionaries({"type": st.sampled_from(["text", "content", "base64", "file"])}, optional={"data": JUNK}),
    JUNK,
)
DOCUMENT_BLOCK = st.fixed_dictionaries(
    {"type": st.just("document"), "source": DOCUMENT_SOURCE},
    optional={"title": TEXT, "context": TEXT, "citations": st.fixed_dictionaries({"enabled": st.booleans()})},
)
THINKING_BLOCK = st.one_of(
    st.fixed_dictionaries({"type": st.just("thinking"), "thinking": TEXT, "signature": TEXT}),
    st.fixed_dictionaries({"type": st.just("redacted_thinking"), "data": TEXT}),
)
BLOCK_TYPES = ["search_result", "server_tool_use", "web_search_tool_result", "container_upload", "future_block"]
OTHER_BLOCK = st.one_of(
    st.builds(lambda kind, rest: {**rest, "type": kind}, st.sampled_from(BLOCK_TYPES), JUNK_DICT),
    st.builds(lambda kind, rest: {**rest, "type": kind}, TEXT, JUNK_DICT),
    st.fixed_dictionaries(
        {"type": st.just("search_result"), "source": TEXT, "title": TEXT, "content": st.lists(TEXT_BLOCK, max_size=2)}
    ),
)
USER_BLOCK = st.one_of(TEXT_BLOCK, TEXT_BLOCK, IMAGE_BLOCK, DOCUMENT_BLOCK, OTHER_BLOCK)
ASSISTANT_BLOCK = st.one_of(TEXT_BLOCK, TEXT_BLOCK, THINKING_BLOCK, OTHER_BLOCK)


def content_of(blocks: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(NONEMPTY_TEXT, st.lists(blocks, min_size=1, max_size=3))


GOOD_TOOL_NAME = st.from_regex(r"[a-zA-Z0-9_-]{1,16}", fullmatch=True)
TOOL_NAMES = st.one_of(
    GOOD_TOOL_NAME,
    GOOD_TOOL_NAME,
    st.sampled_from(["get_weather", "a" * 128, "", "a" * 129, "bad name", "naïve", "a.b"]),
    TEXT,
)
SCHEMA = st.one_of(
    st.just({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    st.just({}),
    st.fixed_dictionaries({"type": st.just("object"), "properties": JUNK_DICT}),
    JUNK_DICT,
    JUNK,
)
CUSTOM_TOOL = st.fixed_dictionaries(
    {"name": TOOL_NAMES, "input_schema": SCHEMA},
    optional={
        "description": st.one_of(TEXT, JUNK),
        "type": st.sampled_from(["custom", None]),
        "cache_control": CACHE_CONTROL,
        "strict": st.booleans(),
    },
)
SERVER_TOOL = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["web_search_20250305", "bash_20250124", "text_editor_20250124", "tool_2099"]),
        "name": st.one_of(st.sampled_from(["web_search", "bash", "str_replace_editor"]), TOOL_NAMES, JUNK),
    },
    optional={"max_uses": NUMBERS},
)
TOOLS = st.lists(st.one_of(CUSTOM_TOOL, CUSTOM_TOOL, SERVER_TOOL), max_size=3)
THINKING = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("enabled"), "budget_tokens": st.one_of(st.integers(1024, 4000), st.integers(0, 4096), NUMBERS)}
    ),
    st.sampled_from([{"type": "disabled"}, {"type": "adaptive"}, {"type": "adaptive", "display": "omitted"}]),
    JUNK,
)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict]:
    shape = draw(st.sampled_from(["single", "turns", "tools"]))
    if shape == "single":
        return [{"role": "user", "content": draw(content_of(USER_BLOCK))}]
    if shape == "turns":
        count = draw(st.integers(1, 4))
        roles = draw(st.lists(st.sampled_from(["user", "assistant", "system"]), min_size=count, max_size=count))
        messages = [
            {"role": role, "content": draw(content_of(ASSISTANT_BLOCK if role == "assistant" else USER_BLOCK))}
            for role in roles
        ]
        return [*messages, {"role": "user", "content": draw(content_of(USER_BLOCK))}]
    # A tool round trip: user asks, assistant calls tools, user answers each call.
    ids = draw(st.lists(st.from_regex(r"toolu_[A-Za-z0-9]{1,12}", fullmatch=True), min_size=1, max_size=2, unique=True))
    calls = [{"type": "tool_use", "id": tool_id, "name": draw(TOOL_NAMES), "input": draw(JUNK_DICT)} for tool_id in ids]
    results = []
    for tool_id in ids:
        result: dict = {"type": "tool_result", "tool_use_id": tool_id}
        content = draw(st.one_of(st.none(), TEXT, st.lists(st.one_of(TEXT_BLOCK, IMAGE_BLOCK), max_size=2)))
        if content is not None:
            result["content"] = content
        if draw(st.booleans()):
            result["is_error"] = draw(st.booleans())
        results.append(result)
    lead = draw(st.lists(TEXT_BLOCK, max_size=1))
    messages = [
        {"role": "user", "content": draw(content_of(USER_BLOCK))},
        {"role": "assistant", "content": [*lead, *calls]},
        {"role": "user", "content": results + draw(st.lists(TEXT_BLOCK, max_size=1))},
    ]
    if draw(st.booleans()):
        messages.append({"role": "assistant", "content": draw(st.one_of(st.just(""), NONEMPTY_TEXT))})
    return messages


def sometimes(draw: st.DrawFn, percent: int) -> bool:
    """True in about ``percent`` % of cases; shrinks to False, so failing examples lose optional parts."""
    return draw(st.integers(0, 99)) >= 100 - percent


@st.composite
def bodies(draw: st.DrawFn, *, count_tokens: bool = False, stream_percent: int = 10) -> dict:
    model = draw(ODD_MODEL) if sometimes(draw, 15) else draw(st.sampled_from(MODELS))
    body: dict = {"model": model, "messages": draw(conversations())}
    if not count_tokens or sometimes(draw, 20):
        body["max_tokens"] = draw(ODD_MAX_TOKENS) if sometimes(draw, 15) else draw(st.integers(1, 64))
    if sometimes(draw, 30):
        body["system"] = draw(st.one_of(TEXT, st.lists(TEXT_BLOCK, max_size=2), JUNK))
    if sometimes(draw, 15):
        body["stop_sequences"] = draw(st.one_of(st.lists(TEXT, max_size=3), JUNK))
    for name, values in (
        ("temperature", st.one_of(st.floats(0, 1), NUMBERS)),
        ("top_p", st.one_of(st.floats(0, 1), NUMBERS)),
        ("top_k", st.one_of(st.integers(0, 500), NUMBERS)),
        ("metadata", st.one_of(st.fixed_dictionaries({"user_id": st.one_of(st.none(), TEXT)}), JUNK)),
        ("service_tier", st.one_of(st.sampled_from(["auto", "standard_only"]), JUNK)),
    ):
        if sometimes(draw, 12):
            body[name] = draw(values)
    if sometimes(draw, 30):
        body["tools"] = draw(TOOLS)
        if sometimes(draw, 60):
            names = [t.get("name") for t in body["tools"] if isinstance(t.get("name"), str)]
            choice = draw(st.sampled_from(["auto", "any", "none", "tool"]))
            value: object = {"type": choice}
            if choice == "tool":
                value = {"type": "tool", "name": draw(st.sampled_from(names) if names else TOOL_NAMES)}
            if sometimes(draw, 10):
                value = draw(JUNK)
            elif sometimes(draw, 30):
                value["disable_parallel_tool_use"] = draw(st.one_of(st.booleans(), JUNK))  # type: ignore[index]
            body["tool_choice"] = value
    if sometimes(draw, 12):
        body["thinking"] = draw(THINKING)
        if sometimes(draw, 50):
            body["max_tokens"] = draw(st.integers(1025, 8000))
    if count_tokens and sometimes(draw, 10):
        body["stream"] = draw(st.booleans())
    elif not count_tokens and sometimes(draw, stream_percent):
        body["stream"] = True
    if sometimes(draw, 10):
        body.update(draw(st.dictionaries(TEXT, JUNK, max_size=2)))  # unknown top-level fields
    return body


def _paths(node: object) -> list[tuple[object, object]]:
    """Every (container, key) in a JSON document, for picking a spot to mutate."""
    found: list[tuple[object, object]] = []
    stack = [node]
    while stack:
        current = stack.pop()
        keys = list(current) if isinstance(current, dict) else range(len(current)) if isinstance(current, list) else []
        for key in keys:
            found.append((current, key))
            stack.append(current[key])  # type: ignore[index]
    return found


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[dict]) -> dict:
    """A body with up to three random edits: replace a value with junk, delete it, or add beside it."""
    body = copy.deepcopy(draw(base))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        spots = _paths(body)
        if not spots:
            break
        container, key = draw(st.sampled_from(spots))
        operation = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if operation == "replace":
            container[key] = draw(JUNK)  # type: ignore[index]
        elif operation == "delete":
            del container[key]  # type: ignore[attr-defined]
        elif isinstance(container, dict):
            container[draw(TEXT)] = draw(JUNK)
        else:
            container.insert(draw(st.integers(0, len(container))), draw(JUNK))  # type: ignore[attr-defined]
    return body


def encode(body: object, style: int) -> bytes:
    """JSON bytes in one of a few styles; lone surrogates go out escaped, as JavaScript sends them."""
    if style == 0:
        return json.dumps(body).encode()
    if style == 1:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")
    return json.dumps(body, indent=2).encode()


def asks_for_nothing(raw: bytes) -> bool:
    """No simulator directive can be read out of this body."""
    return ANY_DIRECTIVE.search(raw.decode("utf-8", "replace")) is None


JSON_HEADERS = {"content-type": "application/json", "anthropic-version": VERSION, "x-api-key": "test-key"}
MESSAGES_PATHS = st.sampled_from(["/v1/messages", "/v1/messages?beta=true"])
COUNT_PATHS = st.sampled_from(["/v1/messages/count_tokens", "/v1/messages/count_tokens?beta=true"])


# --- the tests ----------------------------------------------------------------------------------------


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


# Nesting depths around the limits of JSON parsers (Python's recursion limit is 1000, orjson's 1024).
DEPTHS = st.one_of(st.integers(1, 50), st.sampled_from([999, 1000, 1024, 1025, 5000]), st.integers(500, 5000))


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


HEADER_VALUE = st.binary(max_size=40).map(lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F).strip())
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "application/vnd.api+json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "",
            ";",
            "application/json;;;",
        ]
    ),
    HEADER_VALUE,
)
VERSIONS = st.one_of(
    st.sampled_from([VERSION, "2023-01-01", "", "latest", "2099-12-31", "2023-06-01,2023-01-01"]), HEADER_VALUE
)
BETAS = st.one_of(
    st.sampled_from(
        [
            "token-counting-2024-11-01",
            "interleaved-thinking-2025-05-14,context-1m-2025-08-07",
            "claude-code-20250219, oauth-2025-04-20 ,,",
            ",",
            "x" * 500,
        ]
    ),
    HEADER_VALUE,
)
CORRELATION = st.one_of(
    st.sampled_from(['{"requestId":"abc"}', "[1]", '"x"', "NaN", "{", '{"requestId":{"a":[]}}']),
    DEPTHS.map(lambda n: "[" * n),
)


@st.composite
def header_sets(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    for name, values in (
        (b"content-type", CONTENT_TYPES),
        (b"anthropic-version", VERSIONS),
        (b"anthropic-beta", BETAS),
        (b"x-api-key", st.one_of(st.just("test-key"), HEADER_VALUE)),
        (
            b"authorization",
            st.one_of(st.sampled_from(["Bearer test-key", "Basic dXNlcjpwYXNz", "Bearer"]), HEADER_VALUE),
        ),
        (b"x-amzn-request-context", CORRELATION),
        (b"accept", st.sampled_from(["application/json", "text/event-stream", "*/*", ""])),
    ):
        if sometimes(draw, 70 if name in (b"content-type", b"anthropic-version") else 35):
            value = draw(values)
            headers.append((name, value if isinstance(value, bytes) else value.encode()))
    if sometimes(draw, 15):  # a repeated header
        repeated = draw(VERSIONS) if sometimes(draw, 50) else VERSION
        headers.append((b"anthropic-version", repeated if isinstance(repeated, bytes) else repeated.encode()))
    return headers


@fuzz_settings(400)
@given(
    headers=header_sets(),
    body=mutated(bodies(stream_percent=15)),
    path=st.sampled_from(["/v1/messages", "/v1/messages/count_tokens", "/v1/models", "/"]),
)
def test_header_sets(wire: Wire, headers: list, body: dict, path: str) -> None:
    raw = encode(body, 0)
    assume(asks_for_nothing(raw))
    method = "GET" if path in ("/v1/models", "/") else "POST"
    check_answer(wire.send(method, path, content=raw if method == "POST" else None, headers=headers))


SEGMENTS = st.one_of(
    st.sampled_from(
        [
            "messages",
            "count_tokens",
            "models",
            "claude-sonnet-4-5",
            "gpt-4.1-mini",
            "",
            ".",
            "..",
            "batches",
            "complete",
            "%00",
            "%2F",
            "%ED%A0%80",
            "%FF",
            "a" * 300,
        ]
    ),
    st.text(max_size=12).map(lambda s: quote(s, safe="")),
)
QUERY = st.dictionaries(
    st.one_of(st.sampled_from(["beta", "limit", "after_id", "before_id"]), st.text(string.ascii_letters, max_size=6)),
    st.one_of(st.sampled_from(["true", "1", "0", "-5", "1000", "1001", "abc", "", "claude-sonnet-4-5"]), st.text()),
    max_size=3,
)


@st.composite
def targets(draw: st.DrawFn) -> tuple[str, str]:
    segments = draw(st.lists(SEGMENTS, max_size=4))
    path = "/v1/" + "/".join(segments)
    if sometimes(draw, 25):
        path = draw(st.sampled_from(["/v1/messages", "/v1/messages/count_tokens", "/v1/models", "/", "/health"]))
        path += draw(st.sampled_from(["", "", "/", "//", "/x"]))
    return draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])), path


@fuzz_settings(500)
@given(target=targets(), query=QUERY, body=st.one_of(st.none(), st.just(b"{}"), st.binary(max_size=30)))
def test_methods_paths_and_queries(wire: Wire, target: tuple[str, str], query: dict, body: bytes | None) -> None:
    method, path = target
    assume(body is None or asks_for_nothing(body))
    check_answer(wire.send(method, path, content=body, headers=JSON_HEADERS, params=query or None))


KEY_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "x-api-key": st.one_of(
            st.sampled_from(
                [*CLIENT_KEYS, "", "wrong", f"{CLIENT_KEYS[0]},{CLIENT_KEYS[1]}", CLIENT_KEYS[0].upper()]
            ).map(str.encode),
            HEADER_VALUE,
        ),
        "authorization": st.one_of(
            st.sampled_from(
                [
                    f"Bearer {CLIENT_KEYS[1]}",
                    f"bearer {CLIENT_KEYS[0]}",
                    f"BEARER  {CLIENT_KEYS[0]}",
                    "Bearer wrong",
                    "Bearer",
                    f"Bearer{CLIENT_KEYS[0]}",
                    f"Basic {CLIENT_KEYS[0]}",
                    CLIENT_KEYS[0],
                ]
            ).map(str.encode),
            HEADER_VALUE,
        ),
    },
)
KEYED_TARGETS = st.sampled_from(
    [
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages/count_tokens"),
        ("GET", "/v1/models"),
        ("GET", "/v1/models/claude-sonnet-4-5"),
        ("GET", "/v1/nowhere"),
        ("DELETE", "/v1/messages"),
        ("GET", "/"),
        ("HEAD", "/"),
        ("GET", "/health"),
    ]
)


def holds_a_key(headers: dict[str, bytes]) -> bool:
    """The gateway's documented rule: x-api-key, or Authorization: Bearer, with one configured key.

    Header values arrive with surrounding blanks removed by the HTTP parser, then the gateway strips them.
    """
    values = {name: value.decode("latin-1").strip(" \t") for name, value in headers.items()}
    presented = []
    if "x-api-key" in values:
        presented.append(values["x-api-key"].strip())
    auth = values.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        presented.append(auth[7:].strip())
    return any(key in CLIENT_KEYS for key in presented)


@fuzz_settings(300)
@given(keys=KEY_HEADERS, target=KEYED_TARGETS, body=bodies(stream_percent=20))
def test_client_keys(keyed_wire: Wire, keys: dict[str, bytes], target: tuple[str, str], body: dict) -> None:
    method, path = target
    raw = encode(body, 0)
    assume(asks_for_nothing(raw))
    headers = {"content-type": b"application/json", "anthropic-version": VERSION.encode(), **keys}
    answer = keyed_wire.send(method, path, content=raw if method == "POST" else None, headers=headers)
    check_answer(answer)
    if path in OPEN_PATHS:
        assert answer.status != 401, answer.describe()
    elif holds_a_key(keys):
        assert answer.status != 401, f"a configured key was refused ({keys}): {answer.describe()}"
    else:
        assert answer.status == 401, f"no configured key, yet not 401 ({keys}): {answer.describe()}"


def test_fuzz_sent_enough_requests() -> None:
    """Runs last in this module: the properties above held over a real number of requests."""
    assert STATS["requests"] >= MIN_REQUESTS, f"only {STATS['requests']} requests were sent"
