"""The live view in the state database: what the API serves as "now" and what a node taking an
element over starts from.

- ``element_state``: each hotspot's and switch's health as the node polling it last knew it
  (state, since, last good answer, last poll, reason, node). Writers send only what changed
  (:class:`LiveWriterState` keeps what was last written); ``last_seen`` alone is refreshed at most
  every ``seen_every_s`` (it moves on every good poll).
- ``live_docs``: other live documents per city — ``grid`` (the grid as known), ``egov`` (e-gov
  status), ``status:<node>`` (each collecting node's counters).

Every write bumps the city's ``live`` version (and NOTIFYs on PostgreSQL): readers reload then.
"""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from store.db import Database, dumps, element_state, live_docs


class LiveStore:
    def __init__(self, db: Database, city: str, node: str = ""):
        self.db, self.city, self.node = db, city, node

    # --- writes ---------------------------------------------------------------------------------
    def write(self, elements: list[dict], docs: dict[str, object]) -> None:
        """Upsert element rows (``element``, ``state``, ``since``, ``last_seen``, ``last_poll``,
        ``reason``) and documents, one transaction."""
        if not elements and not docs:
            return
        now = time.time()
        with self.db.tx() as conn:
            if elements:
                rows = [
                    {
                        "city": self.city,
                        "element": e["element"],
                        "state": e["state"],
                        "since": e.get("since"),
                        "last_seen": e.get("last_seen"),
                        "last_poll": e.get("last_poll"),
                        "reason": (e.get("reason") or "")[:300],
                        "node": self.node,
                        "updated_at": now,
                    }
                    for e in elements
                ]
                conn.execute(self.db.upsert(element_state, rows, ["city", "element"]), rows)
            if docs:
                rows = [{"city": self.city, "name": k, "doc": _text(v), "at": now} for k, v in docs.items()]
                conn.execute(self.db.upsert(live_docs, rows, ["city", "name"]), rows)
            self.db.changed(conn, self.city, "live")

    # --- reads ----------------------------------------------------------------------------------
    def elements(self, prefix: str | None = None) -> dict[str, dict]:
        q = sa.select(element_state).where(element_state.c.city == self.city)
        if prefix:
            q = q.where(element_state.c.element.like(prefix + "%"))
        return {r["element"]: r for r in self.db.rows(q)}

    def elements_since(self, t: float) -> dict[str, dict]:
        q = sa.select(element_state).where(element_state.c.city == self.city, element_state.c.updated_at >= t)
        return {r["element"]: r for r in self.db.rows(q)}

    def docs(self) -> dict[str, tuple[float, object]]:
        q = sa.select(live_docs.c.name, live_docs.c.doc, live_docs.c.at).where(live_docs.c.city == self.city)
        return {r["name"]: (r["at"], json.loads(r["doc"])) for r in self.db.rows(q)}


class Json(str):
    """A live document already serialized (the writer compared it as text; not dumped again)."""


def _text(doc: object) -> str:
    return str(doc) if isinstance(doc, Json) else dumps(doc)


class LiveWriterState:
    """What a writer last wrote, to send only changes: a row is due when its state, since or reason
    changed, or its ``last_seen`` moved and the last write of it is ``seen_every_s`` old."""

    def __init__(self, seen_every_s: float = 15.0):
        self.seen_every_s = seen_every_s
        self.last: dict[str, tuple] = {}  # element -> (state, since, reason) written
        self.seen: dict[str, float | None] = {}  # element -> last_seen written
        self.seen_written: dict[str, float] = {}  # element -> when it was written
        self.docs: dict[str, str] = {}

    def due(self, rows: list[dict], now: float | None = None) -> list[dict]:
        now = time.time() if now is None else now
        out = []
        for r in rows:
            el = r["element"]
            if self.last.get(el) != (r["state"], r.get("since"), r.get("reason") or ""):
                out.append(r)
            elif r.get("last_seen") != self.seen.get(el) and now - self.seen_written.get(el, 0.0) >= self.seen_every_s:
                out.append(r)
        return out

    def written(self, rows: list[dict], now: float | None = None) -> None:
        now = time.time() if now is None else now
        for r in rows:
            el = r["element"]
            self.last[el] = (r["state"], r.get("since"), r.get("reason") or "")
            self.seen[el] = r.get("last_seen")
            self.seen_written[el] = now

    def changed_docs(self, docs: dict[str, object]) -> dict[str, object]:
        """The documents that differ from what was last written, each serialized once (as
        :class:`Json`, which :meth:`LiveStore.write` and :meth:`docs_written` take as it is)."""
        out: dict[str, object] = {}
        for k, v in docs.items():
            s = v if isinstance(v, Json) else Json(dumps(v))
            if self.docs.get(k) != s:
                out[k] = s
        return out

    def docs_written(self, docs: dict[str, object]) -> None:
        for k, v in docs.items():
            self.docs[k] = _text(v)

    def forget(self, elements) -> None:
        """Elements no longer written by this node (their new owner writes them now)."""
        for el in elements:
            self.last.pop(el, None)
            self.seen.pop(el, None)
            self.seen_written.pop(el, None)
