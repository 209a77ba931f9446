"""The simulated city over real UDP, checked with net-snmp's tools, pysnmp and a real broker."""

import asyncio
import json
import subprocess
import time

import httpx
import paho.mqtt.client as mqtt
import pytest

from snmpwire import ber

pytestmark = pytest.mark.integration
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"


def _creds_args(inv, h):
    p = inv.credentials.profiles[h.credentials]
    if p.version == "2c":
        return ["-v2c", "-c", p.community.get_secret_value()]
    return [
        "-v3",
        "-l",
        "authPriv",
        "-u",
        p.user,
        "-a",
        p.auth_protocol,
        "-A",
        p.auth_password.get_secret_value(),
        "-x",
        p.priv_protocol,
        "-X",
        p.priv_password.get_secret_value(),
    ]


def snmpget(inv, sim, hid, *oids, timeout=1, retries=0):
    h = inv.hotspots[hid] if hid in inv.hotspots else inv.switches[hid]
    args = (
        ["snmpget", "-On", "-Oq", "-Ot", "-t", str(timeout), "-r", str(retries)]
        + _creds_args(inv, h)
        + [f"{h.address}:{sim.snmp_port}", *oids]
    )
    r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout.strip()


def control(sim, action, target, **kw):
    r = httpx.post(f"{sim.url}/_sim/events", json={"action": action, "target": target, **kw}, timeout=5)
    assert r.status_code == 200, r.text


def answers(inv, sim, hid) -> bool:
    return snmpget(inv, sim, hid, SYS_UPTIME, timeout=1)[0] == 0


def first_with(inv, hotspot_ids, profile):
    return next(h for h in hotspot_ids if inv.hotspots[h].credentials == profile)


@pytest.mark.parametrize("profile", ["public-v2c", "noc-v3-sha-aes", "noc-v3-sha256-aes256"])
def test_net_snmp_snmpget_with_each_credentials_profile(semarang, sim, profile):
    hid = first_with(semarang, sorted(semarang.hotspots), profile)
    rc, out = snmpget(semarang, sim, hid, SYS_NAME, SYS_UPTIME, timeout=2, retries=1)
    assert rc == 0, out
    assert semarang.hotspots[hid].name in out


def test_wrong_credentials_get_no_data(semarang, sim):
    hid = first_with(semarang, sorted(semarang.hotspots), "noc-v3-sha-aes")
    h = semarang.hotspots[hid]
    r = subprocess.run(
        [
            "snmpget",
            "-v3",
            "-l",
            "authPriv",
            "-u",
            "pantau-noc",
            "-a",
            "SHA",
            "-A",
            "not-the-password",
            "-x",
            "AES",
            "-X",
            "semarang-priv-2026",
            "-t",
            "1",
            "-r",
            "0",
            f"{h.address}:{sim.snmp_port}",
            SYS_UPTIME,
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "Authentication failure" in r.stderr
    v2 = first_with(semarang, sorted(semarang.hotspots), "public-v2c")
    r = subprocess.run(
        [
            "snmpget",
            "-v2c",
            "-c",
            "wrong",
            "-t",
            "0.5",
            "-r",
            "0",
            f"{semarang.hotspots[v2].address}:{sim.snmp_port}",
            SYS_UPTIME,
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "Timeout" in r.stderr


def test_pysnmp_reference_client_reads_v3_and_counters_move(semarang, sim):
    from pysnmp.hlapi.v3arch.asyncio import (
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        UsmUserData,
        get_cmd,
        usmAesCfb128Protocol,
        usmHMACSHAAuthProtocol,
    )

    hid = first_with(semarang, sorted(semarang.hotspots), "noc-v3-sha-aes")
    h = semarang.hotspots[hid]

    async def read():
        engine = SnmpEngine()
        user = UsmUserData(
            "pantau-noc",
            "semarang-auth-2026",
            "semarang-priv-2026",
            authProtocol=usmHMACSHAAuthProtocol,
            privProtocol=usmAesCfb128Protocol,
        )
        target = await UdpTransportTarget.create((h.address, sim.snmp_port), timeout=2, retries=1)
        err, status, _, vbs = await get_cmd(
            engine,
            user,
            target,
            ContextData(),
            ObjectType(ObjectIdentity("1.3.6.1.2.1.31.1.1.1.10.1")),
            ObjectType(ObjectIdentity("1.3.6.1.2.1.2.2.1.16.1")),
            lookupMib=False,
        )
        engine.close_dispatcher()
        assert err is None and int(status) == 0, err
        return int(vbs[0][1]), int(vbs[1][1])

    hc1, c1 = asyncio.run(read())
    assert hc1 % 2**32 == c1
    time.sleep(2.5)
    hc2, _ = asyncio.run(read())
    assert hc2 > hc1


def test_feeder_trip_ups_and_restore_with_traps(semarang, sim, trap_socket):
    hs = semarang.hotspots_below("feeder:SRD-04")
    plain = [
        h for h in hs if semarang.hotspots[h].ups_minutes == 0 and semarang.hotspots[h].credentials == "public-v2c"
    ]
    ups = [h for h in hs if semarang.hotspots[h].ups_minutes > 0]
    assert plain and ups
    up_before = int(snmpget(semarang, sim, plain[0], SYS_UPTIME)[1].split()[-1])
    _drain(trap_socket)
    control(sim, "feeder_trip", "feeder:SRD-04")
    time.sleep(0.5)
    assert not answers(semarang, sim, plain[0])
    assert answers(semarang, sim, ups[0]), "a hotspot on UPS keeps running"
    switch = semarang.hotspots[plain[0]].switch
    assert answers(semarang, sim, switch), "the switch is on protected power"
    traps = _drain(trap_socket, 1.0)
    assert any(ber.dec_oid(ber.enc_oid((1, 3, 6, 1, 6, 3, 1, 1, 5, 3))[2:]) in t for t in traps), (
        "linkDown from the switch"
    )
    control(sim, "feeder_restore", "feeder:SRD-04")
    deadline = time.time() + 15
    while not answers(semarang, sim, plain[0]):
        assert time.time() < deadline, "hotspot did not boot after power returned"
        time.sleep(0.5)
    up_after = int(snmpget(semarang, sim, plain[0], SYS_UPTIME)[1].split()[-1])
    assert up_after < up_before and up_after < 10 * 100
    traps = _drain(trap_socket, 1.0)
    assert any((1, 3, 6, 1, 6, 3, 1, 1, 5, 1) in t for t in traps), "coldStart after boot"


def _drain(sock, wait=0.0):
    out, deadline = [], time.time() + wait
    while True:
        try:
            data, _ = sock.recvfrom(65535)
        except (TimeoutError, OSError):
            if time.time() >= deadline:
                return out
            continue
        try:
            msg = ber.decode_message(data)
        except ber.BERError:
            continue
        if msg.version == 1:
            out.append([vb.value() for vb in msg.pdu.varbinds])
        else:
            out.append(["v3-trap"])


def test_switch_fail_silences_its_hotspots_only(semarang, sim):
    below = semarang.hotspots_below("switch:SW-TBL-01")
    victim = first_with(semarang, below, "public-v2c")
    other = first_with(semarang, semarang.hotspots_below("switch:SW-TBL-02"), "public-v2c")
    control(sim, "switch_fail", "switch:SW-TBL-01")
    time.sleep(0.4)
    assert not answers(semarang, sim, victim)
    assert not answers(semarang, sim, "SW-TBL-01")
    assert answers(semarang, sim, other)
    control(sim, "switch_restore", "switch:SW-TBL-01")
    time.sleep(0.4)
    assert answers(semarang, sim, victim), "uplink restored: answers at once, no reboot"


def test_reboot_resets_uptime(semarang, sim):
    hid = "AP-1234"
    before = int(snmpget(semarang, sim, hid, SYS_UPTIME)[1].split()[-1])
    control(sim, "hotspot_reboot", f"hotspot:{hid}", down_s=20, _at=0)  # 2 s at time scale 10
    time.sleep(0.4)
    assert not answers(semarang, sim, hid)
    time.sleep(2.5)
    rc, out = snmpget(semarang, sim, hid, SYS_UPTIME, timeout=2)
    assert rc == 0 and int(out.split()[-1]) < before


def test_control_api_refuses_unknown_targets(sim):
    r = httpx.post(f"{sim.url}/_sim/events", json={"action": "feeder_trip", "target": "feeder:NOPE-01"})
    assert r.status_code == 400 and "NOPE-01" in r.text


def test_egov_services_fail_and_recover(sim):
    assert httpx.get(f"{sim.url}/lapor-hendi/status").json()["status"] == "ok"
    control(sim, "egov_fail", "egov:lapor-hendi")
    assert httpx.get(f"{sim.url}/lapor-hendi/status").status_code == 503
    control(sim, "egov_restore", "egov:lapor-hendi")
    assert httpx.get(f"{sim.url}/lapor-hendi/status").status_code == 200


def test_grid_telemetry_over_mqtt(semarang, sim, mosquitto_service):
    got: dict[str, list] = {}
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.on_message = lambda cl, ud, m: got.setdefault(m.topic, []).append(m.payload)
    c.connect("127.0.0.1", mosquitto_service.port)
    c.subscribe("pantau/semarang/grid/#", qos=1)
    c.loop_start()
    try:
        control(sim, "telemetry_loss", "transformer:SRD-04-T01")
        control(sim, "feeder_trip", "feeder:KLS-02")
        control(sim, "maintenance_notice", "feeder:KLS-02", start_s=60, end_s=240, reason="Pemeliharaan", _at=10)
        time.sleep(0.2)
        got.clear()
        time.sleep(2.5)  # two telemetry intervals at time scale 10
        feeders = {t for t in got if "/feeder/" in t and t.endswith("/telemetry")}
        transformers = {t for t in got if "/transformer/" in t}
        assert len(feeders) == len(semarang.feeders)
        assert len(transformers) == len(semarang.transformers) - 1
        assert "pantau/semarang/grid/transformer/SRD-04-T01/telemetry" not in got
        kls = json.loads(got["pantau/semarang/grid/feeder/KLS-02/telemetry"][-1])
        assert kls["breaker"] == "open" and kls["voltage_v"] < 10 and kls["element"] == "feeder:KLS-02"
        ok = json.loads(got["pantau/semarang/grid/feeder/KLS-01/telemetry"][-1])
        assert ok["breaker"] == "closed" and 19000 < ok["voltage_v"] < 21000 and 49.9 < ok["frequency_hz"] < 50.1
    finally:
        control(sim, "feeder_restore", "feeder:KLS-02")
        control(sim, "telemetry_restore", "transformer:SRD-04-T01")
        c.loop_stop()
        c.disconnect()
    # The notice is retained: a late subscriber still gets it.
    late: list = []
    c2 = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c2.on_message = lambda cl, ud, m: late.append((m.topic, m.retain, m.payload))
    c2.connect("127.0.0.1", mosquitto_service.port)
    c2.subscribe("pantau/semarang/grid/maintenance/#", qos=1)
    c2.loop_start()
    time.sleep(0.5)
    c2.loop_stop()
    c2.disconnect()
    mine = [x for x in late if x[0] == "pantau/semarang/grid/maintenance/feeder/KLS-02"]  # other tests' notices too
    assert mine and mine[0][1] and json.loads(mine[0][2])["reason"] == "Pemeliharaan"
