"""Pantau's operational state beside the incidents: API keys (hashed), silences, operators'
acknowledgements and notes, and the alert outbox — in Pantau's state database (:mod:`store.db`:
SQLite by default, PostgreSQL for several machines), shared by every process.

- ``api_keys``: a key is ``pk_<key_id>_<secret>``; only ``sha256(secret)`` is stored, looked up by
  ``key_id`` and compared in constant time. The key itself is shown once, at creation.
- ``silences``: Alertmanager-style matchers (name, value, is_regex, is_equal) + window + comment.
- ``incident_notes``: acknowledgements and notes on incidents (the explainer owns the incident
  itself; people's words live here).
- ``outbox``: every notification to deliver, durable until the receiver accepted it (per city: the
  city's active explainer node routes and delivers).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from store.db import Database, api_keys, incident_notes, open_database, outbox, silences

ROLES = ("viewer", "operator", "admin")

KEY_RE = re.compile(r"^pk_([a-z0-9]{12})_([A-Za-z0-9_-]{32,64})$")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class StateDB:
    def __init__(self, target: Database | str | Path, city: str = ""):
        """``target``: a :class:`Database`, a database URL or a SQLite file path; ``city``: the
        city whose notifications this process enqueues (keys, silences and notes are global)."""
        self.db = target if isinstance(target, Database) else open_database(target)
        self.path = self.db.url
        self.city = city
        self._key_cache: dict[str, tuple[float, dict | None]] = {}  # key -> (checked at, record)
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """The database is shared by the process (:func:`store.db.open_database`); nothing to do."""

    def _changed(self, conn, topic: str) -> None:
        self.db.changed(conn, "*", topic)

    # --- API keys -------------------------------------------------------------------------------
    def create_key(self, name: str, role: str, cities: list[str] | None = None) -> tuple[str, str]:
        """Returns (key_id, the key). The key is not stored and cannot be shown again. ``cities``:
        the cities the key may see (``None``: all)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not name or len(name) > 100:
            raise ValueError("a key needs a name (1–100 characters)")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        with self.db.tx() as conn:
            conn.execute(
                api_keys.insert().values(
                    key_id=key_id,
                    name=name,
                    role=role,
                    hash=_hash(secret),
                    created_at=time.time(),
                    cities=json.dumps(sorted(cities)) if cities else None,
                )
            )
            self._changed(conn, "keys")
        return key_id, f"pk_{key_id}_{secret}"

    def verify_key(self, key: str, cache_s: float = 0.0) -> dict | None:
        """The key's record (key_id, name, role, cities) if the key is valid and not revoked
        (``cache_s``: a verdict this recent is reused — the API's hot path; revocation then
        takes up to that long)."""
        m = KEY_RE.match(key or "")
        if not m:
            return None
        now = time.monotonic()
        if cache_s:
            hit = self._key_cache.get(key)
            if hit and now - hit[0] < cache_s:
                return hit[1]
        rows = self.db.rows(sa.select(api_keys).where(api_keys.c.key_id == m.group(1), api_keys.c.revoked_at.is_(None)))
        rec = None
        if rows and hmac.compare_digest(rows[0]["hash"], _hash(m.group(2))):
            r = rows[0]
            rec = {
                "key_id": r["key_id"],
                "name": r["name"],
                "role": r["role"],
                "cities": json.loads(r["cities"]) if r["cities"] else None,
            }
        if cache_s:
            if len(self._key_cache) > 10_000:
                self._key_cache.clear()
            self._key_cache[key] = (now, rec)
        return rec

    def touch_key(self, key_id: str, every_s: float = 0.0) -> None:
        """Record the key's use (at most once per ``every_s``: not a write per request)."""
        now = time.time()
        if every_s and now - self._touched.get(key_id, 0.0) < every_s:
            return
        self._touched[key_id] = now
        with self.db.tx() as conn:
            conn.execute(api_keys.update().where(api_keys.c.key_id == key_id).values(last_used_at=now))

    def keys(self) -> list[dict]:
        rows = self.db.rows(
            sa.select(
                api_keys.c.key_id,
                api_keys.c.name,
                api_keys.c.role,
                api_keys.c.created_at,
                api_keys.c.revoked_at,
                api_keys.c.last_used_at,
                api_keys.c.cities,
            ).order_by(api_keys.c.created_at)
        )
        for r in rows:
            r["cities"] = json.loads(r["cities"]) if r["cities"] else None
        return rows

    def revoke_key(self, key_id: str) -> bool:
        with self.db.tx() as conn:
            n = conn.execute(
                api_keys.update()
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            ).rowcount
            if n:
                self._changed(conn, "keys")
        self._key_cache.clear()
        return n == 1

    # --- silences -------------------------------------------------------------------------------
    def add_silence(self, matchers: list[dict], starts_at: float, ends_at: float, created_by: str, comment: str) -> str:
        sid = str(uuid.uuid4())
        with self.db.tx() as conn:
            conn.execute(
                silences.insert().values(
                    id=sid,
                    matchers=json.dumps(matchers),
                    starts_at=starts_at,
                    ends_at=ends_at,
                    created_by=created_by,
                    comment=comment,
                    created_at=time.time(),
                )
            )
            self._changed(conn, "silences")
        return sid

    def silences(self, active_at: float | None = None) -> list[dict]:
        rows = self.db.rows(sa.select(silences).order_by(silences.c.created_at))
        now = time.time()
        out = []
        for r in rows:
            r["matchers"] = json.loads(r["matchers"])
            end = min(r["ends_at"], r["expired_at"] or r["ends_at"])
            r["status"] = "expired" if end <= now else ("pending" if r["starts_at"] > now else "active")
            if active_at is None or (r["starts_at"] <= active_at < end):
                out.append(r)
        return out

    def expire_silence(self, sid: str) -> bool:
        with self.db.tx() as conn:
            n = conn.execute(
                silences.update()
                .where(silences.c.id == sid, silences.c.expired_at.is_(None))
                .values(expired_at=time.time())
            ).rowcount
            if n:
                self._changed(conn, "silences")
        return n == 1

    # --- notes and acknowledgements ---------------------------------------------------------------
    def add_note(self, incident_id: str, kind: str, author: str, text: str) -> dict:
        at = time.time()
        with self.db.tx() as conn:
            res = conn.execute(
                incident_notes.insert().values(incident_id=incident_id, at=at, kind=kind, author=author, text=text)
            )
            nid = res.inserted_primary_key[0] if res.inserted_primary_key else None
            self._changed(conn, "notes")
        return {"id": nid, "incident_id": incident_id, "at": at, "kind": kind, "author": author, "text": text}

    def notes(self, incident_id: str | None = None) -> list[dict]:
        q = sa.select(incident_notes)
        if incident_id:
            q = q.where(incident_notes.c.incident_id == incident_id)
        return self.db.rows(q.order_by(incident_notes.c.id))

    # --- outbox ---------------------------------------------------------------------------------
    def enqueue(self, receiver: str, group_key: str, body: bytes, headers: dict, conn=None) -> str:
        nid = str(uuid.uuid4())
        now = time.time()
        stmt = outbox.insert().values(
            id=nid,
            receiver=receiver,
            group_key=group_key,
            body=body,
            headers=json.dumps(headers),
            created_at=now,
            next_at=now,
            city=self.city,
        )
        if conn is not None:
            conn.execute(stmt)
        else:
            with self.db.tx() as c:
                c.execute(stmt)
        return nid

    def undelivered(self, limit: int = 500) -> list[dict]:
        """This city's notifications not yet accepted, oldest first (callers keep each receiver's order)."""
        rows = self.db.rows(
            sa.select(outbox)
            .where(outbox.c.delivered_at.is_(None), outbox.c.city == self.city)
            .order_by(outbox.c.created_at)
            .limit(limit)
        )
        for r in rows:
            r["headers"] = json.loads(r["headers"])
        return rows

    def delivered(self, nid: str) -> None:
        with self.db.tx() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.id == nid)
                .values(delivered_at=time.time(), attempts=outbox.c.attempts + 1, last_error="")
            )

    def failed(self, nid: str, next_at: float, error: str) -> None:
        with self.db.tx() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.id == nid)
                .values(attempts=outbox.c.attempts + 1, next_at=next_at, last_error=error[:500])
            )

    def last_sent_per_group(self) -> list[dict]:
        """Each (receiver, group)'s newest notification of this city: what the router last sent."""
        newest = (
            sa.select(outbox.c.receiver, outbox.c.group_key, sa.func.max(outbox.c.created_at).label("at"))
            .where(outbox.c.city == self.city)
            .group_by(outbox.c.receiver, outbox.c.group_key)
            .subquery()
        )
        q = sa.select(outbox.c.receiver, outbox.c.group_key, outbox.c.headers, outbox.c.created_at).join(
            newest,
            sa.and_(
                outbox.c.receiver == newest.c.receiver,
                outbox.c.group_key == newest.c.group_key,
                outbox.c.created_at == newest.c.at,
            ),
        )
        return self.db.rows(q.where(outbox.c.city == self.city))

    def outbox_stats(self) -> dict:
        pending = sa.func.sum(sa.case((outbox.c.delivered_at.is_(None), 1), else_=0))
        done = sa.func.sum(sa.case((outbox.c.delivered_at.is_not(None), 1), else_=0))
        failed = sa.func.sum(sa.case((outbox.c.delivered_at.is_(None), outbox.c.attempts), else_=0))
        rows = self.db.rows(
            sa.select(outbox.c.receiver, pending.label("pending"), done.label("delivered"), failed.label("failed"))
            .where(outbox.c.city == self.city)
            .group_by(outbox.c.receiver)
        )
        return {
            r["receiver"]: {
                "pending": int(r["pending"] or 0),
                "delivered": int(r["delivered"] or 0),
                "failed_attempts": int(r["failed"] or 0),
            }
            for r in rows
        }
