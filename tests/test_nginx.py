"""Debian's nginx in front of `pantau api` as docs/production.md says (config/nginx/pantau.conf): TLS
terminated by nginx with Pantau's own CA, X-Forwarded-For appended. A client that writes a new random
X-Forwarded-For (and a new query string, past nginx's 5 s cache of the answers) on every request is
still rate limited: Pantau keys on the right-most untrusted hop. A repeated question is served from
nginx's cache (X-Cache: HIT), ETag and 304 included."""

from __future__ import annotations

import random
import ssl

import httpx
import pytest

from hotspots.inventory import resolve_city
from pantau import services
from pantau.tlsca import make_ca

pytestmark = pytest.mark.integration


def test_random_forwarded_for_through_nginx_is_still_limited(semarang, tmp_path):
    ca = make_ca(tmp_path / "tls")
    state = tmp_path / "collector"
    api = services.api(
        state,
        str(resolve_city("semarang")),
        None,
        env={"PANTAU_PUBLIC_RATE": "1", "PANTAU_PUBLIC_BURST": "10", "PANTAU_TRUSTED_PROXIES": '["127.0.0.1"]'},
    )
    api.start(ready_timeout=60)
    ng = services.nginx(tmp_path / "nginx", api.port, tmp_path / "tls").start(ready_timeout=30)
    port = ng.port
    try:
        # The citizen connects from 127.0.0.2 (nginx, the trusted proxy, from 127.0.0.1).
        tls = ssl.create_default_context(cafile=str(ca))
        with httpx.Client(
            base_url=f"https://127.0.0.1:{port}",
            verify=tls,
            transport=httpx.HTTPTransport(verify=tls, local_address="127.0.0.2"),
        ) as c:
            assert c.get("/healthz").status_code == 200  # the certificate verified against the CA
            codes = []
            for n in range(60):
                fake = ".".join(str(random.randint(1, 254)) for _ in range(4))
                # a new query string each time too: past nginx's cache of the answers, to the replicas
                r = c.get("/api/v1/public/summary", params={"n": n}, headers={"X-Forwarded-For": fake})
                codes.append(r.status_code)
            limited = codes.count(429)
            print(
                f"\n[nginx, random X-Forwarded-For per request] 60 requests: {codes.count(200)} answered, "
                f"{limited} refused with 429"
            )
            assert codes[:5] == [200] * 5 and limited >= 40, codes
        # The same question again within the answer's max-age (5 s) is nginx's, not a replica's.
        with httpx.Client(
            base_url=f"https://127.0.0.1:{port}",
            verify=tls,
            transport=httpx.HTTPTransport(verify=tls, local_address="127.0.0.4"),
        ) as c:
            first = c.get("/api/v1/public/kelurahan/Tugurejo")
            again = c.get("/api/v1/public/kelurahan/Tugurejo")
            assert first.status_code == again.status_code == 200 and again.content == first.content
            assert (first.headers["x-cache"], again.headers["x-cache"]) == ("MISS", "HIT")
            assert again.headers["etag"] == first.headers["etag"]
            assert (
                c.get("/api/v1/public/kelurahan/Tugurejo", headers={"If-None-Match": first.headers["etag"]}).status_code
                == 304
            )
        # Compressed once, by whichever of the two is meant to (another citizen: a bucket of its own).
        with httpx.Client(
            base_url=f"https://127.0.0.1:{port}",
            verify=tls,
            transport=httpx.HTTPTransport(verify=tls, local_address="127.0.0.3"),
            headers={"Accept-Encoding": "gzip"},
        ) as c:
            page = c.get("/")
            assert page.headers.get("content-encoding") == "gzip" and 'id="city-head"' in page.text
            assert page.headers["etag"].endswith('-gz"')  # pantau api's own, passed on as it is
            listing = c.get("/api/v1/public/kelurahan")
            assert listing.headers.get("content-encoding") == "gzip" and len(listing.json()) == 177  # nginx's
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/healthz")  # without Pantau's CA: not trusted
    finally:
        ng.stop()
        api.stop()
