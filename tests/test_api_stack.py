"""The whole system at time scale 10: simulated city → collectors (SNMP, grid, e-gov probes) →
explainer → API process and alerts (to the simulator's webhook sink, HMAC-signed)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse

import httpx
import pytest

from collectors.schedule import load_jobs
from collectors.snmp.collector import ALL_RUNS
from pantau.stack import Stack
from tests.fixtures.keys import create_key
from tests.fixtures.waiting import wait

pytestmark = pytest.mark.integration
K = 10


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    st = Stack(
        tmp_path_factory.mktemp("apistack"),
        time_scale=K,
        collect=True,
        api=True,
        alerts_to_sim=True,
        intervals={j.name: j.interval_s / K for j in load_jobs(known=ALL_RUNS)},
        seed=3,
    )
    st.start()
    yield st
    st.stop()


def test_feeder_trip_and_egov_failure_through_the_api_and_alerts(stack, semarang):
    api = stack.api_svc.url
    sim = stack.sim.url
    wait(lambda: httpx.get(f"{api}/healthz").json()["collector_fresh"], 60, "the collector's live view")
    wait(lambda: httpx.get(f"{api}/api/v1/public/summary").json()["hotspots"]["up"] >= 2200, 90, "hotspots up")
    key = create_key(stack, "stack-test")
    h = {"X-API-Key": key}
    svcs = wait(
        lambda: (lambda s: s if all(x["state"] == "up" and x["status_code"] == 200 for x in s) else None)(
            httpx.get(f"{api}/api/v1/services", headers=h).json()
        ),
        30,
        "e-gov services up",
    )
    assert {x["id"] for x in svcs} == set(semarang.egov) and all(x["status_code"] == 200 for x in svcs)

    # A feeder trips: one power incident, visible to the NOC, the citizens and the pager.
    httpx.post(f"{sim}/_sim/events", json={"action": "feeder_trip", "target": "feeder:SRD-04"}).raise_for_status()
    t_trip = time.monotonic()
    inc = wait(
        lambda: next(
            i for i in httpx.get(f"{api}/api/v1/incidents", headers=h).json()["items"] if i["root"] == "feeder:SRD-04"
        ),
        30,
        "the feeder incident",
    )
    delay = time.monotonic() - t_trip
    assert inc["cause"] == "power_grid" and inc["severity"] == "critical" and delay < 10
    kec, kel = inc["areas"][0].split("/")
    kec_name = semarang.kecamatan[kec].name
    pub = wait(
        lambda: (lambda d: d if d["status"] == "outage" else None)(
            httpx.get(f"{api}/api/v1/public/kelurahan/{urllib.parse.quote(kel)}", params={"kecamatan": kec_name}).json()
        ),
        10,
        "the citizens' answer",
    )
    assert pub["outages"][0]["cause_text"] == "Listrik padam" and "Penyulang SRD-04" in pub["outages"][0]["explanation"]
    assert httpx.post(f"{api}/api/v1/incidents/{inc['id']}/ack", headers=h, json={"comment": "PLN"}).status_code == 201
    m = httpx.get(f"{api}/metrics").text
    assert 'pantau_incidents_open{cause="power_grid"} 1.0' in m

    def alerts(status):
        out = []
        for w in httpx.get(f"{sim}/_sim/webhooks").json():
            body = w["body"].encode()
            want = (
                "sha256="
                + hmac.new(
                    b"demo-only-not-a-secret", w["headers"]["x-pantau-timestamp"].encode() + b"." + body, hashlib.sha256
                ).hexdigest()
            )
            assert hmac.compare_digest(w["headers"]["x-pantau-signature"], want)
            for a in json.loads(body)["alerts"]:
                if a["status"] == status:
                    out.append(a["labels"]["incident_id"])
        return out

    wait(lambda: inc["id"] in alerts("firing"), 40, "the firing alert")
    assert alerts("firing").count(inc["id"]) == 1, "one page per cause"

    # An e-government service fails its probes: an incident of its own.
    httpx.post(f"{sim}/_sim/events", json={"action": "egov_fail", "target": "egov:lapor-hendi"}).raise_for_status()
    svc = wait(
        lambda: next(
            i
            for i in httpx.get(f"{api}/api/v1/incidents", headers=h).json()["items"]
            if i["root"] == "egov:lapor-hendi"
        ),
        30,
        "the service incident",
    )
    assert svc["cause"] == "service" and "Lapor Hendi" in svc["explanation"]["id"]
    lh = wait(
        lambda: next(
            x
            for x in httpx.get(f"{api}/api/v1/services", headers=h).json()
            if x["id"] == "lapor-hendi" and x["state"] == "down"
        ),
        5,
        "the service down in the live view",
    )
    assert lh["state"] == "down" and lh["status_code"] == 503

    wait(lambda: svc["id"] in alerts("firing"), 40, "the service's firing alert")  # paged before it clears
    # Both come back: incidents close, resolve notifications go out.
    httpx.post(f"{sim}/_sim/events", json={"action": "feeder_restore", "target": "feeder:SRD-04"}).raise_for_status()
    httpx.post(f"{sim}/_sim/events", json={"action": "egov_restore", "target": "egov:lapor-hendi"}).raise_for_status()
    wait(lambda: inc["id"] in alerts("resolved") and svc["id"] in alerts("resolved"), 90, "resolve notifications")
    closed = httpx.get(f"{api}/api/v1/incidents/{inc['id']}", headers=h).json()
    assert closed["status"] == "closed" and closed["acknowledged"] and closed["notes"][0]["text"] == "PLN"

    # Uptime from InfluxDB (mean of the probes; cached 30 s by the API) shows the failure.
    up = wait(
        lambda: next(
            x["uptime"]
            for x in httpx.get(f"{api}/api/v1/services", headers=h).json()
            if x["id"] == "lapor-hendi" and (x["uptime"]["24h"] or 1) < 1.0
        ),
        45,
        "uptime below 1",
    )
    assert 0.3 < up["24h"] < 1.0 and up["30d"] == up["24h"]
    # History from InfluxDB for one hotspot of that feeder.
    hid = closed["affected"][0][8:]
    d = httpx.get(f"{api}/api/v1/hotspots/{hid}", headers=h).json()
    assert d["history_available"] and d["metrics"] and any(x["value"] == "down" for x in d["history"])
