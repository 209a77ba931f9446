"""The citizens' rate limit keys on the right-most X-Forwarded-For hop that is not a trusted proxy."""

from __future__ import annotations

import random

import pytest

from api.ratelimit import RateLimiter

pytestmark = pytest.mark.unit


def _rl(**kw):
    return RateLimiter(1, 5, trusted_proxies={"127.0.0.1", "10.9.0.0/16"}, **kw)


def test_right_most_untrusted_hop_is_the_client():
    rl = _rl()
    assert rl.client_of("127.0.0.1", "6.6.6.6, 203.0.113.7") == "203.0.113.7"
    assert rl.client_of("127.0.0.1", "6.6.6.6, 203.0.113.7, 10.9.1.2") == "203.0.113.7"  # a second proxy hop
    assert rl.client_of("127.0.0.1", " ,203.0.113.7") == "203.0.113.7"
    assert rl.client_of("127.0.0.1", "10.9.0.5, 10.9.1.2") == "10.9.0.5"  # only proxies: the left-most
    assert rl.client_of("127.0.0.1", "garbage, 203.0.113.7") == "203.0.113.7"
    assert rl.client_of("198.51.100.4", "203.0.113.7") == "198.51.100.4", "an untrusted peer's header is ignored"
    assert rl.client_of("127.0.0.1", None) == "127.0.0.1"


def test_a_random_forwarded_for_per_request_behind_an_appending_proxy_is_still_limited():
    rl = _rl()
    t, refused = 1000.0, 0
    for i in range(120):
        fake = ".".join(str(random.randint(1, 254)) for _ in range(4))
        # the client wrote `fake`; nginx appended the address it saw
        if rl.take(rl.client_of("127.0.0.1", f"{fake}, 203.0.113.7"), now=t + i * 0.01):
            refused += 1
    assert refused >= 110 and len(rl.buckets) == 1
