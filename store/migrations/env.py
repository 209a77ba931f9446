"""Alembic environment for Pantau's state database (store/db.py).

Run by :meth:`store.db.Database.migrate` with the connection in ``config.attributes["connection"]``
(every process upgrades to head at start; PostgreSQL under an advisory lock), or from the command
line: ``pantau db upgrade`` / ``pantau db current`` (docs/operations.md).
"""

from __future__ import annotations

from alembic import context

from store.db import METADATA

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - Pantau always hands its connection in
    raise RuntimeError("store/migrations is run through store.db.Database.migrate (pantau db upgrade)")

context.configure(
    connection=connection,
    target_metadata=METADATA,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
