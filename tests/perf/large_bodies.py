"""The largest bodies the gateway accepts, and the worst ones it must refuse cheaply (part of ``make bench``).

For each body: the request's latency, the slowest ``/health`` answer while it ran (the gateway has one
event loop, so CPU spent on a body is time every other client waits), and the gateway process's peak RSS
while it ran (``VmHWM``, reset through ``/proc/<pid>/clear_refs`` before each body): the whole process, so
what the interpreter, the earlier requests and the freed-but-kept heap hold counts too.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "bench", "content-type": "application/json"}
RSS_LIMIT_MB = 450  # the whole process, within the 512 MB of the count_tokens and models functions


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def bodies(model: str) -> dict[str, tuple[str, bytes]]:
    """name -> (path, body). The valid ones are as large as validation allows at the 32 MiB limit."""
    text = {"type": "text", "text": "a sentence of a long conversation, with a few words in it"}
    turn = {"role": "user", "content": [text] * 5}
    tool = {
        "name": "tool",
        "description": "d" * 200,
        "input_schema": {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(20)}},
    }
    ignored_head = b'{"model":"%s","messages":[{"role":"user","content":"hi"}],"x":[' % model.encode()
    return {
        "40,000 turns x 5 blocks": ("count_tokens", json.dumps({"model": model, "messages": [turn] * 40_000}).encode()),
        "300,000 blocks in one turn": (
            "count_tokens",
            json.dumps({"model": model, "messages": [{"role": "user", "content": [text] * 300_000}]}).encode(),
        ),
        "4,000 tools": (
            "messages",
            json.dumps(
                {
                    "model": model,
                    "max_tokens": 100,
                    "messages": [{"role": "user", "content": "hi"}],
                    "tools": [dict(tool, name=f"tool_{i}") for i in range(4000)],
                }
            ).encode(),
        ),
        "one 30 MB text": (
            "count_tokens",
            json.dumps({"model": model, "messages": [{"role": "user", "content": "word " * 6_000_000}]}).encode(),
        ),
        "999,000 `{}` (just under the value limit)": ("count_tokens", ignored_head + b"{}," * 999_000 + b"{}]}"),
        "11M `{}` in an ignored field (refused)": ("count_tokens", ignored_head + b"{}," * 10_999_999 + b"{}]}"),
    }


@dataclass
class Measured:
    name: str
    size_mb: float
    status: int
    latency_ms: float
    health_max_ms: float
    peak_mb: float | None


def _poll_health(url: str, stop: threading.Event, worst: list[float]) -> None:
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get(f"{url}/health")
            worst[0] = max(worst[0], (time.perf_counter() - started) * 1000)
            time.sleep(0.01)


def measure(url: str, pid: int, model: str, rounds: int = 2) -> list[Measured]:
    results = []
    with httpx.Client(timeout=120) as client:
        for name, (route, body) in bodies(model).items():
            path = "/v1/messages/count_tokens" if route == "count_tokens" else "/v1/messages"
            best: Measured | None = None
            for _ in range(rounds):
                reset = _reset_peak(pid)
                stop, worst = threading.Event(), [0.0]
                poller = threading.Thread(target=_poll_health, args=(url, stop, worst), daemon=True)
                poller.start()
                time.sleep(0.05)
                started = time.perf_counter()
                response = client.post(f"{url}{path}", content=body, headers=HEADERS)
                latency = (time.perf_counter() - started) * 1000
                stop.set()
                poller.join()
                peak = _kib(pid, "VmHWM:") / 1024 if reset else None
                found = Measured(name, len(body) / 2**20, response.status_code, latency, worst[0], peak)
                best = found if best is None or found.latency_ms < best.latency_ms else best
            results.append(best)  # type: ignore[arg-type]
    return results


def rows(url: str, pid: int, model: str) -> list[tuple[str, str, str, str, bool | None]]:
    """(measure, gateway, reference, target, ok) for the benchmark's table."""
    out = []
    for m in measure(url, pid, model):
        peak = f"{m.peak_mb:.0f} MB" if m.peak_mb is not None else "n/a"
        out.append(
            (
                f"large body: {m.name} ({m.size_mb:.1f} MB) -> {m.status}",
                f"{m.latency_ms:.0f} ms, peak RSS {peak}",
                f"/health max {m.health_max_ms:.0f} ms",
                f"peak RSS <= {RSS_LIMIT_MB} MB",
                m.peak_mb is None or m.peak_mb <= RSS_LIMIT_MB,
            )
        )
    return out


if __name__ == "__main__":  # against a running gateway: python tests/perf/large_bodies.py URL PID MODEL
    import sys

    for row in rows(sys.argv[1], int(sys.argv[2]), sys.argv[3]):
        print(" | ".join(str(cell) for cell in row))
