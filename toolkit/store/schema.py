"""The compliance store's tables (SQLAlchemy Core), one dialect-neutral definition.

Every run psfleet records (audit, remediate, rollback, probe) is a row of ``runs``; each host
of that run a row of ``host_results``; each check verdict a row of ``check_results``; each
registry change a remediation planned or made a row of ``changes`` (with the journal it was
written ahead to). Rows are written once and never updated: the store is a history.

Timestamps are ISO 8601 UTC text (``2026-11-30T08:40:18+00:00``) as run documents carry them:
they sort and compare as text on every dialect. Sections of a document the store does not
split into columns are kept as JSON text (``summary``, ``detail``).

The schema changes only through a new Alembic revision in ``toolkit/store/migrations``;
:data:`HEAD` (defined in :mod:`toolkit.store.revision`) names the newest one (a test keeps them
equal).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text

from toolkit.store.revision import HEAD

__all__ = ["HEAD", "changes", "check_results", "host_results", "metadata", "runs"]

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # audit | remediate | rollback | probe
    Column("kind", String(16), nullable=False),
    # remediate: check | apply; rollback: rollback; else empty
    Column("mode", String(16), nullable=False, default=""),
    # The run's own id where it has one (a remediation's journal run id), else a uuid.
    Column("uid", String(64), nullable=False, unique=True),
    Column("schema", String(64), nullable=False),
    Column("started", String(40), nullable=False),
    Column("finished", String(40), nullable=False),
    Column("inventory", Text, nullable=False),
    Column("psfleet_version", String(32), nullable=False),
    Column("exit_code", Integer, nullable=False),
    Column("interrupted", Boolean, nullable=False, default=False),
    # Who ran it, from where (the operator's account and machine).
    Column("operator", String(128), nullable=False, default=""),
    Column("workstation", String(255), nullable=False, default=""),
    Column("journal", Text, nullable=True),
    Column("hosts_total", Integer, nullable=False, default=0),
    # JSON: the document's ``summary`` (host status -> count) and remediation change counts.
    Column("summary", Text, nullable=False, default="{}"),
    Column("recorded", String(40), nullable=False),
)
Index("ix_runs_kind_inventory_started", runs.c.kind, runs.c.inventory, runs.c.started)
Index("ix_runs_started", runs.c.started)

host_results = Table(
    "host_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("host", String(255), nullable=False),
    Column("address", String(255), nullable=False, default=""),
    Column("status", String(32), nullable=False),
    Column("os_product", String(128), nullable=True),
    Column("os_build", Integer, nullable=True),
    Column("os_display", String(255), nullable=True),
    Column("error_kind", String(32), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("transport", String(32), nullable=True),
    Column("transport_fallback", Text, nullable=True),
    # JSON list of the host's inventory groups.
    Column("groups", Text, nullable=False, default="[]"),
    Column("duration_s", Float, nullable=True),
    # JSON: sections not split into columns (probe headline, wire_signing, events, batch).
    Column("detail", Text, nullable=True),
)
Index("ix_host_results_run", host_results.c.run_id, host_results.c.status)
Index("ix_host_results_host", host_results.c.host, host_results.c.run_id)

check_results = Table(
    "check_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("host", String(255), nullable=False),
    Column("check_id", String(64), nullable=False),
    Column("expected", Text, nullable=True),
    Column("actual", Text, nullable=True),
    Column("status", String(32), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("rule", String(128), nullable=False, default=""),
    # remediate/rollback: what happened to the setting (changed, pending, restored...).
    Column("outcome", String(32), nullable=True),
)
Index("ix_check_results_run", check_results.c.run_id)
Index("ix_check_results_check", check_results.c.check_id, check_results.c.run_id, check_results.c.status)
Index("ix_check_results_host", check_results.c.host, check_results.c.run_id)

changes = Table(
    "changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("host", String(255), nullable=False),
    Column("setting", String(64), nullable=False),
    Column("path", Text, nullable=False, default=""),
    Column("name", String(255), nullable=False, default=""),
    # JSON registry values: {"kind": "DWord", "value": 1}, or null for an absent value.
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("observed", Text, nullable=True),
    Column("outcome", String(32), nullable=False),
    Column("command", Text, nullable=False, default=""),
    # The journal the change was written ahead to, and that journal's run id.
    Column("journal", Text, nullable=True),
    Column("journal_run_id", String(64), nullable=True),
)
Index("ix_changes_host", changes.c.host, changes.c.run_id)
