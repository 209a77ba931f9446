"""The outage explainer: evidence in, incidents out — one incident per root cause.

Input is a stream of evidence (each a ``(at, kind, element, data)`` tuple, stored in order):
``health`` (hotspot/switch state changes, first failed polls = ``suspect``, reboots, traps),
``grid`` (energized / de-energized / unknown transitions), ``notice`` (PLN maintenance windows)
and ``tick`` (the clock). The explainer keeps its own mirror of the city from that stream only,
so replaying the stored evidence reproduces every decision (:func:`replay`).

It weighs evidence instead of asking for unanimity (docs/outages.md, "Weighing evidence"): each
candidate root is scored by how well it explains what was seen, with explicit tolerances
(:class:`Settings`) for lost answers, late readings and wrong inventory rows. On every tick:

1. **Network**: the topmost failing switch that no failing parent explains is a
   ``network_uplink`` root when it is down, or failed with at least half of its hotspots failing.
   While its parent has not been polled since (one poll interval) it stays provisional.
2. **Power, along the tree** (transformer → feeder → substation): an element is dark by its own
   telemetry (de-energized), or — telemetry unknown — by its hotspots failing together (a
   likelihood ratio that tolerates a wrong row or two and random lost answers). A parent whose
   own reading is not in yet (not newer than its children's dark readings) holds its dark
   children *provisional* for ``hold_intervals`` telemetry (or poll) intervals and then takes the
   roll-up when it explains them better than independent failures would (the smallest set of
   roots); a parent whose fresh reading says energized stops the roll-up there. A maintenance
   notice covering the root (or an ancestor) in its window makes it ``planned_maintenance``.
3. **Joiners**: a hotspot that went down in the same moment as a finding's hotspots, near its
   root (same feeder or neighbouring transformer; same aggregation switch), whose own listed
   elements are fine, joins that finding — its inventory row is probably wrong — with lower
   confidence, instead of raising a ``device`` incident.
4. **Device / unknown**: a hotspot down (for a poll interval and two telemetry intervals: symptoms
   of a bigger cause are explained by then) with its switch answering and its power known to be on
   (telemetry energized, a non-UPS sibling up, or it went down before its power did) is a
   ``device`` root; with nothing to decide between power and device it is ``unknown``.

Hotspots that were down well before a root's dark moment (already broken) are not its symptoms.
Incidents follow the findings: a finding for the same root updates its incident; a finding whose
root is an ancestor or descendant (in the same tree) of an open incident's root, or which explains
a device incident's hotspot, re-roots that incident (merged, not a second one); an incident with no
finding left closes (its hotspots get a grace period to boot and be polled back up); a root that
comes back within ``reopen_s`` reopens its incident. Symptom hotspots never raise incidents.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable

from outages.suspects import SuspectBook
from outages.texts import explain

log = logging.getLogger("pantau.explainer")

ENERGIZED, DEENERGIZED, UNKNOWN_G = "energized", "de-energized", "unknown"
POWER_KINDS = ("substation", "feeder", "transformer")
NEIGHBOURS = 4  # a transformer's geographically nearest others count as its neighbours
# A lossy path (lost answers cleared by the next poll, on a switch or behind it): at least
# LOSSY_CLEARS of them within LOSSY_WINDOW_POLLS poll intervals make a hotspot behind it wait
# LOSSY_HOLDOFF_POLLS intervals down before it is a device (a flaky path counts hotspots down briefly).
LOSSY_CLEARS, LOSSY_WINDOW_POLLS, LOSSY_HOLDOFF_POLLS = 3, 10, 6


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
    joined: set[str] = field(default_factory=set)  # dark with it, although listed elsewhere
    stayed_up: set[str] = field(default_factory=set)  # listed under it, answering although it is dark
    uncertain: list[tuple[str, str]] = field(default_factory=list)  # (id, en): what the decision was unsure of


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
    # --- tolerances of the score (docs/outages.md, "Weighing evidence") ---------------------------
    hold_intervals: float = 1.5  # a dark child waits this many intervals for its parent's reading
    delivery_s: float = 1.0  # readings of one moment may reach the explainer this far apart (ingest lag; not scaled)
    # one failed poll's timeouts, every try (SNMP timeout × tries; real seconds, not scaled)
    poll_timeout_s: float = 2.0
    fail_polls: int = 3  # failed polls that take an element down (hotspots.health)
    p_root: float = 1e-4  # any one element failing on its own within a coincidence window
    p_lost: float = 0.03  # an answering hotspot's poll failing at random within that window
    p_wrong_row: float = 0.05  # an inventory row naming the wrong transformer or switch
    p_parent_late: float = 0.02  # a dark parent's own reading not in by the end of the hold
    p_child_lit: float = 0.002  # a child of a dark parent still reading energized after the hold

    @property
    def device_holdoff_s(self) -> float:
        """A hotspot down this long with no bigger cause in sight is a device (or unknown) incident:
        long enough for its transformer's and feeder's next readings and its switch's next polls."""
        return max(self.poll_interval_s, 2 * self.telemetry_interval_s)

    @property
    def telemetry_hold_s(self) -> float:
        """How long dark children wait for their parent's own reading (every element reports once
        per telemetry interval; the rest is the tolerance for jitter and delivery)."""
        return self.hold_intervals * self.telemetry_interval_s

    @property
    def restore_hold_s(self) -> float:
        """How long the dark children of a parent that came back wait for their own next reading
        before each counts as a failure of its own: a full interval after the restore, the usual
        hold, and the delivery lag (a busy ingest node appends the parent's row before theirs)."""
        return self.telemetry_interval_s + self.telemetry_hold_s + self.delivery_s

    @property
    def parent_hold_s(self) -> float:
        """How long a failing switch waits for its parent switch's next poll before it is taken for
        the root: the parent's poll comes within an interval, fails only after its timeouts (real
        seconds) and reaches the explainer after the delivery lag."""
        return self.poll_interval_s + self.poll_timeout_s + self.delivery_s

    @property
    def poll_hold_s(self) -> float:
        """How long hotspot-sensed darkness waits for the rest of the hotspots to be polled."""
        return self.hold_intervals * self.poll_interval_s

    @property
    def suspect_ttl_s(self) -> float:
        """A first failed poll not followed by ``down`` within this long was a lost answer (the good
        poll after it changes no state, so no evidence says so)."""
        return (self.fail_polls + 1) * self.poll_interval_s

    @property
    def symptom_lead_s(self) -> float:
        """A hotspot may fail this long before the reading that says its power is gone (the
        reading comes up to a telemetry interval after the loss) and still be its symptom; one
        down before that was broken already."""
        return self.telemetry_hold_s + 0.5 * self.poll_interval_s


@dataclass
class _Node:
    """One power element as the tree walk sees it: its own state and what below it is decided."""

    el: str
    state: str  # "dark" (and the best root for everything dark below), "lit", "unknown", "pending"
    since: float = 0.0
    how: str = ""  # telemetry | hotspots | children
    finding: Finding | None = None  # when dark: the finding if it stays the root
    roots: list[Finding] = field(default_factory=list)  # decided roots below (the element itself not dark)
    held: list[Finding] = field(default_factory=list)  # provisional findings below, waiting


class Explainer:
    def __init__(self, inv, settings: Settings | None = None, on_change: Callable[[list, list], None] | None = None):
        self.inv = inv
        self.s = settings or Settings()
        self.hs: dict[str, dict] = {}  # hotspot/switch id -> {"state", "failing", "since", "fail_at", "suspect_at"}
        self.grid: dict[str, tuple[str, float]] = {}  # element -> (state, since)
        self.grid_prev: dict[str, str] = {}  # element -> the state before the current one
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
        self.kids: dict[str, list[str]] = {}
        for el, parent in list(self.parent_power.items()) + list(self.parent_net.items()):
            if not el.startswith("hotspot:"):
                self.kids.setdefault(parent, []).append(el)
        self._places = _Places([(t.id, t.lat, t.lon) for t in inv.transformers.values()])
        self.neighbours = self._neighbour_transformers()
        self.suspects = SuspectBook(inv)  # where the evidence contradicts the inventory (never changes it)
        # What a tick looks at grows with the evidence, not with the city (bench/explainer_scale.py):
        self._candidates: set[str] = set()  # elements that failed and have not answered since
        self._dark_grid: set[str] = set()  # grid elements not energized (de-energized or unknown)
        self._egov_down: set[str] = set()
        self._open: dict[str, Incident] = {}  # open incidents by id
        self._closed_by_root: dict[str, Incident] = {}  # the newest closed, not merged incident of each root
        self._near_cache: dict[str, set[str]] = {}
        self._lost: dict[str, list[float]] = {}  # switch -> when it or a hotspot behind it lost answers
        self._wanted: dict[str, float] = {}  # hotspot -> a dark moment its last good answer must be after

    def _neighbour_transformers(self) -> dict[str, set[str]]:
        """Each transformer's neighbours: the others on its feeder and its NEIGHBOURS nearest ones
        (where a wrong inventory row most likely points instead of the true one)."""
        out: dict[str, set[str]] = {}
        for t in self.inv.transformers.values():
            near = self._places.nearest(t.lat, t.lon, NEIGHBOURS + 1)
            same = set(self.inv.transformers_of_feeder.get(t.feeder, []))
            out[t.id] = (set(near[: NEIGHBOURS + 1]) | same) - {t.id}
        return out

    # --- evidence -------------------------------------------------------------------------------
    def feed(self, at: float, kind: str, element: str, data: dict) -> None:
        self.now = max(self.now, at)
        if kind == "health":
            st = self.hs.setdefault(
                element, {"state": "unknown", "failing": False, "since": at, "reboot_at": None, "suspect_at": None}
            )
            k = data.get("kind")
            if k == "state":
                was_failing = self._failing_at(st, at)
                if was_failing and data["new"] != "down" and element.startswith("switch:"):
                    # a comeback that can hold its children's failures: it was down, or failed
                    # with them (a lost answer and a slow one of a busy collector is neither)
                    st["back_explained"] = st["state"] == "down" or self._explained_children_at(element, at)
                if data["new"] == "down" and not was_failing:
                    st["fail_at"] = at
                elif data["new"] == "down" and (data.get("first_fail") or 0.0) > st.get("fail_at", at):
                    # the tracker saying down began failing later than the first failed poll held
                    # here: that one was a lost answer no clear withdrew (its node handed the element
                    # over before polling it again; the new owner's good answers changed no state).
                    # The real start may be a little earlier on the old owner: later, not wrong.
                    st["fail_at"] = float(data["first_fail"])
                st["state"] = data["new"]
                st["since"] = at
                st["reason"] = data.get("reason", "")
                if was_failing and data["new"] != "down":
                    st["back_at"] = at  # answering again (up <-> degraded is not a comeback)
                    st["back_from"] = st.get("fail_at", st["since"])  # ... after failing since then
                st["failing"] = data["new"] == "down"
                st["suspect_at"] = None
                if data["new"] != "down":  # up / degraded: it answered the poll sent then
                    st["answered_at"] = max(st.get("answered_at", 0.0), at)
                if data["new"] == "down":
                    self._candidates.add(element)
                else:
                    self._candidates.discard(element)
                if element.startswith("egov:"):
                    (self._egov_down.add if data["new"] == "down" else self._egov_down.discard)(element)
            elif k == "suspect":
                if not self._failing_at(st, at):
                    st["fail_at"] = at
                st["failing"] = True
                st["suspect_at"] = at
                self._candidates.add(element)
            elif k == "clear":  # answered before it went down: the failed polls were lost answers
                st["answered_at"] = max(st.get("answered_at", 0.0), at)
                if st["state"] != "down":
                    st["failing"] = False
                    st["suspect_at"] = None
                    self._candidates.discard(element)
                sw = element if element.startswith("switch:") else self.parent_net.get(element)
                if sw:
                    self._lost.setdefault(sw, []).append(at)
            elif k == "reboot":
                st["reboot_at"] = at
            elif k == "seen":  # a good answer to a poll sent at data["at"] (asked by :meth:`liveness_wanted`)
                st["seen"] = max(st.get("seen", 0.0), float(data["at"]))
        elif kind == "grid":
            old = self.grid.get(element, (UNKNOWN_G, 0.0))[0]
            if old == data["new"]:
                return  # the same state again (a node taking the grid ingest over says it anew): no news
            self.grid_prev[element] = old
            self.grid[element] = (data["new"], at)
            if data["new"] == ENERGIZED:
                self._dark_grid.discard(element)
            else:
                self._dark_grid.add(element)
        elif kind == "notice":
            if data:
                self.notices[element] = data
            else:
                self.notices.pop(element, None)

    def _failing_at(self, st: dict, at: float) -> bool:
        """Down, or a first failed poll recent enough to still be one (else it was a lost answer)."""
        if st["state"] == "down":
            return True
        return st.get("suspect_at") is not None and at - st["suspect_at"] <= self.s.suspect_ttl_s

    def failing(self, el: str) -> bool:
        st = self.hs.get(el)
        return bool(st and self._failing_at(st, self.now))

    def down(self, el: str) -> bool:
        st = self.hs.get(el)
        return bool(st and st["state"] == "down")

    def gstate(self, el: str) -> str:
        return self.grid.get(el, (UNKNOWN_G, 0.0))[0]

    def fail_at(self, el: str) -> float:
        st = self.hs[el]
        return st.get("fail_at", st["since"])

    def _stayed_up(
        self, listed: list[str] | set[str], dark_at: float, now: float, peers: list[str] | set[str] | None = None
    ) -> set[str]:
        """Listed hotspots that answered a poll *sent* after ``dark_at`` (when the root surely was
        dark): proof that they do not hang on it. Health events carry no good polls, so the
        answer's time is asked for (:meth:`liveness_wanted`) and comes back as ``seen`` evidence;
        not being polled yet, or a slow cycle, is never taken for staying up. ``peers``: the
        hotspots whose darkness shows the root dark; once fewer than half of them still fail, the
        root may be back before its own state says so (a dead switch's polls time out in flight
        while its hotspots already answer again), and an answer then proves nothing. A hotspot that
        was itself failing after ``dark_at`` and answers again went dark *with* the root: it is
        coming back (the first of a restore, before the others are polled), not staying up."""
        if peers is not None:
            peers = list(peers)
            if sum(1 for h in peers if self.failing(h)) < max(1, len(peers) / 2):
                return set()
        out: set[str] = set()
        for h in listed:
            st = self.hs.get(h)
            if st is None or self.failing(h) or self.recovering.get(h, 0) > now:
                continue
            if st.get("back_at", 0.0) > dark_at:
                continue  # it failed with the root and is back: a restore under way, not an outlier
            if st.get("seen", 0.0) > dark_at:
                out.add(h)
            else:
                self._wanted[h] = max(self._wanted.get(h, 0.0), dark_at)
        return out

    def liveness_wanted(self) -> dict[str, float]:
        """Hotspots whose last good answer the last decision needed (listed under a dark root, not
        failing): hotspot -> the dark moment. The runtime answers with ``seen`` evidence."""
        return {h: t for h, t in self._wanted.items() if self.hs.get(h, {}).get("seen", 0.0) <= t}

    def _ups(self, h: str) -> bool:
        return self.inv.hotspots[h[8:]].ups_minutes > 0

    # --- the decision ---------------------------------------------------------------------------
    def findings(self, now: float) -> dict[str, Finding]:
        """Decide the root causes at ``now``: one finding per root element, steps 0-4 in order."""
        out: dict[str, Finding] = {}
        explained: set[str] = set()
        self._wanted = {}

        # 0. e-government services failing their probes: a cause of their own, nothing below them
        self._take(out, explained, self._service_findings())
        # 1. network first: hotspots behind a failing switch say nothing about their power
        net, net_held = self._network_findings(now)
        # 2. power along the tree, from telemetry and from hotspots
        power, power_held = self._telemetry_power_findings(now, net, net_held)
        self._take(out, explained, power)
        self._take(out, explained, net)
        for f in net_held + power_held:  # provisional: no incident yet, and no device either
            explained |= f.affected
        self._prune_candidates()
        pending = {
            h
            for h in self._candidates
            if h.startswith("hotspot:") and self.failing(h) and h not in explained and self.recovering.get(h, 0) <= now
        }
        # 3. hotspots dark with a finding although listed elsewhere
        explained |= self._join_outliers(out, pending, now)
        # 4. device / unknown
        self._take(out, explained, self._device_findings(pending - explained, now))
        return out

    def _prune_candidates(self) -> None:
        """Drop elements whose failure expired (a first failed poll older than the suspect ttl with
        no ``clear``: evidence stored before ``clear`` existed)."""
        for el in [e for e in self._candidates if not self.failing(e)]:
            self._candidates.discard(el)

    @staticmethod
    def _take(out: dict[str, Finding], explained: set[str], found: dict[str, Finding]) -> None:
        """Add a step's findings to ``out`` (in order); their hotspots count as explained from then on."""
        for root, f in found.items():
            out[root] = f
            explained |= f.affected

    def _service_findings(self) -> dict[str, Finding]:
        """Decide which e-government services are down: each a ``service`` root with nothing below it."""
        out: dict[str, Finding] = {}
        for el in sorted(self._egov_down):
            if self.hs[el]["state"] == "down" and el[5:] in self.inv.egov:
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

    def _symptoms(self, el: str, since: float, lead: float | None = None) -> set[str]:
        """Failing hotspots below ``el`` that failed no earlier than ``lead`` before ``since``: those
        down long before (already broken) are not its symptoms."""
        lead = self.s.symptom_lead_s if lead is None else lead
        return {h for h in self.below[el] if self.failing(h) and self.fail_at(h) >= since - lead}

    # --- 1. network -----------------------------------------------------------------------------
    def _explains_children(self, sw: str) -> bool:
        """Decide whether failing switch ``sw`` is the likely cause of its children's failures: down,
        or failed with two of its child switches or half of its hotspots (one lost answer is not)."""
        if not self.failing(sw):
            return False
        if self.down(sw):
            return True
        kids = [k for k in self.kids.get(sw, []) if k.startswith("switch:")]
        below = self.below.get(sw, [])
        return sum(1 for k in kids if self.failing(k)) >= 2 or (
            bool(below) and sum(1 for h in below if self.failing(h)) >= len(below) / 2
        )

    def _explained_children_at(self, sw: str, at: float) -> bool:
        """Whether failing switch ``sw`` failed with two of its child switches or half of its
        hotspots at ``at`` (:meth:`_explains_children` on the evidence alone, for :meth:`feed`)."""

        def failing(el: str) -> bool:
            st = self.hs.get(el)
            return bool(st and self._failing_at(st, at))

        kids = [k for k in self.kids.get(sw, []) if k.startswith("switch:")]
        below = self.below.get(sw, [])
        return sum(1 for k in kids if failing(k)) >= 2 or (
            bool(below) and sum(1 for h in below if failing(h)) >= len(below) / 2
        )

    def _network_findings(self, now: float) -> tuple[dict[str, Finding], list[Finding]]:
        """Decide which failing switches are ``network_uplink`` roots (topmost failing, down or half
        dark); one whose parent may not have been polled since it failed stays provisional."""
        out: dict[str, Finding] = {}
        held: list[Finding] = []
        for el in sorted(e for e in self._candidates if e.startswith("switch:")):
            if el[7:] not in self.inv.switches:
                continue
            if not self.failing(el) or not self._parents_answer(el) or self._uplink_recovering(el, now):
                continue
            st = self.hs[el]
            below = self.below[el]
            fa = self.fail_at(el)
            dark = {h for h in below if self.failing(h) and self.fail_at(h) >= fa - self.s.poll_interval_s}
            if not (st["state"] == "down" or len(dark) >= max(1, len(below) / 2)):
                continue
            ev = [
                f"{el} not answering" + (" (down)" if st["state"] == "down" else " (failed polls)"),
                f"{len(dark)} of {len(below)} hotspots behind it not answering; its parent answers",
            ]
            f = Finding("network_uplink", el, dark, ev, 0.9 if st["state"] == "down" else 0.8, since=st["since"])
            if st["state"] == "down":  # surely dark since its down moment (one lost answer is not)
                f.stayed_up = self._stayed_up(below, st["since"], now, peers=below)
            if f.stayed_up:
                f.uncertain.append(_stayed_up_note(len(f.stayed_up), "switch"))
            parent = self.parent_net.get(el)
            if parent and not self._answered_since(parent, fa) and now < fa + self.s.parent_hold_s:
                held.append(f)  # its parent's next poll may yet show the failure is above it
                continue
            out[el] = f
        return out, held

    def _answered_since(self, el: str, at: float) -> bool:
        """Whether ``el`` answered a poll sent after ``at`` (asked for as ``seen`` evidence until it
        comes): a switch failing below a parent that answers since is the top of its failure; one
        whose parent has not been polled since may be in that parent's shadow. A child may go
        down before its dead parent's first failed poll is in (the parent's poll comes up to an
        interval later and fails only after its timeouts, real seconds at every time scale), so a
        down child waits for it too, at most ``parent_hold_s``."""
        st = self.hs.get(el, {})
        if max(st.get("seen", 0.0), st.get("answered_at", 0.0)) > at:
            return True
        self._wanted[el] = max(self._wanted.get(el, 0.0), at)
        return False

    def _parents_answer(self, el: str) -> bool:
        """Decide whether no switch above ``el`` explains its failure (see :meth:`_explains_children`)."""
        p = self.parent_net.get(el)
        while p:
            if self._explains_children(p):
                return False
            p = self.parent_net.get(p)
        return True

    def _uplink_recovering(self, el: str, now: float) -> bool:
        """Decide whether a switch above failing ``el`` came back after it failed and is still being
        polled up: the switch above was failing when ``el`` failed (within a poll interval), was down
        or failed with its children, and answers again since. A switch above that failed only later,
        or only for a lost answer and a slow one (a busy collector) while ``el`` died beside it,
        explains nothing about ``el``."""
        st = self.hs[el]
        fa = st.get("fail_at", st["since"])
        cur = self.parent_net.get(el)
        while cur:
            up = self.hs.get(cur, {})
            back = up.get("back_at")
            if (
                back is not None
                and back > fa
                and up.get("back_from", 0.0) <= fa + self.s.poll_interval_s
                and up.get("back_explained", True)
                and now - back < self.s.grace_polls * self.s.poll_interval_s
            ):
                return True
            cur = self.parent_net.get(cur)
        return False

    # --- 2. power along the tree ----------------------------------------------------------------
    def _telemetry_power_findings(
        self, now: float, net: dict[str, Finding], net_held: list[Finding]
    ) -> tuple[dict[str, Finding], list[Finding]]:
        """Decide the power roots, substation by substation: every dark element of the tree is
        explained by the smallest set of roots; undecided ones are returned as provisional."""
        behind_net = set().union(*(f.affected for f in net.values()), *(f.affected for f in net_held))
        out: dict[str, Finding] = {}
        held: list[Finding] = []
        for sid in self._touched_substations():
            node = self._power_node(f"substation:{sid}", now, behind_net)
            if node.state == "dark" and node.finding:
                out[node.el] = node.finding
            for f in node.roots:
                out[f.root] = f
            held += node.held
        return out, held

    def _touched_substations(self) -> list[str]:
        """Substations with something to decide: an element below them not energized, or a
        listed hotspot failing (the rest of the city is lit and quiet: nothing to look at)."""
        subs = set()
        for el in self._dark_grid:
            sub = self._substation_of(el)
            if sub:
                subs.add(sub)
        for el in self._candidates:
            if el.startswith("hotspot:"):
                sub = self._substation_of(self.parent_power.get(el, ""))
                if sub:
                    subs.add(sub)
        return sorted(subs)

    def _substation_of(self, el: str) -> str | None:
        cur: str | None = el
        while cur and not cur.startswith("substation:"):
            cur = self.parent_power.get(cur)
        return cur[11:] if cur and cur[11:] in self.inv.substations else None

    def _power_node(self, el: str, now: float, behind_net: set[str]) -> _Node:
        """Decide what is dark at and below ``el`` and which elements explain it (bottom-up)."""
        if el.startswith("transformer:"):
            return self._transformer_node(el, now, behind_net)
        kids = [self._power_node(k, now, behind_net) for k in self.kids.get(el, [])]
        state, since = self.grid.get(el, (UNKNOWN_G, 0.0))
        roots = [f for k in kids for f in k.roots]
        held = [f for k in kids for f in k.held]
        if state == DEENERGIZED:  # its own telemetry: the root of everything dark below it
            return _Node(el, "dark", since, "telemetry", self._telemetry_finding(el, since, now))
        node = _Node(el, "lit" if state == ENERGIZED else "unknown", since, "telemetry", roots=roots, held=held)
        dark = [k for k in kids if k.state == "dark"]
        waiting = [k for k in kids if k.state == "pending"]
        hold = self.s.telemetry_hold_s
        if state == ENERGIZED and dark:
            # its reading is newer than theirs: no roll-up for them; if it came back (a restore),
            # they wait for their own next reading first
            before = [k for k in dark if k.since < since]
            if self.grid_prev.get(el) == DEENERGIZED and now - since < self.s.restore_hold_s:
                node.held += [k.finding for k in before if k.finding]
            else:
                node.roots += [k.finding for k in before if k.finding]
            dark = [k for k in dark if k.since >= since]
        if not dark and not waiting:
            return node
        cur, older = _newest_group(dark, hold)
        node.roots += [k.finding for k in older if k.finding]  # failed earlier, on their own
        t0 = min(k.since for k in cur + waiting)
        lit = sum(1 for k in kids if k.state in ("lit", "pending"))
        wins, margin = self._rollup(el, len(cur), lit, state)
        if state == UNKNOWN_G and any(
            k.state in ("unknown", "pending") or (k.state == "lit" and k.how != "telemetry")
            for k in kids
            if k not in cur
        ):
            hold = max(hold, self.s.poll_hold_s)  # children known by their hotspots only: poll them all first
        if wins:
            return _Node(el, "dark", t0, "children", self._rolled_up_finding(el, cur, state, margin, now))
        if waiting or now < t0 + hold:
            node.state, node.since = "pending", t0
            node.held += [k.finding for k in cur if k.finding]
            return node
        node.roots += [k.finding for k in cur if k.finding]
        return node

    def _rollup(self, el: str, dark: int, lit: int, state: str) -> tuple[bool, float]:
        """Score "``el`` lost power" against "its ``dark`` children failed each on their own": the
        log-likelihood margin with the tolerances of :class:`Settings`. Children not known to be
        dark (yet) count as lit, so a win cannot turn into a loss when more readings come in."""
        s = self.s
        own = 0.0
        if state == ENERGIZED and not el.startswith("substation:"):  # a substation's state is its feeders'
            own = math.log(s.p_parent_late)
        parent = math.log(s.p_root) + lit * math.log(s.p_child_lit) + own
        children = dark * math.log(s.p_root)
        margin = parent - children
        return dark >= 2 and margin > 0, margin

    def _rolled_up_finding(self, el: str, dark: list[_Node], state: str, margin: float, now: float) -> Finding:
        """The finding for a parent that explains its dark children better than they do themselves."""
        t0 = min(k.since for k in dark)
        affected = set().union(*(k.finding.affected for k in dark if k.finding))
        hows = {k.how for k in dark}
        kind = el.partition(":")[0]
        ev = [
            f"{len(dark)} of {len(self.kids.get(el, []))} {'feeders' if kind == 'substation' else 'transformers'} "
            f"of {el} dark together since {t0:.0f} ({', '.join(sorted(k.el for k in dark))}), "
            f"by {' and '.join(sorted(hows))}",
            f"{el} telemetry: {state}" + (" (its reading not newer than theirs)" if state == ENERGIZED else ""),
            f"log-likelihood margin over independent failures: {margin:.1f}",
        ]
        conf = (0.9 if kind == "substation" else 0.85) if hows == {"telemetry"} else 0.75
        f = Finding("power_grid", el, affected, ev, conf, hows != {"telemetry"}, t0)
        for k in dark:
            if k.finding:
                f.joined |= k.finding.joined
                f.stayed_up |= k.finding.stayed_up
                f.on_battery += k.finding.on_battery
        if state == ENERGIZED and kind != "substation":
            f.uncertain.append(
                (
                    f"data listrik {_name_id(el)} sendiri belum menunjukkan padam",
                    f"{el}'s own reading does not show it yet",
                )
            )
        elif state == UNKNOWN_G and kind != "substation":
            f.uncertain.append((f"tidak ada data listrik dari {_name_id(el)}", f"no telemetry from {el}"))
        self._apply_notice(f, el, t0, now)
        return f

    def _transformer_node(self, t: str, now: float, behind_net: set[str]) -> _Node:
        """A transformer: dark by its telemetry, or — telemetry unknown — by its hotspots."""
        state, since = self.grid.get(t, (UNKNOWN_G, 0.0))
        if state == DEENERGIZED:
            return _Node(t, "dark", since, "telemetry", self._telemetry_finding(t, since, now))
        if state == ENERGIZED:
            return _Node(t, "lit", since, "telemetry")
        return self._sensed_transformer(t, now, behind_net)

    def _telemetry_finding(self, el: str, since: float, now: float) -> Finding:
        """The finding for an element whose own telemetry says de-energized."""
        below = self.below[el]
        dark = self._symptoms(el, since)
        on_batt = sum(1 for h in below if not self.failing(h) and self._ups(h))
        ev = [f"{el} de-energized since {since:.0f} (grid telemetry)"]
        if dark:
            ev.append(f"{len(dark)} of {len(below)} hotspots below it not answering")
        f = Finding("power_grid", el, dark, ev, 0.95 if dark or not below else 0.9, since=since, on_battery=on_batt)
        no_ups = [h for h in below if not self._ups(h)]
        f.stayed_up = self._stayed_up(no_ups, since, now, peers=no_ups)
        if f.stayed_up:
            f.evidence.append(f"{len(f.stayed_up)} hotspot(s) listed below it still answer (inventory may be wrong)")
            f.uncertain.append(_stayed_up_note(len(f.stayed_up), "power"))
        self._apply_notice(f, el, since, now)
        return f

    def _sensed_transformer(self, t: str, now: float, behind_net: set[str]) -> _Node:
        """Decide a transformer without telemetry from its non-UPS hotspots: dark when the ones that
        failed together are better explained by one power cut than by each failing on its own (a
        wrong row may stay up; a lost answer is a suspect that may not last)."""
        s = self.s
        f_state, f_since = self.grid.get(self.parent_power[t], (UNKNOWN_G, 0.0))
        hs = [h for h in self.below[t] if not self._ups(h) and h in self.hs and h not in behind_net]
        hs = [h for h in hs if not self.failing(self.parent_net[h])]  # behind a failing switch: says nothing
        hs = [h for h in hs if not self._uplink_back(h, now)]  # its uplink just came back: still being polled up
        dark = [h for h in hs if self.failing(h) and self.recovering.get(h, 0) <= now]
        up = [h for h in hs if not self.failing(h)]
        cluster = _together(dark, self.fail_at, s.poll_hold_s)
        if (
            cluster
            and f_state == ENERGIZED
            and f_since > min(self.fail_at(h) for h in cluster)
            and now - f_since < s.grace_polls * s.poll_interval_s + s.boot_s
        ):
            return _Node(t, "unknown")  # the feeder came back after they went dark: they are booting
        switches = {self.parent_net[h] for h in cluster}
        if len(cluster) >= 2 and (len(switches) >= 2 or len(cluster) >= 3):
            l_dark = math.log(s.p_root) + len(cluster) * math.log(1 - s.p_wrong_row) + len(up) * math.log(s.p_wrong_row)
            l_own = sum(math.log(s.p_root if self.down(h) else s.p_lost) for h in cluster)
            if l_dark > l_own:
                since = min(self.fail_at(h) for h in cluster)
                ev = [
                    f"{len(cluster)} of {len(self.below[t])} hotspots on {t} failed together across "
                    f"{len(switches)} switch(es) that still answer",
                    f"{t} telemetry: {self.gstate(t)}",
                ]
                f = Finding("power_grid", t, set(cluster), ev, 0.75 if len(switches) >= 2 else 0.65, True, since)
                f.stayed_up = self._stayed_up(up, _median([self.fail_at(h) for h in cluster]), now)
                if f.stayed_up:
                    f.confidence -= 0.05
                    f.evidence.append(f"{len(f.stayed_up)} of its hotspots still answer (inventory may be wrong)")
                    f.uncertain.append(_stayed_up_note(len(f.stayed_up), "power"))
                self._apply_notice(f, t, since, now)
                return _Node(t, "dark", since, "hotspots", f)
        if up:
            return _Node(t, "lit", 0.0, "hotspots")
        return _Node(t, "unknown")

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

    # --- 3. joiners -----------------------------------------------------------------------------
    def _join_outliers(self, out: dict[str, Finding], pending: set[str], now: float) -> set[str]:
        """Hotspots down in the same moment as a power or network finding's hotspots, near its root,
        whose own listed transformer and switch are fine, join that finding (the inventory row is
        probably wrong): lower confidence, said in the evidence and the explanation."""
        joined: set[str] = set()
        inside: dict[str, set[str]] = {}  # root -> hotspots listed below it (explained, not joiners)
        big = [f for f in out.values() if f.cause in ("power_grid", "planned_maintenance", "network_uplink")]
        if not big:
            return joined
        for h in sorted(pending):
            if not self.down(h) or self.failing(self.parent_net[h]):
                continue  # a suspect may be a lost answer; a failing switch may explain it
            if self._power_dark_at(h) is not None:
                continue  # its listed power is off: not an outlier (step 2 or 4 decides)
            fa = self.fail_at(h)
            best: tuple[float, Finding] | None = None
            for f in big:
                if not f.affected or f.root in (self.parent_power[h], self.parent_net[h]):
                    continue
                lo = min(self.fail_at(x) for x in f.affected) - 0.5 * self.s.poll_interval_s
                hi = max(self.fail_at(x) for x in f.affected) + 0.5 * self.s.poll_interval_s
                if self._ups(h) and f.cause != "network_uplink":
                    hi = max(hi, now)  # on battery until it ran out
                if not lo <= fa <= hi:
                    continue
                if self._ancestor(f.root, h, self.parent_net if f.cause == "network_uplink" else self.parent_power):
                    # listed below the root after all (the reading or poll of its own feeder,
                    # transformer or switch is not in yet): dark with it as the inventory says
                    inside.setdefault(f.root, set()).add(h)
                    best = None
                    break
                if not self._near(h, f.root):
                    continue
                gap = abs(fa - f.since)
                if best is None or gap < best[0]:
                    best = (gap, f)
            if best:
                f = best[1]
                f.affected.add(h)
                f.joined.add(h)
                joined.add(h)
        for f in big:  # explained by a root above them: no suspect, no lower confidence
            got = inside.get(f.root, set())
            f.affected |= got
            joined |= got
        for f in big:
            if f.joined:
                listed = "switch" if f.cause == "network_uplink" else "transformer"
                f.confidence = round(max(0.5, f.confidence - 0.02 * len(f.joined)), 2)
                f.evidence.append(
                    f"{len(f.joined)} hotspot(s) listed under another {listed} went down with it: "
                    + ", ".join(sorted(x[8:] for x in f.joined))
                    + " (inventory may be wrong)"
                )
                f.uncertain.append(_joined_note(len(f.joined), listed))
        return joined

    @staticmethod
    def _ancestor(el: str, h: str, parent: dict[str, str]) -> bool:
        """Whether ``el`` is above ``h`` on the tree ``parent`` describes."""
        cur = parent.get(h)
        while cur:
            if cur == el:
                return True
            cur = parent.get(cur)
        return False

    def _near(self, h: str, root: str) -> bool:
        """Whether ``root`` is where a wrong inventory row of ``h`` would most likely point from:
        power — its listed transformer's feeder mates and nearest transformers; network — the
        other access switches of its listed switch's aggregation switch."""
        kind, _, ident = root.partition(":")
        hrow = self.inv.hotspots[h[8:]]
        if kind == "switch":
            sw = f"switch:{hrow.switch}"
            return self.parent_net.get(sw) is not None and self.parent_net.get(sw) == self.parent_net.get(root)
        if kind not in POWER_KINDS:
            return False
        near = self._near_transformers(h)
        if kind == "transformer":
            return ident in near
        return any(self._related(f"transformer:{t}", root) for t in near)

    def _near_transformers(self, h: str) -> set[str]:
        """Where the power of ``h`` may really come from: its listed transformer's neighbours and
        the NEIGHBOURS + 2 transformers nearest to the hotspot itself (a wrong row names one near
        the hotspot, not necessarily near the true transformer)."""
        got = self._near_cache.get(h)
        if got is None:
            row = self.inv.hotspots[h[8:]]
            nearest = self._places.nearest(row.lat, row.lon, NEIGHBOURS + 2)
            got = self.neighbours.get(row.transformer, set()) | set(nearest)
            got.discard(row.transformer)
            self._near_cache[h] = got
        return got

    def _power_dark_at(self, h: str) -> float | None:
        """When the power of ``h``'s listed transformer (or an ancestor) went off by telemetry, if it is off."""
        cur = self.parent_power.get(h)
        while cur:
            state, since = self.grid.get(cur, (UNKNOWN_G, 0.0))
            if state == DEENERGIZED:
                return since
            cur = self.parent_power.get(cur)
        return None

    # --- 4. device / unknown --------------------------------------------------------------------
    def _device_findings(self, candidates: set[str], now: float) -> dict[str, Finding]:
        """Decide which still-unexplained hotspots, down past the holdoff on an answering switch, are roots."""
        out: dict[str, Finding] = {}
        held = {
            h for i in self._open.values() if not i.root.startswith("hotspot:") for h in i.affected if h in candidates
        }
        for h in sorted(candidates):
            lossy = self._lossy(self.parent_net[h], now)
            holdoff = max(self.s.device_holdoff_s, LOSSY_HOLDOFF_POLLS * self.s.poll_interval_s) if lossy else None
            if not self.down(h) or now - self.hs[h]["since"] < (holdoff or self.s.device_holdoff_s):
                continue
            if self.failing(self.parent_net[h]):
                continue  # the switch may yet explain it
            if h in held:
                continue  # in an open incident that is closing (a joiner listed elsewhere): its close gives the boot grace
            if (self.hs[h].get("reboot_at") or 0) >= self.hs[h]["since"]:
                continue  # it answered since it went down (a reboot is proof of life): being polled up
            if self._booting_after_restore(h, now):
                continue  # power or uplink came back after it went dark: give it time to boot and be polled
            out[h] = f = self._device_finding(h, now)
            if lossy:
                f.evidence.append(f"answers behind {self.parent_net[h]} are being lost (waited {holdoff:.0f} s)")
                f.uncertain.append(
                    (
                        "jalur jaringannya sedang kehilangan paket; bisa jadi bukan perangkatnya",
                        "its network path is losing packets; it may not be the device",
                    )
                )
        return out

    def _lossy(self, sw: str, now: float) -> bool:
        """Whether ``sw`` or the hotspots behind it lost answers (failed polls a later poll cleared)
        at least LOSSY_CLEARS times in the last LOSSY_WINDOW_POLLS intervals: a flaky path, on which
        a hotspot may be counted down for a while without being broken."""
        seen = self._lost.get(sw)
        if not seen:
            return False
        cut = now - LOSSY_WINDOW_POLLS * self.s.poll_interval_s
        while seen and seen[0] < cut:
            seen.pop(0)
        return len(seen) >= LOSSY_CLEARS

    def _uplink_back(self, h: str, now: float) -> bool:
        """Whether a switch above ``h`` came back after ``h`` failed, recently enough that ``h`` may
        still be being polled up (a network incident's hotspots say nothing of their power then)."""
        st = self.hs.get(h)
        if st is None:
            return False
        fa = st.get("fail_at", st["since"])
        cur = self.parent_net.get(h)
        while cur:
            back = self.hs.get(cur, {}).get("back_at")
            if (
                back is not None
                and back > fa
                and now - back < self.s.grace_polls * self.s.poll_interval_s + self.s.boot_s
            ):
                return True
            cur = self.parent_net.get(cur)
        return False

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
            if s_st and s_st["state"] in ("up", "degraded") and s_st.get("back_at", 0.0) > st["since"]:
                back.append(s_st["back_at"])
            cur = self.parent_net.get(cur)
        return bool(back) and now - max(back) < self.s.grace_polls * self.s.poll_interval_s + self.s.boot_s

    def _device_finding(self, h: str, now: float) -> Finding:
        """Decide ``device`` (its power known to be on) or ``unknown`` (nothing to compare) for a down hotspot."""
        sw = self.parent_net[h]
        t = self.parent_power[h]
        st = self.hs[h]
        siblings_up = [x for x in self.below[t] if x != h and x in self.hs and not self.failing(x) and not self._ups(x)]
        off_at = self._power_dark_at(h)
        before_power = off_at is not None and self.fail_at(h) < off_at - self.s.symptom_lead_s
        power_on = self.gstate(t) == ENERGIZED or siblings_up or before_power
        if power_on:
            why = []
            if self.gstate(t) == ENERGIZED:
                why.append(f"{t} energized")
            if siblings_up:
                why.append(f"{len(siblings_up)} hotspot(s) on the same transformer answer")
            if before_power:
                why.append(f"down since {self.fail_at(h):.0f}, before its power went off at {off_at:.0f}")
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
        return a == b or any(
            self._ancestor(y, x, parents)
            for parents in (self.parent_power, self.parent_net)
            for x, y in ((a, b), (b, a))
        )

    def tick(self, now: float) -> bool:
        """Re-decide; returns True if any incident changed (the caller stores the tick then)."""
        self.now = max(self.now, now)
        now = self.now
        found = self.findings(now)
        open_inc = dict(self._open)
        matched: set[str] = set()
        for root, f in sorted(found.items(), key=lambda kv: (-len(kv[1].affected), kv[0])):
            inc = next((i for i in open_inc.values() if i.root == root and i.id not in matched), None)
            if inc is None:
                cands = [
                    i
                    for i in open_inc.values()
                    if i.id not in matched
                    and i.root not in found  # still its own root: not a provisional view of this one
                    and (
                        i.root in f.affected
                        if i.root.startswith("hotspot:")  # a device incident only for a symptom of this root
                        else self._related(i.root, root)
                    )
                ]
                cands.sort(key=lambda i: i.opened_at)
                if cands:
                    inc = cands[0]
                    self._record(inc, "rerooted", {"from": inc.root, "to": root, "cause": f.cause})
                    for other in cands[1:]:
                        other.status, other.closed_at, other.merged_into = "closed", now, inc.id
                        self._open.pop(other.id, None)
                        self._record(other, "merged", {"into": inc.id})
                        matched.add(other.id)
            if inc is None:
                inc = self._closed_by_root.get(root)
                if inc is not None and (
                    inc.status != "closed"
                    or inc.merged_into is not None
                    or inc.closed_at is None
                    or now - inc.closed_at > self.s.reopen_s
                ):
                    inc = None
                if inc:
                    inc.status, inc.closed_at = "open", None
                    self._open[inc.id] = inc
                    self._closed_by_root.pop(root, None)
                    self._record(inc, "reopened", {"root": root})
            if inc is None:
                iid = (
                    "INC-"
                    + time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
                    + "-"
                    # the city in the hash: cities made from the same data share element names,
                    # and incident ids are keys of one shared table (two cities' substation:BSB
                    # opened in the same second overwrote each other's incident)
                    + hashlib.sha1(f"{self.inv.city}/{root}".encode()).hexdigest()[:4]
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
                self._open[iid] = inc
                self._record(inc, "opened", {"cause": f.cause, "root": root, "evidence": f.evidence})
                log.warning(
                    "%s: incident %s opened: %s at %s (%s)", self.inv.city, iid, f.cause, root, "; ".join(f.evidence)
                )
            matched.add(inc.id)
            self._update(inc, f, now)
            self.suspects.decided(inc.id, f.root)
            if f.joined or f.stayed_up:
                self.suspects.observe(inc.id, now, f.cause, f.root, f.joined, f.stayed_up)
        for inc in open_inc.values():
            if inc.id not in matched and inc.status == "open":
                inc.status, inc.closed_at, inc.updated_at = "closed", now, now
                self._open.pop(inc.id, None)
                self._closed_by_root[inc.root] = inc
                until = now + self.s.grace_polls * self.s.poll_interval_s + self.s.boot_s
                for h in inc.affected:
                    if self.failing(h):  # still dark: booting after the cause cleared
                        self.recovering[h] = until
                self._record(inc, "closed", {"evidence": "root cause cleared"})
                log.warning("%s: incident %s closed (%s at %s)", self.inv.city, inc.id, inc.cause, inc.root)
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
            f.uncertain,
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
        return list(self._open.values())


def replay(inv, evidence: list[tuple[float, str, str, dict]], settings: Settings | None = None) -> Explainer:
    """Feed stored evidence to a fresh explainer: the same incidents come out."""
    ex = Explainer(inv, settings)
    for at, kind, element, data in evidence:
        if kind == "tick":
            ex.tick(at)
        else:
            ex.feed(at, kind, element, data)
    return ex


class _Places:
    """Transformers by place: a grid of cells (~2 km) for nearest-k questions, so a city of 30,000
    transformers costs what a city of 300 does per question."""

    CELL = 0.02  # degrees

    def __init__(self, points: list[tuple[str, float, float]]):
        self.cells: dict[tuple[int, int], list[tuple[str, float, float]]] = {}
        for p in points:
            self.cells.setdefault(self._cell(p[1], p[2]), []).append(p)
        self.n = len(points)

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        return (math.floor(lat / self.CELL), math.floor(lon / self.CELL))

    def nearest(self, lat: float, lon: float, k: int) -> list[str]:
        """The ``k`` nearest ids, nearest first (ties by id)."""
        cos = math.cos(math.radians(lat))
        ci, cj = self._cell(lat, lon)
        found: list[tuple[float, str]] = []
        r = 0
        while True:
            for i in range(ci - r, ci + r + 1):
                for j in range(cj - r, cj + r + 1):
                    if max(abs(i - ci), abs(j - cj)) != r:
                        continue  # only the ring at distance r
                    for ident, plat, plon in self.cells.get((i, j), ()):
                        found.append(((plat - lat) ** 2 + ((plon - lon) * cos) ** 2, ident))
            found.sort()
            # every point within r cells is seen; a nearer one can only be beyond r * CELL * cos
            reach = (r * self.CELL * min(1.0, cos)) ** 2
            if (len(found) >= k and found[k - 1][0] <= reach) or len(found) >= self.n:
                return [ident for _, ident in found[:k]]
            r += 1


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2]


def _together(hs: list[str], at: Callable[[str], float], window: float) -> list[str]:
    """The largest group of ``hs`` whose failure times lie within ``window`` of each other."""
    best: list[str] = []
    for a in sorted(hs, key=at):
        group = [h for h in hs if 0 <= at(h) - at(a) <= window]
        if len(group) > len(best):
            best = group
    return best


def _newest_group(nodes: list[_Node], gap: float) -> tuple[list[_Node], list[_Node]]:
    """Split dark children into the newest group (dark within ``gap`` of each other, chained) and
    the older ones (which failed on their own before)."""
    ordered = sorted(nodes, key=lambda k: k.since)
    cut = 0
    for i in range(1, len(ordered)):
        if ordered[i].since - ordered[i - 1].since > gap:
            cut = i
    return ordered[cut:], ordered[:cut]


def _name_id(el: str) -> str:
    kind, _, ident = el.partition(":")
    return {"feeder": "penyulang", "transformer": "gardu", "substation": "gardu induk"}.get(kind, kind) + " " + ident


def _stayed_up_note(n: int, tree: str) -> tuple[str, str]:
    if tree == "switch":
        return (
            f"{n} titik wifi yang tercatat di switch ini tetap menjawab",
            f"{n} hotspot(s) listed behind it still answer",
        )
    return (f"{n} titik wifi yang tercatat di sini tetap menyala", f"{n} hotspot(s) listed under it stay up")


def _joined_note(n: int, listed: str) -> tuple[str, str]:
    what = "switch" if listed == "switch" else "gardu"
    return (
        f"{n} titik wifi yang tercatat di {what} lain ikut padam bersamaan (data aset mungkin salah)",
        f"{n} hotspot(s) listed under another {listed} went dark with it (asset list may be wrong)",
    )
