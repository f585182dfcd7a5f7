"""AWS stores for the deployment: the model map in SSM Parameter Store, verification in DynamoDB.

boto3 and Powertools are imported on first use, not at import time, to keep cold starts light.
Both honour ``AWS_ENDPOINT_URL`` (boto3 reads it), which is how the tests point them at moto.
"""

from __future__ import annotations

from typing import Any

from ..salesforce.oauth import Credentials
from ..settings import require_salesforce, token_url_for
from .base import ModelMapSource, VerificationCache


def aws_client(service: str) -> Any:
    """A boto3 client for the request path: short timeouts and one retry, so a slow AWS service delays a
    request by seconds, not by boto3's default minute and retries."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})
    return boto3.session.Session().client(service, config=config)


class SSMModelMapSource(ModelMapSource):
    """The model map as a JSON String parameter, read through Powertools' SSM provider."""

    blocking = True

    def __init__(self, parameter_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parameter_name = parameter_name
        self._provider: Any = None

    def _fetch(self) -> str | bytes:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SSMProvider

            self._provider = SSMProvider(boto3_client=aws_client("ssm"))
        # The base class decides when to re-read; Powertools' own cache is bypassed.
        return self._provider.get(self.parameter_name, max_age=0, force_fetch=True)


class DynamoDBVerificationCache(VerificationCache):
    """One item per Salesforce model: ``pk``, ``ok`` and ``expires_at`` (the table's TTL attribute).

    DynamoDB deletes expired items lazily (up to days later), so expiry is checked on read as well.
    """

    blocking = True

    def __init__(self, table_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table_name = table_name
        self._dynamodb: Any = None

    @property
    def _db(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = aws_client("dynamodb")
        return self._dynamodb

    def _read(self, key: str) -> tuple[bool, float] | None:
        item = self._db.get_item(TableName=self.table_name, Key={"pk": {"S": key}}, ConsistentRead=False).get("Item")
        if not item:
            return None
        return bool(item["ok"]["BOOL"]), float(item["expires_at"]["N"])

    def _write(self, key: str, ok: bool, expires_at: float) -> None:
        self._db.put_item(
            TableName=self.table_name,
            Item={"pk": {"S": key}, "ok": {"BOOL": ok}, "expires_at": {"N": str(int(expires_at))}},
        )


def salesforce_credentials(secret_id: str, token_url: str | None = None) -> Credentials:
    """The org's credentials from the Secrets Manager secret ``{"my_domain" or "token_url", "client_id",
    "client_secret"}``; ``token_url`` (SF_TOKEN_URL) wins over the secret's own."""
    secret = read_salesforce_secret(secret_id)
    require_salesforce(
        {
            "my_domain": token_url or secret.get("token_url") or secret.get("my_domain"),
            "client_id": secret.get("client_id"),
            "client_secret": secret.get("client_secret"),
        },
        f"in the Secrets Manager secret {secret_id} (README: Deploy)",
    )
    url = token_url or secret.get("token_url") or token_url_for(secret.get("my_domain", ""))
    return Credentials(url, secret.get("client_id", ""), secret.get("client_secret", ""))


def read_salesforce_secret(secret_id: str) -> dict[str, str]:
    """The secret's fields as strings, from Secrets Manager, once per container."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    value = SecretsProvider(boto3_client=aws_client("secretsmanager")).get(secret_id, transform="json", max_age=86400)
    if not isinstance(value, dict):
        raise ValueError("the Salesforce secret must be a JSON object")
    return {k: str(v) for k, v in value.items()}
