"""Security headers on the pages: a CSP that allows only Pantau's own inline script and style."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_app

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def client(semarang, tmp_path_factory):
    app = create_app(semarang, tmp_path_factory.mktemp("pages"), rate_per_s=0, burst=1)
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("path", ["/", "/noc"])
def test_pages_carry_a_csp_of_their_own_assets_only(client, path):
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = dict(part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'none'" and csp["connect-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in r.headers["content-security-policy"]
    assert "unsafe-eval" not in r.headers["content-security-policy"]
    blocks = re.findall(rb"<(script|style)>(.*?)</\1>", r.content, re.S)
    for kind, text in blocks:
        h = "'sha256-" + base64.b64encode(hashlib.sha256(text).digest()).decode() + "'"
        assert h in csp[kind.decode() + "-src"].split()
    # nothing the CSP would block and the page needs: no external assets, no inline handlers or styles
    assert not re.search(rb"""(src|href)=["']?(https?:)?//""", r.content)
    assert not re.search(rb"""\son[a-z]+=["']""", r.content)
    assert b' style="' not in r.content
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_vendored_libraries_are_served_from_pantau_itself(client):
    r = client.get("/static/vendor/uPlot.esm.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert b"export { uPlot as default }" in r.content
    assert client.get("/static/vendor/../../citizen.html").status_code == 404


def test_citizen_page_is_a_shell_of_its_own_modules(client):
    """``/`` runs no inline code: ES modules and a style sheet from Pantau itself (gzipped), its data
    as a non-executable JSON block, one small inline style (the first answer's, by hash); the
    modules use no eval, inline handlers or style attributes."""
    r = client.get("/")
    csp = dict(part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";"))
    assert csp["script-src"].split() == ["'self'"] and len(csp["style-src"].split()) == 2
    assert not re.findall(rb"<script>", r.content) and len(re.findall(rb"<style>", r.content)) == 1
    assert re.findall(rb"<script[^>]*>", r.content) == [
        b'<script type="module" src="static/citizen/main.js">',
        b'<script type="application/json" id="pantau-status">',
    ]
    assert b'  <link rel="stylesheet" href="static/citizen/citizen.css">' in r.content
    for name in ("main.js", "i18n.js", "map.js", "views.js", "citizen.css"):
        a = client.get(f"/static/citizen/{name}", headers={"Accept-Encoding": "gzip"})
        assert a.status_code == 200 and a.headers.get("content-encoding") == "gzip", name
        assert not re.search(r"\beval\(|new Function|innerHTML|setAttribute\(\"(style|on)|\.style\.", a.text), name
        if name.endswith(".js"):
            assert "javascript" in a.headers["content-type"]
