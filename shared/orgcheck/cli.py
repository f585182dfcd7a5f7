"""``make check-org``: mint a token, then run each check against each model, one line as each completes.

Salesforce settings come from the environment exactly as the gateway reads them (``Settings.from_env``).
The run ends with a table and the failures in Salesforce's own words; exit 1 on any failure, 2 when
the settings are missing. Tokens, the client secret and client keys are masked in everything printed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from gateway import redaction
from gateway.anthropic.errors import GatewayError
from gateway.catalog.model_map import ModelMap, ModelMapError
from gateway.salesforce.client import SalesforceClient
from gateway.salesforce.http import SalesforceHttp
from gateway.salesforce.oauth import jwt_expiry
from gateway.salesforce.surfaces import build_surfaces
from gateway.settings import Settings

from .checks import CHECKS, RUNNERS, Capabilities, CheckFailed, Gateway, capabilities, skip_reason
from .recorder import Exchange, Recorder


@dataclass
class Result:
    model: str
    check: str
    outcome: str  # PASS | FAIL | SKIP
    seconds: float | None
    detail: str
    recovered: str = ""  # Salesforce's refusal that the gateway answered around (a retry without thinking)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make check-org ARGS=...",
        description="Check the gateway's translation against your org: SF_MY_DOMAIN, SF_CLIENT_ID and "
        "SF_CLIENT_SECRET must be set.",
    )
    parser.add_argument("--models", help="comma-separated model ids (default: every model in the model map)")
    parser.add_argument("--checks", help=f"comma-separated subset of {','.join(CHECKS)}")
    parser.add_argument("--record", type=Path, metavar="DIR", help="write redacted exchanges to DIR")
    parser.add_argument("--map", type=Path, help="model map file (default: MODEL_MAP_PATH, else the packaged map)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per check (default 120)")
    parser.add_argument("--retries", type=int, default=0, help="gateway retries per call (default 0: first answers)")
    return parser.parse_args(argv)


def _latency(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


class Run:
    def __init__(self, settings: Settings, model_map: ModelMap, recorder: Recorder) -> None:
        self.settings = settings
        self.model_map = model_map
        self.recorder = recorder
        self.client = SalesforceClient(settings, http=SalesforceHttp(settings, transport=recorder))
        self.gateway = Gateway(model_map, build_surfaces(self.client))
        self.results: list[Result] = []
        self.width = 24

    def say(self, line: str) -> None:
        print(self.recorder.scrub(line.encode()).decode(), flush=True)

    def report(self, result: Result) -> None:
        self.results.append(result)
        self.say(
            f"{result.outcome:<4}  {result.model:<{self.width}}  {result.check:<8}  "
            f"{_latency(result.seconds):>8}  {result.detail}"
        )

    async def token(self) -> bool:
        started = time.perf_counter()
        try:
            token = await self.client.tokens.get()
        except GatewayError as exc:
            self.report(Result("(org)", "token", "FAIL", time.perf_counter() - started, exc.message))
            return False
        seconds = time.perf_counter() - started
        times = jwt_expiry(token.value)
        if times is None:
            detail = "the access token is not a JWT; the Models API refuses such tokens (issue JWT-based tokens)"
            self.report(Result("(org)", "token", "FAIL", seconds, detail))
            return False
        iat, exp = times
        expires = datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        sent = self.recorder.oauth.get("api_instance_url")
        base = f"api_instance_url {sent}" if sent else "no api_instance_url in the answer"
        if self.settings.sf_api_base_url:
            base += f" (SF_API_BASE_URL overrides it: {token.api_base})"
        elif not sent:
            base += f" (using {token.api_base})"
        scope = self.recorder.oauth.get("scope")
        scope_note = f"; scope {scope}" + ("" if "sfap_api" in scope.split() else " (no sfap_api!)") if scope else ""
        detail = f"JWT lifetime {(exp - iat) / 60:.0f} min (exp {expires}); {base}{scope_note}"
        self.report(Result("(org)", "token", "PASS", seconds, detail))
        return True

    async def check(self, model: str, check: str, caps: Capabilities) -> None:
        reason = skip_reason(check, caps)
        if reason:
            self.report(Result(model, check, "SKIP", None, reason))
            return
        self.recorder.label = f"{model}-{check}"
        seen = len(self.recorder.exchanges)
        recovered = ""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.sf_deadline):
                detail = await RUNNERS[check](self.gateway, model, caps)
        except CheckFailed as exc:
            outcome, detail = "FAIL", str(exc)
        except GatewayError as exc:
            outcome, detail = "FAIL", salesforce_said(exc, self.recorder.exchanges[seen:])
        except TimeoutError:
            outcome, detail = "FAIL", f"no complete answer within {self.settings.sf_deadline:g} s"
        except Exception as exc:  # a gateway bug is a finding too, not the end of the run
            outcome, detail = "FAIL", f"gateway error {type(exc).__name__}: {exc}"
        else:
            outcome = "PASS"
            # Salesforce refused something and the gateway got an answer anyway (a retry without thinking):
            # worth knowing, in Salesforce's words.
            refused = [e for e in self.recorder.exchanges[seen:] if e.status >= 400]
            if refused:
                recovered = f"HTTP {refused[0].status}: {refused[0].salesforce_text}"
                detail += f" (the gateway recovered from {recovered})"
        self.report(Result(model, check, outcome, time.perf_counter() - started, detail, recovered))

    async def models(self, wanted: list[str], checks: list[str]) -> None:
        for model in wanted:
            try:
                route = self.model_map.route(model)
            except GatewayError as exc:
                self.report(Result(model, "route", "FAIL", None, exc.message))
                continue
            surface = self.gateway.surfaces.get(route.entry.surface)
            if surface is None:
                self.report(Result(model, "route", "FAIL", None, f"no surface {route.entry.surface!r} in this gateway"))
                continue
            caps = capabilities(route.entry)
            for check in checks:
                await self.check(model, check, caps)

    def table(self, checks: list[str]) -> None:
        cells: dict[str, dict[str, Result]] = {}
        for result in self.results:
            cells.setdefault(result.model, {})[result.check] = result
        columns = ["token", *checks] if "(org)" in cells else checks
        widths = [max(self.width, 5), *(13 for _ in columns)]
        self.say("")
        self.say("  ".join(h.ljust(w) for h, w in zip(["model", *columns], widths, strict=True)).rstrip())
        for model, row in cells.items():
            line = [model.ljust(widths[0])]
            for column in columns:
                r = row.get(column)
                cell = ""
                if r is not None:
                    mark = "*" if r.recovered else ""
                    cell = "skip" if r.outcome == "SKIP" else f"{r.outcome}{mark} {_latency(r.seconds)}"
                line.append(cell.ljust(13))
            if "route" in row:
                line.append(f"FAIL {row['route'].detail}")
            self.say("  ".join(line).rstrip())
        recovered = [r for r in self.results if r.recovered]
        if recovered:
            self.say("")
            self.say("* Salesforce refused a first attempt and the gateway answered anyway (e.g. without thinking):")
            for r in recovered:
                self.say(f"  {r.model} {r.check}: {r.recovered}")
        failures = [r for r in self.results if r.outcome == "FAIL"]
        if failures:
            self.say("")
            self.say("Failures, in Salesforce's words where it answered:")
            for r in failures:
                self.say(f"  {r.model} {r.check}: {r.detail}")
        counts = {o: sum(r.outcome == o for r in self.results) for o in ("PASS", "FAIL", "SKIP")}
        self.say("")
        self.say(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")


def salesforce_said(exc: GatewayError, exchanges: list[Exchange]) -> str:
    """Salesforce's own text when it answered with an error status; the gateway's message otherwise
    (which carries Salesforce's text for errors inside a 200: stream exception frames, error bodies)."""
    last = exchanges[-1] if exchanges else None
    if last is not None and last.status >= 400:
        return f"HTTP {last.status}: {last.salesforce_text or '(empty body)'}"
    return exc.message


def load_map(path: Path | None) -> ModelMap:
    source = path or (Path(os.environ["MODEL_MAP_PATH"]) if os.environ.get("MODEL_MAP_PATH") else None)
    return ModelMap.from_json(source.read_bytes()) if source else ModelMap.default()


async def amain(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings.from_env()
    if not ((settings.sf_my_domain or settings.sf_token_url) and settings.sf_client_id and settings.sf_client_secret):
        print("check-org needs SF_MY_DOMAIN, SF_CLIENT_ID and SF_CLIENT_SECRET (as the gateway)", file=sys.stderr)
        return 2
    settings = dataclasses.replace(settings, sf_max_retries=args.retries, sf_deadline=args.timeout)
    try:
        model_map = load_map(args.map)
    except (OSError, ModelMapError) as exc:
        print(f"check-org: model map: {exc}", file=sys.stderr)
        return 2
    checks = [c.strip() for c in args.checks.split(",") if c.strip()] if args.checks else list(CHECKS)
    unknown = sorted(set(checks) - set(CHECKS))
    if unknown:
        print(f"check-org: unknown checks {unknown}; choose from {list(CHECKS)}", file=sys.stderr)
        return 2
    wanted = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    wanted = wanted or [entry.id for entry in model_map.entries]
    logging.getLogger("gateway").setLevel(logging.ERROR)  # what the gateway coped with shows in the lines
    keys = [k for k in os.environ.get("GATEWAY_API_KEYS", "").split(",") if k.strip()]
    redaction.register(settings.sf_client_secret, *keys)
    recorder = Recorder(httpx.AsyncHTTPTransport(trust_env=False, retries=0), directory=args.record)
    recorder.add_secrets([settings.sf_client_secret, settings.sf_client_id, *keys])
    run = Run(settings, model_map, recorder)
    run.width = max(len(m) for m in [*wanted, "(org)"])
    run.say(f"Checking the org behind {settings.token_url} with {len(wanted)} model(s)")
    try:
        if await run.token():
            await run.models(wanted, checks)
    finally:
        await run.client.aclose()
    run.table(checks)
    if args.record:
        run.say(f"Recorded {len(recorder.exchanges)} exchange(s), redacted, in {args.record}")
    return 1 if any(r.outcome == "FAIL" for r in run.results) else 0


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(asyncio.run(amain(argv)))
