"""Pantau's nodes in the state database: who is alive (``members``) and who holds what (``leases``)
— node state and failover through the database Pantau already has (Zabbix HA's way), never a
cluster protocol of its own.

- A **member** row per (node, city) with its roles and a heartbeat every ``heartbeat_s``; a member
  whose heartbeat is older than ``ttl_s`` is gone. Collecting nodes split a city's elements over the
  live members by rendezvous hashing (:func:`owner`): each element goes to the member with the
  highest hash of (element, node), so a member joining or leaving moves only its own share.
- A **lease** is a named row (``explainer:<city>``) with a holder, an ``epoch`` bumped on every new
  holder and an expiry; the holder renews it, anyone takes it once it expired. Writes that only
  the holder may make check it in their own transaction (:meth:`Leases.fence`): a holder that
  paused past its expiry cannot write over its successor.

Times are the database server's clock on PostgreSQL (nodes' clocks may differ), the local clock
on SQLite (one machine).
"""

from __future__ import annotations

import hashlib
import json
import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store.db import Database, leases, members


class LeaseLost(RuntimeError):
    """This node no longer holds the lease it wrote under (another node took it over)."""


def db_now(db: Database, conn: Connection) -> float:
    if db.kind == "postgresql":
        return float(conn.execute(sa.text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")).scalar() or 0.0)
    return time.time()


def owner(element: str, nodes: list[str]) -> str | None:
    """Rendezvous (highest random weight) hashing: the node that owns ``element``."""
    best, best_w = None, -1
    for n in nodes:
        w = int.from_bytes(hashlib.blake2b(f"{n}\x00{element}".encode(), digest_size=8).digest(), "big")
        if w > best_w:
            best, best_w = n, w
    return best


class Members:
    def __init__(self, db: Database, city: str, node: str, roles: list[str], ttl_s: float = 6.0):
        self.db, self.city, self.node, self.roles, self.ttl_s = db, city, node, sorted(roles), ttl_s
        self.started_at = time.time()

    def heartbeat(self, info: dict | None = None) -> None:
        with self.db.tx() as conn:
            now = db_now(self.db, conn)
            row = {
                "node": self.node,
                "city": self.city,
                "roles": ",".join(self.roles),
                "started_at": self.started_at,
                "heartbeat_at": now,
                "info": json.dumps(info or {}),
            }
            conn.execute(
                self.db.upsert(members, [row], ["node", "city"], ["roles", "heartbeat_at", "info"]).values(row)
            )

    def leave(self) -> None:
        """A clean stop: the others take this node's share at once, not after the ttl."""
        with self.db.tx() as conn:
            conn.execute(members.delete().where(members.c.node == self.node, members.c.city == self.city))

    def alive(self, role: str | None = None) -> list[dict]:
        """Live members of the city (heartbeat within ttl), oldest first."""
        with self.db.read() as conn:
            now = db_now(self.db, conn)
            rows = [
                dict(r._mapping)
                for r in conn.execute(
                    sa.select(members).where(members.c.city == self.city, members.c.heartbeat_at >= now - self.ttl_s)
                )
            ]
        if role:
            rows = [r for r in rows if role in r["roles"].split(",")]
        return sorted(rows, key=lambda r: (r["started_at"], r["node"]))


class Leases:
    def __init__(self, db: Database, node: str, ttl_s: float = 5.0):
        self.db, self.node, self.ttl_s = db, node, ttl_s
        self.epochs: dict[str, int] = {}  # lease name -> the epoch this node holds it under

    def acquire(self, name: str) -> bool:
        """Take or renew ``name``; True when this node holds it now."""
        with self.db.tx() as conn:
            now = db_now(self.db, conn)
            row = conn.execute(sa.select(leases).where(leases.c.name == name)).first()
            if row is None:
                ins = self.db.upsert(leases, [], ["name"], []).values(
                    name=name, holder=self.node, epoch=1, expires_at=now + self.ttl_s, acquired_at=now
                )
                conn.execute(ins)
                row = conn.execute(sa.select(leases).where(leases.c.name == name)).first()
                if row is not None and row.holder == self.node:
                    self.epochs[name] = row.epoch
                    return True
                return False
            if row.holder == self.node and self.epochs.get(name) == row.epoch:
                conn.execute(leases.update().where(leases.c.name == name).values(expires_at=now + self.ttl_s))
                return True
            if row.expires_at >= now:
                self.epochs.pop(name, None)
                return False
            n = conn.execute(
                leases.update()
                .where(leases.c.name == name, leases.c.epoch == row.epoch)
                .values(holder=self.node, epoch=row.epoch + 1, expires_at=now + self.ttl_s, acquired_at=now)
            ).rowcount
            if n == 1:
                self.epochs[name] = row.epoch + 1
                return True
            return False

    def fence(self, name: str):
        """A check for a write transaction: raises :class:`LeaseLost` unless this node still holds
        ``name`` under its epoch (and renews it)."""

        def check(conn: Connection) -> None:
            epoch = self.epochs.get(name)
            if epoch is None:
                raise LeaseLost(f"{self.node} does not hold {name}")
            now = db_now(self.db, conn)
            n = conn.execute(
                leases.update()
                .where(leases.c.name == name, leases.c.holder == self.node, leases.c.epoch == epoch)
                .values(expires_at=now + self.ttl_s)
            ).rowcount
            if n != 1:
                self.epochs.pop(name, None)
                raise LeaseLost(f"{self.node} lost {name} (epoch {epoch})")

        return check

    def release(self, name: str) -> None:
        """Give ``name`` up at once (a clean stop: the standby takes over without waiting out the ttl)."""
        epoch = self.epochs.pop(name, None)
        if epoch is None:
            return
        with self.db.tx() as conn:
            conn.execute(
                leases.update()
                .where(leases.c.name == name, leases.c.holder == self.node, leases.c.epoch == epoch)
                .values(expires_at=0.0)
            )

    def holder(self, name: str) -> dict | None:
        rows = self.db.rows(sa.select(leases).where(leases.c.name == name))
        return rows[0] if rows else None
