"""Recording a run: the run document a command already produced, as rows.

The input is the plain JSON document (``run.to_dict()``: schemas ``psfleet.audit/1``,
``psfleet.remediate/1``, ``psfleet.probe/1``); nothing is re-derived from hosts. Fields the
store does not split into columns are kept as JSON in ``detail`` so that nothing a report
showed is lost. One transaction per run: a run is recorded whole or not at all.
"""

from __future__ import annotations

import getpass
import json
import socket
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert

from toolkit.store.db import Store
from toolkit.store.schema import changes, check_results, host_results, runs

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


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def operator_name() -> str:
    """The account that ran psfleet (``getpass.getuser``), or ``""``."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry for the uid, no LOGNAME: record nobody
        return ""


def record_run(
    store: Store,
    document: Mapping[str, Any],
    *,
    kind: str,
    groups: Mapping[str, Sequence[str]] | None = None,
    sites: Mapping[str, str] | None = None,
    operator: str | None = None,
    workstation: str | None = None,
    recorded: str | None = None,
) -> int:
    """Store one run document; returns the run's number in the store (``history`` shows it).

    ``kind`` is one of :data:`KINDS`; ``groups`` maps host names to their inventory groups
    and ``sites`` to their inventory site (kept in ``detail`` as ``site``)
    (documents do not carry them); ``operator``/``workstation`` default to this process's
    account and host name. Raises SQLAlchemy errors (the caller decides what a failure means).
    """
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
        "started": str(run.get("started", "")),
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
    host_rows: list[dict[str, Any]] = []
    check_rows: list[dict[str, Any]] = []
    change_rows: list[dict[str, Any]] = []
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
    with store.write() as conn:
        key = conn.execute(insert(runs).values(**run_row)).inserted_primary_key
        assert key is not None  # an INSERT of one row always has its key
        run_id = int(key[0])
        for table, rows in ((host_results, host_rows), (check_results, check_rows), (changes, change_rows)):
            if rows:
                conn.execute(insert(table), [{"run_id": run_id, **row} for row in rows])
    return run_id
