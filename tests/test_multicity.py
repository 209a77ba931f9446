"""Several cities in one deployment: each city's explainer, data and answers independent; the API
serves each at /cities/<city>/ (the first also at /), keys may be scoped to cities, and
`pantau collect --city a,b` runs both cities' collectors in one process."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_multi_app
from hotspots.inventory import load_inventory, resolve_city
from pantau.service import city_settings
from pantau.settings import load_settings
from store.state import StateDB
from tests.fixtures.blackout import build

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def two(semarang, tmp_path_factory, module_database):
    batang = load_inventory(resolve_city("batang"))
    d = tmp_path_factory.mktemp("multi")
    s_info = build(semarang, d, substations=("SRD",), database=module_database)
    b_info = build(batang, d, substations=("BTG",), database=module_database)
    st = StateDB(module_database)
    keys = {
        "all": st.create_key("noc-jateng", "viewer")[1],
        "batang": st.create_key("noc-batang", "viewer", cities=["batang"])[1],
    }
    app = create_multi_app([semarang, batang], d, rate_per_s=100, burst=100, database=module_database)
    with TestClient(app) as c:
        yield {"c": c, "keys": keys, "s": s_info, "b": b_info, "batang": batang, "semarang": semarang}


def test_each_city_answers_its_own_citizens(two):
    c = two["c"]
    assert [x["city"] for x in c.get("/api/v1/cities").json()] == ["semarang", "batang"]
    s = c.get("/api/v1/public/summary").json()
    b = c.get("/cities/batang/api/v1/public/summary").json()
    assert s != b
    sem = {k for kec in two["semarang"].kecamatan.values() for k in kec.kelurahan}
    kel_b = next(k for kec in two["batang"].kecamatan.values() for k in kec.kelurahan if k not in sem)
    r = c.get(f"/cities/batang/api/v1/public/kelurahan/{kel_b}")  # the fast path, inside the city's app
    assert r.status_code == 200 and r.json()["kelurahan"] == kel_b, r.text
    assert c.get(f"/api/v1/public/kelurahan/{kel_b}").status_code == 404  # not a Semarang kelurahan
    assert c.get("/cities/batang", follow_redirects=False).headers["location"] == "/cities/batang/"
    page = c.get("/cities/batang/")
    # relative: this city's API and modules; this city's status written in
    assert page.status_code == 200 and 'href="api/v1/public/areas"' in page.text and "/static/" not in page.text
    assert (
        f"di {two['batang'].display_name} menyala" in page.text
        and f'"code":"{next(iter(two["batang"].kecamatan))}/' in page.text
    )
    assert c.get("/cities/batang/static/citizen/main.js").status_code == 200


def test_incidents_and_keys_per_city(two):
    c, keys = two["c"], two["keys"]
    s_roots = {i["root"] for i in c.get("/api/v1/incidents", headers={"X-API-Key": keys["all"]}).json()["items"]}
    b_roots = {
        i["root"] for i in c.get("/cities/batang/api/v1/incidents", headers={"X-API-Key": keys["all"]}).json()["items"]
    }
    assert "substation:SRD" in s_roots and "substation:BTG" in b_roots and not s_roots & b_roots
    assert c.get("/cities/batang/api/v1/incidents", headers={"X-API-Key": keys["batang"]}).status_code == 200
    r = c.get("/api/v1/incidents", headers={"X-API-Key": keys["batang"]})
    assert r.status_code == 403 and "batang" in r.json()["detail"]


def test_collect_settings_per_city(tmp_path, monkeypatch):
    monkeypatch.setenv("PANTAU_TRAPS_LISTEN", "127.0.0.1:9162")
    st = load_settings(city="semarang,batang", state_dir=tmp_path)
    assert st.cities == ["semarang", "batang"]
    invs = [load_inventory(resolve_city(c)) for c in st.cities]
    a, b = city_settings(st, invs)
    assert a.state_dir == tmp_path and b.state_dir == tmp_path / "batang"
    assert a.database == b.database == st.database  # one state database for both cities
    assert a.traps_listen == "127.0.0.1:9162" and b.traps_listen is None  # one trap port, handed over by address
