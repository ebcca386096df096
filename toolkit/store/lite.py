"""Recording a run into the default SQLite store with the standard library's sqlite3.

Importing SQLAlchemy costs a command about 0.3 s of CPU, more than probing a thousand hosts;
the file most runs write (the state directory's ``psfleet.db``, or any ``--db PATH``) needs
none of it once it exists at this psfleet's schema revision. :func:`record_sqlite` writes the
rows of :mod:`toolkit.store.rows` (the ones :func:`toolkit.store.record.record_run` inserts
through SQLAlchemy) with the connection settings of :func:`configure` (the ones
:mod:`toolkit.store.db` applies to its own SQLite connections), in one ``BEGIN IMMEDIATE``
transaction that first checks ``alembic_version``.

It answers None, having written nothing, whenever the SQLAlchemy path must decide instead: a
URL (``sqlite:///...``, ``postgresql://...``), a missing file (created and migrated there), a
file that cannot be opened or configured, a schema revision other than
:data:`~toolkit.store.revision.HEAD` (migrated there, or refused as newer with its message).
A failure of the write itself (locked past the busy timeout, read-only, disk full) raises
:class:`sqlite3.Error`, whose text is the one the SQLAlchemy path would report.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from toolkit.store.location import busy_timeout
from toolkit.store.revision import HEAD
from toolkit.store.rows import RUNS_TABLE, RunRows


def configure(connection: Any, wait: float) -> None:
    """Settings of every SQLite connection to the store (``connection``: a sqlite3 one):
    autocommit (writers begin ``BEGIN IMMEDIATE`` themselves: a deferred transaction that
    upgrades to a write fails at once instead of waiting), the busy timeout, foreign keys,
    WAL (readers never block the writer) with ``synchronous = NORMAL``. A read-only file or
    folder keeps its journal mode: readers still work."""
    connection.isolation_level = None
    cursor = connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        try:
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()
        except Exception:  # read-only file or folder: readers still work
            mode = None
        if mode and str(mode[0]).lower() == "wal":
            cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def sqlite_path(db: str) -> Path | None:
    """The file ``db`` names when it is a path (not a URL), absolute, as
    :func:`toolkit.store.location.to_url` resolves it; else None."""
    if "://" in db or not db:
        return None
    return Path(db).expanduser().resolve()


def applies(db: str) -> bool:
    """Whether :func:`record_sqlite` may write ``db`` (a path to an existing file); a False
    answer sends the run to the SQLAlchemy store at once."""
    path = sqlite_path(db)
    return path is not None and path.is_file()


def record_sqlite(db: str, rows: RunRows, *, timeout: float | None = None) -> int | None:
    """Insert one run's rows into the SQLite file ``db`` in one transaction; the run's number
    in the store, or None when the SQLAlchemy path must record it (see the module docstring;
    nothing was written). ``timeout``: seconds to wait for another writer's lock (default
    ``$PSFLEET_DB_BUSY_TIMEOUT`` or 10). Raises :class:`sqlite3.Error` when the write fails."""
    path = sqlite_path(db)
    if path is None:
        return None
    wait = busy_timeout() if timeout is None else timeout
    try:
        # mode=rw: never create the file here (an empty file has no schema to write into).
        connection = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=wait, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        # The revision is read before anything is set (WAL would change a file that is not a
        # store yet), and again under the write lock (a migration may have run in between).
        try:
            if _revision(connection) != HEAD:
                return None
            configure(connection, wait)
        except sqlite3.Error as exc:
            if _busy(exc):  # locked past the busy timeout: waiting again elsewhere would not help
                raise
            return None  # not a database, or one SQLite cannot use: the other path says why
        connection.execute("BEGIN IMMEDIATE")
        try:
            if _revision(connection) != HEAD:
                connection.execute("ROLLBACK")
                return None
            run_id = _insert(connection, rows)
            connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise
        return run_id
    finally:
        connection.close()


def _busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError as exc:  # no alembic_version: never migrated
        if _busy(exc):
            raise
        return None
    return str(row[0]) if row else None


def _insert_sql(table: str, columns: list[str]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'


def _insert(connection: sqlite3.Connection, rows: RunRows) -> int:
    columns = list(rows.run)
    cursor = connection.execute(_insert_sql(RUNS_TABLE, columns), [rows.run[c] for c in columns])
    run_id = cursor.lastrowid
    if run_id is None:  # an INSERT of one row always has its rowid
        raise sqlite3.DatabaseError("the run's row got no id")
    for table, table_rows in rows.tables:
        if not table_rows:
            continue
        columns = list(table_rows[0])
        connection.executemany(
            _insert_sql(table, ["run_id", *columns]),
            [(run_id, *[row[c] for c in columns]) for row in table_rows],
        )
    return run_id
