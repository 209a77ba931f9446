"""Grid MQTT collector against real Mosquitto and InfluxDB: the simulated city's grid, and faults
under load, each with a count of what was published (acknowledged by the broker) and what arrived."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest

from collectors.grid import sparkplug as sp
from collectors.grid.collector import GridCollector
from collectors.grid.mqtt import BrokerConf
from collectors.grid.state import DEENERGIZED, ENERGIZED, UNKNOWN
from hotspots.inventory import resolve_city
from pantau import services
from simulator.gridload import AckedPublisher, elements_of
from store.sink import BatchingSink
from store.spool import SpoolSinks
from store.timeseries import InfluxConf, InfluxV1

pytestmark = pytest.mark.integration


def control(sim, action, target, **kw):
    r = httpx.post(f"{sim.url}/_sim/events", json={"action": action, "target": target, **kw}, timeout=5)
    assert r.status_code == 200, r.text


async def until(pred, timeout: float, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        await asyncio.sleep(step)
    return pred()


def test_grid_state_follows_the_simulator(semarang, sim, mosquitto_service, influx, tmp_path):
    """Time scale 10: telemetry every 1 s, lost after 3 s."""

    async def story():
        sink = BatchingSink(influx, flush_interval=0.2)
        gc = GridCollector(
            semarang,
            BrokerConf("127.0.0.1", mosquitto_service.port),
            tmp_path,
            SpoolSinks(InfluxConf(influx.url, influx.database), tmp_path / "spool"),
            sink,
            telemetry_interval_s=1.0,
        )
        await gc.start()
        g = gc.grid
        try:
            all_on = await until(lambda: all(g.state(e).state == ENERGIZED for e in g.elements), 6)
            assert all_on, g.counts()
            t_trip = time.time()
            control(sim, "feeder_trip", "feeder:PDL-03")
            assert await until(lambda: g.state("feeder:PDL-03").state == DEENERGIZED, 3)
            detected = time.time() - t_trip
            st = g.state("feeder:PDL-03")
            assert st.reason == "breaker open"
            # The first reading after the trip decides: the simulator publishes each element once per
            # interval (1 s here, with its own scheduling jitter); Pantau's part is reading -> state.
            first_reading = st.since - t_trip
            assert first_reading <= 1.5, f"first open-breaker reading {first_reading:.2f} s after the trip"
            assert detected - first_reading <= 0.3, f"state changed {detected - first_reading:.2f} s after the reading"
            for t in semarang.transformers_of_feeder["PDL-03"]:
                assert await until(lambda t=t: g.state(f"transformer:{t}").state == DEENERGIZED, 2)
            assert g.state("substation:PDL").state == ENERGIZED, "the substation's other feeders still carry power"

            t_loss = time.time()
            control(sim, "telemetry_loss", "transformer:PDL-02-T01")
            assert await until(lambda: g.state("transformer:PDL-02-T01").state == UNKNOWN, 6)
            st = g.state("transformer:PDL-02-T01")
            assert st.last_power == ENERGIZED and "no telemetry" in st.reason, "telemetry loss is not power off"
            # Lost 3 s (3 intervals) after its last reading arrived, which was up to 1 s before the loss.
            assert st.since - st.last_seen >= 3.0 and time.time() - t_loss <= 5.5
            control(
                sim, "maintenance_notice", "feeder:PDL-04", start_s=0, end_s=600, reason="Pemeliharaan jaringan", _at=0
            )
            assert await until(lambda: g.notices_for("feeder:PDL-04"), 3)
            assert g.notices_for("feeder:PDL-04", at=time.time())[0].reason == "Pemeliharaan jaringan"

            control(sim, "feeder_restore", "feeder:PDL-03")
            control(sim, "telemetry_restore", "transformer:PDL-02-T01")
            assert await until(
                lambda: (
                    g.state("feeder:PDL-03").state == ENERGIZED and g.state("transformer:PDL-02-T01").state == ENERGIZED
                ),
                3,
            )
            await asyncio.sleep(0.5)
        finally:
            await gc.stop()
            sink.close()
        return gc

    try:
        gc = asyncio.run(story())
    finally:
        control(sim, "feeder_restore", "feeder:PDL-03")
        control(sim, "telemetry_restore", "transformer:PDL-02-T01")
    series = influx.query("SELECT count(voltage_v) FROM grid_telemetry GROUP BY element")[0].series
    assert len(series) == len(semarang.feeders) + len(semarang.transformers), "every feeder and transformer in InfluxDB"
    ev = influx.query("SELECT * FROM grid_event WHERE element = 'feeder:PDL-03'")[0].rows()
    assert [(e["old"], e["new"]) for e in ev][-3:] == [
        (UNKNOWN, ENERGIZED),
        (ENERGIZED, DEENERGIZED),
        (DEENERGIZED, ENERGIZED),
    ]
    lost = influx.query("SELECT * FROM grid_event WHERE element = 'transformer:PDL-02-T01' AND new = 'unknown'")[
        0
    ].rows()
    assert lost and lost[-1]["source"] == "staleness"
    assert gc.totals()["dead"] == 0


# --- faults under load -------------------------------------------------------------------------


def _db(influx_url: str) -> InfluxV1:
    name = "g_" + uuid.uuid4().hex[:8]
    db = InfluxV1(influx_url, name)
    db.query(f'CREATE DATABASE "{name}"')
    return db


def _arrived(db: InfluxV1) -> set[tuple[str, int]]:
    res = db.query("SELECT seq, element FROM grid_telemetry", epoch="ms")
    return {(r["element"], r["time"]) for r in res[0].rows()} if res else set()


def _wait_all(db: InfluxV1, acked: set, timeout: float = 90) -> set:
    deadline = time.time() + timeout
    got = set()
    while time.time() < deadline:
        got = _arrived(db)
        if acked <= got:
            break
        time.sleep(0.5)
    return got


def _report(name: str, acked: set, got: set, extra: str = "") -> None:
    missing = len(acked - got)
    print(
        f"\n[{name}] published (broker-acknowledged) {len(acked)}, arrived in InfluxDB {len(acked & got)}, "
        f"lost {missing} {extra}"
    )


@pytest.fixture()
def broker(tmp_path):
    svc = services.mosquitto(tmp_path / "mosquitto").start()
    yield svc
    svc.stop()


def _collector(tmp_path, db, broker_port, workers=0):
    return services.collector(
        tmp_path / "collector",
        str(resolve_city("semarang")),
        db.url,
        database=db.database,
        mqtt=("127.0.0.1", broker_port),
        grid_workers=workers,
        snmp=False,
    ).start(ready_timeout=60)


def _els(semarang):
    return elements_of(semarang)[::4]


def test_influxdb_down_for_a_minute_under_load(semarang, broker, tmp_path):
    influx = services.influxdb(tmp_path / "influx").start()
    db = _db(influx.url)
    coll = _collector(tmp_path, db, broker.port)
    try:
        pub = AckedPublisher(broker.port, str(resolve_city("semarang")), _els(semarang), rate=400, seconds=80)
        time.sleep(10)
        influx.stop()
        t_down = time.time()
        backlog = []
        while time.time() - t_down < 60:
            time.sleep(5)
            backlog.append(coll.status()["grid"]["ingest"]["spool_backlog_bytes"])
        influx.start()
        res = pub.result()
        acked = set(map(tuple, res["acked"]))
        got = _wait_all(db, acked)
        _report("InfluxDB stopped 60 s", acked, got, f"(spool backlog during the outage: {max(backlog):,} bytes)")
        assert len(acked) > 25000
        assert backlog[-1] > backlog[0] > 0, "readings spooled to disk while InfluxDB was down"
        assert acked <= got
        deadline = time.time() + 15  # the status file is rewritten every 2 s
        while time.time() < deadline and coll.status()["grid"]["ingest"]["spool_backlog_bytes"]:
            time.sleep(0.5)
        st = coll.status()["grid"]["ingest"]
        assert st["dead"] == 0 and st["spool_backlog_bytes"] == 0, "the spool drained"
    finally:
        coll.stop()
        influx.stop()


def test_mosquitto_restarted_under_load(semarang, broker, influx_service, tmp_path):
    db = _db(influx_service.url)
    coll = _collector(tmp_path, db, broker.port)
    try:
        pub = AckedPublisher(broker.port, str(resolve_city("semarang")), _els(semarang), rate=400, seconds=30)
        time.sleep(10)
        broker.stop()  # SIGTERM: Mosquitto saves its persistence file
        time.sleep(3)
        broker.start()
        res = pub.result()
        acked = set(map(tuple, res["acked"]))
        got = _wait_all(db, acked)
        _report("Mosquitto restarted", acked, got, f"(publisher: {res['unacked']} never acknowledged)")
        assert len(acked) > 9000
        assert acked <= got
        assert coll.status()["grid"]["session"]["connects"] >= 2, "the session reconnected"
    finally:
        coll.stop()
        db.query(f'DROP DATABASE "{db.database}"')


def test_pantau_killed_and_restarted_under_load(semarang, broker, influx_service, tmp_path):
    """kill -9 of the collector (one process, the default): nothing the broker acknowledged is lost.
    (With shared-subscription workers, Mosquitto itself drops the messages in flight to a member whose
    connection breaks — eclipse-mosquitto/mosquitto#2662; see docs/grid.md.)"""
    db = _db(influx_service.url)
    coll = _collector(tmp_path, db, broker.port)
    try:
        pub = AckedPublisher(broker.port, str(resolve_city("semarang")), _els(semarang), rate=400, seconds=30)
        time.sleep(10)
        before = coll.status()["grid"]["ingest"]["received"]
        os.kill(coll.proc.pid, signal.SIGKILL)
        coll.proc.wait(5)
        time.sleep(3)
        coll = _collector(tmp_path, db, broker.port)
        res = pub.result()
        acked = set(map(tuple, res["acked"]))
        got = _wait_all(db, acked)
        _report("Pantau killed -9 and restarted", acked, got, f"(received before the kill: {before})")
        assert before > 1000 and len(acked) > 9000
        assert acked <= got
        assert coll.status()["grid"]["session"]["session_present"] is True, "the session was resumed"
    finally:
        coll.stop()
        db.query(f'DROP DATABASE "{db.database}"')


def test_ten_thousand_malformed_payloads_mixed_into_good_traffic(semarang, broker, influx_service, tmp_path):
    db = _db(influx_service.url)
    coll = _collector(tmp_path, db, broker.port, workers=1)
    try:
        pub = AckedPublisher(
            broker.port, str(resolve_city("semarang")), _els(semarang), rate=2000, seconds=60, bad_every=2, count=20000
        )
        res = pub.result()
        acked = set(map(tuple, res["acked"]))
        got = _wait_all(db, acked)
        deadline = time.time() + 20
        while time.time() < deadline and coll.status()["grid"]["ingest"]["dead"] < res["bad_acked"]:
            time.sleep(0.5)
        ing = coll.status()["grid"]["ingest"]
        _report(
            "10,000 malformed mixed in",
            acked,
            got,
            f"(malformed published {res['bad_acked']}, dead letters {ing['dead']}: {ing['dead_by_reason']})",
        )
        assert res["bad_acked"] == 10000 and len(acked) == 10000
        assert acked <= got
        assert ing["dead"] == 10000
        assert set(ing["dead_by_reason"]) == {
            "invalid_json",
            "clock_skew",
            "not_finite",
            "absurd_value",
            "topic_mismatch",
            "oversize",
            "schema",
        }
        recs = [json.loads(x) for x in open(next((tmp_path / "collector" / "grid" / "deadletters").glob("w0.jsonl")))]
        assert len(recs) >= 4000 and all(r["reason"] and r["detail"] and r["topic"] for r in recs)
    finally:
        coll.stop()
        db.query(f'DROP DATABASE "{db.database}"')


def test_queued_while_away_and_sparkplug_host(semarang, broker, influx_service, tmp_path):
    """The persistent session keeps QoS 1 messages while Pantau is stopped; Sparkplug B births, data,
    sequence gaps (rebirth request) and node death (telemetry unknown) through the real broker."""
    db = _db(influx_service.url)
    coll = _collector(tmp_path, db, broker.port)
    coll.stop()
    pub = AckedPublisher(broker.port, str(resolve_city("semarang")), _els(semarang), rate=1000, seconds=2)
    acked = set(map(tuple, pub.result()["acked"]))
    coll = _collector(tmp_path, db, broker.port)
    cmds, states = [], []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edge-gi-srd", protocol=mqtt.MQTTv5)
    c.on_message = lambda cl, u, m: (cmds if "/NCMD/" in m.topic else states).append((m.topic, m.payload))
    c.will_set("spBv1.0/PLN/NDEATH/GI-SRD", sp.encode([("bdSeq", sp.INT64, 1)], seq=None), qos=1)
    c.connect("127.0.0.1", broker.port)
    c.subscribe([("spBv1.0/PLN/NCMD/GI-SRD", 1), ("spBv1.0/STATE/#", 1)])
    c.loop_start()
    try:
        got = _wait_all(db, acked, 30)
        _report("queued while Pantau was stopped", acked, got)
        assert acked and acked <= got
        al = {"Voltage": 1, "Breaker Closed": 2}
        c.publish("spBv1.0/PLN/NBIRTH/GI-SRD", sp.encode([("bdSeq", sp.INT64, 1)], seq=0), qos=1)
        c.publish(
            "spBv1.0/PLN/DBIRTH/GI-SRD/SRD-01",
            sp.encode([("Voltage", sp.DOUBLE, 20050.0), ("Breaker Closed", sp.BOOLEAN, True)], seq=1, aliases=al),
            qos=1,
        )
        c.publish(
            "spBv1.0/PLN/DDATA/GI-SRD/SRD-01",
            sp.encode([("Breaker Closed", sp.BOOLEAN, False)], seq=2, aliases=al, with_names=False),
            qos=1,
        )

        def state(el):
            return coll.status()["grid"]["grid"]["not_energized"].get(el, {}).get("state", ENERGIZED)

        deadline = time.time() + 6
        while time.time() < deadline and state("feeder:SRD-01") != DEENERGIZED:
            time.sleep(0.3)
        assert state("feeder:SRD-01") == DEENERGIZED
        c.publish("spBv1.0/PLN/DDATA/GI-SRD/SRD-01", sp.encode([("Voltage", sp.DOUBLE, 20000.0)], seq=9), qos=1)
        deadline = time.time() + 6
        while time.time() < deadline and not cmds:
            time.sleep(0.2)
        assert cmds, "a sequence gap makes Pantau ask the node for a rebirth (NCMD)"
        p = sp.Payload()
        p.ParseFromString(cmds[0][1])
        assert p.metrics[0].name == "Node Control/Rebirth"
        assert any(t == "spBv1.0/STATE/pantau-semarang" and json.loads(b)["online"] is True for t, b in states)
        c.socket().close()  # the edge node drops off: the broker publishes its NDEATH (last will)
        deadline = time.time() + 10
        while time.time() < deadline and state("feeder:SRD-01") != UNKNOWN:
            time.sleep(0.3)
        assert state("feeder:SRD-01") == UNKNOWN, "Sparkplug death: metrics stale, telemetry unknown"
        rows = db.query("SELECT count(voltage_v) FROM grid_telemetry WHERE source = 'sparkplug'")[0].rows()
        assert rows and rows[0]["count"] >= 2
    finally:
        c.loop_stop()
        coll.stop()
        db.query(f'DROP DATABASE "{db.database}"')


def _tls_files(d):
    from pantau.tlsca import make_ca

    return make_ca(d)


def test_tls_and_password_to_the_broker(semarang, influx, tmp_path):
    import getpass
    import subprocess

    from collectors.grid.mqtt import MqttSession

    ca = _tls_files(tmp_path)
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(tmp_path / "passwd"), "pantau-collector", "s3cret-grid"], check=True
    )
    subprocess.run(["mosquitto_passwd", "-b", str(tmp_path / "passwd"), "gw-srd", "gw-s3cret"], check=True)
    acl = Path(__file__).resolve().parents[1] / "config" / "mosquitto.acl"
    port = services.free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {tmp_path}/passwd\n"
        f"cafile {ca}\ncertfile {tmp_path}/server.pem\nkeyfile {tmp_path}/server.key\n"
        f"acl_file {acl}\nuser {getpass.getuser()}\npersistence false\n"
    )
    os.chmod(tmp_path / "passwd", 0o600)
    svc = services.Service("mosquitto-tls", ["mosquitto", "-c", str(conf)], tmp_path, "127.0.0.1", port).start()
    good = BrokerConf("127.0.0.1", port, "pantau-collector", "s3cret-grid", tls=True, ca_file=str(ca))
    bad = BrokerConf("127.0.0.1", port, "pantau-collector", "wrong", tls=True, ca_file=str(ca))
    gw = BrokerConf("127.0.0.1", port, "gw-srd", "gw-s3cret", tls=True, ca_file=str(ca))
    assert "s3cret" not in repr(good) + str(good)

    async def run():
        ok = MqttSession(good, "tls-ok", [("pantau/semarang/grid/#", 1)])
        nope = MqttSession(bad, "tls-bad", [("x", 1)])
        gateway = MqttSession(gw, "gw-srd", [("pantau/semarang/grid/#", 1)])
        ok.start()
        nope.start()
        gateway.start()
        try:
            await asyncio.wait_for(ok.subscribed.wait(), 10)
            await asyncio.wait_for(gateway.subscribed.wait(), 10)
            # ACL (config/mosquitto.acl): the collector may not publish telemetry, another gateway's
            # status is not the gateway's to write, a gateway's own topics are.
            ok.publish("pantau/semarang/grid/feeder/SRD-04/telemetry", b"from-collector", qos=1)
            gateway.publish("pantau/semarang/grid/gateway/gw-other/status", b"forged", qos=1)
            gateway.publish("pantau/semarang/grid/gateway/gw-srd/status", b"online", qos=1)
            gateway.publish("pantau/semarang/grid/feeder/SRD-04/telemetry", b"{}", qos=1)
            got = []
            deadline = time.time() + 5
            while len(got) < 2 and time.time() < deadline:
                got += [m.payload for m in (await ok.take(timeout=1)) or []]
            await asyncio.sleep(0.5)
            got += [m.payload for m in (await ok.take(timeout=0.5)) or []]
            assert sorted(got) == [b"online", b"{}"], got
            assert not [m for m in (await gateway.take(timeout=0.5)) or []], "gateways read nothing of the grid"
            await asyncio.sleep(1.0)
            assert not nope.connected.is_set() and "Not authorized" in (nope.last_error or ""), nope.last_error
        finally:
            await ok.stop()
            await nope.stop()
            await gateway.stop()

    try:
        asyncio.run(run())
    finally:
        svc.stop()
