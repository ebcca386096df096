"""Render a run (audit or remediation) in one of :data:`FORMATS`.

Renderers read only the run aggregate (see :mod:`toolkit.report.model`); they never print.
Every output ends with a newline: write it as is.
"""

from __future__ import annotations

from toolkit.errors import UsageError
from toolkit.report.formats import FORMATS
from toolkit.report.junit import render_junit
from toolkit.report.machine import CSV_COLUMNS, ndjson_line, render_csv, render_json, render_ndjson
from toolkit.report.model import Run
from toolkit.report.table import TABLE_FORMATS, legend, render_markdown, render_table

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "TABLE_FORMATS",
    "legend",
    "ndjson_line",
    "render",
]


def render(run: Run, fmt: str, *, table_format: str = "simple") -> str:
    """The run as text in ``fmt``. ``table_format`` (any tabulate format) applies to
    ``table`` only. Raises :class:`UsageError` for an unknown format."""
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
        return render_junit(run)
    raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}", field="--format")
