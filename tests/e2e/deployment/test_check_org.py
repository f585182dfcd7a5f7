"""``make check-org`` as a user runs it (``python -m orgcheck`` in its own process) against the simulator
on loopback: every check passes, ``--record`` writes exchanges with no secret in them, the simulator
replays them (``SIMULATOR_REPLAY``) though it would answer otherwise itself, and a failure shows
Salesforce's own text and exits 1."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support.local_server import start_local_server, wait_until_healthy

from gateway.catalog.model_map import ModelMap
from gateway.http_server import ServerThread, bind
from simulator.app import Simulator, SimulatorConfig, create_simulator_app

ROOT = Path(__file__).resolve().parents[3]
CHECKS = ("plain", "stream", "tools", "thinking", "image")
CLIENT_KEY = "client-key-never-recorded-4242"
LINE = re.compile(r"^(PASS|FAIL|SKIP)\s+(\S+)\s+(\S+)\s+(?:[\d.]+ m?s|-)\s+(.*)$")


@dataclass
class Org:
    url: str
    simulator: Simulator
    app: object
    config: SimulatorConfig


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def lines(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(model, check) -> (PASS/FAIL/SKIP, detail), from the lines printed as each check completed."""
        found = {}
        for line in self.stdout.splitlines():
            if m := LINE.match(line):
                found[(m.group(2), m.group(3))] = (m.group(1), m.group(4))
        return found


def _env(url: str, config: SimulatorConfig, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "MODEL_MAP", "GATEWAY_API_KEYS"))}
    return {
        **env,
        "PYTHONPATH": str(ROOT / "shared"),
        "SF_MY_DOMAIN": url,
        "SF_CLIENT_ID": config.client_id,
        "SF_CLIENT_SECRET": config.client_secret,
        "GATEWAY_API_KEYS": CLIENT_KEY,
        **extra,
    }


def check_org(url: str, config: SimulatorConfig, *args: str, **env: str) -> Outcome:
    result = subprocess.run(
        [sys.executable, "-m", "orgcheck", *args],
        env=_env(url, config, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Outcome(result.returncode, result.stdout, result.stderr)


def start_org(config: SimulatorConfig, running: list) -> Org:
    app = create_simulator_app(config)
    server = ServerThread(app).start()
    running.append(server)
    return Org(server.url, app.state.simulator, app, config)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Iterator[tuple[Org, Outcome, Path]]:
    """One full run over the packaged map, recorded; the org refuses no model."""
    directory = tmp_path_factory.mktemp("org-recording")
    running: list = []
    org = start_org(SimulatorConfig(refused_models=frozenset()), running)
    outcome = check_org(org.url, org.config, "--record", str(directory))
    yield org, outcome, directory
    for server in running:
        server.stop()


@pytest.fixture
def orgs() -> Iterator[list]:
    running: list = []
    yield running
    for server in running:
        server.stop()


def test_every_check_passes_for_every_model_in_the_packaged_map(recorded):
    _, outcome, _ = recorded
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    lines = outcome.lines()
    assert lines[("(org)", "token")][0] == "PASS"
    assert "JWT lifetime 30 min" in lines[("(org)", "token")][1]  # the simulator's default token TTL
    entries = ModelMap.default().entries
    for entry in entries:
        for check in CHECKS:
            result, detail = lines[(entry.id, check)]
            expect_skip = {
                "tools": not entry.tools,
                "thinking": entry.thinking == "none",
                "image": not entry.images,
            }.get(check, False)
            assert result == ("SKIP" if expect_skip else "PASS"), (entry.id, check, detail)
    # The echoing test model proves each answer came back through the gateway's translation.
    sonnet = "claude-sonnet-4-5-20250929"
    assert lines[(sonnet, "plain")][1] == '"Reply with the single word: pong"'
    assert lines[(sonnet, "tools")][1].startswith('get_weather({"city": "Paris"}) then "Tool result: 18 degrees')
    # Salesforce's 502 on thinking for a 4.5 model (the evidence's text), which the gateway answers around,
    # shows in its words on the PASS line and under the table.
    said = "HTTP 502: No user context has been created!"
    assert lines[(sonnet, "thinking")][1].endswith(f"(the gateway recovered from {said})")
    assert f"  {sonnet} thinking: {said}" in outcome.stdout
    assert "FAIL" not in outcome.stdout
    passed = sum(1 for r, _ in lines.values() if r == "PASS")
    assert f"{passed} passed, 0 failed" in outcome.stdout


def test_recordings_hold_no_token_secret_or_client_key(recorded):
    org, outcome, directory = recorded
    files = sorted(directory.glob("*.json"))
    said = re.search(r"Recorded (\d+) exchange", outcome.stdout)
    assert said and int(said.group(1)) == len(files) >= len(ModelMap.default().entries)
    tokens = {r["headers"]["authorization"][7:] for r in org.simulator.requests}
    assert tokens and all(t.count(".") == 2 for t in tokens)  # the JWTs the run actually sent
    forbidden = [*tokens, org.config.client_secret, org.config.client_id, CLIENT_KEY, "Bearer "]
    for path in files:
        text = path.read_text()
        for value in forbidden:
            assert value not in text, (path.name, value[:12])
        exchange = json.loads(text)
        assert "authorization" not in {k.lower() for k in exchange["request"]["headers"]}
        assert "oauth2" not in exchange["request"]["path"]  # the OAuth exchange is never written
    for value in forbidden[:-1]:
        assert value not in outcome.stdout + outcome.stderr


def test_the_simulator_replays_the_recording_though_it_would_refuse_every_model(recorded, orgs):
    _, first, directory = recorded
    refused = frozenset(e.salesforce_model for e in ModelMap.default().entries)
    org = start_org(SimulatorConfig(refused_models=refused, replay_dir=str(directory)), orgs)
    outcome = check_org(org.url, org.config)
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    replay = org.app.state.replay
    assert replay.hits == len(list(directory.glob("*.json"))) and replay.misses == 0
    assert org.simulator.requests and all(r.get("replayed") for r in org.simulator.requests)
    # Same answers as the recorded run (latencies aside).
    assert {k: v for k, v in outcome.lines().items() if k[0] != "(org)"} == {
        k: v for k, v in first.lines().items() if k[0] != "(org)"
    }


def test_a_refused_model_fails_in_salesforces_words_and_exits_1(orgs, tmp_path):
    org = start_org(SimulatorConfig(), orgs)  # the default simulated org refuses Claude Opus 4.1
    outcome = check_org(
        org.url, org.config, "--models", "claude-opus-4-1,claude-sonnet-4-5", "--checks", "plain,stream",
        "--record", str(tmp_path),
    )
    assert outcome.code == 1
    lines = outcome.lines()
    recorded = json.loads(next(tmp_path.glob("*claude-opus-4-1-plain.json")).read_text())
    assert recorded["response"]["status"] == 404
    said = recorded["response"]["json"]["message"]  # what Salesforce answered, as recorded
    assert lines[("claude-opus-4-1", "plain")] == ("FAIL", f"HTTP 404: {said}")
    assert lines[("claude-opus-4-1", "stream")] == ("FAIL", f"HTTP 404: {said}")
    assert lines[("claude-sonnet-4-5", "plain")][0] == "PASS"
    assert f"  claude-opus-4-1 plain: HTTP 404: {said}" in outcome.stdout  # the failures under the table
    assert "3 passed, 2 failed, 0 skipped" in outcome.stdout  # the token too


def test_a_failed_token_mint_shows_salesforces_text_and_never_the_secret(orgs):
    org = start_org(SimulatorConfig(), orgs)
    wrong = "wrong-secret-that-must-not-print"
    outcome = check_org(org.url, org.config, SF_CLIENT_SECRET=wrong)
    assert outcome.code == 1
    result, detail = outcome.lines()[("(org)", "token")]
    assert result == "FAIL" and detail.endswith("invalid client credentials")
    assert not [k for k in outcome.lines() if k[0] != "(org)"]  # no model is tried without a token
    assert not org.simulator.requests
    assert wrong not in outcome.stdout + outcome.stderr


def test_without_salesforce_settings_it_says_which_are_needed(orgs):
    org = start_org(SimulatorConfig(), orgs)
    outcome = check_org(org.url, org.config, SF_CLIENT_SECRET="")
    assert outcome.code == 2
    assert "SF_MY_DOMAIN, SF_CLIENT_ID and SF_CLIENT_SECRET" in outcome.stderr


def test_make_run_replays_with_simulator_replay(recorded, tmp_path):
    """``make run``'s simulator answers from the recording: a recorded answer edited to text the simulator
    would never produce comes back, and its replay counter says so."""
    _, _, directory = recorded
    replay_dir = tmp_path / "replay"
    shutil.copytree(directory, replay_dir)
    plain = next(replay_dir.glob("*-claude-sonnet-4-5-20250929-plain.json"))
    exchange = json.loads(plain.read_text())
    exchange["response"]["json"]["content"][0]["text"] = "an answer only the org gave"
    plain.write_text(json.dumps(exchange))
    with bind() as gateway_sock, bind() as sim_sock:
        port, sim_port = gateway_sock.getsockname()[1], sim_sock.getsockname()[1]
    env = {
        **_env("", SimulatorConfig()),
        "PORT": str(port),
        "SIMULATOR_PORT": str(sim_port),
        "SIMULATOR_REPLAY": str(replay_dir),
    }
    for name in ("SF_MY_DOMAIN", "SF_CLIENT_ID", "SF_CLIENT_SECRET"):
        env.pop(name)
    process = start_local_server(env)
    sim_url = f"http://127.0.0.1:{sim_port}"
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process, lambda: process.kill() or process.communicate()[0])
        outcome = check_org(sim_url, SimulatorConfig(), "--models", "claude-sonnet-4-5-20250929", "--checks", "plain")
        stats = httpx.get(f"{sim_url}/simulator/replay").json()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    assert outcome.code == 0, outcome.stdout
    assert outcome.lines()[("claude-sonnet-4-5-20250929", "plain")] == ("PASS", '"an answer only the org gave"')
    assert stats["hits"] == 1 and stats["recorded"] == len(list(replay_dir.glob("*.json")))
    assert f"replaying {stats['recorded']} recorded exchange(s) from {replay_dir}" in output


def test_replay_matches_across_runs_ids_and_serves_repeats_in_order(tmp_path):
    """Tool call ids and signatures come from the answers, so they differ between runs; the rest must match."""
    from simulator.replay import Recordings

    def record(name: str, tool_use_id: str, answer: str) -> None:
        messages = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use_id, "content": "ok"}]}]
        exchange = {
            "request": {"method": "POST", "path": "/ai/gpt/v1/model/m/invoke", "json": {"messages": messages}},
            "response": {"status": 200, "headers": {"content-type": "application/json"}, "json": {"text": answer}},
        }
        (tmp_path / name).write_text(json.dumps(exchange))

    record("0001-a.json", "toolu_recorded_1", "first")
    record("0002-a.json", "toolu_recorded_2", "second")
    recordings = Recordings.load(tmp_path)
    body = b'{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_now","content":"ok"}]}]}'
    answers = [recordings.answer("POST", "/ai/gpt/v1/model/m/invoke", body) for _ in range(3)]
    assert [json.loads(a.body)["text"] for a in answers if a] == ["first", "second", "second"]
    assert recordings.answer("POST", "/ai/gpt/v1/model/m/invoke", body.replace(b'"ok"', b'"other"')) is None
    assert recordings.answer("POST", "/ai/gpt/v1/model/other/invoke", body) is None
