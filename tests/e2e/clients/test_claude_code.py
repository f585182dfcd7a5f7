"""Claude Code (the current npm release) end to end through the gateway and the Salesforce simulator.

Each test starts its own gateway with a client key, puts a recording proxy (tests/claude_code.py) in front of it,
runs ``claude -p`` with a throwaway HOME, and checks the answer, what Claude Code sent, and what reached
Salesforce. The tests skip when Node.js/npm are missing. The last group replays Claude Code's background requests
(model discovery, quota probe, count_tokens) straight at the gateway and needs no Node.js.

UPDATE_CLAUDE_CODE_SNAPSHOT=1 rewrites tests/fixtures/claude_code/wire_snapshot.json from a real run.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support.claude_code import (
    ALLOW_BASH,
    CaptureProxy,
    ClaudeCodeInstallFailed,
    ClaudeCodeUnavailable,
    Exchange,
    Run,
    build_snapshot,
    compare_with_snapshot,
    ensure_installed,
    run_claude,
    snapshot_diff,
    version,
    wire_summary,
)

from gateway.catalog.model_map import ModelMap

KEY = "cc-test-key"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "claude_code"
SNAPSHOT = FIXTURES / "wire_snapshot.json"
PROMPT = "Reply with this exact text: hello-gateway"
# Claude Code gives GET /v1/models?limit=1000 this long (CLAUDE_CODE_GATEWAY_MODEL_DISCOVERY_TIMEOUT_MS: 3000).
DISCOVERY_TIMEOUT = 3.0
AUTH_KINDS = ("api_key", "auth_token")


# ------------------------------ fixtures


@pytest.fixture(scope="module")
def claude() -> list[str]:
    try:
        return ensure_installed()
    except ClaudeCodeUnavailable as exc:
        pytest.skip(f"Claude Code tests skipped: {exc}")
    except ClaudeCodeInstallFailed as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def claude_version(claude: list[str]) -> str:
    return version(claude)


@dataclass(repr=False)
class Gateway:
    stack: object
    proxy: CaptureProxy

    @property
    def url(self) -> str:
        return self.proxy.url

    def messages(self) -> list[Exchange]:
        return [e for e in self.proxy.exchanges if e.method == "POST" and e.path.split("?")[0] == "/v1/messages"]

    def backend(self, path_part: str = "") -> list[dict]:
        return self.stack.backend_requests(path_part)

    def __repr__(self) -> str:  # pytest prints fixtures on failure: URLs only, never the settings with the key
        return f"Gateway(proxy={self.proxy.url} -> {self.proxy.target})"


@pytest.fixture
def gateway(make_stack):
    stack = make_stack(env={"GATEWAY_API_KEYS": KEY})
    proxy = CaptureProxy(stack.gateway_url).start()
    yield Gateway(stack, proxy)
    proxy.stop()


def credentials(kind: str, key: str = KEY) -> dict[str, str]:
    return {"api_key": key} if kind == "api_key" else {"auth_token": key}


def claude_run(
    claude: list[str], gateway: Gateway, tmp_path: Path, prompt: str, auth: str = "api_key", **kwargs
) -> Run:
    return run_claude(
        claude, gateway.url, prompt, home=tmp_path / "home", cwd=tmp_path / "work", **credentials(auth), **kwargs
    )


def traffic(gateway: Gateway) -> str:
    """What Claude Code sent and what the gateway answered, one line per request (no header values)."""
    lines = []
    for e in gateway.proxy.exchanges:
        model = e.body.get("model") if isinstance(e.body, dict) else None
        answer = e.response_body[:300] if e.status and e.status >= 400 else ""
        lines.append(f"  {e.method} {e.path} model={model} -> {e.status} {answer}")
    return "traffic:\n" + "\n".join(lines or ["  (none)"])


def explain(run: Run, gateway: Gateway) -> str:
    return f"{run.describe()}\n{traffic(gateway)}"


NOTED: set[str] = set()


def note(message: str) -> None:
    """A finding that must not fail the test: printed, and listed once in pytest's warnings summary."""
    print(f"NOTE: {message}")
    if message not in NOTED:
        NOTED.add(message)
        warnings.warn(message, UserWarning, stacklevel=2)


def check_success(run: Run, gateway: Gateway) -> None:
    assert run.returncode == 0, f"Claude Code failed\n{explain(run, gateway)}"
    result = run.result
    assert result is not None, f"no JSON result on stdout\n{explain(run, gateway)}"
    assert result.get("is_error") is False, f"Claude Code reports an error\n{explain(run, gateway)}"
    posts = gateway.messages()
    assert posts and posts[-1].status == 200, f"the last POST /v1/messages was not answered 200\n{traffic(gateway)}"
    for e in posts:
        if e.status == 200:
            continue
        # Claude Code asks for more output tokens than the gateway's entry allows, reads Anthropic's
        # "max_tokens: N > M" 400 and retries with M: tolerated, but reported.
        message = re.search(r"max_tokens: \d+ > \d+", e.response_body) if e.status == 400 else None
        if message:
            note(f"{e.body.get('model')}: first request refused ({message.group()}); Claude Code retried with less")
            continue
        pytest.fail(f"{e.method} {e.path} was answered {e.status}\n{explain(run, gateway)}")


def check_credentials(gateway: Gateway, auth: str) -> None:
    """x-api-key for ANTHROPIC_API_KEY, Authorization: Bearer for ANTHROPIC_AUTH_TOKEN (values never printed)."""
    for e in gateway.messages():
        names = sorted(e.headers)
        if auth == "api_key":
            right = e.headers.get("x-api-key") == KEY
            assert right, f"{e.path}: x-api-key missing or not the configured key; header names: {names}"
            assert "authorization" not in e.headers, f"{e.path}: unexpected Authorization header"
        else:
            right = e.headers.get("authorization") == f"Bearer {KEY}"
            assert right, f"{e.path}: Authorization: Bearer missing or not the key; header names: {names}"
            assert "x-api-key" not in e.headers, f"{e.path}: unexpected x-api-key header"


def expected_backend(model: str) -> str:
    """The simulator path the gateway must call for ``model`` (streaming, as Claude Code always streams)."""
    entry = ModelMap.default().find(model)
    assert entry is not None, f"{model} is not in the default model map"
    return {
        "bedrock_invoke": f"/ai/gpt/v1/model/{entry.salesforce_model}/invoke-with-response-stream",
        "chat_generations": "/ai/gpt/v1/chat/generations/stream",
        "models_api": f"/einstein/platform/v1/models/{entry.salesforce_model}/chat-generations",
    }[entry.surface]


def backend_bodies(gateway: Gateway) -> list[tuple[str, dict]]:
    """(Salesforce model, body) of every Bedrock call, oldest first."""
    return [(r["path"].split("/")[-2], json.loads(r["body"])) for r in gateway.backend("/model/")]


def carries_thinking(body: dict) -> bool:
    """What older Claude models answer with a 502 on real orgs: thinking, thinking history blocks, betas."""
    blocks = [b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"]]
    history = any(b.get("type") in ("thinking", "redacted_thinking") for b in blocks)
    return "thinking" in body or bool(body.get("anthropic_beta")) or history


def answered(gateway: Gateway, model: str) -> list[dict]:
    """The Salesforce calls that got an answer: on older Claude models those carrying thinking or betas are
    refused with a 502 (as on real orgs) and answered again without them."""
    entry = ModelMap.default().find(model)
    bodies = [json.loads(r["body"]) for r in gateway.backend()]
    if entry is not None and entry.surface == "bedrock_invoke" and entry.thinking != "adaptive":
        return [body for body in bodies if not carries_thinking(body)]
    return bodies


def check_backend(gateway: Gateway, calls: int) -> str:
    """Every model Claude Code asked for reached its Salesforce surface; returns the main model id."""
    served = [e for e in gateway.messages() if e.status == 200]
    models = {e.body["model"] for e in served}
    assert len(models) == 1, f"Claude Code used several models: {sorted(models)}\n{traffic(gateway)}"
    model = models.pop()
    paths = [r["path"] for r in gateway.backend()]
    want = expected_backend(model)
    assert paths and set(paths) == {want}, f"{model}: expected calls to {want}, Salesforce saw {paths}"
    got = len(answered(gateway, model))
    assert got == calls, f"{model}: expected {calls} answered call(s) to {want}, Salesforce saw {paths}"
    return model


def tool_prompt() -> tuple[str, str]:
    """A prompt that makes the simulator call Bash, and the output only running the command can produce."""
    marker = f"tool-loop-{uuid.uuid4().hex[:12]}"
    command = f"echo {marker}-$((6*7))"
    return f"Run this. [[tool:Bash {json.dumps({'command': command})}]]", f"{marker}-42"


def check_tool_loop(run: Run, gateway: Gateway, expected: str) -> None:
    check_success(run, gateway)
    assert run.text.startswith("Tool result:") and expected in run.text, (
        f"expected the simulator's 'Tool result: ...{expected}...'\n{explain(run, gateway)}"
    )
    posts = [e for e in gateway.messages() if e.status == 200]
    assert len(posts) == 2, f"expected the tool_use turn and the tool_result turn\n{traffic(gateway)}"
    # The last user turn: Claude Code may append a role "system" message after it (mid-conversation system).
    last_turn = next(m for m in reversed(posts[-1].body["messages"]) if m["role"] == "user")
    results = [b for b in last_turn["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]
    assert results and expected in json.dumps(results), f"Claude Code's tool_result lacks {expected}: {last_turn}"
    assert expected in json.dumps(gateway.backend()[-1]["body"]), "the tool result did not reach Salesforce"


# ------------------------------ 1-3: prompt, tool loop, keys


@pytest.mark.parametrize("auth", AUTH_KINDS)
def test_plain_prompt(claude, gateway, tmp_path, auth):
    run = claude_run(claude, gateway, tmp_path, PROMPT, auth)
    check_success(run, gateway)
    assert run.text.strip() == PROMPT, f"expected the simulator's echo\n{explain(run, gateway)}"
    check_credentials(gateway, auth)
    check_backend(gateway, calls=1)


@pytest.mark.parametrize("auth", AUTH_KINDS)
def test_tool_loop(claude, gateway, tmp_path, auth):
    prompt, expected = tool_prompt()
    run = claude_run(claude, gateway, tmp_path, prompt, auth, extra_args=ALLOW_BASH)
    check_tool_loop(run, gateway, expected)
    check_credentials(gateway, auth)
    check_backend(gateway, calls=2)


@pytest.mark.parametrize("auth", AUTH_KINDS)
def test_wrong_key_is_refused(claude, gateway, tmp_path, auth):
    # CLAUDE_CODE_MAX_RETRIES=0: see test_wrong_key_fails_without_retrying for the run without it.
    run = run_claude(
        claude,
        gateway.url,
        PROMPT,
        home=tmp_path / "home",
        cwd=tmp_path / "work",
        env={"CLAUDE_CODE_MAX_RETRIES": "0"},
        timeout=60,
        **credentials(auth, "wrong-key"),
    )
    assert run.returncode not in (0, None), f"a wrong key must fail\n{explain(run, gateway)}"
    result = run.result or {}
    shown = f"{run.text}\n{run.stderr}".lower()
    assert result.get("api_error_status") == 401 or any(
        word in shown for word in ("invalid api key", "authentication", "login")
    ), f"expected an authentication error message\n{explain(run, gateway)}"
    assert {e.status for e in gateway.messages()} == {401}, traffic(gateway)
    assert gateway.backend("/ai/") == [] and gateway.backend("/einstein/") == [], "a refused request reached Salesforce"


def test_wrong_key_fails_without_retrying(claude, gateway, tmp_path):
    """With its default retries Claude Code gives up on a 401 at once only when told ``x-should-retry: false``."""
    run = run_claude(
        claude,
        gateway.url,
        PROMPT,
        home=tmp_path / "home",
        cwd=tmp_path / "work",
        api_key="wrong-key",
        timeout=30,
    )
    posts = gateway.messages()
    headers = posts[0].response_headers if posts else {}
    assert run.returncode is not None and len(posts) == 1, (
        f"Claude Code sent POST /v1/messages {len(posts)} times in {run.seconds:.0f} s "
        f"(exit {run.returncode}) for a wrong key: it retries a 401 unless the answer carries "
        f"'x-should-retry: false' (gateway sent x-should-retry={headers.get('x-should-retry')!r})\n"
        f"{explain(run, gateway)}"
    )
    assert run.returncode != 0, explain(run, gateway)


def test_auth_error_tells_clients_not_to_retry(make_stack):
    """The header Claude Code (and the Anthropic SDKs) read before retrying a 401."""
    stack = make_stack(env={"GATEWAY_API_KEYS": KEY})
    with stack.http(headers={"x-api-key": "wrong-key"}) as http:
        answer = http.post("/v1/messages?beta=true", json={"model": "claude-opus-4-5", "max_tokens": 5, "messages": []})
    assert answer.status_code == 401
    assert answer.headers.get("x-should-retry") == "false", f"401 headers: {dict(answer.headers)}"


# ------------------------------ 4: families and surfaces


@dataclass(frozen=True)
class Case:
    name: str
    model: str | None  # --model; None: Claude Code's default
    sent: str  # regex the model id Claude Code sends must match
    env: tuple[tuple[str, str], ...] = ()


CASES = [
    Case("default", None, r"^claude-opus-"),
    Case("claude-sonnet-4-6", "claude-sonnet-4-6", r"^claude-sonnet-4-6$"),
    Case("sonnet-alias", "sonnet", r"^claude-sonnet-"),
    Case("haiku-alias", "haiku", r"^claude-haiku-"),
    Case("haiku-env", "haiku", r"^claude-haiku-4-5$", env=(("ANTHROPIC_DEFAULT_HAIKU_MODEL", "claude-haiku-4-5"),)),
    Case("chat_generations", "gpt-4.1-mini", r"^gpt-4\.1-mini$"),
]


@pytest.mark.parametrize(
    ("case", "tools"),
    [
        pytest.param(case, tools, id=f"{case.name}-{'tool-loop' if tools else 'plain'}")
        for case in CASES
        for tools in (False, True)
    ],
)
def test_model_family_and_surface(claude, gateway, tmp_path, case, tools):
    prompt, expected = tool_prompt() if tools else (PROMPT, PROMPT)
    run = claude_run(
        claude, gateway, tmp_path, prompt, model=case.model, env=dict(case.env), extra_args=ALLOW_BASH if tools else ()
    )
    if tools:
        check_tool_loop(run, gateway, expected)
    else:
        check_success(run, gateway)
        # bedrock_invoke echoes the last text block; the text-only surfaces get the user turn's blocks joined.
        assert run.text.rstrip().endswith(PROMPT), f"expected the simulator's echo\n{explain(run, gateway)}"
    model = check_backend(gateway, calls=2 if tools else 1)
    assert re.search(case.sent, model), f"Claude Code sent model {model!r}, expected /{case.sent}/"
    print(f"{case.name}: Claude Code sent model {model} -> {expected_backend(model)}")


# ------------------------------ thinking per Claude generation (salesforce-evidence.md, Bedrock invoke)


def thinking_sent(gateway: Gateway) -> list[str | None]:
    return [(e.body.get("thinking") or {}).get("type") for e in gateway.messages()]


def test_tool_loop_with_adaptive_thinking(claude, gateway, tmp_path):
    """Claude Sonnet 4.6 takes only adaptive thinking: Claude Code's reaches Salesforce as is, one call a turn."""
    prompt, expected = tool_prompt()
    run = claude_run(claude, gateway, tmp_path, prompt, model="claude-sonnet-4-6", extra_args=ALLOW_BASH)
    check_tool_loop(run, gateway, expected)
    assert thinking_sent(gateway) == ["adaptive", "adaptive"], f"Claude Code's defaults changed\n{traffic(gateway)}"
    sent = backend_bodies(gateway)
    assert [model for model, _ in sent] == [ModelMap.default().find("claude-sonnet-4-6").salesforce_model] * 2
    assert all(body["thinking"] == {"type": "adaptive"} for _, body in sent), sent


def test_tool_loop_with_thinking_on_an_older_model(claude, gateway, tmp_path):
    """Claude Sonnet 4.5 with Claude Code's default thinking and betas: Salesforce answers them with a 502, the
    gateway answers the turn without them, and the next turn goes without them from the start (remembered)."""
    prompt, expected = tool_prompt()
    run = claude_run(claude, gateway, tmp_path, prompt, model="claude-sonnet-4-5", extra_args=ALLOW_BASH)
    check_tool_loop(run, gateway, expected)
    assert thinking_sent(gateway) == ["enabled", "enabled"], f"Claude Code's defaults changed\n{traffic(gateway)}"
    sent = backend_bodies(gateway)
    alias = ModelMap.default().find("claude-sonnet-4-5").salesforce_model
    assert {model for model, _ in sent} == {alias}
    refused = [i for i, (_, body) in enumerate(sent) if carries_thinking(body)]
    plain = [i for i, (_, body) in enumerate(sent) if not carries_thinking(body)]
    assert len(plain) == 2, f"expected one plain call per turn, Salesforce saw {len(sent)} calls"
    assert refused and max(refused) < plain[0], "only the first turn may try thinking: the refusal is remembered"


def test_opus_alias_answers(claude, gateway, tmp_path):
    """``--model opus``: Claude Code sends its newest Opus id, served by the newest Opus on Salesforce."""
    run = claude_run(claude, gateway, tmp_path, PROMPT, model="opus")
    check_success(run, gateway)
    assert run.text.strip() == PROMPT, f"expected the simulator's echo\n{explain(run, gateway)}"
    model = check_backend(gateway, calls=1)
    assert model.startswith("claude-opus-"), model
    entry = ModelMap.default().find(model)
    assert entry is not None and entry.thinking == "adaptive", f"{model} is served by {entry}"
    newest = max((e for e in ModelMap.default().entries if e.id.startswith("claude-opus-")), key=lambda e: e.created_at)
    assert entry.salesforce_model == newest.salesforce_model, f"{model} -> {entry.salesforce_model}"


def test_text_only_model_is_refused_clearly(claude, gateway, tmp_path):
    """Claude Code always sends its tools: a model whose surface cannot carry them is a 400 that says so (and
    names models that can), not an answer that silently ignores them."""
    run = claude_run(
        claude, gateway, tmp_path, PROMPT, model="claude-3-7-sonnet-latest", env={"CLAUDE_CODE_MAX_RETRIES": "0"}
    )
    assert run.returncode not in (0, None), f"tools on a text-only model must fail\n{explain(run, gateway)}"
    assert {e.status for e in gateway.messages()} == {400}, traffic(gateway)
    assert "tools" in f"{run.text}\n{run.stderr}", f"the refusal must say why\n{explain(run, gateway)}"
    assert gateway.backend() == [], "a refused request reached Salesforce"


# ------------------------------ 5: wire snapshot


def test_wire_snapshot(claude, claude_version, gateway, tmp_path):
    run = claude_run(claude, gateway, tmp_path, PROMPT)
    check_success(run, gateway)
    summary = wire_summary(gateway.proxy.exchanges, claude_version)
    if os.environ.get("UPDATE_CLAUDE_CODE_SNAPSHOT") or not SNAPSHOT.exists():
        SNAPSHOT.write_text(json.dumps(build_snapshot(summary), indent=2) + "\n")
        pytest.skip(f"wrote {SNAPSHOT.name} from Claude Code {claude_version}; commit it")
    snapshot = json.loads(SNAPSHOT.read_text())
    errors, changes = compare_with_snapshot(snapshot, summary)
    for change in changes:
        note(f"Claude Code wire change: {change}")
    assert not errors, (
        "Claude Code no longer sends what the gateway relies on:\n  "
        + "\n  ".join(errors)
        + f"\n\ndiff of the observed requests:\n{snapshot_diff(snapshot, summary)}"
    )


# ------------------------------ background traffic


def test_model_discovery_by_claude_code(claude, gateway, tmp_path):
    """CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1: Claude Code lists the gateway's models before the prompt."""
    env = {"CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1"}
    run = claude_run(claude, gateway, tmp_path, PROMPT, "auth_token", env=env)
    check_success(run, gateway)
    listing = [e for e in gateway.proxy.exchanges if e.method == "GET" and e.path.startswith("/v1/models")]
    assert listing, f"no GET /v1/models with CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1\n{traffic(gateway)}"
    models = listing[0]
    assert models.path == "/v1/models?limit=1000", traffic(gateway)
    assert models.status == 200, f"/v1/models -> {models.status}: {models.response_body[:500]}"
    right = models.headers.get("authorization") == f"Bearer {KEY}"
    assert right, f"discovery sent no Bearer key; header names: {sorted(models.headers)}"
    assert models.seconds < DISCOVERY_TIMEOUT, f"/v1/models took {models.seconds:.2f} s (Claude Code waits 3 s)"
    listed = [m["id"] for m in models.json_response()["data"]]
    claude_ids = [i for i in listed if re.search("claude|anthropic", i, re.I)]
    assert claude_ids, f"the gateway listed no Claude model: {listed}"
    others = sorted(set(listed) - set(claude_ids))
    if others:
        note(f"/v1/models lists {others}; Claude Code keeps only ids matching /claude|anthropic/i")
    cached = list((tmp_path / "home").rglob("gateway-models.json"))
    if cached:  # Claude Code's own cache of the discovered models (an implementation detail: checked if present)
        kept = [m["id"] for m in json.loads(cached[0].read_text())["models"]]
        assert kept == claude_ids, f"Claude Code kept {kept} of {listed}"


def test_nonessential_traffic(claude, gateway, tmp_path):
    """Non-essential traffic allowed: every request besides the prompt itself must get a 2xx."""
    run = claude_run(claude, gateway, tmp_path, PROMPT, env={"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": None})
    check_success(run, gateway)
    prompt_requests = [id(e) for e in gateway.messages() if e.body.get("max_tokens", 0) > 1]
    side = [e for e in gateway.proxy.exchanges if id(e) not in prompt_requests]
    print("side requests:", [f"{e.method} {e.path} -> {e.status}" for e in side])
    refused = [f"{e.method} {e.path} -> {e.status}" for e in side if not (e.status and 200 <= e.status < 300)]
    assert not refused, (
        f"Claude Code's side requests were refused: {refused} (HEAD /api/hello: its connection pre-warm and "
        f"preflight health check, sent without a key)\n{traffic(gateway)}"
    )


# ------------------------------ replayed at the gateway


def fixture_headers(**overrides: str) -> dict[str, str]:
    """The captured Claude Code headers, minus the transport ones, with a real key."""
    captured = json.loads((FIXTURES / "messages_request.headers.json").read_text())["headers"]
    skip = {"host", "content-length", "connection", "accept-encoding", "x-api-key"}
    return {**{k: v for k, v in captured.items() if k.lower() not in skip}, "x-api-key": KEY, **overrides}


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {KEY}"},
        {"Authorization": f"Bearer {KEY}", "anthropic-version": "2023-06-01", "User-Agent": "claude-code/2"},
        {"x-api-key": KEY, "anthropic-version": "2023-06-01", "User-Agent": "claude-code/2"},
    ],
    ids=["bearer-only", "bearer-and-version", "x-api-key"],
)
def test_model_discovery_request(make_stack, headers):
    stack = make_stack(env={"GATEWAY_API_KEYS": KEY})
    started = time.monotonic()
    answer = httpx.get(f"{stack.gateway_url}/v1/models?limit=1000", headers=headers, timeout=DISCOVERY_TIMEOUT)
    assert answer.status_code == 200, answer.text
    assert time.monotonic() - started < DISCOVERY_TIMEOUT
    page = answer.json()
    ids = [m["id"] for m in page["data"]]
    assert page["has_more"] is False and len(ids) == len(set(ids))
    assert any(i.startswith("claude-") for i in ids), ids


def test_quota_probe(make_stack):
    stack = make_stack(env={"GATEWAY_API_KEYS": KEY})
    metadata = json.loads((FIXTURES / "messages_request.json").read_text())["metadata"]
    body = {"model": "claude-haiku-4-5-20251001", "max_tokens": 1, "messages": [{"role": "user", "content": "quota"}]}
    answer = httpx.post(
        f"{stack.gateway_url}/v1/messages?beta=true",
        headers=fixture_headers(),
        json={**body, "metadata": metadata},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    message = answer.json()
    assert message["type"] == "message" and message["stop_reason"] in ("end_turn", "max_tokens"), message
    assert message["usage"]["output_tokens"] <= 1 and message["usage"]["input_tokens"] >= 1, message


def test_count_tokens_with_claude_code_body(make_stack):
    stack = make_stack(env={"GATEWAY_API_KEYS": KEY})
    body = json.loads((FIXTURES / "messages_request.json").read_text())
    body = {k: v for k, v in body.items() if k not in ("max_tokens", "stream")}
    answer = httpx.post(
        f"{stack.gateway_url}/v1/messages/count_tokens?beta=true", headers=fixture_headers(), json=body, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["input_tokens"] > 1000, answer.json()
    assert stack.backend_requests("/ai/") == [], "count_tokens must not call Salesforce"


def test_count_tokens_and_quota_with_live_request(claude, gateway, tmp_path):
    """The body and headers the installed Claude Code sends, replayed as count_tokens and as a max_tokens 1 probe."""
    run = claude_run(claude, gateway, tmp_path, PROMPT)
    check_success(run, gateway)
    sent = gateway.messages()[-1]
    transport = {"host", "content-length", "connection", "accept-encoding"}
    headers = {k: v for k, v in sent.headers.items() if k not in transport}
    body = {k: v for k, v in sent.body.items() if k not in ("max_tokens", "stream")}
    with httpx.Client(base_url=gateway.stack.gateway_url, headers=headers, timeout=30) as http:
        counted = http.post("/v1/messages/count_tokens?beta=true", json=body)
        assert counted.status_code == 200, counted.text
        assert counted.json()["input_tokens"] > 1000, counted.json()
        quota = http.post("/v1/messages?beta=true", json={**body, "max_tokens": 1})
        assert quota.status_code == 200, quota.text
        assert quota.json()["usage"]["output_tokens"] <= 1, quota.json()
