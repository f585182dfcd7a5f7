"""A key store that fails (a corrupt key file, DynamoDB down) is a 500 in Anthropic's envelope, not a bare one."""

from __future__ import annotations

import httpx

from gateway.app import create_app
from gateway.http_server import ServerThread
from gateway.services import Services
from gateway.settings import Settings


def test_a_failing_key_check_answers_in_the_envelope(monkeypatch):
    services = Services.from_settings(Settings.from_env({"GATEWAY_API_KEYS": "k1"}))

    def broken(headers, scope):
        raise OSError("keys.json: unreadable")

    monkeypatch.setattr(services.auth, "check", broken)
    server = ServerThread(create_app(services=services)).start()
    try:
        response = httpx.post(
            f"{server.url}/v1/messages/count_tokens",
            headers={"x-api-key": "k1", "anthropic-version": "2023-06-01"},
            json={"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert response.status_code == 500
        body = response.json()
        assert body["type"] == "error" and body["error"]["type"] == "api_error"
        assert "keys.json" not in response.text  # the failure is logged, not told
        assert response.headers["request-id"].startswith("req_")
        assert httpx.get(f"{server.url}/health").status_code == 200  # open routes need no key check
    finally:
        server.stop()
