"""Alerts: receivers as data, routing, grouping, silences, formats, HMAC, and delivery through the
durable outbox to a real local HTTP receiver that is down for a minute (and to Pantau restarting)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alerts.config import load_receivers
from alerts.delivery import AlertDelivery
from alerts.router import AlertRouter, alert_of
from hotspots.datafile import DataFileError
from pantau import services
from store.state import StateDB
from tests.fixtures.webhook import PlainReceiver

SECRET = "s3cret-hmac-key-for-tests"


def receivers_file(tmp_path, port, **over):
    rx = {
        "name": "noc",
        "url": f"http://127.0.0.1:{port}/hook",
        "format": "alertmanager",
        "hmac_secret": "noc-hmac",
        "group_by": ["cause", "root"],
        "group_wait_s": 0.3,
        "group_interval_s": 0.5,
        "repeat_interval_s": 3600,
        "retry_min_s": 0.5,
        "retry_max_s": 4,
    }
    rx.update(over)
    doc = {"external_url": "https://pantau.semarangkota.go.id", "receivers": [rx], "secrets": {"noc-hmac": SECRET}}
    p = tmp_path / "receivers.yaml"
    p.write_text(json.dumps(doc))
    return load_receivers(p)


def incident(iid, cause="power_grid", root="feeder:SRD-04", status="open", affected=40, **kw):
    d = {
        "id": iid,
        "city": "semarang",
        "cause": cause,
        "root": root,
        "status": status,
        "confidence": 0.95,
        "inferred": False,
        "opened_at": 1_800_000_000.0,
        "updated_at": 1_800_000_000.0,
        "closed_at": 1_800_000_300.0 if status == "closed" else None,
        "affected": [f"hotspot:AP-{i:04d}" for i in range(affected)],
        "areas": ["TBL/Sendangmulyo", "TBL/Tandang"],
        "explanation_id": f"Penyulang {root[7:]} padam sejak 12.01 WIB",
        "explanation_en": f"Feeder {root[7:]} down",
        "evidence": ["x"],
        "merged_into": None,
        "detected_at": 1_800_000_000.0,
    }
    d.update(kw)
    return d


class Receiver:
    """A real HTTP receiver on loopback that checks signatures and records what arrived."""

    def __init__(self, port):
        self.port = port
        self.got: list[dict] = []
        self.bad_sig = 0
        self.server = None

    def start(self):
        rec = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ts, sig = self.headers.get("X-Pantau-Timestamp", ""), self.headers.get("X-Pantau-Signature", "")
                want = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(sig, want) or abs(time.time() - int(ts)) > 300:
                    rec.bad_sig += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                rec.got.append(
                    {"id": self.headers["X-Pantau-Delivery"], "body": json.loads(body), "headers": dict(self.headers)}
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()


# --- configuration --------------------------------------------------------------------------------
def test_receivers_file_is_strict_and_secrets_are_redacted(tmp_path, monkeypatch):
    conf = receivers_file(tmp_path, 9)
    assert SECRET not in repr(conf) and SECRET not in str(conf.model_dump())
    bad = tmp_path / "bad.yaml"
    for doc, msg in (
        ({"receivers": [{"name": "a", "url": "http://x", "colour": "red"}]}, "colour"),
        ({"receivers": [{"name": "a", "url": "http://x", "hmac_secret": "nope"}]}, "nope"),
        ({"receivers": [{"name": "a", "url": "ftp://x"}]}, "url"),
        ({"receivers": [{"name": "a", "url": "http://x", "format": "telegram"}]}, "chat_id"),
        ({"receivers": [{"name": "a", "url": "http://x"}, {"name": "a", "url": "http://y"}]}, "duplicate"),
        ({"receivers": [{"name": "a", "url": "http://x", "route": {"causes": ["aliens"]}}]}, "causes"),
    ):
        bad.write_text(json.dumps(doc))
        with pytest.raises(DataFileError) as e:
            load_receivers(bad)
        assert msg in str(e.value), (doc, str(e.value))
    monkeypatch.setenv("PANTAU_SECRET_FROM_ENV", "env-value")
    bad.write_text(json.dumps({"receivers": [{"name": "a", "url": "http://x", "hmac_secret": "from-env"}]}))
    assert load_receivers(bad).secrets["from-env"].get_secret_value() == "env-value"


# --- routing, grouping, silences -----------------------------------------------------------------
def test_one_notification_per_group_silences_and_resolve(tmp_path, database):
    st = StateDB(database)
    conf = receivers_file(tmp_path, 9, group_by=["cause"], route={"min_severity": "warning"})
    r = AlertRouter(conf, st)
    t = 1000.0
    # A feeder trip and two transformer incidents it will absorb: one page.
    r.on_incidents([incident("A", root="transformer:SRD-04-T01", affected=8)], now=t)
    r.on_incidents([incident("B", root="transformer:SRD-04-T02", affected=8)], now=t + 0.1)
    r.on_incidents(
        [
            incident("A", root="feeder:SRD-04"),
            incident("B", root="transformer:SRD-04-T02", status="closed", merged_into="A", affected=8),
        ],
        now=t + 0.2,
    )
    r.on_incidents([incident("D", cause="device", root="hotspot:AP-0042", affected=1)], now=t + 0.2)  # info: not routed
    assert r.flush(now=t + 0.25) == 0, "group_wait not over"
    assert r.flush(now=t + 0.35) == 1
    rows = st.undelivered()
    body = json.loads(rows[0]["body"])
    assert [a["labels"]["incident_id"] for a in body["alerts"]] == ["A"]
    assert body["version"] == "4" and body["status"] == "firing" and body["groupLabels"] == {"cause": "power_grid"}
    assert body["alerts"][0]["labels"]["root"] == "feeder:SRD-04" and body["alerts"][0]["endsAt"].startswith("0001")
    # Nothing new: nothing sent, even later (repeat interval is an hour).
    assert r.flush(now=t + 10) == 0
    # A silence on a root keeps its alert out: the group has nothing new to say.
    st.add_silence([{"name": "root", "value": "feeder:KLS-.*", "is_regex": True, "is_equal": True}], 0, 4e9, "op", "m")
    r.on_incidents([incident("K", root="feeder:KLS-02")], now=t + 20)
    assert r.flush(now=t + 21) == 0 and r.suppressed >= 1
    # An unsilenced one in the same group goes out with the group's other firing alert, not the silenced one.
    r.on_incidents([incident("L", root="feeder:TBR-03")], now=t + 22)
    assert r.flush(now=t + 23) == 1
    alerts = json.loads(st.undelivered()[-1]["body"])["alerts"]
    assert {a["labels"]["incident_id"] for a in alerts} == {"A", "L"}
    # Resolve: sent once, with endsAt.
    r.on_incidents([incident("A", root="feeder:SRD-04", status="closed")], now=t + 30)
    assert r.flush(now=t + 31) == 1
    body = json.loads(st.undelivered()[-1]["body"])
    a = next(a for a in body["alerts"] if a["labels"]["incident_id"] == "A")
    assert a["status"] == "resolved" and not a["endsAt"].startswith("0001")
    # Repeat: a firing group is sent again after repeat_interval.
    r.on_incidents([incident("E", root="feeder:RDG-01")], now=t + 40)
    assert r.flush(now=t + 41) == 1
    assert r.flush(now=t + 41 + 3600) == 1
    # A restarted router knows what it sent: no page for the same state.
    r2 = AlertRouter(conf, st)
    r2.on_incidents([incident("E", root="feeder:RDG-01")], now=t + 3700)
    assert r2.flush(now=t + 3702) == 0
    st.close()


def test_formats(tmp_path):
    from alerts.formats import render
    from alerts.router import Group

    a = alert_of(incident("A"))
    g = Group("k", {"cause": "power_grid"})
    for fmt, check in (
        ("json", lambda d: d["incidents"][0]["explanation"]["id"].startswith("Penyulang")),
        ("slack", lambda d: "GANGGUAN / FIRING" in d["text"] and d["blocks"]),
        (
            "telegram",
            lambda d: (
                d["chat_id"] == "-100123" and d["parse_mode"] == "HTML" and "<b>GANGGUAN / FIRING</b>" in d["text"]
            ),
        ),
    ):
        conf = receivers_file(tmp_path, 9, format=fmt, chat_id="-100123")
        body, headers = render(conf.receivers[0], conf, g, [a], 0)
        assert check(json.loads(body)), fmt
        assert headers["Content-Type"] == "application/json"


# --- delivery ---------------------------------------------------------------------------------------
@pytest.mark.integration
def test_a_growing_outage_pages_once_and_a_new_cause_pages_again(tmp_path, database):
    """Areas, affected counts and wording go out with the next notification; a change of what the
    incident is (cause, root, severity) or its status pages (Alertmanager's rule: annotations do not)."""
    st = StateDB(database)
    r = AlertRouter(receivers_file(tmp_path, 9, group_by=["incident_id"]), st)
    t = 1000.0
    r.on_incidents([incident("G", affected=25, areas=["TBL/Tandang"])], now=t)
    assert r.flush(now=t + 1) == 1
    for k, areas in enumerate((["TBL/Tandang", "TBL/Meteseh"], ["BNY/Pedalangan", "TBL/Meteseh", "TBL/Tandang"])):
        r.on_incidents([incident("G", affected=60 + k * 40, areas=areas, confidence=0.9)], now=t + 10 + k)
        assert r.flush(now=t + 12 + k) == 0  # it grew: no new page
    r.on_incidents([incident("G", cause="planned_maintenance", affected=100)], now=t + 20)
    assert r.flush(now=t + 21) == 1  # it is something else now: a page
    r.on_incidents([incident("G", cause="planned_maintenance", status="closed")], now=t + 30)
    assert r.flush(now=t + 31) == 1
    bodies = [json.loads(x["body"]) for x in st.undelivered()]
    assert [b["status"] for b in bodies] == ["firing", "firing", "resolved"]
    assert bodies[1]["alerts"][0]["annotations"]["affected_hotspots"] == "100"  # the growth rode along


def test_receiver_down_for_a_minute_gets_every_alert_once(tmp_path, database):
    port = services.free_port()
    st = StateDB(database)
    conf = receivers_file(tmp_path, port)
    recv = Receiver(port)
    produced: list[str] = []

    async def scenario():
        router = AlertRouter(conf, st)
        d = AlertDelivery(conf, st, router, tick_s=0.2)
        d.start()
        t0 = time.monotonic()
        n = 0
        # For a minute the receiver is down while incidents open and close.
        while time.monotonic() - t0 < 60:
            n += 1
            router.on_incidents([incident(f"I{n}", root=f"feeder:F-{n:02d}")])
            if n > 2:
                router.on_incidents([incident(f"I{n - 2}", root=f"feeder:F-{n - 2:02d}", status="closed")])
            await asyncio.sleep(5)
        assert d.failures["noc"] >= 3 and d.sent == 0
        # Pantau restarts with notifications still in the outbox.
        await d.stop()
        produced.extend(r["id"] for r in st.undelivered(10_000))
        recv.start()
        router2 = AlertRouter(conf, st)
        d2 = AlertDelivery(conf, st, router2, tick_s=0.2)
        d2.start()
        for _ in range(100):
            if not st.undelivered():
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # anything sent twice would arrive now
        await d2.stop()
        return n

    try:
        n = asyncio.run(scenario())
    finally:
        recv.stop()
    ids = [g["id"] for g in recv.got]
    assert st.undelivered() == []
    assert len(ids) == len(set(ids)), "each notification once"
    assert sorted(ids) == sorted(produced) and len(ids) >= 2 * (n - 2)
    assert recv.bad_sig == 0
    # Every incident fired and all but the last two resolved, in order per group.
    seen: dict[str, list[str]] = {}
    for g in recv.got:
        for a in g["body"]["alerts"]:
            seen.setdefault(a["labels"]["incident_id"], []).append(a["status"])
    assert set(seen) == {f"I{i}" for i in range(1, n + 1)}
    for i in range(1, n - 1):
        assert seen[f"I{i}"] == ["firing", "resolved"], (i, seen[f"I{i}"])
    st.close()


@pytest.mark.integration
def test_unsigned_or_tampered_requests_are_refused_by_the_receiver(tmp_path):
    port = services.free_port()
    recv = Receiver(port).start()
    try:
        import httpx

        body = b'{"x":1}'
        ts = str(int(time.time()))
        r = httpx.post(
            f"http://127.0.0.1:{port}/hook",
            content=body,
            headers={"X-Pantau-Timestamp": ts, "X-Pantau-Signature": "sha256=00"},
        )
        assert r.status_code == 401
        from alerts.delivery import sign

        r = httpx.post(
            f"http://127.0.0.1:{port}/hook",
            content=body + b" ",
            headers={"X-Pantau-Timestamp": ts, "X-Pantau-Signature": sign(SECRET, ts, body), "X-Pantau-Delivery": "x"},
        )
        assert r.status_code == 401
        r = httpx.post(
            f"http://127.0.0.1:{port}/hook",
            content=body,
            headers={"X-Pantau-Timestamp": ts, "X-Pantau-Signature": sign(SECRET, ts, body), "X-Pantau-Delivery": "x"},
        )
        assert r.status_code == 200
    finally:
        recv.stop()


def test_example_receivers_load_and_placeholders_are_refused_in_production(monkeypatch):
    from pathlib import Path

    ex = Path(__file__).resolve().parent.parent / "config" / "receivers.example.yaml"
    conf = load_receivers(ex)
    assert {r.format for r in conf.receivers} == {"alertmanager", "alertmanager_api", "json", "telegram", "slack"}
    from alerts.config import expand_url, redact_url

    tg = next(r for r in conf.receivers if r.format == "telegram")
    assert "123456:ABC" in expand_url(conf, tg.url) and "123456" not in redact_url(tg.url)
    monkeypatch.setenv("PANTAU_ENV", "production")
    with pytest.raises(DataFileError) as e:
        load_receivers(ex)
    assert "placeholder" in str(e.value)
    for name in ("NOC_HMAC", "LAPOR_HMAC", "TELEGRAM_TOKEN", "SLACK_PATH"):
        monkeypatch.setenv(f"PANTAU_SECRET_{name}", f"real-{name.lower()}")
    assert load_receivers(ex).secrets["noc-hmac"].get_secret_value() == "real-noc_hmac"


def test_a_rerooted_incident_moves_group_without_a_stale_firing_left_behind(tmp_path, database):
    st = StateDB(database)
    conf = receivers_file(tmp_path, 9, group_by=["cause", "root"], repeat_interval_s=100)
    r = AlertRouter(conf, st)
    t = 1000.0
    r.on_incidents([incident("A", root="transformer:SRD-04-T03", affected=8)], now=t)
    assert r.flush(now=t + 1) == 1
    r.on_incidents([incident("A", root="feeder:SRD-04")], now=t + 5)
    assert r.flush(now=t + 6) == 1
    body = json.loads(st.undelivered()[-1]["body"])
    assert body["groupLabels"]["root"] == "feeder:SRD-04" and body["alerts"][0]["status"] == "firing"
    r.on_incidents([incident("A", root="feeder:SRD-04", status="closed")], now=t + 50)
    assert r.flush(now=t + 51) == 1
    assert json.loads(st.undelivered()[-1]["body"])["status"] == "resolved"
    assert r.flush(now=t + 500) == 0, "nothing left firing anywhere: no repeats"
    st.close()


def test_incidents_pushed_into_a_real_alertmanager_fire_and_resolve(tmp_path, database):
    """Pantau → Alertmanager API v2 (/api/v2/alerts) → Alertmanager's own webhook: one firing, one resolved."""
    import httpx

    hook = PlainReceiver(services.free_port()).start()
    am_port = services.free_port()
    am_conf = tmp_path / "alertmanager.yml"
    am_conf.write_text(
        json.dumps(
            {
                "route": {
                    "receiver": "noc-hook",
                    "group_by": ["incident_id"],
                    "group_wait": "1s",
                    "group_interval": "1s",
                    "repeat_interval": "1h",
                },
                "receivers": [
                    {
                        "name": "noc-hook",
                        "webhook_configs": [{"url": f"http://127.0.0.1:{hook.port}/am", "send_resolved": True}],
                    }
                ],
            }
        )
    )
    am = services.Service(
        "alertmanager",
        [
            "prometheus-alertmanager",
            f"--config.file={am_conf}",
            f"--storage.path={tmp_path}/am",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ],
        tmp_path,
        "127.0.0.1",
        am_port,
    )
    am.start(ready_timeout=60)
    st = StateDB(database)
    conf = receivers_file(
        tmp_path,
        am_port,
        name="noc-alertmanager",
        format="alertmanager_api",
        hmac_secret=None,
        url=f"http://127.0.0.1:{am_port}/api/v2/alerts",
        group_by=["incident_id"],
    )

    async def until(pred, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not pred():
            await asyncio.sleep(0.2)
        return pred()

    async def scenario():
        router = AlertRouter(conf, st)
        d = AlertDelivery(conf, st, router, tick_s=0.2)
        d.start()
        try:
            now = time.time()
            router.on_incidents([incident("INC-AM-1", opened_at=now, updated_at=now)])
            assert await until(lambda: any(b["status"] == "firing" for b in hook.got), 20), hook.got
            active = httpx.get(f"http://127.0.0.1:{am_port}/api/v2/alerts").json()
            assert [a["labels"]["incident_id"] for a in active] == ["INC-AM-1"]
            assert active[0]["labels"]["alertname"] == "PantauIncident" and active[0]["status"]["state"] == "active"
            assert active[0]["annotations"]["summary_id"].startswith("Penyulang SRD-04 padam")
            router.on_incidents(
                [incident("INC-AM-1", status="closed", opened_at=now, updated_at=now + 1, closed_at=time.time())]
            )
            assert await until(lambda: any(b["status"] == "resolved" for b in hook.got), 20), hook.got
        finally:
            await d.stop()

    try:
        asyncio.run(scenario())
        firing = [a for b in hook.got for a in b["alerts"] if a["status"] == "firing"]
        resolved = [a for b in hook.got for a in b["alerts"] if a["status"] == "resolved"]
        assert len(firing) == 1 and len(resolved) == 1, hook.got
        assert resolved[0]["labels"]["incident_id"] == "INC-AM-1"
    finally:
        st.close()
        am.stop()
        hook.stop()
