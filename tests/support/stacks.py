"""The simulator and the gateway on real loopback sockets, and what tests ask of them."""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass

import anthropic
import httpx

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
