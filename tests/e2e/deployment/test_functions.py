"""Each Lambda function invoked as Lambda invokes it: its handler with the API Gateway events in events/,
against SSM, DynamoDB and Secrets Manager in moto and Salesforce in the simulator. Plus the messages
function served as the Lambda Web Adapter serves it (uvicorn, deployment environment), streaming."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from support.aws import deploy
from support.template import dashboard_metrics

from gateway.catalog.model_map import default_map_bytes
from gateway.http_server import bind
from gateway.telemetry import METRICS
from simulator.app import SimulatorConfig

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events"
FUNCTIONS = {
    "messages": ROOT / "functions" / "messages" / "messages_function.py",
    "count_tokens": ROOT / "functions" / "count_tokens" / "count_tokens_function.py",
    "models": ROOT / "functions" / "models" / "models_function.py",
}


class LambdaContext:
    function_name = "test"
    aws_request_id = "lambda-request-id"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def event(name: str, **changes) -> dict:
    loaded = json.loads((EVENTS / name).read_text())
    updated = copy.deepcopy(loaded)
    if "body" in changes:
        updated["body"] = json.dumps(changes.pop("body"))
    updated.update(changes)
    return updated


@pytest.fixture(scope="module")
def functions(aws, stack):
    """Import each function module the way Lambda does: once, with the stage's environment."""
    deployment = deploy(aws, "fn-test", stack.simulator_url, default_map_bytes().decode(), SimulatorConfig())
    patch = pytest.MonkeyPatch()
    for key, value in deployment.env.items():
        patch.setenv(key, value)
    yield load_functions(), deployment
    patch.undo()


def load_functions() -> dict:
    """A fresh import of every function module: what a new Lambda container does."""
    loaded = {}
    for name, path in FUNCTIONS.items():
        spec = importlib.util.spec_from_file_location(f"lambda_{name}_function", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        loaded[name] = module
    return loaded


def invoke(functions, name: str, payload: dict) -> dict:
    loaded, _ = functions
    response = loaded[name].handler(payload, LambdaContext())
    headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
    return {**response, "headers": headers}


def test_messages_event(functions):
    response = invoke(functions, "messages", event("messages.json"))
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["content"] == [{"type": "text", "text": "Hello from API Gateway"}]
    assert body["id"].startswith("msg_") and body["model"] == "claude-sonnet-4-5"
    assert response["headers"]["request-id"].startswith("req_")


def test_messages_stream_event_buffered_through_mangum(functions):
    response = invoke(functions, "messages", event("messages_stream.json"))
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"].startswith("text/event-stream")
    names = [line[7:] for line in response["body"].splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert "content_block_delta" in names


def test_count_tokens_event(functions):
    response = invoke(functions, "count_tokens", event("count_tokens.json"))
    assert response["statusCode"] == 200
    tokens = json.loads(response["body"])["input_tokens"]
    bigger = json.loads(event("count_tokens.json")["body"])
    bigger["system"] = "You are terse. " * 50
    more = json.loads(invoke(functions, "count_tokens", event("count_tokens.json", body=bigger))["body"])
    assert 0 < tokens < more["input_tokens"]


def test_models_events(functions):
    listing = invoke(functions, "models", event("models_list.json"))
    assert listing["statusCode"] == 200
    page = json.loads(listing["body"])
    assert len(page["data"]) == 5 and page["has_more"] is True
    assert page["first_id"] == page["data"][0]["id"]
    one = invoke(functions, "models", event("models_get.json"))
    assert json.loads(one["body"])["id"] == "claude-sonnet-4-5-20250929"


def test_models_function_serves_only_its_routes(functions):
    response = invoke(functions, "models", event("messages.json"))
    assert response["statusCode"] == 404
    assert json.loads(response["body"])["error"]["type"] == "not_found_error"


def test_errors_from_the_backend_keep_their_status_through_the_handler(functions):
    body = json.loads(event("messages.json")["body"])
    body["messages"][0]["content"] = "busy [[error:503]]"
    response = invoke(functions, "messages", event("messages.json", body=body))
    assert response["statusCode"] == 529
    assert json.loads(response["body"])["error"]["type"] == "overloaded_error"


def emitted_metrics(output: str) -> set[tuple[str, frozenset[str]]]:
    found = set()
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "SfAnthropicGateway/fn-test"
            dims = frozenset(directive["Dimensions"][0])
            for metric in directive["Metrics"]:
                assert metric["Name"] in blob, "EMF blob must carry the metric's value"
                found.add((metric["Name"], dims))
    return found


def test_every_metric_the_dashboard_reads_is_emitted(functions, capsys):
    functions = (load_functions(), functions[1])  # new containers, so cold starts are counted here
    capsys.readouterr()
    invoke(functions, "messages", event("messages.json"))
    invoke(functions, "messages", event("messages_stream.json"))
    failing = json.loads(event("messages.json")["body"])
    failing["messages"][0]["content"] = "fail [[error:500]]"
    invoke(functions, "messages", event("messages.json", body=failing))
    thinking = json.loads(event("messages.json")["body"])  # Sonnet 4.5 refuses thinking: ThinkingFallbacks
    thinking.update(max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024})
    invoke(functions, "messages", event("messages.json", body=thinking))
    invoke(functions, "count_tokens", event("count_tokens.json"))
    invoke(functions, "models", event("models_list.json"))
    emitted = emitted_metrics(capsys.readouterr().out)
    source = __import__("samtranslator.yaml_helper", fromlist=["yaml_parse"]).yaml_parse(
        (ROOT / "template.yaml").read_text()
    )
    read = dashboard_metrics(source)
    assert read <= emitted, f"dashboard reads metrics never emitted: {read - emitted}"
    assert {name for name, _ in emitted} <= set(METRICS)


def _deployment_env(functions, stack, aws) -> dict[str, str]:
    _, deployment = functions
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV"))}
    env.update(deployment.env)
    env.update(
        {
            "PYTHONPATH": str(ROOT / "shared"),  # the layer is /opt/python in Lambda
            "AWS_LAMBDA_FUNCTION_NAME": "sf-anthropic-gateway-messages",
            "AWS_ENDPOINT_URL": aws.url,
        }
    )
    return env


def test_messages_function_streams_under_the_web_adapter_setup(functions, stack, aws):
    """run.sh's command with the deployment's environment: the first SSE event arrives while
    the backend is still streaming, not after it finished."""
    sock = bind()
    port = sock.getsockname()[1]
    sock.close()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "messages_function:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(
        command,
        cwd=ROOT / "functions" / "messages",
        env=_deployment_env(functions, stack, aws),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:  # the adapter's readiness check
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "function did not become ready"
            time.sleep(0.05)
        delay_ms = 250
        body = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 100,
            "stream": True,
            "messages": [{"role": "user", "content": f"one two three four five six [[delay:{delay_ms}]]"}],
        }
        arrivals: list[tuple[float, str]] = []
        context = {"requestId": "apigw-1", "authorizer": {"developer": "ada"}}  # as the Lambda Web Adapter sends
        headers = {"anthropic-version": "2023-06-01", "x-amzn-request-context": json.dumps(context)}
        started = time.monotonic()
        with httpx.stream("POST", f"{base}/v1/messages", json=body, headers=headers, timeout=30) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("event: "):
                    arrivals.append((time.monotonic() - started, line[7:]))
        deltas = [t for t, name in arrivals if name == "content_block_delta"]
        assert len(deltas) == 6
        # The simulator waits delay_ms between chunks: a buffered path would deliver them all at once.
        assert deltas[-1] - deltas[0] >= 4 * delay_ms / 1000
        assert arrivals[0][1] == "message_start" and arrivals[-1][1] == "message_stop"
        request_id = response.headers["request-id"]
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0].decode()
    assert SimulatorConfig().client_secret not in output
    # Logs are JSON lines (Powertools' formatter) carrying both ids; EMF metric blobs are JSON lines too.
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    logs = [r for r in records if "_aws" not in r]
    summary = next(r for r in logs if r.get("route") == "messages")
    assert summary["request_id"] == request_id
    assert summary["correlation_id"] == "apigw-1"
    assert summary["status"] == 200 and summary["model"] == "claude-sonnet-4-5-20250929"
    assert summary["level"] == "INFO"
    assert any("_aws" in r for r in records), "EMF metrics go to stdout"
