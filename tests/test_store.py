import time

import pytest

from store.lineprotocol import Point, encode_line
from store.provision import ROLLUP_MEASUREMENTS, provision_v1
from store.sink import BatchingSink
from store.timeseries import InfluxError, InfluxV1

pytestmark = pytest.mark.integration


def test_escaped_points_round_trip_through_real_influxdb(influx):
    ts = 1_700_000_000_000_000_000
    influx.write(
        [
            Point(
                "hotspot_poll",
                {"hotspot": "AP-0001", "kelurahan": "Srondol Wetan", "odd": "a,b=c d"},
                {"up": True, "latency_ms": 3.25, "clients": 17, "note": 'say "x"'},
                ts,
            )
        ]
    )
    rows = influx.query_rows("SELECT * FROM hotspot_poll WHERE kelurahan = 'Srondol Wetan'")
    assert len(rows) == 1
    r = rows[0]
    assert r["time"] == ts and r["odd"] == "a,b=c d" and r["note"] == 'say "x"'
    assert r["clients"] == 17 and r["latency_ms"] == 3.25 and r["up"] is True


def test_writes_are_idempotent_by_source_timestamp(influx):
    line = encode_line("grid", {"element": "feeder:SRD-04"}, {"voltage_v": 20010.5}, 1_700_000_000_000_000_000)
    for _ in range(3):
        influx.write_lines([line])
    assert influx.query_rows("SELECT count(voltage_v) FROM grid")[0]["count"] == 1


def test_bad_query_and_bad_line_are_clear_errors(influx):
    with pytest.raises(InfluxError, match="error parsing query"):
        influx.query("SELEC nonsense")
    with pytest.raises(InfluxError, match="400"):
        influx.write_lines(["broken line without fields"])


def test_provisioning_is_idempotent(influx):
    first = provision_v1(influx)
    assert any("continuous query" in a for a in first) and any("rollup" in a for a in first)
    assert provision_v1(influx) == []
    rps = {r["name"]: r for r in influx.query_rows(f'SHOW RETENTION POLICIES ON "{influx.database}"')}
    assert rps["raw"]["default"] and rps["raw"]["duration"] == "720h0m0s"
    assert rps["rollup"]["duration"] == "9600h0m0s"
    cqs = [
        v[0]
        for res in influx.query("SHOW CONTINUOUS QUERIES")
        for s in res.series
        if s["name"] == influx.database
        for v in s["values"]
    ]
    assert sorted(cqs) == sorted(f"cq_{m}_5m" for m in ROLLUP_MEASUREMENTS)


def test_sink_keeps_data_while_influxdb_is_down(tmp_path):
    from pantau import services

    svc = services.influxdb(tmp_path / "influx").start()
    port = svc.port
    db = InfluxV1(svc.url, "spool")
    db.query('CREATE DATABASE "spool"')
    sink = BatchingSink(db, batch_lines=500, flush_interval=0.1, max_backoff=0.5)
    t0 = 1_700_000_000_000_000_000
    sink.write(Point("grid", {"element": f"feeder:F{i}"}, {"v": float(i)}, t0 + i) for i in range(1000))
    assert sink.flush(10)
    svc.stop()
    sink.write(Point("grid", {"element": f"feeder:F{i}"}, {"v": float(i)}, t0 + i) for i in range(1000, 3000))
    time.sleep(1.0)
    assert sink.pending == 2000 and not sink.available
    svc2 = services.influxdb(tmp_path / "influx", port=port).start()
    assert sink.flush(20)
    sink.close()
    assert db.query_rows("SELECT count(v) FROM grid")[0]["count"] == 3000
    assert sink.dropped == 0
    db.close()
    svc2.stop()
