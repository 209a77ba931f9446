"""``pantau collect``: Pantau's collecting process — the SNMP collector (poller, traps, health)
and the grid MQTT collector (ingest, spool, grid state), writing through a BatchingSink (SNMP,
events) and durable spools (grid telemetry) into InfluxDB. (The explainer and the API join it as
their issues land.) Stops cleanly on SIGINT/SIGTERM, flushing what is buffered.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from alerts.config import load_receivers
from alerts.delivery import AlertDelivery
from alerts.router import AlertRouter
from collectors.egov.probe import EgovProber
from collectors.grid.collector import GridCollector
from collectors.snmp.collector import SNMP_RETRIES, SnmpCollector
from collectors.snmp.profiles import load_profiles
from hotspots.datafile import DataFileError, Problem
from hotspots.inventory import Inventory
from outages.availability import WIB, Accounting, parse_period, rollup
from outages.explainer import Settings as ExplainerSettings
from outages.service import EvidenceWriter, ExplainerService
from outages.store import IncidentStore
from pantau.settings import Settings
from pantau.sharding import Sharding
from store.cluster import Leases, Members
from store.db import open_database, redact
from store.lineprotocol import Point
from store.live import LiveStore, LiveWriterState
from store.sink import BatchingSink
from store.spool import SpoolSinks
from store.state import StateDB
from store.timeseries import REFUSED_CREDENTIALS, InfluxConf, InfluxState, InfluxV1

log = logging.getLogger("pantau.service")


class GridLease:
    """The city's grid ingest — one persistent MQTT session, client id ``pantau-grid-<city>`` (QoS 1
    messages wait in the broker while nobody holds it) — runs on the node holding the lease
    ``grid:<city>``; when that node dies another takes the lease and resumes the same session, so
    the broker hands it every message the dead node had not acknowledged (acknowledged ones are in
    the dead node's spool, written to InfluxDB when it comes back). A node that loses the lease
    stops ingesting (two holders of one client id would take the session from each other). The
    lease is kept from a thread of its own: a busy event loop never lets it lapse."""

    def __init__(self, grid: GridCollector, leases: Leases, city: str):
        self.grid, self.leases, self.name = grid, leases, f"grid:{city}"
        self.running = False
        self.since: float | None = None
        self._held: bool | None = None
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def _acquire(self) -> bool | None:
        try:
            return self.leases.acquire(self.name)
        except Exception as exc:  # the database away: nobody can take the lease meanwhile; go on as we are
            log.warning("grid lease %s: %s (keeping the current state)", self.name, exc)
            return None

    async def first(self) -> None:
        if await asyncio.to_thread(self._acquire):
            self._held = True
            await self._begin()
            await self.grid.wait_ready()
        else:  # standing by: what this node's spool still holds from before goes to InfluxDB now
            await asyncio.to_thread(self.grid.open_spool)

    async def _begin(self) -> None:
        await self.grid.start()
        self.running, self.since = True, time.time()
        log.warning("grid ingest of %s runs on this node", self.name)

    async def _end(self) -> None:
        self.running = False
        await self.grid.stop()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._keep, args=(loop,), name="pantau-grid-lease", daemon=True)
        self._thread.start()
        self._task = loop.create_task(self._follow())

    def _keep(self, loop: asyncio.AbstractEventLoop) -> None:
        while not self._halt.is_set():
            held = self._acquire()
            if held is not None:
                self._held = held
                try:
                    loop.call_soon_threadsafe(self._wake.set)
                except RuntimeError:
                    return
            self._halt.wait(min(1.0, self.leases.ttl_s / 3))

    async def _follow(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._held and not self.running:
                await self._begin()
            elif self._held is False and self.running:
                log.warning("grid lease %s lost: stopping the ingest here", self.name)
                await self._end()

    async def stop(self) -> None:
        self._halt.set()
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
        if self.running:
            await self._end()
            try:
                await asyncio.to_thread(self.leases.release, self.name)
            except Exception as exc:
                log.warning("could not release %s: %s", self.name, exc)
        else:
            await asyncio.to_thread(self.grid.close_spool)


class LiveWriter:
    """The live view in the state database (:mod:`store.live`): every hotspot's and switch's health
    (only what changed since the last write; ``last_seen`` at most every 15 s), the grid as known,
    e-gov status and this node's status — written every second by the collecting process; API
    replicas reload it when its version changes (no shared folder, no extra service)."""

    def __init__(
        self,
        store: LiveStore,
        inv,
        coll,
        grid,
        prober,
        node: str,
        seen_every_s: float = 15.0,
        grid_every_s: float = 5.0,
    ):
        self.store, self.inv, self.coll, self.grid, self.prober, self.node = store, inv, coll, grid, prober, node
        self.memo = LiveWriterState(seen_every_s)
        # the grid document: at once when a state or a notice changed, else (new readings only:
        # voltages, last seen) at most every grid_every_s — it was serialized and written every
        # second for every reading
        self.grid_every_s = grid_every_s
        self._grid_mark: tuple[int, float] = (-1, 0.0)

    def rows(self) -> list[dict]:
        out = []
        if self.coll:
            owns = self.coll.owns
            for el, h in list(self.coll.health.elements.items()):
                if el.startswith(("hotspot:", "switch:")) and (owns is None or owns(el)):
                    out.append(
                        {
                            "element": el,
                            "state": h.state,
                            "since": h.since or None,
                            "last_seen": h.last_seen,
                            "last_poll": h.last_poll,
                            "reason": "; ".join(h.reasons),
                        }
                    )
        return out

    def write(self, status: dict) -> None:
        now = time.time()
        rows = self.memo.due(self.rows(), now)
        docs = {"status:" + self.node: {k: v for k, v in status.items() if k != "egov"} | {"at": now}}
        if self.grid and self.grid.running:  # the node that ingests the grid tells its state
            g = self.grid.grid.grid
            moves, at = self._grid_mark
            if g.moves != moves or now - at >= self.grid_every_s:
                moves = g.moves  # read before the snapshot: a change during it is written next second
                docs["grid"] = g.snapshot()
                self._grid_mark = (moves, now)
        if "egov" in status:
            docs["egov"] = status["egov"]
        changed = self.memo.changed_docs(docs)
        self.store.write(rows, changed)
        self.memo.written(rows, now)
        self.memo.docs_written(changed)


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

    settings: Settings
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
    explainer: ExplainerService | None  # with the role explain (active or standby by the city's lease)
    evidence: EvidenceWriter
    live_store: LiveStore
    sharding: Sharding | None = None  # this node's share of the city's elements (set at start)
    grid_lease: GridLease | None = None  # the grid ingest runs on the node holding grid:<city>
    accounting: Accounting | None = None  # availability today, kept current by the active explainer's node


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


def _poll_interval(intervals: dict) -> float:
    """The hotspots' poll interval (jobs.yaml and overrides): the explainer's unit of time, on a
    node that polls or not."""
    from collectors.schedule import load_jobs
    from collectors.snmp.collector import ALL_RUNS

    jobs = load_jobs(known=set(ALL_RUNS), overrides=intervals or None)
    return next((j.interval_s for j in jobs if j.runs == "snmp.hotspots"), 30.0)


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


def _explainer(
    inv: Inventory, st_: Settings, store: IncidentStore, poll_interval: float, live_store: LiveStore
) -> ExplainerService | None:
    if "explain" not in st_.roles:
        return None
    time_scale = st_.time_scale
    return ExplainerService(
        inv,
        store,
        ExplainerSettings(
            poll_interval_s=poll_interval,
            reopen_s=600 / time_scale,
            boot_s=60 / time_scale,
            telemetry_interval_s=st_.telemetry_interval_s,
            poll_timeout_s=st_.snmp_timeout_s * (SNMP_RETRIES + 1),
        ),
        leases=Leases(store.db, st_.node_name, ttl_s=st_.lease_ttl_s),
        node=st_.node_name,
    )


def _last_seen(c: Collecting):
    """When the poll of each element's last good answer was sent: this node's health tracker for
    what it polls, the live view (any node's) for the rest."""
    tracker = c.coll.health if c.coll else None

    def ask(elements: list[str]) -> dict[str, float]:
        out: dict[str, float] = {}
        rest = []
        for el in elements:
            h = tracker.elements.get(el) if tracker else None
            if h is not None and h.last_seen is not None:
                out[el] = h.last_seen
            else:
                rest.append(el)
        if rest:
            rows = {}
            for prefix in sorted({el.partition(":")[0] + ":" for el in rest}):
                rows.update(c.live_store.elements(prefix))
            for el in rest:
                r = rows.get(el)
                if r and r["last_seen"] is not None:
                    out[el] = r["last_seen"]
        return out

    return ask


def _connect(c: Collecting) -> None:
    """Evidence to the city's log (health, grid, notices); the explainer reads it there; incidents
    to the alert router, which routes and delivers only while this node's explainer is active."""
    for tracker in (c.coll.health if c.coll else None, c.prober.health if c.prober else None):
        if tracker is not None:
            tracker.listeners.append(c.evidence.on_health)
    if c.grid:
        c.grid.grid.listeners.append(c.evidence.on_grid)
        c.grid.grid.notice_listeners.append(c.evidence.on_notice)
    if c.explainer:
        c.evidence.listeners.append(c.explainer.wake)
        c.explainer.last_seen = _last_seen(c)
        c.explainer.listeners.append(lambda changed, _log: c.sink.write(incident_points(changed)))
        if c.delivery:
            c.explainer.listeners.append(c.delivery.router.on_incidents)
            c.explainer.on_active.append(c.delivery.set_active)
            c.delivery.active = False  # until this node's explainer is the active one


HOTSPOTS_FIELD_MAX = 60_000  # InfluxDB keeps string fields up to 64 KB


def incident_points(changed: list[dict]) -> list[Point]:
    """Each change of an incident as a point of ``incident`` (docs/schema.md) for dashboards: its
    status, cause, root and affected hotspots over time, at the time of the change. The state
    database stays the record (incidents, their log); this is their history for time-series tools."""
    out = []
    for inc in changed:
        hotspots = [a.partition(":")[2] for a in inc.get("affected") or [] if a.startswith("hotspot:")]
        joined = ",".join(hotspots)
        if len(joined) > HOTSPOTS_FIELD_MAX:
            joined = joined[: joined.rfind(",", 0, HOTSPOTS_FIELD_MAX)]
        out.append(
            Point(
                "incident",
                {"city": inc["city"], "incident": inc["id"], "cause": inc["cause"]},
                {
                    "status": inc["status"],
                    "root": inc["root"],
                    "affected": len(inc.get("affected") or []),
                    "hotspots": joined,
                    "title": inc.get("explanation_en") or "",
                    "confidence": float(inc.get("confidence") or 0.0),
                },
                int(float(inc.get("updated_at") or inc["opened_at"]) * 1e9),
            )
        )
    return out


AVAILABILITY_EVERY_S = 60.0  # real seconds between two ``availability_today`` writes


def availability_points(inv: Inventory, acc, now: float) -> list[Point]:
    """Today's (WIB calendar day) accounting of the city's hotspots as ``availability_today``
    points (docs/schema.md), for dashboards: per cause the downtime minutes and their share of all
    downtime, and a ``cause=all`` row with the availability with and without planned maintenance.
    The same accounting as ``/api/v1/availability`` and ``pantau report availability``."""
    day = parse_period(datetime.fromtimestamp(now, WIB).strftime("%Y-%m-%d"))
    first, _ = acc.watched()
    pieces = acc.pieces(day.start, now, now)
    row = rollup(inv, pieces, "city", day, None, (first, now))[0]
    t = int(now * 1e9)
    total = row["down_minutes"]
    out = []
    if row["availability_pct"] is not None:
        out.append(
            Point(
                "availability_today",
                {"city": inv.city, "cause": "all"},
                {
                    "availability_pct": float(row["availability_pct"]),
                    "availability_excl_planned_pct": float(row["availability_excl_planned_pct"] or 100.0),
                    "down_minutes": float(total),
                    "hotspot_minutes": float(row["hotspot_minutes"]),
                },
                t,
            )
        )
    for cause, minutes in sorted(row["downtime_minutes"].items()):
        out.append(
            Point(
                "availability_today",
                {"city": inv.city, "cause": cause},
                {"down_minutes": float(minutes), "share_pct": round(100.0 * minutes / total, 2) if total else 0.0},
                t,
            )
        )
    return out


async def _write_availability(c: Collecting) -> None:
    """The active explainer's node writes the city's availability today (a thread: database reads)."""
    if c.accounting is None:
        c.accounting = Accounting(c.store)
    try:
        c.sink.write(await asyncio.to_thread(availability_points, c.inv, c.accounting, time.time()))
    except Exception as exc:  # the database down: the next write catches up (the accounting is durable)
        log.warning("cannot account today's availability: %s", exc)


def alert_points(city: str, alerts: dict, now: float) -> list[Point]:
    """Alert delivery's counters (the status file's ``alerts``) as ``pantau_self`` points,
    ``component=alerts``: webhooks sent, and per receiver failed deliveries since the process started
    and the outbox (pending, failed attempts)."""
    t = int(now * 1e9)
    pts = [Point("pantau_self", {"component": "alerts", "city": city}, {"sent": int(alerts.get("sent", 0))}, t)]
    outbox = alerts.get("outbox") or {}
    for name in sorted(set(alerts.get("failures") or {}) | set(outbox)):
        ob = outbox.get(name) or {}
        pts.append(
            Point(
                "pantau_self",
                {"component": "alerts", "city": city, "receiver": name},
                {
                    "failures": int((alerts.get("failures") or {}).get(name, 0)),
                    "outbox_pending": int(ob.get("pending", 0)),
                    "outbox_failed_attempts": int(ob.get("failed_attempts", 0)),
                },
                t,
            )
        )
    return pts


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
    collecting = "collect" in st_.roles
    coll, _ = _snmp_collector(inv, st_, sink, intervals, trap_listen) if collecting else (None, 0.0)
    poll_interval = _poll_interval(intervals)
    grid = _grid_collector(inv, st_, broker, influx, sink, state_dir) if collecting else None
    prober = _egov_prober(inv, st_, sink, intervals) if collecting else None
    database = open_database(st_.database)
    log.info("state database: %s", redact(database.url))
    store = IncidentStore(database, city=inv.city)
    state = StateDB(database, city=inv.city)
    live_store = LiveStore(database, inv.city, st_.node_name)
    explainer = _explainer(inv, st_, store, poll_interval, live_store)
    delivery = _alert_delivery(st_, state) if explainer else None
    evidence = EvidenceWriter(store, st_.node_name)
    c = Collecting(
        st_, inv, state_dir, db, sink, coll, grid, prober, store, state, delivery, explainer, evidence, live_store
    )
    _connect(c)
    return c


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _start(c: Collecting) -> None:
    c.evidence.start()
    if c.explainer:
        c.explainer.start()
    if c.delivery:
        c.delivery.start()
    if c.coll:
        await c.coll.start()
        await _start_sharding(c)
    if c.prober:
        await c.prober.start()
    if c.grid:
        c.grid_lease = GridLease(
            c.grid, Leases(c.store.db, c.settings.node_name, ttl_s=c.settings.lease_ttl_s), c.inv.city
        )
        await c.grid_lease.first()
        c.grid_lease.start()


async def _start_sharding(c: Collecting) -> None:
    """Join the city's collecting members and poll this node's share (all of it when alone)."""
    st = c.settings
    poll = _poll_interval(dict(st.intervals))
    ttl = max(2.0, min(10.0, poll))  # a dead node's share is polled again within about two intervals
    members = Members(c.store.db, c.inv.city, st.node_name, list(st.roles), ttl_s=ttl)
    elements = [pt.element for pt in c.coll._all_targets()]
    sh = Sharding(members, elements, grace_s=poll, heartbeat_s=min(1.0, ttl / 3))
    nodes = await asyncio.to_thread(sh.step)
    sh.update(nodes)
    tracker = c.coll.health
    loop = asyncio.get_running_loop()

    def seed(taken: set[str], given: set[str]) -> None:
        async def run():
            rows = await asyncio.to_thread(c.live_store.elements)
            n = 0
            for el in taken:
                r = rows.get(el)
                h = tracker.get(el)
                if r and h.state == "unknown":  # start from what its previous owner knew
                    h.state, h.since, h.last_seen = r["state"], r["since"] or 0.0, r["last_seen"]
                    h.reasons = [r["reason"]] if r["reason"] else []
                    n += 1
            log.info("took over %d elements (%d with their previous state)", len(taken), n)

        loop.create_task(run())

    sh.on_change.append(seed)
    c.coll.owns = sh.owns
    if c.coll.poller:
        c.coll.poller.owns = sh.owns
    c.sharding = sh
    sh.start()


def _status(c: Collecting) -> dict:
    """The status file's document: every part's counters and what the writers see of InfluxDB."""
    st = c.coll.status() if c.coll else {}
    if c.grid and c.grid_lease and c.grid_lease.running:
        st["grid"] = c.grid.status()
    if c.grid_lease:
        st["grid_ingest"] = {"running": c.grid_lease.running, "since": c.grid_lease.since}
    st["incidents"] = c.explainer.status() if c.explainer else {"active": False, "open": [], "total": 0}
    st["evidence"] = c.evidence.status()
    if c.sharding:
        st["sharding"] = {"members": c.sharding.nodes, "elements": c.sharding.share(), "changes": c.sharding.changes}
    st["node"] = c.evidence.node
    st["sink"] = {"written": c.sink.written, "pending": c.sink.pending, "dropped": c.sink.dropped}
    st["influx"] = influx_status(c.sink, c.grid if c.grid_lease and c.grid_lease.running else None)
    if c.prober:
        st["egov"] = c.prober.status()
    if c.delivery:
        st["alerts"] = c.delivery.status()
    st["threads_cpu_s"] = threads_cpu_s()
    st.update(WATCH.status())
    return st


class LoopWatch:
    """How late this process's event loop runs its callbacks (a sleep of ``every_s`` that wakes
    late by the lag), and the garbage collector's pauses: a busy node's timeouts, probe latencies
    and explainer rounds are only as punctual as its loop. The status file carries the last
    minute's figures; a lag over ``warn_ms`` is logged when it starts and when it ends (state
    changes, not every tick)."""

    def __init__(self, every_s: float = 0.25, keep: int = 240, warn_ms: float = 1000.0):
        self.every_s, self.keep, self.warn_ms = every_s, keep, warn_ms
        self.lags_ms: list[float] = []
        self.gc: dict[int, list[float]] = {0: [0, 0.0, 0.0], 1: [0, 0.0, 0.0], 2: [0, 0.0, 0.0]}  # n, total s, max s
        self._gc_t0 = 0.0
        self._late = False
        self._task: asyncio.Task | None = None

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_t0 = time.perf_counter()
            return
        d = time.perf_counter() - self._gc_t0
        g = self.gc[info.get("generation", 2)]
        g[0] += 1
        g[1] += d
        g[2] = max(g[2], d)

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(self.every_s)
            lag = max(0.0, (loop.time() - t - self.every_s) * 1000)
            self.lags_ms.append(lag)
            del self.lags_ms[: -self.keep]
            if (lag > self.warn_ms) != self._late:
                self._late = not self._late
                if self._late:
                    log.warning("event loop running %.0f ms late (this node is overloaded)", lag)
                else:
                    log.warning("event loop on time again")

    def status(self) -> dict:
        lags = sorted(self.lags_ms)
        pick = (lambda q: round(lags[min(len(lags) - 1, int(q * len(lags)))], 1)) if lags else (lambda q: 0.0)
        return {
            "loop_lag_ms": {"p50": pick(0.5), "p99": pick(0.99), "max": round(lags[-1], 1) if lags else 0.0},
            "gc": {
                f"gen{k}": {"collections": v[0], "pause_s": round(v[1], 3), "max_ms": round(v[2] * 1000, 1)}
                for k, v in self.gc.items()
            },
        }


WATCH = LoopWatch()
GC_THRESHOLDS = (20_000, 5, 10)  # gen0 allocations, gen0 runs per gen1, gen1 runs per gen2 (CPython: 700, 10, 10)


def threads_cpu_s() -> dict[str, float]:
    """CPU seconds used so far by each of this process's Python threads, by name (the event loop
    is MainThread; the InfluxDB writer, the spool, leases and heartbeats have their own): which part
    of a node costs what, without a profiler."""
    out: dict[str, float] = {}
    for t in threading.enumerate():
        try:
            cpu = time.clock_gettime(time.pthread_getcpuclockid(t.ident or 0))
        except (OSError, AttributeError, OverflowError):
            continue  # ended meanwhile, or a platform without per-thread clocks
        out[t.name] = round(out.get(t.name, 0.0) + cpu, 3)
    return out


def _write_status(st: dict, paths: set[Path]) -> None:
    for path in paths:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(st, indent=1))
        tmp.replace(path)


async def _report_until(stop: asyncio.Event, c: Collecting, live: LiveWriter, status_paths: set[Path]) -> None:
    """Every second: the status file(s) and the live view in the state database, until asked to stop."""
    n = 0
    next_availability = time.monotonic() + 3.0
    while not stop.is_set():
        st = _status(c)
        _write_status(st, status_paths)
        if n % 10 == 0 and c.delivery and c.delivery.active and "alerts" in st:
            c.sink.write(alert_points(c.inv.city, st["alerts"], time.time()))
        if c.explainer and c.explainer.active and time.monotonic() >= next_availability:
            next_availability = time.monotonic() + AVAILABILITY_EVERY_S
            await _write_availability(c)
        n += 1
        try:
            live.write(st)
        except Exception as exc:  # the database down: the live view waits, collection goes on
            log.warning("cannot write the live view to the state database: %s", exc)
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except asyncio.TimeoutError:
            pass


async def _shutdown(c: Collecting) -> None:
    """Stop everything in order, then flush the sink. The explainer stops deciding on the clock
    first: once polling stops, the mirror only ages (ExplainerService.freeze)."""
    if c.explainer:
        await c.explainer.freeze()
    if c.grid_lease:
        await c.grid_lease.stop()
    if c.sharding:
        await c.sharding.stop()
    if c.coll:
        await c.coll.stop()
    if c.prober:
        await c.prober.stop()
    await c.evidence.stop()
    if c.explainer:
        await c.explainer.stop()
    if c.delivery:
        await c.delivery.stop()
    c.state.close()
    c.store.close()
    t0 = time.monotonic()
    c.sink.close()
    log.info("stopped; flushed the sink in %.1f s", time.monotonic() - t0)
    c.db.close()


def _hotspot_interval(c: Collecting) -> float:
    return next((j.interval_s for j in c.coll.jobs if j.runs == "snmp.hotspots"), 30.0) if c.coll else 30.0


def _freeze_warm() -> None:
    """Move what the process has built by now out of the collector's sight (see run_collect)."""
    t = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.info("warm state frozen: %d objects, %.2f s", gc.get_freeze_count(), time.perf_counter() - t)


def c_seen_every(c: Collecting) -> float:
    """How often a hotspot's last good answer is refreshed in the live view: half a poll interval
    (the explainer on another node reads it to tell "stayed up"), at least every second."""
    return max(1.0, _hotspot_interval(c) / 2)


def city_settings(settings: Settings, invs: list[Inventory]) -> list[Settings]:
    """Each city's settings in a multi-city process: one state database for all (the first city's
    folder's, unless PANTAU_DATABASE_URL), a state folder per city for its spools (the first keeps
    STATE_DIR), the trap port on the first city's collector (it hands other cities' traps over)."""
    out = []
    for i, inv in enumerate(invs):
        if i == 0:
            out.append(settings.model_copy(update={"city": inv.source or inv.city}))
            continue
        out.append(
            settings.model_copy(
                update={
                    "city": inv.source or inv.city,
                    "state_dir": Path(settings.state_dir) / inv.city,
                    "database_url": settings.database,
                    "database_password": None,
                    "traps_listen": None,
                    # a simulator of several cities serves the others' e-gov services under /<city>
                    "egov_base_url": f"{settings.egov_base_url.rstrip('/')}/{inv.city}"
                    if settings.egov_base_url
                    else None,
                }
            )
        )
    return out


async def run_collect(invs: Inventory | list[Inventory], settings: Settings, status_file: Path | None = None) -> None:
    """Everything ``pantau collect`` runs, configured by the one settings object: one or several
    cities, each with its own collectors, evidence log and explainer (independent of the others)."""
    invs = invs if isinstance(invs, list) else [invs]
    per_city = city_settings(settings, invs)
    cs = [build(inv, st) for inv, st in zip(invs, per_city)]
    first = cs[0]
    if first.coll and len(cs) > 1:  # one trap port: other cities' traps go to their collector
        others = [c for c in cs[1:] if c.coll]

        def forward(trap) -> bool:
            for c in others:
                if trap.source[0] in c.inv.element_by_address:
                    c.coll.on_trap(trap)
                    return True
            return False

        first.coll.trap_forward = forward
    stop = _stop_on_signals()
    WATCH.start()
    for c in cs:
        await _start(c)
    # The inventory, profiles, poll targets and explainer maps live as long as the process: moved
    # out of the collector's sight (gc.freeze), they are not traversed by every full collection, and
    # fewer, larger young collections follow the allocation rate of a poll cycle. A city at time
    # scale 10 spent 8.7 s of 58 CPU s in 43 full collections of up to 0.3 s each (the loop stood
    # still meanwhile); LoopWatch reports the pauses in the status file.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    print(
        json.dumps({"ready": True, "hotspots": sum(len(i.hotspots) for i in invs), "cities": [i.city for i in invs]}),
        flush=True,
    )
    # What the first poll cycles build lives as long as the process too (every element's health,
    # poll state and GET plan, the explainer's and the live view's memory): frozen once more when
    # two cycles are done. Ten cities on one node otherwise paid 70 full collections of up to 1.9 s
    # (51 of its CPU seconds over 7 minutes) traversing it.
    warm_s = 2 * max(_hotspot_interval(c) for c in cs) + 5.0
    asyncio.get_running_loop().call_later(warm_s, _freeze_warm)
    loops = []
    for i, (c, st) in enumerate(zip(cs, per_city)):
        live = LiveWriter(
            c.live_store, c.inv, c.coll, c.grid_lease, c.prober, st.node_name, seen_every_s=c_seen_every(c)
        )
        paths = {st.status_file, *([Path(status_file)] if status_file and i == 0 else [])}
        loops.append(_report_until(stop, c, live, paths))
    try:
        await asyncio.gather(*loops)
    finally:
        for c in cs:
            await _shutdown(c)
        await WATCH.stop()
