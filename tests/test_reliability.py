"""Reliability, proved through real sockets: the simulator misbehaves, the gateway copes, the client sees why.

1. backend faults (statuses, timeouts, refused connections, broken answers, token expiry, OAuth outage);
2. the gateway's own retries (which statuses, how many, Retry-After, the deadline, never mid-stream);
3. long waits (an early message_start of our own, keep-alive pings, errors after the commit);
4. a client that goes away takes the backend call with it;
5. secrets never leave the process (logs, bodies, headers, exceptions) and client headers never reach Salesforce;
6. client authentication on every route.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import anthropic
import httpx
import pytest
from conftest import SURFACE_MODELS, Stack, start_stack, stop_all

from gateway import logs
from gateway.salesforce import oauth
from simulator.app import SimulatorConfig
from simulator.oauth import TokenMint

SURFACES = list(SURFACE_MODELS)
STREAMING_SURFACES = ["bedrock_invoke", "chat_generations", "responses"]  # the Models API has no stream: it is emulated
VERSION = "2023-06-01"
WORDS = "alpha beta gamma delta epsilon"  # enough pieces that a mid-stream fault comes after some content


# --- helpers ----------------------------------------------------------------------------------------


def mark() -> str:
    """A word unique to one test, so its backend requests (and the simulator's attempts) can be found."""
    return f"m{uuid.uuid4().hex[:12]}"


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


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def wait_until(predicate, timeout: float, step: float = 0.02) -> float | None:
    """Seconds until ``predicate()`` held, or None if it never did within ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(step)
    return None


@pytest.fixture(scope="module")
def module_stacks() -> Iterator:
    """Stacks shared by the tests of this module (cheaper than one per parametrized test)."""
    built: dict[str, Stack] = {}
    servers: list = []

    def get(name: str, env: dict[str, str], sim_config: SimulatorConfig | None = None) -> Stack:
        if name not in built:
            built[name], started = start_stack(env, sim_config)
            servers.extend(started)
        return built[name]

    yield get
    stop_all(servers)


@pytest.fixture
def timeouts(module_stacks) -> Stack:
    """Salesforce read timeout 0.4 s; the stream grace (1.5 s) is longer, so early timeouts get an HTTP status."""
    env = {
        "SF_MAX_RETRIES": "0",
        "SF_READ_TIMEOUT": "0.4",
        "STREAM_GRACE_SECONDS": "1.5",
        "STREAM_KEEPALIVE_SECONDS": "0.2",
    }
    return module_stacks("timeouts", env)


@pytest.fixture
def retrying(module_stacks) -> Stack:
    """The default retry policy: one retry of a 5xx or refused connection, none of a 429."""
    return module_stacks("retrying", {})


@pytest.fixture
def slow(module_stacks) -> Stack:
    """Commits to a stream after 0.3 s of backend silence and pings every 0.2 s after that."""
    return module_stacks(
        "slow", {"SF_MAX_RETRIES": "0", "STREAM_GRACE_SECONDS": "0.3", "STREAM_KEEPALIVE_SECONDS": "0.2"}
    )


KEY = "client-key-SECRET-7f3a"


@pytest.fixture
def keyed(module_stacks) -> Stack:
    return module_stacks("keyed", {"GATEWAY_API_KEYS": KEY, "SF_MAX_RETRIES": "0"})


# --- 1. backend faults ------------------------------------------------------------------------------

STATUS_FAULTS = [
    # directive, HTTP status the client gets, Anthropic error type
    ("[[error:429]]", 429, "rate_limit_error"),
    ("[[error:429:no-retry-after]]", 429, "rate_limit_error"),
    ("[[error:500]]", 500, "api_error"),
    ("[[error:503]]", 529, "overloaded_error"),
    ("[[error:423]]", 529, "overloaded_error"),
    ("[[fault:error-body-200]]", 529, "overloaded_error"),
    ("[[fault:empty-body]]", 529, "overloaded_error"),
]
SDK_CLASS = {
    429: anthropic.RateLimitError,
    500: anthropic.InternalServerError,
    504: anthropic.GatewayTimeoutError,
    529: anthropic.OverloadedError,
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize(("directive", "status", "error_type"), STATUS_FAULTS, ids=[f[0] for f in STATUS_FAULTS])
def test_backend_fault_status(stack, surface, stream, directive, status, error_type):
    """Each failure before the first event reaches the client as a real HTTP status, streaming or not."""
    word = mark()
    outcome = raw_call(stack, body_for(surface, f"hi {word} {directive}", stream))
    assert_error(outcome, status, error_type)
    if directive == "[[error:429]]":
        assert outcome.headers.get("retry-after") == "1"  # Salesforce sent it: forwarded
    else:
        assert "retry-after" not in outcome.headers  # Salesforce did not: none invented
    assert backend_calls(stack, word) == 1  # SF_MAX_RETRIES=0: no retries here

    with pytest.raises(anthropic.APIStatusError) as caught:
        sdk_call(stack, surface, f"hi {word} {directive}", stream)
    assert type(caught.value) is SDK_CLASS[status], repr(caught.value)
    assert caught.value.body["error"]["type"] == error_type


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("surface", SURFACES)
def test_malformed_json(stack, surface, stream):
    """A broken answer: 500 api_error before the first event; ``event: error`` once content has been sent."""
    word = mark()
    outcome = raw_call(stack, body_for(surface, f"{WORDS} {word} [[fault:malformed-json]]", stream))
    if stream and surface in STREAMING_SURFACES:
        assert_stream_error_after_content(outcome, "api_error")
    else:
        error = assert_error(outcome, 500, "api_error")
        assert "malformed" in error["message"].lower()
    assert backend_calls(stack, word) == 1


@pytest.mark.parametrize("fault", ["drop-mid-stream", "exception-mid-stream", "malformed-json"])
@pytest.mark.parametrize("surface", STREAMING_SURFACES)
def test_mid_stream_failure(stack, surface, fault):
    """Salesforce fails halfway: the client has partial content, then ``event: error``, never message_stop."""
    word = mark()
    text = f"{WORDS} {word} [[fault:{fault}]]"
    outcome = raw_call(stack, body_for(surface, text, True))
    assert_stream_error_after_content(outcome, "api_error")
    assert WORDS.startswith(outcome.text.strip()), outcome.text
    assert backend_calls(stack, word) == 1

    received, exc = sdk_stream_until_error(stack, surface, text)
    assert received and WORDS.startswith(received.strip()), received
    assert exc.body["error"]["type"] == "api_error"


SILENCE_MS = 4000  # how long the simulator stays silent in the timeout tests: 10x SF_READ_TIMEOUT


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("surface", SURFACES)
def test_timeout_before_first_byte(timeouts, surface, stream):
    """Salesforce silent for longer than SF_READ_TIMEOUT before anything: 504 timeout_error, promptly.

    The simulator would answer after 4 s, ten times the 0.4 s read timeout: an answer in under half that
    came from the gateway's read timeout, whatever the machine's load adds to it.
    """
    text = f"hi {mark()} [[delay:{SILENCE_MS}]]"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        sdk = pool.submit(sdk_call, timeouts, surface, text, stream)
        outcome = raw_call(timeouts, body_for(surface, text, stream))
        with pytest.raises(anthropic.GatewayTimeoutError):
            sdk.result()
    error = assert_error(outcome, 504, "timeout_error")
    assert "Salesforce" in error["message"]
    assert outcome.elapsed < SILENCE_MS / 1000 / 2, outcome.elapsed  # the read timeout, not the simulator's answer


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("surface", SURFACES)
def test_timeout_mid_answer(timeouts, surface, stream):
    """A stall longer than SF_READ_TIMEOUT: mid-stream it ends the stream with a timeout_error event;
    before a JSON answer (and the Models API's emulated stream) it is an HTTP 504."""
    word = mark()
    outcome = raw_call(timeouts, body_for(surface, f"{WORDS} {word} [[stall:1000]]", stream))
    if stream and surface in STREAMING_SURFACES:
        assert_stream_error_after_content(outcome, "timeout_error")
    else:
        assert_error(outcome, 504, "timeout_error")
    assert outcome.elapsed < 0.9, outcome.elapsed
    assert backend_calls(timeouts, word) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_oauth_endpoint_refused(module_stacks, stream):
    """The token URL is a closed port: a quick 500 api_error, not a hang."""
    built = module_stacks("oauth-refused", {"SF_TOKEN_URL": f"http://127.0.0.1:{closed_port()}/services/oauth2/token"})
    outcome = raw_call(built, body_for("bedrock_invoke", "hi", stream), timeout=10)
    error = assert_error(outcome, 500, "api_error")
    assert "OAuth" in error["message"] and "unreachable" in error["message"], error
    assert outcome.elapsed < 3, outcome.elapsed
    assert len(built.simulator.requests) == 0


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("surface", SURFACES)
def test_api_base_refused(module_stacks, surface, stream):
    """A valid token but the API base is a closed port: 500 api_error saying Salesforce is unreachable."""
    built = module_stacks(
        "api-refused", {"SF_API_BASE_URL": f"http://127.0.0.1:{closed_port()}", "SF_MAX_RETRIES": "0"}
    )
    outcome = raw_call(built, body_for(surface, "hi", stream), timeout=10)
    error = assert_error(outcome, 500, "api_error")
    assert "unreachable" in error["message"], error
    assert outcome.elapsed < 3, outcome.elapsed
    assert built.simulator.mint.minted == 1  # the token came (once, then cached); the model call never arrived
    assert not [r for r in built.simulator.requests if "oauth2" not in r["path"]]


def test_token_expiry_mints_a_new_token(make_stack):
    """One-second tokens: two requests two seconds apart both succeed, each with its own token, no 401."""
    built = make_stack(env={"SF_MAX_RETRIES": "0"}, sim_config=SimulatorConfig(token_ttl_seconds=1))
    word = mark()
    assert sdk_call(built, "bedrock_invoke", f"one {word}", False).content[0].text == f"one {word}"
    time.sleep(2)
    assert sdk_call(built, "bedrock_invoke", f"two {word}", True).content[0].text == f"two {word}"
    assert built.simulator.mint.minted == 2
    tokens = [r["headers"]["authorization"] for r in built.simulator.requests if "oauth2" not in r["path"]]
    assert len(tokens) == 2  # refreshed before expiry: no request was refused
    assert tokens[0] != tokens[1]


def test_revoked_token_is_reminted_once(make_stack):
    """Salesforce stops accepting the cached token (401): the gateway mints a new one and succeeds."""
    built = make_stack(env={"SF_MAX_RETRIES": "0"})
    assert sdk_call(built, "chat_generations", "first", False).content[0].text == "first"
    built.simulator.mint = TokenMint(b"rotated-signing-key", 1800)  # every earlier token is now invalid
    assert sdk_call(built, "chat_generations", "second", False).content[0].text == "second"
    assert built.simulator.mint.minted == 1
    model_calls = [r for r in built.simulator.requests if "oauth2" not in r["path"]]
    assert len(model_calls) == 3  # first, second (401), second again with the new token


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_oauth_outage_and_recovery(make_stack, monkeypatch, stream):
    monkeypatch.setattr(oauth, "FAILED_MINT_HOLD", 0.0)  # the shared failure's hold has its own tests
    built = make_stack(env={"SF_MAX_RETRIES": "0"}, sim_config=SimulatorConfig(client_secret="sf-secret-SECRET-9b2c"))
    built.simulator.config.oauth_fail_status = 500
    outcome = raw_call(built, body_for("bedrock_invoke", "hi", stream))
    error = assert_error(outcome, 500, "api_error")
    assert "Salesforce authentication failed" in error["message"], error
    assert "sf-secret-SECRET-9b2c" not in outcome.raw.decode()
    assert not [r for r in built.simulator.requests if "oauth2" not in r["path"]]  # no model call without a token
    built.simulator.config.oauth_fail_status = None
    assert sdk_call(built, "bedrock_invoke", "back again", stream).content[0].text == "back again"


# --- 2. the gateway's retries -----------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("surface", SURFACES)
def test_retry_then_success(retrying, surface, stream):
    word = mark()
    message = sdk_call(retrying, surface, f"{word} [[error:503:first-1]]", stream)
    assert message.content[0].text == word
    assert attempts(retrying, word) == 2
    assert backend_calls(retrying, word) == 2


@pytest.mark.parametrize("code", [500, 502, 504])
def test_retryable_statuses(retrying, code):
    word = mark()
    assert sdk_call(retrying, "bedrock_invoke", f"{word} [[error:{code}:first-1]]", False).content[0].text == word
    assert attempts(retrying, word) == 2


@pytest.mark.parametrize(("code", "status"), [(408, 504), (423, 529), (429, 429)])
def test_statuses_left_to_the_client(retrying, code, status):
    """Rate limits, busy and timeout answers go straight back: the client's SDK retries them itself."""
    word = mark()
    outcome = raw_call(retrying, body_for("bedrock_invoke", f"{word} [[error:{code}:first-1]]", False))
    assert outcome.status == status, outcome.raw[:300]
    assert attempts(retrying, word) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_retry_after_is_honoured(retrying, stream):
    """The gateway passes the 429 and its Retry-After on; the SDK's own retry waits it out, then succeeds."""
    word = mark()
    start = time.monotonic()
    message = sdk_call(retrying, "chat_generations", f"{word} [[error:429:first-1]]", stream, max_retries=1)
    assert message.content[0].text == word
    assert time.monotonic() - start >= 0.95  # Retry-After: 1
    assert attempts(retrying, word) == 2  # one per client attempt


@pytest.mark.parametrize("code", [400, 404])
@pytest.mark.parametrize("surface", SURFACES)
def test_client_errors_are_not_retried(retrying, surface, code):
    word = mark()
    outcome = raw_call(retrying, body_for(surface, f"{word} [[error:{code}:first-3]]", False))
    assert_error(outcome, code, "invalid_request_error" if code == 400 else "not_found_error")
    assert attempts(retrying, word) == 1
    outcome = raw_call(retrying, body_for(surface, f"{word} plain [[error:{code}]]", True))
    assert outcome.status == code
    assert backend_calls(retrying, f"{word} plain") == 1


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("surface", SURFACES)
def test_retries_exhausted(retrying, surface, stream):
    word = mark()
    outcome = raw_call(retrying, body_for(surface, f"{word} [[error:503:first-5]]", stream))
    assert_error(outcome, 529, "overloaded_error")
    assert attempts(retrying, word) == 2  # one try and the default single retry


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_429_never_retried_by_the_gateway(module_stacks, stream):
    """Even with retries configured, a 429 goes back at once with its Retry-After: no waiting here."""
    built = module_stacks("many-retries", {"SF_MAX_RETRIES": "5"})
    word = mark()
    outcome = raw_call(built, body_for("bedrock_invoke", f"{word} [[error:429:first-5]]", stream))
    assert_error(outcome, 429, "rate_limit_error")
    assert outcome.headers.get("retry-after") == "1"
    assert attempts(built, word) == 1


@pytest.mark.parametrize("fault", ["drop-mid-stream", "exception-mid-stream"])
@pytest.mark.parametrize("surface", STREAMING_SURFACES)
def test_stream_not_retried_after_bytes(retrying, surface, fault):
    word = mark()
    outcome = raw_call(retrying, body_for(surface, f"{WORDS} {word} [[fault:{fault}]]", True))
    assert_stream_error_after_content(outcome, "api_error")
    assert backend_calls(retrying, word) == 1


# --- 3. long waits ----------------------------------------------------------------------------------

# A delay before the first event long enough to pass the 0.3 s grace; the Models API answers once (JSON),
# the streaming surfaces pause before every chunk too, so a shorter pace keeps the test short.
SLOW_DELAY = {"models_api": 1200, "bedrock_invoke": 400, "chat_generations": 400, "responses": 400}
GRACE, KEEPALIVE, MARGIN = 0.3, 0.2, 0.3


@pytest.mark.parametrize("surface", SURFACES)
def test_slow_backend_commits_early_and_pings(slow, surface):
    word = mark()
    text = f"{word} [[delay:{SLOW_DELAY[surface]}]]"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        sdk = pool.submit(sdk_call, slow, surface, text, True)
        outcome = raw_call(slow, body_for(surface, text, True))
        message = sdk.result()
    assert message.content[0].text == word  # the SDK reads the committed stream, pings and all
    assert message.id.startswith("msg_")

    assert outcome.status == 200
    names = outcome.names
    assert names[0] == "message_start" and names.count("message_start") == 1, names
    start = outcome.events[0]
    assert start.at < GRACE + MARGIN, start.at
    assert start.data["message"]["id"].startswith("msg_")
    assert start.data["message"]["usage"]["input_tokens"] >= 1
    first_block = names.index("content_block_start")
    assert outcome.events[first_block].at > GRACE + 0.1  # the content came well after the commit
    assert names[1:first_block] and set(names[1:first_block]) == {"ping"}, names  # only pings while waiting
    gaps = [b.at - a.at for a, b in zip(outcome.events, outcome.events[1:], strict=False)]
    assert max(gaps) <= KEEPALIVE + MARGIN, gaps
    assert outcome.text == word
    assert names[-1] == "message_stop", f"events after message_stop: {names[names.index('message_stop') :]}"


@pytest.mark.parametrize(
    ("surface", "directives", "error_type"),
    [
        ("bedrock_invoke", "[[delay:400]] [[fault:exception-mid-stream]]", "api_error"),
        ("chat_generations", "[[delay:400]] [[fault:exception-mid-stream]]", "api_error"),
        ("models_api", "[[delay:800]] [[fault:error-body-200]]", "overloaded_error"),
        ("models_api", "[[delay:800]] [[fault:malformed-json]]", "api_error"),
    ],
)
def test_error_after_commit_ends_the_stream(slow, surface, directives, error_type):
    """The backend fails after the stream was committed (placeholder message_start sent): ``event: error``."""
    text = f"{mark()} {directives}"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        sdk = pool.submit(sdk_stream_until_error, slow, surface, text)
        outcome = raw_call(slow, body_for(surface, text, True))
        _, exc = sdk.result()
    assert exc.body["error"]["type"] == error_type

    assert outcome.status == 200
    names = outcome.names
    assert names[0] == "message_start" and names.count("message_start") == 1, names
    assert outcome.events[0].at < GRACE + MARGIN
    assert names[1] == "ping"
    assert names[-1] == "error" and "message_stop" not in names, names
    assert outcome.events[-1].data["error"]["type"] == error_type


@pytest.mark.parametrize("surface", SURFACES)
def test_error_within_grace_gets_http_status(slow, surface):
    client = slow.client()
    params = {"model": SURFACE_MODELS[surface], "max_tokens": 50, "messages": [{"role": "user", "content": "x"}]}
    params["messages"][0]["content"] = "hi [[error:503]]"
    with pytest.raises(anthropic.OverloadedError), client.messages.stream(**params):
        pass  # raised on entry: the HTTP status, before any event
    params["messages"][0]["content"] = "hi [[error:429]]"
    with pytest.raises(anthropic.RateLimitError) as caught, client.messages.stream(**params):
        pass
    assert caught.value.response.headers["retry-after"] == "1"


# --- 4. client disconnects --------------------------------------------------------------------------


@pytest.mark.parametrize("surface", SURFACES)
def test_disconnect_cancels_json_call(make_stack, surface):
    """The client gives up on a slow JSON call: the gateway hangs up on Salesforce too.

    The observable is the simulator's own: it counts the calls whose caller hung up before the answer was
    ready (``abandoned``), and the streams still being sent (``streams_open``).
    """
    built = make_stack(env={"SF_MAX_RETRIES": "0"})
    sdk_call(built, surface, "warm up", False)
    word = mark()
    with pytest.raises(httpx.ReadTimeout):
        raw_call(built, body_for(surface, f"{word} [[delay:1000]]", False), timeout=0.3)
    # The simulator notices when its caller hangs up before the answer (1 s away) is ready.
    gone_after = wait_until(lambda: built.simulator.abandoned == 1, timeout=0.6)
    assert gone_after is not None, "the gateway kept its Salesforce call running after the client left"
    assert backend_calls(built, word) == 1


@pytest.mark.parametrize("surface", SURFACES)
def test_disconnect_in_stream_grace_cancels_call(make_stack, surface):
    """The client leaves while the gateway still waits for the first event (default 10 s grace)."""
    built = make_stack(env={"SF_MAX_RETRIES": "0"})
    sdk_call(built, surface, "warm up", False)
    word = mark()
    with pytest.raises(httpx.ReadTimeout):
        raw_call(built, body_for(surface, f"{word} [[delay:1000]]", True), timeout=0.3)
    simulator = built.simulator

    def hung_up() -> bool:
        # models_api answers JSON (the simulator sees its caller hang up); the others stream (it ends).
        return simulator.abandoned == 1 if surface == "models_api" else simulator.streams_open == 0

    gone_after = wait_until(hung_up, timeout=0.6)
    assert gone_after is not None, "the gateway kept its Salesforce call running after the client left"


@pytest.mark.parametrize("surface", STREAMING_SURFACES)
def test_disconnect_mid_stream_cancels_call(make_stack, surface):
    built = make_stack(env={"SF_MAX_RETRIES": "0", "STREAM_GRACE_SECONDS": "0.3", "STREAM_KEEPALIVE_SECONDS": "0.2"})
    sdk_call(built, surface, "warm up", False)
    word = mark()
    headers = {"x-api-key": "test-key", "anthropic-version": VERSION}
    body = body_for(surface, f"{WORDS} {WORDS} {word} [[delay:300]]", True)
    simulator = built.simulator
    with (
        httpx.Client(base_url=built.gateway_url, headers=headers, timeout=10) as http,
        http.stream("POST", "/v1/messages", json=body) as response,
    ):
        assert response.status_code == 200
        open_while_reading = None
        for line in response.iter_lines():
            if line.startswith("event: content_block_delta"):
                open_while_reading = simulator.streams_open
                # The same counter over HTTP, as `make load` reads it from the simulator's own process.
                stats_while_reading = httpx.get(f"{built.simulator_url}/simulator/stats").json()
                break  # leaving the loop closes the client's connection
    assert open_while_reading == 1  # the backend stream was open while the client read
    assert stats_while_reading["streams_open"] == 1
    # The client is gone; the whole answer would take ~4 s at this pace. The simulator's stream ends
    # only when the gateway hangs up on it.
    gone_after = wait_until(lambda: simulator.streams_open == 0, timeout=0.8)
    assert gone_after is not None, "the Salesforce stream stayed open after the client left"
    assert httpx.get(f"{built.simulator_url}/simulator/stats").json()["streams_open"] == 0
    assert backend_calls(built, word) == 1


# --- 5. secrets -------------------------------------------------------------------------------------

SF_SECRET = "sf-secret-SECRET-9b2c"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name} {text} {record.__dict__}")


@pytest.fixture
def captured_logs() -> Iterator[tuple[Collect, io.StringIO]]:
    """Every record of the gateway's (and uvicorn's) loggers, raw, and what the gateway's own handler prints."""
    collect = Collect()
    names = ["gateway", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore", ""]
    loggers = [logging.getLogger(n) for n in names]
    for lg in loggers:
        lg.addHandler(collect)
    logs.configure()  # the handler the gateway prints through exists from the first app on; make sure of it
    gateway = logging.getLogger("gateway")
    level = gateway.level
    gateway.setLevel(logging.DEBUG)
    printed = io.StringIO()
    streams = [
        (h, h.setStream(printed)) for h in gateway.handlers if isinstance(h, logging.StreamHandler) and h is not collect
    ]
    try:
        yield collect, printed
    finally:
        for handler, old in streams:
            handler.setStream(old)
        gateway.setLevel(level)
        for lg in loggers:
            lg.removeHandler(collect)


def test_no_secret_leaks(make_stack, captured_logs, capsys, monkeypatch):
    collect, printed = captured_logs
    monkeypatch.setattr(oauth, "FAILED_MINT_HOLD", 0.0)  # each outage below ends when the simulator's does
    env = {
        "GATEWAY_API_KEYS": KEY,
        "SF_MAX_RETRIES": "0",
        "SF_READ_TIMEOUT": "0.4",
        "STREAM_GRACE_SECONDS": "1.5",
        "STREAM_KEEPALIVE_SECONDS": "0.2",
    }
    config = SimulatorConfig(client_secret=SF_SECRET)
    built = make_stack(env=env, sim_config=config)
    refused = make_stack(
        env={**env, "SF_TOKEN_URL": f"http://127.0.0.1:{closed_port()}/t"},
        sim_config=SimulatorConfig(client_secret=SF_SECRET),
    )
    texts: list[str] = []
    client_headers = {"anthropic-beta": "interleaved-thinking-2025-05-14"}

    def raw(target: Stack, body: dict, headers: dict[str, str] | None = None, **kwargs) -> None:
        kwargs.setdefault("api_key", KEY)
        outcome = raw_call(target, body, headers={**client_headers, **(headers or {})}, **kwargs)
        texts.append(outcome.raw.decode("utf-8", "replace"))
        texts.append(json.dumps(dict(outcome.headers)))

    def via_sdk(target: Stack, surface: str, text: str, stream: bool, **kwargs) -> None:
        kwargs.setdefault("api_key", KEY)
        try:
            client = target.client(**kwargs)
            params = {
                "model": SURFACE_MODELS.get(surface, surface),
                "max_tokens": 50,
                "messages": [{"role": "user", "content": text}],
            }
            if stream:
                with client.messages.stream(**params) as s:
                    s.get_final_message()
            else:
                client.messages.create(**params)
        except anthropic.APIError as exc:
            texts.extend([str(exc), repr(exc), json.dumps(getattr(exc, "body", None))])
            response = getattr(exc, "response", None)
            if response is not None:
                texts.append(json.dumps(dict(response.headers)))

    # OAuth outage first, before any token exists
    built.simulator.config.oauth_fail_status = 500
    for stream in (False, True):
        raw(built, body_for("bedrock_invoke", "hi", stream))
        via_sdk(built, "bedrock_invoke", "hi", stream)
    built.simulator.config.oauth_fail_status = None
    raw(refused, body_for("bedrock_invoke", "hi", False))  # OAuth endpoint refused
    # client errors: validation, wrong / missing key (in both header forms), unknown model, refused model
    raw(built, body_for("bedrock_invoke", "hi", False, temperature=2))
    raw(built, body_for("bedrock_invoke", "hi", False), api_key=KEY + "x")
    raw(built, body_for("bedrock_invoke", "hi", False), api_key="")
    raw(built, body_for("bedrock_invoke", "hi", True), api_key="wrong", headers={"authorization": f"Bearer {KEY}x"})
    raw(built, body_for("bedrock_invoke", "hi", False, model="no-such-model"))
    raw(built, body_for("bedrock_invoke", "hi", False, model="claude-opus-4-1"))
    raw(built, {"model": "claude-sonnet-4-5", "messages": []}, path="/v1/messages/count_tokens")
    via_sdk(built, "bedrock_invoke", "hi", False, api_key="wrong-key")
    # backend failures on every surface, streaming and not
    directives = [
        "[[error:429]]",
        "[[error:500]]",
        "[[error:503]]",
        "[[error:401]]",
        "[[error:403]]",
        "[[delay:1000]]",
        "[[stall:1000]]",
        "[[fault:error-body-200]]",
        "[[fault:empty-body]]",
        "[[fault:malformed-json]]",
        "[[fault:drop-mid-stream]]",
        "[[fault:exception-mid-stream]]",
    ]
    with concurrent.futures.ThreadPoolExecutor(12) as pool:  # independent calls: in parallel, to save time
        jobs = [
            job
            for surface in SURFACES
            for directive in directives
            for job in (
                pool.submit(raw, built, body_for(surface, f"{WORDS} {directive}", False)),
                pool.submit(raw, built, body_for(surface, f"{WORDS} {directive}", True)),
                pool.submit(via_sdk, built, surface, f"{WORDS} {directive}", True),
            )
        ]
        for job in jobs:
            job.result()
    # a revoked token with the OAuth endpoint down
    built.simulator.mint = TokenMint(b"rotated", 1800)
    built.simulator.config.oauth_fail_status = 503
    raw(built, body_for("chat_generations", "hi", False))
    built.simulator.config.oauth_fail_status = None
    raw(built, body_for("chat_generations", "hi again", True))
    time.sleep(0.7)  # let the simulator's stalled answers finish, so every log line is written

    out, err = capsys.readouterr()
    everything = "\n".join([*texts, *collect.lines, printed.getvalue(), out, err])
    tokens = {
        r["headers"]["authorization"].removeprefix("Bearer ")
        for target in (built, refused)
        for r in target.simulator.requests
        if "authorization" in r["headers"]
    }
    assert len(tokens) >= 2
    assert "Salesforce authentication failed" in everything  # the capture did see the error paths
    assert any("stream failed" in line for line in collect.lines)  # the raw records were captured
    assert "POST /v1/messages 5" in printed.getvalue()  # and what the gateway's own handler printed
    assert KEY not in everything
    assert SF_SECRET not in everything
    for token in tokens:
        assert token not in everything
        assert token.split(".")[2] not in everything  # not even the signature
    # nothing of the client's credentials or Anthropic headers is forwarded
    for target in (built, refused):
        for request in target.simulator.requests:
            headers = {k.lower(): v for k, v in request["headers"].items()}
            assert "x-api-key" not in headers
            assert not any(k.startswith("anthropic-") for k in headers), headers
            assert KEY not in json.dumps(headers) and KEY not in request["body"]


# --- 6. client authentication -----------------------------------------------------------------------

GUARDED = [
    ("POST", "/v1/messages", {"json": body_for("bedrock_invoke", "hi", False)}),
    ("POST", "/v1/messages", {"json": body_for("bedrock_invoke", "hi", True)}),
    (
        "POST",
        "/v1/messages/count_tokens",
        {"json": {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}},
    ),
    ("GET", "/v1/models", {}),
    ("GET", "/v1/models/claude-sonnet-4-5", {}),
    ("GET", "/v1/models/no-such-model", {}),
    ("GET", "/v1/unknown", {}),
    ("POST", "/v2/messages", {"json": {}}),
    ("DELETE", "/v1/messages", {}),
    ("GET", "/health/deep", {}),
]
NO_KEY = {"anthropic-version": VERSION}
BAD_KEYS = {
    "missing": {},
    "empty-x-api-key": {"x-api-key": ""},
    "bearer-without-token": {"authorization": "Bearer"},
    "wrong-x-api-key": {"x-api-key": KEY + "-nope"},
    "wrong-bearer": {"authorization": "Bearer nope"},
    "basic-auth": {"authorization": f"Basic {KEY}"},
    "prefix": {"x-api-key": KEY[:-1]},
}


@pytest.mark.parametrize("bad", list(BAD_KEYS))
@pytest.mark.parametrize(("method", "path", "kwargs"), GUARDED, ids=[f"{m} {p}" for m, p, _ in GUARDED])
def test_key_required(keyed, method, path, kwargs, bad):
    with httpx.Client(base_url=keyed.gateway_url, headers={**NO_KEY, **BAD_KEYS[bad]}, timeout=10) as http:
        response = http.request(method, path, **kwargs)
    assert response.status_code == 401, (response.status_code, response.text)
    body = response.json()
    assert body["error"]["type"] == "authentication_error"
    assert KEY not in response.text


@pytest.mark.parametrize("form", ["x-api-key", "bearer", "bearer-lowercase"])
@pytest.mark.parametrize(("method", "path", "kwargs"), GUARDED[:5], ids=[f"{m} {p}" for m, p, _ in GUARDED[:5]])
def test_key_accepted_in_both_header_forms(keyed, method, path, kwargs, form):
    headers = {
        "x-api-key": {"x-api-key": KEY},
        "bearer": {"authorization": f"Bearer {KEY}"},
        "bearer-lowercase": {"authorization": f"bearer {KEY}"},
    }[form]
    with httpx.Client(base_url=keyed.gateway_url, headers={**NO_KEY, **headers}, timeout=10) as http:
        response = http.request(method, path, **kwargs)
    assert response.status_code == 200, response.text


def test_unknown_path_with_key_is_404(keyed):
    with httpx.Client(base_url=keyed.gateway_url, headers={**NO_KEY, "x-api-key": KEY}, timeout=10) as http:
        assert http.get("/v1/unknown").status_code == 404


@pytest.mark.parametrize(("method", "path"), [("HEAD", "/"), ("GET", "/health")])
def test_open_paths(keyed, method, path):
    with httpx.Client(base_url=keyed.gateway_url, timeout=10) as http:
        assert http.request(method, path).status_code == 200


def test_sdk_auth_token_and_api_key(keyed, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert sdk_call(keyed, "bedrock_invoke", "hi", False, api_key=KEY).content[0].text == "hi"
    client = anthropic.Anthropic(base_url=keyed.gateway_url, auth_token=KEY, api_key=None, max_retries=0)
    message = client.messages.create(
        model=SURFACE_MODELS["chat_generations"], max_tokens=20, messages=[{"role": "user", "content": "yo"}]
    )
    assert message.content[0].text == "yo"
