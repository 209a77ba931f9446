"""A city's elements split over its collecting nodes (docs/operations.md, "Adding a node").

Every node with the ``collect`` role heartbeats its membership (store/cluster.py ``Members``) and
polls the hotspots and switches that rendezvous hashing gives it among the live members. A member
whose heartbeat stops is gone after the membership ttl; its share moves to the others at their
next poll. When the set of members changes, the node that had an element keeps polling it for a
grace period (one poll interval) while the new owner starts: no gap at a join, no element polled
twice per cycle once the handover is done. A node taking elements over starts their health from
the live view their previous owner wrote (state, since, last good answer), so a takeover is not a
fresh "unknown" for the explainer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Callable

from store.cluster import Members, owner

log = logging.getLogger("pantau.sharding")


class Sharding:
    def __init__(self, members: Members, elements: list[str], grace_s: float, heartbeat_s: float = 1.0):
        self.members = members
        self.node = members.node
        self.elements = list(elements)
        self.grace_s = grace_s
        self.heartbeat_s = heartbeat_s
        self.nodes: list[str] = []  # none known until the first update (then at least this node)
        self.prev: dict[str, str] = {}
        self.changed_at = 0.0
        self._owner: dict[str, str] = {}
        self.on_change: list[Callable[[set[str], set[str]], None]] = []  # (taken, given) element sets
        self.changes = 0
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()

    def owns(self, element: str) -> bool:
        who = self._owner.get(element)
        if who == self.node:
            return True
        # handing over: the previous owner keeps it for the grace period
        return self.prev.get(element) == self.node and time.monotonic() - self.changed_at < self.grace_s

    def share(self) -> int:
        return sum(1 for e in self.elements if self._owner.get(e) == self.node)

    def update(self, nodes: list[str]) -> bool:
        """Apply a new set of live members; True when ownership changed."""
        nodes = sorted(set(nodes) | {self.node})
        if nodes == self.nodes:
            return False
        old_nodes, self.nodes = self.nodes, nodes
        self.prev = self._owner
        self._owner = {e: owner(e, nodes) or self.node for e in self.elements}
        self.changed_at = time.monotonic()
        self.changes += 1
        taken = {e for e, n in self._owner.items() if n == self.node and self.prev.get(e) != self.node}
        given = {e for e, n in self.prev.items() if n == self.node and self._owner[e] != self.node}
        log.warning(
            "members %s -> %s: this node polls %d elements (+%d taken over, -%d handed over after %.0f s)",
            ",".join(old_nodes),
            ",".join(nodes),
            self.share(),
            len(taken),
            len(given),
            self.grace_s,
        )
        for fn in self.on_change:
            try:
                fn(taken, given)
            except Exception:
                log.exception("sharding listener failed")
        return True

    def step(self) -> list[str]:
        """Heartbeat and read the live collecting members (database calls: run in a thread)."""
        self.members.heartbeat({"elements": self.share()})
        return [r["node"] for r in self.members.alive("collect")]

    def start(self) -> None:
        """Heartbeat from a thread of its own: a busy event loop (a collector at full load) must not
        make this node look dead to the others. Membership changes are applied on the loop."""
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._beat, args=(loop,), name="pantau-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self, loop: asyncio.AbstractEventLoop) -> None:
        failing = False
        while not self._halt.is_set():
            try:
                nodes = self.step()
                if failing:
                    log.warning("membership heartbeats written again")
                failing = False
                loop.call_soon_threadsafe(self.update, nodes)
            except RuntimeError:  # the loop is closed: we are stopping
                return
            except Exception as exc:  # the database away: keep polling what we had
                if not failing:
                    log.warning("membership heartbeat failed (keeping the current share): %s", exc)
                failing = True
            self._halt.wait(self.heartbeat_s)

    async def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
        try:
            await asyncio.to_thread(self.members.leave)
        except Exception as exc:
            log.warning("could not leave the membership cleanly: %s", exc)
