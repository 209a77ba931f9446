"""``GET /api/v1/availability`` (JSON and CSV) and restore estimates (NOC basis, citizens' words) on a
blackout state folder (tests/fixtures/blackout.py) with a history of restored incidents."""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from outages.availability import WIB
from outages.store import IncidentStore
from store.state import StateDB
from tests.fixtures.blackout import build

pytestmark = pytest.mark.unit


def _restored(k: int, minutes: float, now: float) -> dict:
    opened = now - 86400 * (k + 1)
    return {
        "id": f"INC-PAST-{k}",
        "city": "semarang",
        "cause": "power_grid",
        "root": "substation:KLI",
        "status": "closed",
        "confidence": 0.95,
        "inferred": False,
        "opened_at": opened,
        "updated_at": opened,
        "closed_at": opened + minutes * 60,
        "affected": [],
        "areas": [],
        "explanation_id": "",
        "explanation_en": "",
        "evidence": [],
        "merged_into": None,
        "detected_at": opened,
    }


@pytest.fixture(scope="module")
def world(semarang, tmp_path_factory, module_database):
    d = tmp_path_factory.mktemp("api-avail")
    now = time.time()
    info = build(semarang, d, now=now, database=module_database)
    st = IncidentStore(module_database)
    st.write([], [_restored(k, m, now) for k, m in enumerate([20, 30, 40, 50, 60, 70, 80])], [])
    sdb = StateDB(module_database)
    key = sdb.create_key("test-viewer", "viewer")[1]
    app = create_app(semarang, d, rate_per_s=100, burst=100, trusted_proxies={"testclient"}, database=module_database)
    with TestClient(app) as c:
        yield {"client": c, "key": key, "info": info, "now": now, "inv": semarang}


def test_availability_by_kecamatan_for_the_month_json_and_csv(world):
    c, key, inv = world["client"], world["key"], world["inv"]
    month = datetime.fromtimestamp(world["now"], WIB).strftime("%Y-%m")
    assert c.get(f"/api/v1/availability?by=kecamatan&period={month}").status_code == 401
    r = c.get(f"/api/v1/availability?by=kecamatan&period={month}", headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["by"] == "kecamatan" and doc["period"] == month and doc["step"] == "month"
    assert {row["group"] for row in doc["rows"]} == set(inv.kecamatan)
    city = doc["city"]
    # the blackout: every non-UPS hotspot below SRD and PDL dark for the last 570 s, all power_grid
    dark = sum(
        1 for s in ("SRD", "PDL") for h in inv.hotspots_below(f"substation:{s}") if inv.hotspots[h].ups_minutes == 0
    )
    assert city["downtime_minutes"]["power_grid"] == pytest.approx(dark * 570 / 60, rel=0.02)
    assert city["downtime_minutes"]["network_uplink"] == 0 and city["downtime_minutes"]["unknown"] == 0
    assert 0 < city["availability_pct"] < 100
    assert sum(row["down_minutes"] for row in doc["rows"]) == pytest.approx(city["down_minutes"], abs=0.1)

    day = datetime.fromtimestamp(world["now"], WIB).strftime("%Y-%m-%d")
    r = c.get(f"/api/v1/availability?by=city&period={day}&step=hour", headers={"X-API-Key": key})
    assert r.status_code == 200 and len(r.json()["rows"]) == 24
    r = c.get("/api/v1/availability?period=2026-13", headers={"X-API-Key": key})
    assert r.status_code == 422
    r = c.get("/api/v1/availability?period=nonsense", headers={"X-API-Key": key})
    assert r.status_code == 422

    for url in (
        f"/api/v1/availability?by=kecamatan&period={month}&format=csv",
        f"/api/v1/availability.csv?by=kecamatan&period={month}",
    ):
        r = c.get(url, headers={"X-API-Key": key})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert len(rows) == len(inv.kecamatan)
        assert sum(float(x["down_power_grid"]) for x in rows) == pytest.approx(
            city["downtime_minutes"]["power_grid"], abs=dark * 0.5
        )  # still dark: the minutes grow between the requests (30 s of slack)
    assert c.get(f"/api/v1/availability.csv?period={month}").status_code == 401


def test_restore_estimate_for_the_noc_and_for_citizens(world):
    c, key = world["client"], world["key"]
    open_ = [i for i in world["info"]["incidents"] if i["status"] == "open" and i["root"].startswith("substation:")]
    assert open_
    inc = open_[0]
    r = c.get(f"/api/v1/incidents/{inc['id']}", headers={"X-API-Key": key})
    assert r.status_code == 200
    e = r.json()["restore_estimate"]
    # 7 restored substation power cuts of 20..80 min; this one is ~9 min old: all 7 lasted longer
    assert e["kind"] == "estimate" and e["n"] == 7 and e["enough"] and e["median_s"] == 3000
    assert e["from"] <= e["at"] <= e["to"] and "median 50 min" in e["basis"]
    kec, _, kel = inc["areas"][0].partition("/")
    for lang, word in (("id", "Perkiraan pulih"), ("en", "Estimated back")):
        r = c.get(f"/api/v1/public/kelurahan/{kel}", params={"kecamatan": kec, "lang": lang})
        assert r.status_code == 200, r.text
        outs = [o for o in r.json()["outages"] if o["incident"] == inc["id"]]
        assert outs and outs[0]["restore"]["estimate"] is True
        assert outs[0]["restore"]["text"].startswith(word)
        assert "WIB" in outs[0]["restore"]["text"] and "+07:00" in outs[0]["restore"]["start"]
