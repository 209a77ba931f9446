"""Grid collector units: topic templates, payload validation, grid state, spool, Sparkplug B, paho fixes."""

from __future__ import annotations

import json
import threading
import time

import pytest

from collectors.grid import sparkplug as sp
from collectors.grid.config import DataFileError, Template, load_grid_config
from collectors.grid.deadletters import DeadLetters, read_dead_letters
from collectors.grid.ingest import Ingest
from collectors.grid.mqtt import FastProperties, Msg, install_fast_properties
from collectors.grid.payloads import Rejected, Validator
from collectors.grid.state import DEENERGIZED, ENERGIZED, UNKNOWN, GridState, Reading
from simulator.gridload import iso_ms, payload
from store.spool import Spool, SpoolWriter
from store.timeseries import InfluxError, InfluxUnavailable


@pytest.fixture(scope="module")
def cfg():
    return load_grid_config("semarang")


def test_topic_template_maps_segments_to_tags():
    t = Template("pantau/{city}/grid/{kind}/{id}/telemetry").bind(city="semarang")
    assert t.filter() == "pantau/semarang/grid/+/+/telemetry"
    assert t.parse("pantau/semarang/grid/feeder/SRD-04/telemetry") == {"kind": "feeder", "id": "SRD-04"}
    assert t.parse("pantau/batang/grid/feeder/SRD-04/telemetry") is None
    assert t.parse("pantau/semarang/grid/feeder/SRD-04/telemetry/x") is None
    assert t.parse("pantau/semarang/grid/feeder//telemetry") is None


def test_grid_file_is_strict(tmp_path):
    good = (load_grid_config.__globals__["GRID_FILE"]).read_text()
    bad = tmp_path / "grid.yaml"
    bad.write_text(
        good.replace("  qos: 1\n", "  qos: 1\n  qso: 2\n", 1).replace(
            "pantau/{city}/grid/maintenance/{kind}/{id}", "pantau/{city}/grid/maint-{kind}/+"
        )
    )
    with pytest.raises(DataFileError) as exc:
        load_grid_config("semarang", bad)
    text = str(exc.value)
    assert "grid.yaml:7 [telemetry.qso]: unknown field" in text
    bad.write_text(good.replace("pantau/{city}/grid/maintenance/{kind}/{id}", "pantau/{city}/grid/maint-{kind}/+"))
    with pytest.raises(DataFileError) as exc:
        load_grid_config("semarang", bad)
    assert "maintenance.topic" in str(exc.value) and "whole {name}" in str(exc.value)


T = {"kind": "feeder", "id": "SRD-04"}


def _good(**kw) -> dict:
    d = {
        "element": "feeder:SRD-04",
        "substation": "SRD",
        "ts": iso_ms(int(time.time() * 1000)),
        "voltage_v": 20010.5,
        "current_a": 120.0,
        "frequency_hz": 50.01,
        "breaker": "closed",
        "seq": 3,
    }
    d.update(kw)
    return d


@pytest.mark.parametrize(
    "body, reason, words",
    [
        (b'{"element": "feeder:SRD-04", "ts"', "invalid_json", "EOF"),
        (b"\xff\xfe\x00", "invalid_json", "JSON"),
        (json.dumps(_good(voltage_v="20000")).encode(), "schema", "voltage_v"),
        (json.dumps(_good()).replace("20010.5", "NaN").encode(), "not_finite", "voltage_v"),
        (json.dumps(_good()).replace("20010.5", "Infinity").encode(), "not_finite", "voltage_v"),
        (json.dumps(_good(voltage_v=-5)).encode(), "absurd_value", "voltage_v -5"),
        (json.dumps(_good(voltage_v=99999)).encode(), "absurd_value", "voltage_v 99999"),
        (json.dumps(_good(current_a=1e7)).encode(), "absurd_value", "current_a"),
        (json.dumps(_good(frequency_hz=70)).encode(), "absurd_value", "frequency_hz 70"),
        (json.dumps(_good(breaker="half")).encode(), "schema", "breaker"),
        (json.dumps(_good(colour="red")).encode(), "schema", "colour"),
        (json.dumps(_good(element="feeder:SRD-05")).encode(), "topic_mismatch", "SRD-05"),
        (json.dumps(_good(substation="PDL")).encode(), "topic_mismatch", "substation SRD"),
        (json.dumps(_good(ts="2026-11-23T10:00:00")).encode(), "schema", "time zone"),
        (json.dumps(_good(ts="yesterday")).encode(), "schema", "ISO 8601"),
        (json.dumps(_good(ts=iso_ms(int((time.time() + 3600) * 1000)))).encode(), "clock_skew", "future"),
        (json.dumps(_good(ts="2020-01-01T00:00:00Z")).encode(), "clock_skew", "old"),
        (json.dumps(_good(gateway="x" * 5000)).encode(), "oversize", "bytes"),
        (b"[1, 2]", "schema", "object"),
    ],
)
def test_bad_payloads_are_rejected_with_a_reason(semarang, cfg, body, reason, words):
    v = Validator(cfg, semarang)
    with pytest.raises(Rejected) as exc:
        v.telemetry(T, body)
    assert exc.value.reason == reason
    assert words in exc.value.detail


def test_unknown_element_and_good_reading(semarang, cfg):
    v = Validator(cfg, semarang)
    with pytest.raises(Rejected) as exc:
        v.telemetry({"kind": "feeder", "id": "XYZ-99"}, json.dumps(_good(element="feeder:XYZ-99")).encode())
    assert exc.value.reason == "unknown_element"
    r = v.telemetry(T, json.dumps(_good()).encode())
    assert (r.element, r.voltage_v, r.breaker_closed, r.seq, r.source) == ("feeder:SRD-04", 20010.5, True, 3, "json")
    assert abs(r.ts - time.time()) < 5


def test_ingest_routes_and_never_stops_on_bad_messages(semarang, cfg, tmp_path):
    spool = Spool(tmp_path / "spool")
    dead = DeadLetters(tmp_path / "dl")
    ing = Ingest(cfg, semarang, spool, dead)
    now_ms = int(time.time() * 1000)
    msgs = [
        Msg(
            "pantau/semarang/grid/feeder/SRD-04/telemetry",
            payload(semarang, "feeder:SRD-04", now_ms, 1).encode(),
            1,
            False,
            1,
            1,
        ),
        Msg("pantau/semarang/grid/feeder/SRD-04/telemetry", b"{not json", 1, False, 2, 1),
        Msg(
            "pantau/semarang/grid/transformer/SRD-04-T01/telemetry",
            payload(semarang, "transformer:SRD-04-T01", now_ms, 2, energized=False).encode(),
            1,
            False,
            3,
            1,
        ),
        Msg(
            "pantau/semarang/grid/maintenance/feeder/SRD-04",
            json.dumps(
                {
                    "id": "PLN-1",
                    "element": "feeder:SRD-04",
                    "start": iso_ms(now_ms),
                    "end": iso_ms(now_ms + 3600_000),
                    "reason": "Pemeliharaan",
                }
            ).encode(),
            1,
            True,
            4,
            1,
        ),
        Msg("pantau/semarang/grid/maintenance/feeder/SRD-04", b"", 1, True, 5, 1),
        Msg("pantau/semarang/grid/gateway/gw1/status", b"offline", 1, True, 6, 1),
        Msg("pantau/semarang/elsewhere", b"{}", 1, False, 7, 1),
    ]
    out = ing.process(msgs)
    assert [r.element for r in out.readings] == ["feeder:SRD-04", "transformer:SRD-04-T01"]
    assert out.dead == 2 and dict(dead.counts) == {"invalid_json": 1, "bad_topic": 1}
    assert out.notices[0][1].id == "PLN-1" and out.notices[1] == ("feeder:SRD-04", None)
    assert out.gateways[0][:2] == ("gw1", False)
    line = out.lines[1]
    assert line.startswith("grid_telemetry,city=semarang,element=transformer:SRD-04-T01,feeder=SRD-04,id=SRD-04-T01,")
    assert f" {(now_ms) * 1_000_000}" in line and "breaker_closed=true" in line
    dead.commit()
    recs = read_dead_letters(tmp_path / "dl")
    assert [r["reason"] for r in recs] == ["invalid_json", "bad_topic"]
    assert recs[0]["payload"] == "{not json" and recs[0]["topic"].endswith("SRD-04/telemetry")


def _gs(semarang, clock):
    return GridState(semarang, stale_after_s=30, clock=clock)


def test_grid_state_transitions_staleness_and_late_readings(semarang):
    now = [1000.0]
    g = _gs(semarang, lambda: now[0])
    events = []
    g.listeners.append(events.append)
    feeders = semarang.feeders_of_substation["SRD"]
    g.observe([Reading(f"feeder:{f}", 999.0, 20000.0, breaker_closed=True) for f in feeders])
    assert g.state("feeder:SRD-04").state == ENERGIZED
    assert g.state("substation:SRD").state == ENERGIZED
    g.observe([Reading("feeder:SRD-04", 1001.0, 3.1, breaker_closed=False)])
    st = g.state("feeder:SRD-04")
    assert (st.state, st.since, st.reason) == (DEENERGIZED, 1001.0, "breaker open")
    # A late reading (older than the one applied) does not move the state back.
    g.observe([Reading("feeder:SRD-04", 1000.5, 20000.0, breaker_closed=True)])
    assert g.state("feeder:SRD-04").state == DEENERGIZED
    # Equal timestamps apply in arrival order (a Sparkplug DBIRTH and DDATA in the same millisecond).
    g.observe([Reading("feeder:SRD-02", 1001.0, 20000.0, breaker_closed=True)])
    g.observe([Reading("feeder:SRD-02", 1001.0, 1.0, breaker_closed=False)])
    assert g.state("feeder:SRD-02").state == DEENERGIZED
    # Voltage alone decides when no breaker is reported.
    g.observe([Reading("feeder:SRD-03", 1002.0, 6000.0)])
    assert g.state("feeder:SRD-03").state == DEENERGIZED and "nominal" in g.state("feeder:SRD-03").reason
    # Telemetry loss is "unknown", never "off", and the last power state is kept beside it.
    now[0] = 1025.0
    g.observe([Reading(f"feeder:{f}", 1024.0, 20000.0, breaker_closed=True) for f in feeders if f != "SRD-04"])
    g.tick()
    assert g.state("feeder:SRD-04").state == DEENERGIZED, "25 s without a reading: not stale yet"
    now[0] = 1040.0
    g.observe([Reading(f"feeder:{f}", 1039.0, 20000.0, breaker_closed=True) for f in feeders if f != "SRD-04"])
    g.tick()
    st = g.state("feeder:SRD-04")
    assert st.state == UNKNOWN and st.last_power == DEENERGIZED and "no telemetry" in st.reason
    kinds = [(e.element, e.old, e.new, e.source) for e in events if e.element == "feeder:SRD-04"]
    assert kinds == [
        ("feeder:SRD-04", UNKNOWN, ENERGIZED, "telemetry"),
        ("feeder:SRD-04", ENERGIZED, DEENERGIZED, "telemetry"),
        ("feeder:SRD-04", DEENERGIZED, UNKNOWN, "staleness"),
    ]


def test_substation_derived_and_gateway_last_will(semarang):
    now = [1000.0]
    g = _gs(semarang, lambda: now[0])
    feeders = semarang.feeders_of_substation["PDL"]
    g.observe([Reading(f"feeder:{f}", 999.0, 0.5, breaker_closed=True, gateway="gi-pdl") for f in feeders])
    sub = g.state("substation:PDL")
    assert sub.state == DEENERGIZED and f"all {len(feeders)} feeders" in sub.reason
    g.observe([Reading("transformer:SRD-04-T01", 999.0, 231.0, breaker_closed=True, gateway="other")])
    evs = g.gateway_status("gi-pdl", False, 1001.0)
    assert {e.element for e in evs if e.new == UNKNOWN} >= {f"feeder:{f}" for f in feeders}
    assert g.state("substation:PDL").state == UNKNOWN
    assert g.state("transformer:SRD-04-T01").state == ENERGIZED, "another gateway's element is not affected"


class FlakyDB:
    def __init__(self):
        self.down = True
        self.lines: list[str] = []
        self.refuse = set()

    def write_lines(self, lines):
        if self.down:
            raise InfluxUnavailable("connection refused")
        for ln in lines:
            if ln in self.refuse:
                raise InfluxError("field type conflict")
        self.lines += lines


def test_spool_keeps_order_across_outage_restart_and_torn_tail(tmp_path):
    d = tmp_path / "spool"
    s = Spool(d, segment_bytes=200)
    for i in range(30):
        s.append([f"m v={i}i {i}"])
        s.commit()
    s.append(["m v=999i 999"])  # appended, never committed (no ack was sent for it)
    s._f.flush()
    s._f.write(b"m v=torn")  # and a torn write from a crash
    s._f.flush()
    del s
    s = Spool(d, segment_bytes=200)  # "restart"
    db = FlakyDB()
    w = SpoolWriter(s, db, batch_lines=7, max_backoff=0.05).start()
    time.sleep(0.3)
    assert db.lines == [] and s.backlog_bytes > 0 and w.write_errors > 0
    db.down = False
    deadline = time.time() + 5
    while len(db.lines) < 31 and time.time() < deadline:
        time.sleep(0.02)
    w.stop()
    assert db.lines == [f"m v={i}i {i}" for i in range(30)] + ["m v=999i 999"]
    assert s.backlog_bytes == 0
    assert len(list(d.glob("seg-*.lp"))) <= 2, "sent segments are deleted"
    s2 = Spool(d, segment_bytes=200)
    assert s2.read_batch(10, 0.01)[0] == [], "the cursor survives a restart: nothing is sent twice"


def test_spool_writer_gathers_a_trickle_of_commits_into_few_writes(tmp_path):
    """The ingest commits every few messages; the writer lets a short batch wait ``linger_s`` for
    the next commits, so a trickle of 40 commits over ~0.8 s becomes a handful of HTTP writes (one
    per commit cost ~7% of a core for one city), in order, nothing lost."""
    s = Spool(tmp_path / "s")
    db = FlakyDB()
    db.down = False
    w = SpoolWriter(s, db, linger_s=0.25).start()
    for i in range(40):
        s.append([f"m v={i}i {i}"])
        s.commit()
        time.sleep(0.02)
    deadline = time.time() + 5
    while len(db.lines) < 40 and time.time() < deadline:
        time.sleep(0.02)
    w.stop()
    assert db.lines == [f"m v={i}i {i}" for i in range(40)]
    assert w.posts <= 8, w.posts


def test_spool_bound_and_rejected_lines_kept(tmp_path):
    s = Spool(tmp_path / "s", max_bytes=100)
    s.append(["x" * 60, "y" * 60])
    s.commit()
    assert s.full
    db = FlakyDB()
    db.down = False
    db.refuse = {"x" * 60}
    w = SpoolWriter(s, db).start()
    deadline = time.time() + 5
    while s.backlog_bytes and time.time() < deadline:
        time.sleep(0.02)
    w.stop()
    assert not s.full and w.rejected == 2
    assert "field type conflict" in (tmp_path / "s" / "rejected.lp").read_text()


def _host(semarang, cfg):
    return sp.SparkplugHost(semarang, dict(cfg.sparkplug.metrics), "pantau-semarang")


def test_sparkplug_birth_data_aliases_and_death(semarang, cfg):
    h = _host(semarang, cfg)
    al = {"Voltage": 1, "Current": 2, "Frequency": 3, "Breaker Closed": 4}
    out = h.handle("spBv1.0/PLN/NBIRTH/GI-SRD", sp.encode([("bdSeq", sp.INT64, 5)], seq=0))
    assert out.rejected is None and h.nodes[("PLN", "GI-SRD")].online
    birth = [
        ("Voltage", sp.DOUBLE, 20100.0),
        ("Current", sp.FLOAT, 88.5),
        ("Frequency", sp.DOUBLE, 50.0),
        ("Breaker Closed", sp.BOOLEAN, True),
    ]
    out = h.handle("spBv1.0/PLN/DBIRTH/GI-SRD/SRD-04", sp.encode(birth, seq=1, aliases=al))
    r = out.readings[0]
    assert (r.element, r.voltage_v, r.breaker_closed, r.source, r.gateway) == (
        "feeder:SRD-04",
        20100.0,
        True,
        "sparkplug",
        "PLN/GI-SRD",
    )
    # Report by exception, by alias only: the breaker opens; other values are carried over.
    out = h.handle(
        "spBv1.0/PLN/DDATA/GI-SRD/SRD-04",
        sp.encode([("Breaker Closed", sp.BOOLEAN, False)], seq=2, aliases=al, with_names=False),
    )
    r = out.readings[0]
    assert (r.breaker_closed, r.voltage_v, out.rebirth) == (False, 20100.0, None)
    # An NDEATH with an older bdSeq is ignored; the matching one makes every device stale.
    assert h.handle("spBv1.0/PLN/NDEATH/GI-SRD", sp.encode([("bdSeq", sp.INT64, 4)], seq=None)).stale == []
    out = h.handle("spBv1.0/PLN/NDEATH/GI-SRD", sp.encode([("bdSeq", sp.INT64, 5)], seq=None))
    assert out.stale == ["feeder:SRD-04"]


def test_sparkplug_sequence_gaps_unknown_devices_and_garbage(semarang, cfg):
    h = _host(semarang, cfg)
    out = h.handle("spBv1.0/PLN/DDATA/GI-X/SRD-04", sp.encode([("Voltage", sp.DOUBLE, 1.0)], seq=1))
    assert out.rejected.reason == "sparkplug_sequence" and out.rebirth == ("PLN", "GI-X")
    h.handle("spBv1.0/PLN/NBIRTH/GI-X", sp.encode([("bdSeq", sp.INT64, 0)], seq=0))
    out = h.handle("spBv1.0/PLN/DBIRTH/GI-X/NOPE-1", sp.encode([("Voltage", sp.DOUBLE, 1.0)], seq=1))
    assert out.rejected.reason == "unknown_element"
    out = h.handle("spBv1.0/PLN/DBIRTH/GI-X/SRD-04", sp.encode([("Voltage", sp.DOUBLE, 20000.0)], seq=5))
    assert out.rebirth == ("PLN", "GI-X") and h.sequence_gaps == 1 and out.readings, "data kept, rebirth asked"
    out = h.handle(
        "spBv1.0/PLN/DDATA/GI-X/SRD-04",
        sp.encode([("Voltage", sp.DOUBLE, 20000.0)], seq=6, aliases={"Voltage": 9}, with_names=False),
    )
    assert out.rejected.reason == "sparkplug_unknown_alias"
    out = h.handle("spBv1.0/PLN/DDATA/GI-X/SRD-04", b"\x0a\xff\xff\xff")
    assert out.rejected.reason == "sparkplug_decode"
    assert h.handle("spBv1.0/STATE/pantau-semarang", b'{"online": true}').rejected is None
    topic, body = h.rebirth_request("PLN", "GI-X")
    p = sp.Payload()
    p.ParseFromString(body)
    assert (
        topic == "spBv1.0/PLN/NCMD/GI-X" and p.metrics[0].name == "Node Control/Rebirth" and p.metrics[0].boolean_value
    )


def test_sparkplug_signed_values():
    p = sp.Payload()
    p.ParseFromString(sp.encode([("a", sp.INT32, -5), ("b", sp.INT64, -7), ("c", sp.UINT32, 7)], seq=0))
    assert [sp.metric_value(m) for m in p.metrics] == [-5, -7, 7]


def test_fast_properties_decode_like_paho():
    from paho.mqtt.exception import MQTTException
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    assert install_fast_properties()
    src = Properties(PacketTypes.PUBLISH)
    src.UserProperty = [("a", "1"), ("b", "2")]
    src.CorrelationData = b"\x00\x01"
    src.ResponseTopic = "r/t"
    buf = src.pack()
    a, b = Properties(PacketTypes.PUBLISH), FastProperties(PacketTypes.PUBLISH)
    a.unpack(buf)
    b.unpack(buf)
    assert a.json() == b.json() and b.UserProperty == [("a", "1"), ("b", "2")]
    b.unpack(Properties(PacketTypes.PUBLISH).pack())
    assert b.json() == {}, "clear() forgets the previous packet's properties"
    with pytest.raises(MQTTException, match="Property name must be one of"):
        b.NoSuchProperty = 1


def test_deadletters_rotate_and_bound(tmp_path):
    d = DeadLetters(tmp_path, "w0", max_bytes=2000, keep_files=2)
    for i in range(100):
        d.add("t", b"\xff" * 100 + str(i).encode(), "invalid_json", "bad")
        d.commit()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["w0.jsonl", "w0.jsonl.1", "w0.jsonl.2"]
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) < 3 * 2600
    assert d.counts["invalid_json"] == 100
    recs = read_dead_letters(tmp_path, limit=5)
    assert len(recs) == 5 and recs[-1]["encoding"] == "base64"


def test_grid_state_is_thread_safe_under_concurrent_observe(semarang):
    g = GridState(semarang, stale_after_s=30)
    els = [f"transformer:{t}" for t in semarang.transformers]

    def feed(k):
        for i in range(200):
            g.observe([Reading(e, 1000.0 + i + k / 10, 230.0 if i % 2 else 0.0, breaker_closed=True) for e in els[:20]])

    ts = [threading.Thread(target=feed, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(g.state(e).last_ts == 1199.3 for e in els[:20])


def test_the_live_grid_document_follows_state_changes_at_once_and_readings_every_few_seconds(semarang, tmp_path):
    """The collecting node writes the live view every second; the grid document (400 elements) is
    serialized and written when a state or a notice changed, and for new readings alone at most
    every ``grid_every_s``; what is stored is what the writer compared (one serialization)."""
    import json
    from types import SimpleNamespace

    from collectors.grid.state import GridState, Notice, Reading
    from pantau.service import LiveWriter
    from store.db import dumps, open_database
    from store.live import LiveStore

    clock = [1000.0]
    g = GridState(semarang, clock=lambda: clock[0])
    feeder = f"feeder:{next(iter(semarang.feeders))}"
    store = LiveStore(open_database(str(tmp_path / "s.sqlite")), semarang.city, "n1")
    w = LiveWriter(store, semarang, None, SimpleNamespace(running=True, grid=SimpleNamespace(grid=g)), None, "n1")
    writes: list[dict] = []
    real = store.write
    store.write = lambda rows, docs: (writes.append(dict(docs)), real(rows, docs))[1]

    def grid_written() -> bool:
        return "grid" in writes[-1]

    w.write({"node": "n1"})
    assert grid_written()
    g.observe([Reading(feeder, 1000.0, voltage_v=20_100.0, breaker_closed=True)])  # energized: a state change
    w.write({"node": "n1"})
    assert grid_written() and store.docs()["grid"][1]["elements"][feeder]["state"] == "energized"
    for _ in range(3):  # readings only: not re-written every second
        clock[0] += 1
        g.observe([Reading(feeder, clock[0], voltage_v=20_000.0 + clock[0] % 7, breaker_closed=True)])
        w.write({"node": "n1"})
        assert not grid_written()
    g.observe([Reading(feeder, clock[0] + 0.5, voltage_v=0.0, breaker_closed=False)])  # tripped: at once
    w.write({"node": "n1"})
    assert grid_written() and store.docs()["grid"][1]["elements"][feeder]["state"] == "de-energized"
    g.set_notice(Notice("PLN-1", feeder, clock[0] + 60, clock[0] + 600, "Pemeliharaan"))  # a notice: at once
    w.write({"node": "n1"})
    assert grid_written() and store.docs()["grid"][1]["notices"][0]["id"] == "PLN-1"
    w.grid_every_s = 0.0  # readings alone, once their interval has passed
    g.observe([Reading(feeder, clock[0] + 1, voltage_v=0.0, breaker_closed=False)])
    w.write({"node": "n1"})
    assert grid_written()
    stored = store.docs()["grid"][1]
    assert json.loads(dumps(g.snapshot())) == stored
