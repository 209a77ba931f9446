"""What the API reads: the state database (:mod:`store.db`) — the live view the collecting nodes
write (hotspot/switch health, grid, e-gov, their status: :mod:`store.live`), incidents, keys,
silences, notes — and InfluxDB (history, uptime). The API never polls a device and keeps nothing
of its own: any number of replicas serve the same answers.

What changed is known from the database's versions (``changes``, checked at most every
``refresh_s``; on PostgreSQL a LISTEN thread also wakes the check the moment a writer commits).
Element rows are re-read incrementally (those updated since the last read, with a margin for
the writers' clocks; all of them every ``full_every_s``). Everything derived (the citizens'
answers) is rebuilt once per change, not per request.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from outages.store import IncidentStore
from store.db import NOTIFY_CHANNEL, in_state_dir, open_database
from store.live import LiveStore
from store.state import StateDB
from store.timeseries import InfluxConf

log = logging.getLogger("pantau.api")


class DataSource:
    def __init__(
        self,
        inv,
        state_dir: Path,
        influx: InfluxConf | None = None,
        refresh_s: float = 0.5,
        database: str | None = None,
    ):
        self.inv = inv
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.db = open_database(database or in_state_dir(self.state_dir))
        self.incidents_db = IncidentStore(self.db, city=inv.city)
        self.state = StateDB(self.db, city=inv.city)
        self.live_db = LiveStore(self.db, inv.city)
        self._versions: dict = {}
        self.influx = influx.client() if influx else None
        self.refresh_s = refresh_s
        self.full_every_s = 30.0
        self._lock = threading.Lock()
        self._checked = 0.0
        self._elements: dict[str, dict] = {}
        self._el_max = 0.0  # newest updated_at read
        self._full_at = 0.0
        self.live: dict = {
            "at": None,
            "hotspots": {},
            "switches": {},
            "grid": None,
            "egov": {},
            "status": {},
            "nodes": {},
        }
        self.incidents: list[dict] = []
        self.version = 0  # bumps whenever live or incidents changed
        self.listeners: list = []  # called with (version) after a change (public cache, SSE)
        self._listener: threading.Thread | None = None
        self._closing = threading.Event()
        self.refresh(force=True)

    def close(self) -> None:
        self._closing.set()
        if self.influx:
            self.influx.close()

    def listen(self) -> None:
        """PostgreSQL: a thread LISTENs for the writers' NOTIFY and makes the next refresh look at
        once (SQLite: nothing to do, the versions are polled every ``refresh_s``)."""
        if self.db.kind != "postgresql" or self._listener is not None:
            return
        self._listener = threading.Thread(target=self._listen, name="pantau-listen", daemon=True)
        self._listener.start()

    def _listen(self) -> None:
        import psycopg

        dsn = self.db.url.replace("postgresql+psycopg://", "postgresql://")
        while not self._closing.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    for n in conn.notifies(timeout=5.0):
                        city = n.payload.partition(":")[0]
                        if city in (self.inv.city, "*"):
                            self._checked = 0.0
                        if self._closing.is_set():
                            return
            except Exception as exc:  # the server restarting: listen again (the polls cover the gap)
                log.info("LISTEN %s: %s; again in 1 s", NOTIFY_CHANNEL, exc)
                self._closing.wait(1.0)

    def refresh(self, force: bool = False) -> bool:
        """Reload what changed; cheap when nothing did. Returns True on a change."""
        now = time.monotonic()
        if not force and now - self._checked < self.refresh_s:
            return False
        with self._lock:
            if not force and now - self._checked < self.refresh_s:
                return False
            self._checked = now
            changed = False
            try:
                versions = self.db.versions()
                mine = {k: v for k, v in versions.items() if k[0] in (self.inv.city, "*")}
                old = self._versions
                if force or mine.get((self.inv.city, "live")) != old.get((self.inv.city, "live")):
                    self._load_live(now)
                    changed = True
                # incidents, and acknowledgements / notes (they change what citizens see)
                if force or {k: v for k, v in mine.items() if k[1] != "live"} != {
                    k: v for k, v in old.items() if k[1] != "live"
                }:
                    self.incidents = self.incidents_db.incidents()
                    changed = True
                self._versions = mine
            except Exception:
                log.exception("cannot read the state database (serving the last view)")
            if changed:
                self.version += 1
        if changed:
            for fn in self.listeners:
                try:
                    fn(self.version)
                except Exception:
                    log.exception("data listener failed")
        return changed

    def _load_live(self, now: float) -> None:
        full = now - self._full_at >= self.full_every_s or not self._elements
        if full:
            rows = self.live_db.elements()
            self._elements = rows
            self._full_at = now
        else:  # rows updated since the newest read, with a margin for the writers' clocks
            rows = self.live_db.elements_since(self._el_max - 5.0)
            self._elements.update(rows)
        if rows:
            self._el_max = max(self._el_max, max(r["updated_at"] for r in rows.values()))
        hs, sw = {}, {}
        for el, r in self._elements.items():
            kind, _, ident = el.partition(":")
            row = [r["state"], r["since"], r["last_seen"], r["reason"]]
            if kind == "hotspot":
                hs[ident] = row
            elif kind == "switch":
                sw[ident] = row
        docs = self.live_db.docs()
        nodes: dict[str, dict] = {
            k[7:]: v for k, (_, v) in docs.items() if k.startswith("status:") and isinstance(v, dict)
        }
        newest: dict = max(nodes.values(), key=lambda d: d.get("at") or 0) if nodes else {}
        self.live = {
            "at": newest.get("at"),
            "city": self.inv.city,
            "hotspots": hs,
            "switches": sw,
            "grid": docs.get("grid", (0, None))[1],
            "egov": docs.get("egov", (0, {}))[1] or {},
            "status": newest,
            "nodes": nodes,
        }

    def invalidate(self) -> None:
        """Something this process wrote (a note, an acknowledgement): look again at the next read."""
        self._checked = 0.0

    # --- helpers --------------------------------------------------------------------------------
    def hotspot_state(self, ident: str) -> dict:
        row = self.live.get("hotspots", {}).get(ident)
        if not row:
            return {"state": "unknown", "since": None, "last_seen": None, "reason": "not polled yet"}
        return {"state": row[0], "since": row[1], "last_seen": row[2], "reason": row[3]}

    def open_incidents(self) -> list[dict]:
        return [i for i in self.incidents if i["status"] == "open"]

    def incident(self, iid: str) -> dict | None:
        return next((i for i in self.incidents if i["id"] == iid), None)

    def grid_elements(self) -> dict:
        g = self.live.get("grid") or {}
        return g.get("elements", {})

    def notices(self) -> list[dict]:
        g = self.live.get("grid") or {}
        return g.get("notices", [])
