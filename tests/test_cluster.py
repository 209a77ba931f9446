"""Nodes through the state database (store/cluster.py, outages/service.py): leases with fencing,
rendezvous ownership, the evidence log in commit order, one active explainer and a hot standby
that takes over with the same incidents. Runs on SQLite and, with PANTAU_TEST_DATABASE=postgresql,
on PostgreSQL (the real multi-machine case)."""

from __future__ import annotations

import time

import pytest

from outages.explainer import Settings, replay
from outages.service import EvidenceWriter, ExplainerService
from outages.store import IncidentStore, replay_order
from store.cluster import LeaseLost, Leases, Members, owner
from store.db import open_database

pytestmark = pytest.mark.unit

SET = Settings(poll_interval_s=3, telemetry_interval_s=1, reopen_s=60, boot_s=6)


def test_rendezvous_moves_only_the_leaving_nodes_share():
    els = [f"hotspot:AP-{i:04d}" for i in range(2300)]
    three = {e: owner(e, ["a", "b", "c"]) for e in els}
    two = {e: owner(e, ["a", "c"]) for e in els}
    shares = {n: sum(1 for v in three.values() if v == n) for n in "abc"}
    assert all(600 < v < 930 for v in shares.values()), shares  # about a third each
    moved = [e for e in els if three[e] != two[e]]
    assert moved and all(three[e] == "b" for e in moved)  # only b's hotspots moved
    assert owner("x", []) is None


def test_leases_fence_a_paused_holder(database):
    db = open_database(database)
    a, b = Leases(db, "node-a", ttl_s=1.0), Leases(db, "node-b", ttl_s=1.0)
    assert a.acquire("explainer:semarang") and not b.acquire("explainer:semarang")
    with db.tx() as conn:
        a.fence("explainer:semarang")(conn)  # still the holder: passes (and renews)
    time.sleep(1.3)  # a pauses past its expiry
    assert b.acquire("explainer:semarang")
    with pytest.raises(LeaseLost), db.tx() as conn:
        a.fence("explainer:semarang")(conn)
    assert b.holder("explainer:semarang")["holder"] == "node-b"
    b.release("explainer:semarang")
    assert a.acquire("explainer:semarang")  # released: taken at once


def test_members_heartbeat_and_leave(database):
    db = open_database(database)
    m1 = Members(db, "semarang", "n1", ["collect"], ttl_s=1.0)
    m2 = Members(db, "semarang", "n2", ["collect", "explain"], ttl_s=1.0)
    m1.heartbeat()
    m2.heartbeat()
    assert [r["node"] for r in m1.alive()] == ["n1", "n2"]
    assert [r["node"] for r in m1.alive("explain")] == ["n2"]
    m2.leave()
    assert [r["node"] for r in m1.alive()] == ["n1"]
    time.sleep(1.2)
    assert m1.alive() == []


def test_replay_order_puts_own_rows_where_they_were_fed():
    rows = [(1, None), (2, None), (5, 1), (3, None), (6, 1), (4, None), (7, 4)]
    assert [r[0] for r in replay_order(rows)] == [1, 5, 6, 2, 3, 4, 7]


def _feeder_trip(semarang, w: EvidenceWriter, t0: float, feeder="SRD-04"):
    w.add(t0, "grid", f"feeder:{feeder}", {"new": "de-energized"})
    for t in semarang.transformers_of_feeder[feeder]:
        w.add(t0, "grid", f"transformer:{t}", {"new": "de-energized"})
    for h in semarang.hotspots_below(f"feeder:{feeder}"):
        if semarang.hotspots[h].ups_minutes == 0:
            w.add(t0 + 0.5, "health", f"hotspot:{h}", {"kind": "state", "old": "up", "new": "down"})


def test_standby_takes_over_with_the_same_incident_and_replay_agrees(semarang, database):
    db = open_database(database)
    store = IncidentStore(db, city="semarang")
    writer = EvidenceWriter(store, node="collector-1")
    now = time.time()
    for h in semarang.hotspots:
        writer.add(now - 60, "health", f"hotspot:{h}", {"kind": "state", "old": "unknown", "new": "up"})
    for s in semarang.switches:
        writer.add(now - 60, "health", f"switch:{s}", {"kind": "state", "old": "unknown", "new": "up"})
    for kind in ("feeder", "transformer"):
        for ident in semarang.of_kind(kind):
            writer.add(now - 60, "grid", f"{kind}:{ident}", {"new": "energized"})
    assert writer.flush() and writer.written > 2000
    a = ExplainerService(semarang, store, SET, leases=Leases(db, "a", ttl_s=1.0), node="a")
    b = ExplainerService(semarang, store, SET, leases=Leases(db, "b", ttl_s=1.0), node="b")
    a.step()
    b.step()
    assert a.active and not b.active
    _feeder_trip(semarang, writer, time.time())
    writer.flush()
    deadline = time.time() + 10
    while time.time() < deadline and not a.ex.open_incidents():
        a.step()
        b.step()
        time.sleep(0.1)
    (inc,) = a.ex.open_incidents()
    assert (inc.cause, inc.root) == ("power_grid", "feeder:SRD-04")
    b.step()
    assert b.ex.incidents.keys() == a.ex.incidents.keys()  # the hot standby follows
    # a dies (no release, no more writes): b takes over after the lease's ttl, same incident id
    t_dead = time.time()
    while not b.active and time.time() - t_dead < 5:
        b.step()
        time.sleep(0.05)
    assert b.active and 0.5 < time.time() - t_dead < 3.0
    assert [i.id for i in b.ex.open_incidents()] == [inc.id]
    # the feeder comes back: the same incident closes, decided by b
    writer.add(time.time(), "grid", "feeder:SRD-04", {"new": "energized"})
    for t in semarang.transformers_of_feeder["SRD-04"]:
        writer.add(time.time(), "grid", f"transformer:{t}", {"new": "energized"})
    writer.flush()
    deadline = time.time() + 10
    while time.time() < deadline and b.ex.open_incidents():
        b.step()
        time.sleep(0.1)
    rows = store.incidents()
    assert [(r["id"], r["status"]) for r in rows] == [(inc.id, "closed")]  # one incident, no duplicate
    # a comes back: its writes are refused (fenced) and it stands by
    a.step()
    assert not a.active
    # replay of the stored log reproduces every decision of both nodes
    again = replay(semarang, store.evidence(), SET)
    assert [(i.id, i.cause, i.root, i.status) for i in again.incidents.values()] == [
        (inc.id, "power_grid", "feeder:SRD-04", "closed")
    ]


def test_evidence_waits_while_the_database_refuses_and_arrives_in_order(semarang, database):
    db = open_database(database)
    store = IncidentStore(db, city="semarang")
    w = EvidenceWriter(store, node="n")
    real = store.append
    store.append = lambda rows, node="": (_ for _ in ()).throw(OSError("connection refused"))
    for i in range(5):
        w.add(1000.0 + i, "health", f"hotspot:AP-000{i + 1}", {"kind": "suspect"})
    assert not w.flush() and len(w.pending) == 5 and w.failing_since is not None
    store.append = real
    assert w.flush() and w.pending == [] and w.failing_since is None
    assert [e[0] for e in store.evidence()] == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0]


def test_sharding_splits_hands_over_with_grace_and_never_doubles_in_steady_state(database):
    from pantau.sharding import Sharding

    db = open_database(database)
    els = [f"hotspot:AP-{i:04d}" for i in range(300)]
    a = Sharding(Members(db, "semarang", "a", ["collect"], ttl_s=5), els, grace_s=0.3)
    b = Sharding(Members(db, "semarang", "b", ["collect"], ttl_s=5), els, grace_s=0.3)
    changes = []
    a.on_change.append(lambda taken, given: changes.append((len(taken), len(given))))
    a.update(a.step())
    assert a.share() == 300 and all(a.owns(e) for e in els)  # alone: everything
    b.update(b.step())
    a.update(a.step())  # b joined
    assert changes and changes[-1][0] == 0 and 100 < changes[-1][1] < 200
    both = [e for e in els if a.owns(e) and b.owns(e)]
    assert len(both) == changes[-1][1]  # a keeps b's share for the grace: no gap at the join
    time.sleep(0.35)
    assert not [e for e in els if a.owns(e) and b.owns(e)]  # steady state: each element polled once
    assert all(a.owns(e) or b.owns(e) for e in els)
    b.members.leave()  # b stops: a takes its share back at once
    a.update(a.step())
    assert a.share() == 300 and changes[-1][0] > 100


def test_evidence_added_during_a_flush_is_not_lost():
    """flush() runs in a thread while the event loop keeps adding rows (a burst of trap-driven
    state changes during a slow append): every row reaches the log, in order. The writer once
    sliced away the rows added during the database call without writing them (a scenario run lost
    the six linkDown 'down' events of a failed transformer's hotspots and opened no incident)."""

    class SlowStore:
        def __init__(self):
            self.rows: list = []
            self.during: list = []

        def append(self, batch, node=""):
            values = list(batch)  # the INSERT's values are built first ...
            for row in self.during:  # ... then the loop adds while this thread waits on the commit
                w.add(*row)
            self.during = []
            self.rows += values

    store = SlowStore()
    w = EvidenceWriter(store, node="n")  # type: ignore[arg-type]
    w.add(1.0, "health", "hotspot:AP-0001", {"kind": "suspect"})
    store.during = [(2.0 + i, "health", f"hotspot:AP-000{i + 2}", {"kind": "state", "new": "down"}) for i in range(5)]
    assert w.flush() and w.flush()
    assert [r[0] for r in store.rows] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert w.pending == [] and w.written == 6
