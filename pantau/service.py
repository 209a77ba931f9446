"""``pantau collect``: Pantau's collecting process — the SNMP collector (poller, traps, health)
and the grid MQTT collector (ingest, spool, grid state), writing through a BatchingSink (SNMP,
events) and durable spools (grid telemetry) into InfluxDB. (The explainer and the API join it as
their issues land.) Stops cleanly on SIGINT/SIGTERM, flushing what is buffered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from pathlib import Path

from collectors.grid.collector import GridCollector
from collectors.grid.mqtt import BrokerConf
from collectors.snmp.collector import SnmpCollector
from collectors.snmp.profiles import load_profiles
from alerts.config import load_receivers
from alerts.delivery import AlertDelivery
from alerts.router import AlertRouter
from collectors.egov.probe import EgovProber
from hotspots.inventory import Inventory
from outages.explainer import Settings as ExplainerSettings
from outages.service import ExplainerService
from outages.store import IncidentStore
from store.sink import BatchingSink
from store.state import StateDB
from store.timeseries import InfluxV1

log = logging.getLogger("pantau.service")


class LiveWriter:
    """``live.json``: what the API serves as "now" — every hotspot's and switch's health, the grid,
    e-gov services and Pantau's own health — rewritten atomically every second by the collecting
    process (the API process reloads it when it changes; no shared memory, no extra service)."""

    def __init__(self, path: Path, inv, coll, grid, prober, explainer, sink, delivery):
        self.path, self.inv, self.coll, self.grid, self.prober = path, inv, coll, grid, prober
        self.explainer, self.sink, self.delivery = explainer, sink, delivery
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, status: dict) -> None:
        hs, sw = {}, {}
        if self.coll:
            for kind, ids, out in (("hotspot", self.inv.hotspots, hs), ("switch", self.inv.switches, sw)):
                for ident in ids:
                    h = self.coll.health.elements.get(f"{kind}:{ident}")
                    if h is not None:
                        out[ident] = [h.state, h.since or None, h.last_seen, "; ".join(h.reasons)[:200]]
        doc = {"at": time.time(), "city": self.inv.city, "hotspots": hs, "switches": sw,
               "grid": self.grid.grid.snapshot() if self.grid else None,
               "egov": status.get("egov", {}), "status": {k: v for k, v in status.items() if k != "egov"}}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, separators=(",", ":")))
        tmp.replace(self.path)


async def run_collect(inv: Inventory, influx_url: str, database: str, snmp_port: int | None,
                      trap_listen: tuple[str, int] | None, intervals: dict[str, float],
                      status_file: Path | None = None, profiles_dir: Path | None = None,
                      broker: BrokerConf | None = None, state_dir: Path | None = None, grid_workers: int = 0,
                      telemetry_interval_s: float = 10.0, snmp: bool = True, snmp_timeout: float = 1.0,
                      time_scale: float = 1.0, egov: bool = True, egov_base_url: str | None = None,
                      receivers: Path | None = None, egov_timeout: float | None = None) -> None:
    db = InfluxV1(influx_url, database)
    sink = BatchingSink(db)
    state_dir = Path(state_dir or ".pantau/collector")
    coll = None
    poll_interval = 30.0
    if snmp:
        profiles = load_profiles(profiles_dir) if profiles_dir else load_profiles()
        coll = SnmpCollector(inv, sink, profiles=profiles, port=snmp_port, trap_listen=trap_listen, intervals=intervals,
                             timeout=snmp_timeout)
        poll_interval = next((j.interval_s for j in coll.jobs if j.runs == "snmp.hotspots"), poll_interval)
    grid = None
    if broker is not None:
        grid = GridCollector(inv, broker, state_dir / "grid", influx_url, database, sink,
                             telemetry_interval_s=telemetry_interval_s, workers=grid_workers)
    prober = None
    if egov and inv.egov:
        prober = EgovProber(inv, sink, base_url=egov_base_url, intervals=intervals,
                            timeout_s=egov_timeout)
    store = IncidentStore(state_dir / "incidents.sqlite")
    state = StateDB(state_dir / "state.sqlite")
    delivery = None
    if receivers:
        conf = load_receivers(receivers)
        router = AlertRouter(conf, state)
        delivery = AlertDelivery(conf, state, router)
    explainer = ExplainerService(inv, store, ExplainerSettings(poll_interval_s=poll_interval,
                                                               reopen_s=600 / time_scale, boot_s=60 / time_scale,
                                                               telemetry_interval_s=telemetry_interval_s))
    if delivery:
        explainer.listeners.append(delivery.router.on_incidents)
    if coll:
        coll.health.listeners.append(explainer.on_health)
    if prober:
        prober.health.listeners.append(explainer.on_health)
    if grid:
        grid.grid.listeners.append(explainer.on_grid)
        grid.grid.notice_listeners.append(explainer.on_notice)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    explainer.start()
    if delivery:
        delivery.start()
    if coll:
        await coll.start()
    if prober:
        await prober.start()
    if grid:
        await grid.start()
        await grid.wait_ready()
    print(json.dumps({"ready": True, "hotspots": len(inv.hotspots)}), flush=True)
    live = LiveWriter(state_dir / "live.json", inv, coll, grid, prober, explainer, sink, delivery)
    try:
        while not stop.is_set():
            st = coll.status() if coll else {}
            if grid:
                st["grid"] = grid.status()
            st["incidents"] = explainer.status()
            st["sink"] = {"written": sink.written, "pending": sink.pending, "dropped": sink.dropped}
            if prober:
                st["egov"] = prober.status()
            if delivery:
                st["alerts"] = delivery.status()
            if status_file:
                tmp = status_file.with_suffix(".tmp")
                tmp.write_text(json.dumps(st, indent=1))
                tmp.replace(status_file)
            live.write(st)
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except asyncio.TimeoutError:
                pass
    finally:
        if grid:
            await grid.stop()
        if coll:
            await coll.stop()
        if prober:
            await prober.stop()
        await explainer.stop()
        if delivery:
            await delivery.stop()
        state.close()
        store.close()
        t0 = time.monotonic()
        sink.close()
        log.info("stopped; flushed the sink in %.1f s", time.monotonic() - t0)
        db.close()
