"""The deployed code path against AWS APIs for real: moto in server mode, boto3 over HTTP."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from support.aws import deploy

from gateway.catalog.model_map import default_map_bytes
from gateway.services import Services
from gateway.settings import Settings
from gateway.stores.aws import DynamoDBVerificationCache, SSMModelMapSource
from simulator.app import SimulatorConfig


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def deployment(aws, stack, request):
    name = request.node.name.replace("_", "-")[:40]
    return deploy(aws, name, stack.simulator_url, default_map_bytes().decode(), SimulatorConfig())


def test_model_map_is_read_from_ssm_and_reread_after_its_max_age(aws, deployment):
    clock = Clock(1000.0)
    source = SSMModelMapSource(deployment.parameter, max_age=60, clock=clock)
    assert source.get().find("claude-sonnet-4-5").salesforce_model.endswith("Claude45Sonnet")
    assert source.get().find("claude-test-only") is not None  # the catch-all claude- pattern

    changed = json.loads(default_map_bytes())
    changed["patterns"] = [p for p in changed["patterns"] if p["match"] != "^claude-"]
    next(m for m in changed["models"] if m["id"] == "claude-opus-4-5-20251101")["display_name"] = "Renamed Opus"
    aws.client("ssm").put_parameter(Name=deployment.parameter, Value=json.dumps(changed), Overwrite=True)

    clock.now += 30
    assert source.get().find("claude-test-only") is not None, "within max_age the cached map is served"
    clock.now += 31
    fresh = source.get()
    assert fresh.find("claude-test-only") is None
    assert fresh.find("claude-opus-4-5").display_name == "Renamed Opus"


def test_verification_items_carry_a_ttl_and_expired_items_count_as_missing(aws, deployment):
    clock = Clock(time.time())
    cache = DynamoDBVerificationCache(deployment.table, ttl=600, clock=clock)
    cache.put("bedrock_invoke/sfdc_ai__X", True)
    item = aws.client("dynamodb").get_item(TableName=deployment.table, Key={"pk": {"S": "bedrock_invoke/sfdc_ai__X"}})
    assert item["Item"]["ok"] == {"BOOL": True}
    assert int(item["Item"]["expires_at"]["N"]) == int(clock.now + 600)
    ttl = aws.client("dynamodb").describe_time_to_live(TableName=deployment.table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"
    assert cache.get("bedrock_invoke/sfdc_ai__X") is True

    # DynamoDB deletes expired items lazily; an item still present past expires_at is a miss.
    clock.now += 601
    assert aws.client("dynamodb").get_item(TableName=deployment.table, Key={"pk": {"S": "bedrock_invoke/sfdc_ai__X"}})
    assert cache.get("bedrock_invoke/sfdc_ai__X") is None
    assert cache.get("never/written") is None


def test_services_verify_models_into_dynamodb_with_credentials_from_secrets_manager(aws, deployment, stack):
    settings = Settings.from_env(deployment.env)
    services = Services.from_settings(settings)
    minted_before = stack.simulator.mint.minted

    async def listed() -> list[str]:
        try:
            return [e.id for e in await services.verifier.available((await services.model_map()).listed())]
        finally:
            await services.aclose()

    ids = asyncio.run(listed())
    assert "claude-sonnet-4-5-20250929" in ids
    assert "claude-opus-4-1-20250805" not in ids, "the simulator refuses Opus 4.1's Salesforce model"
    assert stack.simulator.mint.minted > minted_before, "the secret's credentials minted a token"

    items = aws.client("dynamodb").scan(TableName=deployment.table)["Items"]
    by_key = {i["pk"]["S"]: i for i in items}
    assert by_key["bedrock_invoke/sfdc_ai__DefaultBedrockAnthropicClaude41Opus"]["ok"] == {"BOOL": False}
    assert by_key["bedrock_invoke/sfdc_ai__DefaultBedrockAnthropicClaude45Sonnet"]["ok"] == {"BOOL": True}
    now = time.time()
    for item in items:
        expires = int(item["expires_at"]["N"])
        assert now < expires <= now + settings.verification_ttl + 5
    # A refusal is remembered for less time than a success, so a newly enabled model appears sooner.
    refused = int(by_key["bedrock_invoke/sfdc_ai__DefaultBedrockAnthropicClaude41Opus"]["expires_at"]["N"])
    accepted = int(by_key["bedrock_invoke/sfdc_ai__DefaultBedrockAnthropicClaude45Sonnet"]["expires_at"]["N"])
    assert refused < accepted


def test_second_listing_reads_dynamodb_instead_of_probing_again(aws, deployment, stack):
    settings = Settings.from_env(deployment.env)

    async def list_once() -> int:
        services = Services.from_settings(settings)
        try:
            return len(await services.verifier.available((await services.model_map()).listed()))
        finally:
            await services.aclose()

    asyncio.run(list_once())
    probes_before = len(stack.backend_requests())
    # A new process (a new Lambda container) finds the answers in DynamoDB.
    asyncio.run(list_once())
    assert len(stack.backend_requests()) == probes_before


def test_a_failed_ssm_refresh_keeps_the_loaded_map_and_retries_soon(aws, deployment, caplog):
    clock = Clock(1000.0)
    source = SSMModelMapSource(deployment.parameter, max_age=60, clock=clock)
    loaded = asyncio.run(source.aget())
    assert loaded.find("claude-test-only") is not None

    aws.client("ssm").delete_parameter(Name=deployment.parameter)
    clock.now += 61
    with caplog.at_level("WARNING", logger="gateway"):
        assert asyncio.run(source.aget()) is loaded, "SSM failing must not take routing down"
    assert "model map: refresh failed" in caplog.text and "ParameterNotFound" in caplog.text

    changed = json.loads(default_map_bytes())
    changed["patterns"] = [p for p in changed["patterns"] if p["match"] != "^claude-"]
    aws.client("ssm").put_parameter(Name=deployment.parameter, Value=json.dumps(changed), Type="String")
    clock.now += 20
    assert asyncio.run(source.aget()) is loaded, "after a failure the next try waits a little"
    clock.now += 11
    assert asyncio.run(source.aget()).find("claude-test-only") is None, "then the changed map is read"


class SlowSSM(SSMModelMapSource):
    """SSM answering in 0.5 s (a slow moment): counts the reads that reach it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reads = 0
        self.reading = False

    def _fetch(self) -> str | bytes:
        self.reads += 1
        self.reading = True
        try:
            time.sleep(0.5)
            return super()._fetch()
        finally:
            self.reading = False


def test_an_ssm_read_runs_off_the_event_loop_and_once_for_concurrent_requests(aws, deployment):
    clock = Clock(1000.0)
    source = SlowSSM(deployment.parameter, max_age=60, clock=clock)

    async def scenario() -> tuple[list, int]:
        ticks_during_reads = 0
        stop = asyncio.Event()

        async def heartbeat() -> None:  # other requests' work, which a blocking read would freeze
            nonlocal ticks_during_reads
            while not stop.is_set():
                await asyncio.sleep(0.01)
                ticks_during_reads += source.reading

        beat = asyncio.create_task(heartbeat())
        maps = await asyncio.gather(*(source.aget() for _ in range(20)))
        clock.now += 61  # expired: the next callers all want a refresh
        maps += await asyncio.gather(*(source.aget() for _ in range(20)))
        stop.set()
        await beat
        return maps, ticks_during_reads

    maps, ticks = asyncio.run(scenario())
    assert source.reads == 2, "one read for the first load and one for the refresh, whatever the concurrency"
    assert all(m.find("claude-sonnet-4-5") is not None for m in maps)
    # Two reads of 0.5 s: about 100 ticks of 10 ms when the loop runs on; none if a read blocked it.
    assert ticks >= 20, f"the event loop ran only {ticks} times during 1 s of SSM reads"


def test_a_model_map_that_cannot_be_loaded_is_a_plain_500(aws, make_stack):
    built = make_stack(env={"MODEL_MAP_PARAMETER": "/sf-anthropic-gateway/never-created/model-map"})
    with built.http() as http:
        for response in (
            http.get("/v1/models"),
            http.post(
                "/v1/messages",
                json={"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]},
            ),
        ):
            assert response.status_code == 500
            assert response.json()["type"] == "error"
            assert response.json()["error"] == {
                "type": "api_error",
                "message": "The gateway's model map could not be loaded",
            }
            assert response.headers["request-id"]


def test_a_bad_document_in_ssm_keeps_the_loaded_map(aws, deployment, caplog):
    clock = Clock(1000.0)
    source = SSMModelMapSource(deployment.parameter, max_age=60, clock=clock)
    loaded = asyncio.run(source.aget())
    broken = {"models": [{"id": "claude-x", "surface": "bedrock_invoke"}]}  # no salesforce_model
    aws.client("ssm").put_parameter(Name=deployment.parameter, Value=json.dumps(broken), Overwrite=True)
    clock.now += 61
    with caplog.at_level("WARNING", logger="gateway"):
        assert asyncio.run(source.aget()) is loaded, "an operator's typo must not take routing down"
    assert "model map: refresh failed (ModelMapError" in caplog.text


def test_concurrent_requests_share_one_failing_first_read(aws):
    source = SlowSSM("/sf-anthropic-gateway/never-created-either/model-map", max_age=60)

    async def scenario() -> list:
        return await asyncio.gather(*(source.aget() for _ in range(10)), return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, Exception) for o in outcomes)
    assert source.reads == 1, "a store that is down is asked once for all the requests waiting on it"
