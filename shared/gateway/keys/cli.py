"""``python -m gateway.keys``: create, list, revoke, rotate developers' keys and report their usage.

Locally (``--file``, default ``.gateway/keys.json``, what ``make run`` reads) only the key file changes.
Against a stage (``--stack NAME``, or ``--table`` with ``--usage-plan``) each command also manages the
developer's API Gateway key and usage plan, so nothing needs the console.
A created or rotated secret goes to stdout alone (``KEY=$(python -m gateway.keys create ada)``);
everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .model import (
    ACTIVE,
    REVOKED,
    Developer,
    KeyRecord,
    hash_key,
    month_of,
    month_reset,
    new_secret,
    now_iso,
    valid_owner,
)
from .store import KeyStore

DEFAULT_FILE = ".gateway/keys.json"


class CommandError(Exception):
    pass


def _say(text: str) -> None:
    print(text, file=sys.stderr)


class Keys:
    """The commands, over a store and (deployed stages) API Gateway."""

    def __init__(self, store: KeyStore, apigw: Any = None) -> None:
        self.store = store
        self.apigw = apigw

    def _issue(self, developer: Developer) -> str:
        secret = new_secret()
        if self.apigw is not None:
            developer.api_key_id = self.apigw.create_key(developer.owner, secret)
            developer.usage_plan_id = self.apigw.attach(developer.api_key_id, developer.usage_plan_id)
        developer.key_hash = hash_key(secret)
        record = KeyRecord(
            developer.key_hash, developer.owner, ACTIVE, developer.api_key_id, developer.budget, now_iso(), secret[:8]
        )
        self.store.put_key(record)
        self.store.put_developer(developer)
        return secret

    def _active(self, owner: str) -> Developer:
        developer = self.store.get_developer(owner)
        if developer is None or developer.status != ACTIVE:
            raise CommandError(f"no active developer named {owner!r}")
        return developer

    def _retire_key(self, developer: Developer) -> None:
        if developer.key_hash:
            self.store.set_key_status(developer.key_hash, REVOKED)
        if self.apigw is not None and developer.api_key_id:
            self.apigw.delete_key(developer.api_key_id, developer.usage_plan_id)

    def create(
        self,
        owner: str,
        budget: int | None = None,
        rate: float | None = None,
        burst: int | None = None,
        quota: int | None = None,
    ) -> str:
        if not valid_owner(owner):
            raise CommandError("a name is 1-64 letters, digits or . _ - @")
        existing = self.store.get_developer(owner)
        if existing is not None and existing.status == ACTIVE:
            raise CommandError(f"{owner} already has a key: `rotate {owner}` for a new one")
        developer = Developer(owner, budget=budget, rate=rate, burst=burst, quota=quota, created=now_iso())
        if self.apigw is not None and (rate is not None or burst is not None or quota is not None):
            developer.usage_plan_id = self.apigw.own_plan(owner, rate, burst, quota)
        return self._issue(developer)

    def rotate(self, owner: str) -> str:
        """A new secret at once; the old one is refused by API Gateway at once and by the authorizer
        within its cache time (KEY_CACHE_SECONDS)."""
        developer = self._active(owner)
        old = Developer(**{**developer.to_dict()})
        secret = self._issue(developer)
        self._retire_key(old)
        return secret

    def revoke(self, owner: str) -> Developer:
        developer = self._active(owner)
        self._retire_key(developer)
        if self.apigw is not None and developer.usage_plan_id:
            self.apigw.delete_plan(developer.usage_plan_id)
        developer.status, developer.revoked = REVOKED, now_iso()
        developer.api_key_id = developer.usage_plan_id = None
        self.store.put_developer(developer)
        return developer

    def usage(self, month: str | None = None) -> list[dict]:
        month = month or month_of()
        rows = []
        for developer in self.store.developers():
            used = self.store.get_usage(developer.owner, month)
            rows.append(
                {
                    "developer": developer.owner,
                    "status": developer.status,
                    "month": month,
                    "requests": used.requests,
                    "input_tokens": used.input_tokens,
                    "output_tokens": used.output_tokens,
                    "cache_read_tokens": used.cache_read_tokens,
                    "cache_creation_tokens": used.cache_creation_tokens,
                    "tokens": used.tokens,
                    "budget": developer.budget,
                    "resets": month_reset(month) if developer.budget else None,
                }
            )
        return rows

    def list(self) -> list[dict]:
        rows = []
        for developer in self.store.developers():
            record = self.store.get_key(developer.key_hash) if developer.key_hash else None
            rows.append(
                {
                    "developer": developer.owner,
                    "status": developer.status,
                    "key": f"{record.hint}…" if record and developer.status == ACTIVE else "-",
                    "budget": developer.budget,
                    "rate": developer.rate,
                    "burst": developer.burst,
                    "quota": developer.quota,
                    "created": developer.created,
                    "api_key_id": developer.api_key_id,
                }
            )
        return rows


def _table(rows: list[dict], columns: list[str]) -> str:
    def cell(value: object) -> str:
        return "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gateway.keys", description=__doc__.split("\n\n")[0])
    where = p.add_mutually_exclusive_group()
    where.add_argument("--file", help=f"local key file (GATEWAY_KEYS_FILE; default {DEFAULT_FILE})")
    where.add_argument("--table", help="DynamoDB keys table of a deployed stage (KEYS_TABLE)")
    where.add_argument("--stack", help="a deployed stack: its keys table and usage plan from its outputs")
    p.add_argument("--usage-plan", help="the stage's default usage plan id (GATEWAY_USAGE_PLAN_ID)")
    p.add_argument("--json", action="store_true", help="list/usage as JSON")
    sub = p.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="a developer and their key (the secret is printed once)")
    create.add_argument("name")
    create.add_argument("--budget", type=int, help="monthly tokens (input + output + cache)")
    create.add_argument("--rate", type=float, help="their own steady requests per second")
    create.add_argument("--burst", type=int, help="their own burst")
    create.add_argument("--quota", type=int, help="their own requests per month")
    sub.add_parser("list", help="developers, key hints, limits")
    sub.add_parser("revoke", help="offboard: the key stops working").add_argument("name")
    sub.add_parser("rotate", help="a new secret; the old one stops working").add_argument("name")
    usage = sub.add_parser("usage", help="tokens per developer this month")
    usage.add_argument("--month", help="YYYY-MM (default: this month, UTC)")
    return p


def build(args: argparse.Namespace, env: Any = None) -> Keys:
    env = os.environ if env is None else env
    table = args.table or (None if args.file else env.get("KEYS_TABLE"))
    plan = args.usage_plan or env.get("GATEWAY_USAGE_PLAN_ID")
    prefix = "sf-anthropic-gateway"
    if args.stack:
        from .apigateway import stack_outputs

        outputs = stack_outputs(args.stack)
        table, plan, prefix = outputs["KeysTableName"], plan or outputs["UsagePlanId"], args.stack
    if table:
        from .apigateway import ApiGatewayKeys
        from .dynamodb import DynamoDBKeyStore

        if not plan and args.command in ("create", "rotate", "revoke"):
            raise CommandError("a deployed stage needs --stack NAME, or --usage-plan ID with --table")
        return Keys(DynamoDBKeyStore(table), ApiGatewayKeys(plan, prefix) if plan else None)
    from .local import FileKeyStore

    path = args.file or env.get("GATEWAY_KEYS_FILE") or DEFAULT_FILE
    _say(f"key file: {path}")
    return Keys(FileKeyStore(path))


def main(argv: list[str] | None = None, env: Any = None) -> int:
    args = parser().parse_args(argv)
    try:
        keys = build(args, env)
        if args.command in ("create", "rotate"):
            if args.command == "create":
                secret = keys.create(args.name, args.budget, args.rate, args.burst, args.quota)
            else:
                secret = keys.rotate(args.name)
            print(secret)
            _say(f"{args.command}d the key of {args.name}; it is shown once, above. The developer sets")
            _say("  ANTHROPIC_AUTH_TOKEN=<key>  (or ANTHROPIC_API_KEY=<key>)  and ANTHROPIC_BASE_URL=<the stage URL>")
        elif args.command == "revoke":
            keys.revoke(args.name)
            _say(f"revoked {args.name}: refused at once by API Gateway, and by the gateway within KEY_CACHE_SECONDS")
        else:
            rows = keys.list() if args.command == "list" else keys.usage(args.month)
            columns = (
                ["developer", "status", "key", "budget", "rate", "burst", "quota", "created"]
                if args.command == "list"
                else [
                    "developer",
                    "month",
                    "requests",
                    "input_tokens",
                    "output_tokens",
                    "cache_read_tokens",
                    "cache_creation_tokens",
                    "tokens",
                    "budget",
                    "resets",
                ]
            )
            print(json.dumps(rows, indent=1) if args.json else _table(rows, columns))
    except CommandError as exc:
        _say(f"error: {exc}")
        return 2
    return 0
