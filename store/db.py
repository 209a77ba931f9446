"""Pantau's state database: one schema, two backends — SQLite (embedded, ``make demo``'s default)
and PostgreSQL (several machines, one city or many) — through SQLAlchemy Core.

- :data:`METADATA` holds every table (below); the schema is versioned by Alembic
  (``store/migrations``) and :meth:`Database.migrate` brings a database to the newest revision
  (PostgreSQL: under an advisory lock, so nodes starting together migrate once).
- :class:`Database` opens an engine for a URL (``sqlite:///path`` or ``postgresql://…``, the driver
  is psycopg 3), sets SQLite up as every Pantau process uses it (WAL, ``busy_timeout``), checks
  connections before use (a restarted PostgreSQL is reconnected to, not an error forever), and
  offers the few dialect differences as methods: :meth:`Database.upsert`, :meth:`Database.log_lock`
  (serialised appends to the evidence log) and change notifications (:meth:`Database.changed`:
  a version per ``(city, topic)`` in ``changes``; on PostgreSQL also ``NOTIFY pantau``).

Tables (every row carries its ``city``, so one database serves many cities):

- ``evidence``: the explainer's input log, in order (``seq``): health and grid events from every
  collecting node, notices, the explainer's own ``seen`` answers and the clock ``tick`` s that
  changed a decision (``after``: the last collector row the explainer had fed when it wrote the
  row — replay orders by it, see :func:`replay_order`).
- ``incidents``, ``incident_log``, ``inventory_suspects``: the explainer's output (outages/store.py).
- ``api_keys``, ``silences``, ``incident_notes``, ``outbox``: people's and alerts' state (store/state.py).
- ``element_state``: every hotspot's and switch's health as its polling node last knew it (the API's
  "now", and what a node taking over an element starts from); ``live_docs``: other live documents
  (the grid as known, e-gov status, each node's status).
- ``members``, ``leases``: the cluster — who is alive, who holds what (store/cluster.py).
- ``changes``: a version per (city, topic), bumped in the transaction that changed it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("pantau.db")

METADATA = sa.MetaData()

evidence = sa.Table(
    "evidence",
    METADATA,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("city", sa.String(64), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("element", sa.String(128), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("node", sa.String(64), nullable=False, server_default=""),
    sa.Column("after", sa.BigInteger, nullable=True),
    sa.Index("evidence_city_seq", "city", "seq"),
)

incidents = sa.Table(
    "incidents",
    METADATA,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("city", sa.String(64), nullable=False),
    sa.Column("cause", sa.String(32), nullable=False),
    sa.Column("root", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("inferred", sa.Boolean, nullable=False),
    sa.Column("opened_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("closed_at", sa.Float, nullable=True),
    sa.Column("affected", sa.Text, nullable=False),
    sa.Column("areas", sa.Text, nullable=False),
    sa.Column("explanation_id", sa.Text, nullable=False),
    sa.Column("explanation_en", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("merged_into", sa.String(64), nullable=True),
    sa.Column("detected_at", sa.Float, nullable=False),
    sa.Index("incidents_city_status", "city", "status", "opened_at"),
)

incident_log = sa.Table(
    "incident_log",
    METADATA,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("city", sa.String(64), nullable=False),
    sa.Column("incident_id", sa.String(64), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("change", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("incident_log_incident", "incident_id"),
)

inventory_suspects = sa.Table(
    "inventory_suspects",
    METADATA,
    sa.Column("city", sa.String(64), primary_key=True),
    sa.Column("hotspot", sa.String(64), primary_key=True),
    sa.Column("field", sa.String(16), primary_key=True),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("last_at", sa.Float, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    METADATA,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
    sa.Column("last_used_at", sa.Float, nullable=True),
    sa.Column("cities", sa.Text, nullable=True),  # JSON list; NULL: every city
)

silences = sa.Table(
    "silences",
    METADATA,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("matchers", sa.Text, nullable=False),
    sa.Column("starts_at", sa.Float, nullable=False),
    sa.Column("ends_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expired_at", sa.Float, nullable=True),
)

incident_notes = sa.Table(
    "incident_notes",
    METADATA,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.String(64), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Index("incident_notes_inc", "incident_id"),
)

outbox = sa.Table(
    "outbox",
    METADATA,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("receiver", sa.String(100), nullable=False),
    sa.Column("group_key", sa.Text, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("headers", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_at", sa.Float, nullable=False),
    sa.Column("delivered_at", sa.Float, nullable=True),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    sa.Column("city", sa.String(64), nullable=False, server_default=""),
    sa.Index("outbox_due", "delivered_at", "next_at"),
)

element_state = sa.Table(
    "element_state",
    METADATA,
    sa.Column("city", sa.String(64), primary_key=True),
    sa.Column("element", sa.String(128), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("since", sa.Float, nullable=True),
    sa.Column("last_seen", sa.Float, nullable=True),
    sa.Column("last_poll", sa.Float, nullable=True),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("node", sa.String(64), nullable=False, server_default=""),
    sa.Column("updated_at", sa.Float, nullable=False),
)

live_docs = sa.Table(
    "live_docs",
    METADATA,
    sa.Column("city", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("doc", sa.Text, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)

members = sa.Table(
    "members",
    METADATA,
    sa.Column("node", sa.String(64), primary_key=True),
    sa.Column("city", sa.String(64), primary_key=True),
    sa.Column("roles", sa.Text, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
    sa.Column("info", sa.Text, nullable=False, server_default="{}"),
)

leases = sa.Table(
    "leases",
    METADATA,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("acquired_at", sa.Float, nullable=False),
)

changes = sa.Table(
    "changes",
    METADATA,
    sa.Column("city", sa.String(64), primary_key=True),
    sa.Column("topic", sa.String(64), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
NOTIFY_CHANNEL = "pantau"


DB_FILE = "pantau.sqlite"  # the embedded database of a state folder


def in_state_dir(state_dir: str | os.PathLike) -> str:
    """The embedded (SQLite) database URL of a state folder (``make demo``, one machine)."""
    return url_of(Path(state_dir) / DB_FILE)


def url_of(target: str | os.PathLike) -> str:
    """A database URL: a URL as given, a file path as SQLite (``:memory:`` too); ``postgresql://``
    means psycopg 3."""
    s = str(target)
    if "://" not in s:
        if s == ":memory:":
            return "sqlite://"
        p = Path(s)
        return f"sqlite:///{(p / DB_FILE if p.is_dir() else p).resolve()}"
    if s.startswith("postgresql://") or s.startswith("postgres://"):
        return "postgresql+psycopg://" + s.split("://", 1)[1]
    return s


def redact(url: str) -> str:
    """The URL without its password (logs, ``pantau config show``)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable database URL)"


class Database:
    """One engine per process and URL (see :func:`open_database`)."""

    def __init__(self, url: str | os.PathLike, migrate: bool = True):
        self.url = url_of(url)
        self.kind = "postgresql" if self.url.startswith("postgresql") else "sqlite"
        if self.kind == "sqlite":
            path = sa.engine.make_url(self.url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = sa.create_engine(
                self.url,
                connect_args={"check_same_thread": False, "timeout": 30},
                poolclass=sa.pool.StaticPool if not path or path == ":memory:" else sa.pool.QueuePool,
                pool_size=4,
                max_overflow=8,
            )
            sa.event.listen(self.engine, "connect", _sqlite_setup)
            sa.event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.engine = sa.create_engine(
                self.url,
                pool_pre_ping=True,  # a PostgreSQL restart costs one reconnect, not an error per pooled connection
                pool_size=4,
                max_overflow=8,
                pool_recycle=1800,
            )
        self._lock = threading.RLock() if self.kind == "sqlite" else None
        if migrate:
            self.migrate()

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({redact(self.url)})"

    # --- schema ---------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to Alembic's head (once per database, whoever starts first)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["quiet"] = True
        with self._migrate_lock(), self.engine.connect() as conn:
            if self.kind == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _lock_key("pantau:migrate")})
            try:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                conn.commit()
            finally:
                if self.kind == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key("pantau:migrate")})
                    conn.commit()

    @contextlib.contextmanager
    def _migrate_lock(self):
        """SQLite: processes opening one file together migrate one after the other (a file lock)."""
        path = sa.engine.make_url(self.url).database if self.kind == "sqlite" else None
        if not path or path == ":memory:":
            yield
            return
        import fcntl

        with open(path + ".migrate-lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    # --- transactions ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def tx(self) -> Iterator[Connection]:
        """One transaction (SQLite: ``BEGIN IMMEDIATE``, one writer of this process at a time)."""
        if self._lock is not None:
            with self._lock, self.engine.connect().execution_options(pantau_write=True) as conn, conn.begin():
                yield conn
        else:
            with self.engine.begin() as conn:
                yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def rows(self, stmt, params: dict | None = None) -> list[dict]:
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt, params or {})]

    # --- dialect differences --------------------------------------------------------------------
    def upsert(self, table: sa.Table, rows: list[dict], keys: list[str], update: list[str] | None = None):
        """``INSERT … ON CONFLICT (keys) DO UPDATE`` for either dialect (a statement to execute with ``rows``)."""
        stmt = _insert(self.kind)(table)
        cols = update if update is not None else [c.name for c in table.columns if c.name not in keys]
        if not cols:
            return stmt.on_conflict_do_nothing(index_elements=keys)
        return stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in cols})

    def log_lock(self, conn: Connection, city: str) -> None:
        """Serialise appends to a city's evidence log until this transaction ends, so ``seq`` order
        is commit order and a reader tailing ``seq > last`` never skips a row committed late
        (SQLite: the write lock already does)."""
        if self.kind == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key("evidence:" + city)})

    def changed(self, conn: Connection, city: str, topic: str) -> None:
        """Bump ``(city, topic)``'s version in this transaction (and ``NOTIFY`` on PostgreSQL: it is
        delivered at commit, to every listening API replica)."""
        conn.execute(_bump(self, city, topic, time.time()))
        if self.kind == "postgresql":
            conn.execute(sa.text("SELECT pg_notify(:c, :p)"), {"c": NOTIFY_CHANNEL, "p": f"{city}:{topic}"})

    def versions(self, conn: Connection | None = None) -> dict[tuple[str, str], int]:
        q = sa.select(changes.c.city, changes.c.topic, changes.c.version)
        if conn is not None:
            return {(c, t): v for c, t, v in conn.execute(q)}
        with self.read() as c2:
            return {(c, t): v for c, t, v in c2.execute(q)}


def _insert(kind: str) -> Any:
    """The dialect's ``insert`` (the one with ``on_conflict_do_update``)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if kind == "postgresql" else sqlite.insert


def _bump(db: Database, city: str, topic: str, now: float):
    stmt = _insert(db.kind)(changes).values(city=city, topic=topic, version=1, at=now)
    return stmt.on_conflict_do_update(
        index_elements=["city", "topic"], set_={"version": changes.c.version + 1, "at": stmt.excluded.at}
    )


def _sqlite_setup(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn) -> None:
    # a write transaction takes the lock up front (two processes never deadlock on a read->write
    # upgrade); reads stay deferred, so they never wait for a writer (WAL)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("pantau_write") else "BEGIN")


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks."""
    return zlib.crc32(name.encode()) - (1 << 31)


_OPEN: dict[str, Database] = {}
_OPEN_LOCK = threading.Lock()


def open_database(target: str | os.PathLike, migrate: bool = True) -> Database:
    """The process's :class:`Database` for ``target`` (one engine and pool per URL)."""
    url = url_of(target)
    with _OPEN_LOCK:
        db = _OPEN.get(url)
        if db is None:
            db = _OPEN[url] = Database(url, migrate=migrate)
        return db


def forget(db: Database) -> None:
    """Close and drop a database opened by :func:`open_database` (tests, shutdown)."""
    with _OPEN_LOCK:
        if _OPEN.get(db.url) is db:
            del _OPEN[db.url]
    db.close()


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
