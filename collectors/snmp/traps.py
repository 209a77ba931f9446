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

A v3 trap must carry the security level its user was learned with: pysnmp's USM, receiving as
the non-authoritative side, checks a level only for its own engine, so a noAuthNoPriv (or
authNoPriv) trap naming an authPriv user and a device's engine ID would otherwise be taken as
news from that device. Such a trap is refused and counted (``rejected["seclevel_mismatch"]``).
Every refused trap — unknown community, unknown engine or user, wrong digest, undecryptable,
below the security level, unparsable — is counted in :attr:`TrapReceiver.rejected` by reason and
logged (a warning at most once a minute per reason and source address).
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

from collectors.snmp.engine import V3, V2c
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
# Why pysnmp dropped a message: its own RFC counters, read around each datagram.
_DROP_COUNTERS = {
    "bad_community": ("__SNMPv2-MIB", "snmpInBadCommunityNames"),
    "parse_error": ("__SNMPv2-MIB", "snmpInASNParseErrs"),
    "unknown_engine": ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownEngineIDs"),
    "unknown_user": ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownUserNames"),
    "unsupported_seclevel": ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnsupportedSecLevels"),
    "wrong_digest": ("__SNMP-USER-BASED-SM-MIB", "usmStatsWrongDigests"),
    "not_in_time_window": ("__SNMP-USER-BASED-SM-MIB", "usmStatsNotInTimeWindows"),
    "decryption_error": ("__SNMP-USER-BASED-SM-MIB", "usmStatsDecryptionErrors"),
}
NO_AUTH, AUTH_NO_PRIV, AUTH_PRIV = 1, 2, 3  # RFC 3411 securityLevel
LEVEL_NAMES = {NO_AUTH: "noAuthNoPriv", AUTH_NO_PRIV: "authNoPriv", AUTH_PRIV: "authPriv"}
LOG_EVERY_S = 60.0


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
        self.received = 0  # traps accepted and handed to on_trap
        self.unknown_source = 0
        self.rejected: dict[str, int] = {}  # reason -> traps refused
        self._users: dict[tuple[bytes, str], int] = {}  # (engine ID, user) -> security level required
        self._usm: dict | None = None  # the USM user entry that matched the datagram being processed
        self._logged: dict[tuple[str, str], float] = {}
        for i, c in enumerate(sorted(set(communities))):
            config.add_v1_system(self.snmp, f"pantau-{i}", c.decode())
        self._transport = None
        self._counters = {
            reason: self.snmp.get_mib_builder().import_symbols(*sym)[0] for reason, sym in _DROP_COUNTERS.items()
        }
        self.snmp.observer.register_observer(self._usm_matched, "rfc3414.processIncomingMsg")
        md = self.snmp.message_dispatcher
        self._receive_message = md.receive_message
        md.receive_message = self._receive  # the engine's transport callback looks it up per datagram

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

    def knows(self, target) -> bool:
        """Whether the v3 user of ``target``'s discovered engine is configured already."""
        return (target.engine_id, target.security.user) in self._users

    def learn_engine(self, engine_id: bytes, sec: V3) -> None:
        """Accept v3 traps from an agent whose engine ID the poller discovered."""
        key = (engine_id, sec.user)
        if key in self._users or not engine_id:
            return
        level = AUTH_PRIV if sec.priv_proto else AUTH_NO_PRIV
        hash_name = AUTH[sec.auth_proto][0]
        auth_key = localize(password_to_key(sec.auth_password, hash_name), engine_id, hash_name)
        kwargs = dict(
            authProtocol=AUTH_PROTO[sec.auth_proto], authKey=auth_key, authKeyType=config.USM_KEY_TYPE_LOCALIZED
        )
        if sec.priv_proto:
            priv_key = localize(password_to_key(sec.priv_password, hash_name), engine_id, hash_name)
            kwargs.update(
                privProtocol=PRIV_PROTO[sec.priv_proto],
                privKey=priv_key[: PRIV_KEY_LEN[sec.priv_proto]],
                privKeyType=config.USM_KEY_TYPE_LOCALIZED,
            )
        config.add_v3_user(self.snmp, sec.user, securityEngineId=pv2c.OctetString(engine_id), **kwargs)
        self._users[key] = level

    # --- refusals ------------------------------------------------------------------------------
    def _receive(self, snmp_engine, transport_domain, transport_address, whole_msg):
        """One datagram through pysnmp; whatever its counters say it dropped is counted here."""
        before = {r: int(c.syntax) for r, c in self._counters.items()}
        self._usm = None
        try:
            return self._receive_message(snmp_engine, transport_domain, transport_address, whole_msg)
        finally:
            self._usm = None
            for r, c in self._counters.items():
                if int(c.syntax) > before[r]:
                    self._reject(r, transport_address)

    def _usm_matched(self, snmp_engine, execpoint, variables, cb_ctx):
        self._usm = variables

    def _reject(self, reason: str, address, detail: str = "") -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        try:
            src = str(address[0])
        except (TypeError, IndexError):
            src = "?"
        now = time.monotonic()
        if now - self._logged.get((reason, src), -LOG_EVERY_S) >= LOG_EVERY_S:
            self._logged[(reason, src)] = now
            if len(self._logged) > 10000:
                self._logged.clear()
            log.warning(
                "trap from %s refused: %s%s (%d refused for this reason so far)",
                src,
                reason,
                f" ({detail})" if detail else "",
                self.rejected[reason],
            )

    def _security_ok(self, snmp_engine, address) -> bool:
        """A v3 trap must carry the level its (engine ID, user) was learned with."""
        try:
            ctx = snmp_engine.observer.get_execution_context("rfc3412.receiveMessage:request")
        except KeyError:
            return True
        if ctx.get("messageProcessingModel") != 3:
            return True  # v1/v2c: the community was checked by pysnmp
        level = int(ctx.get("securityLevel") or 0)
        usm = self._usm or {}
        engine_id = bytes(usm.get("securityEngineId") or b"")
        user = bytes(usm.get("userName") or b"").decode(errors="replace")
        required = self._users.get((engine_id, user), AUTH_PRIV)
        if level >= required:
            return True
        self._reject(
            "seclevel_mismatch",
            address,
            f"user {user!r}: {LEVEL_NAMES.get(level, level)}, {LEVEL_NAMES[required]} required",
        )
        return False

    def _callback(self, snmp_engine, state_reference, context_engine_id, context_name, var_binds, cb_ctx):
        try:
            _domain, address = snmp_engine.message_dispatcher.get_transport_info(state_reference)
            source = (str(address[0]), int(address[1]))
        except Exception:
            address, source = None, ("", 0)
        if not self._security_ok(snmp_engine, address):
            return
        self.received += 1
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
