"""The host report of an audit (and of a remediation or rollback, which read alike): one row
per host and check, in :data:`toolkit.report.formats.FORMATS`."""

from __future__ import annotations

from toolkit.errors import UsageError
from toolkit.report.formats import FORMATS
from toolkit.report.machine import render_csv, render_json, render_ndjson
from toolkit.report.model import Run
from toolkit.report.table import render_markdown, render_table


def render_report(run: Run, fmt: str, *, table_format: str = "simple") -> str:
    """``run``'s host report in ``fmt``. Raises :class:`UsageError` for an unknown format."""
    if fmt == "table":
        return render_table(run, table_format=table_format)
    if fmt == "json":
        return render_json(run)
    if fmt == "ndjson":
        return render_ndjson(run)
    if fmt == "csv":
        return render_csv(run)
    if fmt == "markdown":
        return render_markdown(run)
    if fmt == "junit":
        from toolkit.report.junit import render_junit  # XML: imported for this format only

        return render_junit(run)
    raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}", field="--format")
