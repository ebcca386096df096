"""The compliance store: every audit, remediation, rollback and probe run, kept.

SQLite in psfleet's state directory by default (``$XDG_STATE_HOME/psfleet/psfleet.db``),
PostgreSQL for a shared server (``--db postgresql://...``); created and migrated on open.

- :func:`open_store` (:mod:`toolkit.store.db`): open, create, migrate;
- :func:`record_run` (:mod:`toolkit.store.record`): one run document, as rows;
- :func:`toolkit.store.lite.record_sqlite`: the same rows into an existing SQLite file with the
  standard library alone (what the CLI records with);
- :mod:`toolkit.store.query`: runs with counts, a host's timeline, two runs compared, the
  HTML report's aggregates.

The names below are imported on first use: importing :mod:`toolkit.store.lite` must not
import SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolkit.store.db import Store, StoreError, open_store
    from toolkit.store.record import record_run

__all__ = ["Store", "StoreError", "open_store", "record_run"]


def __getattr__(name: str) -> Any:
    if name in ("Store", "StoreError", "open_store"):
        from toolkit.store import db

        return getattr(db, name)
    if name == "record_run":
        from toolkit.store.record import record_run

        return record_run
    raise AttributeError(f"module 'toolkit.store' has no attribute {name!r}")
