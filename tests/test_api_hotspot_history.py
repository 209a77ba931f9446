"""A hotspot's charts and history for the NOC's hotspot page: ``/hotspots/{id}/series`` (InfluxDB,
bucketed into uPlot's columns; here a recording stand-in for the client, the real one is exercised by
tests/browser/test_noc.py) and ``/hotspots/{id}/states`` (the evidence log through the availability
accounting: spans, changes, downtime by cause, incidents)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.hotspots import _step
from store.state import StateDB
from store.timeseries import QueryResult
from tests.fixtures.blackout import build

SWITCH = "SW-SMT-01"


@pytest.fixture(scope="module")
def world(semarang, tmp_path_factory, module_database):
    d = tmp_path_factory.mktemp("hist")
    info = build(semarang, d, switch=SWITCH, database=module_database)
    key = StateDB(module_database).create_key("test-hist", "viewer")[1]
    app = create_app(semarang, d, rate_per_s=5, burst=20, database=module_database)
    with TestClient(app) as c:
        yield {"client": c, "key": key, "info": info, "app": app, "inv": semarang}


class FakeInflux:
    """Answers the two InfluxQL statements of the series route like InfluxDB 1.x does (GROUP BY
    time and tags: one series per ifname), and records them."""

    def __init__(self, t: float):
        self.t = t
        self.asked: list[str] = []

    def query_rows(self, q: str, **kw):
        self.asked.append(q)
        cols = ["time", "clients", "cpu_pct", "mem_pct", "rtt_ms", "polls", "failed"]
        rows = ([self.t, 10, 20.0, 40.0, 3.0, 4, 0], [self.t + 60, 12, 22.0, 41.0, None, 4, 2])
        return [dict(zip(cols, v)) for v in rows]

    def query(self, q: str, **kw):
        self.asked.append(q)
        cols = ["time", "rx_bps", "tx_bps"]
        return [
            QueryResult(
                [
                    {
                        "name": "hotspot_if",
                        "tags": {"ifname": "eth0"},
                        "columns": cols,
                        "values": [[self.t, 1000.0, 200.0]],
                    },
                    {
                        "name": "hotspot_if",
                        "tags": {"ifname": "wlan0"},
                        "columns": cols,
                        "values": [[self.t, 900.0, 150.0]],
                    },
                    {
                        "name": "hotspot_if",
                        "tags": {"ifname": "eth1"},
                        "columns": cols,
                        "values": [[self.t, 10.0, 2.0]],
                    },
                ]
            )
        ]


def test_step_gives_at_most_the_points_asked_in_round_buckets():
    assert _step(60, 300) == 15 and _step(60, 360) == 10 and _step(1440, 300) == 300 and _step(10080, 300) == 3600
    for minutes in (5, 60, 360, 1440, 10080):
        for points in (10, 100, 300, 2000):
            assert minutes * 60 / _step(minutes, points) <= points or _step(minutes, points) == 10


def test_series_without_influx_is_empty_and_says_so(world):
    c, k = world["client"], world["key"]
    r = c.get("/api/v1/hotspots/AP-0001/series?minutes=60", headers={"X-API-Key": k})
    assert r.status_code == 200
    doc = r.json()
    assert doc["available"] is False and doc["time"] == [] and doc["step_s"] == 15
    assert set(doc["series"]) == {"clients", "rx_bps", "tx_bps", "cpu_pct", "mem_pct", "rtt_ms", "up_ratio"}
    assert c.get("/api/v1/hotspots/AP-9999/series", headers={"X-API-Key": k}).status_code == 404
    assert c.get("/api/v1/hotspots/AP-0001/series?minutes=20000", headers={"X-API-Key": k}).status_code == 422
    assert c.get("/api/v1/hotspots/AP-0001/series").status_code == 401


def test_series_columns_from_influx(world, monkeypatch):
    c, k, app = world["client"], world["key"], world["app"]
    import time

    t = (time.time() - 600) // 60 * 60
    fake = FakeInflux(t)
    monkeypatch.setattr(app.state.data, "influx", fake)
    doc = c.get("/api/v1/hotspots/AP-0042/series?minutes=60&points=60", headers={"X-API-Key": k}).json()
    assert doc["available"] is True and doc["step_s"] == 60
    assert doc["time"] == [t, t + 60]
    s = doc["series"]
    assert s["clients"] == [10, 12] and s["rtt_ms"] == [3.0, None] and s["up_ratio"] == [1.0, 0.5]
    # wired interfaces summed, radios left out (they carry the same bytes)
    assert s["rx_bps"] == [1010.0, None] and s["tx_bps"] == [202.0, None]
    assert all("hotspot = 'AP-0042'" in q and "GROUP BY time(60s)" in q for q in fake.asked)
    assert "mean(up)" not in fake.asked[0]  # InfluxDB 1.x refuses mean() of a boolean


def test_states_from_the_evidence_log(world):
    c, k, inv = world["client"], world["key"], world["inv"]
    down = sorted(inv.hotspots_of_switch[SWITCH])[0]
    # before the first evidence (15 min ago) nothing was known
    doc = c.get(f"/api/v1/hotspots/{down}/states?minutes=60", headers={"X-API-Key": k}).json()
    assert [s["state"] for s in doc["spans"]] == ["unknown", "up", "down"]
    doc = c.get(f"/api/v1/hotspots/{down}/states?minutes=10", headers={"X-API-Key": k}).json()
    assert doc["hotspot"] == down and doc["state"] == "down"
    states = [s["state"] for s in doc["spans"]]
    assert states == ["up", "down"] and doc["spans"][-1]["end"] is None
    assert doc["spans"][0]["start"] == pytest.approx(doc["from"], abs=1)
    assert doc["changes"][0]["value"] == "down" and doc["changes"][0]["previous"] == "up"
    assert doc["downtime"] and doc["downtime"][0]["cause"] == "network_uplink"
    assert doc["downtime"][0]["incident"] in {i["id"] for i in doc["incidents"]}
    assert all(i["cause"] in ("network_uplink", "power_grid") for i in doc["incidents"])
    # a hotspot that stayed up: one span, no downtime, no incidents
    fine = next(
        h
        for h in sorted(inv.hotspots)
        if h not in inv.hotspots_of_switch[SWITCH]
        and not any(f"hotspot:{h}" in i["affected"] for i in world["info"]["incidents"])
    )
    doc = c.get(f"/api/v1/hotspots/{fine}/states?minutes=10", headers={"X-API-Key": k}).json()
    assert [s["state"] for s in doc["spans"]] == ["up"] and doc["downtime"] == [] and doc["incidents"] == []
    # a window that starts after the last change: the state then, nothing else
    assert (
        c.get(f"/api/v1/hotspots/{down}/states?minutes=5", headers={"X-API-Key": k}).json()["spans"][0]["state"]
        == "down"
    )
    assert c.get("/api/v1/hotspots/AP-9999/states", headers={"X-API-Key": k}).status_code == 404
