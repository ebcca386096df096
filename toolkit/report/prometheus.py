"""``audit --format prometheus``: the node_exporter textfile collector's format.

Write it where node_exporter's ``--collector.textfile.directory`` points (``-o
/var/lib/node_exporter/textfile/psfleet.prom``: written atomically, as the collector needs)
and alert on drift::

    psfleet_audit_checks{check="secure_negotiate",status="drift"} > 0

Series (all gauges, from the run document's plain data):

- ``psfleet_audit_hosts{status}``: hosts by status (every status, zeros included);
- ``psfleet_audit_checks{check,status}``: check verdicts by check and status;
- ``psfleet_audit_host_status{host,status}``: 1 for each host's status;
- ``psfleet_audit_run_timestamp_seconds``, ``psfleet_audit_run_duration_seconds``,
  ``psfleet_audit_exit_code``, ``psfleet_audit_interrupted``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

CHECK_STATUSES = ("compliant", "drift", "not_applicable")


def escape_label(value: str) -> str:
    """A label value as the exposition format wants it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items()) + "}"


def _epoch(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp()
    except (TypeError, ValueError):
        return None


def _metric(name: str, help_: str, samples: Iterable[tuple[str, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_}", f"# TYPE {name} gauge"]
    lines += [f"{name}{labels} {_number(value)}" for labels, value in samples]
    return lines


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render_prometheus(document: Mapping[str, Any]) -> str:
    """The run document (``run.to_dict()``) as textfile-collector text, newline-terminated."""
    run = document.get("run", {})
    hosts = list(document.get("hosts", []))
    summary = {k: v for k, v in document.get("summary", {}).items() if k != "total"}
    checks: Counter[tuple[str, str]] = Counter()
    check_ids: list[str] = []
    for host in hosts:
        for check in host.get("checks") or ():
            checks[(check["id"], check["status"])] += 1
            if check["id"] not in check_ids:
                check_ids.append(check["id"])
    lines: list[str] = []
    lines += _metric(
        "psfleet_audit_hosts",
        "Hosts of the last audit by status.",
        [(_labels(status=s), n) for s, n in summary.items()],
    )
    lines += _metric(
        "psfleet_audit_checks",
        "Check verdicts of the last audit by check and status.",
        [(_labels(check=c, status=s), checks.get((c, s), 0)) for c in check_ids for s in CHECK_STATUSES],
    )
    lines += _metric(
        "psfleet_audit_host_status",
        "1 for each host's status in the last audit.",
        [(_labels(host=str(h.get("name", "")), status=str(h.get("status", ""))), 1) for h in hosts],
    )
    started, finished = _epoch(run.get("started", "")), _epoch(run.get("finished", ""))
    if finished is not None:
        lines += _metric(
            "psfleet_audit_run_timestamp_seconds",
            "When the last audit finished (Unix time).",
            [("", finished)],
        )
    if started is not None and finished is not None:
        lines += _metric(
            "psfleet_audit_run_duration_seconds",
            "Wall time of the last audit.",
            [("", max(finished - started, 0.0))],
        )
    lines += _metric(
        "psfleet_audit_exit_code", "Exit code of the last audit.", [("", run.get("exit_code", 0))]
    )
    lines += _metric(
        "psfleet_audit_interrupted",
        "1 when the last audit was interrupted.",
        [("", int(bool(run.get("interrupted"))))],
    )
    return "\n".join(lines) + "\n"
