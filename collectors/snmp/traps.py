"""SNMP trap receiver (pysnmp): coldStart, warmStart, linkDown, linkUp — v2c and v3.

pysnmp is the right tool here: traps are rare (tens per incident), so its full RFC 3412/3414
machinery (USM with per-engine users, VACM-free notification receiving) costs nothing that
matters, and nobody here has to re-implement trap authentication.

SNMPv3 traps are sent by the device as authoritative engine, so the receiver needs a user entry
per device engine ID. Pantau learns engine IDs where the poller discovers them
(:meth:`TrapReceiver.learn_engine`, called after each v3 discovery) — nothing to configure by hand.
Keys are localised once (``snmpwire.usm``, the password digest is cached) and handed to pysnmp
as localised keys, so 1,300 users load in well under a second.

What a trap does (the :class:`TrapHandler` callbacks): coldStart/warmStart from a hotspot → a
reboot event, proof of life, immediate re-poll; linkDown from an access switch → the hotspot on
that port goes down at once, re-poll; linkUp → re-poll. Every trap is also a ``hotspot_event``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.proto.api import v2c as pv2c

from collectors.snmp.engine import V2c, V3
from snmpwire.usm import AUTH, PRIV_KEY_LEN, localize, password_to_key

log = logging.getLogger("pantau.collectors.traps")

SNMP_TRAP_OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
TRAPS = {
    (1, 3, 6, 1, 6, 3, 1, 1, 5, 1): "coldStart",
    (1, 3, 6, 1, 6, 3, 1, 1, 5, 2): "warmStart",
    (1, 3, 6, 1, 6, 3, 1, 1, 5, 3): "linkDown",
    (1, 3, 6, 1, 6, 3, 1, 1, 5, 4): "linkUp",
}
IF_INDEX = (1, 3, 6, 1, 2, 1, 2, 2, 1, 1)
AUTH_PROTO = {"SHA": config.USM_AUTH_HMAC96_SHA, "SHA-256": config.USM_AUTH_HMAC192_SHA256}
PRIV_PROTO = {"AES": config.USM_PRIV_CFB128_AES, "AES-256": config.USM_PRIV_CFB256_AES_BLUMENTHAL}


@dataclass(frozen=True)
class Trap:
    source: tuple[str, int]
    name: str  # coldStart, linkDown, ... or the dotted trap OID
    if_index: int | None
    varbinds: tuple[tuple[str, str], ...]
    at: float = field(default_factory=time.time)


class TrapReceiver:
    def __init__(self, host: str, port: int, communities: list[bytes], on_trap: Callable[[Trap], None]):
        self.host, self.port = host, port
        self.on_trap = on_trap
        self.snmp = engine.SnmpEngine()
        self.received = 0
        self.unknown_source = 0
        self._users: set[tuple[bytes, str]] = set()
        for i, c in enumerate(sorted(set(communities))):
            config.add_v1_system(self.snmp, f"pantau-{i}", c.decode())
        self._transport = None

    def start(self) -> None:
        """Open the UDP socket on the running asyncio loop."""
        self._transport = udp.UdpAsyncioTransport().open_server_mode((self.host, self.port))
        config.add_transport(self.snmp, udp.DOMAIN_NAME, self._transport)
        ntfrcv.NotificationReceiver(self.snmp, self._callback)
        log.info("trap receiver on udp %s:%d", self.host, self.port)

    def stop(self) -> None:
        try:
            self.snmp.transport_dispatcher.close_dispatcher()
        except Exception:  # closing twice or before start
            pass

    def learn_engine(self, engine_id: bytes, sec: V3) -> None:
        """Accept v3 traps from an agent whose engine ID the poller discovered."""
        key = (engine_id, sec.user)
        if key in self._users or not engine_id:
            return
        hash_name = AUTH[sec.auth_proto][0]
        auth_key = localize(password_to_key(sec.auth_password, hash_name), engine_id, hash_name)
        kwargs = dict(authProtocol=AUTH_PROTO[sec.auth_proto], authKey=auth_key,
                      authKeyType=config.USM_KEY_TYPE_LOCALIZED)
        if sec.priv_proto:
            priv_key = localize(password_to_key(sec.priv_password, hash_name), engine_id, hash_name)
            kwargs.update(privProtocol=PRIV_PROTO[sec.priv_proto], privKey=priv_key[:PRIV_KEY_LEN[sec.priv_proto]],
                          privKeyType=config.USM_KEY_TYPE_LOCALIZED)
        config.add_v3_user(self.snmp, sec.user, securityEngineId=pv2c.OctetString(engine_id), **kwargs)
        self._users.add(key)

    def _callback(self, snmp_engine, state_reference, context_engine_id, context_name, var_binds, cb_ctx):
        self.received += 1
        try:
            _domain, address = snmp_engine.message_dispatcher.get_transport_info(state_reference)
            source = (str(address[0]), int(address[1]))
        except Exception:
            source = ("", 0)
        name = ""
        if_index = None
        vbs = []
        for oid, val in var_binds:
            o = tuple(oid)
            if o == SNMP_TRAP_OID:
                t = tuple(val)
                name = TRAPS.get(t, ".".join(map(str, t)))
            elif o[:-1] == IF_INDEX:
                try:
                    if_index = int(val)
                except (TypeError, ValueError):
                    pass
            vbs.append((".".join(map(str, o)), val.prettyPrint()))
        try:
            self.on_trap(Trap(source, name, if_index, tuple(vbs)))
        except Exception:
            log.exception("trap handler failed for %s from %s", name, source)


def communities_of(securities) -> list[bytes]:
    return [s.community for s in securities if isinstance(s, V2c)]
