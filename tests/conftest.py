"""Shared fixtures: the simulator and the gateway on real loopback sockets, and real clients.

``stack`` is one session-wide pair (simulator + gateway, no client keys). ``make_stack`` builds
extra pairs with other settings (API keys, short token lifetimes) for the tests that need them.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import anthropic
import httpx
import pytest

from gateway.app import create_app
from gateway.http_server import ServerThread
from gateway.settings import Settings
from simulator.app import Simulator, SimulatorConfig, create_simulator_app


@dataclass
class Stack:
    simulator_url: str
    gateway_url: str
    simulator: Simulator
    settings: Settings

    def client(self, **kwargs) -> anthropic.Anthropic:
        kwargs.setdefault("api_key", "test-key")
        kwargs.setdefault("max_retries", 0)
        return anthropic.Anthropic(base_url=self.gateway_url, **kwargs)

    def async_client(self, **kwargs) -> anthropic.AsyncAnthropic:
        kwargs.setdefault("api_key", "test-key")
        kwargs.setdefault("max_retries", 0)
        return anthropic.AsyncAnthropic(base_url=self.gateway_url, **kwargs)

    def http(self, **kwargs) -> httpx.Client:
        """A raw HTTP client for wire-level assertions; sends Anthropic's required headers by default."""
        headers = {"x-api-key": "test-key", "anthropic-version": "2023-06-01", **kwargs.pop("headers", {})}
        return httpx.Client(base_url=self.gateway_url, headers=headers, timeout=30, **kwargs)

    def backend_requests(self, path_part: str = "") -> list[dict]:
        """What the gateway sent to the simulator (path, headers, body), oldest first."""
        return [r for r in self.simulator.requests if path_part in r["path"]]


def start_stack(env: dict[str, str] | None = None, sim_config: SimulatorConfig | None = None) -> tuple[Stack, list]:
    config = sim_config or SimulatorConfig()
    sim_app = create_simulator_app(config)
    sim = ServerThread(sim_app).start()
    settings = Settings.from_env(
        {
            "SF_TOKEN_URL": f"{sim.url}/services/oauth2/token",
            "SF_CLIENT_ID": config.client_id,
            "SF_CLIENT_SECRET": config.client_secret,
            **(env or {}),
        }
    )
    gateway = ServerThread(create_app(settings=settings)).start()
    stack = Stack(sim.url, gateway.url, sim_app.state.simulator, settings)
    return stack, [gateway, sim]


def stop_all(servers: list) -> None:
    """Stop servers side by side: each uvicorn takes a moment to wind down."""
    with concurrent.futures.ThreadPoolExecutor(max(1, len(servers))) as pool:
        list(pool.map(lambda server: server.stop(), servers))


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The gateway does not retry here, so each Salesforce failure reaches the client as it is;
    tests of the gateway's own retries build a stack with ``make_stack``."""
    built, servers = start_stack({"SF_MAX_RETRIES": "0"})
    yield built
    stop_all(servers)


@pytest.fixture
def make_stack() -> Iterator[Callable[..., Stack]]:
    """Build a separate simulator + gateway pair: ``make_stack(env={...}, sim_config=SimulatorConfig(...))``."""
    running: list = []

    def build(env: dict[str, str] | None = None, sim_config: SimulatorConfig | None = None) -> Stack:
        built, servers = start_stack(env, sim_config)
        running.extend(servers)
        return built

    yield build
    stop_all(running)


@pytest.fixture
def client(stack: Stack) -> anthropic.Anthropic:
    return stack.client()


# The event types of an Anthropic message stream, besides ``ping`` and ``error``.
STREAM_EVENT_TYPES = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    }
)

# Model ids that reach each Salesforce surface in the default model map.
SURFACE_MODELS = {
    "bedrock_invoke": "claude-sonnet-4-5",
    "models_api": "claude-3-7-sonnet-latest",
    "chat_generations": "gpt-4.1-mini",
    "responses": "gpt-5.4",
}


@dataclass
class AwsEndpoint:
    """moto in server mode on loopback; boto3 reaches it through AWS_ENDPOINT_URL, as in a deployment."""

    url: str

    def client(self, service: str):
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1")


@pytest.fixture(scope="session")
def aws() -> Iterator[AwsEndpoint]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    patch = pytest.MonkeyPatch()
    url = f"http://{host}:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        patch.setenv(name, value)
    yield AwsEndpoint(url)
    patch.undo()
    server.stop()


@dataclass
class Deployment:
    """The AWS resources of one stage, created in moto, and the environment the functions get."""

    parameter: str
    table: str
    secret: str
    env: dict[str, str]


def deploy(aws: AwsEndpoint, name: str, simulator_url: str, model_map: str, sim_config: SimulatorConfig) -> Deployment:
    parameter, table, secret = f"/sf-anthropic-gateway/{name}/model-map", f"gw-{name}-verification", f"gw/{name}/sf"
    aws.client("ssm").put_parameter(Name=parameter, Value=model_map, Type="String", Overwrite=True)
    aws.client("dynamodb").create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    aws.client("dynamodb").update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    credentials = {
        "my_domain": simulator_url,
        "client_id": sim_config.client_id,
        "client_secret": sim_config.client_secret,
    }
    import json

    aws.client("secretsmanager").create_secret(Name=secret, SecretString=json.dumps(credentials))
    env = {
        "MODEL_MAP_PARAMETER": parameter,
        "VERIFICATION_TABLE": table,
        "SF_SECRET_ID": secret,
        "POWERTOOLS_SERVICE_NAME": "sf-anthropic-gateway",
        "POWERTOOLS_METRICS_NAMESPACE": f"SfAnthropicGateway/{name}",
        "STAGE": name,
        "GATEWAY_TRUST_AUTHORIZER": "true",  # as the template sets: the developer is the authorizer's
    }
    return Deployment(parameter, table, secret, env)
