"""The outage explainer: evidence in, incidents out — one incident per root cause.

Input is a stream of evidence (each a ``(at, kind, element, data)`` tuple, stored in order):
``health`` (hotspot/switch state changes, first failed polls = ``suspect``, reboots, traps),
``grid`` (energized / de-energized / unknown transitions), ``notice`` (PLN maintenance windows)
and ``tick`` (the clock). The explainer keeps its own mirror of the city from that stream only,
so replaying the stored evidence reproduces every decision (:func:`replay`).

On every tick it walks both trees with the inventory's topology:

1. **Power, from telemetry**: a de-energized substation, feeder (its substation not) or transformer
   (its feeder not) is a root. A maintenance notice covering that element (or an ancestor) whose
   window contains the moment power was lost makes it ``planned_maintenance`` — only inside the
   window: still dark after it ends, the cause becomes ``power_grid``.
2. **Network**: the topmost failing switch whose parent chain answers, when it is down (3 failed
   polls) or failed once with at least half of its hotspots failing, is a ``network_uplink`` root.
3. **Hotspots as power sensors**: where telemetry is missing or stale, a transformer whose every
   non-UPS hotspot is failing — at least two, on switches that still answer — is an inferred
   power cut (two or more such transformers on one feeder: the feeder). Hotspots on UPS that stay
   up do not veto; when their batteries run out they join the same incident.
4. **Device / unknown**: a hotspot down (for a poll interval and two telemetry intervals: symptoms
   of a bigger cause are explained by then) with its switch answering and its power known to be on
   (telemetry energized, or a non-UPS sibling on the same transformer up) is a ``device`` root;
   with nothing to decide between power and device it is ``unknown`` (and says why).

Incidents follow the findings: a finding for the same root updates its incident; a finding whose
root is an ancestor or descendant (in the same tree) of an open incident's root, or which explains
a device incident's hotspot, re-roots that incident (merged, not a second one); an incident with no
finding left closes (its hotspots get a grace period to boot and be polled back up); a root that
comes back within ``reopen_s`` reopens its incident. Symptom hotspots never raise incidents.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from outages.texts import explain

log = logging.getLogger("pantau.explainer")

ENERGIZED, DEENERGIZED, UNKNOWN_G = "energized", "de-energized", "unknown"
POWER_KINDS = ("substation", "feeder", "transformer")


@dataclass
class Finding:
    cause: str
    root: str
    affected: set[str]
    evidence: list[str]
    confidence: float
    inferred: bool = False
    since: float = 0.0
    on_battery: int = 0
    notice: dict | None = None
    detail: str = ""


@dataclass
class Incident:
    id: str
    city: str
    cause: str
    root: str
    status: str
    confidence: float
    inferred: bool
    opened_at: float
    updated_at: float
    detected_at: float
    closed_at: float | None = None
    affected: list[str] = field(default_factory=list)
    areas: list[str] = field(default_factory=list)
    explanation_id: str = ""
    explanation_en: str = ""
    evidence: list[str] = field(default_factory=list)
    merged_into: str | None = None
    since: float = 0.0

    def row(self) -> dict:
        d = dict(self.__dict__)
        d.pop("since", None)
        return d


@dataclass
class Settings:
    poll_interval_s: float = 30.0  # hotspot poll interval (holdoffs and graces are multiples of it)
    reopen_s: float = 600.0  # a root failing again within this reopens its incident
    grace_polls: float = 4.0  # after an incident closes, its hotspots may take this long to be up
    boot_s: float = 60.0  # and this much longer to boot
    telemetry_interval_s: float = 10.0  # grid readings per element

    @property
    def device_holdoff_s(self) -> float:
        """A hotspot down this long with no bigger cause in sight is a device (or unknown) incident:
        long enough for its transformer's and feeder's next readings and its switch's next polls."""
        return max(self.poll_interval_s, 2 * self.telemetry_interval_s)


class Explainer:
    def __init__(self, inv, settings: Settings | None = None, on_change: Callable[[list, list], None] | None = None):
        self.inv = inv
        self.s = settings or Settings()
        self.hs: dict[str, dict] = {}  # hotspot/switch id -> {"state", "failing", "since", "reboot_at"}
        self.grid: dict[str, tuple[str, float]] = {}  # element -> (state, since)
        self.notices: dict[str, dict] = {}  # element -> notice
        self.incidents: dict[str, Incident] = {}
        self.recovering: dict[str, float] = {}  # hotspot -> until
        self.now = 0.0
        self._log: list[tuple] = []
        self._changed: dict[str, Incident] = {}
        self.on_change = on_change
        # topology, computed once
        self.parent_power: dict[str, str] = {}
        for h in inv.hotspots.values():
            self.parent_power[f"hotspot:{h.id}"] = f"transformer:{h.transformer}"
        for t in inv.transformers.values():
            self.parent_power[f"transformer:{t.id}"] = f"feeder:{t.feeder}"
        for f in inv.feeders.values():
            self.parent_power[f"feeder:{f.id}"] = f"substation:{f.substation}"
        self.parent_net: dict[str, str] = {}
        for h in inv.hotspots.values():
            self.parent_net[f"hotspot:{h.id}"] = f"switch:{h.switch}"
        for s in inv.switches.values():
            if s.parent:
                self.parent_net[f"switch:{s.id}"] = f"switch:{s.parent}"
        self.below: dict[str, list[str]] = {}
        for kind in ("substation", "feeder", "transformer", "switch"):
            for ident in inv.of_kind(kind):
                el = f"{kind}:{ident}"
                self.below[el] = [f"hotspot:{h}" for h in inv.hotspots_below(el)]

    # --- evidence -------------------------------------------------------------------------------
    def feed(self, at: float, kind: str, element: str, data: dict) -> None:
        self.now = max(self.now, at)
        if kind == "health":
            st = self.hs.setdefault(element, {"state": "unknown", "failing": False, "since": at, "reboot_at": None})
            k = data.get("kind")
            if k == "state":
                st["state"] = data["new"]
                st["since"] = at
                st["reason"] = data.get("reason", "")
                if data["new"] == "down" and not st["failing"]:
                    st["fail_at"] = at
                st["failing"] = data["new"] == "down"
            elif k == "suspect":
                if not st["failing"]:
                    st["fail_at"] = at
                st["failing"] = True
            elif k == "reboot":
                st["reboot_at"] = at
        elif kind == "grid":
            self.grid[element] = (data["new"], at)
        elif kind == "notice":
            if data:
                self.notices[element] = data
            else:
                self.notices.pop(element, None)

    def failing(self, el: str) -> bool:
        st = self.hs.get(el)
        return bool(st and st["failing"])

    def down(self, el: str) -> bool:
        st = self.hs.get(el)
        return bool(st and st["state"] == "down")

    def gstate(self, el: str) -> str:
        return self.grid.get(el, (UNKNOWN_G, 0.0))[0]

    # --- the decision ---------------------------------------------------------------------------
    def findings(self, now: float) -> dict[str, Finding]:
        """Decide the root causes at ``now``: one finding per root element, steps 0-4 in order."""
        out: dict[str, Finding] = {}
        explained: set[str] = set()

        # 0. e-government services failing their probes: a cause of their own, nothing below them
        self._take(out, explained, self._service_findings())
        # 1. power from telemetry
        self._take(out, explained, self._telemetry_power_findings(now))
        # 2. network
        self._take(out, explained, self._network_findings(now))
        # 3. hotspots as power sensors
        pending = {
            h
            for h, st in self.hs.items()
            if h.startswith("hotspot:") and st["failing"] and h not in explained and self.recovering.get(h, 0) <= now
        }
        self._take(out, explained, self._inferred_power_findings(pending, now))
        # 4. device / unknown
        self._take(out, explained, self._device_findings(pending - explained, now))
        return out

    @staticmethod
    def _take(out: dict[str, Finding], explained: set[str], found: dict[str, Finding]) -> None:
        """Add a step's findings to ``out`` (in order); their hotspots count as explained from then on."""
        for root, f in found.items():
            out[root] = f
            explained |= f.affected

    def _service_findings(self) -> dict[str, Finding]:
        """Decide which e-government services are down: each a ``service`` root with nothing below it."""
        out: dict[str, Finding] = {}
        for el in sorted(self.hs):
            if el.startswith("egov:") and self.hs[el]["state"] == "down" and el[5:] in self.inv.egov:
                st = self.hs[el]
                out[el] = Finding(
                    "service",
                    el,
                    set(),
                    [f"{el} failing its checks since {st['since']:.0f}: {st.get('reason', '')}".rstrip(": ")],
                    0.99,
                    since=st["since"],
                    detail=st.get("reason", ""),
                )
        return out

    def _telemetry_power_findings(self, now: float) -> dict[str, Finding]:
        """Decide which de-energized substations, feeders and transformers are power roots by telemetry."""
        out: dict[str, Finding] = {}
        for kind in POWER_KINDS:
            for ident in self.inv.of_kind(kind):
                el = f"{kind}:{ident}"
                f = self._telemetry_finding(el, now)
                if f is not None:
                    out[el] = f
        return out

    def _telemetry_finding(self, el: str, now: float) -> Finding | None:
        """Decide whether a de-energized element is a root: its power parent neither dark nor back since."""
        state, since = self.grid.get(el, (UNKNOWN_G, 0.0))
        if state != DEENERGIZED:
            return None
        parent = self.parent_power.get(el)
        if parent and self.gstate(parent) == DEENERGIZED:
            return None  # the parent explains it
        if parent and self.gstate(parent) == ENERGIZED and self.grid[parent][1] > since:
            return None  # its parent came back after it went dark: wait for its own next reading
        below = self.below[el]
        dark = {h for h in below if self.failing(h)}
        on_batt = sum(1 for h in below if not self.failing(h) and self.inv.hotspots[h[8:]].ups_minutes > 0)
        ev = [f"{el} de-energized since {since:.0f} (grid telemetry)"]
        if dark:
            ev.append(f"{len(dark)} of {len(below)} hotspots below it not answering")
        f = Finding("power_grid", el, dark, ev, 0.95 if dark or not below else 0.9, since=since, on_battery=on_batt)
        self._apply_notice(f, el, since, now)
        return f

    def _apply_notice(self, f: Finding, el: str, since: float, now: float) -> None:
        """Decide whether a PLN notice makes a power finding ``planned_maintenance`` (only inside its window)."""
        n = self._notice_for(el, since)
        if n:
            # the restore reading may take a telemetry interval or two to arrive after the window
            if now <= n["end"] + 2 * self.s.telemetry_interval_s:
                f.cause = "planned_maintenance"
                f.notice = n
                f.evidence.append(f"PLN notice {n['id']} covers {n['element']} {n['start']:.0f}..{n['end']:.0f}")
            else:
                f.evidence.append(f"PLN notice {n['id']} window ended at {n['end']:.0f}; still de-energized")

    def _network_findings(self, now: float) -> dict[str, Finding]:
        """Decide which failing switches are ``network_uplink`` roots: topmost failing, down or half dark."""
        out: dict[str, Finding] = {}
        for sid in self.inv.switches:
            el = f"switch:{sid}"
            if not self.failing(el) or not self._parents_answer(el) or self._uplink_recovering(el, now):
                continue
            st = self.hs[el]
            below = self.below[el]
            dark = {h for h in below if self.failing(h)}
            if not (st["state"] == "down" or len(dark) >= max(1, len(below) / 2)):
                continue
            ev = [
                f"{el} not answering" + (" (down)" if st["state"] == "down" else " (failed polls)"),
                f"{len(dark)} of {len(below)} hotspots behind it not answering; its parent answers",
            ]
            out[el] = Finding("network_uplink", el, dark, ev, 0.9 if st["state"] == "down" else 0.8, since=st["since"])
        return out

    def _parents_answer(self, el: str) -> bool:
        """Decide whether every switch above ``el`` answers (none of its network ancestors is failing)."""
        p = self.parent_net.get(el)
        while p:
            if self.failing(p):
                return False
            p = self.parent_net.get(p)
        return True

    def _uplink_recovering(self, el: str, now: float) -> bool:
        """Decide whether a switch above failing ``el`` came back after it failed and is still being polled up."""
        st = self.hs[el]
        cur = self.parent_net.get(el)
        while cur:
            p_st = self.hs.get(cur)
            if (
                p_st
                and p_st["since"] > st.get("fail_at", st["since"])
                and now - p_st["since"] < self.s.grace_polls * self.s.poll_interval_s
            ):
                return True
            cur = self.parent_net.get(cur)
        return False

    def _inferred_power_findings(self, pending: set[str], now: float) -> dict[str, Finding]:
        """Decide power cuts inferred from unexplained failing hotspots: feeders first, then transformers."""
        inferred_t: dict[str, Finding] = {}
        by_t: dict[str, list[str]] = {}
        for h in pending:
            by_t.setdefault(self.parent_power[h], []).append(h)
        for t, dark in by_t.items():
            f = self._inferred_transformer(t, dark, now)
            if f is not None:
                inferred_t[t] = f
        out, absorbed = self._inferred_feeders(inferred_t)
        for t, f in inferred_t.items():
            if t not in absorbed:
                out[t] = f
        return out

    def _inferred_transformer(self, t: str, dark: list[str], now: float) -> Finding | None:
        """Decide whether a transformer without telemetry lost power: its non-UPS hotspots all dark, switches up."""
        if self.gstate(t) != UNKNOWN_G:
            return None  # its own telemetry decides (step 1); an energized feeder says nothing of it
        f_state, f_since = self.grid.get(self.parent_power[t], (UNKNOWN_G, 0.0))
        if (
            f_state == ENERGIZED
            and f_since > min(self.hs[h].get("fail_at", 0.0) for h in dark)
            and now - f_since < self.s.grace_polls * self.s.poll_interval_s + self.s.boot_s
        ):
            return None  # the feeder came back after they went dark: they are booting
        hs = self.below[t]
        non_ups = [h for h in hs if self.inv.hotspots[h[8:]].ups_minutes == 0]
        if len(dark) < 2 or not all(self.failing(h) for h in non_ups):
            return None
        switches = {self.parent_net[h] for h in dark}
        if any(self.failing(s) for s in switches):
            return None
        if len(switches) < 2 and len(dark) < 3:
            return None
        ev = [
            f"{len(dark)} of {len(hs)} hotspots on {t} failed together across {len(switches)} switch(es) "
            f"that still answer",
            f"{t} telemetry: {self.gstate(t)}",
        ]
        since = min(self.hs[h].get("fail_at", self.hs[h]["since"]) for h in dark)
        return Finding("power_grid", t, set(dark), ev, 0.75 if len(switches) >= 2 else 0.65, True, since)

    def _inferred_feeders(self, inferred_t: dict[str, Finding]) -> tuple[dict[str, Finding], set[str]]:
        """Decide which feeders lost power (two inferred transformers, or their only one with hotspots)."""
        by_f: dict[str, list[str]] = {}
        for t in inferred_t:
            by_f.setdefault(self.parent_power[t], []).append(t)
        out: dict[str, Finding] = {}
        absorbed: set[str] = set()
        for fdr, ts in by_f.items():
            with_hotspots = [
                t
                for t in (f"transformer:{x}" for x in self.inv.transformers_of_feeder.get(fdr[7:], []))
                if self.below[t]
            ]
            if len(ts) >= 2 or (len(with_hotspots) == 1 and ts):
                dark = set().union(*(inferred_t[t].affected for t in ts))
                ev = [
                    f"{len(ts)} transformers of {fdr} lost their hotspots together ({', '.join(sorted(ts))})",
                    f"{fdr} telemetry: {self.gstate(fdr)}",
                ]
                out[fdr] = Finding(
                    "power_grid",
                    fdr,
                    dark,
                    ev,
                    0.8 if len(ts) >= 2 else 0.7,
                    True,
                    min(inferred_t[t].since for t in ts),
                )
                absorbed.update(ts)
        return out, absorbed

    def _device_findings(self, candidates: set[str], now: float) -> dict[str, Finding]:
        """Decide which still-unexplained hotspots, down past the holdoff on an answering switch, are roots."""
        out: dict[str, Finding] = {}
        for h in sorted(candidates):
            if not self.down(h) or now - self.hs[h]["since"] < self.s.device_holdoff_s:
                continue
            if self.failing(self.parent_net[h]):
                continue  # the switch may yet explain it
            if self._booting_after_restore(h, now):
                continue  # power or uplink came back after it went dark: give it time to boot and be polled
            out[h] = self._device_finding(h, now)
        return out

    def _booting_after_restore(self, h: str, now: float) -> bool:
        """Decide whether power or the uplink of ``h`` came back after it went dark too recently to judge it."""
        t = self.parent_power[h]
        st = self.hs[h]
        back = [
            since
            for el in (t, self.parent_power[t])
            for state, since in [self.grid.get(el, (UNKNOWN_G, 0.0))]
            if state == ENERGIZED and since > st["since"]
        ]
        cur: str | None = self.parent_net[h]
        while cur:  # its uplink came back after it went dark
            s_st = self.hs.get(cur)
            if s_st and s_st["state"] in ("up", "degraded") and s_st["since"] > st["since"]:
                back.append(s_st["since"])
            cur = self.parent_net.get(cur)
        return bool(back) and now - max(back) < self.s.grace_polls * self.s.poll_interval_s + self.s.boot_s

    def _device_finding(self, h: str, now: float) -> Finding:
        """Decide ``device`` (its power known to be on) or ``unknown`` (nothing to compare) for a down hotspot."""
        sw = self.parent_net[h]
        t = self.parent_power[h]
        st = self.hs[h]
        siblings_up = [
            x
            for x in self.below[t]
            if x != h and not self.failing(x) and self.inv.hotspots[x[8:]].ups_minutes == 0 and x in self.hs
        ]
        power_on = self.gstate(t) == ENERGIZED or siblings_up
        if power_on:
            why = []
            if self.gstate(t) == ENERGIZED:
                why.append(f"{t} energized")
            if siblings_up:
                why.append(f"{len(siblings_up)} hotspot(s) on the same transformer answer")
            detail = "restarting" if st.get("reboot_at") and now - st["reboot_at"] < 600 else ""
            return Finding(
                "device",
                h,
                {h},
                [f"{h} down since {st['since']:.0f}; {sw} answers; " + ", ".join(why)],
                0.85,
                since=st["since"],
                detail=detail,
            )
        return Finding(
            "unknown",
            h,
            {h},
            [f"{h} down; {sw} answers; power of {t} unknown (no telemetry) and no other hotspot on it to compare"],
            0.3,
            since=st["since"],
            detail="tidak ada data listrik untuk gardu ini / no power data for its transformer",
        )

    def _notice_for(self, el: str, since: float) -> dict | None:
        cur = el
        while cur:
            n = self.notices.get(cur)
            if n and n["start"] - 2 * self.s.telemetry_interval_s <= since <= n["end"]:
                return n
            cur = self.parent_power.get(cur)
        return None

    # --- incidents ------------------------------------------------------------------------------
    def _related(self, a: str, b: str) -> bool:
        """True when a and b are the same element or one is an ancestor of the other in a tree."""
        if a == b:
            return True
        for parents in (self.parent_power, self.parent_net):
            for x, y in ((a, b), (b, a)):
                cur = parents.get(x)
                while cur:
                    if cur == y:
                        return True
                    cur = parents.get(cur)
        return False

    def tick(self, now: float) -> bool:
        """Re-decide; returns True if any incident changed (the caller stores the tick then)."""
        self.now = max(self.now, now)
        now = self.now
        found = self.findings(now)
        open_inc = {i.id: i for i in self.incidents.values() if i.status == "open"}
        matched: set[str] = set()
        for root, f in sorted(found.items(), key=lambda kv: (-len(kv[1].affected), kv[0])):
            inc = next((i for i in open_inc.values() if i.root == root and i.id not in matched), None)
            if inc is None:
                cands = [
                    i
                    for i in open_inc.values()
                    if i.id not in matched
                    and (self._related(i.root, root) or (i.cause in ("device", "unknown") and i.root in f.affected))
                ]
                cands.sort(key=lambda i: i.opened_at)
                if cands:
                    inc = cands[0]
                    self._record(inc, "rerooted", {"from": inc.root, "to": root, "cause": f.cause})
                    for other in cands[1:]:
                        if other.root in found and other.root != root:
                            continue  # still its own root
                        other.status, other.closed_at, other.merged_into = "closed", now, inc.id
                        self._record(other, "merged", {"into": inc.id})
                        matched.add(other.id)
            if inc is None:
                inc = next(
                    (
                        i
                        for i in sorted(self.incidents.values(), key=lambda i: -(i.closed_at or 0))
                        if i.status == "closed"
                        and i.root == root
                        and i.merged_into is None
                        and i.closed_at is not None
                        and now - i.closed_at <= self.s.reopen_s
                    ),
                    None,
                )
                if inc:
                    inc.status, inc.closed_at = "open", None
                    self._record(inc, "reopened", {"root": root})
            if inc is None:
                iid = (
                    "INC-"
                    + time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
                    + "-"
                    + hashlib.sha1(root.encode()).hexdigest()[:4]
                )
                inc = Incident(
                    iid,
                    self.inv.city,
                    f.cause,
                    root,
                    "open",
                    f.confidence,
                    f.inferred,
                    opened_at=now,
                    updated_at=now,
                    detected_at=now,
                    since=f.since,
                )
                self.incidents[iid] = inc
                self._record(inc, "opened", {"cause": f.cause, "root": root, "evidence": f.evidence})
                log.warning("incident %s opened: %s at %s (%s)", iid, f.cause, root, "; ".join(f.evidence))
            matched.add(inc.id)
            self._update(inc, f, now)
        for inc in open_inc.values():
            if inc.id not in matched and inc.status == "open":
                inc.status, inc.closed_at, inc.updated_at = "closed", now, now
                until = now + self.s.grace_polls * self.s.poll_interval_s + self.s.boot_s
                for h in inc.affected:
                    if self.failing(h):  # still dark: booting after the cause cleared
                        self.recovering[h] = until
                self._record(inc, "closed", {"evidence": "root cause cleared"})
                log.warning("incident %s closed (%s at %s)", inc.id, inc.cause, inc.root)
        changed = bool(self._changed)
        if changed and self.on_change:
            self.on_change(list(self._changed.values()), list(self._log))
        if changed:
            self._changed.clear()
            self._log.clear()
        return changed

    def _update(self, inc: Incident, f: Finding, now: float) -> None:
        before = (inc.cause, inc.root, inc.confidence, tuple(inc.affected), tuple(inc.evidence))
        inc.cause, inc.root, inc.confidence, inc.inferred = f.cause, f.root, f.confidence, f.inferred
        inc.since = min(inc.since or f.since, f.since) if f.since else inc.since
        affected = sorted(set(inc.affected) | f.affected) if inc.root == f.root else sorted(f.affected)
        inc.affected = affected
        inc.evidence = list(f.evidence)
        areas = sorted({f"{self.inv.hotspots[h[8:]].kecamatan}/{self.inv.hotspots[h[8:]].kelurahan}" for h in affected})
        if not areas and f.root.partition(":")[0] in POWER_KINDS:
            ts = (
                [f.root[12:]]
                if f.root.startswith("transformer:")
                else [t for t in self.inv.transformers if self._related(f"transformer:{t}", f.root)]
            )
            areas = sorted({f"{self.inv.transformers[t].kecamatan}/{self.inv.transformers[t].kelurahan}" for t in ts})
        inc.areas = areas
        kind, _, ident = f.root.partition(":")
        name = ident
        if kind == "substation":
            name = self.inv.substations[ident].name
        elif kind == "hotspot":
            name = self.inv.hotspots[ident].name
        elif kind == "egov":
            name = self.inv.egov[ident].name
        text = explain(
            f.cause,
            f.root,
            name,
            inc.since or now,
            len(affected),
            [a.split("/")[1] for a in areas],
            f.inferred,
            (f.notice or {}).get("reason", ""),
            (f.notice or {}).get("end"),
            f.on_battery,
            f.detail,
        )
        inc.explanation_id, inc.explanation_en = text["id"], text["en"]
        after = (inc.cause, inc.root, inc.confidence, tuple(inc.affected), tuple(inc.evidence))
        if after != before:
            inc.updated_at = now
            self._changed[inc.id] = inc
            if before[0] != after[0] or before[1] != after[1]:
                self._record(inc, "updated", {"cause": inc.cause, "root": inc.root})

    def _record(self, inc: Incident, change: str, detail: dict) -> None:
        self._changed[inc.id] = inc
        self._log.append((inc.id, self.now, change, detail))

    def open_incidents(self) -> list[Incident]:
        return [i for i in self.incidents.values() if i.status == "open"]


def replay(inv, evidence: list[tuple[float, str, str, dict]], settings: Settings | None = None) -> Explainer:
    """Feed stored evidence to a fresh explainer: the same incidents come out."""
    ex = Explainer(inv, settings)
    for at, kind, element, data in evidence:
        if kind == "tick":
            ex.tick(at)
        else:
            ex.feed(at, kind, element, data)
    return ex
