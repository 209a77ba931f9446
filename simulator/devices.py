"""What each simulated device answers over SNMP: one MIB template per vendor (and per switch).

A template is a sorted list of (OID, value function). Value functions read the device's live
state (:class:`simulator.state.DeviceState`) and return the encoded value TLV, so one template
serves every device of its vendor. Vendor OIDs:

- MikroTik: MIKROTIK-MIB mtxrWlApTable (1.3.6.1.4.1.14988.1.1.1.3.1): SSID, client count,
  frequency, noise floor, CCQ per wireless interface.
- Ubiquiti UniFi: UBNT-UniFi-MIB unifiRadioTable (…41112.1.6.1.1.1: channel utilisation) and
  unifiVapTable (…41112.1.6.1.2.1: channel, ESSID, stations).
- Ruckus: RUCKUS-RADIO-MIB ruckusRadioStatsTable (…25053.1.1.12.1.1.1.3.1: stations,
  resource utilisation).
- Cisco lightweight APs: MIB-II/IF-MIB/HOST-RESOURCES only (their wifi metrics live on the WLC,
  AIRESPACE-WIRELESS-MIB).
All devices: SNMPv2-MIB system group, IF-MIB ifTable (32-bit) and ifXTable (64-bit),
HOST-RESOURCES-MIB hrSystemUptime, hrProcessorLoad and hrStorage (RAM).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Callable

from snmpwire.ber import (
    COUNTER32,
    COUNTER64,
    GAUGE32,
    OID,
    TIMETICKS,
    enc_int,
    enc_octets,
    enc_oid,
    enc_uint,
    oid_content,
    tlv,
)

ValueFn = Callable[["object"], bytes]

SYS = (1, 3, 6, 1, 2, 1, 1)
IF_TABLE = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_TABLE = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
HR = (1, 3, 6, 1, 2, 1, 25)
MTXR_WLAP = (1, 3, 6, 1, 4, 1, 14988, 1, 1, 1, 3, 1)
UNIFI_RADIO = (1, 3, 6, 1, 4, 1, 41112, 1, 6, 1, 1, 1)
UNIFI_VAP = (1, 3, 6, 1, 4, 1, 41112, 1, 6, 1, 2, 1)
RUCKUS_RADIO_STATS = (1, 3, 6, 1, 4, 1, 25053, 1, 1, 12, 1, 1, 1, 3, 1)
M32, M64 = 2**32, 2**64


@dataclass(frozen=True)
class Vendor:
    name: str
    enterprise: int
    sys_object_id: tuple[int, ...]
    descr: str  # format with {model}
    if_names: tuple[str, ...]  # ifIndex 1.. : uplink, radio 2.4 GHz, radio 5 GHz


VENDORS = {
    "mikrotik": Vendor(
        "mikrotik", 14988, (1, 3, 6, 1, 4, 1, 14988, 1), "RouterOS {model}", ("ether1", "wlan1", "wlan2")
    ),
    "ubiquiti": Vendor(
        "ubiquiti",
        41112,
        (1, 3, 6, 1, 4, 1, 41112, 1, 6),
        "Linux 4.4.153 #1 SMP {model} 6.5.62",
        ("eth0", "ath0", "ath1"),
    ),
    "cisco": Vendor(
        "cisco",
        9,
        (1, 3, 6, 1, 4, 1, 9, 1, 2240),
        "Cisco AP Software, {model}, Version 17.9.4",
        ("GigabitEthernet0", "Dot11Radio0", "Dot11Radio1"),
    ),
    "ruckus": Vendor(
        "ruckus",
        25053,
        (1, 3, 6, 1, 4, 1, 25053, 3, 1, 4),
        "Ruckus {model} Multimedia Hotzone Wireless AP",
        ("eth0", "wlan0", "wlan32"),
    ),
}


class Template:
    """A sorted OID → value-function table with O(1) GET and O(log n) GETNEXT."""

    def __init__(self, entries: list[tuple[tuple[int, ...], ValueFn]]):
        entries = sorted(entries, key=lambda e: e[0])
        self.oids = [e[0] for e in entries]
        self.fns = [e[1] for e in entries]
        self.oid_tlvs = [enc_oid(o) for o in self.oids]
        self.by_raw = {oid_content(o): i for i, o in enumerate(self.oids)}
        if len(self.by_raw) != len(self.oids):
            raise ValueError("duplicate OID in template")

    def next_index(self, oid: tuple[int, ...]) -> int:
        return bisect.bisect_right(self.oids, oid)

    def is_object_prefix(self, oid: tuple[int, ...]) -> bool:
        """True if ``oid`` names an instance of a known object (for noSuchInstance vs noSuchObject)."""
        i = bisect.bisect_left(self.oids, oid[:-1])
        return i < len(self.oids) and self.oids[i][: len(oid) - 1] == oid[:-1]


def _s(v: str) -> ValueFn:
    b = enc_octets(v)
    return lambda d: b


def _const_int(v: int) -> ValueFn:
    b = enc_int(v)
    return lambda d: b


def _const_u(v: int, tag: int) -> ValueFn:
    b = enc_uint(v, tag)
    return lambda d: b


def _system(descr: str, object_id: tuple[int, ...], name: str, location: str) -> list:
    oid_b = tlv(OID, oid_content(object_id))
    return [
        (SYS + (1, 0), _s(descr)),
        (SYS + (2, 0), lambda d: oid_b),
        (SYS + (3, 0), lambda d: enc_uint(d.uptime_ticks(), TIMETICKS)),
        (SYS + (4, 0), _s("NOC Diskominfo <noc@pantau.local>")),
        (SYS + (5, 0), _s(name)),
        (SYS + (6, 0), _s(location)),
        (SYS + (7, 0), _const_int(72)),
    ]


def _interfaces(if_names, if_types, speeds_mbps) -> list:
    n = len(if_names)
    entries = [((1, 3, 6, 1, 2, 1, 2, 1, 0), _const_int(n))]
    for i in range(n):
        ix = i + 1
        speed = speeds_mbps[i]
        entries += [
            (IF_TABLE + (1, ix), _const_int(ix)),
            (IF_TABLE + (2, ix), _s(if_names[i])),
            (IF_TABLE + (3, ix), _const_int(if_types[i])),
            (IF_TABLE + (4, ix), _const_int(1500)),
            (IF_TABLE + (5, ix), _const_u(min(speed * 1_000_000, M32 - 1), GAUGE32)),
            (IF_TABLE + (6, ix), lambda d, i=i: d.enc_macs[i]),
            (IF_TABLE + (7, ix), _const_int(1)),
            (IF_TABLE + (8, ix), lambda d, i=i: enc_int(d.oper_status(i))),
            (IF_TABLE + (9, ix), lambda d, i=i: enc_uint(d.last_change_ticks(i), TIMETICKS)),
            (IF_TABLE + (10, ix), lambda d, i=i: enc_uint(d.octets(i, 0) % M32, COUNTER32)),
            (IF_TABLE + (11, ix), lambda d, i=i: enc_uint(d.packets(i, 0) % M32, COUNTER32)),
            (IF_TABLE + (13, ix), _const_u(0, COUNTER32)),
            (IF_TABLE + (14, ix), lambda d, i=i: enc_uint(d.errors(i) % M32, COUNTER32)),
            (IF_TABLE + (16, ix), lambda d, i=i: enc_uint(d.octets(i, 1) % M32, COUNTER32)),
            (IF_TABLE + (17, ix), lambda d, i=i: enc_uint(d.packets(i, 1) % M32, COUNTER32)),
            (IF_TABLE + (19, ix), _const_u(0, COUNTER32)),
            (IF_TABLE + (20, ix), _const_u(0, COUNTER32)),
            (IFX_TABLE + (1, ix), _s(if_names[i])),
            (IFX_TABLE + (6, ix), lambda d, i=i: enc_uint(d.octets(i, 0) % M64, COUNTER64)),
            (IFX_TABLE + (7, ix), lambda d, i=i: enc_uint(d.packets(i, 0) % M64, COUNTER64)),
            (IFX_TABLE + (10, ix), lambda d, i=i: enc_uint(d.octets(i, 1) % M64, COUNTER64)),
            (IFX_TABLE + (11, ix), lambda d, i=i: enc_uint(d.packets(i, 1) % M64, COUNTER64)),
            (IFX_TABLE + (15, ix), _const_u(speed, GAUGE32)),
            (IFX_TABLE + (18, ix), _s("")),
        ]
    return entries


def _host_resources(ram_kb: int) -> list:
    return [
        (HR + (1, 1, 0), lambda d: enc_uint(d.uptime_ticks(), TIMETICKS)),
        (HR + (2, 3, 1, 1, 1), _const_int(1)),
        (HR + (2, 3, 1, 2, 1), lambda d: enc_oid((1, 3, 6, 1, 2, 1, 25, 2, 1, 2))),
        (HR + (2, 3, 1, 3, 1), _s("Physical memory")),
        (HR + (2, 3, 1, 4, 1), _const_int(1024)),
        (HR + (2, 3, 1, 5, 1), _const_int(ram_kb)),
        (HR + (2, 3, 1, 6, 1), lambda d: enc_int(int(ram_kb * d.mem_fraction()))),
        (HR + (3, 3, 1, 2, 196608), lambda d: enc_int(d.cpu_pct())),
    ]


def _wifi(vendor: str) -> list:
    e: list = []
    if vendor == "mikrotik":
        for r, ix in ((0, 2), (1, 3)):
            e += [
                (MTXR_WLAP + (4, ix), _s("Semarang Free WiFi")),
                (MTXR_WLAP + (6, ix), lambda d, r=r: enc_uint(d.clients(r), COUNTER32)),
                (MTXR_WLAP + (7, ix), _const_int(2437 if r == 0 else 5180)),
                (MTXR_WLAP + (9, ix), lambda d, r=r: enc_int(d.noise_dbm(r))),
                (MTXR_WLAP + (10, ix), lambda d, r=r: enc_uint(max(0, 100 - d.channel_util(r) // 2), COUNTER32)),
                (MTXR_WLAP + (11, ix), lambda d, r=r: enc_uint(d.clients(r), COUNTER32)),
            ]
    elif vendor == "ubiquiti":
        for r in (0, 1):
            ix = r + 1
            e += [
                (UNIFI_RADIO + (1, ix), _const_int(ix)),
                (UNIFI_RADIO + (2, ix), _s(f"wifi{r}")),
                (UNIFI_RADIO + (3, ix), _s("ng" if r == 0 else "na")),
                (UNIFI_RADIO + (6, ix), lambda d, r=r: enc_int(d.channel_util(r))),
                (UNIFI_RADIO + (7, ix), lambda d, r=r: enc_int(d.channel_util(r) // 3)),
                (UNIFI_RADIO + (8, ix), lambda d, r=r: enc_int(d.channel_util(r) // 2)),
                (UNIFI_VAP + (1, ix), _const_int(ix)),
                (UNIFI_VAP + (4, ix), _const_int(6 if r == 0 else 36)),
                (UNIFI_VAP + (6, ix), _s("Semarang Free WiFi")),
                (UNIFI_VAP + (7, ix), _s(f"ath{r}")),
                (UNIFI_VAP + (8, ix), lambda d, r=r: enc_int(d.clients(r))),
                (UNIFI_VAP + (9, ix), _s("ng" if r == 0 else "na")),
            ]
    elif vendor == "ruckus":
        for r in (0, 1):
            ix = r + 1
            e += [
                (RUCKUS_RADIO_STATS + (1, ix), _const_u(256, COUNTER32)),
                (RUCKUS_RADIO_STATS + (2, ix), lambda d, r=r: enc_uint(d.clients(r), COUNTER32)),
                (RUCKUS_RADIO_STATS + (3, ix), lambda d, r=r: enc_uint(d.clients(r), COUNTER32)),
                (RUCKUS_RADIO_STATS + (15, ix), lambda d, r=r: enc_uint(d.channel_util(r), GAUGE32)),
            ]
    return e


def _mac(seed: int, i: int) -> bytes:
    return bytes((0x02, 0x50, (seed >> 16) & 0xFF, (seed >> 8) & 0xFF, seed & 0xFF, i))


_hotspot_templates: dict[tuple, Template] = {}


def hotspot_template(vendor: str, model: str) -> Template:
    """Shared by all hotspots of a vendor/model; per-device strings (name, location, MACs) come from state."""
    key = (vendor, model)
    if key not in _hotspot_templates:
        v = VENDORS[vendor]
        entries = [
            (SYS + (1, 0), _s(v.descr.format(model=model))),
            (SYS + (2, 0), (lambda b: lambda d: b)(enc_oid(v.sys_object_id))),
            (SYS + (3, 0), lambda d: enc_uint(d.uptime_ticks(), TIMETICKS)),
            (SYS + (4, 0), _s("NOC Diskominfo <noc@pantau.local>")),
            (SYS + (5, 0), lambda d: d.enc_name),
            (SYS + (6, 0), lambda d: d.enc_location),
            (SYS + (7, 0), _const_int(72)),
        ]
        entries += _interfaces(v.if_names, (6, 71, 71), (1000, 300, 867)) + _host_resources(131072) + _wifi(vendor)
        _hotspot_templates[key] = Template(entries)
    return _hotspot_templates[key]


def switch_template(switch_id: str, n_ports: int, role: str) -> Template:
    names = ["uplink"] + [f"port{i}" for i in range(1, n_ports + 1)]
    entries = _system(
        f"Simulated {role} switch, Pantau city simulator",
        (1, 3, 6, 1, 4, 1, 14988, 1),
        switch_id,
        f"Kabinet {switch_id}",
    )
    entries += _interfaces(names, [6] * len(names), [10000] + [1000] * n_ports)
    return Template(entries)


def device_macs(seed: int, n: int = 3) -> list[bytes]:
    return [enc_octets(_mac(seed, i)) for i in range(n)]


# AIRESPACE-WIRELESS-MIB (Cisco WLC): APs are rows indexed by their Ethernet MAC (6 sub-ids),
# radios by MAC.slot, noise by MAC.slot.channel.
BSN_AP = (1, 3, 6, 1, 4, 1, 14179, 2, 2, 1, 1)  # bsnAPEntry: 1 Dot3MacAddress, 3 Name, 6 OperationStatus
BSN_AP_IF = (1, 3, 6, 1, 4, 1, 14179, 2, 2, 2, 1)  # bsnAPIfEntry: 2 Type, 4 PhyChannelNumber, 15 NoOfUsers
BSN_AP_IF_LOAD = (1, 3, 6, 1, 4, 1, 14179, 2, 2, 13, 1)  # 3 ChannelUtilization, 4 NumOfClients
BSN_AP_IF_NOISE = (1, 3, 6, 1, 4, 1, 14179, 2, 2, 15, 1)  # 21 DBNoisePower (index MAC.slot.channel)
WLC_SYS_OBJECT_ID = (1, 3, 6, 1, 4, 1, 9, 1, 2170)


def wlc_template(name: str, model: str, aps: list[tuple[str, bytes, object]]) -> Template:
    """A Cisco WLC: its own MIB-II plus one AIRESPACE row per AP it manages.

    ``aps``: (AP name, Ethernet MAC, ap) where ``ap.joined()`` says whether the AP is up and
    ``ap.state`` is its DeviceState (clients, channel utilisation, noise come from the AP)."""
    entries = _system(f"Cisco Controller {model}, AireOS 8.10.185.0", WLC_SYS_OBJECT_ID, name, "Data centre")
    entries += _interfaces(["TenGigabitEthernet0/0/1"], [6], [10000]) + _host_resources(16777216)
    for ap_name, mac, ap in aps:
        ix = tuple(mac)
        entries += [
            (BSN_AP + (1,) + ix, _s_bytes(mac)),
            (BSN_AP + (3,) + ix, _s(ap_name)),
            (BSN_AP + (6,) + ix, lambda d, ap=ap: enc_int(1 if ap.joined() else 2)),
        ]
        for slot, channel in ((0, 6), (1, 36)):
            r = slot
            entries += [
                (BSN_AP_IF + (2,) + ix + (slot,), _const_int(1 if slot == 0 else 2)),
                (BSN_AP_IF + (4,) + ix + (slot,), _const_int(channel)),
                (
                    BSN_AP_IF + (15,) + ix + (slot,),
                    lambda d, ap=ap, r=r: enc_uint(ap.state.clients(r) if ap.joined() else 0, COUNTER32),
                ),
                (
                    BSN_AP_IF_LOAD + (3,) + ix + (slot,),
                    lambda d, ap=ap, r=r: enc_int(ap.state.channel_util(r) if ap.joined() else 0),
                ),
                (
                    BSN_AP_IF_LOAD + (4,) + ix + (slot,),
                    lambda d, ap=ap, r=r: enc_int(ap.state.clients(r) if ap.joined() else 0),
                ),
                (BSN_AP_IF_NOISE + (21,) + ix + (slot, channel), lambda d, ap=ap, r=r: enc_int(ap.state.noise_dbm(r))),
            ]
    return Template(entries)


def _s_bytes(v: bytes) -> ValueFn:
    b = enc_octets(v)
    return lambda d: b


def device_mac(seed: int, i: int = 0) -> bytes:
    return _mac(seed, i)
