"""Alembic environment for psfleet's store: run programmatically by :mod:`toolkit.store.migrate`
with an open connection in ``config.attributes["connection"]`` (no alembic.ini, no URL)."""

from __future__ import annotations

from alembic import context

from toolkit.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
