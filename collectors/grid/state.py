"""The grid's state as Pantau knows it: per substation, feeder and transformer.

Owned by the grid collector (:class:`collectors.grid.collector.GridCollector` holds the one
:class:`GridState`; ``ingest``, ``payloads`` and ``sparkplug`` build its :class:`Reading` and
:class:`Notice` objects). A pure state machine: it imports nothing of Pantau's.

States:
- ``energized``: the latest reading shows voltage at or above ``energized_ratio`` of nominal and
  the breaker (if reported) closed;
- ``de-energized``: the latest reading shows voltage below that, or the breaker open;
- ``unknown``: no reading yet, or telemetry lost — the last reading is older than
  ``stale_after_s``, its gateway went offline (MQTT last will), or its Sparkplug node/device
  died. Telemetry loss is never "power off": the element's last known power state is kept
  alongside (``last_power``) so the explainer can weigh it.

A substation has no telemetry of its own: it is derived from its feeders (any energized →
energized; every feeder with a known state de-energized → de-energized; none known → unknown).

Readings are applied in timestamp order per element; a reading older than the one already
applied (late or replayed telemetry) is stored in InfluxDB but does not move the state back.
Every change is a :class:`GridEvent` with the time it happened (the reading's timestamp; for
staleness, the moment telemetry was declared lost) for the listeners — InfluxDB ``grid_event``
and the outage explainer. Maintenance notices (PLN, retained MQTT) are kept here too.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Callable, Iterable

log = logging.getLogger("pantau.grid")

ENERGIZED, DEENERGIZED, UNKNOWN = "energized", "de-energized", "unknown"

NOMINAL_V = {"feeder": 20000.0, "transformer": 230.0}


@dataclass(slots=True)
class Reading:
    """One validated telemetry reading (from JSON or Sparkplug B)."""

    element: str  # kind:ID
    ts: float  # epoch seconds, from the payload (true time of the measurement)
    voltage_v: float | None = None
    current_a: float | None = None
    frequency_hz: float | None = None
    breaker_closed: bool | None = None
    seq: int | None = None
    gateway: str | None = None
    source: str = "json"

    def digest(self) -> tuple:
        return (self.element, self.ts, self.voltage_v, self.breaker_closed, self.gateway, self.source)

    @classmethod
    def from_digest(cls, d: tuple) -> "Reading":
        return cls(element=d[0], ts=d[1], voltage_v=d[2], breaker_closed=d[3], gateway=d[4], source=d[5])


@dataclass(slots=True)
class GridEvent:
    element: str
    at: float
    old: str
    new: str
    reason: str
    source: str = "telemetry"  # telemetry | staleness | lwt | sparkplug | derived

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(slots=True)
class Notice:
    id: str
    element: str
    start: float
    end: float
    reason: str = ""
    issuer: str = ""
    issued_at: float | None = None

    def active(self, at: float) -> bool:
        return self.start <= at <= self.end


@dataclass(slots=True)
class ElementState:
    element: str
    state: str = UNKNOWN
    since: float | None = None
    reason: str = "no telemetry yet"
    last_ts: float | None = None  # payload time of the latest applied reading
    last_seen: float | None = None  # wall time it arrived
    last_power: str | None = None  # energized / de-energized from the last reading
    voltage_v: float | None = None
    breaker_closed: bool | None = None
    gateway: str | None = None
    source: str | None = None
    readings: int = 0

    def view(self) -> dict:
        # every field is a scalar: a shallow dict (dataclasses.asdict's recursive deep copy was 6%
        # of a collector's CPU at ~1,500 polls/s, called for every element of every snapshot)
        return {f: getattr(self, f) for f in _ELEMENT_FIELDS}


_ELEMENT_FIELDS = tuple(f.name for f in fields(ElementState))


@dataclass
class GridState:
    inv: object
    stale_after_s: float = 30.0
    energized_ratio: float = 0.5
    nominal_v: dict = field(default_factory=lambda: dict(NOMINAL_V))
    clock: Callable[[], float] = None

    def __post_init__(self):
        import time

        self.clock = self.clock or time.time
        self._lock = threading.RLock()
        self.elements: dict[str, ElementState] = {}
        for f in self.inv.feeders:
            self.elements[f"feeder:{f}"] = ElementState(f"feeder:{f}")
        for t in self.inv.transformers:
            self.elements[f"transformer:{t}"] = ElementState(f"transformer:{t}")
        for s in self.inv.substations:
            self.elements[f"substation:{s}"] = ElementState(
                f"substation:{s}", reason="no feeder state yet", source="derived"
            )
        self.notices: dict[str, Notice] = {}
        self.moves = 0  # bumped by every state change and notice: a snapshot differs in more than readings
        self.gateways: dict[str, dict] = {}
        self.events: list[GridEvent] = []  # recent, bounded
        self.listeners: list[Callable[[GridEvent], None]] = []
        self.notice_listeners: list[Callable[[str, Notice | None], None]] = []

    # --- evidence in ----------------------------------------------------------------------------
    def power_of(self, r: Reading) -> tuple[str, str]:
        kind = r.element.partition(":")[0]
        nominal = self.nominal_v.get(kind, 0.0)
        if r.breaker_closed is False:
            return DEENERGIZED, "breaker open"
        if r.voltage_v is None:
            return (ENERGIZED, "breaker closed") if r.breaker_closed else (UNKNOWN, "no voltage in reading")
        if r.voltage_v < self.energized_ratio * nominal:
            return DEENERGIZED, f"voltage {r.voltage_v:g} V (nominal {nominal:g} V)"
        return ENERGIZED, f"voltage {r.voltage_v:g} V"

    def observe(self, readings: Iterable[Reading]) -> list[GridEvent]:
        out: list[GridEvent] = []
        now = self.clock()
        with self._lock:
            touched_subs = set()
            for r in readings:
                st = self.elements.get(r.element)
                if st is None:
                    continue
                st.readings += 1
                st.last_seen = now
                if st.last_ts is not None and r.ts < st.last_ts:
                    continue  # late or replayed: stored, but does not move the state back
                st.last_ts = r.ts
                st.voltage_v = r.voltage_v
                st.breaker_closed = r.breaker_closed
                st.source = r.source
                if r.gateway:
                    st.gateway = r.gateway
                power, why = self.power_of(r)
                if power == UNKNOWN:
                    continue
                st.last_power = power
                if power != st.state:
                    out.append(self._move(st, power, r.ts, why, "telemetry"))
                    if r.element.startswith("feeder:"):
                        touched_subs.add(self.inv.feeders[r.element[7:]].substation)
            for s in touched_subs:
                ev = self._derive_substation(s)
                if ev:
                    out.append(ev)
        self._emit(out)
        return out

    def telemetry_lost(self, elements: Iterable[str], at: float, reason: str, source: str) -> list[GridEvent]:
        out = []
        with self._lock:
            subs = set()
            for e in elements:
                st = self.elements.get(e)
                if st is None or st.state == UNKNOWN:
                    continue
                out.append(self._move(st, UNKNOWN, at, reason, source))
                if e.startswith("feeder:"):
                    subs.add(self.inv.feeders[e[7:]].substation)
            for s in subs:
                ev = self._derive_substation(s)
                if ev:
                    out.append(ev)
        self._emit(out)
        return out

    def gateway_status(self, gateway: str, online: bool, at: float) -> list[GridEvent]:
        with self._lock:
            self.gateways[gateway] = {"online": online, "since": at}
            if online:
                return []
            members = [e for e, st in self.elements.items() if st.gateway == gateway]
        return self.telemetry_lost(members, at, f"gateway {gateway} offline (MQTT last will)", "lwt")

    def tick(self) -> list[GridEvent]:
        """Declare telemetry lost for elements whose last reading is too old."""
        now = self.clock()
        with self._lock:
            stale = [
                e
                for e, st in self.elements.items()
                if st.state != UNKNOWN
                and st.last_seen is not None
                and st.source != "derived"
                and now - st.last_seen > self.stale_after_s
            ]
        if not stale:
            return []
        return self.telemetry_lost(stale, now, f"no telemetry for more than {self.stale_after_s:g} s", "staleness")

    def set_notice(self, notice: Notice) -> None:
        with self._lock:
            old = self.notices.get(notice.element)
            self.notices[notice.element] = notice
            self.moves += 1
        if not old or old.id != notice.id:
            log.info("maintenance notice %s for %s: %s .. %s", notice.id, notice.element, notice.start, notice.end)
            self._emit_notice(notice.element, notice)

    def withdraw_notice(self, element: str) -> None:
        with self._lock:
            old = self.notices.pop(element, None)
            self.moves += 1
        if old:
            self._emit_notice(element, None)

    def _emit_notice(self, element: str, notice: Notice | None) -> None:
        for fn in self.notice_listeners:
            try:
                fn(element, notice)
            except Exception:
                log.exception("notice listener failed for %s", element)

    # --- queries (the explainer, the API) -------------------------------------------------------
    def state(self, element: str) -> ElementState:
        return self.elements[element]

    def notices_for(self, element: str, at: float | None = None) -> list[Notice]:
        with self._lock:
            out = [n for n in self.notices.values() if n.element == element]
        return [n for n in out if at is None or n.active(at)]

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for e, st in self.elements.items():
                kind = e.partition(":")[0]
                out.setdefault(kind, {ENERGIZED: 0, DEENERGIZED: 0, UNKNOWN: 0})[st.state] += 1
        return out

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "counts": self.counts(),
                "elements": {e: st.view() for e, st in self.elements.items()},
                "notices": [asdict(n) for n in self.notices.values()],
                "gateways": dict(self.gateways),
            }

    # --- internals ------------------------------------------------------------------------------
    def _move(self, st: ElementState, new: str, at: float, reason: str, source: str) -> GridEvent:
        ev = GridEvent(st.element, at, st.state, new, reason, source)
        st.state, st.since, st.reason = new, at, reason
        if new == UNKNOWN or ev.old == UNKNOWN or st.element.startswith("substation:"):
            log.info("%s %s -> %s (%s)", st.element, ev.old, new, reason)
        else:
            log.warning("%s %s -> %s (%s)", st.element, ev.old, new, reason)
        self.events.append(ev)
        self.moves += 1
        if len(self.events) > 10000:
            del self.events[:5000]
        return ev

    def _derive_substation(self, sid: str) -> GridEvent | None:
        feeders = self.inv.feeders_of_substation.get(sid, [])
        states = [self.elements[f"feeder:{f}"] for f in feeders]
        known = [s for s in states if s.state != UNKNOWN]
        st = self.elements[f"substation:{sid}"]
        if any(s.state == ENERGIZED for s in known):
            new, why = ENERGIZED, f"{sum(s.state == ENERGIZED for s in known)} of {len(states)} feeders energized"
        elif known:
            new, why = DEENERGIZED, f"all {len(known)} feeders with telemetry de-energized"
            if len(known) < len(states):
                why += f" ({len(states) - len(known)} without telemetry)"
        else:
            new, why = UNKNOWN, "no feeder telemetry"
        if new == st.state:
            st.reason = why
            return None
        at = max((s.since or 0) for s in states) if states else self.clock()
        return self._move(st, new, at, why, "derived")

    def _emit(self, events: list[GridEvent]) -> None:
        for ev in events:
            for fn in self.listeners:
                try:
                    fn(ev)
                except Exception:  # a listener's bug must not stop the state machine
                    log.exception("grid event listener failed for %s", ev)
