"""The production topology of docs/production.md, run for real on loopback:

- InfluxDB 1.6.7 with ``auth-enabled = true``: an admin provisions the database and two non-admin
  users, ``pantau-collect`` (WRITE) and ``pantau-api`` (READ);
- Mosquitto with TLS (a CA made for the run), passwords and the ACL of ``config/mosquitto.acl``
  (the simulated city publishes as its gateway user ``simulator``; the collector as
  ``pantau-collector``);
- ``pantau collect`` and ``pantau api`` as separate processes in production mode, configured by
  ``PANTAU_*`` environment only (secrets as ``_FILE`` variants), as the systemd units are;
- Debian's nginx in front of the API terminating TLS and appending ``X-Forwarded-For``;
- Debian's Prometheus scraping ``/metrics`` through nginx (HTTPS, verified against the CA);
- Debian's Alertmanager receiving Pantau's incidents (API v2) and sending them on as a webhook.

Hotspot polls, grid readings and a feeder incident flow end to end.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time

import httpx
import pytest

from pantau import services
from pantau.stack import INFLUX_READER, INFLUX_WRITER, MQTT_COLLECTOR, Stack
from store.timeseries import InfluxAuthRefused, InfluxConf
from tests.fixtures.waiting import wait
from tests.fixtures.webhook import PlainReceiver

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    d = tmp_path_factory.mktemp("production")
    pager = PlainReceiver().start()
    started: list = []
    try:
        am = services.alertmanager(d / "alertmanager", f"http://127.0.0.1:{pager.port}/pager").start(ready_timeout=60)
        started.append(am)
        receivers = d / "receivers.yaml"
        receivers.write_text(
            json.dumps(
                {
                    "external_url": "https://pantau.semarangkota.go.id",
                    "receivers": [
                        {
                            "name": "noc-alertmanager",
                            "url": f"{am.url}/api/v2/alerts",
                            "format": "alertmanager_api",
                            # group_wait: a finding on one transformer that a feeder reading re-roots a
                            # telemetry interval later never pages (Alertmanager's own default is 30 s)
                            "group_by": ["incident_id"],
                            "group_wait_s": 10,
                            "group_interval_s": 5,
                            "retry_min_s": 0.5,
                            "retry_max_s": 5,
                        }
                    ],
                }
            )
        )
        stack = Stack(
            d / "stack",
            secure=True,
            collect=True,
            api=True,
            egov=False,
            receivers=receivers,
            telemetry_interval_s=5.0,
            seed=7,
        )
        stack.start()
        started.append(stack)
        ng = services.nginx(d / "nginx", stack.api_port, stack.tls_dir).start(ready_timeout=30)
        started.append(ng)
        prom = services.prometheus(
            d / "prometheus",
            [f"127.0.0.1:{ng.port}"],
            scrape_interval="1s",
            scheme="https",
            ca_file=stack.tls_dir / "ca.pem",
            alertmanager=f"127.0.0.1:{am.port}",
        )
        prom.start(ready_timeout=60)
        started.append(prom)
        tls = ssl.create_default_context(cafile=str(stack.tls_dir / "ca.pem"))
        client = httpx.Client(base_url=ng.url, verify=tls, timeout=10)
        yield {"stack": stack, "nginx": ng, "prom": prom, "am": am, "pager": pager, "client": client, "dir": d}
        client.close()
    finally:
        for svc in reversed(started):
            svc.stop()
        pager.stop()


def _key(stack: Stack, role: str) -> str:
    # As an operator would on the server: the unit's environment, no flags but the key's own.
    env = {**os.environ, **stack.collector_env}
    return subprocess.run(
        [sys.executable, "-m", "pantau", "keys", "create", f"prod-{role}", "--role", role],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    ).stdout.strip()


def test_processes_run_in_production_mode_from_the_environment_only(prod):
    stack = prod["stack"]
    for svc in (stack.collector, stack.api_svc):
        assert svc.argv[-1] in ("collect", "api") and svc.argv[-2] == "pantau", svc.argv  # no flags at all
        assert svc.env["PANTAU_ENV"] == "production"
        assert not any("PASSWORD=" in k or k.endswith("_PASSWORD") for k in svc.env), "secrets only as _FILE"
    shown = subprocess.run(
        [sys.executable, "-m", "pantau", "config", "show", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, **stack.collector_env},
    ).stdout
    cfg = json.loads(shown)
    assert cfg["env"] == {"value": "production", "source": "env PANTAU_ENV"}
    assert cfg["mqtt_tls"]["value"] is True and cfg["influx_username"]["value"] == INFLUX_WRITER
    assert stack.secret("influx-collect") not in shown and stack.secret("mqtt-collector") not in shown


def test_influxdb_users_are_not_admin_and_hold_only_their_grants(prod):
    stack = prod["stack"]
    url = stack.influx.url
    reader = InfluxConf(url, "pantau", INFLUX_READER, stack.secret("influx-api")).client()
    writer = InfluxConf(url, "pantau", INFLUX_WRITER, stack.secret("influx-collect")).client()
    with pytest.raises(InfluxAuthRefused):
        reader.write_lines(["probe v=1i"])  # the API's user may not write
    with pytest.raises(Exception, match="(?i)authoriz|privilege|admin"):
        writer.query('CREATE DATABASE "other"')  # nor may the collector's administer
    users = {r["user"]: r["admin"] for r in stack.db.query_rows("SHOW USERS")}
    assert users == {"admin": True, INFLUX_WRITER: False, INFLUX_READER: False}


def test_polls_readings_and_a_feeder_incident_flow_end_to_end(prod, semarang):
    stack, c, prom, pager = prod["stack"], prod["client"], prod["prom"], prod["pager"]
    assert c.get("/healthz").status_code == 200  # through nginx, the certificate verified against the CA
    with pytest.raises(httpx.ConnectError):
        httpx.get(prod["nginx"].url + "/healthz")  # without the CA: not trusted
    wait(lambda: c.get("/healthz").json()["collector_fresh"], 60, "the collector's live view")
    op = {"X-API-Key": _key(stack, "operator")}

    # Hotspot polls: the whole city answers (SNMP v2c and v3 as the inventory says) and is stored.
    summary = wait(
        lambda: (s := c.get("/api/v1/public/summary").json())["hotspots"]["up"] >= 2200 and s,
        150,
        "the city's hotspots up",
    )
    assert summary["hotspots"]["up"] >= 2200
    n_polled = wait(
        lambda: (n := len(stack.db.query_rows("SHOW TAG VALUES FROM hotspot_poll WITH KEY = hotspot"))) >= 2200 and n,
        60,
        "every hotspot's polls in InfluxDB",
    )

    # Grid readings: through TLS + ACL, as the gateway user, into InfluxDB as pantau-collect.
    def readings():
        rows = stack.db.query_rows("SELECT count(voltage_v) AS n FROM grid_telemetry")
        return rows[0]["n"] if rows else 0

    n0 = wait(readings, 30, "grid readings")
    assert stack.collector.status()["influx"]["state"] == "ok"

    # A feeder trips: one incident with its cause, to the NOC (through nginx), the citizens, Prometheus,
    # and the pager through Alertmanager.
    sim = stack.sim.url
    httpx.post(f"{sim}/_sim/events", json={"action": "feeder_trip", "target": "feeder:SRD-04"}).raise_for_status()
    t_trip = time.monotonic()
    inc = wait(
        lambda: next(
            i
            for i in c.get("/api/v1/incidents", headers=op).json()["items"]
            if i["root"] == "feeder:SRD-04" and i["status"] == "open"
        ),
        120,
        "the feeder incident",
    )
    opened_after = time.monotonic() - t_trip
    assert inc["cause"] == "power_grid"
    assert readings() > n0, "readings keep arriving"
    wait(
        lambda: [a for a in pager.alerts("firing") if a["labels"].get("incident_id") == inc["id"]],
        60,
        "the incident, through Alertmanager, on the pager",
    )
    active = httpx.get(f"{prod['am'].url}/api/v2/alerts").json()
    others = [
        i
        for i in c.get("/api/v1/incidents", headers=op, params={"status": "all"}).json()["items"]
        if i["id"] != inc["id"]
    ]
    assert [a["labels"]["incident_id"] for a in active if a["labels"].get("alertname") == "PantauIncident"] == [
        inc["id"]
    ], json.dumps(others, indent=1)[:4000]
    assert {a["labels"]["incident_id"] for a in pager.alerts("firing")} == {inc["id"]}, "one page per cause"

    def q(expr):
        return httpx.get(f"{prom.url}/api/v1/query", params={"query": expr}).json()["data"]["result"]

    up = wait(lambda: q('up{job="pantau"} == 1'), 30, "Prometheus scraping /metrics through nginx")
    assert up[0]["metric"]["instance"] == f"127.0.0.1:{prod['nginx'].port}"
    wait(lambda: q('pantau_incidents_open{cause="power_grid"} == 1'), 30, "the open incident in Prometheus")
    assert q('pantau_influx_write_state{state="ok"} == 1') and q("pantau_influx_credentials_refused == 0")

    # Restored: the incident closes, Alertmanager resolves it, the pager hears so once.
    httpx.post(f"{sim}/_sim/events", json={"action": "feeder_restore", "target": "feeder:SRD-04"}).raise_for_status()
    wait(
        lambda: c.get(f"/api/v1/incidents/{inc['id']}", headers=op).json()["status"] == "closed",
        180,
        "the incident closed",
    )
    wait(
        lambda: [a for a in pager.alerts("resolved") if a["labels"].get("incident_id") == inc["id"]],
        60,
        "the resolve on the pager",
    )
    firing = [a for a in pager.alerts("firing") if a["labels"].get("incident_id") == inc["id"]]
    assert len(firing) == 1, "one page per cause"
    log = stack.collector.log_path.read_text()
    assert "refuses" not in log and "Traceback" not in log, log[-3000:]
    print(
        f"\n[production topology] {n_polled} hotspots polled, {readings()} grid readings, feeder incident "
        f"opened {opened_after:.1f} s after the trip, paged once through Alertmanager, resolved"
    )


def test_the_broker_refuses_what_the_acl_does_not_allow(prod):
    """The collector's broker user may read grid topics but not publish telemetry; wrong passwords
    and clients that do not verify the CA are refused."""
    import paho.mqtt.client as mqtt

    stack = prod["stack"]
    port = stack.mosquitto.port

    def connect(user, password, ca=True):
        cl = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        cl.username_pw_set(user, password)
        if ca:
            cl.tls_set(ca_certs=str(stack.tls_dir / "ca.pem"))
        else:
            cl.tls_set()  # the system's CAs: Pantau's CA is not among them
        rc = {}
        cl.on_connect = lambda c, u, f, reason, p: rc.setdefault("reason", reason)
        try:
            cl.connect("127.0.0.1", port, 5)
        except (ssl.SSLError, OSError) as exc:
            return None, f"tls: {exc}"
        cl.loop_start()
        wait(lambda: "reason" in rc, 10, "CONNACK")
        return cl, rc["reason"]

    _, bad = connect(MQTT_COLLECTOR, "wrong-password")
    assert bad is not None and getattr(bad, "is_failure", True), bad
    _, untrusted = connect(MQTT_COLLECTOR, stack.secret("mqtt-collector"), ca=False)
    assert isinstance(untrusted, str) and untrusted.startswith("tls:"), untrusted
    cl, ok = connect(MQTT_COLLECTOR, stack.secret("mqtt-collector"))
    try:
        assert not ok.is_failure
        got = []
        cl.on_message = lambda c, u, m: got.append(m.topic)
        probe = "pantau/semarang/grid/feeder/ACL-TEST/telemetry"
        cl.subscribe("pantau/semarang/grid/feeder/+/telemetry", qos=1)
        wait(lambda: got, 20, "grid telemetry readable by the collector")
        cl.publish(probe, b"{}", qos=1).wait_for_publish(5)
        time.sleep(2)
        assert probe not in got, "the collector may not publish telemetry (config/mosquitto.acl)"
        assert got, "while the gateway's telemetry still reaches it"
    finally:
        cl.loop_stop()
        cl.disconnect()
