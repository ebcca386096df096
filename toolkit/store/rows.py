"""A run document as the store's rows: plain dicts keyed by column name, no SQLAlchemy.

The input is the plain JSON document (``run.to_dict()``: schemas ``psfleet.audit/1``,
``psfleet.remediate/1``, ``psfleet.probe/2``); nothing is re-derived from hosts. Fields the
store does not split into columns are kept as JSON in ``detail`` so that nothing a report
showed is lost.

Both writers insert exactly these rows: :func:`toolkit.store.record.record_run` through
SQLAlchemy Core (any back-end) and :func:`toolkit.store.lite.record_sqlite` through the
standard library's sqlite3 (the default SQLite file, without importing SQLAlchemy). The
columns themselves are defined once, in :mod:`toolkit.store.schema`; a test holds every row
key to a column there.
"""

from __future__ import annotations

import getpass
import json
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Run kinds the store keeps (``runs.kind``).
KINDS = ("audit", "remediate", "rollback", "probe")

#: Host keys stored in columns (the rest goes to ``detail``).
_HOST_COLUMNS = frozenset(
    {
        "name",
        "address",
        "status",
        "os",
        "checks",
        "changes",
        "error",
        "duration_s",
        "transport",
        "transport_fallback",
    }
)

Row = dict[str, Any]

#: The table of the run's own row (:attr:`RunRows.run`).
RUNS_TABLE = "runs"


@dataclass(frozen=True)
class RunRows:
    """One run as rows: ``run`` for the :data:`RUNS_TABLE` table, and the rows of each per-run table
    (``run_id`` is added by the writer, once the run's row has its key)."""

    run: Row
    #: (table name, rows) in insertion order: host_results, check_results, changes.
    tables: tuple[tuple[str, list[Row]], ...]


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def operator_name() -> str:
    """The account that ran psfleet (``getpass.getuser``), or ``""``."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry for the uid, no LOGNAME: record nobody
        return ""


def sortable_time(text: str) -> str:
    """``text`` (an ISO 8601 time) as the store keeps run times: UTC to the second, so that runs
    sort by text. Audits give seconds and remediations milliseconds; compared as text,
    ``12:00:05+00:00`` sorts before ``12:00:05.300+00:00``, so an audit started in the same
    second after a remediation was listed before it (and the timeline paired the wrong runs).
    Runs of the same second keep their recording order. Text that is not a time is kept."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return text
    if when.tzinfo is None:
        return text
    return when.astimezone(UTC).isoformat(timespec="seconds")


def run_rows(
    document: Mapping[str, Any],
    *,
    kind: str,
    groups: Mapping[str, Sequence[str]] | None = None,
    sites: Mapping[str, str] | None = None,
    operator: str | None = None,
    workstation: str | None = None,
    recorded: str | None = None,
) -> RunRows:
    """The rows of one run document (see :func:`toolkit.store.record.record_run` for the
    keywords). Raises ValueError for an unknown ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown run kind {kind!r}")
    from toolkit.results import utc_now

    run = document.get("run", {})
    groups = groups or {}
    sites = sites or {}
    summary: dict[str, Any] = {"hosts": dict(document.get("summary", {}))}
    if document.get("changes") is not None:
        summary["changes"] = document["changes"]
    hosts = list(document.get("hosts", []))
    run_row = {
        "kind": kind,
        "mode": str(run.get("mode") or ""),
        "uid": str(run.get("id") or uuid.uuid4().hex),
        "schema": str(document.get("schema", "")),
        "started": sortable_time(str(run.get("started", ""))),
        "finished": str(run.get("finished", "")),
        "inventory": str(run.get("inventory", "")),
        "psfleet_version": str(run.get("psfleet_version", "")),
        "exit_code": int(run.get("exit_code", 0)),
        "interrupted": bool(run.get("interrupted", False)),
        "operator": operator if operator is not None else operator_name(),
        "workstation": workstation if workstation is not None else socket.gethostname(),
        "journal": run.get("journal"),
        "hosts_total": len(hosts),
        "summary": _json(summary) or "{}",
        "recorded": recorded or utc_now(),
    }
    host_rows: list[Row] = []
    check_rows: list[Row] = []
    change_rows: list[Row] = []
    for host in hosts:
        name = str(host.get("name", ""))
        os_ = host.get("os") or {}
        error = host.get("error") or {}
        detail = {k: v for k, v in host.items() if k not in _HOST_COLUMNS}
        if sites.get(name):
            detail["site"] = sites[name]
        host_rows.append(
            {
                "host": name,
                "address": str(host.get("address", "")),
                "status": str(host.get("status", "")),
                "os_product": os_.get("product"),
                "os_build": os_.get("build"),
                "os_display": os_.get("display"),
                "error_kind": error.get("kind"),
                "error_message": error.get("message"),
                "transport": host.get("transport"),
                "transport_fallback": host.get("transport_fallback"),
                "groups": _json(list(groups.get(name, ()))) or "[]",
                "duration_s": host.get("duration_s"),
                "detail": _json(detail) if detail else None,
            }
        )
        for check in host.get("checks") or ():
            check_rows.append(
                {
                    "host": name,
                    "check_id": str(check.get("id", "")),
                    "expected": check.get("expected"),
                    "actual": check.get("actual"),
                    "status": str(check.get("status", "")),
                    "reason": str(check.get("reason") or ""),
                    "rule": str(check.get("rule") or ""),
                    "outcome": check.get("outcome"),
                }
            )
        for change in host.get("changes") or ():
            change_rows.append(
                {
                    "host": name,
                    "setting": str(change.get("id", "")),
                    "path": str(change.get("path") or ""),
                    "name": str(change.get("name") or ""),
                    "before": _json(change.get("before")),
                    "after": _json(change.get("after")),
                    "observed": _json(change.get("observed")),
                    "outcome": str(change.get("outcome", "")),
                    "command": str(change.get("command") or ""),
                    "journal": run.get("journal"),
                    "journal_run_id": run.get("id"),
                }
            )
    return RunRows(
        run_row, (("host_results", host_rows), ("check_results", check_rows), ("changes", change_rows))
    )
