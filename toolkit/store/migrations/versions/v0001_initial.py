"""The first schema: runs, host results, check results, remediation changes.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("uid", sa.String(64), nullable=False, unique=True),
        sa.Column("schema", sa.String(64), nullable=False),
        sa.Column("started", sa.String(40), nullable=False),
        sa.Column("finished", sa.String(40), nullable=False),
        sa.Column("inventory", sa.Text, nullable=False),
        sa.Column("psfleet_version", sa.String(32), nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=False),
        sa.Column("interrupted", sa.Boolean, nullable=False),
        sa.Column("operator", sa.String(128), nullable=False),
        sa.Column("workstation", sa.String(255), nullable=False),
        sa.Column("journal", sa.Text, nullable=True),
        sa.Column("hosts_total", sa.Integer, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("recorded", sa.String(40), nullable=False),
    )
    op.create_index("ix_runs_kind_inventory_started", "runs", ["kind", "inventory", "started"])
    op.create_index("ix_runs_started", "runs", ["started"])
    op.create_table(
        "host_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("os_product", sa.String(128), nullable=True),
        sa.Column("os_build", sa.Integer, nullable=True),
        sa.Column("os_display", sa.String(255), nullable=True),
        sa.Column("error_kind", sa.String(32), nullable=True),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("transport", sa.String(32), nullable=True),
        sa.Column("transport_fallback", sa.Text, nullable=True),
        sa.Column("groups", sa.Text, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_host_results_run", "host_results", ["run_id", "status"])
    op.create_index("ix_host_results_host", "host_results", ["host", "run_id"])
    op.create_table(
        "check_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("check_id", sa.String(64), nullable=False),
        sa.Column("expected", sa.Text, nullable=True),
        sa.Column("actual", sa.Text, nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
    )
    op.create_index("ix_check_results_run", "check_results", ["run_id"])
    op.create_index("ix_check_results_check", "check_results", ["check_id", "run_id", "status"])
    op.create_index("ix_check_results_host", "check_results", ["host", "run_id"])
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("setting", sa.String(64), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
        sa.Column("observed", sa.Text, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("journal", sa.Text, nullable=True),
        sa.Column("journal_run_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_changes_host", "changes", ["host", "run_id"])


def downgrade() -> None:
    for table in ("changes", "check_results", "host_results", "runs"):
        op.drop_table(table)
