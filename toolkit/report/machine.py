"""Machine formats: JSON (the documented schema), NDJSON (one host per line) and CSV."""

from __future__ import annotations

import io

from toolkit.report import csvsafe
from toolkit.report.model import ASSESSED, HostView, Run, dumps
from toolkit.report.table import extra_cell, extra_columns

CSV_COLUMNS = (
    "host",
    "address",
    "os",
    "host_status",
    "check",
    "check_status",
    "expected",
    "actual",
    "reason",
    "rule",
    "error_kind",
    "error_message",
)


def render_json(run: Run) -> str:
    """``run.to_dict()`` (schema ``psfleet.audit/1`` for audits), indented, one trailing
    newline. Non-ASCII text is kept as is (UTF-8)."""
    return dumps(run.to_dict(), indent=2) + "\n"


def ndjson_line(host: HostView) -> str:
    """One host as one compact JSON line, without the newline (for streaming as hosts
    finish)."""
    return dumps(host.to_dict(), indent=None)


def render_ndjson(run: Run) -> str:
    """One line per host, in run order; an empty run gives an empty string."""
    return "".join(ndjson_line(h) + "\n" for h in run.hosts)


def render_csv(run: Run) -> str:
    """One row per host and check (columns :data:`CSV_COLUMNS`). A host that was not
    assessed gets one row with empty check fields and its error kind and message. Optional
    sections (``wire_signing``, ``events``: see :data:`toolkit.report.table.EXTRA_COLUMNS`)
    add columns at the end, repeated on each of the host's rows, only when present."""
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer)
    extras = extra_columns(run)
    writer.writerow([*CSV_COLUMNS, *(name for _, name in extras)])
    for host in run.hosts:
        base = [host.name, host.address, host.os.display if host.os else "", str(host.status)]
        error = [str(host.error.kind), host.error.message] if host.error else ["", ""]
        error += [extra_cell(host, key) for key, _ in extras]
        if not host.checks or str(host.status) not in ASSESSED:
            writer.writerow([*base, "", "", "", "", "", "", *error])
            continue
        for check in host.checks:
            writer.writerow(
                [
                    *base,
                    check.id,
                    str(check.status),
                    check.expected,
                    check.actual,
                    check.reason,
                    check.rule,
                    *error,
                ]
            )
    return buffer.getvalue()
