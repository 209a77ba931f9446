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
from collectors.snmp.collector import SnmpCollector
from collectors.snmp.profiles import load_profiles
from alerts.config import load_receivers
from alerts.delivery import AlertDelivery
from alerts.router import AlertRouter
from collectors.egov.probe import EgovProber
from hotspots.datafile import DataFileError, Problem
from hotspots.inventory import Inventory
from outages.explainer import Settings as ExplainerSettings
from outages.service import ExplainerService
from outages.store import IncidentStore
from store.sink import BatchingSink
from store.state import StateDB
from pantau.settings import Settings
from store.timeseries import REFUSED_CREDENTIALS, InfluxConf, InfluxState

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


def _hostport(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise DataFileError([Problem("PANTAU_TRAPS_LISTEN", None, "traps_listen", f"{s!r} is not HOST:PORT")])
    return host, int(port)


def influx_status(sink, grid) -> dict:
    """What the writers of this process last saw of InfluxDB (the worst of them): ``state`` is
    ``ok``, ``unavailable`` or ``credentials_refused`` (then ``message`` says so in words)."""
    states = [sink.influx.as_dict()] + ([grid.influx_state()] if grid else [])
    order = {InfluxState.REFUSED: 0, InfluxState.UNAVAILABLE: 1, InfluxState.OK: 2}
    worst = dict(min(states, key=lambda s: order.get(s["state"], 1)))
    worst["message"] = {InfluxState.REFUSED: REFUSED_CREDENTIALS, InfluxState.UNAVAILABLE: "InfluxDB unavailable",
                        InfluxState.OK: "InfluxDB accepts Pantau's writes"}.get(worst["state"], worst["state"])
    return worst


async def run_collect(inv: Inventory, settings: Settings, status_file: Path | None = None) -> None:
    """Everything ``pantau collect`` runs, configured by the one settings object."""
    st_ = settings
    influx = st_.influx()
    intervals = dict(st_.intervals)
    time_scale = st_.time_scale
    telemetry_interval_s = st_.telemetry_interval_s
    egov_timeout = max(2.0, 5.0 / time_scale) if time_scale != 1 else None
    db = influx.client()
    sink = BatchingSink(db)
    state_dir = Path(st_.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    broker = st_.broker()
    trap_listen = _hostport(st_.traps_listen) if st_.traps_listen else None
    log.info("starting: city %s, %s, state in %s, broker %s", inv.city, influx, state_dir,
             f"{broker.host}:{broker.port}{' (TLS)' if broker.tls else ''}" if broker else "none")
    coll = None
    poll_interval = 30.0
    if st_.snmp:
        profiles = load_profiles(st_.profiles_dir) if st_.profiles_dir else load_profiles()
        coll = SnmpCollector(inv, sink, profiles=profiles, port=st_.snmp_port, trap_listen=trap_listen,
                             intervals=intervals, timeout=st_.snmp_timeout_s)
        poll_interval = next((j.interval_s for j in coll.jobs if j.runs == "snmp.hotspots"), poll_interval)
    grid = None
    if broker is not None:
        grid = GridCollector(inv, broker, state_dir / "grid", influx, sink,
                             telemetry_interval_s=telemetry_interval_s, workers=st_.grid_workers)
    prober = None
    if st_.egov and inv.egov:
        prober = EgovProber(inv, sink, base_url=st_.egov_base_url, intervals=intervals,
                            timeout_s=egov_timeout)
    store = IncidentStore(state_dir / "incidents.sqlite")
    state = StateDB(state_dir / "state.sqlite")
    delivery = None
    if st_.receivers_file:
        conf = load_receivers(st_.receivers_file)
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
            st["influx"] = influx_status(sink, grid)
            if prober:
                st["egov"] = prober.status()
            if delivery:
                st["alerts"] = delivery.status()
            for path in {st_.status_file, *([Path(status_file)] if status_file else [])}:
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(st, indent=1))
                tmp.replace(path)
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
