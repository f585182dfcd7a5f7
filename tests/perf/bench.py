"""``make bench``: what the gateway costs on top of its backend, measured side by side in one run.

Four processes on loopback: a minimal Starlette backend that answers instantly in the LLM Gateway's
Bedrock-invoke format (the "direct" one-hop server), the gateway in front of it (``python -m gateway.local_server``),
the thinnest possible Starlette proxy in front of it too (the reference for what uvicorn and Starlette cost
by themselves), and this client. Calls to each are alternated in small rounds so that machine noise hits all
alike, and every figure is printed next to its direct counterpart and its target.

Two clients: httpx's ``AsyncClient`` (what the SDKs use) for the target rows, and a leaner one (httpx's
transports used directly, as the gateway calls Salesforce, without AsyncClient's per-call work) for the rows
that compare the servers' own costs.

Also: CPU per request of the gateway process, per-chunk delay on a 200-chunk stream, cold start of each
Lambda function module (imports here; end to end as Lambda runs them in ``cold_start.py``), RSS after
10,000 requests, and count_tokens on 1 MB. A PNG of the distributions goes to docs/performance.png.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "shared"))

from bench_stack import (  # noqa: E402  (tests/perf/bench_stack.py, after the path above)
    MODEL,
    SF_MODEL,
    STREAM_CHUNKS,
    STREAM_PACE,
    Stack,
    cpu_seconds,
    moto_on_loopback,
    rss_mb,
    serve_backend,
    serve_proxy,
    start_stack,
)

HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "bench", "content-type": "application/json"}
CALL_TIMEOUT = 30.0  # seconds per call; the whole run is bounded by TIME_LIMIT
TIME_LIMIT = 900  # seconds for a full run (about 4 minutes is normal)


# --- requests -----------------------------------------------------------------------------------------------


def small_request() -> dict:
    return {"model": MODEL, "max_tokens": 256, "messages": [{"role": "user", "content": "Hello, how are you?"}]}


def claude_code_request(target_bytes: int = 50_000) -> dict:
    """The captured Claude Code request, cut to about 50 KB with a dozen tools."""
    captured = json.loads((ROOT / "tests" / "fixtures" / "claude_code" / "messages_request.json").read_text())
    body = {k: v for k, v in captured.items() if k != "stream"}
    body["model"] = MODEL
    body["tools"] = captured["tools"][:12]
    while len(json.dumps(body)) > target_bytes and len(body["tools"]) > 1:
        body["tools"].pop()
    filler = target_bytes - len(json.dumps(body))
    if filler > 0:
        body["messages"][0]["content"].insert(0, {"type": "text", "text": "x" * filler})
    return body


def direct_body(request: dict) -> bytes:
    from gateway.anthropic.validation import validate_messages
    from gateway.translate.bedrock import to_request

    return json.dumps(to_request(validate_messages(request))).encode()


@dataclass
class Target:
    url: str
    body: bytes
    headers: dict


def targets(stack: Stack, request: dict, stream: bool = False) -> tuple[Target, Target]:
    suffix = "invoke-with-response-stream" if stream else "invoke"
    direct = Target(
        f"{stack.backend_url}/ai/gpt/v1/model/{SF_MODEL}/{suffix}",
        direct_body(request),
        {
            "authorization": f"Bearer {stack.token}",
            "content-type": "application/json",
            "x-sfdc-app-context": "EinsteinGPT",
            "x-client-feature-id": "ai-platform-models-connected-app",
        },
    )
    gateway = Target(f"{stack.gateway_url}/v1/messages", json.dumps(dict(request, stream=stream)).encode(), HEADERS)
    return direct, gateway


def proxy_target(stack: Stack, direct: Target) -> Target:
    """The direct call, through the minimal Starlette proxy."""
    return Target(direct.url.replace(stack.backend_url, stack.proxy_url), direct.body, direct.headers)


# --- measurements -------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


class LeanClient:
    """A load generator without AsyncClient's per-call work: httpx's transports, as the gateway sends."""

    def __init__(self) -> None:
        from gateway.salesforce.http import SalesforceHttp
        from gateway.settings import Settings

        timeouts = Settings(sf_connect_timeout=CALL_TIMEOUT, sf_read_timeout=CALL_TIMEOUT)
        self._http = SalesforceHttp(timeouts)

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def post(self, url: str, *, content: bytes, headers: dict) -> httpx.Response:
        return await self._http.send("POST", url, headers=headers, content=content)


def make_client(lean: bool, concurrency: int) -> LeanClient | httpx.AsyncClient:
    if lean:
        return LeanClient()
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
    return httpx.AsyncClient(limits=limits, timeout=30)


async def timed_batch(
    client: LeanClient | httpx.AsyncClient, target: Target, count: int, concurrency: int
) -> list[float]:
    samples: list[float] = []
    queue = iter(range(count))

    async def worker() -> None:
        for _ in queue:
            started = time.perf_counter()
            response = await client.post(target.url, content=target.body, headers=target.headers)
            samples.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{target.url}: {response.status_code} {response.text[:200]}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples


async def alternate(
    calls: dict[str, Target], concurrency: int, rounds: int, per_round: int, lean: bool
) -> dict[str, list[float]]:
    """Latencies per target, measured in turn, ``per_round`` calls at a time."""
    results: dict[str, list[float]] = {name: [] for name in calls}
    async with make_client(lean, concurrency) as client:
        for target in calls.values():  # warm every path and its connections
            await timed_batch(client, target, per_round, concurrency)
        for _ in range(rounds):
            for name, target in calls.items():
                results[name] += await timed_batch(client, target, per_round, concurrency)
    return results


async def cpu_per_request(stack: Stack, request: dict, count: int) -> tuple[float, float]:
    """(gateway CPU ms per request, backend CPU ms per direct request)."""
    direct, gateway = targets(stack, request)
    async with LeanClient() as client:
        await timed_batch(client, gateway, 100, 1)
        before = cpu_seconds(stack.gateway.pid)
        await timed_batch(client, gateway, count, 1)
        gateway_ms = (cpu_seconds(stack.gateway.pid) - before) * 1000 / count
        before = cpu_seconds(stack.backend.pid)
        await timed_batch(client, direct, count, 1)
        backend_ms = (cpu_seconds(stack.backend.pid) - before) * 1000 / count
    return gateway_ms, backend_ms


def chunk_latencies_direct(stack: Stack) -> list[float]:
    from botocore.eventstream import EventStreamBuffer

    direct, _ = targets(stack, small_request(), stream=True)
    latencies = []
    buffer = EventStreamBuffer()
    with httpx.stream("POST", direct.url, content=direct.body, headers=direct.headers, timeout=30) as response:
        for chunk in response.iter_raw():
            buffer.add_data(chunk)
            for message in buffer:
                event = json.loads(base64.b64decode(json.loads(message.payload)["bytes"]))
                if event["type"] == "content_block_delta":
                    now = time.monotonic()
                    latencies.append(now - float(event["delta"]["text"].split(":")[1]))
    return latencies


def chunk_latencies_gateway(stack: Stack) -> list[float]:
    _, gateway = targets(stack, small_request(), stream=True)
    latencies = []
    with httpx.stream("POST", gateway.url, content=gateway.body, headers=gateway.headers, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and '"text_delta"' in line:
                now = time.monotonic()
                event = json.loads(line[6:])
                latencies.append(now - float(event["delta"]["text"].split(":")[1]))
    return latencies


def cold_start(rounds: int = 10) -> dict[str, float]:
    """Median wall time of a fresh interpreter importing each function module and building its handler."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared")}
    modules = {
        "messages": ("functions/messages", "import messages_function"),
        "count_tokens": ("functions/count_tokens", "import count_tokens_function"),
        "models": ("functions/models", "import models_function"),
        "bare interpreter": ("functions", "pass"),
    }
    out = {}
    for name, (folder, code) in modules.items():
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=ROOT / folder, env=env, check=True)
            times.append(time.perf_counter() - started)
        out[name] = statistics.median(times) * 1000
    return out


FIRST_REQUEST = """
import json, sys, time
started = time.perf_counter()
import models_function
event = json.load(open(sys.argv[1]))
response = models_function.handler(event, None)
assert response["statusCode"] == 200, response
print(json.dumps({"ms": (time.perf_counter() - started) * 1000}))
"""


def first_request_against_moto(backend_url: str) -> float:
    """A fresh process importing ModelsFunction and answering GET /v1/models: SSM, DynamoDB, Secrets
    Manager (moto in server mode) and the model probes (the instant backend)."""
    import boto3

    with moto_on_loopback() as aws:
        session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
        ssm, ddb, sm = (
            session.client(s, endpoint_url=aws["AWS_ENDPOINT_URL"]) for s in ("ssm", "dynamodb", "secretsmanager")
        )
        models = {
            "models": [
                {"id": MODEL, "display_name": "Bench", "salesforce_model": SF_MODEL, "surface": "bedrock_invoke"}
            ]
        }
        ssm.put_parameter(Name="/bench/model-map", Value=json.dumps(models), Type="String")
        ddb.create_table(
            TableName="bench",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        sm.create_secret(
            Name="bench/sf",
            SecretString=json.dumps({"my_domain": backend_url, "client_id": "bench", "client_secret": "bench-secret"}),
        )
        env = {
            **os.environ,
            **aws,
            "PYTHONPATH": str(ROOT / "shared"),
            "MODEL_MAP_PARAMETER": "/bench/model-map",
            "VERIFICATION_TABLE": "bench",
            "SF_SECRET_ID": "bench/sf",
            "LOG_LEVEL": "WARNING",
        }
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", FIRST_REQUEST, str(ROOT / "events" / "models_list.json")],
            cwd=ROOT / "functions" / "models",
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        wall = (time.perf_counter() - started) * 1000
        json.loads(out.stdout.strip().splitlines()[-1])
        return wall


def count_tokens_speed(stack: Stack) -> tuple[float, float]:
    from gateway.anthropic.validation import validate_count_tokens
    from gateway.token_estimate import count_request

    words = ("lorem ipsum dolor sit amet, consectetur adipiscing elit; " * 20000)[: 1024 * 1024]
    body = {"model": MODEL, "messages": [{"role": "user", "content": words}]}
    parsed = validate_count_tokens(body)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        count_request(parsed)
        times.append(time.perf_counter() - started)
    raw = json.dumps(body).encode()
    http_times = []
    with httpx.Client(timeout=30) as client:
        for _ in range(5):
            started = time.perf_counter()
            response = client.post(f"{stack.gateway_url}/v1/messages/count_tokens", content=raw, headers=HEADERS)
            http_times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    return statistics.median(times) * 1000, statistics.median(http_times) * 1000


async def memory_run(stack: Stack, total: int) -> tuple[float, float, float, float]:
    """RSS (MB) after warm-up, after 1,000 and after ``total`` requests; and throughput in req/s."""
    _, gateway = targets(stack, small_request())
    async with LeanClient() as client:
        warm = rss_mb(stack.gateway.pid)
        await timed_batch(client, gateway, 1000, 32)
        at_1000 = rss_mb(stack.gateway.pid)
        started = time.perf_counter()
        await timed_batch(client, gateway, total - 1000, 32)
        rate = (total - 1000) / (time.perf_counter() - started)
        return warm, at_1000, rss_mb(stack.gateway.pid), rate


# --- report -------------------------------------------------------------------------------------------------


def latency_rows(label: str, result: dict[str, list[float]], targets: bool, ratio: bool) -> list[Row]:
    """p50, ratio and added latency against the direct call; the minimal proxy beside them when measured."""
    d50, g50 = statistics.median(result["direct"]), statistics.median(result["gateway"])
    d99, g99 = pct(result["direct"], 99), pct(result["gateway"], 99)
    added50, added99 = (g50 - d50) * 1000, (g99 - d99) * 1000
    proxy = result.get("proxy")
    rows = [
        Row(
            f"p50, {label}",
            ms(g50 * 1000),
            ms(d50 * 1000),
            "ratio <= 2.5" if ratio else "",
            g50 / d50 <= 2.5 if ratio else None,
        ),
        Row(
            "  ratio gateway/direct p50",
            f"{g50 / d50:.2f}x",
            f"minimal proxy {statistics.median(proxy) / d50:.2f}x" if proxy else "1.00x",
            "floor 2.0",
            None,
        ),
        Row(
            "  added p50 / p99",
            f"{added50:.2f} / {added99:.2f} ms",
            f"p99 {ms(d99 * 1000)}",
            "<= 1 / 5 ms" if targets else "",
            added50 <= 1.0 and added99 <= 5.0 if targets else None,
        ),
    ]
    if proxy:
        p50 = statistics.median(proxy)
        rows.append(
            Row(
                "  gateway minus minimal proxy, p50",
                f"{(g50 - p50) * 1000:.2f} ms",
                f"proxy {ms(p50 * 1000)}",
                "",
                None,
            )
        )
    return rows


@dataclass
class Row:
    what: str
    gateway: str
    direct: str
    target: str
    ok: bool | None = None

    def cells(self) -> list[str]:
        verdict = "" if self.ok is None else ("ok" if self.ok else "MISSED")
        return [self.what, self.gateway, self.direct, self.target, verdict]


def ms(value: float) -> str:
    return f"{value:.2f} ms" if value >= 0.1 else f"{value * 1000:.0f} us"


def plot(latency: dict, chunks: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for ax, key in zip(axes[:2], [k for k in latency if k.endswith("c=1")], strict=False):
        for label, color in (("direct", "tab:blue"), ("proxy", "tab:green"), ("gateway", "tab:orange")):
            if label not in latency[key]:
                continue
            values = sorted(v * 1000 for v in latency[key][label])
            name = "minimal Starlette proxy" if label == "proxy" else label
            ax.plot(values, [i / len(values) for i in range(len(values))], label=name, color=color)
        ax.set_xscale("log")
        ticks = [t for t in (0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10, 20, 50) if t <= ax.get_xlim()[1]]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(f"Latency CDF, {key}, lean client")
        ax.set_xlabel("ms (log)")
        ax.legend()
    ax = axes[2]
    ax.hist([v * 1000 for v in chunks["direct"]], bins=50, alpha=0.6, label="direct")
    ax.hist([v * 1000 for v in chunks["gateway"]], bins=50, alpha=0.6, label="gateway")
    ax.set_title(f"Per-chunk latency, {STREAM_CHUNKS} chunks every {STREAM_PACE * 1000:.0f} ms")
    ax.set_xlabel("ms from backend send to client receipt")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def _out_of_time(signum: int, frame: object) -> None:
    raise TimeoutError(f"the benchmark ran past its {TIME_LIMIT} s limit")


def main() -> int:
    parser = argparse.ArgumentParser(description="gateway vs direct backend benchmark")
    parser.add_argument("--serve-backend", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-proxy", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--backend-url", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "performance.png")
    args = parser.parse_args()
    if args.serve_backend:
        serve_backend(args.serve_backend)
        return 0
    if args.serve_proxy:
        serve_proxy(args.serve_proxy, args.backend_url)
        return 0

    rounds, per_round, total = (4, 50, 2000) if args.quick else (20, 100, 10_000)
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(TIME_LIMIT)
    stack = start_stack()
    rows: list[Row] = []
    latency: dict[str, dict] = {}
    try:
        sizes = (("small", small_request()), ("Claude Code 50 KB", claude_code_request()))
        for size_name, request in sizes:  # the target rows: an SDK-like client, one call at a time
            direct, gateway = targets(stack, request)
            result = asyncio.run(alternate({"direct": direct, "gateway": gateway}, 1, rounds, per_round, lean=False))
            rows += latency_rows(f"{size_name}, c=1, httpx client", result, targets=True, ratio=size_name == "small")
        for size_name, request in sizes:  # the servers' own costs: a lean client, and the minimal proxy beside
            direct, gateway = targets(stack, request)
            calls = {"direct": direct, "proxy": proxy_target(stack, direct), "gateway": gateway}
            for concurrency in (1, 32):
                result = asyncio.run(alternate(calls, concurrency, rounds, per_round, lean=True))
                latency[f"{size_name}, c={concurrency}"] = result
                label = f"{size_name}, c={concurrency}, lean client"
                rows += latency_rows(label, result, targets=concurrency == 1, ratio=False)
        for size_name, request, limit in (
            ("small", small_request(), 0.6),  # issue 12: httpx's own transport, at most 0.6 ms
            ("Claude Code 50 KB", claude_code_request(), 2.0),
        ):
            gateway_cpu, backend_cpu = asyncio.run(cpu_per_request(stack, request, 1000 if not args.quick else 200))
            rows.append(
                Row(
                    f"CPU per request, {size_name}",
                    ms(gateway_cpu),
                    f"backend {ms(backend_cpu)}",
                    f"<= {limit} ms",
                    gateway_cpu <= limit,
                )
            )
        chunks = {"direct": chunk_latencies_direct(stack), "gateway": chunk_latencies_gateway(stack)}
        first_direct, first_gateway = chunks["direct"][0], chunks["gateway"][0]
        rows.append(
            Row(
                "stream: backend first chunk -> first delta",
                ms(first_gateway * 1000),
                ms(first_direct * 1000),
                "",
                None,
            )
        )
        added = [g - d for g, d in zip(chunks["gateway"], chunks["direct"], strict=False)]
        held = sum(1 for v in chunks["gateway"] if v >= STREAM_PACE)
        rows.append(
            Row(
                "stream: added delay per chunk p50 / p99",
                f"{statistics.median(added) * 1000:.2f} / {pct(added, 99) * 1000:.2f} ms",
                f"{len(chunks['gateway'])} chunks",
                "p99 <= 1 ms",
                pct(added, 99) * 1000 <= 1.0,
            )
        )
        rows.append(Row("stream: chunks held behind the next one", str(held), "0", "0", held == 0))
        cold = cold_start(3 if args.quick else 10)
        bare = cold.pop("bare interpreter")
        for name, value in cold.items():
            rows.append(
                Row(
                    f"cold start: import {name} function",
                    ms(value),
                    f"bare {ms(bare)}",
                    "<= bare + 150 ms",
                    value - bare <= 150,
                )
            )
        first = first_request_against_moto(stack.backend_url)
        rows.append(
            Row("cold start: fresh process, first GET /v1/models (moto)", ms(first), f"bare {ms(bare)}", "", None)
        )
        from cold_start import rows as cold_start_rows  # tests/perf/cold_start.py

        rows += [Row(*cells) for cells in cold_start_rows(stack.backend_url, 3 if args.quick else 5)]
        warm, at_1000, after, rate = asyncio.run(memory_run(stack, total))
        rows.append(
            Row(
                f"RSS after warm-up / 1,000 / {total:,} requests",
                f"{warm:.0f} / {at_1000:.0f} / {after:.0f} MB",
                f"{rate:.0f} req/s at c=32",
                "<= 100 MB, no growth",
                after <= 100 and after - at_1000 <= 5,
            )
        )
        in_process, over_http = count_tokens_speed(stack)
        rows.append(
            Row(
                "count_tokens on 1 MB (estimate / over HTTP)",
                ms(in_process),
                ms(over_http),
                "<= 50 ms",
                in_process <= 50,
            )
        )
        from large_bodies import rows as large_body_rows  # tests/perf/large_bodies.py

        rows += [Row(*cells) for cells in large_body_rows(stack.gateway_url, stack.gateway.pid, MODEL)]
    finally:
        stack.stop()
    from authorizer_bench import measure as authorizer_costs  # tests/perf/authorizer_bench.py

    for what, value in authorizer_costs().items():
        target, ok = ("< 1 ms", value < 1) if what.startswith("warm check, cached") else ("", None)
        rows.append(Row(f"authorizer: {what}", f"{value:.4f}" if value < 1 else f"{value:.1f}", "", target, ok))

    header = ["measure", "gateway", "direct / reference", "target", ""]
    table = [header] + [r.cells() for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    cpu = os.cpu_count()
    print(
        f"\nsf-anthropic-gateway benchmark ({'quick' if args.quick else 'full'}), {cpu} CPUs, "
        f"Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    for i, line in enumerate(table):
        print(" | ".join(cell.ljust(widths[j]) for j, cell in enumerate(line)))
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    plot(latency, chunks, args.plot)
    print(f"\nplot: {args.plot.relative_to(ROOT) if args.plot.is_relative_to(ROOT) else args.plot}")
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
