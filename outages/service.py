"""The explainer at run time, on one node or several (docs/operations.md).

- :class:`EvidenceWriter` (every collecting node): health, grid and notice events go to the city's
  evidence log in the state database (appended in commit order, :meth:`IncidentStore.append`),
  batched every ``flush_s``; while the database is down or refuses the node they wait in memory
  and go in later, in order.
- :class:`ExplainerService` (nodes with the ``explain`` role): one **active** explainer per city
  holds the lease ``explainer:<city>`` (store/cluster.py). It reads the appended evidence in order,
  feeds it to its :class:`~outages.explainer.Explainer`, answers the explainer's liveness questions
  (``seen`` rows, from the elements' last good answers), re-decides at most every ``debounce_s``
  after new evidence and at least every second, and writes — fenced by the lease, in one
  transaction — its own rows (``after`` = the last appended row it fed), the incident changes,
  their log and the inventory suspects. A **hot standby** holds no lease: it replays the log as
  the active wrote it (appended rows up to each tick's ``after``, then the tick), so at takeover
  it continues with the same incidents under the same ids. A node starting alone catches up the
  same way, so a restart continues where it stopped.

``replay(store.evidence())`` reproduces every decision (rows in the order they were fed).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import asdict
from typing import Callable

from outages.explainer import Explainer, Settings
from outages.store import IncidentStore

log = logging.getLogger("pantau.explainer")

FEEDS = ("health", "grid", "notice")  # appended kinds the explainer feeds; tick/seen/settings are its own


class EvidenceWriter:
    """A collecting node's evidence, appended to the city's log (batched, kept while the database is away)."""

    def __init__(self, store: IncidentStore, node: str = "", flush_s: float = 0.2, max_pending: int = 2_000_000):
        self.store, self.node, self.flush_s, self.max_pending = store, node, flush_s, max_pending
        self.pending: list[tuple[float, str, str, dict]] = []
        self.written = 0
        self.dropped = 0
        self.failing_since: float | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.listeners: list[Callable[[], None]] = []  # told after each append (a local explainer wakes)

    def add(self, at: float, kind: str, element: str, data: dict) -> None:
        if len(self.pending) >= self.max_pending:
            self.dropped += 1  # never silently: counted in the status
            return
        self.pending.append((at, kind, element, data))
        self._wake.set()

    def on_health(self, ev) -> None:
        if ev.kind in ("state", "suspect", "clear", "reboot"):
            data = ev.as_dict()  # the event as the tracker says it (first_fail with a down)
            del data["element"], data["at"]
            self.add(ev.at, "health", ev.element, data)

    def on_grid(self, ev) -> None:
        self.add(ev.at, "grid", ev.element, {"old": ev.old, "new": ev.new, "reason": ev.reason, "source": ev.source})

    def on_notice(self, element: str, notice) -> None:
        self.add(time.time(), "notice", element, asdict(notice) if notice else {})

    def flush(self) -> bool:
        """Append what is pending; False (kept for the next try) when the database refused."""
        if not self.pending:
            return True
        # a copy: this runs in a thread while the loop keeps adding to self.pending; the list itself
        # as the batch lost every row added during the database call (sliced away unwritten)
        n = len(self.pending)
        batch = self.pending[:n]
        try:
            self.store.append(batch, self.node)
        except Exception as exc:
            if self.failing_since is None:
                self.failing_since = time.time()
                log.warning("cannot append evidence (%d waiting, kept): %s", len(batch), exc)
            return False
        if self.failing_since is not None:
            log.warning("evidence appended again after %.0f s", time.time() - self.failing_since)
            self.failing_since = None
        del self.pending[:n]  # only what was written; rows added meanwhile stay for the next flush
        self.written += n
        for fn in self.listeners:
            fn()
        return True

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.to_thread(self.flush)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), 1.0)
                await asyncio.sleep(self.flush_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            ok = await asyncio.to_thread(self.flush)
            if not ok:
                await asyncio.sleep(1.0)

    def status(self) -> dict:
        return {
            "pending": len(self.pending),
            "written": self.written,
            "dropped": self.dropped,
            "failing_since": self.failing_since,
        }


class ExplainerService:
    def __init__(
        self,
        inv,
        store: IncidentStore,
        settings: Settings,
        debounce_s: float = 0.2,
        listeners=(),
        last_seen: Callable[[list[str]], dict[str, float]] | None = None,
        leases=None,
        node: str = "",
    ):
        self.inv = inv
        self.store = store
        self.settings = settings
        self.node = node
        # element ids -> when the poll of each one's last good answer was sent (the explainer asks
        # for it as evidence when it would say a hotspot stayed up)
        self.last_seen = last_seen
        self.leases = leases  # store.cluster.Leases, or None: the only explainer (no lease to hold)
        self.lease = f"explainer:{inv.city}"
        self.debounce_s = debounce_s
        self.listeners = list(listeners)  # called with (changed incidents, log) — alerts, API
        self.on_active: list[Callable[[bool, list[dict]], None]] = []  # (active, incidents) at each change
        self.active = False
        self.took_over_at: float | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._frozen_at: float | None = None  # stopping: decisions stay at this moment (freeze)
        self._lease_thread: threading.Thread | None = None
        self._halt = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._held = False  # this node holds the city's lease (kept by _keep_lease)
        self._calls: list[tuple[Callable, tuple]] = []
        self.tick_ms_last = self.tick_ms_max = 0.0  # the decision's CPU time (bench/scale.py)
        self._fresh()

    def _fresh(self) -> None:
        """An explainer with nothing fed yet (the log is then read from its first row)."""
        self._changed: list = []
        self._log: list = []
        self._suspects: list[dict] = []
        self.ex = Explainer(self.inv, self.settings, on_change=self._collect)
        self.ex.suspects.load(self.store.inventory_suspects())  # they accumulate across restarts
        self.read_seq = 0  # every row up to here was read
        self.fed_seq = 0  # the last appended row fed to the explainer
        self.held: list[dict] = []  # appended rows read but not fed yet (standby: waiting for a tick)
        self.own: list[tuple] = [(time.time(), "settings", "", asdict(self.settings), None)]  # to write (5-tuples)

    def _collect(self, incidents, log_rows) -> None:
        self._changed += [i.row() for i in incidents]
        self._log += log_rows

    def wake(self) -> None:
        self._wake.set()

    # --- loop -----------------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run())
        if self.leases is not None:
            self._lease_thread = threading.Thread(target=self._keep_lease, name="pantau-lease", daemon=True)
            self._lease_thread.start()

    def _keep_lease(self) -> None:
        """Hold (or try to take) the city's lease every ttl/3 from a thread of its own, apart from
        the decisions and the event loop: a long catch-up, a slow round or a busy loop never lets
        the lease lapse while this node is alive."""
        assert self.leases is not None
        while not self._halt.is_set():
            try:
                self._held = self.leases.acquire(self.lease)
            except Exception as exc:  # the database away: nobody can take it meanwhile
                log.warning("explainer lease %s: %s", self.lease, exc)
            if self._held != self.active and self._loop is not None:
                try:
                    self._loop.call_soon_threadsafe(self._wake.set)
                except RuntimeError:  # the loop is closed: stopping
                    return
            self._halt.wait(self.leases.ttl_s / 3)

    async def freeze(self) -> None:
        """Stop deciding on the clock: the node is stopping its collectors, so from now on hotspots
        are no longer polled back up and the mirror only ages (a hotspot whose recovery poll never
        comes would look like a broken device). The last decision (:meth:`stop`) is taken at this
        moment. Called first when the node shuts down."""
        if self._frozen_at is None:
            self._frozen_at = time.time()
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def stop(self) -> None:
        self._halt.set()
        await self.freeze()
        if self._lease_thread is not None:
            await asyncio.to_thread(self._lease_thread.join, 5)
        if self.active:
            await asyncio.to_thread(self.decide)
            self.run_calls()
            if self.leases is not None:
                await asyncio.to_thread(self.leases.release, self.lease)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), 1.0)
                await asyncio.sleep(self.debounce_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                await asyncio.to_thread(self.step)  # database calls off the loop
            except Exception:  # a bug or the database away: the next round tries again
                log.exception("explainer round failed")
                await asyncio.sleep(1.0)
            self.run_calls()

    def run_calls(self) -> None:
        """The listeners' calls a round queued, run on the caller's thread (the event loop: the
        alert router is not shared with the database thread)."""
        calls, self._calls = self._calls, []
        for fn, args in calls:
            try:
                fn(*args)
            except Exception:
                log.exception("explainer listener failed")

    def step(self) -> None:
        """One round: decide while holding the lease, or follow the active explainer as a standby."""
        if self.leases is not None and self._task is None:  # driven by hand (tests): take the lease here
            self._held = self.leases.acquire(self.lease)
        if self.leases is not None:
            if self._held and not self.active:
                self._become_active()
            elif not self._held and self.active:
                log.warning("explainer of %s: lease lost; standing by", self.inv.city)
                self._set_active(False)
                self._fresh()
        elif not self.active:
            self._become_active()
        if self.active:
            self.decide()
        else:
            self.follow()

    # --- standby ---------------------------------------------------------------------------------
    def follow(self) -> int:
        """Replay what the active explainer wrote since the last call; returns rows read."""
        n = 0
        while True:
            rows = self.store.evidence_after(self.read_seq)
            if not rows:
                return n
            for r in rows:
                self.read_seq = r["seq"]
                if r["after"] is None:
                    self.held.append(r)
                    continue
                # the active explainer's own row: everything appended up to its 'after' was fed first
                upto = r["after"]
                while self.held and self.held[0]["seq"] <= upto:
                    self._feed(self.held.pop(0))
                if r["kind"] == "tick":
                    self.ex.tick(r["at"])
                elif r["kind"] == "seen":
                    self.ex.feed(r["at"], "health", r["element"], r["data"])
            self._changed, self._log, self._suspects = [], [], []
            self.ex.suspects.take_changed()
            n += len(rows)

    def _feed(self, r: dict) -> None:
        if r["kind"] in FEEDS:
            self.ex.feed(r["at"], r["kind"], r["element"], r["data"])
        self.fed_seq = r["seq"]

    def _become_active(self) -> None:
        t0 = time.monotonic()
        self.follow()  # everything the previous holder wrote
        while self.held:  # appended rows it may have fed without a decision to store: feed them now
            self._feed(self.held.pop(0))
        self.active = True
        self.took_over_at = time.time()
        log.warning(
            "explainer of %s active on %s (caught up in %.2f s; %d incidents known, %d open)",
            self.inv.city,
            self.node or "this node",
            time.monotonic() - t0,
            len(self.ex.incidents),
            len(self.ex.open_incidents()),
        )
        self._set_active(True)

    def _set_active(self, active: bool) -> None:
        self.active = active
        rows = [i.row() for i in self.ex.incidents.values()]
        self._calls += [(fn, (active, rows)) for fn in self.on_active]

    # --- active ---------------------------------------------------------------------------------
    def _answer_liveness(self) -> None:
        """Good answers the last decision asked about become evidence (stored, so replay agrees)."""
        if self.last_seen is None:
            return
        wanted = self.ex.liveness_wanted()
        if not wanted:
            return
        seen = self.last_seen(sorted(wanted))
        for h, dark_at in sorted(wanted.items()):
            t = seen.get(h)
            if t is not None and t > dark_at:
                data = {"kind": "seen", "at": t}
                self.ex.feed(t, "health", h, data)
                self.own.append((t, "seen", h, data, self.fed_seq))

    def decide(self) -> None:
        while True:  # read everything appended since (and skip this node's own rows)
            rows = self.store.evidence_after(self.read_seq)
            if not rows:
                break
            for r in rows:
                self.read_seq = r["seq"]
                if r["after"] is None:
                    self._feed(r)
        self._answer_liveness()
        now = time.time() if self._frozen_at is None else max(self._frozen_at, self.ex.now or 0.0)
        t_tick = time.perf_counter()
        try:
            changed = self.ex.tick(now)
        except Exception:  # a bug in one decision must not stop the next ones
            log.exception("explainer tick failed")
            changed = False
        ms = (time.perf_counter() - t_tick) * 1000
        self.tick_ms_last, self.tick_ms_max = ms, max(self.tick_ms_max, ms)
        if changed:
            self.own.append((self.ex.now, "tick", "", {}, self.fed_seq))
        self._suspects += self.ex.suspects.take_changed()
        if not (self.own or self._changed or self._log or self._suspects):
            return
        changed_rows, logrows, suspects, own = self._changed, self._log, self._suspects, self.own
        self._changed, self._log, self._suspects, self.own = [], [], [], []
        fence = self.leases.fence(self.lease) if self.leases is not None else None
        try:
            self.store.write(own, changed_rows, logrows, suspects, node=self.node, fence=fence)
        except Exception as exc:
            from store.cluster import LeaseLost

            if isinstance(exc, LeaseLost):
                log.warning("explainer of %s: %s; its last decisions are dropped, standing by", self.inv.city, exc)
                self._held = False
                self._set_active(False)
                self._fresh()
                return
            log.warning("could not store incidents (kept in memory, retried): %s", exc)
            self._changed, self._log = changed_rows + self._changed, logrows + self._log
            self._suspects = suspects + self._suspects
            self.own = own + self.own
            return
        if changed_rows or logrows:
            self._calls += [(fn, (changed_rows, logrows)) for fn in self.listeners]

    def status(self) -> dict:
        open_ = self.ex.open_incidents() if self.active else []
        return {
            "active": self.active,
            "took_over_at": self.took_over_at,
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
            "read_seq": self.read_seq,
            "fed_seq": self.fed_seq,
            "tick_ms_last": round(self.tick_ms_last, 3),
            "tick_ms_max": round(self.tick_ms_max, 3),
        }
