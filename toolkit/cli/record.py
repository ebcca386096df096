"""``--db`` / ``--no-record`` for the commands whose runs the store keeps (audit, remediate,
rollback, probe smb), and the one call each makes after its report is out.

Recording never changes a run's outcome: when the store cannot be opened or written (missing
server, locked or read-only file, full disk, a schema newer than this psfleet), the command
prints one warning on stderr and exits with the code its run earned. This module is imported
by the commands at startup, so it imports nothing heavy; the store is imported when a run is
recorded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from toolkit.inventory.model import Host

DB_HELP = (
    "Compliance store: a SQLite file or a postgresql:// URL (default: $PSFLEET_DB, the config "
    "file's db, else $XDG_STATE_HOME/psfleet/psfleet.db)."
)
NO_RECORD_HELP = "Do not record this run in the compliance store."


def db_option() -> Any:
    return typer.Option(None, "--db", metavar="PATH|URL", help=DB_HELP)


def no_record_option() -> Any:
    return typer.Option(False, "--no-record", help=NO_RECORD_HELP)


def chosen_db(db: str | None) -> str:
    """``--db`` > ``$PSFLEET_DB`` > config ``db`` > the state directory's psfleet.db."""
    from toolkit.config import load_config
    from toolkit.store.location import choose_db

    try:
        config_value = load_config().get("db")
    except Exception:  # a broken config file was already reported by the command
        config_value = None
    return choose_db(db, config_value=config_value if isinstance(config_value, str) else None)


class _EarlyOpen:
    """The store imported and opened on a background thread while the run works: importing
    SQLAlchemy and opening the database cost more than writing a thousand hosts, and a run
    spends most of its time waiting on hosts."""

    def __init__(self, db: str | None) -> None:
        self.db = db
        self.store: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._open, name="psfleet-store-open", daemon=True)
        self.thread.start()

    def _open(self) -> None:
        try:
            from toolkit.store.db import open_store

            self.store = open_store(chosen_db(self.db))
        except BaseException as exc:  # reported by record(), on the main thread
            self.error = exc


_early: _EarlyOpen | None = None


def open_early(db: str | None, *, no_record: bool) -> None:
    """Start opening the store now (a background thread) for :func:`record` at the end,
    unless the run will be written with sqlite3 alone (an existing SQLite file)."""
    global _early
    if not no_record and not _lite_applies(db):
        _early = _EarlyOpen(db)


def _lite_applies(db: str | None) -> bool:
    from toolkit.store.lite import applies

    try:
        return applies(chosen_db(db))
    except Exception:  # an odd path (a symlink loop...): the thread's open reports it, at the end
        return False


def record(
    document: Callable[[], Mapping[str, Any]],
    *,
    kind: str,
    db: str | None,
    no_record: bool,
    hosts: Sequence[Host] = (),
    warn: Callable[[str], None] | None = None,
) -> int | None:
    """Record the run whose document ``document()`` returns; the run's number, or None (not
    recorded: ``--no-record``, or one warning said why). ``hosts``: the inventory's, for
    their groups and sites (documents do not carry them). Never raises for a store failure."""
    if no_record:
        return None
    if warn is None:
        from toolkit.cli.common import say

        warn = say
    global _early
    early, _early = _early, None
    target = db or ""
    try:
        real = target = chosen_db(db)
        from toolkit.store.lite import record_sqlite
        from toolkit.store.rows import run_rows

        rows = run_rows(
            document(),
            kind=kind,
            groups={h.name: h.groups for h in hosts},
            sites={h.name: h.site for h in hosts if h.site},
        )
        if early is None:  # an existing SQLite file: no SQLAlchemy unless its schema is behind
            run_id = record_sqlite(real, rows)
            if run_id is not None:
                return run_id
        from toolkit.store.db import open_store, redacted
        from toolkit.store.record import write_rows

        target = redacted(real)
        if early is not None and early.db == db:
            early.thread.join()
            if early.error is not None:
                raise early.error
            store = early.store
        else:
            store = open_store(real)
        with store:
            return write_rows(store, rows)
    except Exception as exc:  # any store failure: the run stands, one line says so
        why = _why(exc)
        warn(f"psfleet: warning: run not recorded in {target or 'the store'}: {' '.join(why.split())}")
        return None


def _why(exc: BaseException) -> str:
    try:
        from toolkit.store.db import StoreError, describe
    except ImportError:  # SQLAlchemy itself is missing
        return f"{type(exc).__name__}: {exc}"
    return exc.message if isinstance(exc, StoreError) else describe(exc)
