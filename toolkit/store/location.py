"""Where the store is: ``--db PATH|URL`` > ``$PSFLEET_DB`` > the config file's ``db`` >
``<state dir>/psfleet.db`` (SQLite).

The state directory is psfleet's (the journals live there too): ``$PSFLEET_STATE_DIR``, else
``$XDG_STATE_HOME/psfleet``, else ``~/.local/state/psfleet``. A value with ``://`` is a
SQLAlchemy URL: ``postgresql://user@host/db`` (driven by psycopg 3) or ``sqlite:///path``;
anything else is a file path for SQLite.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ENV_DB = "PSFLEET_DB"
#: Seconds a write waits for another writer's lock before the run is left unrecorded.
ENV_BUSY_TIMEOUT = "PSFLEET_DB_BUSY_TIMEOUT"
DEFAULT_BUSY_TIMEOUT = 10.0
DB_FILE = "psfleet.db"


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """psfleet's state directory (see the module docstring)."""
    environ = os.environ if env is None else env
    if environ.get("PSFLEET_STATE_DIR"):
        return Path(environ["PSFLEET_STATE_DIR"])
    base = environ.get("XDG_STATE_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".local" / "state")
    return Path(base) / "psfleet"


def default_db_path(env: Mapping[str, str] | None = None) -> Path:
    return state_dir(env) / DB_FILE


def choose_db(
    option: str | None, *, config_value: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The store the user means, as given (a path or a URL): option, environment, config
    file, default."""
    environ = os.environ if env is None else env
    for value in (option, environ.get(ENV_DB), config_value):
        if value:
            return value
    return str(default_db_path(environ))


def to_url(db: str) -> str:
    """A SQLAlchemy URL for ``db``: URLs pass (``postgresql://`` and ``postgres://`` get the
    psycopg 3 driver), paths become ``sqlite:///ABSOLUTE``, with ``%`` and ``?`` escaped (a URL
    would read them as an escape and a query: ``a?b.db`` was the file ``a``)."""
    if "://" in db:
        scheme, rest = db.split("://", 1)
        if scheme in ("postgresql", "postgres"):
            return f"postgresql+psycopg://{rest}"
        return db
    path = str(Path(db).expanduser().resolve())
    return "sqlite:///" + path.replace("%", "%25").replace("?", "%3F")


def busy_timeout(env: Mapping[str, str] | None = None) -> float:
    environ = os.environ if env is None else env
    text = environ.get(ENV_BUSY_TIMEOUT, "")
    try:
        value = float(text) if text else DEFAULT_BUSY_TIMEOUT
    except ValueError:
        return DEFAULT_BUSY_TIMEOUT
    return max(value, 0.0)
