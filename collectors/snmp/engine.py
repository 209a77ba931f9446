"""Pantau's SNMP poll engine: asyncio, one UDP socket multiplexing every request.

Why not pysnmp's hlapi: it manages 120–190 GETs/s on this machine (pyasn1 decoding). Why not
gufo-snmp (the usual fast choice): one session and socket per target and ~5–6,600 GETs/s here;
``bench/snmp_poll.py`` measures this engine beside it and beside Prometheus' snmp_exporter.
The engine reuses :mod:`snmpwire` (the codec the simulator serves with, cross-checked against
pysnmp's decoder and fuzzed in ``tests/test_ber.py`` and ``tests/test_snmp_engine.py``).

- SNMPv2c and SNMPv3 (USM: engine discovery, authNoPriv/authPriv, SHA/SHA-256, AES-128/256,
  notInTimeWindow resynchronisation, keys localised once per engine).
- GET and GETBULK; :meth:`SnmpEngine.walk` walks several table columns at once with GETBULK.
- Per-request timeout, retries with exponential backoff; answers are matched by request id *and*
  source address; a malformed answer fails its request with a clear :class:`SnmpProtocolError`.
- A v3 Response below the requested security level (no auth flag, or no priv flag to an authPriv
  request) is never taken as data: it fails its request as an :class:`SnmpAuthError` and is
  counted in ``stats.seclevel_mismatch``.
- No request ever blocks another: each is a future completed from the socket's callback.
- A timeout means the agent did not answer in time, not that Pantau was too busy to read it: every
  readiness callback drains the socket (asyncio's datagram transport reads one datagram per loop
  iteration, while all due timers fire in that same iteration), and a request about to time out
  first drains whatever answers are already queued. Without this, a busy process times out
  answers sitting in its own receive buffer, retries them (more load) and counts the originals as
  ``unmatched`` — a collapse under load (switch-fail at time scale 10: half the answers "late").
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from snmpwire import ber
from snmpwire.ber import (
    GET,
    GETBULK,
    INTEGER,
    REPORT,
    RESPONSE,
    SEQUENCE,
    BERError,
    VarBind,
    enc_octets,
    enc_oid,
    oid_content,
    tlv,
)
from snmpwire.usm import UserKeys, UsmError, encode_v3, scoped_plaintext

MAX_MSG = 65507
USM_STATS = (1, 3, 6, 1, 6, 3, 15, 1, 1)
REPORT_REASONS = {
    USM_STATS + (1, 0): "unsupportedSecLevel (the agent wants another security level)",
    USM_STATS + (2, 0): "notInTimeWindow",
    USM_STATS + (3, 0): "unknownUserName (the agent does not know this v3 user)",
    USM_STATS + (4, 0): "unknownEngineID",
    USM_STATS + (5, 0): "wrongDigest (wrong authentication password or protocol)",
    USM_STATS + (6, 0): "decryptionError (wrong privacy password or protocol)",
}


class SnmpError(Exception):
    """A request to one target failed. ``kind`` is a short machine-readable reason."""

    kind = "error"

    def __init__(self, target: str, message: str):
        super().__init__(f"{target}: {message}")
        self.target = target
        self.detail = message


class SnmpTimeout(SnmpError):
    kind = "timeout"


class SnmpAuthError(SnmpError):
    kind = "auth"


class SnmpProtocolError(SnmpError):
    kind = "protocol"


class SnmpErrorStatus(SnmpError):
    kind = "error_status"


ERROR_STATUS = {
    1: "tooBig",
    2: "noSuchName",
    3: "badValue",
    4: "readOnly",
    5: "genErr",
    6: "noAccess",
    7: "wrongType",
    8: "wrongLength",
    9: "wrongEncoding",
    10: "wrongValue",
    11: "noCreation",
    12: "inconsistentValue",
    13: "resourceUnavailable",
    14: "commitFailed",
    15: "undoFailed",
    16: "authorizationError",
    17: "notWritable",
    18: "inconsistentName",
}


@dataclass(frozen=True)
class V2c:
    community: bytes

    def __repr__(self) -> str:  # never print secrets
        return "V2c(community=***)"


@dataclass(frozen=True)
class V3:
    user: str
    auth_proto: str  # SHA | SHA-256
    auth_password: str
    priv_proto: str | None = None  # AES | AES-256
    priv_password: str | None = None
    context: str = ""  # contextName (snmpsim selects a recording by it)

    def __repr__(self) -> str:  # never print secrets
        return f"V3(user={self.user!r}, auth={self.auth_proto}, priv={self.priv_proto}, passwords=***)"


@dataclass(eq=False)
class Target:
    """One SNMP agent. ``name`` is what errors and self-metrics are reported under."""

    name: str
    address: str
    port: int
    security: V2c | V3
    timeout: float = 1.0
    retries: int = 1
    # v3 state learned from the agent (discovery, time window)
    engine_id: bytes = b""
    boots: int = 0
    time_offset: float = 0.0  # agent engine time - local monotonic
    keys: UserKeys | None = field(default=None, repr=False)

    @property
    def addr(self) -> tuple[str, int]:
        return (self.address, self.port)

    def engine_time(self) -> int:
        return max(0, int(time.monotonic() + self.time_offset))


class _Pending:
    __slots__ = ("future", "target", "timer", "v3", "discovery")

    def __init__(self, future, target, v3, discovery=False):
        self.future = future
        self.target = target
        self.timer = None
        self.v3 = v3
        self.discovery = discovery


def _fast_pdu(tag: int, rid: int, a: int, b: int, varbind_list: bytes) -> bytes:
    return tlv(tag, ber.enc_int(rid) + ber.enc_int(a) + ber.enc_int(b) + varbind_list)


def encode_varbind_list(oids: list[tuple[int, ...]]) -> bytes:
    return tlv(SEQUENCE, b"".join(tlv(SEQUENCE, enc_oid(o) + ber.ENC_NULL) for o in oids))


@dataclass
class EngineStats:
    sent: int = 0
    answered: int = 0
    retries: int = 0
    timeouts: int = 0
    malformed: int = 0
    unmatched: int = 0  # answers nobody waits for (late, duplicated, spoofed)
    seclevel_mismatch: int = 0  # v3 answers below the security level asked for (refused: auth error)


class SnmpEngine(asyncio.DatagramProtocol):
    """Open with ``await engine.open()``; close with ``engine.close()``."""

    def __init__(self, bind: str = "127.0.0.1", rcvbuf: int = 8 << 20, backoff: float = 2.0):
        self.bind = bind
        self.rcvbuf = rcvbuf
        self.backoff = backoff
        self.stats = EngineStats()
        self.transport: asyncio.DatagramTransport | None = None
        self._pending: dict[int, _Pending] = {}
        self._by_addr: dict[tuple[str, int], int] = {}
        self._ids = itertools.count(int.from_bytes(os.urandom(2), "big") + 1)
        self._keys_cache: dict[tuple, UserKeys] = {}
        self._walk_cache: dict[tuple, tuple[list[bytes], bytes]] = {}
        self._sock: socket.socket | None = None
        self._draining = False

    # --- lifecycle ------------------------------------------------------------------------------
    async def open(self) -> "SnmpEngine":
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.rcvbuf)
        sock.bind((self.bind, 0))
        sock.setblocking(False)
        await loop.create_datagram_endpoint(lambda: self, sock=sock)
        self._sock = sock
        self.loop = loop
        return self

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        self._sock = None
        for p in list(self._pending.values()):
            if not p.future.done():
                p.future.set_exception(SnmpError(p.target.name, "engine closed"))
        self._pending.clear()

    async def __aenter__(self):
        return await self.open()

    async def __aexit__(self, *exc):
        self.close()

    def connection_made(self, transport):
        self.transport = transport

    def error_received(self, exc):  # ICMP port unreachable etc.: the request will time out
        pass

    # --- public requests ----------------------------------------------------------------------
    async def get(
        self, target: Target, oids: list[tuple[int, ...]], varbind_list: bytes | None = None
    ) -> list[VarBind]:
        """GET; returns the varbinds in request order (values may be noSuchObject/noSuchInstance)."""
        vbl = varbind_list or encode_varbind_list(oids)
        pdu = await self.request(target, GET, vbl)
        if len(pdu.varbinds) != len(oids):
            raise SnmpProtocolError(target.name, f"GET of {len(oids)} OIDs answered with {len(pdu.varbinds)} varbinds")
        return pdu.varbinds

    async def bulk(
        self,
        target: Target,
        oids: list[tuple[int, ...]],
        max_repetitions: int,
        non_repeaters: int = 0,
        varbind_list: bytes | None = None,
    ) -> list[VarBind]:
        vbl = varbind_list or encode_varbind_list(oids)
        pdu = await self.request(target, GETBULK, vbl, non_repeaters, max_repetitions)
        return pdu.varbinds

    def _columns(
        self, columns: list[tuple[int, ...]], scalars: Sequence[tuple[int, ...]] = ()
    ) -> tuple[list[bytes], bytes]:
        """The columns' then the scalars' OID content octets, and the first GETBULK varbind list
        (the scalars' object OIDs as non-repeaters first, then the columns), encoded once per
        column set (every device of a profile walks the same columns every cycle)."""
        key = (tuple(columns), tuple(scalars))
        got = self._walk_cache.get(key)
        if got is None:
            if len(self._walk_cache) > 1024:
                self._walk_cache.clear()
            got = self._walk_cache[key] = (
                [oid_content(c) for c in columns] + [oid_content(s) for s in scalars],
                encode_varbind_list([s[:-1] for s in scalars] + list(columns)),
            )
        return got

    async def walk(
        self, target: Target, columns: list[tuple[int, ...]], max_repetitions: int = 10, max_rows: int = 2000
    ) -> dict[tuple[int, ...], list[tuple[tuple[int, ...], VarBind]]]:
        """Walk table columns together with GETBULK. Returns column → [(index, varbind)].

        Stops a column at the first OID outside it or endOfMibView; refuses an agent that goes
        backwards (a loop) and tables over ``max_rows`` rows (a clear error, not a hang)."""
        return (await self.scalars_and_walk(target, [], columns, max_repetitions, max_rows))[1]

    async def scalars_and_walk(
        self,
        target: Target,
        scalars: Sequence[tuple[int, ...]],
        columns: list[tuple[int, ...]],
        max_repetitions: int = 10,
        max_rows: int = 2000,
    ) -> tuple[list[VarBind], dict[tuple[int, ...], list[tuple[tuple[int, ...], VarBind]]]]:
        """Scalars and table columns in one exchange when the tables fit (net-snmp's
        ``snmpbulkget -Cn``): the first GETBULK carries the scalars as its non-repeaters (RFC 3416
        §4.2.3: a GETNEXT of each scalar's object OID, so ``sysUpTime.0`` is asked as
        ``sysUpTime``), then the walk goes on as :meth:`walk`. Returns the scalars' varbinds in
        request order — a ``noSuchObject`` varbind where the agent's next OID is not the scalar's
        instance — and the walked columns. Every scalar must be a ``.0`` instance."""
        if not scalars and not columns:
            return [], {}
        for oid in scalars:
            if not oid or oid[-1] != 0:
                raise ValueError(f"scalar {'.'.join(map(str, oid))} is not a .0 instance")
        raws, first_vbl = self._columns(columns, scalars)
        nr = len(scalars)
        result: dict[tuple[int, ...], list] = {c: [] for c in columns}
        cursors = {i: columns[i] for i in range(len(columns))}
        last_index: dict[int, tuple[int, ...]] = {}
        scalar_vbs: list[VarBind] = []
        first = True
        while cursors or first:
            order = list(cursors)
            if first:
                pdu = await self.request(target, GETBULK, first_vbl, nr, max_repetitions if order else 0)
                vbs = pdu.varbinds
                if len(vbs) < nr:
                    raise SnmpProtocolError(
                        target.name, f"GETBULK with {nr} non-repeaters answered with {len(vbs)} varbinds"
                    )
                for oid, vb in zip(scalars, vbs):
                    if vb.oid_raw == raws[len(columns) + len(scalar_vbs)] and vb.tag < 0x80:
                        scalar_vbs.append(vb)
                    else:  # the agent has no such scalar: its next OID is something else
                        scalar_vbs.append(VarBind(oid, raws[len(columns) + len(scalar_vbs)], ber.NO_SUCH_OBJECT, b""))
                vbs = vbs[nr:]
                first = False
                if not order:
                    break
            else:
                vbs = await self.bulk(target, [cursors[i] for i in order], max_repetitions)
            if not vbs:
                raise SnmpProtocolError(target.name, "GETBULK answered with no varbinds")
            k = len(order)
            done = set()
            for n, vb in enumerate(vbs):
                i = order[n % k]
                if i in done:
                    continue
                raw = vb.oid_raw
                if vb.tag == ber.END_OF_MIB_VIEW or not raw.startswith(raws[i]) or len(raw) == len(raws[i]):
                    done.add(i)
                    continue
                index = ber.dec_subids(raw[len(raws[i]) :])
                prev = last_index.get(i)
                if prev is not None and index <= prev:
                    raise SnmpProtocolError(
                        target.name,
                        f"agent returned OIDs out of order in column "
                        f"{'.'.join(map(str, columns[i]))} (index {index} after {prev})",
                    )
                last_index[i] = index
                rows = result[columns[i]]
                rows.append((index, vb))
                if len(rows) > max_rows:
                    raise SnmpProtocolError(
                        target.name,
                        f"table column {'.'.join(map(str, columns[i]))} has more than {max_rows} rows; refused",
                    )
                cursors[i] = columns[i] + index
            for i in order:
                if i in done:
                    cursors.pop(i, None)
        return scalar_vbs, result

    async def request(self, target: Target, tag: int, varbind_list: bytes, a: int = 0, b: int = 0) -> ber.Pdu:
        sec = target.security
        if isinstance(sec, V3):
            if not target.engine_id:
                await self._discover(target)
            return await self._send_with_retries(target, tag, varbind_list, a, b, v3=True)
        return await self._send_with_retries(target, tag, varbind_list, a, b, v3=False)

    # --- internals ------------------------------------------------------------------------------
    def _encode(
        self, target: Target, rid: int, tag: int, vbl: bytes, a: int, b: int, v3: bool, discovery: bool = False
    ) -> bytes:
        pdu = _fast_pdu(tag, rid, a, b, vbl)
        if not v3:
            return tlv(SEQUENCE, b"\x02\x01\x01" + enc_octets(target.security.community) + pdu)
        if discovery:
            scoped = tlv(SEQUENCE, enc_octets(b"") + enc_octets(b"") + pdu)
            return encode_v3(rid, MAX_MSG, 4, b"", 0, 0, b"", None, scoped, False)
        keys = target.keys
        scoped = tlv(SEQUENCE, enc_octets(target.engine_id) + enc_octets(target.security.context.encode()) + pdu)
        priv = keys.priv_key is not None
        flags = 1 | (2 if priv else 0) | 4
        return encode_v3(
            rid, MAX_MSG, flags, target.engine_id, target.boots, target.engine_time(), keys.user, keys, scoped, priv
        )

    async def _discover(self, target: Target) -> None:
        """RFC 3414 4: learn the agent's snmpEngineID, boots and time from its Report."""
        await self._send_with_retries(target, GET, tlv(SEQUENCE, b""), 0, 0, v3=True, discovery=True)

    def _localize(self, target: Target) -> None:
        sec: V3 = target.security
        key = (sec.user, sec.auth_proto, sec.auth_password, sec.priv_proto, sec.priv_password, target.engine_id)
        keys = self._keys_cache.get(key)
        if keys is None:
            try:
                keys = UserKeys(
                    sec.user, target.engine_id, sec.auth_proto, sec.auth_password, sec.priv_proto, sec.priv_password
                )
            except UsmError as exc:
                raise SnmpAuthError(target.name, f"v3 credentials unusable: {exc}") from None
            self._keys_cache[key] = keys
        target.keys = keys

    async def _send_with_retries(
        self, target: Target, tag: int, vbl: bytes, a: int, b: int, v3: bool, discovery: bool = False
    ) -> ber.Pdu:
        """Send, and resend on timeout (``retries`` times, each waiting ``timeout`` × backoff^n).
        A resend keeps listening for the earlier sends' answers (net-snmp resends the same
        request): an answer slower than one try's timeout but within all of them is a slow
        answer, not a missing one."""
        resyncs = 0
        while True:
            result = await self._exchange(target, tag, vbl, a, b, v3, discovery)
            if result == "resync":  # notInTimeWindow report: the clock was updated, send again
                resyncs += 1
                if resyncs > 2:
                    raise SnmpAuthError(target.name, "agent keeps reporting notInTimeWindow")
                continue
            if discovery:
                return None
            return result

    async def _exchange(self, target: Target, tag: int, vbl: bytes, a: int, b: int, v3: bool, discovery: bool):
        """One request and its resends; the first answer to any of them settles it."""
        fut = self.loop.create_future()
        rids: list[int] = []
        tries = [0, target.timeout]  # attempt, its timeout
        timer = None

        def send() -> None:
            nonlocal timer
            rid = next(self._ids) & 0x7FFFFFFF
            packet = self._encode(target, rid, tag, vbl, a, b, v3, discovery)
            self._pending[rid] = _Pending(fut, target, v3, discovery)
            rids.append(rid)
            self._by_addr[target.addr] = rid
            if self.transport is None:
                raise SnmpError(target.name, "engine not open")
            self.transport.sendto(packet, target.addr)
            self.stats.sent += 1
            timer = self.loop.call_later(tries[1], expired)

        def expired() -> None:
            if fut.done():
                return
            self._drain()  # an answer may already be queued: then it is not late
            if fut.done():
                return
            if tries[0] < target.retries:
                tries[0] += 1
                tries[1] *= self.backoff
                self.stats.retries += 1
                try:
                    send()
                except SnmpError as exc:
                    fut.set_exception(exc)
                return
            self.stats.timeouts += 1
            fut.set_exception(
                SnmpTimeout(target.name, f"no answer from {target.address}:{target.port} after {tries[0] + 1} tries")
            )

        try:
            send()
            return await fut
        finally:
            if timer is not None:
                timer.cancel()
            for rid in rids:
                self._pending.pop(rid, None)
                if self._by_addr.get(target.addr) == rid:
                    del self._by_addr[target.addr]

    def _drain(self, limit: int = 4096) -> int:
        """Handle every datagram already in the socket's receive queue (at most ``limit``)."""
        sock = self._sock
        if sock is None or self.transport is None or self._draining:
            return 0
        self._draining = True
        n = 0
        try:
            while n < limit:
                try:
                    data, addr = sock.recvfrom(MAX_MSG + 1)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # e.g. an ICMP error reported on the socket: that request will time out
                    n += 1
                    continue
                n += 1
                self._handle(data, addr)
        finally:
            self._draining = False
        return n

    def datagram_received(self, data: bytes, addr) -> None:
        self._handle(data, addr)
        self._drain()

    def _handle(self, data: bytes, addr) -> None:
        try:
            msg = ber.decode_message(data, decode_oids=False)
        except (BERError, IndexError, ValueError) as exc:
            self._fail_by_addr(addr, f"malformed answer ({len(data)} bytes): {exc}")
            return
        if msg.version == 1:
            pdu = msg.pdu
            p = self._pending.get(pdu.request_id)
            if p is None or p.v3 or p.target.addr != addr or p.future.done():
                self.stats.unmatched += 1
                return
            if msg.community != p.target.security.community:
                self.stats.unmatched += 1
                return
            self._complete(p, pdu)
            return
        h = msg.v3
        p = self._pending.get(h.msg_id)
        if p is None or not p.v3 or p.target.addr != addr or p.future.done():
            self.stats.unmatched += 1
            return
        try:
            self._on_v3(p, data, h)
        except (BERError, UsmError, IndexError, ValueError) as exc:
            self.stats.malformed += 1
            p.future.set_exception(SnmpProtocolError(p.target.name, f"malformed v3 answer: {exc}"))

    def _on_v3(self, p: _Pending, data: bytes, h: ber.V3Header) -> None:
        t = p.target
        auth, priv = bool(h.flags & 1), bool(h.flags & 2)
        if p.discovery:
            if not h.engine_id:
                raise BERError("discovery report carries no engine ID")
            t.engine_id = h.engine_id
            t.boots = h.engine_boots
            t.time_offset = h.engine_time - time.monotonic()
            self._localize(t)
            p.future.set_result(None)
            return
        keys = t.keys
        if auth:
            if h.user != keys.user or not keys.verify(data, h.auth_params_offset, h.auth_params):
                raise UsmError("answer fails authentication (wrong key or tampered)")
        elif priv:  # privacy without authentication: invalid msgFlags (RFC 3412 7.2 step 5)
            self._below_level(p, "encrypted but not authenticated")
            return
        plain = scoped_plaintext(data, h, keys, priv)
        _engine, _ctx, pdu = ber.decode_scoped_pdu(plain, decode_oids=False)
        if pdu.tag != REPORT and (not auth or (keys.priv_key is not None and not priv)):
            # Every request goes out authenticated (and encrypted when there is a privacy key): an
            # answer carrying data at a lower level is spoofed or downgraded. Only Reports
            # (discovery, notInTimeWindow, unknownUserName ...) legitimately come at noAuthNoPriv.
            self._below_level(p, "not authenticated" if not auth else "not encrypted")
            return
        if pdu.tag == REPORT:
            oid = ber.dec_oid(pdu.varbinds[0].oid_raw) if pdu.varbinds else ()
            if oid == USM_STATS + (2, 0) and auth:  # authenticated notInTimeWindow: resync and resend
                t.boots = h.engine_boots
                t.time_offset = h.engine_time - time.monotonic()
                p.future.set_result("resync")
                return
            if oid == USM_STATS + (4, 0):  # the agent's engine changed (replaced device): rediscover
                t.engine_id = b""
            reason = REPORT_REASONS.get(oid, f"report {'.'.join(map(str, oid))}")
            p.future.set_exception(SnmpAuthError(t.name, f"SNMPv3 {reason}"))
            return
        if auth and (h.engine_boots != t.boots or h.engine_time < t.engine_time() - 150):
            t.boots = h.engine_boots
            t.time_offset = h.engine_time - time.monotonic()
        self._complete(p, pdu)

    def _below_level(self, p: _Pending, what: str) -> None:
        self.stats.seclevel_mismatch += 1
        level = "authPriv" if p.target.keys.priv_key is not None else "authNoPriv"
        p.future.set_exception(
            SnmpAuthError(
                p.target.name, f"SNMPv3 answer below the requested security level ({what}; asked {level}): refused"
            )
        )

    def _complete(self, p: _Pending, pdu: ber.Pdu) -> None:
        if pdu.tag != RESPONSE:
            self.stats.malformed += 1
            p.future.set_exception(SnmpProtocolError(p.target.name, f"expected a Response PDU, got 0x{pdu.tag:02x}"))
            return
        if pdu.error_status:
            name = ERROR_STATUS.get(pdu.error_status, str(pdu.error_status))
            p.future.set_exception(SnmpErrorStatus(p.target.name, f"agent answered {name} (index {pdu.error_index})"))
            return
        self.stats.answered += 1
        p.future.set_result(pdu)

    def _fail_by_addr(self, addr, message: str) -> None:
        self.stats.malformed += 1
        rid = self._by_addr.get(addr)
        p = self._pending.get(rid) if rid is not None else None
        if p is not None and not p.future.done():
            p.future.set_exception(SnmpProtocolError(p.target.name, message))


def value_of(vb: VarBind):
    """The Python value of a varbind; None for noSuchObject/noSuchInstance/endOfMibView/NULL."""
    if vb.tag >= 0x80 or vb.tag == ber.NULL:
        return None
    return ber.decode_value(vb.tag, vb.value_raw)


__all__ = [
    "SnmpEngine",
    "Target",
    "V2c",
    "V3",
    "SnmpError",
    "SnmpTimeout",
    "SnmpAuthError",
    "SnmpProtocolError",
    "SnmpErrorStatus",
    "value_of",
    "encode_varbind_list",
    "INTEGER",
]
