"""The gateway's own retries: which statuses it retries, how long it waits, and when it leaves it to the client."""

from __future__ import annotations

import pytest

from gateway.salesforce.retry import CLIENT_RETRY_STATUSES, GATEWAY_RETRY_STATUSES, RetryPolicy, retry_after_seconds
from gateway.settings import Settings


def test_default_policy_retries_once_and_never_a_429():
    assert Settings.from_env({}).sf_max_retries == 1
    assert RetryPolicy().max_retries == 1
    assert not GATEWAY_RETRY_STATUSES & CLIENT_RETRY_STATUSES
    assert 429 in CLIENT_RETRY_STATUSES
    assert {500, 502, 503, 504} <= GATEWAY_RETRY_STATUSES


def test_no_delay_once_the_retries_are_spent():
    policy = RetryPolicy(max_retries=2)
    assert policy.delay(0, None, rng=lambda: 0.5) is not None
    assert policy.delay(1, None, rng=lambda: 0.5) is not None
    assert policy.delay(2, None, rng=lambda: 0.5) is None
    assert policy.delay(2, 0.1) is None, "not even when Salesforce names a short wait"
    assert RetryPolicy(max_retries=0).delay(0, None) is None


def test_backoff_doubles_up_to_the_cap_with_full_jitter():
    policy = RetryPolicy(max_retries=10, base_delay=0.25, max_delay=4.0)
    ceilings = [policy.delay(n, None, rng=lambda: 1.0) for n in range(7)]
    assert ceilings == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert [policy.delay(n, None, rng=lambda: 0.0) for n in range(3)] == [0.0, 0.0, 0.0]
    assert policy.delay(1, None, rng=lambda: 0.5) == 0.25  # a fraction of the ceiling, drawn per attempt


def test_a_short_retry_after_is_waited_out_and_a_long_one_passed_on():
    policy = RetryPolicy(max_retries=3, max_retry_after=20.0)
    assert policy.delay(0, 1.5, rng=lambda: 0.0) == 1.5  # Salesforce's wait, not the jittered backoff
    assert policy.delay(0, 20.0) == 20.0
    assert policy.delay(0, 20.5) is None  # longer than the gateway should hold the request: the client waits


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "0"}, 0.0),
        ({"Retry-After-Ms": "1500", "Retry-After": "9"}, 1.5),  # the finer one wins
        ({"retry-after-ms": "soon", "retry-after": "2"}, 2.0),  # junk in one falls back to the other
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),  # an HTTP date counts as absent
        ({"Retry-After": "-3"}, None),
        ({"x-other": "1"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds_reads_either_header(headers, seconds):
    assert retry_after_seconds(headers) == seconds
