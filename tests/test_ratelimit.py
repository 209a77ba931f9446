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


# ------------------------------------------------------------------ through both HTTP paths


class _Public:
    """Just enough of the public cache for the fast path to answer one kelurahan."""

    blobs = {("Tugurejo", "id"): b"{}"}
    etags = {("Tugurejo", "id"): '"e"'}

    def ensure(self):
        pass

    def find(self, name, kecamatan):
        return ([name] if name == "Tugurejo" else []), None


def _app(burst=5):
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from api.fastpath import PublicFastPath
    from api.routes.public import _limited

    async def summary(request):
        return _limited(request, "id") or Response("{}", media_type="application/json")

    app = Starlette(routes=[Route("/api/v1/public/summary", summary)])
    app.state.ratelimit = RateLimiter(0.001, burst, trusted_proxies={"127.0.0.1", "10.9.0.0/16"})
    app.state.public = _Public()
    return PublicFastPath(app, app.state)


def _status(app, path, peer, forwarded=()):
    """One GET straight through ASGI from TCP peer ``peer``; each ``forwarded`` item is one header."""
    import asyncio

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"pantau")] + [(b"x-forwarded-for", f.encode()) for f in forwarded],
        "client": (peer, 40000),
        "server": ("127.0.0.1", 8080),
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg):
        sent.append(msg)

    asyncio.run(app(scope, receive, send))
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def _fake():
    return ".".join(str(random.randint(1, 254)) for _ in range(4))


@pytest.mark.parametrize("path", ["/api/v1/public/summary", "/api/v1/public/kelurahan/Tugurejo"])
def test_random_forwarded_for_through_a_trusted_appending_proxy_gets_429(path):
    app = _app(burst=5)
    # the client writes a fresh random X-Forwarded-For each time; the proxy (127.0.0.1) appends the real client
    codes = [_status(app, path, "127.0.0.1", [f"{_fake()}, 203.0.113.7"]) for _ in range(12)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429] * 7
    # the same when the proxy adds its own header line rather than appending to the client's
    assert _status(app, path, "127.0.0.1", [_fake(), "203.0.113.7"]) == 429
    assert _status(app, path, "127.0.0.1", [f"{_fake()}, 203.0.113.8"]) == 200  # another real client


@pytest.mark.parametrize("path", ["/api/v1/public/summary", "/api/v1/public/kelurahan/Tugurejo"])
def test_an_untrusted_peers_forwarded_for_is_ignored(path):
    app = _app(burst=3)
    codes = [_status(app, path, "198.51.100.4", [_fake()]) for _ in range(5)]
    assert codes == [200] * 3 + [429] * 2
    assert app.state.ratelimit.buckets.keys() == {"198.51.100.4"}


def test_right_most_untrusted_behind_two_proxies_and_unparsable_hops():
    rl = _rl()
    assert rl.client_of("10.9.3.3", "1.1.1.1, 203.0.113.7, 10.9.1.2") == "203.0.113.7"
    assert rl.client_of("127.0.0.1", "203.0.113.7, not-an-ip") == "not-an-ip"  # an unparsable hop is the client
    assert rl.client_of("127.0.0.1", "203.0.113.7, 10.9.1.2, ") == "203.0.113.7"
