"""Incidents and the evidence behind them, in SQLite (default) — plain SQL a server database can take.

Tables (types are portable: TEXT, REAL, INTEGER; JSON in TEXT columns):
- ``evidence``: every input the explainer received, in order (``seq``): health events, grid events,
  maintenance notices, and the clock ticks that changed a decision. Feeding these rows to a fresh
  :class:`outages.explainer.Explainer` reproduces every incident (``replay``).
- ``incidents``: one row per incident, current version (cause, root, confidence, affected
  hotspots and areas, explanation id/en, evidence summary, opened/updated/closed times).
- ``incident_log``: every change of an incident (opened, updated, re-rooted, merged, closed, reopened).
- ``inventory_suspects``: hotspots whose listed transformer or switch the evidence contradicts
  (:mod:`outages.suspects`), one row per (hotspot, field), accumulated over incidents.

To run several Pantau machines on one database, the same DDL works on PostgreSQL (``seq`` as
an identity column); one process per city must own the explainer.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from store.sqlite import open_db

DDL = [
    """CREATE TABLE IF NOT EXISTS evidence (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, kind TEXT NOT NULL,
        element TEXT NOT NULL, data TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS incidents (
        id TEXT PRIMARY KEY, city TEXT NOT NULL, cause TEXT NOT NULL, root TEXT NOT NULL, status TEXT NOT NULL,
        confidence REAL NOT NULL, inferred INTEGER NOT NULL, opened_at REAL NOT NULL, updated_at REAL NOT NULL,
        closed_at REAL, affected TEXT NOT NULL, areas TEXT NOT NULL, explanation_id TEXT NOT NULL,
        explanation_en TEXT NOT NULL, evidence TEXT NOT NULL, merged_into TEXT, detected_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS incident_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT, incident_id TEXT NOT NULL, at REAL NOT NULL, change TEXT NOT NULL,
        detail TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS incidents_status ON incidents (status, opened_at)",
    """CREATE TABLE IF NOT EXISTS inventory_suspects (
        hotspot TEXT NOT NULL, field TEXT NOT NULL, confidence REAL NOT NULL, last_at REAL NOT NULL,
        data TEXT NOT NULL, PRIMARY KEY (hotspot, field))""",
]

COLUMNS = (
    "id",
    "city",
    "cause",
    "root",
    "status",
    "confidence",
    "inferred",
    "opened_at",
    "updated_at",
    "closed_at",
    "affected",
    "areas",
    "explanation_id",
    "explanation_en",
    "evidence",
    "merged_into",
    "detected_at",
)


class IncidentStore:
    def __init__(self, path: Path | str):
        self.path = str(path)
        self._db = open_db(self.path, DDL)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    # --- writes ---------------------------------------------------------------------------------
    def write(
        self,
        evidence: list[tuple[float, str, str, dict]],
        incidents: list[dict],
        log: list[tuple],
        suspects: list[dict] | None = None,
    ) -> None:
        """One transaction: the evidence that arrived and the incident changes (and inventory
        suspects) it caused."""
        if not (evidence or incidents or log or suspects):
            return
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO evidence (at, kind, element, data) VALUES (?, ?, ?, ?)",
                    [(at, k, el, json.dumps(d, separators=(",", ":"))) for at, k, el, d in evidence],
                )
                for inc in incidents:
                    row = {c: inc.get(c) for c in COLUMNS}
                    for c in ("affected", "areas", "evidence"):
                        row[c] = json.dumps(row[c] or [], ensure_ascii=False)
                    row["inferred"] = int(bool(row["inferred"]))
                    self._db.execute(
                        f"INSERT OR REPLACE INTO incidents ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                        [row[c] for c in COLUMNS],
                    )
                self._db.executemany(
                    "INSERT INTO incident_log (incident_id, at, change, detail) VALUES (?, ?, ?, ?)",
                    [(i, at, ch, json.dumps(d, ensure_ascii=False)) for i, at, ch, d in log],
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO inventory_suspects (hotspot, field, confidence, last_at, data)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [
                        (r["hotspot"], r["field"], r["confidence"], r["last_at"], json.dumps(r, ensure_ascii=False))
                        for r in suspects or []
                    ],
                )
                self._db.execute("COMMIT")
            except Exception:
                self._db.execute("ROLLBACK")
                raise

    # --- reads ----------------------------------------------------------------------------------
    def incidents(self, status: str | None = None, since: float | None = None) -> list[dict]:
        q, args = "SELECT * FROM incidents WHERE 1=1", []
        if status:
            q += " AND status = ?"
            args.append(status)
        if since is not None:
            q += " AND (closed_at IS NULL OR closed_at >= ?)"
            args.append(since)
        q += " ORDER BY opened_at"
        with self._lock:
            cur = self._db.execute(q, args)
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r)) for r in cur.fetchall()]
        for r in rows:
            for c in ("affected", "areas", "evidence"):
                r[c] = json.loads(r[c])
            r["inferred"] = bool(r["inferred"])
        return rows

    def inventory_suspects(self, min_confidence: float = 0.0) -> list[dict]:
        """Inventory suspects, most confident first (``outages.suspects.Suspect.row``)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM inventory_suspects WHERE confidence >= ? ORDER BY confidence DESC, hotspot, field",
                (min_confidence,),
            ).fetchall()
        return [json.loads(d) for (d,) in rows]

    def evidence(self) -> list[tuple[float, str, str, dict]]:
        with self._lock:
            rows = self._db.execute("SELECT at, kind, element, data FROM evidence ORDER BY seq").fetchall()
        return [(at, k, el, json.loads(d)) for at, k, el, d in rows]

    def health_after(self, after_seq: int, prefix: str = "hotspot:", limit: int = 200_000) -> list[tuple]:
        """Health evidence of elements named ``prefix…`` after evidence row ``after_seq``, oldest first:
        ``(seq, at, element, data)`` — read incrementally by the availability accounting."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, at, element, data FROM evidence WHERE seq > ? AND kind = 'health' AND element LIKE ?"
                " ORDER BY seq LIMIT ?",
                (after_seq, prefix + "%", limit),
            ).fetchall()
        return [(seq, at, el, json.loads(d)) for seq, at, el, d in rows]

    def evidence_span(self) -> tuple[float | None, float | None, int]:
        """The first and last evidence times and the last evidence row: what was watched, until when."""
        with self._lock:
            first = self._db.execute("SELECT at FROM evidence ORDER BY seq LIMIT 1").fetchone()
            last = self._db.execute("SELECT at, seq FROM evidence ORDER BY seq DESC LIMIT 1").fetchone()
        return (first[0] if first else None, last[0] if last else None, last[1] if last else 0)

    def log_since(self, after_id: int, limit: int = 500) -> list[dict]:
        """Incident changes after ``after_id`` (the incident_log row id), oldest first: live streams."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, incident_id, at, change, detail FROM incident_log WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [
            {"seq": i, "incident_id": inc, "at": at, "change": ch, "detail": json.loads(d)}
            for i, inc, at, ch, d in rows
        ]

    def last_log_id(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COALESCE(MAX(id), 0) FROM incident_log").fetchone()[0]

    def log(self, incident_id: str | None = None) -> list[dict]:
        q = "SELECT incident_id, at, change, detail FROM incident_log"
        args = []
        if incident_id:
            q += " WHERE incident_id = ?"
            args.append(incident_id)
        with self._lock:
            rows = self._db.execute(q + " ORDER BY id", args).fetchall()
        return [{"incident_id": i, "at": at, "change": ch, "detail": json.loads(d)} for i, at, ch, d in rows]
