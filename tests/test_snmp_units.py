"""Device profiles (strict data), counters (wrap, reset, absurd deltas), health (hysteresis, traps),
declared jobs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from collectors.schedule import load_jobs
from collectors.snmp.counters import CounterTracker
from collectors.snmp.engine import V3, Target, V2c
from collectors.snmp.profiles import PROFILES_DIR, load_profiles
from hotspots.datafile import DataFileError
from hotspots.health import HealthTracker


def test_shipped_profiles_cover_every_vendor_and_the_wlc(semarang):
    ps = load_profiles()
    for vendor in {h.vendor for h in semarang.hotspots.values()}:
        assert ps.for_vendor(vendor).name != "generic", vendor
    assert ps.controller_profile("cisco").name == "cisco-wlc"
    unifi = ps.for_vendor("ubiquiti")
    assert "interfaces" in unifi.tables and "vaps" in unifi.tables  # extends generic
    cols = unifi.walk_columns
    assert (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6) in cols and (
        1,
        3,
        6,
        1,
        2,
        1,
        2,
        2,
        1,
        10,
    ) in cols  # HC + 32-bit fallback


@pytest.mark.parametrize(
    "mutation,message",
    [
        (("tables:", "tabels:"), "tabels"),  # unknown key
        (("oid: 1.3.6.1.4.1.14988.1.1.1.3.1", "oid: MIKROTIK-MIB::mtxrWlApEntry"), None),
        (("type: gauge, combine: sum}", "type: gaugee, combine: sum}"), "type"),
        (("extends: generic", "extends: genric"), "unknown profile 'genric'"),
    ],
)
def test_profiles_are_loaded_strictly(tmp_path, mutation, message):
    for f in PROFILES_DIR.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    p = tmp_path / "mikrotik.yaml"
    text = p.read_text()
    old, new = mutation
    if old.startswith("oid: 1.3.6.1.4.1.14988"):
        old, new = "entry: 1.3.6.1.4.1.14988.1.1.1.3.1", "entry: MIKROTIK-MIB::mtxrWlApEntry"
    assert old in text
    p.write_text(text.replace(old, new, 1))
    with pytest.raises(DataFileError) as e:
        load_profiles(tmp_path)
    msg = str(e.value)
    assert "mikrotik.yaml:" in msg  # file and line
    if message:
        assert message in msg


def test_a_summary_must_name_a_column(tmp_path):
    for f in PROFILES_DIR.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    g = tmp_path / "generic.yaml"
    g.write_text(g.read_text().replace("cpu_pct: {mean: load}", "cpu_pct: {mean: lode}"))
    with pytest.raises(DataFileError, match="unknown column 'lode'"):
        load_profiles(tmp_path)


def test_credentials_never_print():
    t = Target("AP-1", "127.0.0.1", 161, V3("noc", "SHA", "very-secret-auth", "AES", "very-secret-priv"))
    v = Target("AP-2", "127.0.0.1", 161, V2c(b"community-secret"))
    for text in (repr(t), str(t), repr(v), str(v)):
        assert "very-secret" not in text and "community-secret" not in text


def test_counter32_wrap_counter64_reset_and_absurd_deltas():
    c = CounterTracker()
    assert c.rate(("if", 1), 2**32 - 1000, 32, 0.0, 8) is None  # first sample
    assert c.rate(("if", 1), 1000, 32, 10.0, 8) == pytest.approx(2000 / 10 * 8)  # wrapped once
    assert c.stats.wraps == 1
    assert c.rate(("hc", 1), 5 * 10**12, 64, 0.0) is None
    assert c.rate(("hc", 1), 10, 64, 10.0) is None  # 64-bit going backwards: a reset, not a wrap
    assert c.stats.resets == 1
    assert c.rate(("lim", 1), 0, 64, 0.0, 8, limit=1e6) is None
    assert c.rate(("lim", 1), 10**9, 64, 10.0, 8, limit=1e6) is None  # 800 Mbit/s on a 1 Mbit/s link
    assert c.stats.absurd == 1
    assert c.rate(("lim", 1), 10**9 + 1000, 64, 20.0, 8, limit=1e6) == pytest.approx(800.0)
    assert c.rate(("mix", 1), 100, 32, 0.0) is None
    assert c.rate(("mix", 1), 200, 64, 10.0) is None  # switched to the 64-bit source: restart
    c.reset()
    assert c.rate(("mix", 1), 300, 64, 20.0) is None


def test_health_hysteresis_and_traps():
    h = HealthTracker(fail_threshold=3, recover_threshold=2)
    events = []
    h.listeners.append(events.append)
    e = "hotspot:AP-0001"
    assert h.observe(e, True, 1.0).new == "up"
    assert h.observe(e, False, 2.0, "timeout") is None
    assert h.observe(e, False, 3.0, "timeout") is None
    assert h.get(e).state == "up" and "failing: 2/3" in h.get(e).reasons[0]
    ev = h.observe(e, False, 4.0, "timeout")
    assert ev.new == "down" and ev.old == "up" and ev.at == 4.0 and "3 failed polls" in ev.reason
    assert h.observe(e, False, 5.0, "timeout") is None  # already down: no new event
    assert h.observe(e, True, 6.0) is None  # one good poll is not enough
    assert h.observe(e, True, 7.0).new == "up"
    assert h.observe(e, True, 8.0, problems=["slow answer (1500 ms)"]).new == "degraded"
    assert h.observe(e, True, 9.0).new == "up"
    # traps act at once
    ev = h.link_down(e, 10.0, "linkDown on SW-BNY-01 port ifIndex 2")
    assert ev.new == "down" and ev.source == "trap"
    h.rebooted(e, 11.0, "coldStart trap", source="trap")
    assert h.get(e).state == "up"
    assert h.rebooted(e, 12.0, "sysUpTime dropped", source="poll") is None  # the same reboot, seen by the poll
    assert h.rebooted(e, 1000.0, "sysUpTime dropped", source="poll").kind == "reboot"  # a later one counts
    kinds = [x.kind for x in events]
    assert kinds.count("reboot") == 2 and kinds.count("trap") == 1
    assert [x.new for x in events if x.kind == "state"] == ["up", "down", "up", "degraded", "up", "down", "up"]
    assert h.counts()["up"] == 1


def test_a_lost_answer_is_a_suspect_then_a_clear_and_last_seen_is_the_good_poll():
    h = HealthTracker(fail_threshold=3, recover_threshold=2)
    events = []
    h.listeners.append(events.append)
    e = "hotspot:AP-0002"
    h.observe(e, True, 1.0)
    h.observe(e, False, 2.0, "timeout")
    h.observe(e, False, 3.0, "timeout")
    assert h.observe(e, True, 4.0) is None  # state unchanged (up) ...
    assert [(x.kind, x.at) for x in events[1:]] == [("suspect", 2.0), ("clear", 4.0)]  # ... but said once
    assert h.get(e).last_seen == 4.0
    h.observe(e, True, 5.0)  # a good poll after good polls says nothing
    for t in (6.0, 7.0, 8.0):
        h.observe(e, False, t, "timeout")
    h.observe(e, True, 9.0)  # down: recovering is a state change, never a clear
    assert [x.kind for x in events[3:]] == ["suspect", "state"]


def test_a_failed_poll_overtaken_by_a_newer_answer_is_no_failure():
    """A poll sent at 10.0 waits out its timeouts (recorded at ~12.0) while the confirmation poll
    sent at 11.0 is answered at once (recorded first): the device answered after the old poll was
    sent, so the old failure is history — not a suspect dating the hotspot's darkness at 10.0
    (demo-day: a hotspot on a feeder that tripped at ~13 s became a 'device' incident)."""
    h = HealthTracker(fail_threshold=3, recover_threshold=2)
    events = []
    h.listeners.append(events.append)
    e = "hotspot:AP-0664"
    h.observe(e, True, 1.0)
    h.observe(e, True, 11.0)  # the newer poll's answer comes first
    assert h.observe(e, False, 10.0, "timeout") is None
    assert [x.kind for x in events[1:]] == [] and h.get(e).fails == 0 and h.get(e).last_seen == 11.0
    # failures in order still count: three newer ones take it down, dated by their own polls
    for t in (12.0, 13.0, 14.0):
        h.observe(e, False, t, "timeout")
    assert [(x.kind, x.at) for x in events[1:]] == [("suspect", 12.0), ("state", 14.0)]


def test_a_down_says_when_its_own_run_of_failed_polls_began():
    """The explainer dates a hotspot's darkness by the first failed poll of the run that took it
    down: an older lost answer (withdrawn by a good poll, here or on the node that polled it before
    a handover) is not that start."""
    h = HealthTracker(fail_threshold=3, recover_threshold=2)
    e = "hotspot:AP-0003"
    h.observe(e, True, 1.0)
    h.observe(e, False, 2.0, "timeout")  # a lost answer
    h.observe(e, True, 3.0)
    for t in (5.0, 6.0):
        assert h.observe(e, False, t, "timeout") is None
    ev = h.observe(e, False, 7.0, "timeout")
    assert (ev.new, ev.at, ev.first_fail) == ("down", 7.0, 5.0) and ev.as_dict()["first_fail"] == 5.0
    h.observe(e, True, 8.0)
    assert (
        h.observe(e, True, 9.0).first_fail is None
        and "first_fail" not in h.observe(e, True, 10.0, problems=["x"]).as_dict()
    )
    assert h.link_down(e, 20.0, "linkDown").first_fail == 20.0  # a trap: the failure began with it


def test_jobs_are_declared_and_checked(tmp_path):
    from collectors.snmp.collector import ALL_RUNS

    jobs = load_jobs(known=ALL_RUNS, overrides={"hotspots": 5})
    assert {j.name for j in jobs} == {"hotspots", "switches", "controllers", "egov"}
    assert next(j for j in jobs if j.name == "hotspots").interval_s == 5
    bad = tmp_path / "jobs.yaml"
    bad.write_text(
        "jobs:\n  - {name: x, runs: snmp.switches, interval_s: 10}\n  - {name: hotspots, runs: snmp.hotspot, "
        "interval_s: 60}\n"
    )
    with pytest.raises(DataFileError) as e:
        load_jobs(bad, known={"snmp.hotspots", "snmp.switches"})
    assert "jobs.yaml:3" in str(e.value) and "unknown runnable 'snmp.hotspot'" in str(e.value)
    bad.write_text("jobs:\n  - {name: x, runs: snmp.switches, interval_s: -1, every: 3}\n")
    with pytest.raises(DataFileError) as e:
        load_jobs(bad, known={"snmp.switches"})
    assert "interval_s" in str(e.value) and "every" in str(e.value)
    with pytest.raises(DataFileError, match="unknown job 'nope'"):
        load_jobs(known=ALL_RUNS, overrides={"nope": 1})
    assert Path(__file__).parent.parent.joinpath("collectors", "jobs.yaml").exists()


# ---------------------------------------------------------------------------- GET plans
class MibEngine:
    """The poller's view of an agent (get / walk / scalars_and_walk) over a dict MIB the test edits:
    the poller's planning logic alone, without sockets (the engine's wire side is tested against
    net-snmp in test_snmp_engine.py)."""

    def __init__(self, mib: dict):
        self.mib = mib
        self.calls: list[str] = []

    def _vb(self, oid, tag=None, raw=b""):
        from snmpwire import ber

        if tag is None:
            tag, raw = self.mib[oid]
        return ber.VarBind(oid, ber.oid_content(oid), tag, raw)

    async def get(self, target, oids, varbind_list=None):
        from snmpwire import ber

        self.calls.append("get")
        return [self._vb(o) if o in self.mib else self._vb(o, ber.NO_SUCH_INSTANCE) for o in oids]

    async def request(self, target, tag, varbind_list, a=0, b=0):
        """A GET sent as its encoded varbind list (the poller's GET plans)."""
        from snmpwire import ber

        assert tag == ber.GET
        body = ber.enc_int(1) + ber.enc_int(0) + ber.enc_int(0) + varbind_list
        pdu = ber.tlv(ber.GET, body)
        asked = ber.decode_pdu(pdu, 0, len(pdu))
        vbs = await self.get(target, [vb.oid for vb in asked.varbinds])
        return ber.Pdu(ber.RESPONSE, 1, 0, 0, vbs)

    def _walk(self, columns):
        return {
            c: [(o[len(c) :], self._vb(o)) for o in sorted(self.mib) if o[: len(c)] == c and len(o) > len(c)]
            for c in columns
        }

    async def walk(self, target, columns, max_repetitions=10, max_rows=2000):
        self.calls.append("walk")
        return self._walk(columns)

    async def scalars_and_walk(self, target, scalars, columns, max_repetitions=10, max_rows=2000):
        from snmpwire import ber

        self.calls.append("walk")
        return [self._vb(s) if s in self.mib else self._vb(s, ber.NO_SUCH_OBJECT) for s in scalars], self._walk(columns)


def _mib_of(profile, rows: dict[str, list[int]], uptime_ticks: int) -> dict:
    """A device answering every column of ``profile`` for the given row indexes per table."""
    from snmpwire import ber

    values = {
        "integer": (ber.INTEGER, ber.enc_int(1)[2:]),
        "gauge": (ber.GAUGE32, b"\x05"),
        "timeticks": (ber.TIMETICKS, b"\x05"),
        "counter32": (ber.COUNTER32, b"\x05"),
        "counter64": (ber.COUNTER64, b"\x05"),
        "string": (ber.OCTET_STRING, b"wlan0"),
        "oid": (ber.OID, b"\x2b\x06"),
    }
    mib = {o: (ber.TIMETICKS, uptime_ticks.to_bytes(4, "big")) for o in profile.scalar_oids}
    for t in profile.tables.values():
        for oid, (kind, name) in t.walk.items():
            typ = "string" if kind == "label" else t.columns[name].type
            for i in rows.get(t.name, []):
                mib[oid + (i,)] = values[typ]
    return mib


def test_a_device_with_known_rows_is_polled_by_one_get_until_its_rows_change(semarang):
    from collectors.sink import MemorySink
    from collectors.snmp import poller as P

    profiles = load_profiles()
    ap = next(h for h in semarang.hotspots.values() if profiles.for_vendor(h.vendor).name == "unifi")
    prof = profiles.for_vendor(ap.vendor)
    rows = {t: [1, 2] for t in prof.tables}
    eng = MibEngine(_mib_of(prof, rows, uptime_ticks=1_000_000))
    walker_eng = MibEngine(eng.mib)  # the same device, walked every poll: what the plan must equal
    poller = P.HotspotPoller(semarang, profiles, eng, MemorySink(), include_switches=False, confirm_failures=False)
    walker = P.HotspotPoller(
        semarang, profiles, walker_eng, MemorySink(), include_switches=False, confirm_failures=False
    )
    pt, wpt = poller.targets[ap.id], walker.targets[ap.id]

    def shape(out):
        return sorted(
            (p.measurement, tuple(sorted(p.tags.items())), tuple(sorted(p.fields.items())))
            for p in out.points
            if p.measurement != "hotspot_poll"
        )

    async def both(at, same=True):
        wpt.plan = None  # the reference walks every time
        a, b = await poller.poll_device(pt, at), await walker.poll_device(wpt, at)
        assert a.ok and b.ok
        if same:
            assert shape(a) == shape(b)
        return a

    async def scenario():
        t = 1000.0
        await both(t)
        assert eng.calls == ["walk"] and pt.plan is not None
        first = P.REWALK_EVERY - pt.since_walk  # polls by plan before this device's first re-walk
        for _ in range(first):
            t += 30
            await both(t)
        assert eng.calls == ["walk"] + ["get"] * first  # one exchange a poll, the answer exactly the rows
        t += 30
        await both(t)
        assert eng.calls[-1] == "walk" and pt.since_walk == 0  # the periodic re-walk
        # a row disappears: the GET sees noSuchInstance, uses what it has, and the next poll walks
        for o in [o for o in eng.mib if o[-1] == 2 and any(o[:-1] == c for c in prof.tables["interfaces"].walk)]:
            del eng.mib[o]
        eng.calls.clear()
        t += 30
        await both(t)
        assert eng.calls == ["get"] and pt.plan is None
        t += 30
        await both(t)
        assert eng.calls == ["get", "walk"] and pt.plan is not None
        # a row appears (a new SSID): found by the next periodic walk, within REWALK_EVERY polls
        eng.mib.update(_mib_of(prof, {"vaps": [7], "radios": [7]}, 1_000_000))
        seen_at = None
        for n in range(1, P.REWALK_EVERY + 1):
            t += 30
            out = await both(t, same=False)
            if any(("radio", "7") in p.tags.items() for p in out.points):
                seen_at = n
                break
        assert seen_at is not None and seen_at <= P.REWALK_EVERY
        # a reboot (sysUpTime went back) sends it to walking at once: rows may be numbered anew
        eng.mib.update(_mib_of(prof, {}, uptime_ticks=100))
        eng.calls.clear()
        t += 30
        out = await both(t)
        assert out.rebooted and pt.plan is None
        t += 30
        await both(t)
        assert eng.calls == ["get", "walk"]

    import asyncio

    asyncio.run(scenario())
