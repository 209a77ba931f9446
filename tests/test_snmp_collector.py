"""The SNMP collector against the simulated city: every hotspot polled, health follows faults
(with hysteresis), traps act at once, reboots are events without rate spikes, Cisco radios come
from the WLC, samples are queryable in InfluxDB."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from collectors.sink import MemorySink
from collectors.snmp.collector import SnmpCollector
from pantau import services
from store.sink import BatchingSink

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """A simulated city of our own (faults here must not disturb other tests), traps to us."""
    snmp_port = services.free_port(kind=socket.SOCK_DGRAM)
    trap_port = services.free_port(kind=socket.SOCK_DGRAM)
    svc = services.simulator(
        tmp_path_factory.mktemp("sim-coll"),
        "semarang",
        snmp_port,
        time_scale=10,
        seed=3,
        trap_target=("127.0.0.1", trap_port),
    ).start(ready_timeout=120)
    svc.snmp_port, svc.trap_port = snmp_port, trap_port
    yield svc
    svc.stop()


def event(city, action, target, **kw):
    r = httpx.post(f"{city.url}/_sim/events", json={"action": action, "target": target, **kw}, timeout=5)
    assert r.status_code == 200, r.text


async def wait_for(cond, timeout: float, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await asyncio.sleep(step)
    return cond()


def test_collector_follows_the_city(city, semarang):
    sink = MemorySink()
    coll = SnmpCollector(
        semarang,
        sink,
        port=city.snmp_port,
        trap_listen=("127.0.0.1", city.trap_port),
        intervals={"hotspots": 3.0, "switches": 3.0, "controllers": 3.0},
        fail_threshold=2,
        recover_threshold=2,
        timeout=0.5,
        retries=1,
    )
    health = coll.health

    def state(ident):
        return health.get(ident).state

    async def story():
        await coll.start()
        try:
            # 1. Every hotspot and switch answers the first cycle; all come up.
            assert await wait_for(
                lambda: health.counts()["up"] >= len(semarang.hotspots) + len(semarang.switches), 60
            ), health.counts()
            polls = {p.tags["hotspot"] for p in sink.points if p.measurement == "hotspot_poll" and p.fields["up"]}
            assert polls == set(semarang.hotspots)
            # Cisco radios come from the WLC, with the AP's own tags.
            cisco = next(h for h in semarang.hotspots.values() if h.vendor == "cisco")
            assert await wait_for(
                lambda: any(p.measurement == "hotspot_radio" and p.tags["hotspot"] == cisco.id for p in sink.points), 10
            )
            radio = [p for p in sink.points if p.measurement == "hotspot_radio" and p.tags["hotspot"] == cisco.id]
            assert {p.tags["radio"] for p in radio} == {"2g", "5g"}
            assert {"clients", "channel_util_pct", "noise_dbm"} <= set(radio[-1].fields)
            assert radio[-1].tags["kecamatan"] == cisco.kecamatan

            # 2. A switch fails: its hotspots go down after the hysteresis (2 failed polls), not at once.
            members = semarang.hotspots_of_switch["SW-TBL-01"]
            t_fail = time.time()
            event(city, "switch_fail", "switch:SW-TBL-01")
            assert await wait_for(lambda: all(state(f"hotspot:{h}") == "down" for h in members), 45)
            downs = [e for e in coll.events if e.kind == "state" and e.new == "down" and e.at >= t_fail]
            assert {e.element for e in downs} >= {f"hotspot:{h}" for h in members}
            assert all("failed polls" in e.reason for e in downs if e.element in {f"hotspot:{h}" for h in members})
            assert state("switch:SW-TBL-01") == "down"
            other = semarang.hotspots_of_switch["SW-TBL-02"][0]
            assert state(f"hotspot:{other}") == "up"
            # ... and come back after M good polls when it is restored.
            event(city, "switch_restore", "switch:SW-TBL-01")
            assert await wait_for(lambda: all(state(f"hotspot:{h}") == "up" for h in members), 45)

            # 3. One hotspot fails: its access switch's linkDown trap takes it down at once.
            victim = semarang.hotspots_of_switch["SW-BNY-01"][3]
            t0 = time.time()
            event(city, "hotspot_fail", f"hotspot:{victim}")
            assert await wait_for(lambda: state(f"hotspot:{victim}") == "down", 5)
            ev = next(
                e for e in coll.events if e.element == f"hotspot:{victim}" and e.kind == "state" and e.new == "down"
            )
            assert ev.source == "trap" and "linkDown" in ev.reason and ev.at - t0 < 3
            event(city, "hotspot_restore", f"hotspot:{victim}")
            assert await wait_for(lambda: state(f"hotspot:{victim}") == "up", 45)

            # 4. A reboot: a reboot event (coldStart trap and/or sysUpTime drop), no rate spike.
            ap = "AP-0042"
            n_before = len([p for p in sink.points if p.measurement == "hotspot_if" and p.tags["hotspot"] == ap])
            t_reboot = time.time()
            event(city, "hotspot_reboot", f"hotspot:{ap}", down_s=20)
            assert await wait_for(
                lambda: any(
                    e.element == f"hotspot:{ap}" and e.kind == "reboot" and e.at >= t_reboot for e in coll.events
                ),
                30,
            )
            assert await wait_for(lambda: state(f"hotspot:{ap}") == "up", 45)
            await asyncio.sleep(7)  # two more cycles after the reboot
            after = [p for p in sink.points if p.measurement == "hotspot_if" and p.tags["hotspot"] == ap][n_before:]
            assert after, "AP-0042 polled after its reboot"
            for p in after:
                for f in ("in_bps", "out_bps"):
                    if f in p.fields:
                        assert 0 <= p.fields[f] <= p.fields["speed_bps"], p.to_line()
            assert coll.traps.received > 0
        finally:
            await coll.stop()

    asyncio.run(story())


def test_collector_writes_to_influxdb(city, semarang, influx):
    sink = BatchingSink(influx)
    coll = SnmpCollector(semarang, sink, port=city.snmp_port, intervals={"hotspots": 8.0, "controllers": 8.0})

    async def run():
        await coll.start()
        try:
            assert await wait_for(
                lambda: coll.cycles.get("hotspots", 0) >= 1 and coll.cycles.get("controllers", 0) >= 1, 30
            )
        finally:
            await coll.stop()

    asyncio.run(run())
    sink.close()
    rows = influx.query_rows('SELECT count("up") FROM hotspot_poll GROUP BY hotspot')
    assert len(rows) == len(semarang.hotspots)
    (row,) = influx.query_rows("SELECT count(clients) FROM hotspot_radio WHERE vendor = 'cisco'")
    assert row["count"] >= 2 * sum(1 for h in semarang.hotspots.values() if h.vendor == "cisco") * 0.9
    rows = influx.query_rows(
        "SELECT last(in_octets), last(speed_bps) FROM hotspot_if WHERE hotspot = 'AP-1234' GROUP BY ifname"
    )
    assert len(rows) == 3
    (self_row,) = influx.query_rows("SELECT last(cycle_s) FROM pantau_self WHERE target = 'hotspots'")
    assert 0 < self_row["last"] < 30


def test_a_comeback_is_confirmed_at_once_not_at_the_next_cycles(city, semarang):
    """A down hotspot that answers again is re-polled soon (spaced over about half an interval) and
    is up after its second good poll in a row — not after two more cycles, which a busy collector
    or a scaled scenario stretches (a kept bench run closed an incident 35 s late from that)."""
    sink = MemorySink()
    coll = SnmpCollector(
        semarang,
        sink,
        port=city.snmp_port,  # no trap receiver: polls alone say down and up
        intervals={"hotspots": 600.0, "switches": 600.0, "controllers": 600.0},  # no cycle during the test
        fail_threshold=2,
        recover_threshold=2,
        timeout=0.5,
        retries=1,
    )
    health = coll.health
    victim = semarang.hotspots_of_switch["SW-BNY-01"][5]
    el = f"hotspot:{victim}"

    async def story():
        await coll.start()
        try:
            await coll.poller.repoll(victim)  # the scheduler's first run is an interval away: answered once, up
            assert health.get(el).state == "up"
            coll.poller._interval_s["hotspots"] = 3.0  # as if the interval were 3 s: recovery polls 1.5 s apart
            event(city, "hotspot_fail", el)
            await coll.poller.repoll(victim)  # a failed poll: confirmed at once (fail_threshold 2)
            assert await wait_for(lambda: health.get(el).state == "down", 10)
            event(city, "hotspot_restore", el)
            deadline = time.monotonic() + 30
            while True:  # it boots again (scaled boot time): the first good poll, as a cycle's would be
                t0 = time.monotonic()
                out = await coll.poller.repoll(victim)
                if (out is not None and out.ok) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.3)
            assert out is not None and out.ok and health.get(el).state == "down", "one good poll is not enough"
            assert await wait_for(lambda: health.get(el).state == "up", 6)
            took = time.monotonic() - t0
            assert 1.4 <= took < 4, took
            assert coll.poller.confirm_stats["recover_polls"] == 1
            up = next(e for e in reversed(coll.events) if e.element == el and e.kind == "state")
            assert up.new == "up" and "2 good polls" in up.reason
        finally:
            await coll.stop()

    asyncio.run(story())
