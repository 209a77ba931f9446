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
from dataclasses import dataclass
from pathlib import Path

from alerts.config import load_receivers
from alerts.delivery import AlertDelivery
from alerts.router import AlertRouter
from collectors.egov.probe import EgovProber
from collectors.grid.collector import GridCollector
from collectors.snmp.collector import SnmpCollector
from collectors.snmp.profiles import load_profiles
from hotspots.datafile import DataFileError, Problem
from hotspots.inventory import Inventory
from outages.explainer import Settings as ExplainerSettings
from outages.service import ExplainerService
from outages.store import IncidentStore
from pantau.settings import Settings
from store.sink import BatchingSink
from store.spool import SpoolSinks
from store.state import StateDB
from store.timeseries import REFUSED_CREDENTIALS, InfluxConf, InfluxState, InfluxV1

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
        doc = {
            "at": time.time(),
            "city": self.inv.city,
            "hotspots": hs,
            "switches": sw,
            "grid": self.grid.grid.snapshot() if self.grid else None,
            "egov": status.get("egov", {}),
            "status": {k: v for k, v in status.items() if k != "egov"},
        }
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
    worst = dict(InfluxState.worst(states))
    worst["message"] = {
        InfluxState.REFUSED: REFUSED_CREDENTIALS,
        InfluxState.UNAVAILABLE: "InfluxDB unavailable",
        InfluxState.OK: "InfluxDB accepts Pantau's writes",
    }.get(worst["state"], worst["state"])
    return worst


@dataclass
class Collecting:
    """Everything one ``pantau collect`` process runs, built from the settings by :func:`build`."""

    inv: Inventory
    state_dir: Path
    db: InfluxV1
    sink: BatchingSink
    coll: SnmpCollector | None
    grid: GridCollector | None
    prober: EgovProber | None
    store: IncidentStore
    state: StateDB
    delivery: AlertDelivery | None
    explainer: ExplainerService


def _snmp_collector(
    inv: Inventory, st_: Settings, sink, intervals: dict, trap_listen: tuple[str, int] | None
) -> tuple[SnmpCollector | None, float]:
    """The SNMP collector (unless disabled) and the hotspot poll interval the explainer waits on."""
    poll_interval = 30.0
    if not st_.snmp:
        return None, poll_interval
    profiles = load_profiles(st_.profiles_dir) if st_.profiles_dir else load_profiles()
    coll = SnmpCollector(
        inv,
        sink,
        profiles=profiles,
        port=st_.snmp_port,
        trap_listen=trap_listen,
        intervals=intervals,
        timeout=st_.snmp_timeout_s,
    )
    poll_interval = next((j.interval_s for j in coll.jobs if j.runs == "snmp.hotspots"), poll_interval)
    return coll, poll_interval


def _grid_collector(
    inv: Inventory, st_: Settings, broker, influx: InfluxConf, sink, state_dir: Path
) -> GridCollector | None:
    """The grid MQTT collector when a broker is configured; its readings go to durable spool sinks
    the store builds from the InfluxDB settings (``<state>/grid/spool/<process>``)."""
    if broker is None:
        return None
    spools = SpoolSinks(influx, state_dir / "grid" / "spool")
    return GridCollector(
        inv,
        broker,
        state_dir / "grid",
        spools,
        sink,
        telemetry_interval_s=st_.telemetry_interval_s,
        workers=st_.grid_workers,
    )


def _egov_prober(inv: Inventory, st_: Settings, sink, intervals: dict) -> EgovProber | None:
    if not (st_.egov and inv.egov):
        return None
    # probe timeouts are a network property: real seconds at every time scale (contract), like SNMP's
    return EgovProber(inv, sink, base_url=st_.egov_base_url, intervals=intervals)


def _alert_delivery(st_: Settings, state: StateDB) -> AlertDelivery | None:
    if not st_.receivers_file:
        return None
    conf = load_receivers(st_.receivers_file)
    return AlertDelivery(conf, state, AlertRouter(conf, state))


def _explainer(inv: Inventory, st_: Settings, store: IncidentStore, poll_interval: float) -> ExplainerService:
    time_scale = st_.time_scale
    return ExplainerService(
        inv,
        store,
        ExplainerSettings(
            poll_interval_s=poll_interval,
            reopen_s=600 / time_scale,
            boot_s=60 / time_scale,
            telemetry_interval_s=st_.telemetry_interval_s,
        ),
    )


def _connect(c: Collecting) -> None:
    """Evidence to the explainer (health, grid, notices); incidents to the alert router."""
    if c.delivery:
        c.explainer.listeners.append(c.delivery.router.on_incidents)
    if c.coll:
        c.coll.health.listeners.append(c.explainer.on_health)
        tracker = c.coll.health
        c.explainer.last_seen = lambda el: tracker.elements[el].last_seen if el in tracker.elements else None
    if c.prober:
        c.prober.health.listeners.append(c.explainer.on_health)
    if c.grid:
        c.grid.grid.listeners.append(c.explainer.on_grid)
        c.grid.grid.notice_listeners.append(c.explainer.on_notice)


def build(inv: Inventory, st_: Settings) -> Collecting:
    """Build (not start) the collectors, the explainer, the stores and alert delivery, connected."""
    influx = st_.influx()
    intervals = dict(st_.intervals)
    db = influx.client()
    sink = BatchingSink(db)
    state_dir = Path(st_.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    broker = st_.broker()
    trap_listen = _hostport(st_.traps_listen) if st_.traps_listen else None
    log.info(
        "starting: city %s, %s, state in %s, broker %s",
        inv.city,
        influx,
        state_dir,
        f"{broker.host}:{broker.port}{' (TLS)' if broker.tls else ''}" if broker else "none",
    )
    coll, poll_interval = _snmp_collector(inv, st_, sink, intervals, trap_listen)
    grid = _grid_collector(inv, st_, broker, influx, sink, state_dir)
    prober = _egov_prober(inv, st_, sink, intervals)
    store = IncidentStore(state_dir / "incidents.sqlite")
    state = StateDB(state_dir / "state.sqlite")
    delivery = _alert_delivery(st_, state)
    explainer = _explainer(inv, st_, store, poll_interval)
    c = Collecting(inv, state_dir, db, sink, coll, grid, prober, store, state, delivery, explainer)
    _connect(c)
    return c


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _start(c: Collecting) -> None:
    c.explainer.start()
    if c.delivery:
        c.delivery.start()
    if c.coll:
        await c.coll.start()
    if c.prober:
        await c.prober.start()
    if c.grid:
        await c.grid.start()
        await c.grid.wait_ready()


def _status(c: Collecting) -> dict:
    """The status file's document: every part's counters and what the writers see of InfluxDB."""
    st = c.coll.status() if c.coll else {}
    if c.grid:
        st["grid"] = c.grid.status()
    st["incidents"] = c.explainer.status()
    st["sink"] = {"written": c.sink.written, "pending": c.sink.pending, "dropped": c.sink.dropped}
    st["influx"] = influx_status(c.sink, c.grid)
    if c.prober:
        st["egov"] = c.prober.status()
    if c.delivery:
        st["alerts"] = c.delivery.status()
    return st


def _write_status(st: dict, paths: set[Path]) -> None:
    for path in paths:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(st, indent=1))
        tmp.replace(path)


async def _report_until(stop: asyncio.Event, c: Collecting, live: LiveWriter, status_paths: set[Path]) -> None:
    """Every second: the status file(s) and ``live.json``, until asked to stop."""
    while not stop.is_set():
        st = _status(c)
        _write_status(st, status_paths)
        live.write(st)
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except asyncio.TimeoutError:
            pass


async def _shutdown(c: Collecting) -> None:
    """Stop everything in order, then flush the sink."""
    if c.grid:
        await c.grid.stop()
    if c.coll:
        await c.coll.stop()
    if c.prober:
        await c.prober.stop()
    await c.explainer.stop()
    if c.delivery:
        await c.delivery.stop()
    c.state.close()
    c.store.close()
    t0 = time.monotonic()
    c.sink.close()
    log.info("stopped; flushed the sink in %.1f s", time.monotonic() - t0)
    c.db.close()


async def run_collect(inv: Inventory, settings: Settings, status_file: Path | None = None) -> None:
    """Everything ``pantau collect`` runs, configured by the one settings object."""
    c = build(inv, settings)
    stop = _stop_on_signals()
    await _start(c)
    print(json.dumps({"ready": True, "hotspots": len(inv.hotspots)}), flush=True)
    live = LiveWriter(c.state_dir / "live.json", inv, c.coll, c.grid, c.prober, c.explainer, c.sink, c.delivery)
    status_paths = {settings.status_file, *([Path(status_file)] if status_file else [])}
    try:
        await _report_until(stop, c, live, status_paths)
    finally:
        await _shutdown(c)
