"""The shortest proof that the stack works: one answer from each surface through the real SDK."""

import pytest
from support.stacks import SURFACE_MODELS


@pytest.mark.parametrize("surface", SURFACE_MODELS)
def test_echo_on_every_surface(client, surface):
    message = client.messages.create(
        model=SURFACE_MODELS[surface], max_tokens=50, messages=[{"role": "user", "content": "Hello smoke"}]
    )
    assert message.content[0].text == "Hello smoke"
    assert message.id.startswith("msg_")
    assert message.model == SURFACE_MODELS[surface]
