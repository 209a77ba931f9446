"""Security headers on the pages: a CSP that allows only Pantau's own scripts and styles (the NOC's ES
modules and stylesheet, a page's inline blocks by hash); the NOC console's source stays readable
and free of what the CSP forbids, its strings in both languages."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def client(semarang, tmp_path_factory):
    app = create_app(semarang, tmp_path_factory.mktemp("pages"), rate_per_s=0, burst=1)
    with TestClient(app) as c:
        yield c


def _csp(r) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";"))


@pytest.mark.parametrize("path", ["/", "/noc"])
def test_pages_carry_a_csp_of_their_own_assets_only(client, path):
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = _csp(r)
    assert csp["default-src"] == "'none'" and csp["connect-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in r.headers["content-security-policy"]
    assert "unsafe-eval" not in r.headers["content-security-policy"]
    # inline blocks (if a page has any) are allowed by their hash, nothing else inline is
    for kind, text in re.findall(rb"<(script|style)>(.*?)</\1>", r.content, re.S):
        h = "'sha256-" + base64.b64encode(hashlib.sha256(text).digest()).decode() + "'"
        assert h in csp[kind.decode() + "-src"].split()
    # nothing the CSP would block and the page needs: no external assets, no inline handlers or styles
    assert not re.search(rb"""(src|href)=["']?(https?:)?//""", r.content)
    assert not re.search(rb"""\son[a-z]+=["']""", r.content)
    assert b' style="' not in r.content
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_noc_page_is_a_shell_of_its_own_modules(client):
    """The NOC console is ES modules and a stylesheet from Pantau itself (dashboards/static/noc), no
    inline code at all: its CSP allows scripts and styles from 'self' and nothing inline."""
    r = client.get("/noc")
    csp = _csp(r)
    assert csp["script-src"].split() == ["'self'"] and csp["style-src"].split() == ["'self'"]
    assert not re.search(rb"<(script|style)[^>]*>\s*[^<\s]", r.content), "inline script or style"
    scripts = re.findall(rb'<script type="module" src="([^"]+)"></script>', r.content)
    styles = re.findall(rb'<link rel="stylesheet" href="([^"]+)">', r.content)
    assert scripts == [b"static/noc/main.js"] and b"static/noc/noc.css" in styles
    for asset in scripts + styles:  # relative: /cities/<city>/noc loads its own city's copies
        a = client.get("/" + asset.decode())
        assert a.status_code == 200, asset
    assert (
        client.get("/static/noc/main.js")
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )


def test_noc_modules_are_readable_and_use_no_inline_code():
    """Readable source (no minified lines), relative imports only, nothing the CSP forbids:
    no eval or Function, no inline event handlers or style attributes written as markup, no innerHTML."""
    root = Path(__file__).resolve().parents[1] / "dashboards" / "static" / "noc"
    files = sorted(root.glob("*.js")) + sorted(root.glob("*.css"))
    assert {p.name for p in files} >= {"main.js", "api.js", "i18n.js", "map.js", "noc.css"}
    for p in files:
        text = p.read_text()
        assert max(len(line) for line in text.splitlines()) <= 200, f"{p.name}: a minified-looking line"
        if p.suffix == ".js":
            assert not re.search(
                r"\beval\(|new Function\(|innerHTML|outerHTML|insertAdjacentHTML|document\.write", text
            ), p.name
            assert not re.search(r"setAttribute\(\s*[\"'](style|on[a-z]+)[\"']", text), p.name
            for spec in re.findall(r'^import .* from "([^"]+)";', text, re.M):
                assert spec.startswith("./") or spec.startswith("../vendor/"), (p.name, spec)
                assert (p.parent / spec).resolve().is_file(), (p.name, spec)


def _js_object(text: str) -> dict:
    """A JavaScript object literal of plain strings and objects (i18n.js's dictionaries) as a dict:
    strings set aside, keys quoted, trailing commas dropped, then JSON."""
    strings: list[str] = []

    def keep(m):
        strings.append(m.group(0))
        return f"@{len(strings) - 1}@"

    body = re.sub(r'"(?:[^"\\]|\\.)*"', keep, text)
    body = re.sub(r"([{,]\s*)([A-Za-z_]\w*)\s*:", r'\1"\2":', body)
    body = re.sub(r",(\s*})", r"\1", body)
    body = re.sub(r"@(\d+)@", lambda m: strings[int(m.group(1))], body)
    return json.loads(body)


def test_noc_strings_exist_in_both_languages():
    """Every key the modules and the shell ask for exists in Bahasa Indonesia and in English, and
    both dictionaries have the same keys."""
    root = Path(__file__).resolve().parents[1] / "dashboards" / "static" / "noc"
    i18n = (root / "i18n.js").read_text()
    dicts = {
        lang: _js_object(re.search(rf"const {lang} = (\{{.*?\n\}});", i18n, re.S).group(1)) for lang in ("ID", "EN")
    }

    def keys(d, prefix=""):
        return {k2 for k, v in d.items() for k2 in (keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k})}

    assert keys(dicts["ID"]) == keys(dicts["EN"])
    used = set()
    for p in root.glob("*.js"):
        used |= set(re.findall(r'\bt\("([a-zA-Z]+\.[a-zA-Z_]+)"', p.read_text()))
    used |= set(
        re.findall(r'data-i18n(?:-label)?="([a-zA-Z]+\.[a-zA-Z_]+)"', (root.parents[1] / "noc.html").read_text())
    )
    assert len(used) > 100
    assert used <= keys(dicts["ID"]), used - keys(dicts["ID"])


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
