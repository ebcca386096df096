"""The compliance store: every audit, remediation, rollback and probe run, kept.

SQLite in psfleet's state directory by default (``$XDG_STATE_HOME/psfleet/psfleet.db``),
PostgreSQL for a shared server (``--db postgresql://...``); created and migrated on open.

- :func:`open_store` (:mod:`toolkit.store.db`): open, create, migrate;
- :func:`record_run` (:mod:`toolkit.store.record`): one run document, as rows;
- :mod:`toolkit.store.query`: runs with counts, a host's timeline, two runs compared, the
  HTML report's aggregates.
"""

from __future__ import annotations

from toolkit.store.db import Store, StoreError, open_store
from toolkit.store.record import record_run

__all__ = ["Store", "StoreError", "open_store", "record_run"]
