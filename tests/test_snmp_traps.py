"""Traps sent by net-snmp's own ``snmptrap`` (Debian package snmp) are understood exactly like the
simulator's: Pantau's real trap receiver and collector on a free loopback port get the same trap
(name, ifIndex, varbinds) and take the same health action (and the same immediate re-poll) for a
v2c linkDown / linkUp / coldStart and for a v3 authPriv coldStart — with the v3 (user, engine ID)
learned the way the product learns it, from the poller's discovery of the device. Traps with a
wrong community, a wrong key, or below the user's security level (noAuth from an authPriv user)
are refused, counted by reason and logged.

The simulator's devices run in-process (``simulator.city.SimCity`` + ``simulator.snmp_agent.serve``)
on their own 127.x addresses, so each trap from the simulator is composed and sent by its own code
(``SimCity._link_trap`` / ``SimCity._cold_start``); ``snmptrap`` sends from the same device address
(``--clientaddr``) with the same varbinds and, for v3, ``-e`` the device's engine ID (the device is
the authoritative engine, as in the simulator).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time

import pytest

from collectors.schedule import Job
from collectors.sink import MemorySink
from collectors.snmp.collector import SnmpCollector
from pantau import services
from simulator.city import SimCity
from simulator.snmp_agent import serve

pytestmark = pytest.mark.integration

SNMPTRAP = "/usr/bin/snmptrap"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
COLD_START, LINK_DOWN, LINK_UP = ".1.3.6.1.6.3.1.1.5.1", ".1.3.6.1.6.3.1.1.5.3", ".1.3.6.1.6.3.1.1.5.4"
IF_INDEX, IF_ADMIN, IF_OPER = ".1.3.6.1.2.1.2.2.1.1", ".1.3.6.1.2.1.2.2.1.7", ".1.3.6.1.2.1.2.2.1.8"
UDP = socket.SOCK_DGRAM


# --------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def net_snmp_env(tmp_path_factory):
    assert os.access(SNMPTRAP, os.X_OK), "net-snmp's snmptrap is missing: Debian package snmp (scripts/bootstrap.sh)"
    d = tmp_path_factory.mktemp("net-snmp")
    # No user or system snmp.conf, persistent state in a temp dir, no MIB files needed (numeric OIDs).
    return dict(os.environ, SNMPCONFPATH=str(d), SNMP_PERSISTENT_DIR=str(d / "persist"), MIBS="", MIBDIRS=str(d))


@pytest.fixture(scope="module")
def city(semarang):
    """The simulated Semarang in-process; devices answer SNMP only while a test serves them."""
    return SimCity(semarang, snmp_port=services.free_port(kind=UDP), seed=1)


def first_hotspot(inv, profile: str) -> str:
    return next(h for h in sorted(inv.hotspots) if inv.hotspots[h].credentials == profile)


def switch_port(inv, profile: str = "public-v2c"):
    """An access switch, one of its hotspots (with the given credentials) and its ifIndex."""
    hid = first_hotspot(inv, profile)
    sw, port = inv.port_of(hid)
    return sw, hid, port


@contextlib.asynccontextmanager
async def pantau(city: SimCity, inv, idents: list[str]):
    """Pantau's SNMP collector (trap receiver, health, re-poll) listening for traps on a free
    127.0.0.1 UDP port, with the named simulated devices answering SNMP. Yields (collector,
    traps) where traps are the :class:`Trap` objects the receiver handed to the collector."""
    trap_port = services.free_port(kind=UDP)
    city.trap_target = ("127.0.0.1", trap_port)
    devices = [city.switch_devices[i] if i in city.switch_devices else city.hotspots[i].device for i in idents]
    transports = await serve(devices)
    city.transports = {d.ident: t for d, t in zip(devices, transports)}
    # One job that touches nothing of ours (the WLC, once an hour): the scheduler runs, the
    # 2,300 hotspots are not swept; our devices are polled by the collector's own re-poll.
    coll = SnmpCollector(
        inv,
        MemorySink(),
        port=city.snmp_port,
        trap_listen=city.trap_target,
        jobs=[Job(name="controllers", runs="snmp.controllers", interval_s=3600)],
        timeout=0.5,
        retries=0,
    )
    traps = []
    await coll.start()
    handler = coll.traps.on_trap

    def on_trap(trap):
        traps.append(trap)
        handler(trap)

    coll.traps.on_trap = on_trap
    try:
        yield coll, traps
    finally:
        await coll.stop()
        for t in transports:
            t.close()
        city.transports = {}


async def wait_for(cond, timeout: float = 5.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await asyncio.sleep(step)
    return cond()


async def snmptrap(env, args: list[str]) -> None:
    p = await asyncio.create_subprocess_exec(
        SNMPTRAP, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(p.communicate(), 30)
    assert p.returncode == 0, (args, out, err)


def net_snmp_security(inv, element: str, city: SimCity, **override) -> list[str]:
    """snmptrap's security options from the element's credentials profile in the inventory."""
    kind, _, ident = element.partition(":")
    item = inv.hotspots[ident] if kind == "hotspot" else inv.switches[ident]
    p = inv.credentials.profiles[item.credentials]
    if p.version == "2c":
        return ["-v2c", "-c", override.get("community", p.community.get_secret_value())]
    dev = city.hotspots[ident].device if kind == "hotspot" else city.switch_devices[ident]
    level = override.get("level", "authPriv")
    args = [
        "-v3",
        "-u",
        p.user,
        "-l",
        level,
        "-e",
        "0x" + dev.security.engine_id.hex(),
        "-Z",
        f"{dev.state.boots},{dev.state.engine_time()}",
    ]
    if level != "noAuthNoPriv":
        args += ["-a", p.auth_protocol, "-A", override.get("auth_password", p.auth_password.get_secret_value())]
    if level == "authPriv":
        args += ["-x", p.priv_protocol, "-X", override.get("priv_password", p.priv_password.get_secret_value())]
    return args


def net_snmp_trap(inv, city, element: str, trap_oid: str, varbinds: list[str], **override) -> list[str]:
    kind, _, ident = element.partition(":")
    item = inv.hotspots[ident] if kind == "hotspot" else inv.switches[ident]
    dev = city.hotspots[ident].device if kind == "hotspot" else city.switch_devices[ident]
    return (
        net_snmp_security(inv, element, city, **override)
        + [
            f"--clientaddr={override.get('source', item.address)}",
            "%s:%d" % city.trap_target,
            str(dev.state.uptime_ticks()),
            trap_oid,
        ]
        + varbinds
    )


def link_varbinds(port: int, up: bool) -> list[str]:
    """What the simulator sends with linkDown/linkUp (SimCity._link_trap), in net-snmp's syntax."""
    return [
        f"{IF_INDEX}.{port}",
        "i",
        str(port),
        f"{IF_ADMIN}.{port}",
        "i",
        "1",
        f"{IF_OPER}.{port}",
        "i",
        "1" if up else "2",
    ]


def understood(trap, coll) -> dict:
    """What Pantau made of one trap: the trap (but sysUpTime's value, a clock) and every health
    event that came from it."""
    assert [o for o, _ in trap.varbinds[:2]] == [SYS_UPTIME, SNMP_TRAP_OID], trap.varbinds
    assert int(trap.varbinds[0][1]) >= 0
    return {
        "source": trap.source[0],
        "name": trap.name,
        "if_index": trap.if_index,
        "varbinds": [vb for vb in trap.varbinds if vb[0] != SYS_UPTIME],
        "events": [(e.element, e.kind, e.old, e.new, e.reason) for e in coll.events if e.source == "trap"],
    }


async def one_trap(city, inv, served: list[str], hid: str, send, reboot: bool = False, before=None) -> dict:
    """A fresh Pantau; ``hid`` polled up first; optionally the device reboots; ``send()`` sends
    one trap. Returns what Pantau understood, once the re-poll the trap asks for has happened."""
    async with pantau(city, inv, served) as (coll, traps):
        if before:
            await before(coll, traps)
        await coll.poller.repoll(hid)
        assert coll.health.get(f"hotspot:{hid}").state == "up"
        if reboot:
            city.hotspots[hid].device.state.reboot()
        t0 = time.time()
        await send()
        assert await wait_for(lambda: len(traps) == 1), f"no trap accepted; refused: {coll.traps.rejected}"
        assert coll.traps.received == 1 and coll.traps.rejected == {} and coll.traps.unknown_source == 0
        # The trap asks for an immediate re-poll of the hotspot: a poll point after the trap.
        assert await wait_for(
            lambda: any(
                p.measurement == "hotspot_poll" and p.tags["hotspot"] == hid and p.time_ns >= t0 * 1e9
                for p in coll.sink.points
            )
        ), "no re-poll"
        await asyncio.sleep(0.2)  # nothing else may follow
        assert len(traps) == 1
        return understood(traps[0], coll)


# ------------------------------------------------------------------------------------ v2c
@pytest.mark.parametrize("kind", ["linkDown", "linkUp"])
def test_v2c_link_trap_from_net_snmp_is_understood_like_the_simulators(city, semarang, net_snmp_env, kind):
    sw, hid, port = switch_port(semarang)
    up = kind == "linkUp"

    async def from_sim():
        city._link_trap(hid, up)

    async def from_net_snmp():
        await snmptrap(
            net_snmp_env,
            net_snmp_trap(semarang, city, f"switch:{sw}", LINK_UP if up else LINK_DOWN, link_varbinds(port, up)),
        )

    sim = asyncio.run(one_trap(city, semarang, [sw, hid], hid, from_sim))
    net = asyncio.run(one_trap(city, semarang, [sw, hid], hid, from_net_snmp))
    assert net == sim
    # ... and both are what the trap means: the hotspot behind that switch port.
    detail = f"{kind} on {sw} port ifIndex {port}"
    assert sim["source"] == semarang.switches[sw].address and sim["name"] == kind and sim["if_index"] == port
    assert sim["varbinds"] == [
        (SNMP_TRAP_OID, (LINK_UP if up else LINK_DOWN)[1:]),
        (f"{IF_INDEX[1:]}.{port}", str(port)),
        (f"{IF_ADMIN[1:]}.{port}", "1"),
        (f"{IF_OPER[1:]}.{port}", "1" if up else "2"),
    ]
    expected = [(f"hotspot:{hid}", "trap", "up", "up", detail)]
    if not up:
        expected.append((f"hotspot:{hid}", "state", "up", "down", detail))  # down at once
    assert sim["events"] == expected


def test_v2c_cold_start_from_net_snmp_is_understood_like_the_simulators(city, semarang, net_snmp_env):
    hid = first_hotspot(semarang, "public-v2c")

    async def from_sim():
        city._cold_start(hid)

    async def from_net_snmp():
        await snmptrap(net_snmp_env, net_snmp_trap(semarang, city, f"hotspot:{hid}", COLD_START, []))

    sim = asyncio.run(one_trap(city, semarang, [hid], hid, from_sim, reboot=True))
    net = asyncio.run(one_trap(city, semarang, [hid], hid, from_net_snmp, reboot=True))
    assert net == sim
    # One reboot, one event: the re-poll's sysUpTime drop is the same reboot as the trap.
    assert sim == {
        "source": semarang.hotspots[hid].address,
        "name": "coldStart",
        "if_index": None,
        "varbinds": [(SNMP_TRAP_OID, COLD_START[1:])],
        "events": [(f"hotspot:{hid}", "reboot", "up", "up", "coldStart trap")],
    }


# ------------------------------------------------------------------------------------- v3
@pytest.mark.parametrize("profile", ["noc-v3-sha-aes", "noc-v3-sha256-aes256"])
def test_v3_authpriv_cold_start_from_net_snmp_is_understood_like_the_simulators(city, semarang, net_snmp_env, profile):
    hid = first_hotspot(semarang, profile)
    dev = city.hotspots[hid].device
    assert dev.security.keys.priv_key is not None  # the simulator sends authPriv

    async def learn(coll, traps):
        # Before the poller has discovered the device, Pantau knows no (user, engine ID) for it:
        # a perfectly keyed trap is refused.
        await snmptrap(net_snmp_env, net_snmp_trap(semarang, city, f"hotspot:{hid}", COLD_START, []))
        assert await wait_for(lambda: sum(coll.traps.rejected.values()) == 1)
        assert traps == [] and set(coll.traps.rejected) <= {"unknown_engine", "unknown_user"}, coll.traps.rejected
        coll.traps.rejected.clear()
        # The product's way: a poll discovers the engine ID, every job run ends by teaching it.
        await coll.poller.repoll(hid)
        assert coll.poller.targets[hid].target.engine_id == dev.security.engine_id
        await coll._learn_engines()

    async def from_sim():
        city._cold_start(hid)

    async def from_net_snmp():
        await snmptrap(net_snmp_env, net_snmp_trap(semarang, city, f"hotspot:{hid}", COLD_START, []))

    sim = asyncio.run(one_trap(city, semarang, [hid], hid, from_sim, reboot=True, before=learn))
    net = asyncio.run(one_trap(city, semarang, [hid], hid, from_net_snmp, reboot=True, before=learn))
    assert net == sim
    assert sim == {
        "source": semarang.hotspots[hid].address,
        "name": "coldStart",
        "if_index": None,
        "varbinds": [(SNMP_TRAP_OID, COLD_START[1:])],
        "events": [(f"hotspot:{hid}", "reboot", "up", "up", "coldStart trap")],
    }


# ------------------------------------------------------------------------------- refusals
def test_forged_and_miskeyed_traps_are_refused_counted_and_logged(city, semarang, net_snmp_env, caplog):
    sw, hid, port = switch_port(semarang)
    v3 = first_hotspot(semarang, "noc-v3-sha-aes")
    v3_elem = f"hotspot:{v3}"
    caplog.set_level(logging.WARNING, logger="pantau.collectors.traps")

    async def run():
        async with pantau(city, semarang, [sw, hid, v3]) as (coll, traps):
            await coll.poller.repoll(hid)
            await coll.poller.repoll(v3)
            await coll._learn_engines()
            assert coll.health.get(f"hotspot:{hid}").state == "up" and coll.health.get(v3_elem).state == "up"
            n_events = len(coll.events)
            down = link_varbinds(port, False)

            async def refused(args, reason):
                before = dict(coll.traps.rejected)
                await snmptrap(net_snmp_env, args)
                assert await wait_for(lambda: coll.traps.rejected.get(reason, 0) == before.get(reason, 0) + 1), (
                    reason,
                    coll.traps.rejected,
                )
                await asyncio.sleep(0.1)
                assert traps == [] and coll.traps.received == 0, traps
                assert sum(coll.traps.rejected.values()) == sum(before.values()) + 1, coll.traps.rejected

            # v2c: a community Pantau does not know, from the switch's own address.
            await refused(
                net_snmp_trap(semarang, city, f"switch:{sw}", LINK_DOWN, down, community="not-ours"), "bad_community"
            )
            # v3 authPriv with a wrong auth key, and with a wrong priv key.
            await refused(
                net_snmp_trap(semarang, city, v3_elem, COLD_START, [], auth_password="not-the-password"), "wrong_digest"
            )
            await refused(
                net_snmp_trap(semarang, city, v3_elem, COLD_START, [], priv_password="not-the-password"),
                "decryption_error",
            )
            # The authPriv user and the device's engine ID, sent below authPriv: a forgery.
            await refused(
                net_snmp_trap(semarang, city, v3_elem, COLD_START, [], level="noAuthNoPriv"), "seclevel_mismatch"
            )
            await refused(
                net_snmp_trap(semarang, city, v3_elem, COLD_START, [], level="authNoPriv"), "seclevel_mismatch"
            )

            # Nothing happened to anybody's health.
            assert len(coll.events) == n_events
            assert coll.health.get(f"hotspot:{hid}").state == "up" and coll.health.get(v3_elem).last_reboot is None

            # Logged: a warning naming the reason and the source address, at most once a minute per
            # (reason, address) — the second seclevel_mismatch from that hotspot is counted, not logged.
            msgs = [r.getMessage() for r in caplog.records if r.name == "pantau.collectors.traps"]
            assert any("bad_community" in m and semarang.switches[sw].address in m for m in msgs), msgs
            assert any("wrong_digest" in m and semarang.hotspots[v3].address in m for m in msgs), msgs
            assert any("decryption_error" in m for m in msgs), msgs
            levels = [m for m in msgs if "seclevel_mismatch" in m]
            assert len(levels) == 1 and "noAuthNoPriv" in levels[0] and "authPriv required" in levels[0], msgs
            assert coll.traps.rejected["seclevel_mismatch"] == 2 and len(msgs) == 4, msgs

            # A good community from a loopback address that is no element of the city: accepted by
            # the receiver, ignored by the collector, counted.
            await snmptrap(
                net_snmp_env, net_snmp_trap(semarang, city, f"switch:{sw}", LINK_DOWN, down, source="127.0.0.1")
            )
            assert await wait_for(lambda: coll.traps.unknown_source == 1)
            assert len(coll.events) == n_events

            # The same receiver still takes the genuine traps (the refusals above were the keys).
            await snmptrap(net_snmp_env, net_snmp_trap(semarang, city, v3_elem, COLD_START, []))
            await snmptrap(net_snmp_env, net_snmp_trap(semarang, city, f"switch:{sw}", LINK_DOWN, down))
            assert await wait_for(lambda: len(traps) == 3), (traps, coll.traps.rejected)
            assert await wait_for(lambda: coll.health.get(f"hotspot:{hid}").state == "down")
            assert coll.health.get(v3_elem).last_reboot is not None
            assert coll.traps.received == 3 and sum(coll.traps.rejected.values()) == 5

    asyncio.run(run())


def test_v1_link_down_from_net_snmp_takes_the_same_health_action(city, semarang, net_snmp_env):
    """Many switches still send SNMPv1 traps: pysnmp turns them into v2 (RFC 2576), so a v1
    linkDown means what the simulator's v2c linkDown means."""
    sw, hid, port = switch_port(semarang)
    community = semarang.credentials.profiles[semarang.switches[sw].credentials].community.get_secret_value()

    async def from_sim():
        city._link_trap(hid, False)

    async def from_net_snmp():
        dev = city.switch_devices[sw]
        await snmptrap(
            net_snmp_env,
            [
                "-v1",
                "-c",
                community,
                f"--clientaddr={semarang.switches[sw].address}",
                "%s:%d" % city.trap_target,
                ".1.3.6.1.4.1.14988",
                semarang.switches[sw].address,
                "2",
                "0",
                str(dev.state.uptime_ticks()),
            ]
            + link_varbinds(port, False),
        )

    sim = asyncio.run(one_trap(city, semarang, [sw, hid], hid, from_sim))
    net = asyncio.run(one_trap(city, semarang, [sw, hid], hid, from_net_snmp))
    assert {k: net[k] for k in ("source", "name", "if_index", "events")} == {
        k: sim[k] for k in ("source", "name", "if_index", "events")
    }
    # RFC 2576 adds snmpTrapAddress, snmpTrapCommunity and snmpTrapEnterprise; the rest is the same, in order.
    assert [vb for vb in net["varbinds"] if vb in sim["varbinds"]] == sim["varbinds"]
    assert {o for o, _ in net["varbinds"]} - {o for o, _ in sim["varbinds"]} == {
        "1.3.6.1.6.3.18.1.3.0",
        "1.3.6.1.6.3.18.1.4.0",
        "1.3.6.1.6.3.1.1.4.3.0",
    }
    assert net["events"][-1] == (f"hotspot:{hid}", "state", "up", "down", f"linkDown on {sw} port ifIndex {port}")
