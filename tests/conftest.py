"""Shared fixtures: the simulator and the gateway on real loopback sockets, real clients, moto.

``stack`` is one session-wide pair (simulator + gateway, no client keys). ``make_stack`` builds
extra pairs with other settings (API keys, short token lifetimes) for the tests that need them.
Helpers that tests import live in ``tests/support/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anthropic
import pytest
from support.aws import AwsEndpoint
from support.outcomes import StackCache
from support.stacks import Stack, start_stack, stop_all

from simulator.app import SimulatorConfig


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


@pytest.fixture(scope="module")
def module_stacks() -> Iterator[StackCache]:
    """Stacks shared by the tests of one module, each built once per settings (cheaper than one per test)."""
    stacks = StackCache()
    yield stacks
    stacks.stop()
