"""The simulated devices' SNMP engine: one UDP socket per device address, or one for all of them
(:class:`SharedEndpoint`, ``IP_PKTINFO``), and a lean request path.

Supports SNMPv2c and SNMPv3 (USM: discovery, reports, authNoPriv/authPriv, time window),
GET, GETNEXT and GETBULK (sized to the requester's msgMaxSize), SET refused as notWritable,
and SNMPv2 traps (v2c, or v3 authPriv with the device as authoritative engine).
A device that is unreachable (no power, dead uplink, failed) simply does not answer; a device
with ``loss`` > 0 loses that share of its requests at random (drawn from its own seeded ``rng``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import struct
from dataclasses import dataclass

from simulator.devices import Template
from simulator.state import DeviceState
from snmpwire import ber
from snmpwire.ber import (
    COUNTER32,
    ENC_END_OF_MIB,
    ENC_NO_SUCH_INSTANCE,
    ENC_NO_SUCH_OBJECT,
    GET,
    GETBULK,
    GETNEXT,
    REPORT,
    RESPONSE,
    SEQUENCE,
    SET,
    TRAP_V2,
    BERError,
    enc_octets,
    enc_oid,
    enc_pdu,
    enc_uint,
    tlv,
)
from snmpwire.usm import UserKeys, UsmError, encode_v3, scoped_plaintext

log = logging.getLogger("pantau.simulator.snmp")

USM_STATS = (1, 3, 6, 1, 6, 3, 15, 1, 1)
(
    UNSUPPORTED_SEC_LEVELS,
    NOT_IN_TIME_WINDOWS,
    UNKNOWN_USER_NAMES,
    UNKNOWN_ENGINE_IDS,
    WRONG_DIGESTS,
    DECRYPTION_ERRORS,
) = (USM_STATS + (i, 0) for i in range(1, 7))
SYS_UPTIME_0 = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID_0 = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
MAX_UDP = 65507
TIME_WINDOW = 150


@dataclass
class Security:
    """What a device accepts: a v2c community, or one v3 user with localized keys."""

    community: bytes | None = None
    keys: UserKeys | None = None
    engine_id: bytes = b""

    @property
    def v3(self) -> bool:
        return self.keys is not None


class Device:
    """An SNMP-speaking device: template + state + security + reachability."""

    __slots__ = ("ident", "address", "port", "template", "state", "security", "up", "delay_s", "loss", "rng", "stats")

    def __init__(self, ident: str, address: str, port: int, template: Template, state: DeviceState, security: Security):
        self.ident = ident
        self.address = address
        self.port = port
        self.template = template
        self.state = state
        self.security = security
        self.up = True  # False: no power, dead uplink or failed: the device does not answer
        self.delay_s = 0.0
        self.loss = 0.0  # share of requests whose answer is lost (the world's noise, `snmp_loss`)
        self.rng: random.Random | None = None  # draws the losses (seeded by the city)
        self.stats = {"requests": 0, "answered": 0, "dropped": 0, "bad": 0, "reports": 0, "lost": 0}

    # --- PDU processing (shared by v2c and v3) ----------------------------------------------
    def _value(self, i: int) -> bytes:
        return self.template.fns[i](self.state)

    def process_pdu(self, pdu: ber.Pdu, max_size: int) -> bytes:
        t = self.template
        tag = pdu.tag
        self.state.update()  # integrate traffic up to now, once per answered request
        out: list[tuple[bytes, bytes]] = []
        if tag == GET:
            for vb in pdu.varbinds:
                i = t.by_raw.get(vb.oid_raw)
                if i is not None:
                    out.append((t.oid_tlvs[i], self._value(i)))
                else:
                    oid = vb.oid or ber.dec_oid(vb.oid_raw)
                    out.append((enc_oid(oid), ENC_NO_SUCH_INSTANCE if t.is_object_prefix(oid) else ENC_NO_SUCH_OBJECT))
            return enc_pdu(RESPONSE, pdu.request_id, 0, 0, out)
        if tag == GETNEXT:
            for vb in pdu.varbinds:
                out.append(self._next(vb.oid or ber.dec_oid(vb.oid_raw)))
            return enc_pdu(RESPONSE, pdu.request_id, 0, 0, out)
        if tag == GETBULK:
            nr = max(0, pdu.error_status)
            mr = max(0, pdu.error_index)
            vbs = pdu.varbinds
            oids = [vb.oid or ber.dec_oid(vb.oid_raw) for vb in vbs]
            budget = min(max_size, MAX_UDP) - 100
            size = 0
            for oid in oids[:nr]:
                item = self._next(oid)
                out.append(item)
                size += len(item[0]) + len(item[1]) + 4
            cursors = oids[nr:]
            idx = [t.next_index(o) for o in cursors]
            last = [enc_oid(o) for o in cursors]
            n = len(t.oids)
            full = False
            for _ in range(mr if cursors else 0):
                if all(k > n for k in idx):  # every column has reported endOfMibView once
                    break
                for j in range(len(cursors)):
                    k = idx[j]
                    if k < n:
                        item = (t.oid_tlvs[k], self._value(k))
                        last[j] = t.oid_tlvs[k]
                        idx[j] = k + 1
                    else:
                        item = (last[j], ENC_END_OF_MIB)
                        idx[j] = n + 1
                    size += len(item[0]) + len(item[1]) + 4
                    if size > budget:
                        full = True
                        break
                    out.append(item)
                if full:
                    break
            return enc_pdu(RESPONSE, pdu.request_id, 0, 0, out)
        if tag == SET:
            echo = [(enc_oid(vb.oid or ber.dec_oid(vb.oid_raw)), tlv(vb.tag, vb.value_raw)) for vb in pdu.varbinds]
            return enc_pdu(RESPONSE, pdu.request_id, ber.NOT_WRITABLE, 1, echo)
        raise BERError(f"PDU type 0x{tag:02x} is not a request")

    def _next(self, oid: tuple[int, ...]) -> tuple[bytes, bytes]:
        t = self.template
        k = t.next_index(oid)
        if k < len(t.oids):
            return t.oid_tlvs[k], self._value(k)
        return enc_oid(oid), ENC_END_OF_MIB

    # --- message handling -------------------------------------------------------------------
    def handle(self, data: bytes) -> bytes | None:
        """Process one datagram; return the answer or None (dropped)."""
        self.stats["requests"] += 1
        try:
            msg = ber.decode_message(data, decode_oids=False)
            if msg.version == 1:
                sec = self.security
                if sec.v3 or msg.community != sec.community or msg.pdu.tag not in (GET, GETNEXT, GETBULK, SET):
                    self.stats["dropped"] += 1
                    return None
                out = ber.enc_message_v2c(msg.community, self.process_pdu(msg.pdu, MAX_UDP))
                self.stats["answered"] += 1
                return out
            return self._handle_v3(data, msg.v3)
        except (BERError, UsmError, IndexError, ValueError) as exc:
            self.stats["bad"] += 1
            log.debug("%s: bad request: %s", self.ident, exc)
            return None

    def _handle_v3(self, data: bytes, h: ber.V3Header) -> bytes | None:
        sec = self.security
        if not sec.v3 or h.security_model != 3:
            self.stats["dropped"] += 1
            return None
        auth, priv, reportable = bool(h.flags & 1), bool(h.flags & 2), bool(h.flags & 4)
        if priv and not auth:
            self.stats["bad"] += 1
            return None
        keys = sec.keys
        st = self.state
        boots, etime = st.boots, st.engine_time()

        def report(oid, authenticated: bool, request_id: int = 0) -> bytes | None:
            if not reportable:
                return None
            self.stats["reports"] += 1
            pdu = enc_pdu(REPORT, request_id, 0, 0, [(enc_oid(oid), enc_uint(1, COUNTER32))])
            scoped = tlv(SEQUENCE, enc_octets(sec.engine_id) + enc_octets(b"") + pdu)
            return self.build_v3(
                h.msg_id, 1 if authenticated else 0, scoped, authenticated=authenticated, encrypt=False
            )

        def plain_request_id() -> int:
            if priv:
                return 0
            try:
                return ber.decode_scoped_pdu(data[h.scoped_start : h.scoped_end], decode_oids=False)[2].request_id
            except BERError:
                return 0

        if h.engine_id != sec.engine_id:
            return report(UNKNOWN_ENGINE_IDS, False, plain_request_id())
        if h.user != keys.user:
            return report(UNKNOWN_USER_NAMES, False, plain_request_id())
        if not auth or (keys.priv_key is not None and not priv) or (priv and keys.priv_key is None):
            return report(UNSUPPORTED_SEC_LEVELS, False, plain_request_id())
        off = h.auth_params_offset
        if not keys.verify(data, off, h.auth_params):
            self.stats["bad"] += 1
            return report(WRONG_DIGESTS, False)
        if h.engine_boots != boots or abs(h.engine_time - etime) > TIME_WINDOW:
            return report(NOT_IN_TIME_WINDOWS, True)
        plain = scoped_plaintext(data, h, keys, priv)
        try:
            _ctx_engine, ctx_name, pdu = ber.decode_scoped_pdu(plain, decode_oids=False)
        except BERError:
            return report(DECRYPTION_ERRORS, True) if priv else None
        if pdu.tag not in (GET, GETNEXT, GETBULK, SET):
            return None
        resp = self.process_pdu(pdu, h.max_size)
        scoped = tlv(SEQUENCE, enc_octets(sec.engine_id) + enc_octets(ctx_name) + resp)
        self.stats["answered"] += 1
        return self.build_v3(h.msg_id, h.flags & 3, scoped, authenticated=True, encrypt=priv)

    def build_v3(self, msg_id: int, flags: int, scoped: bytes, authenticated: bool, encrypt: bool) -> bytes:
        sec, st = self.security, self.state
        keys = sec.keys
        return encode_v3(
            msg_id,
            MAX_UDP,
            flags,
            sec.engine_id,
            st.boots,
            st.engine_time(),
            keys.user if authenticated else b"",
            keys if authenticated else None,
            scoped,
            encrypt,
        )

    # --- traps --------------------------------------------------------------------------------
    def trap(self, trap_oid: tuple[int, ...], varbinds: list[tuple[tuple[int, ...], bytes]]) -> bytes:
        vbs = [
            (enc_oid(SYS_UPTIME_0), enc_uint(self.state.uptime_ticks(), ber.TIMETICKS)),
            (enc_oid(SNMP_TRAP_OID_0), enc_oid(trap_oid)),
        ] + [(enc_oid(o), v) for o, v in varbinds]
        pdu = enc_pdu(TRAP_V2, int.from_bytes(os.urandom(3), "big"), 0, 0, vbs)
        sec = self.security
        if not sec.v3:
            return ber.enc_message_v2c(sec.community, pdu)
        scoped = tlv(SEQUENCE, enc_octets(sec.engine_id) + enc_octets(b"") + pdu)
        priv = sec.keys.priv_key is not None
        return self.build_v3(int.from_bytes(os.urandom(3), "big"), 1 | (2 if priv else 0), scoped, True, priv)


class _Endpoint(asyncio.DatagramProtocol):
    __slots__ = ("device", "transport", "loop")

    def __init__(self, device: Device):
        self.device = device
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.loop = asyncio.get_running_loop()

    def datagram_received(self, data, addr):
        d = self.device
        if not d.up:
            d.stats["dropped"] += 1
            return
        if d.loss > 0 and d.rng is not None and d.rng.random() < d.loss:
            d.stats["lost"] += 1  # lost on the way: the device never sees it, nothing comes back
            return
        out = d.handle(data)
        if out is None:
            return
        if d.delay_s > 0:
            self.loop.call_later(d.delay_s, self._send, out, addr)
        else:
            self.transport.sendto(out, addr)

    def _send(self, out, addr):
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(out, addr)

    def error_received(self, exc):  # ICMP errors from sendto: nothing to do
        pass


IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux; Python 3.11 does not name it
_PKTINFO = struct.Struct("=i4s4s")  # struct in_pktinfo: ifindex, spec_dst, addr


class SharedEndpoint:
    """Every device of the simulator behind **one** UDP socket: bound to the port on all local
    addresses (the whole 127.0.0.0/8 range is local on Linux), each request's destination address
    (``IP_PKTINFO``) picks the device, and the answer leaves from that address (``IP_PKTINFO`` on
    ``sendmsg``), so a poller sees each device at its own address as with a socket per device —
    without a file descriptor per device (ten cities are 24,000 devices; the open-file limit here is
    20,000). Datagrams to or from outside 127.0.0.0/8 are dropped: this is a loopback simulator."""

    def __init__(self, devices: list[Device], port: int):
        self.port = port
        self.by_addr: dict[bytes, Device] = {}
        for d in devices:
            if d.port != port:
                raise ValueError(f"{d.ident} listens on {d.port}, the shared socket on {port}")
            key = socket.inet_aton(d.address)
            if key in self.by_addr:
                raise ValueError(f"{d.ident} and {self.by_addr[key].ident} share the address {d.address}")
            self.by_addr[key] = d
        self.sock: socket.socket | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.foreign = 0  # dropped: not loopback
        self.unknown = 0  # to an address no device has

    async def open(self) -> "SharedEndpoint":
        self.loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        try:
            sock.bind(("0.0.0.0", self.port))
        except OSError as exc:
            sock.close()
            raise OSError(f"cannot bind the shared SNMP socket to port {self.port}: {exc.strerror}") from None
        sock.setblocking(False)
        self.sock = sock
        self.loop.add_reader(sock.fileno(), self._readable)
        return self

    def close(self) -> None:
        if self.sock is not None:
            assert self.loop is not None
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None

    def _readable(self) -> None:
        sock = self.sock
        for _ in range(256):  # a burst per wake-up, then let the loop breathe
            if sock is None:
                return
            try:
                data, anc, _flags, addr = sock.recvmsg(MAX_UDP, socket.CMSG_SPACE(_PKTINFO.size))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            dst = None
            for level, kind, payload in anc:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(payload) >= _PKTINFO.size:
                    dst = _PKTINFO.unpack_from(payload)[2]
            if dst is None or dst[0] != 127 or not addr[0].startswith("127."):
                self.foreign += 1
                continue
            d = self.by_addr.get(dst)
            if d is None:
                self.unknown += 1
                continue
            if not d.up:
                d.stats["dropped"] += 1
                continue
            if d.loss > 0 and d.rng is not None and d.rng.random() < d.loss:
                d.stats["lost"] += 1
                continue
            out = d.handle(data)
            if out is None:
                continue
            if d.delay_s > 0:
                self.loop.call_later(d.delay_s, self.send_from, dst, out, addr)
            else:
                self.send_from(dst, out, addr)

    def send_from(self, src: bytes | str, data: bytes, addr) -> None:
        """Send ``data`` to ``addr`` from the device address ``src``."""
        if self.sock is None:
            return
        if isinstance(src, str):
            src = socket.inet_aton(src)
        try:
            self.sock.sendmsg([data], [(socket.IPPROTO_IP, IP_PKTINFO, _PKTINFO.pack(0, src, b"\0\0\0\0"))], 0, addr)
        except OSError:
            pass  # the poller went away: nothing to do


async def serve(devices: list[Device]) -> list[asyncio.DatagramTransport]:
    """Bind one UDP socket per device address. Returns the transports (close them to stop)."""
    loop = asyncio.get_running_loop()
    transports = []
    for d in devices:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((d.address, d.port))
        except OSError as exc:
            sock.close()
            for t in transports:
                t.close()
            raise OSError(f"cannot bind SNMP agent {d.ident} to {d.address}:{d.port}: {exc.strerror}") from None
        sock.setblocking(False)
        tr, _ = await loop.create_datagram_endpoint(lambda d=d: _Endpoint(d), sock=sock)
        transports.append(tr)
    return transports
