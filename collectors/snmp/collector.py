"""The SNMP collector: one lifecycle (start/stop) around the engine, the poller, the trap receiver
and the declared jobs. Writes only to its sink; health events go to listeners (store, explainer).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from collectors.schedule import Job, load_jobs, schedule
from collectors.sink import Point, Sink
from collectors.snmp.engine import V3, SnmpEngine
from collectors.snmp.poller import HotspotPoller
from collectors.snmp.profiles import ProfileSet, load_profiles
from collectors.snmp.traps import Trap, TrapReceiver, communities_of
from hotspots.health import HealthEvent, HealthTracker
from hotspots.inventory import Inventory

log = logging.getLogger("pantau.collectors.snmp")
SNMP_RETRIES = 1  # resends of a request that timed out (a failed poll waits timeout × (1 + this))

RUNS = {"snmp.hotspots": "hotspots", "snmp.switches": "switches", "snmp.controllers": "controllers"}
ALL_RUNS = set(RUNS) | {"egov.probe"}  # every runnable jobs.yaml may name (egov: collectors/egov)


class SnmpCollector:
    def __init__(
        self,
        inventory: Inventory,
        sink: Sink,
        *,
        profiles: ProfileSet | None = None,
        health: HealthTracker | None = None,
        port: int | None = None,
        trap_listen: tuple[str, int] | None = None,
        intervals: dict[str, float] | None = None,
        jobs: list[Job] | None = None,
        timeout: float = 1.0,
        retries: int = SNMP_RETRIES,
        concurrency: int = 256,
        fail_threshold: int = 3,
        recover_threshold: int = 2,
    ):
        self.inv = inventory
        self.sink = sink
        self.profiles = profiles or load_profiles()
        self.health = health or HealthTracker(fail_threshold, recover_threshold)
        self.health.listeners.append(self._store_event)
        self.port = port
        self.trap_listen = trap_listen
        self.jobs = jobs or [j for j in load_jobs(known=ALL_RUNS, overrides=intervals) if j.runs in RUNS]
        self.timeout, self.retries, self.concurrency = timeout, retries, concurrency
        self.engine: SnmpEngine | None = None
        self.poller: HotspotPoller | None = None
        self.traps: TrapReceiver | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.cycles: dict[str, int] = {}
        self.events: list[HealthEvent] = []  # recent, for the API; the store has them all
        self._repolls: set[asyncio.Task] = set()
        self._learning: asyncio.Task | None = None  # the trap receiver learning discovered engine IDs
        # which elements this node polls ("hotspot:AP-0001", "switch:…"): None = every one; several
        # nodes of a city split them (pantau/sharding.py, set by the runtime)
        self.owns: Callable[[str], bool] | None = None
        self.traps_elsewhere = 0  # traps about elements another node polls (ignored here)
        self.trap_forward: Callable[[object], bool] | None = None  # other cities' traps (multi-city process)

    async def start(self) -> None:
        # resends wait the same timeout (net-snmp's -t/-r), listening for every send's answer
        self.engine = await SnmpEngine(backoff=1.0).open()
        self.poller = HotspotPoller(
            self.inv,
            self.profiles,
            self.engine,
            self.sink,
            self.health,
            concurrency=self.concurrency,
            timeout=self.timeout,
            retries=self.retries,
            port=self.port,
        )
        self.poller.owns = self.owns
        if self.trap_listen:
            secs = [pt.target.security for pt in self._all_targets()]
            self.traps = TrapReceiver(self.trap_listen[0], self.trap_listen[1], communities_of(secs), self.on_trap)
            self.traps.start()
        self.scheduler = AsyncIOScheduler()
        schedule(self.scheduler, self.jobs, {name: self._run_job for name in RUNS})
        self.scheduler.start()
        log.info(
            "SNMP collector: %d hotspots, %d switches, %d controllers; jobs %s",
            len(self.poller.targets),
            len(self.poller.switch_targets),
            len(self.poller.controllers),
            ", ".join(f"{j.name}/{j.interval_s:g}s" for j in self.jobs),
        )

    async def stop(self) -> None:
        if self.poller:
            self.poller.closing = True  # before anything is torn down: a cut-short poll is no evidence
        if self.scheduler:
            self.scheduler.shutdown(wait=False)
        for t in list(self._repolls) + ([self._learning] if self._learning else []):
            t.cancel()
        if self.poller:
            await self.poller.stop()
        if self.traps:
            self.traps.stop()
        if self.engine:
            self.engine.close()

    def _all_targets(self):
        p = self.poller
        return list(p.targets.values()) + list(p.switch_targets.values()) + list(p.controllers.values())

    async def _run_job(self, job: Job) -> None:
        which = RUNS[job.runs]
        try:
            stats = await self.poller.run_cycle(
                which, spread_s=job.spread * job.interval_s, jitter_s=job.jitter_s, interval_s=job.interval_s
            )
        except Exception:
            log.exception("job %s failed", job.name)
            return
        self.cycles[job.name] = self.cycles.get(job.name, 0) + 1
        if stats.failed:
            log.debug("job %s: %d/%d failed %s", job.name, stats.failed, stats.polled, stats.errors)
        if self.traps and (self._learning is None or self._learning.done()):
            self._learning = asyncio.get_running_loop().create_task(self._learn_engines())

    async def _learn_engines(self) -> None:
        """Give the trap receiver the engine IDs the polls discovered, a few at a time: pysnmp
        takes ~8 ms to configure one v3 user, and a city's 1,300 v3 agents learnt in one go held
        the event loop for 11 s after the first cycle (every timeout and probe of that moment late)."""
        if not self.traps:
            return
        n = 0
        for pt in self._all_targets():
            if isinstance(pt.target.security, V3) and pt.target.engine_id and not self.traps.knows(pt.target):
                self.traps.learn_engine(pt.target.engine_id, pt.target.security)
                n += 1
                if n % 4 == 0:
                    await asyncio.sleep(0)

    def _store_event(self, ev: HealthEvent) -> None:
        if ev.kind == "suspect":
            return  # evidence for the explainer, not history
        self.events.append(ev)
        if len(self.events) > 10000:
            del self.events[:5000]
        kind, _, ident = ev.element.partition(":")
        value = ev.new if ev.kind == "state" else ev.kind
        tags = {kind: ident, "kind": ev.kind, "source": ev.source, "city": self.inv.city}
        fields: dict[str, str | float] = {"value": value, "previous": ev.old, "detail": ev.reason[:500]}
        h = self.inv.hotspots.get(ident) if kind == "hotspot" else None
        if h is not None:  # where it happened, without a join: dashboards count and map states by area
            tags |= {"kecamatan": h.kecamatan, "kelurahan": h.kelurahan}
            fields |= {"lat": h.lat, "lon": h.lon}
        self.sink.write(
            [
                Point(
                    "hotspot_event" if kind == "hotspot" else "network_event",
                    tags,
                    fields,
                    int(ev.at * 1e9),
                )
            ]
        )

    # --- traps --------------------------------------------------------------------------------
    def on_trap(self, trap: Trap) -> None:
        element = self.inv.element_by_address.get(trap.source[0])
        if element is None and self.trap_forward is not None and self.trap_forward(trap):
            return  # another city's device (one trap port for the cities of this process)
        if element is None:
            if self.traps:
                self.traps.unknown_source += 1
            log.info("trap %s from unknown address %s ignored", trap.name, trap.source[0])
            return
        kind, _, ident = element.partition(":")
        at = trap.at
        if self.owns is not None and not self.owns(element):
            self.traps_elsewhere += 1  # its node acts on its own polls (and its own trap copy)
            return
        if trap.name in ("coldStart", "warmStart") and kind == "hotspot":
            self.health.rebooted(element, at, f"{trap.name} trap", source="trap")
            self._repoll(ident)
        elif trap.name in ("linkDown", "linkUp") and kind == "switch" and trap.if_index is not None:
            hid = self.inv.hotspot_on_port(ident, trap.if_index)
            if hid is None:
                self.health.trap(element, at, f"{trap.name} ifIndex {trap.if_index}")
                return
            if self.owns is not None and not self.owns(f"hotspot:{hid}"):
                self.traps_elsewhere += 1
                return
            detail = f"{trap.name} on {ident} port ifIndex {trap.if_index}"
            if trap.name == "linkDown":
                self.health.link_down(f"hotspot:{hid}", at, detail)
            else:
                self.health.trap(f"hotspot:{hid}", at, detail)
            self._repoll(hid)
        else:
            self.health.trap(element, at, f"{trap.name} trap")

    def _repoll(self, ident: str) -> None:
        t = asyncio.get_running_loop().create_task(self.poller.repoll(ident))
        self._repolls.add(t)
        t.add_done_callback(self._repolls.discard)

    def status(self) -> dict:
        p = self.poller
        return {
            "health": self.health.counts(),
            "cycles": dict(self.cycles),
            "last_cycle_s": round(p.last_cycle.duration_s, 3) if p else None,
            "engine": vars(self.engine.stats) if self.engine else {},
            "confirm": dict(p.confirm_stats) if p else {},
            "traps": {
                "received": self.traps.received,
                "unknown_source": self.traps.unknown_source,
                "rejected": dict(self.traps.rejected),
                "for_other_nodes": self.traps_elsewhere,
            }
            if self.traps
            else None,
            "at": time.time(),
        }
