"""Thinking per Claude generation on the Bedrock invoke surface, through the anthropic SDK and the simulator.

The simulator follows salesforce-evidence.md: the Claude 4.6+ aliases take only adaptive thinking (``enabled``
is a 400) and no sampling fields while thinking; older models answer thinking, thinking history and betas with
a 502 "No user context has been created!". The gateway converts for the former, and for the latter retries
once without them, remembers that in the verification store, and counts it (``ThinkingFallbacks``).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import anthropic
import pytest
from support.stacks import Stack, stop_all

from gateway.app import create_app
from gateway.catalog.learned import NO_THINKING, LearnedFacts
from gateway.http_server import ServerThread
from gateway.settings import Settings
from gateway.stores.aws import DynamoDBVerificationCache
from gateway.telemetry import EmfTelemetry
from simulator.app import SimulatorConfig, create_simulator_app

PREFIX = "sfdc_ai__DefaultBedrockAnthropic"
# Each id Claude Code and the SDKs use today, and the Salesforce alias that must serve it (issue 10, item 1).
ALIASES = {
    "claude-sonnet-5": "Claude5Sonnet",
    "claude-opus-4-8": "Claude48Opus",
    "claude-opus-4-7": "Claude47Opus",
    "claude-opus-4-6": "Claude46Opus",
    "claude-sonnet-4-6": "Claude46Sonnet",
    "claude-opus-5-5": "Claude48Opus",  # newer than the catalog: the newest of its family
    "claude-sonnet-5-5": "Claude5Sonnet",
    "claude-haiku-5-5": "Claude45Haiku",
    "claude-sonnet-4-5": "Claude45Sonnet",
}
ADAPTIVE = ["claude-sonnet-5", "claude-opus-4-8", "claude-opus-4-7", "claude-opus-4-6", "claude-sonnet-4-6"]
OLDER = "claude-sonnet-4-5"
OLDER_ALIAS = PREFIX + "Claude45Sonnet"
THINK = "[[think]]"
streamed = pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])


def marker() -> str:
    return f"mk{uuid.uuid4().hex[:12]}"


def ask(client: anthropic.Anthropic, stream: bool, **params) -> anthropic.types.Message:
    if not stream:
        return client.messages.create(**params)
    with client.messages.stream(**params) as events:
        return events.get_final_message()


def sent(stack, needle: str) -> list[tuple[str, dict]]:
    """(path, body) of every call the gateway made to Salesforce whose body holds ``needle``, oldest first."""
    return [(r["path"], json.loads(r["body"])) for r in stack.backend_requests("/model/") if needle in r["body"]]


class RecordedMetrics(EmfTelemetry):
    """The deployment's telemetry (its ``record``), with each metric kept instead of printed as EMF."""

    def __init__(self) -> None:
        super().__init__("test")
        self.emitted: list[tuple[str, float, dict]] = []

    def _emit(self, name: str, value: float, **dimensions: str) -> None:
        self.emitted.append((name, value, dimensions))

    def count(self, name: str) -> int:
        return sum(int(value) for metric, value, _ in self.emitted if metric == name)


@dataclass
class Rig(Stack):
    metrics: RecordedMetrics | None = None
    services: object = None


@pytest.fixture
def rig() -> Iterator[Callable[..., Rig]]:
    """A simulator + gateway pair whose telemetry and services the test can read; ``front`` wraps the
    simulator's ASGI app (to change what Salesforce's answers look like on the wire)."""
    running: list = []

    def build(env: dict | None = None, sim_config: SimulatorConfig | None = None, front=None) -> Rig:
        config = sim_config or SimulatorConfig()
        sim_app = create_simulator_app(config)
        sim = ServerThread(front(sim_app) if front else sim_app).start()
        running.append(sim)
        settings = Settings.from_env(
            {
                "SF_TOKEN_URL": f"{sim.url}/services/oauth2/token",
                "SF_CLIENT_ID": config.client_id,
                "SF_CLIENT_SECRET": config.client_secret,
                "SF_MAX_RETRIES": "0",
                **(env or {}),
            }
        )
        metrics = RecordedMetrics()
        app = create_app(settings=settings, telemetry=metrics)
        gateway = ServerThread(app).start()
        running.append(gateway)
        return Rig(sim.url, gateway.url, sim_app.state.simulator, settings, metrics, app.state.services)

    yield build
    stop_all(running)


def wait_for(check: Callable[[], bool]) -> bool:
    """Telemetry is recorded as the response ends, just after the client has it."""
    for _ in range(200):
        if check():
            return True
        time.sleep(0.02)
    return check()


# ------------------------------ 1. exact aliases


@pytest.mark.parametrize("model", list(ALIASES))
def test_each_current_id_reaches_its_salesforce_alias(stack, model):
    text = f"which alias {marker()}"
    message = stack.client().messages.create(model=model, max_tokens=50, messages=[{"role": "user", "content": text}])
    assert message.model == model
    assert [b.text for b in message.content] == [text]
    ((path, _),) = sent(stack, text)
    assert path == f"/ai/gpt/v1/model/{PREFIX}{ALIASES[model]}/invoke"


# ------------------------------ 2. Claude 4.6+: adaptive only


@pytest.mark.parametrize("model", ADAPTIVE)
@streamed
def test_adaptive_is_kept_for_new_models(stack, model, stream):
    text = f"adaptive {marker()}"
    # "display" is Claude Code's: Bedrock is sent thinking in the form verified on real orgs only.
    params = {"thinking": {"type": "adaptive", "display": "omitted"}, "output_config": {"effort": "medium"}}
    message = ask(
        stack.client(),
        stream,
        model=model,
        max_tokens=4000,
        messages=[{"role": "user", "content": f"{text} {THINK}"}],
        **params,
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].signature
    ((_, body),) = sent(stack, text)
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "medium"}


@pytest.mark.parametrize(
    ("budget", "client_effort", "effort"),
    [
        (1024, None, "low"),
        (2048, None, "low"),
        (4096, None, "medium"),
        (8192, None, "medium"),
        (16000, None, "high"),
        (16000, "low", "low"),
    ],
)
@streamed
def test_enabled_becomes_adaptive_with_an_effort(stack, budget, client_effort, effort, stream):
    text = f"enabled {marker()}"
    extra: dict = {"temperature": 1, "top_p": 0.99}  # allowed by Anthropic while thinking, refused by the model
    if client_effort:
        extra["output_config"] = {"effort": client_effort}
    message = ask(
        stack.client(),
        stream,
        model="claude-opus-4-8",
        max_tokens=20000,
        thinking={"type": "enabled", "budget_tokens": budget},
        messages=[{"role": "user", "content": f"{text} {THINK}"}],
        extra_body=extra,
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    ((_, body),) = sent(stack, text)
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": effort}
    assert not {"temperature", "top_p", "top_k"} & set(body)


@streamed
def test_signed_history_passes_on_new_models(stack, stream):
    client = stack.client()
    first = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=2000,
        thinking={"type": "adaptive"},
        messages=[{"role": "user", "content": f"first {THINK}"}],
    )
    follow = f"then {marker()}"
    history = [
        {"role": "user", "content": f"first {THINK}"},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": follow},
    ]
    second = ask(
        client, stream, model="claude-sonnet-4-6", max_tokens=2000, thinking={"type": "adaptive"}, messages=history
    )
    assert second.content[-1].text == follow
    ((_, body),) = sent(stack, follow)
    assert body["messages"][1]["content"][0]["signature"] == first.content[0].signature


# ------------------------------ 3. older models: the 502, survived and remembered


@streamed
def test_the_502_is_survived_remembered_and_counted(rig, stream):
    built = rig()
    gateway_log = logging.getLogger("gateway")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    gateway_log.addHandler(handler)
    try:
        answers = []
        for n in range(2):
            text = f"turn {n} {marker()}"
            answers.append(
                ask(
                    built.client(default_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"}),
                    stream,
                    model=OLDER,
                    max_tokens=4000,
                    thinking={"type": "enabled", "budget_tokens": 2000},
                    messages=[{"role": "user", "content": f"{text} {THINK}"}],
                )
            )
            calls = sent(built, text)
            if n == 0:  # the refused attempt, then the same request without thinking and betas
                assert len(calls) == 2, calls
                assert "thinking" in calls[0][1] and calls[0][1]["anthropic_beta"]
            else:  # remembered: one call, plain from the start
                assert len(calls) == 1, calls
            assert "thinking" not in calls[-1][1] and "anthropic_beta" not in calls[-1][1]
            assert answers[-1].content[-1].text == text
    finally:
        gateway_log.removeHandler(handler)
    assert all(a.type == "message" and [b.type for b in a.content] == ["text"] for a in answers)
    store = built.services.verification
    assert store.get(LearnedFacts.key(NO_THINKING, OLDER_ALIAS)) is True
    told = [r.getMessage() for r in records if OLDER_ALIAS in r.getMessage()]
    assert len(told) == 1 and "refused thinking" in told[0], told
    assert built.settings.sf_client_secret not in told[0]
    assert wait_for(lambda: built.metrics.count("ThinkingFallbacks") == 2), built.metrics.emitted
    dims = {json.dumps(d) for name, _, d in built.metrics.emitted if name == "ThinkingFallbacks"}
    assert dims == {json.dumps({"Model": "claude-sonnet-4-5-20250929"})}


@streamed
def test_thinking_history_on_an_older_model(stack, stream):
    client = stack.client()
    first = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=2000,
        thinking={"type": "adaptive"},
        messages=[{"role": "user", "content": f"begun on 4.6 {THINK}"}],
    )
    follow = f"continued on 4.5 {marker()}"
    history = [
        {"role": "user", "content": f"begun on 4.6 {THINK}"},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": "and"},
        {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "RWRhY3RlZA=="}]},
        {"role": "user", "content": follow},
    ]
    answer = ask(client, stream, model=OLDER, max_tokens=2000, messages=history)
    assert answer.content[-1].text == follow
    body = sent(stack, follow)[-1][1]
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user"]  # the thinking-only turn dropped, its neighbours merged
    kinds = [b["type"] for m in body["messages"] for b in m["content"]]
    assert "thinking" not in kinds and "redacted_thinking" not in kinds
    assert body["messages"][1]["content"] == [{"type": "text", "text": first.content[-1].text}]


def test_a_refusal_that_names_thinking_is_survived_too(rig, tmp_path):
    """A map that says Sonnet 4.6 takes "enabled" (an operator's, or one older than the evidence): Salesforce's
    400 names thinking, and the request is answered without it."""
    doc = {
        "models": [
            {
                "id": "sonnet-as-older",
                "salesforce_model": PREFIX + "Claude46Sonnet",
                "surface": "bedrock_invoke",
                "thinking": "enabled",
            }
        ]
    }
    (tmp_path / "map.json").write_text(json.dumps(doc))
    built = rig(env={"MODEL_MAP_PATH": str(tmp_path / "map.json")})
    text = f"named {marker()}"
    message = built.client().messages.create(
        model="sonnet-as-older",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[{"role": "user", "content": text}],
    )
    assert message.content[-1].text == text
    calls = [body for _, body in sent(built, text)]
    assert [("thinking" in body) for body in calls] == [True, False]


def test_a_forged_signature_is_not_taken_for_a_refusal(stack):
    history = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "x", "signature": "Zm9yZ2Vk"}, {"type": "text", "text": "a"}],
        },
        {"role": "user", "content": "next"},
    ]
    with pytest.raises(anthropic.BadRequestError) as caught:
        stack.client().messages.create(model="claude-opus-4-8", max_tokens=2000, messages=history)
    assert "signature" in str(caught.value)


@streamed
def test_the_retry_stays_within_the_deadline(rig, stream):
    """Each call takes 0.6 s and the deadline is 1 s: the refused attempt fits, the retry does not."""
    built = rig(
        env={"SF_DEADLINE_SECONDS": "1"},
        sim_config=SimulatorConfig(slow_models={OLDER_ALIAS: 0.6}),
    )
    with pytest.raises(anthropic.APIStatusError) as caught:
        ask(
            built.client(),
            stream,
            model=OLDER,
            max_tokens=4000,
            thinking={"type": "enabled", "budget_tokens": 2000},
            messages=[{"role": "user", "content": "slow"}],
        )
    assert caught.value.status_code == 504
    assert caught.value.body["error"]["type"] == "timeout_error"


def test_what_is_learned_is_shared_through_dynamodb(aws):
    """Two containers: what one learns, the other reads from the table (with the table's TTL)."""
    import asyncio

    table = f"learned-{uuid.uuid4().hex[:8]}"
    aws.client("dynamodb").create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    first, second = (LearnedFacts(DynamoDBVerificationCache(table, ttl=600)) for _ in range(2))

    async def scenario() -> tuple[bool, bool, bool]:
        before = await second.holds(NO_THINKING, OLDER_ALIAS)
        await first.learn(NO_THINKING, OLDER_ALIAS)
        other = LearnedFacts(DynamoDBVerificationCache(table, ttl=600))  # a container that never asked before
        return before, await other.holds(NO_THINKING, OLDER_ALIAS), await other.holds(NO_THINKING, "sfdc_ai__X")

    assert asyncio.run(scenario()) == (False, True, False)
    item = aws.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": f"learned/{NO_THINKING}/{OLDER_ALIAS}"}})
    assert 0 < float(item["Item"]["expires_at"]["N"]) - time.time() <= 600


# ------------------------------ 4. Bedrock tolerance


def relabelled(kind: str):
    """An ASGI wrapper that changes the simulator's streamed answers as Salesforce has been seen to, or might."""

    def wrap(app):
        async def front(scope, receive, send):
            if scope["type"] != "http" or not scope["path"].endswith("/invoke-with-response-stream"):
                await app(scope, receive, send)
                return

            async def altered(message):
                if message["type"] == "http.response.start" and message["status"] == 200:
                    headers = [(k, v) for k, v in message["headers"] if k.lower() != b"content-type"]
                    if kind == "text-error":
                        await send(
                            {
                                "type": "http.response.start",
                                "status": 200,
                                "headers": [(b"content-type", b"text/plain")],
                            }
                        )
                        await send({"type": "http.response.body", "body": b"upstream connect error or disconnect"})
                        return
                    message = dict(message, headers=[*headers, (b"content-type", b"application/octet-stream")])
                elif kind == "text-error" and message["type"] == "http.response.body":
                    return
                await send(message)

            await app(scope, receive, altered)

        return front

    return wrap


def test_a_stream_is_known_by_its_framing(rig):
    built = rig(front=relabelled("octet-stream"))
    text = f"framed {marker()}"
    with built.client().messages.stream(
        model="claude-opus-4-8", max_tokens=100, messages=[{"role": "user", "content": text}]
    ) as events:
        message = events.get_final_message()
    assert message.content[0].text == text and message.stop_reason == "end_turn"


@pytest.mark.parametrize("kind", ["json", "text"])
def test_a_200_that_holds_an_error_is_a_retryable_overload(rig, kind):
    built = rig(front=relabelled("text-error") if kind == "text" else None)
    prompt = "busy [[fault:error-body-200]]" if kind == "json" else "busy"
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        built.client().messages.stream(
            model="claude-opus-4-8", max_tokens=100, messages=[{"role": "user", "content": prompt}]
        ) as events,
    ):
        events.get_final_message()
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"
    said = "Simulated error inside a 200" if kind == "json" else "upstream connect error or disconnect"
    assert said in caught.value.body["error"]["message"]
