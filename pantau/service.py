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
from hotspots.inventory import Inventory
from outages.explainer import Settings as ExplainerSettings
from outages.service import ExplainerService
from outages.store import IncidentStore
from store.sink import BatchingSink
from store.timeseries import InfluxV1

log = logging.getLogger("pantau.service")


async def run_collect(inv: Inventory, influx_url: str, database: str, snmp_port: int | None,
                      trap_listen: tuple[str, int] | None, intervals: dict[str, float],
                      status_file: Path | None = None, profiles_dir: Path | None = None,
                      broker: BrokerConf | None = None, state_dir: Path | None = None, grid_workers: int = 0,
                      telemetry_interval_s: float = 10.0, snmp: bool = True, snmp_timeout: float = 1.0,
                      time_scale: float = 1.0) -> None:
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
    store = IncidentStore(state_dir / "incidents.sqlite")
    explainer = ExplainerService(inv, store, ExplainerSettings(poll_interval_s=poll_interval,
                                                               reopen_s=600 / time_scale, boot_s=60 / time_scale,
                                                               telemetry_interval_s=telemetry_interval_s))
    if coll:
        coll.health.listeners.append(explainer.on_health)
    if grid:
        grid.grid.listeners.append(explainer.on_grid)
        grid.grid.notice_listeners.append(explainer.on_notice)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    explainer.start()
    if coll:
        await coll.start()
    if grid:
        await grid.start()
        await grid.wait_ready()
    print(json.dumps({"ready": True, "hotspots": len(inv.hotspots)}), flush=True)
    try:
        while not stop.is_set():
            if status_file:
                st = coll.status() if coll else {}
                if grid:
                    st["grid"] = grid.status()
                st["incidents"] = explainer.status()
                st["sink"] = {"written": sink.written, "pending": sink.pending, "dropped": sink.dropped}
                tmp = status_file.with_suffix(".tmp")
                tmp.write_text(json.dumps(st, indent=1))
                tmp.replace(status_file)
            try:
                await asyncio.wait_for(stop.wait(), timeout=2.0)
            except asyncio.TimeoutError:
                pass
    finally:
        if grid:
            await grid.stop()
        if coll:
            await coll.stop()
        await explainer.stop()
        store.close()
        t0 = time.monotonic()
        sink.close()
        log.info("stopped; flushed the sink in %.1f s", time.monotonic() - t0)
        db.close()
