"""AWS in moto's server mode on loopback (boto3 speaking HTTP to it), and a stage's resources created there."""

from __future__ import annotations

import json
from dataclasses import dataclass

from simulator.app import SimulatorConfig


@dataclass
class AwsEndpoint:
    """moto in server mode on loopback; boto3 reaches it through AWS_ENDPOINT_URL, as in a deployment."""

    url: str

    def client(self, service: str):
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1")


@dataclass
class Deployment:
    """The AWS resources of one stage, created in moto, and the environment the functions get."""

    parameter: str
    table: str
    secret: str
    env: dict[str, str]


def deploy(aws: AwsEndpoint, name: str, simulator_url: str, model_map: str, sim_config: SimulatorConfig) -> Deployment:
    parameter, table, secret = f"/sf-anthropic-gateway/{name}/model-map", f"gw-{name}-verification", f"gw/{name}/sf"
    aws.client("ssm").put_parameter(Name=parameter, Value=model_map, Type="String", Overwrite=True)
    aws.client("dynamodb").create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    aws.client("dynamodb").update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    credentials = {
        "my_domain": simulator_url,
        "client_id": sim_config.client_id,
        "client_secret": sim_config.client_secret,
    }
    aws.client("secretsmanager").create_secret(Name=secret, SecretString=json.dumps(credentials))
    env = {
        "MODEL_MAP_PARAMETER": parameter,
        "VERIFICATION_TABLE": table,
        "SF_SECRET_ID": secret,
        "POWERTOOLS_SERVICE_NAME": "sf-anthropic-gateway",
        "POWERTOOLS_METRICS_NAMESPACE": f"SfAnthropicGateway/{name}",
        "STAGE": name,
        "GATEWAY_TRUST_AUTHORIZER": "true",  # as the template sets: the developer is the authorizer's
    }
    return Deployment(parameter, table, secret, env)
