"""Debian's nginx in front of `pantau api` as docs/production.md says (config/nginx/pantau.conf): TLS
terminated by nginx with Pantau's own CA, X-Forwarded-For appended. A client that writes a new random
X-Forwarded-For on every request is still rate limited: Pantau keys on the right-most untrusted hop."""

from __future__ import annotations

import random
import ssl
import shutil
from pathlib import Path

import httpx
import pytest

from hotspots.inventory import resolve_city
from pantau import services
from pantau.tlsca import make_ca

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent


class _Nginx(services.Service):
    def ready(self) -> bool:
        return services.port_open(self.host, self.port)


def test_random_forwarded_for_through_nginx_is_still_limited(semarang, tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    ca = make_ca(tmp_path / "tls")
    state = tmp_path / "collector"
    api = services.api(state, str(resolve_city("semarang")), None, env={
        "PANTAU_PUBLIC_RATE": "1", "PANTAU_PUBLIC_BURST": "10", "PANTAU_TRUSTED_PROXIES": '["127.0.0.1"]'})
    api.start(ready_timeout=60)
    port = services.free_port()
    site = (ROOT / "config/nginx/pantau.conf").read_text()
    site = (site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{api.port};")
            .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl;")
            .replace("/etc/pantau/tls/fullchain.pem", str(tmp_path / "tls/server.pem"))
            .replace("/etc/pantau/tls/privkey.pem", str(tmp_path / "tls/server.key")))
    assert site.count(str(api.port)) == 1 and str(port) in site, "the shipped file has the expected anchors"
    (tmp_path / "ng").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""daemon off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/nginx.error.log warn;
events {{ worker_connections 256; }}
http {{ access_log off; client_body_temp_path {tmp_path}/ng/body; proxy_temp_path {tmp_path}/ng/proxy;
  fastcgi_temp_path {tmp_path}/ng/fcgi; uwsgi_temp_path {tmp_path}/ng/uwsgi; scgi_temp_path {tmp_path}/ng/scgi;
{site}
}}
""")
    ng = _Nginx("nginx", [nginx, "-c", str(conf), "-p", str(tmp_path), "-e", f"{tmp_path}/nginx.error.log"],
                tmp_path, "127.0.0.1", port).start(ready_timeout=30)
    try:
        # The citizen connects from 127.0.0.2 (nginx, the trusted proxy, from 127.0.0.1).
        tls = ssl.create_default_context(cafile=str(ca))
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=tls,
                          transport=httpx.HTTPTransport(verify=tls, local_address="127.0.0.2")) as c:
            assert c.get("/healthz").status_code == 200  # the certificate verified against the CA
            codes = []
            for _ in range(60):
                fake = ".".join(str(random.randint(1, 254)) for _ in range(4))
                codes.append(c.get("/api/v1/public/summary", headers={"X-Forwarded-For": fake}).status_code)
            limited = codes.count(429)
            print(f"\n[nginx, random X-Forwarded-For per request] 60 requests: {codes.count(200)} answered, "
                  f"{limited} refused with 429")
            assert codes[:5] == [200] * 5 and limited >= 40, codes
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/healthz")  # without Pantau's CA: not trusted
    finally:
        ng.stop()
        api.stop()
