"""Inventory suspects: where the evidence contradicts the NOC's asset list (docs/outages.md).

Two kinds of contradiction, both read from the explainer's findings (so ``replay`` of the stored
evidence gives the same suspects):

- ``joined``: a hotspot went dark in the same moment as an incident's hotspots, near its root,
  while its own listed transformer / switch was fine. Its listed element is probably wrong and the
  incident's element (or, for a feeder or substation, the transformer under it nearest to the
  hotspot) is the likely right one.
- ``stayed_up``: a hotspot kept answering while the transformer / switch it is listed under was
  dark. Its listed element is probably wrong; which one is right is not known from that alone.

A suspect is keyed by (hotspot, field). Each incident counts once however many times it is
re-decided; confidence grows with the number of incidents that contradicted the row:
``1 - 0.5 ** n`` weighted by the kind (a ``stayed_up`` alone is weaker: a lost-answer expiry or
a UPS the inventory does not know of also looks like it). The inventory is never changed: the
NOC reviews ``pantau inventory suspects`` / ``GET /api/v1/inventory/suspects`` and applies the
CSV of suggested corrections to ``hotspots.csv`` itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

POWER_CAUSES = ("power_grid", "planned_maintenance")
KIND_WEIGHT = {"joined": 1.0, "stayed_up": 0.6}
MAX_EVIDENCE = 20  # per suspect, the newest kept


@dataclass
class Suspect:
    hotspot: str  # inventory id, e.g. AP-0412
    field: str  # "transformer" | "switch"
    inventory: str  # what the row says
    first_at: float
    last_at: float
    incidents: dict[str, str] = field(default_factory=dict)  # incident id -> kind ("joined" / "stayed_up")
    votes: dict[str, int] = field(default_factory=dict)  # likely element -> incidents suggesting it
    evidence: list[dict] = field(default_factory=list)
    roots: dict[str, str] = field(default_factory=dict)  # incident id -> its root when it contradicted the row
    voted: dict[str, str] = field(default_factory=dict)  # incident id -> the element it voted for

    @property
    def likely(self) -> str | None:
        if not self.votes:
            return None
        return sorted(self.votes.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]

    @property
    def confidence(self) -> float:
        w = sum(KIND_WEIGHT[k] for k in self.incidents.values())
        return round(min(0.99, 1 - 0.5**w), 2)

    def row(self) -> dict:
        kinds = sorted(set(self.incidents.values()))
        return {
            "hotspot": self.hotspot,
            "field": self.field,
            "inventory": self.inventory,
            "likely": self.likely,
            "confidence": self.confidence,
            "incidents": len(self.incidents),
            "kinds": kinds,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "incident_ids": sorted(self.incidents),
            "votes": dict(sorted(self.votes.items())),
            "evidence": list(self.evidence),
            "roots": dict(sorted(self.roots.items())),
            "voted": dict(sorted(self.voted.items())),
        }

    @classmethod
    def from_row(cls, r: dict) -> Suspect:
        s = cls(r["hotspot"], r["field"], r["inventory"], float(r["first_at"]), float(r["last_at"]))
        ids = r.get("incident_ids") or []
        kinds = r.get("kinds") or ["joined"]
        # a stored row keeps the kind of each incident in its evidence; fall back to its first kind
        by_ev = {e["incident"]: e["kind"] for e in r.get("evidence") or [] if "incident" in e}
        s.incidents = {i: by_ev.get(i, kinds[0]) for i in ids}
        s.votes = {k: int(v) for k, v in (r.get("votes") or {}).items()}
        s.evidence = list(r.get("evidence") or [])
        by_root = {e["incident"]: e["root"] for e in s.evidence if "incident" in e and "root" in e}
        s.roots = {i: str(x) for i, x in (r.get("roots") or by_root).items() if i in s.incidents}
        s.voted = {i: str(x) for i, x in (r.get("voted") or {}).items() if i in s.incidents}
        return s


class SuspectBook:
    """The suspects of one city, accumulated over incidents."""

    def __init__(self, inv):
        self.inv = inv
        self.items: dict[tuple[str, str], Suspect] = {}
        self._changed: set[tuple[str, str]] = set()
        self._by_incident: dict[str, set[tuple[str, str]]] = {}  # incident -> suspects it contributed to
        self._withdrawn: dict[tuple[str, str], dict] = {}  # suspects left with no incident (to delete)

    def load(self, rows: list[dict]) -> None:
        """Suspects stored by an earlier run (accumulation survives restarts)."""
        for r in rows:
            s = Suspect.from_row(r)
            if s.hotspot in self.inv.hotspots:
                self.items[(s.hotspot, s.field)] = s
                for iid in s.incidents:
                    self._by_incident.setdefault(iid, set()).add((s.hotspot, s.field))

    def take_changed(self) -> list[dict]:
        """Rows to store; a withdrawn suspect comes as a row with ``incidents == 0`` (to delete)."""
        out = [self.items[k].row() for k in sorted(self._changed) if k in self.items]
        out += [self._withdrawn[k] for k in sorted(self._withdrawn) if k not in self.items]
        self._changed.clear()
        self._withdrawn.clear()
        return out

    def decided(self, incident_id: str, root: str) -> None:
        """An open incident's current root. What it contributed under an earlier root is withdrawn:
        that explanation was provisional (a transformer's reading came before its feeder's, and the
        feeder's hotspots looked as if they had gone dark with that transformer), and the hotspots
        it took for mislisted are explained by the new root without contradicting the inventory."""
        for key in sorted(self._by_incident.get(incident_id, ())):
            s = self.items.get(key)
            if s is None or s.roots.get(incident_id, root) == root:
                continue
            s.incidents.pop(incident_id, None)
            s.roots.pop(incident_id, None)
            voted = s.voted.pop(incident_id, None)
            if voted and voted in s.votes:
                s.votes[voted] -= 1
                if s.votes[voted] <= 0:
                    del s.votes[voted]
            s.evidence = [e for e in s.evidence if e.get("incident") != incident_id]
            self._by_incident[incident_id].discard(key)
            if s.incidents:
                self._changed.add(key)
            else:
                del self.items[key]
                self._changed.discard(key)
                self._withdrawn[key] = {**s.row(), "confidence": 0.0, "incidents": 0}

    def rows(self) -> list[dict]:
        return [s.row() for s in sorted(self.items.values(), key=lambda s: (-s.confidence, s.hotspot, s.field))]

    # --- from findings --------------------------------------------------------------------------
    def observe(
        self, incident_id: str, at: float, cause: str, root: str, joined: set[str], stayed_up: set[str]
    ) -> None:
        fld = "transformer" if cause in POWER_CAUSES else "switch" if cause == "network_uplink" else None
        if fld is None:
            return
        for h in sorted(joined):
            self._note(h[8:], fld, incident_id, at, "joined", root, self._likely(h[8:], fld, root))
        for h in sorted(stayed_up - joined):
            self._note(h[8:], fld, incident_id, at, "stayed_up", root, None)

    def _note(self, hid: str, fld: str, iid: str, at: float, kind: str, root: str, likely: str | None) -> None:
        row = self.inv.hotspots.get(hid)
        if row is None:
            return
        listed = getattr(row, fld)
        if likely == listed:
            return  # no contradiction after all
        key = (hid, fld)
        s = self.items.get(key)
        if s is None:
            s = self.items[key] = Suspect(hid, fld, listed, at, at)
        if iid in s.incidents and (s.incidents[iid] == kind or s.incidents[iid] == "joined"):
            return  # each incident counts once (a joined finding outweighs a stayed-up one)
        s.incidents[iid] = kind
        s.roots[iid] = root
        s.last_at = max(s.last_at, at)
        if likely and s.voted.get(iid) != likely:
            old = s.voted.get(iid)
            if old and old in s.votes:  # a stayed-up note of this incident became a joined one
                s.votes[old] -= 1
                if s.votes[old] <= 0:
                    del s.votes[old]
            s.votes[likely] = s.votes.get(likely, 0) + 1
            s.voted[iid] = likely
        self._by_incident.setdefault(iid, set()).add(key)
        if kind == "joined":
            text = f"went dark together with the hotspots of {root} while its listed {fld} {listed} was fine"
        else:
            text = f"kept answering while its listed {fld} {listed} ({root}) was dark"
        s.evidence = (s.evidence + [{"at": at, "incident": iid, "kind": kind, "root": root, "text": text}])[
            -MAX_EVIDENCE:
        ]
        self._changed.add(key)

    def _likely(self, hid: str, fld: str, root: str) -> str | None:
        """The element a ``joined`` hotspot most likely hangs on: the root itself when it is of the
        row's kind, else the nearest transformer (access switch) below the root."""
        kind, _, ident = root.partition(":")
        if fld == "transformer":
            if kind == "transformer":
                return ident
            h = self.inv.hotspots[hid]
            cands = [
                t
                for t in self.inv.transformers.values()
                if (kind == "feeder" and t.feeder == ident)
                or (kind == "substation" and self.inv.feeders[t.feeder].substation == ident)
            ]
            if not cands:
                return None
            cos = math.cos(math.radians(h.lat))
            return min(cands, key=lambda t: ((t.lat - h.lat) ** 2 + ((t.lon - h.lon) * cos) ** 2, t.id)).id
        if kind == "switch" and self.inv.switches.get(ident) is not None and self.inv.switches[ident].role == "access":
            return ident
        return None


CSV_COLUMNS = ("id", "field", "current", "suggested", "confidence", "incidents", "first_seen", "last_seen", "evidence")


def corrections_csv_rows(rows: list[dict], min_confidence: float = 0.0) -> list[list[str]]:
    """Suggested corrections a NOC can apply to ``hotspots.csv``: one line per suspect with a likely
    element (``suggested`` empty when only 'stayed up' evidence says the row is wrong)."""
    import datetime as _dt

    def ts(x: float) -> str:
        return _dt.datetime.fromtimestamp(x, _dt.timezone(_dt.timedelta(hours=7))).strftime("%Y-%m-%d %H:%M WIB")

    out = [list(CSV_COLUMNS)]
    for r in rows:
        if r["confidence"] < min_confidence:
            continue
        last = r["evidence"][-1]["text"] if r.get("evidence") else ""
        out.append(
            [
                r["hotspot"],
                r["field"],
                r["inventory"],
                r.get("likely") or "",
                f"{r['confidence']:.2f}",
                str(r["incidents"]),
                ts(r["first_at"]),
                ts(r["last_at"]),
                last,
            ]
        )
    return out
