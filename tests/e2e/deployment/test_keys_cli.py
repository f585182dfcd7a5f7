"""``python -m gateway.keys`` against a stage in moto (server mode: API Gateway keys and usage plans,
DynamoDB) and against the local key file: the same commands, the same records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.keys import KeysStage, create_keys_stage

from gateway.keys.cli import Keys, main
from gateway.keys.dynamodb import DynamoDBKeyStore
from gateway.keys.local import FileKeyStore
from gateway.keys.model import hash_key, month_of

ROOT = Path(__file__).resolve().parents[3]


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """The command as a developer types it: a new process, stdout and stderr apart."""
    return subprocess.run(
        [sys.executable, "-m", "gateway.keys", *args], capture_output=True, text=True, env=env, cwd=cwd, check=False
    )


@pytest.fixture
def stage(aws, request) -> KeysStage:
    return create_keys_stage(aws, request.node.name.replace("_", "-")[:40])


def plan_keys(aws, plan_id: str) -> set[str]:
    return {k["id"] for k in aws.client("apigateway").get_usage_plan_keys(usagePlanId=plan_id)["items"]}


def test_create_list_rotate_revoke_against_api_gateway_and_dynamodb(aws, stage, tmp_path, monkeypatch):
    env = {**__import__("os").environ}
    created = run_cli([*stage.args(), "create", "ada", "--budget", "500000"], env, tmp_path)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.isalnum() and 20 <= len(secret) <= 128  # an API Gateway key value
    assert secret not in created.stderr

    apigw = aws.client("apigateway")
    store = DynamoDBKeyStore(stage.table, aws.client("dynamodb"))
    developer = store.get_developer("ada")
    assert developer.budget == 500000 and developer.usage_plan_id == stage.plan_id
    gw_key = apigw.get_api_key(apiKey=developer.api_key_id, includeValue=True)
    assert gw_key["value"] == secret and gw_key["enabled"]  # the secret is the usageIdentifierKey
    assert developer.api_key_id in plan_keys(aws, stage.plan_id)
    # The table holds the hash, never the key.
    items = aws.client("dynamodb").scan(TableName=stage.table)["Items"]
    assert secret not in json.dumps(items)
    record = store.get_key(hash_key(secret))
    assert record.owner == "ada" and record.active and record.budget == 500000

    listed = run_cli([*stage.args(), "--json", "list"], env, tmp_path)
    rows = json.loads(listed.stdout)
    assert [(r["developer"], r["status"], r["key"]) for r in rows] == [("ada", "active", f"{secret[:8]}…")]

    again = run_cli([*stage.args(), "create", "ada"], env, tmp_path)
    assert again.returncode == 2 and "rotate ada" in again.stderr

    rotated = run_cli([*stage.args(), "rotate", "ada"], env, tmp_path)
    new_secret = rotated.stdout.strip()
    assert rotated.returncode == 0 and new_secret != secret
    assert not store.get_key(hash_key(secret)).active and store.get_key(hash_key(new_secret)).active
    after = store.get_developer("ada")
    assert after.api_key_id != developer.api_key_id and after.api_key_id in plan_keys(aws, stage.plan_id)
    assert developer.api_key_id not in {k["id"] for k in apigw.get_api_keys()["items"]}  # old key gone

    revoked = run_cli([*stage.args(), "revoke", "ada"], env, tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    assert not store.get_key(hash_key(new_secret)).active
    assert store.get_developer("ada").status == "revoked"
    assert after.api_key_id not in {k["id"] for k in apigw.get_api_keys()["items"]}
    assert plan_keys(aws, stage.plan_id) == set()


def test_own_limits_get_their_own_usage_plan_on_the_same_stage(aws, stage):
    from gateway.keys.apigateway import ApiGatewayKeys

    keys = Keys(
        DynamoDBKeyStore(stage.table, aws.client("dynamodb")),
        ApiGatewayKeys(stage.plan_id, client=aws.client("apigateway")),
    )
    keys.create("bob", rate=2.0, burst=4, quota=20000)
    keys.create("cy")
    bob, cy = keys.store.get_developer("bob"), keys.store.get_developer("cy")
    assert bob.usage_plan_id != stage.plan_id and cy.usage_plan_id == stage.plan_id
    plan = aws.client("apigateway").get_usage_plan(usagePlanId=bob.usage_plan_id)
    assert plan["throttle"] == {"rateLimit": 2.0, "burstLimit": 4}
    assert plan["quota"]["limit"] == 20000 and plan["quota"]["period"] == "MONTH"
    assert plan["apiStages"] == [{"apiId": stage.api_id, "stage": "dev"}]
    assert plan_keys(aws, bob.usage_plan_id) == {bob.api_key_id}
    keys.revoke("bob")
    plans = {p["id"] for p in aws.client("apigateway").get_usage_plans()["items"]}
    assert bob.usage_plan_id not in plans and stage.plan_id in plans


def test_usage_is_an_atomic_add_in_dynamodb(aws, stage):
    store = DynamoDBKeyStore(stage.table, aws.client("dynamodb"))
    month = month_of()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: store.add_usage("ada", month, {"input_tokens": 3, "requests": 1}), range(40)))
    used = store.get_usage("ada", month)
    assert (used.input_tokens, used.requests, used.tokens) == (120, 40, 120)


def test_the_same_commands_on_the_local_key_file(tmp_path):
    path = tmp_path / "keys.json"
    env = {**__import__("os").environ, "GATEWAY_KEYS_FILE": str(path)}
    ada = run_cli(["create", "ada", "--budget", "1000"], env, tmp_path).stdout.strip()
    bob = run_cli(["create", "bob"], env, tmp_path).stdout.strip()
    assert ada and bob and ada != bob
    assert ada not in path.read_text() and bob not in path.read_text()
    assert path.stat().st_mode & 0o077 == 0, "the key file is private to its owner"
    store = FileKeyStore(path)
    store.add_usage("ada", month_of(), {"input_tokens": 700, "output_tokens": 400, "cache_read_tokens": 5})

    usage = json.loads(run_cli(["--json", "usage"], env, tmp_path).stdout)
    by_dev = {row["developer"]: row for row in usage}
    assert by_dev["ada"]["tokens"] == 1105 and by_dev["ada"]["budget"] == 1000 and by_dev["ada"]["resets"]
    assert by_dev["bob"]["tokens"] == 0

    rotated = run_cli(["rotate", "bob"], env, tmp_path).stdout.strip()
    assert store.get_key(hash_key(rotated)).active and not store.get_key(hash_key(bob)).active
    assert run_cli(["revoke", "ada"], env, tmp_path).returncode == 0
    assert not store.get_key(hash_key(ada)).active
    listed = run_cli(["list"], env, tmp_path).stdout
    assert "ada" in listed and "revoked" in listed and ada not in listed and rotated not in listed
    assert run_cli(["revoke", "nobody"], env, tmp_path).returncode == 2


def test_a_deployed_stage_needs_its_usage_plan(tmp_path):
    assert main(["--table", "t", "create", "ada"], env={}) == 2


def test_the_file_store_counts_concurrent_writers(tmp_path):
    """Two processes (the gateway and the command) adding usage at once both count."""
    path = tmp_path / "keys.json"
    code = (
        "import sys; from gateway.keys.local import FileKeyStore\n"
        "s = FileKeyStore(sys.argv[1])\n"
        "for _ in range(50): s.add_usage('ada', '2026-01', {'output_tokens': 1})\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)]) for _ in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    assert FileKeyStore(path).get_usage("ada", "2026-01").output_tokens == 150
