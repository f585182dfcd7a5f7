"""The deploy path as the README walks it: samconfig stages, and a function whose Salesforce settings are
missing (or still the template's placeholders) answering a clear Anthropic error naming what is missing."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import anthropic
import pytest

from gateway.app import create_app
from gateway.http_server import ServerThread
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def test_samconfig_default_deploy_is_dev_and_both_stages_exist():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["default"]["deploy"]["parameters"] == config["dev"]["deploy"]["parameters"]
    for stage in ("dev", "prod"):
        params = config[stage]["deploy"]["parameters"]
        assert params["stack_name"] == f"sf-anthropic-gateway-{stage}"
        assert f"Stage={stage}" in params["parameter_overrides"]


def message_from(settings: Settings) -> str:
    gateway = ServerThread(create_app(settings=settings)).start()
    try:
        client = anthropic.Anthropic(base_url=gateway.url, api_key="any", max_retries=0)
        with pytest.raises(anthropic.InternalServerError) as caught:
            client.messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    finally:
        gateway.stop()
    assert caught.value.body["error"]["type"] == "api_error"
    return caught.value.body["error"]["message"]


def test_a_function_without_salesforce_settings_says_what_is_missing():
    message = message_from(Settings.from_env({"SF_CLIENT_ID": "3MVG-id"}))
    assert "SF_MY_DOMAIN (or SF_TOKEN_URL)" in message and "SF_CLIENT_SECRET" in message, message
    assert "SF_CLIENT_ID" not in message  # only what is missing
    assert "idna" not in message.lower()


def test_the_templates_placeholder_secret_says_what_to_fill_in(aws):
    secret_id = "sf-anthropic-gateway/placeholder/salesforce"
    # What the stack creates: CHANGE-ME for my_domain and client_id, a generated client_secret.
    initial = {"my_domain": "CHANGE-ME", "client_id": "CHANGE-ME", "client_secret": "generated-by-cloudformation"}
    aws.client("secretsmanager").create_secret(Name=secret_id, SecretString=json.dumps(initial))
    message = message_from(Settings.from_env({"SF_SECRET_ID": secret_id}))
    assert "my_domain" in message and "client_id" in message and secret_id in message, message
    assert "client_secret" not in message and "generated-by-cloudformation" not in message
