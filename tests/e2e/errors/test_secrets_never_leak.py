"""Secrets never leave the process: the client's key, Salesforce's client secret and its tokens appear in no
log record, printed line, body, header or SDK exception, across OAuth outages, client errors and every backend
failure on every surface; and none of the client's credentials or Anthropic headers reach Salesforce."""

from __future__ import annotations

import concurrent.futures
import io
import json
import logging
import time
from collections.abc import Iterator

import anthropic
import pytest
from support.outcomes import SURFACES, WORDS, body_for, raw_call
from support.sockets import closed_port
from support.stacks import SURFACE_MODELS, Stack

from gateway import logs
from gateway.salesforce import oauth
from simulator.app import SimulatorConfig
from simulator.oauth import TokenMint

KEY = "client-key-SECRET-7f3a"

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
