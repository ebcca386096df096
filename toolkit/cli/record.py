"""``--db`` / ``--no-record`` for the commands whose runs the store keeps (audit, remediate,
rollback, probe smb), and the one call each makes after its report is out.

Recording never changes a run's outcome: when the store cannot be opened or written (missing
server, locked or read-only file, full disk, a schema newer than this psfleet), the command
prints one warning on stderr and exits with the code its run earned. This module is imported
by the commands at startup, so it imports nothing heavy; the store is imported when a run is
recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import typer

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


def record(
    document: Callable[[], Mapping[str, Any]],
    *,
    kind: str,
    db: str | None,
    no_record: bool,
    groups: Mapping[str, Sequence[str]] | None = None,
    warn: Callable[[str], None] | None = None,
) -> int | None:
    """Record the run whose document ``document()`` returns; the run's number, or None (not
    recorded: ``--no-record``, or one warning said why). Never raises for a store failure."""
    if no_record:
        return None
    if warn is None:
        from toolkit.cli.common import say

        warn = say
    target = db or ""
    try:
        target = chosen_db(db)
        from toolkit.store.db import open_store, redacted
        from toolkit.store.record import record_run

        target = redacted(target)
        with open_store(chosen_db(db)) as store:
            return record_run(store, document(), kind=kind, groups=groups)
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
