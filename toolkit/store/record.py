"""Recording a run through SQLAlchemy Core: the run document a command already produced, as
the rows of :mod:`toolkit.store.rows`, on any back-end. One transaction per run: a run is
recorded whole or not at all.

The CLI writes the default SQLite file with :mod:`toolkit.store.lite` (the same rows, the
standard library's sqlite3, no SQLAlchemy to import) and comes here for every other store,
and for a SQLite file that is missing or not at this psfleet's schema revision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert

from toolkit.store.db import Store
from toolkit.store.rows import KINDS, RunRows, operator_name, run_rows
from toolkit.store.schema import metadata, runs

__all__ = ["KINDS", "operator_name", "record_run", "write_rows"]


def record_run(
    store: Store,
    document: Mapping[str, Any],
    *,
    kind: str,
    groups: Mapping[str, Sequence[str]] | None = None,
    sites: Mapping[str, str] | None = None,
    operator: str | None = None,
    workstation: str | None = None,
    recorded: str | None = None,
) -> int:
    """Store one run document; returns the run's number in the store (``history`` shows it).

    ``kind`` is one of :data:`KINDS`; ``groups`` maps host names to their inventory groups
    and ``sites`` to their inventory site (kept in ``detail`` as ``site``)
    (documents do not carry them); ``operator``/``workstation`` default to this process's
    account and host name. Raises SQLAlchemy errors (the caller decides what a failure means).
    """
    rows = run_rows(
        document,
        kind=kind,
        groups=groups,
        sites=sites,
        operator=operator,
        workstation=workstation,
        recorded=recorded,
    )
    return write_rows(store, rows)


def write_rows(store: Store, rows: RunRows) -> int:
    """Insert one run's rows in one transaction; the run's number in the store."""
    with store.write() as conn:
        key = conn.execute(insert(runs).values(**rows.run)).inserted_primary_key
        assert key is not None  # an INSERT of one row always has its key
        run_id = int(key[0])
        for name, table_rows in rows.tables:
            if table_rows:
                conn.execute(insert(metadata.tables[name]), [{"run_id": run_id, **row} for row in table_rows])
    return run_id
