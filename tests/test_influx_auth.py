"""InfluxDB with ``auth-enabled = true``: credentials reach every writer, and a refusal of them is an
outage, not bad data — readings wait in the spool, /healthz and /metrics say so, and everything
arrives once the credential is fixed (0 lines in rejected.lp)."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from hotspots.inventory import resolve_city
from pantau import services
from simulator.gridload import AckedPublisher, elements_of
from store.timeseries import InfluxAuthRefused, InfluxConf, InfluxV1

pytestmark = pytest.mark.integration

ADMIN_PW = "adm-" + uuid.uuid4().hex
GOOD_PW = "wr-" + uuid.uuid4().hex


def _until(pred, timeout: float, step: float = 0.3):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def _authed_influx(tmp_path):
    influx = services.influxdb(tmp_path / "influx", auth=True).start()
    InfluxV1(influx.url, "pantau").query(f"CREATE USER admin WITH PASSWORD '{ADMIN_PW}' WITH ALL PRIVILEGES")
    admin = InfluxV1(influx.url, "pantau", "admin", ADMIN_PW)
    admin.query('CREATE DATABASE "pantau"')
    return influx, admin


def test_client_sends_credentials_and_tells_refusal_apart(tmp_path):
    influx, admin = _authed_influx(tmp_path)
    try:
        admin.query(f"CREATE USER writer WITH PASSWORD '{GOOD_PW}'")
        admin.query('GRANT WRITE ON "pantau" TO writer')
        InfluxConf(influx.url, "pantau", "writer", GOOD_PW).client().write_lines(["m v=1i 1"])
        with pytest.raises(InfluxAuthRefused, match="InfluxDB refuses Pantau's credentials"):
            InfluxConf(influx.url, "pantau", "writer", "wrong").client().write_lines(["m v=1i 1"])
        with pytest.raises(InfluxAuthRefused):
            InfluxConf(influx.url, "pantau").client().write_lines(["m v=1i 1"])
        assert admin.query("SELECT count(v) FROM m")[0].rows()[0]["count"] == 1
    finally:
        influx.stop()


def test_wrong_password_under_load_then_fixed_loses_nothing(semarang, tmp_path):
    influx, admin = _authed_influx(tmp_path)
    # Pantau's write user exists, but with another password than Pantau was given: every write is
    # refused (401) until the NOC fixes the credential on the server.
    admin.query("CREATE USER writer WITH PASSWORD 'not-what-pantau-has'")
    admin.query('GRANT ALL ON "pantau" TO writer')
    broker = services.mosquitto(tmp_path / "mosquitto").start()
    env = {"PANTAU_INFLUX_USERNAME": "writer", "PANTAU_INFLUX_PASSWORD": GOOD_PW}
    city = str(resolve_city("semarang"))
    state = tmp_path / "collector"
    coll = services.collector(state, city, influx.url, mqtt=("127.0.0.1", broker.port), snmp=False, env=env).start(
        ready_timeout=60
    )
    api = services.api(state, city, influx.url, env=env).start(ready_timeout=60)
    try:
        pub = AckedPublisher(broker.port, city, elements_of(semarang)[::4], rate=300, seconds=40)
        refused = _until(lambda: (coll.status().get("influx") or {}).get("state") == "credentials_refused", 20)
        assert refused, coll.status().get("influx")
        h = _until(lambda: httpx.get(api.url + "/healthz").json(), 5)
        h = _until(
            lambda: (r := httpx.get(api.url + "/healthz").json())["influx"]["state"] == "credentials_refused" and r, 10
        )
        assert h and h["influx"]["message"] == "InfluxDB refuses Pantau's credentials", h
        m = httpx.get(api.url + "/metrics").text
        assert "pantau_influx_credentials_refused 1.0" in m
        assert 'pantau_influx_write_state{state="credentials_refused"} 1.0' in m
        time.sleep(10)
        backlog = coll.status()["grid"]["ingest"]["spool_backlog_bytes"]
        assert backlog > 0, "readings wait in the spool while InfluxDB refuses us"
        admin.query(f"SET PASSWORD FOR writer = '{GOOD_PW}'")  # the credential is fixed
        res = pub.result()
        acked = {tuple(x) for x in res["acked"]}
        assert len(acked) > 8000

        def arrived():
            r = admin.query("SELECT seq, element FROM grid_telemetry", epoch="ms")
            return {(x["element"], x["time"]) for x in r[0].rows()} if r else set()

        got = _until(lambda: (g := arrived()) >= acked and g, 60, 1.0) or arrived()
        print(
            f"\n[wrong InfluxDB password, then fixed] published {len(acked)}, in InfluxDB {len(acked & got)}, "
            f"lost {len(acked - got)}, spool backlog while refused {backlog:,} B"
        )
        assert acked <= got
        rejected = [p for p in state.rglob("rejected.lp") if p.stat().st_size]
        assert rejected == [], "a refusal of credentials is not bad data"
        assert _until(lambda: coll.status()["influx"]["state"] == "ok", 15)
        assert _until(lambda: httpx.get(api.url + "/healthz").json()["influx"]["state"] == "ok", 10)
        assert "pantau_influx_credentials_refused 0.0" in httpx.get(api.url + "/metrics").text
        log = coll.log_path.read_text()
        # Said once per change and per writer (the batching sink and the grid spool), not per retry.
        assert 1 <= log.count("InfluxDB refuses Pantau's credentials") <= 2, log[-3000:]
    finally:
        api.stop()
        coll.stop()
        broker.stop()
        influx.stop()
