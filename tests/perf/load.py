"""``make load``: a bounded load test of the gateway on loopback, against the built-in simulator.

Three processes: the simulator (Salesforce's three surfaces), the gateway as ``make run`` starts it
(``python -m gateway.local_server``, here with ``LOG_LEVEL=WARNING`` and the simulator's credentials, so it
serves only the gateway and its memory is its own), and this driver: 200 concurrent clients on one
``httpx.AsyncClient`` sending a fixed number of requests, half of them streaming, spread over the
three surfaces of the default model map. Each prompt asks the simulator for a ``[[delay:MS]]`` of
20-50 ms, which it waits before answering and between streamed chunks. A share of the streaming clients
(``--abandon-share``, 5%) hang up after the first text delta, as a user pressing Ctrl-C would; once the
run is over, the simulator must have no stream left open (the gateway cancelled every abandoned call).

Bounded: 10,000 requests (``--requests``), a global time limit (``--time-limit``, 5 minutes), loopback
only. The first 1,000 requests are a warm-up; the gateway's RSS (``/proc/<pid>/status`` VmRSS) is read
after them and again after the last request. Exit status 1 if any request failed, if the run hit
the time limit, if the simulator still sends a stream nobody reads, or if RSS grew by more than
``--max-rss-growth-mb`` (20 MB) between the two readings.

    .venv/bin/python tests/perf/load.py              # the full run
    .venv/bin/python tests/perf/load.py --quick      # 1,000 requests (100 of warm-up)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "shared"))

# Model ids that reach each Salesforce surface in the default model map (as tests/conftest.py).
SURFACE_MODELS = {
    "bedrock_invoke": "claude-sonnet-4-5",
    "models_api": "claude-3-7-sonnet-latest",
    "chat_generations": "gpt-4.1-mini",
}
HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "load-test", "content-type": "application/json"}
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
WORDS += ("india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa")
MAX_ERRORS_SHOWN = 5


# --- processes ------------------------------------------------------------------------------------------------


def serve_simulator(port: int) -> None:
    """The simulator in its own process (``--serve-simulator PORT``), as a real backend would be."""
    import uvicorn

    from simulator.app import SimulatorConfig, create_simulator_app

    uvicorn.run(
        create_simulator_app(SimulatorConfig()), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )


def free_port() -> int:
    from gateway.http_server import bind

    sock = bind()
    port = sock.getsockname()[1]
    sock.close()
    return port


def wait_ready(method: str, url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with status {process.returncode}")
        try:
            httpx.request(method, url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not start within {timeout:.0f} s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Processes:
    simulator: subprocess.Popen
    gateway: subprocess.Popen
    gateway_url: str
    simulator_url: str
    log_path: Path
    tmp: tempfile.TemporaryDirectory

    def stop(self) -> None:
        for process in (self.gateway, self.simulator):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()


def start_processes() -> Processes:
    from simulator.app import SimulatorConfig

    tmp = tempfile.TemporaryDirectory(prefix="gateway-load-")
    sim_port, gateway_port = free_port(), free_port()
    sim_url, gateway_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{gateway_port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared")}
    for name in ("GATEWAY_API_KEYS", "SF_MY_DOMAIN", "SF_SECRET_ID", "MODEL_MAP_PATH", "MODEL_MAP_PARAMETER"):
        env.pop(name, None)  # the default model map, no client keys, and this run's simulator only
    with (Path(tmp.name) / "simulator.log").open("wb") as log:  # disconnects at shutdown log tracebacks there
        simulator = subprocess.Popen(
            [sys.executable, __file__, "--serve-simulator", str(sim_port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    config = SimulatorConfig()
    gateway_env = {
        **env,
        "HOST": "127.0.0.1",
        "PORT": str(gateway_port),
        "SF_TOKEN_URL": f"{sim_url}/services/oauth2/token",
        "SF_CLIENT_ID": config.client_id,
        "SF_CLIENT_SECRET": config.client_secret,
        "LOG_LEVEL": "WARNING",
    }
    log_path = Path(tmp.name) / "gateway.log"
    with log_path.open("wb") as log:  # the child keeps its own descriptor
        gateway = subprocess.Popen(
            [sys.executable, "-m", "gateway.local_server"],
            env=gateway_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    processes = Processes(simulator, gateway, gateway_url, sim_url, log_path, tmp)
    try:
        wait_ready("POST", f"{sim_url}/services/oauth2/token", simulator)
        wait_ready("GET", f"{gateway_url}/health", gateway)
    except BaseException:
        processes.stop()
        raise
    return processes


# --- one request ------------------------------------------------------------------------------------------------


@dataclass
class Job:
    surface: str
    stream: bool
    delay_ms: int
    text: str
    abandon: bool = False  # a streaming client that hangs up after the first text delta

    def body(self) -> bytes:
        content = f"[[delay:{self.delay_ms}]] {self.text}"
        return json.dumps(
            {
                "model": SURFACE_MODELS[self.surface],
                "max_tokens": 256,
                "messages": [{"role": "user", "content": content}],
                "stream": self.stream,
            }
        ).encode()


@dataclass
class Results:
    stream_first: list[float] = field(default_factory=list)  # seconds to the first content_block_delta
    stream_total: list[float] = field(default_factory=list)
    json_total: list[float] = field(default_factory=list)
    by_surface: dict[tuple[str, bool], list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    abandoned: int = 0
    streams_left_open: int | None = None  # on the simulator, after the run
    done: int = 0

    @property
    def ok(self) -> int:
        return self.done - len(self.errors)


class Failed(Exception):
    pass


def sse_events(buffer: bytearray) -> list[dict]:
    """Complete events taken off the front of ``buffer``; a partial event stays there."""
    events = []
    while (end := buffer.find(b"\n\n")) != -1:
        raw, buffer[: end + 2] = bytes(buffer[:end]), b""
        name, data = None, None
        for line in raw.decode().split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
        if name is None or data is None:
            raise Failed(f"malformed SSE event {raw[:200]!r}")
        event = json.loads(data)
        if event.get("type") != name:
            raise Failed(f"SSE event name {name} differs from its type {event.get('type')}")
        events.append(event)
    return events


async def run_stream(client: httpx.AsyncClient, url: str, job: Job) -> tuple[float, float]:
    started = time.perf_counter()
    first: float | None = None
    text: list[str] = []
    kinds: list[str] = []
    buffer = bytearray()
    async with client.stream("POST", url, content=job.body(), headers=HEADERS) as response:
        if response.status_code != 200:
            raise Failed(f"HTTP {response.status_code}: {(await response.aread())[:200]!r}")
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            raise Failed(f"content-type {response.headers.get('content-type')}")
        async for chunk in response.aiter_bytes():
            buffer += chunk
            for event in sse_events(buffer):
                kinds.append(event["type"])
                if event["type"] == "content_block_delta":
                    if first is None:
                        first = time.perf_counter() - started
                        if job.abandon:
                            return first, first  # leaving the block closes the connection mid-stream
                    text.append(event["delta"].get("text", ""))
                elif event["type"] == "error":
                    raise Failed(f"error event: {event['error']}")
    total = time.perf_counter() - started
    if buffer.strip():
        raise Failed(f"stream ended inside an event: {bytes(buffer[:200])!r}")
    if not kinds or kinds[0] != "message_start" or kinds[-1] != "message_stop" or first is None:
        raise Failed(f"bad event order: {kinds[:3]} ... {kinds[-3:]}")
    if "".join(text) != job.text:
        raise Failed(f"streamed text {''.join(text)[:80]!r} != {job.text[:80]!r}")
    return first, total


async def run_json(client: httpx.AsyncClient, url: str, job: Job) -> float:
    started = time.perf_counter()
    response = await client.post(url, content=job.body(), headers=HEADERS)
    total = time.perf_counter() - started
    if response.status_code != 200:
        raise Failed(f"HTTP {response.status_code}: {response.text[:200]}")
    message = response.json()
    texts = [b.get("text", "") for b in message.get("content", []) if b.get("type") == "text"]
    if message.get("type") != "message" or "".join(texts) != job.text:
        raise Failed(f"unexpected message {response.text[:200]}")
    return total


async def run_job(client: httpx.AsyncClient, url: str, job: Job, results: Results) -> None:
    try:
        if job.stream:
            first, total = await run_stream(client, url, job)
            results.stream_first.append(first)
            if job.abandon:
                results.abandoned += 1
                return
            results.stream_total.append(total)
        else:
            total = await run_json(client, url, job)
            results.json_total.append(total)
        results.by_surface.setdefault((job.surface, job.stream), []).append(total)
    except (Failed, httpx.HTTPError, ValueError, KeyError) as exc:
        kind = "stream" if job.stream else "json"
        results.errors.append(f"{job.surface}/{kind}: {type(exc).__name__}: {exc}")
    finally:
        results.done += 1


def make_jobs(
    count: int, rng: random.Random, stream_share: float, delay: tuple[int, int], abandon_share: float = 0.0
) -> list[Job]:
    surfaces = list(SURFACE_MODELS)
    jobs = []
    for n in range(count):
        words = rng.sample(WORDS, rng.randint(6, 12))
        stream = rng.random() < stream_share
        jobs.append(
            Job(
                surface=surfaces[n % len(surfaces)],
                stream=stream,
                delay_ms=rng.randint(*delay),
                text=" ".join(words),
                abandon=stream and rng.random() < abandon_share,
            )
        )
    rng.shuffle(jobs)
    return jobs


async def run_phase(clients: list[httpx.AsyncClient], url: str, jobs: list[Job], results: Results) -> None:
    """Each client sends one request at a time over its own keep-alive connection until the jobs run out."""
    queue = iter(jobs)

    async def worker(client: httpx.AsyncClient) -> None:
        for job in queue:
            await run_job(client, url, job, results)

    await asyncio.gather(*(worker(client) for client in clients))


# --- the run ----------------------------------------------------------------------------------------------------


@dataclass
class Memory:
    idle: float = 0.0
    warm: float | None = None
    end: float | None = None
    peak: float = 0.0


async def sample_peak(pid: int, memory: Memory) -> None:
    while True:
        try:
            memory.peak = max(memory.peak, rss_mb(pid))
        except (OSError, RuntimeError):
            return  # the gateway is gone; the report says so
        await asyncio.sleep(0.5)


async def drive(
    processes: Processes, args: argparse.Namespace, results: Results, memory: Memory, progress: Callable[[str], None]
) -> None:
    rng = random.Random(args.seed)
    jobs = make_jobs(args.requests, rng, args.stream_share, (args.min_delay_ms, args.max_delay_ms), args.abandon_share)
    warmup = jobs[: args.warmup]
    rest = jobs[args.warmup :]
    url = f"{processes.gateway_url}/v1/messages"
    pid = processes.gateway.pid
    # One small client per simulated user: httpx's pool scans all its connections on every request,
    # so a single client with 200 connections would make this driver, not the gateway, the bottleneck.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    timeout = httpx.Timeout(60, connect=10)
    tls = ssl.create_default_context()  # never used on http://, but each client would build its own
    peak = asyncio.ensure_future(sample_peak(pid, memory))
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(limits=limits, timeout=timeout, verify=tls, trust_env=False)
            )
            for _ in range(args.concurrency)
        ]
        try:
            await run_phase(clients, url, warmup, results)
            memory.warm = rss_mb(pid)
            progress(f"warm-up: {len(warmup)} requests done, gateway RSS {memory.warm:.1f} MB")
            await run_phase(clients, url, rest, results)
            memory.end = rss_mb(pid)
        finally:
            peak.cancel()
        results.streams_left_open = await streams_left_open(processes.simulator_url)


async def streams_left_open(simulator_url: str, settle: float = 5.0) -> int:
    """Streams the simulator is still sending once every client is done; 0 unless a cancel was lost."""
    deadline = time.monotonic() + settle
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        while True:
            stats = (await client.get(f"{simulator_url}/simulator/stats")).json()
            if stats["streams_open"] == 0 or time.monotonic() > deadline:
                return int(stats["streams_open"])
            await asyncio.sleep(0.1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def latency_line(label: str, values: list[float]) -> str:
    if not values:
        return f"  {label:<30} {0:>6}"
    ms = [v * 1000 for v in values]
    cells = " ".join(f"{percentile(ms, q):>8.1f}" for q in (50, 90, 99)) + f" {max(ms):>8.1f}"
    return f"  {label:<30} {len(ms):>6} {cells}"


def report(
    args: argparse.Namespace,
    results: Results,
    memory: Memory,
    elapsed: float,
    cpu: dict[str, float],
    processes: Processes,
    aborted: bool,
) -> int:
    print(
        f"load: {results.done} of {args.requests} requests ({len(results.stream_total)} streaming, "
        f"{len(results.json_total)} JSON ok), {args.concurrency} concurrent clients, {elapsed:.1f} s, "
        f"{results.done / elapsed if elapsed else 0:.1f} req/s; errors: {len(results.errors)}"
    )
    print(
        f"  backend delay {args.min_delay_ms}-{args.max_delay_ms} ms before the answer and per streamed chunk; "
        f"6-12 words per answer; surfaces: " + ", ".join(f"{m} ({s})" for s, m in SURFACE_MODELS.items())
    )
    if results.streams_left_open is not None:
        print(
            f"  clients that hung up mid-stream: {results.abandoned}; streams the simulator was still sending "
            f"after the run: {results.streams_left_open}"
        )
    print(f"  {'latency (ms)':<30} {'n':>6} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    print(latency_line("streaming: first text delta", results.stream_first))
    print(latency_line("streaming: whole stream", results.stream_total))
    print(latency_line("non-streaming", results.json_total))
    for (surface, stream), values in sorted(results.by_surface.items()):
        print(latency_line(f"  {surface} {'stream' if stream else 'json'}", values))
    growth = None if memory.warm is None or memory.end is None else memory.end - memory.warm
    warm = f"{memory.warm:.1f}" if memory.warm is not None else "n/a"
    end = f"{memory.end:.1f}" if memory.end is not None else "n/a"
    print(
        f"  gateway RSS (MB): idle {memory.idle:.1f}, after warm-up ({args.warmup} requests) {warm}, "
        f"after {results.done} requests {end}, peak {memory.peak:.1f}; growth after warm-up "
        + (f"{growth:+.1f} MB" if growth is not None else "n/a")
        + f" (limit {args.max_rss_growth_mb:.0f} MB)"
    )
    per_request = cpu["gateway"] * 1000 / results.done if results.done else 0
    lines = processes.log_lines()
    print(
        f"  CPU seconds: gateway {cpu['gateway']:.1f} ({per_request:.2f} ms per request, "
        f"{100 * cpu['gateway'] / elapsed if elapsed else 0:.0f}% of one core), simulator {cpu['simulator']:.1f}, "
        f"this driver {cpu['driver']:.1f} ({os.cpu_count()} CPUs); gateway log: {len(lines)} lines"
    )
    for error in results.errors[:MAX_ERRORS_SHOWN]:
        print(f"  error: {error}")
    if len(results.errors) > MAX_ERRORS_SHOWN:
        print(f"  ... and {len(results.errors) - MAX_ERRORS_SHOWN} more errors")
    failures = []
    if aborted:
        failures.append(f"time limit of {args.time_limit:.0f} s reached")
    if results.errors:
        failures.append(f"{len(results.errors)} failed requests")
    if results.streams_left_open:
        failures.append(f"{results.streams_left_open} backend streams left open")
    if growth is not None and growth > args.max_rss_growth_mb:
        failures.append(f"RSS grew {growth:.1f} MB after warm-up")
    if failures or processes.gateway.poll() is not None:
        for line in lines[-10:]:
            print(f"  gateway log: {line}")
    if processes.gateway.poll() is not None:
        failures.append(f"the gateway exited with status {processes.gateway.returncode}")
    print("result: " + ("FAIL (" + "; ".join(failures) + ")" if failures else "PASS"))
    return 1 if failures else 0


async def with_limit(work: Awaitable[None], seconds: float) -> bool:
    """Run ``work``; False if it had to be cancelled at the time limit."""
    try:
        await asyncio.wait_for(work, seconds)
    except TimeoutError:
        return False
    return True


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="bounded load test of the gateway against the simulator")
    parser.add_argument("--serve-simulator", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=10_000, help="total requests (default 10000)")
    parser.add_argument("--concurrency", type=int, default=200, help="concurrent clients (default 200)")
    parser.add_argument("--quick", action="store_true", help="1,000 requests, 100 of them warm-up")
    parser.add_argument("--warmup", type=int, help="requests before the first RSS reading (default: 10%%, <= 1000)")
    parser.add_argument("--stream-share", type=float, default=0.5, help="share of streaming requests (0.5)")
    parser.add_argument(
        "--abandon-share", type=float, default=0.05, help="share of streams the client leaves early (0.05)"
    )
    parser.add_argument("--min-delay-ms", type=int, default=20)
    parser.add_argument("--max-delay-ms", type=int, default=50)
    parser.add_argument("--time-limit", type=float, default=300, help="seconds before the run is aborted (300)")
    parser.add_argument("--max-rss-growth-mb", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.quick:
        args.requests = 1_000
    if args.warmup is None:
        args.warmup = min(1_000, args.requests // 10)
    if not 0 <= args.warmup < args.requests or args.concurrency < 1:
        parser.error("need 0 <= --warmup < --requests and --concurrency >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_simulator:
        serve_simulator(args.serve_simulator)
        return 0
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    processes = start_processes()
    results, memory = Results(), Memory()
    try:
        pid = processes.gateway.pid
        memory.idle = memory.peak = rss_mb(pid)
        pids = {"gateway": pid, "simulator": processes.simulator.pid, "driver": os.getpid()}
        cpu_before = {name: cpu_seconds(p) for name, p in pids.items()}
        print(
            f"load: gateway pid {pid} at {processes.gateway_url} (python -m gateway.local_server, LOG_LEVEL=WARNING); "
            f"{args.requests} requests, {args.concurrency} clients, time limit {args.time_limit:.0f} s",
            flush=True,
        )
        started = time.perf_counter()
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            work = drive(processes, args, results, memory, lambda line: print(f"load: {line}", flush=True))
            finished = runner.run(with_limit(work, args.time_limit))
        elapsed = time.perf_counter() - started
        cpu = {name: cpu_seconds(p) - cpu_before[name] for name, p in pids.items()}
        return report(args, results, memory, elapsed, cpu, processes, aborted=not finished)
    finally:
        processes.stop()
        processes.tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
