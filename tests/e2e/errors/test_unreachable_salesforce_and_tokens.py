"""Salesforce out of reach or its tokens gone: a refused OAuth endpoint or API base is a quick 500 that says so,
tokens that expire or are revoked are minted again without the client noticing, and an OAuth outage is an error
without a model call, until it ends."""

from __future__ import annotations

import time

import pytest
from support.outcomes import SURFACES, assert_error, body_for, raw_call, sdk_call
from support.sdk import marker
from support.sockets import closed_port

from gateway.salesforce import oauth
from simulator.app import SimulatorConfig
from simulator.oauth import TokenMint


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_oauth_endpoint_refused(module_stacks, stream):
    """The token URL is a closed port: a quick 500 api_error, not a hang."""
    built = module_stacks("oauth-refused", {"SF_TOKEN_URL": f"http://127.0.0.1:{closed_port()}/services/oauth2/token"})
    outcome = raw_call(built, body_for("bedrock_invoke", "hi", stream), timeout=10)
    error = assert_error(outcome, 500, "api_error")
    assert "OAuth" in error["message"] and "unreachable" in error["message"], error
    assert outcome.elapsed < built.settings.sf_connect_timeout / 2, outcome.elapsed  # refused, not waited out
    assert len(built.simulator.requests) == 0


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("surface", SURFACES)
def test_api_base_refused(module_stacks, surface, stream):
    """A valid token but the API base is a closed port: 500 api_error saying Salesforce is unreachable."""
    built = module_stacks(
        "api-refused", {"SF_API_BASE_URL": f"http://127.0.0.1:{closed_port()}", "SF_MAX_RETRIES": "0"}
    )
    outcome = raw_call(built, body_for(surface, "hi", stream), timeout=10)
    error = assert_error(outcome, 500, "api_error")
    assert "unreachable" in error["message"], error
    assert outcome.elapsed < built.settings.sf_connect_timeout / 2, outcome.elapsed  # refused, not waited out
    assert built.simulator.mint.minted == 1  # the token came (once, then cached); the model call never arrived
    assert not [r for r in built.simulator.requests if "oauth2" not in r["path"]]


def test_token_expiry_mints_a_new_token(make_stack):
    """One-second tokens: two requests two seconds apart both succeed, each with its own token, no 401."""
    built = make_stack(env={"SF_MAX_RETRIES": "0"}, sim_config=SimulatorConfig(token_ttl_seconds=1))
    word = marker()
    assert sdk_call(built, "bedrock_invoke", f"one {word}", False).content[0].text == f"one {word}"
    time.sleep(2)
    assert sdk_call(built, "bedrock_invoke", f"two {word}", True).content[0].text == f"two {word}"
    assert built.simulator.mint.minted == 2
    tokens = [r["headers"]["authorization"] for r in built.simulator.requests if "oauth2" not in r["path"]]
    assert len(tokens) == 2  # refreshed before expiry: no request was refused
    assert tokens[0] != tokens[1]


def test_revoked_token_is_reminted_once(make_stack):
    """Salesforce stops accepting the cached token (401): the gateway mints a new one and succeeds."""
    built = make_stack(env={"SF_MAX_RETRIES": "0"})
    assert sdk_call(built, "chat_generations", "first", False).content[0].text == "first"
    built.simulator.mint = TokenMint(b"rotated-signing-key", 1800)  # every earlier token is now invalid
    assert sdk_call(built, "chat_generations", "second", False).content[0].text == "second"
    assert built.simulator.mint.minted == 1
    model_calls = [r for r in built.simulator.requests if "oauth2" not in r["path"]]
    assert len(model_calls) == 3  # first, second (401), second again with the new token


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_oauth_outage_and_recovery(make_stack, monkeypatch, stream):
    monkeypatch.setattr(oauth, "FAILED_MINT_HOLD", 0.0)  # the shared failure's hold has its own tests
    built = make_stack(env={"SF_MAX_RETRIES": "0"}, sim_config=SimulatorConfig(client_secret="sf-secret-SECRET-9b2c"))
    built.simulator.config.oauth_fail_status = 500
    outcome = raw_call(built, body_for("bedrock_invoke", "hi", stream))
    error = assert_error(outcome, 500, "api_error")
    assert "Salesforce authentication failed" in error["message"], error
    assert "sf-secret-SECRET-9b2c" not in outcome.raw.decode()
    assert not [r for r in built.simulator.requests if "oauth2" not in r["path"]]  # no model call without a token
    built.simulator.config.oauth_fail_status = None
    assert sdk_call(built, "bedrock_invoke", "back again", stream).content[0].text == "back again"
