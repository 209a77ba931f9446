"""E-government probes against real local HTTP and HTTPS servers: status, content checks,
latency, TLS certificate expiry, thresholds, InfluxDB points, and the `service` incident."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from collectors.egov.probe import EgovProber, load_probe_config
from collectors.sink import MemorySink
from hotspots.datafile import DataFileError
from outages.explainer import Explainer, Settings

pytestmark = pytest.mark.integration


class Site:
    """One server answering /<slug>/status; behaviour per slug is switchable."""

    def __init__(self, tls_cert=None):
        self.mode: dict[str, str] = {}
        site = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                slug = self.path.strip("/").split("/")[0]
                m = site.mode.get(slug, "ok")
                if m == "slow":
                    time.sleep(0.6)
                if m == "hang":  # answers long after any probe timed out
                    time.sleep(4)
                    m = "error"
                code, body = {
                    "ok": (200, {"status": "ok"}),
                    "slow": (200, {"status": "ok"}),
                    "error": (503, {"status": "error"}),
                    "wrong": (200, {"status": "degraded"}),
                    "html": (200, "<html>maintenance</html>"),
                }[m]
                raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        if tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls_cert)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.base = f"{'https' if tls_cert else 'http'}://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def self_signed(tmp_path, days: float):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    c, k = tmp_path / "cert.pem", tmp_path / "key.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(c), str(k)


def conf(tmp_path, semarang, extra=""):
    p = tmp_path / "egov.yaml"
    p.write_text(
        "defaults: {timeout_s: 1, fail_threshold: 3, success_threshold: 2, slow_ms: 400, "
        "cert_warn_days: 14}\nservices:\n"
        "  lapor-hendi: {json_field: status, json_equals: ok}\n"
        "  e-monev: {keyword: maintenance}\n" + extra
    )
    return load_probe_config(p, known=set(semarang.egov))


def test_probe_config_is_strict(tmp_path, semarang):
    p = tmp_path / "bad.yaml"
    for text, msg in (
        ("defaults: {timeout: 1}\n", "timeout"),
        ("services: {lapor-hendy: {}}\n", "lapor-hendy"),
        ("defaults: {fail_threshold: 0}\n", "fail_threshold"),
    ):
        p.write_text(text)
        with pytest.raises(DataFileError) as e:
            load_probe_config(p, known=set(semarang.egov))
        assert msg in str(e.value)


def test_status_content_latency_thresholds_and_incident(tmp_path, semarang):
    site = Site()
    sink = MemorySink()
    # one probe per round here, to count the thresholds (confirmation: the next test)
    pr = EgovProber(semarang, sink, config=conf(tmp_path, semarang), base_url=site.base, confirm=False)
    ex = Explainer(semarang, Settings())
    events = []
    pr.health.listeners.append(
        lambda ev: (
            events.append(ev),
            ex.feed(ev.at, "health", ev.element, {"kind": ev.kind, "old": ev.old, "new": ev.new, "reason": ev.reason}),
        )
    )

    async def rounds(n):
        out = []
        for _ in range(n):
            out.append({r["service"]: r for r in await pr.gather()})
        return out

    try:
        site.mode["e-monev"] = "html"  # its keyword check passes on this page
        r = asyncio.run(rounds(1))[0]
        assert r["lapor-hendi"]["ok"] and r["lapor-hendi"]["status_code"] == 200 and r["e-monev"]["ok"]
        assert all(pr.health.get(f"egov:{s}").state == "up" for s in semarang.egov)
        # Failing for two probes: still up (threshold 3); the third takes it down; one incident.
        site.mode["lapor-hendi"] = "error"
        site.mode["e-monev"] = "ok"  # keyword missing
        site.mode["e-katalog"] = "slow"  # good but slow: degraded, not down
        site.mode["ijus-melon"] = "wrong"  # a JSON answer without the expected content
        res = asyncio.run(rounds(2))
        assert pr.health.get("egov:lapor-hendi").state == "up"
        res += asyncio.run(rounds(1))
        assert pr.health.get("egov:lapor-hendi").state == "down"
        assert res[-1]["lapor-hendi"]["error"] == "HTTP 503"
        assert pr.health.get("egov:e-monev").state == "down"
        assert "keyword 'maintenance' missing" in res[-1]["e-monev"]["error"]
        assert pr.health.get("egov:e-katalog").state == "degraded"
        assert pr.health.get("egov:ijus-melon").state == "down"
        assert "slow answer" in pr.health.get("egov:e-katalog").reasons[0]
        ex.tick(time.time())
        incs = {i.root: i for i in ex.open_incidents()}
        assert set(incs) == {"egov:lapor-hendi", "egov:e-monev", "egov:ijus-melon"}
        lh = incs["egov:lapor-hendi"]
        assert lh.cause == "service" and lh.affected == [] and "Lapor Hendi" in lh.explanation_id
        assert "HTTP 503" in lh.explanation_en
        # Points for InfluxDB: one per probe, up 0/1, latency, status code.
        pts = [p for p in sink.points if p.measurement == "egov_probe" and p.tags["service"] == "lapor-hendi"]
        assert [p.fields["up"] for p in pts] == [1, 0, 0, 0] and all("latency_ms" in p.fields for p in pts)
        assert any(p.measurement == "egov_event" and p.fields["new"] == "down" for p in sink.points)
        # Recovery needs two good probes; then the incident closes.
        site.mode.update({"lapor-hendi": "ok", "e-monev": "html", "ijus-melon": "ok", "e-katalog": "ok"})
        asyncio.run(rounds(1))
        assert pr.health.get("egov:lapor-hendi").state == "down"
        asyncio.run(rounds(1))
        assert pr.health.get("egov:lapor-hendi").state == "up"
        ex.tick(time.time() + 1)
        assert {i.root for i in ex.open_incidents()} == set()
        # A service that does not answer at all (connection refused) is down after the threshold too.
        site.stop()
        asyncio.run(rounds(3))
        assert pr.health.get("egov:lapor-hendi").state == "down"
        assert "ConnectError" in pr.last["lapor-hendi"]["error"]
    finally:
        asyncio.run(pr.stop())
        try:
            site.stop()
        except Exception:
            pass


def test_a_failed_probe_is_confirmed_within_an_interval(tmp_path, semarang):
    """One failed probe is re-probed at once (spaced over the interval): down after the threshold's
    probes within about one interval, not three; one lost request is cleared by the next probe."""
    site = Site()
    pr = EgovProber(semarang, MemorySink(), config=conf(tmp_path, semarang), base_url=site.base, intervals={"egov": 3})
    kinds = []
    pr.health.listeners.append(lambda ev: kinds.append((ev.element, ev.kind, ev.new)))

    async def scenario():
        await pr.gather()
        site.mode["lapor-hendi"] = "error"
        site.mode["e-monev"] = "html"
        await pr.gather()  # one failed probe: not down yet
        assert pr.health.get("egov:lapor-hendi").state == "up"
        assert "lapor-hendi" in pr._confirmers  # being confirmed
        await asyncio.sleep(1.6)  # two confirmations, 1 s apart (the first at once)
        assert pr.health.get("egov:lapor-hendi").state == "down"
        site.mode["e-katalog"] = "error"
        await pr.gather()
        site.mode["e-katalog"] = "ok"
        await asyncio.sleep(1.5)
        assert pr.health.get("egov:e-katalog").state == "up"
        await pr.stop()

    try:
        asyncio.run(scenario())
        assert ("egov:lapor-hendi", "state", "down") in kinds
        assert ("egov:e-katalog", "clear", "up") in kinds and ("egov:e-katalog", "state", "down") not in kinds
    finally:
        site.stop()


def test_probes_of_a_hanging_service_overlap_and_stale_answers_do_not_count(tmp_path, semarang):
    """Timeouts are real seconds while intervals may be scaled: a probe waiting out its timeout
    does not hold the next ones (confirmations go out 1 s apart without waiting), and an answer to
    an old probe that arrives after newer ones (it timed out after the service came back) does
    not move the health back."""
    site = Site()
    c = conf(tmp_path, semarang).model_copy(
        update={"defaults": conf(tmp_path, semarang).defaults.model_copy(update={"timeout_s": 2.0})}
    )
    pr = EgovProber(semarang, MemorySink(), config=c, base_url=site.base, intervals={"egov": 3})

    async def scenario():
        await pr.gather()
        site.mode["lapor-hendi"] = "hang"
        t0 = time.monotonic()
        await pr.gather()  # times out after 2 s; confirmations at +0 s and +1 s, 2 s each
        while pr.health.get("egov:lapor-hendi").state != "down" and time.monotonic() - t0 < 10:
            await asyncio.sleep(0.1)
        took = time.monotonic() - t0
        assert pr.health.get("egov:lapor-hendi").state == "down" and took < 5.5, took  # sequential: 3 x 2 s + 2 s
        # an old probe still in flight when the service is back: its late failure is stale
        stale = asyncio.get_running_loop().create_task(pr._probe_tracked("lapor-hendi"))
        await asyncio.sleep(0.2)
        site.mode["lapor-hendi"] = "ok"
        await pr.gather()
        await pr.gather()
        assert pr.health.get("egov:lapor-hendi").state == "up"
        res = await stale
        assert res.get("stale") and pr.health.get("egov:lapor-hendi").state == "up"
        await pr.stop()

    try:
        asyncio.run(scenario())
    finally:
        site.stop()


def test_tls_certificate_expiry(tmp_path, semarang):
    cert = self_signed(tmp_path, days=5)
    site = Site(tls_cert=cert)
    c = conf(tmp_path, semarang, f"  e-katalog: {{ca_file: {cert[0]}}}\n")
    pr = EgovProber(semarang, MemorySink(), config=c, base_url=site.base)
    try:
        r = asyncio.run(pr.probe("e-katalog"))
        assert r["ok"] and 4.9 < r["cert_days_left"] < 5.01
        assert pr.health.get("egov:e-katalog").state == "degraded"
        assert "TLS certificate expires in 5.0 days" in pr.health.get("egov:e-katalog").reasons[0]
        # Without the CA the certificate is not trusted: a failed probe with a TLS reason.
        r = asyncio.run(pr.probe("e-monev"))
        assert not r["ok"] and "CERTIFICATE_VERIFY_FAILED" in r["error"]
    finally:
        asyncio.run(pr.stop())
        site.stop()


def test_each_city_has_its_probe_file():
    """A city's own cities/<city>/egov.yaml is used when it has one: Batang's services are not
    Semarang's, and Semarang's file names services Batang does not have (refused, with the line)."""
    from collectors.egov.probe import CONFIG_FILE, probe_file_of
    from hotspots.inventory import load_inventory, resolve_city

    batang = load_inventory(resolve_city("batang"))
    semarang = load_inventory(resolve_city("semarang"))
    assert probe_file_of(semarang) == CONFIG_FILE
    own = probe_file_of(batang)
    assert own.parent.name == "batang"
    assert set(load_probe_config(own, known=set(batang.egov)).services) == set(batang.egov)
    with pytest.raises(DataFileError, match="unknown e-government service 'lapor-hendi'"):
        load_probe_config(CONFIG_FILE, known=set(batang.egov))


def test_a_busy_collector_loop_does_not_make_a_quick_service_slow(tmp_path, semarang):
    """The probe is timed on its own thread: a collector whose event loop is held (an overloaded
    node, a long callback) still measures the service's latency, not its own wait (slow_ms 400)."""
    site = Site()
    pr = EgovProber(semarang, MemorySink(), config=conf(tmp_path, semarang), base_url=site.base)

    async def probe_while_the_loop_is_held() -> dict:
        task = asyncio.get_running_loop().create_task(pr.probe("e-katalog"))
        await asyncio.sleep(0.05)  # the request is on its way
        time.sleep(0.8)  # the loop held longer than slow_ms
        return await task

    try:
        r = asyncio.run(probe_while_the_loop_is_held())
        assert r["ok"] and r["latency_ms"] < 300 and not r["problems"], r
        site.mode["e-katalog"] = "slow"  # a service that is slow still is (0.6 s > slow_ms)
        r = asyncio.run(pr.probe("e-katalog"))
        assert r["ok"] and r["latency_ms"] >= 550 and r["problems"] == [f"slow answer {r['latency_ms']:.0f} ms"], r
    finally:
        asyncio.run(pr.stop())
        site.stop()
