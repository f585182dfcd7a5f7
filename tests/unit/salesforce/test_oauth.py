"""OAuth tokens: the lifetime read from a token. Refresh and re-mint run end to end, in
e2e/errors/test_salesforce_client.py, because they only show against a real mint."""

from __future__ import annotations

import base64

from gateway.salesforce.oauth import jwt_expiry
from simulator.oauth import TokenMint


def test_jwt_expiry_parses_a_simulator_token():
    token = TokenMint(b"secret", 60).mint("client", now=1_700_000_000)
    assert jwt_expiry(token) == (1_700_000_000.0, 1_700_000_060.0)
    assert jwt_expiry("not-a-jwt") is None
    assert jwt_expiry("a.b.c") is None
    no_exp = "e30." + base64.urlsafe_b64encode(b'{"iat": 1}').decode().rstrip("=") + ".sig"
    assert jwt_expiry(no_exp) is None


def test_jwt_expiry_of_a_payload_that_is_not_an_object():
    """A three-part token whose middle is JSON but not an object counts as unreadable, not as a crash."""
    for payload in (b"[1, 2]", b"42", b'"text"'):
        token = "e30." + base64.urlsafe_b64encode(payload).decode().rstrip("=") + ".sig"
        assert jwt_expiry(token) is None
