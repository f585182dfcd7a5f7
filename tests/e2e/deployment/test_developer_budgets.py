"""Several developers on one local gateway (``make run`` with a key file), through the real ``anthropic`` SDK:
Bearer-only and x-api-key-only clients, a monthly token budget, usage per developer, attribution in logs
and metrics."""

from __future__ import annotations

import json
import logging
import re

import anthropic
import httpx
import pytest
from support.outcomes import VERSION, WORDS, body_for, wait_until
from support.template import TEMPLATE

from gateway.keys.cli import Keys
from gateway.keys.local import FileKeyStore
from gateway.keys.model import month_of, month_reset
from gateway.telemetry import EmfTelemetry, RequestSample

MODEL = "claude-sonnet-4-5"
SESSION = "0b7c8d0e-5f7a-4c1e-9a53-2f1f6f1d2c11"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def requests(self) -> list[logging.LogRecord]:
        return [r for r in self.records if hasattr(r, "latency_ms")]


@pytest.fixture
def records():
    handler = Records()
    logger = logging.getLogger("gateway")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def team(make_stack, tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    path = tmp_path / "keys.json"
    keys = Keys(FileKeyStore(path))
    secrets = {"ada": keys.create("ada", budget=30), "bob": keys.create("bob")}
    stack = make_stack(env={"GATEWAY_KEYS_FILE": str(path), "GATEWAY_API_KEYS": "shared-env-key-1234"})
    return stack, keys, secrets


def spent(usage) -> int:
    return sum(
        getattr(usage, n) or 0
        for n in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    )


def test_two_developers_one_over_budget_bearer_and_x_api_key_clients(team, records):
    stack, keys, secrets = team
    # ANTHROPIC_AUTH_TOKEN: Authorization: Bearer only. SDK default retries.
    ada = anthropic.Anthropic(
        base_url=stack.gateway_url,
        api_key=None,
        auth_token=secrets["ada"],
        max_retries=2,  # the SDK default: a retried 429 would show as a third log line
        default_headers={"x-claude-code-session-id": SESSION},
    )
    # ANTHROPIC_API_KEY: x-api-key only.
    bob = anthropic.Anthropic(base_url=stack.gateway_url, api_key=secrets["bob"], max_retries=0)

    first = ada.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hello " * 20}])
    assert spent(first.usage) >= 30, "the first answer uses up ada's 30-token budget"
    backend_before = len(stack.backend_requests())
    with pytest.raises(anthropic.RateLimitError) as caught:
        ada.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "again"}])
    error = caught.value
    assert error.response.headers["x-should-retry"] == "false"
    message = error.body["error"]["message"]
    assert "ada" in message and "30" in message and month_reset(month_of()) in message, message
    assert len(stack.backend_requests()) == backend_before, "an over-budget request never reaches Salesforce"

    answers = [bob.messages.create(model=MODEL, max_tokens=32, messages=[{"role": "user", "content": "hi bob"}])]
    with bob.messages.stream(model=MODEL, max_tokens=32, messages=[{"role": "user", "content": "stream"}]) as stream:
        answers.append(stream.get_final_message())

    env_client = stack.client(api_key="shared-env-key-1234")  # GATEWAY_API_KEYS keeps working
    env_client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.AuthenticationError):
        stack.client(api_key="sfgwNotAKeyNotAKeyNotAKeyNotAKey").models.list()

    usage = {row["developer"]: row for row in keys.usage()}
    assert usage["ada"]["tokens"] == spent(first.usage) and usage["ada"]["requests"] == 1
    assert usage["bob"]["tokens"] == sum(spent(a.usage) for a in answers) and usage["bob"]["requests"] == 2
    assert usage["bob"]["budget"] is None and usage["ada"]["resets"] == month_reset(month_of())

    lines = records.requests()
    by_dev = {}
    for record in lines:
        by_dev.setdefault(record.developer, []).append(record)
    assert set(by_dev) >= {"ada", "bob", "env-key-1"}
    ada_lines = [(r.status, r.session_id) for r in by_dev["ada"]]
    assert ada_lines == [(200, SESSION), (429, SESSION)], "the 429 is not retried by the SDK"
    assert all(r.model.startswith(MODEL) for r in by_dev["ada"])
    bob_ok = [r for r in by_dev["bob"] if r.status == 200 and r.route == "messages"]
    assert [r.input_tokens for r in bob_ok] == [a.usage.input_tokens for a in answers]
    assert [r.output_tokens for r in bob_ok] == [a.usage.output_tokens for a in answers]
    everything = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in records.records)
    for secret in secrets.values():
        assert secret not in everything, "a key reached the logs"

    # The dashboard's "by developer" query reads fields the request log line really has.
    query = re.search(r'"query": "([^"]+)"', TEMPLATE.read_text()).group(1)
    used = set(
        re.findall(
            r"\b(developer|route|input_tokens|output_tokens|cache_read_tokens|"
            r"cache_creation_tokens|session_id|latency_ms|status)\b",
            query,
        )
    )
    assert used >= {"developer", "input_tokens", "output_tokens", "session_id", "latency_ms", "status"}
    for field in used:
        assert hasattr(bob_ok[0], field), field


def test_a_revoked_developer_is_refused_and_an_empty_key_file_stays_open(make_stack, tmp_path):
    path = tmp_path / "keys.json"
    open_stack = make_stack(env={"GATEWAY_KEYS_FILE": str(path)})  # no key created yet: open, as make run was
    assert open_stack.client(api_key="anything").models.list().data
    keys = Keys(FileKeyStore(path))
    secret = keys.create("eve")
    with pytest.raises(anthropic.AuthenticationError):  # the first key closes the gateway to others
        open_stack.client(api_key="anything").models.list()
    assert open_stack.client(api_key=secret).models.list().data
    stack = make_stack(env={"GATEWAY_KEYS_FILE": str(path), "KEY_CACHE_SECONDS": "0"})
    keys.revoke("eve")
    with pytest.raises(anthropic.AuthenticationError) as caught:
        stack.client(api_key=secret).models.list()
    assert caught.value.response.headers["x-should-retry"] == "false"


def test_emf_metrics_per_developer(capsys):
    sample = RequestSample(
        route="messages",
        started=0.0,
        status=200,
        model=MODEL,
        developer="ada",
        input_tokens=10,
        output_tokens=5,
        cache_read_tokens=3,
    )
    EmfTelemetry("SfAnthropicGateway/test").record(sample)
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    per_dev = {}
    for blob in blobs:
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                if "Developer" in directive["Dimensions"][0]:
                    per_dev[metric["Name"]] = (blob["Developer"], blob[metric["Name"]])
    assert per_dev == {"DeveloperRequests": ("ada", [1.0]), "DeveloperTokens": ("ada", [18.0])}


def test_a_stream_the_client_leaves_midway_still_counts(team):
    """Leaving a stream before its end (Claude Code's Esc, or on purpose) must not make it free: the
    Salesforce call already cost its input tokens, so the budget still sees them."""
    stack, keys, secrets = team
    headers = {"authorization": f"Bearer {secrets['bob']}", "anthropic-version": VERSION}
    body = body_for("bedrock_invoke", f"{WORDS} {WORDS} {WORDS} [[delay:300]]", True)
    with (
        httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=10) as http,
        http.stream("POST", "/v1/messages", json=body) as response,
    ):
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event: content_block_delta"):
                break  # leaving the loop closes the connection long before the answer ends

    def counted() -> bool:
        return keys.store.get_usage("bob", month_of()).tokens > 0

    assert wait_until(counted, timeout=5) is not None, "the abandoned stream's tokens were never counted"
    assert keys.store.get_usage("bob", month_of()).requests == 1
