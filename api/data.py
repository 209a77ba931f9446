"""What the API reads: the collecting process's ``live.json`` (hotspot/switch health, grid, e-gov,
Pantau's own health), the incident store, the state database (keys, silences, notes) and InfluxDB
(history, uptime). The API never polls a device: it is a reader of what the collectors know.

``live.json`` is reloaded when it changes (checked at most every ``refresh_s``); incidents are
re-read when the SQLite file changes. Everything derived from them (the citizen answers) is
rebuilt once per change, not per request.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from outages.store import IncidentStore
from store.state import StateDB
from store.timeseries import InfluxConf

log = logging.getLogger("pantau.api")


class DataSource:
    def __init__(self, inv, state_dir: Path, influx: InfluxConf | None = None, refresh_s: float = 0.5):
        self.inv = inv
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.live_path = self.state_dir / "live.json"
        self.incidents_db = IncidentStore(self.state_dir / "incidents.sqlite")
        self.state = StateDB(self.state_dir / "state.sqlite")
        self.influx = influx.client() if influx else None
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._checked = 0.0
        self._live_sig: tuple[int, int] | None = None
        self._inc_sig: tuple[tuple[int, int] | None, ...] | None = None
        self.live: dict = {"at": None, "hotspots": {}, "switches": {}, "grid": None, "egov": {}, "status": {}}
        self.incidents: list[dict] = []
        self.version = 0  # bumps whenever live or incidents changed
        self.listeners: list = []  # called with (version) after a change (public cache, SSE)
        self.refresh(force=True)

    def close(self) -> None:
        self.incidents_db.close()
        self.state.close()
        if self.influx:
            self.influx.close()

    @staticmethod
    def _sig(path: Path) -> tuple[int, int] | None:
        try:
            st = os.stat(path)
            return (st.st_mtime_ns, st.st_size)
        except OSError:
            return None

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
            sig = self._sig(self.live_path)
            if sig != self._live_sig:
                try:
                    self.live = json.loads(self.live_path.read_text())
                    self._live_sig = sig
                    changed = True
                except (OSError, ValueError):
                    pass  # being replaced; next time
            db = self.state_dir / "incidents.sqlite"
            sdb = self.state_dir / "state.sqlite"  # acknowledgements change what citizens see
            isig = (
                self._sig(db),
                self._sig(db.with_name(db.name + "-wal")),
                self._sig(sdb.with_name(sdb.name + "-wal")),
            )
            if isig != self._inc_sig:
                try:
                    self.incidents = self.incidents_db.incidents()
                    self._inc_sig = isig
                    changed = True
                except Exception:
                    log.exception("cannot read incidents")
            if changed:
                self.version += 1
        if changed:
            for fn in self.listeners:
                try:
                    fn(self.version)
                except Exception:
                    log.exception("data listener failed")
        return changed

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
