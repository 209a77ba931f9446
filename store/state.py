"""Pantau's operational state beside the incidents: API keys (hashed), silences, operators'
acknowledgements and notes, and the alert outbox. SQLite by default (WAL: the API process and
the collecting process share it); plain portable SQL a server database can take over.

- ``api_keys``: a key is ``pk_<key_id>_<secret>``; only ``sha256(secret)`` is stored, looked up by
  ``key_id`` and compared in constant time. The key itself is shown once, at creation.
- ``silences``: Alertmanager-style matchers (name, value, is_regex, is_equal) + window + comment.
- ``incident_notes``: acknowledgements and notes on incidents (the explainer owns the incident
  itself; people's words live here).
- ``outbox``: every notification to deliver, durable until the receiver accepted it.
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

from store.sqlite import open_db

ROLES = ("viewer", "operator", "admin")

DDL = [
    """CREATE TABLE IF NOT EXISTS api_keys (
        key_id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, hash TEXT NOT NULL,
        created_at REAL NOT NULL, revoked_at REAL, last_used_at REAL)""",
    """CREATE TABLE IF NOT EXISTS silences (
        id TEXT PRIMARY KEY, matchers TEXT NOT NULL, starts_at REAL NOT NULL, ends_at REAL NOT NULL,
        created_by TEXT NOT NULL, comment TEXT NOT NULL, created_at REAL NOT NULL, expired_at REAL)""",
    """CREATE TABLE IF NOT EXISTS incident_notes (
        id INTEGER PRIMARY KEY AUTOINCREMENT, incident_id TEXT NOT NULL, at REAL NOT NULL, kind TEXT NOT NULL,
        author TEXT NOT NULL, text TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS incident_notes_inc ON incident_notes (incident_id)",
    """CREATE TABLE IF NOT EXISTS outbox (
        id TEXT PRIMARY KEY, receiver TEXT NOT NULL, group_key TEXT NOT NULL, body BLOB NOT NULL,
        headers TEXT NOT NULL, created_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL, delivered_at REAL, last_error TEXT NOT NULL DEFAULT '')""",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (delivered_at, next_at)",
]

KEY_RE = re.compile(r"^pk_([a-z0-9]{12})_([A-Za-z0-9_-]{32,64})$")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class StateDB:
    def __init__(self, path: Path | str):
        self.path = str(path)
        self._db = open_db(self.path, DDL)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _rows(self, q: str, args=()) -> list[dict]:
        with self._lock:
            cur = self._db.execute(q, args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

    def _exec(self, q: str, args=()) -> int:
        with self._lock:
            return self._db.execute(q, args).rowcount

    # --- API keys -------------------------------------------------------------------------------
    def create_key(self, name: str, role: str) -> tuple[str, str]:
        """Returns (key_id, the key). The key is not stored and cannot be shown again."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not name or len(name) > 100:
            raise ValueError("a key needs a name (1–100 characters)")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        self._exec(
            "INSERT INTO api_keys (key_id, name, role, hash, created_at) VALUES (?, ?, ?, ?, ?)",
            (key_id, name, role, _hash(secret), time.time()),
        )
        return key_id, f"pk_{key_id}_{secret}"

    def verify_key(self, key: str) -> dict | None:
        """The key's record (key_id, name, role) if the key is valid and not revoked."""
        m = KEY_RE.match(key or "")
        if not m:
            return None
        rows = self._rows(
            "SELECT key_id, name, role, hash FROM api_keys WHERE key_id = ? AND revoked_at IS NULL", (m.group(1),)
        )
        if not rows or not hmac.compare_digest(rows[0]["hash"], _hash(m.group(2))):
            return None
        r = rows[0]
        return {"key_id": r["key_id"], "name": r["name"], "role": r["role"]}

    def touch_key(self, key_id: str) -> None:
        self._exec("UPDATE api_keys SET last_used_at = ? WHERE key_id = ?", (time.time(), key_id))

    def keys(self) -> list[dict]:
        return self._rows(
            "SELECT key_id, name, role, created_at, revoked_at, last_used_at FROM api_keys ORDER BY created_at"
        )

    def revoke_key(self, key_id: str) -> bool:
        return (
            self._exec(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", (time.time(), key_id)
            )
            == 1
        )

    # --- silences -------------------------------------------------------------------------------
    def add_silence(self, matchers: list[dict], starts_at: float, ends_at: float, created_by: str, comment: str) -> str:
        sid = str(uuid.uuid4())
        self._exec(
            "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sid, json.dumps(matchers), starts_at, ends_at, created_by, comment, time.time()),
        )
        return sid

    def silences(self, active_at: float | None = None) -> list[dict]:
        rows = self._rows("SELECT * FROM silences ORDER BY created_at")
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
        return (
            self._exec("UPDATE silences SET expired_at = ? WHERE id = ? AND expired_at IS NULL", (time.time(), sid))
            == 1
        )

    # --- notes and acknowledgements ---------------------------------------------------------------
    def add_note(self, incident_id: str, kind: str, author: str, text: str) -> dict:
        at = time.time()
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO incident_notes (incident_id, at, kind, author, text) VALUES (?, ?, ?, ?, ?)",
                (incident_id, at, kind, author, text),
            )
        return {"id": cur.lastrowid, "incident_id": incident_id, "at": at, "kind": kind, "author": author, "text": text}

    def notes(self, incident_id: str | None = None) -> list[dict]:
        if incident_id:
            return self._rows("SELECT * FROM incident_notes WHERE incident_id = ? ORDER BY id", (incident_id,))
        return self._rows("SELECT * FROM incident_notes ORDER BY id")

    # --- outbox ---------------------------------------------------------------------------------
    def enqueue(self, receiver: str, group_key: str, body: bytes, headers: dict) -> str:
        nid = str(uuid.uuid4())
        now = time.time()
        self._exec(
            "INSERT INTO outbox (id, receiver, group_key, body, headers, created_at, next_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (nid, receiver, group_key, body, json.dumps(headers), now, now),
        )
        return nid

    def undelivered(self, limit: int = 500) -> list[dict]:
        """Notifications not yet accepted, oldest first (callers keep each receiver's order)."""
        rows = self._rows("SELECT * FROM outbox WHERE delivered_at IS NULL ORDER BY created_at LIMIT ?", (limit,))
        for r in rows:
            r["headers"] = json.loads(r["headers"])
        return rows

    def delivered(self, nid: str) -> None:
        self._exec(
            "UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, last_error = '' WHERE id = ?",
            (time.time(), nid),
        )

    def failed(self, nid: str, next_at: float, error: str) -> None:
        self._exec(
            "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?",
            (next_at, error[:500], nid),
        )

    def outbox_stats(self) -> dict:
        rows = self._rows(
            "SELECT receiver, SUM(delivered_at IS NULL) AS pending, SUM(delivered_at IS NOT NULL) AS "
            "delivered, SUM(CASE WHEN delivered_at IS NULL THEN attempts ELSE 0 END) AS failed_attempts "
            "FROM outbox GROUP BY receiver"
        )
        return {
            r["receiver"]: {
                "pending": r["pending"] or 0,
                "delivered": r["delivered"] or 0,
                "failed_attempts": r["failed_attempts"] or 0,
            }
            for r in rows
        }
