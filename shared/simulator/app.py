"""The simulator's HTTP app: the OAuth endpoint and one module per Salesforce model surface."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Route

from .bedrock_invoke import BedrockInvoke
from .chat_generations import ChatGenerations
from .config import SimulatorConfig
from .core import Simulator
from .models_api import ModelsApi
from .oauth import OAuthEndpoint
from .replay import Recordings, ReplayMiddleware
from .responses import Responses

SURFACES = (OAuthEndpoint, ModelsApi, BedrockInvoke, ChatGenerations, Responses)


def create_simulator_app(config: SimulatorConfig | None = None) -> Starlette:
    sim = Simulator(config)
    routes = [route for surface in SURFACES for route in surface(sim).routes()]
    routes.append(Route("/simulator/stats", sim.stats, methods=["GET"]))
    app = Starlette(routes=routes)
    app.state.simulator = sim
    if sim.config.replay_dir:  # a real org's recorded answers first (make check-org --record)
        app.state.replay = Recordings.load(Path(sim.config.replay_dir))
        app.add_middleware(ReplayMiddleware, sim=sim, recordings=app.state.replay)
    return app


__all__ = ["Simulator", "SimulatorConfig", "create_simulator_app"]
