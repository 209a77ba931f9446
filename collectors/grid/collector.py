"""GridCollector: the grid MQTT collector's lifecycle (start/stop), owner of the grid state.

The main process holds one persistent MQTT 5 session (client id ``pantau-grid-<city>``) for
maintenance notices, gateway status (last wills), Sparkplug B (whose node/seq state must live in
one place) and — with ``workers=0`` — the JSON telemetry too. With ``workers=N`` the telemetry
is split over N child processes through a shared subscription; they send reading digests back
here, so the grid state sees every reading whichever process took it. Workers that die are
restarted (their sessions resume where they stopped).

Evidence flows into :class:`collectors.grid.state.GridState`; its transitions go to listeners
(InfluxDB ``grid_event`` through the sink, the outage explainer). Readings go to a durable sink
per process, opened from the store-built :class:`~collectors.sink.DurableSinks` the runtime
passes in (``store.spool.SpoolSinks``): this package never builds an InfluxDB client.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from dataclasses import asdict
from pathlib import Path

from collectors.grid.config import GRID_FILE, GridConfig, load_grid_config
from collectors.grid.deadletters import DeadLetters
from collectors.grid.ingest import Ingest, Outcome
from collectors.grid.mqtt import BrokerConf, MqttSession
from collectors.grid.payloads import REASONS
from collectors.grid.sparkplug import SparkplugHost
from collectors.grid.state import GridEvent, GridState, Reading
from collectors.sink import DurableSink, DurableSinks, Sink
from store.lineprotocol import Point

log = logging.getLogger("pantau.grid")


class GridCollector:
    def __init__(
        self,
        inv,
        broker: BrokerConf,
        state_dir: Path,
        spools: DurableSinks,
        sink: Sink,
        telemetry_interval_s: float = 10.0,
        workers: int = 0,
        grid_file: Path = GRID_FILE,
        city_path: str | None = None,
        cfg: GridConfig | None = None,
    ):
        self.inv = inv
        self.broker = broker
        self.state_dir = Path(state_dir)
        self.spools = spools
        self.sink = sink
        self.cfg = cfg or load_grid_config(inv.city, grid_file)
        self.grid_file = Path(grid_file)
        self.city_path = city_path or inv.source
        self.workers = workers
        st = self.cfg.file.state
        self.grid = GridState(
            inv,
            stale_after_s=st.stale_after_intervals * telemetry_interval_s,
            energized_ratio=st.energized_ratio,
            nominal_v=dict(st.nominal_v),
        )
        self.grid.listeners.append(self._event_to_sink)
        sp = self.cfg.sparkplug
        self.sparkplug = (
            SparkplugHost(inv, dict(sp.metrics), self.cfg.fmt(sp.host_id), sp.namespace) if sp.enabled else None
        )
        self.spool: DurableSink | None = None
        self._procs: dict[int, multiprocessing.Process] = {}
        self._conns: dict[int, object] = {}
        self.worker_stats: dict[int, dict] = {}
        self._tasks: list[asyncio.Task] = []
        self.session: MqttSession | None = None
        self.started_at = time.time()
        self.worker_restarts = 0

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        cfg, s = self.cfg, self.cfg.session
        spool = self.open_spool()
        self.dead = DeadLetters(self.state_dir / "deadletters", "main")
        if self.sparkplug:
            self.sparkplug.validator = None
        self.ingest = Ingest(cfg, self.inv, spool, self.dead, self.sparkplug)
        if self.sparkplug:
            self.sparkplug.validator = self.ingest.validator
        subs = [(cfg.maintenance.filter(), 1), (cfg.gateway_status.filter(), 1)]
        if self.workers == 0:
            subs.insert(0, (cfg.telemetry.filter(), cfg.file.telemetry.qos))
        will = None
        if self.sparkplug:
            subs.append((self.sparkplug.subscription, 1))
            will = (self.sparkplug.state_topic, self.sparkplug.state_payload(False), 1, True)
        self.session = MqttSession(
            self.broker,
            cfg.fmt(s.client_id),
            subs,
            session_expiry_s=s.session_expiry_s,
            receive_maximum=s.receive_maximum,
            keepalive=s.keepalive_s,
            max_pending=s.max_pending,
            will=will,
            on_connected=self._on_connected,
        )
        self.session.start()
        for i in range(self.workers):
            self._spawn(i)
        self._tasks = [
            asyncio.create_task(self.ingest.run(self.session, self._apply, s.batch_ms / 1000)),
            asyncio.create_task(self._ticker()),
        ]
        log.info(
            "grid collector: %s, %d feeders + %d transformers, %d worker process(es), stale after %.0f s",
            self.broker,
            len(self.inv.feeders),
            len(self.inv.transformers),
            self.workers,
            self.grid.stale_after_s,
        )

    def ready(self) -> bool:
        """Every session (main and workers) connected and subscribed: nothing published now is missed."""
        if not (self.session and self.session.subscribed.is_set()):
            return False
        return all(self.worker_stats.get(i, {}).get("session", {}).get("subscribed") for i in range(self.workers))

    async def wait_ready(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while not self.ready() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if not self.ready():
            log.warning(
                "grid collector not subscribed after %.0f s (broker %s down?); going on, it will catch up",
                timeout,
                self.broker,
            )
        return self.ready()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        loop = asyncio.get_running_loop()
        for p in self._procs.values():
            if p.is_alive():
                p.terminate()
        for i, p in self._procs.items():
            await loop.run_in_executor(None, p.join, 10)
            conn = self._conns.get(i)
            if conn is not None:
                try:
                    loop.remove_reader(conn.fileno())
                except (ValueError, OSError):
                    pass
        if self.session:
            if self.sparkplug and self.session.client.is_connected():
                self.session.publish(self.sparkplug.state_topic, self.sparkplug.state_payload(False), 1, True)
            await self.session.stop()
        self.close_spool()
        self.dead.close()

    def open_spool(self) -> DurableSink:
        """This process's main spool, opened once: its writer thread also drains what an earlier
        run of this node acknowledged to the broker but had not written to InfluxDB when it died
        (the broker never sends those messages again, to anyone) — so a node opens it at start
        whether or not it holds the grid lease, and the ingest reuses it when it does."""
        if self.spool is None:
            self.spool = self.spools.open("main")
        return self.spool

    def close_spool(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    def _on_connected(self, session: MqttSession) -> None:
        if self.sparkplug:
            session.publish(self.sparkplug.state_topic, self.sparkplug.state_payload(True), 1, True)

    # --- workers --------------------------------------------------------------------------------
    def _spawn(self, i: int) -> None:
        from collectors.grid.worker import worker_main

        ctx = multiprocessing.get_context("spawn")
        r, w = ctx.Pipe(duplex=False)
        params = {
            "index": i,
            "city_path": str(self.city_path),
            "grid_file": str(self.grid_file),
            "state_dir": str(self.state_dir),
            "spools": self.spools,
            "broker": asdict(self.broker),
            "log_level": logging.getLogger().level or logging.INFO,
        }
        p = ctx.Process(target=worker_main, args=(params, w), name=f"pantau-grid-w{i}", daemon=True)
        p.start()
        w.close()
        self._procs[i] = p
        self._conns[i] = r
        asyncio.get_running_loop().add_reader(r.fileno(), self._from_worker, i)

    def _from_worker(self, i: int) -> None:
        conn = self._conns[i]
        try:
            while conn.poll():
                kind, body = conn.recv()
                if kind == "r":
                    self.grid.observe([Reading.from_digest(d) for d in body])
                elif kind == "s":
                    self.worker_stats[i] = body
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(conn.fileno())
            conn.close()
            self._conns.pop(i, None)

    def _supervise(self) -> None:
        for i, p in list(self._procs.items()):
            if not p.is_alive() and i not in self._conns:
                log.error("grid worker w%d exited (code %s); restarting it", i, p.exitcode)
                self.worker_restarts += 1
                self._spawn(i)

    # --- evidence -------------------------------------------------------------------------------
    def _apply(self, out: Outcome) -> None:
        g = self.grid
        if out.readings:
            g.observe(out.readings)
        for element, notice in out.notices:
            if notice is None:
                g.withdraw_notice(element)
            else:
                g.set_notice(notice)
        for gw, online, at in out.gateways:
            g.gateway_status(gw, online, at)
        if out.stale:
            g.telemetry_lost(out.stale, time.time(), "Sparkplug death certificate", "sparkplug")
        for group, node in out.rebirths:
            topic, payload = self.sparkplug.rebirth_request(group, node)
            self.session.publish(topic, payload, qos=0)
            self.sparkplug.rebirths_requested += 1

    def _event_to_sink(self, ev: GridEvent) -> None:
        kind, _, ident = ev.element.partition(":")
        tags = {"element": ev.element, "kind": kind, "city": self.inv.city, "source": ev.source}
        # where it sits in the grid, as grid_telemetry's tags: dashboards filter events by substation/feeder
        t = self.inv.transformers.get(ident) if kind == "transformer" else None
        feeder = t.feeder if t else ident if kind == "feeder" else None
        f = self.inv.feeders.get(feeder) if feeder else None
        if f is not None:
            tags |= {"feeder": f.id, "substation": f.substation}
        elif kind == "substation":
            tags["substation"] = ident
        self.sink.write(
            [
                Point(
                    "grid_event",
                    tags,
                    {"old": ev.old, "new": ev.new, "reason": ev.reason},
                    int(ev.at * 1e9),
                )
            ]
        )

    async def _ticker(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(1.0)
            self.grid.tick()
            self._supervise()
            n += 1
            if n % 10 == 0:
                self._self_metrics()

    def _self_metrics(self) -> None:
        now = int(time.time() * 1e9)
        pts = []
        city = self.inv.city
        for name, st in [("main", self.ingest.stats())] + [(f"w{i}", s) for i, s in self.worker_stats.items()]:
            # Dead letters per reason, every reason (zeros too): a counter since the process started.
            by_reason = st.get("dead_by_reason", {})
            pts += [
                Point(
                    "grid_deadletters",
                    {"city": city, "process": name, "reason": r},
                    {"count": int(by_reason.get(r, 0))},
                    now,
                )
                for r in sorted(set(REASONS) | set(by_reason))
            ]
            pts.append(
                Point(
                    "pantau_self",
                    {"component": "grid", "process": name, "city": city},
                    {
                        "received": st["received"],
                        "accepted": st["accepted"],
                        "dead": st["dead"],
                        "spool_backlog_bytes": st["spool_backlog_bytes"],
                        "lag_s": float(st["lag_s"]),
                    },
                    now,
                )
            )
        self.sink.write(pts)

    # --- status ---------------------------------------------------------------------------------
    def totals(self) -> dict:
        parts = [self.ingest.stats()] + list(self.worker_stats.values())
        dead_by: dict[str, int] = {}
        for p in parts:
            for k, v in p["dead_by_reason"].items():
                dead_by[k] = dead_by.get(k, 0) + v
        return {
            "received": sum(p["received"] for p in parts),
            "accepted": sum(p["accepted"] for p in parts),
            "dead": sum(p["dead"] for p in parts),
            "dead_by_reason": dead_by,
            "spool_backlog_bytes": sum(p["spool_backlog_bytes"] for p in parts),
            "written": (self.spool.written if self.spool else 0)
            + sum(p.get("written", 0) for p in self.worker_stats.values()),
        }

    def influx_state(self) -> dict:
        """The worst InfluxDB state of this process's and the workers' spool writers."""
        states = ([self.spool.influx_state()] if self.spool else []) + [
            s["influx"] for s in self.worker_stats.values() if "influx" in s
        ]
        return self.spools.worst(states)

    def status(self) -> dict:
        snap = self.grid.snapshot()
        not_energized = {
            e: {"state": s["state"], "since": s["since"], "reason": s["reason"]}
            for e, s in snap["elements"].items()
            if s["state"] != "energized"
        }
        return {
            "grid": {
                "counts": snap["counts"],
                "not_energized": not_energized,
                "notices": snap["notices"],
                "gateways": snap["gateways"],
            },
            "ingest": self.totals(),
            "influx": self.influx_state(),
            "main": self.ingest.stats(),
            "session": self.session.stats() if self.session else {},
            "workers": {f"w{i}": s for i, s in self.worker_stats.items()},
            "worker_restarts": self.worker_restarts,
            "sparkplug": {
                "nodes": len(self.sparkplug.nodes),
                "sequence_gaps": self.sparkplug.sequence_gaps,
                "rebirths_requested": self.sparkplug.rebirths_requested,
            }
            if self.sparkplug
            else None,
        }
