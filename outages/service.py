"""The explainer at run time: listens to health and grid evidence, decides, persists.

Every piece of evidence is fed to the :class:`~outages.explainer.Explainer` as it arrives and
stored (SQLite, :mod:`outages.store`) in the same order; the explainer re-decides at most every
``debounce_s`` after new evidence and at least every second (staleness, windows ending). A tick
that changed an incident is stored too, so ``replay(store.evidence())`` reproduces the incidents.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict
from typing import Callable

from outages.explainer import Explainer, Settings
from outages.store import IncidentStore

log = logging.getLogger("pantau.explainer")


class ExplainerService:
    def __init__(
        self,
        inv,
        store: IncidentStore,
        settings: Settings,
        debounce_s: float = 0.2,
        listeners=(),
        last_seen: Callable[[str], float | None] | None = None,
    ):
        self.inv = inv
        # element -> when the poll of its last good answer was sent (the health tracker knows;
        # the explainer asks for it as evidence when it would say a hotspot stayed up)
        self.last_seen = last_seen
        self.store = store
        self.settings = settings
        self._changed: list = []
        self._log: list = []
        self.ex = Explainer(inv, settings, on_change=self._collect)
        self.ex.suspects.load(store.inventory_suspects())  # they accumulate across restarts
        self._suspects: list[dict] = []
        self.pending: list[tuple[float, str, str, dict]] = [(time.time(), "settings", "", asdict(settings))]
        self.debounce_s = debounce_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.listeners = list(listeners)  # called with (changed incidents, log) — alerts, API (#6)

    def _collect(self, incidents, log_rows) -> None:
        self._changed += [i.row() for i in incidents]
        self._log += log_rows

    # --- evidence -------------------------------------------------------------------------------
    def _add(self, at: float, kind: str, element: str, data: dict) -> None:
        self.ex.feed(at, kind, element, data)
        self.pending.append((at, kind, element, data))
        self._wake.set()

    def on_health(self, ev) -> None:
        if ev.kind in ("state", "suspect", "clear", "reboot"):
            self._add(
                ev.at,
                "health",
                ev.element,
                {"kind": ev.kind, "old": ev.old, "new": ev.new, "reason": ev.reason, "source": ev.source},
            )

    def on_grid(self, ev) -> None:
        self._add(ev.at, "grid", ev.element, {"old": ev.old, "new": ev.new, "reason": ev.reason, "source": ev.source})

    def on_notice(self, element: str, notice) -> None:
        self._add(time.time(), "notice", element, asdict(notice) if notice else {})

    # --- loop -----------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.decide()

    def _answer_liveness(self) -> None:
        """Good answers the last decision asked about become evidence (stored, so replay agrees)."""
        if self.last_seen is None:
            return
        for h, dark_at in sorted(self.ex.liveness_wanted().items()):
            seen = self.last_seen(h)
            if seen is not None and seen > dark_at:
                self._add(seen, "health", h, {"kind": "seen", "at": seen})

    def decide(self) -> None:
        self._answer_liveness()
        now = time.time()
        try:
            changed = self.ex.tick(now)
        except Exception:  # a bug in one decision must not stop the next ones
            log.exception("explainer tick failed")
            changed = False
        if changed:
            self.pending.append((self.ex.now, "tick", "", {}))
        self._suspects += self.ex.suspects.take_changed()
        if self.pending or self._changed or self._log or self._suspects:
            changed, logrows, suspects = self._changed, self._log, self._suspects
            self._changed, self._log, self._suspects = [], [], []
            try:
                self.store.write(self.pending, changed, logrows, suspects)
                self.pending = []
            except Exception:
                log.exception("could not store incidents (kept in memory, retried)")
                self._changed, self._log = changed + self._changed, logrows + self._log
                self._suspects = suspects + self._suspects
                return
            for fn in self.listeners:
                try:
                    fn(changed, logrows)
                except Exception:
                    log.exception("incident listener failed")

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), 1.0)
                await asyncio.sleep(self.debounce_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            self.decide()

    def status(self) -> dict:
        open_ = self.ex.open_incidents()
        return {
            "open": [
                {
                    "id": i.id,
                    "cause": i.cause,
                    "root": i.root,
                    "affected": len(i.affected),
                    "confidence": i.confidence,
                    "opened_at": i.opened_at,
                    "explanation": i.explanation_id,
                }
                for i in sorted(open_, key=lambda i: i.opened_at)
            ],
            "total": len(self.ex.incidents),
        }
