"""Availability accounted by cause: every minute a hotspot was down, attributed to the cause of the
incident that explains it (docs/outages.md, "Availability").

Computed from what ``pantau collect`` already stores durably in the state database — the health
evidence (when each hotspot went dark and came back) and the incidents with their whole log
(opened, updated, rerooted, merged, closed, reopened) — so it survives restarts, can be recomputed
for any window, and every figure can be traced to evidence rows and incident decisions.

1. **Downtime** (:class:`DowntimeLedger`): a hotspot is down from its first failed poll (the
   ``suspect`` event of the failure run that took it ``down``; a trap: the trap's moment) until it
   is polled ``up`` or ``degraded`` again. Single lost answers (a ``suspect`` with no ``down``) are
   not downtime. Read incrementally (evidence rows after the last one read).
2. **Incident timelines** (:func:`timelines`): each incident is a list of segments (cause, root)
   from its log. A segment's minutes take the cause of the segment that corrected it — a re-root,
   a cause update or a merge into another incident — when it lasted at most ``correction_s``
   (15 min): the explainer's provisional views (waiting for telemetry, holdoffs) are corrected, not
   counted. A cause held longer was the monitor's judgment for that time and keeps its minutes (a
   device dead for days and then swept into its transformer's power cut keeps its days as
   ``device``). A ``planned_maintenance`` segment followed, at the same root, by ``power_grid``
   (still dark after the notice's window) keeps its minutes: the overrun is unplanned, the window
   is not. A close and a reopen are two episodes; nothing is corrected across them.
3. **Attribution** (:func:`attribute`): a moment of a hotspot's downtime belongs to an incident
   that lists the hotspot (its affected hotspots, or its root) and is open then; of several, the
   physically dominant cause wins (power, then network, then device/unknown: a hotspot without power
   is dark whatever its switch does), then the earliest opened. Minutes before the first incident
   opened (holdoffs) belong to the first; minutes after one closed (booting, grace) to the last
   one before them. Downtime no incident explains is ``unknown``.

Roll-ups (:func:`rollup`) by hotspot, kelurahan, kecamatan, vendor, switch, transformer, feeder
and city per hour, day or month of the Asia/Jakarta calendar, with and without planned
maintenance (excluded from both the downtime and the time, as Zabbix's SLA and LibreNMS do).

For the scenario runner: :func:`hotspot_minutes_by_cause` (a state folder or stores, a window).
"""

from __future__ import annotations

import calendar
import threading
import time
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from outages.store import IncidentStore

WIB = ZoneInfo("Asia/Jakarta")
CAUSES = ("power_grid", "planned_maintenance", "network_uplink", "device", "service", "unknown")
PRIORITY = {"power_grid": 0, "planned_maintenance": 0, "network_uplink": 1, "device": 2, "unknown": 3, "service": 4}
CORRECTION_S = 900.0
GROUPS = ("hotspot", "kelurahan", "kecamatan", "vendor", "switch", "transformer", "feeder", "city")
STEPS = ("hour", "day", "month")
CHANGES_KEPT = 500  # state changes kept per hotspot for its history (the NOC's hotspot page)


# --- 1. downtime from health evidence -----------------------------------------------------------
class DowntimeLedger:
    """Every hotspot's down intervals ``[start, end)`` (``end`` None while down), from the health
    evidence in order; :meth:`update` reads only the rows stored since the last call."""

    def __init__(self) -> None:
        self.seq = 0
        self.intervals: dict[str, list[list]] = {}  # hotspot id -> [[start, end|None], ...]
        # hotspot id -> its last CHANGES_KEPT state changes and reboots (at, kind, old, new, reason, source)
        self.changes: dict[str, deque[tuple]] = {}
        self._suspect: dict[str, float] = {}  # first failed poll of the current failure run
        self._lock = threading.Lock()

    def feed(self, at: float, element: str, data: dict) -> None:
        if not element.startswith("hotspot:"):
            return
        h = element[8:]
        ivs = self.intervals.setdefault(h, [])
        down = bool(ivs) and ivs[-1][1] is None
        kind = data.get("kind")
        if kind in ("state", "reboot"):
            ch = self.changes.get(h)
            if ch is None:
                ch = self.changes[h] = deque(maxlen=CHANGES_KEPT)
            ch.append((at, kind, data.get("old"), data.get("new"), data.get("reason") or "", data.get("source") or ""))
        if kind == "suspect":
            if not down:
                self._suspect[h] = at  # a new failure run starts with its first failed poll
        elif kind == "clear":
            self._suspect.pop(h, None)  # that run was lost answers
        elif kind == "state":
            new = data.get("new")
            if new == "down" and not down:
                start = at
                s = self._suspect.pop(h, None)
                if s is not None and s <= at and data.get("source", "poll") != "trap":
                    start = s
                ivs.append([start, None])
            elif new in ("up", "degraded"):
                self._suspect.pop(h, None)
                if down:
                    ivs[-1][1] = max(at, ivs[-1][0])

    def update(self, store: IncidentStore) -> int:
        """Read the health evidence stored since the last call; returns how many rows."""
        with self._lock:
            n = 0
            while True:
                rows = store.health_after(self.seq)
                for seq, at, el, data in rows:
                    self.feed(at, el, data)
                    self.seq = seq
                n += len(rows)
                if len(rows) < 200_000:
                    return n

    def history(self, hotspot: str) -> list[tuple]:
        """The hotspot's last state changes and reboots as read so far, oldest first:
        ``(at, kind, old, new, reason, source)``."""
        return list(self.changes.get(hotspot, ()))

    def down_between(self, t0: float, t1: float) -> dict[str, list[tuple[float, float]]]:
        out: dict[str, list[tuple[float, float]]] = {}
        for h, ivs in self.intervals.items():
            for s, e in ivs:
                a, b = max(s, t0), min(t1 if e is None else e, t1)
                if b > a:
                    out.setdefault(h, []).append((a, b))
        return out


# --- 2. incident timelines ----------------------------------------------------------------------
@dataclass
class Segment:
    incident: str
    start: float
    end: float | None  # None: still open
    cause: str
    root: str
    ended_by: str = ""  # updated | rerooted | merged | closed | "" (open)
    label: str = ""  # the cause its minutes are accounted to
    opened_at: float = 0.0


@dataclass
class Timeline:
    incident: dict
    segments: list[Segment] = field(default_factory=list)
    merged_into: str | None = None
    merged_at: float | None = None
    members: set[str] = field(default_factory=set)  # hotspot ids it explains


def _segments(inc: dict, rows: list[dict]) -> tuple[list[Segment], float | None]:
    iid = inc["id"]
    segs: list[Segment] = []
    cur: Segment | None = None
    merged_at = None
    cause, root = inc["cause"], inc["root"]

    def close(at: float, how: str) -> None:
        nonlocal cur
        if cur is not None:
            cur.end, cur.ended_by = max(at, cur.start), how
            segs.append(cur)
            cur = None

    for r in rows:
        ch, d, at = r["change"], r.get("detail") or {}, r["at"]
        if ch == "opened":
            cause, root = d.get("cause", cause), d.get("root", root)
            close(at, "updated")
            cur = Segment(iid, at, None, cause, root)
        elif ch in ("updated", "rerooted"):
            new_cause = d.get("cause", cause)
            new_root = d.get("to", d.get("root", root))
            if cur is None:
                cause, root = new_cause, new_root
                continue
            if (new_cause, new_root) != (cause, root):
                close(at, ch)
                cause, root = new_cause, new_root
                cur = Segment(iid, at, None, cause, root)
        elif ch == "reopened":
            root = d.get("root", root)
            if cur is None:
                cur = Segment(iid, at, None, cause, root)
        elif ch == "merged":
            close(at, "merged")
            merged_at = at
        elif ch == "closed":
            close(at, "closed")
    if cur is not None:
        segs.append(cur)
    if not segs:  # no log (hand-made or truncated store): the incident's own times and cause
        segs.append(
            Segment(
                iid,
                inc["opened_at"],
                inc.get("closed_at"),
                inc["cause"],
                inc["root"],
                "closed" if inc.get("closed_at") else "",
            )
        )
    if inc.get("merged_into") and segs[-1].ended_by != "merged":
        segs[-1].ended_by = "merged"
        merged_at = merged_at or segs[-1].end
    for s in segs:
        s.opened_at = inc["opened_at"]
    return segs, merged_at


def timelines(incidents: list[dict], log: list[dict], correction_s: float = CORRECTION_S) -> dict[str, Timeline]:
    """Each incident's segments with the cause its minutes are accounted to (``label``)."""
    by_inc: dict[str, list[dict]] = {}
    for r in log:
        by_inc.setdefault(r["incident_id"], []).append(r)
    out: dict[str, Timeline] = {}
    for inc in incidents:
        segs, merged_at = _segments(inc, by_inc.get(inc["id"], []))
        members = {h[8:] if h.startswith("hotspot:") else h for h in inc.get("affected") or []}
        members |= {s.root[8:] for s in segs if s.root.startswith("hotspot:")}
        out[inc["id"]] = Timeline(inc, segs, inc.get("merged_into"), merged_at, members)

    def label_at(iid: str, at: float, depth: int) -> str | None:
        tl = out.get(iid)
        if tl is None or depth > 20:
            return None
        seg = next((s for s in tl.segments if s.start <= at and (s.end is None or at <= s.end)), None)
        seg = seg or next((s for s in tl.segments if s.start >= at), tl.segments[-1])
        return label(tl, tl.segments.index(seg), depth + 1)

    def label(tl: Timeline, i: int, depth: int = 0) -> str:
        s = tl.segments[i]
        if s.label:
            return s.label
        lab = s.cause
        short = s.end is not None and s.end - s.start <= correction_s
        if short and i + 1 < len(tl.segments) and s.ended_by in ("updated", "rerooted"):
            nxt = tl.segments[i + 1]
            overrun = s.cause == "planned_maintenance" and s.ended_by == "updated" and nxt.root == s.root
            if not overrun:
                lab = label(tl, i + 1, depth)
        elif short and s.ended_by == "merged" and tl.merged_into and s.end is not None:
            lab = label_at(tl.merged_into, s.end, depth) or lab
        s.label = lab
        return lab

    for tl in out.values():
        for i in range(len(tl.segments) - 1, -1, -1):
            label(tl, i)
    return out


# --- 3. attribution -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Piece:
    hotspot: str
    start: float
    end: float
    cause: str
    incident: str | None


def attribute(
    down: dict[str, list[tuple[float, float]]], tls: dict[str, Timeline], now: float | None = None
) -> list[Piece]:
    """Every down interval cut into pieces, each with the cause (and incident) it is accounted to."""
    now = time.time() if now is None else now
    claims: dict[str, list[tuple[float, float, tuple, str, str]]] = {}
    for iid, tl in tls.items():
        for s in tl.segments:
            end = now if s.end is None else s.end
            key = (PRIORITY.get(s.label, 3), s.opened_at, iid)
            for h in tl.members:
                claims.setdefault(h, []).append((s.start, end, key, s.label, iid))
    out: list[Piece] = []
    for h, ivs in down.items():
        mine = claims.get(h, [])
        for a, b in ivs:
            cs = [c for c in mine if c[0] < b and c[1] > a]
            if not cs:
                out.append(Piece(h, a, b, "unknown", None))
                continue
            cuts = sorted({a, b, *(c[0] for c in cs if a < c[0] < b), *(c[1] for c in cs if a < c[1] < b)})
            pieces: list[tuple[float, float, str | None, str | None]] = []
            for x, y in zip(cuts, cuts[1:]):
                act = [c for c in cs if c[0] <= x and c[1] >= y]
                if act:
                    best = min(act, key=lambda c: c[2])
                    pieces.append((x, y, best[3], best[4]))
                else:
                    pieces.append((x, y, None, None))
            # holdoff before the first claim: the first; after one closed: the one before
            first = next(p for p in pieces if p[2] is not None)
            prev = (first[2], first[3])
            for x, y, cause, iid in pieces:
                if cause is None:
                    cause, iid = prev
                else:
                    prev = (cause, iid)
                if (
                    out
                    and out[-1].hotspot == h
                    and out[-1].end == x
                    and (out[-1].cause, out[-1].incident) == (cause, iid)
                ):
                    last = out.pop()
                    out.append(Piece(h, last.start, y, cause or "unknown", iid))
                else:
                    out.append(Piece(h, x, y, cause or "unknown", iid))
    return out


# --- sources ------------------------------------------------------------------------------------
class Accounting:
    """The accounting of one state folder (or incident store), kept current incrementally: the
    health evidence is read once and then only what was added; incidents and their log are re-read
    (small) when asked again."""

    def __init__(self, source: Path | str | IncidentStore, correction_s: float = CORRECTION_S):
        if isinstance(source, IncidentStore):
            self.store, self._own = source, False
        else:  # a state folder (its pantau.sqlite), a SQLite file or a database URL
            self.store, self._own = IncidentStore(source), True
        self.ledger = DowntimeLedger()
        self.correction_s = correction_s
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._own:
            self.store.close()

    def pieces(self, t0: float, t1: float, now: float | None = None) -> list[Piece]:
        """Attributed downtime within ``[t0, t1)``."""
        with self._lock:
            self.ledger.update(self.store)
            tls = timelines(self.store.incidents(), self.store.log(), self.correction_s)
            now = min(time.time() if now is None else now, t1)
            down = self.ledger.down_between(t0, min(t1, now))
            return attribute(down, tls, now)

    def hotspot(self, hotspot: str, t0: float, t1: float, now: float | None = None) -> tuple[list[tuple], list[Piece]]:
        """One hotspot's state changes (all kept, oldest first) and its attributed downtime within
        ``[t0, t1)``: what the NOC shows as the hotspot's history."""
        with self._lock:
            self.ledger.update(self.store)
            now = min(time.time() if now is None else now, t1)
            down = {k: v for k, v in self.ledger.down_between(t0, min(t1, now)).items() if k == hotspot}
            pieces = (
                attribute(down, timelines(self.store.incidents(), self.store.log(), self.correction_s), now)
                if down
                else []
            )
            return self.ledger.history(hotspot), pieces

    def watched(self) -> tuple[float | None, float | None]:
        first, last, _ = self.store.evidence_span()
        return first, last


def minutes_by_cause(pieces: list[Piece], scale: float = 1.0) -> dict[str, float]:
    out = dict.fromkeys(CAUSES, 0.0)
    for p in pieces:
        out[p.cause] = out.get(p.cause, 0.0) + (p.end - p.start) / 60.0 * scale
    return {k: round(v, 2) for k, v in out.items()}


def hotspot_minutes_by_cause(
    source: Path | str | IncidentStore, t0: float, t1: float, time_scale: float = 1.0
) -> dict[str, float]:
    """Hotspot-minutes of downtime per cause between ``t0`` and ``t1`` (UNIX seconds) — the accounting
    the product reports, for the scenario runner: ``source`` is a state folder (with
    its ``pantau.sqlite``), a database URL, or an open :class:`IncidentStore`; minutes are multiplied by
    ``time_scale`` (scenario minutes of a run at ``--time-scale K``). Every cause is present
    (``service`` is always 0: e-gov services are not hotspots)."""
    acc = Accounting(source)
    try:
        return minutes_by_cause(acc.pieces(t0, t1, now=t1), time_scale)
    finally:
        acc.close()


# --- calendar (WIB) -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    label: str  # 2026-11, 2026-11-05, 2026-11-05T14
    step: str  # month | day | hour
    start: float
    end: float


def parse_period(text: str) -> Period:
    """``YYYY-MM`` (a month), ``YYYY-MM-DD`` (a day) or ``YYYY-MM-DDTHH`` (an hour) in WIB."""
    t = text.strip()
    try:
        if len(t) == 7:
            d = datetime.strptime(t, "%Y-%m").replace(tzinfo=WIB)
            days = calendar.monthrange(d.year, d.month)[1]
            return Period(t, "month", d.timestamp(), (d + timedelta(days=days)).timestamp())
        if len(t) == 10:
            d = datetime.strptime(t, "%Y-%m-%d").replace(tzinfo=WIB)
            return Period(t, "day", d.timestamp(), (d + timedelta(days=1)).timestamp())
        if len(t) == 13:
            d = datetime.strptime(t, "%Y-%m-%dT%H").replace(tzinfo=WIB)
            return Period(t, "hour", d.timestamp(), (d + timedelta(hours=1)).timestamp())
    except ValueError:
        pass
    raise ValueError(f"period {text!r}: use YYYY-MM (month), YYYY-MM-DD (day) or YYYY-MM-DDTHH (hour), WIB")


def buckets(p: Period, step: str) -> list[Period]:
    """The hours, days or the month of a period, in WIB (Jakarta has no DST: 24 h days)."""
    if step not in STEPS:
        raise ValueError(f"step {step!r}: one of {', '.join(STEPS)}")
    if STEPS.index(step) > STEPS.index(p.step):
        raise ValueError(f"a {p.step} cannot be split into {step}s")
    if step == p.step:
        return [p]
    out, t = [], p.start
    fmt, dt = ("%Y-%m-%d", timedelta(days=1)) if step == "day" else ("%Y-%m-%dT%H", timedelta(hours=1))
    while t < p.end:
        d = datetime.fromtimestamp(t, WIB)
        e = min((d + dt).timestamp(), p.end)
        out.append(Period(d.strftime(fmt), step, t, e))
        t = e
    return out


# --- roll-ups -----------------------------------------------------------------------------------
def group_of(inv, h, by: str) -> tuple[str, str]:
    """(key, display name) of a hotspot's group."""
    if by == "hotspot":
        return h.id, h.name
    if by == "kelurahan":
        return f"{h.kecamatan}/{h.kelurahan}", h.kelurahan
    if by == "kecamatan":
        k = inv.kecamatan.get(h.kecamatan)
        return h.kecamatan, k.name if k else h.kecamatan
    if by == "vendor":
        return h.vendor, h.vendor
    if by == "switch":
        return h.switch, h.switch
    if by == "transformer":
        return h.transformer, h.transformer
    if by == "feeder":
        t = inv.transformers.get(h.transformer)
        return (t.feeder, t.feeder) if t else ("?", "?")
    if by == "city":
        return inv.city, inv.display_name
    raise ValueError(f"by {by!r}: one of {', '.join(GROUPS)}")


def rollup(
    inv,
    pieces: list[Piece],
    by: str,
    period: Period,
    step: str | None = None,
    watched: tuple[float | None, float | None] = (None, None),
    max_rows: int = 25_000,
) -> list[dict]:
    """One row per (group, bucket): hotspots, watched hotspot-minutes, downtime minutes per cause,
    availability with and without planned maintenance (percent; None when nothing was watched)."""
    bks = buckets(period, step or period.step)
    n_groups = len({group_of(inv, h, by)[0] for h in inv.hotspots.values()})
    if n_groups * len(bks) > max_rows:
        raise ValueError(
            f"{n_groups} {by} groups x {len(bks)} {step or period.step}s = {n_groups * len(bks)} rows, more than "
            f"{max_rows}: choose a shorter period, a coarser step or a coarser group"
        )
    w0 = max(period.start, watched[0] if watched[0] is not None else period.start)
    w1 = min(period.end, watched[1] if watched[1] is not None else period.end)
    groups: dict[str, dict] = {}
    gof: dict[str, str] = {}
    for h in inv.hotspots.values():
        key, name = group_of(inv, h, by)
        gof[h.id] = key
        g = groups.setdefault(key, {"name": name, "hotspots": 0})
        g["hotspots"] += 1
    down: dict[tuple[str, int], dict[str, float]] = {}
    starts = [b.start for b in bks]
    for p in pieces:
        key = gof.get(p.hotspot)
        if key is None:
            continue
        for i in range(max(0, bisect_right(starts, p.start) - 1), len(bks)):
            b = bks[i]
            if b.start >= p.end:
                break
            a, e = max(p.start, b.start, w0), min(p.end, b.end, w1)
            if e > a:
                d = down.setdefault((key, i), dict.fromkeys(CAUSES, 0.0))
                d[p.cause] += (e - a) / 60.0
    rows = []
    for key in sorted(groups):
        g = groups[key]
        for i, b in enumerate(bks):
            span = max(0.0, min(b.end, w1) - max(b.start, w0)) / 60.0
            total = span * g["hotspots"]
            d = down.get((key, i), dict.fromkeys(CAUSES, 0.0))
            dm = sum(d.values())
            planned = d["planned_maintenance"]
            rows.append(
                {
                    "group": key,
                    "name": g["name"],
                    "period": b.label,
                    "start": b.start,
                    "end": b.end,
                    "hotspots": g["hotspots"],
                    "hotspot_minutes": round(total, 2),
                    "downtime_minutes": {c: round(v, 2) for c, v in d.items()},
                    "down_minutes": round(dm, 2),
                    "availability_pct": round(100.0 * (1 - dm / total), 3) if total > 0 else None,
                    "availability_excl_planned_pct": (
                        round(100.0 * (1 - (dm - planned) / (total - planned)), 3) if total - planned > 0 else None
                    ),
                }
            )
    return rows


def report_data(acc: Accounting, inv, period: Period, now: float | None = None) -> dict:
    """Everything the month report shows: the city, its days, causes, worst elements."""
    now = time.time() if now is None else now
    first, _ = acc.watched()
    t1 = min(period.end, now)
    pieces = acc.pieces(period.start, t1, now)
    watched = (first, t1)
    city = rollup(inv, pieces, "city", period, None, watched)[0]
    step = "day" if period.step == "month" else "hour" if period.step == "day" else period.step
    days = rollup(inv, pieces, "city", period, step, watched)
    worst = {}
    for by in ("kelurahan", "switch", "feeder", "hotspot"):
        rows = [r for r in rollup(inv, pieces, by, period, None, watched) if r["down_minutes"] > 0]
        rows.sort(key=lambda r: (-r["down_minutes"], r["group"]))
        worst[by] = rows[:10]
    return {"period": period, "city": city, "steps": days, "worst": worst, "watched": watched, "now": now}
