"""A stage's key resources in moto: the keys table and a usage plan on a real API stage."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class KeysStage:
    """A stage's key resources in moto: the keys table and the default usage plan on a real API stage."""

    table: str
    plan_id: str
    api_id: str

    def args(self) -> list[str]:
        return ["--table", self.table, "--usage-plan", self.plan_id]


def create_keys_stage(aws, name: str) -> KeysStage:
    table = f"gw-{name}-keys"
    aws.client("dynamodb").create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    apigw = aws.client("apigateway")
    api = apigw.create_rest_api(name=f"gw-{name}", apiKeySource="AUTHORIZER")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    apigw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE", apiKeyRequired=True)
    apigw.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    apigw.create_deployment(restApiId=api, stageName="dev")
    plan = apigw.create_usage_plan(
        name=f"gw-{name}",
        apiStages=[{"apiId": api, "stage": "dev"}],
        throttle={"rateLimit": 20.0, "burstLimit": 40},
        quota={"limit": 100000, "period": "DAY"},
    )["id"]
    return KeysStage(table, plan, api)
