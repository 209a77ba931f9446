"""Several machines, one city, failover without loss — as processes on loopback against real
PostgreSQL, Mosquitto, InfluxDB and the simulated city (docs/operations.md).

Two ``pantau collect`` nodes share one PostgreSQL database:
- kill -9 the active explainer during a feeder trip: the standby takes over within the lease's
  ttl, the incident continues under the same id, and a real webhook receiver gets exactly one
  firing and one resolved notification for it; the dead node's hotspots are polled again by the
  other node and no incident comes from the gap;
- kill -9 the node ingesting the grid under 2,000 msg/s: the other node resumes the city's
  persistent MQTT session; published = stored once the dead node is back (its acknowledged tail
  is in its spool);
- restart PostgreSQL: both nodes reconnect, the evidence of the outage arrives, incidents go on.

Each test prints its measurements (takeover time, time until polled again, counts).
"""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest

from outages.store import IncidentStore
from pantau import services
from pantau.stack import Stack
from simulator.gridload import LinePublishers, elements_of
from store.db import open_database
from store.live import LiveStore
from tests.fixtures.waiting import wait
from tests.fixtures.webhook import PlainReceiver

pytestmark = pytest.mark.integration

K = 10.0  # time scale of the simulated city
INTERVALS = {"hotspots": 30 / K, "switches": 15 / K, "controllers": 60 / K, "egov": 30 / K}


def node(d, name: str, stack: Stack, db_url: str, receivers=None, snmp=True, egov=False):
    env = {"PANTAU_DATABASE_URL": db_url, "PANTAU_NODE_NAME": name, "PANTAU_LEASE_TTL_S": "2"}
    return services.collector(
        d / name,
        stack.city,
        stack.influx.url,
        snmp_port=stack.snmp_port if snmp else None,
        intervals=INTERVALS,
        mqtt=("127.0.0.1", stack.mosquitto.port),
        telemetry_interval_s=10 / K,
        snmp=snmp,
        time_scale=K,
        egov_base_url=stack.sim.url if egov else None,
        receivers=receivers,
        env=env,
    )


def status(svc) -> dict:
    return svc.status()


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    svc = services.start_postgresql(tmp_path_factory.mktemp("pg"), fsync=False)
    yield svc
    svc.stop()


@pytest.fixture()
def cluster(tmp_path, pg, request):
    name = "ha_" + request.node.name[-20:].lower().replace("[", "_").replace("]", "")
    url = pg.create_database(name)
    stack = Stack(tmp_path / "stack", time_scale=K, seed=5, telemetry_interval_s=10.0, egov=False).start()
    pager = PlainReceiver().start()
    receivers = tmp_path / "receivers.yaml"
    receivers.write_text(
        json.dumps(
            {
                "receivers": [
                    {
                        "name": "pager",
                        "url": f"http://127.0.0.1:{pager.port}/hook",
                        "format": "alertmanager",
                        "group_by": ["incident_id"],
                        "group_wait_s": 2,
                        "group_interval_s": 1,
                        "repeat_interval_s": 3600,
                        "retry_min_s": 0.2,
                        "retry_max_s": 2,
                    }
                ]
            }
        )
    )
    started = []
    try:
        yield {"stack": stack, "url": url, "pager": pager, "receivers": receivers, "dir": tmp_path, "nodes": started}
    finally:
        for svc in started:
            svc.stop()
        stack.stop()
        pager.stop()


def _settled(db_url: str, inv_hotspots: int, nodes: tuple[str, ...] = ()) -> bool:
    """Every hotspot up in the live view and, with ``nodes``, each of them written by a share of
    700..1600 hotspots: a node that joined has taken its share (a fast first node may have every
    hotspot up before the second one joined; up alone says nothing about the split)."""
    rows = LiveStore(open_database(db_url), "semarang").elements("hotspot:")
    if len(rows) != inv_hotspots or not all(r["state"] in ("up", "degraded") for r in rows.values()):
        return False
    return all(700 < sum(1 for r in rows.values() if r["node"] == n) < 1600 for n in nodes)


def test_kill_the_active_explainer_during_a_feeder_trip(cluster, semarang):
    c, url = cluster, cluster["url"]
    stack = c["stack"]
    a = node(c["dir"], "node-a", stack, url, receivers=c["receivers"]).start(ready_timeout=90)
    c["nodes"].append(a)
    wait(lambda: status(a)["incidents"]["active"], 30, "node-a active")
    b = node(c["dir"], "node-b", stack, url, receivers=c["receivers"]).start(ready_timeout=90)
    c["nodes"].append(b)
    wait(lambda: set(status(b)["sharding"]["members"]) == {"node-a", "node-b"}, 30, "two members")
    wait(lambda: _settled(url, len(semarang.hotspots), ("node-a", "node-b")), 120, "every hotspot up, in two shares")
    assert not status(b)["incidents"]["active"]
    store = IncidentStore(open_database(url), city="semarang")
    before = {r["id"] for r in store.incidents()}
    share_a = {
        el for el, r in LiveStore(open_database(url), "semarang").elements("hotspot:").items() if r["node"] == "node-a"
    }
    assert 700 < len(share_a) < 1600, (len(share_a), status(a).get("sharding"), status(b).get("sharding"))

    httpx.post(
        f"{stack.sim.url}/_sim/events", json={"action": "feeder_trip", "target": "feeder:SRD-04"}
    ).raise_for_status()
    try:
        inc = wait(
            lambda: next((r for r in store.incidents(status="open") if r["root"] == "feeder:SRD-04"), None),
            60,
            "the incident",
        )
    except AssertionError:  # what the explainer saw, to find why
        for r in store.incidents():
            print("incident", r["id"], r["status"], r["cause"], r["root"], r["opened_at"], len(r.get("affected") or []))
        for e in store.log():
            print("log", e)
        for r in store.evidence_after(0, limit=400000):
            if r["kind"] in ("grid", "notice") or "SW-" in r["element"]:
                print("ev", r["at"], r["seq"], r["node"], r["kind"], r["element"], r["data"])
        print("status a", json.dumps(status(a))[:3000])
        print("status b", json.dumps(status(b))[:3000])
        raise
    wait(lambda: c["pager"].alerts("firing"), 30, "the firing page")  # sent by node-a before it dies

    def acknowledged():  # ... and recorded as delivered: the kill does not land inside that one call
        from store.db import outbox

        rows = open_database(url).rows(outbox.select())
        return rows and all(r["delivered_at"] for r in rows)

    wait(acknowledged, 10, "node-a recording the delivery")
    t_kill = time.time()
    a.kill()
    took = wait(lambda: status(b)["incidents"]["active"] and time.time() - t_kill, 30, "node-b takes over")

    # the dead node's hotspots are polled (and written) by node-b
    def moved():
        rows = LiveStore(open_database(url), "semarang").elements("hotspot:")
        return all(rows[h]["node"] == "node-b" for h in share_a) and time.time() - t_kill

    polled_again = wait(moved, 60, "node-a's hotspots polled by node-b")
    still = [r["id"] for r in store.incidents(status="open") if r["root"] == "feeder:SRD-04"]
    assert still == [inc["id"]], (store.log(), status(b)["incidents"])

    httpx.post(
        f"{stack.sim.url}/_sim/events", json={"action": "feeder_restore", "target": "feeder:SRD-04"}
    ).raise_for_status()
    wait(lambda: next(r for r in store.incidents() if r["id"] == inc["id"])["status"] == "closed", 90, "closed")
    wait(lambda: c["pager"].alerts("resolved"), 30, "the resolved page")
    time.sleep(3)  # a duplicate would arrive within group_interval
    mine = [r for r in store.incidents() if r["id"] not in before]
    if len(mine) != 1:  # what the log says, to find why
        t0 = min(r["opened_at"] for r in mine) - 30
        roots = {r["root"] for r in mine}
        print("t0", t0, "kill", t_kill - t0, "incidents", [(r["id"], r["root"], r["opened_at"] - t0) for r in mine])
        for r in store.evidence_after(0, limit=200000):
            if r["at"] > t0 and (
                r["kind"] in ("grid", "tick", "notice") or "SW-" in r["element"] or r["element"] in roots
            ):
                print(round(r["at"] - t0, 2), r["seq"], r["after"], r["node"], r["kind"], r["element"], r["data"])
        for e in store.log():
            print(e)
    assert [(r["id"], r["cause"], r["root"]) for r in mine] == [(inc["id"], "power_grid", "feeder:SRD-04")], mine
    firing = [x for x in c["pager"].alerts("firing") if x["labels"]["incident_id"] == inc["id"]]
    resolved = [x for x in c["pager"].alerts("resolved") if x["labels"]["incident_id"] == inc["id"]]
    print(
        f"\nHA explainer: takeover {took:.2f} s after kill -9 (lease ttl 2 s); node-a's {len(share_a)} hotspots "
        f"polled by node-b {polled_again:.1f} s after (hotspot interval {INTERVALS['hotspots']:g} s); "
        f"pages firing={len(firing)} resolved={len(resolved)}; incidents {len(mine)}"
    )
    assert took < 2 + 2.5 and polled_again < 2 * INTERVALS["hotspots"] + 4
    assert len(firing) == 1 and len(resolved) == 1, [
        (x["labels"], x.get("annotations", {}).get("affected_hotspots")) for x in firing
    ]
    assert len(set(c["pager"].delivery_ids)) == len(c["pager"].delivery_ids)  # no notification sent twice


def test_kill_the_grid_ingest_node_under_load_loses_nothing(tmp_path, pg, semarang):
    url = pg.create_database("ha_grid")
    influx = services.influxdb(tmp_path / "influxdb").start()
    mosq = services.mosquitto(tmp_path / "mosquitto").start()
    started = [influx, mosq]
    try:
        from store.provision import provision_v1
        from store.timeseries import InfluxV1

        db = InfluxV1(influx.url, "pantau")
        provision_v1(db)

        def grid_node(name):
            env = {"PANTAU_DATABASE_URL": url, "PANTAU_NODE_NAME": name, "PANTAU_LEASE_TTL_S": "2"}
            return services.collector(
                tmp_path / name, "semarang", influx.url, mqtt=("127.0.0.1", mosq.port), snmp=False, env=env
            )

        a = grid_node("grid-a").start(ready_timeout=60)
        started.append(a)
        wait(lambda: status(a)["grid_ingest"]["running"], 20, "grid-a ingests")
        b = grid_node("grid-b").start(ready_timeout=60)
        started.append(b)
        time.sleep(1.0)
        assert not status(b)["grid_ingest"]["running"]
        inv = semarang
        pubs = LinePublishers(inv, mosq.port, elements_of(inv))
        t0_ms = int(time.time() * 1000)
        n = pubs.paced(2000, 4)
        a.kill()  # under load
        t_kill = time.time()
        n += pubs.paced(2000, 6)
        took = wait(lambda: status(b)["grid_ingest"]["running"] and time.time() - t_kill, 20, "grid-b resumes")
        t1_ms = max(pubs.stamp.last.values())
        pubs.close()
        a2 = grid_node("grid-a")  # the dead node comes back: its spool's acknowledged tail drains
        a2.start(ready_timeout=60)
        started.append(a2)

        def count():
            rows = db.query(
                f"SELECT count(seq) FROM grid_telemetry WHERE time >= {t0_ms}ms AND time <= {t1_ms}ms", epoch="ms"
            )[0].rows()
            return int(rows[0]["count"]) if rows else 0

        got = wait(lambda: count() >= n and count(), 60, f"{n} readings in InfluxDB")
        print(
            f"\nHA grid: published {n} at 2000 msg/s, stored {got}; grid-b resumed the session {took:.2f} s after kill -9"
        )
        assert got == n
    finally:
        for s in reversed(started):
            s.stop()


def test_restart_postgresql_every_node_reconnects_and_nothing_is_lost(cluster, semarang, pg):
    c, url = cluster, cluster["url"]
    stack = c["stack"]
    a = node(c["dir"], "node-a", stack, url).start(ready_timeout=90)
    c["nodes"].append(a)
    b = node(c["dir"], "node-b", stack, url).start(ready_timeout=90)
    c["nodes"].append(b)
    wait(lambda: _settled(url, len(semarang.hotspots)), 120, "every hotspot up")
    store = IncidentStore(open_database(url), city="semarang")
    seq0 = store.last_seq()
    pg.restart()
    t_restart = time.time()
    # a switch dies right after the restart: its evidence must arrive and explain it
    httpx.post(f"{stack.sim.url}/_sim/events", json={"action": "switch_fail", "target": "switch:SW-TBL-01"})
    wait(
        lambda: any(r["root"] == "switch:SW-TBL-01" for r in store.incidents(status="open")),
        90,
        "the switch incident after the restart",
    )
    wait(
        lambda: status(a)["evidence"]["failing_since"] is None and status(b)["evidence"]["failing_since"] is None,
        30,
        "appending again",
    )
    rows = store.evidence_after(seq0, limit=100000)
    # the switch's failed polls after the restart are in the log (the incident was decided from them)
    assert any(r["element"] == "switch:SW-TBL-01" and r["data"].get("kind") in ("suspect", "state") for r in rows)
    took = time.time() - t_restart
    print(
        f"\nHA PostgreSQL restart: the switch incident opened {took:.1f} s after the restart; evidence rows since: {len(rows)}"
    )
    assert os.path.exists(pg.log_path)
