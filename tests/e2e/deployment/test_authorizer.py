"""The REQUEST authorizer with API Gateway REQUEST events, against the keys table in moto (server mode).

Either header, both, neither, wrong, revoked, cached; what it returns (usageIdentifierKey, context).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.keys import create_keys_stage

from gateway.keys.apigateway import ApiGatewayKeys
from gateway.keys.authorizer import Authorizer, Unauthorized
from gateway.keys.cli import Keys
from gateway.keys.dynamodb import DynamoDBKeyStore

ROOT = Path(__file__).resolve().parents[3]
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/POST/v1/messages"


def request_event(headers: dict[str, str]) -> dict:
    """A REST API REQUEST authorizer event as API Gateway sends it (header names as the client sent them)."""
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "resource": "/v1/messages",
        "path": "/v1/messages",
        "httpMethod": "POST",
        "headers": {"anthropic-version": "2023-06-01", "content-type": "application/json", **headers},
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {},
        "pathParameters": {},
        "stageVariables": {},
        "requestContext": {"resourcePath": "/v1/messages", "httpMethod": "POST", "stage": "dev"},
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingStore(DynamoDBKeyStore):
    reads = 0

    def get_key(self, key_hash: str):
        self.reads += 1
        return super().get_key(key_hash)


@pytest.fixture(scope="module")
def stage(aws):
    stage = create_keys_stage(aws, "authorizer")
    keys = Keys(
        DynamoDBKeyStore(stage.table, aws.client("dynamodb")),
        ApiGatewayKeys(stage.plan_id, client=aws.client("apigateway")),
    )
    return stage, keys, {"ada": keys.create("ada", budget=1_000_000), "bob": keys.create("bob")}


@pytest.fixture
def authorizer(aws, stage):
    clock = Clock()
    store = CountingStore(stage[0].table, aws.client("dynamodb"))
    return Authorizer(store, ttl=60, negative_ttl=5, clock=clock), store, clock


def allowed(answer: dict, owner: str, secret: str) -> None:
    assert answer["principalId"] == owner
    assert answer["usageIdentifierKey"] == secret  # the developer's API Gateway key: their usage plan meters them
    assert answer["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}
    ]
    assert answer["context"]["developer"] == owner
    assert all(isinstance(v, str | int | bool) for v in answer["context"].values())  # what API Gateway accepts


def test_x_api_key_alone(authorizer, stage):
    secrets = stage[2]
    answer = authorizer[0](request_event({"X-Api-Key": secrets["ada"]}))
    allowed(answer, "ada", secrets["ada"])
    assert answer["context"]["budget"] == 1_000_000


def test_bearer_alone(authorizer, stage):
    secrets = stage[2]
    allowed(authorizer[0](request_event({"Authorization": f"Bearer {secrets['bob']}"})), "bob", secrets["bob"])
    allowed(authorizer[0](request_event({"authorization": f"bearer {secrets['bob']}"})), "bob", secrets["bob"])


def test_both_headers_x_api_key_first_then_bearer(authorizer, stage):
    secrets = stage[2]
    same = {"x-api-key": secrets["ada"], "Authorization": f"Bearer {secrets['ada']}"}  # apiKeyHelper sends both
    allowed(authorizer[0](request_event(same)), "ada", secrets["ada"])
    two = {"x-api-key": secrets["bob"], "Authorization": f"Bearer {secrets['ada']}"}
    allowed(authorizer[0](request_event(two)), "bob", secrets["bob"])
    # A foreign token in Authorization (an OAuth token from another tool) does not hide a good x-api-key,
    # and a stale x-api-key does not hide a good Bearer token.
    foreign = {"x-api-key": secrets["ada"], "Authorization": "Bearer sk-ant-oat01-something-else"}
    allowed(authorizer[0](request_event(foreign)), "ada", secrets["ada"])
    stale = {"x-api-key": "sfgwStaleKeyStaleKeyStaleKey", "Authorization": f"Bearer {secrets['bob']}"}
    allowed(authorizer[0](request_event(stale)), "bob", secrets["bob"])


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": ""},
        {"Authorization": "Basic YWRhOnNlY3JldA=="},
        {"Authorization": "Bearer "},
        {"x-api-key": "sfgwWrongWrongWrongWrongWrongWrong"},
        {"Authorization": "Bearer sfgwWrongWrongWrongWrongWrongWrong"},
    ],
    ids=["neither", "empty", "basic", "empty-bearer", "wrong-x-api-key", "wrong-bearer"],
)
def test_refusals_raise_unauthorized_for_api_gateway(authorizer, headers):
    with pytest.raises(Unauthorized) as caught:
        authorizer[0](request_event(headers))
    assert str(caught.value) == "Unauthorized"  # the exact message API Gateway turns into its 401


def test_warm_checks_are_cached_in_the_container(authorizer, stage):
    auth, store, _clock = authorizer
    secrets = stage[2]
    for _ in range(5):
        auth(request_event({"x-api-key": secrets["ada"]}))
        auth(request_event({"Authorization": f"Bearer {secrets['ada']}"}))
    assert store.reads == 1, "one table read for ten checks of one key"
    for _ in range(3):
        with pytest.raises(Unauthorized):
            auth(request_event({"x-api-key": "sfgwUnknownUnknownUnknownUnknown"}))
    assert store.reads == 2, "unknown keys are remembered too (briefly)"


def test_a_revoked_key_stops_within_the_cache_time(aws, stage):
    keys_stage, keys, _ = stage
    secret = keys.create("cy")
    clock = Clock()
    auth = Authorizer(DynamoDBKeyStore(keys_stage.table, aws.client("dynamodb")), ttl=60, clock=clock)
    allowed(auth(request_event({"x-api-key": secret})), "cy", secret)
    keys.revoke("cy")
    clock.now += 59
    allowed(auth(request_event({"x-api-key": secret})), "cy", secret)  # this container still trusts it...
    clock.now += 2
    with pytest.raises(Unauthorized):  # ...for at most KEY_CACHE_SECONDS
        auth(request_event({"x-api-key": secret}))
    fresh = Authorizer(DynamoDBKeyStore(keys_stage.table, aws.client("dynamodb")))
    with pytest.raises(Unauthorized):  # a container that had not seen it refuses at once
        fresh(request_event({"Authorization": f"Bearer {secret}"}))


def test_a_new_key_works_once_the_negative_cache_expires(aws, stage):
    keys_stage, keys, _ = stage
    clock = Clock()
    auth = Authorizer(DynamoDBKeyStore(keys_stage.table, aws.client("dynamodb")), negative_ttl=5, clock=clock)
    secret = keys.create("dee")
    keys.rotate("dee")  # the first secret is now revoked
    with pytest.raises(Unauthorized):
        auth(request_event({"x-api-key": secret}))
    rotated = keys.rotate("dee")
    allowed(auth(request_event({"x-api-key": rotated})), "dee", rotated)


def test_the_function_module_as_lambda_loads_it(aws, stage, monkeypatch):
    keys_stage, _, secrets = stage
    monkeypatch.setenv("KEYS_TABLE", keys_stage.table)
    path = ROOT / "functions" / "authorizer" / "authorizer_function.py"
    spec = importlib.util.spec_from_file_location("authorizer_function", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    allowed(module.handler(request_event({"x-api-key": secrets["bob"]}), None), "bob", secrets["bob"])
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        module.handler(request_event({}), None)


REFUSE_ONE = """
import json, sys
import authorizer_function
try:
    authorizer_function.handler(json.loads(sys.argv[1]), None)
except Exception as exc:
    print("raised:", exc)
"""


def test_the_function_logs_its_refusals_where_cloudwatch_reads_them(aws, stage):
    """A fresh process, as a Lambda container starts: Python's root logger would drop INFO, so the function
    configures the gateway's logging itself; the refusal reaches stdout, the key does not."""
    keys_stage, _, secrets = stage
    wrong = "sk-not-a-key-0123456789"
    env = {**os.environ, "KEYS_TABLE": keys_stage.table, "PYTHONPATH": f"{ROOT / 'functions' / 'authorizer'}"
           f"{os.pathsep}{ROOT / 'shared'}"}
    env.pop("LOG_LEVEL", None)
    done = subprocess.run(
        [sys.executable, "-c", REFUSE_ONE, json.dumps(request_event({"x-api-key": wrong}))],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )
    assert "raised: Unauthorized" in done.stdout, done.stderr[-2000:]
    assert "refused: unknown or revoked key" in done.stdout
    assert wrong not in done.stdout + done.stderr and secrets["bob"] not in done.stdout + done.stderr
