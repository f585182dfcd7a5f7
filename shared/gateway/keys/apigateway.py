"""API Gateway keys and usage plans for ``python -m gateway.keys`` (never imported by a function).

Each developer's secret is also the value of their own API Gateway key; the key sits in the stage's
default usage plan, or in a plan of their own when they have their own rate, burst or monthly quota
(a key may belong to one plan per stage).
"""

from __future__ import annotations

import contextlib
from typing import Any


class ApiGatewayKeys:
    def __init__(self, default_plan_id: str, prefix: str = "sf-anthropic-gateway", client: Any = None) -> None:
        self.default_plan_id = default_plan_id
        self.prefix = prefix
        if client is None:
            import boto3

            client = boto3.session.Session().client("apigateway")
        self.client = client

    def create_key(self, owner: str, secret: str) -> str:
        answer = self.client.create_api_key(
            name=f"{self.prefix}-{owner}", description=f"developer {owner}", enabled=True, value=secret
        )
        return answer["id"]

    def own_plan(self, owner: str, rate: float | None, burst: int | None, quota: int | None) -> str:
        """A plan for one developer on the same API stages as the default plan."""
        default = self.client.get_usage_plan(usagePlanId=self.default_plan_id)
        kwargs: dict[str, Any] = {
            "name": f"{self.prefix}-{owner}",
            "description": f"limits of developer {owner}",
            "apiStages": [{"apiId": s["apiId"], "stage": s["stage"]} for s in default.get("apiStages", [])],
        }
        throttle = dict(default.get("throttle") or {})
        if rate is not None:
            throttle["rateLimit"] = float(rate)
        if burst is not None:
            throttle["burstLimit"] = int(burst)
        if throttle:
            kwargs["throttle"] = throttle
        if quota is not None:
            kwargs["quota"] = {"limit": int(quota), "period": "MONTH"}
        elif default.get("quota"):
            kwargs["quota"] = default["quota"]
        return self.client.create_usage_plan(**kwargs)["id"]

    def attach(self, key_id: str, plan_id: str | None) -> str:
        plan = plan_id or self.default_plan_id
        self.client.create_usage_plan_key(usagePlanId=plan, keyId=key_id, keyType="API_KEY")
        return plan

    def delete_key(self, key_id: str, plan_id: str | None) -> None:
        """Out of its usage plan, then deleted: API Gateway refuses it at once (INVALID_API_KEY)."""
        if plan_id:
            with contextlib.suppress(self.client.exceptions.NotFoundException):
                self.client.delete_usage_plan_key(usagePlanId=plan_id, keyId=key_id)
        self.client.delete_api_key(apiKey=key_id)

    def delete_plan(self, plan_id: str) -> None:
        if plan_id == self.default_plan_id:
            return
        plan = self.client.get_usage_plan(usagePlanId=plan_id)
        stages = plan.get("apiStages", [])  # a plan without stages has no such key
        ops = [{"op": "remove", "path": "/apiStages", "value": f"{s['apiId']}:{s['stage']}"} for s in stages]
        if ops:  # a plan still attached to a stage cannot be deleted
            self.client.update_usage_plan(usagePlanId=plan_id, patchOperations=ops)
        self.client.delete_usage_plan(usagePlanId=plan_id)


def stack_outputs(stack_name: str, client: Any = None) -> dict[str, str]:
    """The deployed stage's outputs (KeysTableName, UsagePlanId...), so `--stack` is all a command needs."""
    if client is None:
        import boto3

        client = boto3.session.Session().client("cloudformation")
    stack = client.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
