"""The simulated city: every hotspot and switch as an SNMP agent, the grid, the e-gov services.

State that faults change (feeders, transformers, switches, devices) is held here; a tick loop
turns it into what the outside world sees: which devices answer SNMP, UPS batteries draining,
hotspots booting after power returns (reset sysUpTime, coldStart trap), switch ports going
down/up (linkDown/linkUp traps), and grid telemetry published over MQTT.

Times given to actions are in scenario seconds; the city divides them by ``time_scale``.
Switches are assumed to sit on protected supplies (they fail only by ``switch_fail``).

A :class:`~simulator.world.World` makes the city messy: SNMP answers lost at random, hotspots
dead before t=0 (never restored), grid readings 0..N s late, and inventory errors. The city runs
the truth (its ``inv``); the monitor reads the file with the errors. Access-switch ports follow the
documented cabling (the file's order, docs/inventory.md): a hotspot truly on another switch than
the file says leaves its documented port empty (down, no traps) and sits on an extra port of the
switch it is really behind, so the error stays with that hotspot, as on a real switch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone

from hotspots.credentials import V2cCredentials, V3Credentials
from hotspots.inventory import Inventory
from simulator.devices import VENDORS, device_mac, device_macs, hotspot_template, switch_template, wlc_template
from simulator.snmp_agent import Device, Security, SharedEndpoint, serve
from simulator.state import DeviceState, daily_factor
from simulator.world import World
from snmpwire import ber
from snmpwire.usm import UserKeys, engine_id_for

log = logging.getLogger("pantau.simulator")

COLD_START = (1, 3, 6, 1, 6, 3, 1, 1, 5, 1)
LINK_DOWN = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
LINK_UP = (1, 3, 6, 1, 6, 3, 1, 1, 5, 4)
IF_INDEX = (1, 3, 6, 1, 2, 1, 2, 2, 1, 1)
IF_ADMIN = (1, 3, 6, 1, 2, 1, 2, 2, 1, 7)
IF_OPER = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)
BOOT_S = 40.0  # scenario seconds a hotspot needs to boot once power returns


def security_for(creds, engine_id: bytes) -> Security:
    if isinstance(creds, V2cCredentials):
        return Security(community=creds.community.get_secret_value().encode(), engine_id=engine_id)
    assert isinstance(creds, V3Credentials)
    keys = UserKeys(
        creds.user,
        engine_id,
        creds.auth_protocol,
        creds.auth_password.get_secret_value(),
        creds.priv_protocol,
        creds.priv_password.get_secret_value() if creds.priv_password else None,
    )
    return Security(keys=keys, engine_id=engine_id)


def seed_of(text: str) -> int:
    return zlib.crc32(text.encode())


@dataclass
class HotspotSim:
    device: Device
    transformer: str
    switch_chain: list[str]
    ups_s: float  # battery, scenario seconds
    failed: bool = False
    running: bool = True  # powered on and booted
    on_battery_since: float | None = None
    booting_until: float | None = None
    reboot_until: float | None = None
    flap: tuple[float, float, float] | None = None  # (start, period, until) in real seconds
    link_up: bool = True

    @property
    def state(self) -> DeviceState:
        return self.device.state

    def joined(self) -> bool:
        """Seen by its wireless controller: powered, booted and reachable."""
        return self.device.up


@dataclass
class MaintenanceNotice:
    id: str
    element: str
    start: float  # epoch seconds
    end: float
    reason: str
    issued_at: float


class SimCity:
    def __init__(
        self,
        inv: Inventory,
        snmp_port: int = 161,
        time_scale: float = 1.0,
        seed: int = 0,
        telemetry_interval_s: float = 10.0,
        trap_target: tuple[str, int] | None = None,
        clock=time.time,
        world: World | None = None,
    ):
        self.inv = inv
        self.world = world or World(seed=seed)
        self.k = float(time_scale)
        self.clock = clock
        self.rng = random.Random(seed)
        self.seed = seed
        self.telemetry_interval_s = telemetry_interval_s
        self.trap_target = trap_target
        self.snmp_port = snmp_port
        self.substation_on = {s: True for s in inv.substations}
        self.feeder_on = {f: True for f in inv.feeders}
        self.transformer_ok = {t: True for t in inv.transformers}
        self.switch_ok = {s: True for s in inv.switches}
        self.telemetry_lost: set[str] = set()
        self.telemetry_delay: dict[str, tuple[float, float]] = {}  # element -> (delay real s, until epoch)
        self.notices: dict[str, MaintenanceNotice] = {}
        self.egov_mode: dict[str, str] = {e: "ok" for e in inv.egov}
        self.events: list[dict] = []
        self.hotspots: dict[str, HotspotSim] = {}
        self.switch_devices: dict[str, Device] = {}
        self.controller_devices: dict[str, Device] = {}
        self.transports: dict[str, asyncio.DatagramTransport] = {}
        self.shared: SharedEndpoint | None = None
        self.traps_sent = 0
        self.action_loss: dict[str, tuple[float, object]] = {}  # device id -> (share, token of its snmp_loss)
        self._jitter = random.Random(f"{seed}/telemetry_jitter")
        self._ports: dict[str, list[str | None]] = {}  # access switch -> hotspot per port (ifIndex 2, 3, ...)
        self._build()
        self._apply_world()

    # --- construction ---------------------------------------------------------------------------
    def _port_layout(self) -> None:
        """Each access switch's ports: the documented hotspots (the file's order), then the undocumented."""
        listed = self.world.listed("switch")
        documented: dict[str, list[str]] = {}
        for h in self.inv.hotspots.values():
            documented.setdefault(listed.get(h.id, h.switch), []).append(h.id)
        for sw in self.inv.switches.values():
            if sw.role != "access":
                continue
            truly = self.inv.hotspots_of_switch.get(sw.id, [])
            doc = documented.get(sw.id, [])
            self._ports[sw.id] = [h if h in truly else None for h in doc] + [h for h in truly if h not in doc]

    def _build(self) -> None:
        inv = self.inv
        self._port_layout()
        for sw in inv.switches.values():
            ports = self._ports[sw.id] if sw.role == "access" else inv.children_of_switch.get(sw.id, [])
            tmpl = switch_template(sw.id, len(ports), sw.role)
            st = DeviceState(
                sw.id,
                seed_of(sw.id),
                sw.id,
                f"Kabinet {sw.id}",
                device_macs(seed_of(sw.id), len(ports) + 1),
                n_if=len(ports) + 1,
                peak_down_bps=200e6,
                clock=self.clock,
            )
            sec = security_for(inv.credentials.profiles[sw.credentials], engine_id_for(14988, sw.id))
            self.switch_devices[sw.id] = Device(sw.id, sw.address, self.snmp_port, tmpl, st, sec)
        for h in inv.hotspots.values():
            seed = seed_of(h.id) ^ self.seed
            busy = seed % 5 == 0
            st = DeviceState(
                h.id,
                seed,
                h.name,
                f"{h.kelurahan}, {inv.kecamatan[h.kecamatan].name}",
                device_macs(seed),
                peak_down_bps=(60e6 + (seed % 60) * 1e6) if busy else (5e6 + (seed % 35) * 1e6),
                max_clients=30 + seed % 50,
                clock=self.clock,
            )
            sec = security_for(
                inv.credentials.profiles[h.credentials], engine_id_for(VENDORS[h.vendor].enterprise, h.id)
            )
            dev = Device(h.id, h.address, self.snmp_port, hotspot_template(h.vendor, h.model), st, sec)
            chain, cur = [], h.switch
            while cur:
                chain.append(cur)
                cur = inv.switches[cur].parent
            self.hotspots[h.id] = HotspotSim(dev, h.transformer, chain, ups_s=h.ups_minutes * 60.0)
        # Switch ports mirror their hotspots' links (port 1 = uplink, then one port per hotspot / child).
        for sw in inv.switches.values():
            dev = self.switch_devices[sw.id]
            if sw.role == "access":
                dev.state.port_state = [
                    (lambda h=self.hotspots[m]: h.link_up) if m else (lambda: False) for m in self._ports[sw.id]
                ]
            else:
                members = inv.children_of_switch.get(sw.id, [])
                dev.state.port_state = [(lambda c=c: self.switch_ok[c]) for c in members]

        # Wireless controllers (in the data centre: always powered and reachable).
        for c in inv.controllers.values():
            aps = sorted(
                (h.id, device_mac(seed_of(h.id) ^ self.seed), self.hotspots[h.id])
                for h in inv.hotspots.values()
                if h.vendor in c.manages
            )
            st = DeviceState(
                c.id,
                seed_of(c.id),
                c.id,
                "Data centre",
                device_macs(seed_of(c.id), 1),
                n_if=1,
                peak_down_bps=500e6,
                clock=self.clock,
            )
            sec = security_for(inv.credentials.profiles[c.credentials], engine_id_for(9, c.id))
            self.controller_devices[c.id] = Device(
                c.id, c.address, self.snmp_port, wlc_template(c.id, c.model, aps), st, sec
            )

    def _apply_world(self) -> None:
        """Background-down hotspots dead from the start; every device's loss drawn from its own stream."""
        for hid in self.world.background_down:
            h = self.hotspots[hid]
            h.failed, h.running, h.link_up = True, False, False
            h.device.up = False
        for d in list(self.switch_devices.values()) + [h.device for h in self.hotspots.values()]:
            d.rng = random.Random(f"{self.seed}/snmp_loss/{d.ident}")
            self._set_loss(d)

    def _set_loss(self, d: Device) -> None:
        city = self.world.snmp_loss_pct / 100.0
        extra = self.action_loss.get(d.ident, (0.0, None))[0]
        d.loss = 1.0 - (1.0 - city) * (1.0 - extra)

    def telemetry_jitter(self) -> float:
        """How late the next grid reading arrives (real seconds): 0..telemetry_jitter_s scenario seconds."""
        n = self.world.telemetry_jitter_s
        return self._jitter.uniform(0.0, n) / self.k if n > 0 else 0.0

    def devices(self) -> list[Device]:
        return (
            list(self.switch_devices.values())
            + list(self.controller_devices.values())
            + [h.device for h in self.hotspots.values()]
        )

    # --- power and reachability -----------------------------------------------------------------
    def transformer_powered(self, tid: str) -> bool:
        t = self.inv.transformers[tid]
        f = self.inv.feeders[t.feeder]
        return self.substation_on[f.substation] and self.feeder_on[f.id] and self.transformer_ok[tid]

    def feeder_energized(self, fid: str) -> bool:
        return self.substation_on[self.inv.feeders[fid].substation] and self.feeder_on[fid]

    def switch_reachable(self, sid: str) -> bool:
        cur = sid
        while cur:
            if not self.switch_ok[cur]:
                return False
            cur = self.inv.switches[cur].parent
        return True

    def tick(self) -> None:
        """Advance every device's power/boot state; send traps on link changes."""
        now = self.clock()
        k = self.k
        sw_reach = {s: self.switch_reachable(s) for s in self.inv.switches}
        for sid, dev in self.switch_devices.items():
            dev.up = sw_reach[sid]
        for hid, h in self.hotspots.items():
            powered = self.transformer_powered(h.transformer)
            if powered:
                h.on_battery_since = None
            elif h.on_battery_since is None and h.running:
                h.on_battery_since = now
            if h.running and not powered and (h.ups_s <= 0 or now - h.on_battery_since >= h.ups_s / k):
                h.running = False
                h.booting_until = None
            if not h.running and powered and not h.failed:
                if h.booting_until is None:
                    h.booting_until = now + BOOT_S / k
                elif now >= h.booting_until:
                    h.running = True
                    h.booting_until = None
                    h.device.state.reboot()
                    self._cold_start(hid)
            if h.reboot_until is not None and now >= h.reboot_until:
                h.reboot_until = None
                h.device.state.reboot()
                self._cold_start(hid)
            flap_down = False
            if h.flap is not None:
                start, period, until = h.flap
                if now >= until:
                    h.flap = None
                else:
                    flap_down = int((now - start) / period) % 2 == 0
            link = h.running and not h.failed and h.reboot_until is None
            if link != h.link_up:
                h.link_up = link
                self._link_trap(hid, link)
            h.device.up = link and not flap_down and all(sw_reach[s] for s in h.switch_chain)

    # --- traps ----------------------------------------------------------------------------------
    def _send_trap(self, dev: Device, trap_oid, varbinds) -> None:
        if not self.trap_target or not dev.up:
            return
        if self.shared is not None:  # from the device's own address, like its answers
            self.shared.send_from(dev.address, dev.trap(trap_oid, varbinds), self.trap_target)
            self.traps_sent += 1
            return
        tr = self.transports.get(dev.ident)
        if tr is None or tr.is_closing():
            return
        tr.sendto(dev.trap(trap_oid, varbinds), self.trap_target)
        self.traps_sent += 1

    def _cold_start(self, hid: str) -> None:
        h = self.hotspots[hid]
        h.device.up = True  # it answers again the moment it is booted (uplink permitting)
        if all(self.switch_reachable(s) for s in h.switch_chain):
            self._send_trap(h.device, COLD_START, [])

    def _link_trap(self, hid: str, up: bool) -> None:
        sw_id = self.inv.hotspots[hid].switch  # the switch it is really behind
        port = self._ports[sw_id].index(hid) + 2  # ifIndex 1 is the uplink
        dev = self.switch_devices[sw_id]
        status = 1 if up else 2
        self._send_trap(
            dev,
            LINK_UP if up else LINK_DOWN,
            [
                (IF_INDEX + (port,), ber.enc_int(port)),
                (IF_ADMIN + (port,), ber.enc_int(1)),
                (IF_OPER + (port,), ber.enc_int(status)),
            ],
        )

    # --- actions (the scenario contract) --------------------------------------------------------
    def apply(self, action: str, target: str, **kw) -> None:
        kind, _, ident = target.partition(":")
        self.inv.get(target)  # raises KeyError for unknown elements
        now = self.clock()
        k = self.k
        self.events.append({"t": now, "action": action, "target": target, **kw})
        log.info("scenario action %s %s %s", action, target, kw or "")
        if action in ("substation_trip", "substation_restore"):
            self.substation_on[ident] = action.endswith("restore")
        elif action in ("feeder_trip", "feeder_restore"):
            self.feeder_on[ident] = action.endswith("restore")
        elif action in ("transformer_fail", "transformer_restore"):
            self.transformer_ok[ident] = action.endswith("restore")
        elif action in ("switch_fail", "switch_restore"):
            self.switch_ok[ident] = action.endswith("restore")
        elif action == "hotspot_fail":
            self.hotspots[ident].failed = True
            self.hotspots[ident].running = False
        elif action == "hotspot_restore":
            if ident in self.world.background_down:
                raise ValueError(f"hotspot {ident} is broken in this world (background_down): never restored")
            h = self.hotspots[ident]
            h.failed = False
            h.running = False  # boots like after a power cut
            h.booting_until = None
        elif action == "hotspot_reboot":
            self.hotspots[ident].reboot_until = now + float(kw.get("down_s", 90)) / k
        elif action == "telemetry_loss":
            self.telemetry_lost.add(target)
        elif action == "telemetry_restore":
            self.telemetry_lost.discard(target)
            self.telemetry_delay.pop(target, None)
        elif action == "telemetry_delay":
            until = kw.get("until_s")
            self.telemetry_delay[target] = (
                float(kw.get("delay_s", 30)) / k,
                now + (float(until) - float(kw.get("_at", 0))) / k if until is not None else float("inf"),
            )
        elif action == "maintenance_notice":
            at = float(kw.get("_at", 0))
            nid = f"PLN-{ident}-{int(now)}"
            self.notices[target] = MaintenanceNotice(
                nid,
                target,
                now + (float(kw["start_s"]) - at) / k,
                now + (float(kw["end_s"]) - at) / k,
                str(kw.get("reason", "")),
                now,
            )
        elif action == "flap":
            period = float(kw.get("period_s", 30)) / k
            until = now + (float(kw["until_s"]) - float(kw.get("_at", 0))) / k if "until_s" in kw else float("inf")
            self.hotspots[ident].flap = (now, period, until)
        elif action == "snmp_latency":
            delay = float(kw.get("delay_ms", 500)) / 1000.0
            devs = [self.switch_devices[ident]] if kind == "switch" else [self.hotspots[ident].device]
            if kind == "switch":
                devs += [self.hotspots[h].device for h in self.inv.hotspots_below(target)]
            for d in devs:
                d.delay_s = delay
            if "until_s" in kw:
                asyncio.get_event_loop().call_later(
                    (float(kw["until_s"]) - float(kw.get("_at", 0))) / k,
                    lambda: [setattr(d, "delay_s", 0.0) for d in devs],
                )
        elif action == "snmp_loss":
            share = min(1.0, max(0.0, float(kw.get("loss_pct", 0)) / 100.0))
            token = object()
            devs = [self.switch_devices[ident]] if kind == "switch" else [self.hotspots[ident].device]
            if kind == "switch":
                devs += [self.switch_devices[s] for s in self.inv.switches_below(ident)[1:]]
                devs += [self.hotspots[h].device for h in self.inv.hotspots_below(target)]
            for d in devs:
                self.action_loss[d.ident] = (share, token)
                self._set_loss(d)

            def _end(devs=devs, token=token):
                for d in devs:
                    if self.action_loss.get(d.ident, (0.0, None))[1] is token:
                        del self.action_loss[d.ident]
                        self._set_loss(d)

            if "until_s" in kw:
                asyncio.get_event_loop().call_later((float(kw["until_s"]) - float(kw.get("_at", 0))) / k, _end)
        elif action in ("egov_fail", "egov_restore"):
            self.egov_mode[ident] = "ok" if action == "egov_restore" else kw.get("mode", "error")
        else:
            raise ValueError(f"unknown action {action!r}")
        self.tick()

    # --- grid telemetry -------------------------------------------------------------------------
    def telemetry(self, element: str) -> dict:
        kind, _, ident = element.partition(":")
        now = self.clock()
        r = random.Random(seed_of(element) ^ int(now))
        if kind == "feeder":
            on = self.feeder_energized(ident)
            f = self.inv.feeders[ident]
            load = 0.4 + 0.5 * daily_factor(now)
            return {
                "element": element,
                "substation": f.substation,
                "ts": _iso(now),
                "voltage_v": round(20000 * (1 + r.uniform(-0.02, 0.02)), 1) if on else round(r.uniform(0, 5), 1),
                "current_a": round(180 * load * r.uniform(0.9, 1.1), 2) if on else 0.0,
                "frequency_hz": round(50 + r.uniform(-0.05, 0.05), 3) if on else 0.0,
                "breaker": "closed" if self.feeder_on[ident] else "open",
                "gateway": "simulator",
            }
        t = self.inv.transformers[ident]
        on = self.transformer_powered(ident)
        return {
            "element": element,
            "feeder": t.feeder,
            "ts": _iso(now),
            "voltage_v": round(230 * (1 + r.uniform(-0.03, 0.03)), 1) if on else round(r.uniform(0, 2), 1),
            "current_a": round(t.kva * 1.44 * (0.3 + 0.5 * daily_factor(now)) * r.uniform(0.9, 1.1), 2) if on else 0.0,
            "frequency_hz": round(50 + r.uniform(-0.05, 0.05), 3) if on else 0.0,
            "breaker": "closed" if self.transformer_ok[ident] else "open",
            "gateway": "simulator",
        }

    def grid_elements(self) -> list[str]:
        return [f"feeder:{f}" for f in self.inv.feeders] + [f"transformer:{t}" for t in self.inv.transformers]

    def snapshot(self) -> dict:
        up = sum(1 for h in self.hotspots.values() if h.device.up)
        return {
            "hotspots_total": len(self.hotspots),
            "hotspots_answering": up,
            "feeders_off": sorted(f for f, on in self.feeder_on.items() if not on),
            "substations_off": sorted(s for s, on in self.substation_on.items() if not on),
            "transformers_failed": sorted(t for t, ok in self.transformer_ok.items() if not ok),
            "switches_failed": sorted(s for s, ok in self.switch_ok.items() if not ok),
            "hotspots_failed": sorted(h for h, s in self.hotspots.items() if s.failed),
            "hotspots_background_down": list(self.world.background_down),
            "world": {
                "snmp_loss_pct": self.world.snmp_loss_pct,
                "telemetry_jitter_s": self.world.telemetry_jitter_s,
                "background_down": len(self.world.background_down),
                "inventory_errors": len(self.world.errors),
            },
            "snmp_lost": sum(d.stats.get("lost", 0) for d in self.devices()),
            "telemetry_lost": sorted(self.telemetry_lost),
            "egov": dict(self.egov_mode),
            "traps_sent": self.traps_sent,
            "snmp_requests": sum(d.stats["requests"] for d in self.devices()),
        }

    def devices_by_id(self) -> dict[str, Device]:
        out = {h: s.device for h, s in self.hotspots.items()}
        out.update(self.switch_devices)
        out.update(self.controller_devices)
        return out

    async def start_snmp(self, shared: SharedEndpoint | None = None) -> None:
        """Answer SNMP: on one shared socket for every device (``IP_PKTINFO``; several cities may
        share it), or — ``PANTAU_SIM_SOCKETS=per-device`` — a socket per device address."""
        devs = self.devices()
        if shared is None and os.environ.get("PANTAU_SIM_SOCKETS") != "per-device":
            shared = await SharedEndpoint(devs, self.snmp_port).open()
            self._own_shared = True
        if shared is not None:
            self.shared = shared
            return
        transports = await serve(devs)
        self.transports = {d.ident: t for d, t in zip(devs, transports)}

    def stop_snmp(self) -> None:
        for t in self.transports.values():
            t.close()
        self.transports = {}
        if self.shared is not None and getattr(self, "_own_shared", False):
            self.shared.close()
        self.shared = None


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def topic(city: str, element: str) -> str:
    kind, _, ident = element.partition(":")
    return f"pantau/{city}/grid/{kind}/{ident}/telemetry"


def notice_topic(city: str, element: str) -> str:
    kind, _, ident = element.partition(":")
    return f"pantau/{city}/grid/maintenance/{kind}/{ident}"


def notice_payload(n: MaintenanceNotice) -> str:
    return json.dumps(
        {
            "id": n.id,
            "element": n.element,
            "start": _iso(n.start),
            "end": _iso(n.end),
            "reason": n.reason,
            "issued_at": _iso(n.issued_at),
            "issuer": "PLN UP3 Semarang",
        }
    )
