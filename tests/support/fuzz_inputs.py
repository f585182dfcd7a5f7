"""Hypothesis strategies for fuzzing the gateway: near-valid Messages / count_tokens bodies and their mutations.

Bodies carry wrong types, missing fields, junk blocks, odd tools, odd numbers, unicode and control characters.
Generated text never contains ``[[``, so no input can ask the simulator for an error, a delay or a fault.
"""

from __future__ import annotations

import base64
import copy
import json
import string

from hypothesis import strategies as st

from simulator.model import ANY_DIRECTIVE
from support.stacks import SURFACE_MODELS

VERSION = "2023-06-01"
JSON_HEADERS = {"content-type": "application/json", "anthropic-version": VERSION, "x-api-key": "test-key"}

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


# Nesting depths around the limits of JSON parsers (Python's recursion limit is 1000, orjson's 1024).
DEPTHS = st.one_of(st.integers(1, 50), st.sampled_from([999, 1000, 1024, 1025, 5000]), st.integers(500, 5000))
# A header value as raw bytes: anything printable-ish that an HTTP client can still put on the wire.
HEADER_VALUE = st.binary(max_size=40).map(lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F).strip())
