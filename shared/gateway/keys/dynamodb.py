"""The key store in DynamoDB (the stage's keys table, string hash key ``pk``).

Items: ``key#<sha256>`` (read by the authorizer, one GetItem per cache miss), ``dev#<owner>``, and
``usage#<owner>#<YYYY-MM>`` counters that grow by an atomic ``ADD``, so concurrent requests never lose
tokens. boto3 is imported on first use, and honours ``AWS_ENDPOINT_URL`` (the tests' moto server).
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from .model import USAGE_FIELDS, Developer, KeyRecord, Usage
from .store import KeyStore, usage_from


def _to_item(pk: str, data: dict[str, Any]) -> dict[str, dict]:
    item: dict[str, dict] = {"pk": {"S": pk}}
    for name, value in data.items():
        if value is None:
            continue
        if isinstance(value, bool):
            item[name] = {"BOOL": value}
        elif isinstance(value, int | float):
            item[name] = {"N": str(value)}
        else:
            item[name] = {"S": str(value)}
    return item


def _from_item(item: dict[str, dict]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, typed in item.items():
        ((kind, value),) = typed.items()
        if kind == "N":
            number = float(value)
            out[name] = int(number) if number.is_integer() else number
        else:
            out[name] = value
    return out


def _only(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


class DynamoDBKeyStore(KeyStore):
    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def _db(self) -> Any:
        if self._client is None:
            from ..stores.aws import aws_client

            self._client = aws_client("dynamodb")
        return self._client

    def connect(self) -> None:
        self._db  # noqa: B018 - builds the client now

    def _get(self, pk: str) -> dict[str, Any] | None:
        item = self._db.get_item(TableName=self.table_name, Key={"pk": {"S": pk}}).get("Item")
        return _from_item(item) if item else None

    def get_key(self, key_hash: str) -> KeyRecord | None:
        data = self._get(f"key#{key_hash}")
        return _only(KeyRecord, {**data, "key_hash": key_hash}) if data else None

    def put_key(self, record: KeyRecord) -> None:
        data = {k: v for k, v in asdict(record).items() if k != "key_hash"}
        self._db.put_item(TableName=self.table_name, Item=_to_item(f"key#{record.key_hash}", data))

    def get_developer(self, owner: str) -> Developer | None:
        data = self._get(f"dev#{owner}")
        return _only(Developer, data) if data else None

    def put_developer(self, developer: Developer) -> None:
        self._db.put_item(TableName=self.table_name, Item=_to_item(f"dev#{developer.owner}", developer.to_dict()))

    def developers(self) -> list[Developer]:
        found: list[Developer] = []
        for page in self._db.get_paginator("scan").paginate(
            TableName=self.table_name,
            FilterExpression="begins_with(pk, :p)",
            ExpressionAttributeValues={":p": {"S": "dev#"}},
        ):
            found += [_only(Developer, _from_item(item)) for item in page.get("Items", [])]
        return sorted(found, key=lambda d: d.owner)

    def add_usage(self, owner: str, month: str, delta: dict[str, int]) -> Usage:
        names = [n for n in USAGE_FIELDS if delta.get(n)]
        if not names:
            return self.get_usage(owner, month)
        answer = self._db.update_item(
            TableName=self.table_name,
            Key={"pk": {"S": f"usage#{owner}#{month}"}},
            UpdateExpression="ADD " + ", ".join(f"{n} :{n}" for n in names),
            ExpressionAttributeValues={f":{n}": {"N": str(int(delta[n]))} for n in names},
            ReturnValues="ALL_NEW",
        )
        return usage_from(owner, month, _from_item(answer.get("Attributes", {})))

    def get_usage(self, owner: str, month: str) -> Usage:
        return usage_from(owner, month, self._get(f"usage#{owner}#{month}") or {})
