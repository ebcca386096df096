"""Rendering what the compliance store answers: ``history`` (runs with counts, or one host's
timeline) and ``diff`` (two runs compared), as table, json, csv or markdown.

Reads only the plain data of :mod:`toolkit.store.query` (its ``to_dict`` shapes are the JSON
documents: ``psfleet.history/1``, ``psfleet.timeline/1``, ``psfleet.diff/1``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any, Protocol

from toolkit.report import csvsafe
from toolkit.report.model import one_line, printable, short_actual
from toolkit.report.tabular import text_table

FORMATS = ("table", "json", "csv", "markdown")
ASSESSED = ("compliant", "drift")

#: Columns of numbers (run ids, counts, exit codes): aligned as numbers when every cell is one.
#: Every other cell is text shown as written (a host, operator or value of digits included).
NUMBER_COLUMNS = frozenset({"RUN", "HOSTS", "COMPLIANT", "DRIFT", "N/A", "NOT ASSESSED", "EXIT"})


class _Dictable(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def _clean(cell: object) -> str:
    return printable(one_line("" if cell is None else str(cell)))


def _tabular(headers: Sequence[str], rows: list[list[Any]], fmt: str, *, table_format: str = "simple") -> str:
    clean = [[_clean(c) for c in row] for row in rows]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csvsafe.writer(buffer)
        writer.writerow(headers)
        writer.writerows(clean)
        return buffer.getvalue()
    if fmt == "markdown":
        clean = [[c.replace("|", "\\|") for c in row] for row in clean]
    numbers = [i for i, header in enumerate(headers) if header in NUMBER_COLUMNS]
    tablefmt = "github" if fmt == "markdown" else table_format
    return text_table(clean, headers, tablefmt=tablefmt, numbers=numbers) + "\n"


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"


def when(timestamp: str) -> str:
    """``2026-11-30T08:40:18+00:00`` -> ``2026-11-30 08:40`` (UTC, as recorded)."""
    return timestamp.replace("T", " ")[:16]


# --- history ----------------------------------------------------------------------------------


def render_history(
    runs: Sequence[Any], fmt: str, *, check: str | None = None, table_format: str = "simple"
) -> str:
    """Runs (:class:`toolkit.store.query.RunInfo`) with their counts. With ``check`` the counts
    are that check's verdicts."""
    if fmt == "json":
        return _json({"schema": "psfleet.history/1", "check": check, "runs": [r.to_dict() for r in runs]})
    if check is not None:
        headers = [
            "RUN",
            "STARTED (UTC)",
            "KIND",
            "INVENTORY",
            "BY",
            "HOSTS",
            "COMPLIANT",
            "DRIFT",
            "N/A",
            "EXIT",
        ]
        rows = [
            [
                r.id,
                when(r.started),
                _kind(r),
                r.inventory,
                r.operator,
                r.hosts,
                *_verdicts(r, fmt, "compliant", "drift", "not_applicable"),
                r.exit_code,
            ]
            for r in runs
        ]
    else:
        headers = [
            "RUN", "STARTED (UTC)", "KIND", "INVENTORY", "BY", "HOSTS", "COMPLIANT", "DRIFT", "NOT ASSESSED",
            "CHANGES", "EXIT",
        ]  # fmt: skip
        rows = [
            [
                r.id,
                when(r.started),
                _kind(r),
                r.inventory,
                r.operator,
                r.hosts,
                *_verdicts(r, fmt, "compliant", "drift"),
                _not_assessed(r.counts),
                ", ".join(f"{n} {k}" for k, n in r.changes.items()),
                r.exit_code,
            ]
            for r in runs
        ]
    if not runs and fmt == "table":
        return "no runs recorded for this selection\n"
    return _tabular(headers, rows, fmt, table_format=table_format)


#: Runs whose host statuses are not verdicts against the baseline: a rollback's "compliant"
#: means "back at the journal's prior value", usually drift, so the table leaves those columns
#: empty ("-"; in CSV an empty cell) and the CHANGES column says what was restored (JSON keeps
#: the recorded counts).
NOT_JUDGED_KINDS = frozenset({"rollback"})


def _verdicts(run: Any, fmt: str, *statuses: str) -> list[object]:
    if run.kind in NOT_JUDGED_KINDS:
        return ["" if fmt == "csv" else "-"] * len(statuses)
    return [run.counts.get(status, 0) for status in statuses]


def _kind(run: Any) -> str:
    text = str(run.kind) if not run.mode or run.mode == run.kind else f"{run.kind} {run.mode}"
    return f"{text} (interrupted)" if run.interrupted else text


def _not_assessed(counts: dict[str, int]) -> str:
    """``2 (1 unreachable, 1 timeout)``; probe runs count ``probed`` as assessed."""
    other = {k: n for k, n in counts.items() if k not in (*ASSESSED, "probed") and n}
    total = sum(other.values())
    if not total:
        return "0"
    return f"{total} ({', '.join(f'{n} {k}' for k, n in sorted(other.items()))})"


# --- timeline ---------------------------------------------------------------------------------


def render_timeline(host: str, entries: Sequence[Any], fmt: str, *, table_format: str = "simple") -> str:
    """One host's recorded runs (:class:`toolkit.store.query.TimelineEntry`), oldest first:
    status, each check's value, and the changes made with the journal's run id."""
    if fmt == "json":
        return _json(
            {"schema": "psfleet.timeline/1", "host": host, "entries": [e.to_dict() for e in entries]}
        )
    if not entries and fmt == "table":
        return f"no runs recorded for host {_clean(host)}\n"
    check_ids: list[str] = []
    for entry in entries:
        for check_id in entry.checks:
            if check_id not in check_ids:
                check_ids.append(check_id)
    headers = ["RUN", "WHEN (UTC)", "KIND", "BY", "STATUS", *(c.upper() for c in check_ids), "CHANGES"]
    rows = []
    for e in entries:
        cells = []
        for check_id in check_ids:
            check = e.checks.get(check_id)
            if check is None:
                cells.append("")
            elif check.get("actual"):
                cells.append(f"{check['status']}: {short_actual(check['actual'])}")
            else:  # remediation rows: what happened to the setting
                cells.append(check.get("outcome") or check["status"])
        status = "restored" if e.kind in NOT_JUDGED_KINDS and e.status == "compliant" else e.status
        status = status if not e.error else f"{status}: {e.error}"
        kind = e.kind if not e.mode or e.mode == e.kind else f"{e.kind} {e.mode}"
        rows.append([e.run, when(e.started), kind, e.operator, status, *cells, _changes_cell(e.changes)])
    return _tabular(headers, rows, fmt, table_format=table_format)


def _changes_cell(changes: Sequence[dict[str, Any]]) -> str:
    """``client_signing 0 (DWord) -> 1 (DWord) changed; ... [journal run ID]``."""
    if not changes:
        return ""
    parts = [
        f"{c['setting']} {c['before'] or 'absent'} -> {c['after'] or '?'} {c['outcome']}" for c in changes
    ]
    runs = sorted({str(c["journal_run_id"]) for c in changes if c.get("journal_run_id")})
    return "; ".join(parts) + (f" [journal run {', '.join(runs)}]" if runs else "")


# --- diff -------------------------------------------------------------------------------------

_LABELS = {
    "drifted": "newly drifted",
    "unreachable": "became unreachable",
    "fixed": "fixed",
    "back": "came back",
    "changed": "value changed",
    "added": "new host",
    "removed": "host gone",
}


def diff_summary(diff: Any) -> str:
    """``run 3 -> run 5: 2 newly drifted, 1 fixed`` (zero counts left out)."""
    parts = [f"{n} {_LABELS[c]}" for c, n in diff.counts.items() if n]
    return f"run {diff.a.id} -> run {diff.b.id}: " + (", ".join(parts) if parts else "no change")


def render_diff(diff: Any, fmt: str, *, table_format: str = "simple") -> str:
    """Two runs compared (:class:`toolkit.store.query.RunDiff`)."""
    if fmt == "json":
        return _json(diff.to_dict())
    headers = ["CHANGE", "HOST", "CHECK", "BEFORE", "AFTER", "WHY"]
    rows = [
        [_LABELS[e.category], e.host, e.check, short_actual(e.before), short_actual(e.after), e.detail]
        for e in diff.entries
    ]
    if fmt == "csv":
        return _tabular(headers, rows, fmt)
    head = (
        f"run {diff.a.id} ({diff.a.kind}, {when(diff.a.started)}) -> run {diff.b.id} ({diff.b.kind}, "
        f"{when(diff.b.started)}), inventory {_clean(diff.b.inventory)}\n"
    )
    body = _tabular(headers, rows, fmt, table_format=table_format) if rows else "no change\n"
    return f"{head}\n{body}\n{diff_summary(diff)}\n"
