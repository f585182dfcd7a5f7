"""An error body is read only up to a cap: a misbehaving 200 may never end."""

from __future__ import annotations

import asyncio
import itertools

from gateway.salesforce.bodies import read_capped


def test_an_endless_body_is_read_up_to_the_cap_and_no_further():
    pulled = itertools.count()

    async def endless():
        while True:
            next(pulled)
            yield b"x" * 1000

    body = asyncio.run(read_capped(endless(), limit=10_500))
    assert body == b"x" * 10_500
    assert next(pulled) == 11  # 11 chunks pulled to pass the cap, then it stopped


def test_a_short_body_comes_back_whole():
    async def two():
        yield b'{"message": '
        yield b'"busy"}'

    assert asyncio.run(read_capped(two())) == b'{"message": "busy"}'
