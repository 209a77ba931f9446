"""Opening Pantau's SQLite files the one way they are all used: shared between threads (calls
serialised by the caller's lock), autocommit with explicit transactions, WAL (readers in other
processes never block the writer), the tables created if missing."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_db(path: Path | str, ddl: list[str], timeout: float = 10.0) -> sqlite3.Connection:
    path = str(path)
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=timeout)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    for stmt in ddl:
        db.execute(stmt)
    return db
