"""``make bench``'s processes on loopback: an instant backend in the LLM Gateway's Bedrock-invoke format (the
"direct" one-hop server), the gateway in front of it (``python -m gateway.local_server``) and the thinnest
Starlette proxy beside it. ``bench.py --serve-backend PORT`` / ``--serve-proxy PORT`` run the first and last."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
BENCH = Path(__file__).resolve().parent / "bench.py"

MODEL = "claude-bench-1"
SF_MODEL = "sfdc_ai__DefaultBedrockAnthropicClaudeBench"
STREAM_CHUNKS = 200
STREAM_PACE = 0.005  # seconds between backend chunks


# --- the instant backend ----------------------------------------------------------------------------------


def backend_app():
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    from simulator.eventstream import chunk_frame

    payload = base64.urlsafe_b64encode(json.dumps({"exp": int(time.time()) + 86400, "iat": 0}).encode())
    token = "eyJhbGciOiJub25lIn0." + payload.decode().rstrip("=") + ".sig"
    answer = json.dumps(
        {
            "id": "msg_bdrk_bench",
            "type": "message",
            "role": "assistant",
            "model": "bench",
            "content": [{"type": "text", "text": "Hello from the instant backend."}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 6},
        }
    ).encode()

    async def oauth(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return JSONResponse({"access_token": token, "api_instance_url": base, "token_type": "Bearer"})

    async def invoke(request: Request) -> Response:
        await request.body()
        return Response(answer, media_type="application/json")

    async def stream(request: Request) -> Response:
        await request.body()

        async def frames():
            start = {
                "type": "message_start",
                "message": {
                    "id": "msg_bdrk",
                    "type": "message",
                    "role": "assistant",
                    "model": "bench",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 12, "output_tokens": 1},
                },
            }
            yield chunk_frame(start)
            yield chunk_frame(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
            )
            for i in range(STREAM_CHUNKS):
                await asyncio.sleep(STREAM_PACE)
                # The send time travels in the text: CLOCK_MONOTONIC is shared by processes on one machine.
                delta = {"type": "text_delta", "text": f"{i}:{time.monotonic():.6f} "}
                yield chunk_frame({"type": "content_block_delta", "index": 0, "delta": delta})
            yield chunk_frame({"type": "content_block_stop", "index": 0})
            yield chunk_frame(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": STREAM_CHUNKS},
                }
            )
            yield chunk_frame({"type": "message_stop"})

        return StreamingResponse(frames(), media_type="application/vnd.amazon.eventstream")

    return Starlette(
        routes=[
            Route("/services/oauth2/token", oauth, methods=["POST"]),
            Route("/ai/gpt/v1/model/{model}/invoke", invoke, methods=["POST"]),
            Route("/ai/gpt/v1/model/{model}/invoke-with-response-stream", stream, methods=["POST"]),
        ]
    )


def serve_backend(port: int) -> None:
    import uvicorn

    uvicorn.run(backend_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def proxy_app(backend_url: str):
    """The least a Starlette proxy can do: body in, the same body out to the backend, its answer back."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from gateway.salesforce.http import SalesforceHttp
    from gateway.settings import Settings

    http = SalesforceHttp(Settings())  # the gateway's own way out: the same pool and timeouts

    async def forward(request: Request) -> Response:
        response = await http.send(
            "POST",
            backend_url + request.url.path,
            headers={"authorization": request.headers.get("authorization", ""), "content-type": "application/json"},
            content=await request.body(),
        )
        return Response(response.content, status_code=response.status_code, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])])


def serve_proxy(port: int, backend_url: str) -> None:
    import uvicorn

    uvicorn.run(proxy_app(backend_url), host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- process plumbing ---------------------------------------------------------------------------------------


def free_port() -> int:
    from gateway.http_server import bind

    sock = bind()
    port = sock.getsockname()[1]
    sock.close()
    return port


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.post(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not start")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Stack:
    backend: subprocess.Popen
    gateway: subprocess.Popen
    proxy: subprocess.Popen
    backend_url: str
    gateway_url: str
    proxy_url: str
    token: str = ""
    tmp: tempfile.TemporaryDirectory = field(default_factory=tempfile.TemporaryDirectory)

    def stop(self) -> None:
        for proc in (self.gateway, self.proxy, self.backend):
            proc.terminate()
            proc.wait(timeout=10)
        self.tmp.cleanup()


def start_stack() -> Stack:
    tmp = tempfile.TemporaryDirectory()
    backend_port, gateway_port, proxy_port = free_port(), free_port(), free_port()
    backend_url, gateway_url = f"http://127.0.0.1:{backend_port}", f"http://127.0.0.1:{gateway_port}"
    proxy_url = f"http://127.0.0.1:{proxy_port}"
    model_map = Path(tmp.name) / "model_map.json"
    model_map.write_text(
        json.dumps(
            {
                "models": [
                    {
                        "id": MODEL,
                        "display_name": "Bench",
                        "salesforce_model": SF_MODEL,
                        "surface": "bedrock_invoke",
                        "context_window": 1_000_000,
                        "max_output_tokens": 64000,
                    }
                ]
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared")}
    backend = subprocess.Popen([sys.executable, str(BENCH), "--serve-backend", str(backend_port)], env=env)
    gateway_env = {
        **env,
        "PORT": str(gateway_port),
        "SF_TOKEN_URL": f"{backend_url}/services/oauth2/token",
        "SF_CLIENT_ID": "bench",
        "SF_CLIENT_SECRET": "bench-secret",
        "MODEL_MAP_PATH": str(model_map),
        "LOG_LEVEL": "WARNING",
    }
    gateway = subprocess.Popen(
        [sys.executable, "-m", "gateway.local_server"], env=gateway_env, stderr=subprocess.DEVNULL
    )
    proxy = subprocess.Popen(
        [sys.executable, str(BENCH), "--serve-proxy", str(proxy_port), "--backend-url", backend_url], env=env
    )
    wait_ready(f"{backend_url}/services/oauth2/token")
    wait_ready(f"{gateway_url}/health")
    wait_ready(f"{proxy_url}/services/oauth2/token")
    stack = Stack(backend, gateway, proxy, backend_url, gateway_url, proxy_url, tmp=tmp)
    stack.token = httpx.post(f"{backend_url}/services/oauth2/token").json()["access_token"]
    return stack


@contextmanager
def moto_on_loopback() -> Iterator[dict[str, str]]:
    """moto in server mode on loopback, and the environment that points boto3 at it (as a deployment's would)."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    finally:
        server.stop()
