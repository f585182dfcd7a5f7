"""Claude Code as a real client of the gateway: install it from npm, run it non-interactively, record its traffic.

- ``ensure_installed()`` installs the current ``@anthropic-ai/claude-code`` into ``.cache/claude-code`` (once a
  day at most; an older install is reused when npm cannot be reached) and returns the command that runs it.
- ``run_claude(...)`` runs ``claude -p PROMPT --output-format json`` with a throwaway HOME, telemetry, the
  auto-updater and non-essential traffic off, and no proxy variables, and returns its exit code and output.
- ``CaptureProxy`` sits between Claude Code and the gateway and records every request as the client sent it
  (method, path with query, headers, body) with the status the gateway answered.
- ``wire_summary(...)`` / ``compare_with_snapshot(...)`` reduce one run's traffic to a stable summary and compare it
  with the committed snapshot: whatever the snapshot has must still be there; anything new is only reported.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway.http_server import ServerThread

PACKAGE = "@anthropic-ai/claude-code"
ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / ".cache" / "claude-code"
STAMP = ".installed-at"
MAX_AGE_SECONDS = 24 * 3600
INSTALL_TIMEOUT = 300
RUN_TIMEOUT = 120

# Claude Code refuses --dangerously-skip-permissions (and --permission-mode bypassPermissions) as root;
# pre-approving the Bash tool is enough for the tool loop in -p mode and works for every user.
ALLOW_BASH = ("--allowedTools", "Bash")

QUIET_ENV = {
    "DISABLE_TELEMETRY": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
}
# Only these are taken from the test process's environment: no proxies, no ANTHROPIC_*/CLAUDE_* settings.
INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")
SECRET_HEADERS = frozenset({"x-api-key", "authorization"})


class ClaudeCodeUnavailable(Exception):
    """Node.js/npm are missing: the tests skip with this reason."""


class ClaudeCodeInstallFailed(Exception):
    """npm is there but the install failed and no earlier install exists: the tests fail with this reason."""


# ---------------------------------------------------------------------------------------------- install


def _platform_packages() -> list[str]:
    """The native package names npm may have installed for this machine (glibc first, then musl)."""
    machine = os.uname().machine.lower()
    cpu = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64"}.get(machine, machine)
    system = "linux" if sys.platform.startswith("linux") else sys.platform
    names = [f"{PACKAGE}-{system}-{cpu}"]
    return [*names, f"{names[0]}-musl"] if system == "linux" else names


def find_command(cache_dir: Path = CACHE_DIR) -> list[str] | None:
    """The command that starts the installed Claude Code, or None when it is not installed."""
    modules = cache_dir / "node_modules"
    launcher = modules / ".bin" / "claude"
    # Postinstall replaces the bin stub with the native binary; if npm skipped install scripts, the native
    # binary is still in the platform package, and cli-wrapper.cjs is the package's own fallback.
    if launcher.exists() and launcher.resolve().stat().st_size > 1_000_000:
        return [str(launcher)]
    for package in _platform_packages():
        native = modules / package / "claude"
        if native.is_file():
            return [str(native)]
    wrapper = modules / PACKAGE / "cli-wrapper.cjs"
    node = shutil.which("node")
    if wrapper.is_file() and node:
        return [node, str(wrapper)]
    return None


def _fresh(cache_dir: Path) -> bool:
    stamp = cache_dir / STAMP
    return stamp.is_file() and time.time() - stamp.stat().st_mtime < MAX_AGE_SECONDS


def ensure_installed(cache_dir: Path = CACHE_DIR) -> list[str]:
    """Install (at most once a day) and return the command that runs Claude Code."""
    command = find_command(cache_dir)
    if command and _fresh(cache_dir):
        return command
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        raise ClaudeCodeUnavailable("Node.js and npm are needed for the Claude Code tests (not on PATH)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [npm, "install", "--prefix", str(cache_dir), "--no-audit", "--no-fund", f"{PACKAGE}@latest"],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
        failure = None if done.returncode == 0 else f"exit {done.returncode}: {done.stderr[-2000:]}"
    except subprocess.TimeoutExpired:
        failure = f"timed out after {INSTALL_TIMEOUT} s"
    command = find_command(cache_dir)
    if failure is None and command:
        (cache_dir / STAMP).write_text(time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")
        return command
    if command:  # npm unreachable: the install we have is better than none
        print(f"warning: npm install of {PACKAGE} failed ({failure}); using the cached install", file=sys.stderr)
        return command
    raise ClaudeCodeInstallFailed(f"npm install {PACKAGE} failed: {failure or 'no claude binary after install'}")


def version(command: list[str]) -> str:
    """``2.1.332`` from ``claude --version`` (``2.1.332 (Claude Code)``)."""
    with tempfile.TemporaryDirectory() as home:
        done = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=60, env=_base_env(home), cwd=home
        )
    return done.stdout.strip().split(" ")[0] if done.returncode == 0 else f"unknown ({done.stderr.strip()[:200]})"


# ---------------------------------------------------------------------------------------------- running


@dataclass
class Run:
    args: list[str]
    returncode: int | None  # None: timed out
    stdout: str
    stderr: str
    seconds: float
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def result(self) -> dict[str, Any] | None:
        """The ``--output-format json`` result object, when stdout holds one."""
        for line in reversed(self.stdout.strip().splitlines()):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
        return None

    @property
    def text(self) -> str:
        """The final answer: the JSON result's ``result`` field, else the raw stdout."""
        result = self.result
        if result is not None and isinstance(result.get("result"), str):
            return result["result"]
        return self.stdout

    def describe(self) -> str:
        """For assertion messages: the command, exit code and both streams, with key values masked."""
        exit_text = "TIMEOUT" if self.returncode is None else str(self.returncode)
        text = (
            f"claude exited {exit_text} after {self.seconds:.1f} s\n"
            f"args: {self.args}\n--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
        )
        return redact(text, self.secrets)


def redact(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def _base_env(home: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["HOME"] = home
    env["SHELL"] = shutil.which("bash") or "/bin/sh"
    env["TMPDIR"] = tempfile.gettempdir()
    return env


def run_claude(
    command: list[str],
    base_url: str,
    prompt: str,
    *,
    home: Path,
    cwd: Path,
    api_key: str | None = None,
    auth_token: str | None = None,
    model: str | None = None,
    extra_args: tuple[str, ...] | list[str] = (),
    env: dict[str, str | None] | None = None,
    output_format: str = "json",
    timeout: float = RUN_TIMEOUT,
) -> Run:
    """``claude -p PROMPT`` against ``base_url``; HOME and cwd are the caller's throwaway folders.

    ``env`` adds variables; a value of None removes one of the defaults (e.g. to allow non-essential traffic).
    """
    home.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    full_env = {**_base_env(str(home)), **QUIET_ENV, "ANTHROPIC_BASE_URL": base_url}
    for name, value in (env or {}).items():
        if value is None:
            full_env.pop(name, None)
        else:
            full_env[name] = value
    if api_key is not None:
        full_env["ANTHROPIC_API_KEY"] = api_key
    if auth_token is not None:
        full_env["ANTHROPIC_AUTH_TOKEN"] = auth_token
    args = [*command, "-p", prompt, "--output-format", output_format]
    if model:
        args += ["--model", model]
    args += list(extra_args)
    started = time.monotonic()
    secrets = tuple(s for s in (api_key, auth_token) if s)
    try:
        done = subprocess.run(
            args, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        return Run(args, done.returncode, done.stdout, done.stderr, time.monotonic() - started, secrets)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return Run(args, None, out, err, time.monotonic() - started, secrets)


# ---------------------------------------------------------------------------------------------- capture

HOP_BY_HOP = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"})


@dataclass
class Exchange:
    method: str
    path: str  # with the query string, as sent
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, raw text, or None
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""  # non-streaming answers only (first 64 kB)
    seconds: float = 0.0

    def json_response(self) -> Any:
        return json.loads(self.response_body)

    def __repr__(self) -> str:  # header names only: pytest prints this on failures, and values hold the key
        return f"Exchange({self.method} {self.path} -> {self.status}, headers={sorted(self.headers)})"


class CaptureProxy:
    """A recording reverse proxy (ASGI) in front of the gateway; streams answers through unbuffered."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.exchanges: list[Exchange] = []
        self._server: ServerThread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    def start(self) -> CaptureProxy:
        self._server = ServerThread(self, lifespan="off").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def clear(self) -> None:
        self.exchanges.clear()

    def __enter__(self) -> CaptureProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        started = time.monotonic()
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope["path"] + (f"?{query}" if query else "")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode(errors="replace")
        exchange = Exchange(scope["method"], path, {k.lower(): v for k, v in headers}, parsed)
        self.exchanges.append(exchange)
        forward = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        async with httpx.AsyncClient(timeout=httpx.Timeout(300, connect=10)) as client:
            request = client.build_request(scope["method"], self.target + path, headers=forward, content=body)
            response = await client.send(request, stream=True)
            exchange.status = response.status_code
            exchange.response_headers = {k.lower(): v for k, v in response.headers.items()}
            raw = [(k, v) for k, v in response.headers.raw if k.decode("latin-1").lower() not in HOP_BY_HOP]
            await send({"type": "http.response.start", "status": response.status_code, "headers": raw})
            streaming = "text/event-stream" in response.headers.get("content-type", "")
            kept = b""
            try:
                async for chunk in response.aiter_raw():
                    if not streaming and len(kept) < 65536:
                        kept += chunk
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            finally:
                await response.aclose()
            await send({"type": "http.response.body", "body": b""})
            exchange.response_body = kept.decode(errors="replace")
            exchange.seconds = time.monotonic() - started


# ---------------------------------------------------------------------------------------------- wire snapshot

# What the gateway depends on: if Claude Code stops sending one of these, the snapshot test fails. Everything else
# in the snapshot (other headers, betas, body fields, model, tool count) only warns when it changes.
REQUIRED_HEADERS = ("anthropic-version", "content-type", "user-agent", "x-api-key", "authorization")
REQUIRED_BODY_FIELDS = ("model", "messages", "max_tokens", "stream", "system", "tools")
REQUIRED_VALUES = ("anthropic-version", "stream")
FLAGS = ("thinking", "output_config", "context_management")


def _beta_list(value: str | None) -> list[str]:
    return sorted(b.strip() for b in (value or "").split(",") if b.strip())


def exchange_summary(exchange: Exchange) -> dict[str, Any]:
    """One request reduced to what should be stable between runs of one Claude Code release."""
    summary: dict[str, Any] = {
        "method": exchange.method,
        "path": exchange.path,
        "header_names": sorted(exchange.headers),
    }
    if "anthropic-version" in exchange.headers:
        summary["anthropic-version"] = exchange.headers["anthropic-version"]
    if "anthropic-beta" in exchange.headers:
        summary["anthropic-beta"] = _beta_list(exchange.headers["anthropic-beta"])
    body = exchange.body
    if isinstance(body, dict):
        summary["body_fields"] = sorted(body)
        summary["model"] = body.get("model")
        summary["stream"] = body.get("stream", False)
        summary["tool_count"] = len(body.get("tools") or [])
        for name in FLAGS:
            summary[f"has_{name}"] = name in body
    return summary


def wire_summary(exchanges: list[Exchange], version: str) -> dict[str, Any]:
    """The run's requests, one per method + path (a retried request counts once), in the order first sent."""
    seen: dict[str, dict[str, Any]] = {}
    for exchange in exchanges:
        seen.setdefault(f"{exchange.method} {exchange.path}", exchange_summary(exchange))
    return {"claude_code_version": version, "requests": list(seen.values())}


def build_snapshot(summary: dict[str, Any]) -> dict[str, Any]:
    """The committed file: ``required`` (failures when missing) and ``observed`` (warnings when changed)."""
    required = []
    for request in summary["requests"]:
        entry: dict[str, Any] = {"method": request["method"], "path": request["path"]}
        entry["header_names"] = [h for h in request["header_names"] if h in REQUIRED_HEADERS]
        if "body_fields" in request:
            entry["body_fields"] = [f for f in request["body_fields"] if f in REQUIRED_BODY_FIELDS]
        entry.update({k: request[k] for k in REQUIRED_VALUES if k in request})
        required.append(entry)
    return {
        "claude_code_version": summary["claude_code_version"],
        "note": "Written by tests/test_claude_code.py from a real run (UPDATE_CLAUDE_CODE_SNAPSHOT=1 rewrites it). "
        "'required' must still hold; differences from 'observed' are only reported.",
        "required": required,
        "observed": summary["requests"],
    }


def _find(requests: list[dict[str, Any]], method: str, path: str) -> dict[str, Any] | None:
    return next((r for r in requests if r["method"] == method and r["path"] == path), None)


def compare_with_snapshot(snapshot: dict[str, Any], summary: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(errors, warnings) of this run's summary against the committed snapshot."""
    errors: list[str] = []
    warnings: list[str] = []
    actual = summary["requests"]
    sent = [f"{r['method']} {r['path']}" for r in actual]
    if snapshot.get("claude_code_version") != summary["claude_code_version"]:
        was = snapshot.get("claude_code_version")
        warnings.append(f"Claude Code {summary['claude_code_version']} (snapshot written with {was})")
    for want in snapshot["required"]:
        key = f"{want['method']} {want['path']}"
        got = _find(actual, want["method"], want["path"])
        if got is None:
            errors.append(f"{key}: not sent any more (this run sent {sent})")
            continue
        missing_headers = set(want.get("header_names", [])) - set(got["header_names"])
        if missing_headers & {"x-api-key", "authorization"} and not {"x-api-key", "authorization"} & set(
            got["header_names"]
        ):
            errors.append(f"{key}: no credential header (x-api-key or authorization)")
        missing_headers -= {"x-api-key", "authorization"}
        if missing_headers:
            errors.append(f"{key}: required headers missing: {sorted(missing_headers)}")
        missing_fields = set(want.get("body_fields", [])) - set(got.get("body_fields", []))
        if missing_fields:
            errors.append(f"{key}: required body fields missing: {sorted(missing_fields)}")
        for name in REQUIRED_VALUES:
            if name in want and got.get(name, "<absent>") != want[name]:
                errors.append(f"{key}: {name} is {got.get(name, '<absent>')!r}, expected {want[name]!r}")
    for old in snapshot.get("observed", []):
        key = f"{old['method']} {old['path']}"
        got = _find(actual, old["method"], old["path"])
        if got is None:
            if not _find(snapshot["required"], old["method"], old["path"]):
                warnings.append(f"{key}: no longer sent")
            continue
        for list_key in ("header_names", "anthropic-beta", "body_fields"):
            before, now = set(old.get(list_key, [])), set(got.get(list_key, []))
            if now - before:
                warnings.append(f"{key}: new {list_key}: {sorted(now - before)}")
            if before - now:
                warnings.append(f"{key}: {list_key} no longer sent: {sorted(before - now)}")
        for name, value in old.items():
            if name in ("method", "path", "header_names", "anthropic-beta", "body_fields", *REQUIRED_VALUES):
                continue
            if got.get(name, "<absent>") != value:
                warnings.append(f"{key}: {name} is now {got.get(name, '<absent>')!r} (was {value!r})")
    for request in actual:
        if not _find(snapshot.get("observed", []), request["method"], request["path"]):
            warnings.append(f"new request: {request['method']} {request['path']}")
    return errors, warnings


def snapshot_diff(snapshot: dict[str, Any], summary: dict[str, Any]) -> str:
    """A unified diff of the snapshot's observed requests against this run's, for failure messages."""
    before = json.dumps(snapshot.get("observed", []), indent=1, sort_keys=True).splitlines()
    after = json.dumps(summary["requests"], indent=1, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(before, after, "snapshot", "this run", lineterm="", n=2))
