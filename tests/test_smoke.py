"""The shortest proof that the stack works: one answer from each surface through the real SDK."""

import httpx
import pytest
from conftest import SURFACE_MODELS

from gateway.salesforce.transport import default_pools


@pytest.mark.parametrize("surface", SURFACE_MODELS)
def test_echo_on_every_surface(client, surface):
    message = client.messages.create(
        model=SURFACE_MODELS[surface], max_tokens=50, messages=[{"role": "user", "content": "Hello smoke"}]
    )
    assert message.content[0].text == "Hello smoke"
    assert message.id.startswith("msg_")
    assert message.model == SURFACE_MODELS[surface]


def test_every_surface_through_httpx_own_transport(make_stack):
    """``SF_HTTP_POOL=httpx``, the way back from the gateway's own connection pool, works end to end."""
    built = make_stack(env={"SF_HTTP_POOL": "httpx", "SF_MAX_RETRIES": "0"})
    pools = default_pools(built.settings.sf_http_pool)
    assert pools and all(type(pool) is httpx.AsyncHTTPTransport for pool in pools)
    client = built.client()
    for surface, model in SURFACE_MODELS.items():
        text = f"Hello {surface} over httpcore"
        message = client.messages.create(model=model, max_tokens=50, messages=[{"role": "user", "content": text}])
        assert message.content[0].text == text
        with client.messages.stream(model=model, max_tokens=50, messages=[{"role": "user", "content": text}]) as s:
            assert s.get_final_text() == text
