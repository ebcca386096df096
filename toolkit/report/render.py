"""Render any run (audit, remediation, rollback, ``run``, probe) in one of its formats.

Renderers read only the run's plain data (see :mod:`toolkit.report.model`); they never print.
Every output ends with a newline: write it as is. :func:`render` picks the renderer by the
run's ``schema``, so ``toolkit.render(run, fmt)`` is exactly what the command prints on stdout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from toolkit.report.audit import render_report
from toolkit.report.formats import FORMATS
from toolkit.report.machine import CSV_COLUMNS, ndjson_line
from toolkit.report.model import Run
from toolkit.report.table import TABLE_FORMATS, legend

if TYPE_CHECKING:  # report/ reads these by attribute and imports none of their packages
    from toolkit.remediate.model import RemediateRun
    from toolkit.run_command.results import CommandRun
    from toolkit.smb.fleet import ProbeRun

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "TABLE_FORMATS",
    "legend",
    "ndjson_line",
    "render",
    "render_report",
]


def render(run: Run | CommandRun | ProbeRun, fmt: str, *, table_format: str = "simple") -> str:
    """``run`` (an audit, remediation, rollback, ``run`` or probe run) as text in ``fmt``,
    exactly as its command prints it on stdout. ``table_format`` (any tabulate format)
    applies to ``table`` only. Raises :class:`UsageError` for an unknown format."""
    schema = str(getattr(run, "schema", ""))
    if schema.startswith("psfleet.run/"):
        from toolkit.report.run import render_run

        return render_run(cast("CommandRun", run), fmt, table_format=table_format)
    if schema.startswith("psfleet.probe/"):
        from toolkit.report.probe import render_probe_run

        return render_probe_run(cast("ProbeRun", run), fmt, table_format=table_format)
    if schema.startswith("psfleet.remediate/"):
        from toolkit.report.remediate import render_remediation

        return render_remediation(cast("RemediateRun", run), fmt, table_format=table_format)
    return render_report(cast(Run, run), fmt, table_format=table_format)
