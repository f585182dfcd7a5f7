"""Property-based fuzzing of everything around the body over real HTTP (Hypothesis): header sets (content
types, versions, betas, credentials, correlation contexts, repeated headers), methods, paths and query strings,
and client keys on a keyed stack.

Requests go to the session ``stack`` (the client-key property to one extra keyed stack built here) through one
reused ``httpx.Client``; every answer must hold the properties in ``support.fuzz``. Runs are derandomized.
The module prints how many requests it sent.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from support.fuzz import MIN_REQUESTS, Stats, Wire, check_answer, fuzz_settings, reporting
from support.fuzz_inputs import (
    DEPTHS,
    HEADER_VALUE,
    JSON_HEADERS,
    VERSION,
    asks_for_nothing,
    bodies,
    encode,
    mutated,
    sometimes,
)
from support.stacks import Stack, start_stack, stop_all

STATS = Stats()
CLIENT_KEYS = ("fuzz-key-one", "fuzz-key-two")
OPEN_PATHS = ("/", "/health")


@pytest.fixture(scope="module", autouse=True)
def fuzz_report(request: pytest.FixtureRequest) -> Iterator[None]:
    with reporting(request, STATS):
        yield


@pytest.fixture(scope="module")
def wire(stack: Stack) -> Iterator[Wire]:
    with Wire(stack.gateway_url, STATS) as opened:
        yield opened


@pytest.fixture(scope="module")
def keyed_wire() -> Iterator[Wire]:
    """A second pair (simulator + gateway) that requires one of ``CLIENT_KEYS``."""
    built, servers = start_stack({"SF_MAX_RETRIES": "0", "GATEWAY_API_KEYS": ",".join(CLIENT_KEYS)})
    with Wire(built.gateway_url, STATS) as opened:
        yield opened
    stop_all(servers)


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


def test_fuzz_headers_paths_keys_sent_enough_requests() -> None:
    """Runs last in this module: the properties above held over a real number of requests."""
    assert STATS.requests >= MIN_REQUESTS, f"only {STATS.requests} requests were sent"
