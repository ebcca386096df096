"""The store's schema revision this psfleet writes: the newest Alembic revision shipped in
``toolkit/store/migrations`` (a test keeps them equal).

Kept apart from :mod:`toolkit.store.schema` (SQLAlchemy Core tables) so that the SQLite writer
(:mod:`toolkit.store.lite`) checks a database's revision without importing SQLAlchemy.
"""

from __future__ import annotations

#: The Alembic revision this code's schema corresponds to.
HEAD = "0001"
