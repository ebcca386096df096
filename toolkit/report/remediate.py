"""``psfleet remediate`` and ``psfleet rollback`` output: the host report (as an audit's) with
the table of changes, the table of planned restores, and the lines for stderr.

Statuses and outcomes are read as their string values: report/ does not import remediate/.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from toolkit.report.audit import render_report
from toolkit.report.model import one_line, printable
from toolkit.report.tabular import text_table
from toolkit.report.words import counted

if TYPE_CHECKING:
    from toolkit.remediate.model import RemediateRun

#: The schema of the runs this module renders (``RemediateRun.schema``).
SCHEMA = "psfleet.remediate/1"

#: (host, value, restore to, exact command): one restore a rollback may send.
Restore = tuple[str, str, str, str]


def render_remediation(run: RemediateRun, fmt: str, *, table_format: str = "simple") -> str:
    """The run in ``fmt`` as the command prints it: the host report, with the changes table
    above it (``table``) or under it (``markdown``)."""
    text = render_report(run, fmt, table_format=table_format)
    if fmt == "table":
        return f"{changes_table(run, table_format=table_format)}\n\n{text}"
    if fmt == "markdown":
        return f"{text}\n## Changes\n\n{changes_table(run, table_format='github')}\n"
    return text


def changes_table(run: RemediateRun, *, table_format: str = "simple") -> str:
    """One row per planned change: HOST, SETTING, BEFORE, AFTER, OUTCOME, COMMAND."""
    rows = [
        [h.name, c.id, c.before.describe(), c.after.describe() if c.after else "", c.outcome.value, c.command]
        for h in run.hosts
        for c in h.changes
    ]
    if not rows:
        return "no changes planned"
    clean = [[printable(one_line(cell)) for cell in row] for row in rows]
    if table_format == "github":
        clean = [[cell.replace("|", "\\|") for cell in row] for row in clean]
    return text_table(
        clean, ["HOST", "SETTING", "BEFORE", "AFTER", "OUTCOME", "COMMAND"], tablefmt=table_format
    )


def restores_table(rows: Sequence[Restore]) -> str:
    """The restores a rollback may send (shown before it asks): HOST, VALUE, RESTORE TO, COMMAND."""
    if not rows:
        return "no restores planned"
    clean = [[printable(one_line(cell)) for cell in row] for row in rows]
    return text_table(clean, ["HOST", "VALUE", "RESTORE TO", "COMMAND"], tablefmt="simple")


def summary_text(run: RemediateRun) -> str:
    """``apply: 3 hosts: 2 changed, 3 compliant; settings: 5 changed (exit 0)``."""
    changed_hosts = sum(
        1 for h in run.hosts if any(c.outcome.value in ("changed", "restored") for c in h.checks)
    )
    parts = []
    if changed_hosts:
        verb = "restored" if run.mode == "rollback" else "changed"
        parts.append(f"{changed_hosts} {verb}")
    parts += [f"{n} {status}" for status, n in run.summary.items() if n and status != "total"]
    counts = ", ".join(f"{n} {k}" for k, n in run.change_counts.items())
    tail = f"; settings: {counts}" if counts else ""
    total = run.summary["total"]
    noun = "host" if total == 1 else "hosts"
    return f"{run.mode}: {total} {noun}: {', '.join(parts) or 'none'}{tail} (exit {run.exit_code})"


def blocked_lines(run: RemediateRun) -> list[str]:
    """Settings a guardrail kept from being planned, with the reason (for stderr)."""
    return [
        f"blocked: {host.name} {item.id}: {item.reason}"
        for host in run.hosts
        for item in host.checks
        if item.outcome.value == "blocked"
    ]


def busy_lines(run: RemediateRun) -> list[str]:
    """Hosts another run holds (their lease or this box's lock), with that run's id."""
    return [
        f"busy: {host.name}: {host.error.message}"
        for host in run.hosts
        if host.status.value == "busy" and host.error is not None
    ]


def confirm_question(run: RemediateRun) -> str | None:
    """``Apply 3 changes to 2 hosts?`` for a plan, or None when nothing is pending."""
    pending = [(h.name, c) for h in run.hosts for c in h.changes if c.outcome.value == "pending"]
    if not pending:
        return None
    hosts = len({name for name, _ in pending})
    return f"Apply {counted(len(pending), 'change')} to {counted(hosts, 'host')}?"
