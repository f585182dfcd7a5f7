"""``make run``: the gateway on 127.0.0.1:$PORT, on the built-in simulator unless Salesforce credentials are set."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from .app import create_app
from .http_server import ServerLimits, ServerThread, bind, server
from .settings import Settings

log = logging.getLogger("gateway")


def _simulator_env(sim_url: str, sim_config: object) -> dict[str, str]:
    return {
        "SF_TOKEN_URL": f"{sim_url}/services/oauth2/token",
        "SF_CLIENT_ID": sim_config.client_id,  # type: ignore[attr-defined]
        "SF_CLIENT_SECRET": sim_config.client_secret,  # type: ignore[attr-defined]
    }


async def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8080"))
    settings = Settings.from_env()
    servers = []
    simulator: ServerThread | None = None
    if not settings.has_salesforce_credentials:
        from simulator.app import SimulatorConfig, create_simulator_app

        sim_config = SimulatorConfig(
            token_ttl_seconds=float(os.environ.get("SIMULATOR_TOKEN_TTL", "1800")),
            replay_dir=os.environ.get("SIMULATOR_REPLAY") or None,  # answers recorded by make check-org
        )
        # Its own thread and event loop: whatever the simulator does never holds up the gateway's loop.
        simulator = ServerThread(create_simulator_app(sim_config), host, int(os.environ.get("SIMULATOR_PORT", "0")))
        sim_url = simulator.start().url
        settings = Settings.from_env({**os.environ, **_simulator_env(sim_url, sim_config)})
        log.info(
            "Salesforce: built-in simulator at %s (set SF_MY_DOMAIN, SF_CLIENT_ID, SF_CLIENT_SECRET for a real org)",
            sim_url,
        )
    else:
        log.info("Salesforce: %s", settings.token_url)
    if settings.keys_file:
        log.info("Developer keys: %s (make key ARGS=\"create NAME\"; any key is accepted until the first)",
                 settings.keys_file)
    if settings.api_keys:
        log.info("Client keys: %d key(s) from GATEWAY_API_KEYS", len(settings.api_keys))
    elif not settings.keys_file:
        log.warning("GATEWAY_API_KEYS is unset: accepting ANY API key")
    try:
        gateway_sock = bind(host, port)
    except OSError as exc:
        hint = "choose another port, e.g. PORT=8091 make run"
        raise SystemExit(f"Cannot listen on {host}:{port} ({exc.strerror}); {hint}") from None
    # uvicorn at its default WARNING: the lines above say what started, once, instead of twice per server.
    limits = ServerLimits.from_env()  # header cap, read timeouts, concurrency: see the README
    servers.append(server(create_app(settings=settings), gateway_sock, access_log=False, **limits.uvicorn_options()))
    log.info("Gateway: http://%s:%d  (ANTHROPIC_BASE_URL=http://%s:%d)", host, port, host, port)
    try:
        await asyncio.gather(*(srv.serve(sockets=[sock]) for srv, sock in servers))
    finally:
        if simulator is not None:
            simulator.stop()


def run() -> None:
    """uvloop when installed, as ``uvicorn`` itself would pick (``asyncio.run`` alone would not)."""
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


if __name__ == "__main__":
    try:
        run()
    except KeyboardInterrupt:
        sys.exit(0)
