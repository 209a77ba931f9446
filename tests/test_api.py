"""The API on a blackout state folder (real explainer, incident store and state database; the
collecting process's live view): keys and roles, NOC resources, citizens' answers, rate limits,
SSE, metrics. In-process (ASGI); the served process is exercised by bench/citizen_api.py and
tests/test_api_stack.py."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from store.state import StateDB
from tests.fixtures.blackout import build

SWITCH = "SW-SMT-01"


@pytest.fixture(scope="module")
def world(semarang, tmp_path_factory, module_database):
    d = tmp_path_factory.mktemp("api")
    info = build(semarang, d, switch=SWITCH, notice_feeder="KPK-01", database=module_database)
    st = StateDB(module_database)
    keys = {role: st.create_key(f"test-{role}", role)[1] for role in ("viewer", "operator", "admin")}
    app = create_app(semarang, d, rate_per_s=5, burst=20, trusted_proxies={"testclient"}, database=module_database)
    with TestClient(app) as c:
        yield {"client": c, "keys": keys, "info": info, "dir": d, "app": app, "inv": semarang, "db": module_database}


def H(key):
    return {"X-API-Key": key}


def noc_routes(app):
    """Every NOC operation (method, path, needed role), read from the app's own OpenAPI document."""
    out = []
    for path, ops in app.openapi()["paths"].items():
        if not path.startswith("/api/v1/") or path.startswith("/api/v1/public"):
            continue
        for m in ops:
            m = m.upper()
            need = "admin" if path.startswith("/api/v1/keys") else "viewer" if m == "GET" else "operator"
            out.append((m, path, need))
    return out


def fill(path, inc_id):
    return path.replace("{hotspot_id}", "AP-0001").replace("{incident_id}", inc_id).replace(
        "{element}", "feeder:SRD-04"
    ).replace("{silence_id}", "x").replace("{key_id}", "x") + ("?max_s=0.3" if path.endswith("/events") else "")


def test_every_noc_endpoint_refuses_missing_wrong_and_weak_keys(world, caplog):
    c, keys, app = world["client"], world["keys"], world["app"]
    inc = next(i["id"] for i in world["info"]["incidents"] if i["cause"] == "network_uplink")
    routes = noc_routes(app)
    assert len(routes) >= 15, routes
    forged = "pk_" + "0" * 12 + "_" + "A" * 43
    revoked_st = StateDB(world["db"])
    kid, revoked = revoked_st.create_key("gone", "admin")
    revoked_st.revoke_key(kid)
    revoked_st.close()
    caplog.set_level(logging.DEBUG)
    for method, path, need in routes:
        url = fill(path, inc)
        body = {} if method in ("POST",) else None
        for bad in (None, "nonsense", forged, keys["viewer"][:-2] + "xx", revoked):
            hdr = H(bad) if bad else {}
            r = c.request(method, url, headers=hdr, json=body)
            assert r.status_code == 401, (method, path, bad, r.status_code)
            assert "WWW-Authenticate" in r.headers
            if bad:
                assert bad not in r.text
        r = c.request(method, url, headers={"Authorization": "Bearer " + forged}, json=body)
        assert r.status_code == 401
        weaker = {"viewer": [], "operator": ["viewer"], "admin": ["viewer", "operator"]}[need]
        for role in weaker:
            r = c.request(method, url, headers=H(keys[role]), json=body)
            assert r.status_code == 403, (method, path, role, r.status_code)
            assert keys[role] not in r.text
        r = c.request(method, url, headers=H(keys[need]), json=body)
        assert r.status_code not in (401, 403), (method, path, need)
    for key in keys.values():
        assert key not in caplog.text
        assert key[16:] not in caplog.text


def test_public_endpoints_need_no_key(world):
    c = world["client"]
    for url in (
        "/api/v1/public/summary",
        "/api/v1/public/kelurahan",
        "/api/v1/public/kelurahan/Pedalangan",
        "/api/v1/public/location?lat=-6.99&lon=110.42",
        "/api/v1/public/maintenance",
        "/api/v1/public/areas",
        "/metrics",
        "/healthz",
        "/api/v1/openapi.json",
    ):
        r = c.get(url, headers={"X-Forwarded-For": "10.9.0.1"})
        assert r.status_code == 200, (url, r.status_code, r.text[:200])


def test_hotspots_filter_and_page(world):
    c, k = world["client"], world["keys"]["viewer"]
    r = c.get(f"/api/v1/hotspots?switch={SWITCH}&limit=5", headers=H(k)).json()
    n_sw = len(world["inv"].hotspots_of_switch[SWITCH])
    assert r["total"] == n_sw and len(r["items"]) == 5 and all(i["state"] == "down" for i in r["items"])
    r2 = c.get(f"/api/v1/hotspots?switch={SWITCH}&limit=5&offset=5", headers=H(k)).json()
    assert {i["id"] for i in r2["items"]}.isdisjoint({i["id"] for i in r["items"]})
    down = c.get("/api/v1/hotspots?state=down&limit=1", headers=H(k)).json()["total"]
    assert down == world["info"]["down"]
    tbl = c.get("/api/v1/hotspots?kecamatan=Tembalang&limit=1000", headers=H(k)).json()
    assert tbl["total"] == sum(1 for h in world["inv"].hotspots.values() if h.kecamatan == "TBL")
    assert c.get("/api/v1/hotspots?feeder=SRD-04&state=up", headers=H(k)).json()["total"] == sum(
        1
        for h in world["inv"].hotspots.values()
        if world["inv"].transformers[h.transformer].feeder == "SRD-04" and h.ups_minutes > 0
    )
    assert c.get("/api/v1/hotspots?limit=0", headers=H(k)).status_code == 422
    assert c.get("/api/v1/hotspots?state=sideways", headers=H(k)).status_code == 422
    one = c.get("/api/v1/hotspots/AP-0001", headers=H(k)).json()
    assert one["id"] == "AP-0001" and one["history_available"] is False and "credentials" not in one
    assert c.get("/api/v1/hotspots/AP-9999", headers=H(k)).status_code == 404


def test_incidents_ack_and_notes(world):
    c, keys = world["client"], world["keys"]
    r = c.get("/api/v1/incidents", headers=H(keys["viewer"])).json()
    causes = sorted((i["cause"], i["root"]) for i in r["items"])
    assert causes == [
        ("network_uplink", f"switch:{SWITCH}"),
        ("power_grid", "substation:PDL"),
        ("power_grid", "substation:SRD"),
    ]
    sub = next(i for i in r["items"] if i["root"] == "substation:SRD")
    assert sub["severity"] == "critical" and not sub["acknowledged"]
    assert sub["explanation"]["id"].startswith("Gardu induk") and "WIB" in sub["explanation"]["en"]
    d = c.get(f"/api/v1/incidents/{sub['id']}", headers=H(keys["viewer"])).json()
    assert d["evidence"] and d["log"][0]["change"] == "opened" and len(d["affected"]) == sub["affected_hotspots"]
    a = c.post(f"/api/v1/incidents/{sub['id']}/ack", headers=H(keys["operator"]), json={"comment": "PLN dihubungi"})
    assert a.status_code == 201 and a.json()["author"] == "test-operator"
    n = c.post(f"/api/v1/incidents/{sub['id']}/notes", headers=H(keys["operator"]), json={"text": "teknisi OTW"})
    assert n.status_code == 201
    assert (
        c.post(f"/api/v1/incidents/{sub['id']}/notes", headers=H(keys["operator"]), json={"text": ""}).status_code
        == 422
    )
    assert (
        c.post(
            f"/api/v1/incidents/{sub['id']}/notes", headers=H(keys["operator"]), json={"text": "x", "extra": 1}
        ).status_code
        == 422
    )
    assert c.post("/api/v1/incidents/INC-nope/ack", headers=H(keys["operator"])).status_code == 404
    d = c.get(f"/api/v1/incidents/{sub['id']}", headers=H(keys["viewer"])).json()
    assert d["acknowledged"] and [x["kind"] for x in d["notes"]] == ["ack", "note"]
    # The citizens see that it is being handled (and nothing of the notes).
    area = d["areas"][0].split("/")[1]
    pub = c.get(f"/api/v1/public/kelurahan/{area}", headers={"X-Forwarded-For": "10.1.1.1"}).json()
    o = next(o for o in pub["outages"] if o["incident"] == sub["id"])
    assert o["handling"] == "acknowledged" and o["handling_text"] == "Sedang ditangani petugas"
    assert "teknisi OTW" not in json.dumps(pub) and "PLN dihubungi" not in json.dumps(pub)


def test_grid_services_notices(world):
    c, k = world["client"], world["keys"]["viewer"]
    g = c.get("/api/v1/grid?kind=feeder&state=de-energized&limit=1000", headers=H(k)).json()
    feeders = {f for f, fd in world["inv"].feeders.items() if fd.substation in ("SRD", "PDL")}
    assert {i["element"][7:] for i in g["items"]} == feeders
    one = c.get("/api/v1/grid/feeder:SRD-04", headers=H(k)).json()
    assert one["state"] == "de-energized" and one["parent"] == "substation:SRD"
    assert c.get("/api/v1/grid/feeder:NOPE", headers=H(k)).status_code == 404
    s = c.get("/api/v1/services", headers=H(k)).json()
    assert {x["id"] for x in s} == set(world["inv"].egov) and all(x["state"] == "up" for x in s)
    lh = next(x for x in s if x["id"] == "lapor-hendi")
    assert lh["sla_days"] == 5 and set(lh["uptime"]) == {"24h", "7d", "30d"}
    n = c.get("/api/v1/notices", headers=H(k)).json()
    assert n[0]["element"] == "feeder:KPK-01" and n[0]["active"] is False


def test_silences(world):
    c, keys = world["client"], world["keys"]
    now = time.time()
    r = c.post(
        "/api/v1/silences",
        headers=H(keys["operator"]),
        json={
            "matchers": [{"name": "root", "value": "feeder:KPK-01"}],
            "ends_at": now + 3600,
            "comment": "maintenance",
        },
    )
    assert r.status_code == 201 and r.json()["status"] == "active" and r.json()["created_by"] == "test-operator"
    sid = r.json()["id"]
    bad = [
        {"matchers": [], "ends_at": now + 60, "comment": "x"},
        {"matchers": [{"name": "root", "value": "("}], "ends_at": now + 60, "comment": "x"} | {},
        {"matchers": [{"name": "bogus", "value": "x"}], "ends_at": now + 60, "comment": "x"},
        {"matchers": [{"name": "root", "value": "x"}], "starts_at": now, "ends_at": now - 1, "comment": "x"},
    ]
    bad[1]["matchers"][0]["is_regex"] = True
    for b in bad:
        assert c.post("/api/v1/silences", headers=H(keys["operator"]), json=b).status_code == 422, b
    assert any(s["id"] == sid for s in c.get("/api/v1/silences", headers=H(keys["viewer"])).json())
    assert c.delete(f"/api/v1/silences/{sid}", headers=H(keys["operator"])).status_code == 204
    assert c.delete(f"/api/v1/silences/{sid}", headers=H(keys["operator"])).status_code == 404
    s = next(s for s in c.get("/api/v1/silences", headers=H(keys["viewer"])).json() if s["id"] == sid)
    assert s["status"] == "expired"


def test_keys_admin_and_cli_never_show_hashes(world):
    c, keys = world["client"], world["keys"]
    r = c.post("/api/v1/keys", headers=H(keys["admin"]), json={"name": "grafana", "role": "viewer"})
    assert r.status_code == 201
    new = r.json()["key"]
    assert re.fullmatch(r"pk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}", new)
    assert c.get("/api/v1/incidents", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    listing = c.get("/api/v1/keys", headers=H(keys["admin"])).text
    assert new not in listing and new[16:] not in listing and "hash" not in listing
    assert c.delete(f"/api/v1/keys/{r.json()['key_id']}", headers=H(keys["admin"])).status_code == 204
    assert c.get("/api/v1/incidents", headers=H(new)).status_code == 401


def test_citizens_answer_in_bahasa_and_english_without_internals(world):
    c = world["client"]
    inv = world["inv"]
    sub = next(i for i in world["info"]["incidents"] if i["root"] == "substation:SRD")
    area = sub["areas"][0]
    kec, kel = area.split("/")
    hdr = {"X-Forwarded-For": "10.2.0.1"}
    r = c.get(f"/api/v1/public/kelurahan/{kel.lower()}", params={"kecamatan": inv.kecamatan[kec].name}, headers=hdr)
    doc = r.json()
    assert r.status_code == 200, r.text
    assert doc["status"] == "outage" and doc["status_text"] == "Ada gangguan" and doc["lang"] == "id"
    o = doc["outages"][0]
    assert o["cause"] == "power_grid" and o["cause_text"] == "Listrik padam" and o["since"].endswith("+07:00")
    assert o["explanation"].startswith("Gardu induk") and o["affected_hotspots"] == len(sub["affected"])
    en_r = c.get(f"/api/v1/public/kelurahan/{kel}", params={"lang": "en", "kecamatan": kec}, headers=hdr)
    en = en_r.json()
    assert en["outages"][0]["explanation"].startswith("Substation") and en["status_text"] == "Outage"
    text = r.text + en_r.text
    for leak in ("127.", "hotspot:", "switch:", "feeder:", "evidence", "confidence", "pk_", "address", "AP-0"):
        assert leak not in text, leak
    assert len(r.content) < 2000
    # ETag: unchanged answers cost nothing to revalidate.
    again = c.get(
        f"/api/v1/public/kelurahan/{kel}",
        params={"kecamatan": kec},
        headers={**hdr, "If-None-Match": r.headers["etag"]},
    )
    assert again.status_code == 304 and again.content == b""
    # A kelurahan with nothing wrong, one name in two kecamatan, a misspelling, coordinates.
    calm = c.get("/api/v1/public/kelurahan/Tugurejo", headers=hdr).json()
    assert calm["status"] == "normal" and calm["outages"] == []
    amb = c.get("/api/v1/public/kelurahan/Mangunharjo", headers=hdr)
    assert amb.status_code == 409 and sorted(amb.json()["kecamatan"]) == ["Tembalang", "Tugu"]
    assert c.get("/api/v1/public/kelurahan/Mangunharjo?kecamatan=Tugu", headers=hdr).json()["kecamatan"] == "Tugu"
    miss = c.get("/api/v1/public/kelurahan/Sendangmulya", headers=hdr)
    assert miss.status_code == 404 and "Sendangmulyo" in miss.json()["suggestions"]
    h = inv.hotspots[sub["affected"][0][8:]]
    loc = c.get(f"/api/v1/public/location?lat={h.lat}&lon={h.lon}", headers=hdr).json()
    assert loc["kecamatan"] == inv.kecamatan[h.kecamatan].name
    assert c.get("/api/v1/public/location?lat=-6.2&lon=106.8", headers=hdr).status_code == 404  # Jakarta
    assert c.get("/api/v1/public/location?lat=abc&lon=1", headers=hdr).status_code == 422
    m = c.get("/api/v1/public/maintenance", headers=hdr).json()
    assert m and m[0]["reason"] and "element" not in m[0]
    s = c.get("/api/v1/public/summary", headers=hdr).json()
    assert s["outages"] == {"power_grid": 2, "network_uplink": 1} and s["hotspots"]["down"] == world["info"]["down"]


def test_public_rate_limit_per_client(world):
    c = world["client"]
    codes = [c.get("/api/v1/public/summary", headers={"X-Forwarded-For": "10.77.0.1"}).status_code for _ in range(40)]
    assert codes[:20] == [200] * 20 and 429 in codes
    r = c.get("/api/v1/public/summary", headers={"X-Forwarded-For": "10.77.0.1"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert c.get("/api/v1/public/summary", headers={"X-Forwarded-For": "10.77.0.2"}).status_code == 200
    time.sleep(1.0)
    assert c.get("/api/v1/public/summary", headers={"X-Forwarded-For": "10.77.0.1"}).status_code == 200


def test_metrics_and_system(world):
    c = world["client"]
    m = c.get("/metrics").text
    assert 'pantau_elements{kind="hotspot",state="down"} %d.0' % world["info"]["down"] in m
    assert 'pantau_incidents_open{cause="power_grid"} 2.0' in m
    for name in (
        "pantau_poll_cycle_seconds",
        "pantau_ingest_lag_seconds",
        "pantau_queue_depth",
        "pantau_spool_backlog_bytes",
        "pantau_webhook_failures",
        "pantau_outbox_pending",
        "pantau_event_loop_lag_seconds",
        "pantau_gc_pause_seconds",
    ):
        assert f"# TYPE {name}" in m, name
    # SNMP security refusals (v3 answers below the requested level, refused traps) are visible
    assert 'pantau_snmp_answers_refused_total{reason="seclevel_mismatch"} 3.0' in m
    assert 'pantau_traps_refused_total{reason="wrong_digest"} 2.0' in m
    assert 'pantau_traps_refused_total{reason="unknown_source"} 1.0' in m
    # how late the collector's loop runs, and its GC pauses (PantauCollectorOverloaded)
    assert 'pantau_event_loop_lag_seconds{quantile="p50"} 0.012' in m
    assert 'pantau_gc_pause_seconds_total{generation="gen2"} 0.25' in m
    s = c.get("/api/v1/system", headers=H(world["keys"]["viewer"])).json()
    assert s["status"]["last_cycle_s"] == 0.2


def test_sse_streams_new_incident_changes(world):
    c, k = world["client"], world["keys"]["viewer"]
    from outages.store import IncidentStore

    store = IncidentStore(world["db"])
    start = store.last_log_id()
    inc = world["info"]["incidents"][0]
    store.write([], [], [(inc["id"], time.time(), "updated", {"cause": inc["cause"], "root": inc["root"]})])
    store.close()
    with c.stream("GET", f"/api/v1/events?after={start}&max_s=1.5&poll_s=0.2", headers=H(k)) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    assert "event: hello" in body and "event: incident" in body and f"id: {start + 1}" in body
    assert inc["id"] in body


def test_sse_state_changes_reach_the_stream_when_another_request_reloaded_the_view(world):
    """The live view is shared by every request: a state change that another request's read loaded
    first must still reach an open stream (it followed refresh()'s own answer, and a NOC page missed
    a feeder's hotspots turning red until its minute-long resync)."""
    import threading

    from store.db import open_database
    from store.live import LiveStore

    c, k, app = world["client"], world["keys"]["viewer"], world["app"]
    data = app.state.data
    ident = next(h for h, row in data.live["hotspots"].items() if row[0] == "up")
    bodies: list[str] = []

    def follow() -> None:
        with c.stream("GET", "/api/v1/events?max_s=3&poll_s=0.2", headers=H(k)) as r:
            bodies.append("".join(r.iter_text()))

    t = threading.Thread(target=follow)
    t.start()
    try:
        time.sleep(0.8)  # the stream has said hello and holds the view as it was
        now = time.time()
        LiveStore(open_database(world["db"]), world["inv"].city, "other-node").write(
            [{"element": f"hotspot:{ident}", "state": "down", "since": now, "last_seen": now - 30, "reason": "test"}],
            {},
        )
        assert data.refresh(force=True), "another request reloads the shared view first"
    finally:
        t.join(10)
        LiveStore(open_database(world["db"]), world["inv"].city, "other-node").write(
            [
                {
                    "element": f"hotspot:{ident}",
                    "state": "up",
                    "since": time.time(),
                    "last_seen": time.time(),
                    "reason": "",
                }
            ],
            {},
        )
        data.refresh(force=True)
    body = bodies[0]
    assert "event: hello" in body
    assert "event: hotspot_state" in body and f'"element":"hotspot:{ident}"' in body.replace(" ", ""), body[-500:]


def test_fast_path_answers_exactly_like_the_route(world):
    """The ASGI fast path (api/fastpath.py) and the FastAPI route it stands in front of give the same
    bytes, ETag and rate limit; a repeated parameter makes the request take the route."""
    c = world["client"]
    for q in ("", "?lang=en", "?kecamatan=Tugu"):
        sep = "&" if q else "?"
        fast = c.get(f"/api/v1/public/kelurahan/Tugurejo{q}", headers={"X-Forwarded-For": "10.5.0.1"})
        route = c.get(
            f"/api/v1/public/kelurahan/Tugurejo{q}{sep}lang={'en' if 'en' in q else 'id'}"
            f"&lang={'en' if 'en' in q else 'id'}",
            headers={"X-Forwarded-For": "10.5.0.2"},
        )
        assert fast.status_code == route.status_code == 200
        assert fast.content == route.content and fast.headers["etag"] == route.headers["etag"]
        assert fast.headers["cache-control"] == route.headers["cache-control"]
    assert (
        c.get("/api/v1/public/kelurahan/Tugurejo?lang=fr", headers={"X-Forwarded-For": "10.5.0.3"}).status_code == 422
    )


def test_rate_limiter_trusts_forwarded_only_from_trusted_proxies():
    from api.ratelimit import RateLimiter

    rl = RateLimiter(1, 2, {"127.0.0.1", "172.16.0.0/12"})
    assert rl.client_of("127.0.0.1", "10.0.0.9, 172.18.0.2") == "10.0.0.9"
    assert rl.client_of("172.18.0.5", "10.0.0.8") == "10.0.0.8"
    assert rl.client_of("192.0.2.1", "10.0.0.7") == "192.0.2.1", "a client cannot pick its own identity"
    assert [rl.take("a", now=100.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]
    assert rl.take("a", now=101.01) == 0.0


def test_pages_are_served(world):
    c = world["client"]
    r = c.get("/")
    assert r.status_code == 200 and "Ada gangguan listrik atau wifi" in r.text and "api/v1/public/areas" in r.text
    n = c.get("/noc")  # a shell of ES modules (dashboards/static/noc); the key and the stream are api.js's
    assert n.status_code == 200 and 'src="static/noc/main.js"' in n.text
    js = c.get("/static/noc/api.js").text
    assert "X-API-Key" in js and "api/v1/events" in js


def test_public_areas_outline_every_kelurahan_for_a_map_without_tiles(world):
    c, inv = world["client"], world["inv"]
    r = c.get("/api/v1/public/areas", headers={"X-Forwarded-For": "10.9.0.2"})
    assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=3600"
    doc = r.json()
    assert doc["city"] == inv.city
    assert {k["code"] for k in doc["kelurahan"]} == {h.area for h in inv.hotspots.values()}
    assert sum(k["hotspots"] for k in doc["kelurahan"]) == len(inv.hotspots)
    assert {k["code"] for k in doc["kecamatan"]} == set(inv.kecamatan)
    lat0, lon0, lat1, lon1 = doc["bbox"]
    for k in doc["kelurahan"]:
        assert len(k["polygon"]) >= 3 and all(lat0 <= p[0] <= lat1 and lon0 <= p[1] <= lon1 for p in k["polygon"])
    assert doc["borders"], "kecamatan borders are drawn"
    again = c.get("/api/v1/public/areas", headers={"If-None-Match": r.headers["etag"], "X-Forwarded-For": "10.9.0.2"})
    assert again.status_code == 304


def test_status_of_every_kelurahan_agrees_with_their_answers(world):
    """``/public/status`` (the citizens' map): one row per kelurahan, the same status and causes as
    each kelurahan's own answer, the city's counts, nothing internal; gzip and ETag on both paths."""
    import gzip as gz

    from api.schemas import PublicStatus

    c, inv = world["client"], world["inv"]
    hdr = {"X-Forwarded-For": "10.6.0.1", "Accept-Encoding": "identity"}
    r = c.get("/api/v1/public/status", headers=hdr)
    assert r.status_code == 200 and "content-encoding" not in r.headers and r.headers["vary"] == "Accept-Encoding"
    doc = PublicStatus.model_validate_json(r.content).model_dump(exclude_none=True)
    rows = {row["code"]: row for row in doc["kelurahan"]}
    assert len(rows) == sum(len(k.kelurahan) for k in inv.kecamatan.values())
    assert sum(doc["kelurahan_by_status"].values()) == len(rows) and doc["kelurahan_by_status"]["outage"] > 0
    assert doc["hotspots"]["total"] == len(inv.hotspots) == sum(row["total"] for row in rows.values())
    for code, row in rows.items():
        kec, kel = code.split("/", 1)
        a = world["app"].state.public.blobs[((kec, kel), "id")]
        ans = json.loads(a)
        assert row["status"] == ans["status"] and row["down"] == ans["hotspots"]["down"], code
        assert row.get("causes", []) == sorted({o["cause"] for o in ans["outages"]}), code
        assert ("since" in row) == bool(ans["outages"])
    assert any(m["kelurahan"] for m in doc["maintenance"])
    assert all(code in rows for m in doc["maintenance"] for code in m["kelurahan"])
    text = r.text
    assert "INC-" not in text and "SW-" not in text and "127." not in text and "feeder" not in text

    # the fast path (no query) and the route (any query) give the same bytes and ETags
    route = c.get("/api/v1/public/status?via=route", headers={**hdr, "X-Forwarded-For": "10.6.0.2"})
    assert route.content == r.content and route.headers["etag"] == r.headers["etag"]
    for path in ("/api/v1/public/status", "/api/v1/public/status?via=route"):
        z = c.get(path, headers={"X-Forwarded-For": "10.6.0.3", "Accept-Encoding": "gzip"})
        assert z.headers["content-encoding"] == "gzip" and z.content == r.content  # httpx decompressed it
        assert z.headers["etag"] == r.headers["etag"][:-1] + '-gz"' and z.headers["vary"] == "Accept-Encoding"
        assert int(z.headers["content-length"]) < len(r.content) / 4
        again = c.get(
            path,
            headers={"X-Forwarded-For": "10.6.0.4", "Accept-Encoding": "gzip", "If-None-Match": z.headers["etag"]},
        )
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == z.headers["etag"]
    assert c.get("/api/v1/public/areas", headers={"Accept-Encoding": "gzip"}).headers["content-encoding"] == "gzip"
    assert gz.decompress(world["app"].state.public.status[2]) == r.content


def test_citizen_page_carries_the_city_status(world):
    """The page at ``/`` has the first answer in it: the city's line as text, and ``/public/status``
    as a JSON block (escaped so it cannot close its script element); ETag and gzip."""
    from api.public import city_line

    c = world["client"]
    status = c.get("/api/v1/public/status", headers={"Accept-Encoding": "identity"}).json()
    r = c.get("/", headers={"Accept-Encoding": "identity"})
    head, detail = city_line(status)
    assert (
        head.startswith("Ada gangguan di ")
        and f'<strong id="city-head" elementtiming="first-answer">{head}</strong>' in r.text
    )
    assert "titik wifi publik di Kota Semarang menyala" in detail and detail in r.text
    block = re.search(r'<script type="application/json" id="pantau-status">(.*?)</script>', r.text, re.S)
    assert block and json.loads(block.group(1)) == status and "<" not in block.group(1)
    z = c.get("/", headers={"Accept-Encoding": "gzip"})
    assert z.headers["content-encoding"] == "gzip" and z.content == r.content
    assert c.get("/", headers={"Accept-Encoding": "gzip", "If-None-Match": z.headers["etag"]}).status_code == 304
    assert int(z.headers["content-length"]) < 12_000, "the page with its data, gzipped"
