"""The REQUEST authorizer's own cost, cold and warm (for ``make bench``; bench.py calls ``measure()``).

Cold: a fresh interpreter imports ``functions/authorizer/authorizer_function.py`` (boto3 included) and
answers one REQUEST event, which reads the key from DynamoDB (moto in server mode on loopback, so the
read itself is faster than the real service's few milliseconds). Warm: the same key again, from the
container's cache: a SHA-256 and a dict lookup. Run alone: ``python tests/perf/authorizer_bench.py``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "shared"))

EVENT = {
    "type": "REQUEST",
    "methodArn": "arn:aws:execute-api:us-east-1:123456789012:bench/dev/POST/v1/messages",
    "headers": {"anthropic-version": "2023-06-01"},
}

COLD = """
import json, sys, time
started = time.perf_counter()
import authorizer_function
imported = time.perf_counter()
event = json.loads(sys.argv[1])
answer = authorizer_function.handler(event, None)
done = time.perf_counter()
assert answer["principalId"] == "bench", answer
print(json.dumps({"import_ms": (imported - started) * 1000, "first_ms": (done - imported) * 1000}))
"""


def measure(rounds: int = 5, warm_calls: int = 20_000) -> dict[str, float]:
    """Medians in milliseconds: cold import, cold first check, warm check (cached), and a cache miss."""
    from bench_stack import moto_on_loopback  # tests/perf/bench_stack.py

    from gateway.keys.authorizer import Authorizer
    from gateway.keys.cli import Keys
    from gateway.keys.dynamodb import DynamoDBKeyStore

    with moto_on_loopback() as aws:
        saved = {k: os.environ.get(k) for k in aws}
        os.environ.update(aws)
        try:
            import boto3

            client = boto3.session.Session().client("dynamodb")
            client.create_table(
                TableName="bench-keys",
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            )
            secret = Keys(DynamoDBKeyStore("bench-keys", client)).create("bench")
            event = {**EVENT, "headers": {**EVENT["headers"], "Authorization": f"Bearer {secret}"}}
            env = {**os.environ, "PYTHONPATH": str(ROOT / "shared"), "KEYS_TABLE": "bench-keys"}
            imports, firsts = [], []
            for _ in range(rounds):
                out = subprocess.run(
                    [sys.executable, "-c", COLD, json.dumps(event)],
                    cwd=ROOT / "functions" / "authorizer",
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                figures = json.loads(out.stdout.strip().splitlines()[-1])
                imports.append(figures["import_ms"])
                firsts.append(figures["first_ms"])

            authorizer = Authorizer(DynamoDBKeyStore("bench-keys", client), negative_ttl=0)
            authorizer(event)
            batches = []
            for _ in range(5):
                started = time.perf_counter()
                for _ in range(warm_calls // 5):
                    authorizer(event)
                batches.append((time.perf_counter() - started) / (warm_calls // 5) * 1000)
            misses = []
            for _ in range(50):
                authorizer.cache._entries.clear()  # a key this container has not seen: one GetItem
                started = time.perf_counter()
                authorizer(event)
                misses.append((time.perf_counter() - started) * 1000)
            return {
                "cold import (ms)": statistics.median(imports),
                "cold first check: first GetItem and connection (ms)": statistics.median(firsts),
                "warm check, cached (ms)": statistics.median(batches),
                "warm check, cache miss: GetItem on moto (ms)": statistics.median(misses),
            }
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


if __name__ == "__main__":
    for name, value in measure().items():
        print(f"authorizer {name:<55} {value:10.4f}")
