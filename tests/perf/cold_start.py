"""Cold start as a Lambda user feels it: fresh processes, timed from the moment they are started.

- **MessagesFunction** runs as ``functions/messages/run.sh`` runs it under the Lambda Web Adapter: uvicorn on
  ``messages_function:app``, the layer (``shared/``) and the function's folder on ``PYTHONPATH``. Like the
  adapter, this polls ``GET /health`` every 10 ms until it answers 2xx (``AWS_LWA_READINESS_CHECK_PATH`` in
  template.yaml; the adapter's default is ``/``, which the function also serves), then sends the first
  ``POST /v1/messages`` (``events/messages_stream.json``'s body) and stops the clock at the first streamed
  byte. Timed: process start -> ready, and process start -> first byte.
- **CountTokensFunction** and **ModelsFunction** (Mangum): a fresh interpreter imports the module and calls
  ``handler`` with the first event from ``events/`` (the clock is CLOCK_MONOTONIC, shared by processes).

Settings come from the environment against bench.py's instant backend (no SSM or Secrets Manager reads;
bench.py's moto row has those). ``--root`` measures another checkout, e.g. a worktree of an older commit,
with the same harness: ``python tests/perf/cold_start.py --root /tmp/before``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODEL = "claude-bench-1"
SF_MODEL = "sfdc_ai__DefaultBedrockAnthropicClaudeBench"
HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "bench", "content-type": "application/json"}
READY_POLL = 0.010  # the Lambda Web Adapter retries its readiness check every 10 ms
START_TIMEOUT = 60.0

FIRST_INVOCATION = """
import json, sys, time
import {module}
imported = time.monotonic()
event = json.load(open(sys.argv[1]))
event["body"] = event["body"] and event["body"].replace("claude-sonnet-4-5", sys.argv[2])
response = {module}.handler(event, None)
assert response["statusCode"] == 200, response
print(json.dumps({{"imported": imported, "answered": time.monotonic()}}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings_env(root: Path, backend_url: str, model_map: Path) -> dict[str, str]:
    """The process environment for the function under test: its layer first, the instant backend as Salesforce."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "GATEWAY_", "MODEL_MAP"))}
    return {
        **env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",  # run.sh calls `python`
        "PYTHONPATH": str(root / "shared"),
        "SF_TOKEN_URL": f"{backend_url}/services/oauth2/token",
        "SF_CLIENT_ID": "bench",
        "SF_CLIENT_SECRET": "bench-secret",
        "MODEL_MAP_PATH": str(model_map),
        "LOG_LEVEL": "WARNING",
    }


def write_model_map(folder: Path) -> Path:
    path = folder / "model_map.json"
    entry = {"id": MODEL, "display_name": "Bench", "salesforce_model": SF_MODEL, "surface": "bedrock_invoke"}
    path.write_text(json.dumps({"models": [dict(entry, context_window=1_000_000, max_output_tokens=64000)]}))
    return path


def gateway_file(root: Path, env: dict[str, str]) -> str:
    """Where the subject's ``gateway`` package comes from: proof that --root is what runs."""
    out = subprocess.run(
        [sys.executable, "-c", "import gateway; print(gateway.__file__)"], env=env, capture_output=True, text=True
    )
    return out.stdout.strip()


def messages_once(root: Path, env: dict[str, str]) -> tuple[float, float]:
    """(ms to ready, ms to the first streamed byte), both from process start, for one fresh run.sh."""
    folder = root / "functions" / "messages"
    port = free_port()
    body = json.loads(json.loads((root / "events" / "messages_stream.json").read_text())["body"])
    body["model"] = MODEL
    run_env = {**env, "PORT": str(port), "LAMBDA_TASK_ROOT": str(folder)}
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    proc = subprocess.Popen(["bash", str(folder / "run.sh")], cwd=folder, env=run_env, start_new_session=True)
    try:
        with httpx.Client(timeout=30) as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"run.sh exited with {proc.returncode}")
                if time.monotonic() - started > START_TIMEOUT:
                    raise RuntimeError("the messages function did not become ready")
                try:
                    if client.get(f"{base}/health").is_success:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(READY_POLL)
            ready = time.monotonic()
            with client.stream("POST", f"{base}/v1/messages", json=body, headers=HEADERS) as response:
                if response.status_code != 200:
                    raise RuntimeError(f"first POST /v1/messages: {response.status_code} {response.read()[:200]!r}")
                first_byte = 0.0
                for chunk in response.iter_raw():  # the whole answer, so the server ends cleanly
                    if chunk and not first_byte:
                        first_byte = time.monotonic()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return (ready - started) * 1000, (first_byte - started) * 1000


def mangum_once(root: Path, env: dict[str, str], function: str, event: str) -> tuple[float, float]:
    """(ms to module imported, ms to the first answer), both from process start."""
    folder = root / "functions" / function
    code = FIRST_INVOCATION.format(module=f"{function}_function")
    run_env = {**env, "PYTHONPATH": f"{env['PYTHONPATH']}{os.pathsep}{folder}"}
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", code, str(root / "events" / event), MODEL],
        cwd=folder,
        env=run_env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{function}: {out.stderr[-500:]}")
    marks = json.loads(out.stdout.strip().splitlines()[-1])
    return (marks["imported"] - started) * 1000, (marks["answered"] - started) * 1000


def bare_once() -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return (time.monotonic() - started) * 1000


def measure(backend_url: str, rounds: int = 5, root: Path = ROOT) -> dict[str, tuple[float, float]]:
    """Medians over ``rounds`` fresh processes of each kind, in turn: {name: (first mark, last mark)} in ms."""
    with tempfile.TemporaryDirectory() as tmp:
        env = settings_env(root, backend_url, write_model_map(Path(tmp)))
        samples: dict[str, list[tuple[float, float]]] = {
            "messages (run.sh)": [],
            "count_tokens": [],
            "models": [],
            "bare": [],
        }
        for _ in range(rounds):
            samples["messages (run.sh)"].append(messages_once(root, env))
            samples["count_tokens"].append(mangum_once(root, env, "count_tokens", "count_tokens.json"))
            samples["models"].append(mangum_once(root, env, "models", "models_list.json"))
            bare = bare_once()
            samples["bare"].append((bare, bare))
    return {
        name: (statistics.median(a for a, _ in runs), statistics.median(b for _, b in runs))
        for name, runs in samples.items()
    }


def rows(backend_url: str, rounds: int = 5, root: Path = ROOT) -> list[tuple]:
    """bench.py's rows: (measure, gateway, reference, target, ok)."""
    result = measure(backend_url, rounds, root)
    bare = result["bare"][0]
    ready, first = result["messages (run.sh)"]
    out = [
        (
            f"cold start end to end, messages: run.sh -> ready / first streamed byte (median of {rounds})",
            f"{ready:.0f} / {first:.0f} ms",
            f"bare interpreter {bare:.0f} ms",
            "",
            None,
        )
    ]
    for name in ("count_tokens", "models"):
        imported, answered = result[name]
        out.append(
            (
                f"cold start, {name}: import / first invocation answered (Mangum)",
                f"{imported:.0f} / {answered:.0f} ms",
                f"bare interpreter {bare:.0f} ms",
                "",
                None,
            )
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="cold start of each Lambda function, from process start")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure (default: this one)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = args.root.resolve()
    port = free_port()
    backend = subprocess.Popen(
        [sys.executable, str(HERE / "bench.py"), "--serve-backend", str(port)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "shared")},
    )
    backend_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                httpx.post(f"{backend_url}/services/oauth2/token", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        with tempfile.TemporaryDirectory() as tmp:
            print(f"gateway from {gateway_file(root, settings_env(root, backend_url, Path(tmp) / 'none.json'))}")
        for cells in rows(backend_url, args.rounds, root):
            print(" | ".join(str(c) for c in cells[:3]))
    finally:
        backend.terminate()
        backend.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
