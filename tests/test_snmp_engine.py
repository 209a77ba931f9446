"""Pantau's SNMP poll engine against things nobody here wrote (net-snmp snmpd and snmpget/
snmpbulkwalk, snmpsim serving recordings of real devices), and against agents that misbehave."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from collectors.sink import MemorySink
from collectors.snmp.engine import (
    V3,
    SnmpAuthError,
    SnmpEngine,
    SnmpErrorStatus,
    SnmpProtocolError,
    SnmpTimeout,
    Target,
    V2c,
    value_of,
)
from collectors.snmp.poller import HotspotPoller, PollTarget
from collectors.snmp.profiles import load_profiles
from pantau import services
from snmpwire import ber

SYS = (1, 3, 6, 1, 2, 1, 1)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
SNMPSIM_DATA = Path(__file__).parent / "data" / "snmpsim"


def run(coro):
    return asyncio.run(coro)


def net_snmp(cmd: list[str]) -> dict[tuple[int, ...], str]:
    """Run snmpget/snmpbulkwalk with numeric OIDs and values; OID → printed value."""
    out = subprocess.run(
        cmd[:1] + ["-On", "-Oe", "-Ot", "-OQ", "-Ox"] + cmd[1:], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    res: dict[tuple[int, ...], str] = {}
    last = None
    for line in out.splitlines():
        if line.startswith(".") and " = " in line:
            oid, _, val = line.partition(" = ")
            last = None
            if val.startswith(("No Such Object", "No Such Instance", "No more variables")):
                continue  # what snmpbulkwalk prints for an empty subtree
            last = tuple(int(x) for x in oid.strip(".").split("."))
            res[last] = val.strip()
        elif last is not None:  # long hex strings wrap onto further lines
            res[last] += " " + line.strip()
    return res


def as_netsnmp(vb) -> str:
    """Our decoded value, printed the way net-snmp prints it with -Oe -Ot -OQ -Ox."""
    v = value_of(vb)
    if isinstance(v, bytes):
        return " ".join(f"{b:02X}" for b in v) if v else '""'
    if isinstance(v, tuple):
        return "." + ".".join(map(str, v))
    return str(v)


def same(ours: str, theirs: str) -> bool:
    theirs = theirs.strip('"').replace("\n", " ").strip()
    ours = ours.strip('"').replace("\n", " ").strip()
    return ours.upper() == theirs.upper() or ours.split() == theirs.split()


# ---------------------------------------------------------------------------- net-snmp snmpd


@pytest.fixture(scope="module")
def snmpd(tmp_path_factory):
    addrs = [f"127.21.0.{i}" for i in range(1, 4)]
    port = services.free_port(kind=socket.SOCK_DGRAM)
    svc = services.snmpd(tmp_path_factory.mktemp("snmpd"), addrs, port, community="pantau-test").start(ready_timeout=30)
    svc.addrs = addrs
    yield svc
    svc.stop()


SECURITIES = {
    "v2c": (V2c(b"pantau-test"), ["-v2c", "-c", "pantau-test"]),
    "v3-sha-aes": (
        V3("pantau-noc", "SHA", "test-auth-pass", "AES", "test-priv-pass"),
        [
            "-v3",
            "-l",
            "authPriv",
            "-u",
            "pantau-noc",
            "-a",
            "SHA",
            "-A",
            "test-auth-pass",
            "-x",
            "AES",
            "-X",
            "test-priv-pass",
        ],
    ),
    "v3-sha256-aes256": (
        V3("pantau-secure", "SHA-256", "test-auth256-pass", "AES-256", "test-priv256-pass"),
        [
            "-v3",
            "-l",
            "authPriv",
            "-u",
            "pantau-secure",
            "-a",
            "SHA-256",
            "-A",
            "test-auth256-pass",
            "-x",
            "AES-256",
            "-X",
            "test-priv256-pass",
        ],
    ),
}


@pytest.mark.integration
@pytest.mark.parametrize("sec", list(SECURITIES))
def test_values_agree_with_net_snmp(snmpd, sec):
    security, flags = SECURITIES[sec]
    addr = snmpd.addrs[1]
    target = Target("snmpd", addr, snmpd.port, security, timeout=1.0, retries=2)
    scalars = [SYS + (1, 0), SYS + (2, 0), SYS + (5, 0), SYS + (7, 0), (1, 3, 6, 1, 2, 1, 2, 1, 0)]
    columns = [
        IF_ENTRY + (1,),
        IF_ENTRY + (2,),
        IF_ENTRY + (3,),
        IF_ENTRY + (4,),
        IF_ENTRY + (5,),
        IF_ENTRY + (6,),
        (1, 3, 6, 1, 2, 1, 25, 2, 3, 1, 3),
        (1, 3, 6, 1, 2, 1, 25, 2, 3, 1, 5),
    ]

    missing = SYS + (99, 0)  # no such scalar: snmpd's next OID is another object

    async def ours():
        async with SnmpEngine() as eng:
            vbs = await eng.get(target, scalars)
            sent = eng.stats.sent
            walked = await eng.walk(target, columns, max_repetitions=7)
            walk_sent, sent = eng.stats.sent - sent, eng.stats.sent
            both = await eng.scalars_and_walk(target, scalars + [missing], columns, max_repetitions=7)
            return vbs, walked, walk_sent, both, eng.stats.sent - sent

    vbs, walked, walk_sent, (bulk_vbs, bulk_walked), bulk_sent = run(ours())
    # the scalars as non-repeaters of the walk's first GETBULK: the same values, one exchange fewer
    assert [(vb.oid, vb.tag, vb.value_raw) for vb in bulk_vbs[:-1]] == [(vb.oid, vb.tag, vb.value_raw) for vb in vbs]
    assert bulk_vbs[-1].oid == missing and bulk_vbs[-1].tag == ber.NO_SUCH_OBJECT
    assert {c: [(i, vb.value_raw) for i, vb in rows] for c, rows in bulk_walked.items()} == {
        c: [(i, vb.value_raw) for i, vb in rows] for c, rows in walked.items()
    }
    assert bulk_sent == walk_sent  # the scalars cost no exchange of their own
    where = f"{addr}:{snmpd.port}"
    theirs = net_snmp(["snmpget"] + flags + [where] + [".".join(map(str, o)) for o in scalars])
    assert len(theirs) == len(scalars)
    for oid, vb in zip(scalars, vbs):
        assert same(as_netsnmp(vb), theirs[oid]), (oid, as_netsnmp(vb), theirs[oid])
    compared = 0
    for col in columns:
        theirs = net_snmp(["snmpbulkwalk"] + flags + [where, ".".join(map(str, col))])
        ours_col = {col + idx: vb for idx, vb in walked[col]}
        assert set(ours_col) == set(theirs), col
        for oid, vb in ours_col.items():
            assert same(as_netsnmp(vb), theirs[oid]), (oid, as_netsnmp(vb), theirs[oid])
            compared += 1
    assert compared >= 8


@pytest.mark.integration
def test_wrong_v3_password_is_a_clear_auth_error(snmpd):
    target = Target(
        "snmpd",
        snmpd.addrs[0],
        snmpd.port,
        V3("pantau-noc", "SHA", "not-the-password", "AES", "test-priv-pass"),
        timeout=0.5,
        retries=0,
    )
    unknown = Target(
        "snmpd",
        snmpd.addrs[0],
        snmpd.port,
        V3("nobody", "SHA", "whatever-pass", "AES", "whatever-pass"),
        timeout=0.5,
        retries=0,
    )

    async def go():
        async with SnmpEngine() as eng:
            with pytest.raises((SnmpAuthError, SnmpTimeout)) as e1:
                await eng.get(target, [SYS + (3, 0)])
            with pytest.raises(SnmpAuthError) as e2:
                await eng.get(unknown, [SYS + (3, 0)])
            return e1.value, e2.value

    e1, e2 = run(go())
    assert "unknownUserName" in str(e2) and "snmpd" in str(e2)
    assert "not-the-password" not in repr(target) and "not-the-password" not in str(e1)


# ---------------------------------------------------------------------------- snmpsim recordings


@pytest.fixture(scope="module")
def snmpsim():
    if not shutil.which("snmpsimd"):
        pytest.fail("snmpsimd missing: the Debian package snmpsim is installed by scripts/bootstrap.sh")
    tmp = Path(tempfile.mkdtemp(prefix="pantau-snmpsim-"))
    os.chmod(tmp, 0o755)
    port = services.free_port(kind=socket.SOCK_DGRAM)
    recs = {"cisco16": SNMPSIM_DATA / "cisco_16_switch.snmprec.gz", "linux": SNMPSIM_DATA / "public.snmprec.gz"}
    svc = services.snmpsim(tmp, recs, port).start(ready_timeout=60)
    yield svc
    svc.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.integration
@pytest.mark.parametrize("recording", ["cisco16", "linux"])
def test_walks_of_real_device_recordings_agree_with_net_snmp(snmpsim, recording):
    where = f"127.0.0.1:{snmpsim.port}"
    columns = [
        IF_ENTRY + (2,),
        IF_ENTRY + (3,),
        IF_ENTRY + (5,),
        IF_ENTRY + (8,),
        IF_ENTRY + (10,),
        IF_ENTRY + (16,),
        (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1),
        (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6),
    ]
    v2 = Target(recording, "127.0.0.1", snmpsim.port, V2c(recording.encode()), timeout=2, retries=1)
    v3 = Target(
        recording,
        "127.0.0.1",
        snmpsim.port,
        V3("pantau-sim", "SHA", "sim-auth-pass", "AES", "sim-priv-pass", context=recording),
        timeout=2,
        retries=1,
    )

    async def ours(t):
        async with SnmpEngine() as eng:
            return await eng.walk(t, columns, max_repetitions=25)

    by_v2, by_v3 = run(ours(v2)), run(ours(v3))
    total = 0
    for col in columns:
        theirs = net_snmp(["snmpbulkwalk", "-v2c", "-c", recording, where, ".".join(map(str, col))])
        for walked in (by_v2, by_v3):
            ours_col = {col + idx: vb for idx, vb in walked[col]}
            assert set(ours_col) == set(theirs), (recording, col)
            for oid, vb in ours_col.items():
                if vb.tag in (ber.COUNTER32, ber.COUNTER64) and recording == "linux":
                    assert theirs[oid].isdigit()  # this recording varies its counters on every read
                    continue
                assert same(as_netsnmp(vb), theirs[oid]), (oid, as_netsnmp(vb), theirs[oid])
        total += len(theirs)
    assert total >= 16

    # The generic profile polls the recording: one hotspot_if point per interface, no crash.
    async def poll():
        async with SnmpEngine() as eng:
            profiles = load_profiles()
            sink = MemorySink()
            poller = HotspotPoller.__new__(HotspotPoller)
            poller.engine, poller.sink, poller.controller_clients = eng, sink, {}
            pt = PollTarget("hotspot:REC", "REC", v2, profiles.profiles["generic"], {"hotspot": "REC"}, 0.0)
            return await poller.poll_device(pt)

    out = run(poll())
    assert out.ok, out.error
    ifs = [p for p in out.points if p.measurement == "hotspot_if"]
    assert len(ifs) == len(by_v2[IF_ENTRY + (8,)])
    assert out.points[0].fields["sys_uptime_s"] > 0


# ---------------------------------------------------------------------------- agents that misbehave


class EvilAgent(asyncio.DatagramProtocol):
    """Answers according to the community: each one a different way of being wrong."""

    def __init__(self):
        self.seen = {}

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        msg = ber.decode_message(data)
        mode = msg.community.decode()
        self.seen[mode] = self.seen.get(mode, 0) + 1
        pdu = msg.pdu
        rid = pdu.request_id

        def send(vbs, rid=rid, es=0, ei=0):
            self.transport.sendto(ber.enc_message_v2c(msg.community, ber.enc_pdu(ber.RESPONSE, rid, es, ei, vbs)), addr)

        oids = [vb.oid for vb in pdu.varbinds]
        if mode == "silent":
            return
        if mode == "slow":  # answers every request 1.3 s late (a long, slow link)
            asyncio.get_running_loop().call_later(1.3, send, [(ber.enc_oid(o), ber.enc_int(1)) for o in oids])
            return
        if mode == "trunc":
            full = ber.enc_message_v2c(
                msg.community, ber.enc_pdu(ber.RESPONSE, rid, 0, 0, [(ber.enc_oid(o), ber.enc_int(1)) for o in oids])
            )
            self.transport.sendto(full[: len(full) // 2], addr)
        elif mode == "garbage":
            self.transport.sendto(os.urandom(40), addr)
        elif mode == "wrongid":
            send([(ber.enc_oid(o), ber.enc_int(1)) for o in oids], rid=rid + 1)
        elif mode == "generr":
            send([(ber.enc_oid(o), ber.ENC_NULL) for o in oids], es=5, ei=1)
        elif mode == "wrongtype":
            send([(ber.enc_oid(o), ber.enc_octets(b"forty-two")) for o in oids])
        elif mode == "nosuch":
            send([(ber.enc_oid(o), ber.ENC_NO_SUCH_OBJECT) for o in oids])
        elif mode == "fewer":
            send([(ber.enc_oid(oids[0]), ber.enc_int(1))])
        elif mode in ("huge", "loop", "endofmib"):
            # GETBULK on one column: endless rows, the same row again, or endOfMibView mid-table
            out = []
            for o in oids:
                for k in range(max(1, pdu.error_index)):
                    if mode == "huge":
                        nxt = o[:11] + ((o[11] if len(o) > 11 else 0) + k + 1,)
                        out.append((ber.enc_oid(nxt), ber.enc_uint(k, ber.COUNTER32)))
                    elif mode == "loop":
                        out.append((ber.enc_oid(IF_ENTRY + (10, 1)), ber.enc_uint(7, ber.COUNTER32)))
                    else:
                        nxt = o[:11] + ((o[11] if len(o) > 11 else 0) + 1,)
                        out.append(
                            (ber.enc_oid(nxt), ber.enc_uint(7, ber.COUNTER32))
                            if k == 0 and len(o) <= 11
                            else (ber.enc_oid(o), ber.ENC_END_OF_MIB)
                        )
            send(out)


@pytest.fixture()
def evil():
    async def start():
        loop = asyncio.get_running_loop()
        tr, proto = await loop.create_datagram_endpoint(EvilAgent, local_addr=("127.0.0.1", 0))
        return tr, proto

    return start


def test_bad_answers_give_clear_per_target_errors(evil):
    async def go():
        tr, proto = await evil()
        port = tr.get_extra_info("sockname")[1]
        oids = [SYS + (3, 0), SYS + (5, 0)]
        results = {}
        async with SnmpEngine() as eng:

            def t(mode, retries=0):
                return Target(f"AP-{mode}", "127.0.0.1", port, V2c(mode.encode()), timeout=0.3, retries=retries)

            async def attempt(mode, fn):
                try:
                    return await fn(t(mode))
                except Exception as exc:  # noqa: BLE001 - the point is to see which
                    return exc

            col = [IF_ENTRY + (10,)]
            for mode in ("trunc", "garbage", "wrongid", "generr", "fewer"):
                results[mode] = await attempt(mode, lambda tg: eng.get(tg, oids))
            results["wrongtype"] = await attempt("wrongtype", lambda tg: eng.get(tg, oids))
            results["nosuch"] = await attempt("nosuch", lambda tg: eng.get(tg, oids))
            results["huge"] = await attempt("huge", lambda tg: eng.walk(tg, col, max_repetitions=50, max_rows=500))
            results["loop"] = await attempt("loop", lambda tg: eng.walk(tg, col))
            results["endofmib"] = await attempt("endofmib", lambda tg: eng.walk(tg, col))
            t0 = time.monotonic()
            results["silent"] = await attempt("silent", lambda tg: eng.get(t("silent", retries=2), oids))
            silent_s = time.monotonic() - t0
            retries = eng.stats.retries
            # everything above happened concurrently with a healthy poll elsewhere? no: check the engine still works
            results["after"] = await eng.get(t("nosuch"), oids)
        tr.close()
        return results, silent_s, retries, proto.seen

    r, silent_s, retries, seen = run(go())
    assert (
        isinstance(r["trunc"], SnmpProtocolError) and "truncated" in str(r["trunc"]) and "AP-trunc" in str(r["trunc"])
    )
    assert isinstance(r["garbage"], SnmpProtocolError) and "malformed" in str(r["garbage"])
    assert isinstance(r["wrongid"], SnmpTimeout)  # an answer to another request is not ours
    assert isinstance(r["generr"], SnmpErrorStatus) and "genErr" in str(r["generr"])
    assert isinstance(r["fewer"], SnmpProtocolError) and "2 OIDs" in str(r["fewer"])
    assert [value_of(vb) for vb in r["wrongtype"]] == [b"forty-two", b"forty-two"]  # typed later by the profile
    assert [value_of(vb) for vb in r["nosuch"]] == [None, None]
    assert isinstance(r["huge"], SnmpProtocolError) and "more than 500 rows" in str(r["huge"])
    assert isinstance(r["loop"], SnmpProtocolError) and "out of order" in str(r["loop"])
    assert [idx for idx, _ in r["endofmib"][IF_ENTRY + (10,)]] == [(1,)]
    assert isinstance(r["silent"], SnmpTimeout) and "after 3 tries" in str(r["silent"])
    assert seen["silent"] == 3 and retries >= 2
    assert 0.3 + 0.6 + 1.2 - 0.1 < silent_s < 3.0  # exponential backoff: 0.3, 0.6, 1.2 s
    assert len(r["after"]) == 2


def test_a_silent_target_does_not_delay_the_others(evil):
    async def go():
        tr, _ = await evil()
        port = tr.get_extra_info("sockname")[1]
        async with SnmpEngine() as eng:
            slow = Target("AP-silent", "127.0.0.1", port, V2c(b"silent"), timeout=2.0, retries=1)
            fast = [Target(f"AP-{i}", "127.0.0.1", port, V2c(b"nosuch"), timeout=2.0) for i in range(50)]
            slow_task = asyncio.ensure_future(eng.get(slow, [SYS + (3, 0)]))
            t0 = time.monotonic()
            await asyncio.gather(*(eng.get(t, [SYS + (3, 0)]) for t in fast))
            fast_s = time.monotonic() - t0
            with pytest.raises(SnmpTimeout):
                await slow_task
        tr.close()
        return fast_s

    assert run(go()) < 0.5


def test_an_answer_slower_than_one_try_but_within_the_retries_is_taken():
    """A resend keeps listening for the first send's answer: with a 1 s timeout and one retry, an
    agent answering after 1.3 s is slow, not missing (the contract: a slow answer is never a
    missing one); two slow answers do not make two results."""

    async def go():
        loop = asyncio.get_running_loop()
        tr, proto = await loop.create_datagram_endpoint(EvilAgent, local_addr=("127.0.0.1", 0))
        port = tr.get_extra_info("sockname")[1]
        async with SnmpEngine(backoff=1.0) as eng:
            t = Target("AP-slow", "127.0.0.1", port, V2c(b"slow"), timeout=1.0, retries=1)
            t0 = time.monotonic()
            vbs = await eng.get(t, [SYS + (3, 0)])
            took = time.monotonic() - t0
            await asyncio.sleep(1.2)  # the retry's answer arrives too: unmatched, harmless
            stats = (eng.stats.retries, eng.stats.timeouts, eng.stats.unmatched)
        tr.close()
        return vbs, took, stats, proto.seen

    vbs, took, (retries, timeouts, unmatched), seen = run(go())
    assert [value_of(vb) for vb in vbs] == [1] and 1.25 < took < 1.8
    assert seen["slow"] == 2 and retries == 1 and timeouts == 0 and unmatched == 1


def test_fuzzed_answers_never_crash_the_engine():
    """Mutations of valid v2c and v3 answers fed to the engine: each ends as a result or a clear error."""
    rng = random.Random(7)

    async def go():
        eng = SnmpEngine()
        eng.loop = asyncio.get_running_loop()

        class _T:
            def sendto(self, *a):
                pass

            def close(self):
                pass

        eng.transport = _T()
        target = Target("AP-FUZZ", "127.0.0.1", 9, V2c(b"public"), timeout=5)
        outcomes = {"ok": 0, "error": 0, "ignored": 0}
        for i in range(20000):
            rid = 1000 + i
            base = ber.enc_message_v2c(
                b"public",
                ber.enc_pdu(
                    ber.RESPONSE,
                    rid,
                    0,
                    0,
                    [
                        (ber.enc_oid(SYS + (3, 0)), ber.enc_uint(rng.randrange(2**32), ber.TIMETICKS)),
                        (ber.enc_oid(SYS + (5, 0)), ber.enc_octets(os.urandom(rng.randrange(0, 300)))),
                        (ber.enc_oid(IF_ENTRY + (10, 1)), ber.enc_uint(rng.randrange(2**64), ber.COUNTER64)),
                    ],
                ),
            )
            data = bytearray(base)
            for _ in range(rng.randrange(1, 6)):
                op = rng.random()
                pos = rng.randrange(len(data))
                if op < 0.4:
                    data[pos] = rng.randrange(256)
                elif op < 0.7:
                    del data[pos:]
                    if not data:
                        data = bytearray(b"\x30")
                else:
                    data[pos:pos] = os.urandom(rng.randrange(1, 8))
            fut = eng.loop.create_future()
            from collectors.snmp.engine import _Pending

            eng._pending[rid] = _Pending(fut, target, False)
            eng._by_addr[target.addr] = rid
            eng.datagram_received(bytes(data), target.addr)
            if fut.done():
                if fut.exception() is None:
                    outcomes["ok"] += 1
                    [value_of(vb) for vb in fut.result().varbinds if vb.tag in (4, 0x43, 0x46, 2, 0x41, 0x42)]
                else:
                    assert isinstance(fut.exception(), (SnmpProtocolError, SnmpErrorStatus)), fut.exception()
                    outcomes["error"] += 1
            else:
                outcomes["ignored"] += 1
            eng._pending.pop(rid, None)
        return outcomes

    outcomes = run(go())
    assert sum(outcomes.values()) == 20000
    assert outcomes["error"] > 5000 and outcomes["ok"] > 100


class DowngradeAgent(asyncio.DatagramProtocol):
    """A v3 agent on loopback: discovery works (noAuthNoPriv Report, as agents do); to a GET it
    answers correctly at authPriv (``mode == "good"``), or — a spoofer — with a noAuthNoPriv
    Response carrying values (``"noauth"``), or authenticated but unencrypted (``"nopriv"``)."""

    ENGINE_ID = b"\x80\x00\x1f\x88\x04pantau-downgrade"

    def __init__(self, mode: str):
        from snmpwire.usm import UserKeys

        self.mode = mode
        self.keys = UserKeys("pantau-noc", self.ENGINE_ID, "SHA", "test-auth-pass", "AES", "test-priv-pass")
        self.t0 = time.monotonic()
        self.gets = 0

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        from snmpwire.usm import encode_v3, scoped_plaintext

        h = ber.decode_message(data).v3
        boots, etime = 1, int(time.monotonic() - self.t0) + 100
        if not h.engine_id:  # discovery
            pdu = ber.enc_pdu(
                ber.REPORT, 0, 0, 0, [(ber.enc_oid((1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0)), ber.enc_uint(1, ber.COUNTER32))]
            )
            scoped = ber.tlv(ber.SEQUENCE, ber.enc_octets(self.ENGINE_ID) + ber.enc_octets(b"") + pdu)
            self.transport.sendto(
                encode_v3(h.msg_id, 65507, 0, self.ENGINE_ID, boots, etime, b"", None, scoped, False), addr
            )
            return
        self.gets += 1
        _e, _c, req = ber.decode_scoped_pdu(scoped_plaintext(data, h, self.keys, True))
        resp = ber.enc_pdu(
            ber.RESPONSE,
            req.request_id,
            0,
            0,
            [
                (ber.enc_oid(vb.oid), ber.enc_octets(b"spoofed" if self.mode != "good" else b"real"))
                for vb in req.varbinds
            ],
        )
        scoped = ber.tlv(ber.SEQUENCE, ber.enc_octets(self.ENGINE_ID) + ber.enc_octets(b"") + resp)
        if self.mode == "good":
            out = encode_v3(h.msg_id, 65507, 3, self.ENGINE_ID, boots, etime, self.keys.user, self.keys, scoped, True)
        elif self.mode == "nopriv":
            out = encode_v3(h.msg_id, 65507, 1, self.ENGINE_ID, boots, etime, self.keys.user, self.keys, scoped, False)
        else:
            out = encode_v3(h.msg_id, 65507, 0, self.ENGINE_ID, boots, etime, self.keys.user, None, scoped, False)
        self.transport.sendto(out, addr)


@pytest.mark.parametrize("mode", ["good", "noauth", "nopriv"])
def test_v3_answer_below_the_requested_security_level_is_refused(mode):
    async def go():
        loop = asyncio.get_running_loop()
        tr, agent = await loop.create_datagram_endpoint(lambda: DowngradeAgent(mode), local_addr=("127.0.0.1", 0))
        port = tr.get_extra_info("sockname")[1]
        target = Target(
            "AP-v3",
            "127.0.0.1",
            port,
            V3("pantau-noc", "SHA", "test-auth-pass", "AES", "test-priv-pass"),
            timeout=0.2,
            retries=1,
        )
        try:
            async with SnmpEngine() as eng:
                try:
                    out = [value_of(vb) for vb in await eng.get(target, [SYS + (5, 0), SYS + (6, 0)])]
                except (SnmpTimeout, SnmpAuthError) as exc:
                    out = exc
                return out, eng.stats, agent.gets, target.engine_id
        finally:
            tr.close()

    out, stats, gets, engine_id = run(go())
    assert engine_id == DowngradeAgent.ENGINE_ID  # discovery by a noAuthNoPriv Report still works
    if mode == "good":
        assert out == [b"real", b"real"] and stats.seclevel_mismatch == 0 and stats.answered == 1
    else:
        # counted and reported as an auth error at once, never taken as data, not retried
        assert isinstance(out, SnmpAuthError) and "below the requested security level" in str(out), out
        assert ("not authenticated" if mode == "noauth" else "not encrypted") in str(out)
        assert gets == 1 and stats.seclevel_mismatch == 1 and stats.answered == 0 and stats.retries == 0
