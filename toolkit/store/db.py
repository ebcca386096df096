"""Opening the store: the engine, SQLite's settings for concurrent writers, migrations.

:func:`open_store` creates the database (and its folder) when missing and brings its schema
to :data:`toolkit.store.revision.HEAD` with Alembic, run programmatically from the revisions
shipped in ``toolkit/store/migrations``. Alembic is only imported when the schema is behind:
opening an up-to-date store costs one query.

Concurrency: SQLite runs in WAL mode (readers never block the writer) with a busy timeout,
and every write transaction starts ``BEGIN IMMEDIATE`` so two writers queue instead of
failing on a lock upgrade. PostgreSQL writes are plain transactions, with the busy timeout as
``lock_timeout``. Two processes that find
an empty database at once both try to create it; the loser re-reads the revision and goes on.

Caveat: an :class:`Store` holds a connection pool; use one per process (threads may share
it), and :meth:`Store.close` it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from toolkit.store.lite import configure
from toolkit.store.location import busy_timeout, to_url
from toolkit.store.revision import HEAD

MIGRATIONS = Path(__file__).parent / "migrations"


class StoreError(Exception):
    """The store cannot be opened, migrated, read or written. ``str()`` is one line, with
    the database named (passwords masked)."""

    def __init__(self, message: str, *, db: str = "") -> None:
        super().__init__(f"{message} ({db})" if db else message)
        self.message = message
        self.db = db


def redacted(url: str) -> str:
    """``url`` with any password masked (``postgresql://u:***@h/db``); paths unchanged."""
    if "://" not in url:
        return url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: show the scheme only
        return url.split("://", 1)[0] + "://..."


def describe(exc: BaseException) -> str:
    """One line for a database failure, without SQL or parameters."""
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc).strip().splitlines()
    return text_[0] if text_ else type(exc).__name__


class Store:
    """An open store. ``name`` is what the user gave (password masked)."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self.sqlite = engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(psfleet_write=True)
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(db: str, *, timeout: float | None = None, migrate: bool = True) -> Store:
    """Open (create, migrate) the store ``db``: a file path or a SQLAlchemy URL (see
    :mod:`toolkit.store.location`). ``timeout``: seconds to wait for a lock (default
    ``$PSFLEET_DB_BUSY_TIMEOUT`` or 10). Raises :class:`StoreError`."""
    name = redacted(db)
    wait = busy_timeout() if timeout is None else timeout
    url = to_url(db)
    try:
        engine = _engine(url, wait)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StoreError(f"cannot use the database: {describe(exc)}", db=name) from None
    store = Store(engine, name)
    if store.sqlite:
        path = make_url(url).database
        # A SQLite URI filename (``sqlite:///file:/x.db?mode=ro&uri=true``) names its file
        # itself: making its "folder" would create ./file:/x in the working directory.
        if path and path != ":memory:" and not path.startswith("file:"):
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                engine.dispose()
                raise StoreError(f"cannot create the database folder: {exc.strerror}", db=name) from None
    if migrate:
        try:
            upgrade(store)
        except StoreError:
            engine.dispose()
            raise
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"cannot open the database: {describe(exc)}", db=name) from None
    return store


def _engine(url: str, wait: float) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": wait, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connect(wait))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        # A table another session holds locked fails after the busy timeout, as on SQLite.
        connect_args = {
            "connect_timeout": max(1, int(wait)),
            "application_name": "psfleet",
            "options": f"-c lock_timeout={int(wait * 1000)}",
        }
    return create_engine(url, connect_args=connect_args, pool_pre_ping=False)


def _sqlite_connect(wait: float) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The same settings as the sqlite3 writer's (transactions are begun by _sqlite_begin).
        configure(dbapi_connection, wait)

    return on_connect


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("psfleet_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def current_revision(conn: Connection) -> str | None:
    """The store's Alembic revision, or None for an empty database."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(select(text("version_num")).select_from(text("alembic_version"))).first()
    return str(row[0]) if row else None


def upgrade(store: Store) -> None:
    """Bring the schema to :data:`HEAD` (no-op when it is there)."""
    with store.read() as conn:
        if current_revision(conn) == HEAD:
            return
    for attempt in (1, 2):
        try:
            _alembic_upgrade(store)
            return
        except SQLAlchemyError:
            # Another process created or migrated it at the same moment: look again.
            with store.read() as conn:
                if current_revision(conn) == HEAD:
                    return
            if attempt == 2:
                raise


def _alembic_upgrade(store: Store) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.write() as conn:
        found = current_revision(conn)
        if found == HEAD:
            return
        known = {r.revision for r in ScriptDirectory.from_config(config).walk_revisions()}
        if found is not None and found not in known:
            raise StoreError(
                f"the database's schema ({found}) is newer than this psfleet knows ({HEAD}): upgrade psfleet",
                db=store.name,
            )
        config.attributes["connection"] = conn
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            raise StoreError(f"cannot migrate the database: {exc}", db=store.name) from None
