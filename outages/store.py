"""Incidents and the evidence behind them, one city's view of Pantau's state database
(:mod:`store.db`: SQLite by default, PostgreSQL for several machines).

- ``evidence``: every input the explainer received, in order: health events, grid events,
  maintenance notices, its own ``seen`` answers and the clock ticks that changed a decision.
  :meth:`IncidentStore.evidence` returns them in the order the explainer fed them
  (:func:`replay_order`), so feeding them to a fresh :class:`outages.explainer.Explainer`
  reproduces every incident (``replay``).
- ``incidents``: one row per incident, current version; ``incident_log``: every change of one
  (opened, updated, re-rooted, merged, closed, reopened); ``inventory_suspects``: hotspots whose
  listed transformer or switch the evidence contradicts (:mod:`outages.suspects`).

Two ways in: the explainer writes its decisions with the evidence that caused them in one
transaction (:meth:`IncidentStore.write`); collecting nodes that do not run the explainer append
their evidence (:meth:`IncidentStore.append`), which the active explainer reads in order
(:meth:`IncidentStore.evidence_after`). Rows the explainer itself adds carry ``after`` = the last
appended row it had fed, so replay puts them where they were fed, whatever arrived meanwhile.
"""

from __future__ import annotations

import json
import os
from typing import Iterable

import sqlalchemy as sa

from store.db import Database, dumps, evidence, incident_log, incidents, inventory_suspects, open_database

COLUMNS = tuple(c.name for c in incidents.columns)
JSON_COLS = ("affected", "areas", "evidence")


def replay_order(rows: Iterable[tuple]) -> list[tuple]:
    """Rows ``(seq, after, …)`` in the order the explainer fed them: appended rows by ``seq``; a
    row the explainer added (``after`` set) right after the appended row ``after`` (in ``seq``
    order among themselves)."""
    return sorted(rows, key=lambda r: (r[0], 0, 0) if r[1] is None else (r[1], 1, r[0]))


class IncidentStore:
    def __init__(self, target: Database | str | os.PathLike, city: str | None = "semarang"):
        """``target``: a :class:`Database`, a database URL or a SQLite file path; ``city``: whose
        rows (``None``: every city's, for reading)."""
        self.db = target if isinstance(target, Database) else open_database(target)
        self.city = city

    def close(self) -> None:
        """The database is shared by the process (:func:`store.db.open_database`); nothing to do."""

    def _city(self, table: sa.Table):
        return sa.true() if self.city is None else table.c.city == self.city

    # --- writes ---------------------------------------------------------------------------------
    def write(
        self,
        rows: list[tuple],
        changed: list[dict],
        log: list[tuple],
        suspects: list[dict] | None = None,
        *,
        after: int | None = None,
        node: str = "",
        fence=None,
    ) -> None:
        """One transaction: the evidence — ``(at, kind, element, data)`` or with a fifth item, its
        own ``after`` (the explainer's own rows, see the module docstring; ``None``: rows fed in this
        order) — the incident changes it caused and the inventory suspects. ``fence(conn)`` runs first inside the transaction and may raise to
        refuse the write (the explainer lease, store/cluster.py)."""
        if not (rows or changed or log or suspects):
            return
        city = self.city or "semarang"
        with self.db.tx() as conn:
            if fence is not None:
                fence(conn)
            self.db.log_lock(conn, city)
            if rows:
                conn.execute(
                    evidence.insert(),
                    [
                        {
                            "city": city,
                            "at": r[0],
                            "kind": r[1],
                            "element": r[2],
                            "data": dumps(r[3]),
                            "node": node,
                            "after": r[4] if len(r) > 4 else after,
                        }
                        for r in rows
                    ],
                )
            if changed:
                vals = []
                for inc in changed:
                    row = {c: inc.get(c) for c in COLUMNS}
                    row["city"] = row["city"] or city
                    for c in JSON_COLS:
                        row[c] = dumps(row[c] or [])
                    row["inferred"] = bool(row["inferred"])
                    vals.append(row)
                conn.execute(self.db.upsert(incidents, vals, ["id"]), vals)
            if log:
                conn.execute(
                    incident_log.insert(),
                    [
                        {"city": city, "incident_id": i, "at": at, "change": ch, "detail": dumps(d)}
                        for i, at, ch, d in log
                    ],
                )
            suspects = suspects or []
            gone = [r for r in suspects if not r["incidents"]]  # withdrawn (outages/suspects.py)
            for r in gone:
                conn.execute(
                    inventory_suspects.delete().where(
                        inventory_suspects.c.city == city,
                        inventory_suspects.c.hotspot == r["hotspot"],
                        inventory_suspects.c.field == r["field"],
                    )
                )
            vals = [
                {
                    "city": city,
                    "hotspot": r["hotspot"],
                    "field": r["field"],
                    "confidence": r["confidence"],
                    "last_at": r["last_at"],
                    "data": dumps(r),
                }
                for r in suspects
                if r["incidents"]
            ]
            if vals:
                conn.execute(self.db.upsert(inventory_suspects, vals, ["city", "hotspot", "field"]), vals)
            if changed or log:
                self.db.changed(conn, city, "incidents")
            if suspects:
                self.db.changed(conn, city, "suspects")

    def append(self, rows: list[tuple[float, str, str, dict]], node: str = "") -> int:
        """Evidence from a collecting node, appended to the city's log in commit order; returns the
        last ``seq`` written (0 when nothing was)."""
        if not rows:
            return 0
        city = self.city or "semarang"
        with self.db.tx() as conn:
            self.db.log_lock(conn, city)
            conn.execute(
                evidence.insert(),
                [
                    {"city": city, "at": at, "kind": k, "element": el, "data": dumps(d), "node": node}
                    for at, k, el, d in rows
                ],
            )
            last = conn.execute(sa.select(sa.func.max(evidence.c.seq)).where(evidence.c.city == city)).scalar()
            self.db.changed(conn, city, "evidence")
        return int(last or 0)

    # --- reads ----------------------------------------------------------------------------------
    def incidents(self, status: str | None = None, since: float | None = None) -> list[dict]:
        q = sa.select(incidents).where(self._city(incidents))
        if status:
            q = q.where(incidents.c.status == status)
        if since is not None:
            q = q.where(sa.or_(incidents.c.closed_at.is_(None), incidents.c.closed_at >= since))
        rows = self.db.rows(q.order_by(incidents.c.opened_at))
        for r in rows:
            for c in JSON_COLS:
                r[c] = json.loads(r[c])
            r["inferred"] = bool(r["inferred"])
        return rows

    def inventory_suspects(self, min_confidence: float = 0.0) -> list[dict]:
        """Inventory suspects, most confident first (``outages.suspects.Suspect.row``)."""
        q = (
            sa.select(inventory_suspects.c.data)
            .where(self._city(inventory_suspects), inventory_suspects.c.confidence >= min_confidence)
            .order_by(inventory_suspects.c.confidence.desc(), inventory_suspects.c.hotspot, inventory_suspects.c.field)
        )
        return [json.loads(r["data"]) for r in self.db.rows(q)]

    def evidence(self) -> list[tuple[float, str, str, dict]]:
        """Every evidence row of the city, in the order the explainer fed them (replay)."""
        q = sa.select(
            evidence.c.seq, evidence.c.after, evidence.c.at, evidence.c.kind, evidence.c.element, evidence.c.data
        )
        rows = self.db.rows(q.where(self._city(evidence)).order_by(evidence.c.seq))
        ordered = replay_order([(r["seq"], r["after"], r) for r in rows])
        return [(r["at"], r["kind"], r["element"], json.loads(r["data"])) for _, _, r in ordered]

    def evidence_after(self, after_seq: int, limit: int = 5000, appended_only: bool = False) -> list[dict]:
        """Evidence rows after ``after_seq`` in ``seq`` order: ``{seq, after, at, kind, element, data, node}``
        (``appended_only``: only the collectors' rows, not the explainer's own)."""
        q = sa.select(evidence).where(self._city(evidence), evidence.c.seq > after_seq)
        if appended_only:
            q = q.where(evidence.c.after.is_(None))
        rows = self.db.rows(q.order_by(evidence.c.seq).limit(limit))
        for r in rows:
            r["data"] = json.loads(r["data"])
        return rows

    def health_after(self, after_seq: int, prefix: str = "hotspot:", limit: int = 200_000) -> list[tuple]:
        """Health evidence of elements named ``prefix…`` after evidence row ``after_seq``, oldest first:
        ``(seq, at, element, data)`` — read incrementally by the availability accounting."""
        q = (
            sa.select(evidence.c.seq, evidence.c.at, evidence.c.element, evidence.c.data)
            .where(
                self._city(evidence),
                evidence.c.seq > after_seq,
                evidence.c.kind == "health",
                evidence.c.element.like(prefix + "%"),
            )
            .order_by(evidence.c.seq)
            .limit(limit)
        )
        return [(r["seq"], r["at"], r["element"], json.loads(r["data"])) for r in self.db.rows(q)]

    def evidence_span(self) -> tuple[float | None, float | None, int]:
        """The first and last evidence times and the last evidence row: what was watched, until when."""
        with self.db.read() as conn:
            first = conn.execute(
                sa.select(evidence.c.at).where(self._city(evidence)).order_by(evidence.c.seq).limit(1)
            ).first()
            last = conn.execute(
                sa.select(evidence.c.at, evidence.c.seq)
                .where(self._city(evidence))
                .order_by(evidence.c.seq.desc())
                .limit(1)
            ).first()
        return (first[0] if first else None, last[0] if last else None, last[1] if last else 0)

    def last_seq(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(sa.select(sa.func.max(evidence.c.seq)).where(self._city(evidence))).scalar() or 0)

    def log_since(self, after_id: int, limit: int = 500) -> list[dict]:
        """Incident changes after ``after_id`` (the incident_log row id), oldest first: live streams."""
        q = (
            sa.select(incident_log)
            .where(self._city(incident_log), incident_log.c.id > after_id)
            .order_by(incident_log.c.id)
            .limit(limit)
        )
        return [
            {
                "seq": r["id"],
                "city": r["city"],
                "incident_id": r["incident_id"],
                "at": r["at"],
                "change": r["change"],
                "detail": json.loads(r["detail"]),
            }
            for r in self.db.rows(q)
        ]

    def last_log_id(self) -> int:
        with self.db.read() as conn:
            return int(
                conn.execute(sa.select(sa.func.max(incident_log.c.id)).where(self._city(incident_log))).scalar() or 0
            )

    def log(self, incident_id: str | None = None) -> list[dict]:
        q = sa.select(incident_log).where(self._city(incident_log))
        if incident_id:
            q = q.where(incident_log.c.incident_id == incident_id)
        return [
            {"incident_id": r["incident_id"], "at": r["at"], "change": r["change"], "detail": json.loads(r["detail"])}
            for r in self.db.rows(q.order_by(incident_log.c.id))
        ]
