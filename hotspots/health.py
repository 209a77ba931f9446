"""Per-element health with hysteresis: up, degraded, down (and unknown before the first poll).

- ``fail_threshold`` (N) consecutive failed polls take an element down; ``recover_threshold``
  (M) consecutive good polls bring it back up. In between it keeps its state (and says so in
  ``reason``), so one lost UDP packet never pages anyone.
- A good poll with problems (slow answer, radio down, partial data, high CPU) is ``degraded``.
- Traps act at once: a linkDown on the element's switch port takes it down now; a coldStart or
  warmStart is a reboot (event) and proof of life; linkUp asks for an immediate re-poll.
- The first failed poll of an answering element is a ``suspect`` event (state unchanged): one
  lost packet pages nobody, but many elements turning suspect together is early evidence the
  explainer uses. Every transition is an :class:`HealthEvent` (with timestamp, from, to and reason) given to the
  listeners — the time-series store and the outage explainer — and logged. Failed polls that
  change nothing are not logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger("pantau.health")

UNKNOWN, UP, DEGRADED, DOWN = "unknown", "up", "degraded", "down"


@dataclass(frozen=True)
class HealthEvent:
    element: str  # "hotspot:AP-0042", "switch:SW-TBL-01"
    at: float  # epoch seconds
    kind: str  # "state" | "reboot" | "trap" | "suspect" | "clear" (answering again before down)
    old: str = ""
    new: str = ""
    reason: str = ""
    source: str = "poll"  # "poll" | "trap"
    first_fail: float | None = None  # a "down": when this tracker's run of failed polls began

    def as_dict(self) -> dict:
        d = {
            "element": self.element,
            "at": self.at,
            "kind": self.kind,
            "old": self.old,
            "new": self.new,
            "reason": self.reason,
            "source": self.source,
        }
        if self.first_fail is not None:
            d["first_fail"] = self.first_fail
        return d


@dataclass
class Health:
    state: str = UNKNOWN
    since: float = 0.0
    last_seen: float | None = None  # last good answer
    last_poll: float | None = None
    fails: int = 0
    goods: int = 0
    reasons: list[str] = field(default_factory=list)
    last_error: str = ""
    last_reboot: float | None = None
    first_fail: float | None = None  # the poll that began the current run of failures


class HealthTracker:
    def __init__(self, fail_threshold: int = 3, recover_threshold: int = 2):
        if fail_threshold < 1 or recover_threshold < 1:
            raise ValueError("thresholds must be >= 1")
        self.fail_threshold = fail_threshold
        self.recover_threshold = recover_threshold
        self.elements: dict[str, Health] = {}
        self.listeners: list[Callable[[HealthEvent], None]] = []

    def get(self, element: str) -> Health:
        h = self.elements.get(element)
        if h is None:
            h = self.elements[element] = Health()
        return h

    def counts(self) -> dict[str, int]:
        out = {UNKNOWN: 0, UP: 0, DEGRADED: 0, DOWN: 0}
        for h in self.elements.values():
            out[h.state] += 1
        return out

    def _emit(self, ev: HealthEvent) -> None:
        if ev.kind == "state":
            lvl = logging.WARNING if ev.new == DOWN else logging.DEBUG if ev.old == UNKNOWN else logging.INFO
            log.log(lvl, "%s %s -> %s (%s)", ev.element, ev.old, ev.new, ev.reason)
        elif ev.kind == "reboot":
            log.info("%s rebooted (%s)", ev.element, ev.reason)
        for fn in self.listeners:
            try:
                fn(ev)
            except Exception:  # a broken listener must not stop health tracking
                log.exception("health listener failed on %s", ev)

    def _set(self, element: str, h: Health, new: str, at: float, reason: str, source: str) -> HealthEvent | None:
        if h.state == new:
            return None
        first = (h.first_fail if h.first_fail is not None else at) if new == DOWN else None
        ev = HealthEvent(element, at, "state", h.state, new, reason, source, first)
        h.state = new
        h.since = at
        self._emit(ev)
        return ev

    def observe(
        self, element: str, ok: bool, at: float, error: str = "", problems: list[str] | None = None
    ) -> HealthEvent | None:
        """Record one poll result; returns the state change it caused, if any. ``at`` is when the
        poll was sent: a result older than one already recorded is history, not news (a poll that
        waited out its timeouts while a newer one was answered says nothing about the device now —
        taken as a failure, it dated a hotspot's darkness seconds before its feeder tripped)."""
        h = self.get(element)
        if h.last_poll is not None and at < h.last_poll:
            return None
        h.last_poll = at
        if ok:
            if h.fails and h.state != DOWN:  # the failed poll(s) before were lost answers: say so once
                self._emit(
                    HealthEvent(
                        element, at, "clear", h.state, h.state, f"answered after {h.fails} failed poll(s)", "poll"
                    )
                )
            h.last_seen = at
            h.goods += 1
            h.fails = 0
            h.last_error = ""
            h.reasons = list(problems or [])
            target = DEGRADED if problems else UP
            if h.state in (UNKNOWN, UP, DEGRADED) or h.goods >= self.recover_threshold:
                reason = (
                    "; ".join(problems)
                    if problems
                    else ("answering" if h.state == UNKNOWN else f"{h.goods} good polls in a row")
                )
                return self._set(element, h, target, at, reason, "poll")
            h.reasons = [f"recovering: {h.goods}/{self.recover_threshold} good polls"]
            return None
        h.fails += 1
        if h.fails == 1:
            h.first_fail = at
        h.goods = 0
        h.last_error = error
        if h.state == DOWN:
            return None
        if h.fails >= self.fail_threshold:
            h.reasons = [error]
            return self._set(element, h, DOWN, at, f"{h.fails} failed polls: {error}", "poll")
        h.reasons = [f"failing: {h.fails}/{self.fail_threshold} ({error})"]
        if h.fails == 1:
            self._emit(HealthEvent(element, at, "suspect", h.state, h.state, f"failed poll: {error}", "poll"))
        return None

    def link_down(self, element: str, at: float, detail: str) -> HealthEvent | None:
        h = self.get(element)
        h.goods = 0
        if not h.fails:
            h.first_fail = at
        h.fails = max(h.fails, self.fail_threshold)
        h.reasons = [detail]
        self._emit(HealthEvent(element, at, "trap", h.state, h.state, detail, "trap"))
        return self._set(element, h, DOWN, at, detail, "trap")

    def rebooted(
        self, element: str, at: float, detail: str, source: str = "poll", dedupe_s: float = 300.0
    ) -> HealthEvent | None:
        """A reboot is news (an event) and proof of life: a booted device answers again. The
        coldStart trap and the sysUpTime drop seen by the next poll are one reboot, one event."""
        h = self.get(element)
        if source == "poll" and h.last_reboot is not None and at - h.last_reboot < dedupe_s:
            return None
        h.last_reboot = at
        ev = HealthEvent(element, at, "reboot", h.state, h.state, detail, source)
        self._emit(ev)
        if source == "trap":
            h.last_seen = at
            h.fails = 0
            h.goods = max(h.goods, self.recover_threshold)
            self._set(element, h, UP, at, detail, "trap")
        return ev

    def trap(self, element: str, at: float, detail: str) -> None:
        """Other traps (linkUp): recorded as events; the caller re-polls."""
        h = self.get(element)
        self._emit(HealthEvent(element, at, "trap", h.state, h.state, detail, "trap"))
